#!/usr/bin/env bash
# The load test: `hubzip serve` on a random loopback port with a temporary
# store, driven by tests/load/hzload (C, libcurl) with N concurrent clients
# for a bounded time: downloads (whole and ranged, resolve and native),
# listings, uploads of new and duplicate content, LFS batches and stats.
# Prints hzload's JSON summary with the daemon's peak RSS (VmHWM) added,
# then checks that no request failed and that fsck is clean.
#
#   tests/load/load.sh [--seconds S] [--clients N] [--big MB] [--big-clients N]
#                      [--downloads-only 1] [--out FILE]
#
# --big MB: more clients upload a synthetic safetensors file of MB MiB again
# and again meanwhile (the heavy ingests that must not stall downloads).
# HUBZIP and HZLOAD name the binaries (default build/hubzip, build/hzload).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HUBZIP=${HUBZIP:-$ROOT/build/hubzip}
HZLOAD=${HZLOAD:-$ROOT/build/hzload}
CORPUS_MINI=${CORPUS_MINI:-/var/tmp/mhub-corpus/mini}
SECONDS_=10 CLIENTS=64 BIG=0 BIG_CLIENTS=1 OUT= DL_ONLY=0
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) SECONDS_=$2 ;;
	--clients) CLIENTS=$2 ;;
	--big) BIG=$2 ;;
	--big-clients) BIG_CLIENTS=$2 ;;
	--out) OUT=$2 ;;
	--downloads-only) DL_ONLY=$2 ;;
	*) echo "usage: $0 [--seconds S] [--clients N] [--big MB] [--big-clients N] [--out FILE]" >&2; exit 2 ;;
	esac
	shift 2
done
T=$(mktemp -d "${TMPDIR:-/tmp}/hubzip-load.XXXXXX")
PID=
cleanup() {
	[ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
S=$T/store
"$HUBZIP" --store "$S" init >/dev/null
"$HUBZIP" --store "$S" serve --listen 127.0.0.1:0 --max-uploads 256 --log-level warn \
	>"$T/out" 2>"$T/log" &
PID=$!
for _ in $(seq 100); do
	grep -q '^hubzip: serving' "$T/out" 2>/dev/null && break
	sleep 0.1
done
U=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/out" | head -1)
TOK=$(grep -o 'hf_[A-Za-z0-9]*' "$T/out" | head -1)
[ -n "$U" ] && [ -n "$TOK" ] || { cat "$T/log" >&2; echo "daemon did not start" >&2; exit 1; }
A="Authorization: Bearer $TOK"
for r in load/data load/up; do
	curl -sf -H "$A" -d "{\"repo\": \"$r\"}" "$U/api/v1/repos" >/dev/null
done

# the files downloads ask for: a model of the corpus, its config, 1 MiB and
# 8 MiB of random bytes
mkdir -p "$T/data"
cp "$CORPUS_MINI/realcugan/up2x-conservative/model.safetensors" "$T/data/model.safetensors"
cp "$CORPUS_MINI/realcugan/up2x-conservative/config.json" "$T/data/config.json" 2>/dev/null ||
	printf '{"model_type": "test"}\n' >"$T/data/config.json"
head -c $((1 << 20)) /dev/urandom >"$T/data/r1m.bin"
head -c $((8 << 20)) /dev/urandom >"$T/data/r8m.bin"
FILES=()
for f in "$T"/data/*; do
	n=$(basename "$f")
	curl -sf -H "$A" -T "$f" "$U/api/v1/repos/load/data/files/main/$n" >/dev/null
	FILES+=(--file "$n:$(stat -c %s "$f"):$(sha256sum "$f" | cut -c1-64)")
done

BIGARGS=()
if [ "$BIG" -gt 0 ]; then
	# a safetensors file of F32 tensors of 16 MiB whose values look like
	# weights (random sign and mantissa, exponents in a narrow band), so
	# that the ingest does the work of a real model: byte planes, entropy
	# coding
	python3 - "$T/big.safetensors" "$BIG" <<'PY'
import json, os, struct, sys
path, mb = sys.argv[1], int(sys.argv[2])
per = 1 << 22  # floats per tensor
hdr, off = {}, 0
for i in range(max(1, mb // 16)):
    hdr["layer.%d.weight" % i] = {"dtype": "F32", "shape": [per], "data_offsets": [off, off + 4 * per]}
    off += 4 * per
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
top = bytes((x & 0x80) | 0x3C for x in range(256))
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for _ in hdr:
        b = bytearray(os.urandom(4 * per))
        b[3::4] = bytes(b[3::4]).translate(top)
        f.write(b)
PY
	BIGARGS=(--big "$T/big.safetensors" --big-clients "$BIG_CLIENTS")
fi

rc=0
"$HZLOAD" --url "$U" --token "$TOK" --repo load/data --upload-repo load/up "${FILES[@]}" \
	--clients "$CLIENTS" --seconds "$SECONDS_" --downloads-only "$DL_ONLY" "${BIGARGS[@]}" >"$T/result.json" || rc=$?
RSS=$(awk '/^VmHWM:/ {print $2}' "/proc/$PID/status")
kill -TERM "$PID"
wait "$PID" || { echo "the daemon did not exit 0" >&2; rc=1; }
PID=
jq -c --argjson rss "$RSS" '. + {daemon_peak_rss_kib: $rss}' "$T/result.json" | tee "${OUT:-/dev/null}"
if ! "$HUBZIP" --store "$S" fsck >"$T/fsck" 2>&1; then
	cat "$T/fsck" >&2
	echo "fsck found problems after the load" >&2
	rc=1
fi
if grep -q '"level":"error"' "$T/log"; then
	grep '"level":"error"' "$T/log" | head -5 >&2
	echo "the daemon logged errors" >&2
	rc=1
fi
[ "$rc" -eq 0 ] || { echo "load test failed (errors: $(jq .errors "$T/result.json"))" >&2; exit 1; }
