//! Per-producer sequence accounting on one subscriber: what arrived, what is missing,
//! what came twice and what came late.
//!
//! MQTT keeps a publisher's messages on one topic in order, so the common case is
//! "the next one"; a jump leaves a gap, remembered as a range, and a message below the
//! high-water mark either fills a gap (late: reordered) or is a duplicate. Memory grows
//! with the number of gaps, not messages; past [`MAX_GAPS`] the oldest gap is written
//! off as lost (a later arrival from it then counts as a duplicate, and
//! `forgotten_gaps` says this happened).

use std::collections::BTreeMap;

pub const MAX_GAPS: usize = 100_000;

#[derive(Default, Debug, Clone)]
pub struct SeqTracker {
    /// One past the highest sequence number seen.
    next: u64,
    /// Missing ranges below `next`: start -> end (exclusive).
    gaps: BTreeMap<u64, u64>,
    /// Messages written off when `gaps` was full.
    written_off: u64,
    pub forgotten_gaps: u64,
    /// Distinct messages seen.
    pub received: u64,
    pub duplicates: u64,
    /// Arrived after a later message of the same producer.
    pub reordered: u64,
}

impl SeqTracker {
    pub fn see(&mut self, seq: u64) {
        if seq == self.next {
            self.next += 1;
            self.received += 1;
            return;
        }
        if seq > self.next {
            self.gaps.insert(self.next, seq);
            if self.gaps.len() > MAX_GAPS {
                if let Some((s, e)) = self.gaps.pop_first() {
                    self.written_off += e - s;
                    self.forgotten_gaps += 1;
                }
            }
            self.next = seq + 1;
            self.received += 1;
            return;
        }
        let gap = self.gaps.range(..=seq).next_back().map(|(&s, &e)| (s, e));
        match gap {
            Some((start, end)) if seq < end => {
                self.gaps.remove(&start);
                if start < seq {
                    self.gaps.insert(start, seq);
                }
                if seq + 1 < end {
                    self.gaps.insert(seq + 1, end);
                }
                self.received += 1;
                self.reordered += 1;
            }
            _ => self.duplicates += 1,
        }
    }

    /// Messages not seen out of the first `published` (sequence numbers 0..published).
    pub fn missing(&self, published: u64) -> u64 {
        let gaps: u64 = self
            .gaps
            .iter()
            .map(|(&s, &e)| e.min(published).saturating_sub(s))
            .sum();
        gaps + self.written_off + published.saturating_sub(self.next)
    }

    /// Seen sequence numbers the producer says it never sent (a corrupt stamp, or a
    /// stale message from an earlier run on a persistent session).
    pub fn beyond(&self, published: u64) -> u64 {
        self.next.saturating_sub(published)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(seqs: &[u64]) -> SeqTracker {
        let mut t = SeqTracker::default();
        for &s in seqs {
            t.see(s);
        }
        t
    }

    #[test]
    fn in_order_stream_is_complete() {
        let t = feed(&(0..1000).collect::<Vec<_>>());
        assert_eq!(t.received, 1000);
        assert_eq!((t.missing(1000), t.duplicates, t.reordered), (0, 0, 0));
        // The producer sent two more that never came.
        assert_eq!(t.missing(1002), 2);
    }

    #[test]
    fn loss_duplicates_and_late_arrivals_are_told_apart() {
        // 3 and 4 lost, 6 late, 1 and 8 twice.
        let t = feed(&[0, 1, 1, 2, 5, 7, 8, 6, 8, 9]);
        assert_eq!(t.received, 8);
        assert_eq!(t.missing(10), 2);
        assert_eq!(t.duplicates, 2);
        assert_eq!(t.reordered, 1);
        assert_eq!(t.beyond(10), 0);
        assert_eq!(t.beyond(8), 2);
    }

    #[test]
    fn a_late_message_splits_its_gap() {
        let mut t = feed(&[0, 10]);
        assert_eq!(t.missing(11), 9);
        t.see(5);
        t.see(5);
        assert_eq!((t.missing(11), t.reordered, t.duplicates), (8, 1, 1));
        for s in [1, 2, 3, 4, 6, 7, 8, 9] {
            t.see(s);
        }
        assert_eq!((t.missing(11), t.reordered, t.received), (0, 9, 11));
    }

    #[test]
    fn gap_memory_is_bounded() {
        let mut t = SeqTracker::default();
        // Every other message lost: one gap each.
        for i in 0..(MAX_GAPS as u64 + 10) {
            t.see(2 * i + 1);
        }
        assert!(t.gaps.len() <= MAX_GAPS);
        assert_eq!(t.forgotten_gaps, 10);
        let sent = 2 * (MAX_GAPS as u64 + 10);
        assert_eq!(t.missing(sent), sent / 2);
    }
}
