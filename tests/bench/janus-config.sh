#!/usr/bin/env bash
# Usage: janus_mkconf.sh <dir> <http_port> [admin_port]
#   env RTP_RANGE (default 40000-40999: one port per PeerConnection, size it >= handles)
#   env JANUS_EVENT_LOOPS (default unset: one thread per handle, Janus's default; N: N shared loops)
# Generates a private, minimal Janus 1.1.2 (Debian) config dir: HTTP transport on
# 127.0.0.1:<http_port> only, VideoRoom plugin only, Admin API only if admin_port is
# given (127.0.0.1, secret "janusoverlord"), no event handlers/loggers, no STUN/TURN,
# IPv4 only, half-trickle, full ICE (not lite), ICE candidates only on 127.x addresses.
# NOTE: Janus 1.1.2 never gathers on IFF_LOOPBACK interfaces, so it must run in a network
# namespace that has a non-loopback interface carrying a 127.x address (see janus_netns.sh).
set -euo pipefail
D=${1:?dir}; PORT=${2:?http port}; ADMIN_PORT=${3:-}; RANGE=${RTP_RANGE:-40000-40999}
LOOPS=""; [ -n "${JANUS_EVENT_LOOPS:-}" ] && LOOPS="event_loops = $JANUS_EVENT_LOOPS"
if [ -n "$ADMIN_PORT" ]; then ADMIN_HTTP=true; else ADMIN_HTTP=false; ADMIN_PORT=7088; fi
LIB=/usr/lib/x86_64-linux-gnu/janus
mkdir -p "$D"/plugins "$D"/transports "$D"/events "$D"/loggers
# Load exactly one plugin and one transport: private folders with symlinks.
ln -sf "$LIB/plugins/libjanus_videoroom.so" "$D/plugins/"
ln -sf "$LIB/transports/libjanus_http.so" "$D/transports/"
cat > "$D/janus.jcfg" <<JCFG
general: {
	configs_folder = "$D"
	plugins_folder = "$D/plugins"
	transports_folder = "$D/transports"
	events_folder = "$D/events"
	loggers_folder = "$D/loggers"
	debug_level = 4
	session_timeout = 60
	admin_secret = "janusoverlord"
	server_name = "bench"
	$LOOPS
}
certificates: {
	# no cert_pem/cert_key: Janus autogenerates a self-signed DTLS cert at startup
	dtls_accept_selfsigned = true
}
media: {
	ipv6 = false
	ipv6_linklocal = false
	rtp_port_range = "$RANGE"
	no_media_timer = 0
	slowlink_threshold = 0
}
nat: {
	nice_debug = false
	full_trickle = false
	ice_lite = false
	ice_tcp = false
	ice_enforce_list = "127."
	ignore_mdns = true
}
plugins: {
}
transports: {
}
loggers: {
}
events: {
	broadcast = false
}
JCFG
cat > "$D/janus.transport.http.jcfg" <<JCFG
general: {
	json = "plain"
	base_path = "/janus"
	http = true
	port = $PORT
	ip = "127.0.0.1"
	https = false
	events = false
}
admin: {
	admin_base_path = "/admin"
	admin_http = $ADMIN_HTTP
	admin_port = $ADMIN_PORT
	admin_ip = "127.0.0.1"
	admin_https = false
}
cors: {
}
certificates: {
}
JCFG
cat > "$D/janus.plugin.videoroom.jcfg" <<JCFG
general: {
	events = false
}
JCFG
echo "$D"
