//! Errors: [`ApiError`] is what a request gets (docker's `{"message": …}` with an HTTP status); [`ServeError`] is
//! why the server itself could not run.

use crate::body::{self, Resp};
use hyper::StatusCode;
use serde_json::json;
use std::path::PathBuf;

/// An error answered to a request: docker's status code and message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// The HTTP status (400 bad request, 404 no such object, 409 conflict, 500 server error, 501 unsupported).
    pub status: StatusCode,
    /// docker's `message`.
    pub message: String,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400.
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    /// 500.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// 501: a known endpoint or option holm does not serve.
    pub fn unsupported(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("{what} is not supported by holm"),
        )
    }

    /// The JSON response.
    pub fn response(&self) -> Resp {
        body::json(self.status, &json!({ "message": self.message }))
    }
}

impl From<holm_engine::Error> for ApiError {
    /// docker's status for each engine error: 404 for a missing object, 409 for a conflict (a name or image in
    /// use, a state that forbids the verb), 403 for a refused network change, 400 for a bad value, 501 for a
    /// log driver without a file, 500 for the rest. The message is the engine's.
    fn from(e: holm_engine::Error) -> ApiError {
        use holm_engine::Error as E;
        let status = match &e {
            E::NoSuchContainer(_) | E::NoSuchVolume(_) | E::NoSuchNetwork(_) => {
                StatusCode::NOT_FOUND
            }
            e if e.is_no_such_image() => StatusCode::NOT_FOUND,
            E::NameInUse { .. }
            | E::BadState { .. }
            | E::VolumeInUse { .. }
            | E::NetworkExists(_)
            | E::NotRunning(_) => StatusCode::CONFLICT,
            e if e.is_image_conflict() => StatusCode::CONFLICT,
            E::NetworkInUse { .. } | E::NetworkRefused(_) => StatusCode::FORBIDDEN,
            E::AmbiguousContainer(_) | E::InvalidFlag { .. } | E::InvalidFilter(_) | E::Spec(_) => {
                StatusCode::BAD_REQUEST
            }
            e if e.is_bad_reference() => StatusCode::BAD_REQUEST,
            // A bad `--subnet`/`-p`/`--ip` value is the client's error; an overlapping subnet is dockerd's 403.
            e if e.is_bad_network_value() => StatusCode::BAD_REQUEST,
            e if e.is_network_conflict() => StatusCode::FORBIDDEN,
            E::LogsUnsupported(_) => StatusCode::NOT_IMPLEMENTED,
            E::StartFailed { code, msg, .. } => {
                // The docker CLI derives `run`'s exit status from these words (127, 126, else 125).
                let mut m = e.to_string();
                // (the runtime's strerror words are capitalised; docker's CLI looks for lowercase ones)
                if *code == 127 && msg.contains("No such file or directory") {
                    m.push_str(" (no such file or directory)");
                } else if *code == 126 && msg.contains("Permission denied") {
                    m.push_str(" (permission denied)");
                }
                return ApiError::bad(m);
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &e {
            E::NameInUse { .. } => format!("Conflict. {e}"),
            E::InvalidFlag { why, .. } if why.starts_with("Invalid container name") => why.clone(),
            _ => e.to_string(),
        };
        ApiError::new(status, message)
    }
}

/// Why `holm system service` could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The socket address is not `unix://PATH` (or a path).
    #[error("{0}: expected unix://PATH (only Unix sockets are served)")]
    Address(String),
    /// Preparing or binding the socket failed.
    #[error("{what} {path}: {source}")]
    Socket {
        /// What was being done.
        what: &'static str,
        /// The socket path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Another server answers on the socket.
    #[error("{0}: another server is listening on this socket")]
    InUse(PathBuf),
    /// The tokio runtime could not start.
    #[error("start the server's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// Signal handling could not be set up.
    #[error(transparent)]
    Sys(#[from] holm_sys::Error),
}
