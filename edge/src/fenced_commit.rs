//! Fenced commits: with Redis, a room actor's writes land only while it holds the room's lease.
//!
//! Every commit of a room actor — the writes `coordinator::storage::commit` names for a batch
//! of events, and its read-modify-write records (the room's usage) — is applied by one Lua
//! script ([`FENCE`]). The script first checks that the lease `origo:lease:{org}:{room}` still
//! holds the committing [`Tenure`]'s token, then that every read-modify-write record still holds
//! the value the actor read, and only then performs every `SET` and `DEL`. Redis runs a script
//! alone, so an owner that stalled past the lease's lifetime (a pause, `SIGSTOP`, a partition)
//! and wakes after another process took the room cannot land a single write: the script refuses
//! the lot, and the actor gives the room up without delivering the batch's messages.
//!
//! A read-modify-write ([`Merge`]) is computed by the caller from the value it read, by the
//! core's own rule (`storage::Merge::apply`: usage, the chat index, the shared indexes); the script writes the new value only if
//! the record is unchanged since the read, else the commit reads again and retries. Only the
//! room's owner writes a room's records, and only through this fence, so a conflict means
//! something else edited the record (an operator, a tool); it is never overwritten blindly.
//!
//! Transient Redis errors are retried with a short backoff while the lease certainly lasts
//! ([`Tenure::remaining`]). A retry after an error whose outcome is unknown must not apply the
//! commit twice (a usage addition is not idempotent), so each commit carries an id, which the
//! script records under `origo:commit:{org}:{room}` with the writes and checks first: a commit
//! that already landed is not applied again.

use std::sync::LazyLock;
use std::time::Duration;

use origo_shared::RoomKey;
use redis::aio::ConnectionManager;

use crate::redis_layout::RedisLayout;
use crate::room_lease::Tenure;

/// One write: a record's key and its new value (`None`: delete it).
pub type Write = (String, Option<Vec<u8>>);

/// The writes a read-modify-write makes from the record's current value: the record's own
/// new value, and any record it removes along (a chat index evicting old messages).
pub type MergeFn = dyn Fn(Option<&[u8]>) -> Vec<Write> + Send + Sync;

/// A read-modify-write of one record, by the caller's rule (the core's `storage::Merge`).
/// `apply` may run more than once, each time on the value just read.
pub struct Merge {
    pub key: String,
    pub apply: Box<MergeFn>,
}

impl Merge {
    pub fn new(key: String, apply: impl Fn(Option<&[u8]>) -> Vec<Write> + Send + Sync + 'static) -> Self {
        Merge { key, apply: Box::new(apply) }
    }
}

/// How a commit ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every write landed, under this tenure's lease.
    Applied,
    /// The lease is another's, or could not be confirmed while it lasted: the tenure is lost.
    /// Nothing was written unless an earlier try whose answer was lost had landed while the
    /// lease was still this tenure's; either way the batch's messages must not go out.
    LeaseLost(&'static str),
    /// The commit could not be written: a key the store layout refuses, or Redis did not take it
    /// while the lease lasted (the lease itself still renewing). Whether it landed is unknown.
    Failed(String),
}

/// What one run of the script found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The writes landed (now, or by an earlier run of the same commit).
    Applied,
    /// The lease does not hold the tenure's token; nothing was written.
    LeaseLost,
    /// A read-modify-write record changed since it was read; nothing was written.
    Conflict,
}

/// Where the id of a room's last commit is kept (in the host's namespace).
pub fn commit_key(room: &RoomKey) -> String {
    crate::redis_layout::host_key(&format!("commit:{}:{}", room.org, room.room))
}

/// How long a commit's id is kept: far longer than any retry of it.
const COMMIT_ID_TTL_MS: u64 = 60_000;
/// Longest wait for one run of the script.
const CALL_TIMEOUT: Duration = Duration::from_millis(1_000);
/// Backoff between failed tries: from this, doubling…
const RETRY_MIN: Duration = Duration::from_millis(50);
/// …up to this.
const RETRY_MAX: Duration = Duration::from_millis(500);

/// The fence. `KEYS[1]` the lease, `KEYS[2]` the room's last commit id, then the guarded
/// records, then the written ones. `ARGV[1]` the tenure's token, `ARGV[2]` this commit's id,
/// `ARGV[3]` how long the id is kept (ms), `ARGV[4]` the number of guards; then a flag and a
/// value per guard (`1` and the value read, or `0` for an absent record), then per write (`s`
/// and the value, or `d` and nothing to delete). Returns 1 applied, 0 lease lost, 2 conflict.
static FENCE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('get', KEYS[2]) == ARGV[2] then return 1 end
local guards = tonumber(ARGV[4])
local a = 5
for i = 1, guards do
  local cur = redis.call('get', KEYS[2 + i])
  if ARGV[a] == '1' then
    if cur ~= ARGV[a + 1] then return 2 end
  elseif cur then
    return 2
  end
  a = a + 2
end
for i = 3 + guards, #KEYS do
  if ARGV[a] == 's' then redis.call('set', KEYS[i], ARGV[a + 1]) else redis.call('del', KEYS[i]) end
  a = a + 2
end
redis.call('set', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1",
    )
});

/// Runs the fence once: `guards` are (Redis key, value read), `writes` (Redis key, new value),
/// both with keys as they sit in Redis.
pub async fn apply_once(
    conn: &mut ConnectionManager,
    tenure: &Tenure,
    commit_id: &str,
    guards: &[Write],
    writes: &[Write],
) -> redis::RedisResult<Attempt> {
    let mut call = FENCE.prepare_invoke();
    call.key(tenure.lease_key()).key(commit_key(tenure.room()));
    call.arg(tenure.token()).arg(commit_id).arg(COMMIT_ID_TTL_MS).arg(guards.len());
    for (k, v) in guards {
        call.key(k);
        match v {
            Some(v) => call.arg("1").arg(v.as_slice()),
            None => call.arg("0").arg(""),
        };
    }
    for (k, v) in writes {
        call.key(k);
        match v {
            Some(v) => call.arg("s").arg(v.as_slice()),
            None => call.arg("d").arg(""),
        };
    }
    let code: i64 = call.invoke_async(conn).await?;
    Ok(match code {
        1 => Attempt::Applied,
        2 => Attempt::Conflict,
        _ => Attempt::LeaseLost,
    })
}

/// Commits `writes` and `merges` of store `store` in one fenced script, retrying transient
/// errors and conflicts while the lease certainly lasts. Marks the tenure lost when the commit
/// finds the lease gone. A commit with nothing to write only checks that the lease still lasts.
pub async fn commit(
    conn: &ConnectionManager,
    layout: RedisLayout,
    store: &str,
    tenure: &Tenure,
    writes: &[Write],
    merges: &[Merge],
) -> Outcome {
    if writes.is_empty() && merges.is_empty() {
        return if tenure.is_valid() { Outcome::Applied } else { Outcome::LeaseLost("the lease ran out") };
    }
    let redis_key = |k: &str| layout.record_key(store, k).ok_or_else(|| format!("the store refuses the key {k:?}"));
    let mut laid_out = Vec::with_capacity(writes.len() + merges.len());
    for (k, v) in writes {
        match redis_key(k) {
            Ok(k) => laid_out.push((k, v.clone())),
            Err(e) => return Outcome::Failed(e),
        }
    }
    let mut merge_keys = Vec::with_capacity(merges.len());
    for m in merges {
        match redis_key(&m.key) {
            Ok(k) => merge_keys.push(k),
            Err(e) => return Outcome::Failed(e),
        }
    }
    let room = tenure.room();
    let commit_id = tenure.next_commit_id();
    let mut conn = conn.clone();
    let mut backoff = RETRY_MIN;
    let (mut tries, mut conflicts) = (0u32, 0u32);
    // Retried within the lifetime the lease had when the commit began; renewals meanwhile do
    // not extend it, so a commit Redis keeps refusing does not hold the room forever.
    let deadline = tokio::time::Instant::now() + tenure.remaining();
    loop {
        if !tenure.is_valid() {
            tenure.lose("it could not be confirmed while the commit was retried");
            return Outcome::LeaseLost("the lease ran out before the commit could be confirmed");
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Outcome::Failed(format!("Redis did not take the commit in {tries} tries while the lease lasted"));
        }
        tries += 1;
        let run = async {
            let mut guards = Vec::new();
            let mut all = laid_out.clone();
            if !merge_keys.is_empty() {
                let current: Vec<Option<Vec<u8>>> = redis::cmd("MGET").arg(&merge_keys).query_async(&mut conn).await?;
                for ((m, k), cur) in merges.iter().zip(&merge_keys).zip(current) {
                    for (key, value) in (m.apply)(cur.as_deref()) {
                        // Core keys never fall in the host's namespace; one that did is not written.
                        if let Some(rk) = layout.record_key(store, &key) {
                            all.push((rk, value));
                        }
                    }
                    guards.push((k.clone(), cur));
                }
            }
            apply_once(&mut conn, tenure, &commit_id, &guards, &all).await
        };
        let failure = match tokio::time::timeout(CALL_TIMEOUT.min(left), run).await {
            Ok(Ok(Attempt::Applied)) => return Outcome::Applied,
            Ok(Ok(Attempt::LeaseLost)) => {
                tenure.lose("a commit found another process's token on it");
                return Outcome::LeaseLost("another process holds the room's lease");
            }
            Ok(Ok(Attempt::Conflict)) => {
                conflicts += 1;
                tracing::info!(org = %room.org, room = %room.room, conflicts, "a record changed under the commit; reading it again");
                if conflicts <= 3 {
                    continue;
                }
                "a record keeps changing under the commit".to_owned()
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => "Redis did not answer in time".to_owned(),
        };
        tracing::warn!(org = %room.org, room = %room.room, tries, ?backoff, "cannot commit the room yet; retrying while its lease lasts: {failure}");
        tokio::time::sleep(backoff.min(deadline.saturating_duration_since(tokio::time::Instant::now()))).await;
        backoff = (backoff * 2).min(RETRY_MAX);
    }
}
