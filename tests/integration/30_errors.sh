#!/usr/bin/env bash
# Bad input gets a clear error, a non-zero exit, and leaves the store unchanged.
. "$(dirname "$0")/lib.sh"
need_corpus

expect_fail "a missing store" "no store" hz ls
hz init >/dev/null
hz ingest good/repo "$CORPUS_MINI/mediapipe/selfie-segmentation" >/dev/null 2>&1
snapshot() {
	{ hz stats --json; hz ls; ls -R "$STORE/objects"; } >"$1" 2>&1
}
snapshot "$T/before"

mk() { # name json [extra bytes]: a safetensors file with that header
	python3 - "$T/bad/$1" "$2" "${3:-0}" <<'PY'
import struct, sys
p, h, extra = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
with open(p, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"\0" * extra)
PY
}
mkdir -p "$T/bad"
mk badjson.safetensors '{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]' 8
mk dtype.safetensors '{"w": {"dtype": "F12", "shape": [2], "data_offsets": [0, 8]}}' 8
mk size.safetensors '{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}' 8
mk overlap.safetensors '{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}' 12
mk past.safetensors '{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}' 8
printf '\xff\xff\xff\xff\xff\xff\xff\x7f{}' >"$T/bad/huge.safetensors"
printf 'abc' >"$T/bad/short.safetensors"

expect_fail "invalid JSON" "badjson.safetensors.*invalid json" hz ingest bad/repo "$T/bad/badjson.safetensors"
expect_fail "unknown dtype" "dtype.safetensors.*(F12|dtype)" hz ingest bad/repo "$T/bad/dtype.safetensors"
expect_fail "size mismatch" "size.safetensors.*'w'" hz ingest bad/repo "$T/bad/size.safetensors"
expect_fail "overlap" "overlap" hz ingest bad/repo "$T/bad/overlap.safetensors"
expect_fail "offsets past EOF" "past.safetensors" hz ingest bad/repo "$T/bad/past.safetensors"
expect_fail "huge header length" "huge.safetensors" hz ingest bad/repo "$T/bad/huge.safetensors"
expect_fail "file too short" "short.safetensors.*8-byte" hz ingest bad/repo "$T/bad/short.safetensors"
# one bad file among good ones: nothing of the batch is stored
mkdir -p "$T/mixed" && cp "$CORPUS_MINI/upscalerjs/esrgan-slim-x2/config.json" "$T/bad/size.safetensors" "$T/mixed/"
expect_fail "a batch with one bad file" "size.safetensors" hz ingest good/repo "$T/mixed"
expect_fail "invalid repo id" "invalid repo id" hz ingest "../evil" "$T/mixed/config.json"
expect_fail "invalid repo id (two slashes)" "invalid repo id" hz ingest "a/b/c" "$T/mixed/config.json"
expect_fail "invalid branch" "invalid branch" hz ingest "good/repo@a..b" "$T/mixed/config.json"
expect_fail "missing path" "cannot stat" hz ingest good/repo "$T/does-not-exist"
expect_fail "unknown command" "unknown command" hz frobnicate
snapshot "$T/after"
check "the store is unchanged by refused input" cmp -s "$T/before" "$T/after"
check "no temporary packs are left behind" [ -z "$(ls -A "$STORE/objects/tmp")" ]
check "fsck is clean" bash -c "\"$HUBZIP\" --store '$STORE' fsck >/dev/null"

# a database from a newer hubzip is refused, not modified
command -v sqlite3 >/dev/null && {
	sqlite3 "$STORE/hubzip.db" "PRAGMA user_version = 999"
	expect_fail "a newer schema is refused" "newer than this hubzip" hz ls
	check "the newer schema is left as it was" [ "$(sqlite3 "$STORE/hubzip.db" 'PRAGMA user_version')" = 999 ]
}
done_tests
