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

# try CMD...: runs it (stdout and stderr as redirected by the caller) and
# sets RC to its status, without set -e ending the test when it fails
try() { RC=0; "$@" || RC=$?; }

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
# a command that fails outside a check ends the test (set -e): say where
trap 'echo "$(basename "$0"): aborted: line $LINENO failed: $BASH_COMMAND" >&2' ERR

# ---- --check-config, and the precedence of file, environment and flags
cc() { env -u HUBZIP_CONFIG "$@"; }
cat >"$T/a.conf" <<'EOF'
# a comment
threads = 3
max_uploads = 5
log-level = "warn"
EOF
try cc HUBZIP_MAX_UPLOADS=6 "$HUBZIP" serve --config "$T/a.conf" --check-config --log-level debug \
	>"$T/eff" 2>"$T/err"
check "--check-config exits 0" [ $RC -eq 0 ]
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

# ---- shutdown_grace: SIGTERM lets the uploads in flight commit (new
# requests, the health check too, get 503) for that long, then aborts them
"$HUBZIP" --store "$T/sg" init >/dev/null
# slow_put NAME: PUTs the model at 400 KB/s (about 2.2 s) to acme/NAME in the
# background; its status goes to $T/put.NAME
slow_put() {
	curl -s -o "$T/putbody.$1" -w '%{http_code}' -T "$M" --limit-rate 400k \
		-H "Authorization: Bearer $TOKG" "$URL_g/api/v1/repos/acme/$1/files/main/m.safetensors" \
		>"$T/put.$1" 2>/dev/null &
	PUTPID=$!
}
for n in done cut twice; do
	case $n in cut) g=1 ;; *) g=60 ;; esac
	serve g "$T/sg" --shutdown-grace "$g"
	# the first start prints the admin token
	[ -s "$T/tokg" ] || grep -o 'hf_[A-Za-z0-9]*' "$T/out.g" | head -1 >"$T/tokg"
	TOKG=$(cat "$T/tokg")
	curl -sf -H "Authorization: Bearer $TOKG" -d "{\"repo\": \"acme/$n\"}" "$URL_g/api/v1/repos" >/dev/null
	slow_put $n
	sleep 0.5
	t0=$(date +%s%N)
	kill -TERM "$PID_g"
	sleep 0.3
	[ $n = twice ] && kill -TERM "$PID_g"
	if [ $n = done ]; then
		req GET "$URL_g/api/v1/health"
		expect "shutdown_grace: the health check is refused while draining" 503 ShuttingDown
		req GET "$URL_g/acme/done/resolve/main/m.safetensors"
		expect "shutdown_grace: a new request is refused while draining" 503 ShuttingDown
	fi
	try wait "$PID_g"
	t1=$(date +%s%N)
	check "shutdown_grace ($n): the daemon exits 0" [ $RC -eq 0 ]
	wait "$PUTPID" || true
	PIDS=()
	case $n in
	done)
		check "shutdown_grace: the upload in flight commits ($(cat "$T/put.done"))" \
			[ "$(cat "$T/put.done")" = 201 ]
		check "shutdown_grace: the daemon waited for it" grep -q 'waiting up to 60 s for 1 uploads' "$T/log.g"
		;;
	cut)
		check "shutdown_grace over: the upload is not acknowledged ($(cat "$T/put.cut"))" \
			[ "$(cat "$T/put.cut")" != 201 ]
		check "shutdown_grace over: the daemon says so" grep -q 'aborting 1 uploads' "$T/log.g"
		check "shutdown_grace over: it stopped within 3 s" [ $(( (t1 - t0) / 1000000 )) -lt 3000 ]
		;;
	twice)
		check "a second SIGTERM ends the wait ($(cat "$T/put.twice"))" [ "$(cat "$T/put.twice")" != 201 ]
		check "a second SIGTERM: the daemon says so" grep -q 'another signal' "$T/log.g"
		check "a second SIGTERM: it stopped within 3 s" [ $(( (t1 - t0) / 1000000 )) -lt 3000 ]
		;;
	esac
done
"$HUBZIP" --store "$T/sg" cat acme/done m.safetensors >"$T/sg.out" 2>/dev/null
check "shutdown_grace: the committed upload reads back" cmp -s "$T/sg.out" "$M"
expect_fail "shutdown_grace over: nothing of the aborted upload" "not found|no revision|no such|unknown" \
	"$HUBZIP" --store "$T/sg" cat acme/cut m.safetensors
# without shutdown_grace (the default), SIGTERM aborts at once
serve g "$T/sg"
curl -sf -H "Authorization: Bearer $TOKG" -d '{"repo": "acme/now"}' "$URL_g/api/v1/repos" >/dev/null
slow_put now
sleep 0.5
t0=$(date +%s%N)
kill -TERM "$PID_g"
try wait "$PID_g"
t1=$(date +%s%N)
wait "$PUTPID" || true
PIDS=()
check "no shutdown_grace: exits 0" [ $RC -eq 0 ]
check "no shutdown_grace: the upload is aborted ($(cat "$T/put.now"))" [ "$(cat "$T/put.now")" != 201 ]
check "no shutdown_grace: at once" [ $(( (t1 - t0) / 1000000 )) -lt 2000 ]

# ---- the config examples: every key is known; the single-node one serves
try cc "$HUBZIP" serve --config "$D/hubzip.conf.example" --check-config >"$T/eff" 2>"$T/err"
check "hubzip.conf.example passes --check-config ($(head -c 200 "$T/err"))" [ $RC -eq 0 ]
# as deployed: the example with HUBZIP_STORE and a free port from the environment
mkdir -p "$T/node"
(cd "$T/node" && env -u HUBZIP_CONFIG HUBZIP_STORE="$T/node/store" "$HUBZIP" init >/dev/null)
# (exec: the PID stopped at the end is the daemon's, not a subshell's)
(cd "$T/node" && exec env -u HUBZIP_CONFIG HUBZIP_STORE="$T/node/store" HUBZIP_LISTEN=127.0.0.1:0 \
	"$HUBZIP" serve --config "$D/hubzip.conf.example" >"$T/out.ex" 2>"$T/log.ex") &
PIDS+=($!)
for _ in $(seq 100); do grep -q '^hubzip: serving' "$T/out.ex" 2>/dev/null && break; sleep 0.1; done
UX=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/out.ex" | head -1)
if [ -n "$UX" ]; then
	req GET "$UX/api/v1/health"
	expect "the daemon of hubzip.conf.example answers health" 200
	check "health says ok" [ "$(jq -r .status "$T/body")" = ok ]
else
	fail "the daemon of hubzip.conf.example does not start: $(head -c 300 "$T/log.ex")"
fi
check "it serves the store of HUBZIP_STORE, not the file's ./data" [ ! -e "$T/node/data" ]
stop_all
# the S3 + PostgreSQL example: every key it sets is known (the key file
# named there does not exist here: the environment points at one)
SP=$D/hubzip-s3-postgres.conf.example
try env -u HUBZIP_CONFIG HUBZIP_SECRET_KEY_FILE="$T/key.hex" \
	"$HUBZIP" serve --config "$SP" --check-config >"$T/eff" 2>"$T/err"
check "hubzip-s3-postgres.conf.example passes --check-config ($(head -c 200 "$T/err"))" [ $RC -eq 0 ]
for k in $(grep -oE '^[a-z_]+' "$SP"); do
	[ "$k" = secret_key_file ] && from=HUBZIP_SECRET_KEY_FILE || from=file
	check "key $k of the S3 example is in effect" grep -q "^$k = .*# $from\$" "$T/eff"
done
check "public_url is set for a balancer" grep -q '^public_url = https://' "$T/eff"
# with its environment file: the index and bucket URLs parse, and reach serve
SE=$D/hubzip-s3-postgres.env.example
EI=$(sed -n 's/^HUBZIP_INDEX=//p' "$SE")
EB=$(sed -n 's/^HUBZIP_BLOBS=//p' "$SE")
check "the environment example names a PostgreSQL index" grep -q '^postgresql://' <<<"$EI"
check "the environment example names an S3 bucket" grep -q '^s3://' <<<"$EB"
try env -u HUBZIP_CONFIG HUBZIP_SECRET_KEY_FILE="$T/key.hex" HUBZIP_INDEX="$EI" HUBZIP_BLOBS="$EB" \
	"$HUBZIP" serve --config "$SP" --check-config >"$T/eff" 2>"$T/err"
check "the S3 example with its environment passes --check-config ($(head -c 200 "$T/err"))" [ $RC -eq 0 ]
check "index from the environment" grep -qxF "index = $EI	# HUBZIP_INDEX" "$T/eff"
check "blobs from the environment" grep -qxF "blobs = $EB	# HUBZIP_BLOBS" "$T/eff"
try env -u HUBZIP_CONFIG HUBZIP_BLOBS="s3:/bucket" "$HUBZIP" serve --check-config >/dev/null 2>"$T/err"
check "a malformed blobs URL is refused ($(head -c 200 "$T/err"))" [ $RC -ne 0 ]
# every key the daemon knows is in the single-node example (set or commented)
for k in $(cc "$HUBZIP" serve --check-config | sed -nE 's/^([a-z_]+) = .*/\1/p; s/^# ([a-z_]+) \(not set.*/\1/p'); do
	check "key $k is in hubzip.conf.example" grep -qE "^#? ?$k = " "$D/hubzip.conf.example"
done

# ---- a newer index schema is refused (docs/operations.md, "Upgrades")
"$HUBZIP" --store "$T/new" init >/dev/null
sqlite3 "$T/new/hubzip.db" 'PRAGMA user_version = 9999'
expect_fail "serve refuses a newer schema" "schema version 9999 is newer than this hubzip" \
	"$HUBZIP" --store "$T/new" serve --listen 127.0.0.1:0
expect_fail "init refuses a newer schema" "schema version 9999 is newer than this hubzip" \
	"$HUBZIP" --store "$T/new" init

# ---- systemd: the units verify, the hardening scores, the user is made
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T/units"
	sed "s|/usr/local/bin/hubzip|$HUBZIP|g" "$D/hubzip.service" >"$T/units/hubzip.service"
	(cd "$T/units" && systemd-analyze verify ./hubzip.service) >"$T/v" 2>&1 ||
		echo "exit status $?" >>"$T/v"
	check "systemd-analyze verify passes, silently: $(head -c 400 "$T/v")" [ ! -s "$T/v" ]
	# a misspelt key is caught: the check above can fail
	sed 's/^ProtectSystem=/ProtectSytem=/' "$T/units/hubzip.service" >"$T/units/typo.service"
	(cd "$T/units" && systemd-analyze verify ./typo.service) >"$T/v" 2>&1 || true
	check "systemd-analyze verify reports a misspelt key" grep -q "Unknown key 'ProtectSytem'" "$T/v"
	rm "$T/units/typo.service"
	if systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then
		try eval '(cd "$T/units" && systemd-analyze security --offline=yes --threshold=15 ./hubzip.service)' \
			>"$T/sec" 2>&1
		check "hubzip.service: exposure at most 1.5 ($(grep -o 'exposure level.*' "$T/sec"))" [ $RC -eq 0 ]
	else
		echo "$(basename "$0"): systemd-analyze security --offline is not available: review skipped"
	fi
	if command -v systemd-sysusers >/dev/null; then
		mkdir -p "$T/root/etc"
		systemd-sysusers --root="$T/root" "$D/hubzip.sysusers" >/dev/null 2>&1
		check "sysusers creates the user hubzip" \
			grep -q '^hubzip:x:[0-9]*:[0-9]*:.*:/var/lib/hubzip:/usr/sbin/nologin$' "$T/root/etc/passwd"
		check "sysusers creates the group hubzip" grep -q '^hubzip:x:' "$T/root/etc/group"
	fi
else
	echo "$(basename "$0"): systemd-analyze is not installed: the unit checks are SKIPPED"
fi

# ---- the unit's sandbox against what the daemon does: init, then serve
# (an upload, a multipart commit, downloads, the LFS API, metrics, the
# dashboard, a repo deleted, gc and fsck by the admin API, SIGTERM) under
# strace
if command -v strace >/dev/null && command -v systemd-analyze >/dev/null; then
	# the allowed set: the unit's SystemCallFilter lines in order (a ~ line
	# takes away, another adds), groups expanded by systemd-analyze itself
	grep '^SystemCallFilter=' "$D/hubzip.service" | cut -d= -f2- >"$T/filters"
	check "the unit filters system calls" grep -qx '@system-service' "$T/filters"
	systemd-analyze syscall-filter 2>/dev/null | awk -v filters="$T/filters" '
		/^@/ { g = $1; next }
		/^ +[@a-z0-9_]/ && g { m[g] = m[g] " " $1 }
		function expand(x,   n, a, i, out) {
			if (x !~ /^@/) return x
			n = split(m[x], a, " "); out = ""
			for (i = 1; i <= n; i++) out = out " " expand(a[i])
			return out
		}
		END {
			while ((getline line < filters) > 0) {
				deny = sub(/^~/, "", line)
				n = split(line, w, " ")
				for (i = 1; i <= n; i++) {
					k = split(expand(w[i]), a, " ")
					for (j = 1; j <= k; j++) if (deny) delete ok[a[j]]; else ok[a[j]] = 1
				}
			}
			for (s in ok) print s
		}' | sort -u >"$T/allowed"
	check "no @privileged call is allowed" [ -z "$(systemd-analyze syscall-filter @privileged 2>/dev/null |
		awk '/^ +[a-z]/ { print $1 }' | grep -xFf - "$T/allowed" | grep -vxE 'setpriority|ioprio_set')" ]
	check "the allowed set is not empty ($(wc -l <"$T/allowed") calls)" [ "$(wc -l <"$T/allowed")" -gt 100 ]
	ST=$T/sandbox
	strace -f -qq -o "$T/st.init" "$HUBZIP" --store "$ST" init >/dev/null
	strace -f -qq -o "$T/st.serve" "$HUBZIP" --store "$ST" serve --listen 127.0.0.1:0 \
		--secret-key-file "$T/key.raw" >"$T/out.st" 2>"$T/log.st" &
	SPID=$!
	for _ in $(seq 200); do grep -q '^hubzip: serving' "$T/out.st" 2>/dev/null && break; sleep 0.1; done
	# the daemon is strace's child: SIGTERM goes to it, strace ends with it
	PIDS+=($(awk '{ print $1; exit }' "$T/st.serve"))
	US=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/out.st" | head -1)
	TOK=$(grep -o 'hf_[A-Za-z0-9]*' "$T/out.st" | head -1)
	A=(-H "Authorization: Bearer $TOK")
	curl -sf "${A[@]}" -d '{"repo": "acme/s"}' "$US/api/v1/repos" >/dev/null
	req PUT "$US/api/v1/repos/acme/s/files/main/model.safetensors" "${A[@]}" -T "$M"
	expect "sandbox: an upload" 201
	req POST "$US/api/v1/repos/acme/s/commit/main" "${A[@]}" \
		-F "file=@$SRC/config.json;filename=config.json"
	check "sandbox: a commit ($CODE)" [ "${CODE:0:1}" = 2 ]
	req GET "$US/acme/s/resolve/main/model.safetensors"
	check "sandbox: a download" cmp -s "$T/body" "$M"
	req GET "$US/acme/s/resolve/main/model.safetensors" -r 100-2000000
	expect "sandbox: a range" 206
	req POST "$US/acme/s.git/info/lfs/objects/batch" "${LJ[@]}" \
		-d "{\"operation\":\"download\",\"objects\":[{\"oid\":\"$OID\",\"size\":$SIZE}]}"
	req GET "$(jq -r '.objects[0].actions.download.href' "$T/body")"
	check "sandbox: a signed LFS download" cmp -s "$T/body" "$M"
	for p in /metrics /api/stats / /ui/app.js /api/v1/repos /api/models/acme/s; do
		req GET "$US$p"
		expect "sandbox: GET $p" 200
	done
	# the maintenance thread: a gc and an fsck (at its lower priority)
	curl -sf -X DELETE "${A[@]}" "$US/api/v1/repos/acme/s" >/dev/null
	for job in gc fsck; do
		req POST "$US/api/admin/$job" "${A[@]}"
		expect "sandbox: POST /api/admin/$job" 202
		id=$(jq -r .id "$T/body")
		for _ in $(seq 100); do
			req GET "$US/api/admin/$job" "${A[@]}"
			[ "$(jq -r .state "$T/body")" = done ] && [ "$(jq -r .last.id "$T/body")" = "$id" ] && break
			sleep 0.1
		done
		check "sandbox: the $job job ends ($(head -c 300 "$T/body"))" \
			[ "$(jq -r .state "$T/body")" = done ] && [ "$(jq -r .last.id "$T/body")" = "$id" ]
	done
	check "sandbox: fsck finds nothing" [ "$(jq -r .last.problems "$T/body")" = 0 ]
	stop_all
	wait "$SPID" || true
	# SQLite fchown()s its journal files only when it runs as root, which
	# the unit never does
	skipchown=
	[ "$(id -u)" -eq 0 ] && skipchown=fchown
	for f in init serve; do
		grep -oE '^[0-9]+ +[a-z0-9_]+\(' "$T/st.$f" | awk '{ sub(/\($/, "", $2); print $2 }' |
			sort -u | grep -vx "${skipchown:-//}" >"$T/used.$f"
		comm -23 "$T/used.$f" "$T/allowed" >"$T/denied.$f"
		check "hubzip $f: every system call is allowed by the unit (not: $(tr '\n' ' ' <"$T/denied.$f"))" \
			[ ! -s "$T/denied.$f" ]
		check "hubzip $f: the trace is not empty" [ "$(wc -l <"$T/used.$f")" -gt 10 ]
		grep -E 'PROT_(WRITE\|PROT_EXEC|EXEC\|PROT_WRITE)' "$T/st.$f" >"$T/wx" || true
		check "hubzip $f: no writable and executable mapping" [ ! -s "$T/wx" ]
	done
	grep -ohE '\b(socket|socketpair)\(AF_[A-Z0-9]+' "$T/st.init" "$T/st.serve" | sed 's/.*(//' |
		sort -u >"$T/families"
	check "the daemon opened sockets" grep -qx AF_INET "$T/families"
	check "only AF_INET, AF_INET6 and AF_UNIX sockets ($(tr '\n' ' ' <"$T/families"))" \
		[ -z "$(grep -vxE 'AF_INET|AF_INET6|AF_UNIX' "$T/families")" ]
	check "the unit's RestrictAddressFamilies is the one checked here" \
		grep -qx 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' "$D/hubzip.service"
else
	echo "$(basename "$0"): strace or systemd-analyze is missing: the sandbox checks are SKIPPED"
fi

# ---- the Containerfile, statically: it cannot be built here
CF=$D/Containerfile
# its instructions, one per line (continuations joined, comments dropped)
sed -e '/^[[:space:]]*#/d' "$CF" | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' | tr -s ' \t' ' ' >"$T/cf"
last_from=$(grep -n '^FROM ' "$T/cf" | tail -1 | cut -d: -f1)
sed -n "1,$((last_from - 1))p" "$T/cf" >"$T/cf.build"
sed -n "$last_from,\$p" "$T/cf" >"$T/cf.run"
check "two stages from Debian 12" [ "$(grep -cE '^FROM debian:12(-slim)?( |$)' "$T/cf")" = 2 ]
check "the build stage installs what deploy/install-deps.sh installs, by running it" \
	grep -qE '^RUN deploy/install-deps.sh( |$)' "$T/cf.build"
BUILDPKGS=$(sed -n 's/^BUILD="\(.*\)"$/\1/p' "$D/install-deps.sh")
RUNPKGS=$(grep -oE 'apt-get install [^&]*' "$T/cf.run" | tr ' ' '\n' | grep -vE '^(apt-get|install|-.*|)$')
check "the runtime stage installs packages" [ -n "$RUNPKGS" ]
check "the build packages are known" [ -n "$BUILDPKGS" ]
if grep -q '^12\.' /etc/debian_version 2>/dev/null; then
	# one apt-cache call for all (each takes a second)
	apt-cache show --no-all-versions $BUILDPKGS $RUNPKGS 2>/dev/null |
		sed -n 's/^Package: //p' | sort -u >"$T/known" || true
	for p in $BUILDPKGS $RUNPKGS; do
		check "package $p is in the Debian 12 archive" grep -qx "$p" "$T/known"
	done
else
	echo "$(basename "$0"): not Debian 12: the archive check of the Containerfile's packages is SKIPPED"
fi
check "no -dev package at run time" [ -z "$(echo "$RUNPKGS" | grep -- '-dev$')" ]
# the libraries hubzip links, and those it dlopen()s (their SONAMEs are
# named in the sources), come from packages the runtime stage installs
# (libc6 is in every Debian image)
ARCH=$(dpkg --print-architecture)
SONAMES=$( (ldd "$HUBZIP" | awk '$2 == "=>" { print $1 }'
	grep -rhoE '"lib[a-z0-9_+-]+\.so\.[0-9]+"' "$ROOT/api" "$ROOT/common" "$ROOT/store" | tr -d '"') |
	grep -vE '^(linux-vdso|ld-linux)' | sort -u)
for so in libmicrohttpd.so.12 libcurl.so.4; do
	check "$so, dlopen()ed, is found in the sources" grep -qx "$so" <<<"$SONAMES"
done
for so in $SONAMES; do
	pkg=$(dpkg -S "*/$so" 2>/dev/null | grep -E "^[^ ]+:$ARCH: " | head -1 | cut -d: -f1)
	if [ -z "$pkg" ]; then
		fail "$so: no installed package provides it (install it to check the Containerfile)"
	elif [ "$pkg" = libc6 ]; then
		ok
	else
		check "$so (package $pkg) is installed by the runtime stage" grep -qx "$pkg" <<<"$RUNPKGS"
	fi
done
# the binary it copies is the one `make` builds: WORKDIR/build/hubzip
WD=$(sed -n 's/^WORKDIR //p' "$T/cf.build" | tail -1)
check "the build stage runs make for build/hubzip, in the default build dir" \
	grep -qE '^RUN make( -j[^ ]*)? build/hubzip( |$)' "$T/cf.build"
check "the runtime stage copies $WD/build/hubzip from the build stage" \
	grep -qx "COPY --from=build $WD/build/hubzip /usr/local/bin/hubzip" "$T/cf.run"
for f in $(sed -nE 's/^COPY (deploy\/[^ ]+( deploy\/[^ ]+)*) [^ ]+$/\1/p' "$T/cf"); do
	check "the context file $f exists" [ -f "$ROOT/$f" ]
done
check ".dockerignore keeps build/ out of the context" grep -qx build "$ROOT/.dockerignore"
RUSER=$(sed -n 's/^USER //p' "$T/cf.run" | tail -1)
check "the runtime user is not root ($RUSER)" [ -n "$RUSER" ] && [ "$RUSER" != root ] && [ "$RUSER" != 0 ]
check "it creates its user" grep -q "useradd .* $RUSER" "$T/cf.run"
VSTORE=$(sed -n 's/^ENV HUBZIP_STORE=//p' "$T/cf.run")
check "the store is a VOLUME ($VSTORE)" grep -qE "^VOLUME .*\"$VSTORE\"" "$T/cf.run"
check "EXPOSE 8080" grep -qx 'EXPOSE 8080' "$T/cf.run"
ENTRY=$(sed -n 's/^ENTRYPOINT //p' "$T/cf.run")
check "ENTRYPOINT listens on 0.0.0.0:8080" grep -q -- '--listen 0.0.0.0:8080' <<<"$ENTRY"
# the ENTRYPOINT as the engine runs it: an empty volume, then a restart
mkdir -p "$T/bin" "$T/vol"
ln -s "$HUBZIP" "$T/bin/hubzip"
mapfile -t EARGV < <(jq -r '.[]' <<<"$ENTRY")
check "ENTRYPOINT is a JSON array" [ "${#EARGV[@]}" -ge 3 ]
for run in 1 2; do
	env -u HUBZIP_CONFIG PATH="$T/bin:$PATH" HUBZIP_STORE="$T/vol" \
		"${EARGV[@]}" --listen 127.0.0.1:0 >"$T/out.e$run" 2>"$T/log.e$run" &
	PIDS+=($!)
	for _ in $(seq 100); do grep -q '^hubzip: serving' "$T/out.e$run" 2>/dev/null && break; sleep 0.1; done
	UE=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/out.e$run" | head -1)
	check "ENTRYPOINT, start $run: it serves ($(head -c 300 "$T/log.e$run"))" [ -n "$UE" ]
	HC=$(sed -n 's/^HEALTHCHECK .* CMD //p' "$T/cf.run")
	check "the HEALTHCHECK targets port 8080" grep -q '127.0.0.1:8080/' <<<"$HC"
	HCX=${HC//127.0.0.1:8080/${UE#http://}}
	try env PATH="$T/bin:$PATH" sh -c "$HCX" >/dev/null 2>&1
	check "ENTRYPOINT, start $run: the HEALTHCHECK passes" [ $RC -eq 0 ]
	stop_all
	try env PATH="$T/bin:$PATH" sh -c "$HCX" >/dev/null 2>&1
	check "ENTRYPOINT, start $run: the HEALTHCHECK fails once the daemon is gone" [ $RC -ne 0 ]
done
check "the first start of the container prints the admin token" grep -q '^admin token' "$T/out.e1"
check "a restart keeps the store (no new admin token)" [ -z "$(grep '^admin token' "$T/out.e2")" ]
check "the volume holds the store" [ -f "$T/vol/hubzip.db" ]

# ---- the Prometheus rules: they load, fire as their tests say, and name
# only metrics the daemon exports
if command -v promtool >/dev/null; then
	P=$D/prometheus
	try promtool check rules "$P/hubzip.rules.yml" >"$T/pt" 2>&1
	check "promtool check rules: $(tail -c 300 "$T/pt")" [ $RC -eq 0 ]
	try eval '(cd "$P" && promtool test rules hubzip.rules.test.yml hubzip.rules.test-days.yml)' >"$T/pt" 2>&1
	check "promtool test rules: $(tail -c 600 "$T/pt")" [ $RC -eq 0 ]
	try eval '(cd "$P" && promtool check config prometheus.yml)' >"$T/pt" 2>&1
	check "promtool check config: $(tail -c 300 "$T/pt")" [ $RC -eq 0 ]
	serve m "$T/sa"
	curl -s "${URL_m}/acme/m/resolve/main/model.safetensors" >/dev/null
	curl -s "${URL_m}/metrics" >"$T/metrics"
	stop_all
	for name in $(grep -oE '\bhubzip_[a-z0-9_]*[a-z0-9]\b' "$P/hubzip.rules.yml" | sort -u); do
		base=${name%_bucket}
		check "metric $name of the rules is exported" grep -qE "^# TYPE $base " "$T/metrics"
	done
	for name in $(grep -oE '\bhubzip_[a-z0-9_]*[a-z0-9]\b' "$ROOT/docs/operations.md" | sort -u); do
		base=$(sed -E 's/_(bucket|sum|count)$//' <<<"$name")
		check "metric $name of docs/operations.md is exported" grep -qE "^# TYPE $base " "$T/metrics"
	done
else
	echo "$(basename "$0"): promtool is not installed: the rule checks are SKIPPED"
fi

# ---- backup and restore as docs/operations.md says: the index online
# (sqlite3 .backup while the daemon writes), then the packs
B=$T/bk
mkdir -p "$B/objects"
"$HUBZIP" --store "$T/live" init >/dev/null
"$HUBZIP" --store "$T/live" ingest acme/one "$SRC" >/dev/null 2>&1
serve live "$T/live"
TOKL=$(grep -o 'hf_[A-Za-z0-9]*' "$T/out.live" | head -1)
check "sqlite3 .backup of the index while serving" sqlite3 "$T/live/hubzip.db" ".backup '$B/hubzip.db'"
# a write after the index backup: its packs are copied, its rows are not
OTHER=$CORPUS_MINI/$(corpus_repos | grep -v '^upscalerjs/esrgan-slim-x2$' | head -1)
curl -sf -H "Authorization: Bearer $TOKL" -d '{"repo": "acme/two"}' "$URL_live/api/v1/repos" >/dev/null
for f in $(cd "$OTHER" && find . -name '*.safetensors' | head -2); do
	req PUT "$URL_live/api/v1/repos/acme/two/files/main/${f#./}" -H "Authorization: Bearer $TOKL" -T "$OTHER/$f"
	expect "an upload after the index backup" 201
done
cp -a "$T/live/objects/packs" "$B/objects/"
cp -a "$T/live/secret.key" "$B/" 2>/dev/null || true
stop_all
R=$T/restored
cp -a "$B" "$R"
try "$HUBZIP" --store "$R" fsck >"$T/fsck" 2>&1
check "fsck passes on the restored store: $(tail -c 300 "$T/fsck")" [ $RC -eq 0 ]
"$HUBZIP" --store "$R" restore acme/one "$T/r1" >/dev/null 2>&1
check "a repo of the backup restores byte-exact" diff -r "$SRC" "$T/r1"
expect_fail "a repo made after the index backup is not in it" "not found|no such|unknown" \
	"$HUBZIP" --store "$R" ls acme/two
serve restored "$R"
req GET "$URL_restored/acme/one/resolve/main/model.safetensors"
check "the restored store serves" cmp -s "$T/body" "$M"
stop_all
check "gc passes after the restore" "$HUBZIP" --store "$R" gc >/dev/null 2>&1
check "fsck passes after the restore and gc" "$HUBZIP" --store "$R" fsck >/dev/null 2>&1
# the other order loses data: packs first, then a write, then the index
W=$T/wrong
mkdir -p "$W/objects"
"$HUBZIP" --store "$T/live2" init >/dev/null
cp -a "$T/live2/objects/packs" "$W/objects/"
"$HUBZIP" --store "$T/live2" ingest acme/one "$SRC" >/dev/null 2>&1
sqlite3 "$T/live2/hubzip.db" ".backup '$W/hubzip.db'"
check "packs copied before the index: fsck finds packs missing" \
	bash -c "! '$HUBZIP' --store '$W' fsck >/dev/null 2>&1"

done_tests
