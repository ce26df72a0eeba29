#!/usr/bin/env bash
# Resource limits of the daemon: the per-client request rate (429 with
# Retry-After), concurrent uploads (503), SIGTERM with ingests running and
# queued on the ingest thread, and a full disk: a store on a
# small tmpfs where uploads fail while spooling, while writing packs and at
# the index commit.  Each failure answers 507 InsufficientStorage, leaves
# no revision, no pack and nothing in objects/tmp, fsck stays clean, reads
# go on, and after rm + gc uploads work again.  `hubzip ingest` into the
# full store fails with a clear message.  No error body names the store's
# directory.
. "$(dirname "$0")/lib.sh"
need_corpus
. "$(dirname "$0")/daemon.sh"

# ---- the request rate: 30 a minute (one every 2 s: no refill between the
# requests of a burst, however slow the machine), bursts of 3, per token
# and per address
hz init >/dev/null
EXTRA_ARGS=(--rate-limit 30/m --rate-burst 3)
start_daemon_args() {
	: >"$T/out"
	"$HUBZIP" --store "$STORE" serve --listen 127.0.0.1:0 "$@" >"$T/out" 2>>"$T/log" &
	PID=$!
	for _ in $(seq 100); do
		grep -q '^hubzip: serving' "$T/out" 2>/dev/null && break
		kill -0 "$PID" 2>/dev/null || { cat "$T/log" >&2; echo "daemon died" >&2; exit 1; }
		sleep 0.1
	done
	U=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/out" | head -1)
	[ -n "$U" ] || { echo "daemon did not start" >&2; exit 1; }
}
start_daemon_args "${EXTRA_ARGS[@]}"
ADMIN=$(grep -o 'hf_[A-Za-z0-9]*' "$T/out" | head -1)
codes=""
for _ in 1 2 3 4; do
	req GET "$U/api/v1/repos"
	codes="$codes $CODE"
done
check "a burst of 3 is served, the 4th refused ($codes)" [ "$codes" = " 200 200 200 429" ]
expect "the refusal" 429 TooManyRequests
check "429 carries Retry-After" [ "$(hdr Retry-After)" -ge 1 ]
req GET "$U/api/models/acme/x"
expect "hub routes are limited too, with a hub error body" 429 TooManyRequests
check "hub style body" [ "$(jq -r '.error | type' "$T/body")" = string ]
req GET "$U/api/v1/health"
expect "the health check is never limited" 200
req GET "$U/api/v1/repos" -H "Authorization: Bearer $ADMIN"
expect "a token has its own bucket" 200
sleep 2.1
req GET "$U/api/v1/repos"
expect "the bucket refills at the rate" 200
check "requests are logged with their 429" bash -c "grep -q '\"status\":429' '$T/log'"
stop_daemon

# ---- concurrent uploads: max_uploads 1, a slow upload holds the slot
start_daemon_args --max-uploads 1
req POST "$U/api/v1/repos" -H "Authorization: Bearer $ADMIN" -d '{"repo": "acme/lim"}'
expect "create a repo" 201
head -c $((2 << 20)) /dev/urandom >"$T/r2m"
curl -s --limit-rate 512K -T "$T/r2m" -H "Authorization: Bearer $ADMIN" \
	"$U/api/v1/repos/acme/lim/files/main/slow.bin" -o "$T/slow.out" &
SLOW=$!
sleep 1
req PUT "$U/api/v1/repos/acme/lim/files/main/other.bin" -H "Authorization: Bearer $ADMIN" \
	--data-binary 'x'
expect "a second upload while max_uploads are in flight" 503 TooManyUploads
wait "$SLOW"
check "the slow upload committed" [ "$(jq -r .commit "$T/slow.out" | wc -c)" -eq 41 ]
stop_daemon

# ---- SIGTERM with ingests running and queued (one ingest thread): the
# queued uploads are answered 503 ShuttingDown, the running one finishes
# its file and does not commit; nothing half-done is left
python3 - "$T/w.safetensors" <<'PY'
import json, os, struct, sys
per, n = 1 << 22, 8  # 8 tensors of 16 MiB
hdr = {"t%d" % i: {"dtype": "F32", "shape": [per], "data_offsets": [4 * per * i, 4 * per * (i + 1)]}
       for i in range(n)}
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
top = bytes((x & 0x80) | 0x3C for x in range(256))
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for _ in range(n):
        b = bytearray(os.urandom(4 * per))
        b[3::4] = bytes(b[3::4]).translate(top)
        f.write(b)
PY
WSIZE=$(stat -c %s "$T/w.safetensors")
start_daemon_args --ingest-threads 1 --max-uploads 8 --max-upload-bytes 1G
R=$(sqlite3 "$STORE/hubzip.db" 'SELECT count(*) FROM revisions')
for i in 1 2 3; do
	# each a bit different: every upload is a full ingest
	cp "$T/w.safetensors" "$T/w$i.safetensors"
	printf '%d' "$i" | dd of="$T/w$i.safetensors" bs=1 seek=$((WSIZE - 1)) conv=notrunc status=none
	curl -s -o "$T/w$i.out" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" -T "$T/w$i.safetensors" \
		"$U/api/v1/repos/acme/lim/files/main/w$i.safetensors" >"$T/w$i.code" &
done
# wait until at least two bodies are in (two spool files of full size): one
# ingest runs, the others wait for the ingest thread
full=0
for _ in $(seq 300); do
	full=0
	for fd in /proc/"$PID"/fd/*; do
		case $(readlink "$fd" 2>/dev/null) in
		*objects/tmp/*) [ "$(stat -L -c %s "$fd" 2>/dev/null)" = "$WSIZE" ] && full=$((full + 1)) ;;
		esac
	done
	[ "$full" -ge 2 ] && break
	sleep 0.05
done
check "two uploads were spooled whole ($full)" [ "$full" -ge 2 ]
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=
wait
check "the daemon exits 0" [ "$rc" -eq 0 ]
committed=0 refused=0
for i in 1 2 3; do
	c=$(cat "$T/w$i.code")
	case $c in
	201) committed=$((committed + 1)) ;;
	503) [ "$(jq -r .error.code "$T/w$i.out")" = ShuttingDown ] && refused=$((refused + 1)) ;;
	esac
done
check "a queued upload was answered 503 ShuttingDown ($(cat "$T"/w?.code | tr '\n' ' '))" [ "$refused" -ge 1 ]
check "revisions: only the uploads answered 201" \
	[ "$(sqlite3 "$STORE/hubzip.db" 'SELECT count(*) FROM revisions')" -eq $((R + committed)) ]
check "every pack file is in the index" [ "$(find "$STORE/objects/packs" -name '*.pack' | wc -l)" -eq \
	"$(sqlite3 "$STORE/hubzip.db" 'SELECT count(*) FROM packs')" ]
check "nothing in objects/tmp" [ -z "$(ls -A "$STORE/objects/tmp")" ]
check "fsck is clean" bash -c "\"$HUBZIP\" --store '$STORE' fsck >/dev/null"
rm -f "$T"/w*.safetensors

# ---- a full disk
MNT=$T/mnt
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=24m tmpfs "$MNT" 2>/dev/null; then
	echo "55_limits.sh: cannot mount a tmpfs (not root?): the full-disk checks did not run" >&2
	fail "mount a tmpfs for the full-disk checks"
	done_tests
fi
trap 'stop_daemon; umount "$MNT" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
STORE=$MNT/store
hz init >/dev/null
start_daemon_args --max-upload-bytes 64M
ADMIN=$(grep -o 'hf_[A-Za-z0-9]*' "$T/out" | head -1)
AUTH=(-H "Authorization: Bearer $ADMIN")
req POST "$U/api/v1/repos" "${AUTH[@]}" -d '{"repo": "acme/full"}'
expect "create a repo on the small disk" 201
M=$CORPUS_MINI/upscalerjs/esrgan-slim-x2/model.safetensors
req PUT "$U/api/v1/repos/acme/full/files/main/model.safetensors" "${AUTH[@]}" -T "$M"
expect "upload a model while there is room" 201

# a signed upload URL, asked for while there is room (the store's key is
# made on first use)
head -c $((3 << 20)) /dev/urandom >"$T/r3m"
OID=$(sha "$T/r3m")
req POST "$U/acme/full.git/info/lfs/objects/batch" "${AUTH[@]}" -H 'Content-Type: application/vnd.git-lfs+json' \
	-d "{\"operation\":\"upload\",\"objects\":[{\"oid\":\"$OID\",\"size\":$((3 << 20))}]}"
expect "LFS batch" 200
HREF=$(jq -r '.objects[0].actions.upload.href' "$T/body")
check "it gives a signed upload URL" [ "${HREF#http}" != "$HREF" ]

avail() { df -B1 --output=avail "$MNT" | tail -1; }
# fill leaves `free` bytes
fill() { rm -f "$MNT/filler"; fallocate -l $(($(avail) - $1)) "$MNT/filler"; }
revs() { sqlite3 "$STORE/hubzip.db" 'SELECT count(*) FROM revisions'; }
consistent() { # what: no revision beyond $1, no stray pack, nothing in tmp, fsck clean
	local what=$1 want=$2 packs rows
	packs=$(find "$STORE/objects/packs" -name '*.pack' | wc -l)
	rows=$(sqlite3 "$STORE/hubzip.db" 'SELECT count(*) FROM packs')
	check "$what: revisions $(revs), expected $want" [ "$(revs)" -eq "$want" ]
	check "$what: every pack file is in the index ($packs files, $rows rows)" [ "$packs" -eq "$rows" ]
	check "$what: nothing left in objects/tmp" [ -z "$(ls -A "$STORE/objects/tmp")" ]
}
bodies=$T/bodies
: >"$bodies"
keep_body() { { cat "$T/hdr" "$T/body"; echo; } >>"$bodies"; }

# spooling: a body larger than the free space
R=$(revs)
fill $((1 << 20))
req PUT "$U/api/v1/repos/acme/full/files/main/r3m.bin" "${AUTH[@]}" -T "$T/r3m"
keep_body
expect "ENOSPC while spooling a PUT" 507 InsufficientStorage
consistent "after ENOSPC while spooling" "$R"
req POST "$U/api/v1/repos/acme/full/commit/main" "${AUTH[@]}" -F "a.bin=@$T/r3m" -F "b.json=@$CORPUS_MINI/upscalerjs/esrgan-slim-x2/config.json"
keep_body
expect "ENOSPC while spooling a multipart commit" 507 InsufficientStorage
consistent "after a multipart commit hit ENOSPC" "$R"

# every stage: a 3 MiB file (spool, then packs) and a 100-byte file (whose
# spool and pack fit in a page or two: its index commit is what fails)
# with the free space swept down; each attempt commits (201) or answers
# 507, and the store stays consistent after each
seen=
sweep() { # size free...
	local size=$1 free c
	shift
	for free in "$@"; do
		fill "$free"
		head -c "$size" /dev/urandom >"$T/rnd"
		R=$(revs)
		req PUT "$U/api/v1/repos/acme/full/files/main/s$size-$free.bin" "${AUTH[@]}" -T "$T/rnd"
		keep_body
		c=$CODE
		if [ "$c" = 201 ]; then
			R=$((R + 1))
		elif [ "$c" = 507 ] && [ "$(hdr X-Error-Code)" = InsufficientStorage ]; then
			:
		else
			fail "PUT of $size bytes with $free free: $c $(head -c 200 "$T/body")"
		fi
		consistent "PUT of $size bytes with $free free ($c)" "$R"
	done
}
: >"$T/log.mark"
LOGLINES=$(wc -l <"$T/log")
sweep $((3 << 20)) $((7 << 20)) $((6 << 20)) $((5 << 20)) $((4 << 20)) $((3 << 20)) $((2 << 20))
sweep 100 0 4096 8192 12288 16384 24576 32768 65536
tail -n +$((LOGLINES + 1)) "$T/log" >"$T/log.new"
check "a spool write hit ENOSPC" grep -q 'cannot write the spool file: no space left' "$T/log.new"
check "a pack write hit ENOSPC" grep -q "cannot write pack .*no space left" "$T/log.new"
check "the index commit hit a full disk" grep -q 'database or disk is full' "$T/log.new"
check "fsck is clean after the full-disk uploads" bash -c "\"$HUBZIP\" --store '$STORE' fsck >/dev/null"

# the NDJSON commit and the signed LFS PUT on the full disk
fill 0
b64=$(head -c 3000 /dev/urandom | base64 -w0)
printf '{"key":"header","value":{"summary":"x"}}\n{"key":"file","value":{"path":"inline.bin","content":"%s","encoding":"base64"}}\n' "$b64" >"$T/ndjson"
R=$(revs)
req POST "$U/api/models/acme/full/commit/main" "${AUTH[@]}" -H 'Content-Type: application/x-ndjson' --data-binary "@$T/ndjson"
keep_body
expect "an NDJSON commit on a full disk" 507 InsufficientStorage
check "hub errors are {\"error\": string}" [ "$(jq -r '.error | type' "$T/body")" = string ]
req PUT "$HREF" -T "$T/r3m"
keep_body
expect "a signed LFS PUT on a full disk" 507 InsufficientStorage
check "no pending LFS object was kept" [ -z "$(ls -A "$STORE/objects/lfs-pending" 2>/dev/null)" ]
consistent "after the NDJSON commit and LFS PUT" "$R"

# reads go on while the disk is full
req GET "$U/acme/full/resolve/main/model.safetensors"
expect "a download while the disk is full" 200
check "byte-exact" cmp -s "$T/body" "$M"
req GET "$U/api/v1/repos/acme/full/files/main"
expect "a listing while the disk is full" 200
req GET "$U/api/stats"
expect "stats while the disk is full" 200

# the CLI
R=$(revs)
expect_fail "hubzip ingest into the full store" "disk is full: nothing was stored" hz ingest acme/cli "$T/r3m"
check "ingest names the failure" grep -q "no space left\|disk is full" "$T/err"
consistent "after the CLI ingest failed" "$R"
check "fsck is clean after the CLI ingest" bash -c "\"$HUBZIP\" --store '$STORE' fsck >/dev/null"

# free space (rm + gc) and uploads work again
rm -f "$MNT/filler"
req DELETE "$U/api/v1/repos/acme/full" "${AUTH[@]}"
expect "delete the repo" 200
check "gc frees its packs" bash -c "\"$HUBZIP\" --store '$STORE' gc >/dev/null"
req POST "$U/api/v1/repos" "${AUTH[@]}" -d '{"repo": "acme/again"}'
expect "create a repo after freeing space" 201
req PUT "$U/api/v1/repos/acme/again/files/main/r3m.bin" "${AUTH[@]}" -T "$T/r3m"
expect "uploads work again after rm + gc" 201
curl -sf "$U/acme/again/resolve/main/r3m.bin" -o "$T/dl"
check "and read back byte-exact" cmp -s "$T/dl" "$T/r3m"
check "fsck is clean at the end" bash -c "\"$HUBZIP\" --store '$STORE' fsck >/dev/null"

# no error body or header named where the store lives
check "error bodies never name the store's directory" bash -c "! grep -qF '$MNT' '$bodies'"
check "nor its objects/ paths" bash -c "! grep -q 'objects/tmp\|objects/packs' '$bodies'"
stop_daemon
done_tests
