//! One SFU shard's task: it owns the shard's SFU and UDP socket, and handles datagrams (in
//! batches), timers and commands in one place, so the core needs no locks. After every round
//! it sends what the SFU produced and publishes its session count.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::command::Command;
use crate::metrics::Stats;
use crate::sfu::Sfu;
use crate::udp;

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
    let mut bufs = udp::RecvBuffers::default();
    let mut deadline = Instant::now();
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
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { return };
                execute(&mut sfu, cmd, Instant::now(), &sessions[shard]);
            }
            () = tokio::time::sleep_until(deadline.into()) => {}
        }
        let now = Instant::now();
        // Poll the sessions packets were queued to in this round (once each), then timers.
        sfu.flush(now);
        if now >= sfu.poll_timeout(now) {
            sfu.handle_timeout(now);
        }
        deadline = sfu.poll_timeout(now);
        let transmits = sfu.drain_transmits();
        udp::send_all(&socket, &transmits).await;
        sessions[shard].store(sfu.session_count(), Ordering::Relaxed);
    }
}

/// One command, applied to the SFU and answered (a caller that stopped waiting is ignored).
/// A create publishes the shard's session count before it answers, so the node's session cap
/// counts the new session before the create gives its reservation back.
fn execute(sfu: &mut Sfu, cmd: Command, now: Instant, open: &AtomicUsize) {
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
                estimates: sfu.bandwidth_estimates(),
                counters: sfu.counters,
            });
        }
    }
}
