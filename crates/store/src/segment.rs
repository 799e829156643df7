//! Files of frames: the 32-byte file header and a reader that walks frames, finds the
//! next good one after a bad one, and tells a torn tail from a hole in the middle.
//!
//! The reader reads in 1 MiB chunks with `read_at` and never allocates more than the
//! file holds, so any byte sequence is safe to feed it (`fuzz/segment_reader`).

use std::io;

use bytes::Bytes;

use crate::io::{read_full, IoFile};
use crate::record::{decode_frame, Frame, FrameError, FRAME_HEADER, SYNC};

/// Magic of message-log segments (`msgs/NNNNNNNN.seg`).
pub const SEGMENT_MAGIC: [u8; 8] = *b"WRNSEGMT";
/// Format version this build writes and the highest it reads.
pub const FORMAT_VERSION: u16 = 1;
pub const FILE_HEADER: u64 = 32;

const CHUNK: usize = 1 << 20;

/// `[magic: 8][version: u16][header_len: u16][number: u32][aux: u64][reserved: 4][crc32c: u32]`
///
/// `number` is the segment number (or the metadata generation); `aux` is, for a
/// segment, the next message id at the time it was created: ids only grow, so the
/// newest segment's header bounds every id ever handed out, even those whose
/// records were reclaimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    pub magic: [u8; 8],
    pub version: u16,
    pub number: u32,
    pub aux: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than 32 bytes: a file whose creation was torn.
    Short(usize),
    BadMagic,
    BadCrc,
    /// A newer format: refuse rather than misread.
    Version(u16),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Short(n) => write!(f, "file header torn ({n} of 32 bytes)"),
            HeaderError::BadMagic => write!(f, "not a warren file (bad magic)"),
            HeaderError::BadCrc => write!(f, "file header checksum mismatch"),
            HeaderError::Version(v) => write!(f, "format version {v} is newer than this build"),
        }
    }
}

impl FileHeader {
    pub fn new(magic: [u8; 8], number: u32, aux: u64) -> Self {
        FileHeader {
            magic,
            version: FORMAT_VERSION,
            number,
            aux,
        }
    }

    pub fn encode(&self) -> [u8; FILE_HEADER as usize] {
        let mut b = [0u8; FILE_HEADER as usize];
        b[..8].copy_from_slice(&self.magic);
        b[8..10].copy_from_slice(&self.version.to_le_bytes());
        b[10..12].copy_from_slice(&(FILE_HEADER as u16).to_le_bytes());
        b[12..16].copy_from_slice(&self.number.to_le_bytes());
        b[16..24].copy_from_slice(&self.aux.to_le_bytes());
        let crc = crc32c::crc32c(&b[..28]);
        b[28..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8], magic: [u8; 8]) -> Result<FileHeader, HeaderError> {
        if b.len() < FILE_HEADER as usize {
            return Err(HeaderError::Short(b.len()));
        }
        if b[..8] != magic {
            return Err(HeaderError::BadMagic);
        }
        let crc = u32::from_le_bytes(b[28..32].try_into().expect("4 bytes"));
        if crc32c::crc32c(&b[..28]) != crc {
            return Err(HeaderError::BadCrc);
        }
        let version = u16::from_le_bytes([b[8], b[9]]);
        if version > FORMAT_VERSION || version == 0 {
            return Err(HeaderError::Version(version));
        }
        Ok(FileHeader {
            magic,
            version,
            number: u32::from_le_bytes(b[12..16].try_into().expect("4 bytes")),
            aux: u64::from_le_bytes(b[16..24].try_into().expect("8 bytes")),
        })
    }

    /// Reads and checks the header of `file`.
    pub fn read(file: &dyn IoFile, magic: [u8; 8]) -> io::Result<Result<FileHeader, HeaderError>> {
        let mut b = [0u8; FILE_HEADER as usize];
        let n = read_full(file, &mut b, 0)?;
        Ok(FileHeader::decode(&b[..n], magic))
    }
}

/// `00000001.seg`.
pub fn segment_name(number: u32) -> String {
    format!("{number:08}.seg")
}

/// The number in a segment file name, if it is one.
pub fn parse_segment_name(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".seg")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// What the reader found at some offset.
#[derive(Debug, Clone)]
pub enum Scanned {
    /// A frame whose checksum matched.
    Frame { offset: u64, frame: Frame },
    /// `skipped` bytes from `offset` are not frames, and a good frame follows: a hole in
    /// the middle (bit rot, a lost block). The data on either side is intact.
    Corrupt {
        offset: u64,
        skipped: u64,
        reason: FrameError,
    },
    /// From `offset` to the end there is no good frame: a torn or truncated tail.
    TornTail {
        offset: u64,
        dropped: u64,
        reason: FrameError,
    },
}

/// Walks the frames of one file from `start` to `end`.
pub struct Scanner<'a> {
    file: &'a dyn IoFile,
    file_no: u32,
    end: u64,
    pos: u64,
    buf: Bytes,
    buf_at: u64,
}

impl<'a> Scanner<'a> {
    pub fn new(file: &'a dyn IoFile, file_no: u32, start: u64, end: u64) -> Self {
        Scanner {
            file,
            file_no,
            end,
            pos: start,
            buf: Bytes::new(),
            buf_at: 0,
        }
    }

    /// Offset of the next frame to read (the end of the good data so far).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The buffered bytes from `off`, at least `min` of them unless the end comes first.
    fn window(&mut self, off: u64, min: usize) -> io::Result<Bytes> {
        let buf_end = self.buf_at + self.buf.len() as u64;
        let want_end = (off + min as u64).min(self.end);
        if off >= self.buf_at && want_end <= buf_end && off <= buf_end {
            return Ok(self.buf.slice((off - self.buf_at) as usize..));
        }
        let len = (self.end - off).min(min.max(CHUNK) as u64) as usize;
        let mut v = vec![0u8; len];
        let n = read_full(self.file, &mut v, off)?;
        v.truncate(n);
        self.buf = Bytes::from(v);
        self.buf_at = off;
        Ok(self.buf.clone())
    }

    fn try_frame(&mut self, off: u64) -> io::Result<Result<Frame, FrameError>> {
        let mut w = self.window(off, FRAME_HEADER)?;
        loop {
            match decode_frame(&w, self.file_no, off) {
                Err(FrameError::Short { need })
                    if w.len() < need && need as u64 <= self.end - off =>
                {
                    let bigger = self.window(off, need)?;
                    if bigger.len() <= w.len() {
                        return Ok(Err(FrameError::Short { need }));
                    }
                    w = bigger;
                }
                r => return Ok(r),
            }
        }
    }

    /// The next offset at or after `from` holding the sync marker.
    fn find_sync(&mut self, from: u64) -> io::Result<Option<u64>> {
        let mut s = from;
        while s + SYNC.len() as u64 <= self.end {
            let w = self.window(s, SYNC.len())?;
            if w.len() < SYNC.len() {
                return Ok(None);
            }
            if let Some(i) = w.windows(SYNC.len()).position(|x| x == SYNC) {
                return Ok(Some(s + i as u64));
            }
            s += (w.len() - (SYNC.len() - 1)) as u64;
        }
        Ok(None)
    }

    /// The next good frame after a bad one at `from`, if any.
    fn resync(&mut self, from: u64) -> io::Result<Option<u64>> {
        let mut c = from + 1;
        while let Some(p) = self.find_sync(c)? {
            if self.try_frame(p)?.is_ok() {
                return Ok(Some(p));
            }
            c = p + 1;
        }
        Ok(None)
    }

    pub fn next_item(&mut self) -> io::Result<Option<Scanned>> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let off = self.pos;
        match self.try_frame(off)? {
            Ok(frame) => {
                self.pos += frame.len as u64;
                Ok(Some(Scanned::Frame { offset: off, frame }))
            }
            Err(reason) => match self.resync(off)? {
                Some(next) => {
                    self.pos = next;
                    Ok(Some(Scanned::Corrupt {
                        offset: off,
                        skipped: next - off,
                        reason,
                    }))
                }
                None => {
                    self.pos = self.end;
                    Ok(Some(Scanned::TornTail {
                        offset: off,
                        dropped: self.end - off,
                        reason,
                    }))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::Io;
    use crate::io_mem::MemIo;
    use crate::record::Record;
    use std::path::Path;

    fn build(records: &[Record]) -> (Vec<u8>, Vec<u64>) {
        let mut out = FileHeader::new(SEGMENT_MAGIC, 1, 0).encode().to_vec();
        let mut offsets = Vec::new();
        for r in records {
            offsets.push(out.len() as u64);
            r.encode(1, out.len() as u64, &mut out);
        }
        (out, offsets)
    }

    fn msg(id: u64, len: usize) -> Record {
        Record::Message {
            id,
            data: Bytes::from(vec![id as u8; len]),
        }
    }

    fn scan(bytes: &[u8]) -> Vec<Scanned> {
        let io = MemIo::new(0);
        let p = Path::new("/s.seg");
        io.write_file(p, bytes);
        let f = io.open(p).unwrap();
        let len = f.len().unwrap();
        let mut s = Scanner::new(&*f, 1, FILE_HEADER, len);
        let mut out = Vec::new();
        while let Some(item) = s.next_item().unwrap() {
            out.push(item);
        }
        out
    }

    fn ids(items: &[Scanned]) -> Vec<u64> {
        items
            .iter()
            .filter_map(|i| match i {
                Scanned::Frame { frame, .. } => match Record::decode(frame.kind, &frame.payload) {
                    Ok(Record::Message { id, .. }) => Some(id),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    #[test]
    fn header_round_trips_and_refuses_newer_versions() {
        let h = FileHeader::new(SEGMENT_MAGIC, 42, 99);
        let b = h.encode();
        assert_eq!(FileHeader::decode(&b, SEGMENT_MAGIC).unwrap(), h);
        assert_eq!(
            FileHeader::decode(&b[..10], SEGMENT_MAGIC),
            Err(HeaderError::Short(10))
        );
        assert_eq!(
            FileHeader::decode(&b, *b"SOMETHNG"),
            Err(HeaderError::BadMagic)
        );
        let mut newer = h;
        newer.version = FORMAT_VERSION + 1;
        assert_eq!(
            FileHeader::decode(&newer.encode(), SEGMENT_MAGIC),
            Err(HeaderError::Version(FORMAT_VERSION + 1))
        );
        let mut rot = b;
        rot[13] ^= 1;
        assert_eq!(
            FileHeader::decode(&rot, SEGMENT_MAGIC),
            Err(HeaderError::BadCrc)
        );
    }

    #[test]
    fn names() {
        assert_eq!(segment_name(1), "00000001.seg");
        assert_eq!(parse_segment_name("00000001.seg"), Some(1));
        assert_eq!(parse_segment_name("4294967295.seg"), Some(u32::MAX));
        assert_eq!(parse_segment_name("4294967296.seg"), None);
        assert_eq!(parse_segment_name(".seg"), None);
        assert_eq!(parse_segment_name("-1.seg"), None);
        assert_eq!(parse_segment_name("00000001.seg.tmp"), None);
    }

    #[test]
    fn reads_every_frame_of_a_clean_file() {
        let recs: Vec<Record> = (0..50).map(|i| msg(i, (i * 37 % 3000) as usize)).collect();
        let (bytes, _) = build(&recs);
        let items = scan(&bytes);
        assert_eq!(ids(&items), (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn frames_larger_than_a_chunk() {
        let recs = vec![msg(1, 10), msg(2, 3 * CHUNK + 5), msg(3, 10)];
        let (bytes, _) = build(&recs);
        assert_eq!(ids(&scan(&bytes)), vec![1, 2, 3]);
    }

    #[test]
    fn every_truncation_is_a_torn_tail_after_the_last_whole_frame() {
        let recs: Vec<Record> = (0..5).map(|i| msg(i, 100)).collect();
        let (bytes, offsets) = build(&recs);
        for cut in FILE_HEADER as usize..bytes.len() {
            let items = scan(&bytes[..cut]);
            let whole = offsets
                .iter()
                .zip(offsets.iter().skip(1).chain([&(bytes.len() as u64)]))
                .filter(|(_, &end)| end as usize <= cut)
                .count();
            assert_eq!(ids(&items).len(), whole, "cut at {cut}");
            let torn = items.iter().any(|i| matches!(i, Scanned::TornTail { .. }));
            assert_eq!(torn, !offsets.contains(&(cut as u64)), "cut at {cut}");
        }
    }

    #[test]
    fn a_corrupt_frame_in_the_middle_is_skipped_and_the_rest_read() {
        let recs: Vec<Record> = (0..10).map(|i| msg(i, 200)).collect();
        let (bytes, offsets) = build(&recs);
        for victim in [0usize, 4, 9] {
            for delta in [0u64, 5, 13, 100] {
                let mut b = bytes.clone();
                b[(offsets[victim] + delta) as usize] ^= 0x40;
                let items = scan(&b);
                let mut want: Vec<u64> = (0..10).collect();
                want.remove(victim);
                assert_eq!(ids(&items), want, "victim {victim} delta {delta}");
                let hole = items.iter().find_map(|i| match i {
                    Scanned::Corrupt { offset, .. } | Scanned::TornTail { offset, .. } => {
                        Some(*offset)
                    }
                    _ => None,
                });
                assert_eq!(hole, Some(offsets[victim]));
                if victim < 9 {
                    assert!(items.iter().any(|i| matches!(i, Scanned::Corrupt { .. })));
                }
            }
        }
    }

    #[test]
    fn a_record_embedded_in_a_body_is_not_mistaken_for_a_frame() {
        // A body that is itself a well-formed frame (for another position): if the outer
        // header is damaged, resync must not pick up the inner one.
        let mut inner = Vec::new();
        msg(77, 20).encode(1, 1000, &mut inner);
        let outer = Record::Message {
            id: 1,
            data: Bytes::from(inner),
        };
        let (mut bytes, offsets) = build(&[outer, msg(2, 5)]);
        bytes[offsets[0] as usize + 5] ^= 1;
        assert_eq!(ids(&scan(&bytes)), vec![2]);
    }

    #[test]
    fn garbage_is_a_torn_tail() {
        let mut b = FileHeader::new(SEGMENT_MAGIC, 1, 0).encode().to_vec();
        b.extend(std::iter::repeat_n(SYNC, 100).flatten());
        b.extend_from_slice(&[0xFF; 1000]);
        let items = scan(&b);
        assert_eq!(items.len(), 1);
        assert!(matches!(items[0], Scanned::TornTail { dropped: 1400, .. }));
    }
}
