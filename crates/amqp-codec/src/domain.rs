//! How each AMQP domain type of the method table is read and written.
//!
//! The method table names a field's domain (`short`, `shortstr`, `bit`, ...);
//! [`domain_type!`] maps that name to a Rust type and this trait gives the type its wire
//! form, so the generated decoders and encoders are just one call per field.

use crate::table;
use crate::types::{FieldTable, ShortStr};
use crate::wire::{Reader, WireResult, Writer};
use bytes::Bytes;

/// A value that appears as a method argument.
pub(crate) trait Field: Sized + Default {
    /// Reads the value; `owner` is the `Bytes` the reader's slice lives in, so strings
    /// and tables can be zero-copy slices of it.
    fn read(r: &mut Reader<'_>, owner: &Bytes) -> WireResult<Self>;
    fn write(&self, w: &mut Writer<'_>);
}

/// The Rust type of an AMQP domain, as named in the method table.
macro_rules! domain_type {
    (octet) => {
        u8
    };
    (short) => {
        u16
    };
    (long) => {
        u32
    };
    (longlong) => {
        u64
    };
    (timestamp) => {
        u64
    };
    (bit) => {
        bool
    };
    (shortstr) => {
        $crate::types::ShortStr
    };
    (longstr) => {
        ::bytes::Bytes
    };
    (table) => {
        $crate::types::FieldTable
    };
}
pub(crate) use domain_type;

impl Field for u8 {
    #[inline]
    fn read(r: &mut Reader<'_>, _: &Bytes) -> WireResult<u8> {
        r.octet()
    }
    #[inline]
    fn write(&self, w: &mut Writer<'_>) {
        w.octet(*self)
    }
}

impl Field for u16 {
    #[inline]
    fn read(r: &mut Reader<'_>, _: &Bytes) -> WireResult<u16> {
        r.short()
    }
    #[inline]
    fn write(&self, w: &mut Writer<'_>) {
        w.short(*self)
    }
}

impl Field for u32 {
    #[inline]
    fn read(r: &mut Reader<'_>, _: &Bytes) -> WireResult<u32> {
        r.long()
    }
    #[inline]
    fn write(&self, w: &mut Writer<'_>) {
        w.long(*self)
    }
}

/// `longlong` and `timestamp` share this encoding.
impl Field for u64 {
    #[inline]
    fn read(r: &mut Reader<'_>, _: &Bytes) -> WireResult<u64> {
        r.longlong()
    }
    #[inline]
    fn write(&self, w: &mut Writer<'_>) {
        w.longlong(*self)
    }
}

/// `bit`: packed with its neighbours by the reader/writer's bit cursor.
impl Field for bool {
    #[inline]
    fn read(r: &mut Reader<'_>, _: &Bytes) -> WireResult<bool> {
        r.bit()
    }
    #[inline]
    fn write(&self, w: &mut Writer<'_>) {
        w.bit(*self)
    }
}

impl Field for ShortStr {
    #[inline]
    fn read(r: &mut Reader<'_>, owner: &Bytes) -> WireResult<ShortStr> {
        table::shortstr_of(owner, r.shortstr_raw()?)
    }
    #[inline]
    fn write(&self, w: &mut Writer<'_>) {
        w.shortstr(self.as_str())
    }
}

/// `longstr`: raw bytes (SASL responses, secrets), not necessarily UTF-8.
impl Field for Bytes {
    #[inline]
    fn read(r: &mut Reader<'_>, owner: &Bytes) -> WireResult<Bytes> {
        Ok(owner.slice_ref(r.longstr()?))
    }
    #[inline]
    fn write(&self, w: &mut Writer<'_>) {
        w.longstr(self)
    }
}

impl Field for FieldTable {
    fn read(r: &mut Reader<'_>, owner: &Bytes) -> WireResult<FieldTable> {
        table::read_table(r, owner)
    }
    fn write(&self, w: &mut Writer<'_>) {
        table::write_table(w, self)
    }
}
