//! API paths built from names. Vhost, queue, user and policy names are arbitrary
//! strings: `/` (the default vhost) must become `%2F`, and spaces, `#`, `?` and
//! non-ASCII must be escaped too, or the server routes the request to another object.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved characters is escaped.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One path segment, escaped.
pub fn segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

/// The part of an API path after `/api/`: `parts` escaped one by one and joined with
/// `/`, e.g.
/// `api_path(&["queues", "/", "a b"])` is `queues/%2F/a%20b`.
pub fn api_path(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| segment(p))
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_vhost_and_awkward_names_are_escaped() {
        assert_eq!(api_path(&["queues", "/", "a b"]), "queues/%2F/a%20b");
        assert_eq!(segment("q#1?x=y&z"), "q%231%3Fx%3Dy%26z");
        assert_eq!(segment("ünï"), "%C3%BCn%C3%AF");
        assert_eq!(segment("a.b-c_d~e"), "a.b-c_d~e");
        assert_eq!(segment("%2F"), "%252F");
    }
}
