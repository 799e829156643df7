//! The queue's rules, tested on `QueueState` directly: no sockets, no tasks.

use super::state::{Consumer, QueueState};
use super::{QueueHandle, Settle};
use crate::message::{Message, MessageRef};
use crate::names::Name;
use crate::outlet::{ChannelCredit, ChannelCreditRef, ChannelKey, ConnEvent};
use bytes::Bytes;
use std::sync::{Arc, Weak};

fn message(body: &str) -> MessageRef {
    Arc::new(Message {
        exchange: Name::from(""),
        routing_key: "q".into(),
        properties: Bytes::from_static(&[0, 0]),
        body: Bytes::copy_from_slice(body.as_bytes()),
        persistent: false,
        expiration: None,
        priority: 0,
        bcc: None,
    })
}

struct TestConsumer {
    rx: crate::mailbox::Receiver<ConnEvent>,
    channel: ChannelKey,
}

impl TestConsumer {
    /// (seq, body, redelivered) of every delivery received so far.
    fn received(&mut self) -> Vec<(u64, String, bool)> {
        let mut out = Vec::new();
        while let Ok(event) = self.rx.try_recv() {
            if let ConnEvent::Deliveries(batch) = event {
                for d in batch {
                    out.push((
                        d.seq,
                        String::from_utf8_lossy(&d.message.body).into(),
                        d.redelivered,
                    ));
                }
            }
        }
        out
    }
    fn bodies(&mut self) -> Vec<String> {
        self.received().into_iter().map(|(_, b, _)| b).collect()
    }
}

fn consumer(
    state: &mut QueueState,
    channel: u64,
    tag: &str,
    prefetch: u32,
    credit: Option<ChannelCreditRef>,
) -> TestConsumer {
    let (tx, rx) = crate::mailbox::channel();
    state
        .add_consumer(Consumer {
            tag: Name::from(tag),
            channel: ChannelKey(channel),
            channel_number: 1,
            connection: channel,
            no_ack: false,
            exclusive: false,
            prefetch,
            channel_credit: credit.unwrap_or_default(),
            transit: Arc::new(ChannelCredit::with_limit(2000)),
            outlet: tx,
            unacked: 0,
            priority: 0,
        })
        .expect("consumer added");
    TestConsumer {
        rx,
        channel: ChannelKey(channel),
    }
}

fn turn(state: &mut QueueState) {
    state.deliver();
    state.flush();
}

fn publish(state: &mut QueueState, bodies: &[&str]) {
    for b in bodies {
        assert!(state.publish(message(b)));
    }
}

#[test]
fn round_robin_in_fifo_order() {
    let mut state = QueueState::new(QueueHandle::detached("q", false), Weak::new());
    let mut a = consumer(&mut state, 1, "a", 0, None);
    let mut b = consumer(&mut state, 2, "b", 0, None);
    publish(&mut state, &["1", "2", "3", "4", "5"]);
    turn(&mut state);
    assert_eq!(a.bodies(), ["1", "3", "5"]);
    assert_eq!(b.bodies(), ["2", "4"]);
}

#[test]
fn prefetch_holds_back_until_acked() {
    let mut state = QueueState::new(QueueHandle::detached("q", false), Weak::new());
    let mut a = consumer(&mut state, 1, "a", 2, None);
    publish(&mut state, &["1", "2", "3"]);
    turn(&mut state);
    let got = a.received();
    assert_eq!(
        got.iter().map(|g| g.1.as_str()).collect::<Vec<_>>(),
        ["1", "2"]
    );
    assert_eq!(state.counts().ready, 1);
    state.settle(a.channel, vec![got[0].0], Settle::Ack);
    turn(&mut state);
    assert_eq!(a.bodies(), ["3"]);
    assert_eq!(state.counts().unacked, 2);
}

#[test]
fn requeue_returns_to_the_original_position_marked_redelivered() {
    let mut state = QueueState::new(QueueHandle::detached("q", false), Weak::new());
    publish(&mut state, &["1", "2", "3"]);
    let first = state.get(ChannelKey(9), 0, false).expect("a message");
    let second = state.get(ChannelKey(9), 0, false).expect("a message");
    // Requeue the second before the first: each goes back where it was.
    state.settle(ChannelKey(9), vec![second.seq], Settle::Requeue);
    state.settle(ChannelKey(9), vec![first.seq], Settle::Requeue);
    let order: Vec<(String, bool)> = std::iter::from_fn(|| state.get(ChannelKey(9), 0, true))
        .map(|g| {
            (
                String::from_utf8_lossy(&g.message.body).into_owned(),
                g.redelivered,
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("1".into(), true),
            ("2".into(), true),
            ("3".to_string(), false)
        ]
    );
}

#[test]
fn closing_a_channel_requeues_everything_it_held_in_order() {
    let mut state = QueueState::new(QueueHandle::detached("q", false), Weak::new());
    let mut a = consumer(&mut state, 1, "a", 0, None);
    publish(&mut state, &["1", "2", "3"]);
    turn(&mut state);
    assert_eq!(a.bodies().len(), 3);
    state.channel_closed(a.channel);
    assert_eq!(state.counts().consumers, 0);
    let mut b = consumer(&mut state, 2, "b", 0, None);
    turn(&mut state);
    assert_eq!(
        b.received()
            .into_iter()
            .map(|(_, body, r)| (body, r))
            .collect::<Vec<_>>(),
        [
            ("1".into(), true),
            ("2".into(), true),
            ("3".to_string(), true)
        ]
    );
}

#[test]
fn a_shared_window_limits_all_consumers_of_the_channel() {
    let mut state = QueueState::new(QueueHandle::detached("q", false), Weak::new());
    let credit = Arc::new(ChannelCredit::with_limit(3));
    let mut a = consumer(&mut state, 1, "a", 0, Some(credit.clone()));
    let mut b = consumer(&mut state, 1, "b", 0, Some(credit.clone()));
    publish(&mut state, &["1", "2", "3", "4", "5"]);
    turn(&mut state);
    assert_eq!(a.bodies().len() + b.bodies().len(), 3);
    assert!(
        credit.give_back(1),
        "the queue was starved and asks to be woken"
    );
    turn(&mut state);
    assert_eq!(a.bodies().len() + b.bodies().len(), 1);
}

#[test]
fn exclusive_consumers_exclude_others() {
    let mut state = QueueState::new(QueueHandle::detached("q", false), Weak::new());
    let _a = consumer(&mut state, 1, "a", 0, None);
    let (tx, _rx) = crate::mailbox::channel();
    let refused = state.add_consumer(Consumer {
        tag: Name::from("x"),
        channel: ChannelKey(2),
        channel_number: 1,
        connection: 2,
        no_ack: false,
        exclusive: true,
        prefetch: 0,
        channel_credit: Arc::default(),
        transit: Arc::new(ChannelCredit::with_limit(10)),
        outlet: tx,
        unacked: 0,
        priority: 0,
    });
    let err = refused.expect_err("exclusive consume refused while another consumer exists");
    assert_eq!(err.kind.reply_code(), 403);
}

#[test]
fn auto_delete_after_the_last_consumer_goes() {
    let mut state = QueueState::new(QueueHandle::detached("q", true), Weak::new());
    assert!(!state.should_auto_delete(), "never had consumers");
    let a = consumer(&mut state, 1, "a", 0, None);
    assert!(!state.should_auto_delete());
    assert!(state.remove_consumer(a.channel, "a"));
    assert!(state.should_auto_delete());
}

#[test]
fn a_full_transit_window_keeps_messages_in_the_queue() {
    let mut state = QueueState::new(QueueHandle::detached("q", false), Weak::new());
    let (tx, mut rx) = crate::mailbox::channel();
    let transit = Arc::new(ChannelCredit::with_limit(2));
    state
        .add_consumer(Consumer {
            tag: Name::from("a"),
            channel: ChannelKey(1),
            channel_number: 1,
            connection: 1,
            no_ack: true,
            exclusive: false,
            prefetch: 0,
            channel_credit: Arc::default(),
            transit: transit.clone(),
            outlet: tx,
            unacked: 0,
            priority: 0,
        })
        .unwrap();
    publish(&mut state, &["1", "2", "3"]);
    turn(&mut state);
    let delivered = match rx.try_recv() {
        Ok(ConnEvent::Deliveries(batch)) => batch.len(),
        _ => 0,
    };
    assert_eq!(delivered, 2);
    assert_eq!(state.counts().ready, 1);
}
