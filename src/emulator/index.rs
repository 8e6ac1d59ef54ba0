//! Secondary indexes over the shop's records, so lookups by email, phone, handle, code or (item, location)
//! stay O(log n) and a bulk operation over n records stays O(n log n).
//!
//! Uniqueness is Shopify's rule and the domain enforces it, but seeded data may hold duplicates; every index
//! therefore keeps each (key, id) pair and answers the lowest id, which is what a scan of the id-ordered store
//! answered before the indexes existed.
use std::collections::BTreeSet;

/// Ids by a string key, several ids per key allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyIndex {
    pairs: BTreeSet<(String, u64)>,
}

impl KeyIndex {
    /// Records that `id` holds `key`.
    pub fn insert(&mut self, key: &str, id: u64) {
        self.pairs.insert((key.to_string(), id));
    }

    /// Forgets that `id` holds `key` (nothing happens when it did not).
    pub fn remove(&mut self, key: &str, id: u64) {
        self.pairs.remove(&(key.to_string(), id));
    }

    /// Every id holding `key`, lowest first.
    pub fn ids<'a>(&'a self, key: &str) -> impl Iterator<Item = u64> + 'a {
        let key = key.to_string();
        self.pairs
            .range((key.clone(), 0)..=(key, u64::MAX))
            .map(|(_, id)| *id)
    }

    /// The lowest id holding `key`.
    pub fn first(&self, key: &str) -> Option<u64> {
        self.ids(key).next()
    }

    /// Whether a record other than `id` holds `key`.
    pub fn held_by_other(&self, key: &str, id: u64) -> bool {
        self.ids(key).any(|o| o != id)
    }

    /// Entries (pairs) held.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_id_answers_and_removal_is_exact() {
        let mut ix = KeyIndex::default();
        ix.insert("a", 7);
        ix.insert("a", 3);
        ix.insert("ab", 1);
        assert_eq!(ix.first("a"), Some(3));
        assert!(ix.held_by_other("a", 3));
        ix.remove("a", 3);
        assert_eq!(ix.first("a"), Some(7));
        assert!(!ix.held_by_other("a", 7));
        ix.remove("a", 7);
        assert_eq!(
            ix.first("a"),
            None,
            "a prefix of another key is not that key"
        );
        assert_eq!(ix.first("ab"), Some(1));
        assert_eq!(ix.len(), 1);
    }
}
