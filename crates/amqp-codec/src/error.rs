//! The one error type of the codec: what a connection must close with.
//!
//! Every decode failure is a protocol violation by the peer, so instead of a rich error
//! enum the codec hands back exactly what the adapter sends in `connection.close`: the
//! reply code, the reply text (already in RabbitMQ's "NAME - explanation" form) and the
//! class/method ids of the offending method (0 when no method is involved).

use crate::reply_code;
use std::fmt;

/// A frame (or part of one) that cannot be decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameError {
    pub code: u16,
    pub text: String,
    pub class_id: u16,
    pub method_id: u16,
}

impl FrameError {
    /// Builds an error whose text is `"<CODE NAME> - <explanation>"`, as RabbitMQ writes
    /// close reasons, so the adapter can pass `text` through unchanged.
    pub fn new(code: u16, explanation: impl fmt::Display) -> FrameError {
        FrameError {
            code,
            text: format!("{} - {}", reply_code::name(code), explanation),
            class_id: 0,
            method_id: 0,
        }
    }

    /// Attaches the method the error is about (echoed in `connection.close`).
    pub fn on_method(mut self, class_id: u16, method_id: u16) -> FrameError {
        self.class_id = class_id;
        self.method_id = method_id;
        self
    }

    pub(crate) fn frame(explanation: impl fmt::Display) -> FrameError {
        FrameError::new(reply_code::FRAME_ERROR, explanation)
    }

    pub(crate) fn syntax(explanation: impl fmt::Display) -> FrameError {
        FrameError::new(reply_code::SYNTAX_ERROR, explanation)
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for FrameError {}
