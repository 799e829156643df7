//! What goes wrong in a STOMP session: every error becomes one ERROR frame (a short
//! `message` header and a longer body) after which the connection closes, as the
//! 1.2 spec asks and RabbitMQ's plugin does.

use warren_core::CoreError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StompError {
    /// The `message` header: short (RabbitMQ's words, e.g. `not_found`).
    pub message: String,
    /// The body: the details.
    pub detail: String,
}

impl StompError {
    pub fn new(message: impl Into<String>, detail: impl Into<String>) -> StompError {
        StompError {
            message: message.into(),
            detail: detail.into(),
        }
    }

    /// A required header is absent.
    pub fn missing_header(command: &str, header: &str) -> StompError {
        StompError::new(
            "Missing header",
            format!("{command} frames need a '{header}' header"),
        )
    }
}

impl From<CoreError> for StompError {
    /// As RabbitMQ's plugin reports a closed channel: the reply name in lower case,
    /// and the AMQP reply text (`NOT_FOUND - no queue 'x' in vhost '/'`).
    fn from(e: CoreError) -> StompError {
        StompError::new(e.kind.reply_name().to_ascii_lowercase(), e.reply_text())
    }
}

impl From<amqp_codec::FrameError> for StompError {
    fn from(e: amqp_codec::FrameError) -> StompError {
        StompError::new("Bad message", e.to_string())
    }
}

pub type StompResult<T> = Result<T, StompError>;
