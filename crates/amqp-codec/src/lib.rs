//! AMQP 0-9-1 as RabbitMQ speaks it: frames, methods, field tables, content headers.
//! Bytes in, values out, and back; no I/O and no broker state.

pub mod types;

pub use types::{FieldTable, FieldValue, ShortStr};
