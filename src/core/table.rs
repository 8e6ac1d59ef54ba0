//! Compact key tables for the snapshot index and the diff: one string arena plus a hash table of slot numbers.
//!
//! A `HashMap<String, _>` costs an allocation and ~50 bytes of overhead per key; at a million keys that is most of
//! the memory budget, so keys are packed into a single arena instead. Each slot keeps its key's hash, so growing
//! the table never hashes a key twice; the hasher is foldhash, seeded per table (a million keys through SipHash
//! made loading an index hash-bound).
use std::hash::BuildHasher;

use foldhash::fast::RandomState;

use hashbrown::HashTable;

/// A run of bytes in an arena, packed in 8 bytes (a million-key index holds three per key): the start in the
/// high 40 bits, the length in the low 24; all ones means "none".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span(u64);

const LEN_BITS: u32 = 24;
const LEN_MASK: u64 = (1 << LEN_BITS) - 1;
/// The longest string a span holds: keys and Shopify ids are far shorter; longer ones are cut at a character
/// boundary (16 MiB of primary key would not fit in any warehouse index either).
const MAX_LEN: usize = (LEN_MASK - 1) as usize;

impl Span {
    pub(crate) const NONE: Span = Span(u64::MAX);

    pub(crate) fn is_none(self) -> bool {
        self == Span::NONE
    }

    fn start(self) -> usize {
        (self.0 >> LEN_BITS) as usize
    }

    fn len(self) -> usize {
        (self.0 & LEN_MASK) as usize
    }
}

/// Append-only text storage addressed by [`Span`]s.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    text: String,
}

impl Arena {
    pub(crate) fn push(&mut self, s: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(&s[..floor_char_boundary(s, MAX_LEN)]);
        // 40 bits of start address a terabyte of text, more than any index can hold in memory.
        Span(((start as u64) << LEN_BITS) | (self.text.len() - start) as u64)
    }

    pub(crate) fn push_opt(&mut self, s: Option<&str>) -> Span {
        s.map_or(Span::NONE, |s| self.push(s))
    }

    pub(crate) fn get(&self, span: Span) -> Option<&str> {
        if span.is_none() {
            return None;
        }
        self.text.get(span.start()..span.start() + span.len())
    }

    pub(crate) fn bytes(&self) -> usize {
        self.text.capacity()
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A map from string keys to `T`, with keys in an arena.
#[derive(Debug)]
pub(crate) struct KeyMap<T> {
    keys: Arena,
    slots: Vec<Slot<T>>,
    table: HashTable<u32>,
    state: RandomState,
}

#[derive(Debug)]
struct Slot<T> {
    key: Span,
    hash: u64,
    value: T,
}

impl<T> Default for KeyMap<T> {
    fn default() -> Self {
        Self {
            keys: Arena::default(),
            slots: Vec::new(),
            table: HashTable::new(),
            state: RandomState::default(),
        }
    }
}

impl<T> KeyMap<T> {
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    fn find(&self, key: &str) -> Option<u32> {
        self.find_hashed(key, self.state.hash_one(key))
    }

    fn find_hashed(&self, key: &str, hash: u64) -> Option<u32> {
        self.table
            .find(hash, |&i| {
                let slot = &self.slots[i as usize];
                slot.hash == hash && self.keys.get(slot.key) == Some(key)
            })
            .copied()
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut T> {
        let i = self.find(key)?;
        Some(&mut self.slots[i as usize].value)
    }

    /// Inserts or replaces the value for `key`.
    pub(crate) fn insert(&mut self, key: &str, value: T) {
        let hash = self.state.hash_one(key);
        if let Some(i) = self.find_hashed(key, hash) {
            self.slots[i as usize].value = value;
            return;
        }
        self.insert_new(key, value);
    }

    /// Adds `key` without looking for it first: for callers that know their keys are unique (a state store
    /// reading its primary key), where the lookup would cost a cache miss per key for nothing. A key added twice
    /// would have two slots.
    pub(crate) fn insert_new(&mut self, key: &str, value: T) {
        let hash = self.state.hash_one(key);
        let span = self.keys.push(key);
        let index = self.slots.len() as u32;
        self.slots.push(Slot {
            key: span,
            hash,
            value,
        });
        let slots = &self.slots;
        self.table
            .insert_unique(hash, index, |&i| slots[i as usize].hash);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.slots
            .iter()
            .map(|slot| (self.keys.get(slot.key).unwrap_or_default(), &slot.value))
    }

    /// Approximate heap use, for diagnostics.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.keys.bytes() + self.slots.capacity() * size_of::<Slot<T>>() + self.table.capacity() * 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_find_replace_iterate() {
        let mut map = KeyMap::default();
        for i in 0..10_000u32 {
            map.insert(&format!("key-{i}"), i);
        }
        map.insert("key-5", 55);
        assert_eq!(map.len(), 10_000);
        assert_eq!(map.get_mut("key-5").copied(), Some(55));
        assert_eq!(map.get_mut("key-9999").copied(), Some(9999));
        assert_eq!(map.get_mut("nope"), None);
        assert_eq!(
            map.iter().filter(|(k, _)| k.starts_with("key-1")).count(),
            1111
        );
    }

    #[test]
    fn arena_none_and_text() {
        let mut arena = Arena::default();
        let a = arena.push("héllo");
        let n = arena.push_opt(None);
        assert_eq!(arena.get(a), Some("héllo"));
        assert_eq!(arena.get(n), None);
        // An empty string is a value, not "none"; spans after it still point at their own text.
        let e = arena.push("");
        let b = arena.push("gid://shopify/Customer/1");
        assert_eq!(arena.get(e), Some(""));
        assert_eq!(arena.get(b), Some("gid://shopify/Customer/1"));
        assert_eq!(arena.get(a), Some("héllo"));
        // Longer than a span holds: cut at a character boundary below the limit.
        let long = "é".repeat(MAX_LEN / 2 + 1);
        let l = arena.push(&long);
        let got = arena.get(l).unwrap();
        assert!(got.len() <= MAX_LEN && long.starts_with(got) && got.len() > MAX_LEN - 2);
    }
}
