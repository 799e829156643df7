//! Value types shared by the codec and the broker: short strings and field tables.
//!
//! A `FieldValue` keeps the exact AMQP type tag it arrived with (RabbitMQ's tag set:
//! `t b B s u I i l f d D S T x V F A`), so decoding and re-encoding a table gives the
//! publisher's bytes back, and the headers exchange can compare values with their types.

use bytes::Bytes;
use std::fmt;

/// An AMQP `shortstr`: at most 255 bytes of UTF-8, usually a zero-copy slice of the
/// frame it was read from.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ShortStr(Bytes);

impl ShortStr {
    /// Wraps bytes already known to be valid UTF-8 of at most 255 bytes.
    /// Returns `None` when they are not.
    pub fn from_bytes(bytes: Bytes) -> Option<ShortStr> {
        // Names are nearly always ASCII, and `is_ascii` checks a word at a time where
        // `from_utf8` walks short inputs byte by byte; try the cheap test first.
        if bytes.len() > 255 || !(bytes.is_ascii() || std::str::from_utf8(&bytes).is_ok()) {
            return None;
        }
        Some(ShortStr(bytes))
    }
    pub fn as_str(&self) -> &str {
        // Invariant: constructed only from valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&'static str> for ShortStr {
    /// Panics if longer than 255 bytes (a programming error for static names).
    fn from(s: &'static str) -> Self {
        assert!(s.len() <= 255, "shortstr longer than 255 bytes");
        ShortStr(Bytes::from_static(s.as_bytes()))
    }
}

impl From<String> for ShortStr {
    /// Truncates at a character boundary to 255 bytes, the most a shortstr can hold.
    fn from(mut s: String) -> Self {
        if s.len() > 255 {
            let mut cut = 255;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
        }
        ShortStr(Bytes::from(s))
    }
}

impl From<&String> for ShortStr {
    fn from(s: &String) -> Self {
        ShortStr::from(s.clone())
    }
}

impl std::ops::Deref for ShortStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field-table value, tagged as RabbitMQ tags it on the wire.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    /// `t`
    Bool(bool),
    /// `b`
    I8(i8),
    /// `B`
    U8(u8),
    /// `s` (RabbitMQ's signed 16-bit; not a short string)
    I16(i16),
    /// `u`
    U16(u16),
    /// `I`
    I32(i32),
    /// `i`
    U32(u32),
    /// `l`
    I64(i64),
    /// `f`
    F32(f32),
    /// `d`
    F64(f64),
    /// `D`: scale, then unscaled value
    Decimal(u8, u32),
    /// `S`: long string, raw bytes (not necessarily UTF-8)
    LongStr(Bytes),
    /// `T`: seconds since the epoch
    Timestamp(u64),
    /// `F`
    Table(FieldTable),
    /// `A`
    Array(Vec<FieldValue>),
    /// `V`
    Void,
    /// `x`: byte array
    Bytes(Bytes),
}

impl FieldValue {
    /// The value as a string, when it is a long string holding UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::LongStr(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
    /// The value as a signed integer, when it is any integer type (argument parsing
    /// accepts every integer width, as RabbitMQ does).
    pub fn as_i64(&self) -> Option<i64> {
        Some(match *self {
            FieldValue::I8(v) => v as i64,
            FieldValue::U8(v) => v as i64,
            FieldValue::I16(v) => v as i64,
            FieldValue::U16(v) => v as i64,
            FieldValue::I32(v) => v as i64,
            FieldValue::U32(v) => v as i64,
            FieldValue::I64(v) => v,
            _ => return None,
        })
    }
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            FieldValue::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub fn long_string(s: impl Into<String>) -> FieldValue {
        FieldValue::LongStr(Bytes::from(s.into()))
    }
}

/// An ordered field table: keys keep the publisher's order so re-encoding is exact.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FieldTable(pub Vec<(ShortStr, FieldValue)>);

impl FieldTable {
    pub fn new() -> FieldTable {
        FieldTable(Vec::new())
    }
    /// The first value under `key`.
    pub fn get(&self, key: &str) -> Option<&FieldValue> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    }
    pub fn insert(&mut self, key: impl Into<ShortStr>, value: FieldValue) {
        let key = key.into();
        if let Some(slot) = self.0.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            self.0.push((key, value));
        }
    }
    pub fn remove(&mut self, key: &str) -> Option<FieldValue> {
        let pos = self.0.iter().position(|(k, _)| k.as_str() == key)?;
        Some(self.0.remove(pos).1)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&ShortStr, &FieldValue)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}
