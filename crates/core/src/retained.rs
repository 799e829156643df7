//! Retained messages (MQTT): the last message published with the retain flag on
//! each topic of a vhost, kept for subscribers that come later.
//!
//! Every change is a metadata record (`MetaRecord::Retained`), written to the
//! metadata log before it applies and replayed at start-up, so retained messages
//! survive restarts like the durable topology does; the snapshot carries the
//! current set. The message is kept in its stored form (`Message::encode_stored`).
//! Topics are the protocol's own (MQTT topic names, not routing keys): matching
//! them against a subscription is the adapter's business.

use crate::broker::Broker;
use crate::error::CoreResult;
use crate::journal::codec::MetaRecord;
use crate::message::Message;
use crate::names::Name;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;

/// Retained messages by vhost, then topic.
#[derive(Default)]
pub struct RetainedStore {
    by_vhost: Mutex<HashMap<Name, HashMap<String, Bytes>>>,
}

impl RetainedStore {
    pub(crate) fn apply(&self, vhost: Name, topic: String, message: Option<Bytes>) {
        let mut all = self.by_vhost.lock();
        match message {
            Some(m) => {
                all.entry(vhost).or_default().insert(topic, m);
            }
            None => {
                if let Some(topics) = all.get_mut(&vhost) {
                    topics.remove(&topic);
                    if topics.is_empty() {
                        all.remove(&vhost);
                    }
                }
            }
        }
    }

    /// A deleted vhost's retained messages go with it.
    pub(crate) fn forget_vhost(&self, vhost: &str) {
        self.by_vhost.lock().remove(vhost);
    }

    pub(crate) fn records(&self) -> Vec<MetaRecord> {
        let all = self.by_vhost.lock();
        let mut out = Vec::new();
        for (vhost, topics) in all.iter() {
            for (topic, message) in topics {
                out.push(MetaRecord::Retained {
                    vhost: vhost.clone(),
                    topic: topic.clone(),
                    message: Some(message.clone()),
                });
            }
        }
        out
    }
}

impl Broker {
    /// Retains `message` on `topic` (replacing what was there), or with `None`
    /// clears the topic. Durable: written to the metadata log first.
    pub async fn retain(
        &self,
        vhost: &str,
        topic: &str,
        message: Option<&Message>,
    ) -> CoreResult<()> {
        let vhost = Name::from(vhost);
        let topic = topic.to_string();
        let stored = message.map(Message::encode_stored);
        let apply = || {
            self.retained
                .apply(vhost.clone(), topic.clone(), stored.clone())
        };
        match &self.storage {
            None => {
                apply();
                Ok(())
            }
            Some(storage) => {
                let record = || {
                    Some(MetaRecord::Retained {
                        vhost: vhost.clone(),
                        topic: topic.clone(),
                        message: stored.clone(),
                    })
                };
                storage.commit(record, apply).await
            }
        }
    }

    /// The retained messages of a vhost whose topic `select` accepts.
    pub fn retained(&self, vhost: &str, select: impl Fn(&str) -> bool) -> Vec<(String, Message)> {
        let all = self.retained.by_vhost.lock();
        let Some(topics) = all.get(vhost) else {
            return Vec::new();
        };
        topics
            .iter()
            .filter(|(topic, _)| select(topic))
            .filter_map(|(topic, data)| {
                Message::decode_stored(data.clone())
                    .ok()
                    .map(|m| (topic.clone(), m))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::codec;

    #[test]
    fn retained_records_round_trip_through_the_log_codec() {
        for message in [Some(Bytes::from_static(b"\x03\x01stored")), None] {
            let record = MetaRecord::Retained {
                vhost: Name::from("/"),
                topic: "a/b".into(),
                message: message.clone(),
            };
            match codec::decode(&codec::encode(&record)).unwrap() {
                MetaRecord::Retained {
                    vhost,
                    topic,
                    message: back,
                } => {
                    assert_eq!((&*vhost, topic.as_str(), back), ("/", "a/b", message));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_store_keeps_the_last_message_per_topic() {
        let store = RetainedStore::default();
        store.apply(Name::from("/"), "t".into(), Some(Bytes::from_static(b"1")));
        store.apply(Name::from("/"), "t".into(), Some(Bytes::from_static(b"2")));
        store.apply(Name::from("/"), "u".into(), Some(Bytes::from_static(b"3")));
        store.apply(Name::from("/"), "u".into(), None);
        let records = store.records();
        assert_eq!(records.len(), 1);
        assert!(
            matches!(&records[0], MetaRecord::Retained { message: Some(m), .. } if &m[..] == b"2")
        );
    }
}
