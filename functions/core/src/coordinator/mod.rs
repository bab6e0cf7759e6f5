//! The room coordinator as a pure state machine: one owner per room applies events in order —
//! a participant connects, sends a message, disconnects; a media node is lost; an alarm fires —
//! at a given time, and returns effects for its host to carry out: send to one connection or
//! to all, close a connection, persist the state, store a chat message, set the alarm, emit a
//! webhook event, record usage, answer a command (a seat held or refused), finish the room.
//!
//! No sockets, no clocks: the host passes `now_ms`. The host must make the state durable when
//! an event's effects include [`Effect::Persist`] *before* it delivers any of that event's
//! messages (output gate), so nothing a client saw acknowledged is lost in a crash.
//!
//! Rules:
//! * a participant is one identity; a second connection with the same identity replaces the
//!   first (closed with [`close::REPLACED`]) without a leave/join for the others;
//! * a dropped connection keeps its place for `disconnect_grace_ms`; reconnecting in time is
//!   silent for the others and replays the chat the client missed (`last_seq`); otherwise
//!   the others see `participant_left` with reason `disconnected`;
//! * a connected participant that sends nothing (not even `ping`) for `stale_after_ms` is
//!   dropped the same way;
//! * usage (participant-milliseconds) is recorded on leave and at every sweep, so a crash
//!   loses at most one sweep interval and every millisecond is counted once;
//! * an empty room finishes after its empty timeout;
//! * seats are made by `join` only ([`RoomCommand::Reserve`], with the seat id its token
//!   carries): a connection is admitted when its token's seat is the one held for its identity
//!   or the one the participant already sits in, and refused with [`close::NO_SEAT`] otherwise;
//! * a removed participant is banned from the room for the meeting's `kick_ban_ms`: its joins
//!   and sockets are refused, and its media node is told to close its sessions;
//! * an admin's mute holds until an admin allows unmuting; the media node enforces it;
//! * hidden participants are never announced, nor anything they do;
//! * each participant has a frame budget, kept across its reconnects ([`FrameLimits`]);
//! * each join is seated on its own nearest node (the room's node in that region when it has
//!   one), and the nodes serving the room are linked pairwise ([`node_links`]); a lost node's
//!   participants, and only they, move.

use std::collections::{BTreeMap, VecDeque};

use origo_shared::signal::TrackKind;

use origo_shared::WebhookEvent;
use origo_shared::chat::ChatChange;
use origo_shared::close_reason;
use origo_shared::signal::{
    ChatMessage, ClientMessage, LeaveReason, MediaAssignment, PROTOCOL_VERSION, ParticipantInfo, PresenceState,
    ServerMessage,
};
use serde::{Deserialize, Serialize};

pub mod bans;
mod command;
pub mod frame_budget;
pub mod node_health;
mod node_links;
mod node_order;
mod placement;
mod room_chat;
pub mod storage;
pub mod usage_quota;

pub use command::{
    DEFAULT_CHAT_RETENTION_MS, DEFAULT_KICK_BAN_MS, MAX_CANDIDATES, MeetingTerms, RoomCommand, RoomCommandOutcome,
};
pub use frame_budget::{FrameBudget, FrameClass, FrameLimits, Verdict};
pub use node_order::NodeOrder;
pub use placement::{NodeView, assignment};
pub use room_chat::ChangeRefusal;

/// A connection, as the host numbers them.
pub type ConnId = u64;

/// WebSocket close codes the coordinator uses.
pub mod close {
    /// Left on purpose.
    pub const NORMAL: u16 = 1000;
    /// The same identity connected again elsewhere.
    pub const REPLACED: u16 = 4001;
    /// Removed by an admin (and banned from the room for a while).
    pub const KICKED: u16 = 4003;
    /// The token's seat is not held (it lapsed, or a newer join replaced it): join again.
    pub const NO_SEAT: u16 = 4004;
    /// Sent nothing for too long.
    pub const STALE: u16 = 4008;
    /// Could not keep up with the room's messages (set by the host).
    pub const TOO_SLOW: u16 = 4009;
    /// The room finished.
    pub const ROOM_CLOSED: u16 = 4010;
    /// Kept sending over its frame budget.
    pub const TOO_MANY_MESSAGES: u16 = 4029;
    /// The organisation's monthly participant-minutes were used up and the grace ended.
    pub const USAGE_LIMIT: u16 = 4402;
}

/// Timing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub disconnect_grace_ms: u64,
    pub stale_after_ms: u64,
    /// How often a room with participants wakes to sweep and bill usage.
    pub sweep_ms: u64,
    /// Chat messages kept in the state for `joined` and replay.
    pub chat_tail: usize,
    /// What one connection may send.
    pub frames: FrameLimits,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            disconnect_grace_ms: 15_000,
            stale_after_ms: 45_000,
            sweep_ms: 15_000,
            chat_tail: 100,
            frames: FrameLimits::default(),
        }
    }
}

/// Who is connecting, from their verified participant token and the node registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joiner {
    pub identity: String,
    pub name: String,
    pub metadata: Option<String>,
    pub admin: bool,
    pub publish_data: bool,
    pub hidden: bool,
    pub media: Option<MediaAssignment>,
    /// The seat `join` holds for the token (its `seat` claim).
    #[serde(default)]
    pub seat: Option<String>,
}

impl Joiner {
    /// The joiner a verified participant token names for `room`, on `media` (the node its
    /// token was issued for, as the registry knows it).
    pub fn of(claims: &origo_shared::token::Claims, room: &str, media: Option<MediaAssignment>) -> Self {
        Joiner {
            identity: claims.sub.clone(),
            name: claims.name.clone().unwrap_or_else(|| claims.sub.clone()),
            metadata: claims.metadata.clone(),
            admin: claims.grants.can_admin(room),
            publish_data: claims.grants.publish_data,
            hidden: claims.grants.hidden,
            media,
            seat: claims.seat.clone(),
        }
    }
}

/// A participant of the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub info: ParticipantInfo,
    pub conn: Option<ConnId>,
    pub disconnected_at_ms: Option<u64>,
    pub last_seen_ms: u64,
    pub admin: bool,
    pub publish_data: bool,
    pub hidden: bool,
    pub media: Option<MediaAssignment>,
    /// Usage is recorded up to this time.
    pub billed_until_ms: u64,
    /// The seat the participant sits in (the `seat` claim of the token it connected with).
    #[serde(default)]
    pub seat: String,
    /// Kinds an admin muted and has not allowed to unmute yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admin_muted: Vec<TrackKind>,
}

/// A seat `join` holds for an identity on its way to the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldSeat {
    /// The `seat` claim of the token join issued.
    pub seat: String,
    pub until_ms: u64,
    /// The node the seat was placed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaAssignment>,
}

/// The durable state of one room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomState {
    pub org: String,
    pub room: String,
    pub seq: u64,
    pub members: BTreeMap<String, Member>,
    pub chat: VecDeque<ChatMessage>,
    pub media: Option<MediaAssignment>,
    pub started_at_ms: Option<u64>,
    pub empty_since_ms: Option<u64>,
    pub empty_timeout_ms: u64,
    pub alarm_at_ms: Option<u64>,
    /// When the next sweep is due (while the room has participants).
    #[serde(default)]
    pub next_sweep_ms: Option<u64>,
    pub finished: bool,
    #[serde(default)]
    pub settings: Settings,
    /// Seats held for joins on their way (identity → the seat).
    #[serde(default)]
    pub held: BTreeMap<String, HeldSeat>,
    /// Identities removed by an admin, until when ([`bans`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bans: bans::Bans,
    /// Each connection's frame budget (not durable: a new process starts them full).
    #[serde(skip)]
    pub budgets: frame_budget::Budgets,
    /// The meeting's terms, from the latest reservation.
    #[serde(default)]
    pub terms: MeetingTerms,
    /// The sequence number of the room's last webhook event: it only grows, across meetings
    /// too (a new one is at least the commit's time × 1000).
    #[serde(default)]
    pub webhook_seq: u64,
    /// What the room billed against the organisation's minutes left ([`usage_quota`]).
    #[serde(default, skip_serializing_if = "usage_quota::QuotaWatch::is_idle")]
    pub quota: usage_quota::QuotaWatch,
    /// Nodes probed after a participant lost its media, and those found unreachable.
    #[serde(default, skip_serializing_if = "node_health::NodeHealth::is_empty")]
    pub health: node_health::NodeHealth,
    /// The record format ([`crate::store::format`]).
    #[serde(default = "crate::store::format::first")]
    pub v: u32,
}

/// Something that happens to the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A connection sent `join` (its token already verified by the host).
    Connect { conn: ConnId, who: Joiner, last_seq: Option<u64> },
    /// A message from a joined connection (already parsed and validated).
    Client { conn: ConnId, msg: ClientMessage },
    /// The connection closed.
    Disconnect { conn: ConnId },
    /// A media node went away; `replacement` is the node the room moves to.
    NodeLost { node_id: String, replacement: Option<MediaAssignment> },
    /// The node registry as it is now: the room moves its participants off a node that is
    /// stale, draining or gone, to the best node the selector ranks for them.
    Nodes(std::sync::Arc<NodeView>),
    /// What the probe the room asked for ([`Effect::ProbeNode`]) found of `node_id`, and the
    /// registry as it was then (`None` when it could not be read).
    NodeProbed { node_id: String, outcome: node_health::ProbeOutcome, view: Option<std::sync::Arc<NodeView>> },
    /// A command from a function (over the `Platform`'s coordinator stub).
    Command(RoomCommand),
    /// The alarm the room asked for fired.
    Alarm,
}

/// What the host must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Send {
        conn: ConnId,
        msg: ServerMessage,
    },
    /// To every connected participant except `except`.
    Broadcast {
        msg: ServerMessage,
        except: Option<ConnId>,
    },
    Close {
        conn: ConnId,
        code: u16,
        reason: String,
    },
    /// Make the state durable before delivering this event's messages.
    Persist,
    /// Keep a chat message in the room's history (the chat function serves it).
    StoreChat(ChatMessage),
    /// Change a message of the room's history where its record is (it may be older than the
    /// room's recent chat).
    ChangeChat {
        message_id: String,
        by: String,
        admin: bool,
        change: ChatChange,
        seq: u64,
    },
    /// Wake the room at this time (`None`: no alarm).
    SetAlarm(Option<u64>),
    Webhook {
        event: WebhookEvent,
        data: serde_json::Value,
    },
    /// Participant-milliseconds to bill.
    Usage {
        identity: String,
        ms: u64,
    },
    /// The answer to the command being applied (when it is not [`RoomCommandOutcome::of`]'s
    /// default).
    Answer(RoomCommandOutcome),
    /// Tell a media node to enforce what the room decided (best effort, after the state is
    /// durable).
    Node(NodeOrder),
    /// Check now whether `node_id` answers (its control API's `/health`, within
    /// [`node_health::PROBE_DEADLINE_MS`]), then hand the room [`Event::NodeProbed`].
    ProbeNode {
        node_id: String,
    },
    /// The room found `node_id` unreachable: mark it so in the node registry
    /// ([`NodeDescriptor::unreachable_since_ms`](origo_shared::node::NodeDescriptor)), so
    /// joins to other rooms avoid it until it heartbeats again.
    NodeUnreachable {
        node_id: String,
    },
    /// The room is over: forget its state.
    Finished,
}

impl RoomState {
    pub fn new(org: &str, room: &str, empty_timeout_ms: u64, settings: Settings) -> Self {
        RoomState {
            org: org.to_owned(),
            room: room.to_owned(),
            seq: 0,
            members: BTreeMap::new(),
            chat: VecDeque::new(),
            media: None,
            started_at_ms: None,
            empty_since_ms: None,
            empty_timeout_ms,
            alarm_at_ms: None,
            next_sweep_ms: None,
            finished: false,
            settings,
            held: BTreeMap::new(),
            bans: bans::Bans::new(),
            budgets: frame_budget::Budgets::default(),
            terms: MeetingTerms::default(),
            webhook_seq: 0,
            quota: usage_quota::QuotaWatch::default(),
            health: node_health::NodeHealth::default(),
            v: crate::store::format::CURRENT,
        }
    }

    /// After loading from storage in a new process: no connection survived, so every
    /// participant is disconnected as of `now_ms` and may come back within the grace period.
    pub fn rehydrated(self, now_ms: u64) -> (Self, Vec<Effect>) {
        self.resumed(&[], now_ms)
    }

    /// After loading from storage where some connections outlived the process — a Durable
    /// Object woken from hibernation keeps its WebSockets: participants on a connection in
    /// `live` stay connected, every other one is disconnected as of `now_ms` and may come back
    /// within the grace period.
    pub fn resumed(mut self, live: &[ConnId], now_ms: u64) -> (Self, Vec<Effect>) {
        for m in self.members.values_mut() {
            if m.conn.is_some_and(|c| !live.contains(&c)) {
                m.conn = None;
                m.disconnected_at_ms = Some(now_ms);
            }
        }
        let mut fx = Vec::new();
        self.schedule(now_ms, &mut fx);
        fx.push(Effect::Persist);
        (self, fx)
    }

    /// The identity connected on `conn`.
    pub fn identity_of(&self, conn: ConnId) -> Option<&str> {
        self.members.iter().find(|(_, m)| m.conn == Some(conn)).map(|(id, _)| id.as_str())
    }

    /// Connected participants.
    pub fn connections(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.members.values().filter_map(|m| m.conn)
    }

    /// Participants the others can see.
    pub fn visible(&self) -> Vec<ParticipantInfo> {
        self.members.values().filter(|m| !m.hidden).map(|m| m.info.clone()).collect()
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Applies one event at `now_ms`.
    pub fn apply(&mut self, event: Event, now_ms: u64) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.finished {
            if let Event::Connect { conn, .. } = event {
                fx.push(Effect::Close { conn, code: close::ROOM_CLOSED, reason: "the room has finished".into() });
            }
            return fx;
        }
        match event {
            Event::Connect { conn, who, last_seq } => self.connect(conn, who, last_seq, now_ms, &mut fx),
            Event::Client { conn, msg } => self.client(conn, msg, now_ms, &mut fx),
            Event::Disconnect { conn } => {
                if let Some(m) = self.members.values_mut().find(|m| m.conn == Some(conn)) {
                    m.conn = None;
                    m.disconnected_at_ms = Some(now_ms);
                    fx.push(Effect::Persist);
                }
            }
            Event::NodeLost { node_id, replacement } => {
                let why = format!("media node {node_id} is gone");
                self.node_lost(&node_id, replacement, &why, &mut fx);
            }
            Event::Nodes(view) => {
                self.health.forget_revived(&view.nodes);
                if let Some((node_id, replacement)) = placement::lost_node(self, &view, now_ms) {
                    let why = format!("media node {node_id} is gone");
                    self.node_lost(&node_id, Some(replacement), &why, &mut fx);
                }
            }
            Event::NodeProbed { node_id, outcome, view } => self.node_probed(&node_id, outcome, view, now_ms, &mut fx),
            Event::Command(command) => self.command(command, now_ms, &mut fx),
            Event::Alarm => self.alarm(now_ms, &mut fx),
        }
        self.schedule(now_ms, &mut fx);
        fx
    }

    /// Whether `who`'s token holds a seat here: the one held for its identity, or the one the
    /// participant sits in. Takes the held seat when it is the one.
    fn take_seat(&mut self, who: &Joiner, now: u64) -> Option<String> {
        let seat = who.seat.as_deref().filter(|s| !s.is_empty())?;
        if self.held.get(&who.identity).is_some_and(|h| h.seat == seat && h.until_ms > now) {
            self.held.remove(&who.identity);
            return Some(seat.to_owned());
        }
        self.members.get(&who.identity).filter(|m| m.seat == seat).map(|_| seat.to_owned())
    }

    fn connect(&mut self, conn: ConnId, who: Joiner, last_seq: Option<u64>, now: u64, fx: &mut Vec<Effect>) {
        if bans::banned_until(&self.bans, &who.identity, now).is_some() {
            fx.push(Effect::Close { conn, code: close::KICKED, reason: "removed from this room by a host".into() });
            return;
        }
        let Some(seat) = self.take_seat(&who, now) else {
            fx.push(Effect::Close {
                conn,
                code: close::NO_SEAT,
                reason: "no seat is held for this token: join again".into(),
            });
            return;
        };
        // The budget is the participant's, not the connection's: reconnecting does not refill it.
        let limits = self.settings.frames;
        self.budgets.0.entry(who.identity.clone()).or_insert_with(|| FrameBudget::new(&limits, now));
        let media = who.media.clone().or_else(|| self.media.clone());
        if self.media.is_none() {
            self.media = who.media.clone();
        }
        match self.members.get_mut(&who.identity) {
            Some(m) => {
                // Back within the grace period, or a second connection replacing the first.
                if let Some(old) = m.conn.replace(conn)
                    && old != conn
                {
                    fx.push(Effect::Close {
                        conn: old,
                        code: close::REPLACED,
                        reason: "connected again elsewhere".into(),
                    });
                }
                m.disconnected_at_ms = None;
                m.last_seen_ms = now;
                m.seat = seat;
                if media.is_some() {
                    m.media = media.clone();
                    m.info.node_id = media.as_ref().map(|a| a.node_id.clone());
                }
            }
            None => {
                let seq = self.next_seq();
                let info = ParticipantInfo {
                    id: who.identity.clone(),
                    name: who.name.clone(),
                    metadata: who.metadata.clone(),
                    joined_at_ms: now,
                    hand_raised: false,
                    presence: PresenceState::Active,
                    tracks: Vec::new(),
                    node_id: media.as_ref().map(|a| a.node_id.clone()),
                };
                if self.started_at_ms.is_none() {
                    self.started_at_ms = Some(now);
                    fx.push(Effect::Webhook {
                        event: WebhookEvent::RoomStarted,
                        data: serde_json::json!({ "room": self.room, "org": self.org }),
                    });
                }
                self.empty_since_ms = None;
                if !who.hidden {
                    fx.push(Effect::Broadcast {
                        msg: ServerMessage::ParticipantJoined { seq, participant: info.clone() },
                        except: Some(conn),
                    });
                }
                fx.push(Effect::Webhook {
                    event: WebhookEvent::ParticipantJoined,
                    data: serde_json::json!({ "room": self.room, "org": self.org, "participant": info.id, "name": info.name }),
                });
                self.members.insert(
                    who.identity.clone(),
                    Member {
                        info,
                        conn: Some(conn),
                        disconnected_at_ms: None,
                        last_seen_ms: now,
                        admin: who.admin,
                        publish_data: who.publish_data,
                        hidden: who.hidden,
                        media: media.clone(),
                        billed_until_ms: now,
                        seat,
                        admin_muted: Vec::new(),
                    },
                );
            }
        }
        if self.members[&who.identity].admin_muted.is_empty() {
        } else if let Some(order) = self.mute_order(&who.identity) {
            // The node it is on now enforces the mutes an admin holds.
            fx.push(Effect::Node(order));
        }
        let you = self.members[&who.identity].info.clone();
        let chat: Vec<ChatMessage> =
            self.chat.iter().filter(|c| last_seq.is_none_or(|s| c.last_seq() > s)).cloned().collect();
        let participants =
            self.members.values().filter(|m| !m.hidden && m.info.id != who.identity).map(|m| m.info.clone()).collect();
        fx.push(Effect::Persist);
        fx.push(Effect::Send {
            conn,
            msg: ServerMessage::Joined {
                protocol: PROTOCOL_VERSION,
                room: self.room.clone(),
                seq: self.seq,
                you,
                participants,
                chat,
                media,
            },
        });
    }

    fn error(conn: ConnId, code: &str, message: &str) -> Effect {
        Effect::Send { conn, msg: ServerMessage::Error { code: code.into(), message: message.into() } }
    }

    /// Sends `msg` to everyone when `hidden` is false, else only to `conn` (hidden participants
    /// see their own changes; nobody else learns of them).
    fn announce(hidden: bool, conn: ConnId, msg: ServerMessage, fx: &mut Vec<Effect>) {
        if hidden {
            fx.push(Effect::Send { conn, msg });
        } else {
            fx.push(Effect::Broadcast { msg, except: None });
        }
    }

    /// Charges `msg` to `conn`'s frame budget; false when it is refused (the effects say how).
    fn within_budget(
        &mut self,
        conn: ConnId,
        identity: &str,
        msg: &ClientMessage,
        now: u64,
        fx: &mut Vec<Effect>,
    ) -> bool {
        let limits = self.settings.frames;
        let chat = matches!(
            msg,
            ClientMessage::Chat { .. }
                | ClientMessage::EditChat { .. }
                | ClientMessage::DeleteChat { .. }
                | ClientMessage::React { .. }
        );
        let class = if chat { FrameClass::Chat } else { FrameClass::Other };
        let budget = self.budgets.0.entry(identity.to_owned()).or_insert_with(|| FrameBudget::new(&limits, now));
        match budget.charge(&limits, class, now) {
            Verdict::Accept => true,
            Verdict::Refuse => false,
            Verdict::RefuseAndWarn => {
                fx.push(Self::error(conn, "rate_limited", "too many messages: slow down"));
                false
            }
            Verdict::Close => {
                fx.push(Effect::Close { conn, code: close::TOO_MANY_MESSAGES, reason: "too many messages".into() });
                false
            }
        }
    }

    /// The order that makes `identity`'s node enforce the mutes an admin holds on it.
    fn mute_order(&self, identity: &str) -> Option<NodeOrder> {
        let m = self.members.get(identity)?;
        let node_id = m.media.as_ref()?.node_id.clone();
        let locked = |k: TrackKind| Some(m.admin_muted.contains(&k));
        let video = Some(m.admin_muted.contains(&TrackKind::Video) || m.admin_muted.contains(&TrackKind::Screen));
        Some(NodeOrder::Mute { node_id, identity: identity.to_owned(), audio: locked(TrackKind::Audio), video })
    }

    fn client(&mut self, conn: ConnId, msg: ClientMessage, now: u64, fx: &mut Vec<Effect>) {
        let Some(identity) = self.identity_of(conn).map(str::to_owned) else {
            fx.push(Self::error(conn, "not_joined", "send join first"));
            return;
        };
        if !self.within_budget(conn, &identity, &msg, now, fx) {
            return;
        }
        let Some(me) = self.members.get_mut(&identity) else { return };
        me.last_seen_ms = now;
        let hidden = me.hidden;
        match msg {
            ClientMessage::Join { .. } => fx.push(Self::error(conn, "already_joined", "this connection has joined")),
            ClientMessage::Ping { nonce } => fx.push(Effect::Send { conn, msg: ServerMessage::Pong { nonce } }),
            ClientMessage::MediaLost { node_id } => {
                // Only a participant on that node may have it checked.
                // The probe's time is not written: a room rehydrated elsewhere may probe once more.
                if me.info.node_id.as_deref() == Some(node_id.as_str()) {
                    match self.health.report(&node_id, &identity, now) {
                        node_health::Report::Probe => fx.push(Effect::ProbeNode { node_id }),
                        node_health::Report::Wait => {}
                        node_health::Report::Move(to) => {
                            let why = format!("media node {node_id} did not answer in time");
                            if self.move_members(&node_id, Some(&identity), &to, &why, fx) {
                                self.link_node(&to.node_id, fx);
                            }
                        }
                    }
                }
            }
            ClientMessage::Leave => {
                self.leave(&identity, LeaveReason::Left, now, fx);
                fx.push(Effect::Close { conn, code: close::NORMAL, reason: "left".into() });
            }
            ClientMessage::EditChat { message_id, text } => {
                let change = ChatChange::Edited { text, at_ms: now };
                self.change_from_client(conn, &identity, message_id, change, fx);
            }
            ClientMessage::DeleteChat { message_id } => {
                let change = ChatChange::Deleted { at_ms: now };
                self.change_from_client(conn, &identity, message_id, change, fx);
            }
            ClientMessage::React { message_id, reaction, added } => {
                let change = ChatChange::Reaction { reaction, added };
                self.change_from_client(conn, &identity, message_id, change, fx);
            }
            ClientMessage::Chat { text, client_id, reply_to } => {
                let m = &self.members[&identity];
                if !m.publish_data {
                    fx.push(Self::error(conn, "forbidden", "this token may not send messages"));
                    return;
                }
                if hidden {
                    fx.push(Self::error(conn, "forbidden", "hidden participants may not send messages"));
                    return;
                }
                let from_name = m.info.name.clone();
                let draft = room_chat::Draft { from: identity, from_name, text, reply_to };
                self.post_chat(draft, Some((conn, client_id)), now, fx);
            }
            ClientMessage::Presence { state } => {
                let seq = self.next_seq();
                let Some(m) = self.members.get_mut(&identity) else { return };
                m.info.presence = state;
                fx.push(Effect::Persist);
                Self::announce(hidden, conn, ServerMessage::Presence { seq, participant_id: identity, state }, fx);
            }
            ClientMessage::RaiseHand { raised } => {
                let seq = self.next_seq();
                let Some(m) = self.members.get_mut(&identity) else { return };
                m.info.hand_raised = raised;
                let participant = m.info.clone();
                fx.push(Effect::Persist);
                Self::announce(hidden, conn, ServerMessage::ParticipantUpdated { seq, participant }, fx);
            }
            ClientMessage::TrackPublished { mut track } => {
                let Some(m) = self.members.get_mut(&identity) else { return };
                if m.info.tracks.len() >= 16 && !m.info.tracks.iter().any(|t| t.id == track.id) {
                    fx.push(Self::error(conn, "too_many_tracks", "at most 16 tracks per participant"));
                    return;
                }
                if m.admin_muted.contains(&track.kind) {
                    track.muted = true;
                }
                m.info.tracks.retain(|t| t.id != track.id);
                m.info.tracks.push(track.clone());
                let seq = self.next_seq();
                fx.push(Effect::Persist);
                Self::announce(
                    hidden,
                    conn,
                    ServerMessage::TrackPublished { seq, participant_id: identity.clone(), track },
                    fx,
                );
                fx.push(Effect::Webhook {
                    event: WebhookEvent::TrackPublished,
                    data: serde_json::json!({ "room": self.room, "org": self.org, "participant": identity }),
                });
            }
            ClientMessage::TrackUnpublished { track_id } => {
                let Some(m) = self.members.get_mut(&identity) else { return };
                let before = m.info.tracks.len();
                m.info.tracks.retain(|t| t.id != track_id);
                if m.info.tracks.len() == before {
                    fx.push(Self::error(conn, "unknown_track", "no such track"));
                    return;
                }
                let seq = self.next_seq();
                fx.push(Effect::Persist);
                Self::announce(
                    hidden,
                    conn,
                    ServerMessage::TrackUnpublished { seq, participant_id: identity.clone(), track_id },
                    fx,
                );
                fx.push(Effect::Webhook {
                    event: WebhookEvent::TrackUnpublished,
                    data: serde_json::json!({ "room": self.room, "org": self.org, "participant": identity }),
                });
            }
            ClientMessage::SetMuted { track_id, muted } => {
                let Some(m) = self.members.get_mut(&identity) else { return };
                let Some(t) = m.info.tracks.iter_mut().find(|t| t.id == track_id) else {
                    fx.push(Self::error(conn, "unknown_track", "no such track"));
                    return;
                };
                if !muted && m.admin_muted.contains(&t.kind) {
                    fx.push(Self::error(conn, "muted_by_admin", "a host muted this; they must allow unmuting first"));
                    return;
                }
                t.muted = muted;
                let participant = m.info.clone();
                let seq = self.next_seq();
                fx.push(Effect::Persist);
                Self::announce(hidden, conn, ServerMessage::ParticipantUpdated { seq, participant }, fx);
            }
            ClientMessage::Mute { participant_id, kind } => {
                self.admin_mute(conn, &identity, participant_id, kind, true, fx);
            }
            ClientMessage::AllowUnmute { participant_id, kind } => {
                self.admin_mute(conn, &identity, participant_id, kind, false, fx);
            }
            ClientMessage::Kick { participant_id, reason } => {
                if !self.members[&identity].admin {
                    fx.push(Self::error(conn, "forbidden", "only room admins may remove others"));
                    return;
                }
                if !self.kick(&participant_id, reason, now, fx) {
                    fx.push(Self::error(conn, "unknown_participant", "no such participant"));
                }
            }
        }
    }

    /// An admin mutes (`lock`) `participant_id`'s tracks of `kind`, or allows them to unmute.
    /// The node stops forwarding what is muted; the participant cannot unmute until allowed.
    fn admin_mute(
        &mut self,
        conn: ConnId,
        admin: &str,
        participant_id: String,
        kind: TrackKind,
        lock: bool,
        fx: &mut Vec<Effect>,
    ) {
        if !self.members[admin].admin {
            fx.push(Self::error(conn, "forbidden", "only room admins may mute others"));
            return;
        }
        let Some(target) = self.members.get_mut(&participant_id) else {
            fx.push(Self::error(conn, "unknown_participant", "no such participant"));
            return;
        };
        if lock {
            for t in target.info.tracks.iter_mut().filter(|t| t.kind == kind) {
                t.muted = true;
            }
            if !target.admin_muted.contains(&kind) {
                target.admin_muted.push(kind);
            }
        } else {
            target.admin_muted.retain(|k| *k != kind);
        }
        let (hidden, target_conn) = (target.hidden, target.conn);
        let seq = self.next_seq();
        fx.push(Effect::Persist);
        let msg = if lock {
            ServerMessage::Mute { seq, participant_id: participant_id.clone(), kind, by: admin.to_owned() }
        } else {
            ServerMessage::UnmuteAllowed { seq, participant_id: participant_id.clone(), kind, by: admin.to_owned() }
        };
        if hidden {
            // Only the admin who acted and the participant learn of it.
            if let Some(c) = target_conn.filter(|c| *c != conn) {
                fx.push(Effect::Send { conn: c, msg: msg.clone() });
            }
            fx.push(Effect::Send { conn, msg });
        } else {
            fx.push(Effect::Broadcast { msg, except: None });
        }
        if let Some(order) = self.mute_order(&participant_id) {
            fx.push(Effect::Node(order));
        }
    }

    /// Removes `participant_id` from the room (told why, then closed), bans it for the meeting's
    /// `kick_ban_ms` and tells its media node to close its sessions; false when no such
    /// participant is in the room (it is banned all the same).
    fn kick(&mut self, participant_id: &str, reason: Option<String>, now: u64, fx: &mut Vec<Effect>) -> bool {
        let until = now.saturating_add(self.terms.kick_ban_ms);
        bans::ban(&mut self.bans, participant_id, until, now);
        self.held.remove(participant_id);
        fx.push(Effect::Persist);
        let Some((target_conn, node)) =
            self.members.get(participant_id).map(|m| (m.conn, m.media.as_ref().map(|a| a.node_id.clone())))
        else {
            return false;
        };
        if let Some(c) = target_conn {
            fx.push(Effect::Send {
                conn: c,
                msg: ServerMessage::Kick { participant_id: participant_id.to_owned(), reason: reason.clone() },
            });
        }
        self.leave(participant_id, LeaveReason::Kicked, now, fx);
        let reason = reason.unwrap_or_else(|| "removed by an admin".into());
        if let Some(node_id) = node {
            fx.push(Effect::Node(NodeOrder::Close {
                node_id,
                identity: participant_id.to_owned(),
                ban_until_ms: Some(until),
                reason: reason.clone(),
            }));
        }
        if let Some(c) = target_conn {
            fx.push(Effect::Close { conn: c, code: close::KICKED, reason: close_reason::fit(&reason).to_owned() });
        }
        true
    }

    /// A command from a function; its outcome is in the effects ([`RoomCommandOutcome::of`]).
    fn command(&mut self, command: RoomCommand, now: u64, fx: &mut Vec<Effect>) {
        match command {
            RoomCommand::PostMessage { from, from_name, text, reply_to } => {
                self.post_chat(room_chat::Draft { from, from_name, text, reply_to }, None, now, fx);
            }
            RoomCommand::ChangeMessage { message_id, by, admin, change } => {
                let outcome = match self.change_chat(&by, admin, &message_id, change, true, fx) {
                    Ok((seq, message)) => RoomCommandOutcome::Changed { seq, message },
                    Err(why) => why.outcome(),
                };
                fx.push(Effect::Answer(outcome));
            }
            RoomCommand::Kick { identity, reason } => {
                self.kick(&identity, reason, now, fx);
            }
            RoomCommand::Close { reason } => self.close(&reason, now, fx),
            RoomCommand::Reserve { identity, seat, until_ms, limit, terms, candidates } => {
                let outcome = self.reserve(identity.clone(), seat, until_ms, limit, terms, now);
                if matches!(outcome, RoomCommandOutcome::Reserved { .. }) {
                    let media = self.seat_media(&identity, &candidates, now, fx);
                    fx.push(Effect::Persist);
                    fx.push(Effect::Answer(RoomCommandOutcome::Reserved { media }));
                } else {
                    fx.push(Effect::Answer(outcome));
                }
            }
        }
    }

    /// Holds `seat` for `identity` when one is free under `limit` and the identity is not
    /// banned (a participant already in the room joining again moves to the new seat).
    fn reserve(
        &mut self,
        identity: String,
        seat: String,
        until_ms: u64,
        limit: u32,
        terms: MeetingTerms,
        now: u64,
    ) -> RoomCommandOutcome {
        self.quota.renewed(terms.minutes_left_ms);
        self.terms = terms;
        self.held.retain(|_, h| h.until_ms > now);
        if let Some(until_ms) = bans::banned_until(&self.bans, &identity, now) {
            return RoomCommandOutcome::Banned { until_ms };
        }
        if self.meeting_ends_at().is_some_and(|end| end <= now) {
            return RoomCommandOutcome::Ended;
        }
        let others = |id: &&String| **id != identity;
        let members = self.members.keys().filter(others).count();
        let held = self.held.keys().filter(others).filter(|id| !self.members.contains_key(*id)).count();
        if members + held >= limit as usize {
            return RoomCommandOutcome::Full { limit };
        }
        self.held.insert(identity, HeldSeat { seat, until_ms, media: None });
        if self.members.is_empty() && self.empty_since_ms.is_none() {
            self.empty_since_ms = Some(now);
        }
        RoomCommandOutcome::Reserved { media: None }
    }

    /// The node a seat just held for `identity` is on ([`placement::seat_node`]): its
    /// nearest. When no other participant of the room is there yet, that node is linked to
    /// every node the room uses ([`node_links`]).
    fn seat_media(
        &mut self,
        identity: &str,
        candidates: &[MediaAssignment],
        now: u64,
        fx: &mut Vec<Effect>,
    ) -> Option<MediaAssignment> {
        let in_use = node_links::nodes_in_use(self, now);
        let chosen = placement::seat_node(self, candidates, &in_use, now)?;
        if let Some(h) = self.held.get_mut(identity) {
            h.media = Some(chosen.clone());
        }
        if self.media.is_none() {
            self.media = Some(chosen.clone());
        }
        if !in_use.iter().any(|n| n.node_id == chosen.node_id) {
            let mut nodes = in_use;
            nodes.push(chosen.clone());
            fx.extend(node_links::links_of(&nodes, &chosen.node_id).into_iter().map(Effect::Node));
        }
        Some(chosen)
    }

    /// A probe's answer. A node that is down is avoided, marked in the registry, and its
    /// participants move to the best node for its region; of a node that did not answer in
    /// time, only those who reported lost media move (it may only be slow).
    fn node_probed(
        &mut self,
        node_id: &str,
        outcome: node_health::ProbeOutcome,
        view: Option<std::sync::Arc<NodeView>>,
        now: u64,
        fx: &mut Vec<Effect>,
    ) {
        if let Some(v) = &view {
            // A node found unreachable earlier that heartbeats again is a place to go.
            self.health.forget_revived(&v.nodes);
        }
        let replacement = match outcome {
            node_health::ProbeOutcome::Answered => None,
            _ => view.and_then(|v| placement::replacement(self, &v, node_id, now)),
        };
        let reporters = self.health.probed(node_id, outcome, replacement.as_ref(), now);
        match outcome {
            node_health::ProbeOutcome::Answered => {}
            node_health::ProbeOutcome::Down => {
                fx.push(Effect::Persist);
                fx.push(Effect::NodeUnreachable { node_id: node_id.to_owned() });
                let why = format!("media node {node_id} stopped answering");
                self.node_lost(node_id, replacement, &why, fx);
            }
            node_health::ProbeOutcome::NoAnswer => {
                let Some(to) = replacement else { return };
                let why = format!("media node {node_id} did not answer in time");
                let mut moved = false;
                for identity in reporters {
                    moved |= self.move_members(node_id, Some(&identity), &to, &why, fx);
                }
                if moved {
                    self.link_node(&to.node_id, fx);
                }
            }
        }
    }

    /// When the meeting must end, under its terms.
    fn meeting_ends_at(&self) -> Option<u64> {
        Some(self.started_at_ms? + self.terms.max_duration_ms?)
    }

    /// Ends the room now (it was deleted): everyone leaves and is disconnected.
    fn close(&mut self, reason: &str, now: u64, fx: &mut Vec<Effect>) {
        let members: Vec<(String, Option<ConnId>)> = self.members.iter().map(|(id, m)| (id.clone(), m.conn)).collect();
        for (id, conn) in members {
            self.leave(&id, LeaveReason::RoomClosed, now, fx);
            if let Some(conn) = conn {
                fx.push(Effect::Close { conn, code: close::ROOM_CLOSED, reason: close_reason::fit(reason).to_owned() });
            }
        }
        self.finished = true;
        self.alarm_at_ms = None;
        fx.push(Effect::SetAlarm(None));
        if self.started_at_ms.is_some() {
            fx.push(Effect::Webhook {
                event: WebhookEvent::RoomFinished,
                data: serde_json::json!({ "room": self.room, "org": self.org }),
            });
        }
        fx.push(Effect::Finished);
        fx.push(Effect::Persist);
    }

    /// Removes `identity` and tells the others; bills the time since the last sweep.
    fn leave(&mut self, identity: &str, reason: LeaveReason, now: u64, fx: &mut Vec<Effect>) {
        let Some(m) = self.members.remove(identity) else { return };
        self.budgets.0.remove(identity);
        let seq = self.next_seq();
        fx.push(Effect::Persist);
        let ms = now.saturating_sub(m.billed_until_ms);
        if ms > 0 {
            self.quota.billed(ms);
            fx.push(Effect::Usage { identity: identity.to_owned(), ms });
        }
        if !m.hidden {
            fx.push(Effect::Broadcast {
                msg: ServerMessage::ParticipantLeft { seq, participant_id: identity.to_owned(), reason },
                except: m.conn,
            });
        }
        fx.push(Effect::Webhook {
            event: WebhookEvent::ParticipantLeft,
            data: serde_json::json!({ "room": self.room, "org": self.org, "participant": identity, "reason": reason }),
        });
        if self.members.is_empty() {
            self.empty_since_ms = Some(now);
        }
    }

    fn node_lost(&mut self, node_id: &str, replacement: Option<MediaAssignment>, why: &str, fx: &mut Vec<Effect>) {
        if self.media.as_ref().is_some_and(|m| m.node_id == node_id) {
            self.media = replacement.clone();
        }
        let Some(to) = replacement else { return };
        for h in self.held.values_mut().filter(|h| h.media.as_ref().is_some_and(|m| m.node_id == node_id)) {
            h.media = Some(to.clone());
        }
        self.move_members(node_id, None, &to, why, fx);
        self.link_node(&to.node_id, fx);
    }

    /// Moves the participants on `node_id` (only `only`, when given) to `to` and tells them;
    /// true when anyone moved.
    fn move_members(
        &mut self,
        node_id: &str,
        only: Option<&str>,
        to: &MediaAssignment,
        why: &str,
        fx: &mut Vec<Effect>,
    ) -> bool {
        let mut moved = false;
        let on_node =
            |id: &String, m: &Member| m.info.node_id.as_deref() == Some(node_id) && only.is_none_or(|o| o == id);
        for (_, m) in self.members.iter_mut().filter(|(id, m)| on_node(id, m)) {
            m.info.node_id = Some(to.node_id.clone());
            m.media = Some(to.clone());
            moved = true;
            if let Some(conn) = m.conn {
                fx.push(Effect::Send {
                    conn,
                    msg: ServerMessage::ReconnectToNode { media: to.clone(), reason: why.to_owned() },
                });
            }
        }
        if moved {
            fx.insert(0, Effect::Persist);
        }
        moved
    }

    /// Links `node_id` (it may be new to the room) to the other nodes the room uses.
    fn link_node(&self, node_id: &str, fx: &mut Vec<Effect>) {
        let nodes = node_links::nodes_in_use(self, 0);
        fx.extend(node_links::links_of(&nodes, node_id).into_iter().map(Effect::Node));
    }

    fn alarm(&mut self, now: u64, fx: &mut Vec<Effect>) {
        let s = self.settings;
        if self.meeting_ends_at().is_some_and(|end| end <= now) {
            self.close("the meeting reached its time limit", now, fx);
            return;
        }
        if self.quota.ends_at_ms.is_some_and(|end| end <= now) {
            self.end_for_quota(now, fx);
            return;
        }
        if self.next_sweep_ms.is_some_and(|at| at > now) {
            // Woken for a disconnect deadline or an empty room, not for the sweep: only those.
            self.expire_disconnected(now, fx);
            self.finish_if_empty(now, fx);
            return;
        }
        self.next_sweep_ms = Some(now + s.sweep_ms);
        let gone: Vec<(String, Option<ConnId>)> = self
            .members
            .iter()
            .filter(|(_, m)| match (m.conn, m.disconnected_at_ms) {
                (None, Some(at)) => at + s.disconnect_grace_ms <= now,
                (Some(_), _) => m.last_seen_ms + s.stale_after_ms <= now,
                (None, None) => true,
            })
            .map(|(id, m)| (id.clone(), m.conn))
            .collect();
        for (id, conn) in gone {
            self.leave(&id, LeaveReason::Disconnected, now, fx);
            if let Some(c) = conn {
                fx.push(Effect::Close { conn: c, code: close::STALE, reason: "no message for too long".into() });
            }
        }
        for (id, m) in self.members.iter_mut() {
            let ms = now.saturating_sub(m.billed_until_ms);
            if ms > 0 {
                self.quota.billed(ms);
                fx.push(Effect::Usage { identity: id.clone(), ms });
                m.billed_until_ms = now;
            }
        }
        self.check_quota(now, fx);
        self.held.retain(|_, h| h.until_ms > now);
        // Links between the room's nodes, again: an open one is kept, a lost one reopened.
        fx.extend(node_links::link_orders(&node_links::nodes_in_use(self, now)).into_iter().map(Effect::Node));
        self.bans.retain(|_, until| *until > now);
        self.finish_if_empty(now, fx);
        fx.push(Effect::Persist);
    }

    /// Participants whose connection dropped longer than the grace period ago leave.
    fn expire_disconnected(&mut self, now: u64, fx: &mut Vec<Effect>) {
        let grace = self.settings.disconnect_grace_ms;
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| m.conn.is_none() && m.disconnected_at_ms.is_none_or(|at| at + grace <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            self.leave(&id, LeaveReason::Disconnected, now, fx);
        }
    }

    fn finish_if_empty(&mut self, now: u64, fx: &mut Vec<Effect>) {
        if self.members.is_empty()
            && self.held.values().all(|h| h.until_ms <= now)
            && let Some(since) = self.empty_since_ms
            && since + self.empty_timeout_ms <= now
        {
            self.finished = true;
            fx.push(Effect::Webhook {
                event: WebhookEvent::RoomFinished,
                data: serde_json::json!({ "room": self.room, "org": self.org }),
            });
            fx.push(Effect::Finished);
            fx.push(Effect::Persist);
        }
    }

    /// Sets the alarm to the earliest thing the room must do on its own: the next sweep, a
    /// disconnected participant's deadline, or the end of an empty room.
    fn schedule(&mut self, now: u64, fx: &mut Vec<Effect>) {
        let s = self.settings;
        if self.members.is_empty() {
            self.next_sweep_ms = None;
        } else if self.next_sweep_ms.is_none() {
            self.next_sweep_ms = Some(now + s.sweep_ms);
        }
        let next = if self.finished {
            None
        } else if self.members.is_empty() {
            // An empty room ends after its timeout, and not while a seat is held for a join.
            let held = self.held.values().map(|h| h.until_ms).filter(|until| *until > now).max().unwrap_or(0);
            self.empty_since_ms.map(|since| (since + self.empty_timeout_ms).max(held))
        } else {
            let deadlines = self
                .members
                .values()
                .filter(|m| m.conn.is_none())
                .filter_map(|m| m.disconnected_at_ms.map(|d| d + s.disconnect_grace_ms));
            deadlines.chain(self.next_sweep_ms).chain(self.meeting_ends_at()).chain(self.quota.ends_at_ms).min()
        };
        if next != self.alarm_at_ms {
            self.alarm_at_ms = next;
            fx.push(Effect::SetAlarm(next));
            if !fx.contains(&Effect::Persist) {
                fx.push(Effect::Persist);
            }
        }
    }
}
