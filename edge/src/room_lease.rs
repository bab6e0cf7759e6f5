//! Room ownership across several `origo` processes (`origo edge`, `origo coordinator`) sharing
//! Redis: the owner of a room holds `origo:lease:{org}:{room}` (value: its instance id and base
//! URL) with a TTL, renews it, and releases it when the room goes idle or finishes. When the owner dies its lease expires
//! and the next process asked for the room takes it over, rehydrating the room from storage.

use redis::AsyncCommands;

use origo_shared::RoomKey;

/// Lease lifetime: a dead owner's rooms move after at most this long.
pub const TTL_MS: u64 = 6_000;
/// How often an owner renews.
pub const RENEW_MS: u64 = 2_000;

/// The outcome of asking for a room.
pub enum LeaseOutcome {
    Mine,
    Held { by_url: String },
}

/// This process's identity in the lease table.
#[derive(Clone)]
pub struct Lease {
    conn: redis::aio::ConnectionManager,
    instance: String,
    url: String,
}

/// In the host's own namespace, apart from every store record in either Redis layout.
fn lease_key(key: &RoomKey) -> String {
    crate::redis_layout::host_key(&format!("lease:{}:{}", key.org, key.room))
}

const RENEW: &str =
    r"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE: &str =
    r"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

impl Lease {
    /// `url` is how other processes reach this one (`http://10.0.0.5:8080`).
    pub fn new(conn: redis::aio::ConnectionManager, url: String) -> Self {
        let mut b = [0u8; 8];
        let _ = getrandom03::fill(&mut b);
        let instance: String = b.iter().map(|x| format!("{x:02x}")).collect();
        Lease { conn, instance, url }
    }

    fn value(&self) -> String {
        format!("{} {}", self.instance, self.url)
    }

    /// Takes the room if nobody holds it (or this process already does).
    pub async fn acquire(&self, key: &RoomKey) -> anyhow::Result<LeaseOutcome> {
        let mut conn = self.conn.clone();
        let k = lease_key(key);
        let opts = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::PX(TTL_MS));
        let set: Option<String> = conn.set_options(&k, self.value(), opts).await?;
        if set.is_some() {
            return Ok(LeaseOutcome::Mine);
        }
        let holder: Option<String> = conn.get(&k).await?;
        match holder {
            Some(v) if v == self.value() => Ok(LeaseOutcome::Mine),
            Some(v) => {
                Ok(LeaseOutcome::Held { by_url: v.split_once(' ').map(|(_, u)| u.to_owned()).unwrap_or_default() })
            }
            // Expired between the two calls: try once more.
            None => {
                let set: Option<String> = conn
                    .set_options(
                        &k,
                        self.value(),
                        redis::SetOptions::default()
                            .conditional_set(redis::ExistenceCheck::NX)
                            .with_expiration(redis::SetExpiry::PX(TTL_MS)),
                    )
                    .await?;
                Ok(if set.is_some() { LeaseOutcome::Mine } else { LeaseOutcome::Held { by_url: String::new() } })
            }
        }
    }

    /// Extends the lease; false when this process no longer holds it.
    pub async fn renew(&self, key: &RoomKey) -> bool {
        let mut conn = self.conn.clone();
        let r: redis::RedisResult<i64> =
            redis::Script::new(RENEW).key(lease_key(key)).arg(self.value()).arg(TTL_MS).invoke_async(&mut conn).await;
        matches!(r, Ok(1))
    }

    pub async fn release(&self, key: &RoomKey) {
        let mut conn = self.conn.clone();
        let _: redis::RedisResult<i64> =
            redis::Script::new(RELEASE).key(lease_key(key)).arg(self.value()).invoke_async(&mut conn).await;
    }
}
