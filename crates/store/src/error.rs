//! The store's one error type. It is `Clone` because one failed group commit fails
//! every ticket in it with the same error.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum StoreError {
    /// An I/O call failed. `op` names the call, `path` the file or directory.
    Io {
        op: &'static str,
        path: PathBuf,
        source: Arc<io::Error>,
    },
    /// Another process (or another `Store` in this one) holds the directory lock.
    Locked { dir: PathBuf, pid: Option<u32> },
    /// A file was written by a newer format version than this build reads.
    UnsupportedVersion {
        path: PathBuf,
        version: u16,
        supported: u16,
    },
    /// A record at `path`:`offset` failed its checksum or framing.
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// An append the store refused before writing anything (e.g. an `Enqueue` of a
    /// message it does not know, or an append larger than a record may be).
    Invalid(String),
    /// A read asked for a message the store no longer holds.
    NotFound { id: u64 },
    /// The writer is gone (the store was dropped, or the simulated process crashed).
    Closed,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StoreError::Io {
            op,
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// True when the error is a full disk (ENOSPC / EDQUOT): the broker should nack and
    /// raise its disk alarm rather than treat the store as broken.
    pub fn is_no_space(&self) -> bool {
        match self {
            StoreError::Io { source, .. } => is_no_space(source),
            _ => false,
        }
    }
}

/// `map_err` helper: an I/O error of `op` on `path`.
pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |e| StoreError::io(op, path, e)
}

pub(crate) fn is_no_space(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull
        || e.kind() == io::ErrorKind::QuotaExceeded
        || e.raw_os_error() == Some(libc::ENOSPC)
        || e.raw_os_error() == Some(libc::EDQUOT)
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io { op, path, source } => {
                write!(f, "{op} {}: {source}", path.display())
            }
            StoreError::Locked {
                dir,
                pid: Some(pid),
            } => write!(
                f,
                "data directory {} is in use by another warren process (pid {pid})",
                dir.display()
            ),
            StoreError::Locked { dir, pid: None } => write!(
                f,
                "data directory {} is in use by another warren process",
                dir.display()
            ),
            StoreError::UnsupportedVersion {
                path,
                version,
                supported,
            } => write!(
                f,
                "{} has storage format version {version}, this warren reads versions up to \
                 {supported}: start the newer warren that wrote it",
                path.display()
            ),
            StoreError::Corrupt {
                path,
                offset,
                reason,
            } => write!(f, "{} at offset {offset}: {reason}", path.display()),
            StoreError::Invalid(msg) => write!(f, "invalid append: {msg}"),
            StoreError::NotFound { id } => write!(f, "message {id} is not in the store"),
            StoreError::Closed => write!(f, "the store is closed"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}
