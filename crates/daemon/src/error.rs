//! The one place where errors become HTTP: docker's status codes (404 for a missing
//! container or image, 409 for conflicts and things in use, 400 for bad parameters and
//! malformed bodies, 500 only for real internal failures) and its `{"message": ...}` body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_engine::mounts::MountError;
use berth_engine::volumes::VolumeError;
use berth_engine::EngineError;
use berth_image::archive::ArchiveError;
use berth_image::metadata::DbError;
use berth_image::reference::Reference;
use berth_image::store::StoreError;
use berth_registry::client::pull::PullError;
use berth_registry::client::push::PushError;
use berth_registry::client::ClientError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The engine failed (containers, and images through it).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The image store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A query parameter that does not parse.
    #[error("{0}")]
    BadParameter(String),
    /// A request body that is not the JSON expected.
    #[error("{0}")]
    BadBody(String),
    /// No route for this path.
    #[error("page not found")]
    NoRoute,
    /// An API version outside what berthd serves.
    #[error("{0}")]
    BadVersion(String),
    /// A request that conflicts with the state of a container or exec (409).
    #[error("{0}")]
    Conflict(String),
    /// No such exec instance (404).
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    /// A container's log cannot be read.
    #[error("{0}")]
    Logs(String),
    /// An exec record cannot be written.
    #[error(transparent)]
    Exec(#[from] crate::execs::ExecIoError),
    /// Something berthd does not do (yet).
    #[error("{0}")]
    NotImplemented(String),
    /// A blocking task died (a bug).
    #[error("internal error: {0}")]
    Task(String),
    /// Reading the request body failed.
    #[error("read request body: {0}")]
    Body(String),
    /// A pull failed before its progress stream started.
    #[error(transparent)]
    Pull(#[from] PullError),
    /// A push failed before its progress stream started.
    #[error(transparent)]
    Push(#[from] PushError),
    /// A registry refused a login or could not be reached.
    #[error(transparent)]
    Registry(#[from] ClientError),
}

impl From<VolumeError> for ApiError {
    fn from(e: VolumeError) -> Self {
        ApiError::Engine(EngineError::Volume(e))
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        ApiError::Store(StoreError::Db(e))
    }
}

impl ApiError {
    /// The HTTP status docker gives this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Engine(e) => engine_status(e),
            ApiError::Store(e) => store_status(e),
            ApiError::BadParameter(_) | ApiError::BadBody(_) | ApiError::BadVersion(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Body(_) => StatusCode::BAD_REQUEST,
            ApiError::NoRoute | ApiError::NoSuchExec(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Logs(_) | ApiError::Exec(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Task(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Pull(e) => pull_status(e),
            ApiError::Push(PushError::Store(s)) => store_status(s),
            ApiError::Push(PushError::Client(c)) | ApiError::Registry(c) => client_status(c),
            ApiError::Push(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message docker words for this error.
    pub fn message(&self) -> String {
        match self {
            ApiError::Engine(EngineError::Ambiguous(p)) => ambiguous(p),
            ApiError::Engine(EngineError::Db(e)) | ApiError::Store(StoreError::Db(e)) => {
                db_message(e)
            }
            ApiError::Engine(EngineError::Store(StoreError::Db(e))) => db_message(e),
            ApiError::Push(PushError::Store(StoreError::Db(DbError::NotFound(name)))) => {
                format!(
                    "An image does not exist locally with the tag: {}",
                    image_name(name)
                )
            }
            other => other.to_string(),
        }
    }
}

fn ambiguous(prefix: &str) -> String {
    format!("multiple IDs found with provided prefix: {prefix}")
}

/// Docker's wording of a metadata error: a missing image named by reference gets its tag.
fn db_message(e: &DbError) -> String {
    match e {
        DbError::NotFound(name) => format!("No such image: {}", image_name(name)),
        DbError::Ambiguous(p) => ambiguous(p),
        other => other.to_string(),
    }
}

/// `busybox` as docker names it in errors (`busybox:latest`); IDs and ID prefixes as given.
fn image_name(name: &str) -> String {
    let hex = name.trim_start_matches("sha256:");
    if name.starts_with("sha256:") || hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return name.into();
    }
    Reference::parse(name).map_or_else(|_| name.into(), |r| r.familiar())
}

fn engine_status(e: &EngineError) -> StatusCode {
    use EngineError as E;
    match e {
        E::NoSuchContainer(_) | E::NoSuchPath(_) => StatusCode::NOT_FOUND,
        E::NotADirectory(_) => StatusCode::BAD_REQUEST,
        // A tar entry that would land outside its directory, or cannot be read.
        E::Layer(
            berth_image::layer::Error::Refused { .. }
            | berth_image::layer::Error::Unsupported { .. }
            | berth_image::layer::Error::Read(_),
        ) => StatusCode::BAD_REQUEST,
        E::Ambiguous(_) | E::BadName(_) | E::EmptyName | E::SameName(_) | E::Change { .. } => {
            StatusCode::BAD_REQUEST
        }
        E::NameInUse { .. }
        | E::Running { .. }
        | E::NotRunning(_)
        | E::AlreadyRunning(_)
        | E::AlreadyPaused(_)
        | E::NotPaused(_) => StatusCode::CONFLICT,
        // A command that cannot be run is the request's fault, as dockerd has it.
        E::Start { kind, .. } if *kind != berth_engine::StartKind::Other => StatusCode::BAD_REQUEST,
        E::Spec(s) if s.is_bad_input() => StatusCode::BAD_REQUEST,
        E::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
        E::Store(s) => store_status(s),
        E::Db(d) => db_status(d),
        E::Mount(m) => mount_status(m),
        E::Volume(v) => volume_status(v),
        E::Network(n) => network_status(n),
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn mount_status(e: &MountError) -> StatusCode {
    match e {
        MountError::Invalid(_) => StatusCode::BAD_REQUEST,
        MountError::NoSuchContainer(_) => StatusCode::NOT_FOUND,
        MountError::Volume(v) => volume_status(v),
    }
}

/// A volume's errors as dockerd answers them.
/// The status of a networking error, as dockerd gives it.
pub fn network_status(e: &berth_net::NetError) -> StatusCode {
    use berth_net::NetError as N;
    match e {
        N::NotFound(_) => StatusCode::NOT_FOUND,
        N::Exists(_) | N::Connected { .. } => StatusCode::CONFLICT,
        N::InUse { .. } | N::Predefined(_) | N::NotConnected { .. } => StatusCode::FORBIDDEN,
        N::Driver(_) | N::IpOnDefault | N::Ipam(_) | N::Port(_) | N::Invalid { .. } => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The status of a volume error.
pub fn volume_status(e: &VolumeError) -> StatusCode {
    match e {
        VolumeError::NotFound(_) => StatusCode::NOT_FOUND,
        VolumeError::BadName(_) | VolumeError::Unsupported { .. } => StatusCode::BAD_REQUEST,
        VolumeError::InUse { .. } => StatusCode::CONFLICT,
        VolumeError::Io { .. } | VolumeError::Record { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn store_status(e: &StoreError) -> StatusCode {
    match e {
        StoreError::Db(d) => db_status(d),
        StoreError::Conflict { .. } | StoreError::ReferenceInUse { .. } => StatusCode::CONFLICT,
        StoreError::Change(_) => StatusCode::BAD_REQUEST,
        StoreError::Archive(a) => archive_status(a),
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn pull_status(e: &PullError) -> StatusCode {
    match e {
        PullError::NotFound { .. } | PullError::Denied { .. } => StatusCode::NOT_FOUND,
        PullError::Client(c) => client_status(c),
        PullError::Store(s) => store_status(s),
        PullError::Format(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn client_status(e: &ClientError) -> StatusCode {
    match e {
        ClientError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
        ClientError::Status { status, .. } if status.as_u16() == 404 => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn db_status(e: &DbError) -> StatusCode {
    match e {
        DbError::NotFound(_) => StatusCode::NOT_FOUND,
        DbError::Ambiguous(_) => StatusCode::BAD_REQUEST,
        DbError::InUse { .. } => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An archive that cannot be read is the client's input: 400, except for failures of
/// the store it is written into.
fn archive_status(e: &ArchiveError) -> StatusCode {
    match e {
        ArchiveError::Content { .. } | ArchiveError::Write { .. } => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), "{self}");
        } else {
            tracing::debug!(status = status.as_u16(), "{self}");
        }
        let body = serde_json::json!({ "message": self.message() });
        (status, axum::Json(body)).into_response()
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;
