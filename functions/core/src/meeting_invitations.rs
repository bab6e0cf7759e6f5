//! What follows a change of a room's scheduled meeting, once the room is stored: invitations
//! by email with the meeting's iCalendar object attached ([`meeting_calendar`]) — `REQUEST` to
//! every invitee when the meeting is set or changed for them, `CANCEL` to invitees taken off
//! it and to everyone when it is removed or the room deleted; invitees with a verified account
//! also hear of it on their other channels ([`notify_user_except`]); the reminder given to the
//! sweep's due index ([`reminder_due`]); and the organisation's `room.scheduled` webhook event.
//!
//! Invitations are transactional: preferences and unsubscribes never hold their email back.
//! Every send is best effort — a provider's refusal does not undo the change; what went out is
//! returned.

use origo_shared::{ApiError, ErrorCode, WebhookEvent};
use serde::Serialize;

use crate::email::{Attachment, Email};
use crate::meeting_calendar::{self, Invitation, Method};
use crate::meeting_schedule::{Organizer, Schedule};
use crate::notification_kind::{Channel, NotificationKind};
use crate::notification_retry::{Fate, send_or_queue};
use crate::notify_user::{Message, notify_user_except};
use crate::outgoing::Outgoing;
use crate::platform::Platform;
use crate::principal::Principal;
use crate::store::account as accounts;
use crate::store::keys;
use crate::store::reminder_due;
use crate::store::room::Room;
use crate::variables::var;
use crate::webhook_delivery::DispatchCommand;

/// The name of the attached calendar file.
pub const ICS_FILENAME: &str = "invite.ics";

/// What the messages of one change did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Announced {
    /// Invitation and cancellation emails the provider accepted.
    pub emails: u32,
    /// Emails the provider could not take now, kept and tried again until the meeting ends.
    #[serde(skip_serializing_if = "is_zero")]
    pub queued: u32,
    /// Why some did not go out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The deployment's public base URL, needed for the links invitations carry.
pub fn public_base(p: &impl Platform) -> Result<String, ApiError> {
    var(p, "public_url").map(|u| u.trim_end_matches('/').to_owned()).filter(|u| !u.is_empty()).ok_or_else(|| {
        ApiError::new(ErrorCode::Unavailable, "scheduling needs the public_url variable (invitation links)")
    })
}

/// The web client's link into `room`.
pub fn join_link(base: &str, room: &str) -> String {
    format!("{base}/?room={room}")
}

/// Who the caller is as an organiser: a signed-in account's address; for an API key or a
/// participant token, the deployment's sender address (`email_from`).
pub async fn organizer(p: &impl Platform, caller: &Principal) -> Result<Organizer, ApiError> {
    if let Principal::Account { id, .. } = caller
        && let Some(account) = accounts::load(p, id).await?
    {
        return Ok(Organizer { email: account.email, account: Some(account.id) });
    }
    let from = var(p, "email_from").unwrap_or_else(|| "no-reply@origo.invalid".into());
    let address = match (from.find('<'), from.rfind('>')) {
        (Some(a), Some(b)) if a < b => from[a + 1..b].trim().to_owned(),
        _ => from.trim().to_owned(),
    };
    Ok(Organizer { email: address, account: None })
}

/// The `SEQUENCE` after a change from `before` to `after`: raised whenever invitees are told
/// of something new about a meeting they already had.
pub fn next_sequence(before: Option<&Schedule>, after: Option<&Schedule>, sequence: u32) -> u32 {
    match (before, after) {
        (Some(b), Some(a)) if b.differs_for_invitees(a) => sequence + 1,
        (Some(_), None) => sequence + 1,
        _ => sequence,
    }
}

/// Sends what the change of `room`'s schedule from `before` calls for (the room as stored now;
/// a deleted room is passed with no schedule).
pub async fn announce(p: &impl Platform, room: &Room, before: Option<&Schedule>) -> Result<Announced, ApiError> {
    let after = room.schedule.as_ref();
    let mut out = Announced::default();
    if before == after {
        return Ok(out);
    }
    let base = public_base(p)?;
    let room_key = keys::room(&room.org, &room.name);
    let (due_before, due_after) =
        (before.and_then(Schedule::reminder_due_ms), after.and_then(Schedule::reminder_due_ms));
    if due_before != due_after {
        if let Some(at) = due_before {
            reminder_due::remove(p, &room_key, at).await?;
        }
        if let Some(at) = due_after {
            reminder_due::add(p, &room_key, at).await?;
        }
    }
    match (before, after) {
        (_, Some(s)) if before.is_none_or(|b| b.differs_for_invitees(s)) => {
            send(p, room, s, Method::Request, &s.invitees, &base, &mut out).await;
            if let Some(b) = before {
                let dropped: Vec<String> = b.invitees.iter().filter(|i| !s.invitees.contains(i)).cloned().collect();
                send(p, room, b, Method::Cancel, &dropped, &base, &mut out).await;
            }
        }
        (Some(b), None) => send(p, room, b, Method::Cancel, &b.invitees, &base, &mut out).await,
        _ => {}
    }
    emit(p, room, after.or(before), after.is_none(), &mut out).await;
    Ok(out)
}

/// The invitation (or cancellation) of `schedule` to each of `to`.
async fn send(
    p: &impl Platform,
    room: &Room,
    schedule: &Schedule,
    method: Method,
    to: &[String],
    base: &str,
    out: &mut Announced,
) {
    if to.is_empty() {
        return;
    }
    let url = join_link(base, &room.name);
    let host = base.split("://").nth(1).unwrap_or(base).split('/').next().unwrap_or("origo");
    let uid = meeting_calendar::uid(&room.org, &room.name, room.created_at_ms, host);
    let ics = meeting_calendar::render(&Invitation {
        method,
        uid: &uid,
        sequence: room.calendar_sequence,
        schedule,
        attendees: to,
        url: &url,
        now_ms: p.now_ms(),
    });
    let attachment = Attachment {
        filename: ICS_FILENAME.into(),
        content_type: method.content_type().into(),
        content: ics.into_bytes(),
    };
    let when = format!("{} UTC, {} minutes", schedule.start_at, schedule.duration_mins);
    let (subject, text) = match method {
        Method::Request if room.calendar_sequence == 0 => (
            format!("Invitation: {}", schedule.title),
            format!(
                "{} invited you to \"{}\" on {when}.\n\nJoin at the time: {url}\n",
                schedule.organizer_email, schedule.title
            ),
        ),
        Method::Request => (
            format!("Updated invitation: {}", schedule.title),
            format!("\"{}\" is now on {when}.\n\nJoin at the time: {url}\n", schedule.title),
        ),
        Method::Cancel => (
            format!("Cancelled: {}", schedule.title),
            format!("\"{}\" on {} UTC is cancelled for you.\n", schedule.title, schedule.start_at),
        ),
    };
    let until_ms = Some(schedule.end_at_ms());
    let message = Message { title: subject.clone(), text: text.clone(), url: Some(url.clone()), until_ms };
    for invitee in to {
        let email = Email { attachments: vec![attachment.clone()], ..Email::new(invitee, &subject, &text) };
        match send_or_queue(p, "meeting_invitation", Outgoing::Email(email), until_ms).await {
            Fate::Sent => out.emails += 1,
            Fate::Queued { .. } => out.queued += 1,
            Fate::Failed { reason } => out.failures.push(format!("email to an invitee: {reason}")),
        }
        // An address whose owner proved it: their other channels too.
        if let Ok(Some(account)) = accounts::find_by_email(p, invitee).await
            && account.verified
        {
            let sent =
                notify_user_except(p, &account.id, NotificationKind::MeetingInvitation, &message, &[Channel::Email])
                    .await;
            if let Err(e) = sent {
                out.failures.push(format!("notification to an invitee: {}", e.message));
            }
        }
    }
}

/// The organisation's `room.scheduled` event: the meeting as it now is (no addresses).
async fn emit(p: &impl Platform, room: &Room, schedule: Option<&Schedule>, cancelled: bool, out: &mut Announced) {
    let Some(s) = schedule else { return };
    let data = serde_json::json!({
        "room": room.name,
        "start_at": s.start_at,
        "start_at_ms": s.start_at_ms,
        "duration_mins": s.duration_mins,
        "title": s.title,
        "invitee_count": s.invitees.len(),
        "reminder_minutes": s.reminder_minutes,
        "sequence": room.calendar_sequence,
        "cancelled": cancelled,
    });
    let command = DispatchCommand::Emit { event: WebhookEvent::RoomScheduled, data };
    if let Err(e) = p.dispatcher_send(&room.org, &command).await {
        out.failures.push(format!("room.scheduled event: {e}"));
    }
}
