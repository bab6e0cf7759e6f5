//! The OpenAPI schemas of the values handlers check, built from the same limits as the
//! checks so that a schema accepts exactly what its handler accepts: names (trimmed, no control
//! characters), room names and organisation ids, email addresses, regions, and the path
//! parameters that name a room or an organisation.
//!
//! Rust trims `char::is_whitespace` and refuses `char::is_control`; the classes below spell
//! those sets out (`\s` differs between regular expression dialects). Limits the checks count
//! in bytes are given as character lengths: the schema is then looser only for text outside
//! ASCII.

use origo_shared::region::RegionCatalog;
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

use crate::email_address;
use crate::names::{MAX_IDENTITY_BYTES, MAX_LABEL_CHARS, MAX_NAME_CHARS, ORG_ID_PATTERN, ROOM_NAME_PATTERN};

/// The characters `str::trim` removes (Unicode `White_Space`).
pub const WHITESPACE: &str = r"[\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
/// Any character but a control character (`char::is_control`, Unicode `Cc`).
pub const PRINTABLE: &str = r"[^\u0000-\u001F\u007F-\u009F]";
/// Any character that is neither whitespace nor a control character.
pub const VISIBLE: &str = r"[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";

fn string(nullable: bool) -> ObjectBuilder {
    let ty = if nullable { SchemaType::from_iter([Type::String, Type::Null]) } else { SchemaType::new(Type::String) };
    ObjectBuilder::new().schema_type(ty)
}

/// Text that, trimmed, is `min..=max` characters without control characters (`min` 0 or 1).
pub fn trimmed_text(min: usize, max: usize, nullable: bool) -> Schema {
    let core = format!("{VISIBLE}({PRINTABLE}{{0,{}}}{VISIBLE})?", max.saturating_sub(2));
    let core = if min == 0 { format!("({core})?") } else { core };
    string(nullable).pattern(Some(format!("^{WHITESPACE}*{core}{WHITESPACE}*$"))).build().into()
}

/// A display name: trimmed, 1 to 64 characters, none of them control characters.
pub fn display_name() -> Schema {
    trimmed_text(1, MAX_NAME_CHARS, false)
}

/// An optional display name: only whitespace (or `null`) keeps the default.
pub fn optional_display_name() -> Schema {
    trimmed_text(0, MAX_NAME_CHARS, true)
}

/// An organisation's or API key's name: trimmed, 1 to 100 characters, no control characters.
pub fn label() -> Schema {
    trimmed_text(1, MAX_LABEL_CHARS, false)
}

/// A display name put in a token as given: at most 64 characters, no control characters.
pub fn optional_token_name() -> Schema {
    string(true).pattern(Some(format!("^{PRINTABLE}*$"))).max_length(Some(MAX_NAME_CHARS)).build().into()
}

/// A participant's identity: trimmed, 1 to 128 bytes without whitespace or control characters.
pub fn participant_identity() -> Schema {
    string(false)
        .pattern(Some(format!("^{WHITESPACE}*{VISIBLE}{{1,{MAX_IDENTITY_BYTES}}}{WHITESPACE}*$")))
        .description(Some(format!("At most {MAX_IDENTITY_BYTES} bytes once trimmed")))
        .build()
        .into()
}

/// Text of at most `max` bytes.
pub fn bytes_up_to(max: usize, nullable: bool) -> Schema {
    string(nullable).max_length(Some(max)).description(Some(format!("At most {max} bytes"))).build().into()
}

/// An integer in `min..=max`.
pub fn integer(min: u64, max: u64, nullable: bool) -> Schema {
    let ty = if nullable { SchemaType::from_iter([Type::Integer, Type::Null]) } else { SchemaType::new(Type::Integer) };
    ObjectBuilder::new().schema_type(ty).minimum(Some(min as f64)).maximum(Some(max as f64)).build().into()
}

/// A room name: 1–64 of `a-z 0-9 - _`.
pub fn room_name() -> Schema {
    string(false).pattern(Some(ROOM_NAME_PATTERN)).description(Some("1–64 of `a-z 0-9 - _`")).build().into()
}

/// An optional room name.
pub fn optional_room_name() -> Schema {
    string(true).pattern(Some(ROOM_NAME_PATTERN)).build().into()
}

/// An organisation id: 1–64 of `A-Z a-z 0-9 - _`.
pub fn org_id() -> Schema {
    string(false).pattern(Some(ORG_ID_PATTERN)).description(Some("1–64 of `A-Z a-z 0-9 - _`")).build().into()
}

/// An email address as [`email_address::normalize`] accepts it: `local@domain.tld` with no
/// whitespace or control characters once trimmed, the domain holding a `.` neither first nor
/// last; at most 254 bytes once lower-cased.
pub fn email() -> Schema {
    let local = r"[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000@]";
    let end = r"[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000@.]";
    let pattern = format!("^{WHITESPACE}*{local}+@{end}{local}*\\.{local}*{end}{WHITESPACE}*$");
    string(false)
        .pattern(Some(pattern))
        .description(Some(format!("An email address (at most {} bytes once trimmed)", email_address::MAX_BYTES)))
        .build()
        .into()
}

/// A region of the deployment's catalog, or `null`.
pub fn optional_region() -> Schema {
    let ids = RegionCatalog::default()
        .regions()
        .iter()
        .map(|r| Value::from(r.id.clone()))
        .chain([Value::Null])
        .collect::<Vec<_>>();
    string(true).enum_values(Some(ids)).build().into()
}

/// The path parameter naming a room.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RoomPath {
    /// Room name: 1–64 of `a-z 0-9 - _`.
    #[param(schema_with = room_name)]
    pub room: String,
}

/// The path parameter naming an organisation.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrgPath {
    /// Organisation id: 1–64 of `A-Z a-z 0-9 - _`.
    #[param(schema_with = org_id)]
    pub org: String,
}

/// A new password: at least 10 characters, at most 256 bytes.
pub fn new_password() -> Schema {
    string(false)
        .min_length(Some(crate::password::MIN_CHARS))
        .max_length(Some(crate::password::MAX_BYTES))
        .description(Some(format!(
            "At least {} characters and at most {} bytes",
            crate::password::MIN_CHARS,
            crate::password::MAX_BYTES
        )))
        .build()
        .into()
}
