//! Queue ids: unique for the life of the process until storage provides ids that
//! are unique across restarts too.

use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_QUEUE_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn new_queue_id() -> u64 {
    NEXT_QUEUE_ID.fetch_add(1, Ordering::Relaxed)
}
