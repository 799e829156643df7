//! Basic-class content properties: a cheap scan for the few the broker acts on, and a
//! full decode/encode for the rest.
//!
//! Properties arrive as a flags word (bit 15 = first property, ..., bit 2 = fourteenth;
//! bit 0 says another flags word follows) and then the present properties in order.
//! Both the scan and the decode walk the list with [`walk`], so the order and types are
//! written down once, in [`PROPERTIES`].
//!
//! Errors are 502 SYNTAX_ERROR. Like RabbitMQ, bit 1 of the first flags word (no
//! property) is ignored; continuation words are accepted as long as they announce no
//! property, since basic has only fourteen.

use crate::error::FrameError;
use crate::table;
use crate::types::{FieldTable, ShortStr};
use crate::wire::{Reader, WireError, WireResult, Writer};
use bytes::{BufMut, Bytes, BytesMut};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    ShortStr,
    Table,
    Octet,
    Timestamp,
}

/// Basic's properties in wire order; property `i` is flagged by bit `15 - i`.
const PROPERTIES: [(&str, Kind); 14] = [
    ("content-type", Kind::ShortStr),
    ("content-encoding", Kind::ShortStr),
    ("headers", Kind::Table),
    ("delivery-mode", Kind::Octet),
    ("priority", Kind::Octet),
    ("correlation-id", Kind::ShortStr),
    ("reply-to", Kind::ShortStr),
    ("expiration", Kind::ShortStr),
    ("message-id", Kind::ShortStr),
    ("timestamp", Kind::Timestamp),
    ("type", Kind::ShortStr),
    ("user-id", Kind::ShortStr),
    ("app-id", Kind::ShortStr),
    ("cluster-id", Kind::ShortStr),
];

const CONTENT_TYPE: usize = 0;
const CONTENT_ENCODING: usize = 1;
const HEADERS: usize = 2;
const DELIVERY_MODE: usize = 3;
const PRIORITY: usize = 4;
const CORRELATION_ID: usize = 5;
const REPLY_TO: usize = 6;
const EXPIRATION: usize = 7;
const MESSAGE_ID: usize = 8;
const TIMESTAMP: usize = 9;
const KIND: usize = 10;
const USER_ID: usize = 11;
const APP_ID: usize = 12;
const CLUSTER_ID: usize = 13;

const CONTINUATION: u16 = 1;
/// Bits 15..=2: one per property (bit 1 is unused, bit 0 is the continuation flag).
const ALL_PROPERTIES: u16 = 0xFFFC;

const fn flag(index: usize) -> u16 {
    1 << (15 - index)
}

fn error(what: impl std::fmt::Display) -> FrameError {
    FrameError::syntax(format_args!("invalid basic properties: {what}"))
}

/// Reads the flags word(s); returns the first word, which alone can flag properties.
fn read_flags(r: &mut Reader<'_>) -> Result<u16, FrameError> {
    let first = r.short().map_err(|_| error("missing property flags"))?;
    let mut word = first;
    while word & CONTINUATION != 0 {
        word = r
            .short()
            .map_err(|_| error("property flags continuation word missing"))?;
        if word & !CONTINUATION != 0 {
            return Err(error(format_args!(
                "unknown property flags 0x{word:04x} in a continuation word"
            )));
        }
    }
    Ok(first)
}

/// The frame decoder's cheap check of a content header: the flags are well formed.
/// The property list itself is checked by [`scan_properties`], which the adapter runs
/// anyway to read delivery-mode and friends.
pub(crate) fn check_flags(raw: &[u8]) -> Result<(), FrameError> {
    read_flags(&mut Reader::new(raw)).map(drop)
}

/// Walks the property list, checking its structure (lengths, and the headers table in
/// full) and handing `visit` each present property's index and raw value: a short
/// string's bytes, a table with its length prefix, one octet, eight octets. Short strings
/// are not checked for UTF-8 here; that is up to whoever reads them as text.
fn walk<'a>(
    raw: &'a [u8],
    mut visit: impl FnMut(usize, &'a [u8]) -> WireResult<()>,
) -> Result<(), FrameError> {
    let mut r = Reader::new(raw);
    // Visit only the flagged properties, highest bit first (= wire order): most
    // messages carry two or three of the fourteen.
    let mut pending = read_flags(&mut r)? & ALL_PROPERTIES;
    while pending != 0 {
        let index = pending.leading_zeros() as usize;
        pending &= !flag(index);
        let (name, kind) = PROPERTIES[index];
        let value = match kind {
            Kind::ShortStr => r.shortstr_raw(),
            Kind::Table => r.prefixed_with_length().and_then(|t| {
                table::skip_table(&mut Reader::new(t))?;
                Ok(t)
            }),
            Kind::Octet => r.take(1),
            Kind::Timestamp => r.take(8),
        };
        value
            .and_then(|value| visit(index, value))
            .map_err(|e| error(format_args!("{name}: {e}")))?;
    }
    r.finish().map_err(error)
}

/// The properties the broker acts on, borrowed from the raw property bytes.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct PropsView<'a> {
    pub delivery_mode: Option<u8>,
    pub priority: Option<u8>,
    pub expiration: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub reply_to: Option<&'a str>,
    /// The encoded table including its 4-byte length (decode with [`crate::decode_table`]).
    pub headers: Option<&'a [u8]>,
}

/// Scans raw properties (`ContentHeader::properties`) for the fields the broker acts on,
/// without allocating.
///
/// Checks the structure of the whole list and the headers table, and UTF-8 of the
/// strings it returns. Other short strings (content-type, correlation-id, ...) may hold
/// any bytes, as RabbitMQ allows: they are forwarded untouched, and some clients (Go's,
/// for one) put binary ids there. Such a message passes the scan but not
/// [`BasicProperties::decode`], whose `ShortStr`s must be UTF-8.
pub fn scan_properties(raw: &[u8]) -> Result<PropsView<'_>, FrameError> {
    let mut view = PropsView::default();
    walk(raw, |index, value| {
        let text = || {
            let s = std::str::from_utf8(value).map_err(|_| WireError::InvalidUtf8)?;
            Ok::<_, WireError>(Some(s))
        };
        match index {
            DELIVERY_MODE => view.delivery_mode = value.first().copied(),
            PRIORITY => view.priority = value.first().copied(),
            EXPIRATION => view.expiration = text()?,
            USER_ID => view.user_id = text()?,
            REPLY_TO => view.reply_to = text()?,
            HEADERS => view.headers = Some(value),
            _ => {}
        }
        Ok(())
    })?;
    Ok(view)
}

/// Fully decoded basic properties (off the hot path, and to rewrite a header).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct BasicProperties {
    pub content_type: Option<ShortStr>,
    pub content_encoding: Option<ShortStr>,
    pub headers: Option<FieldTable>,
    pub delivery_mode: Option<u8>,
    pub priority: Option<u8>,
    pub correlation_id: Option<ShortStr>,
    pub reply_to: Option<ShortStr>,
    pub expiration: Option<ShortStr>,
    pub message_id: Option<ShortStr>,
    pub timestamp: Option<u64>,
    /// The `type` property.
    pub kind: Option<ShortStr>,
    pub user_id: Option<ShortStr>,
    pub app_id: Option<ShortStr>,
    pub cluster_id: Option<ShortStr>,
}

impl BasicProperties {
    /// Decodes raw properties (`ContentHeader::properties`), copying them once.
    pub fn decode(raw: &[u8]) -> Result<BasicProperties, FrameError> {
        BasicProperties::decode_bytes(&Bytes::copy_from_slice(raw))
    }

    /// [`BasicProperties::decode`] without the copy: strings share `raw`'s memory.
    pub fn decode_bytes(raw: &Bytes) -> Result<BasicProperties, FrameError> {
        let mut p = BasicProperties::default();
        walk(raw, |index, value| {
            let string = || table::shortstr_of(raw, value).map(Some);
            match index {
                CONTENT_TYPE => p.content_type = string()?,
                CONTENT_ENCODING => p.content_encoding = string()?,
                HEADERS => p.headers = Some(table::read_table(&mut Reader::new(value), raw)?),
                DELIVERY_MODE => p.delivery_mode = value.first().copied(),
                PRIORITY => p.priority = value.first().copied(),
                CORRELATION_ID => p.correlation_id = string()?,
                REPLY_TO => p.reply_to = string()?,
                EXPIRATION => p.expiration = string()?,
                MESSAGE_ID => p.message_id = string()?,
                TIMESTAMP => p.timestamp = Some(Reader::new(value).longlong()?),
                KIND => p.kind = string()?,
                USER_ID => p.user_id = string()?,
                APP_ID => p.app_id = string()?,
                CLUSTER_ID => p.cluster_id = string()?,
                _ => {} // `walk` only yields indices of PROPERTIES, all matched above
            }
            Ok(())
        })?;
        Ok(p)
    }

    /// Encodes flags + property list, ready for `encode_content`.
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(64);
        self.encode_into(&mut buf);
        buf.freeze()
    }

    /// Appends flags + property list to `buf`.
    pub fn encode_into(&self, buf: &mut BytesMut) {
        let flags_at = buf.len();
        buf.put_u16(0);
        let mut l = ListWriter {
            w: Writer::new(buf),
            flags: 0,
        };
        let strings_before_headers = [
            (CONTENT_TYPE, &self.content_type),
            (CONTENT_ENCODING, &self.content_encoding),
        ];
        for (index, value) in strings_before_headers {
            if let Some(s) = value {
                l.present(index).shortstr(s);
            }
        }
        if let Some(t) = &self.headers {
            table::write_table(l.present(HEADERS), t);
        }
        if let Some(v) = self.delivery_mode {
            l.present(DELIVERY_MODE).octet(v);
        }
        if let Some(v) = self.priority {
            l.present(PRIORITY).octet(v);
        }
        let strings_before_timestamp = [
            (CORRELATION_ID, &self.correlation_id),
            (REPLY_TO, &self.reply_to),
            (EXPIRATION, &self.expiration),
            (MESSAGE_ID, &self.message_id),
        ];
        for (index, value) in strings_before_timestamp {
            if let Some(s) = value {
                l.present(index).shortstr(s);
            }
        }
        if let Some(v) = self.timestamp {
            l.present(TIMESTAMP).longlong(v);
        }
        let strings_after_timestamp = [
            (KIND, &self.kind),
            (USER_ID, &self.user_id),
            (APP_ID, &self.app_id),
            (CLUSTER_ID, &self.cluster_id),
        ];
        for (index, value) in strings_after_timestamp {
            if let Some(s) = value {
                l.present(index).shortstr(s);
            }
        }
        let flags = l.flags;
        buf[flags_at..flags_at + 2].copy_from_slice(&flags.to_be_bytes());
    }
}

/// Writes the property list while collecting the flags of what it wrote.
struct ListWriter<'a> {
    w: Writer<'a>,
    flags: u16,
}

impl<'a> ListWriter<'a> {
    fn present(&mut self, index: usize) -> &mut Writer<'a> {
        self.flags |= flag(index);
        &mut self.w
    }
}
