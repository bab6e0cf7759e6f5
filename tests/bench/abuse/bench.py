"""Runs the ordinary call and the attacks one after another; prints one JSON line per row.

  bench.py BASE SECONDS ORIGO_PID ATTACK...

The ordinary call: three guests join room `abuse-bench` from 127.0.0.1 and chat (chat.py, 3
messages/s each); the first publishes media to the in-process media node and the second
subscribes (media.py). For each attack, attack.py runs from an address of its own
(127.0.0.20, 127.0.0.21, …); while it attacks, both ordinary processes measure one window, and
halfway through a newcomer signs in as a guest, joins and opens the room socket (timed). After
each row: the origo process's resident memory, and for the login flood whether the account's
owner still signs in from their own address.
"""
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import websockets.sync.client

BASE, SECONDS, ORIGO_PID = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
ATTACKS = sys.argv[4:]
ROOM = "abuse-bench"
HERE = Path(__file__).resolve().parent
PY = sys.executable
OWNER = {"email": "owner@example.test", "password": "the owner's own password"}


def post(path, body, token=None):
    req = urllib.request.Request(BASE + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json",
                                          **({"authorization": "Bearer " + token} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=15) as res:
            return res.status, json.load(res)
    except urllib.error.HTTPError as e:
        return e.code, None


def join(name, patience=0):
    """Guest sign-in, then join; retries a 503 for `patience` seconds (no media node yet)."""
    status, g = post("/v1/auth/guest", {"name": name})
    if status != 200:
        return status, None
    until = time.monotonic() + patience
    while True:
        status, j = post(f"/v1/rooms/{ROOM}/join", {}, g["access_token"])
        if status != 503 or time.monotonic() > until:
            return status, j
        time.sleep(0.2)


def newcomer():
    """Guest sign-in, join and the room socket's `joined`, then leave: ms, or why not."""
    t0 = time.monotonic()
    status, j = join("newcomer")
    if status != 200:
        return {"refused": f"join {status}"}
    try:
        with websockets.sync.client.connect(j["coordinator_url"] + "?access_token=" + j["participant_token"],
                                            open_timeout=10) as ws:
            ws.send(json.dumps({"type": "join", "protocol": 1}))
            while json.loads(ws.recv(timeout=10))["type"] != "joined":
                pass
            ms = (time.monotonic() - t0) * 1000
            media = open_session(j)
            ws.send(json.dumps({"type": "leave"}))
        return {"ms": round(ms, 1), "media": media}
    except Exception as e:  # noqa: BLE001 - reported in the table
        return {"refused": f"socket: {type(e).__name__}"}


def open_session(j):
    """Opens a media session with OFFER and closes it again: the node's status answer."""
    url = j["media"]["session_url"]
    req = urllib.request.Request(url, data=json.dumps({"offer": OFFER}).encode(), method="POST",
                                 headers={"content-type": "application/json",
                                          "authorization": "Bearer " + j["participant_token"]})
    try:
        with urllib.request.urlopen(req, timeout=15) as res:
            status, created = res.status, json.load(res)
    except urllib.error.HTTPError as e:
        return e.code
    except OSError as e:
        return type(e).__name__
    close = urllib.request.Request(f"{url}/{created['session_id']}", method="DELETE",
                                   headers={"authorization": "Bearer " + j["participant_token"]})
    try:
        urllib.request.urlopen(close, timeout=15).close()
    except (urllib.error.HTTPError, OSError):
        pass
    return status


def make_offer():
    """An SDP offer (video + audio, send-only, loopback candidates) from aiortc."""
    import asyncio

    import aioice.ice
    from aiortc import RTCPeerConnection

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

    async def offer():
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="sendonly")
        pc.addTransceiver("audio", direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        await pc.close()
        return {"type": "offer", "sdp": sdp}

    return asyncio.run(offer())


OFFER = make_offer()


def rss_mib():
    for line in open(f"/proc/{ORIGO_PID}/status"):
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def read_json(proc):
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"{proc.args[1]} ended early")
    return json.loads(line)


def main():
    status, _ = post("/v1/auth/signup", OWNER)
    login_status, _ = post("/v1/auth/login", OWNER)
    print(f"[bench] owner signup {status}, login {login_status}", file=sys.stderr)

    joins = []
    for i in range(3):
        status, j = join(f"ordinary {i}", patience=20)
        if status != 200:
            raise SystemExit(f"ordinary join answered {status}")
        joins.append(j)
    tmp = Path(tempfile.mkdtemp(prefix="origo-abuse-"))
    (tmp / "all.json").write_text(json.dumps(joins))
    for i, j in enumerate(joins):
        (tmp / f"{i}.json").write_text(json.dumps(j))

    chat = subprocess.Popen([PY, str(HERE / "chat.py"), str(tmp / "all.json"), "3"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    print("[bench] chat:", read_json(chat), file=sys.stderr)
    media = subprocess.Popen([PY, str(HERE / "media.py"), str(tmp / "0.json"), str(tmp / "1.json")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    print("[bench] media:", read_json(media), file=sys.stderr)
    time.sleep(2)

    for n, name in enumerate(ATTACKS):
        source = f"127.0.0.{20 + n}"
        print(f"[bench] {name} from {source}", file=sys.stderr)
        attacker = subprocess.Popen([PY, str(HERE / "attack.py"), name, BASE, ROOM, str(SECONDS), source,
                                     OWNER["email"]], stdout=subprocess.PIPE, text=True)
        read_json(attacker)  # ready: the attacker has what it needs
        rss_before = rss_mib()
        for p in (chat, media):
            p.stdin.write("start\n")
            p.stdin.flush()
        time.sleep(SECONDS / 2)
        arrival = newcomer()
        outcome = read_json(attacker)
        attacker.wait()
        for p in (chat, media):
            p.stdin.write("stop\n")
            p.stdin.flush()
        row = {"attack": name, "source": source, "chat": read_json(chat), "media": read_json(media),
               "newcomer_ms": arrival, "attacker": outcome, "rss_before_mib": rss_before, "rss_after_mib": rss_mib()}
        if name == "login-flood":
            row["owner_login"] = post("/v1/auth/login", OWNER)[0]
        print(json.dumps(row), flush=True)
        time.sleep(1)

    for p in (chat, media):
        p.stdin.close()
        p.wait(timeout=20)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
