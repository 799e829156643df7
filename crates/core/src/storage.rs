//! The broker's link to its store: the message store every durable queue shares, the
//! metadata log durable topology changes are written to before they apply, and what
//! recovery found until replay hands it to the queues.
//!
//! Metadata commits are serialised by one async lock held across "write, fsync,
//! apply", so the log's order is the order in which commands took effect: replaying
//! it rebuilds exactly the durable topology the broker had.

use crate::error::{CoreError, CoreResult, ErrorKind};
use crate::journal::codec::{self, MetaRecord};
use crate::queue::memory::QueueMemoryRef;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use warren_store::{Record, RecoveredMessage, Store};

pub type StorageRef = Arc<Storage>;

/// The metadata log is rewritten as a snapshot once it holds this many records.
const COMPACT_AFTER: usize = 10_000;

/// Produces every durable command of the broker, for a snapshot.
pub type SnapshotSource = Box<dyn Fn() -> Vec<MetaRecord> + Send + Sync>;

pub struct Storage {
    store: Store,
    /// Recovered messages by queue id, until replay declares their queue.
    recovered: Mutex<BTreeMap<u64, Vec<RecoveredMessage>>>,
    /// Held across each metadata commit; counts records since the last snapshot.
    meta: tokio::sync::Mutex<usize>,
    snapshot: OnceLock<SnapshotSource>,
    queue_memory: QueueMemoryRef,
}

impl Storage {
    /// `queue_memory`: the account of queue content in memory that tells queues
    /// when to page new messages out to the store.
    pub fn new(
        store: Store,
        recovered: BTreeMap<u64, Vec<RecoveredMessage>>,
        queue_memory: QueueMemoryRef,
    ) -> StorageRef {
        Arc::new(Storage {
            store,
            recovered: Mutex::new(recovered),
            meta: tokio::sync::Mutex::new(0),
            snapshot: OnceLock::new(),
            queue_memory,
        })
    }

    pub fn queue_memory(&self) -> &QueueMemoryRef {
        &self.queue_memory
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// An id no queue has had, across restarts too (the store's id sequence).
    pub fn new_queue_id(&self) -> u64 {
        self.store.new_message_id()
    }

    /// The messages recovered for queue `id` (once; empty for a new queue).
    pub(crate) fn take_recovered(&self, id: u64) -> Vec<RecoveredMessage> {
        self.recovered.lock().remove(&id).unwrap_or_default()
    }

    /// After replay: messages of queues that no longer exist (deleted while their
    /// deletion record was not yet on disk) are dropped for good. Returns how many.
    pub fn discard_unclaimed(&self) -> usize {
        let unclaimed = std::mem::take(&mut *self.recovered.lock());
        let mut count = 0;
        for (queue, messages) in unclaimed {
            count += messages.len();
            drop(self.store.append(vec![Record::QueueDeleted { queue }]));
        }
        count
    }

    pub(crate) fn set_snapshot_source(&self, source: SnapshotSource) {
        let _ = self.snapshot.set(source);
    }

    /// Under the commit lock: asks `record` what to log (`None`: nothing, the change
    /// does not outlive the broker), writes it durably, then runs `apply`. Nothing is
    /// applied when the write fails.
    pub(crate) async fn commit<T>(
        &self,
        record: impl FnOnce() -> Option<MetaRecord>,
        apply: impl FnOnce() -> T,
    ) -> CoreResult<T> {
        let mut since_snapshot = self.meta.lock().await;
        let Some(record) = record() else {
            return Ok(apply());
        };
        let bytes = codec::encode(&record);
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.append_meta(&bytes))
            .await
            .map_err(|e| CoreError::new(ErrorKind::InternalError, e.to_string()))?
            .map_err(|e| {
                tracing::error!("metadata log: {e}");
                CoreError::new(
                    ErrorKind::InternalError,
                    format!("cannot write the metadata log: {e}"),
                )
            })?;
        let applied = apply();
        *since_snapshot += 1;
        if *since_snapshot >= COMPACT_AFTER {
            match self.compact_now().await {
                Ok(()) => *since_snapshot = 0,
                Err(e) => tracing::warn!("metadata snapshot failed (the log stays): {e}"),
            }
        }
        Ok(applied)
    }

    /// Replaces the metadata log by a snapshot of the current durable topology.
    /// Called with the commit lock held, or before the broker serves clients.
    async fn compact_now(&self) -> Result<(), String> {
        let records = self.snapshot_records()?;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.compact_meta(&records))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    fn snapshot_records(&self) -> Result<Vec<Bytes>, String> {
        let source = self.snapshot.get().ok_or("no snapshot source")?;
        Ok(source()
            .iter()
            .map(|r| Bytes::from(codec::encode(r)))
            .collect())
    }

    /// Rewrites the metadata log as a snapshot (at start-up, after replay).
    pub async fn compact(&self) -> Result<(), String> {
        let mut since_snapshot = self.meta.lock().await;
        self.compact_now().await?;
        *since_snapshot = 0;
        Ok(())
    }
}
