// Origo's participant web client: guest sign-in, room join, the room coordinator's WebSocket
// (presence, chat, hands, mute state) and one WebRTC session with the media node (publish
// camera, microphone and screen; receive everyone else's tracks).
//
// Test hooks: `body[data-state]` (idle, connecting, connected, reconnecting, failed, left),
// remote tiles `[data-participant="<identity>"]` with `data-muted` / `data-video` / `data-hand`
// / `data-speaking`, `window.origoStats()` (per remote participant: inbound video
// framesDecoded and friends), `window.origoTransport()` (the selected ICE candidate pair),
// `window.origoStandby()` (the standby transport of a relayed session),
// `window.origoTimings` (join → first remote frame), and in the chat log `.msg[data-id]`
// (`.mine`, `.pending`, `.deleted`, `.mentions-me`; `.meta .edited`, `.quote`, `.mention`), its
// `[data-action]` buttons (reply, react, edit, delete; save and cancel-edit while editing), the
// quick reactions `[data-quick]` and the reactions `.reactions button[data-reaction]`.

const PROTOCOL = 1;
const PING_MS = 10_000;
const ICE_CONNECT_TIMEOUT_MS = 15_000;
const DISCONNECTED_GRACE_MS = 2_500;
// Media liveness: how often the bytes from the media node are counted, and how long they may
// stop before the room's coordinator is told the node may be gone.
const MEDIA_WATCH_MS = 200;
const MEDIA_SILENCE_MS = 600;
// How long after our session connects its standby transport is set up (when relayed).
const STANDBY_AFTER_MS = 1_000;
const ROOM_RE = /^[a-z0-9_-]{1,64}$/;

const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);
const flag = (name) => ['1', 'true', 'yes'].includes((params.get(name) || '').toLowerCase());

// ---------------------------------------------------------------------------------------------
// State

const state = {
  name: '',
  room: '',
  relay: flag('relay'),
  deadTurn: new Set(), // TURN servers (host:port) that stopped relaying for us in this call
  guest: null, // {access_token, identity, expires_at_ms}
  join: null, // the join answer
  identity: null,
  // Local media
  stream: null, // preview / published stream (audio + camera)
  micOn: params.get('mic') !== '0',
  camOn: params.get('cam') !== '0',
  receiveOnly: false, // joined by `autojoin`: microphone and camera off until a click
  screenTrack: null,
  hand: false,
  // Coordinator
  ws: null,
  wsJoined: false,
  everJoined: false,
  seq: null,
  wsAttempts: 0,
  wsTimer: null,
  pingTimer: null,
  participants: new Map(), // identity → ParticipantInfo (others)
  me: null, // my ParticipantInfo
  chat: new Map(), // message id → ChatMessage, as the room last sent it
  pendingChat: new Map(), // client_id → <li> of a message the room has not confirmed yet
  pendingEdits: new Map(), // message id → text of an edit sent, shown until the room confirms it
  replyTo: null, // id of the message the next one answers
  editing: null, // id of the message being edited in place
  confirmDelete: null, // {id, timer}: the message whose Delete asks for confirmation
  reactingOn: null, // id of the message whose quick reactions are open
  chatFocus: null, // id of the message the Tab key reaches in the chat log
  admin: false, // the participant token holds the room_admin grant for this room
  // Media session
  pc: null,
  dc: null,
  standby: null, // {pc, dc, via, join, sessionUrl, sessionId}: see prepareStandby
  sessionUrl: null,
  sessionId: null,
  transceivers: { audio: null, video: null, screen: null },
  published: new Map(), // kind → track id announced to the coordinator
  mediaConnected: false,
  mediaAttempts: 0,
  mediaTimer: null,
  restarting: false,
  wakeRestart: null, // cuts a restart's back-off short (a move to another node)
  remote: new Map(), // MediaStreamTrack.id → {identity, kind, track, at, frames, live, width}
  speaker: null,
  leaving: false,
  ended: false,
  phase: 'idle',
  unread: 0,
  panel: null, // 'chat' | 'people' | null
  typingTimer: null,
  typingSent: false,
  clockOffsetMs: 0, // the server's clock minus this device's (noteServerClock)
  usageEnd: null, // {at, message, told}: the meeting ends at `at` (this device's clock), minutes used up
  usageTimer: null,
};

window.origoTimings = {};
window.origoTrace = flag('trace');

// ---------------------------------------------------------------------------------------------
// Small helpers

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

function icon(name) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('aria-hidden', 'true');
  const use = document.createElementNS('http://www.w3.org/2000/svg', 'use');
  use.setAttribute('href', `#i-${name}`);
  svg.append(use);
  return svg;
}

function setIcon(button, name) {
  button.querySelector('use')?.setAttribute('href', `#i-${name}`);
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function announce(text) {
  const a = $('#announcer');
  a.textContent = '';
  setTimeout(() => (a.textContent = text), 30);
}

function toast(text, { action, onAction, ms = 4000 } = {}) {
  const t = el('div', { class: 'toast' }, el('span', { text }));
  if (action) {
    const b = el('button', { type: 'button', class: 'small', text: action });
    b.addEventListener('click', () => {
      onAction?.();
      t.remove();
    });
    t.append(b);
  }
  const box = $('#toasts');
  box.append(t);
  while (box.children.length > 3) box.firstElementChild.remove();
  if (ms) setTimeout(() => t.remove(), ms);
  return t;
}

function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] || '?') + (parts.length > 1 ? parts[parts.length - 1][0] : '')).toUpperCase();
}

function randomRoom() {
  const words = ['amber', 'brisk', 'cedar', 'delta', 'ember', 'fjord', 'grove', 'harbor', 'iris', 'juniper', 'kite', 'lumen', 'maple', 'nova', 'orbit', 'pine', 'quartz', 'river', 'sage', 'tide'];
  const pick = () => words[crypto.getRandomValues(new Uint32Array(1))[0] % words.length];
  const n = crypto.getRandomValues(new Uint32Array(1))[0] % 1000;
  return `${pick()}-${pick()}-${n}`;
}

function normalizeRoom(raw) {
  return String(raw || '')
    .trim()
    .toLowerCase()
    .replace(/\s+/g, '-')
    .replace(/[^a-z0-9_-]/g, '')
    .slice(0, 64);
}

// An HTTP failure with the server's JSON error body: for a 402 or 429 also the limit that
// refused it (`error.limit`: name, plan, allowed, used, action) and the Retry-After seconds.
class ApiError extends Error {
  constructor(status, code, message, where, { limit = null, retryAfter = null } = {}) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.where = where;
    this.limit = limit;
    this.retryAfter = retryAfter;
  }
}

// Retry-After as seconds (a number of seconds or an HTTP date), or null.
function retryAfterSecs(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(1, Math.ceil((at - Date.now()) / 1000));
}

// How far the server's clock is ahead of this device's, from the Date of its answers; only
// a difference well over the header's one-second resolution counts.
function noteServerClock(date) {
  const at = Date.parse(date || '');
  if (Number.isNaN(at)) return;
  const offset = at - Date.now();
  state.clockOffsetMs = Math.abs(offset) > 3000 ? offset : 0;
}

async function api(url, { method = 'POST', token, body } = {}) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  let res;
  const t0 = performance.now();
  try {
    res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'network', 'network unreachable', url);
  }
  const text = await res.text();
  if (window.origoTrace) console.debug(`http ${method} ${url.replace(/^https?:\/\/[^/]+/, '')} ${res.status} ${Math.round(performance.now() - t0)} ms`);
  noteServerClock(res.headers.get('date'));
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const extra = { limit: data?.error?.limit || null, retryAfter: retryAfterSecs(res.headers.get('retry-after')) };
    throw new ApiError(res.status, data?.error?.code, data?.error?.message, url, extra);
  }
  return data;
}

const capitalize = (text) => text.charAt(0).toUpperCase() + text.slice(1);
const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

// A 402 (a quota of the organisation's plan is used up) or a 429 (too many requests) in
// words: which limit, then what to do, from the error's `limit`.
function explainLimit(err) {
  const l = err.limit;
  if (err.status === 429) {
    const said = /wait (\d+) s/.exec(l?.action || '') || /retry in (\d+) s/.exec(err.message || '');
    const secs = err.retryAfter ?? (said ? Number(said[1]) : null);
    return secs ? `Too many attempts; try again in ${secs} s.` : 'Too many attempts; wait a minute and try again.';
  }
  const what = {
    participant_minutes: () => `This organisation has used all its participant-minutes for this month (its plan allows ${l.allowed})`,
    turn_gigabytes: () => `This organisation has used all its TURN relay allowance for this month (its plan allows ${l.allowed} GB)`,
    concurrent_rooms: () => `This organisation is already running the number of meetings it may run at once (${l.allowed})`,
    participants_per_room: () => `This room is full: the plan allows ${plural(l.allowed, 'participant')}`,
  }[l?.name];
  if (!what) return `${capitalize(err.message)}.`;
  const action = l.action ? ` ${capitalize(l.action.trim().replace(/\.$/, ''))}.` : '';
  return `${what()}.${action}`;
}

// What a person should read when something failed.
function explain(err, during) {
  if (err instanceof ApiError) {
    if (err.status === 0) return 'Cannot reach the Origo server. Check your internet connection.';
    if (err.status === 402 || err.status === 429) return explainLimit(err);
    if (during === 'guest') {
      if (err.status === 403) return 'This server does not let guests join. Ask the organiser for an invitation.';
      if (err.status === 400) return `The name or room is not valid: ${err.message}.`;
    }
    if (during === 'join') {
      if (err.code === 'limit_exceeded') return `You cannot join: ${err.message}.`;
      if (err.status === 404) return 'This room does not exist. Check the link.';
      if (err.status === 403) return `You are not allowed to join this room (${err.message}).`;
      if (err.status === 503) return 'No media server can take this call right now. Retrying shortly…';
    }
    if (during === 'media') {
      if (err.status === 0) return 'Cannot reach the media server. Your network may be blocking it.';
      if (err.status === 401 || err.status === 403) return 'The media server did not accept this session; rejoining…';
      if (err.status === 503) return 'The media server is restarting. Retrying…';
    }
    if (err.status >= 500) return 'The server had a problem. Retrying…';
    return err.message;
  }
  if (err?.name === 'NotAllowedError') return 'Camera and microphone are blocked. Allow them in your browser’s site settings to be seen and heard.';
  if (err?.name === 'NotFoundError') return 'No camera or microphone was found.';
  if (err?.name === 'NotReadableError') return 'Your camera or microphone is in use by another application.';
  return err?.message || String(err);
}

// ---------------------------------------------------------------------------------------------
// Connection state shown to people (and to tests)

const STATE_TEXT = {
  idle: '',
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  failed: 'Connection failed',
  left: 'Left',
};

function setPhase(phase, detail) {
  state.phase = phase;
  document.body.dataset.state = phase;
  const cs = $('#conn-state');
  cs.dataset.state = phase;
  $('#conn-text').textContent = detail ? `${STATE_TEXT[phase]} ${detail}`.trim() : STATE_TEXT[phase];
  $('#conn-text').title = $('#conn-text').textContent;
  $('#retry').hidden = phase !== 'failed';
  const problem = $('#call-problem');
  if (phase !== 'failed' && !problem.hidden) {
    problem.hidden = true;
    layout();
  }
}

function refreshPhase() {
  if (state.ended || state.leaving) return;
  if (state.wsJoined && state.mediaConnected) {
    if (state.phase !== 'connected') {
      setPhase('connected');
      announce('Connected to the call');
    }
    state.mediaAttempts = 0;
  } else if (state.phase === 'connected') {
    setPhase('reconnecting', !state.wsJoined ? '(room connection lost)' : '(media connection lost)');
  }
}

function fail(reason) {
  // The header has room for a few words; the whole sentence goes above the tiles.
  setPhase('failed');
  $('#conn-text').title = reason;
  const problem = $('#call-problem');
  problem.textContent = reason;
  problem.hidden = false;
  layout();
  announce(`Connection failed: ${reason}`);
}

// ---------------------------------------------------------------------------------------------
// Local media

function videoConstraints() {
  const id = $('#camera-select').value;
  return {
    width: { ideal: 640 },
    height: { ideal: 360 },
    frameRate: { ideal: 24, max: 30 },
    ...(id ? { deviceId: { exact: id } } : {}),
  };
}

function audioConstraints() {
  const id = $('#mic-select').value;
  return { echoCancellation: true, noiseSuppression: true, autoGainControl: true, ...(id ? { deviceId: { exact: id } } : {}) };
}

function audioTrack() {
  return state.stream?.getAudioTracks()[0] || null;
}

function videoTrack() {
  return state.stream?.getVideoTracks()[0] || null;
}

// Asks for what is switched on; degrades to what works, never throws.
async function acquireMedia() {
  if (!state.stream) state.stream = new MediaStream();
  const want = { audio: state.micOn && !audioTrack(), video: state.camOn && !videoTrack() };
  if (!want.audio && !want.video) return;
  const tries = [want];
  if (want.audio && want.video) tries.push({ audio: true, video: false }, { audio: false, video: true });
  let lastErr = null;
  for (const t of tries) {
    try {
      const s = await navigator.mediaDevices.getUserMedia({
        audio: t.audio ? audioConstraints() : false,
        video: t.video ? videoConstraints() : false,
      });
      for (const tr of s.getTracks()) state.stream.addTrack(tr);
      if (!t.video && want.video) state.camOn = false;
      if (!t.audio && want.audio) state.micOn = false;
      break;
    } catch (e) {
      lastErr = e;
    }
  }
  if (lastErr && !audioTrack() && !videoTrack()) {
    state.micOn = false;
    state.camOn = false;
    $('#media-note').textContent = explain(lastErr);
    if (state.phase !== 'idle') toast(explain(lastErr), { ms: 8000 });
  }
  const a = audioTrack();
  if (a) a.enabled = state.micOn;
  await listDevices();
}

async function listDevices() {
  if (!navigator.mediaDevices?.enumerateDevices) return;
  const devices = await navigator.mediaDevices.enumerateDevices();
  const fill = (select, kind, current, fallback) => {
    const keep = select.value;
    select.replaceChildren(el('option', { value: '', text: fallback }));
    devices
      .filter((d) => d.kind === kind && d.deviceId && d.deviceId !== 'default')
      .forEach((d, i) => select.append(el('option', { value: d.deviceId, text: d.label || `${fallback} ${i + 1}` })));
    const want = current || keep;
    if (want && [...select.options].some((o) => o.value === want)) select.value = want;
  };
  fill($('#camera-select'), 'videoinput', videoTrack()?.getSettings().deviceId, 'Default camera');
  fill($('#mic-select'), 'audioinput', audioTrack()?.getSettings().deviceId, 'Default microphone');
}

function showPreview() {
  const v = $('#preview');
  const cam = videoTrack();
  v.srcObject = cam ? new MediaStream([cam]) : null;
  $('#preview-off').hidden = !!cam && state.camOn;
  syncToggle($('#preview-mic'), state.micOn, 'mic', 'Microphone on', 'Microphone off');
  syncToggle($('#preview-cam'), state.camOn, 'cam', 'Camera on', 'Camera off');
  meterFor(audioTrack());
}

function syncToggle(button, on, iconBase, onLabel, offLabel) {
  button.setAttribute('aria-pressed', String(on));
  button.setAttribute('aria-label', on ? onLabel : offLabel);
  button.classList.toggle('off', !on);
  setIcon(button, on ? iconBase : `${iconBase}-off`);
}

// A microphone level bar on the landing page.
let meter = null;
function meterFor(track) {
  if (meter) {
    meter.stop();
    meter = null;
  }
  if (!track || !window.AudioContext) return;
  try {
    const ctx = new AudioContext();
    const src = ctx.createMediaStreamSource(new MediaStream([track]));
    const an = ctx.createAnalyser();
    an.fftSize = 512;
    src.connect(an);
    const buf = new Uint8Array(an.fftSize);
    let raf = 0;
    const fill = $('#mic-level');
    const tick = () => {
      an.getByteTimeDomainData(buf);
      let peak = 0;
      for (const b of buf) peak = Math.max(peak, Math.abs(b - 128));
      fill.style.setProperty('--level', track.enabled ? Math.min(1, peak / 64).toFixed(2) : '0');
      raf = requestAnimationFrame(tick);
    };
    tick();
    meter = { stop: () => (cancelAnimationFrame(raf), ctx.close().catch(() => {})) };
  } catch {
    meter = null;
  }
}

async function replaceLocalTrack(kind, constraints) {
  const s = await navigator.mediaDevices.getUserMedia(kind === 'audio' ? { audio: constraints } : { video: constraints });
  const fresh = kind === 'audio' ? s.getAudioTracks()[0] : s.getVideoTracks()[0];
  const old = kind === 'audio' ? audioTrack() : videoTrack();
  if (old) {
    state.stream.removeTrack(old);
    old.stop();
  }
  state.stream.addTrack(fresh);
  if (kind === 'audio') fresh.enabled = state.micOn;
  await state.transceivers[kind]?.sender.replaceTrack(fresh).catch(() => {});
  return fresh;
}

// ---------------------------------------------------------------------------------------------
// Landing page

async function initLanding() {
  const name = params.get('name') || localStorage.getItem('origo.name') || '';
  $('#name').value = name.slice(0, 64);
  $('#room').value = normalizeRoom(params.get('room') || '');

  $('#preview-mic').addEventListener('click', async () => {
    state.micOn = !state.micOn;
    if (state.micOn && !audioTrack()) await acquireMedia();
    if (audioTrack()) audioTrack().enabled = state.micOn;
    showPreview();
  });
  $('#preview-cam').addEventListener('click', async () => {
    state.camOn = !state.camOn;
    if (state.camOn) await acquireMedia();
    else stopCamera();
    showPreview();
  });
  $('#camera-select').addEventListener('change', async () => {
    if (!state.camOn) return;
    try {
      await replaceLocalTrack('video', videoConstraints());
    } catch (e) {
      $('#media-note').textContent = explain(e);
    }
    showPreview();
  });
  $('#mic-select').addEventListener('change', async () => {
    try {
      await replaceLocalTrack('audio', audioConstraints());
    } catch (e) {
      $('#media-note').textContent = explain(e);
    }
    showPreview();
  });
  $('#join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    startJoin();
  });

  // A link may take a participant into the room without a click, but never their camera or
  // microphone: `autojoin` joins receive-only, nothing captured or sent until they turn the
  // microphone or camera on in the call.
  if (flag('autojoin') && $('#name').value.trim()) {
    state.micOn = false;
    state.camOn = false;
    state.receiveOnly = true;
    startJoin();
    return;
  }
  showPreview();
  (name ? $('#room') : $('#name')).focus();
  await acquireMedia();
  showPreview();
}

function stopCamera() {
  const v = videoTrack();
  if (v) {
    state.stream.removeTrack(v);
    v.stop();
  }
}

function startJoin() {
  const err = $('#landing-error');
  err.textContent = '';
  const name = $('#name').value.trim();
  if (!name) {
    err.textContent = 'Enter your name so others know who you are.';
    $('#name').focus();
    return;
  }
  let room = normalizeRoom($('#room').value);
  if (!room) room = randomRoom();
  if (!ROOM_RE.test(room)) {
    err.textContent = 'Room names use lowercase letters, digits, “-” and “_”.';
    $('#room').focus();
    return;
  }
  $('#room').value = room;
  state.name = name;
  state.room = room;
  localStorage.setItem('origo.name', name);
  join();
}

// ---------------------------------------------------------------------------------------------
// Joining

async function guestToken() {
  if (state.guest && state.guest.expires_at_ms - Date.now() > 60_000) return state.guest.access_token;
  const g = await api('/v1/auth/guest', { body: { name: state.name, room: state.room } });
  state.guest = { ...g, expires_at_ms: Date.now() + g.expires_in * 1000 };
  return g.access_token;
}

// POST join: a participant token for this room and a media node, the coordinator, TURN.
async function joinRoom() {
  let token;
  try {
    token = await guestToken();
  } catch (e) {
    e.during = 'guest';
    throw e;
  }
  try {
    const j = await api(`/v1/rooms/${encodeURIComponent(state.room)}/join`, { token, body: { name: state.name } });
    state.join = j;
    state.deadTurn.clear();
    state.identity = j.identity;
    setAdmin(tokenIsRoomAdmin(j.participant_token));
    return j;
  } catch (e) {
    if (e.status === 401) state.guest = null;
    e.during = 'join';
    throw e;
  }
}

async function join() {
  state.leaving = false;
  state.ended = false;
  window.origoTimings = { joinStart: performance.now() };
  showView('call');
  $('#room-name').textContent = state.room;
  history.replaceState(null, '', `/?room=${encodeURIComponent(state.room)}`);
  document.title = `${state.room} · Origo`;
  setPhase('connecting');
  renderLocalTile();
  syncControls();
  layout();
  if (state.receiveOnly) {
    state.receiveOnly = false;
    toast('You joined with your microphone and camera off. Turn them on with the buttons below.', { ms: 8000 });
    announce('Joined with microphone and camera off');
  }

  const mediaReady = acquireMedia().then(() => {
    renderLocalTile();
    syncControls();
    window.origoTimings.mediaReady = performance.now();
  });

  const prepared = createPeer();
  // Sign in and join while the camera starts.
  for (let attempt = 0; ; attempt++) {
    try {
      await joinRoom();
      break;
    } catch (e) {
      const msg = explain(e, e.during);
      if ((e.status === 503 || e.status === 0 || e.status >= 500) && attempt < 5) {
        setPhase('connecting', `— ${msg}`);
        await sleep(1000 * 2 ** attempt);
        continue;
      }
      fail(msg);
      prepared.pc.close();
      return;
    }
  }
  window.origoTimings.joined = performance.now();
  if (state.ended) return prepared.pc.close();
  connectCoordinator();
  // The session opens at once; the camera and microphone join it when they are ready
  // (replaceTrack needs no renegotiation).
  startMedia(prepared).catch((e) => mediaFailed(e));
  await mediaReady;
  if (state.ended) return;
  await attachLocalTracks();
}

async function attachLocalTracks() {
  const { audio, video } = state.transceivers;
  const a = audioTrack();
  const v = state.camOn ? videoTrack() : null;
  if (audio && audio.sender.track !== a) await audio.sender.replaceTrack(a).catch(() => {});
  if (video && video.sender.track !== v) await video.sender.replaceTrack(v).catch(() => {});
  announceTracks();
}

function showView(view) {
  document.body.dataset.view = view;
  $('#landing').hidden = view !== 'landing';
  $('#call').hidden = view !== 'call';
  $('#ended').hidden = view !== 'ended';
  if (view !== 'landing') meterFor(null);
}

// ---------------------------------------------------------------------------------------------
// The room coordinator

function connectCoordinator() {
  clearTimeout(state.wsTimer);
  if (state.ws) {
    state.ws.onclose = null;
    try {
      state.ws.close(1000);
    } catch {}
  }
  const url = `${state.join.coordinator_url}?access_token=${encodeURIComponent(state.join.participant_token)}`;
  const ws = new WebSocket(url);
  state.ws = ws;
  state.wsJoined = false;
  ws.onopen = () => {
    const msg = { type: 'join', protocol: PROTOCOL };
    if (state.everJoined && state.seq !== null) msg.last_seq = state.seq;
    ws.send(JSON.stringify(msg));
  };
  ws.onmessage = (ev) => {
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    onServerMessage(msg);
  };
  ws.onclose = (ev) => onCoordinatorClosed(ws, ev);
}

function send(msg) {
  if (state.ws?.readyState === WebSocket.OPEN && state.wsJoined) {
    state.ws.send(JSON.stringify(msg));
    return true;
  }
  return false;
}

function onCoordinatorClosed(ws, ev) {
  if (ws !== state.ws) return;
  clearInterval(state.pingTimer);
  state.wsJoined = false;
  if (state.leaving || state.ended) return;
  switch (ev.code) {
    case 4001:
      return endCall('You joined this call from another tab or device, so it ended here.');
    case 4003:
      return endCall(ev.reason && ev.reason !== 'removed by an admin' ? `You were removed from the call: ${ev.reason}.` : 'You were removed from the call by a host.');
    case 4004:
      // The seat this token held lapsed (or a newer join replaced it): join again at once.
      state.wsAttempts = Math.max(state.wsAttempts, 2);
      break;
    case 4010:
      return endCall('The meeting has ended.');
    case 4402:
      // The organisation's monthly participant-minutes are used up: final, no reconnecting.
      return endCall('The meeting ended: this organisation has used its monthly minutes.');
    default:
      break;
  }
  refreshPhase();
  state.wsAttempts++;
  // Keep trying; after half a minute or so, say plainly that it is not working.
  if (state.wsAttempts >= 8) fail(navigator.onLine === false ? 'you are offline; waiting for the network' : 'cannot reach the Origo server; still trying');
  else if (state.phase !== 'failed') setPhase('reconnecting', '(room connection lost)');
  const delay = Math.min(8000, 300 * 2 ** Math.min(state.wsAttempts - 1, 5));
  state.wsTimer = setTimeout(async () => {
    // A few failures in a row: the token may be stale or the room moved; join again.
    if (state.wsAttempts >= 3) {
      try {
        const before = state.join.media.node_id;
        await joinRoom();
        if (state.join.media.node_id !== before) restartMedia('moved to another media node');
      } catch (e) {
        if (e.status && e.status < 500 && e.status !== 429) return fail(explain(e, e.during));
      }
    }
    connectCoordinator();
  }, delay);
}

function onServerMessage(msg) {
  if (typeof msg.seq === 'number') state.seq = Math.max(state.seq ?? 0, msg.seq);
  else if (msg.type === 'chat' && typeof msg.message?.seq === 'number') state.seq = Math.max(state.seq ?? 0, msg.message.seq);
  switch (msg.type) {
    case 'joined':
      onJoined(msg);
      break;
    case 'participant_joined':
      upsertParticipant(msg.participant);
      toast(`${msg.participant.name} joined`);
      announce(`${msg.participant.name} joined`);
      break;
    case 'participant_left': {
      const p = state.participants.get(msg.participant_id);
      removeParticipant(msg.participant_id);
      if (p) {
        const why = msg.reason === 'disconnected' ? ' (connection lost)' : msg.reason === 'kicked' ? ' (removed)' : '';
        toast(`${p.name} left${why}`);
        announce(`${p.name} left`);
      }
      break;
    }
    case 'participant_updated':
      if (msg.participant.id === state.identity) {
        state.me = msg.participant;
        renderPeople();
      } else {
        const before = state.participants.get(msg.participant.id);
        upsertParticipant(msg.participant);
        if (before && !before.hand_raised && msg.participant.hand_raised) {
          toast(`${msg.participant.name} raised their hand`);
          announce(`${msg.participant.name} raised their hand`);
        }
      }
      break;
    case 'track_published':
    case 'track_unpublished': {
      const p = msg.participant_id === state.identity ? state.me : state.participants.get(msg.participant_id);
      if (!p) break;
      p.tracks = (p.tracks || []).filter((t) => t.id !== (msg.track?.id ?? msg.track_id));
      if (msg.type === 'track_published') p.tracks.push(msg.track);
      if (p !== state.me) upsertParticipant(p);
      break;
    }
    case 'chat':
      addChat(msg.message, msg.client_id);
      break;
    case 'chat_changed':
      onChatChanged(msg);
      break;
    case 'presence': {
      const p = state.participants.get(msg.participant_id);
      if (p) {
        p.presence = msg.state;
        upsertParticipant(p);
        renderTyping();
      }
      break;
    }
    case 'mute':
      onAdminMute(msg);
      break;
    case 'unmute_allowed':
      if (msg.participant_id === state.identity) {
        state.adminMuted = { ...state.adminMuted, [msg.kind === 'screen' ? 'video' : msg.kind]: false };
        toast(`A host allowed you to turn your ${msg.kind === 'audio' ? 'microphone' : 'camera'} back on`);
      }
      break;
    case 'kick':
      if (msg.participant_id === state.identity) {
        endCall(msg.reason ? `You were removed from the call: ${msg.reason}.` : 'You were removed from the call by a host.');
      }
      break;
    case 'reconnect_to_node':
      moveToNode(msg.media, msg.reason);
      break;
    case 'usage_limit':
      onUsageLimit(msg);
      break;
    case 'error':
      console.warn('coordinator:', msg.code, msg.message);
      if (CHAT_ERRORS.has(msg.code) || msg.code === 'muted_by_admin') toast(msg.message);
      if (CHAT_ERRORS.has(msg.code)) forgetPendingEdits();
      if (msg.code === 'rate_limited') toast('You are sending messages too fast; some were not sent.');
      break;
    case 'pong':
      break;
    default:
      break;
  }
}

function onJoined(msg) {
  const reconnect = state.everJoined;
  state.wsJoined = true;
  state.everJoined = true;
  state.wsAttempts = 0;
  state.me = msg.you;
  window.origoTimings.coordinatorJoined ??= performance.now();
  // Who is here: replace the list (a reconnect may have missed joins and leaves).
  const seen = new Set(msg.participants.map((p) => p.id));
  for (const id of [...state.participants.keys()]) if (!seen.has(id)) removeParticipant(id);
  for (const p of msg.participants) upsertParticipant(p);
  forgetPendingEdits();
  for (const m of msg.chat) addChat(m);
  clearInterval(state.pingTimer);
  state.pingTimer = setInterval(() => send({ type: 'ping', nonce: Date.now() }), PING_MS);
  // Tell the room (again) what we send and whether it is muted.
  announceTracks();
  if (state.hand) send({ type: 'raise_hand', raised: true });
  if (reconnect) announce('Reconnected to the room');
  // A coordinator that has another node for us than the one we hold a session on.
  if (msg.media && state.join && msg.media.node_id !== state.join.media.node_id) {
    moveToNode(msg.media, 'the room uses another media node');
  }
  renderPeople();
  refreshPhase();
}

const USAGE_MARKS = [60, 10]; // seconds before the end that are announced

// The organisation's monthly minutes are used up: the room ends the meeting at
// `disconnect_at_ms` (close code 4402). A banner says so, with a countdown that also stays in
// the header once the banner is dismissed.
function onUsageLimit(msg) {
  const at = msg.disconnect_at_ms - state.clockOffsetMs;
  const again = state.usageEnd?.at === at;
  // The banner reads out the start; the 60 s and 10 s marks still ahead are read out later.
  const told = again ? state.usageEnd.told : new Set(USAGE_MARKS.filter((m) => at - Date.now() <= m * 1000));
  state.usageEnd = { at, message: msg.message, told };
  $('#usage-message').textContent = msg.message;
  if (!again) $('#usage-banner').hidden = false;
  $('#usage-clock').hidden = false;
  $('#usage-clock').setAttribute('aria-expanded', String(!$('#usage-banner').hidden));
  clearInterval(state.usageTimer);
  state.usageTimer = setInterval(tickUsageEnd, 1000);
  tickUsageEnd();
  layout();
}

function tickUsageEnd() {
  const end = state.usageEnd;
  if (!end) return;
  const left = end.at - Date.now();
  // Half a minute past the end and still here: the plan was changed; the warning no longer holds.
  if (left < -30_000) return clearUsageEnd();
  const secs = Math.max(0, Math.ceil(left / 1000));
  const mmss = `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, '0')}`;
  $('#usage-countdown').textContent = secs > 0 ? `The meeting ends in ${mmss}` : 'The meeting is ending…';
  $('#usage-clock-text').textContent = secs > 0 ? `Ends in ${mmss}` : 'Ending…';
  $('#usage-clock').title = `${$('#usage-countdown').textContent}: ${end.message}`;
  // The countdown itself is not read out every second; these moments are.
  for (const mark of USAGE_MARKS) {
    if (secs <= mark && secs > 0 && !end.told.has(mark)) {
      end.told.add(mark);
      announce(`The meeting ends in ${plural(mark, 'second')}`);
    }
  }
}

function clearUsageEnd() {
  clearInterval(state.usageTimer);
  state.usageTimer = null;
  state.usageEnd = null;
  $('#usage-banner').hidden = true;
  $('#usage-clock').hidden = true;
  layout();
}

function onAdminMute(msg) {
  const p = msg.participant_id === state.identity ? state.me : state.participants.get(msg.participant_id);
  if (p) for (const t of p.tracks || []) if (t.kind === msg.kind) t.muted = true;
  if (msg.participant_id === state.identity) {
    state.adminMuted = { ...state.adminMuted, [msg.kind === 'screen' ? 'video' : msg.kind]: true };
    if (msg.kind === 'audio' && state.micOn) toggleMic(false);
    if (msg.kind === 'video' && state.camOn) toggleCam(false);
    if (msg.kind === 'screen' && state.screenTrack) stopScreen();
    toast(`A host turned off your ${msg.kind === 'audio' ? 'microphone' : msg.kind === 'video' ? 'camera' : 'screen share'}`);
  } else if (p) {
    upsertParticipant(p);
  }
}

// The coordinator moved us: get a token for the new node and open a session there.
async function moveToNode(media, reason) {
  // Already there, or a restart under way is already headed there.
  if (state.join?.media.node_id === media.node_id && (state.mediaConnected || state.restarting)) return;
  toast('Moving you to another media server…');
  try {
    await joinRoom();
  } catch (e) {
    return fail(explain(e, e.during));
  }
  // The failures so far were the old node's. A restart under way (the old node's connection
  // dropped first) tries the new node at once instead of after its back-off.
  state.mediaAttempts = 0;
  if (state.restarting) state.wakeRestart?.();
  else restartMedia(reason || 'moved to another media node', { atOnce: true });
}

// ---------------------------------------------------------------------------------------------
// The media session

// Everything that touches the peer connection's signalling runs one step at a time.
let chain = Promise.resolve();
function serial(fn) {
  const p = chain.then(fn, fn);
  chain = p.catch(() => {});
  return p;
}

function sessionUrl() {
  return `${state.sessionUrl}/${encodeURIComponent(state.sessionId)}`;
}

async function patchSession(body) {
  return api(sessionUrl(), { method: 'PATCH', token: state.join.participant_token, body });
}

function preferVp8(transceiver) {
  const caps = RTCRtpReceiver.getCapabilities?.('video') || RTCRtpSender.getCapabilities?.('video');
  if (!caps || !transceiver.setCodecPreferences) return;
  const rank = (c) => (/vp8/i.test(c.mimeType) ? 0 : /rtx|red|ulpfec/i.test(c.mimeType) ? 1 : 2);
  const codecs = [...caps.codecs].sort((a, b) => rank(a) - rank(b));
  try {
    transceiver.setCodecPreferences(codecs);
  } catch {}
}

function peerConfig(iceServers) {
  return {
    iceServers,
    iceTransportPolicy: state.relay ? 'relay' : 'all',
    bundlePolicy: 'max-bundle',
    rtcpMuxPolicy: 'require',
  };
}

// A peer connection with our data channel and send-only transceivers, and its offer on the way
// (certificate and offer are made while the join request runs; ICE servers come with the join).
function createPeer() {
  const pc = new RTCPeerConnection(peerConfig([]));
  const dc = pc.createDataChannel('control', { ordered: true });
  const tr = addSendTransceivers(pc);
  const offer = pc.createOffer();
  offer.catch(() => {});
  return { pc, dc, tr, offer };
}

// Our microphone, camera and screen (whichever we have now) as send-only transceivers.
function addSendTransceivers(pc) {
  const stream = state.stream || new MediaStream();
  const tr = {
    audio: pc.addTransceiver(audioTrack() || 'audio', { direction: 'sendonly', streams: [stream] }),
    video: pc.addTransceiver(state.camOn && videoTrack() ? videoTrack() : 'video', { direction: 'sendonly', streams: [stream] }),
    screen: null,
  };
  preferVp8(tr.video);
  if (state.screenTrack) {
    tr.screen = pc.addTransceiver(state.screenTrack, { direction: 'sendonly', streams: [new MediaStream([state.screenTrack])] });
    preferVp8(tr.screen);
  }
  return tr;
}

async function startMedia(prepared = null) {
  const j = state.join;
  const { pc, dc, tr, offer } = prepared || createPeer();
  pc.setConfiguration(peerConfig(liveIceServers(j.ice_servers || [])));
  state.pc = pc;
  state.mediaConnected = false;
  state.published.clear();
  state.dc = dc;
  dc.onmessage = (ev) => onChannelMessage(pc, dc, ev.data);
  state.transceivers = tr;

  pc.ontrack = (ev) => onRemoteTrack(pc, ev);
  pc.onconnectionstatechange = () => onPcState(pc);
  watchMediaFlow(pc);

  await serial(async () => {
    await pc.setLocalDescription(await offer);
    window.origoTimings.offerReady ??= performance.now();
    const url = j.media.session_url;
    let created;
    try {
      created = await api(url, { token: j.participant_token, body: { offer: { type: 'offer', sdp: pc.localDescription.sdp } } });
    } catch (e) {
      e.during = 'media';
      throw e;
    }
    if (pc !== state.pc) return;
    state.sessionUrl = url;
    state.sessionId = created.session_id;
    await pc.setRemoteDescription(created.answer);
  });
  if (pc !== state.pc) return;
  window.origoTimings.sessionCreated ??= performance.now();
  clearTimeout(state.mediaTimer);
  state.mediaTimer = setTimeout(() => {
    if (pc === state.pc && !state.mediaConnected) {
      mediaFailed(new Error(state.relay ? 'could not connect through the relay (TURN) server' : 'could not reach the media server; your network may block it'));
    }
  }, ICE_CONNECT_TIMEOUT_MS);
  announceTracks();
  // Subscribe at once, so the SFU's offer is taken in while ICE and DTLS connect, but answer it
  // only once connected: the SFU asks the publishers for a keyframe when the answer arrives, and
  // a keyframe sent before our transport is up would be lost (the next comes ~500 ms later).
  await serial(() => syncSubscriptions(pc, () => connectedOrTimeout(pc, 4000)));
  window.origoTimings.subscribed ??= performance.now();
}

function connectedOrTimeout(pc, ms) {
  if (pc.connectionState === 'connected') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('connectionstatechange', check);
      resolve();
    };
    const check = () => ['connected', 'failed', 'closed'].includes(pc.connectionState) && done();
    const timer = setTimeout(done, ms);
    pc.addEventListener('connectionstatechange', check);
  });
}

// Subscribes to every track of the room (now and later) and answers the SFU's offer(s).
async function syncSubscriptions(pc, beforeAnswer) {
  for (let i = 0; i < 5 && pc === state.pc; i++) {
    let res;
    try {
      res = await patchSession({ subscribe: ['all'] });
    } catch (e) {
      if (e.status === 409) return; // an offer is already on its way over the data channel
      throw e;
    }
    if (!res?.offer || pc !== state.pc) return;
    await pc.setRemoteDescription(res.offer);
    await pc.setLocalDescription();
    if (beforeAnswer) await beforeAnswer();
    if (pc !== state.pc) return;
    const answer = { type: 'answer', sdp: pc.localDescription.sdp };
    if (state.dc?.readyState === 'open') {
      // Answered over the data channel, the SFU sends whatever came up meanwhile the same way.
      state.dc.send(JSON.stringify(answer));
      return;
    }
    await patchSession({ answer });
  }
}

// Offers to publish a new track (screen share): over the data channel, so the SFU's answer
// arrives before any later offer of its own; an SFU offer that crossed ours is dropped there.
let answerWaiter = null;
async function renegotiate() {
  const pc = state.pc;
  await serial(async () => {
    await pc.setLocalDescription();
    const offer = { type: 'offer', sdp: pc.localDescription.sdp };
    let answer;
    if (state.dc?.readyState === 'open') {
      answer = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the media server did not answer')), 8000);
        answerWaiter = (a) => {
          clearTimeout(timer);
          resolve(a);
        };
        state.dc.send(JSON.stringify(offer));
      }).finally(() => (answerWaiter = null));
    } else {
      answer = (await patchSession({ offer })).answer;
    }
    if (pc === state.pc) await pc.setRemoteDescription(answer);
  });
  // Offers the SFU dropped while ours was in flight come again.
  await serial(() => syncSubscriptions(pc)).catch(() => {});
}

function onChannelMessage(pc, dc, data) {
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    return;
  }
  switch (msg.type) {
    case 'offer':
      serial(async () => {
        if (pc !== state.pc || pc.signalingState !== 'stable') return; // crossed one of ours
        await pc.setRemoteDescription(msg);
        await pc.setLocalDescription();
        dc.send(JSON.stringify({ type: 'answer', sdp: pc.localDescription.sdp }));
      }).catch((e) => console.warn('renegotiation failed', e));
      break;
    case 'answer':
      answerWaiter?.(msg);
      break;
    case 'active_speaker':
      setSpeaker(msg.participant);
      break;
    case 'track_layers':
      break;
    default:
      break;
  }
}

// Counts what the media node sends us (RTP, RTCP, STUN: the transport's bytes) every
// MEDIA_WATCH_MS. When it stops for MEDIA_SILENCE_MS after flowing, the node may have died:
// the room's coordinator is told at once (media_lost). It checks the node and, when it does
// not answer, moves everyone on it (reconnect_to_node) — long before ICE gives up. A node that
// answers stays, and the connection's own states handle a blip on our side. When our media
// goes through a TURN relay, the relay may be what died: the session goes on over the standby
// transport through another TURN server (see prepareStandby), or, without one, starts over at
// once without that relay (ICE alone would take 10 s or more to give up on it).
function watchMediaFlow(pc) {
  let last = 0;
  let changedAt = performance.now();
  let reported = false;
  const timer = setInterval(async () => {
    if (pc !== state.pc || pc.connectionState === 'closed') return clearInterval(timer);
    let bytes = 0;
    try {
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'transport') bytes += s.bytesReceived || 0;
      });
    } catch {
      return;
    }
    const now = performance.now();
    if (bytes !== last) {
      last = bytes;
      changedAt = now;
      reported = false;
    } else if (last > 0 && !reported && now - changedAt >= MEDIA_SILENCE_MS) {
      reported = true;
      reportMediaLost(`nothing from the media node for ${Math.round(now - changedAt)} ms`);
      const relay = await selectedRelay(pc);
      if (relay && pc === state.pc) {
        state.deadTurn.add(turnHost(relay));
        const why = `nothing through the relay ${relay}`;
        if (!(await takeOverStandby(why))) restartMedia(why, { atOnce: true });
      }
    }
  }, MEDIA_WATCH_MS);
}

// The TURN server our selected candidate pair goes through, if it is relayed.
async function selectedRelay(pc) {
  try {
    const stats = await pc.getStats();
    let relay = null;
    stats.forEach((s) => {
      if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
      const local = stats.get(stats.get(s.selectedCandidatePairId)?.localCandidateId);
      if (local?.candidateType === 'relay' && local.url) relay = local.url;
    });
    return relay;
  } catch {
    return null;
  }
}

// `turn:host:port?transport=udp` → `host:port` (one server, whatever the transport).
const turnHost = (url) => url.replace(/^turns?:/, '').split('?')[0];

// The join's ICE servers without the TURN servers that stopped relaying for us in this call
// (all of them, should every one have).
function liveIceServers(servers) {
  const live = servers
    .map((s) => ({ ...s, urls: [].concat(s.urls).filter((u) => !state.deadTurn.has(turnHost(u))) }))
    .filter((s) => s.urls.length);
  return live.length ? live : servers;
}

function reportMediaLost(why) {
  const node = state.join?.media?.node_id;
  if (node && send({ type: 'media_lost', node_id: node })) console.info(`media: told the room ${node} may be gone: ${why}`);
}

function onPcState(pc) {
  if (pc !== state.pc) return;
  const s = pc.connectionState;
  if (s === 'connected') {
    clearTimeout(state.mediaTimer);
    state.mediaConnected = true;
    window.origoTimings.mediaConnected ??= performance.now();
    refreshPhase();
    setTimeout(() => prepareStandby(pc), STANDBY_AFTER_MS);
  } else if (s === 'disconnected') {
    state.mediaConnected = false;
    reportMediaLost('the media connection dropped');
    refreshPhase();
    clearTimeout(state.mediaTimer);
    state.mediaTimer = setTimeout(() => {
      if (pc === state.pc && pc.connectionState !== 'connected') restartMedia('the media connection dropped');
    }, DISCONNECTED_GRACE_MS);
  } else if (s === 'failed') {
    state.mediaConnected = false;
    restartMedia('the media connection failed');
  }
}

function mediaFailed(err) {
  if (state.ended || state.leaving) return;
  const msg = explain(err, 'media');
  console.warn('media:', msg);
  state.mediaAttempts++;
  if (state.mediaAttempts > 6) return fail(msg);
  setPhase(state.everJoined && state.phase !== 'connecting' ? 'reconnecting' : 'connecting', `— ${msg}`);
  restartMedia(msg);
}

// Closes the session and opens a new one (after a network blip, or on another node).
async function restartMedia(reason, { atOnce = false } = {}) {
  if (state.restarting || state.ended || state.leaving) return;
  state.restarting = true;
  try {
    console.info('media: restarting:', reason);
    if (state.phase === 'connected') setPhase('reconnecting');
    dropMedia();
    const delay = atOnce ? 0 : Math.min(8000, 250 * 2 ** Math.min(state.mediaAttempts, 5));
    await restartPause(delay);
    if (state.ended || state.leaving) return;
    for (;;) {
      const join = state.join;
      try {
        await startMedia();
        if (state.join === join) break;
        // Moved to another node while this session was being set up: over again, there.
        dropMedia();
        continue;
      } catch (e) {
        if (state.ended || state.leaving) return;
        if (state.join !== join) continue; // moved meanwhile: try the new node at once
        if (e.status === 401 || e.status === 403) {
          // A token for another node, or an expired one: join again.
          try {
            await joinRoom();
            continue;
          } catch (e2) {
            return fail(explain(e2, e2.during));
          }
        }
        state.mediaAttempts++;
        if (state.mediaAttempts > 6) return fail(explain(e, 'media'));
        setPhase('reconnecting', `— ${explain(e, 'media')}`);
        await restartPause(Math.min(8000, 500 * 2 ** state.mediaAttempts));
        if (state.ended || state.leaving) return;
      }
    }
  } finally {
    state.restarting = false;
    state.wakeRestart = null;
  }
}

// Closes the media session we have, if any (and its standby), and forgets its remote tracks.
function dropMedia() {
  dropStandby();
  closePeer(state.pc);
  state.pc = null;
  state.mediaConnected = false;
}

// Closes a session's peer connection (the node notices) and forgets what it received.
function closePeer(pc) {
  clearTimeout(state.mediaTimer);
  if (pc) {
    pc.onconnectionstatechange = null;
    pc.close();
  }
  for (const r of state.remote.values()) r.track.stop();
  state.remote.clear();
  for (const id of state.participants.keys()) updateTileMedia(id);
}

// ---------------------------------------------------------------------------------------------
// The standby transport
//
// While our media goes through a TURN relay, a second transport to the same media node waits
// through another region's TURN server: a session of its own there (`standby`), connected (its
// allocation, ICE, DTLS and data channel up), carrying nothing. When the relay in use dies, it
// takes the session over with one renegotiation, instead of a new allocation, ICE and DTLS over
// a long relayed path. It costs one idle allocation and its keepalives. After a take-over, the
// next standby goes through a TURN server not yet used.

// Whether a standby is worth it and which TURN server it goes through: the nearest one the
// join offered that is neither the relay in use nor one that died in this call.
function standbyServers(inUse) {
  const live = (state.join?.ice_servers || [])
    .map((s) => ({ ...s, urls: [].concat(s.urls).filter((u) => /^turns?:/.test(u)) }))
    .map((s) => ({ ...s, urls: s.urls.filter((u) => turnHost(u) !== inUse && !state.deadTurn.has(turnHost(u))) }))
    .filter((s) => s.urls.length);
  if (!live.length) return null;
  const via = turnHost(live[0].urls[0]);
  const servers = live.map((s) => ({ ...s, urls: s.urls.filter((u) => turnHost(u) === via) })).filter((s) => s.urls.length);
  return { via, servers };
}

async function prepareStandby(pc) {
  if (pc !== state.pc || state.standby || state.ended || state.leaving || pc.connectionState !== 'connected') return;
  const relay = await selectedRelay(pc);
  const plan = relay && standbyServers(turnHost(relay));
  if (!plan || pc !== state.pc || state.standby) return;
  const j = state.join;
  const spc = new RTCPeerConnection({ iceServers: plan.servers, iceTransportPolicy: 'relay', bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
  const sb = { pc: spc, dc: spc.createDataChannel('control', { ordered: true }), via: plan.via, join: j, sessionUrl: j.media.session_url, sessionId: null };
  state.standby = sb;
  spc.onconnectionstatechange = () => {
    if (state.standby === sb && ['failed', 'closed'].includes(spc.connectionState)) {
      console.info(`media: the standby transport through ${sb.via} ${spc.connectionState}`);
      dropStandby();
    }
  };
  try {
    await spc.setLocalDescription(await spc.createOffer());
    const created = await api(sb.sessionUrl, { token: j.participant_token, body: { offer: { type: 'offer', sdp: spc.localDescription.sdp }, standby: true } });
    if (state.standby !== sb) return;
    sb.sessionId = created.session_id;
    await spc.setRemoteDescription(created.answer);
    console.info(`media: a standby transport through ${sb.via}`);
  } catch (e) {
    console.info(`media: no standby transport through ${sb.via}: ${e?.message || e}`);
    if (state.standby === sb) dropStandby();
  }
}

function dropStandby() {
  const sb = state.standby;
  state.standby = null;
  if (!sb) return;
  sb.pc.onconnectionstatechange = null;
  sb.pc.close();
}

// Our session goes on over the standby transport: its tracks offered there, the node told the
// standby takes over (closing the old session), our subscriptions renewed. False when there is
// no standby ready, or it could not take over (the caller then starts a new session).
async function takeOverStandby(reason) {
  const sb = state.standby;
  const ready = sb && sb.join === state.join && sb.sessionId && sb.pc.connectionState === 'connected' && !state.deadTurn.has(sb.via);
  if (!ready || state.restarting || state.ended || state.leaving) return false;
  state.standby = null;
  state.restarting = true;
  console.info(`media: the standby through ${sb.via} takes over: ${reason}`);
  const pc = sb.pc;
  try {
    closePeer(state.pc);
    state.pc = pc;
    state.dc = sb.dc;
    state.sessionUrl = sb.sessionUrl;
    state.sessionId = sb.sessionId;
    state.mediaConnected = true;
    sb.dc.onmessage = (ev) => onChannelMessage(pc, sb.dc, ev.data);
    pc.ontrack = (ev) => onRemoteTrack(pc, ev);
    pc.onconnectionstatechange = () => onPcState(pc);
    state.transceivers = addSendTransceivers(pc);
    watchMediaFlow(pc);
    await serial(async () => {
      await pc.setLocalDescription();
      const res = await patchSession({ take_over: true, offer: { type: 'offer', sdp: pc.localDescription.sdp } });
      if (pc === state.pc) await pc.setRemoteDescription(res.answer);
    });
    if (pc !== state.pc) return true;
    // The tracks have new mids, so new ids: the old ones go first (an old id may be a new
    // track's of another kind).
    for (const id of state.published.values()) send({ type: 'track_unpublished', track_id: id });
    state.published.clear();
    announceTracks();
    await serial(() => syncSubscriptions(pc));
    refreshPhase();
    setTimeout(() => prepareStandby(pc), STANDBY_AFTER_MS);
    return true;
  } catch (e) {
    console.warn(`media: the standby could not take over: ${e?.message || e}`);
    return false;
  } finally {
    state.restarting = false;
  }
}

// A restart's back-off, cut short by state.wakeRestart().
function restartPause(ms) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      if (state.wakeRestart === done) state.wakeRestart = null;
      resolve();
    };
    const timer = setTimeout(done, ms);
    state.wakeRestart = done;
  });
}

// Tells the coordinator which tracks we send (ids as the media node names them).
function announceTracks() {
  if (!state.wsJoined || !state.pc || !state.identity) return;
  const entries = [
    ['audio', state.transceivers.audio, !state.micOn || !audioTrack()],
    ['video', state.transceivers.video, !state.camOn || !videoTrack()],
    ['screen', state.transceivers.screen, false],
  ];
  for (const [kind, tr, muted] of entries) {
    if (!tr || tr.mid === null) continue;
    const id = `${state.identity}:${tr.mid}`;
    if (kind === 'screen' && !state.screenTrack) {
      if (state.published.has(kind)) {
        send({ type: 'track_unpublished', track_id: state.published.get(kind) });
        state.published.delete(kind);
      }
      continue;
    }
    const prev = state.published.get(kind);
    if (prev && prev !== id) send({ type: 'track_unpublished', track_id: prev });
    send({ type: 'track_published', track: { id, kind, muted, simulcast: false } });
    state.published.set(kind, id);
  }
}

function setMuted(kind, muted) {
  const id = state.published.get(kind);
  if (id) send({ type: 'set_muted', track_id: id, muted });
  const t = state.me?.tracks?.find((x) => x.id === id);
  if (t) t.muted = muted;
}

// ---------------------------------------------------------------------------------------------
// Remote media

function onRemoteTrack(pc, ev) {
  if (pc !== state.pc) return;
  if (ev.track.kind === 'video') window.origoTimings.firstRemoteTrack ??= performance.now();
  const identity = ev.streams[0]?.id || ev.track.id.split(':')[0];
  const rec = { identity, kind: ev.track.kind, track: ev.track, at: performance.now(), frames: 0, live: false, width: 0, role: null };
  // The media node names tracks after what was published (msid), so we know which it is.
  // (`{identity}:{mid}/{session}`: the part before the slash is the published track's id.)
  const exact = ev.track.id.includes(':') ? ev.track.id.split('/')[0] : null;
  if (exact) rec.trackId = exact;
  state.remote.set(ev.track.id, rec);
  ev.track.addEventListener('ended', () => {
    state.remote.delete(ev.track.id);
    updateTileMedia(identity);
  });
  if (rec.kind === 'audio') attachAudio(identity);
  else updateTileMedia(identity);
}

function remoteOf(identity, kind) {
  return [...state.remote.values()].filter((r) => r.identity === identity && r.kind === kind);
}

// Which received video track is the camera and which the screen.
function classify(identity) {
  const p = state.participants.get(identity);
  const vids = remoteOf(identity, 'video');
  const kindOf = (r) => p?.tracks?.find((t) => t.id === r.trackId)?.kind;
  let camera = null;
  let screen = null;
  if (vids.some((r) => r.trackId && kindOf(r))) {
    camera = vids.filter((r) => kindOf(r) === 'video').pop() || null;
    screen = vids.filter((r) => kindOf(r) === 'screen').pop() || null;
    return { camera, screen };
  }
  // Without track names: a sharer's widest live track is the screen; the newest other is the camera.
  const sharing = p?.tracks?.some((t) => t.kind === 'screen');
  const live = vids.filter((r) => r.live);
  if (sharing && live.length >= 2) {
    screen = live.reduce((a, b) => (b.width > a.width ? b : a));
    camera = live.filter((r) => r !== screen).sort((a, b) => b.at - a.at)[0] || null;
  } else {
    const pool = live.length ? live : vids;
    camera = pool.sort((a, b) => b.at - a.at)[0] || null;
  }
  return { camera, screen };
}

function attachAudio(identity) {
  const rec = remoteOf(identity, 'audio').sort((a, b) => b.at - a.at)[0];
  let a = document.querySelector(`audio[data-for="${CSS.escape(identity)}"]`);
  if (!rec) {
    a?.remove();
    return;
  }
  if (!a) {
    a = el('audio', { autoplay: true, 'data-for': identity });
    $('#audio-sink').append(a);
  }
  if (a.srcObject?.getAudioTracks()[0] !== rec.track) a.srcObject = new MediaStream([rec.track]);
  a.play().catch(() => offerSound());
}

let soundToast = null;
function offerSound() {
  if (soundToast) return;
  soundToast = toast('Your browser blocked the sound of this call.', {
    action: 'Turn on sound',
    ms: 0,
    onAction: () => {
      soundToast = null;
      document.querySelectorAll('#audio-sink audio').forEach((a) => a.play().catch(() => {}));
    },
  });
}

function setSpeaker(identity) {
  state.speaker = identity;
  document.querySelectorAll('.tile[data-speaking="true"]').forEach((t) => (t.dataset.speaking = 'false'));
  const tile = identity === state.identity ? $('#tile-self') : tileOf(identity);
  if (tile) tile.dataset.speaking = 'true';
}

// ---------------------------------------------------------------------------------------------
// Tiles

function tileOf(identity) {
  return document.querySelector(`.tile[data-participant="${CSS.escape(identity)}"]`);
}

function makeTile({ identity, name, self = false, screen = false }) {
  const video = el('video', { autoplay: true, playsinline: true, muted: true });
  video.muted = true;
  const caption = el(
    'figcaption',
    { class: 'caption' },
    el('span', { class: 'hand-badge', title: 'Hand raised' }, icon('hand')),
    el('span', { class: 'name', text: screen ? `${name} is presenting` : self ? `${name} (you)` : name }),
    el('span', { class: 'mic-badge', title: 'Microphone off' }, icon('mic-off')),
  );
  const fig = el(
    'figure',
    {
      class: screen ? 'tile screen' : 'tile',
      'data-participant': self || screen ? null : identity,
      'data-screen-of': screen ? identity : null,
      'data-self': self ? 'true' : null,
      'data-muted': 'false',
      'data-video': 'off',
      'data-hand': 'false',
      'data-speaking': 'false',
      id: self ? 'tile-self' : null,
    },
    video,
    el('div', { class: 'avatar', 'aria-hidden': 'true', text: initials(name) }),
    caption,
  );
  // First frame: the number the client is judged by.
  const onFrame = () => {
    if (!self && !screen && window.origoTimings.firstRemoteFrame === undefined && video.srcObject) {
      const t = window.origoTimings;
      t.firstRemoteFrame = performance.now();
      t.joinToFirstFrameMs = Math.round(t.firstRemoteFrame - t.joinStart);
    }
  };
  if ('requestVideoFrameCallback' in video) {
    const loop = () => video.requestVideoFrameCallback(() => (onFrame(), loop()));
    loop();
  } else {
    video.addEventListener('loadeddata', onFrame);
  }
  return fig;
}

function describeTile(fig, p, { self = false } = {}) {
  const audio = (p.tracks || []).find((t) => t.kind === 'audio');
  const muted = self ? !state.micOn : !audio || audio.muted;
  fig.dataset.muted = String(muted);
  fig.dataset.hand = String(!!p.hand_raised);
  fig.dataset.presence = p.presence || 'active';
  fig.querySelector('.name').textContent = self ? `${p.name} (you)` : p.name;
  fig.querySelector('.avatar').textContent = initials(p.name);
  const bits = [self ? `${p.name} (you)` : p.name];
  if (muted) bits.push('microphone off');
  if (fig.dataset.video === 'off') bits.push('camera off');
  if (p.hand_raised) bits.push('hand raised');
  fig.setAttribute('aria-label', bits.join(', '));
}

function renderLocalTile() {
  let fig = $('#tile-self');
  if (!fig) {
    fig = makeTile({ identity: 'self', name: state.name, self: true });
    $('#grid').prepend(fig);
  }
  const v = fig.querySelector('video');
  const cam = state.camOn ? videoTrack() : null;
  if ((v.srcObject?.getVideoTracks()[0] || null) !== cam) v.srcObject = cam ? new MediaStream([cam]) : null;
  fig.dataset.video = cam ? 'on' : 'off';
  describeTile(fig, { ...(state.me || {}), name: state.name, hand_raised: state.hand }, { self: true });
  let sfig = $('#tile-self-screen');
  if (state.screenTrack && !sfig) {
    sfig = makeTile({ identity: 'self', name: 'You', screen: true });
    sfig.id = 'tile-self-screen';
    sfig.querySelector('.name').textContent = 'You are presenting';
    sfig.dataset.video = 'on';
    sfig.querySelector('video').srcObject = new MediaStream([state.screenTrack]);
    fig.after(sfig);
  } else if (!state.screenTrack && sfig) {
    sfig.remove();
  }
  layout();
}

function upsertParticipant(p) {
  state.participants.set(p.id, p);
  let fig = tileOf(p.id);
  if (!fig) {
    fig = makeTile({ identity: p.id, name: p.name });
    $('#grid').append(fig);
  }
  updateTileMedia(p.id);
  renderPeople();
}

function removeParticipant(id) {
  state.participants.delete(id);
  tileOf(id)?.remove();
  document.querySelector(`.tile[data-screen-of="${CSS.escape(id)}"]`)?.remove();
  document.querySelector(`audio[data-for="${CSS.escape(id)}"]`)?.remove();
  for (const [k, r] of state.remote) if (r.identity === id) state.remote.delete(k);
  if (state.speaker === id) state.speaker = null;
  renderPeople();
  renderTyping();
  layout();
}

// Puts the right tracks in a participant's tile(s) and shows what they have switched off.
function updateTileMedia(identity) {
  const p = state.participants.get(identity);
  const fig = tileOf(identity);
  if (!p || !fig) return;
  const { camera, screen } = classify(identity);
  const camTrack = (p.tracks || []).find((t) => t.kind === 'video');
  const camOn = !!camera && !!camTrack && !camTrack.muted;
  const v = fig.querySelector('video');
  const want = camera?.track || null;
  if ((v.srcObject?.getVideoTracks()[0] || null) !== want) v.srcObject = want ? new MediaStream([want]) : null;
  fig.dataset.video = camOn ? 'on' : 'off';
  describeTile(fig, p);

  const sharing = (p.tracks || []).some((t) => t.kind === 'screen');
  let sfig = document.querySelector(`.tile[data-screen-of="${CSS.escape(identity)}"]`);
  if (sharing && screen) {
    if (!sfig) {
      sfig = makeTile({ identity, name: p.name, screen: true });
      $('#grid').prepend(sfig);
    }
    sfig.dataset.video = 'on';
    const sv = sfig.querySelector('video');
    if (sv.srcObject?.getVideoTracks()[0] !== screen.track) sv.srcObject = new MediaStream([screen.track]);
  } else if (sfig) {
    sfig.remove();
  }
  layout();
}

// Tiles as large as the stage allows, 16:9 (4:3 on tall screens).
function layout() {
  const stage = $('#stage');
  const grid = $('#grid');
  const tiles = [...grid.children];
  const n = tiles.length;
  $('#alone').hidden = state.participants.size > 0 || state.phase === 'idle';
  if (!n || stage.clientWidth === 0) return;
  const gap = 8;
  const W = stage.clientWidth - 16;
  let H = stage.clientHeight - 16 - ($('#alone').hidden ? 0 : 48);
  if (!$('#call-problem').hidden) H -= $('#call-problem').offsetHeight + 8;
  const presenting = tiles.some((t) => t.classList.contains('screen'));
  grid.classList.toggle('presenting', presenting);
  const aspect = W < H ? 4 / 3 : 16 / 9;
  const fit = (count, w, h) => {
    let best = { w: 0, h: 0 };
    for (let cols = 1; cols <= count; cols++) {
      const rows = Math.ceil(count / cols);
      const tw = Math.min((w - gap * (cols - 1)) / cols, ((h - gap * (rows - 1)) / rows) * aspect);
      if (tw > best.w) best = { w: tw, h: tw / aspect };
    }
    return best;
  };
  if (presenting) {
    const others = n - 1;
    // The shared screen gets the room it can use (16:9), the others share the rest.
    const mainH = others ? Math.min(H * 0.72, W * (9 / 16) + gap) : H;
    grid.style.setProperty('--screen-w', `${Math.floor(W)}px`);
    grid.style.setProperty('--screen-h', `${Math.floor(mainH - gap)}px`);
    H = H - mainH;
    const b = fit(Math.max(1, others), W, H);
    grid.style.setProperty('--tile-w', `${Math.floor(b.w)}px`);
    grid.style.setProperty('--tile-h', `${Math.floor(b.h)}px`);
  } else {
    const b = fit(n, W, H);
    grid.style.setProperty('--tile-w', `${Math.floor(b.w)}px`);
    grid.style.setProperty('--tile-h', `${Math.floor(b.h)}px`);
  }
}

// Once a second: which remote tracks are receiving, and how wide (to tell screens from cameras).
async function watchStats() {
  const pc = state.pc;
  if (!pc || state.remote.size === 0) return;
  let stats;
  try {
    stats = await pc.getStats();
  } catch {
    return;
  }
  const byTrack = new Map();
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video' && s.trackIdentifier) byTrack.set(s.trackIdentifier, s);
  });
  const changed = new Set();
  for (const [id, r] of state.remote) {
    if (r.kind !== 'video') continue;
    const s = byTrack.get(id);
    const frames = s?.framesDecoded || 0;
    const live = frames > r.frames;
    if (live !== r.live) changed.add(r.identity);
    r.live = live;
    r.frames = frames;
    r.width = s?.frameWidth || r.width;
  }
  for (const id of changed) updateTileMedia(id);
}

// ---------------------------------------------------------------------------------------------
// People, chat, presence

function renderPeople() {
  const list = $('#people');
  const everyone = [];
  if (state.me || state.identity) everyone.push({ ...(state.me || {}), id: state.identity, name: state.name, hand_raised: state.hand, self: true });
  for (const p of [...state.participants.values()].sort((a, b) => a.joined_at_ms - b.joined_at_ms)) everyone.push(p);
  list.replaceChildren(
    ...everyone.map((p) => {
      const audio = (p.tracks || []).find((t) => t.kind === 'audio');
      const video = (p.tracks || []).find((t) => t.kind === 'video');
      const micOff = p.self ? !state.micOn : !audio || audio.muted;
      const camOff = p.self ? !state.camOn : !video || video.muted;
      const status = [];
      if (p.hand_raised) status.push('hand raised');
      if (p.presence === 'away') status.push('away');
      if (p.presence === 'typing') status.push('typing…');
      if (p.tracks?.some((t) => t.kind === 'screen')) status.push('presenting');
      const li = el(
        'li',
        { class: 'person', 'data-person': p.id, 'data-presence': p.presence || 'active' },
        el('span', { class: 'avatar small', 'aria-hidden': 'true', text: initials(p.name) }),
        el('span', { class: 'who' }, el('span', { class: 'pname', text: p.self ? `${p.name} (you)` : p.name }), status.length ? el('span', { class: 'pstatus', text: status.join(' · ') }) : null),
        p.hand_raised ? el('span', { class: 'state-icon hand-on', title: 'Hand raised' }, icon('hand')) : null,
        el('span', { class: `state-icon ${micOff ? 'off' : ''}`, title: micOff ? 'Microphone off' : 'Microphone on' }, icon(micOff ? 'mic-off' : 'mic')),
        el('span', { class: `state-icon ${camOff ? 'off' : ''}`, title: camOff ? 'Camera off' : 'Camera on' }, icon(camOff ? 'cam-off' : 'cam')),
      );
      li.setAttribute('aria-label', [p.self ? `${p.name} (you)` : p.name, micOff ? 'microphone off' : 'microphone on', camOff ? 'camera off' : 'camera on', ...status].join(', '));
      return li;
    }),
  );
  $('#people-count').textContent = `(${everyone.length})`;
  $('#alone').hidden = state.participants.size > 0;
  // The local tile's badges follow our own state.
  const self = $('#tile-self');
  if (self) describeTile(self, { ...(state.me || {}), name: state.name, hand_raised: state.hand }, { self: true });
}

function renderTyping() {
  const typing = [...state.participants.values()].filter((p) => p.presence === 'typing').map((p) => p.name);
  $('#typing').textContent = typing.length === 0 ? '' : typing.length === 1 ? `${typing[0]} is typing…` : `${typing.slice(0, -1).join(', ')} and ${typing.at(-1)} are typing…`;
}

// Chat. Messages are keyed by their id and kept in order of their room `seq`; a message can be
// edited, deleted (it stays as a tombstone), reacted to and answered. Message text reaches the
// page only through text nodes.

const QUICK_REACTIONS = [
  ['👍', 'thumbs up'],
  ['❤️', 'heart'],
  ['😂', 'laughing'],
  ['🎉', 'party'],
  ['😮', 'surprised'],
];
const QUOTE_CHARS = 80;
const DELETE_CONFIRM_MS = 3000;
const MAX_MENTIONS = 20;
const MAX_IDENTITY_BYTES = 128;
// Refusals of a chat frame that the sender should read.
const CHAT_ERRORS = new Set(['forbidden', 'message_deleted', 'unknown_message', 'bad_chat_text', 'bad_reaction', 'too_many_reactions', 'bad_id']);

// A message as the room sends it, with what records of older releases may lack filled in.
function normalizeMessage(m) {
  const out = { ...m, mentions: m.mentions || [], reactions: m.reactions || {} };
  if (!out.id) out.id = `${String(out.sent_at_ms).padStart(16, '0')}-${String(out.seq).padStart(10, '0')}`;
  else if (!out.seq) out.seq = Number(out.id.split('-')[1]) || 0;
  return out;
}

// The sequence number of a message's latest state: its send, or its last change.
function lastSeq(m) {
  return Math.max(m.seq || 0, m.changed_seq || 0);
}

const isDeleted = (m) => m.deleted_at_ms !== undefined && m.deleted_at_ms !== null;

// The identities `text` mentions, read as the coordinator reads them: `@` at the start of a
// word, the identity up to the next whitespace without trailing `.,;:!?)`, each once.
function mentionsOf(text) {
  const found = [];
  for (const word of String(text).split(/\s+/)) {
    if (!word.startsWith('@')) continue;
    const id = word.slice(1).replace(/[.,;:!?)]+$/, '');
    if (!id || found.includes(id) || /\p{Cc}/u.test(id) || new TextEncoder().encode(id).length > MAX_IDENTITY_BYTES) continue;
    found.push(id);
    if (found.length === MAX_MENTIONS) break;
  }
  return found;
}

function nameOf(identity) {
  if (identity === state.identity) return state.name;
  return state.participants.get(identity)?.name;
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// The first words of a text on one line, cut at about `max` characters.
function snippet(text, max = QUOTE_CHARS) {
  const chars = Array.from(String(text).replace(/\s+/g, ' ').trim());
  return chars.length > max ? `${chars.slice(0, max - 1).join('').trimEnd()}…` : chars.join('');
}

// Whether this participant's token makes them an admin of the room: they may then edit and
// delete anyone's message (the coordinator decides; this only chooses what to offer).
function tokenIsRoomAdmin(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '=')), (c) => c.charCodeAt(0));
    const grants = JSON.parse(new TextDecoder().decode(bytes)).grants || {};
    return grants.room_admin === true && (!grants.room || grants.room === state.room);
  } catch {
    return false;
  }
}

function setAdmin(admin) {
  if (state.admin === admin) return;
  state.admin = admin;
  for (const id of state.chat.keys()) refreshMessage(id);
}

function canChange(m) {
  return !!m.id && !isDeleted(m) && (m.from === state.identity || state.admin);
}

function chatLi(id) {
  return id ? $('#chat-log').querySelector(`.msg[data-id="${CSS.escape(id)}"]`) : null;
}

// Message text with each `@identity` it mentions as a highlighted span.
function appendText(parent, text, mentions) {
  const wanted = new Set(mentions);
  for (const part of String(text).split(/(\s+)/)) {
    if (!part) continue;
    const m = part.startsWith('@') ? /^@(.*?)([.,;:!?)]*)$/su.exec(part) : null;
    if (m && wanted.has(m[1])) {
      parent.append(el('span', { class: m[1] === state.identity ? 'mention me' : 'mention', title: nameOf(m[1]), text: `@${m[1]}` }));
      if (m[2]) parent.append(m[2]);
    } else {
      parent.append(part);
    }
  }
}

// The quoted line above a reply.
function quoteOf(id) {
  const o = state.chat.get(id);
  if (!o) return el('div', { class: 'quote missing', text: 'In reply to an earlier message' });
  const gone = isDeleted(o);
  const what = gone ? 'deleted message' : snippet(o.text);
  return el(
    'button',
    { type: 'button', class: gone ? 'quote deleted' : 'quote', 'data-quote': id, 'aria-label': `In reply to ${o.from_name}: ${what}. Show the original message` },
    el('span', { class: 'quote-from', text: o.from_name }),
    el('span', { class: 'quote-text', text: what }),
  );
}

function actionButton(action, text, attrs = {}) {
  return el('button', { type: 'button', class: 'small', 'data-action': action, text, ...attrs });
}

function editForm(m) {
  const area = el('textarea', { class: 'edit-input', rows: 2, maxlength: 4000, 'aria-label': 'Edit message' });
  area.value = state.pendingEdits.get(m.id) ?? m.text;
  const form = el(
    'form',
    { class: 'edit-form' },
    area,
    el('div', { class: 'edit-buttons' }, el('button', { type: 'submit', class: 'small primary', 'data-action': 'save', text: 'Save' }), actionButton('cancel-edit', 'Cancel')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    saveEdit(m.id, area.value);
  });
  area.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      saveEdit(m.id, area.value);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      cancelEdit(m.id);
    }
  });
  return form;
}

// What inside a message had focus, so that a fresh rendering can give it back.
function focusedPart(li) {
  const f = document.activeElement;
  if (!f || f === li || !li.contains(f)) return null;
  if (f.dataset.action) return { sel: `[data-action="${CSS.escape(f.dataset.action)}"]` };
  if (f.dataset.reaction) return { sel: `[data-reaction="${CSS.escape(f.dataset.reaction)}"]` };
  if (f.dataset.quick) return { sel: `[data-quick="${CSS.escape(f.dataset.quick)}"]` };
  if (f.dataset.quote) return { sel: '.quote' };
  if (f.classList.contains('edit-input')) return { sel: '.edit-input', start: f.selectionStart, end: f.selectionEnd };
  return { sel: null };
}

// Draws one message (or a message of ours the room has not confirmed yet, which has no id).
function renderMessage(li, m) {
  const mine = m.from === state.identity;
  const deleted = isDeleted(m);
  const editing = state.editing === m.id && !deleted;
  const sentEdit = deleted ? undefined : state.pendingEdits.get(m.id);
  const reacting = state.reactingOn === m.id && !deleted && !editing;
  const confirming = state.confirmDelete?.id === m.id && !deleted;
  const classes = ['msg'];
  if (mine) classes.push('mine');
  if (!m.id || sentEdit !== undefined) classes.push('pending');
  if (deleted) classes.push('deleted');
  if (!deleted && m.mentions.includes(state.identity) && !mine) classes.push('mentions-me');
  if (confirming) classes.push('confirming');
  if (reacting) classes.push('reacting');
  li.className = classes.join(' ');
  if (m.id) {
    li.dataset.id = m.id;
    li.dataset.seq = m.seq;
  }
  li.dataset.from = m.from;
  if (m.reply_to) li.dataset.replyTo = m.reply_to;
  else delete li.dataset.replyTo;

  const from = mine ? 'You' : m.from_name;
  const meta = el('div', { class: 'meta' }, el('span', { class: 'from', text: from }), el('time', { datetime: new Date(m.sent_at_ms).toISOString(), text: clock(m.sent_at_ms) }));
  if (!deleted && m.edited_at_ms !== undefined && m.edited_at_ms !== null) {
    const byHost = m.edited_by && m.edited_by !== m.from;
    meta.append(el('span', { class: 'edited', title: `Edited at ${clock(m.edited_at_ms)}${byHost ? ' by a host' : ''}`, text: byHost ? '(edited by a host)' : '(edited)' }));
  }
  const parts = [meta];
  if (deleted) {
    parts.push(el('p', { class: 'text tombstone', text: m.deleted_by && m.deleted_by !== m.from ? 'Message deleted by a host' : 'Message deleted' }));
  } else {
    if (m.reply_to) parts.push(quoteOf(m.reply_to));
    if (editing) {
      parts.push(li.querySelector('.edit-form') || editForm(m));
    } else {
      const p = el('p', { class: 'text' });
      appendText(p, sentEdit ?? m.text, sentEdit !== undefined ? mentionsOf(sentEdit) : m.mentions);
      parts.push(p);
    }
    const given = Object.entries(m.reactions).filter(([, who]) => who.length);
    if (given.length) {
      const row = el('div', { class: 'reactions', role: 'group', 'aria-label': 'Reactions' });
      for (const [r, who] of given) {
        const byMe = who.includes(state.identity);
        const names = who.map((i) => (i === state.identity ? 'you' : nameOf(i) || i));
        row.append(
          el('button', {
            type: 'button',
            class: 'reaction',
            'data-reaction': r,
            'aria-pressed': String(byMe),
            disabled: !m.id,
            title: names.join(', '),
            'aria-label': `${r} ${who.length}: ${names.join(', ')}`,
            text: `${r} ${who.length}`,
          }),
        );
      }
      parts.push(row);
    }
    if (m.id && !editing) {
      const actions = el(
        'div',
        { class: 'actions', role: 'group', 'aria-label': `Actions for the message from ${from}` },
        actionButton('reply', 'Reply'),
        actionButton('react', 'React', { 'aria-expanded': String(reacting) }),
      );
      if (canChange(m)) {
        actions.append(actionButton('edit', 'Edit'), actionButton('delete', confirming ? 'Confirm delete' : 'Delete', { class: confirming ? 'small danger' : 'small' }));
      }
      parts.push(actions);
    }
    if (reacting) {
      const mineNow = (r) => (m.reactions[r] || []).includes(state.identity);
      parts.push(
        el(
          'div',
          { class: 'quick-reactions', role: 'group', 'aria-label': 'Quick reactions' },
          ...QUICK_REACTIONS.map(([r, label]) => el('button', { type: 'button', class: 'small', 'data-quick': r, 'aria-pressed': String(mineNow(r)), 'aria-label': `React with ${label}`, title: label, text: r })),
        ),
      );
    }
  }
  const had = focusedPart(li);
  li.replaceChildren(...parts);
  if (had) {
    const back = had.sel && li.querySelector(had.sel);
    if (back) {
      back.focus();
      if (had.start !== undefined) back.setSelectionRange(had.start, had.end);
    } else {
      li.focus();
    }
  }
}

function refreshMessage(id) {
  const m = state.chat.get(id);
  const li = chatLi(id);
  if (m && li) renderMessage(li, m);
}

// After a message changed: the replies that quote it, and the reply target above the input.
function refreshQuotesOf(id) {
  for (const li of $('#chat-log').querySelectorAll(`.msg[data-reply-to="${CSS.escape(id)}"]`)) {
    if (li.dataset.id) refreshMessage(li.dataset.id);
  }
  if (state.replyTo === id) renderReplyTarget();
}

// Only one message is in the Tab order; the arrow keys move between messages.
function syncRoving() {
  const items = [...$('#chat-log').querySelectorAll('.msg')];
  const current = items.find((li) => li.dataset.id && li.dataset.id === state.chatFocus) || items.findLast((li) => li.dataset.id);
  for (const li of items) li.tabIndex = li === current ? 0 : -1;
}

// Puts a message where its seq says, before any of ours still waiting for the room.
function placeMessage(li, seq) {
  const log = $('#chat-log');
  const after = [...log.children].find((c) => c !== li && (!c.dataset.seq || Number(c.dataset.seq) > seq));
  log.insertBefore(li, after || null);
}

function addChat(raw, clientId) {
  const m = normalizeMessage(raw);
  const known = state.chat.get(m.id);
  const pending = clientId && state.pendingChat.get(clientId);
  if (pending) {
    state.pendingChat.delete(clientId);
    if (known) {
      pending.remove();
    } else {
      state.chat.set(m.id, m);
      renderMessage(pending, m);
      placeMessage(pending, m.seq);
      syncRoving();
    }
    return;
  }
  if (known) {
    // Seen before: a reconnect sends again the messages that changed since.
    if (lastSeq(m) < lastSeq(known)) return;
    state.chat.set(m.id, m);
    if (isDeleted(m)) dropChatUi(m.id);
    refreshMessage(m.id);
    refreshQuotesOf(m.id);
    return;
  }
  state.chat.set(m.id, m);
  const li = el('li');
  renderMessage(li, m);
  placeMessage(li, m.seq);
  syncRoving();
  const log = $('#chat-log');
  log.scrollTop = log.scrollHeight;
  const mine = m.from === state.identity;
  if (!mine && state.panel !== 'chat') {
    state.unread++;
    const u = $('#unread');
    u.hidden = false;
    u.textContent = String(state.unread);
    $('#btn-chat').setAttribute('aria-label', `Chat, ${state.unread} unread`);
    if (!isDeleted(m) && m.mentions.includes(state.identity)) toast(`${m.from_name} mentioned you: ${snippet(m.text, 60)}`);
  }
}

// What the page holds for a message that is gone: its editor, its confirm step, its picker.
function dropChatUi(id) {
  if (state.editing === id) state.editing = null;
  if (state.reactingOn === id) state.reactingOn = null;
  if (state.confirmDelete?.id === id) {
    clearTimeout(state.confirmDelete.timer);
    state.confirmDelete = null;
  }
  state.pendingEdits.delete(id);
}

// `chat_changed`: the whole message when the room sends it, else the change applied to our copy.
function onChatChanged(msg) {
  const old = state.chat.get(msg.message_id);
  if (!old) return;
  let m;
  if (msg.message) {
    m = normalizeMessage(msg.message);
  } else {
    m = { ...old, reactions: { ...old.reactions }, changed_seq: msg.seq };
    const c = msg.change || {};
    if (c.kind === 'edited') {
      m.text = c.text;
      m.mentions = mentionsOf(c.text);
      m.edited_at_ms = c.at_ms;
      m.edited_by = msg.by;
    } else if (c.kind === 'deleted') {
      m.text = '';
      m.mentions = [];
      m.reactions = {};
      m.deleted_at_ms = c.at_ms;
      m.deleted_by = msg.by;
    } else if (c.kind === 'reaction') {
      const who = (m.reactions[c.reaction] || []).filter((i) => i !== msg.by);
      if (c.added) who.push(msg.by);
      if (who.length) m.reactions[c.reaction] = who;
      else delete m.reactions[c.reaction];
    } else {
      return;
    }
  }
  state.chat.set(m.id, m);
  const kind = msg.change?.kind;
  if (kind === 'edited' && msg.by === state.identity) state.pendingEdits.delete(m.id);
  if (isDeleted(m)) {
    dropChatUi(m.id);
    if (kind === 'deleted') announce(m.deleted_by && m.deleted_by !== m.from ? 'A host deleted a message' : `${m.from === state.identity ? 'Your' : `${m.from_name}’s`} message was deleted`);
  }
  refreshMessage(m.id);
  refreshQuotesOf(m.id);
}

function sendChat(text) {
  text = text.trim();
  if (!text) return;
  const clientId = `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  // A reply to a message deleted since goes out as a message of its own.
  const target = state.replyTo && state.chat.get(state.replyTo);
  const replyTo = target && !isDeleted(target) ? target.id : null;
  const frame = { type: 'chat', text, client_id: clientId };
  if (replyTo) frame.reply_to = replyTo;
  if (!send(frame)) {
    toast('Not connected to the room; your message was not sent.');
    return false;
  }
  const li = el('li');
  renderMessage(li, { id: '', seq: 0, from: state.identity, from_name: state.name, text, sent_at_ms: Date.now(), reply_to: replyTo || undefined, mentions: mentionsOf(text), reactions: {} });
  li.tabIndex = -1;
  state.pendingChat.set(clientId, li);
  $('#chat-log').append(li);
  $('#chat-log').scrollTop = $('#chat-log').scrollHeight;
  setReplyTarget(null);
  setTyping(false);
  return true;
}

function setReplyTarget(id) {
  state.replyTo = id;
  renderReplyTarget();
  if (id) $('#chat-input').focus();
}

function renderReplyTarget() {
  const m = state.replyTo && state.chat.get(state.replyTo);
  if (!m) state.replyTo = null;
  $('#reply-target').hidden = !m;
  $('#reply-text').textContent = m ? `Replying to ${m.from_name}: ${isDeleted(m) ? 'deleted message' : snippet(m.text)}` : '';
  $('#chat-input').placeholder = m ? 'Write a reply' : 'Message everyone';
}

function startEdit(id) {
  const m = state.chat.get(id);
  if (!m || !canChange(m)) return;
  const before = state.editing;
  state.editing = id;
  state.reactingOn = null;
  if (before && before !== id) refreshMessage(before);
  refreshMessage(id);
  const area = chatLi(id)?.querySelector('.edit-input');
  if (area) {
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  }
}

function cancelEdit(id) {
  if (state.editing !== id) return;
  state.editing = null;
  refreshMessage(id);
  chatLi(id)?.focus();
}

function saveEdit(id, text) {
  const m = state.chat.get(id);
  text = text.trim();
  if (!m || isDeleted(m)) return cancelEdit(id);
  if (!text) {
    toast('A message cannot be empty; delete it instead.');
    return;
  }
  if (text === (state.pendingEdits.get(id) ?? m.text)) return cancelEdit(id);
  if (!send({ type: 'edit_chat', message_id: id, text })) {
    toast('Not connected to the room; your change was not saved.');
    return;
  }
  // Shown at once, marked pending until the room confirms it.
  state.pendingEdits.set(id, text);
  state.editing = null;
  refreshMessage(id);
  chatLi(id)?.focus();
}

function askDelete(id) {
  const m = state.chat.get(id);
  if (!m || !canChange(m)) return;
  const asked = state.confirmDelete;
  if (asked) {
    clearTimeout(asked.timer);
    state.confirmDelete = null;
    if (asked.id !== id) refreshMessage(asked.id);
  }
  if (asked?.id === id) {
    if (!send({ type: 'delete_chat', message_id: id })) toast('Not connected to the room; the message was not deleted.');
    refreshMessage(id);
    chatLi(id)?.focus();
    return;
  }
  state.confirmDelete = {
    id,
    timer: setTimeout(() => {
      if (state.confirmDelete?.id !== id) return;
      state.confirmDelete = null;
      refreshMessage(id);
    }, DELETE_CONFIRM_MS),
  };
  refreshMessage(id);
  announce('Press Confirm delete to delete the message');
}

function toggleQuickReactions(id) {
  const before = state.reactingOn;
  state.reactingOn = before === id ? null : id;
  if (before && before !== id) refreshMessage(before);
  refreshMessage(id);
  if (state.reactingOn) chatLi(id)?.querySelector('[data-quick]')?.focus();
}

function react(id, reaction) {
  const m = state.chat.get(id);
  if (!m || isDeleted(m)) return;
  const added = !(m.reactions[reaction] || []).includes(state.identity);
  if (!send({ type: 'react', message_id: id, reaction, added })) toast('Not connected to the room; your reaction was not sent.');
}

function showOriginal(id) {
  const li = chatLi(id);
  if (!li) return;
  li.scrollIntoView({ block: 'center', behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth' });
  li.dataset.flash = '';
  setTimeout(() => delete li.dataset.flash, 1600);
  state.chatFocus = id;
  syncRoving();
  li.focus({ preventScroll: true });
}

// Edits shown before the room confirmed them go back to what the room has: after a refusal
// (which names no message) and after a reconnect (which sends again what did change).
function forgetPendingEdits() {
  if (!state.pendingEdits.size) return;
  const ids = [...state.pendingEdits.keys()];
  state.pendingEdits.clear();
  for (const id of ids) refreshMessage(id);
}

function wireChat() {
  const log = $('#chat-log');
  log.addEventListener('click', (e) => {
    const li = e.target.closest('.msg');
    const id = li?.dataset.id;
    if (!id) return;
    const b = e.target.closest('button');
    if (!b || b.disabled) return;
    if (b.dataset.reaction) return react(id, b.dataset.reaction);
    if (b.dataset.quick) {
      react(id, b.dataset.quick);
      state.reactingOn = null;
      refreshMessage(id);
      chatLi(id)?.querySelector('[data-action="react"]')?.focus();
      return;
    }
    if (b.dataset.quote) return showOriginal(b.dataset.quote);
    switch (b.dataset.action) {
      case 'reply':
        return setReplyTarget(id);
      case 'react':
        return toggleQuickReactions(id);
      case 'edit':
        return startEdit(id);
      case 'cancel-edit':
        return cancelEdit(id);
      case 'delete':
        return askDelete(id);
      default:
        return;
    }
  });
  log.addEventListener('focusin', (e) => {
    const li = e.target.closest('.msg');
    if (li?.dataset.id && state.chatFocus !== li.dataset.id) {
      state.chatFocus = li.dataset.id;
      syncRoving();
    }
  });
  log.addEventListener('keydown', (e) => {
    const li = e.target.closest('.msg');
    if (!li) return;
    if (e.key === 'Escape' && state.reactingOn === li.dataset.id && e.target.closest('.quick-reactions, .actions')) {
      e.preventDefault();
      e.stopPropagation();
      state.reactingOn = null;
      refreshMessage(li.dataset.id);
      li.querySelector('[data-action="react"]')?.focus();
      return;
    }
    if (e.target !== li) return;
    const items = [...log.querySelectorAll('.msg[data-id]')];
    const at = items.indexOf(li);
    const to = { ArrowUp: at - 1, ArrowDown: at + 1, Home: 0, End: items.length - 1 }[e.key];
    if (to === undefined || !items[to]) return;
    e.preventDefault();
    items[to].focus();
  });
  $('#reply-cancel').addEventListener('click', () => {
    setReplyTarget(null);
    $('#chat-input').focus();
  });
  $('#chat-input').addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.replyTo) {
      e.preventDefault();
      e.stopPropagation();
      setReplyTarget(null);
    }
  });
}

function clearChat() {
  state.chat.clear();
  state.pendingChat.clear();
  state.pendingEdits.clear();
  if (state.confirmDelete) clearTimeout(state.confirmDelete.timer);
  state.confirmDelete = null;
  state.editing = null;
  state.reactingOn = null;
  state.chatFocus = null;
  state.replyTo = null;
  renderReplyTarget();
  $('#chat-log').replaceChildren();
}

function setTyping(on) {
  clearTimeout(state.typingTimer);
  if (on) state.typingTimer = setTimeout(() => setTyping(false), 4000);
  if (on === state.typingSent) return;
  state.typingSent = on;
  send({ type: 'presence', state: on ? 'typing' : document.hidden ? 'away' : 'active' });
}

// ---------------------------------------------------------------------------------------------
// Controls

function syncControls() {
  const mic = $('#btn-mic');
  syncToggle(mic, state.micOn, 'mic', 'Mute microphone', 'Unmute microphone');
  mic.setAttribute('aria-pressed', String(!state.micOn));
  mic.querySelector('.label').textContent = state.micOn ? 'Mute' : 'Unmute';
  const cam = $('#btn-cam');
  syncToggle(cam, state.camOn, 'cam', 'Stop camera', 'Start camera');
  cam.setAttribute('aria-pressed', String(!state.camOn));
  cam.querySelector('.label').textContent = state.camOn ? 'Stop video' : 'Start video';
  const sc = $('#btn-screen');
  sc.setAttribute('aria-pressed', String(!!state.screenTrack));
  sc.setAttribute('aria-label', state.screenTrack ? 'Stop sharing your screen' : 'Share your screen');
  sc.classList.toggle('active', !!state.screenTrack);
  sc.querySelector('.label').textContent = state.screenTrack ? 'Stop share' : 'Share';
  sc.hidden = !navigator.mediaDevices?.getDisplayMedia;
  const hand = $('#btn-hand');
  hand.setAttribute('aria-pressed', String(state.hand));
  hand.setAttribute('aria-label', state.hand ? 'Lower hand' : 'Raise hand');
  hand.classList.toggle('active', state.hand);
  hand.querySelector('.label').textContent = state.hand ? 'Lower hand' : 'Raise hand';
  $('#btn-chat').setAttribute('aria-pressed', String(state.panel === 'chat'));
  $('#btn-people').setAttribute('aria-pressed', String(state.panel === 'people'));
}

async function toggleMic(on = !state.micOn) {
  if (on && state.adminMuted?.audio) return toast('A host muted your microphone; they must allow you to unmute.');
  state.micOn = on;
  if (on && !audioTrack()) {
    await acquireMedia();
    if (!audioTrack()) {
      state.micOn = false;
      toast('No microphone is available.');
    } else {
      await state.transceivers.audio?.sender.replaceTrack(audioTrack());
    }
  }
  if (audioTrack()) audioTrack().enabled = state.micOn;
  setMuted('audio', !state.micOn);
  syncControls();
  renderLocalTile();
  renderPeople();
  announce(state.micOn ? 'Microphone on' : 'Microphone muted');
}

async function toggleCam(on = !state.camOn) {
  if (on && state.adminMuted?.video) return toast('A host turned off your camera; they must allow you to turn it on.');
  state.camOn = on;
  if (on) {
    await acquireMedia();
    if (!videoTrack()) {
      state.camOn = false;
      toast('The camera could not be started.');
    } else {
      await state.transceivers.video?.sender.replaceTrack(videoTrack());
    }
  } else {
    await state.transceivers.video?.sender.replaceTrack(null);
    stopCamera();
  }
  setMuted('video', !state.camOn);
  syncControls();
  renderLocalTile();
  renderPeople();
  announce(state.camOn ? 'Camera on' : 'Camera off');
}

async function toggleScreen() {
  if (state.screenTrack) return stopScreen();
  let s;
  try {
    s = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
  } catch (e) {
    if (e.name !== 'NotAllowedError' && e.name !== 'AbortError') toast(`Screen sharing failed: ${explain(e)}`);
    return;
  }
  const track = s.getVideoTracks()[0];
  track.contentHint = 'detail';
  track.addEventListener('ended', () => state.screenTrack === track && stopScreen());
  state.screenTrack = track;
  try {
    if (state.transceivers.screen) {
      await state.transceivers.screen.sender.replaceTrack(track);
    } else if (state.pc) {
      state.transceivers.screen = state.pc.addTransceiver(track, { direction: 'sendonly', streams: [new MediaStream([track])] });
      preferVp8(state.transceivers.screen);
      await renegotiate();
    }
    announceTracks();
  } catch (e) {
    toast(`Screen sharing failed: ${explain(e)}`);
    stopScreen();
    return;
  }
  syncControls();
  renderLocalTile();
  announce('You are sharing your screen');
}

function stopScreen() {
  const t = state.screenTrack;
  state.screenTrack = null;
  t?.stop();
  state.transceivers.screen?.sender.replaceTrack(null).catch(() => {});
  announceTracks();
  syncControls();
  renderLocalTile();
  announce('Screen sharing stopped');
}

function toggleHand() {
  state.hand = !state.hand;
  send({ type: 'raise_hand', raised: state.hand });
  syncControls();
  renderLocalTile();
  renderPeople();
  announce(state.hand ? 'Hand raised' : 'Hand lowered');
}

function openPanel(which) {
  state.panel = state.panel === which ? null : which;
  const side = $('#side');
  side.hidden = !state.panel;
  document.body.dataset.panel = state.panel || '';
  if (state.panel) selectTab(state.panel, false);
  if (state.panel === 'chat') {
    state.unread = 0;
    $('#unread').hidden = true;
    $('#btn-chat').removeAttribute('aria-label');
    $('#chat-input').focus();
  } else if (state.panel === 'people') {
    $('#tab-people').focus();
  } else {
    $(which === 'chat' ? '#btn-chat' : '#btn-people').focus();
  }
  syncControls();
  requestAnimationFrame(layout);
}

function selectTab(which, focus = true) {
  for (const t of ['chat', 'people']) {
    const tab = $(`#tab-${t}`);
    tab.setAttribute('aria-selected', String(t === which));
    tab.tabIndex = t === which ? 0 : -1;
    $(`#panel-${t}`).hidden = t !== which;
  }
  state.panel = which;
  if (which === 'chat') {
    state.unread = 0;
    $('#unread').hidden = true;
  }
  if (focus) $(`#tab-${which}`).focus();
  syncControls();
}

async function copyInvite() {
  const link = `${location.origin}/?room=${encodeURIComponent(state.room)}`;
  try {
    await navigator.clipboard.writeText(link);
    toast('Invite link copied');
    announce('Invite link copied to the clipboard');
  } catch {
    // Clipboard refused (permissions, insecure context): show the link to copy by hand.
    const input = el('input', { class: 'invite-link', readonly: true, value: link, 'aria-label': 'Invite link' });
    const t = toast('Copy this link:', { ms: 15000 });
    t.append(input);
    input.focus();
    input.select();
  }
}

// ---------------------------------------------------------------------------------------------
// Leaving

function teardown() {
  clearInterval(state.pingTimer);
  clearTimeout(state.wsTimer);
  clearTimeout(state.mediaTimer);
  if (state.ws) {
    state.ws.onclose = null;
    try {
      if (state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ type: 'leave' }));
      state.ws.close(1000, 'left');
    } catch {}
    state.ws = null;
  }
  // End the session, then close the connection (closing first would end it from the other
  // side and the DELETE would find nothing).
  let ended = Promise.resolve();
  if (state.sessionId && state.join) {
    ended = fetch(sessionUrl(), { method: 'DELETE', headers: { authorization: `Bearer ${state.join.participant_token}` }, keepalive: true }).catch(() => {});
  }
  const sb = state.standby;
  state.standby = null;
  if (sb) {
    sb.pc.onconnectionstatechange = null;
    const url = `${sb.sessionUrl}/${encodeURIComponent(sb.sessionId)}`;
    const closed = sb.sessionId
      ? fetch(url, { method: 'DELETE', headers: { authorization: `Bearer ${sb.join.participant_token}` }, keepalive: true }).catch(() => {})
      : Promise.resolve();
    Promise.race([closed, sleep(1500)]).then(() => sb.pc.close());
  }
  state.sessionId = null;
  if (state.pc) {
    const pc = state.pc;
    pc.onconnectionstatechange = null;
    pc.ontrack = null;
    state.pc = null;
    Promise.race([ended, sleep(1500)]).then(() => pc.close());
  }
  state.screenTrack?.stop();
  state.screenTrack = null;
  state.stream?.getTracks().forEach((t) => t.stop());
  state.stream = null;
  state.remote.clear();
  state.participants.clear();
  state.published.clear();
  state.transceivers = { audio: null, video: null, screen: null };
  state.wsJoined = false;
  state.everJoined = false;
  state.mediaConnected = false;
  state.seq = null;
  clearUsageEnd();
  clearChat();
  $('#grid').replaceChildren();
  $('#audio-sink').replaceChildren();
}

function leave() {
  state.leaving = true;
  teardown();
  endCall('You left the call.', true);
}

function endCall(reason, byChoice = false) {
  if (!byChoice) teardown();
  state.ended = true;
  setPhase('left');
  $('#ended-title').textContent = byChoice ? 'You left the call' : 'The call ended';
  $('#ended-reason').textContent = reason;
  showView('ended');
  $('#rejoin').focus();
  announce(reason);
}

// ---------------------------------------------------------------------------------------------
// Wiring

function wire() {
  $('#btn-mic').addEventListener('click', () => toggleMic());
  $('#btn-cam').addEventListener('click', () => toggleCam());
  $('#btn-screen').addEventListener('click', () => toggleScreen());
  $('#btn-hand').addEventListener('click', () => toggleHand());
  $('#btn-chat').addEventListener('click', () => openPanel('chat'));
  $('#btn-people').addEventListener('click', () => openPanel('people'));
  $('#btn-leave').addEventListener('click', () => leave());
  $('#invite').addEventListener('click', () => copyInvite());
  $('#side-close').addEventListener('click', () => openPanel(state.panel));
  // The minutes warning: dismissed, it stays as a countdown in the header, which brings it back.
  $('#usage-dismiss').addEventListener('click', () => {
    $('#usage-banner').hidden = true;
    $('#usage-clock').setAttribute('aria-expanded', 'false');
    $('#usage-clock').focus();
    layout();
  });
  $('#usage-clock').addEventListener('click', () => {
    const banner = $('#usage-banner');
    banner.hidden = !banner.hidden;
    $('#usage-clock').setAttribute('aria-expanded', String(!banner.hidden));
    layout();
  });
  $('#tab-chat').addEventListener('click', () => selectTab('chat'));
  $('#tab-people').addEventListener('click', () => selectTab('people'));
  $('.tabs').addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      e.preventDefault();
      selectTab(state.panel === 'chat' ? 'people' : 'chat');
    }
  });
  $('#retry').addEventListener('click', () => {
    state.mediaAttempts = 0;
    state.wsAttempts = 0;
    if (!state.join) return join();
    setPhase('reconnecting');
    if (!state.wsJoined) connectCoordinator();
    if (!state.mediaConnected) restartMedia('retry');
  });
  $('#chat-form').addEventListener('submit', (e) => {
    e.preventDefault();
    if (sendChat($('#chat-input').value) !== false) $('#chat-input').value = '';
  });
  $('#chat-input').addEventListener('input', (e) => setTyping(e.target.value.trim().length > 0));
  wireChat();
  $('#rejoin').addEventListener('click', () => {
    state.leaving = false;
    state.ended = false;
    state.micOn = true;
    state.camOn = true;
    state.hand = false;
    join();
  });
  $('#home').addEventListener('click', () => {
    location.href = `/?room=${encodeURIComponent(state.room)}`;
  });

  document.addEventListener('keydown', (e) => {
    if (document.body.dataset.view === 'call' && e.key === 'Escape' && state.panel) {
      openPanel(state.panel);
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return;
    if (document.body.dataset.view !== 'call') return;
    const keys = { m: () => toggleMic(), v: () => toggleCam(), h: () => toggleHand(), c: () => openPanel('chat'), p: () => openPanel('people') };
    const f = keys[e.key.toLowerCase()];
    if (f) {
      e.preventDefault();
      f();
    }
  });

  document.addEventListener('visibilitychange', () => {
    if (!state.typingSent) send({ type: 'presence', state: document.hidden ? 'away' : 'active' });
  });
  window.addEventListener('online', () => {
    if (state.ended || !state.join) return;
    if (!state.wsJoined) connectCoordinator();
    if (state.pc && state.pc.connectionState !== 'connected') restartMedia('back online');
  });
  window.addEventListener('pagehide', () => {
    if (state.join && !state.ended) teardown();
  });
  new ResizeObserver(() => layout()).observe($('#stage'));
  setInterval(watchStats, 1000);
}

// ---------------------------------------------------------------------------------------------
// Test and diagnostics hooks

// Per remote participant: inbound video frames decoded (and more) from the peer connection.
window.origoStats = async () => {
  const out = {};
  const pc = state.pc;
  if (!pc) return out;
  const stats = await pc.getStats();
  stats.forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    const rec = state.remote.get(s.trackIdentifier);
    if (!rec) return;
    const o = (out[rec.identity] ??= { framesDecoded: 0, frameWidth: 0, frameHeight: 0, videoPackets: 0, audioPackets: 0 });
    if (s.kind === 'video') {
      o.framesDecoded += s.framesDecoded || 0;
      o.videoPackets += s.packetsReceived || 0;
      o.frameWidth = Math.max(o.frameWidth, s.frameWidth || 0);
      o.frameHeight = Math.max(o.frameHeight, s.frameHeight || 0);
    } else {
      o.audioPackets += s.packetsReceived || 0;
    }
  });
  return out;
};

// The selected ICE candidate pair: `{state, local, remote}` candidate types ("host", "relay"…).
window.origoTransport = async () => {
  const pc = state.pc;
  if (!pc) return null;
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  if (!pair) stats.forEach((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' && (pair = s));
  if (!pair) return { state: pc.connectionState };
  const local = stats.get(pair.localCandidateId);
  const remote = stats.get(pair.remoteCandidateId);
  return {
    state: pc.connectionState,
    local: local?.candidateType,
    localProtocol: local?.relayProtocol || local?.protocol,
    remote: remote?.candidateType,
    remoteAddress: remote ? `${remote.address}:${remote.port}` : null,
    // The TURN server a relayed pair goes through, and the pair's latest round trip.
    relayUrl: local?.candidateType === 'relay' ? local.url || null : null,
    rttMs: typeof pair.currentRoundTripTime === 'number' ? Math.round(pair.currentRoundTripTime * 1000) : null,
  };
};

// The standby transport, if any: the TURN server it goes through and its connection's state.
window.origoStandby = () => (state.standby ? { via: state.standby.via, state: state.standby.pc.connectionState, session: state.standby.sessionId } : null);

window.origo = { state, restartMedia: (why) => restartMedia(why || 'requested') };

// ---------------------------------------------------------------------------------------------
// Account pages: the links Origo emails — `#password-reset=TOKEN` and `#invitation=TOKEN`, in the
// fragment so that no server log holds them — and sign-in (`#sign-in`, `#forgot-password`).

const ACCOUNT_LINK = /^#(password-reset|invitation)=([A-Za-z0-9_]{1,128})$/;
const ACCOUNT_FORMS = ['#signin-form', '#forgot-form', '#reset-form'];
const account = { page: null, token: null, invitation: null };

function accountForm(which) {
  for (const f of ACCOUNT_FORMS) $(f).hidden = f !== which;
  $('#account-error').textContent = '';
}

function accountSays(status, error = '') {
  $('#account-status').textContent = status;
  $('#account-error').textContent = error;
}

// What a person should read when an account call failed.
function explainAccount(err) {
  if (!(err instanceof ApiError)) return explain(err);
  if (err.status === 429) return `Too many attempts: ${err.message}.`;
  if (err.status === 401) return 'That email and password do not match an account.';
  return explain(err);
}

// True when the address names an account page (then the meeting landing is not shown).
function initAccount() {
  const hash = location.hash;
  const link = ACCOUNT_LINK.exec(hash);
  if (!link && hash !== '#sign-in' && hash !== '#forgot-password') return false;
  if (link) {
    account.page = link[1];
    account.token = link[2];
    // Out of the address bar and the history, so the link is not shared or kept by accident.
    history.replaceState(null, '', location.pathname + location.search);
  } else {
    account.page = hash.slice(1);
  }
  $('#landing').hidden = true;
  $('#account').hidden = false;
  document.body.dataset.view = 'account';
  wireAccount();
  showAccountPage();
  return true;
}

function showAccountPage() {
  if (account.page === 'password-reset') {
    $('#account-intro').textContent = 'Choose a new password for your Origo account.';
    accountForm('#reset-form');
    $('#reset-password').focus();
  } else if (account.page === 'invitation') {
    $('#account-intro').textContent = 'Looking at your invitation…';
    accountForm('#signin-form');
    api('/v1/invitations/lookup', { body: { token: account.token } })
      .then((offer) => {
        account.invitation = offer;
        $('#account-intro').textContent =
          `You are invited to “${offer.org_name}” as ${offer.role}. Sign in with ${offer.email} to accept, or create an account with it first.`;
        $('#signin-email').value = offer.email;
        $('#signin-password').focus();
      })
      .catch((e) => {
        $('#account-intro').textContent = 'This invitation cannot be used.';
        accountSays('', explainAccount(e));
      });
  } else if (account.page === 'forgot-password') {
    $('#account-intro').textContent = 'Forgot your password? We can email you a link.';
    $('#forgot-email').value = $('#signin-email').value;
    accountForm('#forgot-form');
    $('#forgot-email').focus();
  } else {
    $('#account-intro').textContent = 'Sign in to your Origo account.';
    accountForm('#signin-form');
    $('#signin-email').focus();
  }
}

let accountWired = false;
function wireAccount() {
  if (accountWired) return;
  accountWired = true;
  window.addEventListener('hashchange', () => {
    if (location.hash === '#forgot-password' || location.hash === '#sign-in') {
      account.page = location.hash.slice(1);
      accountSays('');
      showAccountPage();
    }
  });
  $('#signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const email = $('#signin-email').value.trim();
    const password = $('#signin-password').value;
    accountSays('Signing in…');
    try {
      const session = await api('/v1/auth/login', { body: { email, password } });
      account.session = session.access_token;
      $('#notifications-control').hidden = !pushSupported();
      if (account.page === 'invitation' && account.token) {
        const m = await api('/v1/invitations/accept', { token: session.access_token, body: { token: account.token } });
        account.token = null;
        accountSays(`You are now a member of “${account.invitation?.org_name || m.org}” (${m.role}).`);
      } else {
        accountSays(`Signed in as ${session.account.email}.`);
      }
    } catch (err) {
      accountSays('', explainAccount(err));
    }
  });
  $('#notifications-button').addEventListener('click', async () => {
    accountSays('Turning on notifications…');
    try {
      await subscribeToPush(account.session);
      accountSays('Notifications are on in this browser.');
    } catch (err) {
      accountSays('', err instanceof ApiError ? explainAccount(err) : `Notifications could not be turned on: ${err.message || err}`);
    }
  });
  $('#signup-button').addEventListener('click', async () => {
    const email = $('#signin-email').value.trim();
    const password = $('#signin-password').value;
    accountSays('Creating the account…');
    try {
      const answer = await api('/v1/auth/signup', { body: { email, password } });
      const next = account.page === 'invitation' ? ' Confirm your address, then open the invitation link again.' : '';
      accountSays(`${answer.message}${next}`);
    } catch (err) {
      accountSays('', explainAccount(err));
    }
  });
  $('#forgot-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    accountSays('Sending…');
    try {
      const answer = await api('/v1/auth/password-reset', { body: { email: $('#forgot-email').value.trim() } });
      accountSays(answer.message);
    } catch (err) {
      accountSays('', explainAccount(err));
    }
  });
  $('#reset-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const password = $('#reset-password').value;
    if (password !== $('#reset-repeat').value) {
      accountSays('', 'The two passwords differ.');
      return;
    }
    if (!account.token) {
      accountSays('', 'This reset link was already used. Ask for a new one.');
      return;
    }
    accountSays('Setting the password…');
    try {
      const done = await api('/v1/auth/password-reset/confirm', { body: { token: account.token, password } });
      account.token = null;
      account.page = 'sign-in';
      showAccountPage();
      $('#signin-email').value = done.account.email;
      accountSays('Your password is set, and every device was signed out. Sign in with the new password.');
      $('#signin-password').focus();
    } catch (err) {
      accountSays('', explainAccount(err));
    }
  });
}

// Web push: this browser's subscription, made with the deployment's VAPID key and registered
// with the signed-in account. The service worker (`/web/sw.js`) shows what arrives.
function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

function base64UrlBytes(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

// Resolves once `registration` has an active worker. (`navigator.serviceWorker.ready` would
// wait forever here: this page, at `/`, is outside the worker's `/web/` scope.)
function activeWorker(registration) {
  if (registration.active) return Promise.resolve(registration.active);
  const worker = registration.installing || registration.waiting;
  if (!worker) return Promise.reject(new Error('the service worker did not install'));
  return new Promise((resolve, reject) => {
    worker.addEventListener('statechange', () => {
      if (worker.state === 'activated') resolve(worker);
      if (worker.state === 'redundant') reject(new Error('the service worker did not install'));
    });
  });
}

async function subscribeToPush(token) {
  if (!token) throw new Error('sign in first');
  if ((await Notification.requestPermission()) !== 'granted') throw new Error('this browser did not allow notifications');
  const { public_key } = await api('/v1/push/vapid-public-key', { method: 'GET' });
  const registration = await navigator.serviceWorker.register('/web/sw.js', { scope: '/web/' });
  await activeWorker(registration);
  let subscription = await registration.pushManager.getSubscription();
  if (subscription) {
    // A subscription made with another key (the deployment's key changed) cannot be used.
    const key = new Uint8Array(subscription.options.applicationServerKey || []);
    const want = base64UrlBytes(public_key);
    if (key.length !== want.length || key.some((b, i) => b !== want[i])) {
      await subscription.unsubscribe();
      subscription = null;
    }
  }
  subscription ||= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlBytes(public_key) });
  return api('/v1/me/push-subscriptions', { token, body: subscription.toJSON() });
}

wire();
if (!initAccount()) {
  initLanding().catch((e) => {
    $('#landing-error').textContent = explain(e);
  });
}
