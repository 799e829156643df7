//! The management HTTP API over a blocking HTTP/1.1 client: one request per call,
//! JSON in and out, and every way a request can fail sorted into [`ApiError`] so
//! each command can say what went wrong in rabbitmqctl's words.

use crate::basic_auth;
use crate::config::Settings;
use serde_json::Value;
use std::time::Duration;
use ureq::Agent;

/// Why a request did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// No HTTP answer: nothing listening, unknown host, timeout, not HTTP.
    Unreachable(String),
    /// 401: the user or password is wrong.
    Unauthorized,
    /// 403: the user may not do this.
    Forbidden(String),
    /// 404: the object (or its vhost) does not exist.
    NotFound,
    /// Any other 4xx or 5xx, with the server's `reason`.
    Rejected { status: u16, reason: String },
    /// A 2xx whose body is not the JSON expected.
    Invalid(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Unreachable(why) => write!(f, "{why}"),
            ApiError::Unauthorized => write!(f, "HTTP 401: wrong user name or password"),
            ApiError::Forbidden(reason) => write!(f, "HTTP 403: {reason}"),
            ApiError::NotFound => write!(f, "HTTP 404: not found"),
            ApiError::Rejected { status, reason } => write!(f, "HTTP {status}: {reason}"),
            ApiError::Invalid(what) => write!(f, "{what}"),
        }
    }
}

pub struct Client {
    agent: Agent,
    root: String,
    authorization: String,
}

impl Client {
    /// A client for `settings`, each request bounded by `timeout`.
    pub fn new(settings: &Settings, timeout: Duration) -> Client {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            // The management API is reached directly; a proxy from the environment
            // would send loopback requests elsewhere.
            .proxy(None)
            .build()
            .into();
        Client {
            agent,
            root: settings.api_root(),
            authorization: basic_auth::header(&settings.user, &settings.password),
        }
    }

    /// The API root requests go to, for messages.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// GET `path` (relative to `/api/`, already escaped) as JSON.
    pub fn get(&self, path: &str) -> Result<Value, ApiError> {
        let response = self
            .agent
            .get(self.url(path))
            .header("authorization", &self.authorization)
            .call();
        finish(response)?.ok_or_else(|| ApiError::Invalid("an empty response".into()))
    }

    pub fn put(&self, path: &str, body: &Value) -> Result<(), ApiError> {
        let response = self
            .agent
            .put(self.url(path))
            .header("authorization", &self.authorization)
            .content_type("application/json")
            .send(body.to_string());
        finish(response).map(drop)
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Option<Value>, ApiError> {
        let response = self
            .agent
            .post(self.url(path))
            .header("authorization", &self.authorization)
            .content_type("application/json")
            .send(body.to_string());
        finish(response)
    }

    /// DELETE `path`; `reason` goes in `X-Reason` (closing a connection).
    pub fn delete(&self, path: &str, reason: Option<&str>) -> Result<(), ApiError> {
        let mut request = self
            .agent
            .delete(self.url(path))
            .header("authorization", &self.authorization);
        if let Some(reason) = reason {
            request = request.header("x-reason", header_safe(reason));
        }
        finish(request.call()).map(drop)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.root)
    }
}

/// Sorts a response by status and parses its body, if any.
fn finish(
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Option<Value>, ApiError> {
    let response = response.map_err(|e| ApiError::Unreachable(describe(&e)))?;
    let status = response.status().as_u16();
    let text = response
        .into_body()
        .with_config()
        .limit(u64::MAX)
        .read_to_string()
        .map_err(|e| ApiError::Unreachable(describe(&e)))?;
    match status {
        200..=299 if text.trim().is_empty() => Ok(None),
        200..=299 => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ApiError::Invalid(format!("a response that is not JSON ({e})"))),
        401 => Err(ApiError::Unauthorized),
        403 => Err(ApiError::Forbidden(reason(&text))),
        404 => Err(ApiError::NotFound),
        _ => Err(ApiError::Rejected {
            status,
            reason: reason(&text),
        }),
    }
}

/// The `reason` of a RabbitMQ-style error body (`{"error": .., "reason": ..}`),
/// which the server HTML-escapes; the raw body when it is not one.
fn reason(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let text = match parsed.as_ref().and_then(|v| v.get("reason")) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => body.trim().to_string(),
    };
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::ConnectionFailed => "connection refused".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused".into()
        }
        ureq::Error::Io(e) => e.to_string(),
        ureq::Error::Protocol(_) => "the server does not speak HTTP".into(),
        other => other.to_string(),
    }
}

/// Header values must be visible ASCII; anything else becomes `?`.
fn header_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_reasons_are_unescaped() {
        let body = r#"{"error":"bad_request","reason":"[{&lt;&lt;\"x\"&gt;&gt;,1}] bad"}"#;
        assert_eq!(reason(body), r#"[{<<"x">>,1}] bad"#);
        assert_eq!(reason("plain text\n"), "plain text");
    }

    #[test]
    fn reasons_in_headers_stay_ascii() {
        assert_eq!(header_safe("bye now\nü"), "bye now??");
    }
}
