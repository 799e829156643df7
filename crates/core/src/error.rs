//! Errors the core reports, each with the AMQP reply code RabbitMQ uses for it.
//!
//! The core speaks in reply codes because every protocol Warren serves maps onto them
//! (STOMP ERROR frames and MQTT reason codes are derived from the same kinds); the
//! adapter decides how to present them (channel close, connection close, ERROR frame).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    AccessRefused,
    NotFound,
    ResourceLocked,
    PreconditionFailed,
    NotAllowed,
    CommandInvalid,
    NotImplemented,
    InternalError,
}

impl ErrorKind {
    pub fn reply_code(self) -> u16 {
        match self {
            ErrorKind::AccessRefused => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::ResourceLocked => 405,
            ErrorKind::PreconditionFailed => 406,
            ErrorKind::NotAllowed => 530,
            ErrorKind::CommandInvalid => 503,
            ErrorKind::NotImplemented => 540,
            ErrorKind::InternalError => 541,
        }
    }
    /// RabbitMQ's name for the code, which prefixes every reply text.
    pub fn reply_name(self) -> &'static str {
        match self {
            ErrorKind::AccessRefused => "ACCESS_REFUSED",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::ResourceLocked => "RESOURCE_LOCKED",
            ErrorKind::PreconditionFailed => "PRECONDITION_FAILED",
            ErrorKind::NotAllowed => "NOT_ALLOWED",
            ErrorKind::CommandInvalid => "COMMAND_INVALID",
            ErrorKind::NotImplemented => "NOT_IMPLEMENTED",
            ErrorKind::InternalError => "INTERNAL_ERROR",
        }
    }
    /// Whether AMQP closes the whole connection (rather than the channel) for it.
    pub fn is_connection_level(self) -> bool {
        matches!(
            self,
            ErrorKind::NotAllowed
                | ErrorKind::CommandInvalid
                | ErrorKind::NotImplemented
                | ErrorKind::InternalError
        )
    }
}

/// An operation refused by the core: a kind and a message such as
/// `no queue 'x' in vhost '/'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreError {
    pub kind: ErrorKind,
    pub message: String,
}

impl CoreError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CoreError {
        CoreError {
            kind,
            message: message.into(),
        }
    }
    /// The reply text as RabbitMQ writes it: `NOT_FOUND - no queue 'x' in vhost '/'`.
    pub fn reply_text(&self) -> String {
        format!("{} - {}", self.kind.reply_name(), self.message)
    }
    pub fn not_found(what: &str, name: &str, vhost: &str) -> CoreError {
        CoreError::new(
            ErrorKind::NotFound,
            format!("no {what} '{name}' in vhost '{vhost}'"),
        )
    }
    pub fn precondition(message: impl Into<String>) -> CoreError {
        CoreError::new(ErrorKind::PreconditionFailed, message)
    }
    pub fn access_refused(message: impl Into<String>) -> CoreError {
        CoreError::new(ErrorKind::AccessRefused, message)
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reply_text())
    }
}

impl std::error::Error for CoreError {}

pub type CoreResult<T> = Result<T, CoreError>;
