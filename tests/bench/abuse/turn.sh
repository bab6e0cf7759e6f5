#!/usr/bin/env bash
# Benchmark: an ordinary relayed call through origo-turn while a stranger attacks the same
# server, everything on 127.0.0.1. For each attack: the ordinary flow's loss and round trip
# (coturn's turnutils_uclient through turnutils_peer, 3 clients, 50 packets/s each) and the
# server's refusal counters.
#
#   tests/bench/abuse/turn.sh        # prints a Markdown table
#
# Attacks: a Binding flood from one source; 100 slowloris TCP connections dribbling a header;
# a TCP connection flood from one source; an allocation flood of one identity (200 clients, one
# user); a bandwidth hog blasting through one allocation.
set -euo pipefail
cd "$(dirname "$0")/../../.."
profile="${BENCH_PROFILE:-release}"
seconds="${BENCH_SECONDS:-10}"
log() { printf '[bench] %s\n' "$*" >&2; }
command -v turnutils_uclient >/dev/null || { log "needs coturn's clients (Debian package coturn)"; exit 1; }

log "building origo-turn ($profile)"
cargo build --quiet --profile "$profile" -p origo-turn
dir="${CARGO_TARGET_DIR:-target}/$([ "$profile" = dev ] && echo debug || echo "$profile")"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
secret=bench-secret

"$dir/origo-turn" --listen 127.0.0.1:0 --auth-secret "$secret" --allow-loopback-peers \
  --metrics-listen 127.0.0.1:0 --data-dir "$work/turn" >"$work/turn.out" 2>"$work/turn.log" &
pids+=($!)
for _ in $(seq 1 100); do grep -q '^origo-turn ready' "$work/turn.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^origo-turn udp 127.0.0.1:\([0-9]*\)$/\1/p' "$work/turn.out")
metrics=$(sed -n 's/^origo-turn metrics //p' "$work/turn.out")
peer_port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
turnutils_peer -L 127.0.0.1 -p "$peer_port" >/dev/null 2>&1 &
pids+=($!)
sleep 0.3

counter() { curl -s "$metrics/metrics" | awk -v n="origo_turn_$1" '$1 == n { print $2 }'; }

# ordinary -> "loss_pct rtt_ms"
ordinary() {
  local n=$((seconds * 50)) out
  out=$(timeout $((seconds + 30)) turnutils_uclient -W "$secret" -u ordinary -m 3 -n "$n" -l 120 -z 20 -c \
        -e 127.0.0.1 -r "$peer_port" -p "$port" 127.0.0.1 2>&1 || true)
  local loss rtt
  loss=$(grep -o 'Total lost packets [0-9]* ([0-9.]*%)' <<<"$out" | tail -1 | sed -E 's/.*\(([0-9.]*)%\)/\1/')
  rtt=$(grep -o 'Average round trip delay [0-9.]* ms' <<<"$out" | tail -1 | awk '{print $5}')
  echo "${loss:-100} ${rtt:-0}"
}

attack() {
  case "$1" in
    none) sleep $((seconds + 5)) ;;
    binding-flood) python3 - "$port" "$((seconds + 5))" <<'PY' ;;
import socket, sys, time
port, until = int(sys.argv[1]), time.time() + float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setblocking(False)
req = bytes.fromhex("000100002112a442") + bytes(12)
while time.time() < until:
    for _ in range(100):
        try: s.sendto(req, ("127.0.0.1", port))
        except BlockingIOError: pass
    try:
        while True: s.recv(2048)
    except BlockingIOError: pass
PY
    slowloris) python3 - "$port" "$((seconds + 5))" <<'PY' ;;
import socket, sys, time
port, until = int(sys.argv[1]), time.time() + float(sys.argv[2])
header = bytes.fromhex("000100082112a442") + bytes(12) + bytes(8)
conns = []
while time.time() < until:
    while len(conns) < 100:
        c = socket.create_connection(("127.0.0.1", port)); conns.append([c, 0])
    for entry in list(conns):
        c, i = entry
        try: c.send(header[i % len(header):i % len(header) + 1]); entry[1] += 1
        except OSError: conns.remove(entry); c.close()
    time.sleep(1)
PY
    connection-flood) python3 - "$port" "$((seconds + 5))" <<'PY' ;;
import socket, sys, time
port, until = int(sys.argv[1]), time.time() + float(sys.argv[2])
held = []
while time.time() < until:
    try: held.append(socket.create_connection(("127.0.0.1", port), timeout=1))
    except OSError: time.sleep(0.01)
    if len(held) > 2000: held.pop(0).close()
PY
    allocation-flood) timeout $((seconds + 5)) turnutils_uclient -W "$secret" -u mallory -m 200 -n 100000 -l 120 -z 100 \
        -e 127.0.0.1 -r "$peer_port" -p "$port" 127.0.0.1 >/dev/null 2>&1 || true ;;
    bandwidth-hog) timeout $((seconds + 5)) turnutils_uclient -W "$secret" -u hog -m 1 -n 10000000 -l 1400 -z 0 -c \
        -e 127.0.0.1 -r "$peer_port" -p "$port" 127.0.0.1 >/dev/null 2>&1 || true ;;
  esac
}

refusals() {
  case "$1" in
    binding-flood) echo "binding_dropped $(counter binding_dropped_total)" ;;
    slowloris) echo "closed_incomplete $(counter tcp_closed_incomplete_total), closed_idle $(counter tcp_closed_idle_total)" ;;
    connection-flood) echo "refused_per_ip $(counter tcp_refused_per_ip_cap_total)" ;;
    allocation-flood) echo "quota_refused $(counter quota_refused_total)" ;;
    bandwidth-hog) echo "dropped_over_bandwidth $(counter dropped_over_bandwidth_total)" ;;
    *) echo "—" ;;
  esac
}

echo "| attack on origo-turn | ordinary flow: loss | ordinary flow: mean round trip | refusals |"
echo "|---|---|---|---|"
for a in none binding-flood slowloris connection-flood allocation-flood bandwidth-hog; do
  log "attack: $a"
  attack "$a" & ap=$!
  sleep 1
  read -r loss rtt < <(ordinary)
  wait "$ap" || true
  sleep 1.2
  echo "| $a | ${loss}% | ${rtt} ms | $(refusals "$a") |"
done
