//! Warren's broker core. Protocol adapters (AMQP, MQTT, STOMP) and the management API
//! call into it; it never sees a frame.

pub mod exchange;
