#!/usr/bin/env bash
# Damage stored bytes under a running daemon: a damaged block is never
# served (a JSON 500 before any byte when the damage is in the first
# bufferful, else a body cut short whose bytes are a correct prefix), the
# admin fsck (POST /api/admin/fsck, admins only) and the background scrub
# name the damaged files, the scrub's metrics and log say so; and gc on
# demand (POST /api/admin/gc).  Bit flips, a truncated and a deleted pack,
# a corrupted index row.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"
need_corpus
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI missing (deploy/install-deps.sh --test)" >&2; exit 1; }

repo=upscalerjs/esrgan-slim-x4
src=$CORPUS_MINI/$repo
hz init >/dev/null
hz ingest "$repo" "$src" >/dev/null 2>&1
hz ingest other/repo "$CORPUS_MINI/mediapipe/selfie-segmentation" >/dev/null 2>&1
# a 6 MiB opaque file: six 1 MiB blocks, more than one response buffer
python3 -c 'import random,sys; r=random.Random(6); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(6<<20)))' >"$T/big.bin"
mkdir -p "$T/bigrepo" && cp "$T/big.bin" "$T/bigrepo/big.bin"
hz ingest acme/big "$T/bigrepo" >/dev/null 2>&1
ADMIN=$(hz token create ops --scope write)	# write, every namespace: an admin
NSW=$(hz token create nswrite --scope write --namespace acme)
GR=$(hz token create globalread --scope read)
DAEMON_ARGS="--scrub-interval 1 --gc-interval off" start_daemon
AUTH=(-H "Authorization: Bearer $ADMIN")

# runs an admin fsck and waits for its result in $T/fsck.json
admin_fsck() {
	local id
	req POST "$U/api/admin/fsck" "${AUTH[@]}"
	[ "$CODE" = 202 ] || { fail "POST /api/admin/fsck: $CODE $(head -c 200 "$T/body")"; return; }
	id=$(jq .id "$T/body")
	for _ in $(seq 200); do
		req GET "$U/api/admin/fsck" "${AUTH[@]}"
		if [ "$(jq -r .state "$T/body")" != queued ] && [ "$(jq -r .state "$T/body")" != running ] &&
			[ "$(jq .last.id "$T/body")" = "$id" ]; then
			jq .last "$T/body" >"$T/fsck.json"
			return
		fi
		sleep 0.05
	done
	fail "admin fsck $id did not finish"
}
# waits for a scrub that started after now; its result in $T/scrub.json
next_scrub() {
	local id
	req GET "$U/api/admin/scrub" "${AUTH[@]}"
	id=$(jq .id "$T/body")
	for _ in $(seq 100); do
		req GET "$U/api/admin/scrub" "${AUTH[@]}"
		if [ "$(jq .last.id "$T/body")" -gt $((id + 0)) ] 2>/dev/null; then
			jq .last "$T/body" >"$T/scrub.json"
			return
		fi
		sleep 0.05
	done
	fail "no scrub ran"
}

# who may
req POST "$U/api/admin/fsck"
expect "admin fsck without a token" 401 Unauthorized
req POST "$U/api/admin/fsck" -H "Authorization: Bearer $NSW"
expect "admin fsck with a write token of one namespace" 403 Forbidden
req GET "$U/api/admin/scrub" -H "Authorization: Bearer $GR"
expect "scrub status with a read token" 403 Forbidden
req DELETE "$U/api/admin/fsck" "${AUTH[@]}"
expect "DELETE /api/admin/fsck" 405 MethodNotAllowed

admin_fsck
jqt() { # description file filter: the jq filter must be true
	if jq -e "$3" "$2" >/dev/null 2>&1; then ok; else fail "$1: $3 on $(head -c 400 "$2")"; fi
}
jqt "admin fsck of a sound store" "$T/fsck.json" \
	'.problems == 0 and .files_checked >= 4 and .damaged == [] and .error == null'
next_scrub
jqt "scrub of a sound store" "$T/scrub.json" '.kind == "scrub" and .problems == 0'

# the largest tensor block of model.safetensors (the whole file fits in one
# response buffer), and the fifth block of big.bin
blk() { # repo path raw_off|largest -> pack off len
	local order="b.enc_len DESC" where=""
	[ "$3" = largest ] || { order="b.raw_off"; where="AND b.raw_off = $3"; }
	sqlite3 -separator ' ' "$STORE/hubzip.db" "
		SELECT p.name, b.pack_off, b.enc_len FROM revision_files rf
		JOIN revisions v ON v.id = rf.revision_id JOIN repos r ON r.id = v.repo_id
		JOIN segments s ON s.file_id = rf.file_id JOIN blocks b ON b.object_id = s.object_id
		JOIN packs p ON p.id = b.pack_id
		WHERE r.name = '$1' AND rf.path = '$2' $where ORDER BY $order LIMIT 1"
}
read -r pack off len < <(blk "$repo" model.safetensors largest)
read -r bpack boff blen < <(blk acme/big big.bin $((4 << 20)))
pf=$STORE/objects/packs/${pack:0:2}/$pack.pack
bpf=$STORE/objects/packs/${bpack:0:2}/$bpack.pack
[ -f "$pf" ] && [ -f "$bpf" ] || { fail "pack files not found"; done_tests; }
cp "$pf" "$T/pack.orig"
cp "$bpf" "$T/bpack.orig"
chmod u+w "$pf" "$bpf"
flip() { # file offset
	python3 - "$1" "$2" <<'PY'
import sys
p, o = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0x55]))
PY
}
# GET url: a JSON 500 Corrupt before any byte
refused() { # description url [curl args]
	local what=$1 url=$2; shift 2
	req GET "$url" "$@"
	expect "$what: 500 Corrupt" 500 Corrupt
	check "$what: no file byte in the body" bash -c "! grep -q 'safetensors\|HZB1' '$T/body'"
}
# the damaged file, and only it, named by the admin fsck and the scrub
named() { # description
	admin_fsck
	jqt "$1: the admin fsck names the damaged file" "$T/fsck.json" \
		"(.problems > 0) and (.damaged | map(test(\"^$repo@[0-9a-f]{40}:model.safetensors\$\")) | any)
		 and .repos == [\"$repo\"]"
	jqt "$1: the admin fsck does not blame the other repos" "$T/fsck.json" \
		'(.damaged | map(test("^(other/repo|acme/big)@")) | any) | not'
	next_scrub
	jqt "$1: the scrub names it too" "$T/scrub.json" \
		"(.problems > 0) and (.damaged | map(startswith(\"$repo@\")) | any)"
}
RES=$U/$repo/resolve/main/model.safetensors
NAT=$U/api/v1/repos/$repo/files/main/model.safetensors

flip "$pf" $((off + 24 + len / 2))
refused "payload bit flip, hub resolve" "$RES"
refused "payload bit flip, native download" "$NAT"
refused "payload bit flip, a range over the block" "$RES" -r 0-
named "payload bit flip"
check "the scrub logged what it found" grep -q '"scrub: damaged: upscalerjs/esrgan-slim-x4@' "$T/log"
curl -s "$U/metrics" >"$T/metrics"
check "hubzip_scrub_last_problems counts them" \
	awk '$1 == "hubzip_scrub_last_problems" && $2 > 0 { f = 1 } END { exit !f }' "$T/metrics"
req GET "$U/other/repo/resolve/main/model.safetensors"
check "the other repo is still served" cmp -s "$T/body" "$CORPUS_MINI/mediapipe/selfie-segmentation/model.safetensors"

# (packs are repaired in place: the daemon's threads keep packs open)
cat "$T/pack.orig" >"$pf"
flip "$pf" $((off + 16))
refused "block checksum bit flip" "$RES"
cat "$T/pack.orig" >"$pf"
truncate -s $((off + 10)) "$pf"
refused "truncated pack" "$RES"
named "truncated pack"
cat "$T/pack.orig" >"$pf"
rm -f "$pf"
# a thread that has the pack open still reads its (sound) bytes; the
# others cannot open it: never a damaged byte either way
for i in 1 2 3 4 5 6; do
	req GET "$RES"
	if [ "$CODE" = 200 ]; then
		check "deleted pack: a 200 is the file ($i)" cmp -s "$T/body" "$src/model.safetensors"
	else
		expect "deleted pack: else 500 Corrupt ($i)" 500 Corrupt
	fi
done
named "deleted pack"
jqt "deleted pack: fsck says it is missing" "$T/fsck.json" \
	"(.messages | map(test(\"pack $pack: missing\")) | any)"
cp "$T/pack.orig" "$pf"
sqlite3 "$STORE/hubzip.db" "UPDATE blocks SET checksum = checksum + 1 WHERE pack_off = $off AND pack_id = (SELECT id FROM packs WHERE name = '$pack')"
refused "corrupted index row" "$RES"
named "corrupted index row"
sqlite3 "$STORE/hubzip.db" "UPDATE blocks SET checksum = checksum - 1 WHERE pack_off = $off AND pack_id = (SELECT id FROM packs WHERE name = '$pack')"
req GET "$RES"
expect "repaired: served again" 200
check "repaired: byte for byte" cmp -s "$T/body" "$src/model.safetensors"

# damage past the first buffer of a large file: the body is cut short,
# and what came is a correct prefix
flip "$bpf" $((boff + 24 + blen / 2))
curl -s -o "$T/cut" -w '%{http_code}' "$U/api/v1/repos/acme/big/files/main/big.bin" >"$T/code" 2>/dev/null || true
check "late damage: the status was sent (200)" [ "$(cat "$T/code")" = 200 ]
n=$(stat -c %s "$T/cut")
check "late damage: the body is cut short ($n bytes)" [ "$n" -lt $((6 << 20)) ]
check "late damage: before the damaged block" [ "$n" -le $((4 << 20)) ]
check "late damage: what came is a correct prefix" cmp -s "$T/cut" <(head -c "$n" "$T/big.bin")
check "late damage: the server logged it" grep -q "cannot read '/api/v1/repos/acme/big/files/main/big.bin'" "$T/log"
req GET "$U/api/v1/repos/acme/big/files/main/big.bin" -r 0-1048575
expect "late damage: a range before it is served" 206
check "late damage: a range before it is right" cmp -s "$T/body" <(head -c 1048576 "$T/big.bin")
cat "$T/bpack.orig" >"$bpf"
admin_fsck
jqt "all repaired: the admin fsck is clean" "$T/fsck.json" '.problems == 0'

# gc on demand: a deleted repo's pack goes, in the daemon's gc thread
req DELETE "$U/api/v1/repos/acme/big" "${AUTH[@]}"
expect "delete acme/big" 200
run_gc() { # POST /api/admin/gc and wait: the status in $T/gc.json
	req POST "$U/api/admin/gc" "${AUTH[@]}"
	expect "POST /api/admin/gc" 202
	for _ in $(seq 100); do
		req GET "$U/api/admin/gc" "${AUTH[@]}"
		[ "$(jq -r .state "$T/body")" = done ] && break
		sleep 0.05
	done
	cp "$T/body" "$T/gc.json"
}
run_gc
jqt "the gc ran and deleted the big file" "$T/gc.json" \
	'.state == "done" and .id == 1 and .last.files_deleted == 1 and .interval == 0'
# its pack goes now, or, if a scrub held the fsck lock, at a later gc: the
# first gc counts it as deferred; the next ones find it as an orphan, and
# while the scrub still runs (slow under ASan) they defer the sweep again
n=1
if [ -e "$bpf" ]; then
	jqt "a pack left by gc 1 waits for the scrub" "$T/gc.json" '.last.packs_deferred == 1'
fi
while [ -e "$bpf" ] && [ $n -lt 60 ]; do
	sleep 0.2
	run_gc
	n=$((n + 1))
done
check "its pack file is gone" [ ! -e "$bpf" ]
curl -s "$U/metrics" >"$T/metrics"
check "hubzip_gc_runs_total counts the gc runs" grep -qx "hubzip_gc_runs_total $n" "$T/metrics"
stop_daemon
check "the daemon stopped" [ -z "$PID" ]
check "fsck is clean at the end" bash -c "\"$HUBZIP\" --store '$STORE' fsck >/dev/null"
done_tests
