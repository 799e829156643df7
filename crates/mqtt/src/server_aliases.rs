//! Topic aliases the server sets (MQTT 5, spec 3.3.2.3.4): when the client's
//! CONNECT allows some (Topic Alias Maximum > 0), the first PUBLISH of a topic
//! carries the topic and a new alias, later ones the alias and an empty topic.
//! Aliases are given first come, first served until the client's maximum, and
//! never reassigned.

use mqtt_codec::Publish;
use std::collections::HashMap;

#[derive(Default)]
pub(crate) struct ServerAliases {
    maximum: u16,
    by_topic: HashMap<String, u16>,
}

impl ServerAliases {
    pub fn new(maximum: u16) -> ServerAliases {
        ServerAliases {
            maximum,
            by_topic: HashMap::new(),
        }
    }

    /// Puts an alias on `publish`. Returns the topic when this set a new alias
    /// (to `forget` if the packet is not sent after all).
    pub fn apply(&mut self, publish: &mut Publish) -> Option<String> {
        if self.maximum == 0 {
            return None;
        }
        if let Some(&alias) = self.by_topic.get(&publish.topic) {
            publish.topic.clear();
            publish.properties.topic_alias = Some(alias);
            return None;
        }
        if self.by_topic.len() >= usize::from(self.maximum) {
            return None;
        }
        let alias = self.by_topic.len() as u16 + 1;
        self.by_topic.insert(publish.topic.clone(), alias);
        publish.properties.topic_alias = Some(alias);
        Some(publish.topic.clone())
    }

    /// Takes back an alias whose PUBLISH was never sent (the client does not know it).
    pub fn forget(&mut self, topic: &str) {
        self.by_topic.remove(topic);
    }
}

#[cfg(test)]
mod tests {
    use super::ServerAliases;
    use bytes::Bytes;
    use mqtt_codec::{Properties, Publish, QoS};

    fn publish(topic: &str) -> Publish {
        Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: topic.into(),
            packet_id: None,
            properties: Properties::default(),
            payload: Bytes::new(),
        }
    }

    #[test]
    fn sets_then_uses_aliases_up_to_the_maximum() {
        let mut aliases = ServerAliases::new(1);
        let mut first = publish("a/b");
        assert_eq!(aliases.apply(&mut first).as_deref(), Some("a/b"));
        assert_eq!(
            (first.topic.as_str(), first.properties.topic_alias),
            ("a/b", Some(1))
        );
        let mut again = publish("a/b");
        aliases.apply(&mut again);
        assert_eq!(
            (again.topic.as_str(), again.properties.topic_alias),
            ("", Some(1))
        );
        let mut other = publish("c");
        aliases.apply(&mut other);
        assert_eq!(
            (other.topic.as_str(), other.properties.topic_alias),
            ("c", None)
        );
        assert!(ServerAliases::new(0).apply(&mut publish("a")).is_none());
    }
}
