//! The routes: every endpoint berthd serves, behind the version middleware. Unknown paths
//! get dockerd's 404 `page not found`.

use std::sync::Arc;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::api::{
    archive, attach, build, containers, distribution, events, exec, filesystem, images, lifecycle,
    logs, networks, stats, system, top, volumes,
};
use crate::error::ApiError;
use crate::state::Daemon;

/// The API's routes (paths without the version prefix).
pub fn routes(state: Arc<Daemon>) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(events::events))
        .route("/images/json", get(images::list))
        .route("/images/load", post(archive::load))
        .route("/images/create", post(archive::create))
        .route("/images/prune", post(images::prune))
        .route("/images/get", get(archive::get_many))
        .route("/images/search", get(distribution::search))
        .route(
            "/images/{*path}",
            get(images::get).post(images::post).delete(images::remove),
        )
        .route("/commit", post(archive::commit))
        .route("/build", post(build::build))
        .route("/build/prune", post(build::prune))
        .route("/auth", post(distribution::auth))
        .route("/distribution/{*path}", get(distribution::inspect_path))
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route("/containers/prune", post(containers::prune))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/update", post(containers::update))
        .route("/containers/{id}/start", post(lifecycle::start))
        .route("/containers/{id}/stop", post(lifecycle::stop))
        .route("/containers/{id}/restart", post(lifecycle::restart))
        .route("/containers/{id}/kill", post(lifecycle::kill))
        .route("/containers/{id}/wait", post(lifecycle::wait))
        .route("/containers/{id}/pause", post(lifecycle::pause))
        .route("/containers/{id}/unpause", post(lifecycle::unpause))
        .route("/containers/{id}/attach", post(attach::attach))
        .route("/containers/{id}/resize", post(attach::resize))
        .route("/containers/{id}/logs", get(logs::logs))
        .route("/containers/{id}/top", get(top::top))
        .route("/containers/{id}/stats", get(stats::stats))
        .route("/containers/{id}/changes", get(filesystem::changes))
        .route("/containers/{id}/export", get(filesystem::export))
        .route(
            "/containers/{id}/archive",
            get(filesystem::archive_get)
                .head(filesystem::archive_head)
                .put(filesystem::archive_put),
        )
        .route("/system/df", get(filesystem::df))
        .route("/containers/{id}/exec", post(exec::create))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        .route("/containers/{id}", delete(containers::remove))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
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
