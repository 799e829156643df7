//! The MQTT 5 subscription options that act on each delivery (spec 3.8.3.1):
//! subscription identifiers (sent back with every message a subscription
//! matches), no-local (a client's own publishes are not sent to its no-local
//! subscriptions) and retain-as-published (RETAIN keeps the publisher's flag).
//!
//! Deliveries come from the session's queues, one per message whatever number of
//! the client's filters matched, so the options are worked out at delivery from
//! the filters that match the topic. Two headers carry what that needs to know
//! about the publish; they are set only when needed and are not user properties.

use crate::session::Session;
use amqp_codec::{BasicProperties, FieldValue};
use bytes::Bytes;
use mqtt_codec::{topic, Publish};

/// The publishing client's id, on messages of a client that has no-local
/// subscriptions (only they can be the same client's).
pub const PUBLISHER_HEADER: &str = "x-mqtt-publisher";
/// Set on messages published with RETAIN, for retain-as-published subscribers.
pub const PUBLISHED_RETAIN_HEADER: &str = "x-mqtt-retain";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    pub no_local: bool,
    pub retain_as_published: bool,
    /// MQTT 5 Subscription Identifier (1 to 268,435,455).
    pub identifier: Option<u32>,
}

impl Options {
    fn any(&self) -> bool {
        *self != Options::default()
    }
}

/// True when some subscription of the session has an option set: only then do
/// deliveries need looking at.
pub(crate) fn in_use(session: &Session) -> bool {
    session.subscriptions.values().any(|s| s.options.any())
}

/// Whether publishes of this session must name their publisher.
pub(crate) fn marks_publisher(session: &Session) -> bool {
    session.subscriptions.values().any(|s| s.options.no_local)
}

/// The properties of a publish, with the headers these options need added.
/// `publisher`: the client id, when it has no-local subscriptions.
pub(crate) fn mark(properties: Bytes, retain: bool, publisher: Option<&str>) -> Bytes {
    if !retain && publisher.is_none() {
        return properties;
    }
    let mut props = BasicProperties::decode(&properties).unwrap_or_default();
    let headers = props.headers.get_or_insert_with(Default::default);
    if retain {
        headers.insert(PUBLISHED_RETAIN_HEADER, FieldValue::Bool(true));
    }
    if let Some(id) = publisher {
        headers.insert(PUBLISHER_HEADER, FieldValue::long_string(id.to_string()));
    }
    props.encode()
}

/// Applies the options of the subscriptions matching `publish.topic` to it: sets
/// their identifiers and the RETAIN flag. False: every matching subscription is
/// no-local and the message is the client's own, so it is not sent.
pub(crate) fn apply(session: &Session, raw_properties: &[u8], publish: &mut Publish) -> bool {
    if !in_use(session) {
        return true;
    }
    let matching: Vec<Options> = session
        .subscriptions
        .iter()
        .filter(|(filter, _)| topic::matches(filter, &publish.topic))
        .map(|(_, s)| s.options)
        .collect();
    let header_needed = matching.iter().any(|o| o.no_local || o.retain_as_published);
    let (own, published_retained) = if header_needed {
        let props = BasicProperties::decode(raw_properties).unwrap_or_default();
        let headers = props.headers.unwrap_or_default();
        let own = headers
            .get(PUBLISHER_HEADER)
            .and_then(|v| v.as_str())
            .is_some_and(|id| id == &*session.client_id);
        (own, headers.get(PUBLISHED_RETAIN_HEADER).is_some())
    } else {
        (false, false)
    };
    let wanted: Vec<Options> = matching
        .into_iter()
        .filter(|o| !(own && o.no_local))
        .collect();
    if own && wanted.is_empty() {
        return false;
    }
    let mut identifiers: Vec<u32> = wanted.iter().filter_map(|o| o.identifier).collect();
    identifiers.sort_unstable();
    identifiers.dedup();
    publish.properties.subscription_identifiers = identifiers;
    if published_retained && wanted.iter().any(|o| o.retain_as_published) {
        publish.retain = true;
    }
    true
}

/// The options of a shared subscription applied to a delivery from its queue:
/// its own identifier only (the delivery is the group's copy, whatever else of
/// the client's matches), and retain-as-published.
pub(crate) fn apply_shared(options: &Options, raw_properties: &[u8], publish: &mut Publish) {
    publish.properties.subscription_identifiers = options.identifier.into_iter().collect();
    if options.retain_as_published {
        let props = BasicProperties::decode(raw_properties).unwrap_or_default();
        let headers = props.headers.unwrap_or_default();
        publish.retain = headers.get(PUBLISHED_RETAIN_HEADER).is_some();
    }
}
