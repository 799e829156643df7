//! The primitive wire types of AMQP 0-9-1 (big-endian integers, short and long strings,
//! packed bits), read from a byte slice and written to a `BytesMut`.
//!
//! Both sides keep a bit cursor because the spec packs consecutive `bit` fields into one
//! octet, least significant bit first, and any other field ends the packing. Keeping that
//! rule here means the method table never has to know about it.
//!
//! The reader works on a plain `&[u8]` so that scanning (properties, table validation)
//! never allocates; callers that want zero-copy `Bytes` turn a returned sub-slice into one
//! with `Bytes::slice_ref` on the buffer it came from.

use bytes::{BufMut, BytesMut};
use std::fmt;

/// Why a value could not be read. Carries no context: the caller knows which method,
/// field or property it was reading and builds the `FrameError` from that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireError {
    /// The data ends before the value does.
    Truncated,
    /// A short string (or table key) that is not UTF-8.
    InvalidUtf8,
    /// A field-table value with a type tag RabbitMQ does not know.
    BadTag(u8),
    /// Tables/arrays nested deeper than [`crate::table::MAX_DEPTH`].
    TooDeep,
    /// Bytes left over after the last field.
    Trailing(usize),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WireError::Truncated => f.write_str("truncated"),
            WireError::InvalidUtf8 => f.write_str("malformed UTF-8 in shortstr"),
            WireError::BadTag(t) if t.is_ascii_graphic() => {
                write!(f, "unknown field value type '{}'", t as char)
            }
            WireError::BadTag(t) => write!(f, "unknown field value type 0x{t:02x}"),
            WireError::TooDeep => write!(
                f,
                "field tables nested deeper than {}",
                crate::table::MAX_DEPTH
            ),
            WireError::Trailing(n) => write!(f, "{n} unexpected trailing octets"),
        }
    }
}

pub(crate) type WireResult<T> = Result<T, WireError>;

/// A forward-only cursor over encoded fields.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The octet bits are being taken from and the index of the next bit (0..8);
    /// `None` when the last field read was not a bit.
    bits: Option<(u8, u8)>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            bits: None,
        }
    }

    /// The next `n` octets.
    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> WireResult<&'a [u8]> {
        self.bits = None;
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> WireResult<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    #[inline]
    pub(crate) fn octet(&mut self) -> WireResult<u8> {
        Ok(self.array::<1>()?[0])
    }
    #[inline]
    pub(crate) fn short(&mut self) -> WireResult<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    #[inline]
    pub(crate) fn long(&mut self) -> WireResult<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    #[inline]
    pub(crate) fn longlong(&mut self) -> WireResult<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// One packed bit: starts a new octet unless the previous field was a bit with room
    /// left in its octet.
    #[inline]
    pub(crate) fn bit(&mut self) -> WireResult<bool> {
        let (byte, index) = match self.bits {
            Some((byte, index)) if index < 8 => (byte, index),
            _ => (self.octet()?, 0),
        };
        self.bits = Some((byte, index + 1));
        Ok(byte & (1 << index) != 0)
    }

    /// A short string's bytes, not checked for UTF-8.
    #[inline]
    pub(crate) fn shortstr_raw(&mut self) -> WireResult<&'a [u8]> {
        let len = self.octet()? as usize;
        self.take(len)
    }

    /// A short string, checked for UTF-8.
    #[inline]
    pub(crate) fn shortstr(&mut self) -> WireResult<&'a str> {
        std::str::from_utf8(self.shortstr_raw()?).map_err(|_| WireError::InvalidUtf8)
    }

    /// A long string's (or any 32-bit-length-prefixed value's) bytes.
    #[inline]
    pub(crate) fn longstr(&mut self) -> WireResult<&'a [u8]> {
        let len = self.long()? as usize;
        self.take(len)
    }

    /// A 32-bit-length-prefixed value including its prefix (how a table is handed on).
    #[inline]
    pub(crate) fn prefixed_with_length(&mut self) -> WireResult<&'a [u8]> {
        let start = self.pos;
        self.longstr()?;
        Ok(&self.buf[start..self.pos])
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Fails when bytes are left: every AMQP structure here has an exact length, and
    /// leftovers mean the peer and we disagree about the layout.
    pub(crate) fn finish(&self) -> WireResult<()> {
        match self.buf.len().saturating_sub(self.pos) {
            0 => Ok(()),
            n => Err(WireError::Trailing(n)),
        }
    }
}

/// Appends encoded fields to a buffer, packing consecutive bits.
pub(crate) struct Writer<'a> {
    buf: &'a mut BytesMut,
    /// Where the octet currently receiving bits is, and the index of the next bit.
    bits: Option<(usize, u8)>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut BytesMut) -> Writer<'a> {
        Writer { buf, bits: None }
    }

    #[inline]
    pub(crate) fn octet(&mut self, v: u8) {
        self.bits = None;
        self.buf.put_u8(v);
    }
    #[inline]
    pub(crate) fn short(&mut self, v: u16) {
        self.bits = None;
        self.buf.put_u16(v);
    }
    #[inline]
    pub(crate) fn long(&mut self, v: u32) {
        self.bits = None;
        self.buf.put_u32(v);
    }
    #[inline]
    pub(crate) fn longlong(&mut self, v: u64) {
        self.bits = None;
        self.buf.put_u64(v);
    }

    #[inline]
    pub(crate) fn bit(&mut self, v: bool) {
        let (at, index) = match self.bits {
            Some((at, index)) if index < 8 => (at, index),
            _ => {
                self.buf.put_u8(0);
                (self.buf.len() - 1, 0)
            }
        };
        if v {
            self.buf[at] |= 1 << index;
        }
        self.bits = Some((at, index + 1));
    }

    /// Writes at most 255 bytes, cut back to a character boundary: a longer value cannot
    /// be a shortstr, and a cut string is better than a frame the peer cannot parse.
    #[inline]
    pub(crate) fn shortstr(&mut self, s: &str) {
        let s = truncate_to_shortstr(s);
        self.octet(s.len() as u8);
        self.buf.put_slice(s.as_bytes());
    }

    #[inline]
    pub(crate) fn longstr(&mut self, b: &[u8]) {
        self.long(len_u32(b.len()));
        self.buf.put_slice(b);
    }

    /// Writes a 32-bit length placeholder and returns where it is, for [`Self::end_length`].
    pub(crate) fn begin_length(&mut self) -> usize {
        self.long(0);
        self.buf.len() - 4
    }

    /// Patches the placeholder at `at` with the number of bytes written since.
    pub(crate) fn end_length(&mut self, at: usize) {
        self.bits = None;
        let len = len_u32(self.buf.len() - at - 4);
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// The longest prefix of `s` that fits a shortstr without splitting a character.
pub(crate) fn truncate_to_shortstr(s: &str) -> &str {
    if s.len() <= 255 {
        return s;
    }
    let mut cut = 255;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// Lengths past 4 GiB cannot be expressed on the wire; nothing the broker builds comes
/// near that (frame_max and message size limits are far lower), so saturate rather than
/// panic.
#[inline]
pub(crate) fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_pack_lsb_first_and_restart_after_other_fields() {
        let mut buf = BytesMut::new();
        let mut w = Writer::new(&mut buf);
        for v in [true, false, true, true, false, false, false, false, true] {
            w.bit(v);
        }
        w.short(0x0102);
        w.bit(true);
        assert_eq!(&buf[..], &[0b0000_1101, 0b0000_0001, 1, 2, 1]);

        let mut r = Reader::new(&buf);
        let got: Vec<bool> = (0..9).map(|_| r.bit().unwrap()).collect();
        assert_eq!(
            got,
            [true, false, true, true, false, false, false, false, true]
        );
        assert_eq!(r.short().unwrap(), 0x0102);
        assert!(r.bit().unwrap());
        r.finish().unwrap();
    }

    #[test]
    fn shortstr_is_cut_at_a_char_boundary() {
        let s = "é".repeat(200); // 400 bytes
        let cut = truncate_to_shortstr(&s);
        assert_eq!(cut.len(), 254);
        assert!(cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn reads_past_the_end_are_truncation_errors() {
        let mut r = Reader::new(&[0, 0, 0, 9, 1]);
        assert_eq!(r.longstr(), Err(WireError::Truncated));
        let mut r = Reader::new(&[3, b'a']);
        assert_eq!(r.shortstr(), Err(WireError::Truncated));
        let mut r = Reader::new(&[1, 0xff]);
        assert_eq!(r.shortstr(), Err(WireError::InvalidUtf8));
        let r = Reader::new(&[1, 2]);
        assert_eq!(r.finish(), Err(WireError::Trailing(2)));
    }
}
