//! Hostile frames on the room socket, applied to a real room coordinator: arbitrary bytes go
//! through `ClientMessage::parse` the way the socket takes text frames, and every frame that
//! parses is applied to a `RoomState` whose participants (an admin, a participant, a hidden
//! admin, one who may not send messages) hold seats as `join` gives them. The input also moves
//! the clock (alarms fire when due), drops connections, holds seats and sends the commands the
//! functions send. After every event: no panic, connections and identities agree, every close
//! reason fits a close frame, the state stays bounded, hidden participants are never announced,
//! and the stored snapshot reads back as the state.
//!
//! An input is chunks separated by NUL bytes (never in a JSON text frame); each chunk is
//! `[selector][payload…]`: the selector's low 3 bits pick the step, the next bits the
//! participant.
#![no_main]

use std::collections::{BTreeMap, VecDeque};

use libfuzzer_sys::fuzz_target;
use origo_functions::coordinator::{
    ConnId, Effect, Event, Joiner, MeetingTerms, RoomCommand, RoomCommandOutcome, RoomState, Settings, storage,
};
use origo_shared::RoomKey;
use origo_shared::close_reason;
use origo_shared::signal::{ClientMessage, MediaAssignment, PROTOCOL_VERSION, ServerMessage};

/// identity, admin, may send messages, hidden.
const PEOPLE: [(&str, bool, bool, bool); 4] =
    [("ada", true, true, false), ("bo", false, true, false), ("cy", true, true, true), ("dee", false, false, false)];
const T0: u64 = 1_800_000_000_000;

fn media(node: &str) -> MediaAssignment {
    MediaAssignment {
        node_id: node.into(),
        region: "eu-west".into(),
        session_url: format!("https://{node}/v1/sessions"),
    }
}

/// A participant's socket as the host sees it.
#[derive(Default)]
struct Slot {
    conn: Option<ConnId>,
    /// The seat claim of the participant's latest token.
    seat: Option<String>,
}

struct Room {
    state: RoomState,
    now: u64,
    slots: [Slot; 4],
    next_conn: ConnId,
    seats: u64,
    kv: BTreeMap<String, Vec<u8>>,
    random: u32,
}

impl Room {
    fn new() -> Self {
        let mut room = Room {
            state: RoomState::new("org_1", "standup", 60_000, Settings::default()),
            now: T0,
            slots: Default::default(),
            next_conn: 1,
            seats: 0,
            kv: BTreeMap::new(),
            random: 0,
        };
        for i in 0..PEOPLE.len() {
            room.reserve(i, 10, MeetingTerms::default());
            room.connect(i, None);
        }
        room
    }

    fn joiner(&self, i: usize) -> Joiner {
        let (id, admin, publish_data, hidden) = PEOPLE[i];
        Joiner {
            identity: id.into(),
            name: id.to_uppercase(),
            metadata: None,
            admin,
            publish_data,
            hidden,
            media: Some(media("m1")),
            seat: self.slots[i].seat.clone(),
        }
    }

    /// A join: the seat is held for the participant's new token.
    fn reserve(&mut self, i: usize, limit: u32, terms: MeetingTerms) {
        self.seats += 1;
        let seat = format!("seat-{}", self.seats);
        let command = RoomCommand::Reserve {
            identity: PEOPLE[i].0.into(),
            seat: seat.clone(),
            until_ms: self.now + 120_000,
            limit,
            terms,
            candidates: Vec::new(),
        };
        let fx = self.apply(Event::Command(command.clone()));
        if RoomCommandOutcome::of(&command, &fx) == (RoomCommandOutcome::Reserved { media: None }) {
            self.slots[i].seat = Some(seat);
        }
    }

    /// The socket's `join` frame: a new connection.
    fn connect(&mut self, i: usize, last_seq: Option<u64>) {
        let conn = self.next_conn;
        self.next_conn += 1;
        self.slots[i].conn = Some(conn);
        let who = self.joiner(i);
        self.apply(Event::Connect { conn, who, last_seq });
    }

    /// Applies `event` and what the host does after it (a closed connection's socket ends),
    /// checking the invariants after each.
    fn apply(&mut self, event: Event) -> Vec<Effect> {
        let mut queue = VecDeque::from([event]);
        let mut first = None;
        while let Some(event) = queue.pop_front() {
            let seq = self.state.seq;
            let fx = self.state.apply(event, self.now);
            assert!(self.state.seq >= seq, "seq went back");
            for e in &fx {
                if let Effect::Close { conn, reason, .. } = e {
                    assert!(reason.len() <= close_reason::MAX_BYTES, "close reason of {} bytes", reason.len());
                    for slot in &mut self.slots {
                        if slot.conn == Some(*conn) {
                            slot.conn = None;
                        }
                    }
                    queue.push_back(Event::Disconnect { conn: *conn });
                }
            }
            self.check_effects(&fx);
            self.commit(&fx);
            if self.state.finished {
                // The room is over: the next join starts it afresh.
                assert!(self.slots.iter().all(|s| s.conn.is_none()), "a connection outlived its room");
                self.state = RoomState::new("org_1", "standup", 60_000, Settings::default());
            }
            first.get_or_insert(fx);
        }
        self.check_state();
        first.unwrap_or_default()
    }

    fn check_effects(&self, fx: &[Effect]) {
        let hidden: Vec<&str> = PEOPLE.iter().filter(|p| p.3).map(|p| p.0).collect();
        for e in fx {
            let (msg, conn) = match e {
                Effect::Send { conn, msg } => (msg, Some(*conn)),
                Effect::Broadcast { msg, .. } => (msg, None),
                _ => continue,
            };
            if let Some(c) = conn {
                assert!(c < self.next_conn, "sent to a connection that never was");
            }
            let frame = msg.to_frame();
            let v: serde_json::Value = serde_json::from_str(&frame).expect("server frames are JSON");
            if conn.is_none() {
                let about = v["participant_id"].as_str().or(v["participant"]["id"].as_str());
                assert!(about.is_none_or(|id| !hidden.contains(&id)), "a hidden participant announced: {frame}");
            }
            if let ServerMessage::Joined { participants, .. } = msg {
                assert!(participants.iter().all(|p| !hidden.contains(&p.id.as_str())), "hidden in joined: {frame}");
            }
        }
    }

    fn check_state(&self) {
        let s = &self.state;
        assert!(s.members.len() <= PEOPLE.len() && s.held.len() <= PEOPLE.len());
        assert!(s.members.keys().all(|id| PEOPLE.iter().any(|p| p.0 == id)));
        assert!(s.chat.len() <= s.settings.chat_tail);
        assert!(s.members.values().all(|m| m.info.tracks.len() <= 16));
        for (id, m) in &s.members {
            if let Some(c) = m.conn {
                assert_eq!(s.identity_of(c), Some(id.as_str()), "two participants on connection {c}");
            }
        }
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(c) = slot.conn {
                assert_eq!(s.identity_of(c), Some(PEOPLE[i].0), "an open socket the room does not know");
            }
        }
        assert!(s.budgets.0.keys().all(|id| s.members.contains_key(id)), "a frame budget outlived its participant");
        assert!(self.kv.len() <= storage::CHAT_HISTORY_MAX + storage::OUTBOX_MAX + 64, "the store grows");
    }

    /// Commits the batch as every host does, and reads the snapshot back.
    fn commit(&mut self, fx: &[Effect]) {
        let random = &mut self.random;
        let commit = storage::commit(&mut self.state, fx, self.now, || {
            *random = random.wrapping_add(0x9E37_79B9);
            *random
        })
        .expect("the state encodes");
        let key = storage::snapshot_key(&RoomKey::new("org_1", "standup"));
        let mut writes = commit.writes;
        for merge in &commit.merges {
            writes.extend(merge.apply(self.kv.get(&merge.key).map(Vec::as_slice)));
        }
        for (k, v) in writes {
            if k == key
                && let Some(bytes) = &v
            {
                let back = storage::decode_snapshot(bytes).expect("the snapshot decodes");
                assert_eq!(back, self.state, "the snapshot reads back as another state");
            }
            match v {
                Some(v) => self.kv.insert(k, v),
                None => self.kv.remove(&k),
            };
        }
    }

    /// Time passes; the alarm fires when due.
    fn advance(&mut self, ms: u64) {
        self.now += ms;
        for _ in 0..4 {
            match self.state.alarm_at_ms {
                Some(at) if at <= self.now => {
                    self.apply(Event::Alarm);
                }
                _ => break,
            }
        }
    }

    fn step(&mut self, selector: u8, payload: &[u8]) {
        let i = usize::from(selector >> 3) % PEOPLE.len();
        let text = || String::from_utf8_lossy(payload).into_owned();
        match selector & 7 {
            0..=3 => {
                // A text frame (binary ones never reach the room).
                let Ok(frame) = std::str::from_utf8(payload) else { return };
                self.advance(20);
                let Ok(msg) = ClientMessage::parse(frame) else { return };
                match (self.slots[i].conn, msg) {
                    (Some(conn), msg) => {
                        self.apply(Event::Client { conn, msg });
                    }
                    (None, ClientMessage::Join { protocol, last_seq }) if protocol <= PROTOCOL_VERSION => {
                        self.connect(i, last_seq)
                    }
                    (None, _) => {}
                }
            }
            4 => {
                let ms = payload.iter().take(3).fold(0u64, |acc, b| acc << 8 | u64::from(*b));
                self.advance(ms.max(1));
            }
            5 => {
                if let Some(conn) = self.slots[i].conn.take() {
                    self.apply(Event::Disconnect { conn });
                }
            }
            6 => {
                let limit = u32::from(payload.first().copied().unwrap_or(10) % 6);
                let terms = MeetingTerms {
                    max_duration_ms: payload.get(1).filter(|b| **b & 1 == 1).map(|b| u64::from(*b) * 1000),
                    kick_ban_ms: 30_000,
                    ..MeetingTerms::default()
                };
                self.reserve(i, limit, terms);
            }
            _ => {
                let command = match payload.first().copied().unwrap_or(0) % 5 {
                    0 => Event::Command(RoomCommand::Kick { identity: PEOPLE[i].0.into(), reason: Some(text()) }),
                    1 => Event::Command(RoomCommand::PostMessage {
                        from: PEOPLE[i].0.into(),
                        from_name: "From".into(),
                        text: text(),
                        reply_to: None,
                    }),
                    2 => Event::Command(RoomCommand::Close { reason: text() }),
                    3 => Event::NodeLost { node_id: "m1".into(), replacement: Some(media("m2")) },
                    _ => Event::NodeLost { node_id: "m2".into(), replacement: Some(media("m1")) },
                };
                self.apply(command);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut room = Room::new();
    for chunk in data.split(|b| *b == 0).take(256) {
        if let [selector, payload @ ..] = chunk {
            room.step(*selector, payload);
        }
    }
});
