//! What reports gather and work out, kept between reports under the write versions
//! ([`loopwise_store::versions`]) of the data it came from: the environments of a service's
//! deployments, a repository's commit graph, a service's path and hotfix flags, each chain's analysis. A
//! report re-reads only the scopes written since, so on a large store a report costs the
//! figures of the window, not a reading of every commit. Entries never expire by the clock:
//! only a newer write version replaces them.

use loopwise_store::StoreError;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

#[derive(Debug)]
struct Entry<T> {
    versions: Vec<i64>,
    value: T,
    /// When it was last handed out, in the shelf's own count of uses.
    last_used: u64,
}

#[derive(Debug)]
struct Entries<K, T> {
    map: HashMap<K, Entry<T>>,
    uses: u64,
}

/// A bound on what a shelf holds: the sum of its values' weights (say, commits).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget<T> {
    pub(crate) limit: usize,
    pub(crate) weigh: fn(&T) -> usize,
}

/// One kind of cached value, by key. Values are shared read-only (`Arc` inside `T`); two
/// concurrent reports may both load a missing entry, never see a half-built one. A shelf with
/// a [`Budget`] lets go of the values used longest ago when a new one takes it over the
/// limit (never of the new one itself).
#[derive(Debug)]
pub(crate) struct Shelf<K, T> {
    entries: Mutex<Entries<K, T>>,
    budget: Option<Budget<T>>,
}

impl<K, T> Default for Shelf<K, T> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                uses: 0,
            }),
            budget: None,
        }
    }
}

impl<K: Hash + Eq + Clone, T: Clone> Shelf<K, T> {
    pub(crate) fn with_budget(budget: Budget<T>) -> Self {
        Self {
            budget: Some(budget),
            ..Self::default()
        }
    }

    /// The value under `key` if it was built under `versions`; nothing is loaded.
    pub(crate) fn peek(&self, key: &K, versions: &[i64]) -> Option<T> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.uses += 1;
        let now = entries.uses;
        let entry = entries
            .map
            .get_mut(key)
            .filter(|entry| entry.versions == versions)?;
        entry.last_used = now;
        Some(entry.value.clone())
    }

    /// The value under `key` if it was built under `versions`, else what `load` builds, which
    /// is kept.
    pub(crate) fn get(
        &self,
        key: K,
        versions: Vec<i64>,
        load: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.get_where(key, versions, |_| true, load)
    }

    /// [`Shelf::get`], where a kept value is used only if it is also `good_enough` (a chain's
    /// analysis read back from the store, when its commits are needed, is not): else `load`
    /// builds one, which replaces it.
    pub(crate) fn get_where(
        &self,
        key: K,
        versions: Vec<i64>,
        good_enough: impl FnOnce(&T) -> bool,
        load: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let lock = || {
            self.entries
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        {
            let mut entries = lock();
            entries.uses += 1;
            let now = entries.uses;
            if let Some(entry) = entries.map.get_mut(&key)
                && entry.versions == versions
                && good_enough(&entry.value)
            {
                entry.last_used = now;
                return Ok(entry.value.clone());
            }
        }
        let value = load()?;
        let mut entries = lock();
        entries.uses += 1;
        let last_used = entries.uses;
        entries.map.insert(
            key.clone(),
            Entry {
                versions,
                value: value.clone(),
                last_used,
            },
        );
        if let Some(budget) = &self.budget {
            let weight = |entries: &Entries<K, T>| -> usize {
                entries
                    .map
                    .values()
                    .map(|entry| (budget.weigh)(&entry.value))
                    .sum()
            };
            while weight(&entries) > budget.limit {
                let Some(oldest) = entries
                    .map
                    .iter()
                    .filter(|(other, _)| **other != key)
                    .min_by_key(|(_, entry)| entry.last_used)
                    .map(|(other, _)| other.clone())
                else {
                    break;
                };
                entries.map.remove(&oldest);
            }
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_reused_until_its_versions_move() {
        let shelf: Shelf<&str, u32> = Shelf::default();
        let mut loads = 0;
        let mut get = |versions: Vec<i64>| {
            shelf
                .get("k", versions, || {
                    loads += 1;
                    Ok(loads)
                })
                .unwrap()
        };
        assert_eq!(get(vec![1]), 1);
        assert_eq!(get(vec![1]), 1, "same versions: kept");
        assert_eq!(get(vec![2]), 2, "a newer write: loaded again");
        assert_eq!(get(vec![2, 0]), 3);
        assert_eq!(shelf.peek(&"k", &[2, 0]), Some(3));
        assert_eq!(shelf.peek(&"k", &[2, 1]), None, "other versions");
        assert_eq!(shelf.peek(&"other", &[2, 0]), None);
        let odd = shelf
            .get_where("k", vec![2, 0], |value| value % 2 == 0, || Ok(10))
            .unwrap();
        assert_eq!(odd, 10, "3 is not good enough: replaced");
        let kept = shelf
            .get_where("k", vec![2, 0], |value| value % 2 == 0, || Ok(20))
            .unwrap();
        assert_eq!(kept, 10, "10 is good enough: kept");
    }

    #[test]
    fn a_budget_lets_go_of_what_was_used_longest_ago() {
        let shelf: Shelf<&str, usize> = Shelf::with_budget(Budget {
            limit: 10,
            weigh: |value| *value,
        });
        let get = |key, value| shelf.get(key, vec![1], || Ok(value)).unwrap();
        assert_eq!(get("a", 4), 4);
        assert_eq!(get("b", 4), 4);
        assert_eq!(get("a", 99), 4, "a is kept, and now used after b");
        assert_eq!(get("c", 4), 4, "4 + 4 + 4 > 10: b, used longest ago, goes");
        assert_eq!(get("a", 99), 4, "a stayed");
        assert_eq!(get("b", 5), 5, "b was let go: loaded again");
        assert_eq!(
            get("big", 50),
            50,
            "over the limit alone: kept, everything else goes"
        );
        assert_eq!(get("a", 7), 7);
    }
}
