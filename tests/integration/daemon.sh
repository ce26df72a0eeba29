# Sourced by the daemon tests after lib.sh: start and stop `hubzip serve`
# on a random loopback port, and small curl helpers.  MAX_UPLOAD sets the
# daemon's upload limit (default 64M), DAEMON_ARGS more serve options;
# KEEP=1 keeps the temporary directory.
PID=
stop_daemon() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	PID=
}
trap 'stop_daemon; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT

# start_daemon: serves $STORE on 127.0.0.1:<kernel's choice>; sets U, PID.
start_daemon() {
	: >"$T/out"
	# shellcheck disable=SC2086 # DAEMON_ARGS: words
	"$HUBZIP" --store "$STORE" serve --listen 127.0.0.1:0 --max-upload-bytes "${MAX_UPLOAD:-64M}" \
		${DAEMON_ARGS:-} >"$T/out" 2>>"$T/log" &
	PID=$!
	for _ in $(seq 100); do
		grep -q '^hubzip: serving' "$T/out" 2>/dev/null && break
		kill -0 "$PID" 2>/dev/null || { cat "$T/log" >&2; echo "daemon died" >&2; exit 1; }
		sleep 0.1
	done
	U=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/out" | head -1)
	[ -n "$U" ] || { echo "daemon did not start" >&2; cat "$T/log" >&2; exit 1; }
	for _ in $(seq 50); do
		curl -sf "$U/api/v1/health" >/dev/null && return 0
		sleep 0.1
	done
	echo "daemon not ready" >&2
	exit 1
}

# req METHOD URL [curl args...]: sets CODE, body in $T/body, headers in $T/hdr
req() {
	local m=$1 url=$2; shift 2
	CODE=$(curl -s --path-as-is -X "$m" -o "$T/body" -D "$T/hdr" -w '%{http_code}' "$@" "$url")
}
hdr() { grep -i "^$1:" "$T/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
expect() { # description code [error-code]: the last req's status (and JSON error)
	local what=$1 want=$2 ecode=${3:-}
	if [ "$CODE" != "$want" ]; then
		fail "$what: status $CODE, expected $want ($(head -c 200 "$T/body"))"
		return
	fi
	if [ -n "$ecode" ]; then
		if [ "$(hdr X-Error-Code)" != "$ecode" ]; then
			fail "$what: X-Error-Code '$(hdr X-Error-Code)', expected $ecode"
			return
		fi
		if ! jq -e '.error' "$T/body" >/dev/null 2>&1; then
			fail "$what: body is not a JSON error: $(head -c 200 "$T/body")"
			return
		fi
	fi
	ok
}
sha() { sha256sum "$1" | cut -c1-64; }
