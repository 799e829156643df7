//! Permissions of one user in one vhost: three regular expressions, matched against
//! resource names as RabbitMQ's `re:run` matches them (unanchored: `app` matches
//! `my-app-q`; anchor with `^...$` to mean the whole name).
//!
//! An empty expression matches nothing but the empty name (RabbitMQ reads `""` as
//! `^$`). Each expression is compiled once, when the permissions are set.

use crate::error::{CoreError, CoreResult, ErrorKind};
use regex::Regex;

/// One permission expression: its text as set, and that text compiled.
#[derive(Clone, Debug)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    /// Compiles `source`; an expression that does not compile is refused with a
    /// message naming it.
    pub fn new(source: &str) -> CoreResult<Pattern> {
        let effective = if source.is_empty() { "^$" } else { source };
        let regex = Regex::new(effective).map_err(|e| {
            CoreError::new(
                ErrorKind::PreconditionFailed,
                format!(
                    "regular expression '{source}' is invalid: {}",
                    first_line(&e)
                ),
            )
        })?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }

    /// The expression as it was set.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn matches(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }
}

/// The regex crate's error message is a multi-line diagram; its last line says what
/// is wrong.
fn first_line(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid")
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}

/// What a user may do in a vhost.
#[derive(Clone, Debug)]
pub struct Permission {
    /// Declare and delete queues and exchanges.
    pub configure: Pattern,
    /// Publish to exchanges; bind to queues and exchanges (as destination).
    pub write: Pattern,
    /// Consume, get and purge queues; bind from exchanges (as source).
    pub read: Pattern,
}

impl Permission {
    pub fn new(configure: &str, write: &str, read: &str) -> CoreResult<Permission> {
        Ok(Permission {
            configure: Pattern::new(configure)?,
            write: Pattern::new(write)?,
            read: Pattern::new(read)?,
        })
    }

    /// `.* .* .*`: everything (what guest has on `/`).
    pub fn all() -> Permission {
        Permission::new(".*", ".*", ".*").expect("'.*' compiles")
    }

    pub fn pattern(&self, perm: Perm) -> &Pattern {
        match perm {
            Perm::Configure => &self.configure,
            Perm::Write => &self.write,
            Perm::Read => &self.read,
        }
    }
}

/// The three kinds of permission RabbitMQ checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    Configure,
    Write,
    Read,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_is_unanchored_like_re_run() {
        let p = Pattern::new("app").unwrap();
        assert!(p.matches("app.q"));
        assert!(p.matches("my-app-q"));
        assert!(!p.matches("other"));
        let p = Pattern::new("^app\\.").unwrap();
        assert!(p.matches("app.q"));
        assert!(!p.matches("my.app.q"));
        assert!(!p.matches("appq"));
    }

    #[test]
    fn empty_matches_only_the_empty_name() {
        let p = Pattern::new("").unwrap();
        assert!(p.matches(""));
        assert!(!p.matches("q"));
        assert_eq!(p.as_str(), "");
    }

    #[test]
    fn a_regex_that_does_not_compile_is_refused_clearly() {
        let err = Permission::new("(", ".*", ".*").unwrap_err();
        assert_eq!(err.kind, ErrorKind::PreconditionFailed);
        assert!(
            err.message
                .starts_with("regular expression '(' is invalid: "),
            "{}",
            err.message
        );
        assert!(!err.message.contains('\n'), "{}", err.message);
    }

    #[test]
    fn all_matches_everything() {
        let p = Permission::all();
        for perm in [Perm::Configure, Perm::Write, Perm::Read] {
            assert!(p.pattern(perm).matches(""));
            assert!(p.pattern(perm).matches("amq.gen-x"));
        }
    }
}
