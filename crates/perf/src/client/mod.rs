//! A minimal AMQP 0-9-1 client over tokio, built on `amqp-codec`: just what a load
//! generator needs, with nothing between the socket and the batch loops.

pub mod connection;
mod handshake;
pub mod raw;
pub mod uri;

pub use connection::{BrokerClosed, Connection};
pub use uri::AmqpUri;
