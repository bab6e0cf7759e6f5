//! Rooms, scoped to an organisation: create, list, get, update, delete, and join.
//!
//! Stored as [`store::room`](crate::store::room) records. `POST /v1/rooms/{room}/join` checks
//! the caller's grants or role, the room's and the plan's limits, picks a media node near the participant (the room's
//! node while it is healthy: room affinity), and returns a participant token for that room and
//! node, the coordinator's WebSocket URL and TURN credentials (REST scheme, `turn_secret`).
//!
//! Seats: a join asks the room's coordinator to hold a seat for its identity for
//! `seat_ttl_secs` (default 120) until the participant connects; participants and held seats
//! count against `min(max_participants, plan_max_participants)`, decided by the room's one
//! owner. The plan's `plan_max_rooms` counts rooms with a meeting running at once.
//! The participant token carries the seat's id (`seat` claim): the room's socket admits
//! only a token whose seat the room still holds, so a seat exists only through a join. A
//! participant a host removed is banned from the room for `kick_ban_minutes` (default 60):
//! its joins answer 403.
//!
//! Meeting links (rooms of the guest organisation, made on first join) have limits no
//! stranger can exhaust for everyone else: per room (participants) and per meeting
//! (`guest_meeting_max_minutes`, default 240); they share no organisation-wide pool, and each
//! is removed `guest_room_ttl_secs` (default a day) after its last join.
//!
//! A room of an organisation may hold a scheduled meeting (`schedule`, on create and update:
//! [`meeting_schedule`](crate::meeting_schedule)); invitations, cancellations, reminders and
//! the `room.scheduled` event follow each change ([`meeting_invitations`]). Invitee addresses
//! are shown only to callers who may change the room.

use http::{Method, StatusCode};
use origo_shared::node::{NodeKind, NodeRequest, NodeSelector};
use origo_shared::region::RegionCatalog;
use origo_shared::token::{AUDIENCE, Claims, Grants, TokenKind};
use origo_shared::turn_credentials::{IceServer, TurnSecrets};
use origo_shared::usage::month_of;
use origo_shared::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::coordinator::{MeetingTerms, RoomCommand, RoomCommandOutcome};
#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::location::{self, OriginSource};
use crate::meeting_invitations;
use crate::meeting_schedule::{self, Schedule, ScheduleInput};
use crate::names::MAX_NAME_CHARS;
pub use crate::names::valid_room_name;
use crate::plan::plan_of;
use crate::platform::{Platform, PlatformExt};
use crate::principal::Principal;
use crate::rate_limit;
use crate::rbac::{Action, Role};
use crate::reply::{self, respond, unavailable};
use crate::store::room::{self as stored, Room, load};
use crate::store::{expiry, live_rooms, node, usage_total};
use crate::variables::{guest_org, num_var, selector_config, token_config, var};
use crate::{Request, Response, maintenance, registry, room_participant};

/// Largest `max_participants` a room may ask for.
pub const MAX_PARTICIPANTS_LIMIT: u32 = 1000;
/// Longest empty timeout, in seconds (a day).
pub const MAX_EMPTY_TIMEOUT_SECS: u32 = 86_400;
/// Largest metadata, in bytes.
pub const MAX_METADATA_BYTES: usize = 4096;

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::room_name))]
    pub name: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = max_participants_schema))]
    pub max_participants: Option<u32>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = metadata_schema))]
    pub metadata: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = empty_timeout_schema))]
    pub empty_timeout_secs: Option<u32>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::optional_region))]
    pub region: Option<String>,
    /// A meeting scheduled in the room: `start_at`, `duration_mins` and `title` required.
    #[serde(default)]
    pub schedule: Option<ScheduleInput>,
}

/// Where a trusted proxy says the participant is.
#[cfg(feature = "openapi")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct GeoHeader {
    /// `lat,lon`, honoured only from an address in `trusted_proxies`.
    #[param(rename = "X-Origo-Geo", value_type = String, required = false)]
    pub geo: Option<String>,
}

/// `PATCH /v1/rooms/{room}`: only the fields present change; `null` clears metadata or region.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateRoom {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = max_participants_schema))]
    pub max_participants: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(schema_with = metadata_schema))]
    pub metadata: Option<Option<String>>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = empty_timeout_schema))]
    pub empty_timeout_secs: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::optional_region))]
    pub region: Option<Option<String>>,
    /// The fields present change the scheduled meeting (a room without one needs `start_at`,
    /// `duration_mins` and `title`); `null` calls it off.
    #[serde(default, deserialize_with = "present")]
    pub schedule: Option<Option<ScheduleInput>>,
}

#[cfg(feature = "openapi")]
fn max_participants_schema() -> utoipa::openapi::schema::Schema {
    crate::input_schemas::integer(1, MAX_PARTICIPANTS_LIMIT.into(), true)
}

#[cfg(feature = "openapi")]
fn metadata_schema() -> utoipa::openapi::schema::Schema {
    crate::input_schemas::bytes_up_to(MAX_METADATA_BYTES, true)
}

#[cfg(feature = "openapi")]
fn empty_timeout_schema() -> utoipa::openapi::schema::Schema {
    crate::input_schemas::integer(0, MAX_EMPTY_TIMEOUT_SECS.into(), true)
}

fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The region the client prefers (used when the edge knows nothing better).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::optional_region))]
    pub region: Option<String>,
    /// Display name (defaults to the token's).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::optional_display_name))]
    pub name: Option<String>,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediaAssignment {
    pub node_id: String,
    pub region: String,
    pub session_url: String,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Placement {
    pub source: OriginSource,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinResponse {
    pub participant_token: String,
    pub expires_in: u64,
    pub identity: String,
    pub room: String,
    pub coordinator_url: String,
    pub media: MediaAssignment,
    pub ice_servers: Vec<IceServer>,
    pub placement: Placement,
}

/// Serves `/v1/rooms`, `/v1/rooms/{room}`, `/v1/rooms/{room}/join`, `/v1/nodes/heartbeat` and
/// `/v1/nodes/usage`.
pub async fn handle(req: Request, p: &impl Platform) -> Response {
    respond(route(&req, p).await)
}

async fn route(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let segments = reply::segments(req);
    match (segments.as_slice(), req.method()) {
        (["v1", "nodes", "heartbeat"], _) => registry::heartbeat(req, p).await,
        (["v1", "nodes", "usage"], _) => registry::usage_report(req, p).await,
        (["v1", "maintenance", "sweep"], _) => maintenance::sweep(req, p).await,
        (["v1", "rooms"], &Method::POST) => create(req, p).await,
        (["v1", "rooms"], &Method::GET) => list(req, p).await,
        (["v1", "rooms"], _) => Ok(reply::method_not_allowed(req, "GET, POST")),
        (["v1", "rooms", name], &Method::GET) => get(req, p, name).await,
        (["v1", "rooms", name], &Method::PATCH) => update(req, p, name).await,
        (["v1", "rooms", name], &Method::DELETE) => delete(req, p, name).await,
        (["v1", "rooms", _], _) => Ok(reply::method_not_allowed(req, "GET, PATCH, DELETE")),
        (["v1", "rooms", name, "join"], &Method::POST) => join(req, p, name).await,
        (["v1", "rooms", _, "join"], _) => Ok(reply::method_not_allowed(req, "POST")),
        (["v1", "rooms", name, "participants", identity], _) => room_participant::route(req, p, name, identity).await,
        _ => Err(reply::not_found(req)),
    }
}

fn check_fields(
    max: Option<u32>,
    metadata: Option<&str>,
    timeout: Option<u32>,
    region: Option<&str>,
) -> Result<(), ApiError> {
    if max.is_some_and(|m| m == 0 || m > MAX_PARTICIPANTS_LIMIT) {
        return Err(ApiError::bad_request(format!("max_participants must be 1..={MAX_PARTICIPANTS_LIMIT}")));
    }
    if metadata.is_some_and(|m| m.len() > MAX_METADATA_BYTES) {
        return Err(ApiError::bad_request(format!("metadata is limited to {MAX_METADATA_BYTES} bytes")));
    }
    if timeout.is_some_and(|t| t > MAX_EMPTY_TIMEOUT_SECS) {
        return Err(ApiError::bad_request(format!("empty_timeout_secs must be 0..={MAX_EMPTY_TIMEOUT_SECS}")));
    }
    if let Some(r) = region
        && RegionCatalog::default().get(r).is_none()
    {
        return Err(ApiError::bad_request(format!("unknown region {:?}", r.chars().take(32).collect::<String>())));
    }
    Ok(())
}

async fn insert_new(
    p: &impl Platform,
    org: &str,
    body: CreateRoom,
    created_by: &str,
    schedule: Option<Schedule>,
) -> Result<Room, ApiError> {
    if !valid_room_name(&body.name) {
        return Err(ApiError::bad_request("room name must be 1-64 characters of a-z, 0-9, '-' or '_'"));
    }
    check_fields(body.max_participants, body.metadata.as_deref(), body.empty_timeout_secs, body.region.as_deref())?;
    if stored::exists(p, org, &body.name).await? {
        return Err(ApiError::new(ErrorCode::Conflict, format!("room {} already exists", body.name)));
    }
    let (_, plan) = plan_of(p, org).await?;
    let now = p.now_ms();
    // Meeting links live until they go unused; other rooms until they are deleted.
    let expires_at_ms = (org == guest_org(p)).then(|| now + expiry::guest_room_ttl_ms(p));
    let room = Room {
        name: body.name,
        org: org.to_owned(),
        max_participants: body.max_participants.unwrap_or(plan.limits.participants_per_room.unwrap_or(100).min(100)),
        metadata: body.metadata,
        empty_timeout_secs: body.empty_timeout_secs.unwrap_or(300),
        region: body.region,
        created_at_ms: now,
        created_by: created_by.to_owned(),
        updated_at_ms: now,
        expires_at_ms,
        schedule,
        calendar_sequence: 0,
    };
    stored::insert(p, &room).await?;
    Ok(room)
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/rooms", tag = "rooms",
    summary = "Create a room in the caller's organisation",
    request_body = CreateRoom, params(crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, body = Room),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 409, response = errors::Conflict),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn create(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let caller = Principal::from_request(req, p).await?;
    caller.require(Action::RoomCreate)?;
    let body: CreateRoom = reply::parse_json(req)?;
    if let Principal::Participant(c) = &caller
        && c.grants.room.as_deref().is_some_and(|r| r != body.name)
    {
        return Err(ApiError::forbidden("this token may only create the room named in its grants"));
    }
    let org = caller.org()?;
    let schedule = match body.schedule.clone() {
        Some(input) => Some(checked_schedule(p, &caller, org, None, input).await?),
        None => None,
    };
    let room = insert_new(p, org, body, caller.identity(), schedule).await?;
    meeting_invitations::announce(p, &room, None).await?;
    Ok(reply::json(StatusCode::CREATED, &room))
}

/// The schedule `input` makes of `current`, checked, for `caller` in `org`.
async fn checked_schedule(
    p: &impl Platform,
    caller: &Principal,
    org: &str,
    current: Option<&Schedule>,
    input: ScheduleInput,
) -> Result<Schedule, ApiError> {
    if org == guest_org(p) {
        return Err(ApiError::bad_request("meeting links cannot be scheduled; schedule a room of an organisation"));
    }
    meeting_invitations::public_base(p)?;
    let organizer = meeting_invitations::organizer(p, caller).await?;
    meeting_schedule::merge(current, input, &organizer, p.now_ms())
}

/// The room as `caller` may see it: invitee addresses only for those who may change it.
fn shown(caller: &Principal, mut room: Room) -> Room {
    if !caller.may(Action::RoomUpdate(&room.name))
        && let Some(s) = &mut room.schedule
    {
        s.invitees.clear();
    }
    room
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/rooms", tag = "rooms",
    summary = "The organisation's rooms, by name, a page at a time",
    params(RoomPageQuery, crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "`{rooms: [Room], next_cursor}`"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 503, response = errors::Unavailable),
    )))]
async fn list(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let caller = Principal::from_request(req, p).await?;
    caller.require(Action::RoomsList)?;
    let limit = reply::page_limit(req, MAX_PAGE, MAX_PAGE)?;
    let after = reply::query_param(req, "after").unwrap_or("");
    let (rooms, next_cursor) = stored::page(p, caller.org()?, after, limit).await?;
    let rooms: Vec<Room> = rooms.into_iter().map(|r| shown(&caller, r)).collect();
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "rooms": rooms, "next_cursor": next_cursor })))
}

/// The query of a page of rooms.
#[cfg(feature = "openapi")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoomPageQuery {
    /// Rooms per page, 1 to 500 (default 500).
    #[param(value_type = u32, required = false, minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = String, required = false)]
    pub after: Option<String>,
}

/// Most rooms one page of `GET /v1/rooms` holds (and its default).
pub const MAX_PAGE: usize = 500;

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/rooms/{room}", tag = "rooms",
    summary = "A room",
    params(crate::input_schemas::RoomPath, crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = Room),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn get(req: &Request, p: &impl Platform, name: &str) -> Result<Response, ApiError> {
    let caller = Principal::from_request(req, p).await?;
    caller.require(Action::RoomRead(name))?;
    Ok(reply::json(StatusCode::OK, &shown(&caller, load(p, caller.org()?, name).await?)))
}

#[cfg_attr(feature = "openapi", utoipa::path(patch, path = "/v1/rooms/{room}", tag = "rooms",
    summary = "Change a room (fields present change; null clears)",
    request_body = UpdateRoom, params(crate::input_schemas::RoomPath, crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = Room),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn update(req: &Request, p: &impl Platform, name: &str) -> Result<Response, ApiError> {
    let caller = Principal::from_request(req, p).await?;
    caller.require(Action::RoomUpdate(name))?;
    let body: UpdateRoom = reply::parse_json(req)?;
    let mut room = load(p, caller.org()?, name).await?;
    check_fields(
        body.max_participants,
        body.metadata.as_ref().and_then(|m| m.as_deref()),
        body.empty_timeout_secs,
        body.region.as_ref().and_then(|r| r.as_deref()),
    )?;
    if let Some(m) = body.max_participants {
        room.max_participants = m;
    }
    if let Some(m) = body.metadata {
        room.metadata = m;
    }
    if let Some(t) = body.empty_timeout_secs {
        room.empty_timeout_secs = t;
    }
    if let Some(r) = body.region {
        room.region = r;
    }
    let before = room.schedule.clone();
    if let Some(change) = body.schedule {
        room.schedule = match change {
            Some(input) => Some(checked_schedule(p, &caller, &room.org.clone(), before.as_ref(), input).await?),
            None => None,
        };
        room.calendar_sequence =
            meeting_invitations::next_sequence(before.as_ref(), room.schedule.as_ref(), room.calendar_sequence);
    }
    room.updated_at_ms = p.now_ms();
    stored::put(p, &room).await?;
    meeting_invitations::announce(p, &room, before.as_ref()).await?;
    Ok(reply::json(StatusCode::OK, &room))
}

#[cfg_attr(feature = "openapi", utoipa::path(delete, path = "/v1/rooms/{room}", tag = "rooms",
    summary = "Delete a room (admin); everyone in it is disconnected",
    params(crate::input_schemas::RoomPath, crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn delete(req: &Request, p: &impl Platform, name: &str) -> Result<Response, ApiError> {
    let caller = Principal::from_request(req, p).await?;
    caller.require(Action::RoomDelete(name))?;
    let org = caller.org()?;
    let mut room = load(p, org, name).await?;
    // The coordinator ends the room first: everyone in it is told and disconnected.
    let close = RoomCommand::Close { reason: "the room was deleted".into() };
    p.coordinator_send(&origo_shared::RoomKey::new(org, name), &close).await.map_err(unavailable)?;
    stored::delete(p, org, name).await?;
    // Invitees of its meeting hear that it is off.
    if let Some(before) = room.schedule.take() {
        room.calendar_sequence = meeting_invitations::next_sequence(Some(&before), None, room.calendar_sequence);
        // The room is gone whatever the messages do.
        let _ = meeting_invitations::announce(p, &room, Some(&before)).await;
    }
    Ok(reply::no_content())
}

/// The participant token's grants for `room`, from what the caller holds.
fn participant_grants(caller: &Principal, room: &str) -> Grants {
    match caller {
        Principal::Participant(c) => Grants { room: Some(room.to_owned()), ..c.grants.clone() },
        _ => {
            let mut g = Grants::participant(room);
            g.room_admin = caller.role().is_some_and(|r| r.at_least(Role::Admin));
            g
        }
    }
}

/// A TURN username may not hold `:` or control characters; the identity, at most
/// [`MAX_IDENTITY_BYTES`](crate::names::MAX_IDENTITY_BYTES) bytes, keeps its length (each
/// character replaced is one byte or two), so distinct identities stay distinct users.
fn turn_user(identity: &str) -> String {
    identity.chars().map(|c| if c == ':' || c.is_control() { '_' } else { c }).collect()
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/rooms/{room}/join", tag = "rooms",
    summary = "Join: a participant token, the coordinator, a media node near the participant and TURN credentials",
    request_body(content = Option<JoinRequest>, description = "Optional: an empty body joins with the defaults"), params(crate::input_schemas::RoomPath, crate::principal::OrgHeader, GeoHeader), security(("bearer" = [])),
    responses(
        (status = 200, body = JoinResponse),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
        (status = 429, response = errors::RateLimited),
    )))]
async fn join(req: &Request, p: &impl Platform, name: &str) -> Result<Response, ApiError> {
    let caller = Principal::from_request(req, p).await?;
    if matches!(caller, Principal::ApiKey { .. }) {
        return Err(ApiError::forbidden("API keys mint tokens for participants (POST /v1/tokens); join with one"));
    }
    caller.require(Action::RoomJoin(name))?;
    rate_limit::hit(p, &rate_limit::JOIN_PER_ADDRESS, &rate_limit::address_of(req, p)).await?;
    let org = caller.org()?.to_owned();
    rate_limit::hit(p, &rate_limit::JOIN_PER_IDENTITY, &format!("{org}\u{0}{}", caller.identity())).await?;
    let body: JoinRequest = if req.body().is_empty() { JoinRequest::default() } else { reply::parse_json(req)? };
    let display_name = match body.name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) {
        Some(n) if n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control) => {
            return Err(ApiError::bad_request(format!("name must be at most {MAX_NAME_CHARS} printable characters")));
        }
        Some(n) => n,
        None => caller.display_name(),
    };

    let guest = org == guest_org(p);
    let room = match load(p, &org, name).await {
        Ok(room) => room,
        // Meeting links in the public organisation create their room on first join.
        Err(e)
            if e.code == ErrorCode::NotFound
                && guest
                && var(p, "guest_room_autocreate").as_deref() != Some("false") =>
        {
            let body = CreateRoom {
                name: name.to_owned(),
                max_participants: None,
                metadata: None,
                empty_timeout_secs: None,
                region: None,
                schedule: None,
            };
            match insert_new(p, &org, body, caller.identity(), None).await {
                Ok(room) => room,
                Err(e) if e.code == ErrorCode::Conflict => load(p, &org, name).await?,
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    let now = p.now_ms();
    let room = if room.expires_at_ms.is_some() {
        stored::renew_lifetime(p, room, now, expiry::guest_room_ttl_ms(p)).await?
    } else {
        room
    };

    // Limits: the plan's concurrent meetings and monthly minutes for an organisation; per
    // room and per meeting for meeting links, which anyone can make.
    let (book, plan) = plan_of(p, &org).await?;
    let plan_limit = plan.limits.participants_per_room.unwrap_or(u32::MAX);
    let limit = room.max_participants.min(plan_limit);
    let identity = caller.identity().to_owned();
    let month = month_of(now);
    let mut minutes_left_ms = None;
    if !guest {
        live_rooms::admit(p, &org, name, &plan).await?;
        usage_total::listed(p, &org, &month, &format!("room:{name}")).await?;
        let usage = usage_total::usage_of(p, &org, &month).await?;
        if let Some(refusal) = crate::quota::monthly(&plan, &usage) {
            return Err(refusal);
        }
        minutes_left_ms = crate::quota::minutes_left_ms(&plan, &usage);
    }

    // Placement: the media nodes able to take this participant, nearest first; the room's
    // coordinator chooses among them when it holds the seat (the room's node while it is one
    // of them).
    let catalog = RegionCatalog::default();
    let (origin, source) = location::origin(req, p, &catalog, body.region.as_deref(), room.region.as_deref())?;
    let selector = NodeSelector::new(catalog, selector_config(p));
    let nodes = node::all(p).await?;
    let media_req = NodeRequest { kind: NodeKind::Media, origin: origin.clone(), room_node: None };
    let candidates: Vec<origo_shared::signal::MediaAssignment> = selector
        .rank(&nodes, &media_req, now)
        .into_iter()
        .filter_map(crate::coordinator::assignment)
        .take(crate::coordinator::MAX_CANDIDATES)
        .collect();
    if candidates.is_empty() {
        return Err(ApiError::new(
            ErrorCode::Unavailable,
            "no media node can take this participant now; retry shortly",
        ));
    }

    // TURN: the nearest TURN node's URLs and those of the nearest in another region (a relay
    // that survives the first one's region), else the configured ones.
    let turn_req = NodeRequest { kind: NodeKind::Turn, origin, room_node: None };
    let mut turn_urls: Vec<String> = turn_choice(&selector.rank(&nodes, &turn_req, now))
        .into_iter()
        .flat_map(|n| n.addresses.ice_urls.clone())
        .collect();
    if turn_urls.is_empty() {
        turn_urls = var(p, "turn_urls")
            .map(|v| v.split(',').map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect())
            .unwrap_or_default();
    }
    let config = token_config(p)?;
    let ttl = config.participant_ttl_secs;
    let mut ice_servers = Vec::new();
    if !turn_urls.is_empty() {
        let secrets = var(p, "turn_secret")
            .ok_or_else(|| ApiError::new(ErrorCode::Unavailable, "TURN is not configured: turn_secret is unset"))?;
        let secrets = TurnSecrets::new(secrets.split(',').map(str::trim));
        let creds = secrets
            .issue_in(&org, &turn_user(&identity), p.now_secs(), ttl)
            .map_err(|e| ApiError::internal(format!("cannot issue TURN credentials: {e}")))?;
        ice_servers.push(creds.ice_server(turn_urls));
    }

    // The seat, held by the room's coordinator until the participant connects.
    let seat_ttl: u64 = num_var(p, "seat_ttl_secs", 120);
    let terms = MeetingTerms {
        max_duration_ms: plan.limits.meeting_minutes.map(|m| m.saturating_mul(60_000)),
        chat_retention_ms: expiry::retention_of_chat(p),
        bill_usage: !guest,
        kick_ban_ms: num_var::<u64>(p, "kick_ban_minutes", 60).saturating_mul(60_000),
        minutes_left_ms,
        usage_grace_ms: book.usage_grace_secs.saturating_mul(1000),
        plan: Some(plan.id.clone()),
    };
    let seat = p.random_hex(12);
    let reserve = RoomCommand::Reserve {
        identity: identity.clone(),
        seat: seat.clone(),
        until_ms: now + seat_ttl * 1000,
        limit,
        terms,
        candidates: candidates.clone(),
    };
    let key = origo_shared::RoomKey::new(&org, name);
    let mut media = candidates[0].clone();
    match p.coordinator_send(&key, &reserve).await.map_err(unavailable)? {
        RoomCommandOutcome::Reserved { media: Some(chosen) } => media = chosen,
        // A plan's limit is a quota an organisation can buy more of; a meeting link's is not.
        RoomCommandOutcome::Full { limit } if limit == plan_limit && !guest => {
            let what = format!("{limit} participants per room and room {name} is full");
            return Err(crate::quota::refusal(&plan, "participants_per_room", limit.into(), limit.into(), &what));
        }
        RoomCommandOutcome::Full { limit } => {
            return Err(ApiError::new(ErrorCode::LimitExceeded, format!("room {name} is full ({limit} participants)")));
        }
        RoomCommandOutcome::Banned { until_ms } => {
            let minutes = until_ms.saturating_sub(now).div_ceil(60_000);
            return Err(ApiError::forbidden(format!(
                "a host removed you from room {name}; you may join again in {minutes} minutes"
            )));
        }
        RoomCommandOutcome::Ended => {
            return Err(ApiError::new(
                ErrorCode::LimitExceeded,
                format!(
                    "this meeting in room {name} has reached its time limit; start a new one when everyone has left"
                ),
            ));
        }
        _ => {}
    }

    // The token names the node the room chose: that node alone accepts it.
    let mut claims = Claims::new(&config.issuer, AUDIENCE, &identity, p.now_secs(), ttl)
        .with_kind(TokenKind::Participant)
        .with_name(display_name)
        .with_org(&org)
        .with_node(&media.node_id)
        .with_grants(participant_grants(&caller, name))
        .with_jti(p.random_hex(12))
        .with_seat(seat)
        .with_room_sessions(limit);
    if let Principal::Participant(c) = &caller
        && let Some(m) = &c.metadata
    {
        claims = claims.with_metadata(m);
    }
    let participant_token = config.issue(&claims)?;

    // The coordinators' public base: `coordinator_url` when they run apart from the functions
    // (Spin, Lambda), else the deployment's own.
    let base = var(p, "coordinator_url")
        .map_or_else(|| reply::public_base(req, var(p, "public_url")), |url| url.trim_end_matches('/').to_owned());
    let ws_base = base.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
    // Usage grows with every join: tell the organisation's webhooks when it passes a threshold
    // of the plan (best effort; the join stands either way). Meeting links are not billed.
    if org != guest_org(p) {
        let _ = crate::usage_threshold::check(p, &org).await;
    }
    Ok(reply::json(
        StatusCode::OK,
        &JoinResponse {
            participant_token,
            expires_in: ttl,
            identity,
            room: name.to_owned(),
            coordinator_url: format!("{ws_base}/v1/rooms/{name}/ws"),
            media: MediaAssignment { node_id: media.node_id, region: media.region, session_url: media.session_url },
            ice_servers,
            placement: Placement { source },
        },
    ))
}

/// The TURN nodes a participant gets, from the ranked candidates: the nearest, and the
/// nearest in another region (or the second nearest when every candidate is in one region).
fn turn_choice<'n>(ranked: &[&'n origo_shared::node::NodeDescriptor]) -> Vec<&'n origo_shared::node::NodeDescriptor> {
    let Some(first) = ranked.first() else { return Vec::new() };
    let other = ranked.iter().skip(1).find(|n| n.region != first.region).or_else(|| ranked.get(1));
    std::iter::once(*first).chain(other.copied()).collect()
}
