//! Room ownership across several `origo` processes (`origo edge`, `origo coordinator`) sharing
//! Redis: the owner of a room holds `origo:lease:{org}:{room}` with a TTL, renews it, and
//! releases it when the room goes idle or finishes. When the owner dies (or stalls) its lease
//! expires and the next process asked for the room takes it over, rehydrating the room from
//! storage.
//!
//! The lease's value is `{instance}/{tenure} {url}`: the process's random instance id, a number
//! that is new each time the process takes the room (so a holder that lost the room and took it
//! again is not mistaken for its earlier self), and the URL other processes forward the room's
//! sockets and commands to. The whole value is the holder's *token*: every write the holder makes
//! checks it first, in the same Lua script ([`crate::fenced_commit`]).
//!
//! A [`Tenure`] is one holding. A task of its own renews it every [`RENEW_MS`], apart from the
//! room actor's work, and keeps the instant until which this process may still count on the
//! lease: the send time of the last confirmed renewal plus [`TTL_MS`], less a safety margin.
//! Redis cannot have let another process in before then, whatever this process was doing (a
//! monotonic clock keeps counting through `SIGSTOP`). Renewal errors are retried with a short
//! backoff; once that instant passes without a confirmation, or Redis says another process
//! holds the lease, the tenure is lost and the actor gives the room up.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use origo_shared::RoomKey;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Lease lifetime: a dead or stalled owner's rooms move after at most this long.
pub const TTL_MS: u64 = 6_000;
/// How often an owner renews.
pub const RENEW_MS: u64 = 2_000;
/// Taken off the lease's lifetime as this process counts it: it stops counting on the lease this
/// long before Redis could let another process take it.
const SAFETY_MS: u64 = 500;
/// Longest wait for one lease call.
const CALL_TIMEOUT: Duration = Duration::from_millis(1_000);
/// Backoff between failed renewals: from this, doubling…
const RETRY_MIN: Duration = Duration::from_millis(100);
/// …up to this.
const RETRY_MAX: Duration = Duration::from_millis(800);

/// The outcome of asking for a room.
pub enum LeaseOutcome {
    /// This process holds the room now.
    Mine(Tenure),
    /// Another process does.
    Held { by_instance: String, by_url: String },
}

/// This process's identity in the lease table.
#[derive(Clone)]
pub struct Lease {
    conn: redis::aio::ConnectionManager,
    instance: String,
    url: String,
    tenures: Arc<AtomicU64>,
}

/// In the host's own namespace, apart from every store record in either Redis layout.
pub fn lease_key(key: &RoomKey) -> String {
    crate::redis_layout::host_key(&format!("lease:{}:{}", key.org, key.room))
}

/// Takes the lease when nobody holds it, or when an earlier tenure of this same process does
/// (this process has no actor for the room any more, or it would not ask). Returns the holder's
/// value when somebody else holds it.
static ACQUIRE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local cur = redis.call('get', KEYS[1])
if cur and string.sub(cur, 1, string.len(ARGV[3])) ~= ARGV[3] then return cur end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false",
    )
});
/// Extends the lease while it holds this tenure's token.
static RENEW: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end",
    )
});
/// Deletes the lease while it holds this tenure's token.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
    )
});

/// The holder named by a lease's value: its instance id and URL.
fn holder(value: &str) -> (String, String) {
    let (token, url) = value.split_once(' ').unwrap_or((value, ""));
    let instance = token.split_once('/').map_or(token, |(i, _)| i);
    (instance.to_owned(), url.to_owned())
}

impl Lease {
    /// `url` is how other processes reach this one (`http://10.0.0.5:8080`).
    pub fn new(conn: redis::aio::ConnectionManager, url: String) -> Self {
        let mut b = [0u8; 8];
        let _ = getrandom03::fill(&mut b);
        let instance: String = b.iter().map(|x| format!("{x:02x}")).collect();
        Lease { conn, instance, url, tenures: Arc::new(AtomicU64::new(1)) }
    }

    /// This process's instance id.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The URL this process advertises.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Takes the room if nobody holds it (or an earlier tenure of this process does).
    pub async fn acquire(&self, key: &RoomKey) -> anyhow::Result<LeaseOutcome> {
        let mut conn = self.conn.clone();
        let n = self.tenures.fetch_add(1, Ordering::Relaxed);
        let token = format!("{}/{n:x} {}", self.instance, self.url);
        let sent = Instant::now();
        let mut acquire = ACQUIRE.prepare_invoke();
        acquire.key(lease_key(key)).arg(&token).arg(TTL_MS).arg(format!("{}/", self.instance));
        let call = acquire.invoke_async::<Option<String>>(&mut conn);
        let held = tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| anyhow::anyhow!("the room's lease: Redis did not answer in time"))??;
        Ok(match held {
            None => LeaseOutcome::Mine(Tenure::start(self.conn.clone(), key.clone(), token, sent)),
            Some(value) => {
                let (by_instance, by_url) = holder(&value);
                LeaseOutcome::Held { by_instance, by_url }
            }
        })
    }

    /// Gives the lease back, if this tenure still holds it.
    pub async fn release(&self, tenure: &Tenure) {
        tenure.shared.lost.store(true, Ordering::SeqCst);
        let mut conn = self.conn.clone();
        let mut release = RELEASE.prepare_invoke();
        release.key(&tenure.shared.lease_key).arg(&tenure.shared.token);
        let call = release.invoke_async::<i64>(&mut conn);
        let failure = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(_)) => return,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "Redis did not answer in time".to_owned(),
        };
        let room = &tenure.shared.room;
        tracing::debug!(org = %room.org, room = %room.room, "cannot release the room's lease (it expires on its own): {failure}");
    }
}

/// What a tenure's renewal task and its actor share.
struct Shared {
    room: RoomKey,
    lease_key: String,
    /// The lease's value while this tenure holds it.
    token: String,
    /// `valid_until` is counted from here.
    origin: Instant,
    /// Milliseconds after `origin` until which the lease is certainly this tenure's.
    valid_until_ms: AtomicU64,
    lost: AtomicBool,
    on_lost: Notify,
    commits: AtomicU64,
}

impl Shared {
    fn valid_until(&self) -> Instant {
        self.origin + Duration::from_millis(self.valid_until_ms.load(Ordering::SeqCst))
    }

    /// A renewal sent at `sent` was confirmed.
    fn confirmed(&self, sent: Instant) {
        let until = sent.saturating_duration_since(self.origin).as_millis() as u64 + TTL_MS - SAFETY_MS;
        self.valid_until_ms.fetch_max(until, Ordering::SeqCst);
    }

    fn lose(&self, why: &str) {
        if !self.lost.swap(true, Ordering::SeqCst) {
            tracing::warn!(org = %self.room.org, room = %self.room.room, "lost the room's lease: {why}");
        }
        self.on_lost.notify_waiters();
    }
}

/// One holding of a room's lease, renewed by its own task until dropped or lost.
pub struct Tenure {
    shared: Arc<Shared>,
    renewal: tokio::task::JoinHandle<()>,
}

impl Tenure {
    fn start(conn: redis::aio::ConnectionManager, room: RoomKey, token: String, sent: Instant) -> Tenure {
        let shared = Arc::new(Shared {
            lease_key: lease_key(&room),
            room,
            token,
            origin: sent,
            valid_until_ms: AtomicU64::new(TTL_MS - SAFETY_MS),
            lost: AtomicBool::new(false),
            on_lost: Notify::new(),
            commits: AtomicU64::new(1),
        });
        let renewal = tokio::spawn(keep(conn, shared.clone()));
        Tenure { shared, renewal }
    }

    /// The room this tenure is for.
    pub fn room(&self) -> &RoomKey {
        &self.shared.room
    }

    /// The lease's key in Redis.
    pub fn lease_key(&self) -> &str {
        &self.shared.lease_key
    }

    /// The lease's value while this tenure holds it; a fenced write checks it.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// A name for the next commit of this tenure, unique across tenures and processes.
    pub fn next_commit_id(&self) -> String {
        format!("{}#{}", self.shared.token, self.shared.commits.fetch_add(1, Ordering::Relaxed))
    }

    /// True while the lease is certainly this tenure's.
    pub fn is_valid(&self) -> bool {
        !self.shared.lost.load(Ordering::SeqCst) && Instant::now() < self.shared.valid_until()
    }

    /// How long the lease is certainly still this tenure's (zero once lost).
    pub fn remaining(&self) -> Duration {
        if self.shared.lost.load(Ordering::SeqCst) {
            return Duration::ZERO;
        }
        self.shared.valid_until().saturating_duration_since(Instant::now())
    }

    /// Marks the tenure lost (a fenced write found another holder's token, say).
    pub fn lose(&self, why: &str) {
        self.shared.lose(why);
    }

    /// Resolves once the tenure is lost: renewal found another holder, or could not confirm the
    /// lease before it ran out.
    pub async fn lost(&self) {
        loop {
            let notified = self.shared.on_lost.notified();
            if self.shared.lost.load(Ordering::SeqCst) {
                return;
            }
            // Wake at the end of the lease too: a renewal task that is itself late must not
            // leave the actor believing it still owns the room.
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep_until(self.shared.valid_until()) => {
                    if Instant::now() >= self.shared.valid_until() {
                        self.shared.lose("no renewal confirmed it in time");
                    }
                }
            }
        }
    }
}

impl Drop for Tenure {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

/// The renewal task: every [`RENEW_MS`] extends the lease while it still holds this tenure's
/// token; retries failures with a short backoff while the lease lasts.
async fn keep(conn: redis::aio::ConnectionManager, shared: Arc<Shared>) {
    let mut next = shared.origin + Duration::from_millis(RENEW_MS);
    let mut backoff = RETRY_MIN;
    loop {
        tokio::time::sleep_until(next).await;
        if shared.lost.load(Ordering::SeqCst) {
            return;
        }
        let sent = Instant::now();
        let until = shared.valid_until();
        if sent >= until {
            shared.lose("no renewal confirmed it in time");
            return;
        }
        let mut c = conn.clone();
        let mut renew = RENEW.prepare_invoke();
        renew.key(&shared.lease_key).arg(&shared.token).arg(TTL_MS);
        let call = renew.invoke_async::<i64>(&mut c);
        let failure = match tokio::time::timeout(CALL_TIMEOUT.min(until - sent), call).await {
            Ok(Ok(1)) => {
                shared.confirmed(sent);
                next = sent + Duration::from_millis(RENEW_MS);
                backoff = RETRY_MIN;
                continue;
            }
            Ok(Ok(_)) => {
                shared.lose("another process holds it, or it expired");
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => "Redis did not answer in time".to_owned(),
        };
        tracing::info!(org = %shared.room.org, room = %shared.room.room, ?backoff, "cannot renew the room's lease; retrying: {failure}");
        next = Instant::now() + backoff;
        backoff = (backoff * 2).min(RETRY_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_is_read_from_the_lease_value() {
        assert_eq!(holder("0a1b/3 http://10.0.0.5:8080"), ("0a1b".into(), "http://10.0.0.5:8080".into()));
        // The value as earlier versions wrote it: no tenure number.
        assert_eq!(holder("0a1b http://10.0.0.5:8080"), ("0a1b".into(), "http://10.0.0.5:8080".into()));
        assert_eq!(holder("garbage"), ("garbage".into(), String::new()));
    }
}
