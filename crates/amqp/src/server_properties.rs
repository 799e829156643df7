//! `connection.start`'s server properties: who we are and what we can do. Clients
//! switch features on from the capability flags, so these names are RabbitMQ's.

use amqp_codec::{FieldTable, FieldValue};

pub fn server_properties() -> FieldTable {
    let mut capabilities = FieldTable::new();
    for name in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "consumer_priorities",
        "connection.blocked",
        "authentication_failure_close",
        "per_consumer_qos",
        "direct_reply_to",
    ] {
        capabilities.insert(name, FieldValue::Bool(true));
    }
    let mut props = FieldTable::new();
    props.insert("capabilities", FieldValue::Table(capabilities));
    props.insert("cluster_name", FieldValue::long_string("warren"));
    props.insert(
        "copyright",
        FieldValue::long_string("Copyright (c) the Warren authors"),
    );
    props.insert(
        "information",
        FieldValue::long_string("Warren, an AMQP 0-9-1 message broker"),
    );
    props.insert("platform", FieldValue::long_string("Rust"));
    props.insert("product", FieldValue::long_string("Warren"));
    props.insert(
        "version",
        FieldValue::long_string(env!("CARGO_PKG_VERSION")),
    );
    props
}
