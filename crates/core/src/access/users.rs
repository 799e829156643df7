//! The user database: who may log in, with what password hash, and with which tags.

use super::password::{HashingAlgorithm, PasswordHash};
use crate::error::{CoreError, CoreResult, ErrorKind};
use crate::names::Name;

/// A user as the broker stores it.
#[derive(Clone, Debug)]
pub struct UserRecord {
    pub name: Name,
    pub password: PasswordHash,
    /// `administrator`, `monitoring`, `policymaker`, `management`, or any string.
    pub tags: Vec<String>,
}

/// How a password is given when a user is added or changed.
#[derive(Clone, Debug)]
pub enum PasswordInput {
    /// A clear-text password, hashed here with SHA-256 and a random salt.
    Plain(String),
    /// A hash as RabbitMQ's definitions and management API carry it: base64 of
    /// salt ++ digest, made with `algorithm`.
    Hash {
        hash: String,
        algorithm: HashingAlgorithm,
    },
    /// No password: the user cannot log in with one.
    None,
}

impl PasswordInput {
    pub(crate) fn into_hash(self) -> CoreResult<PasswordHash> {
        match self {
            PasswordInput::Plain(password) => {
                if password.is_empty() {
                    // RabbitMQ's internal backend refuses blank passwords at login.
                    return Err(CoreError::new(
                        ErrorKind::PreconditionFailed,
                        "a blank password is not allowed; give no password instead",
                    ));
                }
                Ok(PasswordHash::new(HashingAlgorithm::Sha256, &password))
            }
            PasswordInput::Hash { hash, algorithm } => PasswordHash::from_base64(algorithm, &hash),
            PasswordInput::None => Ok(PasswordHash::none()),
        }
    }
}

/// A user as the management API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    /// Base64 of salt ++ digest; empty for a user without a password.
    pub password_hash: String,
    /// e.g. `rabbit_password_hashing_sha256`.
    pub hashing_algorithm: String,
    pub tags: Vec<String>,
}

impl From<&UserRecord> for UserInfo {
    fn from(u: &UserRecord) -> UserInfo {
        UserInfo {
            name: u.name.to_string(),
            password_hash: u.password.to_base64(),
            hashing_algorithm: u.password.algorithm().as_str().to_string(),
            tags: u.tags.clone(),
        }
    }
}

/// The authenticated user of a connection.
#[derive(Clone, Debug)]
pub struct User {
    pub name: Name,
    pub tags: Vec<String>,
    /// Allowed to connect from loopback addresses only (RabbitMQ's `loopback_users`).
    pub loopback_only: bool,
}

/// Tags as RabbitMQ takes them from a comma-separated list: trimmed, empty ones
/// dropped.
pub fn parse_tags(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_parse_like_rabbitmq() {
        assert_eq!(
            parse_tags("administrator, monitoring,,x"),
            vec!["administrator", "monitoring", "x"]
        );
        assert!(parse_tags("").is_empty());
    }

    #[test]
    fn inputs_become_hashes() {
        let h = PasswordInput::Plain("pw".into()).into_hash().unwrap();
        assert!(h.verify("pw"));
        assert_eq!(h.algorithm(), HashingAlgorithm::Sha256);
        assert!(PasswordInput::None.into_hash().unwrap().is_none());
        assert!(PasswordInput::Plain(String::new()).into_hash().is_err());
        let info = UserInfo::from(&UserRecord {
            name: Name::from("u"),
            password: h.clone(),
            tags: vec![],
        });
        let back = PasswordInput::Hash {
            hash: info.password_hash,
            algorithm: HashingAlgorithm::Sha256,
        }
        .into_hash()
        .unwrap();
        assert!(back.verify("pw"));
    }
}
