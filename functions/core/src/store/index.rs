//! Index records: the members of one collection — an organisation's rooms, its API keys, its
//! webhooks, its members; an account's organisations; the node registry; a room's chat
//! history — kept in one record, so listing a collection reads one record and then the page
//! it shows, whatever else the store holds. Nothing on a request path lists the store.
//!
//! An entry is a name with a number (a time, usually). The records an index names stay the
//! truth: readers skip entries whose record is gone, and writers repair the index whenever
//! they touch a record, so an entry lost to two writers racing on a store without
//! compare-and-swap (Spin's key-value interface has none) comes back at the next write.
//! Each change is read back and retried when another writer's change replaced it.

use std::collections::BTreeMap;

use origo_shared::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

use super::format::CURRENT;
use super::record;
use crate::platform::Platform;

/// Most entries one index holds.
pub const MAX_ENTRIES: usize = 10_000;

/// Attempts of one change before it is given up as contended.
const ATTEMPTS: usize = 8;

/// An index record (`{"v":2,"entries":{name: number}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    #[serde(default = "super::format::first")]
    pub v: u32,
    #[serde(default)]
    pub entries: BTreeMap<String, u64>,
}

impl Default for Index {
    fn default() -> Self {
        Index::new()
    }
}

impl Index {
    pub fn new() -> Self {
        Index { v: CURRENT, entries: BTreeMap::new() }
    }

    /// Decodes a stored index (absent or unreadable: empty).
    pub fn decode(bytes: Option<&[u8]>) -> Self {
        bytes.and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.clone();
        out.v = CURRENT;
        serde_json::to_vec(&out).unwrap_or_default()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Up to `limit` names after `after` (`""`: from the start), in order.
    pub fn page(&self, after: &str, limit: usize) -> Vec<&str> {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = if after.is_empty() { Unbounded } else { Excluded(after) };
        self.entries.range::<str, _>((start, Unbounded)).take(limit).map(|(k, _)| k.as_str()).collect()
    }

    /// Up to `limit` names below `before` (all names when it is empty), the ones just below it,
    /// in ascending order.
    pub fn page_before(&self, before: &str, limit: usize) -> Vec<&str> {
        use std::ops::Bound::{Excluded, Unbounded};
        let end = if before.is_empty() { Unbounded } else { Excluded(before) };
        let mut names: Vec<&str> =
            self.entries.range::<str, _>((Unbounded, end)).rev().take(limit).map(|(k, _)| k.as_str()).collect();
        names.reverse();
        names
    }

    /// Adds (or updates) `name`; when the index then holds more than `cap` entries the
    /// lowest-named ones are evicted and returned (names that sort by time evict the oldest).
    pub fn insert_capped(&mut self, name: &str, value: u64, cap: usize) -> Vec<String> {
        self.entries.insert(name.to_owned(), value);
        let mut evicted = Vec::new();
        while self.entries.len() > cap {
            let Some((k, _)) = self.entries.pop_first() else { break };
            evicted.push(k);
        }
        evicted
    }

    /// Removes and returns every entry whose name sorts below `bound`.
    pub fn split_below(&mut self, bound: &str) -> Vec<String> {
        let keep = self.entries.split_off(bound);
        let gone = std::mem::replace(&mut self.entries, keep);
        gone.into_keys().collect()
    }
}

/// The index at `key` (empty when absent).
pub async fn load(p: &impl Platform, key: &str) -> Result<Index, ApiError> {
    let bytes = p.kv_get(key).await.map_err(crate::reply::unavailable)?;
    Ok(Index::decode(bytes.as_deref()))
}

/// Adds `name` to the index at `key` (a no-op when it is there with `value` already).
/// Refused with 403 `limit_exceeded` when the index is full.
pub async fn add(p: &impl Platform, key: &str, name: &str, value: u64) -> Result<(), ApiError> {
    change(p, key, |ix| {
        if ix.entries.get(name) == Some(&value) {
            return Ok(false);
        }
        if !ix.contains(name) && ix.len() >= MAX_ENTRIES {
            return Err(ApiError::new(
                ErrorCode::LimitExceeded,
                format!("at most {MAX_ENTRIES} entries are kept here"),
            ));
        }
        ix.entries.insert(name.to_owned(), value);
        Ok(true)
    })
    .await
}

/// Removes `name` from the index at `key`; the record goes when the index is empty.
pub async fn remove(p: &impl Platform, key: &str, name: &str) -> Result<(), ApiError> {
    change(p, key, |ix| Ok(ix.entries.remove(name).is_some())).await
}

/// Removes several names at once.
pub async fn remove_all(p: &impl Platform, key: &str, names: &[String]) -> Result<(), ApiError> {
    if names.is_empty() {
        return Ok(());
    }
    change(p, key, |ix| {
        let before = ix.len();
        for n in names {
            ix.entries.remove(n);
        }
        Ok(ix.len() != before)
    })
    .await
}

/// Read, change, write, read back: the change is applied again while another writer's
/// write replaced it (up to [`ATTEMPTS`] times).
async fn change(
    p: &impl Platform,
    key: &str,
    mut f: impl FnMut(&mut Index) -> Result<bool, ApiError>,
) -> Result<(), ApiError> {
    for _ in 0..ATTEMPTS {
        let mut ix = load(p, key).await?;
        if !f(&mut ix)? {
            return Ok(());
        }
        if ix.is_empty() {
            record::delete(p, key).await?;
        } else {
            p.kv_set(key, &ix.encode()).await.map_err(crate::reply::unavailable)?;
        }
        // Read back: when the change is still needed, someone else's write won the race.
        let mut now = load(p, key).await?;
        if !f(&mut now)? {
            return Ok(());
        }
    }
    Err(ApiError::new(ErrorCode::Unavailable, "the store is busy with the same record; retry"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_caps() {
        let mut ix = Index::new();
        for n in ["c", "a", "b", "d"] {
            ix.insert_capped(n, 1, 10);
        }
        assert_eq!(ix.page("", 2), ["a", "b"]);
        assert_eq!(ix.page("b", 10), ["c", "d"]);
        assert_eq!(ix.page("d", 10), Vec::<&str>::new());
        assert_eq!(ix.insert_capped("e", 1, 3), ["a", "b"]);
        assert_eq!(ix.split_below("d"), ["c"]);
        assert_eq!(ix.page("", 10), ["d", "e"]);
    }

    #[test]
    fn decoding_is_forgiving() {
        assert_eq!(Index::decode(None), Index::new());
        assert_eq!(Index::decode(Some(b"garbage")), Index::new());
        let old = Index::decode(Some(br#"{"entries":{"a":1}}"#));
        assert_eq!((old.v, old.len()), (1, 1));
        let back = Index::decode(Some(&old.encode()));
        assert_eq!(back.v, CURRENT);
    }
}
