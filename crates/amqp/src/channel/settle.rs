//! basic.ack, basic.nack, basic.reject and basic.recover: settling deliveries by tag.

use super::Channel;
use crate::error::{AmqpError, AmqpResult};
use amqp_codec::{BasicRecoverOk, Method};
use bytes::BytesMut;
use warren_core::metrics::ChannelCounter;
use warren_core::{QueueRef, Settle};

/// A delivery the client has not settled yet.
pub(crate) struct Unacked {
    pub tag: u64,
    pub queue: QueueRef,
    /// The queue's sequence number for the message.
    pub seq: u64,
    /// Whether it took credit from the channel's shared window (consumer deliveries
    /// do; basic.get does not).
    pub counted: bool,
    /// When it was handed to the client (the consumer timeout counts from here).
    pub delivered_at: std::time::Instant,
}

impl Channel {
    /// Removes and returns the deliveries a (tag, multiple) pair names. Tag 0 with
    /// multiple means "everything so far".
    pub(super) fn take_unacked(&mut self, tag: u64, multiple: bool) -> AmqpResult<Vec<Unacked>> {
        if multiple {
            let upto = if tag == 0 { u64::MAX } else { tag };
            let n = self.unacked.partition_point(|u| u.tag <= upto);
            if n == 0 && tag != 0 {
                return Err(AmqpError::new(406, format!("unknown delivery tag {tag}")));
            }
            return Ok(self.unacked.drain(..n).collect());
        }
        match self.unacked.binary_search_by_key(&tag, |u| u.tag) {
            Ok(pos) => Ok(vec![self.unacked.remove(pos).expect("found")]),
            Err(_) => Err(AmqpError::new(406, format!("unknown delivery tag {tag}"))),
        }
    }

    pub(super) fn ack(&mut self, tag: u64, multiple: bool) -> AmqpResult<()> {
        let taken = self.take_unacked(tag, multiple)?;
        self.registration
            .counters()
            .add(ChannelCounter::Acked, taken.len() as u64);
        if let Some(tx) = &mut self.tx {
            tx.acks.push((taken, Settle::Ack));
            return Ok(());
        }
        self.settle(taken, Settle::Ack);
        Ok(())
    }

    pub(super) fn reject(&mut self, tag: u64, multiple: bool, requeue: bool) -> AmqpResult<()> {
        let taken = self.take_unacked(tag, multiple)?;
        let how = if requeue {
            Settle::Nack
        } else {
            Settle::Discard
        };
        if let Some(tx) = &mut self.tx {
            tx.acks.push((taken, how));
            return Ok(());
        }
        self.settle(taken, how);
        Ok(())
    }

    /// Requeues every unacked delivery (requeue=false is not supported, as in RabbitMQ).
    pub(super) fn recover(
        &mut self,
        requeue: bool,
        reply: bool,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        if !requeue {
            return Err(AmqpError::new(540, "requeue=false"));
        }
        let all: Vec<Unacked> = self.unacked.drain(..).collect();
        self.settle(all, Settle::Requeue);
        if reply {
            self.send(out, &Method::BasicRecoverOk(BasicRecoverOk {}));
        }
        Ok(())
    }

    /// Tells each queue what happened to its messages, one command per queue, and
    /// gives the shared window its credit back.
    pub(super) fn settle(&mut self, entries: Vec<Unacked>, how: Settle) {
        if entries.is_empty() {
            return;
        }
        let mut counted = 0u32;
        let mut groups: Vec<(QueueRef, Vec<u64>)> = Vec::new();
        for entry in entries {
            counted += entry.counted as u32;
            match groups.iter_mut().find(|(q, _)| q.id() == entry.queue.id()) {
                Some((_, seqs)) => seqs.push(entry.seq),
                None => groups.push((entry.queue, vec![entry.seq])),
            }
        }
        for (queue, seqs) in groups {
            queue.settle(self.key, seqs, how);
        }
        if self.credit.give_back(counted) {
            self.wake_consumer_queues();
        }
    }
}
