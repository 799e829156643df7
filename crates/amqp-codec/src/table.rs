//! Field tables and arrays, with RabbitMQ's type tags.
//!
//! Decoding keeps every value's tag and the key order, so encoding a decoded table gives
//! the publisher's bytes back. Two inputs are accepted the way RabbitMQ accepts them and
//! come back in canonical form: a `t` octet other than 0/1 reads as `true` (re-encoded
//! as 1), and the tag `L` (some clients' unsigned 64-bit) reads as a signed `l`, as
//! RabbitMQ reads it (re-encoded as `l`). Everything else is byte-exact.
//!
//! Strings (`S`, `x`) and keys are zero-copy slices of the buffer the table came from.
//! Nesting is limited to [`MAX_DEPTH`] so that a hostile peer cannot make the decoder
//! recurse without bound.

use crate::error::FrameError;
use crate::types::{FieldTable, FieldValue, ShortStr};
use crate::wire::{Reader, WireError, WireResult, Writer};
use bytes::{Bytes, BytesMut};

/// How many tables/arrays may be nested, the outermost included.
pub const MAX_DEPTH: usize = 64;

/// Decodes an encoded table (with its 4-byte length prefix), e.g. `PropsView::headers`.
/// The whole input must be the table: bytes after it are an error. Errors are
/// 502 SYNTAX_ERROR.
pub fn decode_table(encoded: &[u8]) -> Result<FieldTable, FrameError> {
    decode_table_bytes(&Bytes::copy_from_slice(encoded))
}

/// [`decode_table`] without the copy: strings in the result share `encoded`'s memory.
pub fn decode_table_bytes(encoded: &Bytes) -> Result<FieldTable, FrameError> {
    let mut r = Reader::new(encoded);
    read_table(&mut r, encoded)
        .and_then(|t| r.finish().map(|()| t))
        .map_err(|e| FrameError::syntax(format_args!("invalid field table: {e}")))
}

/// Appends `table` with its 4-byte length prefix.
pub fn encode_table(buf: &mut BytesMut, table: &FieldTable) {
    write_table(&mut Writer::new(buf), table);
}

/// Reads a length-prefixed table; `owner` is the `Bytes` that `r`'s slice lives in.
pub(crate) fn read_table(r: &mut Reader<'_>, owner: &Bytes) -> WireResult<FieldTable> {
    let body = r.longstr()?;
    read_table_body(body, owner, 1)
}

/// Walks a length-prefixed table without building it, with the same checks as
/// [`read_table`]: the allocation-free way to reject a malformed table early.
pub(crate) fn skip_table(r: &mut Reader<'_>) -> WireResult<()> {
    let body = r.longstr()?;
    skip_table_body(body, 1)
}

fn read_table_body(body: &[u8], owner: &Bytes, depth: usize) -> WireResult<FieldTable> {
    let mut r = Reader::new(body);
    let mut entries = Vec::with_capacity(capacity_hint(body.len()));
    while !r.is_empty() {
        let key = shortstr_of(owner, r.shortstr_raw()?)?;
        let tag = r.octet()?;
        entries.push((key, read_value(tag, &mut r, owner, depth)?));
    }
    Ok(FieldTable(entries))
}

fn read_array_body(body: &[u8], owner: &Bytes, depth: usize) -> WireResult<Vec<FieldValue>> {
    let mut r = Reader::new(body);
    let mut values = Vec::with_capacity(capacity_hint(body.len()));
    while !r.is_empty() {
        let tag = r.octet()?;
        values.push(read_value(tag, &mut r, owner, depth)?);
    }
    Ok(values)
}

fn read_value(tag: u8, r: &mut Reader<'_>, owner: &Bytes, depth: usize) -> WireResult<FieldValue> {
    Ok(match tag {
        b't' => FieldValue::Bool(r.octet()? != 0),
        b'b' => FieldValue::I8(r.octet()? as i8),
        b'B' => FieldValue::U8(r.octet()?),
        b's' => FieldValue::I16(r.short()? as i16),
        b'u' => FieldValue::U16(r.short()?),
        b'I' => FieldValue::I32(r.long()? as i32),
        b'i' => FieldValue::U32(r.long()?),
        b'l' | b'L' => FieldValue::I64(r.longlong()? as i64),
        b'f' => FieldValue::F32(f32::from_bits(r.long()?)),
        b'd' => FieldValue::F64(f64::from_bits(r.longlong()?)),
        b'D' => FieldValue::Decimal(r.octet()?, r.long()?),
        b'S' => FieldValue::LongStr(owner.slice_ref(r.longstr()?)),
        b'x' => FieldValue::Bytes(owner.slice_ref(r.longstr()?)),
        b'T' => FieldValue::Timestamp(r.longlong()?),
        b'V' => FieldValue::Void,
        b'F' => FieldValue::Table(read_table_body(r.longstr()?, owner, nested(depth)?)?),
        b'A' => FieldValue::Array(read_array_body(r.longstr()?, owner, nested(depth)?)?),
        other => return Err(WireError::BadTag(other)),
    })
}

fn skip_table_body(body: &[u8], depth: usize) -> WireResult<()> {
    let mut r = Reader::new(body);
    while !r.is_empty() {
        r.shortstr()?;
        let tag = r.octet()?;
        skip_value(tag, &mut r, depth)?;
    }
    Ok(())
}

fn skip_array_body(body: &[u8], depth: usize) -> WireResult<()> {
    let mut r = Reader::new(body);
    while !r.is_empty() {
        let tag = r.octet()?;
        skip_value(tag, &mut r, depth)?;
    }
    Ok(())
}

fn skip_value(tag: u8, r: &mut Reader<'_>, depth: usize) -> WireResult<()> {
    let fixed = match tag {
        b'V' => 0,
        b't' | b'b' | b'B' => 1,
        b's' | b'u' => 2,
        b'I' | b'i' | b'f' => 4,
        b'D' => 5,
        b'l' | b'L' | b'd' | b'T' => 8,
        b'S' | b'x' => return r.longstr().map(drop),
        b'F' => return skip_table_body(r.longstr()?, nested(depth)?),
        b'A' => return skip_array_body(r.longstr()?, nested(depth)?),
        other => return Err(WireError::BadTag(other)),
    };
    r.take(fixed).map(drop)
}

/// A guess at how many entries `len` bytes hold (typical header entries are 10-20
/// bytes), so most tables are built without reallocating; bounded by the input size.
fn capacity_hint(len: usize) -> usize {
    len / 12 + 1
}

fn nested(depth: usize) -> WireResult<usize> {
    if depth >= MAX_DEPTH {
        Err(WireError::TooDeep)
    } else {
        Ok(depth + 1)
    }
}

/// A shortstr's raw bytes (a sub-slice of `owner`) as a zero-copy `ShortStr`; the UTF-8
/// check happens here, once.
pub(crate) fn shortstr_of(owner: &Bytes, raw: &[u8]) -> WireResult<ShortStr> {
    ShortStr::from_bytes(owner.slice_ref(raw)).ok_or(WireError::InvalidUtf8)
}

pub(crate) fn write_table(w: &mut Writer<'_>, table: &FieldTable) {
    let at = w.begin_length();
    for (key, value) in &table.0 {
        w.shortstr(key.as_str());
        write_value(w, value);
    }
    w.end_length(at);
}

fn write_value(w: &mut Writer<'_>, value: &FieldValue) {
    match value {
        FieldValue::Bool(v) => {
            w.octet(b't');
            w.octet(*v as u8);
        }
        FieldValue::I8(v) => {
            w.octet(b'b');
            w.octet(*v as u8);
        }
        FieldValue::U8(v) => {
            w.octet(b'B');
            w.octet(*v);
        }
        FieldValue::I16(v) => {
            w.octet(b's');
            w.short(*v as u16);
        }
        FieldValue::U16(v) => {
            w.octet(b'u');
            w.short(*v);
        }
        FieldValue::I32(v) => {
            w.octet(b'I');
            w.long(*v as u32);
        }
        FieldValue::U32(v) => {
            w.octet(b'i');
            w.long(*v);
        }
        FieldValue::I64(v) => {
            w.octet(b'l');
            w.longlong(*v as u64);
        }
        FieldValue::F32(v) => {
            w.octet(b'f');
            w.long(v.to_bits());
        }
        FieldValue::F64(v) => {
            w.octet(b'd');
            w.longlong(v.to_bits());
        }
        FieldValue::Decimal(scale, v) => {
            w.octet(b'D');
            w.octet(*scale);
            w.long(*v);
        }
        FieldValue::LongStr(b) => {
            w.octet(b'S');
            w.longstr(b);
        }
        FieldValue::Bytes(b) => {
            w.octet(b'x');
            w.longstr(b);
        }
        FieldValue::Timestamp(v) => {
            w.octet(b'T');
            w.longlong(*v);
        }
        FieldValue::Void => w.octet(b'V'),
        FieldValue::Table(t) => {
            w.octet(b'F');
            write_table(w, t);
        }
        FieldValue::Array(values) => {
            w.octet(b'A');
            let at = w.begin_length();
            for v in values {
                write_value(w, v);
            }
            w.end_length(at);
        }
    }
}
