//! Protocol errors and their scope: a channel error closes one channel, a connection
//! error closes the whole connection (RabbitMQ's "hard" errors).

use amqp_codec::{FrameError, Method};
use warren_core::CoreError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Channel,
    Connection,
}

#[derive(Clone, Debug)]
pub struct AmqpError {
    pub scope: Scope,
    pub code: u16,
    /// The full reply text, e.g. `NOT_FOUND - no queue 'x' in vhost '/'`.
    pub text: String,
    pub class_id: u16,
    pub method_id: u16,
}

/// RabbitMQ's name for a reply code, which starts every reply text.
pub fn code_name(code: u16) -> &'static str {
    match code {
        311 => "CONTENT_TOO_LARGE",
        312 => "NO_ROUTE",
        313 => "NO_CONSUMERS",
        320 => "CONNECTION_FORCED",
        402 => "INVALID_PATH",
        403 => "ACCESS_REFUSED",
        404 => "NOT_FOUND",
        405 => "RESOURCE_LOCKED",
        406 => "PRECONDITION_FAILED",
        501 => "FRAME_ERROR",
        502 => "SYNTAX_ERROR",
        503 => "COMMAND_INVALID",
        504 => "CHANNEL_ERROR",
        505 => "UNEXPECTED_FRAME",
        506 => "RESOURCE_ERROR",
        530 => "NOT_ALLOWED",
        540 => "NOT_IMPLEMENTED",
        541 => "INTERNAL_ERROR",
        _ => "UNKNOWN",
    }
}

/// Codes that close the connection rather than the channel.
pub fn is_connection_code(code: u16) -> bool {
    matches!(code, 320 | 402 | 501..=506 | 530 | 540 | 541)
}

impl AmqpError {
    /// An error whose scope follows from its code; `message` without the code name.
    pub fn new(code: u16, message: impl AsRef<str>) -> AmqpError {
        AmqpError {
            scope: if is_connection_code(code) {
                Scope::Connection
            } else {
                Scope::Channel
            },
            code,
            text: format!("{} - {}", code_name(code), message.as_ref()),
            class_id: 0,
            method_id: 0,
        }
    }
    /// A connection error whatever the code (e.g. 403 during the handshake).
    pub fn connection(code: u16, message: impl AsRef<str>) -> AmqpError {
        AmqpError {
            scope: Scope::Connection,
            ..AmqpError::new(code, message)
        }
    }
    pub fn on(mut self, method: &Method) -> AmqpError {
        self.class_id = method.class_id();
        self.method_id = method.method_id();
        self
    }
    pub fn on_ids(mut self, class_id: u16, method_id: u16) -> AmqpError {
        self.class_id = class_id;
        self.method_id = method_id;
        self
    }
}

impl From<CoreError> for AmqpError {
    fn from(e: CoreError) -> AmqpError {
        AmqpError {
            scope: if e.kind.is_connection_level() {
                Scope::Connection
            } else {
                Scope::Channel
            },
            code: e.kind.reply_code(),
            text: e.reply_text(),
            class_id: 0,
            method_id: 0,
        }
    }
}

impl From<FrameError> for AmqpError {
    fn from(e: FrameError) -> AmqpError {
        AmqpError {
            scope: Scope::Connection,
            code: e.code,
            text: e.text,
            class_id: e.class_id,
            method_id: e.method_id,
        }
    }
}

pub type AmqpResult<T> = Result<T, AmqpError>;
