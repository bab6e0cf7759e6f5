//! Every key Origo writes to the key-value store, in one place. Keys are `kind:part:part…`.
//! Collections are listed through their index records (`*_index`, see
//! [`index`](super::index)), never by listing the store; the `*_prefix` functions are for the
//! one-time format migration ([`migration`](super::migration)) and for tests. Parts that come
//! from users (emails, OIDC subjects, secrets) are stored as SHA-256 digests, never as they
//! were typed.

use origo_shared::RoomKey;

// --- accounts -------------------------------------------------------------------------

/// An account record, by id.
pub fn account(id: &str) -> String {
    format!("account:{id}")
}

/// The account id of an email address (by digest of the normalised address).
pub fn account_email(email_digest: &str) -> String {
    format!("account_email:{email_digest}")
}

/// The account linked to an OIDC identity (by digest of issuer and subject).
pub fn account_oidc(identity_digest: &str) -> String {
    format!("account_oidc:{identity_digest}")
}

/// A pending email verification (by digest of its token).
pub fn email_verification(token_digest: &str) -> String {
    format!("verify:{token_digest}")
}

/// A pending password reset (by digest of its token).
pub fn password_reset(token_digest: &str) -> String {
    format!("password_reset:{token_digest}")
}

/// Login attempts from one address in one minute.
pub fn login_rate(ip: &str, minute: u64) -> String {
    format!("login_rate:{ip}:{minute}")
}

/// Failed logins of one account (by digest of the email), for lockout.
pub fn login_guard(email_digest: &str) -> String {
    format!("login_guard:{email_digest}")
}

/// A refresh token (by digest).
pub fn refresh_token(token_digest: &str) -> String {
    format!("refresh:{token_digest}")
}

/// A family of rotated refresh tokens (reuse of an old one revokes the family).
pub fn refresh_family(family: &str) -> String {
    format!("refresh_family:{family}")
}

/// An OIDC sign-in in progress (by digest of its `state`).
pub fn oidc_state(state_digest: &str) -> String {
    format!("oidc_state:{state_digest}")
}

// --- organisations and API keys -------------------------------------------------------

/// An organisation record.
pub fn org(id: &str) -> String {
    format!("org:{id}")
}

/// The plan the operator assigned an organisation.
pub fn org_plan(org: &str) -> String {
    format!("org_plan:{org}")
}

/// A membership (organisation → account).
pub fn member(org: &str, account: &str) -> String {
    format!("member:{org}:{account}")
}

/// Every membership of an organisation.
pub fn member_prefix(org: &str) -> String {
    format!("member:{org}:")
}

/// The index of an account's organisations (account → organisation).
pub fn account_org(account: &str, org: &str) -> String {
    format!("account_org:{account}:{org}")
}

/// The index of an organisation's members (account → when added).
pub fn member_index(org: &str) -> String {
    format!("members:{org}")
}

/// The index of an account's organisations.
pub fn account_org_index(account: &str) -> String {
    format!("account_orgs:{account}")
}

/// Every organisation of an account.
pub fn account_org_prefix(account: &str) -> String {
    format!("account_org:{account}:")
}

/// A pending invitation to an organisation, by id.
pub fn invitation(id: &str) -> String {
    format!("invitation:{id}")
}

/// The index of an organisation's pending invitations (id → when it expires).
pub fn invitation_index(org: &str) -> String {
    format!("invitations:{org}")
}

/// A partner API key, by id.
pub fn api_key(id: &str) -> String {
    format!("apikey:{id}")
}

/// The index of an organisation's API keys.
pub fn org_api_key(org: &str, id: &str) -> String {
    format!("org_apikey:{org}:{id}")
}

/// The index of an organisation's API keys.
pub fn api_key_index(org: &str) -> String {
    format!("api_keys:{org}")
}

/// Every API key of an organisation.
pub fn org_api_key_prefix(org: &str) -> String {
    format!("org_apikey:{org}:")
}

// --- rooms ----------------------------------------------------------------------------

/// A room's record (settings, creation time).
pub fn room(org: &str, name: &str) -> String {
    format!("room:{org}:{name}")
}

/// Every room of an organisation.
pub fn room_prefix(org: &str) -> String {
    format!("room:{org}:")
}

/// The index of an organisation's rooms (name → creation time), in [`ROOM_INDEX_SHARDS`]
/// shards by the name's digest, so rooms made at once rarely change the same record. The
/// guest organisation's rooms, made by meeting links and removed after inactivity, are not
/// listed.
pub fn room_index(org: &str, name: &str) -> String {
    room_index_shard(org, room_shard(name))
}

/// One shard of an organisation's room index.
pub fn room_index_shard(org: &str, shard: u8) -> String {
    format!("rooms:{org}:{shard:x}")
}

/// Shards of a room index (a listing reads each).
pub const ROOM_INDEX_SHARDS: u8 = 16;

/// The shard of a room name: the first hex digit of its SHA-256.
fn room_shard(name: &str) -> u8 {
    let digest = crate::secret_digest::secret_digest(name);
    u8::from_str_radix(&digest[..1], 16).unwrap_or(0)
}

/// The rooms of an organisation whose coordinator may be running (name → when it started),
/// counted against the plan's concurrent rooms.
pub fn live_rooms(org: &str) -> String {
    format!("{LIVE_ROOMS_PREFIX}{org}")
}

/// Every live-rooms index.
pub const LIVE_ROOMS_PREFIX: &str = "live_rooms:";

/// The media node a room's participants were last placed on.
pub fn room_node(org: &str, name: &str) -> String {
    format!("room_node:{org}:{name}")
}

/// A seat held in a room by one identity (counts against the plan's participant limit).
pub fn seat(org: &str, room: &str, identity: &str) -> String {
    format!("seat:{org}:{room}:{identity}")
}

/// Every seat of a room.
pub fn seat_prefix(org: &str, room: &str) -> String {
    format!("seat:{org}:{room}:")
}

/// A room coordinator's durable state.
pub fn coordinator_snapshot(key: &RoomKey) -> String {
    format!("{COORDINATOR_SNAPSHOT_PREFIX}{}:{}", key.org, key.room)
}

/// Every coordinator snapshot (scanned at start for alarms).
pub const COORDINATOR_SNAPSHOT_PREFIX: &str = "coord:";

// --- chat -----------------------------------------------------------------------------

/// One chat message; `id` sorts by time (`{sent_at_ms:016}-{seq:010}`).
pub fn chat_message(org: &str, room: &str, id: &str) -> String {
    format!("chat:{org}:{room}:{id}")
}

/// The index of a room's chat history (message id → send time), oldest first.
pub fn chat_index(org: &str, room: &str) -> String {
    format!("chat_index:{org}:{room}")
}

/// A room's chat history.
pub fn chat_prefix(org: &str, room: &str) -> String {
    format!("chat:{org}:{room}:")
}

// --- webhooks -------------------------------------------------------------------------

/// A registered webhook endpoint.
pub fn webhook(org: &str, id: &str) -> String {
    format!("webhook:{org}:{id}")
}

/// Every webhook of an organisation.
pub fn webhook_prefix(org: &str) -> String {
    format!("webhook:{org}:")
}

/// The index of an organisation's webhooks.
pub fn webhook_index(org: &str) -> String {
    format!("webhooks:{org}")
}

/// An event of a room waiting to be delivered to its organisation's webhooks; `id` is the
/// room's event sequence number (`{seq:020}`; records of format 2 were `{ms:016}-{random:08x}`).
pub fn webhook_outbox(org: &str, room: &str, id: &str) -> String {
    format!("webhook_outbox:{org}:{room}:{id}")
}

/// Every waiting event of a room.
pub fn webhook_outbox_prefix(org: &str, room: &str) -> String {
    format!("webhook_outbox:{org}:{room}:")
}

/// The index of a room's waiting events, at most
/// [`OUTBOX_MAX`](crate::coordinator::storage::OUTBOX_MAX) (the oldest go first).
pub fn outbox_index(org: &str, room: &str) -> String {
    format!("outbox_index:{org}:{room}")
}

/// The last outbox event of a room the organisation's dispatcher took in (`""`: the
/// organisation's own events' last sequence number).
pub fn webhook_cursor(org: &str, room: &str) -> String {
    format!("webhook_cursor:{org}:{room}")
}

/// The organisation's pending deliveries ([`webhook_delivery::pending`](crate::webhook_delivery::pending)).
pub fn webhook_pending(org: &str) -> String {
    format!("webhook_pending:{org}")
}

/// One message to one endpoint, with its attempts.
pub fn webhook_delivery(org: &str, endpoint: &str, message: &str) -> String {
    format!("webhook_delivery:{org}:{endpoint}:{message}")
}

/// An endpoint's delivery log: the index of its messages (`{seq:020}:{message}`).
pub fn webhook_log(org: &str, endpoint: &str) -> String {
    format!("webhook_log:{org}:{endpoint}")
}

/// How an endpoint has been answering, and whether it is disabled.
pub fn webhook_health(org: &str, endpoint: &str) -> String {
    format!("webhook_health:{org}:{endpoint}")
}

// --- notifications to people --------------------------------------------------------

/// A browser's web push subscription of an account (id: a digest of its endpoint).
pub fn push_subscription(account: &str, id: &str) -> String {
    format!("push_subscription:{account}:{id}")
}

/// The index of an account's push subscriptions (id → registration time).
pub fn push_subscription_index(account: &str) -> String {
    format!("push_subscriptions:{account}")
}

/// An account's verified phone number.
pub fn phone(account: &str) -> String {
    format!("phone:{account}")
}

/// An account's phone number waiting for its code (the code as a digest).
pub fn phone_verification(account: &str) -> String {
    format!("phone_verify:{account}")
}

/// An account's notification preferences.
pub fn notification_preferences(account: &str) -> String {
    format!("notification_prefs:{account}")
}

/// A notification waiting for another try through its provider.
pub fn notification_retry(id: &str) -> String {
    format!("notify_retry:{id}")
}

/// The notifications due for another try in one minute (`{minute:012}`, Unix minutes): id →
/// when.
pub fn notification_retry_bucket(minute: u64) -> String {
    format!("notify_due:{minute:012}")
}

/// How far the sweep has retried notifications (the last minute it finished).
pub const NOTIFICATION_RETRY_CURSOR: &str = "notify_cursor";

// --- scheduled meetings -------------------------------------------------------------

/// The reminders of scheduled meetings due in one minute (`{minute:012}`, Unix minutes): room
/// record key → when the reminder is due.
pub fn reminder_bucket(minute: u64) -> String {
    format!("reminder_due:{minute:012}")
}

/// How far the sweep has sent reminders (the last minute it finished).
pub const REMINDER_CURSOR: &str = "reminder_cursor";

/// Who was reminded of a room's meeting, for the start they were reminded of.
pub fn reminders_sent(org: &str, room: &str) -> String {
    format!("reminders_sent:{org}:{room}")
}

// --- nodes and usage ------------------------------------------------------------------

/// A media or TURN node's registry entry (its last heartbeat).
pub fn node(id: &str) -> String {
    format!("{NODE_PREFIX}{id}")
}

/// Every registered node.
pub const NODE_PREFIX: &str = "node:";

/// The index of registered nodes (id → first heartbeat).
pub const NODE_INDEX: &str = "nodes";

/// The index of an organisation's usage records in a month (the part after the month:
/// `room:{room}`, `media:{node}:{room}`).
pub fn usage_index(org: &str, month: &str) -> String {
    format!("usage_index:{org}:{month}")
}

// --- lifetimes ------------------------------------------------------------------------

/// The records due to expire in one time bucket, spread over a few shards so concurrent
/// writers rarely share a record.
pub fn expiry_bucket(bucket: u64, shard: u64) -> String {
    format!("expiry:{bucket:012}:{shard}")
}

/// How far the sweep has come (the last bucket it finished).
pub const SWEEP_CURSOR: &str = "sweep_cursor";

/// The store's format marker: the version whose indexes the store holds.
pub const STORE_FORMAT: &str = "store_format";

/// Every usage record of an organisation in a month (`YYYY-MM`).
pub fn usage_prefix(org: &str, month: &str) -> String {
    format!("usage:{org}:{month}")
}

/// Participant time a room's coordinator recorded (presence), per month.
pub fn room_usage(org: &str, month: &str, room: &str) -> String {
    format!("usage:{org}:{month}:room:{room}")
}

/// Participant time with media connected, as one media node reported it, per month.
pub fn media_usage(org: &str, month: &str, node: &str, room: &str) -> String {
    format!("usage:{org}:{month}:media:{node}:{room}")
}

/// A TURN node's usage record of an organisation in a month (bytes relayed).
pub fn turn_usage(org: &str, month: &str, node: &str) -> String {
    format!("usage:{org}:{month}:turn:{node}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_their_keys() {
        assert!(member("o", "a").starts_with(&member_prefix("o")));
        assert!(account_org("a", "o").starts_with(&account_org_prefix("a")));
        assert!(org_api_key("o", "k").starts_with(&org_api_key_prefix("o")));
        assert!(room("o", "r").starts_with(&room_prefix("o")));
        assert!(seat("o", "r", "i").starts_with(&seat_prefix("o", "r")));
        assert!(chat_message("o", "r", "1").starts_with(&chat_prefix("o", "r")));
        assert!(webhook("o", "w").starts_with(&webhook_prefix("o")));
        assert!(room_usage("o", "2026-12", "r").starts_with(&usage_prefix("o", "2026-12")));
        assert!(media_usage("o", "2026-12", "n", "r").starts_with(&usage_prefix("o", "2026-12")));
        assert!(turn_usage("o", "2026-12", "n").starts_with(&usage_prefix("o", "2026-12")));
        assert!(coordinator_snapshot(&RoomKey::new("o", "r")).starts_with(COORDINATOR_SNAPSHOT_PREFIX));
        assert!(node("n").starts_with(NODE_PREFIX));
        assert!(live_rooms("o").starts_with(LIVE_ROOMS_PREFIX));
        assert!(!NODE_INDEX.starts_with(NODE_PREFIX), "the index is not a node");
        assert!(!push_subscription_index("a").starts_with("push_subscription:"), "the index is not a subscription");
    }
}
