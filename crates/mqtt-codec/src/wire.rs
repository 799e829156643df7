//! The primitive encodings MQTT builds packets from (spec section 1.5): big-endian
//! integers, the variable byte integer, length-prefixed UTF-8 strings and binary data.
//! Reads are bounds-checked against the packet body and never panic.

use crate::DecodeError;
use bytes::{BufMut, Bytes, BytesMut};

/// The largest value a variable byte integer holds (four bytes).
pub const VARINT_MAX: u32 = 268_435_455;

/// A cursor over one packet's body (after the fixed header).
pub struct Reader {
    data: Bytes,
    at: usize,
}

impl Reader {
    pub fn new(data: Bytes) -> Reader {
        Reader { data, at: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.at
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Malformed("packet shorter than its fields"));
        }
        let b = self.data.slice(self.at..self.at + n);
        self.at += n;
        Ok(b)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn varint(&mut self) -> Result<u32, DecodeError> {
        let (value, used) = match decode_varint(&self.data[self.at..])? {
            Some(v) => v,
            None => return Err(DecodeError::Malformed("truncated variable byte integer")),
        };
        self.at += used;
        Ok(value)
    }

    pub fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.u16()? as usize;
        self.take(len)
    }

    /// A UTF-8 string: well-formed, and without U+0000 (spec 1.5.4).
    pub fn string(&mut self) -> Result<String, DecodeError> {
        let raw = self.binary()?;
        utf8(&raw)
    }

    /// The rest of the body, unparsed (a PUBLISH payload).
    pub fn rest(&mut self) -> Bytes {
        let b = self.data.slice(self.at..);
        self.at = self.data.len();
        b
    }
}

pub fn utf8(raw: &[u8]) -> Result<String, DecodeError> {
    let s = std::str::from_utf8(raw).map_err(|_| DecodeError::BadUtf8)?;
    if s.contains('\0') {
        return Err(DecodeError::BadUtf8);
    }
    Ok(s.to_string())
}

/// Decodes a variable byte integer at the start of `data`: the value and how many
/// bytes it used, or `None` when `data` ends first.
pub fn decode_varint(data: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value: u32 = 0;
    for (i, &byte) in data.iter().enumerate().take(4) {
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if data.len() >= 4 {
        return Err(DecodeError::Malformed(
            "variable byte integer longer than 4 bytes",
        ));
    }
    Ok(None)
}

pub fn varint_len(value: u32) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

pub fn put_varint(out: &mut BytesMut, mut value: u32) {
    debug_assert!(value <= VARINT_MAX);
    loop {
        let mut byte = (value & 0x7f) as u8;
        value >>= 7;
        if value > 0 {
            byte |= 0x80;
        }
        out.put_u8(byte);
        if value == 0 {
            return;
        }
    }
}

/// Writes length-prefixed bytes; longer input is cut at 65535 bytes (the encoder's
/// callers keep within the limit; cutting keeps the packet well-formed if one does not).
pub fn put_binary(out: &mut BytesMut, data: &[u8]) {
    let data = &data[..data.len().min(u16::MAX as usize)];
    out.put_u16(data.len() as u16);
    out.put_slice(data);
}

pub fn put_string(out: &mut BytesMut, s: &str) {
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    put_binary(out, &s.as_bytes()[..end]);
}

pub fn binary_len(data: &[u8]) -> usize {
    2 + data.len().min(u16::MAX as usize)
}
