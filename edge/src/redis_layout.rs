//! Where records sit in Redis: the key of a key-value store's record, the pattern that lists a
//! store, and the namespace of the keys `origo` keeps for itself (room leases).
//!
//! * [`RedisLayout::Origo`] (the default): a store's record `key` of store `label` is
//!   `origo:kv:{label}:{key}`, so several stores and other applications share one database.
//! * [`RedisLayout::Spin`]: the layout of Spin's own Redis key-value backend, so an `origo`
//!   process and a Spin deployment with `[key_value_store.default] type = "redis"` read and
//!   write the same records. Read in spinframework/spin, `crates/key-value-redis/src/store.rs`,
//!   at commit 94a8fc8a7804ec2519bb8d12df70ab77ad2e4f60 (main after v4.0.2) and at v3.0.0, which
//!   lay records out the same way: the record's key is the store key itself, with no prefix;
//!   the value is the record's bytes (`SET`/`GET`, no encoding); the store's label is ignored
//!   (`StoreManager::get(_name)`), so every store pointed at one URL shares the database;
//!   `get-keys` is `KEYS *`, every key of the database (main also lists with `SCAN` for the
//!   WASIp3 interface); the database is the URL's (`redis://host:port/N`, parsed by the same
//!   `redis` crate as here).
//!
//! In both layouts the keys `origo` keeps for itself start with [`HOST_NAMESPACE`]. No store
//! key of Origo's begins with it (every key format is `kind:…`, `functions/core/src/store/keys.rs`),
//! and under the Spin layout the store refuses such keys, so a store record can never land on
//! a lease. Spin's `get-keys` lists the leases with everything else; the functions list by
//! their own prefixes, so they never see them.

/// How store records are laid out in Redis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RedisLayout {
    /// `origo:kv:{store}:{key}`.
    #[default]
    Origo,
    /// Spin's key-value Redis backend: the key itself, in the URL's database.
    Spin,
}

/// The prefix of every key `origo` keeps for itself (and of every key in the Origo layout).
pub const HOST_NAMESPACE: &str = "origo:";

/// The Origo layout's prefix of a store's records.
const ORIGO_KV_PREFIX: &str = "origo:kv:";

/// A key `origo` keeps for itself: `origo:{rest}`.
pub fn host_key(rest: &str) -> String {
    format!("{HOST_NAMESPACE}{rest}")
}

impl RedisLayout {
    pub fn as_str(self) -> &'static str {
        match self {
            RedisLayout::Origo => "origo",
            RedisLayout::Spin => "spin",
        }
    }

    /// The Redis key of record `key` in store `store`; `None` when the layout cannot hold that
    /// key (under Spin's, a key in the host namespace).
    pub fn record_key(self, store: &str, key: &str) -> Option<String> {
        match self {
            RedisLayout::Origo => Some(format!("{ORIGO_KV_PREFIX}{store}:{key}")),
            RedisLayout::Spin if key.starts_with(HOST_NAMESPACE) => None,
            RedisLayout::Spin => Some(key.to_owned()),
        }
    }

    /// The store key of a Redis key `SCAN` found, or `None` when it is not a record of `store`.
    pub fn store_key(self, store: &str, redis_key: &str) -> Option<String> {
        match self {
            RedisLayout::Origo => {
                redis_key.strip_prefix(ORIGO_KV_PREFIX)?.strip_prefix(store)?.strip_prefix(':').map(str::to_owned)
            }
            RedisLayout::Spin if redis_key.starts_with(HOST_NAMESPACE) => None,
            RedisLayout::Spin => Some(redis_key.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origo_layout_prefixes_the_store() {
        let l = RedisLayout::Origo;
        assert_eq!(l.record_key("default", "room:public:demo").unwrap(), "origo:kv:default:room:public:demo");
        assert_eq!(l.record_key("default", "origo:x").unwrap(), "origo:kv:default:origo:x");
        assert_eq!(l.store_key("default", "origo:kv:default:room:a:b").as_deref(), Some("room:a:b"));
        assert_eq!(l.store_key("default", "origo:kv:defaults:room:a:b"), None);
        assert_eq!(l.store_key("default", "origo:lease:a:b"), None);
    }

    #[test]
    fn spin_layout_is_the_bare_key_and_keeps_out_of_the_host_namespace() {
        let l = RedisLayout::Spin;
        assert_eq!(l.record_key("default", "room:public:demo").unwrap(), "room:public:demo");
        assert_eq!(l.record_key("other", "room:public:demo").unwrap(), "room:public:demo");
        assert_eq!(l.record_key("default", "origo:lease:public:demo"), None);
        assert_eq!(l.store_key("default", "chat:public:demo:1").as_deref(), Some("chat:public:demo:1"));
        assert_eq!(l.store_key("default", &host_key("lease:public:demo")), None);
    }

    #[test]
    fn host_keys_are_in_the_host_namespace_in_both_layouts() {
        let lease = host_key("lease:public:demo");
        for l in [RedisLayout::Origo, RedisLayout::Spin] {
            assert_eq!(l.store_key("default", &lease), None);
            assert_ne!(l.record_key("default", "lease:public:demo").as_deref(), Some(lease.as_str()));
        }
    }
}
