//! STOMP against an in-process Warren, over real TCP: the session (CONNECT,
//! heart-beats, receipts, errors), destinations and acknowledgements, and interop
//! with AMQP clients (lapin) in both directions.

#[path = "../common/mod.rs"]
mod common;

mod client;
mod errors;
mod interop;
mod messaging;
mod session;
