"""One attack on an `origo dev` deployment, from one loopback address, for a number of seconds.

  attack.py NAME BASE ROOM SECONDS SOURCE_ADDRESS [OWNER_EMAIL]

Everything the attacker sends leaves from SOURCE_ADDRESS (a 127.0.0.0/8 address of its own,
so the deployment's per-address limits see a stranger, not the ordinary participants on
127.0.0.1). The attacker first gets what it needs the way a stranger would (guest sign-in,
join), prints `{"ready": true}`, attacks for SECONDS, then prints one JSON line: what it sent
and how it was answered.

Attacks: baseline (nothing), sockets, chat-flood, signup-flood, login-flood, join-flood,
media-sessions, turn-slowloris, turn-allocations.
"""
import asyncio
import concurrent.futures
import hashlib
import http.client
import json
import secrets
import socket
import sys
import threading
import time
import urllib.parse
from collections import Counter

import websockets

NAME, BASE, ROOM, SECONDS, SOURCE = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
OWNER = sys.argv[6] if len(sys.argv) > 6 else None


def ready():
    print(json.dumps({"ready": True}), flush=True)


class Client:
    """Keep-alive HTTP/1.1 from SOURCE (one connection per thread)."""

    local = threading.local()

    def request(self, method, url, body=None, token=None):
        u = urllib.parse.urlsplit(url)
        key = (u.hostname, u.port)
        conns = getattr(self.local, "conns", None)
        if conns is None:
            conns = self.local.conns = {}
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = "Bearer " + token
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):
            conn = conns.get(key)
            if conn is None:
                conn = conns[key] = http.client.HTTPConnection(u.hostname, u.port, timeout=10, source_address=(SOURCE, 0))
            try:
                conn.request(method, u.path or "/", body=data, headers=headers)
                res = conn.getresponse()
                raw = res.read()
                if res.getheader("connection", "").lower() == "close":
                    conn.close()
                    conns.pop(key, None)
                return res.status, res.getheader("retry-after"), raw
            except (OSError, http.client.HTTPException):
                conn.close()
                conns.pop(key, None)
                if attempt:
                    return "error", None, b""
        return "error", None, b""

    def json(self, method, url, body=None, token=None):
        status, _, raw = self.request(method, url, body, token)
        return status, (json.loads(raw) if raw and raw[:1] == b"{" else None)


http_client = Client()


def flood(make_request, workers):
    """Sends requests from `workers` threads for SECONDS; counts the answers by status."""
    statuses, retry_after, error_bodies = Counter(), Counter(), Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS

    def work():
        while time.monotonic() < deadline:
            for status, retry, raw in make_request():
                with lock:
                    statuses[status] += 1
                    if str(status).endswith(("429", "503")):
                        retry_after[bool(retry)] += 1
                        try:
                            error_bodies[json.loads(raw)["error"]["code"]] += 1
                        except (ValueError, KeyError, TypeError):
                            error_bodies["no JSON error body"] += 1

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for f in [pool.submit(work) for _ in range(workers)]:
            f.result()
    total = sum(statuses.values())
    return {
        "requests": total,
        "per_sec": round(total / SECONDS, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
        "with_retry_after": retry_after.get(True, 0),
        "error_codes": dict(error_bodies),
    }


def guest(name="mallory"):
    status, body = http_client.json("POST", BASE + "/v1/auth/guest", {"name": name})
    return body["access_token"] if status == 200 else None


def join(token):
    status, body = http_client.json("POST", f"{BASE}/v1/rooms/{ROOM}/join", {}, token)
    return body if status == 200 else None


def joins(n):
    """Up to n join answers, as far as the attacker's sign-in and join budgets allow."""
    out = []
    for i in range(n):
        g = guest(f"mallory {i}")
        j = join(g) if g else None
        if j:
            out.append(j)
    return out


def ws_connect(url):
    return websockets.connect(url, open_timeout=5, close_timeout=2, local_addr=(SOURCE, 0), max_size=2**20)


# --- attacks ---------------------------------------------------------------------------------


def baseline():
    ready()
    time.sleep(SECONDS)
    return {}


async def sockets():
    """Room sockets from tokens that hold no seat: a guest token that never joined, and
    participant tokens whose seat was given back (joined, then left)."""
    g = guest()
    lapsed = []
    for j in joins(5):
        url = j["coordinator_url"] + "?access_token=" + j["participant_token"]
        async with ws_connect(url) as ws:
            await ws.send(json.dumps({"type": "join", "protocol": 1}))
            while json.loads(await ws.recv())["type"] != "joined":
                pass
            await ws.send(json.dumps({"type": "leave"}))
            try:
                while True:
                    await ws.recv()
            except websockets.ConnectionClosed:
                pass
        lapsed.append(url)
    ws_base = lapsed[0].split("?")[0] if lapsed else BASE.replace("http", "ws", 1) + f"/v1/rooms/{ROOM}/ws"
    guest_url = ws_base + "?access_token=" + g
    outcomes = Counter()
    ready()
    deadline = time.monotonic() + SECONDS

    async def one(url, kind):
        try:
            async with ws_connect(url) as ws:
                await ws.send(json.dumps({"type": "join", "protocol": 1}))
                try:
                    while True:
                        msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                        if msg["type"] == "joined":
                            outcomes[f"{kind}: joined"] += 1
                            return
                except websockets.ConnectionClosed as e:
                    outcomes[f"{kind}: upgraded, closed {e.rcvd.code if e.rcvd else 'without a close frame'}"] += 1
        except websockets.InvalidStatus as e:
            outcomes[f"{kind}: {e.response.status_code} before upgrade"] += 1
        except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as e:
            outcomes[f"{kind}: {type(e).__name__}"] += 1

    async def worker(i):
        n = 0
        while time.monotonic() < deadline:
            n += 1
            if lapsed and n % 2:
                await one(lapsed[(i + n) % len(lapsed)], "seat given back")
            else:
                await one(guest_url, "never joined")

    await asyncio.gather(*(worker(i) for i in range(50)))
    return {"lapsed_tokens": len(lapsed), "sockets": sum(outcomes.values()), "outcomes": dict(outcomes)}


async def chat_flood():
    """One joined participant sends chat frames as fast as it can; reconnects when closed."""
    j = joins(1)[0]
    url = j["coordinator_url"] + "?access_token=" + j["participant_token"]
    ready()
    deadline = time.monotonic() + SECONDS
    sent, errors, closes, connects = 0, Counter(), Counter(), 0
    while time.monotonic() < deadline:
        try:
            async with ws_connect(url) as ws:
                await ws.send(json.dumps({"type": "join", "protocol": 1}))
                while json.loads(await ws.recv())["type"] != "joined":
                    pass
                connects += 1

                async def read():
                    async for raw in ws:
                        msg = json.loads(raw)
                        if msg["type"] == "error":
                            errors[msg["code"]] += 1

                reader = asyncio.ensure_future(read())
                try:
                    while time.monotonic() < deadline:
                        await ws.send(json.dumps({"type": "chat", "text": f"spam {sent}"}))
                        sent += 1
                        if sent % 50 == 0:
                            await asyncio.sleep(0)
                finally:
                    reader.cancel()
        except websockets.ConnectionClosed as e:
            closes[e.rcvd.code if e.rcvd else "without a close frame"] += 1
        except websockets.InvalidStatus as e:
            closes[f"{e.response.status_code} before upgrade"] += 1
            await asyncio.sleep(0.2)
        except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as e:
            closes[type(e).__name__] += 1
            await asyncio.sleep(0.2)
    return {"frames_sent": sent, "connections_joined": connects, "error_frames": dict(errors),
            "closed": {str(k): v for k, v in closes.items()}}


def signup_flood():
    ready()
    return flood(lambda: [http_client.request("POST", BASE + "/v1/auth/signup",
                                              {"email": f"flood-{secrets.token_hex(6)}@example.test",
                                               "password": "a long enough password"})], 32)


def login_flood():
    ready()
    return flood(lambda: [http_client.request("POST", BASE + "/v1/auth/login",
                                              {"email": OWNER, "password": "wrong " + secrets.token_hex(4)})], 32)


def join_flood():
    ready()

    def one():
        status, retry, raw = http_client.request("POST", BASE + "/v1/auth/guest", {"name": "mallory"})
        out = [("guest " + str(status), retry, raw)]
        if status == 200:
            token = json.loads(raw)["access_token"]
            s, r, b = http_client.request("POST", f"{BASE}/v1/rooms/{ROOM}/join", {}, token)
            out.append(("join " + str(s), r, b))
        return out

    return flood(one, 32)


async def media_sessions():
    """WebRTC sessions opened with valid participant tokens and offers that never connect."""
    import aioice.ice
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="sendonly")
    pc.addTransceiver("audio", direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    offer = {"type": "offer", "sdp": pc.localDescription.sdp}
    await pc.close()  # nothing will ever answer the node's ICE checks
    tokens = joins(10)
    ready()
    if not tokens:
        return {"error": "no participant token"}
    loop = asyncio.get_running_loop()

    def one():
        j = tokens[secrets.randbelow(len(tokens))]
        status, retry, raw = http_client.request("POST", j["media"]["session_url"], {"offer": offer}, j["participant_token"])
        return [(status, retry, raw)]

    result = await loop.run_in_executor(None, flood, one, 16)
    result["identities"] = len(tokens)
    return result


def turn_address(j):
    """(host, port, username, credential) of the first turn: URL of a join answer."""
    for server in j["ice_servers"]:
        for u in server["urls"]:
            if u.startswith("turn:"):
                hostport = u[5:].split("?")[0]
                host, port = hostport.rsplit(":", 1)
                return host, int(port), server.get("username"), server.get("credential")
    raise SystemExit("no turn: server in the join answer")


def turn_slowloris():
    """TCP connections to the TURN port that dribble a STUN header, one byte a second."""
    host, port, _, _ = turn_address(joins(1)[0])
    ready()
    header = bytes.fromhex("000300102112a442") + secrets.token_bytes(12)
    conns, opened, refused, closed_by_server = [], 0, Counter(), 0
    deadline = time.monotonic() + SECONDS
    lifetimes = []
    while time.monotonic() < deadline:
        while len(conns) < 300 and time.monotonic() < deadline:
            try:
                c = socket.create_connection((host, port), timeout=1, source_address=(SOURCE, 0))
                c.setblocking(False)
                conns.append([c, 0, time.monotonic()])
                opened += 1
            except OSError as e:
                refused[type(e).__name__] += 1
                break
        for entry in list(conns):
            c, i, born = entry
            try:
                if c.recv(1) == b"":
                    raise ConnectionResetError
            except BlockingIOError:
                pass
            except OSError:
                conns.remove(entry)
                c.close()
                closed_by_server += 1
                lifetimes.append(time.monotonic() - born)
                continue
            try:
                c.send(header[i % len(header):i % len(header) + 1])
                entry[1] += 1
            except OSError:
                conns.remove(entry)
                c.close()
                closed_by_server += 1
                lifetimes.append(time.monotonic() - born)
        time.sleep(1)
    for c, _, _ in conns:
        c.close()
    lifetimes.sort()
    return {"connections_opened": opened, "connect_failures": dict(refused), "closed_by_server": closed_by_server,
            "still_open_at_end": len(conns),
            "median_lifetime_s": round(lifetimes[len(lifetimes) // 2], 1) if lifetimes else None}


def turn_allocations():
    """Allocations with one identity's TURN credentials (from its join), each from its own
    UDP port, as fast as the server answers."""
    from aioice import stun

    host, port, user, password = turn_address(joins(1)[0])
    ready()
    answers = Counter()
    deadline = time.monotonic() + SECONDS
    held = []

    def transact(sock, msg):
        sock.sendto(bytes(msg), (host, port))
        sock.settimeout(1)
        data, _ = sock.recvfrom(4096)
        return stun.parse_message(data)

    while time.monotonic() < deadline and len(held) < 2000:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((SOURCE, 0))
        try:
            req = stun.Message(stun.Method.ALLOCATE, stun.Class.REQUEST)
            req.attributes["REQUESTED-TRANSPORT"] = 0x11000000
            first = transact(s, req)
            realm, nonce = first.attributes.get("REALM"), first.attributes.get("NONCE")
            if realm is None or nonce is None:
                answers["no challenge"] += 1
                s.close()
                continue
            req = stun.Message(stun.Method.ALLOCATE, stun.Class.REQUEST)
            req.attributes.update({"REQUESTED-TRANSPORT": 0x11000000, "USERNAME": user, "REALM": realm, "NONCE": nonce})
            req.add_message_integrity(hashlib.md5(f"{user}:{realm}:{password}".encode()).digest())
            res = transact(s, req)
            if res.message_class == stun.Class.RESPONSE:
                answers["allocated"] += 1
                held.append(s)
            else:
                code = res.attributes.get("ERROR-CODE", (0, ""))
                answers[f"{code[0]} {code[1]}"] += 1
                s.close()
        except (socket.timeout, OSError, ValueError) as e:
            answers[type(e).__name__] += 1
            s.close()
    for s in held:
        s.close()
    return {"attempts": sum(answers.values()), "answers": dict(answers)}


ATTACKS = {
    "baseline": baseline,
    "sockets": sockets,
    "chat-flood": chat_flood,
    "signup-flood": signup_flood,
    "login-flood": login_flood,
    "join-flood": join_flood,
    "media-sessions": media_sessions,
    "turn-slowloris": turn_slowloris,
    "turn-allocations": turn_allocations,
}


def main():
    fn = ATTACKS[NAME]
    result = asyncio.run(fn()) if asyncio.iscoroutinefunction(fn) else fn()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
