//! Which published messages the broker has yet to confirm, and since when.
//!
//! Delivery tags on a confirm channel count up from 1 in publish order, so the pending
//! set is a queue: the writer appends each batch, and an ack (single or multiple) marks
//! entries done and pops the done ones off the front. RabbitMQ may confirm out of order
//! (a message routed to two queues is confirmed when both have it), which the `done`
//! flag handles without a search structure.

use parking_lot::Mutex;
use std::collections::VecDeque;

#[derive(Default)]
struct Pending {
    /// Delivery tag of `sent[0]`.
    base: u64,
    /// Send time (`now_ns`) of each unconfirmed tag from `base` on, and whether it has
    /// been confirmed already (out of order).
    sent: VecDeque<(u64, bool)>,
    outstanding: usize,
}

#[derive(Default)]
pub struct ConfirmTrack {
    pending: Mutex<Pending>,
}

/// What one ack or nack settled.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settled {
    pub count: u64,
}

impl ConfirmTrack {
    /// Registers `count` messages with tags `first_tag..` sent at `sent_ns`.
    pub fn push(&self, first_tag: u64, count: u64, sent_ns: u64) {
        let mut p = self.pending.lock();
        if p.sent.is_empty() {
            p.base = first_tag;
        }
        debug_assert_eq!(p.base + p.sent.len() as u64, first_tag);
        p.sent.extend((0..count).map(|_| (sent_ns, false)));
        p.outstanding += count as usize;
    }

    pub fn outstanding(&self) -> usize {
        self.pending.lock().outstanding
    }

    /// Settles `tag` (and every earlier tag if `multiple`), pushing the latency of each
    /// newly settled message onto `latencies`. Tags already settled or never sent are
    /// ignored (a broker that confirms twice is not our problem to crash on).
    pub fn settle(
        &self,
        tag: u64,
        multiple: bool,
        now_ns: u64,
        latencies: &mut Vec<u64>,
    ) -> Settled {
        let mut p = self.pending.lock();
        let mut count = 0;
        if tag < p.base {
            return Settled { count };
        }
        let index = (tag - p.base) as usize;
        if index >= p.sent.len() {
            return Settled { count };
        }
        let range = if multiple { 0..=index } else { index..=index };
        for i in range {
            let (sent, done) = &mut p.sent[i];
            if !*done {
                *done = true;
                latencies.push(now_ns.saturating_sub(*sent));
                count += 1;
            }
        }
        p.outstanding -= count as usize;
        while p.sent.front().is_some_and(|&(_, done)| done) {
            p.sent.pop_front();
            p.base += 1;
        }
        Settled { count }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiple_and_out_of_order() {
        let t = ConfirmTrack::default();
        let mut lat = Vec::new();
        t.push(1, 3, 100);
        t.push(4, 2, 200);
        assert_eq!(t.outstanding(), 5);
        // Tag 2 alone, out of order.
        assert_eq!(t.settle(2, false, 150, &mut lat).count, 1);
        assert_eq!(t.outstanding(), 4);
        // Multiple up to 4 settles 1, 3 and 4 (2 was done).
        assert_eq!(t.settle(4, true, 300, &mut lat).count, 3);
        assert_eq!(lat, vec![50, 200, 200, 100]);
        assert_eq!(t.outstanding(), 1);
        // Repeats and unknown tags are ignored.
        assert_eq!(t.settle(3, false, 400, &mut lat).count, 0);
        assert_eq!(t.settle(99, true, 400, &mut lat).count, 0);
        assert_eq!(t.settle(5, false, 400, &mut lat).count, 1);
        assert_eq!(t.outstanding(), 0);
        t.push(6, 1, 500);
        assert_eq!(t.settle(6, true, 510, &mut lat).count, 1);
    }
}
