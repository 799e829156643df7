//! Topic exchange: a trie over the words of binding keys, with `*` and `#` edges.
//!
//! Keys split on `.` as RabbitMQ splits them: `""` is zero words, `"."` two empty
//! words, `"a."` is `a` and an empty word. `*` matches exactly one word (an empty one
//! too); `#` matches zero or more words.
//!
//! Matching runs the trie as an NFA: the set of nodes reached after each word, with
//! duplicates removed. A node entered through a `#` edge stays in the set for every
//! further word, and whenever a node joins the set its `#` child joins too (zero words).
//! Deduplicating per word bounds the work by words × live nodes, so `#.#.#` or
//! `a.#.#.b` cost no more than `#`, where a backtracking matcher goes exponential.
//! The sets live on the stack for the usual handful of nodes, so routing allocates
//! nothing.

use super::dest_set::DestSet;
use crate::fast_hash::FastMap;
use amqp_codec::FieldTable;
use std::hash::Hash;

pub(crate) struct TopicTable<D> {
    root: Node<D>,
}

struct Node<D> {
    /// Children by word; `None` for none. Boxed because most nodes (every leaf, so
    /// one per distinct key such as an MQTT client's own topic) have none, and an
    /// empty map kept in place is 48 bytes in each of them.
    #[allow(clippy::box_collection)]
    words: Option<Box<FastMap<Box<str>, Node<D>>>>,
    star: Option<Box<Node<D>>>,
    hash: Option<Box<Node<D>>>,
    /// Entered through a `#` edge, so it absorbs any number of further words.
    absorbs: bool,
    bindings: DestSet<D, FieldTable>,
}

impl<D> Node<D> {
    fn new(absorbs: bool) -> Node<D> {
        Node {
            words: None,
            star: None,
            hash: None,
            absorbs,
            bindings: DestSet::default(),
        }
    }

    fn is_empty(&self) -> bool {
        self.bindings.is_empty()
            && self.words.is_none()
            && self.star.is_none()
            && self.hash.is_none()
    }

    /// The child for binding-key word `w`, created when missing.
    fn child_or_insert(&mut self, w: &str) -> Option<&mut Node<D>> {
        match w {
            "#" => Some(self.hash.get_or_insert_with(|| Box::new(Node::new(true)))),
            "*" => Some(self.star.get_or_insert_with(|| Box::new(Node::new(false)))),
            _ => {
                let words = self.words.get_or_insert_with(Default::default);
                if !words.contains_key(w) {
                    words.insert(w.into(), Node::new(false));
                }
                words.get_mut(w)
            }
        }
    }
}

/// The words of a key; `""` has none.
fn words(key: &str) -> impl Iterator<Item = &str> {
    (!key.is_empty())
        .then(|| key.split('.'))
        .into_iter()
        .flatten()
}

impl<D> Default for TopicTable<D> {
    fn default() -> Self {
        TopicTable {
            root: Node::new(false),
        }
    }
}

impl<D: Clone + Eq + Hash> TopicTable<D> {
    pub(crate) fn insert(&mut self, key: &str, args: FieldTable, dest: D) -> bool {
        let mut node = &mut self.root;
        for w in words(key) {
            match node.child_or_insert(w) {
                Some(child) => node = child,
                None => return false,
            }
        }
        node.bindings.insert(args, dest)
    }

    pub(crate) fn remove(&mut self, key: &str, args: &FieldTable, dest: &D) -> bool {
        let mut ws = words(key);
        remove_at(&mut self.root, &mut ws, &mut |set| {
            usize::from(set.remove(args, dest))
        }) == 1
    }

    pub(crate) fn remove_dest(&mut self, key: &str, dest: &D) -> usize {
        let mut ws = words(key);
        remove_at(&mut self.root, &mut ws, &mut |set| set.remove_dest(dest))
    }

    pub(crate) fn route(&self, routing_key: &str, out: &mut Vec<D>) {
        let mut cur = StateSet::new();
        let mut next = StateSet::new();
        cur.add_with_hash_children(&self.root);
        for word in words(routing_key) {
            for node in cur.iter() {
                if let Some(child) = node.words.as_ref().and_then(|ws| ws.get(word)) {
                    next.add_with_hash_children(child);
                }
                if let Some(child) = node.star.as_deref() {
                    next.add_with_hash_children(child);
                }
                if node.absorbs {
                    next.add_with_hash_children(node);
                }
            }
            if next.is_empty() {
                return;
            }
            std::mem::swap(&mut cur, &mut next);
            next.clear();
        }
        for node in cur.iter() {
            node.bindings.push_dests(out);
        }
    }

    pub(crate) fn for_each(&self, mut f: impl FnMut(&str, &FieldTable, &D)) {
        let mut path = Vec::new();
        visit(&self.root, &mut path, &mut f);
    }

    #[cfg(test)]
    fn node_count(&self) -> usize {
        fn count<D>(n: &Node<D>) -> usize {
            1 + n
                .words
                .iter()
                .flat_map(|ws| ws.values())
                .map(count)
                .sum::<usize>()
                + n.star.as_deref().map_or(0, count)
                + n.hash.as_deref().map_or(0, count)
        }
        count(&self.root)
    }
}

/// Follows `ws` from `node`, applies `f` to the bindings at the end, and prunes every
/// node left empty on the way back. Recursion depth is the key's word count, at most
/// 128 for a 255-byte shortstr key.
fn remove_at<'k, D: Clone + Eq + Hash>(
    node: &mut Node<D>,
    ws: &mut impl Iterator<Item = &'k str>,
    f: &mut impl FnMut(&mut DestSet<D, FieldTable>) -> usize,
) -> usize {
    let Some(w) = ws.next() else {
        return f(&mut node.bindings);
    };
    match w {
        "#" | "*" => {
            let slot = if w == "#" {
                &mut node.hash
            } else {
                &mut node.star
            };
            let Some(child) = slot.as_deref_mut() else {
                return 0;
            };
            let n = remove_at(child, ws, f);
            if child.is_empty() {
                *slot = None;
            }
            n
        }
        _ => {
            let Some(words) = node.words.as_mut() else {
                return 0;
            };
            let Some(child) = words.get_mut(w) else {
                return 0;
            };
            let n = remove_at(child, ws, f);
            if child.is_empty() {
                words.remove(w);
                if words.is_empty() {
                    node.words = None;
                }
            }
            n
        }
    }
}

fn visit<'n, D>(
    node: &'n Node<D>,
    path: &mut Vec<&'n str>,
    f: &mut impl FnMut(&str, &FieldTable, &D),
) {
    if !node.bindings.is_empty() {
        let key = path.join(".");
        for e in node.bindings.entries() {
            for args in &e.ids {
                f(&key, args, &e.dest);
            }
        }
    }
    for (w, child) in node.words.iter().flat_map(|ws| ws.iter()) {
        path.push(w);
        visit(child, path, f);
        path.pop();
    }
    for (w, child) in [("*", &node.star), ("#", &node.hash)] {
        if let Some(child) = child.as_deref() {
            path.push(w);
            visit(child, path, f);
            path.pop();
        }
    }
}

/// Nodes this many or fewer are kept on the stack.
const INLINE_STATES: usize = 16;

/// A set of trie nodes, compared by address.
struct StateSet<'a, D> {
    inline: [Option<&'a Node<D>>; INLINE_STATES],
    len: usize,
    spill: Vec<&'a Node<D>>,
}

impl<'a, D> StateSet<'a, D> {
    fn new() -> Self {
        StateSet {
            inline: [None; INLINE_STATES],
            len: 0,
            spill: Vec::new(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &'a Node<D>> + '_ {
        self.inline
            .iter()
            .take(self.len)
            .flatten()
            .copied()
            .chain(self.spill.iter().copied())
    }

    fn contains(&self, node: &Node<D>) -> bool {
        self.iter().any(|n| std::ptr::eq(n, node))
    }

    /// Adds `node` and its chain of `#` children, which match with zero more words.
    /// A node already present brought its chain with it, so the walk stops there.
    fn add_with_hash_children(&mut self, node: &'a Node<D>) {
        let mut next = Some(node);
        while let Some(n) = next {
            if self.contains(n) {
                return;
            }
            match self.inline.get_mut(self.len) {
                Some(slot) => *slot = Some(n),
                None => self.spill.push(n),
            }
            self.len += 1;
            next = n.hash.as_deref();
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn clear(&mut self) {
        self.len = 0;
        self.spill.clear();
    }
}

#[cfg(test)]
#[path = "topic_tests.rs"]
mod tests;
