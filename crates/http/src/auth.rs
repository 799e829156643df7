//! HTTP basic authentication and RabbitMQ's tag rules: every endpoint needs a
//! management user; some need `monitoring`, `policymaker` or `administrator`
//! (`rabbit_mgmt_util:is_authorized*`). A failed login is a 401 with a challenge; a
//! user whose tags do not allow an endpoint gets a 401 with RabbitMQ's reason.

use crate::error::ApiError;
use crate::ApiState;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use warren_core::User;

/// What an endpoint requires of the caller's tags, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Management,
    Policymaker,
    Monitoring,
    Administrator,
}

/// The authenticated caller, put in the request's extensions by `authenticate`.
#[derive(Clone, Debug)]
pub struct Caller(pub User);

impl Caller {
    fn has(&self, tag: &str) -> bool {
        self.0.tags.iter().any(|t| t == tag)
    }

    pub fn is_admin(&self) -> bool {
        self.has("administrator")
    }

    /// Monitoring users (and administrators) see every vhost and connection.
    pub fn is_monitor(&self) -> bool {
        self.is_admin() || self.has("monitoring")
    }

    pub fn is_policymaker(&self) -> bool {
        self.is_admin() || self.has("policymaker")
    }

    pub fn is_management(&self) -> bool {
        self.is_monitor() || self.is_policymaker() || self.has("management")
    }

    pub fn require(&self, level: Level) -> Result<(), ApiError> {
        let (ok, reason) = match level {
            Level::Management => (self.is_management(), "Not management user"),
            Level::Policymaker => (self.is_policymaker(), "Not a policymaker"),
            Level::Monitoring => (self.is_monitor(), "Not monitor user"),
            Level::Administrator => (self.is_admin(), "Not administrator user"),
        };
        if ok {
            Ok(())
        } else {
            Err(ApiError::not_authorised(reason))
        }
    }
}

/// Middleware: checks the credentials, refuses users without a management tag, and
/// hands the user on to the handler.
pub async fn authenticate(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Response {
    let user = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_basic)
        .and_then(|(name, password)| state.broker.authenticate(&name, &password));
    let Some(user) = user else {
        return ApiError::login_failed().into_response();
    };
    let caller = Caller(user);
    if let Err(e) = caller.require(Level::Management) {
        return e.into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// `Basic base64(user:password)` as (user, password).
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}
