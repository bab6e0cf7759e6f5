//! The one-time upgrade of a store written by a release before format 2: that format listed
//! collections by scanning the store's keys, so it has none of the index records
//! ([`index`](super::index)) and no lifetimes. The sweep runs this once, before its first
//! pass, when the store's marker (`store_format`) is below [`CURRENT`]: one scan of the
//! store — the only one Origo makes, and never on a request — builds every index, gives
//! every record with a lifetime to the sweep, starts the sweep at the earliest bucket already
//! written, and removes what format 2 no longer keeps
//! (seat records, which coordinators now hold, and the old undated webhook outbox).

use std::collections::BTreeMap;

use origo_shared::ApiError;
use serde_json::Value;

use super::format::CURRENT;
use super::index::Index;
use super::{expiry, keys, record};
use crate::platform::{Platform, PlatformExt};
use crate::reply::unavailable;
use crate::variables::guest_org;

/// What the upgrade did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MigrationReport {
    pub scanned: u64,
    pub indexes: u64,
    pub scheduled: u64,
    pub removed: u64,
}

/// True when the store still needs the upgrade.
pub async fn needed(p: &impl Platform) -> Result<bool, ApiError> {
    let format = record::get_text(p, keys::STORE_FORMAT).await?.and_then(|t| t.trim().parse::<u32>().ok());
    Ok(format.is_none_or(|v| v < CURRENT))
}

/// Builds the indexes and lifetimes of a store from before format 2, then marks it.
pub async fn run(p: &impl Platform) -> Result<MigrationReport, ApiError> {
    let mut report = MigrationReport::default();
    let guest = guest_org(p);
    let now = p.now_ms();
    let mut indexes: BTreeMap<String, Index> = BTreeMap::new();
    let mut add = |index_key: String, name: &str, value: u64| {
        indexes.entry(index_key).or_default().entries.insert(name.to_owned(), value);
    };
    let mut keys_seen = p.kv_keys("").await.map_err(unavailable)?;
    keys_seen.sort();
    let mut first_bucket: Option<u64> = None;
    for key in keys_seen {
        report.scanned += 1;
        let parts: Vec<&str> = key.splitn(4, ':').collect();
        match parts.as_slice() {
            ["expiry", bucket, _] => {
                if let Ok(b) = bucket.parse::<u64>() {
                    first_bucket = Some(first_bucket.map_or(b, |f| f.min(b)));
                }
            }
            ["room", org, _] if *org == guest => {
                if let Some(mut room) = record::get::<super::room::Room>(p, &key).await?
                    && room.expires_at_ms.is_none()
                {
                    let at = now + expiry::guest_room_ttl_ms(p);
                    room.expires_at_ms = Some(at);
                    expiry::expire_at(p, &key, at).await?;
                    record::put(p, &key, &room).await?;
                    report.scheduled += 1;
                }
            }
            ["room", org, name] => add(keys::room_index(org, name), name, 0),
            ["member", org, account] => {
                add(keys::member_index(org), account, 0);
                add(keys::account_org_index(account), org, 0);
            }
            ["org_apikey", org, id] => {
                add(keys::api_key_index(org), id, 0);
                record::delete(p, &key).await?;
                report.removed += 1;
            }
            ["account_org", ..] | ["seat", ..] | ["webhook_outbox", _, _] => {
                record::delete(p, &key).await?;
                report.removed += 1;
            }
            ["webhook", org, id] => add(keys::webhook_index(org), id, 0),
            ["node", id] => add(keys::NODE_INDEX.to_owned(), id, 0),
            ["chat", org, room, id] => {
                let sent = id.split('-').next().and_then(|t| t.parse().ok()).unwrap_or(0);
                add(keys::chat_index(org, room), id, sent);
            }
            ["usage", org, month, rest] => add(keys::usage_index(org, month), rest, 0),
            ["refresh" | "refresh_family" | "verify" | "oidc_state" | "login_guard" | "login_rate", ..] => {
                let current: Option<Value> = p.kv_get_json(&key).await.unwrap_or(None);
                let at = current.and_then(|v| v["expires_at_ms"].as_u64()).unwrap_or(now);
                expiry::expire_at(p, &key, at.max(now)).await?;
                report.scheduled += 1;
            }
            _ => {}
        }
    }
    let months: Vec<(String, String)> = indexes
        .keys()
        .filter_map(|k| k.strip_prefix("usage_index:")?.split_once(':').map(|(o, m)| (o.to_owned(), m.to_owned())))
        .collect();
    for (index_key, built) in indexes {
        // Merge with whatever this release wrote already.
        let mut stored = super::index::load(p, &index_key).await?;
        stored.entries.extend(built.entries);
        p.kv_set(&index_key, &stored.encode()).await.map_err(unavailable)?;
        report.indexes += 1;
    }
    for (org, month) in months {
        expiry::schedule_usage(p, &org, &month).await?;
        report.scheduled += 1;
    }
    // A store's first sweep starts at its earliest bucket: nothing given to the sweep before
    // it first ran is skipped.
    if let Some(first) = first_bucket
        && record::get_text(p, keys::SWEEP_CURSOR).await?.is_none()
    {
        record::put_text(p, keys::SWEEP_CURSOR, &first.saturating_sub(1).to_string()).await?;
    }
    record::put_text(p, keys::STORE_FORMAT, &CURRENT.to_string()).await?;
    Ok(report)
}
