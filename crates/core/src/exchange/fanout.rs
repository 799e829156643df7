//! Fanout exchange: every binding matches, whatever the routing key.
//!
//! The routing key still belongs to a binding's identity (RabbitMQ keeps `q` bound with
//! keys `a` and `b` as two bindings), so it is stored, but routing never looks at it and
//! yields each destination once.

use super::args::same_args;
use super::dest_set::{DestSet, Identity};
use amqp_codec::FieldTable;
use std::hash::Hash;

/// A binding's key and arguments, for tables whose position does not fix the key.
pub(crate) struct KeyedArgs {
    pub(crate) key: Box<str>,
    pub(crate) args: FieldTable,
}

impl Identity for KeyedArgs {
    fn same(&self, other: &Self) -> bool {
        self.key == other.key && same_args(&self.args, &other.args)
    }
}

pub(crate) struct FanoutTable<D> {
    all: DestSet<D, KeyedArgs>,
}

impl<D> Default for FanoutTable<D> {
    fn default() -> Self {
        FanoutTable {
            all: DestSet::default(),
        }
    }
}

impl<D: Clone + Eq + Hash> FanoutTable<D> {
    pub(crate) fn insert(&mut self, key: &str, args: FieldTable, dest: D) -> bool {
        let key = key.into();
        self.all.insert(KeyedArgs { key, args }, dest)
    }

    pub(crate) fn remove(&mut self, key: &str, args: &FieldTable, dest: &D) -> bool {
        // Identity needs an owned probe; unbind is rare enough for the copy not to matter.
        let probe = KeyedArgs {
            key: key.into(),
            args: args.clone(),
        };
        self.all.remove(&probe, dest)
    }

    /// Removes every binding to `dest`; the key is irrelevant here.
    pub(crate) fn remove_dest(&mut self, dest: &D) -> usize {
        self.all.remove_dest(dest)
    }

    pub(crate) fn route(&self, out: &mut Vec<D>) {
        self.all.push_dests(out);
    }

    pub(crate) fn for_each(&self, mut f: impl FnMut(&str, &FieldTable, &D)) {
        for e in self.all.entries() {
            for id in &e.ids {
                f(&id.key, &id.args, &e.dest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_binding_matches_once_per_destination() {
        let mut t = FanoutTable::default();
        let none = FieldTable::new();
        assert!(t.insert("", none.clone(), 1));
        assert!(
            t.insert("x", none.clone(), 1),
            "another key is another binding"
        );
        assert!(!t.insert("x", none.clone(), 1));
        assert!(t.insert("y", none.clone(), 2));
        let mut out = Vec::new();
        t.route(&mut out);
        out.sort();
        assert_eq!(out, vec![1, 2]);
    }

    #[test]
    fn unbind_needs_the_same_key() {
        let mut t = FanoutTable::default();
        let none = FieldTable::new();
        t.insert("x", none.clone(), 1);
        assert!(!t.remove("y", &none, &1));
        assert!(t.remove("x", &none, &1));
        let mut out = Vec::new();
        t.route(&mut out);
        assert!(out.is_empty());
    }
}
