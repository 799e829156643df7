//! Errors as RabbitMQ's management API reports them: a status code and a JSON body
//! `{"error": "...", "reason": "..."}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use warren_core::{CoreError, ErrorKind};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub reason: String,
    /// Asks the client for credentials (`WWW-Authenticate`): a failed login.
    pub challenge: bool,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, reason: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error,
            reason: reason.into(),
            challenge: false,
        }
    }

    pub fn bad_request(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", reason)
    }

    /// RabbitMQ's 404 for a missing object (its reason text is always "Not Found").
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "Object Not Found", "Not Found")
    }

    pub fn login_failed() -> ApiError {
        ApiError {
            challenge: true,
            ..ApiError::new(StatusCode::UNAUTHORIZED, "not_authorized", "Login failed")
        }
    }

    /// Logged in, but the user's tags or permissions do not allow it. RabbitMQ 3.10
    /// answers 401 here too (without a new challenge).
    pub fn not_authorised(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "not_authorised", reason)
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method Not Allowed",
        )
    }
}

/// A refusal from the core. RabbitMQ's API turns channel errors into 400 with the
/// error text (e.g. inequivalent arguments), and a missing object into 404.
impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> ApiError {
        match e.kind {
            ErrorKind::NotFound => ApiError::not_found(),
            // e.g. deleting `amq.direct`: RabbitMQ answers 401 "Access refused."
            ErrorKind::AccessRefused => ApiError::not_authorised(e.message),
            ErrorKind::InternalError => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_server_error",
                e.message,
            ),
            _ => ApiError::bad_request(e.message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.error, "reason": self.reason });
        let mut response = (self.status, crate::json::Json(body)).into_response();
        if self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"RabbitMQ Management\""),
            );
        }
        response
    }
}
