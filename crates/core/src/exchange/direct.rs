//! Direct exchange: a message goes to the bindings whose key equals its routing key
//! byte for byte (binding key `""` matches only routing key `""`).

use super::dest_set::DestSet;
use amqp_codec::FieldTable;
use std::collections::HashMap;
use std::hash::Hash;

pub(crate) struct DirectTable<D> {
    by_key: HashMap<Box<str>, DestSet<D, FieldTable>>,
}

impl<D> Default for DirectTable<D> {
    fn default() -> Self {
        DirectTable {
            by_key: HashMap::new(),
        }
    }
}

impl<D: Clone + Eq + Hash> DirectTable<D> {
    pub(crate) fn insert(&mut self, key: &str, args: FieldTable, dest: D) -> bool {
        match self.by_key.get_mut(key) {
            Some(set) => set.insert(args, dest),
            None => {
                let mut set = DestSet::default();
                set.insert(args, dest);
                self.by_key.insert(key.into(), set);
                true
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &str, args: &FieldTable, dest: &D) -> bool {
        self.edit(key, |set| usize::from(set.remove(args, dest))) == 1
    }

    pub(crate) fn remove_dest(&mut self, key: &str, dest: &D) -> usize {
        self.edit(key, |set| set.remove_dest(dest))
    }

    /// Applies `f` to the key's set and drops the set when it becomes empty, so a
    /// table that saw many short-lived keys does not keep them all.
    fn edit(&mut self, key: &str, f: impl FnOnce(&mut DestSet<D, FieldTable>) -> usize) -> usize {
        let Some(set) = self.by_key.get_mut(key) else {
            return 0;
        };
        let n = f(set);
        if set.is_empty() {
            self.by_key.remove(key);
        }
        n
    }

    pub(crate) fn route(&self, routing_key: &str, out: &mut Vec<D>) {
        if let Some(set) = self.by_key.get(routing_key) {
            set.push_dests(out);
        }
    }

    pub(crate) fn for_each(&self, mut f: impl FnMut(&str, &FieldTable, &D)) {
        for (key, set) in &self.by_key {
            for e in set.entries() {
                for args in &e.ids {
                    f(key, args, &e.dest);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routed(t: &DirectTable<u32>, key: &str) -> Vec<u32> {
        let mut out = Vec::new();
        t.route(key, &mut out);
        out.sort();
        out
    }

    #[test]
    fn exact_key_only() {
        let mut t = DirectTable::default();
        let none = FieldTable::new();
        t.insert("a", none.clone(), 1);
        t.insert("a", none.clone(), 2);
        t.insert("a.b", none.clone(), 3);
        t.insert("", none.clone(), 4);
        assert_eq!(routed(&t, "a"), vec![1, 2]);
        assert_eq!(routed(&t, "a.b"), vec![3]);
        assert_eq!(routed(&t, "A"), Vec::<u32>::new(), "case matters");
        assert_eq!(routed(&t, "a.*"), Vec::<u32>::new(), "no wildcards");
        assert_eq!(routed(&t, ""), vec![4]);
        assert_eq!(routed(&t, "b"), Vec::<u32>::new());
    }

    #[test]
    fn unbinding_last_binding_drops_the_key() {
        let mut t = DirectTable::default();
        t.insert("k", FieldTable::new(), 1);
        assert!(t.remove("k", &FieldTable::new(), &1));
        assert!(!t.remove("k", &FieldTable::new(), &1));
        assert!(t.by_key.is_empty());
        assert_eq!(routed(&t, "k"), Vec::<u32>::new());
    }
}
