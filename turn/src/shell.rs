//! The I/O loop around [`TurnServer`]: UDP, TCP and TLS listeners, relay sockets and the
//! once-a-second tick (expiries, the metrics snapshot, relay usage dated and handed to the
//! reporter). Single-threaded (one `LocalSet`): the core needs no locks.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::allocation::{FiveTuple, Transport};
use crate::channel_data;
use crate::header::HEADER_LEN;
use crate::message::looks_like_stun;
use crate::metrics::Snapshot;
use crate::own_addresses::OwnAddresses;
use crate::relay::RelayPorts;
use crate::relay_usage::DatedRelayUsage;
use crate::server::{Now, Output, TurnServer};
use crate::stream_limits::{ConnectionTable, Expiry, StreamLimits, StreamRefusal, StreamTimer};

/// Largest frame accepted on a stream transport (a STUN message or padded ChannelData).
const MAX_STREAM_FRAME: usize = HEADER_LEN + 65_535;
/// Frames queued for one stream client before new ones are dropped.
const STREAM_QUEUE: usize = 1024;

/// Sends one datagram now, or drops it when the socket's buffer is full. Straight to the
/// kernel, not through the runtime's readiness: a relay socket is written to right after it is
/// bound, before the runtime has polled it even once.
fn send_datagram(sock: &UdpSocket, data: &[u8], to: SocketAddr) {
    let _ = socket2::SockRef::from(sock).send_to(data, &to.into());
}

fn now() -> Now {
    let unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    Now { instant: Instant::now(), unix }
}

/// Everything the I/O tasks share.
pub struct Shell {
    core: RefCell<TurnServer>,
    udp: HashMap<SocketAddr, Rc<UdpSocket>>,
    relays: RefCell<HashMap<SocketAddr, (Rc<UdpSocket>, AbortHandle)>>,
    streams: RefCell<HashMap<FiveTuple, mpsc::Sender<Vec<u8>>>>,
    /// Open TCP/TLS connections (TLS counted from before the handshake), per source.
    connections: RefCell<ConnectionTable>,
    ports: RefCell<RelayPorts>,
    /// Odd ports held for a later Allocate with RESERVATION-TOKEN.
    reservations: RefCell<HashMap<[u8; 8], (std::net::UdpSocket, Instant)>>,
    /// Receive and send buffers shared by every relay socket (one thread, one packet at a
    /// time), so an allocation costs no buffer of its own.
    relay_scratch: RefCell<(Vec<u8>, Vec<u8>)>,
    snapshot: Arc<Mutex<Snapshot>>,
    /// Relay usage taken from the core, dated, waiting for the usage reporter.
    relayed: Arc<Mutex<DatedRelayUsage>>,
}

/// How long a reserved port waits for its Allocate (RFC 8656 §7.2: about 30 s).
const RESERVATION_LIFETIME: Duration = Duration::from_secs(30);

impl Shell {
    /// Binds the UDP listeners; TCP/TLS listeners are started by [`Shell::serve_tcp`] and
    /// [`Shell::serve_tls`].
    pub async fn new(
        core: TurnServer,
        listen: &[SocketAddr],
        ports: RelayPorts,
        stream_limits: StreamLimits,
        snapshot: Arc<Mutex<Snapshot>>,
        relayed: Arc<Mutex<DatedRelayUsage>>,
    ) -> std::io::Result<(Rc<Shell>, Vec<SocketAddr>)> {
        let mut udp = HashMap::new();
        let mut bound = Vec::new();
        for addr in listen {
            let sock = UdpSocket::bind(addr).await?;
            let local = sock.local_addr()?;
            bound.push(local);
            udp.insert(local, Rc::new(sock));
        }
        let shell = Rc::new(Shell {
            core: RefCell::new(core),
            udp,
            relays: RefCell::new(HashMap::new()),
            streams: RefCell::new(HashMap::new()),
            connections: RefCell::new(ConnectionTable::new(stream_limits)),
            ports: RefCell::new(ports),
            reservations: RefCell::new(HashMap::new()),
            relay_scratch: RefCell::new((vec![0u8; 65_536], Vec::with_capacity(2048))),
            snapshot,
            relayed,
        });
        // The first heartbeat already carries the capacity (a zero one would keep the node
        // out of every join until the next).
        shell.publish_snapshot();
        for (local, sock) in &shell.udp {
            tokio::task::spawn_local(udp_loop(shell.clone(), sock.clone(), *local));
        }
        tokio::task::spawn_local(tick_loop(shell.clone()));
        Ok((shell, bound))
    }

    /// Refuses new allocations from now on (see [`TurnServer::start_draining`]); the snapshot
    /// (and so the next heartbeat) says so at once.
    pub fn start_draining(&self) {
        self.core.borrow_mut().start_draining();
        self.publish_snapshot();
    }

    /// Allocations live now.
    pub fn allocations(&self) -> usize {
        self.core.borrow().allocation_count()
    }

    /// The server's own addresses, refused as peers.
    pub fn set_own_addresses(&self, own: OwnAddresses) {
        self.core.borrow_mut().set_own_addresses(own);
    }

    /// Counts a new TCP/TLS connection from `client`; `None` (and a log line) when it is over
    /// a cap, and the caller drops the stream.
    fn admit_connection(self: &Rc<Self>, client: SocketAddr) -> Option<ConnectionSlot> {
        match self.connections.borrow_mut().open(client.ip()) {
            Ok(()) => Some(ConnectionSlot { shell: self.clone(), client }),
            Err(StreamRefusal::Total) => {
                tracing::debug!(%client, "TCP/TLS connection refused: the server is at its connection cap");
                None
            }
            Err(StreamRefusal::PerSource) => {
                tracing::debug!(%client, "TCP/TLS connection refused: the source is at its connection cap");
                None
            }
        }
    }

    /// Carries out the core's outputs (binding relays may produce more).
    fn apply(self: &Rc<Self>, outputs: Vec<Output>) {
        let mut queue: VecDeque<Output> = outputs.into();
        while let Some(o) = queue.pop_front() {
            match o {
                Output::ToClient { tuple, data } => self.to_client(&tuple, &data),
                Output::ToPeer { relay, peer, data } => {
                    if let Some((sock, _)) = self.relays.borrow().get(&relay) {
                        send_datagram(sock, &data, peer);
                    }
                }
                Output::BindRelay { tuple, ipv6, even_port, reserve, token } => {
                    let mut more = Vec::new();
                    let result = self.bind_relay(ipv6, even_port, reserve, token);
                    if let Err(e) = &result {
                        tracing::warn!("cannot bind a relay socket: {e}");
                    }
                    self.core.borrow_mut().relay_bound(now(), tuple, result.map_err(|_| ()), &mut more);
                    queue.extend(more);
                }
                Output::ReleaseRelay { relay } => {
                    if let Some((_, task)) = self.relays.borrow_mut().remove(&relay) {
                        task.abort();
                    }
                }
            }
        }
    }

    fn bind_relay(
        self: &Rc<Self>,
        ipv6: bool,
        even: bool,
        reserve: Option<[u8; 8]>,
        token: Option<[u8; 8]>,
    ) -> std::io::Result<SocketAddr> {
        let std_sock = if let Some(t) = token {
            match self.reservations.borrow_mut().remove(&t) {
                Some((sock, expires)) if Instant::now() < expires => sock,
                _ => return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "unknown or expired reservation")),
            }
        } else {
            let mut ports = self.ports.borrow_mut();
            if ipv6 != ports.ip().is_ipv6() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "relay address family not configured",
                ));
            }
            match reserve {
                Some(t) => {
                    let (first, second) = ports.bind_pair()?;
                    self.reservations.borrow_mut().insert(t, (second, Instant::now() + RESERVATION_LIFETIME));
                    first
                }
                None => ports.bind(even)?,
            }
        };
        let sock = Rc::new(UdpSocket::from_std(std_sock)?);
        let addr = sock.local_addr()?;
        let task = tokio::task::spawn_local(relay_loop(self.clone(), sock.clone(), addr));
        self.relays.borrow_mut().insert(addr, (sock, task.abort_handle()));
        Ok(addr)
    }

    fn to_client(&self, tuple: &FiveTuple, data: &[u8]) {
        match tuple.transport {
            Transport::Udp => {
                if let Some(sock) = self.udp.get(&tuple.server) {
                    send_datagram(sock, data, tuple.client);
                }
            }
            Transport::Tcp | Transport::Tls => {
                if let Some(tx) = self.streams.borrow().get(tuple) {
                    let _ = tx.try_send(data.to_vec());
                }
            }
        }
    }

    /// One message (STUN or ChannelData) from a client.
    fn from_client(self: &Rc<Self>, tuple: FiveTuple, bytes: &[u8]) {
        if channel_data::looks_like_channel_data(bytes) {
            let route = self.core.borrow_mut().client_channel_data(Instant::now(), &tuple, bytes);
            if let Some((relay, peer, range)) = route
                && let Some((sock, _)) = self.relays.borrow().get(&relay)
            {
                send_datagram(sock, &bytes[range], peer);
            }
            return;
        }
        let mut out = Vec::new();
        self.core.borrow_mut().client_stun(now(), tuple, bytes, &mut out);
        if !out.is_empty() {
            self.apply(out);
        }
    }

    /// Accepts TCP clients on `listener`.
    pub fn serve_tcp(self: &Rc<Self>, listener: TcpListener) {
        let shell = self.clone();
        tokio::task::spawn_local(async move {
            let local = listener.local_addr().ok();
            loop {
                match listener.accept().await {
                    Ok((stream, client)) => {
                        let Some(slot) = shell.admit_connection(client) else {
                            drop(stream);
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        let server = stream.local_addr().ok().or(local).unwrap_or(client);
                        let tuple = FiveTuple { client, server, transport: Transport::Tcp };
                        tokio::task::spawn_local(serve_stream(shell.clone(), stream, tuple, slot));
                    }
                    Err(e) => {
                        tracing::warn!("TCP accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
    }

    /// Accepts TLS clients on `listener`.
    pub fn serve_tls(self: &Rc<Self>, listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor) {
        let shell = self.clone();
        tokio::task::spawn_local(async move {
            loop {
                let Ok((stream, client)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let Some(slot) = shell.admit_connection(client) else {
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let Ok(server) = stream.local_addr() else { continue };
                let (shell, acceptor) = (shell.clone(), acceptor.clone());
                // The handshake has the frame timeout to complete, like any other message.
                let handshake = shell.connections.borrow().limits().frame_timeout;
                tokio::task::spawn_local(async move {
                    match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let tuple = FiveTuple { client, server, transport: Transport::Tls };
                            serve_stream(shell, tls, tuple, slot).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%client, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%client, "TLS handshake timed out"),
                    }
                });
            }
        });
    }

    /// Takes what the core relayed since the last call and files it under today's date (the
    /// node's clock, UTC) for the usage reporter.
    pub fn gather_relayed(&self) {
        let taken = self.core.borrow_mut().take_relayed();
        if taken.is_empty() {
            return;
        }
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let (month, day) = (origo_shared::usage::month_of(ms), origo_shared::usage::day_of(ms));
        self.relayed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).add(taken, &month, day);
    }

    fn publish_snapshot(&self) {
        let core = self.core.borrow();
        let (permissions, channels) = core.permission_and_channel_counts();
        if let Ok(mut s) = self.snapshot.lock() {
            s.allocations = core.allocation_count() as u64;
            s.permissions = permissions as u64;
            s.channels = channels as u64;
            s.stats = core.stats.clone();
            s.capacity = core.config().total_quota as u64;
            s.draining = core.is_draining();
            s.streams = self.connections.borrow().stats.clone();
        }
    }
}

async fn udp_loop(shell: Rc<Shell>, sock: Rc<UdpSocket>, local: SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, client) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            // ICMP errors from earlier sends surface here on some systems; keep serving.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => continue,
            Err(e) => {
                tracing::warn!(%local, "UDP receive failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let tuple = FiveTuple { client, server: local, transport: Transport::Udp };
        shell.from_client(tuple, &buf[..n]);
    }
}

async fn relay_loop(shell: Rc<Shell>, sock: Rc<UdpSocket>, relay: SocketAddr) {
    loop {
        if sock.readable().await.is_err() {
            return;
        }
        // Drain what is queued, using the shared buffers.
        loop {
            let mut scratch = shell.relay_scratch.borrow_mut();
            let (buf, out) = &mut *scratch;
            let (n, peer) = match sock.try_recv_from(buf) {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => continue,
                Err(_) => return,
            };
            let tuple = shell.core.borrow_mut().peer_data(Instant::now(), relay, peer, &buf[..n], out);
            if let Some(t) = tuple {
                shell.to_client(&t, out);
            }
        }
    }
}

async fn tick_loop(shell: Rc<Shell>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let mut out = Vec::new();
        let now = Instant::now();
        shell.core.borrow_mut().expire(now, &mut out);
        shell.reservations.borrow_mut().retain(|_, (_, expires)| now < *expires);
        if !out.is_empty() {
            shell.apply(out);
        }
        shell.publish_snapshot();
        shell.gather_relayed();
    }
}

/// The length of the frame starting `buf`, once enough of it is there to tell.
fn frame_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < 4 {
        return None;
    }
    if channel_data::looks_like_channel_data(buf) {
        channel_data::stream_frame_len(buf)
    } else {
        Some(HEADER_LEN + usize::from(u16::from_be_bytes([buf[2], buf[3]])))
    }
}

/// One counted TCP/TLS connection; uncounted when dropped.
struct ConnectionSlot {
    shell: Rc<Shell>,
    client: SocketAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.shell.connections.borrow_mut().close(self.client.ip());
    }
}

async fn serve_stream<S>(shell: Rc<Shell>, stream: S, tuple: FiveTuple, _slot: ConnectionSlot)
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(STREAM_QUEUE);
    shell.streams.borrow_mut().insert(tuple, tx);
    let writer = tokio::task::spawn_local(async move {
        while let Some(frame) = rx.recv().await {
            if wr.write_all(&frame).await.is_err() {
                break;
            }
        }
    });
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    let limits = shell.connections.borrow().limits();
    let mut timer = StreamTimer::new(&limits, Instant::now());
    'conn: loop {
        let deadline = timer.next_check(Instant::now());
        let read = tokio::time::timeout_at(deadline.into(), rd.read(&mut chunk)).await;
        let n = match read {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => n,
            Err(_) => {
                let has_allocation = shell.core.borrow().allocation(&tuple).is_some();
                match timer.expired(Instant::now(), has_allocation) {
                    Some(why) => {
                        let mut c = shell.connections.borrow_mut();
                        match why {
                            Expiry::Idle => c.stats.closed_idle += 1,
                            Expiry::Incomplete => c.stats.closed_incomplete += 1,
                        }
                        tracing::debug!(client = %tuple.client, reason = ?why, "closing a TCP/TLS connection that went quiet");
                        break;
                    }
                    None => continue,
                }
            }
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut completed = 0;
        while let Some(len) = frame_len(&buf) {
            let stun = !channel_data::looks_like_channel_data(&buf);
            if len > MAX_STREAM_FRAME || (stun && buf.len() >= HEADER_LEN && !looks_like_stun(&buf)) {
                tracing::debug!(client = %tuple.client, "closing a stream that is not speaking STUN/TURN");
                break 'conn;
            }
            if buf.len() < len {
                break;
            }
            let frame: Vec<u8> = buf.drain(..len).collect();
            completed += 1;
            shell.from_client(tuple, &frame);
        }
        timer.read(Instant::now(), completed, buf.len());
    }
    shell.streams.borrow_mut().remove(&tuple);
    writer.abort();
    let mut out = Vec::new();
    shell.core.borrow_mut().client_gone(&tuple, &mut out);
    shell.apply(out);
}
