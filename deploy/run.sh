#!/bin/sh
# `make run`: until the daemon lands, ingest the --mini corpus into ./data and
# print what it saved.  Usage: run.sh HUBZIP CORPUS_MINI_DIR
set -eu
HUBZIP=$1
CORPUS=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STORE=${HUBZIP_STORE:-./data}

if [ ! -f "$CORPUS/MANIFEST.tsv" ]; then
	echo "run: building the --mini corpus into $CORPUS" >&2
	"$ROOT/../shared/corpus/build.sh" --mini "$CORPUS" >&2
fi
"$HUBZIP" --store "$STORE" init
for repo in $(tail -n +2 "$CORPUS/MANIFEST.tsv" | cut -f2 | sort -u); do
	printf '%-48s ' "$repo"
	"$HUBZIP" --store "$STORE" ingest "$repo" "$CORPUS/$repo" 2>/dev/null
done
"$HUBZIP" --store "$STORE" stats
