//! Rate limits on what a stranger can call: fixed windows counted with the host's atomic
//! counters ([`Platform::counter_add`]), so every instance of every host counts into the same
//! window — each request runs in a fresh instance, so nothing can be counted in memory. A
//! call over its limit is answered 429 `rate_limited` with `Retry-After` (the end of the
//! window). Each rule's limit is a deployment variable (`rate_<name>`, calls per window);
//! `0` turns the rule off.
//!
//! Subjects (an address, an address with an account, an organisation) are counted under a
//! digest, so no email address or IP is kept in a key. A counter lives two windows at most.

use origo_shared::ApiError;

use crate::client_address::{client_address, limit_subject};
use crate::platform::Platform;
use crate::reply::unavailable;
use crate::secret_digest::secret_digest;
use crate::variables::num_var;

/// One limit: at most `default_max` calls per `window_secs` per subject, unless the
/// deployment variable `rate_<name>` says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub name: &'static str,
    pub default_max: u64,
    pub window_secs: u64,
    /// Shown in the 429's message: what was limited.
    pub what: &'static str,
}

/// Guest sign-in, per client address.
pub const GUEST_SIGN_IN: Rule =
    Rule { name: "guest_per_minute", default_max: 30, window_secs: 60, what: "guest sign-ins from this address" };
/// Sign-up, per client address (checked before any password is hashed).
pub const SIGNUP_PER_ADDRESS: Rule =
    Rule { name: "signup_per_hour", default_max: 10, window_secs: 3600, what: "sign-ups from this address" };
/// Sign-up emails, per address signed up with (nobody's inbox is flooded from here).
pub const SIGNUP_PER_EMAIL: Rule =
    Rule { name: "signup_email_per_hour", default_max: 3, window_secs: 3600, what: "sign-ups with this email address" };
/// Sign-in attempts, per client address.
pub const LOGIN_PER_ADDRESS: Rule =
    Rule { name: "login_per_minute", default_max: 20, window_secs: 60, what: "sign-in attempts from this address" };
/// Failed sign-ins, per client address and account: a stranger locks out only themselves,
/// never the owner signing in from elsewhere.
pub const LOGIN_FAILURES: Rule = Rule {
    name: "login_failures_per_15_minutes",
    default_max: 5,
    window_secs: 900,
    what: "failed sign-ins for this account from this address",
};
/// Joins, per client address.
pub const JOIN_PER_ADDRESS: Rule =
    Rule { name: "join_per_minute", default_max: 60, window_secs: 60, what: "joins from this address" };
/// Joins, per participant identity.
pub const JOIN_PER_IDENTITY: Rule =
    Rule { name: "join_identity_per_minute", default_max: 20, window_secs: 60, what: "joins by this participant" };
/// Chat messages posted over HTTP, per caller.
pub const CHAT_POST: Rule =
    Rule { name: "chat_post_per_minute", default_max: 60, window_secs: 60, what: "messages posted by this caller" };
/// Webhook test sends, per organisation.
pub const WEBHOOK_TEST: Rule =
    Rule { name: "webhook_test_per_minute", default_max: 10, window_secs: 60, what: "webhook test sends" };
/// Test notifications to a browser, per account.
pub const PUSH_TEST: Rule =
    Rule { name: "push_test_per_minute", default_max: 5, window_secs: 60, what: "test notifications" };
/// Phone verification codes sent, per account.
pub const PHONE_CODE_PER_ACCOUNT: Rule = Rule {
    name: "phone_code_per_hour",
    default_max: 5,
    window_secs: 3600,
    what: "verification codes sent for this account",
};
/// Phone verification codes sent, per number (nobody's phone is flooded with codes).
pub const PHONE_CODE_PER_NUMBER: Rule = Rule {
    name: "phone_number_per_hour",
    default_max: 3,
    window_secs: 3600,
    what: "verification codes sent to this number",
};
/// API keys created, per organisation.
pub const KEY_CREATION: Rule =
    Rule { name: "key_creation_per_hour", default_max: 20, window_secs: 3600, what: "API keys created" };
/// Invitations sent, per organisation (more than its pending invitations may number).
pub const INVITE_PER_ORG: Rule =
    Rule { name: "invite_per_hour", default_max: 200, window_secs: 3600, what: "invitations sent" };
/// Password-reset emails, per address reset (nobody's inbox is flooded with links).
pub const RESET_PER_EMAIL: Rule =
    Rule { name: "reset_email_per_hour", default_max: 5, window_secs: 3600, what: "reset emails to this address" };
/// Password-reset emails, per client address.
pub const EMAIL_PER_ADDRESS: Rule =
    Rule { name: "email_per_hour", default_max: 10, window_secs: 3600, what: "emails requested from this address" };

impl Rule {
    /// The deployment's limit for this rule (`rate_<name>`; 0 is off).
    pub fn max(&self, p: &impl Platform) -> u64 {
        num_var(p, &format!("rate_{}", self.name), self.default_max)
    }
}

/// The subject a per-address rule counts: the client's address ([`client_address`]).
pub fn address_of(req: &crate::Request, p: &impl Platform) -> String {
    client_address(req, p).map_or_else(|| "unknown".to_owned(), limit_subject)
}

/// The counter key of `subject` under `rule` in the window that holds `now_ms`.
pub fn counter_key(rule: &Rule, subject: &str, now_ms: u64) -> (String, u64) {
    let window_ms = rule.window_secs.max(1) * 1000;
    let window = now_ms / window_ms;
    let digest = secret_digest(&format!("{}\u{0}{subject}", rule.name));
    (format!("rate:{}:{window}:{}", rule.name, &digest[..32]), (window + 1) * window_ms)
}

/// Counts `cost` calls of `subject` under `rule`; a 429 when that passes the limit.
pub async fn charge(p: &impl Platform, rule: &Rule, subject: &str, cost: u64) -> Result<u64, ApiError> {
    let max = rule.max(p);
    if max == 0 {
        return Ok(0);
    }
    let now = p.now_ms();
    let (key, window_end) = counter_key(rule, subject, now);
    let ttl = window_end.saturating_sub(now) + rule.window_secs * 1000;
    let count = p.counter_add(&key, cost, ttl).await.map_err(unavailable)?;
    if count > max {
        return Err(refusal(rule, max, count, window_end, now));
    }
    Ok(count)
}

/// One call of `subject` under `rule`.
pub async fn hit(p: &impl Platform, rule: &Rule, subject: &str) -> Result<(), ApiError> {
    charge(p, rule, subject, 1).await.map(|_| ())
}

/// A 429 unless `subject` is under `rule`'s limit now (counts nothing: for limits counted
/// only on failure, like failed sign-ins).
pub async fn check(p: &impl Platform, rule: &Rule, subject: &str) -> Result<(), ApiError> {
    let count = charge(p, rule, subject, 0).await?;
    let max = rule.max(p);
    if max != 0 && count >= max {
        let now = p.now_ms();
        let (_, window_end) = counter_key(rule, subject, now);
        return Err(refusal(rule, max, count, window_end, now));
    }
    Ok(())
}

fn refusal(rule: &Rule, max: u64, count: u64, window_end: u64, now: u64) -> ApiError {
    let wait = window_end.saturating_sub(now).div_ceil(1000).max(1);
    ApiError::rate_limited(wait, format!("too many {}", rule.what)).with_limit(origo_shared::LimitDetail {
        name: rule.name.to_owned(),
        plan: None,
        allowed: max,
        used: count,
        action: format!("wait {wait} s; at most {max} per {} s", rule.window_secs.max(1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_digests() {
        let (a, end) = counter_key(&LOGIN_PER_ADDRESS, "192.0.2.1", 61_000);
        assert_eq!(end, 120_000);
        assert!(a.starts_with("rate:login_per_minute:1:"));
        assert!(!a.contains("192.0.2.1"), "no address in the key");
        let (b, _) = counter_key(&LOGIN_PER_ADDRESS, "192.0.2.1", 119_999);
        assert_eq!(a, b, "one window");
        let (c, _) = counter_key(&LOGIN_PER_ADDRESS, "192.0.2.1", 120_000);
        assert_ne!(a, c, "the next window");
        let (d, _) = counter_key(&JOIN_PER_ADDRESS, "192.0.2.1", 61_000);
        assert_ne!(a[a.len() - 32..], d[d.len() - 32..], "rules count apart");
    }
}
