//! One SFU shard's task: it owns the shard's SFU, its UDP socket and the sockets of the links
//! it opened to other nodes ([`LinkSockets`]), and handles datagrams (in batches), timers and
//! commands in one place, so the core needs no locks. After every round it sends what the SFU
//! produced, each datagram from the socket it names, and publishes its session count.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::command::{Command, OpenedRelay};
use crate::link_sockets::LinkSockets;
use crate::metrics::Stats;
use crate::sfu::{Sfu, SfuError, Transmit};
use crate::udp;

/// How often sockets of links the SFU closed are let go.
const LINK_SWEEP: Duration = Duration::from_secs(1);

/// Runs shard `shard` until its command channel closes.
pub async fn run(
    mut sfu: Sfu,
    socket: UdpSocket,
    mut commands: mpsc::Receiver<Command>,
    sessions: Arc<Vec<AtomicUsize>>,
    shard: usize,
) {
    let Ok(local) = socket.local_addr() else {
        tracing::error!("the media socket has no local address; stopping");
        return;
    };
    let mut links = LinkSockets::new(local.ip(), sfu.local().ip());
    let mut bufs = udp::RecvBuffers::default();
    let mut deadline = Instant::now();
    let mut next_sweep = Instant::now() + LINK_SWEEP;
    loop {
        tokio::select! {
            r = udp::recv_batch(&socket, &mut bufs) => match r {
                Ok(n) => {
                    let now = Instant::now();
                    for i in 0..n {
                        if let Some(source) = bufs.sources[i] {
                            sfu.receive(source, local, bufs.datagram(i), now);
                        }
                    }
                }
                Err(e) => tracing::debug!("udp receive: {e}"),
            },
            Some((link, source, data)) = links.recv() => {
                sfu.receive(source, link, &data, Instant::now());
            }
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { return };
                execute(&mut sfu, &mut links, cmd, Instant::now(), &sessions[shard]);
            }
            () = tokio::time::sleep_until(deadline.into()) => {}
        }
        let now = Instant::now();
        // Poll the sessions packets were queued to in this round (once each), then timers.
        sfu.flush(now);
        if now >= sfu.poll_timeout(now) {
            sfu.handle_timeout(now);
        }
        if now >= next_sweep {
            next_sweep = now + LINK_SWEEP;
            if !links.is_empty() {
                links.retain(&sfu.relay_sockets());
            }
        }
        deadline = sfu.poll_timeout(now).min(next_sweep);
        send(&socket, &links, sfu.local(), sfu.drain_transmits()).await;
        sessions[shard].store(sfu.session_count(), Ordering::Relaxed);
    }
}

/// Sends each datagram from the socket it names: the shard's, or a link's.
async fn send(socket: &UdpSocket, links: &LinkSockets, shard: SocketAddr, transmits: Vec<Transmit>) {
    if transmits.iter().all(|t| t.source == shard) {
        udp::send_all(socket, &transmits).await;
        return;
    }
    let mut by_source: HashMap<SocketAddr, Vec<Transmit>> = HashMap::new();
    for t in transmits {
        by_source.entry(t.source).or_default().push(t);
    }
    for (source, batch) in by_source {
        match links.socket(&source) {
            Some(link) => udp::send_all(link, &batch).await,
            None if source == shard => udp::send_all(socket, &batch).await,
            None => tracing::debug!(%source, datagrams = batch.len(), "no socket for a closed link's datagrams"),
        }
    }
}

/// One command, applied to the SFU and answered (a caller that stopped waiting is ignored).
/// A create publishes the shard's session count before it answers, so the node's session cap
/// counts the new session before the create gives its reservation back.
fn execute(sfu: &mut Sfu, links: &mut LinkSockets, cmd: Command, now: Instant, open: &AtomicUsize) {
    match cmd {
        Command::Create { new, prepared, reply } => {
            let r = sfu.admit(new, *prepared, now);
            open.store(sfu.session_count(), Ordering::Relaxed);
            let _ = reply.send(r);
        }
        Command::CloseParticipant { room, identity, ban_until, reply } => {
            let _ = reply.send(sfu.close_participant(&room, &identity, ban_until, now));
        }
        Command::Mute { room, identity, audio, video, reply } => {
            let _ = reply.send(sfu.set_mute(&room, &identity, audio, video, now));
        }
        Command::Subscribe { id, tracks, reply } => {
            let _ = reply.send(sfu.subscribe(id, &tracks, now));
        }
        Command::Unsubscribe { id, tracks, reply } => {
            let _ = reply.send(sfu.unsubscribe(id, &tracks, now));
        }
        Command::Answer { id, answer, reply } => {
            let _ = reply.send(sfu.accept_answer(id, answer, now));
        }
        Command::Offer { id, offer, reply } => {
            let _ = reply.send(sfu.accept_offer(id, offer, now));
        }
        Command::Remove { id } => sfu.remove_session(id, now),
        Command::Owner { id, reply } => {
            let _ = reply.send(sfu.owner(id).map(|(r, i)| (r.clone(), i.to_owned())));
        }
        Command::Tracks { room, reply } => {
            let _ = reply.send(sfu.tracks(&room));
        }
        Command::TakeOver { id, reply } => {
            let _ = reply.send(sfu.take_over(id, now));
        }
        Command::Quality { id, track, quality, reply } => {
            let _ = reply.send(sfu.set_quality(id, &track, quality, now));
        }
        Command::TakeUsage { reply } => {
            let _ = reply.send(sfu.take_usage(now));
        }
        Command::Stats { reply } => {
            let _ = reply.send(Stats {
                sessions: sfu.session_count(),
                tracks: sfu.track_count(),
                paused_tracks: sfu.paused_track_count(),
                standby_sessions: sfu.standby_count(),
                estimates: sfu.bandwidth_estimates(),
                counters: sfu.counters,
            });
        }
        Command::OpenRelay { room, peer_node, reply } => {
            let _ = reply.send(open_relay(sfu, links, room, &peer_node, now));
        }
        Command::AcceptRelay { room, peer_node, offer, reply } => {
            let _ = reply.send(sfu.accept_relay(room, &peer_node, offer, now));
        }
        Command::RelayAnswered { id, answer, peer, reply } => {
            let _ = reply.send(sfu.relay_answered(id, answer, peer, now));
        }
        Command::RelayStates { room, reply } => {
            let _ = reply.send(sfu.relay_states(&room));
        }
    }
}

/// A link from a socket of its own, or the one already open.
fn open_relay(
    sfu: &mut Sfu,
    links: &mut LinkSockets,
    room: crate::sfu::RoomKey,
    peer_node: &str,
    now: Instant,
) -> Result<OpenedRelay, SfuError> {
    if let Some(id) = sfu.opened_relay(&room, peer_node) {
        return Ok(OpenedRelay::Exists(id));
    }
    let address = links.open().map_err(|e| SfuError::LinkSocket(e.to_string()))?;
    match sfu.open_relay(room, peer_node, address, now) {
        Ok((id, offer)) => Ok(OpenedRelay::New(id, offer)),
        Err(e) => {
            links.retain(&sfu.relay_sockets());
            Err(e)
        }
    }
}
