#!/usr/bin/env bash
# The real npm @huggingface/hub client (pinned) against the daemon on a
# random loopback port: createRepo, uploadFiles of a --mini corpus model,
# listFiles, downloadFile and fileExists of every file, pathsInfo,
# snapshotDownload, byte-exact; the hfjs CLI uploads a directory; a
# second upload of the same files sends no LFS bytes.  Skipped, with a
# message, when node or the npm registry is not reachable.
. "$(dirname "$0")/lib.sh"
need_corpus
. "$(dirname "$0")/hub_js.sh"
MOD=$HUB_JS_MOD

skip() { echo "$(basename "$0"): SKIPPED: $*"; exit 0; }
hub_js_install || skip "$HUB_JS_WHY"

MAX_UPLOAD=256M
. "$(dirname "$0")/daemon.sh"

hz init >/dev/null
start_daemon
export HF_TOKEN HF_CACHE_DIR=$T/cache
HF_TOKEN=$(grep -o 'hf_[A-Za-z0-9]*' "$T/out" | head -1)
SRC=$CORPUS_MINI/upscalerjs/esrgan-slim-x2
JS=$ROOT/tests/integration/js/hub_roundtrip.mjs
puts() { grep -c '"method":"PUT","path":"/api/lfs/objects/' "$T/log" || true; }

if node "$JS" "$MOD" "$U" acme/js1 "$SRC" >"$T/js.out" 2>&1; then ok; else
	fail "the JS client round trip: $(tail -20 "$T/js.out")"; fi
P1=$(puts)
check "the first upload PUT its LFS objects" [ "$P1" -gt 0 ]
# the same files again, to another repo: every object is stored, no PUT
if node "$JS" "$MOD" "$U" acme/js2 "$SRC" >"$T/js.out" 2>&1; then ok; else
	fail "the second JS upload: $(tail -20 "$T/js.out")"; fi
check "the second upload sends no LFS bytes" [ "$(puts)" -eq "$P1" ]
# the hfjs CLI uploads a directory (another corpus repo) to a new dataset
SRC2=$(dirname "$(find "$CORPUS_MINI" -name config.json | sort | sed -n 2p)")
if HF_ENDPOINT=$U timeout 120 node "$MOD/dist/cli.js" upload datasets/acme/cli "$SRC2" -q \
	--token "$HF_TOKEN" >"$T/cli.out" 2>&1; then ok; else
	fail "hfjs upload: $(tail -20 "$T/cli.out")"; fi
n=0
while IFS= read -r f; do
	rel=${f#"$SRC2"/}
	curl -sf -H "Authorization: Bearer $HF_TOKEN" "$U/datasets/acme/cli/resolve/main/$rel" -o "$T/dl" &&
		cmp -s "$T/dl" "$f" || { fail "hfjs upload: $rel is not byte-exact"; continue; }
	n=$((n + 1))
done < <(find "$SRC2" -type f | sort)
check "hfjs upload: every file byte-exact ($n)" [ "$n" -ge 2 ]
stop_daemon
if hz fsck >"$T/fsck" 2>&1; then ok; else fail "fsck: $(cat "$T/fsck")"; fi
done_tests
