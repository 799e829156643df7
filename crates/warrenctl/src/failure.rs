//! Why a command failed, as the exit code and message an operator sees.
//!
//! Exit codes are the BSD `sysexits.h` values rabbitmqctl uses, so scripts written
//! against rabbitmqctl keep working.

use std::fmt;

/// Bad arguments or options (also rabbitmqctl's code for a missing queue in `delete_queue`).
pub const EX_USAGE: i32 = 64;
/// Input data is wrong: a missing vhost for `delete_vhost`, a definition that is not JSON.
pub const EX_DATAERR: i32 = 65;
/// A file to read could not be opened.
pub const EX_NOINPUT: i32 = 66;
/// The named user does not exist.
pub const EX_NOUSER: i32 = 67;
/// The broker could not be reached, or refused the operation.
pub const EX_UNAVAILABLE: i32 = 69;
/// Something the broker or this tool did not expect (e.g. adding a user that exists).
pub const EX_SOFTWARE: i32 = 70;
/// A file to write could not be created.
pub const EX_CANTCREAT: i32 = 73;
/// A timeout ran out (`await_startup`).
pub const EX_TEMPFAIL: i32 = 75;
/// Wrong credentials, or the user may not do this.
pub const EX_NOPERM: i32 = 77;
/// The config file is unreadable or invalid.
pub const EX_CONFIG: i32 = 78;

/// A failed command: what to print on stderr and the process exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: i32,
    pub message: String,
    /// rabbitmqctl prints most errors under an `Error:` line; a few (e.g. a missing
    /// vhost for `delete_vhost`) it prints bare.
    pub bare: bool,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            bare: false,
        }
    }

    /// A failure printed without the `Error:` heading.
    pub fn bare(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            bare: true,
            ..Failure::new(code, message)
        }
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(EX_USAGE, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bare {
            write!(f, "{}", self.message)
        } else {
            write!(f, "Error:\n{}", self.message)
        }
    }
}

pub type Outcome<T = ()> = Result<T, Failure>;
