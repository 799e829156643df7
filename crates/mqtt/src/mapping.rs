//! How MQTT meets AMQP, as RabbitMQ's MQTT plugin maps it: topics become routing
//! keys of `amq.topic` (`/` <-> `.`, `+` <-> `*`, `#` stays), and an MQTT publish
//! becomes a message with AMQP properties, so AMQP consumers see the QoS as the
//! delivery mode and MQTT 5 properties as AMQP properties and headers (and back).

use amqp_codec::{BasicProperties, FieldTable, FieldValue, ShortStr};
use bytes::Bytes;
use mqtt_codec::{Properties, QoS};

/// The header RabbitMQ records the publish QoS in.
pub const QOS_HEADER: &str = "x-mqtt-publish-qos";
/// A response topic, as an AMQP routing key (RabbitMQ's name).
pub const REPLY_TO_TOPIC_HEADER: &str = "x-reply-to-topic";
/// Correlation data that is not a valid AMQP short string.
pub const CORRELATION_HEADER: &str = "x-correlation-id";
/// Marks a retained message sent to a new subscriber (its PUBLISH has RETAIN set).
pub const RETAINED_HEADER: &str = "x-mqtt-retained";
/// The MQTT payload format indicator (1: UTF-8 text).
pub const PAYLOAD_FORMAT_HEADER: &str = "x-mqtt-payload-format";

/// An MQTT topic name or filter as a routing key or binding key.
pub fn to_amqp(topic: &str) -> String {
    topic
        .chars()
        .map(|c| match c {
            '/' => '.',
            '+' => '*',
            c => c,
        })
        .collect()
}

/// A routing key (or binding key) as an MQTT topic.
pub fn to_mqtt(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '.' => '/',
            '*' => '+',
            c => c,
        })
        .collect()
}

/// The AMQP properties of an MQTT publish (QoS, and MQTT 5's properties).
pub fn amqp_properties(qos: QoS, p: &Properties) -> Bytes {
    let mut headers = FieldTable::new();
    headers.insert(QOS_HEADER, FieldValue::I8(qos as i8));
    for (key, value) in &p.user_properties {
        // AMQP header names are short strings; longer ones cannot be carried.
        if key.len() <= 255 {
            headers.insert(key.clone(), FieldValue::long_string(value.clone()));
        }
    }
    if let Some(topic) = &p.response_topic {
        headers.insert(
            REPLY_TO_TOPIC_HEADER,
            FieldValue::long_string(to_amqp(topic)),
        );
    }
    if let Some(format) = p.payload_format_indicator {
        headers.insert(PAYLOAD_FORMAT_HEADER, FieldValue::U8(format));
    }
    let mut correlation_id = None;
    if let Some(data) = &p.correlation_data {
        match ShortStr::from_bytes(data.clone()) {
            Some(s) => correlation_id = Some(s),
            None => headers.insert(CORRELATION_HEADER, FieldValue::LongStr(data.clone())),
        }
    }
    let props = BasicProperties {
        content_type: p.content_type.clone().map(ShortStr::from),
        headers: Some(headers),
        delivery_mode: Some(if qos == QoS::AtMostOnce { 1 } else { 2 }),
        correlation_id,
        expiration: p
            .message_expiry_interval
            .map(|s| ShortStr::from((u64::from(s) * 1000).to_string())),
        ..BasicProperties::default()
    };
    props.encode()
}

/// What an MQTT subscriber is told about a message, from its AMQP properties.
pub struct Outbound {
    /// The QoS it was published with (from the header, else the delivery mode).
    pub qos: QoS,
    /// MQTT 5 properties (for 3.x connections they are not sent).
    pub properties: Properties,
    /// A retained message sent because of a subscription.
    pub retained: bool,
}

/// Reads the AMQP properties of a message for delivery to an MQTT client. `v5`:
/// whether to build MQTT 5 properties at all.
pub fn outbound(raw: &[u8], v5: bool) -> Outbound {
    let Ok(props) = BasicProperties::decode(raw) else {
        return Outbound {
            qos: QoS::AtMostOnce,
            properties: Properties::default(),
            retained: false,
        };
    };
    let header_qos = props
        .headers
        .as_ref()
        .and_then(|h| h.get(QOS_HEADER))
        .and_then(|v| v.as_i64());
    let qos = match header_qos {
        Some(q) => QoS::from_u8(q.clamp(0, 2) as u8).unwrap_or_default(),
        None if props.delivery_mode == Some(2) => QoS::AtLeastOnce,
        None => QoS::AtMostOnce,
    };
    let retained = props
        .headers
        .as_ref()
        .is_some_and(|h| h.get(RETAINED_HEADER).is_some());
    let mut p = Properties::default();
    if !v5 {
        return Outbound {
            qos,
            properties: p,
            retained,
        };
    }
    p.content_type = props.content_type.as_ref().map(|s| s.as_str().to_string());
    p.correlation_data = props.correlation_id.as_ref().map(|s| s.as_bytes().clone());
    if let Some(ms) = props
        .expiration
        .as_ref()
        .and_then(|e| e.as_str().parse::<u64>().ok())
    {
        p.message_expiry_interval = Some(ms.div_ceil(1000).min(u32::MAX as u64) as u32);
    }
    for (key, value) in props.headers.iter().flat_map(|h| h.iter()) {
        match key.as_str() {
            QOS_HEADER
            | RETAINED_HEADER
            | crate::subscription_options::PUBLISHER_HEADER
            | crate::subscription_options::PUBLISHED_RETAIN_HEADER => {}
            REPLY_TO_TOPIC_HEADER => p.response_topic = value.as_str().map(to_mqtt),
            CORRELATION_HEADER => {
                if let FieldValue::LongStr(b) = value {
                    p.correlation_data = Some(b.clone());
                }
            }
            PAYLOAD_FORMAT_HEADER => {
                p.payload_format_indicator = value.as_i64().map(|v| (v == 1) as u8)
            }
            name => {
                if let Some(text) = header_text(value) {
                    p.user_properties.push((name.to_string(), text));
                }
            }
        }
    }
    Outbound {
        qos,
        properties: p,
        retained,
    }
}

/// A header value as user property text: strings as they are, numbers and
/// booleans written out; tables and arrays are left out.
fn header_text(value: &FieldValue) -> Option<String> {
    Some(match value {
        FieldValue::LongStr(b) => std::str::from_utf8(b).ok()?.to_string(),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::Table(_) | FieldValue::Array(_) => return None,
        other => other.as_i64()?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_map_as_rabbitmq_maps_them() {
        assert_eq!(to_amqp("a/b/c"), "a.b.c");
        assert_eq!(to_amqp("a/+/#"), "a.*.#");
        assert_eq!(to_mqtt("a.*.#"), "a/+/#");
        assert_eq!(to_mqtt("x.y"), "x/y");
    }

    #[test]
    fn mqtt5_properties_survive_the_trip_through_amqp() {
        let p = Properties {
            content_type: Some("application/json".into()),
            response_topic: Some("reply/to/me".into()),
            correlation_data: Some(Bytes::from_static(b"corr-1")),
            message_expiry_interval: Some(30),
            user_properties: vec![("k".into(), "v".into())],
            ..Properties::default()
        };
        let raw = amqp_properties(QoS::AtLeastOnce, &p);
        let amqp = BasicProperties::decode(&raw).unwrap();
        assert_eq!(amqp.delivery_mode, Some(2));
        assert_eq!(amqp.expiration.as_ref().unwrap().as_str(), "30000");
        assert_eq!(amqp.correlation_id.as_ref().unwrap().as_str(), "corr-1");
        let h = amqp.headers.as_ref().unwrap();
        assert_eq!(
            h.get("x-reply-to-topic").unwrap().as_str(),
            Some("reply.to.me")
        );
        let back = outbound(&raw, true);
        assert_eq!(back.qos, QoS::AtLeastOnce);
        assert_eq!(back.properties.content_type, p.content_type);
        assert_eq!(back.properties.response_topic, p.response_topic);
        assert_eq!(back.properties.correlation_data, p.correlation_data);
        assert_eq!(back.properties.message_expiry_interval, Some(30));
        assert_eq!(back.properties.user_properties, p.user_properties);
        // Binary correlation data goes through a header.
        let p = Properties {
            correlation_data: Some(Bytes::from_static(&[0xff, 0, 1])),
            ..Properties::default()
        };
        let back = outbound(&amqp_properties(QoS::AtMostOnce, &p), true);
        assert_eq!(back.qos, QoS::AtMostOnce);
        assert_eq!(back.properties.correlation_data, p.correlation_data);
    }
}
