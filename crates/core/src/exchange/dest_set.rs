//! The bindings that share one match position (a direct key, a trie node, a whole fanout
//! exchange), grouped by destination.
//!
//! Grouping by destination means routing yields each destination once per position even
//! when it is bound there several times (different arguments), which saves the caller's
//! dedup most of its work. Entries live in a `Vec` because routing iterates far more often
//! than bindings change; a hash index is added only when one position holds many
//! destinations (a fanout to thousands of queues), so the common one-binding position
//! stays small and bind/unbind stay O(1) for the big ones.

use super::args::same_args;
use amqp_codec::FieldTable;
use std::collections::HashMap;
use std::hash::Hash;

/// Beyond this many destinations a position keeps a hash index of them.
const INDEX_FROM: usize = 8;

/// The part of a binding's identity not already fixed by its position.
pub(crate) trait Identity {
    fn same(&self, other: &Self) -> bool;
}

impl Identity for FieldTable {
    fn same(&self, other: &Self) -> bool {
        same_args(self, other)
    }
}

pub(crate) struct Entry<D, I> {
    pub(crate) dest: D,
    /// Never empty: an entry goes when its last binding does.
    pub(crate) ids: Vec<I>,
}

pub(crate) struct DestSet<D, I> {
    entries: Vec<Entry<D, I>>,
    /// Boxed: most positions never have one, and an empty slot is then 8 bytes
    /// instead of 48 (in every topic trie node, among others).
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<D, usize>>>,
}

impl<D, I> Default for DestSet<D, I> {
    fn default() -> Self {
        DestSet {
            entries: Vec::new(),
            index: None,
        }
    }
}

impl<D: Clone + Eq + Hash, I: Identity> DestSet<D, I> {
    fn position(&self, dest: &D) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(dest).copied(),
            None => self.entries.iter().position(|e| e.dest == *dest),
        }
    }

    /// Adds a binding; false when an identical one is already here.
    pub(crate) fn insert(&mut self, id: I, dest: D) -> bool {
        if let Some(entry) = self.position(&dest).and_then(|p| self.entries.get_mut(p)) {
            let ids = &mut entry.ids;
            if ids.iter().any(|x| x.same(&id)) {
                return false;
            }
            ids.push(id);
        } else {
            let p = self.entries.len();
            if let Some(index) = &mut self.index {
                index.insert(dest.clone(), p);
            } else if p >= INDEX_FROM {
                let mut index: HashMap<D, usize> = self
                    .entries
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (e.dest.clone(), i))
                    .collect();
                index.insert(dest.clone(), p);
                self.index = Some(Box::new(index));
            }
            if self.entries.is_empty() {
                // Most positions hold one destination (a queue's own key): room for
                // one, not the four a first push makes (120 bytes a binding).
                self.entries.reserve_exact(1);
            }
            self.entries.push(Entry {
                dest,
                ids: vec![id],
            });
        }
        true
    }

    /// Removes one binding; false when it is not here.
    pub(crate) fn remove(&mut self, id: &I, dest: &D) -> bool {
        let Some(p) = self.position(dest) else {
            return false;
        };
        let Some(Entry { ids, .. }) = self.entries.get_mut(p) else {
            return false;
        };
        let Some(i) = ids.iter().position(|x| x.same(id)) else {
            return false;
        };
        ids.swap_remove(i);
        if ids.is_empty() {
            self.remove_entry(p);
        }
        true
    }

    /// Removes every binding to `dest` here; returns how many there were.
    pub(crate) fn remove_dest(&mut self, dest: &D) -> usize {
        match self.position(dest) {
            Some(p) => self.remove_entry(p),
            None => 0,
        }
    }

    fn remove_entry(&mut self, p: usize) -> usize {
        if p >= self.entries.len() {
            return 0;
        }
        let gone = self.entries.swap_remove(p);
        if let Some(index) = &mut self.index {
            index.remove(&gone.dest);
            if let Some(moved) = self.entries.get(p) {
                index.insert(moved.dest.clone(), p);
            }
        }
        gone.ids.len()
    }

    /// Pushes every destination here once.
    pub(crate) fn push_dests(&self, out: &mut Vec<D>) {
        out.extend(self.entries.iter().map(|e| e.dest.clone()));
    }
}

/// Read-only views, which need no bounds on `D`.
impl<D, I> DestSet<D, I> {
    pub(crate) fn entries(&self) -> &[Entry<D, I>] {
        &self.entries
    }

    /// The number of bindings (not destinations) here.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.iter().map(|e| e.ids.len()).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqp_codec::FieldValue;

    fn args(n: i32) -> FieldTable {
        let mut t = FieldTable::new();
        t.insert("n", FieldValue::I32(n));
        t
    }

    #[test]
    fn duplicate_is_refused_and_different_args_are_kept() {
        let mut s: DestSet<u32, FieldTable> = DestSet::default();
        assert!(s.insert(args(1), 7));
        assert!(!s.insert(args(1), 7));
        assert!(s.insert(args(2), 7));
        assert_eq!(s.len(), 2);
        let mut out = Vec::new();
        s.push_dests(&mut out);
        assert_eq!(out, vec![7], "one destination is yielded once");
    }

    #[test]
    fn index_survives_many_inserts_and_removals() {
        let mut s: DestSet<u32, FieldTable> = DestSet::default();
        for d in 0..100 {
            assert!(s.insert(FieldTable::new(), d));
        }
        for d in (0..100).step_by(3) {
            assert!(s.remove(&FieldTable::new(), &d));
            assert!(!s.remove(&FieldTable::new(), &d));
        }
        for d in 0..100 {
            assert_eq!(s.position(&d).is_some(), d % 3 != 0, "dest {d}");
        }
        assert_eq!(s.len(), 66);
        for d in 0..100 {
            s.remove_dest(&d);
        }
        assert!(s.is_empty());
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn remove_dest_counts_every_binding() {
        let mut s: DestSet<u32, FieldTable> = DestSet::default();
        s.insert(args(1), 1);
        s.insert(args(2), 1);
        s.insert(args(1), 2);
        assert_eq!(s.remove_dest(&1), 2);
        assert_eq!(s.remove_dest(&1), 0);
        assert_eq!(s.len(), 1);
    }
}
