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
}

/// One kind of cached value, by key. Values are shared read-only (`Arc` inside `T`); two
/// concurrent reports may both load a missing entry, never see a half-built one.
#[derive(Debug)]
pub(crate) struct Shelf<K, T> {
    entries: Mutex<HashMap<K, Entry<T>>>,
}

impl<K, T> Default for Shelf<K, T> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq, T: Clone> Shelf<K, T> {
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
        if let Some(entry) = lock().get(&key)
            && entry.versions == versions
            && good_enough(&entry.value)
        {
            return Ok(entry.value.clone());
        }
        let value = load()?;
        lock().insert(
            key,
            Entry {
                versions,
                value: value.clone(),
            },
        );
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
        let odd = shelf
            .get_where("k", vec![2, 0], |value| value % 2 == 0, || Ok(10))
            .unwrap();
        assert_eq!(odd, 10, "3 is not good enough: replaced");
        let kept = shelf
            .get_where("k", vec![2, 0], |value| value % 2 == 0, || Ok(20))
            .unwrap();
        assert_eq!(kept, 10, "10 is good enough: kept");
    }
}
