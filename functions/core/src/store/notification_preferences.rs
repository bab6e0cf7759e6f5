//! An account's notification preferences (`notification_prefs:{account}`); an account that
//! never chose has none stored and gets the defaults.

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use super::{format, keys, record};
use crate::notification_preferences::Preferences;
use crate::platform::Platform;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    #[serde(default = "format::current")]
    v: u32,
    prefs: Preferences,
}

/// The account's preferences, or the defaults.
pub async fn get(p: &impl Platform, account: &str) -> Result<Preferences, ApiError> {
    let stored: Option<Stored> = record::get(p, &keys::notification_preferences(account)).await?;
    Ok(stored.map(|s| s.prefs).unwrap_or_default())
}

pub async fn put(p: &impl Platform, account: &str, prefs: &Preferences) -> Result<(), ApiError> {
    let stored = Stored { v: format::current(), prefs: prefs.clone() };
    record::put(p, &keys::notification_preferences(account), &stored).await
}

/// Forgets the account's preferences.
pub async fn delete(p: &impl Platform, account: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::notification_preferences(account)).await
}
