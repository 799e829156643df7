//! Warren's STOMP adapter (1.0, 1.1 and 1.2), speaking the protocol as RabbitMQ's
//! STOMP plugin does: frames become broker-core operations, and core deliveries
//! become MESSAGE frames.

pub mod frame;
