//! What a subscription is, kept in the arguments of its binding, so a resumed
//! session gets it back exactly: its QoS (a QoS 2 subscription shares the QoS 1
//! queue, so the queue alone cannot tell) and its MQTT 5 options. Bindings of a
//! durable queue are durable, so this survives a broker restart with the session.
//!
//! A binding whose subscription is what its queue implies (QoS 0 on the `qos0`
//! queue, QoS 1 on the `qos1` one, no options) has no arguments, as before, and
//! as RabbitMQ's MQTT 3 bindings have none.
//!
//! A kept session's membership of a shared subscription group is a second binding
//! of the group's queue, with the same key, whose arguments name the member
//! (`x-mqtt-shared-member`), its group and QoS. Routing is not affected (a queue
//! gets a message once, however many of its bindings match); it is the record
//! that lets the member rejoin when it comes back.

use crate::subscription_options::Options;
use amqp_codec::{FieldTable, FieldValue};
use mqtt_codec::QoS;

/// The subscription's QoS and options, as a table (RabbitMQ's MQTT 5 name).
pub const OPTIONS_ARG: &str = "x-mqtt-subscription-opts";
/// The client id of a shared subscription's member whose session is kept.
pub const MEMBER_ARG: &str = "x-mqtt-shared-member";
/// That member's group (the queue's name does not tell it apart from the filter).
pub const GROUP_ARG: &str = "x-mqtt-shared-group";

/// The QoS a binding of queue `index` (0 or 1) implies when it says nothing else.
fn implied_qos(index: usize) -> QoS {
    if index == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    }
}

/// The binding arguments of a subscription at `qos` with `options` on queue `index`.
pub(crate) fn binding_args(index: usize, qos: QoS, options: &Options) -> FieldTable {
    let mut args = FieldTable::new();
    if qos == implied_qos(index) && *options == Options::default() {
        return args;
    }
    args.insert(OPTIONS_ARG, FieldValue::Table(options_table(qos, options)));
    args
}

fn options_table(qos: QoS, options: &Options) -> FieldTable {
    let mut table = FieldTable::new();
    table.insert("qos", FieldValue::U8(qos as u8));
    if let Some(id) = options.identifier {
        table.insert("id", FieldValue::U32(id));
    }
    table.insert("no-local", FieldValue::Bool(options.no_local));
    table.insert(
        "retain-as-published",
        FieldValue::Bool(options.retain_as_published),
    );
    table
}

/// The QoS (if it is one) and options of `x-mqtt-subscription-opts` in `args`.
fn read_options(args: &FieldTable) -> Option<(Option<QoS>, Options)> {
    let Some(FieldValue::Table(table)) = args.get(OPTIONS_ARG) else {
        return None;
    };
    let qos = table
        .get("qos")
        .and_then(FieldValue::as_i64)
        .and_then(|q| u8::try_from(q).ok())
        .and_then(QoS::from_u8);
    let flag = |name: &str| table.get(name).and_then(FieldValue::as_bool) == Some(true);
    let options = Options {
        no_local: flag("no-local"),
        retain_as_published: flag("retain-as-published"),
        identifier: table
            .get("id")
            .and_then(FieldValue::as_i64)
            .and_then(|id| u32::try_from(id).ok())
            .filter(|&id| id > 0),
    };
    Some((qos, options))
}

/// The QoS and options a binding of queue `index` stands for. Arguments it does not
/// understand (written by hand, say) fall back to what the queue implies.
pub(crate) fn from_binding_args(index: usize, args: &FieldTable) -> (QoS, Options) {
    let Some((qos, options)) = read_options(args) else {
        return (implied_qos(index), Options::default());
    };
    let qos = qos
        // The queue decides between 0 and "1 or 2".
        .filter(|q| (*q != QoS::AtMostOnce) == (index == 1))
        .unwrap_or(implied_qos(index));
    (qos, options)
}

/// A kept member's binding of its group's queue.
pub(crate) fn member_args(client_id: &str, group: &str, qos: QoS, options: &Options) -> FieldTable {
    let mut args = FieldTable::new();
    args.insert(MEMBER_ARG, FieldValue::long_string(client_id.to_string()));
    args.insert(GROUP_ARG, FieldValue::long_string(group.to_string()));
    args.insert(OPTIONS_ARG, FieldValue::Table(options_table(qos, options)));
    args
}

/// What a kept member's binding records.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Member<'a> {
    pub client_id: &'a str,
    pub group: &'a str,
    pub qos: QoS,
    pub options: Options,
}

/// A member binding's client id, group, QoS and options.
pub(crate) fn member_of(args: &FieldTable) -> Option<Member<'_>> {
    let client_id = args.get(MEMBER_ARG)?.as_str()?;
    let group = args.get(GROUP_ARG)?.as_str()?;
    let (qos, options) = read_options(args).unwrap_or_default();
    Some(Member {
        client_id,
        group,
        qos: qos.unwrap_or(QoS::AtLeastOnce),
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_subscriptions_need_no_arguments() {
        let none = Options::default();
        assert!(binding_args(0, QoS::AtMostOnce, &none).is_empty());
        assert!(binding_args(1, QoS::AtLeastOnce, &none).is_empty());
        assert_eq!(
            from_binding_args(1, &FieldTable::new()),
            (QoS::AtLeastOnce, none)
        );
    }

    #[test]
    fn qos_and_options_come_back_from_the_arguments() {
        let options = Options {
            no_local: true,
            retain_as_published: true,
            identifier: Some(42),
        };
        let args = binding_args(1, QoS::ExactlyOnce, &options);
        assert_eq!(from_binding_args(1, &args), (QoS::ExactlyOnce, options));
        let plain_qos2 = binding_args(1, QoS::ExactlyOnce, &Options::default());
        assert_eq!(
            from_binding_args(1, &plain_qos2),
            (QoS::ExactlyOnce, Options::default())
        );
        let qos0 = binding_args(0, QoS::AtMostOnce, &options);
        assert_eq!(from_binding_args(0, &qos0), (QoS::AtMostOnce, options));
    }

    #[test]
    fn a_qos_that_does_not_fit_the_queue_is_the_queues() {
        let args = binding_args(1, QoS::ExactlyOnce, &Options::default());
        assert_eq!(from_binding_args(0, &args).0, QoS::AtMostOnce);
    }

    #[test]
    fn member_bindings_name_client_group_qos_and_options() {
        let options = Options {
            no_local: false,
            retain_as_published: true,
            identifier: Some(3),
        };
        let args = member_args("c-1", "g-1", QoS::ExactlyOnce, &options);
        let expected = Member {
            client_id: "c-1",
            group: "g-1",
            qos: QoS::ExactlyOnce,
            options,
        };
        assert_eq!(member_of(&args), Some(expected));
        assert_eq!(member_of(&FieldTable::new()), None);
    }
}
