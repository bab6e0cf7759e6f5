"""The ordinary participants' chat, measured in windows.

  chat.py PARTICIPANTS_JSON RATE

PARTICIPANTS_JSON is a file holding the join answers of the ordinary participants (a list of
`{participant_token, coordinator_url, identity}`). Each one opens the room socket, sends
`join`, then sends a chat message every 1/RATE s for as long as this runs. Every delivery is
timed from the send (the sender's echo and each other participant's copy), all in this one
process, on one clock.

Lines on stdin steer it: `start` opens a measurement window, `stop` closes it and prints one
JSON line for the messages sent in it (after 2 s for the last ones to arrive); end of input
ends the run. Messages in the room from anyone else are counted as `foreign`.
"""
import asyncio
import json
import sys
import time

import websockets


def percentile(values, q):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


class Window:
    def __init__(self):
        self.sent = {}  # text -> send time
        self.delivery_ms = []
        self.echo_ms = []
        self.delivered = 0
        self.foreign = 0
        self.errors = {}
        self.closed = False


class Chat:
    def __init__(self, participants, rate):
        self.participants = participants
        self.rate = rate
        self.window = None
        self.identities = {p["identity"] for p in participants}
        self.closed = []

    async def run_one(self, index, p, ready):
        url = p["coordinator_url"] + "?access_token=" + p["participant_token"]
        async with websockets.connect(url, max_size=2**20, open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "join", "protocol": 1}))
            while True:
                msg = json.loads(await ws.recv())
                if msg["type"] == "joined":
                    break
            ready.set()
            sender = asyncio.ensure_future(self.send_loop(index, ws))
            try:
                async for raw in ws:
                    self.received(index, json.loads(raw))
            finally:
                sender.cancel()
                self.closed.append({"who": index, "code": ws.close_code, "reason": ws.close_reason})

    async def send_loop(self, index, ws):
        n = 0
        period = 1.0 / self.rate
        next_at = time.monotonic() + period * index / len(self.participants)
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += period
            n += 1
            text = f"ordinary {index} {n}"
            if self.window is not None and not self.window.closed:
                self.window.sent[text] = time.monotonic()
            await ws.send(json.dumps({"type": "chat", "text": text, "client_id": f"c{index}-{n}"}))

    def received(self, index, msg):
        w = self.window
        if w is None:
            return
        if msg["type"] == "error":
            w.errors[msg["code"]] = w.errors.get(msg["code"], 0) + 1
            return
        if msg["type"] != "chat":
            return
        message = msg["message"]
        if message["from"] not in self.identities:
            if index == 0:
                w.foreign += 1
            return
        at = w.sent.get(message["text"])
        if at is None:
            return
        ms = (time.monotonic() - at) * 1000
        if msg.get("client_id"):
            w.echo_ms.append(ms)
        else:
            w.delivery_ms.append(ms)
            w.delivered += 1

    def report(self, w):
        expected = len(w.sent) * (len(self.participants) - 1)
        return {
            "messages_sent": len(w.sent),
            "deliveries_expected": expected,
            "deliveries": w.delivered,
            "delivery_pct": round(100 * w.delivered / expected, 2) if expected else None,
            "delivery_p50_ms": percentile(w.delivery_ms, 0.50),
            "delivery_p99_ms": percentile(w.delivery_ms, 0.99),
            "delivery_max_ms": max(w.delivery_ms) if w.delivery_ms else None,
            "echo_p50_ms": percentile(w.echo_ms, 0.50),
            "echo_p99_ms": percentile(w.echo_ms, 0.99),
            "foreign_messages": w.foreign,
            "errors": w.errors,
            "sockets_closed": list(self.closed),
        }


async def main():
    participants = json.load(open(sys.argv[1]))
    chat = Chat(participants, float(sys.argv[2]))
    readies = [asyncio.Event() for _ in participants]
    tasks = [asyncio.ensure_future(chat.run_one(i, p, readies[i])) for i, p in enumerate(participants)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 15)
    print(json.dumps({"ready": True}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "start":
            chat.window = Window()
        elif line == "stop" and chat.window is not None:
            w = chat.window
            w.closed = True  # later messages are no window's
            await asyncio.sleep(2)  # the last deliveries of this window's messages
            chat.window = None
            print(json.dumps(chat.report(w)), flush=True)
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    asyncio.run(main())
