//! Publisher confirms: which publishes still wait for their queues' word, and the
//! acks and nacks that go back to the client, coalesced with `multiple`.
//!
//! Sequence numbers count publishes from 1. A publish routed to k queues is settled
//! when all k have answered (a queue answers in its mailbox order, so answers for one
//! queue arrive in sequence order); it is nacked if any queue refused it.

use amqp_codec::{encode_ack, encode_nack};
use bytes::BytesMut;
use std::collections::VecDeque;

struct Awaited {
    /// Queues that have not answered yet.
    remaining: u32,
    refused: bool,
}

pub(crate) struct Confirms {
    next_seq: u64,
    /// The sequence number of `awaited[0]`.
    base: u64,
    awaited: VecDeque<Awaited>,
}

impl Default for Confirms {
    fn default() -> Self {
        Confirms {
            next_seq: 1,
            base: 1,
            awaited: VecDeque::new(),
        }
    }
}

impl Confirms {
    /// Registers a publish that reached `queues` queues; returns its sequence number.
    pub fn published(&mut self, queues: u32) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.awaited.push_back(Awaited {
            remaining: queues,
            refused: false,
        });
        seq
    }

    /// One queue's answer for publish `seq`.
    pub fn answered(&mut self, seq: u64, accepted: bool) {
        let Some(index) = seq.checked_sub(self.base) else {
            return;
        };
        if let Some(entry) = self.awaited.get_mut(index as usize) {
            entry.remaining = entry.remaining.saturating_sub(1);
            entry.refused |= !accepted;
        }
    }

    /// Writes acks/nacks for every settled publish at the front, oldest first: one frame
    /// per run of equal outcomes, with `multiple` when the run is longer than one.
    /// Returns how many publishes it acked.
    pub fn flush(&mut self, channel: u16, out: &mut BytesMut) -> u64 {
        let mut acked = 0;
        while let Some(first) = self.awaited.front() {
            if first.remaining > 0 {
                break;
            }
            let refused = first.refused;
            let mut run = 0u64;
            while self
                .awaited
                .front()
                .is_some_and(|a| a.remaining == 0 && a.refused == refused)
            {
                self.awaited.pop_front();
                run += 1;
            }
            let last = self.base + run - 1;
            if refused {
                encode_nack(out, channel, last, run > 1, false);
            } else {
                encode_ack(out, channel, last, run > 1);
                acked += run;
            }
            self.base += run;
        }
        acked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqp_codec::{decode_frame, Frame, Method};

    fn written(confirms: &mut Confirms) -> Vec<(bool, u64, bool)> {
        let mut out = BytesMut::new();
        confirms.flush(1, &mut out);
        let mut frames = Vec::new();
        while let Some(Frame::Method { method, .. }) = decode_frame(&mut out, 0).unwrap() {
            frames.push(match method {
                Method::BasicAck(a) => (true, a.delivery_tag, a.multiple),
                Method::BasicNack(n) => (false, n.delivery_tag, n.multiple),
                other => panic!("unexpected {other:?}"),
            });
        }
        frames
    }

    #[test]
    fn coalesces_runs_and_keeps_order() {
        let mut c = Confirms::default();
        let a = c.published(1);
        let b = c.published(2);
        let unroutable = c.published(0);
        assert_eq!(written(&mut c), vec![], "the first still waits");
        c.answered(a, true);
        c.answered(b, true);
        assert_eq!(
            written(&mut c),
            vec![(true, 1, false)],
            "b waits for its second queue"
        );
        c.answered(b, true);
        assert_eq!(written(&mut c), vec![(true, unroutable, true)]);
        let refused = c.published(1);
        let after = c.published(1);
        c.answered(after, true);
        c.answered(refused, false);
        assert_eq!(written(&mut c), vec![(false, 4, false), (true, 5, false)]);
    }
}
