//! The STOMP frame codec: `COMMAND EOL (header EOL)* EOL body NUL`, for 1.0, 1.1
//! and 1.2.
//!
//! What differs by version is header escaping: 1.0 has none; 1.1 escapes `\n`, `:`
//! and `\\`; 1.2 adds `\r`. CONNECT and CONNECTED are never escaped (the version is
//! not agreed yet when they travel). A body is read to the `content-length` header
//! when there is one (it may then hold NULs), else to the first NUL. EOLs between
//! frames are heart-beats. Repeated headers: the first wins, as the 1.2 spec says.
//!
//! Decoding never panics: anything malformed or over a limit is a `DecodeError`
//! whose text goes into the ERROR frame the connection sends before it closes.

use bytes::{Buf, Bytes, BytesMut};
use std::fmt;

/// The protocol version agreed at CONNECT (1.0 until then).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    V1_0,
    V1_1,
    V1_2,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }
    pub fn parse(text: &str) -> Option<Version> {
        match text.trim() {
            "1.0" => Some(Version::V1_0),
            "1.1" => Some(Version::V1_1),
            "1.2" => Some(Version::V1_2),
            _ => None,
        }
    }
}

/// How big a frame may be.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The command line and headers together, in bytes.
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 100 * 1024,
            max_headers: 1000,
            max_body: 128 * 1024 * 1024,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub command: String,
    /// In wire order, unescaped; may repeat a name (`header` gives the first).
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Frame {
    pub fn new(command: &str) -> Frame {
        Frame {
            command: command.to_string(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub fn with(mut self, name: &str, value: impl Into<String>) -> Frame {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One thing read off the wire.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// An EOL between frames.
    Heartbeat,
    Frame(Frame),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(text: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(text.into()))
}

/// Takes one heart-beat or frame off the front of `buf`; `Ok(None)` when more bytes
/// are needed (nothing is consumed then).
pub fn decode(
    buf: &mut BytesMut,
    version: Version,
    limits: &Limits,
) -> Result<Option<Decoded>, DecodeError> {
    match buf.first() {
        None => return Ok(None),
        Some(b'\n') => {
            buf.advance(1);
            return Ok(Some(Decoded::Heartbeat));
        }
        Some(b'\r') => match buf.get(1) {
            None => return Ok(None),
            Some(b'\n') => {
                buf.advance(2);
                return Ok(Some(Decoded::Heartbeat));
            }
            Some(_) => return err("unexpected carriage return before a frame"),
        },
        Some(_) => {}
    }
    // The head: everything up to the blank line that ends the headers.
    let Some(head_end) = find_blank_line(buf, limits.max_header_bytes)? else {
        return Ok(None);
    };
    let (head_len, body_start) = head_end;
    let head = &buf[..head_len];
    let mut lines = head.split(|b| *b == b'\n').map(strip_cr);
    let command_line = lines.next().unwrap_or(&[]);
    let command = match std::str::from_utf8(command_line) {
        Ok(c) if !c.is_empty() && c.bytes().all(|b| b.is_ascii_uppercase()) => c.to_string(),
        _ => return err("invalid command line"),
    };
    let escaped = version > Version::V1_0 && command != "CONNECT" && command != "CONNECTED";
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() >= limits.max_headers {
            return err(format!("too many headers (limit {})", limits.max_headers));
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            return err("header line without a colon");
        };
        let name = unescape(&line[..colon], escaped, version)?;
        let value = unescape(&line[colon + 1..], escaped, version)?;
        if name.is_empty() {
            return err("header with an empty name");
        }
        headers.push((name, value));
    }
    let content_length = match headers.iter().find(|(n, _)| n == "content-length") {
        None => None,
        Some((_, v)) => match v.trim().parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => return err(format!("invalid content-length '{v}'")),
        },
    };
    let body_len = match content_length {
        Some(n) => {
            if n > limits.max_body {
                return err(format!(
                    "frame body of {n} bytes is larger than the limit of {} bytes",
                    limits.max_body
                ));
            }
            if buf.len() < body_start + n + 1 {
                return Ok(None);
            }
            if buf[body_start + n] != 0 {
                return err("frame body longer than its content-length (no NUL after it)");
            }
            n
        }
        None => match buf[body_start..].iter().position(|b| *b == 0) {
            Some(n) if n > limits.max_body => return err(too_big(limits)),
            Some(n) => n,
            None if buf.len() - body_start > limits.max_body => return err(too_big(limits)),
            None => return Ok(None),
        },
    };
    buf.advance(body_start);
    let body = buf.split_to(body_len).freeze();
    buf.advance(1);
    Ok(Some(Decoded::Frame(Frame {
        command,
        headers,
        body,
    })))
}

fn too_big(limits: &Limits) -> String {
    format!(
        "frame body is larger than the limit of {} bytes",
        limits.max_body
    )
}

/// Where the head ends: (length of command and header lines, offset of the body).
fn find_blank_line(buf: &[u8], max: usize) -> Result<Option<(usize, usize)>, DecodeError> {
    let mut line_start = 0;
    let scan = &buf[..buf.len().min(max + 2)];
    for (i, b) in scan.iter().enumerate() {
        if *b == 0 {
            // A NUL inside the head: the frame ended before its blank line.
            return err("frame ended before its headers did");
        }
        if *b != b'\n' {
            continue;
        }
        let line = strip_cr(&buf[line_start..i]);
        if line.is_empty() && line_start > 0 {
            // The previous line's newline ends the head.
            let head_len = line_start - 1;
            let head_len = if head_len > 0 && buf[head_len - 1] == b'\r' {
                head_len - 1
            } else {
                head_len
            };
            return Ok(Some((head_len, i + 1)));
        }
        line_start = i + 1;
    }
    if buf.len() > max {
        return err(format!("frame headers are larger than {max} bytes"));
    }
    Ok(None)
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn unescape(raw: &[u8], escaped: bool, version: Version) -> Result<String, DecodeError> {
    let Ok(text) = std::str::from_utf8(raw) else {
        return err("header is not UTF-8");
    };
    if !escaped || !text.contains('\\') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('c') => out.push(':'),
            Some('\\') => out.push('\\'),
            Some('r') if version == Version::V1_2 => out.push('\r'),
            Some(other) => return err(format!("undefined escape sequence '\\{other}' in header")),
            None => return err("header ends with a lone backslash"),
        }
    }
    Ok(out)
}

fn escape_into(out: &mut BytesMut, text: &str, escaped: bool, version: Version) {
    if !escaped {
        // 1.0 and CONNECTED: nothing to escape with, so line breaks cannot travel.
        for b in text.bytes() {
            out.extend_from_slice(&[if b == b'\n' || b == b'\r' { b' ' } else { b }]);
        }
        return;
    }
    for c in text.chars() {
        match c {
            '\n' => out.extend_from_slice(b"\\n"),
            ':' => out.extend_from_slice(b"\\c"),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\r' if version == Version::V1_2 => out.extend_from_slice(b"\\r"),
            '\r' => out.extend_from_slice(b" "),
            c => {
                let mut tmp = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
        }
    }
}

/// Appends a frame; a `content-length` header is added when the frame has a body.
pub fn encode(out: &mut BytesMut, frame: &Frame, version: Version) {
    let escaped = version > Version::V1_0 && !matches!(&*frame.command, "CONNECT" | "CONNECTED");
    out.extend_from_slice(frame.command.as_bytes());
    out.extend_from_slice(b"\n");
    for (name, value) in &frame.headers {
        escape_into(out, name, escaped, version);
        out.extend_from_slice(b":");
        escape_into(out, value, escaped, version);
        out.extend_from_slice(b"\n");
    }
    if !frame.body.is_empty() && frame.header("content-length").is_none() {
        out.extend_from_slice(format!("content-length:{}\n", frame.body.len()).as_bytes());
    }
    out.extend_from_slice(b"\n");
    out.extend_from_slice(&frame.body);
    out.extend_from_slice(b"\0");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8], version: Version) -> Result<Option<Decoded>, DecodeError> {
        decode(&mut BytesMut::from(bytes), version, &Limits::default())
    }

    fn frame(bytes: &[u8], version: Version) -> Frame {
        match one(bytes, version) {
            Ok(Some(Decoded::Frame(f))) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[test]
    fn decodes_a_nul_terminated_frame() {
        let f = frame(b"SEND\ndestination:/queue/a\n\nhello\0", Version::V1_2);
        assert_eq!(f.command, "SEND");
        assert_eq!(f.header("destination"), Some("/queue/a"));
        assert_eq!(&f.body[..], b"hello");
    }

    #[test]
    fn content_length_bodies_may_hold_nuls() {
        let f = frame(b"SEND\ncontent-length:5\n\nhe\0lo\0", Version::V1_2);
        assert_eq!(&f.body[..], b"he\0lo");
    }

    #[test]
    fn content_length_must_be_followed_by_nul() {
        assert!(one(b"SEND\ncontent-length:2\n\nhello\0", Version::V1_2).is_err());
        assert!(one(b"SEND\ncontent-length:x\n\nhi\0", Version::V1_2).is_err());
    }

    #[test]
    fn crlf_line_endings_and_heartbeats() {
        let mut buf = BytesMut::from(&b"\n\r\nSEND\r\na:b\r\n\r\nx\0\n"[..]);
        let limits = Limits::default();
        let v = Version::V1_2;
        assert_eq!(decode(&mut buf, v, &limits), Ok(Some(Decoded::Heartbeat)));
        assert_eq!(decode(&mut buf, v, &limits), Ok(Some(Decoded::Heartbeat)));
        let Ok(Some(Decoded::Frame(f))) = decode(&mut buf, v, &limits) else {
            panic!("no frame")
        };
        assert_eq!(f.header("a"), Some("b"));
        assert_eq!(&f.body[..], b"x");
        assert_eq!(decode(&mut buf, v, &limits), Ok(Some(Decoded::Heartbeat)));
        assert_eq!(decode(&mut buf, v, &limits), Ok(None));
    }

    #[test]
    fn partial_frames_wait_for_more() {
        let whole = b"SEND\ncontent-length:3\n\nabc\0";
        for cut in 1..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            assert_eq!(
                decode(&mut buf, Version::V1_2, &Limits::default()),
                Ok(None),
                "cut at {cut}"
            );
            assert_eq!(buf.len(), cut);
        }
    }

    #[test]
    fn escaping_depends_on_the_version() {
        let raw = b"SEND\nk\\cx:a\\nb\\\\c\\rd\n\n\0";
        let f = frame(raw, Version::V1_2);
        assert_eq!(f.headers[0], ("k:x".into(), "a\nb\\c\rd".into()));
        // 1.1 has no \r escape.
        assert!(one(raw, Version::V1_1).is_err());
        // 1.0 takes backslashes literally.
        let f = frame(b"SEND\nk:a\\nb\n\n\0", Version::V1_0);
        assert_eq!(f.header("k"), Some("a\\nb"));
        // CONNECT is never unescaped.
        let f = frame(b"CONNECT\npasscode:a\\cb\n\n\0", Version::V1_2);
        assert_eq!(f.header("passcode"), Some("a\\cb"));
        assert!(one(b"SEND\nk:a\\t\n\n\0", Version::V1_2).is_err());
    }

    #[test]
    fn first_repeated_header_wins() {
        let f = frame(b"SEND\na:1\na:2\n\n\0", Version::V1_2);
        assert_eq!(f.header("a"), Some("1"));
    }

    #[test]
    fn encode_round_trips_with_escapes() {
        let f = Frame::new("MESSAGE")
            .with("we:ird", "line\nbreak\\ and \r")
            .with("plain", "v");
        let f = Frame {
            body: Bytes::from_static(b"a\0b"),
            ..f
        };
        let mut out = BytesMut::new();
        encode(&mut out, &f, Version::V1_2);
        let back = frame(&out, Version::V1_2);
        assert_eq!(back.header("we:ird"), Some("line\nbreak\\ and \r"));
        assert_eq!(back.header("plain"), Some("v"));
        assert_eq!(&back.body[..], b"a\0b");
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_header_bytes: 64,
            max_headers: 2,
            max_body: 4,
        };
        let check = |bytes: &[u8]| decode(&mut BytesMut::from(bytes), Version::V1_2, &limits);
        assert!(check(b"SEND\na:1\nb:2\nc:3\n\n\0").is_err());
        assert!(check(&[b'A'; 100]).is_err());
        assert!(check(b"SEND\ncontent-length:5\n\n").is_err());
        assert!(check(b"SEND\n\n12345").is_err());
        assert!(check(b"SEND\n\n1234").unwrap().is_none());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b"send\n\n\0"[..],
            b"SEND\nnocolon\n\n\0",
            b"SEND\n:v\n\n\0",
            b"SEND\0",
            b"\rX",
            b"SEND\nk:\xff\n\n\0",
        ] {
            assert!(one(bad, Version::V1_2).is_err(), "{bad:?}");
        }
    }
}

/// Random and mutated inputs, run with the unit tests (the cargo-fuzz target
/// `stomp_frame` goes further): the decoder must never panic and must round-trip
/// what it accepts.
#[cfg(test)]
mod random_tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn random_inputs_never_panic_and_round_trip() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let seeds: [&[u8]; 3] = [
            b"SEND\ndestination:/queue/a\ncontent-length:3\n\nabc\0",
            b"MESSAGE\nk\\c:v\\n\\\\\n\nbody\0\n",
            b"CONNECT\naccept-version:1.0,1.2\nhost:/\n\n\0",
        ];
        let alphabet = b"\n\r\0:\\cnrSEND ABCabc0123456789-";
        for i in 0..20_000 {
            let mut input = seeds[i % 3].to_vec();
            for _ in 0..rng.random_range(0..6) {
                let pos = rng.random_range(0..=input.len());
                let b = alphabet[rng.random_range(0..alphabet.len())];
                match rng.random_range(0..3) {
                    0 => input.insert(pos, b),
                    1 if pos < input.len() => input[pos] = b,
                    _ if pos < input.len() => {
                        input.remove(pos);
                    }
                    _ => {}
                }
            }
            let version = [Version::V1_0, Version::V1_1, Version::V1_2][i % 3];
            let limits = Limits {
                max_header_bytes: 40,
                max_headers: 3,
                max_body: 8,
            };
            let mut buf = BytesMut::from(&input[..]);
            while let Ok(Some(d)) = decode(&mut buf, version, &limits) {
                let Decoded::Frame(f) = d else { continue };
                if f.headers
                    .iter()
                    .any(|(n, v)| n.contains('\r') || v.contains('\r'))
                {
                    continue;
                }
                let mut out = BytesMut::new();
                encode(&mut out, &f, version);
                let Ok(Some(Decoded::Frame(mut again))) =
                    decode(&mut out, version, &Limits::default())
                else {
                    panic!("{f:?} did not decode again (input {input:?})");
                };
                // The encoder adds the content-length the original may have lacked.
                if f.header("content-length").is_none() {
                    again.headers.retain(|(n, _)| n != "content-length");
                }
                assert_eq!(again, f, "input {input:?}");
            }
        }
    }
}
