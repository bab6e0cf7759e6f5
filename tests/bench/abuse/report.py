"""Renders the rows bench.py printed as the BENCHMARKS.md block of tests/bench/abuse/run.

  report.py ROWS_JSONL SECONDS PROFILE PANICS CORES DATE
"""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
seconds, profile, panics, cores, day = sys.argv[2:7]

WHAT = {
    "baseline": "nothing",
    "sockets": "50 concurrent room sockets in a loop: a guest token that never joined, and 5 participant tokens whose seat was given back (joined, then left)",
    "chat-flood": "one joined participant sends chat frames as fast as it can, reconnecting when closed",
    "signup-flood": "`POST /v1/auth/signup`, fresh addresses, 32 threads",
    "login-flood": "`POST /v1/auth/login` with wrong passwords for the owner's address, 32 threads",
    "join-flood": "guest sign-in then `POST /v1/rooms/abuse-bench/join`, 32 threads",
    "media-sessions": "`POST /v1/sessions` with valid participant tokens and offers that never connect, 16 threads",
    "turn-slowloris": "up to 300 TCP connections to the TURN port, each dribbling a STUN header a byte a second",
    "turn-allocations": "Allocate requests with one identity's TURN credentials (from its join), each from a new UDP port",
}


def pct(n, total):
    return f"{100 * n / total:.0f} %" if total else "—"


def statuses(a, label=""):
    total = sum(a["statuses"].values())
    parts = [f"{k} × {v} ({pct(v, total)})" for k, v in a["statuses"].items()]
    refused = sum(v for k, v in a["statuses"].items() if k.endswith(("429", "503")))
    retry = f"; `Retry-After` on {a['with_retry_after']} of {refused} refusals" if refused else ""
    return f"{a['requests']} requests{label} ({a['per_sec']}/s): " + ", ".join(parts) + retry


def outcome(row):
    a, name = row["attacker"], row["attack"]
    if name == "baseline":
        return "—"
    if "error" in a:
        return a["error"]
    if name == "sockets":
        parts = [f"{k} × {v}" for k, v in sorted(a["outcomes"].items())]
        return f"{a['sockets']} sockets: " + "; ".join(parts)
    if name == "chat-flood":
        errs = ", ".join(f"{k} × {v}" for k, v in a["error_frames"].items()) or "none"
        closed = ", ".join(f"{k} × {v}" for k, v in a["closed"].items()) or "never"
        return (f"{a['frames_sent']} frames on {a['connections_joined']} connections; error frames: {errs}; "
                f"closed: {closed}; {row['chat']['foreign_messages']} reached the room")
    if name in ("signup-flood", "join-flood"):
        return statuses(a)
    if name == "login-flood":
        return statuses(a) + f"; afterwards the owner signs in from 127.0.0.1: {row.get('owner_login')}"
    if name == "media-sessions":
        return statuses(a, f" with {a['identities']} identities")
    if name == "turn-slowloris":
        fails = ", ".join(f"{k} × {v}" for k, v in a["connect_failures"].items()) or "none"
        return (f"{a['connections_opened']} connections opened (connect failures: {fails}); "
                f"{a['closed_by_server']} closed by the server (median after {a['median_lifetime_s']} s); "
                f"{a['still_open_at_end']} open at the end")
    if name == "turn-allocations":
        return f"{a['attempts']} attempts: " + ", ".join(f"{k} × {v}" for k, v in a["answers"].items())
    return json.dumps(a)


def ms(v):
    return "—" if v is None else f"{v:.1f}"


lines = []
for r in rows:
    c, m = r["chat"], r["media"]
    n = r["newcomer_ms"]
    newcomer = f"**{n['refused']}**" if "refused" in n else (
        f"{n['ms']:.0f} ms, media {n['media']}" if n["media"] in (200, 201) else f"{n['ms']:.0f} ms, **media {n['media']}**")
    lines.append(
        f"| {r['attack']} | {ms(c['delivery_p50_ms'])} / {ms(c['delivery_p99_ms'])} | "
        f"{c['deliveries']}/{c['deliveries_expected']} | "
        f"{m['frame_loss_pct']} % ({m['frames_decoded']}/{m['frames_sent']}) | {m['packet_loss_pct']} % | "
        f"{m['max_frame_gap_ms']:.0f} | {newcomer} | {r['rss_before_mib']:.0f} → {r['rss_after_mib']:.0f} | "
        f"{outcome(r)} |")
table = "\n".join(lines)
what = "\n".join(f"- **{r['attack']}** ({r['source']}): {WHAT.get(r['attack'], '')}" for r in rows)

print(f"""<!-- abuse:start -->
## Abuse: an ordinary call while a stranger attacks

`origo dev` ({profile} build, in-process media node and TURN server, embedded store) with its
defaults, on this {cores}-core machine shared by the server, the ordinary call and the
attacker, all on loopback (`tests/bench/abuse/run`, {day}). Three guests join the room
`abuse-bench` from 127.0.0.1 (`POST /v1/auth/guest`, `POST /v1/rooms/{{room}}/join`), open the
room socket and each send a chat message 3 times a second; the first publishes synthetic VP8
(320×240, 30 frames/s) and Opus through the media node with aiortc, the second subscribes and
decodes. Then, one at a time for {seconds} s each, a stranger attacks from an address of its own
in 127.0.0.0/8, so the per-address limits see it apart from the ordinary participants. The
attacker first gets what a stranger can (guest sign-in, join) and only then is the window
measured. Halfway through each window a newcomer signs in, joins and opens the room socket.

The defaults the attacks face (none lifted here): per address `rate_guest_per_minute` 30,
`rate_signup_per_hour` 10, `rate_login_per_minute` 20, `rate_login_failures_per_15_minutes` 5,
`rate_join_per_minute` 60, `rate_join_identity_per_minute` 20; 16 requests in flight per client
and a 2 s queue deadline for the 64 function instances; room sockets only from a participant
token whose seat the room holds; chat 5/s (burst 20) and frames 20/s (burst 60) per
connection; on the media node one session per participant and room (a new one replaces the
old), 100 sessions per room, 200 on the node (`origo dev`'s), 15 s to connect;
TURN: 32 allocations per identity, 128 TCP connections per address, a 10 s deadline for a
whole STUN frame and 30 s idle.

| attack | chat p50 / p99 (ms) | chat delivered | video frame loss (decoded/sent) | RTP packet loss | longest video gap (ms) | newcomer joins | origo RSS (MiB) | the attacker's outcome |
|---|---|---|---|---|---|---|---|---|
{table}

Columns: **chat p50 / p99** — from an ordinary participant's send to each other ordinary
participant's receipt of the message (one process, one clock), for the messages sent in the
window; **chat delivered** — of those deliveries, how many arrived within 2 s of the window's
end; **video frame loss** — frames the publisher handed to its encoder in the window against
frames the subscriber decoded; **RTP packet loss** — RTP packets sent (publisher's `getStats`)
against received (subscriber's), video and audio; **longest video gap** — the longest time
between two decoded frames; **newcomer joins** — guest sign-in + join + the socket's `joined`
from 127.0.0.1 in the middle of the attack, then the status of its `POST /v1/sessions`; **origo RSS** — the resident memory of the origo
process before → after the window; **the attacker's outcome** — the attacker's own count of
answers (HTTP status shares, close codes, STUN error codes). {panics} panics in origo's log
over the run.

The attacks:
{what}

`tests/bench/abuse/turn.sh` runs the TURN attacks (Binding flood, slowloris, connection flood,
allocation flood, bandwidth hog) against a standalone `origo-turn` with its metrics, the
ordinary flow being coturn's `turnutils_uclient` relayed through it.
<!-- abuse:end -->""")
