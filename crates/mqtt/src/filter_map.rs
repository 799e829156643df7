//! A session's subscriptions by topic filter. Most clients have one or a few, and
//! a hash map holds even one in a table of several buckets (~300 bytes for one
//! subscription, in each of 10,000 idle clients); a short list holds it in one
//! entry. Past `FEW` filters lookups by name would get slow, so the list turns
//! into a hash map. Deliveries only iterate, which a list does fastest.

use std::collections::HashMap;

/// Filters a list holds before it becomes a map.
const FEW: usize = 8;

pub(crate) enum FilterMap<V> {
    Few(Vec<(Box<str>, V)>),
    /// Boxed, so the usual list-holding value stays as small as the list.
    #[allow(clippy::box_collection)]
    Many(Box<HashMap<Box<str>, V>>),
}

impl<V> Default for FilterMap<V> {
    fn default() -> Self {
        FilterMap::Few(Vec::new())
    }
}

impl<V> FilterMap<V> {
    pub fn get(&self, filter: &str) -> Option<&V> {
        match self {
            FilterMap::Few(list) => list.iter().find(|(f, _)| **f == *filter).map(|(_, v)| v),
            FilterMap::Many(map) => map.get(filter),
        }
    }

    pub fn contains_key(&self, filter: &str) -> bool {
        self.get(filter).is_some()
    }

    /// Sets `filter`'s value, returning the one it replaced.
    pub fn insert(&mut self, filter: &str, value: V) -> Option<V> {
        match self {
            FilterMap::Few(list) => {
                if let Some((_, v)) = list.iter_mut().find(|(f, _)| **f == *filter) {
                    return Some(std::mem::replace(v, value));
                }
                if list.len() < FEW {
                    // One more slot, not the four a push would make room for.
                    list.reserve_exact(1);
                    list.push((filter.into(), value));
                    return None;
                }
                let mut map: HashMap<Box<str>, V> = std::mem::take(list).into_iter().collect();
                map.insert(filter.into(), value);
                *self = FilterMap::Many(Box::new(map));
                None
            }
            FilterMap::Many(map) => map.insert(filter.into(), value),
        }
    }

    pub fn remove(&mut self, filter: &str) -> Option<V> {
        match self {
            FilterMap::Few(list) => {
                let at = list.iter().position(|(f, _)| **f == *filter)?;
                let (_, v) = list.remove(at);
                if list.is_empty() {
                    // An emptied session holds nothing.
                    *list = Vec::new();
                }
                Some(v)
            }
            FilterMap::Many(map) => map.remove(filter),
        }
    }

    pub fn clear(&mut self) {
        *self = FilterMap::default();
    }

    /// Every filter and its value, in no particular order. (An enum, not a boxed
    /// iterator: deliveries iterate, and must not allocate to do it.)
    pub fn iter(&self) -> Iter<'_, V> {
        match self {
            FilterMap::Few(list) => Iter::Few(list.iter()),
            FilterMap::Many(map) => Iter::Many(map.iter()),
        }
    }

    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }
}

pub(crate) enum Iter<'a, V> {
    Few(std::slice::Iter<'a, (Box<str>, V)>),
    Many(std::collections::hash_map::Iter<'a, Box<str>, V>),
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a str, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Few(it) => it.next().map(|(f, v)| (&**f, v)),
            Iter::Many(it) => it.next().map(|(f, v)| (&**f, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(map: &FilterMap<u32>) -> Vec<(String, u32)> {
        let mut all: Vec<_> = map.iter().map(|(f, v)| (f.to_string(), *v)).collect();
        all.sort();
        all
    }

    #[test]
    fn one_filter_takes_one_slot() {
        let mut map = FilterMap::default();
        assert_eq!(map.insert("a/b", 1), None);
        match &map {
            FilterMap::Few(list) => assert_eq!(list.capacity(), 1),
            FilterMap::Many(_) => panic!("one filter is few"),
        }
        assert_eq!(map.insert("a/b", 2), Some(1), "replaced, not added");
        assert_eq!(sorted(&map), [("a/b".to_string(), 2)]);
        assert_eq!(map.remove("a/b"), Some(2));
        assert_eq!(map.remove("a/b"), None);
        assert!(!map.contains_key("a/b"));
    }

    #[test]
    fn many_filters_move_to_a_map_and_keep_every_entry() {
        let mut map = FilterMap::default();
        for i in 0..20u32 {
            assert_eq!(map.insert(&format!("t/{i}"), i), None);
        }
        assert!(matches!(map, FilterMap::Many(_)));
        assert_eq!(map.insert("t/3", 33), Some(3));
        assert_eq!(map.get("t/3"), Some(&33));
        assert_eq!(map.get("t/19"), Some(&19));
        assert_eq!(map.remove("t/0"), Some(0));
        assert_eq!(map.iter().count(), 19);
        assert_eq!(map.values().copied().max(), Some(33));
        map.clear();
        assert_eq!(map.iter().count(), 0);
    }
}
