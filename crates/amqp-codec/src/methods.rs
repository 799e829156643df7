//! The AMQP 0-9-1 method set, as one declarative table.
//!
//! Facts (ids, field order, domains) follow RabbitMQ's protocol definition
//! (rabbitmq-codegen's `amqp-rabbitmq-0.9.1.json`), including its extensions:
//! exchange.bind/unbind, basic.nack, confirm.*, connection.blocked/unblocked and
//! connection.update-secret. The `access` class is deprecated by 0-9-1, but RabbitMQ
//! still answers `access.request` with `access.request-ok`, which a few old clients
//! send, so both are here.
//!
//! Field names are the spec's with `-` → `_`; `type` is `kind` and `nowait` is
//! `no_wait`. Fields the spec reserves (`reserved-1`, `ticket`, `out-of-band`,
//! `known-hosts`, connection.open's `capabilities` and `insist`) are listed as
//! `reserved`: on the wire, not in the structs. Domains are spelled as their base types.

use crate::error::FrameError;
use crate::reply_code;
use crate::wire::WireError;

define_methods! {
    // ---- connection (10) ----
    (10, 10) ConnectionStart "connection.start" {
        version_major: octet, version_minor: octet, server_properties: table,
        mechanisms: longstr, locales: longstr,
    }
    (10, 11) ConnectionStartOk "connection.start-ok" {
        client_properties: table, mechanism: shortstr, response: longstr, locale: shortstr,
    }
    (10, 20) ConnectionSecure "connection.secure" { challenge: longstr }
    (10, 21) ConnectionSecureOk "connection.secure-ok" { response: longstr }
    (10, 30) ConnectionTune "connection.tune" {
        channel_max: short, frame_max: long, heartbeat: short,
    }
    (10, 31) ConnectionTuneOk "connection.tune-ok" {
        channel_max: short, frame_max: long, heartbeat: short,
    }
    (10, 40) ConnectionOpen "connection.open" {
        virtual_host: shortstr, reserved: shortstr, reserved: bit,
    }
    (10, 41) ConnectionOpenOk "connection.open-ok" { reserved: shortstr }
    (10, 50) ConnectionClose "connection.close" {
        reply_code: short, reply_text: shortstr, class_id: short, method_id: short,
    }
    (10, 51) ConnectionCloseOk "connection.close-ok" {}
    (10, 60) ConnectionBlocked "connection.blocked" { reason: shortstr }
    (10, 61) ConnectionUnblocked "connection.unblocked" {}
    (10, 70) ConnectionUpdateSecret "connection.update-secret" {
        new_secret: longstr, reason: shortstr,
    }
    (10, 71) ConnectionUpdateSecretOk "connection.update-secret-ok" {}

    // ---- access (30), deprecated ----
    (30, 10) AccessRequest "access.request" {
        realm: shortstr, exclusive: bit, passive: bit, active: bit, write: bit, read: bit,
    }
    (30, 11) AccessRequestOk "access.request-ok" { ticket: short }

    // ---- channel (20) ----
    (20, 10) ChannelOpen "channel.open" { reserved: shortstr }
    /// `channel_id` is reserved by the spec (a longstr that RabbitMQ sends empty).
    (20, 11) ChannelOpenOk "channel.open-ok" { channel_id: longstr }
    (20, 20) ChannelFlow "channel.flow" { active: bit }
    (20, 21) ChannelFlowOk "channel.flow-ok" { active: bit }
    (20, 40) ChannelClose "channel.close" {
        reply_code: short, reply_text: shortstr, class_id: short, method_id: short,
    }
    (20, 41) ChannelCloseOk "channel.close-ok" {}

    // ---- exchange (40) ----
    (40, 10) ExchangeDeclare "exchange.declare" {
        reserved: short, exchange: shortstr, kind: shortstr, passive: bit, durable: bit,
        auto_delete: bit, internal: bit, no_wait: bit, arguments: table,
    }
    (40, 11) ExchangeDeclareOk "exchange.declare-ok" {}
    (40, 20) ExchangeDelete "exchange.delete" {
        reserved: short, exchange: shortstr, if_unused: bit, no_wait: bit,
    }
    (40, 21) ExchangeDeleteOk "exchange.delete-ok" {}
    (40, 30) ExchangeBind "exchange.bind" {
        reserved: short, destination: shortstr, source: shortstr, routing_key: shortstr,
        no_wait: bit, arguments: table,
    }
    (40, 31) ExchangeBindOk "exchange.bind-ok" {}
    (40, 40) ExchangeUnbind "exchange.unbind" {
        reserved: short, destination: shortstr, source: shortstr, routing_key: shortstr,
        no_wait: bit, arguments: table,
    }
    /// 51, not 41: RabbitMQ's id for it (the extension was specified that way).
    (40, 51) ExchangeUnbindOk "exchange.unbind-ok" {}

    // ---- queue (50) ----
    (50, 10) QueueDeclare "queue.declare" {
        reserved: short, queue: shortstr, passive: bit, durable: bit, exclusive: bit,
        auto_delete: bit, no_wait: bit, arguments: table,
    }
    (50, 11) QueueDeclareOk "queue.declare-ok" {
        queue: shortstr, message_count: long, consumer_count: long,
    }
    (50, 20) QueueBind "queue.bind" {
        reserved: short, queue: shortstr, exchange: shortstr, routing_key: shortstr,
        no_wait: bit, arguments: table,
    }
    (50, 21) QueueBindOk "queue.bind-ok" {}
    (50, 30) QueuePurge "queue.purge" { reserved: short, queue: shortstr, no_wait: bit }
    (50, 31) QueuePurgeOk "queue.purge-ok" { message_count: long }
    (50, 40) QueueDelete "queue.delete" {
        reserved: short, queue: shortstr, if_unused: bit, if_empty: bit, no_wait: bit,
    }
    (50, 41) QueueDeleteOk "queue.delete-ok" { message_count: long }
    (50, 50) QueueUnbind "queue.unbind" {
        reserved: short, queue: shortstr, exchange: shortstr, routing_key: shortstr,
        arguments: table,
    }
    (50, 51) QueueUnbindOk "queue.unbind-ok" {}

    // ---- basic (60) ----
    (60, 10) BasicQos "basic.qos" { prefetch_size: long, prefetch_count: short, global: bit }
    (60, 11) BasicQosOk "basic.qos-ok" {}
    (60, 20) BasicConsume "basic.consume" {
        reserved: short, queue: shortstr, consumer_tag: shortstr, no_local: bit,
        no_ack: bit, exclusive: bit, no_wait: bit, arguments: table,
    }
    (60, 21) BasicConsumeOk "basic.consume-ok" { consumer_tag: shortstr }
    (60, 30) BasicCancel "basic.cancel" { consumer_tag: shortstr, no_wait: bit }
    (60, 31) BasicCancelOk "basic.cancel-ok" { consumer_tag: shortstr }
    (60, 40) BasicPublish "basic.publish" content {
        reserved: short, exchange: shortstr, routing_key: shortstr, mandatory: bit,
        immediate: bit,
    }
    (60, 50) BasicReturn "basic.return" content {
        reply_code: short, reply_text: shortstr, exchange: shortstr, routing_key: shortstr,
    }
    (60, 60) BasicDeliver "basic.deliver" content {
        consumer_tag: shortstr, delivery_tag: longlong, redelivered: bit,
        exchange: shortstr, routing_key: shortstr,
    }
    (60, 70) BasicGet "basic.get" { reserved: short, queue: shortstr, no_ack: bit }
    (60, 71) BasicGetOk "basic.get-ok" content {
        delivery_tag: longlong, redelivered: bit, exchange: shortstr, routing_key: shortstr,
        message_count: long,
    }
    /// `cluster_id` is reserved by the spec; RabbitMQ sends it empty.
    (60, 72) BasicGetEmpty "basic.get-empty" { cluster_id: shortstr }
    (60, 80) BasicAck "basic.ack" { delivery_tag: longlong, multiple: bit }
    (60, 90) BasicReject "basic.reject" { delivery_tag: longlong, requeue: bit }
    (60, 100) BasicRecoverAsync "basic.recover-async" { requeue: bit }
    (60, 110) BasicRecover "basic.recover" { requeue: bit }
    (60, 111) BasicRecoverOk "basic.recover-ok" {}
    (60, 120) BasicNack "basic.nack" { delivery_tag: longlong, multiple: bit, requeue: bit }

    // ---- confirm (85) ----
    (85, 10) ConfirmSelect "confirm.select" { no_wait: bit }
    (85, 11) ConfirmSelectOk "confirm.select-ok" {}

    // ---- tx (90) ----
    (90, 10) TxSelect "tx.select" {}
    (90, 11) TxSelectOk "tx.select-ok" {}
    (90, 20) TxCommit "tx.commit" {}
    (90, 21) TxCommitOk "tx.commit-ok" {}
    (90, 30) TxRollback "tx.rollback" {}
    (90, 31) TxRollbackOk "tx.rollback-ok" {}
}

/// A class/method pair we do not know. RabbitMQ's reader crashes on one (the client sees
/// the socket close); the spec's code for "not implemented" is the better answer.
pub(crate) fn unknown_method(class_id: u16, method_id: u16) -> FrameError {
    FrameError::new(
        reply_code::NOT_IMPLEMENTED,
        format_args!("unknown method: class {class_id}, method {method_id}"),
    )
    .on_method(class_id, method_id)
}

/// Arguments that do not parse as the method's fields.
///
/// RabbitMQ answers these with 501 FRAME_ERROR ("cannot decode ...", and "Malformed
/// UTF-8 in shortstr"), not 502 SYNTAX_ERROR, so we do the same: clients and tests
/// written against RabbitMQ expect it.
pub(crate) fn bad_arguments(
    class_id: u16,
    method_id: u16,
    field: &str,
    e: WireError,
) -> FrameError {
    let name = method_name(class_id, method_id).unwrap_or("method");
    let text = if field.is_empty() {
        format!("cannot decode {name} arguments: {e}")
    } else {
        format!("cannot decode {name} arguments: field '{field}': {e}")
    };
    FrameError::new(reply_code::FRAME_ERROR, text).on_method(class_id, method_id)
}
