#!/usr/bin/env bash
# The S3 blob backend against a real S3 API (s3rver, which checks SigV4
# signatures; or the service in S3_ENDPOINT, as make test-swift sets it):
# init prepares the bucket and records it; the --mini corpus ingested
# (multipart uploads), restored byte-exactly, ranged cats are ranged GETs
# of single blocks, fsck; nothing of the packs stays on the local disk; a
# pack tampered with in the bucket is detected and never served; retries
# on 503 SlowDown, and a failure after them leaves no revision; wrong
# credentials fail; gc deletes packs in the bucket; the daemon serves and
# accepts uploads from the bucket.
. "$(dirname "$0")/lib.sh"
need_corpus
. "$(dirname "$0")/daemon.sh"
. "$(dirname "$0")/s3.sh"
trap 'stop_daemon; stop_s3; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
start_s3

PREFIX=t$$-$RANDOM
# small parts, so that the corpus's packs (a few MB) go up in several
BLOBS="s3://$S3_BUCKET/$PREFIX?endpoint=$S3_ENDPOINT&part_size=1M&multipart_threshold=1M"
nreq() { grep -cE "$1" "$S3_LOG" || true; } # requests s3rver saw, by pattern

check "init --blobs prepares the bucket" hz --blobs "$BLOBS" init >/dev/null
check "init records the backend in the store" grep -qF "s3://$S3_BUCKET/$PREFIX?" "$STORE/blobs.url"
for r in $(corpus_repos); do
	hz ingest "$r" "$CORPUS_MINI/$r" >"$T/commit" 2>"$T/err" || fail "ingest $r: $(cat "$T/err")"
done
check "no pack is kept on the local disk" [ "$(find "$STORE" -name '*.pack*' | wc -l)" -eq 0 ]
s3tool ls "$PREFIX/packs/" >"$T/objects"
check "the packs are in the bucket" [ "$(wc -l <"$T/objects")" -ge 5 ]
npacks_index=$(hz stats --json | jq .counts.packs)
check "one object per pack ($npacks_index)" [ "$(wc -l <"$T/objects")" -eq "$npacks_index" ]
if [ -z "$S3_EXTERNAL" ]; then
	check "packs over 1M went up in parts" [ "$(nreq 'PUT .*partNumber=2&')" -ge 1 ]
	check "multipart uploads were completed" [ "$(nreq '^POST .*uploadId=')" -ge 1 ]
fi

# every file restores byte-exactly (no HUBZIP_BLOBS, no --blobs: the record)
for r in $(corpus_repos); do
	rm -rf "$T/rest"
	hz restore "$r" "$T/rest" 2>"$T/err" || { fail "restore $r: $(cat "$T/err")"; continue; }
	check "restore $r equals the original directory" diff -r "$CORPUS_MINI/$r" "$T/rest"
done

# ranged cats: the same slices as the originals, read with ranged GETs
f=$(tail -n +2 "$CORPUS_MINI/MANIFEST.tsv" | awk -F'\t' '$1 ~ /safetensors$/ {print $6 "\t" $1}' | sort -n | tail -n 1 | cut -f2)
repo=$(tail -n +2 "$CORPUS_MINI/MANIFEST.tsv" | awk -F'\t' -v f="$f" '$1 == f {print $2}')
rel=${f#"$repo"/}
src=$CORPUS_MINI/$f
size=$(stat -c %s "$src")
slice() { python3 -c 'import sys; f = open(sys.argv[1], "rb"); f.seek(int(sys.argv[2])); sys.stdout.buffer.write(f.read(int(sys.argv[3])))' "$@"; }
[ -z "$S3_EXTERNAL" ] && : >"$S3_LOG"
for r in "0-0" "1000-2000" "$((size / 2))-$((size / 2 + 1500000))" "$((size - 7))-$((size - 1))"; do
	a=${r%-*}; b=${r#*-}
	hz cat "$repo" "$rel" --range "$a-$b" >"$T/got" 2>"$T/err" || { fail "cat --range $r: $(cat "$T/err")"; continue; }
	slice "$src" "$a" $((b - a + 1)) >"$T/want"
	check "cat --range $r equals the original slice" cmp -s "$T/got" "$T/want"
done
if [ -z "$S3_EXTERNAL" ]; then
	check "block reads are ranged GETs" [ "$(nreq '^GET .*\.pack bytes=')" -ge 4 ]
	check "no GET of a whole pack" [ "$(nreq '^GET .*\.pack -$')" -eq 0 ]
	# a range inside one block is one GET of at most the read-ahead window
	: >"$S3_LOG"
	hz cat "$repo" "$rel" --range "1000-2000" >/dev/null 2>&1
	max=$(grep -oE 'bytes=[0-9]+-[0-9]+' "$S3_LOG" | tr -- '=-' '  ' |
	      awk '{n = $3 - $2 + 1; if (n > m) m = n} END {print m + 0}')
	check "a small range is one GET ($(nreq '^GET')) of at most 128 KiB ($max bytes)" \
		[ "$(nreq '^GET')" -eq 1 -a "$max" -gt 0 -a "$max" -le 131072 ]
	# a whole file reads ahead: fewer GETs than it has tensors (each its own blocks)
	ntensors=$(python3 -c 'import json, struct, sys; f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]; print(len([k for k in json.loads(f.read(n)) if k != "__metadata__"]))' "$src")
	: >"$S3_LOG"
	hz cat "$repo" "$rel" >"$T/got" 2>/dev/null
	check "a whole file reads ahead ($(nreq '^GET') GETs for $ntensors tensors)" \
		[ "$(nreq '^GET')" -lt "$ntensors" ]
	check "the whole file read ahead is byte-exact" cmp -s "$T/got" "$src"
fi
fsck_clean() { hz fsck >"$T/fsck" 2>&1 || { cat "$T/fsck" >&2; return 1; }; }
check "fsck of the bucket finds nothing" fsck_clean

# a byte flipped in a pack in the bucket: detected, never served
key=$(awk -F'\t' '{print $2 "\t" $1}' "$T/objects" | sort -n | tail -1 | cut -f2)
s3tool get "$key" "$T/pack"
cp "$T/pack" "$T/pack.orig"
off=$(( $(stat -c %s "$T/pack") / 2 ))
python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))' "$T/pack" "$off"
s3tool put "$key" "$T/pack"
fsck_damaged() { ! hz fsck >"$T/fsck" 2>&1 && grep -qE "damaged|mismatch" "$T/fsck"; }
check "fsck finds the tampered pack" fsck_damaged
bad=0
for r in $(corpus_repos); do
	rm -rf "$T/rest"
	hz restore "$r" "$T/rest" >/dev/null 2>"$T/err" || { grep -qE "damaged|mismatch|corrupt" "$T/err" && bad=$((bad + 1)); }
done
check "the restores reading the damaged block fail ($bad)" [ "$bad" -ge 1 ]
# every file the daemon serves whole is either refused or byte-exact
start_daemon
TOKEN=$(grep -o 'hf_[A-Za-z0-9]*' "$T/out" | head -1)
served_bad=0
while IFS=$'\t' read -r mpath mrepo _ _ _ _ _ _ _ _ msha _; do
	if curl -sf "$U/$mrepo/resolve/main/${mpath#"$mrepo"/}" -o "$T/dl" 2>/dev/null &&
	   [ "$(sha "$T/dl")" != "$msha" ]; then
		served_bad=$((served_bad + 1))
	fi
done < <(tail -n +2 "$CORPUS_MINI/MANIFEST.tsv")
check "the daemon never serves damaged bytes as a whole file" [ "$served_bad" -eq 0 ]
stop_daemon
s3tool put "$key" "$T/pack.orig"
check "fsck is clean again once the pack is restored" fsck_clean

# retries: 503 SlowDown answers are retried with backoff
if [ -z "$S3_EXTERNAL" ]; then
	echo 3 >"$S3_DATA/.fail"
	hz cat "$repo" "$rel" --range "0-99" >"$T/got" 2>"$T/err" || fail "cat through 3 SlowDowns: $(cat "$T/err")"
	check "cat retried through 503 SlowDown" cmp -s "$T/got" <(slice "$src" 0 100)
	echo 1000 >"$S3_DATA/.fail"
	nrev=$(hz ls --json | jq length)
	# (1M parts: the pack's upload runs while it is written, and fails there)
	expect_fail "a store that keeps failing fails the ingest" "503|SlowDown" \
		hz --blobs "s3://$S3_BUCKET/$PREFIX?endpoint=$S3_ENDPOINT&retries=2&part_size=1M&multipart_threshold=1M" \
		ingest acme/failing "$CORPUS_MINI/$repo"
	echo 0 >"$S3_DATA/.fail"
	check "a failed upload leaves no repo or revision" [ "$(hz ls --json | jq length)" -eq "$nrev" ]
fi
AWS_SECRET_ACCESS_KEY=wrong expect_fail "a wrong secret key is refused" "SignatureDoesNotMatch|AccessDenied|403" \
	hz ingest acme/nokey "$CORPUS_MINI/$repo"
expect_fail "another bucket or prefix than the store's is refused" "keeps its packs in" \
	hz --blobs "s3://$S3_BUCKET/other?endpoint=$S3_ENDPOINT" ls
expect_fail "no credentials: a clear message" "AWS_ACCESS_KEY_ID" \
	env -u AWS_ACCESS_KEY_ID "$HUBZIP" --store "$STORE" ls

# uploads and downloads through the daemon
start_daemon
up=$T/new.bin # new bytes: a new pack to upload
head -c 300000 /dev/urandom >"$up"
req POST "$U/api/v1/repos" -H "Authorization: Bearer $TOKEN" -d '{"repo": "acme/up"}'
expect "create a repo through the daemon" 201
req PUT "$U/api/v1/repos/acme/up/files/main/new.bin" -H "Authorization: Bearer $TOKEN" -T "$up"
expect "upload through the daemon" 201
req GET "$U/acme/up/resolve/main/new.bin"
check "download of the upload is byte-exact" cmp -s "$T/body" "$up"
req GET "$U/acme/up/resolve/main/new.bin" -H "Range: bytes=100-299"
check "a ranged download is the slice" cmp -s "$T/body" <(slice "$up" 100 200)
curl -s "$U/metrics" >"$T/metrics"
s3gets=$(awk '/^hubzip_blob_requests_total\{backend="s3",op="get"\}/ {print $2}' "$T/metrics")
s3puts=$(awk '/^hubzip_blob_requests_total\{backend="s3",op="put"\}/ {print $2}' "$T/metrics")
check "/metrics counts the daemon's S3 GETs ($s3gets) and PUTs ($s3puts)" \
	[ "${s3gets:-0}" -ge 1 -a "${s3puts:-0}" -ge 1 ]
stop_daemon

# gc deletes packs in the bucket
before=$(s3tool ls "$PREFIX/packs/" | wc -l)
for r in $(corpus_repos); do hz rm "$r" >/dev/null; done
hz gc >"$T/gc" 2>&1 || fail "gc: $(cat "$T/gc")"
after=$(s3tool ls "$PREFIX/packs/" | wc -l)
check "gc deleted packs in the bucket ($before -> $after)" [ "$after" -lt "$before" ]
check "gc left one object per live pack" [ "$after" -eq "$(hz stats --json | jq .counts.packs)" ]
check "fsck after gc" fsck_clean
req_after() { hz cat acme/up new.bin >"$T/got" && cmp -s "$T/got" "$up"; }
check "the repo gc kept reads back" req_after
# a stray object no row names is not touched while it is young (a live
# session's upload is one until its commit)
echo stray >"$T/stray"
s3tool put "$PREFIX/packs/00/00000000000000000000000000000000.pack" "$T/stray"
hz gc >/dev/null 2>&1
check "gc keeps a young stray pack" s3tool ls "$PREFIX/packs/00/" | grep -q 0000
done_tests
