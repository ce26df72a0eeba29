#!/bin/sh
# `make run`: initialise ./data if needed (with the --mini corpus ingested,
# so there is something to download), then run the daemon in the foreground.
# On the first start `hubzip serve` prints an admin token, once.
# Usage: run.sh HUBZIP CORPUS_MINI_DIR   (HUBZIP_STORE, HUBZIP_LISTEN, ... apply)
set -eu
HUBZIP=$1
CORPUS=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STORE=${HUBZIP_STORE:-./data}

if [ ! -f "$STORE/hubzip.db" ]; then
	"$HUBZIP" --store "$STORE" init
	if [ ! -f "$CORPUS/MANIFEST.tsv" ] && [ -x "$ROOT/../shared/corpus/build.sh" ]; then
		echo "run: building the --mini corpus into $CORPUS" >&2
		"$ROOT/../shared/corpus/build.sh" --mini "$CORPUS" >&2 || true
	fi
	if [ -f "$CORPUS/MANIFEST.tsv" ]; then
		echo "run: ingesting the --mini corpus into $STORE" >&2
		for repo in $(tail -n +2 "$CORPUS/MANIFEST.tsv" | cut -f2 | sort -u); do
			"$HUBZIP" --store "$STORE" ingest "$repo" "$CORPUS/$repo" >/dev/null 2>&1
		done
		"$HUBZIP" --store "$STORE" stats | tail -8
	fi
fi
echo "run: Ctrl-C stops the daemon" >&2
shift 2
exec "$HUBZIP" --store "$STORE" serve "$@"
