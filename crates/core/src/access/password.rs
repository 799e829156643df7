//! Password hashes exactly as RabbitMQ's internal auth backend stores them, so users
//! moved between Warren and RabbitMQ (definitions export/import) keep their passwords.
//!
//! A hash is 4 random salt bytes followed by `digest(salt ++ password)`; the digest is
//! named by the user's `hashing_algorithm` (`rabbit_password_hashing_sha256`, the
//! default, `_sha512` or `_md5`). The management API shows it base64-encoded.

use crate::error::{CoreError, CoreResult, ErrorKind};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use md5::Md5;
use sha2::{Digest, Sha256, Sha512};

/// Salt length RabbitMQ uses (`rabbit_password:generate_salt/0`).
const SALT_LEN: usize = 4;

/// The digest a password hash is made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum HashingAlgorithm {
    #[default]
    Sha256,
    Sha512,
    Md5,
}

impl HashingAlgorithm {
    /// RabbitMQ's module name for it, as in definitions and the management API.
    pub fn as_str(self) -> &'static str {
        match self {
            HashingAlgorithm::Sha256 => "rabbit_password_hashing_sha256",
            HashingAlgorithm::Sha512 => "rabbit_password_hashing_sha512",
            HashingAlgorithm::Md5 => "rabbit_password_hashing_md5",
        }
    }

    /// Parses RabbitMQ's module name.
    pub fn parse(name: &str) -> Option<HashingAlgorithm> {
        match name {
            "rabbit_password_hashing_sha256" => Some(HashingAlgorithm::Sha256),
            "rabbit_password_hashing_sha512" => Some(HashingAlgorithm::Sha512),
            "rabbit_password_hashing_md5" => Some(HashingAlgorithm::Md5),
            _ => None,
        }
    }

    fn digest(self, salt: &[u8], password: &[u8]) -> Vec<u8> {
        fn run<D: Digest>(salt: &[u8], password: &[u8]) -> Vec<u8> {
            let mut d = D::new();
            d.update(salt);
            d.update(password);
            d.finalize().to_vec()
        }
        match self {
            HashingAlgorithm::Sha256 => run::<Sha256>(salt, password),
            HashingAlgorithm::Sha512 => run::<Sha512>(salt, password),
            HashingAlgorithm::Md5 => run::<Md5>(salt, password),
        }
    }
}

/// A stored password hash: salt ++ digest, or empty for a user without a password
/// (who cannot log in with one).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct PasswordHash {
    bytes: Vec<u8>,
    algorithm: HashingAlgorithm,
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the hash itself in logs.
        write!(
            f,
            "PasswordHash({}, {} bytes)",
            self.algorithm.as_str(),
            self.bytes.len()
        )
    }
}

impl PasswordHash {
    /// Hashes `password` with a fresh random salt.
    pub fn new(algorithm: HashingAlgorithm, password: &str) -> PasswordHash {
        let salt: [u8; SALT_LEN] = rand::random();
        PasswordHash::with_salt(algorithm, salt, password)
    }

    fn with_salt(
        algorithm: HashingAlgorithm,
        salt: [u8; SALT_LEN],
        password: &str,
    ) -> PasswordHash {
        let mut bytes = salt.to_vec();
        bytes.extend(algorithm.digest(&salt, password.as_bytes()));
        PasswordHash { bytes, algorithm }
    }

    /// No password: logging in with any password fails.
    pub fn none() -> PasswordHash {
        PasswordHash::default()
    }

    /// A hash given as raw bytes (from the metadata log).
    pub fn from_bytes(algorithm: HashingAlgorithm, bytes: Vec<u8>) -> PasswordHash {
        PasswordHash { bytes, algorithm }
    }

    /// A hash as the management API and definitions carry it: base64 text. An empty
    /// string is a user without a password, as in RabbitMQ.
    pub fn from_base64(algorithm: HashingAlgorithm, text: &str) -> CoreResult<PasswordHash> {
        let bytes = BASE64.decode(text.trim()).map_err(|e| {
            CoreError::new(
                ErrorKind::PreconditionFailed,
                format!("password_hash is not valid base64: {e}"),
            )
        })?;
        Ok(PasswordHash { bytes, algorithm })
    }

    pub fn algorithm(&self) -> HashingAlgorithm {
        self.algorithm
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The hash in base64, as the management API shows it ("" for none).
    pub fn to_base64(&self) -> String {
        BASE64.encode(&self.bytes)
    }

    pub fn is_none(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Whether `password` is the one hashed. A hash shorter than its salt never
    /// matches; the comparison takes the same time wherever the digests differ.
    pub fn verify(&self, password: &str) -> bool {
        if self.bytes.len() <= SALT_LEN {
            return false;
        }
        let (salt, expected) = self.bytes.split_at(SALT_LEN);
        let actual = self.algorithm.digest(salt, password.as_bytes());
        constant_time_eq(expected, &actual)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by RabbitMQ 3.10.8: `rabbitmqctl add_user acc-hash-23979 's3cret pässword'`,
    /// then `GET /api/users/acc-hash-23979`.
    const RABBITMQ_HASH: &str = "ucbcaF75lD24tkIE+NOC2Jgk08fOSegaf6tVHlparOK6paj8";

    #[test]
    fn a_hash_made_by_rabbitmq_verifies() {
        let hash = PasswordHash::from_base64(HashingAlgorithm::Sha256, RABBITMQ_HASH).unwrap();
        assert!(hash.verify("s3cret pässword"));
        assert!(!hash.verify("s3cret passwort"));
        assert!(!hash.verify(""));
        assert_eq!(hash.to_base64(), RABBITMQ_HASH);
        // The same bytes read as another algorithm do not verify.
        let other = PasswordHash::from_base64(HashingAlgorithm::Sha512, RABBITMQ_HASH).unwrap();
        assert!(!other.verify("s3cret pässword"));
    }

    #[test]
    fn every_algorithm_round_trips_with_its_digest_length() {
        for (algorithm, digest_len) in [
            (HashingAlgorithm::Sha256, 32),
            (HashingAlgorithm::Sha512, 64),
            (HashingAlgorithm::Md5, 16),
        ] {
            let hash = PasswordHash::new(algorithm, "guest");
            assert_eq!(hash.as_bytes().len(), SALT_LEN + digest_len);
            assert!(hash.verify("guest"));
            assert!(!hash.verify("Guest"));
            let back = PasswordHash::from_base64(algorithm, &hash.to_base64()).unwrap();
            assert!(back.verify("guest"));
            assert_eq!(HashingAlgorithm::parse(algorithm.as_str()), Some(algorithm));
        }
        assert_eq!(
            HashingAlgorithm::parse("rabbit_password_hashing_sha1"),
            None
        );
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn known_sha512_and_md5_layouts() {
        // salt 01 02 03 04 ++ digest(salt ++ "pw"); digests from Python's hashlib.
        let salt = [1u8, 2, 3, 4];
        let h = PasswordHash::with_salt(HashingAlgorithm::Md5, salt, "pw");
        assert_eq!(&h.as_bytes()[..4], &salt);
        assert_eq!(hex(&h.as_bytes()[4..]), "947dd60b754805939af0fe57303b3055");
        let h = PasswordHash::with_salt(HashingAlgorithm::Sha512, salt, "pw");
        assert_eq!(
            hex(&h.as_bytes()[4..]),
            "510a820f754148d73a812e2228eb6230c9aa68751b7810244a44652d8588310e\
             4b6dc91a83767a1b79711eaa002e0a004ee4aa987cc0603ff6b78e9facbe6dcc"
        );
        assert!(h.verify("pw"));
    }

    #[test]
    fn no_password_and_short_or_bad_hashes_never_verify() {
        assert!(!PasswordHash::none().verify(""));
        assert!(!PasswordHash::none().verify("guest"));
        let short = PasswordHash::from_bytes(HashingAlgorithm::Sha256, vec![1, 2, 3, 4]);
        assert!(!short.verify(""));
        let err = PasswordHash::from_base64(HashingAlgorithm::Sha256, "not base64!").unwrap_err();
        assert!(err.message.contains("base64"), "{err}");
        assert!(PasswordHash::from_base64(HashingAlgorithm::Sha256, "")
            .unwrap()
            .is_none());
    }
}
