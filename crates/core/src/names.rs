//! Shared names. Exchange and queue names are `Arc<str>` so a message, a binding or a
//! delivery refers to one allocation instead of copying the string.

use rand::Rng;
use std::sync::Arc;

pub type Name = Arc<str>;

/// A server-generated name as RabbitMQ makes them: `prefix` followed by 22 characters
/// of URL-safe base64 of 16 random bytes (e.g. `amq.gen-JzTY20BRgKO-HjmUJj0wLg`).
pub fn generated_name(prefix: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    let mut out = String::with_capacity(prefix.len() + 22);
    out.push_str(prefix);
    for _ in 0..22 {
        out.push(ALPHABET[rng.random_range(0..64)] as char);
    }
    out
}
