//! A set of fixed-size items ordered by a `u64` key, kept compact: the items live in
//! a list of chunks (each a ring buffer of at most `CHUNK` items), every chunk's keys
//! below the next chunk's. An item costs its own size divided by how full the chunks
//! are (half to all; appends in key order fill them completely), where an ordered
//! tree costs key + value plus about half again in node slack.
//!
//! Lookups are two binary searches (which chunk, then where in it); inserting or
//! removing moves at most half a chunk; taking the first item is O(1). Made for
//! indexes that hold millions of entries arriving out of order (a delayed exchange
//! numbers its messages by due time).

use std::collections::VecDeque;

/// Items per chunk: large enough that the chunk list stays short (1,000 chunks for
/// a million items), small enough that an insert moves only a few KiB.
const CHUNK: usize = 1024;

/// An item of a [`SortedChunks`]: its key orders it and is unique in the set.
pub trait Keyed: Copy {
    fn key(&self) -> u64;
}

#[derive(Debug, Clone)]
pub struct SortedChunks<T> {
    /// Never an empty chunk.
    chunks: Vec<VecDeque<T>>,
    /// Each chunk's last key: the chunk search reads this one array instead of
    /// every chunk's buffer (a cache miss each).
    lasts: Vec<u64>,
    len: usize,
}

impl<T> Default for SortedChunks<T> {
    fn default() -> Self {
        SortedChunks {
            chunks: Vec::new(),
            lasts: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Keyed> SortedChunks<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunk `key` belongs in: the first whose last key is not below it (the
    /// last chunk for a key above all). `None` when there are no chunks.
    fn chunk_for(&self, key: u64) -> Option<usize> {
        if self.chunks.is_empty() {
            return None;
        }
        let i = self.lasts.partition_point(|&last| last < key);
        Some(i.min(self.chunks.len() - 1))
    }

    fn locate(&self, key: u64) -> Option<(usize, usize)> {
        let c = self.chunk_for(key)?;
        let i = self.chunks[c].binary_search_by_key(&key, T::key).ok()?;
        Some((c, i))
    }

    pub fn get(&self, key: u64) -> Option<&T> {
        let (c, i) = self.locate(key)?;
        Some(&self.chunks[c][i])
    }

    /// The item with `key`, to change in place (its key must stay the same).
    pub fn get_mut(&mut self, key: u64) -> Option<&mut T> {
        let (c, i) = self.locate(key)?;
        Some(&mut self.chunks[c][i])
    }

    pub fn contains(&self, key: u64) -> bool {
        self.locate(key).is_some()
    }

    /// Adds `item`; an item with the same key is replaced and returned.
    pub fn insert(&mut self, item: T) -> Option<T> {
        let key = item.key();
        let Some(mut c) = self.chunk_for(key) else {
            self.chunks.push(VecDeque::from([item]));
            self.lasts.push(key);
            self.len = 1;
            return None;
        };
        let c0 = c;
        let mut at = match self.chunks[c].binary_search_by_key(&key, T::key) {
            Ok(i) => return Some(std::mem::replace(&mut self.chunks[c][i], item)),
            Err(i) => i,
        };
        if self.chunks[c].len() >= CHUNK {
            // A full chunk first passes an item to a neighbour with room, so chunks
            // split only when their neighbours are full too (and stay fuller).
            let next_has_room = self.chunks.get(c + 1).is_some_and(|n| n.len() < CHUNK);
            let prev_has_room = c > 0 && self.chunks[c - 1].len() < CHUNK;
            if next_has_room {
                let moved = if at == CHUNK {
                    item
                } else {
                    let last = self.chunks[c].pop_back().expect("a full chunk");
                    self.chunks[c].insert(at, item);
                    last
                };
                self.chunks[c + 1].push_front(moved);
                self.len += 1;
                self.refresh_around(c0);
                return None;
            }
            if prev_has_room {
                if at == 0 {
                    self.chunks[c - 1].push_back(item);
                } else {
                    let first = self.chunks[c].pop_front().expect("a full chunk");
                    self.chunks[c - 1].push_back(first);
                    self.chunks[c].insert(at - 1, item);
                }
                self.len += 1;
                self.refresh_around(c0);
                return None;
            }
            if c + 1 == self.chunks.len() && at == CHUNK {
                // Past the end: a new chunk, leaving this one full (keys that arrive
                // in order fill every chunk).
                let mut next = VecDeque::with_capacity(CHUNK);
                next.push_back(item);
                self.chunks.push(next);
                self.lasts.push(key);
                self.len += 1;
                return None;
            }
            let mut right = VecDeque::with_capacity(CHUNK);
            right.extend(self.chunks[c].drain(CHUNK / 2..));
            self.chunks.insert(c + 1, right);
            self.lasts.insert(c + 1, 0);
            if at > CHUNK / 2 {
                c += 1;
                at -= CHUNK / 2;
            }
        }
        self.chunks[c].insert(at, item);
        self.len += 1;
        self.refresh_around(c0);
        None
    }

    /// Brings `lasts` up to date for chunk `c` and its neighbours.
    fn refresh_around(&mut self, c: usize) {
        let end = (c + 2).min(self.chunks.len());
        for i in c.saturating_sub(1)..end {
            if let Some(last) = self.chunks[i].back() {
                self.lasts[i] = last.key();
            }
        }
    }

    pub fn remove(&mut self, key: u64) -> Option<T> {
        let (c, i) = self.locate(key)?;
        let item = self.chunks[c].remove(i);
        self.after_removal(c);
        item
    }

    pub fn first(&self) -> Option<&T> {
        self.chunks.first().and_then(VecDeque::front)
    }

    pub fn pop_first(&mut self) -> Option<T> {
        let item = self.chunks.first_mut()?.pop_front();
        self.after_removal(0);
        item
    }

    /// Drops an emptied chunk; one left a quarter full joins a neighbour it fits in,
    /// so removals anywhere keep the chunks at least that full.
    fn after_removal(&mut self, c: usize) {
        self.len -= 1;
        let len = self.chunks[c].len();
        if len == 0 {
            self.chunks.remove(c);
            self.lasts.remove(c);
            return;
        }
        if len >= CHUNK / 4 {
            self.refresh_around(c);
            return;
        }
        let fits = |n: &VecDeque<T>| n.len() + len <= CHUNK * 3 / 4;
        if self.chunks.get(c + 1).is_some_and(fits) {
            let mut next = self.chunks.remove(c + 1);
            self.lasts.remove(c + 1);
            while let Some(item) = self.chunks[c].pop_back() {
                next.push_front(item);
            }
            self.chunks[c] = next;
        } else if c > 0 && fits(&self.chunks[c - 1]) {
            let small = self.chunks.remove(c);
            self.lasts.remove(c);
            self.chunks[c - 1].extend(small);
        }
        self.refresh_around(c.min(self.chunks.len() - 1));
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks.iter().flatten()
    }

    /// The items from `key` on (`key` itself included), in order.
    pub fn iter_from(&self, key: u64) -> impl Iterator<Item = &T> + '_ {
        let c = self.chunk_for(key).unwrap_or(0);
        let first = self.chunks.get(c).into_iter().flat_map(move |chunk| {
            let start = chunk.partition_point(|x| x.key() < key);
            chunk.range(start..)
        });
        first.chain(self.chunks.iter().skip(c + 1).flatten())
    }

    /// Allocated bytes: every chunk's capacity, and the chunk list.
    pub fn allocated_bytes(&self) -> usize {
        let items: usize = self.chunks.iter().map(VecDeque::capacity).sum();
        items * std::mem::size_of::<T>()
            + self.chunks.capacity() * std::mem::size_of::<VecDeque<T>>()
            + self.lasts.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Item(u64, u64);

    impl Keyed for Item {
        fn key(&self) -> u64 {
            self.0
        }
    }

    /// A pseudo-random permutation of `0..n` (`step` prime to `n`).
    fn shuffled(n: u64, step: u64) -> Vec<u64> {
        (0..n).map(|i| (i * step) % n).collect()
    }

    fn check_invariants(s: &SortedChunks<Item>) {
        assert!(s.chunks.iter().all(|c| !c.is_empty() && c.len() <= CHUNK));
        let lasts: Vec<u64> = s.chunks.iter().map(|c| c.back().unwrap().0).collect();
        assert_eq!(s.lasts, lasts, "last keys kept up to date");
        let keys: Vec<u64> = s.iter().map(|i| i.0).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "ordered and unique");
        assert_eq!(keys.len(), s.len());
    }

    #[test]
    fn behaves_like_an_ordered_map_under_random_inserts_and_removals() {
        let mut s = SortedChunks::new();
        let mut model = BTreeMap::new();
        for k in shuffled(50_000, 7919) {
            assert_eq!(s.insert(Item(k * 3, k)), None);
            model.insert(k * 3, k);
        }
        check_invariants(&s);
        assert!(s.chunks.len() > 50, "split into chunks");
        // Replacing keeps one item per key.
        assert_eq!(s.insert(Item(30, 99)), Some(Item(30, 10)));
        model.insert(30, 99);
        assert_eq!(s.get(30), Some(&Item(30, 99)));
        s.get_mut(30).unwrap().1 = 7;
        model.insert(30, 7);
        assert_eq!(s.get(30), Some(&Item(30, 7)));
        assert!(s.contains(30) && !s.contains(31));
        for k in shuffled(50_000, 104_729).into_iter().step_by(3) {
            assert_eq!(s.remove(k * 3).map(|i| i.1), model.remove(&(k * 3)));
            assert_eq!(s.remove(k * 3 + 1), None, "never there");
            if k % 997 == 0 {
                check_invariants(&s);
            }
        }
        check_invariants(&s);
        assert_eq!(
            s.iter().map(|i| (i.0, i.1)).collect::<Vec<_>>(),
            model.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>()
        );
        for from in [0, 1, 29, 30, 31, 77_777, 149_997, 200_000] {
            assert_eq!(
                s.iter_from(from).map(|i| i.0).collect::<Vec<_>>(),
                model.range(from..).map(|(k, _)| *k).collect::<Vec<_>>(),
                "from {from}"
            );
        }
        while let Some(first) = s.pop_first() {
            let (k, _) = model.pop_first().unwrap();
            assert_eq!(first.0, k);
            if k % 1009 == 0 {
                check_invariants(&s);
            }
        }
        assert!(model.is_empty() && s.is_empty() && s.chunks.is_empty());
        assert_eq!(s.iter_from(5).count(), 0);
        assert_eq!(s.first(), None);
    }

    #[test]
    fn random_removals_merge_sparse_chunks() {
        let mut s = SortedChunks::new();
        for k in 0..100 * CHUNK as u64 {
            s.insert(Item(k, k));
        }
        // Keep one key in 16: each chunk alone would be 1/16 full.
        for k in shuffled(100 * CHUNK as u64, 7919) {
            if k % 16 != 0 {
                assert!(s.remove(k).is_some());
            }
        }
        check_invariants(&s);
        assert_eq!(s.len(), 100 * CHUNK / 16);
        assert!(
            s.chunks.len() <= 100 * 4 / 16 + 1,
            "{} chunks",
            s.chunks.len()
        );
        assert_eq!(
            s.iter().map(|i| i.0).collect::<Vec<_>>(),
            (0..100 * CHUNK as u64).step_by(16).collect::<Vec<_>>()
        );
    }

    #[test]
    fn keys_in_order_fill_every_chunk() {
        let mut s = SortedChunks::new();
        for k in 0..10 * CHUNK as u64 {
            s.insert(Item(k, k));
        }
        assert_eq!(s.chunks.len(), 10);
        assert_eq!(
            s.allocated_bytes(),
            10 * CHUNK * 16 + s.chunks.capacity() * 32 + s.lasts.capacity() * 8
        );
        assert_eq!(s.first(), Some(&Item(0, 0)));
    }

    #[test]
    fn shuffled_keys_cost_well_under_a_tree() {
        let mut s = SortedChunks::new();
        for k in shuffled(200_000, 7919) {
            s.insert(Item(k, k));
        }
        check_invariants(&s);
        let per_item = s.allocated_bytes() as f64 / s.len() as f64;
        // 16-byte items; a BTreeMap<u64, u64> costs about 1.5 × 16 plus node headers.
        assert!(per_item < 20.0, "{per_item} bytes per item");
    }
}
