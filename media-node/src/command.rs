//! Commands to the SFU shards and where each goes. A node runs one SFU per shard, each owned
//! by its own task; the control API and the usage reporter reach them only through these
//! messages. A room lives on one shard (its sessions exchange media inside one SFU), chosen
//! by a hash of its key; a session id names its shard.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::time::Instant;

use str0m::change::{SdpAnswer, SdpOffer};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Stats;
use crate::sfu::{Mute, NewSession, PreparedSession, Quality, RelayState, RoomKey, SessionId, SfuError, TrackInfo};

/// What a shard is asked to do; each carries its reply channel.
pub enum Command {
    /// Lets a session prepared off the shard's task in (`Sfu::admit`).
    Create {
        new: NewSession,
        prepared: Box<PreparedSession>,
        reply: oneshot::Sender<Result<(SessionId, SdpAnswer), SfuError>>,
    },
    /// Closes the identity's sessions in the room and bans it until `ban_until`; replies how
    /// many were closed.
    CloseParticipant {
        room: RoomKey,
        identity: String,
        ban_until: Option<Instant>,
        reply: oneshot::Sender<usize>,
    },
    /// Mutes or unmutes the identity in the room (`None`: unchanged).
    Mute {
        room: RoomKey,
        identity: String,
        audio: Option<bool>,
        video: Option<bool>,
        reply: oneshot::Sender<Result<(Mute, usize), SfuError>>,
    },
    Subscribe {
        id: SessionId,
        tracks: Vec<String>,
        reply: oneshot::Sender<Result<Option<SdpOffer>, SfuError>>,
    },
    Unsubscribe {
        id: SessionId,
        tracks: Vec<String>,
        reply: oneshot::Sender<Result<Option<SdpOffer>, SfuError>>,
    },
    Answer {
        id: SessionId,
        answer: SdpAnswer,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    Offer {
        id: SessionId,
        offer: SdpOffer,
        reply: oneshot::Sender<Result<SdpAnswer, SfuError>>,
    },
    /// A standby session takes over its participant's session (`Sfu::take_over`).
    TakeOver {
        id: SessionId,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    Quality {
        id: SessionId,
        track: String,
        quality: Quality,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    Remove {
        id: SessionId,
    },
    Owner {
        id: SessionId,
        reply: oneshot::Sender<Option<(RoomKey, String)>>,
    },
    Tracks {
        room: RoomKey,
        reply: oneshot::Sender<Vec<TrackInfo>>,
    },
    Stats {
        reply: oneshot::Sender<Stats>,
    },
    TakeUsage {
        reply: oneshot::Sender<Vec<(RoomKey, u64)>>,
    },
    /// Opens a link to `peer_node` for the room from a socket of its own (`Sfu::open_relay`),
    /// unless one is open already.
    OpenRelay {
        room: RoomKey,
        peer_node: String,
        reply: oneshot::Sender<Result<OpenedRelay, SfuError>>,
    },
    /// Answers another node's link offer for the room (`Sfu::accept_relay`).
    AcceptRelay {
        room: RoomKey,
        peer_node: String,
        offer: SdpOffer,
        reply: oneshot::Sender<Result<(SessionId, SdpAnswer), SfuError>>,
    },
    /// The other node's answer to a link this node opened, and its media address.
    RelayAnswered {
        id: SessionId,
        answer: SdpAnswer,
        peer: std::net::SocketAddr,
        reply: oneshot::Sender<Result<(), SfuError>>,
    },
    /// The room's links on this node.
    RelayStates {
        room: RoomKey,
        reply: oneshot::Sender<Vec<RelayState>>,
    },
}

/// What [`Command::OpenRelay`] did.
pub enum OpenedRelay {
    /// A new link: its session and the offer for the other node.
    New(SessionId, SdpOffer),
    /// A link to that node for the room was open already.
    Exists(SessionId),
}

/// The shard did not take the command or did not answer: the node is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the media node is stopping")]
pub struct Stopped;

/// The node's shards: their command channels and how many sessions each has open.
#[derive(Clone)]
pub struct Shards {
    senders: Vec<mpsc::Sender<Command>>,
    sessions: Arc<Vec<AtomicUsize>>,
}

impl Shards {
    pub fn new(senders: Vec<mpsc::Sender<Command>>, sessions: Arc<Vec<AtomicUsize>>) -> Self {
        Shards { senders, sessions }
    }

    pub fn len(&self) -> usize {
        self.senders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }

    /// Sessions open on every shard (as each shard last published).
    pub fn session_count(&self) -> usize {
        self.sessions.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }

    /// The shard a command goes to: a room's (sessions of a room share a shard, so media
    /// flows between them inside one SFU) or a session's (its id names its shard).
    fn shard_of(&self, cmd: &Command) -> usize {
        let n = self.senders.len();
        match cmd {
            Command::Create { new, .. } => room_shard(&new.room.org, &new.room.room, n),
            Command::Tracks { room, .. }
            | Command::CloseParticipant { room, .. }
            | Command::Mute { room, .. }
            | Command::OpenRelay { room, .. }
            | Command::AcceptRelay { room, .. }
            | Command::RelayStates { room, .. } => room_shard(&room.org, &room.room, n),
            Command::Subscribe { id, .. }
            | Command::Unsubscribe { id, .. }
            | Command::Answer { id, .. }
            | Command::Offer { id, .. }
            | Command::Quality { id, .. }
            | Command::TakeOver { id, .. }
            | Command::Remove { id }
            | Command::Owner { id, .. }
            | Command::RelayAnswered { id, .. } => session_shard(*id, n),
            Command::Stats { .. } | Command::TakeUsage { .. } => 0,
        }
    }

    /// The shard a room lives on.
    pub fn of_room(&self, room: &RoomKey) -> usize {
        room_shard(&room.org, &room.room, self.senders.len())
    }

    /// Sends a command without waiting for anything back.
    pub async fn send(&self, cmd: Command) -> Result<(), Stopped> {
        let shard = &self.senders[self.shard_of(&cmd)];
        shard.send(cmd).await.map_err(|_| Stopped)
    }

    /// Sends the command `make` builds around a reply channel, and waits for the reply.
    pub async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx)).await?;
        rx.await.map_err(|_| Stopped)
    }

    /// Every shard's statistics, added up.
    pub async fn stats(&self) -> Result<Stats, Stopped> {
        let mut total = Stats::default();
        for shard in &self.senders {
            let (tx, rx) = oneshot::channel();
            shard.send(Command::Stats { reply: tx }).await.map_err(|_| Stopped)?;
            total += rx.await.map_err(|_| Stopped)?;
        }
        Ok(total)
    }

    /// Every shard's participant time since the last call (a shard that does not answer
    /// counts nothing this time).
    pub async fn take_usage(&self) -> Result<Vec<(RoomKey, u64)>, Stopped> {
        let mut taken = Vec::new();
        for shard in &self.senders {
            let (tx, rx) = oneshot::channel();
            shard.send(Command::TakeUsage { reply: tx }).await.map_err(|_| Stopped)?;
            taken.extend(rx.await.unwrap_or_default());
        }
        Ok(taken)
    }
}

/// FNV-1a of the room's key, modulo the shard count.
fn room_shard(org: &str, room: &str, shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in org.bytes().chain([0]).chain(room.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % shards.max(1) as u64) as usize
}

/// Shard `i` of `n` numbers its sessions `i + 1`, `i + 1 + n`, … (see `Sfu::with_ids`).
fn session_shard(id: SessionId, shards: usize) -> usize {
    (id.saturating_sub(1) % shards.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_always_lands_on_the_same_shard_and_ids_name_theirs() {
        assert_eq!(room_shard("org", "r1", 3), room_shard("org", "r1", 3));
        assert!(room_shard("org", "r1", 3) < 3);
        assert_eq!(room_shard("org", "r1", 1), 0);
        let spread: std::collections::HashSet<usize> =
            (0..50).map(|i| room_shard("org", &format!("r{i}"), 4)).collect();
        assert_eq!(spread.len(), 4, "rooms spread over every shard");
        // Shard 1 of 3 numbers its sessions 2, 5, 8, …
        for id in [2, 5, 8] {
            assert_eq!(session_shard(id, 3), 1);
        }
        assert_eq!(session_shard(0, 3), 0, "a bad id stays in range");
    }
}
