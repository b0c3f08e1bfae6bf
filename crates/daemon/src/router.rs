//! The routes: every endpoint berthd serves, behind the version middleware. Unknown paths
//! get dockerd's 404 `page not found`.

use std::sync::Arc;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::api::{archive, containers, images, system};
use crate::error::ApiError;
use crate::state::Daemon;

/// The API's routes (paths without the version prefix).
pub fn routes(state: Arc<Daemon>) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/images/json", get(images::list))
        .route("/images/load", post(archive::load))
        .route("/images/create", post(archive::create))
        .route("/images/prune", post(images::prune))
        .route("/images/get", get(archive::get_many))
        .route(
            "/images/{*path}",
            get(images::get).post(images::post).delete(images::remove),
        )
        .route("/commit", post(archive::commit))
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}", delete(containers::remove))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::NoRoute })
        .with_state(state)
}

/// The whole service: the version middleware around the routes. The routes are the
/// outer router's fallback, so the middleware sees every request and its rewritten path
/// (the version prefix stripped) is what the inner router matches.
pub fn app(state: Arc<Daemon>) -> Router {
    Router::new()
        .fallback_service(routes(state))
        .layer(axum::middleware::from_fn(crate::version::negotiate))
}
