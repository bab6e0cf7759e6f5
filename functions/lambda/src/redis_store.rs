//! The functions' key-value store in Redis, in the layout `origo --redis` uses
//! (`origo:kv:{store}:{key}`, store `default`), so `origo` coordinators on the same Redis read
//! and write the same records.

use origo_functions::PlatformError;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

/// Every function key lives under this prefix (`origo:kv:` and the store label `default`).
pub const KEY_PREFIX: &str = "origo:kv:default:";

/// The Redis key of a function's `key`.
pub fn redis_key(key: &str) -> String {
    format!("{KEY_PREFIX}{key}")
}

/// The `SCAN MATCH` pattern of every key starting with `prefix`: the glob characters of the
/// prefix escaped, then `*`.
pub fn match_pattern(prefix: &str) -> String {
    let mut out = String::with_capacity(KEY_PREFIX.len() + prefix.len() + 1);
    out.push_str(KEY_PREFIX);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('*');
    out
}

fn failed(e: redis::RedisError) -> PlatformError {
    PlatformError::Store(e.to_string())
}

/// The store, over one multiplexed connection that reconnects by itself.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`, `rediss://` for TLS).
    pub async fn connect(url: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        Ok(RedisStore { conn: ConnectionManager::new(client).await? })
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PlatformError> {
        self.conn.clone().get(redis_key(key)).await.map_err(failed)
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), PlatformError> {
        self.conn.clone().set(redis_key(key), value).await.map_err(failed)
    }

    pub async fn delete(&self, key: &str) -> Result<(), PlatformError> {
        self.conn.clone().del(redis_key(key)).await.map_err(failed)
    }

    /// Every key starting with `prefix`, sorted, without duplicates (`SCAN` may repeat one).
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, PlatformError> {
        let mut conn = self.conn.clone();
        let full_prefix = redis_key(prefix);
        let mut iter: redis::AsyncIter<'_, String> = conn.scan_match(match_pattern(prefix)).await.map_err(failed)?;
        let mut keys = Vec::new();
        while let Some(k) = iter.next_item().await {
            let k = k.map_err(failed)?;
            if k.starts_with(&full_prefix) {
                keys.push(k[KEY_PREFIX.len()..].to_owned());
            }
        }
        drop(iter);
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_patterns() {
        assert_eq!(redis_key("room:public:standup"), "origo:kv:default:room:public:standup");
        assert_eq!(match_pattern("chat:public:a"), "origo:kv:default:chat:public:a*");
        assert_eq!(match_pattern(r"a*b?[c]\d"), r"origo:kv:default:a\*b\?\[c\]\\d*");
        assert_eq!(match_pattern(""), "origo:kv:default:*");
    }
}
