"""An independent WebRTC peer (aiortc) for Origo's media node tests.

  aiortc_peer.py publish BASE TOKEN SECONDS     publish synthetic VP8 video + Opus audio
  aiortc_peer.py subscribe BASE TOKEN SECONDS   subscribe to every track, decode, count frames
  aiortc_peer.py unsubscribe BASE TOKEN SECONDS subscribe, then unsubscribe halfway; frames before/after
  aiortc_peer.py auto BASE TOKEN SECONDS        subscribe to "all" first; the SFU offers new tracks
                                                over the data channel as they appear
  aiortc_peer.py watch BASE TOKEN SECONDS       subscribe like `subscribe`, and print the frames
                                                decoded so far (by kind) every 0.2 s, one JSON
                                                line each, as they go

Prints one JSON line. ICE runs on 127.0.0.1 only (host candidates limited to loopback).
"""
import asyncio
import json
import os
import sys
import time
import urllib.request

import aioice.ice

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

if os.environ.get("DEBUG_RTP"):
    from aiortc import rtcdtlstransport

    _route = rtcdtlstransport.RtpRouter.route_rtp
    _seen = set()

    def _debug_route(self, packet):
        r = _route(self, packet)
        key = (packet.ssrc, packet.payload_type, r is not None)
        if key not in _seen:
            _seen.add(key)
            print("rtp", key, sorted(self.ssrc_table), file=sys.stderr)
        return r

    rtcdtlstransport.RtpRouter.route_rtp = _debug_route

from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack  # noqa: E402


def http(method, url, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json", "authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=10) as res:
        raw = res.read()
        return json.loads(raw) if raw else None


async def call(method, url, token, body=None):
    return await asyncio.get_running_loop().run_in_executor(None, http, method, url, token, body)


async def connect(pc, base, token):
    await pc.setLocalDescription(await pc.createOffer())
    created = await call("POST", base + "/v1/sessions", token,
                         {"offer": {"type": "offer", "sdp": pc.localDescription.sdp}})
    await pc.setRemoteDescription(RTCSessionDescription(**created["answer"]))
    for _ in range(200):
        if pc.connectionState == "connected":
            break
        await asyncio.sleep(0.05)
    return created["session_id"]


async def publish(base, token, seconds):
    pc = RTCPeerConnection()
    pc.addTrack(VideoStreamTrack())
    pc.addTrack(AudioStreamTrack())
    await connect(pc, base, token)
    state = pc.connectionState
    await asyncio.sleep(seconds)
    stats = await pc.getStats()
    sent = sum(s.packetsSent for s in stats.values() if s.type == "outbound-rtp")
    await pc.close()
    print(json.dumps({"state": state, "packets_sent": sent}))


def count_frames(pc, on_frame):
    """Decodes every track the peer receives, calling on_frame(kind) per decoded frame."""

    @pc.on("track")
    def on_track(track):
        async def consume():
            while True:
                try:
                    await track.recv()
                except MediaStreamError:
                    return
                on_frame(track.kind)

        asyncio.ensure_future(consume())


async def subscribe(base, token, seconds, unsubscribe_at=None, watch=False):
    pc = RTCPeerConnection()
    pc.createDataChannel("control")
    frames = {"video": 0, "audio": 0}
    after_unsubscribe = {"video": 0, "audio": 0}
    unsubscribed = {"at": None}

    def counted(kind):
        frames[kind] += 1
        if unsubscribed["at"] is not None and time.monotonic() - unsubscribed["at"] > 1.0:
            after_unsubscribe[kind] += 1

    count_frames(pc, counted)

    session = await connect(pc, base, token)
    url = f"{base}/v1/sessions/{session}"
    deadline = time.monotonic() + seconds
    subscribed_to = []
    # Subscribe to each publisher in turn (one renegotiation per publisher), answering the
    # SFU's offers. EXPECT publishers (env) to be present first.
    expect = int(os.environ.get("EXPECT_PUBLISHERS", "1"))
    while time.monotonic() < deadline and len({t.split(":")[0] for t in subscribed_to}) < expect:
        tracks = (await call("GET", url + "/tracks", token))["tracks"]
        publishers = sorted({t["participant"] for t in tracks})
        if len(publishers) < expect:
            await asyncio.sleep(0.2)
            continue
        for who in publishers:
            ids = [t["id"] for t in tracks if t["participant"] == who]
            res = await call("PATCH", url, token, {"subscribe": ids})
            if "offer" in res:
                if os.environ.get("DEBUG_SDP"):
                    print(res["offer"]["sdp"], file=sys.stderr)
                await pc.setRemoteDescription(RTCSessionDescription(**res["offer"]))
                await pc.setLocalDescription(await pc.createAnswer())
                await call("PATCH", url, token, {"answer": {"type": "answer", "sdp": pc.localDescription.sdp}})
            subscribed_to += ids
    if unsubscribe_at is not None:
        await asyncio.sleep(unsubscribe_at)
        res = await call("PATCH", url, token, {"unsubscribe": ["all"]})
        if "offer" in res:
            await pc.setRemoteDescription(RTCSessionDescription(**res["offer"]))
            await pc.setLocalDescription(await pc.createAnswer())
            await call("PATCH", url, token, {"answer": {"type": "answer", "sdp": pc.localDescription.sdp}})
        unsubscribed["at"] = time.monotonic()
        before = dict(frames)
    while watch and time.monotonic() < deadline:
        print(json.dumps({"frames": frames}), flush=True)
        await asyncio.sleep(0.2)
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))
    stats = await pc.getStats()
    received = sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp")
    per_stream = sorted((s.kind, s.packetsReceived) for s in stats.values() if s.type == "inbound-rtp")
    await pc.close()
    out = {"tracks": subscribed_to, "frames": frames, "packets_received": received, "per_stream": per_stream}
    if unsubscribe_at is not None:
        out["frames_before_unsubscribe"] = before
        out["frames_after_unsubscribe"] = after_unsubscribe
    print(json.dumps(out))


async def auto(base, token, seconds):
    pc = RTCPeerConnection()
    channel = pc.createDataChannel("control")
    frames = {"video": 0, "audio": 0}
    offers = {"n": 0}

    count_frames(pc, lambda kind: frames.__setitem__(kind, frames[kind] + 1))

    @channel.on("message")
    def on_message(message):
        async def answer():
            desc = json.loads(message)
            if desc.get("type") != "offer":
                return
            offers["n"] += 1
            await pc.setRemoteDescription(RTCSessionDescription(**desc))
            await pc.setLocalDescription(await pc.createAnswer())
            channel.send(json.dumps({"type": "answer", "sdp": pc.localDescription.sdp}))
        asyncio.ensure_future(answer())

    session = await connect(pc, base, token)
    await call("PATCH", f"{base}/v1/sessions/{session}", token, {"subscribe": ["all"]})
    await asyncio.sleep(seconds)
    await pc.close()
    print(json.dumps({"frames": frames, "offers_over_channel": offers["n"]}))


def main():
    mode, base, token, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    if mode == "publish":
        asyncio.run(publish(base, token, seconds))
    elif mode == "subscribe":
        asyncio.run(subscribe(base, token, seconds))
    elif mode == "auto":
        asyncio.run(auto(base, token, seconds))
    elif mode == "watch":
        asyncio.run(subscribe(base, token, seconds, watch=True))
    elif mode == "unsubscribe":
        asyncio.run(subscribe(base, token, seconds, unsubscribe_at=seconds / 3))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
