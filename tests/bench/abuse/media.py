"""The ordinary participants' media, measured in windows: one aiortc publisher, one subscriber.

  media.py PUBLISHER_JOIN_JSON SUBSCRIBER_JOIN_JSON

Each argument is a file holding a join answer (`participant_token`, `media.session_url`). The
publisher sends synthetic VP8 video (320×240, 30 frames/s) and Opus audio to the media node;
the subscriber subscribes to its tracks and decodes them. ICE on 127.0.0.1 only.

Lines on stdin steer it: `start` opens a measurement window, `stop` closes it and prints one
JSON line: video frames the publisher produced and the subscriber decoded in the window, RTP
packets sent and received (video + audio, from getStats), and the longest gap between two
decoded video frames. End of input ends the run.
"""
import asyncio
import fractions
import json
import sys
import time
import urllib.request

import aioice.ice

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

import av  # noqa: E402
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


class CountedVideo(VideoStreamTrack):
    """Small synthetic frames at 30/s, counted as they are handed to the encoder."""

    def __init__(self):
        super().__init__()
        self.frames = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(width=320, height=240, format="yuv420p")
        for plane in frame.planes:
            plane.update(bytes([(self.frames * 3) % 256]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base or fractions.Fraction(1, 90000)
        self.frames += 1
        return frame


async def connect(pc, join):
    url, token = join["media"]["session_url"], join["participant_token"]
    await pc.setLocalDescription(await pc.createOffer())
    created = await call("POST", url, token, {"offer": {"type": "offer", "sdp": pc.localDescription.sdp}})
    await pc.setRemoteDescription(RTCSessionDescription(**created["answer"]))
    for _ in range(200):
        if pc.connectionState == "connected":
            break
        await asyncio.sleep(0.05)
    return f"{url}/{created['session_id']}"


async def packets(pc, kind):
    stats = await pc.getStats()
    field = "packetsSent" if kind == "outbound-rtp" else "packetsReceived"
    return sum(getattr(s, field) for s in stats.values() if s.type == kind)


async def main():
    pub_join, sub_join = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
    pub = RTCPeerConnection()
    video = CountedVideo()
    pub.addTrack(video)
    pub.addTrack(AudioStreamTrack())
    await connect(pub, pub_join)

    sub = RTCPeerConnection()
    sub.createDataChannel("control")
    decoded = {"video": 0, "audio": 0, "last": None, "max_gap": 0.0}

    @sub.on("track")
    def on_track(track):
        async def consume():
            while True:
                try:
                    await track.recv()
                except MediaStreamError:
                    return
                decoded[track.kind] += 1
                if track.kind == "video":
                    now = time.monotonic()
                    if decoded["last"] is not None:
                        decoded["max_gap"] = max(decoded["max_gap"], now - decoded["last"])
                    decoded["last"] = now

        asyncio.ensure_future(consume())

    session = await connect(sub, sub_join)
    token = sub_join["participant_token"]
    for _ in range(100):
        tracks = (await call("GET", session + "/tracks", token))["tracks"]
        ids = [t["id"] for t in tracks if t["participant"] == pub_join["identity"]]
        if len(ids) >= 2:
            break
        await asyncio.sleep(0.2)
    res = await call("PATCH", session, token, {"subscribe": ids})
    if "offer" in res:
        await sub.setRemoteDescription(RTCSessionDescription(**res["offer"]))
        await sub.setLocalDescription(await sub.createAnswer())
        await call("PATCH", session, token, {"answer": {"type": "answer", "sdp": sub.localDescription.sdp}})
    for _ in range(100):
        if decoded["video"] > 10:
            break
        await asyncio.sleep(0.1)
    print(json.dumps({"ready": decoded["video"] > 10, "publisher": pub.connectionState,
                      "subscriber": sub.connectionState}), flush=True)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    begin = None
    while line := (await reader.readline()).decode().strip():
        if line == "start":
            decoded["max_gap"] = 0.0
            begin = (video.frames, decoded["video"], await packets(pub, "outbound-rtp"),
                     await packets(sub, "inbound-rtp"))
        elif line == "stop" and begin is not None:
            end = (video.frames, decoded["video"], await packets(pub, "outbound-rtp"),
                   await packets(sub, "inbound-rtp"))
            frames_sent, frames_decoded, pkts_sent, pkts_received = (b - a for a, b in zip(begin, end))
            print(json.dumps({
                "frames_sent": frames_sent,
                "frames_decoded": frames_decoded,
                "frame_loss_pct": round(max(0.0, 100 * (1 - frames_decoded / frames_sent)), 2) if frames_sent else None,
                "packets_sent": pkts_sent,
                "packets_received": pkts_received,
                "packet_loss_pct": round(max(0.0, 100 * (1 - pkts_received / pkts_sent)), 2) if pkts_sent else None,
                "max_frame_gap_ms": round(decoded["max_gap"] * 1000, 1),
                "publisher": pub.connectionState,
                "subscriber": sub.connectionState,
            }), flush=True)
            begin = None
    await pub.close()
    await sub.close()


if __name__ == "__main__":
    asyncio.run(main())
