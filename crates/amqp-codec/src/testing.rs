//! Test support: a small deterministic generator and random values for every method
//! argument type, so round-trip tests cover every method without hand-written samples.

use crate::types::{FieldTable, FieldValue, ShortStr};
use bytes::Bytes;

/// xorshift64*: deterministic, dependency-free, good enough to pick test values.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub(crate) trait Sample {
    fn sample(rng: &mut Rng) -> Self;
}

impl Sample for u8 {
    fn sample(rng: &mut Rng) -> u8 {
        rng.next() as u8
    }
}
impl Sample for u16 {
    fn sample(rng: &mut Rng) -> u16 {
        rng.next() as u16
    }
}
impl Sample for u32 {
    fn sample(rng: &mut Rng) -> u32 {
        rng.next() as u32
    }
}
impl Sample for u64 {
    fn sample(rng: &mut Rng) -> u64 {
        rng.next()
    }
}
impl Sample for bool {
    fn sample(rng: &mut Rng) -> bool {
        rng.next() & 1 == 1
    }
}

impl Sample for ShortStr {
    /// Mixes ASCII with multi-byte characters and sometimes hits the 255-byte limit.
    fn sample(rng: &mut Rng) -> ShortStr {
        let len = match rng.below(8) {
            0 => 0,
            1 => 255,
            _ => rng.below(40) as usize,
        };
        let mut s = String::new();
        while s.len() < len {
            let c = match rng.below(6) {
                0 => 'é',
                1 => '→',
                _ => (b'a' + rng.below(26) as u8) as char,
            };
            if s.len() + c.len_utf8() > len {
                break;
            }
            s.push(c);
        }
        ShortStr::from(s)
    }
}

impl Sample for Bytes {
    fn sample(rng: &mut Rng) -> Bytes {
        let len = rng.below(64) as usize;
        (0..len)
            .map(|_| rng.next() as u8)
            .collect::<Vec<u8>>()
            .into()
    }
}

impl Sample for FieldTable {
    fn sample(rng: &mut Rng) -> FieldTable {
        sample_table(rng, 3)
    }
}

fn sample_table(rng: &mut Rng, depth: u32) -> FieldTable {
    let n = rng.below(6);
    FieldTable(
        (0..n)
            .map(|_| (ShortStr::sample(rng), sample_value(rng, depth)))
            .collect(),
    )
}

/// Any field value; floats are finite so values compare equal to themselves.
pub(crate) fn sample_value(rng: &mut Rng, depth: u32) -> FieldValue {
    let kinds = if depth == 0 { 15 } else { 17 };
    match rng.below(kinds) {
        0 => FieldValue::Bool(bool::sample(rng)),
        1 => FieldValue::I8(rng.next() as i8),
        2 => FieldValue::U8(rng.next() as u8),
        3 => FieldValue::I16(rng.next() as i16),
        4 => FieldValue::U16(rng.next() as u16),
        5 => FieldValue::I32(rng.next() as i32),
        6 => FieldValue::U32(rng.next() as u32),
        7 => FieldValue::I64(rng.next() as i64),
        8 => FieldValue::F32((rng.next() as i16) as f32 / 8.0),
        9 => FieldValue::F64((rng.next() as i32) as f64 / 3.0),
        10 => FieldValue::Decimal(rng.next() as u8, rng.next() as u32),
        11 => FieldValue::LongStr(Bytes::sample(rng)),
        12 => FieldValue::Timestamp(rng.next()),
        13 => FieldValue::Void,
        14 => FieldValue::Bytes(Bytes::sample(rng)),
        15 => FieldValue::Table(sample_table(rng, depth - 1)),
        _ => FieldValue::Array(
            (0..rng.below(5))
                .map(|_| sample_value(rng, depth - 1))
                .collect(),
        ),
    }
}
