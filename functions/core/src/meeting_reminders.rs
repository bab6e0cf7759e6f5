//! Reminders of scheduled meetings, sent by the maintenance sweep: each reminder the due index
//! ([`reminder_due`]) names as due is checked against its room's schedule (moved or removed
//! meetings send nothing, and neither do meetings already over), then goes to the organiser's
//! account and to every invitee — through their preferred channels
//! ([`notify_user`](crate::notify_user::notify_user), kind `meeting_reminder`) when the
//! address belongs to a verified account, else by email. Each recipient is recorded before its
//! reminder goes out ([`reminders_sent`]), so nobody is reminded twice of one start. A
//! reminder is as punctual as the sweep: it goes out at the first pass after it is due.

use origo_shared::ApiError;
use serde::Serialize;

use crate::email::Email;
use crate::meeting_invitations::{join_link, public_base};
use crate::meeting_schedule::Schedule;
use crate::notification_kind::NotificationKind;
use crate::notification_retry::{Fate, send_or_queue};
use crate::notify_user::{Message, notify_user};
use crate::outgoing::Outgoing;
use crate::platform::Platform;
use crate::store::account as accounts;
use crate::store::reminders_sent;
use crate::store::room::Room;
use crate::store::{record, reminder_due};

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReminderReport {
    /// Minutes of the due index read.
    pub buckets: u64,
    /// Meetings whose reminder went out.
    pub meetings: u64,
    /// People reminded.
    pub recipients: u64,
    /// Due entries whose meeting moved, ended or is gone.
    pub skipped: u64,
    /// Reminders that will not reach someone (a provider that cannot take one now keeps it
    /// for another try, which is not a failure).
    pub failures: u64,
}

/// Sends the reminders due by now.
pub async fn run(p: &impl Platform) -> Result<ReminderReport, ApiError> {
    let now = p.now_ms();
    let due = reminder_due::due(p, now).await?;
    let mut report = ReminderReport { buckets: due.buckets, ..ReminderReport::default() };
    for (_, room_key, at) in &due.entries {
        remind(p, room_key, *at, now, &mut report).await?;
    }
    reminder_due::finish(p, &due).await?;
    Ok(report)
}

/// The reminder of the meeting in the room at `room_key`, due at `at`.
async fn remind(
    p: &impl Platform,
    room_key: &str,
    at: u64,
    now: u64,
    report: &mut ReminderReport,
) -> Result<(), ApiError> {
    let room: Option<Room> = record::get(p, room_key).await?;
    let Some((room, schedule)) = room.and_then(|r| r.schedule.clone().map(|s| (r, s))) else {
        report.skipped += 1;
        return Ok(());
    };
    if schedule.reminder_due_ms() != Some(at) || now >= schedule.end_at_ms() {
        report.skipped += 1;
        return Ok(());
    }
    let base = public_base(p)?;
    let message = message(&schedule, &join_link(&base, &room.name), now);
    let mut sent = reminders_sent::load(p, &room.org, &room.name, schedule.start_at_ms).await?;
    let end = schedule.end_at_ms();
    report.meetings += 1;
    if let Some(account) = &schedule.organizer_account {
        let recipient = format!("account:{account}");
        if reminders_sent::mark(p, &room.org, &room.name, &mut sent, &recipient, end).await? {
            report.recipients += 1;
            if notify_user(p, account, NotificationKind::MeetingReminder, &message).await.is_err() {
                report.failures += 1;
            }
        }
    }
    for invitee in &schedule.invitees {
        let account = accounts::find_by_email(p, invitee).await?.filter(|a| a.verified);
        let recipient = match &account {
            Some(a) => format!("account:{}", a.id),
            None => format!("email:{invitee}"),
        };
        if !reminders_sent::mark(p, &room.org, &room.name, &mut sent, &recipient, end).await? {
            continue;
        }
        report.recipients += 1;
        let ok = match &account {
            Some(a) => notify_user(p, &a.id, NotificationKind::MeetingReminder, &message)
                .await
                .is_ok_and(|reports| reports.iter().any(|r| r.sent + r.queued > 0) || reports.is_empty()),
            None => {
                let email = Outgoing::Email(Email::new(invitee, &message.title, &message.text));
                !matches!(send_or_queue(p, "meeting_reminder", email, message.until_ms).await, Fate::Failed { .. })
            }
        };
        if !ok {
            report.failures += 1;
        }
    }
    Ok(())
}

/// What a reminder says.
fn message(s: &Schedule, url: &str, now: u64) -> Message {
    let minutes = s.start_at_ms.saturating_sub(now).div_ceil(60_000);
    let when = if minutes == 0 { "now".to_owned() } else { format!("in {minutes} minutes") };
    Message {
        title: format!("Starting {when}: {}", s.title),
        text: format!(
            "\"{}\" starts {when} ({} UTC, {} minutes).\n\nJoin: {url}\n",
            s.title, s.start_at, s.duration_mins
        ),
        url: Some(url.to_owned()),
        until_ms: Some(s.end_at_ms()),
    }
}
