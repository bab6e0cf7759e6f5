//! Room coordinators: one actor (a task with a mailbox) per active room, owning the room's
//! [`RoomState`] like a Durable Object — events are applied one at a time, the state is
//! durable before any message that depends on it goes out (output gate), alarms survive
//! restarts, idle rooms are evicted and rehydrated from storage on the next use.
//!
//! With Redis, several `origo edge` processes share the work: each room has one owner, held by
//! a lease ([`crate::room_lease`]); the others forward its WebSockets to the owner. The owner's
//! every commit is fenced by that lease ([`crate::fenced_commit`]): an actor whose lease ran out
//! or moved writes nothing more, delivers nothing more, and gives the room up (its participants
//! are closed with 1012 and reconnect to the new owner).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use origo_functions::coordinator::node_health::ProbeOutcome;
use origo_functions::coordinator::storage;
use origo_functions::coordinator::{
    ConnId, Effect, Event, Joiner, NodeView, RoomCommand, RoomCommandOutcome, RoomState, Settings, close,
};
use origo_functions::store::keys;
use origo_shared::RoomKey;
use origo_shared::node::SelectorConfig;
use origo_shared::signal::ClientMessage;
use tokio::sync::{Mutex, Notify, mpsc, oneshot};

use crate::fenced_commit::{self, Merge, Outcome};
use crate::kv::KvBackend;
use crate::node_orders::NodeOrders;
use crate::room_lease::{Lease, LeaseOutcome, Tenure};

/// The key-value store the functions and the coordinators share.
pub const STORE: &str = crate::kv::DEFAULT_STORE;
/// Messages waiting for one slow client before it is dropped.
pub const OUTBOX: usize = 512;
/// Events applied together before one durable write (group commit).
const MAX_BATCH: usize = 256;
/// An actor with no connection stops after this long (its alarm still fires).
const IDLE_EVICT: Duration = Duration::from_secs(30);

/// What a connection's writer sends.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Frame(Arc<str>),
    Close(u16, String),
}

/// The actor's handle on one connection.
#[derive(Clone)]
pub struct ConnHandle {
    pub tx: mpsc::Sender<Outgoing>,
    /// Fired when the client cannot keep up: its writer closes with [`close::TOO_SLOW`].
    pub kill: Arc<Notify>,
}

/// Into a room's mailbox.
pub enum Command {
    Connect {
        conn: ConnId,
        who: Joiner,
        last_seq: Option<u64>,
        handle: ConnHandle,
    },
    Client {
        conn: ConnId,
        msg: ClientMessage,
    },
    Disconnect {
        conn: ConnId,
    },
    Nodes(Arc<NodeView>),
    /// What a probe the room asked for found.
    Probed {
        node_id: String,
        outcome: ProbeOutcome,
        view: Arc<NodeView>,
    },
    /// A function's command; answered once applied and durable.
    Host {
        command: RoomCommand,
        reply: oneshot::Sender<RoomCommandOutcome>,
    },
}

/// Where a connection for a room must go.
pub enum Route {
    Here(mpsc::Sender<Command>),
    /// Another process owns the room: forward to this base URL.
    Elsewhere(String),
}

/// Every room actor of this process.
pub struct Coordinators {
    kv: KvBackend,
    rooms: Mutex<HashMap<RoomKey, mpsc::Sender<Command>>>,
    next_conn: AtomicU64,
    pub settings: Settings,
    pub selector_config: SelectorConfig,
    lease: Option<Lease>,
    alarms: mpsc::UnboundedSender<(u64, RoomKey)>,
    orders: NodeOrders,
    /// For probes of media nodes (each with its own short deadline).
    probes: reqwest::Client,
    /// The webhook dispatchers woken when a room writes events to its outbox.
    webhooks: std::sync::OnceLock<Arc<crate::webhook_dispatchers::WebhookDispatchers>>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Coordinators {
    /// Starts the hub: the alarm scheduler (fed with every stored room's alarm, so alarms
    /// survive a restart) and the node watcher.
    pub async fn start(
        kv: KvBackend,
        settings: Settings,
        selector_config: SelectorConfig,
        lease: Option<Lease>,
        orders: NodeOrders,
    ) -> Arc<Self> {
        let (alarms, alarm_rx) = mpsc::unbounded_channel();
        let hub = Arc::new(Coordinators {
            kv,
            rooms: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            settings,
            selector_config,
            lease,
            alarms,
            orders,
            probes: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(crate::node_probe::PROBE_TIMEOUT)
                .build()
                .unwrap_or_default(),
            webhooks: std::sync::OnceLock::new(),
        });
        tokio::spawn(alarm_scheduler(Arc::downgrade(&hub), alarm_rx));
        tokio::spawn(node_watcher(Arc::downgrade(&hub)));
        match hub.kv.keys_with_prefix(STORE, keys::COORDINATOR_SNAPSHOT_PREFIX).await {
            Ok(stored) => {
                for k in &stored {
                    if let Ok(Some(bytes)) = hub.kv.get(STORE, k).await
                        && let Ok(state) = storage::decode_snapshot(&bytes)
                        && let Some(at) = state.alarm_at_ms
                    {
                        let _ = hub.alarms.send((at, RoomKey::new(state.org, state.room)));
                    }
                }
            }
            Err(e) => tracing::warn!("cannot scan stored rooms for alarms: {e}"),
        }
        hub
    }

    /// Gives the rooms their webhook dispatchers (once).
    pub fn set_webhooks(&self, webhooks: Arc<crate::webhook_dispatchers::WebhookDispatchers>) {
        let _ = self.webhooks.set(webhooks);
    }

    pub fn webhooks(&self) -> Option<&Arc<crate::webhook_dispatchers::WebhookDispatchers>> {
        self.webhooks.get()
    }

    pub fn kv(&self) -> &KvBackend {
        &self.kv
    }

    pub fn next_conn(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Active rooms in this process.
    pub async fn active(&self) -> usize {
        self.rooms.lock().await.len()
    }

    /// The mailbox of the room's actor, starting it if needed — or the owner elsewhere.
    pub async fn route(self: &Arc<Self>, key: &RoomKey) -> anyhow::Result<Route> {
        let mut rooms = self.rooms.lock().await;
        if let Some(tx) = rooms.get(key).filter(|tx| !tx.is_closed()) {
            return Ok(Route::Here(tx.clone()));
        }
        let tenure = match &self.lease {
            Some(lease) => match lease.acquire(key).await? {
                LeaseOutcome::Mine(tenure) => Some(tenure),
                // Never forward to this process itself: the lease names another instance (an
                // earlier tenure of this one is taken over by `acquire`), but two processes
                // given the same advertised URL would send each other in circles.
                LeaseOutcome::Held { by_instance, by_url } if by_url == lease.url() || by_url.is_empty() => {
                    tracing::error!(org = %key.org, room = %key.room, instance = %by_instance, url = %by_url,
                        "the room's owner advertises this process's own URL (or none): give every process its own --advertise-url");
                    anyhow::bail!("the room's owner cannot be told apart from this process");
                }
                LeaseOutcome::Held { by_url, .. } => return Ok(Route::Elsewhere(by_url)),
            },
            None => None,
        };
        let (tx, rx) = mpsc::channel(1024);
        rooms.insert(key.clone(), tx.clone());
        tokio::spawn(run_actor(self.clone(), key.clone(), tenure, rx));
        Ok(Route::Here(tx))
    }

    /// Sends to the room's actor in this process, starting it when needed.
    pub async fn send_local(self: &Arc<Self>, key: &RoomKey, cmd: Command) {
        let mut cmd = cmd;
        for _ in 0..3 {
            match self.route(key).await {
                Ok(Route::Here(tx)) => match tx.send(cmd).await {
                    Ok(()) => return,
                    // The actor stopped between lookup and send: start a new one and retry.
                    Err(mpsc::error::SendError(c)) => cmd = c,
                },
                Ok(Route::Elsewhere(_)) => return,
                Err(e) => {
                    tracing::warn!(org = %key.org, room = %key.room, "cannot reach the room: {e}");
                    return;
                }
            }
        }
    }

    /// Stops tracking `key` unless a newer actor took its place; true when removed.
    async fn retire(&self, key: &RoomKey, rx: &mpsc::Receiver<Command>) -> bool {
        let mut rooms = self.rooms.lock().await;
        if !rx.is_empty() {
            return false;
        }
        rooms.remove(key);
        true
    }
}

/// Wakes evicted rooms whose alarm is due (and rooms found in storage at start).
async fn alarm_scheduler(hub: std::sync::Weak<Coordinators>, mut rx: mpsc::UnboundedReceiver<(u64, RoomKey)>) {
    let mut due: BTreeSet<(u64, RoomKey)> = BTreeSet::new();
    loop {
        let next = due.first().map(|(at, _)| *at);
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep(Duration::from_millis(at.saturating_sub(now_ms()))).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            item = rx.recv() => match item {
                Some(item) => { due.insert(item); }
                None => return,
            },
            () = sleep => {
                let Some(hub) = hub.upgrade() else { return };
                while let Some((at, key)) = due.first().cloned() {
                    if at > now_ms() { break; }
                    due.remove(&(at, key.clone()));
                    // Starting the actor is enough: it loads the state and fires the due alarm.
                    let running = hub.rooms.lock().await.get(&key).is_some_and(|tx| !tx.is_closed());
                    if !running && let Err(e) = hub.route(&key).await {
                        tracing::warn!(org = %key.org, room = %key.room, "cannot wake the room: {e}");
                    }
                }
            }
        }
    }
}

/// Every few seconds, hands the node registry to every room so rooms on a lost node move.
async fn node_watcher(hub: std::sync::Weak<Coordinators>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3));
    loop {
        tick.tick().await;
        let Some(hub) = hub.upgrade() else { return };
        let rooms: Vec<mpsc::Sender<Command>> = hub.rooms.lock().await.values().cloned().collect();
        if rooms.is_empty() {
            continue;
        }
        // The registry's index names the nodes: one read, then one per node.
        let started = std::time::Instant::now();
        let view = crate::node_probe::view(&hub.kv, STORE, &hub.selector_config).await;
        tracing::debug!(nodes = view.nodes.len(), micros = started.elapsed().as_micros() as u64, "node watcher pass");
        for tx in rooms {
            let _ = tx.try_send(Command::Nodes(view.clone()));
        }
    }
}

struct Actor {
    hub: Arc<Coordinators>,
    key: RoomKey,
    /// With Redis, this actor's holding of the room's lease; every commit is fenced by it.
    tenure: Option<Tenure>,
    state: RoomState,
    conns: HashMap<ConnId, ConnHandle>,
    /// Events the actor raises for itself (a client too slow to keep).
    pending: VecDeque<Event>,
    /// The recipients of each broadcast of the current batch, in order.
    targets: VecDeque<Vec<ConnId>>,
    /// Who waits for each function command not yet applied, in order.
    awaiting: VecDeque<oneshot::Sender<RoomCommandOutcome>>,
    /// Answers to function commands of the current batch, sent once it is durable.
    replies: Vec<(oneshot::Sender<RoomCommandOutcome>, RoomCommandOutcome)>,
}

async fn load(hub: &Coordinators, key: &RoomKey) -> anyhow::Result<Option<RoomState>> {
    match hub.kv.get(STORE, &storage::snapshot_key(key)).await? {
        Some(bytes) => Ok(Some(storage::decode_snapshot(&bytes)?)),
        None => Ok(None),
    }
}

/// The room's empty timeout from its record.
async fn empty_timeout_ms(hub: &Coordinators, key: &RoomKey) -> u64 {
    let record = hub.kv.get(STORE, &keys::room(&key.org, &key.room)).await.ok().flatten();
    storage::empty_timeout_ms(record.as_deref())
}

/// Closes a stopping actor's mailbox and turns away what waits in it: a socket that had not
/// reached the room yet is told to reconnect (1012), a command goes unanswered (its caller
/// gets a 503 and may retry). Senders find the mailbox closed and start a new actor, or reach
/// the new owner.
fn turn_away(rx: &mut mpsc::Receiver<Command>) {
    rx.close();
    while let Ok(cmd) = rx.try_recv() {
        if let Command::Connect { handle, .. } = cmd {
            let _ = handle.tx.try_send(Outgoing::Close(1012, "the room moved; reconnect".into()));
        }
    }
}

/// Resolves when the tenure is lost; never without one.
async fn lease_lost(tenure: Option<&Tenure>) {
    match tenure {
        Some(t) => t.lost().await,
        None => std::future::pending().await,
    }
}

async fn run_actor(hub: Arc<Coordinators>, key: RoomKey, tenure: Option<Tenure>, rx: mpsc::Receiver<Command>) {
    let tenure = drive(hub.clone(), key.clone(), tenure, rx).await;
    // The mailbox is gone with `drive`: forget it unless a newer actor already took its place.
    {
        let mut rooms = hub.rooms.lock().await;
        if rooms.get(&key).is_some_and(mpsc::Sender::is_closed) {
            rooms.remove(&key);
        }
    }
    // Finished, evicted, failed or given up: the room's next user takes it over at once (a
    // lease that is no longer this tenure's is left alone).
    if let (Some(lease), Some(tenure)) = (&hub.lease, &tenure) {
        lease.release(tenure).await;
    }
}

/// Loads the room's state; with a lease, Redis errors are retried while it lasts.
async fn load_retrying(
    hub: &Coordinators,
    key: &RoomKey,
    tenure: Option<&Tenure>,
) -> anyhow::Result<Option<RoomState>> {
    let mut backoff = Duration::from_millis(50);
    loop {
        match load(hub, key).await {
            Ok(s) => return Ok(s),
            Err(e) => match tenure {
                Some(t) if t.remaining() > backoff => {
                    tracing::warn!(org = %key.org, room = %key.room, "cannot load the room yet; retrying while its lease lasts: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                _ => return Err(e),
            },
        }
    }
}

async fn drive(
    hub: Arc<Coordinators>,
    key: RoomKey,
    tenure: Option<Tenure>,
    mut rx: mpsc::Receiver<Command>,
) -> Option<Tenure> {
    let loaded = match load_retrying(&hub, &key, tenure.as_ref()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(org = %key.org, room = %key.room, "cannot load the room: {e}");
            turn_away(&mut rx);
            return tenure;
        }
    };
    let (state, fx) = match loaded {
        Some(state) if !state.finished => {
            let (state, fx) = state.rehydrated(now_ms());
            tracing::info!(org = %key.org, room = %key.room, participants = state.members.len(), "room rehydrated");
            (state, fx)
        }
        _ => (RoomState::new(&key.org, &key.room, empty_timeout_ms(&hub, &key).await, hub.settings), Vec::new()),
    };
    let mut actor = Actor {
        hub: hub.clone(),
        key: key.clone(),
        tenure,
        state,
        conns: HashMap::new(),
        pending: VecDeque::new(),
        targets: VecDeque::new(),
        awaiting: VecDeque::new(),
        replies: Vec::new(),
    };
    let fx = actor.resolve(fx);
    if !fx.is_empty() && !actor.execute(fx).await {
        turn_away(&mut rx);
        return actor.tenure;
    }
    let mut idle_since = tokio::time::Instant::now();
    loop {
        let event = if let Some(e) = actor.pending.pop_front() {
            e
        } else {
            let alarm = actor.state.alarm_at_ms;
            let sleep = async {
                match alarm {
                    Some(at) => tokio::time::sleep(Duration::from_millis(at.saturating_sub(now_ms()))).await,
                    None => std::future::pending().await,
                }
            };
            let idle = tokio::time::sleep_until(idle_since + IDLE_EVICT);
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => match actor.command(cmd) {
                        Some(e) => e,
                        None => continue,
                    },
                    None => return actor.tenure,
                },
                () = sleep => Event::Alarm,
                // The lease is renewed by its own task; this only hears that it is gone.
                () = lease_lost(actor.tenure.as_ref()) => {
                    actor.give_up("its lease was lost");
                    turn_away(&mut rx);
                    return actor.tenure;
                }
                () = idle, if actor.conns.is_empty() => {
                    if hub.retire(&key, &rx).await {
                        if let Some(at) = actor.state.alarm_at_ms {
                            let _ = hub.alarms.send((at, key.clone()));
                        }
                        tracing::debug!(org = %key.org, room = %key.room, "idle room evicted");
                        return actor.tenure;
                    }
                    idle_since = tokio::time::Instant::now();
                    continue;
                }
            }
        };
        // Group commit: apply whatever else is already waiting, then make the lot durable with
        // one write and only then deliver its messages (the output gate holds for every event).
        let mut fx = Vec::new();
        actor.step(event, &mut fx);
        for _ in 0..MAX_BATCH {
            let next = match actor.pending.pop_front() {
                Some(e) => Some(e),
                None => match rx.try_recv() {
                    Ok(cmd) => actor.command(cmd),
                    Err(_) => break,
                },
            };
            if let Some(e) = next {
                actor.step(e, &mut fx);
            }
        }
        let finished = fx.contains(&Effect::Finished);
        if !actor.execute(fx).await {
            turn_away(&mut rx);
            return actor.tenure;
        }
        if !actor.conns.is_empty() {
            idle_since = tokio::time::Instant::now();
        }
        if finished {
            tracing::info!(org = %key.org, room = %key.room, "room finished");
            return actor.tenure;
        }
    }
}

impl Actor {
    /// Applies one event, fixing each broadcast's recipients as of this event (a participant
    /// who joins later in the same batch must not receive what happened before its `joined`).
    fn step(&mut self, event: Event, fx: &mut Vec<Effect>) {
        let command = match &event {
            Event::Command(c) => Some(c.clone()),
            _ => None,
        };
        let applied = self.state.apply(event, now_ms());
        if let Some(command) = command
            && let Some(reply) = self.awaiting.pop_front()
        {
            self.replies.push((reply, RoomCommandOutcome::of(&command, &applied)));
        }
        fx.extend(self.resolve(applied));
    }

    /// Fixes each broadcast's recipients as of now (queued in `targets`, in order).
    fn resolve(&mut self, fx: Vec<Effect>) -> Vec<Effect> {
        fx.into_iter()
            .map(|e| match e {
                Effect::Broadcast { msg, except } => {
                    self.targets.push_back(self.state.connections().filter(|c| Some(*c) != except).collect());
                    Effect::Broadcast { msg, except: None }
                }
                other => other,
            })
            .collect()
    }

    /// A mailbox command as a room event.
    fn command(&mut self, cmd: Command) -> Option<Event> {
        match cmd {
            Command::Connect { conn, who, last_seq, handle } => {
                self.conns.insert(conn, handle);
                Some(Event::Connect { conn, who, last_seq })
            }
            Command::Client { conn, msg } => Some(Event::Client { conn, msg }),
            Command::Disconnect { conn } => {
                self.conns.remove(&conn);
                Some(Event::Disconnect { conn })
            }
            Command::Nodes(view) => Some(Event::Nodes(view)),
            Command::Probed { node_id, outcome, view } => {
                Some(Event::NodeProbed { node_id, outcome, view: Some(view) })
            }
            Command::Host { command, reply } => {
                self.awaiting.push_back(reply);
                Some(Event::Command(command))
            }
        }
    }

    /// Probes `node_id` in the background and hands the room what it found.
    fn probe(&self, node_id: String) {
        let (hub, key) = (self.hub.clone(), self.key.clone());
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let outcome = crate::node_probe::probe(&hub.probes, &hub.kv, STORE, &node_id).await;
            let view = crate::node_probe::view(&hub.kv, STORE, &hub.selector_config).await;
            tracing::info!(org = %key.org, room = %key.room, node = %node_id, ?outcome, millis = started.elapsed().as_millis() as u64, "media node probed");
            let room = hub.rooms.lock().await.get(&key).cloned();
            if let Some(tx) = room {
                let _ = tx.send(Command::Probed { node_id, outcome, view }).await;
            }
        });
    }

    fn deliver(&mut self, conn: ConnId, out: Outgoing) {
        let Some(h) = self.conns.get(&conn) else { return };
        if let Err(mpsc::error::TrySendError::Full(_)) = h.tx.try_send(out) {
            // Never let one client stall the room: drop it.
            tracing::info!(org = %self.key.org, room = %self.key.room, conn, "client too slow; dropped");
            h.kill.notify_one();
            self.conns.remove(&conn);
            self.pending.push_back(Event::Disconnect { conn });
        }
    }

    fn close_all(&mut self, code: u16, reason: &str) {
        for (_, h) in self.conns.drain() {
            let _ = h.tx.try_send(Outgoing::Close(code, reason.to_owned()));
        }
    }

    /// Gives the room up: its lease is gone, or may be another's by now. Nothing of the current
    /// batch is delivered and no waiting command is answered (its caller gets a 503 and may
    /// retry); the participants are closed with 1012 and reconnect, reaching the new owner.
    fn give_up(&mut self, why: &str) {
        tracing::warn!(org = %self.key.org, room = %self.key.room, "gave the room up: {why}");
        self.replies.clear();
        self.awaiting.clear();
        self.targets.clear();
        self.pending.clear();
        self.close_all(1012, "the room moved; reconnect");
    }

    /// Makes a batch's writes durable; false when the room must stop (its connections are
    /// then closed). With Redis the commit is fenced by the room's lease; the embedded store
    /// writes it in one transaction.
    async fn persist(&mut self, commit: storage::Commit) -> bool {
        let (org, room) = (self.key.org.clone(), self.key.room.clone());
        let hub = self.hub.clone();
        if let (Some(tenure), KvBackend::Redis(conn, layout)) = (&self.tenure, &hub.kv) {
            let merges: Vec<Merge> = commit.merges.into_iter().map(fenced_merge).collect();
            return match fenced_commit::commit(conn, *layout, STORE, tenure, &commit.writes, &merges).await {
                Outcome::Applied => true,
                Outcome::LeaseLost(why) => {
                    self.give_up(why);
                    false
                }
                Outcome::Failed(why) => {
                    tracing::error!(%org, %room, "cannot save the room; closing its connections: {why}");
                    self.close_all(1011, "the room's storage is unavailable; reconnect");
                    false
                }
            };
        }
        let mut writes = commit.writes;
        for merge in &commit.merges {
            let current = match self.hub.kv.get(STORE, &merge.key).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(%org, %room, "cannot read a record the room changes; closing its connections: {e}");
                    self.close_all(1011, "the room's storage is unavailable; reconnect");
                    return false;
                }
            };
            writes.extend(merge.apply(current.as_deref()));
        }
        if let Err(e) = self.hub.kv.write_batch(STORE, writes).await {
            tracing::error!(org = %org, room = %room, "cannot save the room; closing its connections: {e}");
            self.close_all(1011, "the room's storage is unavailable; reconnect");
            return false;
        }
        true
    }

    /// Carries out effects; false when the room must stop (its state could not be saved, or
    /// it is no longer this actor's).
    ///
    /// Every write the effects ask for (`coordinator::storage::commit` decides them) goes into
    /// one transaction, committed before any message is delivered.
    async fn execute(&mut self, fx: Vec<Effect>) -> bool {
        let commit = match storage::commit(&mut self.state, &fx, now_ms(), rand_u32) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(org = %self.key.org, room = %self.key.room, "cannot serialise the room: {e}");
                return false;
            }
        };
        // Output gate: nothing of these events goes out before their writes are durable.
        if !self.persist(commit).await {
            return false;
        }
        for (reply, outcome) in self.replies.drain(..) {
            let _ = reply.send(outcome);
        }
        if fx.iter().any(|e| matches!(e, Effect::Webhook { .. }))
            && let Some(webhooks) = self.hub.webhooks.get()
        {
            webhooks.wake(&self.key.org, &self.key.room);
        }
        for effect in fx {
            match effect {
                Effect::Send { conn, msg } => {
                    let frame: Arc<str> = msg.to_frame().into();
                    self.deliver(conn, Outgoing::Frame(frame));
                }
                Effect::Broadcast { msg, .. } => {
                    let frame: Arc<str> = msg.to_frame().into();
                    for conn in self.targets.pop_front().unwrap_or_default() {
                        self.deliver(conn, Outgoing::Frame(frame.clone()));
                    }
                }
                Effect::Close { conn, code, reason } => {
                    if let Some(h) = self.conns.remove(&conn) {
                        let _ = h.tx.try_send(Outgoing::Close(code, reason));
                    }
                }
                Effect::Node(order) => self.hub.orders.send(&self.hub.kv, STORE, &self.key, order),
                Effect::ProbeNode { node_id } => self.probe(node_id),
                Effect::NodeUnreachable { node_id } => {
                    let kv = self.hub.kv.clone();
                    tokio::spawn(
                        async move { crate::node_probe::mark_unreachable(&kv, STORE, &node_id, now_ms()).await },
                    );
                }
                _ => {}
            }
        }
        true
    }
}

/// A read-modify-write of the core's commit, for the fence.
fn fenced_merge(merge: storage::Merge) -> Merge {
    Merge::new(merge.key.clone(), move |current| merge.apply(current))
}

fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    let _ = getrandom03::fill(&mut b);
    u32::from_le_bytes(b)
}

/// A room's coordinator answered with this close frame.
pub fn too_slow() -> (u16, &'static str) {
    (close::TOO_SLOW, "too slow to keep up with the room")
}

/// Parses and checks one client frame.
pub fn parse_client(frame: &str) -> Result<ClientMessage, origo_shared::signal::SignalError> {
    ClientMessage::parse(frame)
}
