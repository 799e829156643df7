//! The data directory's lock: an exclusive `flock` on `dir/LOCK`, held for the life of
//! the store, with the holder's pid written in the file for the refusal message. The
//! kernel drops the lock when the process dies, so a crash never leaves it stale.

use std::any::Any;
use std::path::Path;

use tracing::warn;

use crate::error::{Result, StoreError};
use crate::io::{read_full, Io};

pub const LOCK_NAME: &str = "LOCK";

pub(crate) struct DirLock {
    _guard: Box<dyn Any + Send + Sync>,
}

/// Locks `dir`, or says who holds it.
pub(crate) fn acquire(io: &dyn Io, dir: &Path) -> Result<DirLock> {
    let path = dir.join(LOCK_NAME);
    let guard = io
        .try_lock(&path)
        .map_err(|e| StoreError::io("lock", &path, e))?;
    let Some(guard) = guard else {
        return Err(StoreError::Locked {
            dir: dir.to_path_buf(),
            pid: read_pid(io, &path),
        });
    };
    let pid = format!("{}\n", std::process::id());
    let written = io
        .open(&path)
        .and_then(|f| f.truncate(0).and_then(|()| f.append(pid.as_bytes())));
    if let Err(e) = written {
        // The lock holds without it; only the refusal message loses the pid.
        warn!("could not write the pid to {}: {e}", path.display());
    }
    Ok(DirLock { _guard: guard })
}

fn read_pid(io: &dyn Io, path: &Path) -> Option<u32> {
    let f = io.open(path).ok()?;
    let mut buf = [0u8; 32];
    let n = read_full(&*f, &mut buf, 0).ok()?;
    std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
}
