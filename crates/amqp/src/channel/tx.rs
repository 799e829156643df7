//! tx.select, tx.commit, tx.rollback: publishes and acks held back until commit.

use super::publish::HeldPublish;
use super::settle::Unacked;
use super::Channel;
use crate::connection::Shared;
use crate::error::{AmqpError, AmqpResult};
use amqp_codec::{Method, TxCommitOk, TxRollbackOk, TxSelectOk};
use bytes::BytesMut;
use warren_core::Settle;

/// What a transaction holds until commit.
#[derive(Default)]
pub(crate) struct Transaction {
    pub publishes: Vec<HeldPublish>,
    pub acks: Vec<(Vec<Unacked>, Settle)>,
}

impl Channel {
    pub(super) fn tx_select(&mut self, out: &mut BytesMut) -> AmqpResult<()> {
        if self.confirms.is_some() {
            return Err(AmqpError::new(406, "cannot switch from confirm to tx mode"));
        }
        if self.tx.is_none() {
            self.tx = Some(Transaction::default());
            self.registration.update(|s| s.transactional = true);
        }
        self.send(out, &Method::TxSelectOk(TxSelectOk {}));
        Ok(())
    }

    pub(super) async fn tx_commit(
        &mut self,
        shared: &Shared,
        out: &mut BytesMut,
    ) -> AmqpResult<()> {
        let Some(tx) = self.tx.take() else {
            return Err(AmqpError::new(406, "channel is not transactional"));
        };
        for held in tx.publishes {
            self.route_and_deliver(held, shared, out);
        }
        // Commit-ok only once the transaction's persistent messages are on disk.
        if let Some((ticket, _)) = self.flush_outgoing(shared).stored {
            ticket.await.map_err(|e| {
                tracing::error!("tx.commit: persistent messages not stored: {e}");
                AmqpError::new(541, format!("cannot store messages: {e}"))
            })?;
        }
        for (entries, how) in tx.acks {
            self.settle(entries, how);
        }
        self.tx = Some(Transaction::default());
        self.send(out, &Method::TxCommitOk(TxCommitOk {}));
        Ok(())
    }

    pub(super) fn tx_rollback(&mut self, out: &mut BytesMut) -> AmqpResult<()> {
        let Some(tx) = self.tx.as_mut() else {
            return Err(AmqpError::new(406, "channel is not transactional"));
        };
        tx.publishes.clear();
        // Acks are forgotten: those deliveries are unacked again, in tag order.
        let mut restored: Vec<Unacked> = tx.acks.drain(..).flat_map(|(e, _)| e).collect();
        restored.extend(self.unacked.drain(..));
        restored.sort_by_key(|u| u.tag);
        self.unacked = restored.into();
        self.send(out, &Method::TxRollbackOk(TxRollbackOk {}));
        Ok(())
    }
}
