#!/usr/bin/env bash
# The file blob backend at another directory than DIR/objects (--blobs
# file:///PATH): init records it, the packs go there and nowhere else,
# everything restores byte-exactly without --blobs (the record), a --blobs
# naming another directory is refused, gc deletes the dead packs there, and
# a store opened with the default location keeps its packs in DIR/objects
# (no record written).
. "$(dirname "$0")/lib.sh"
need_corpus

PACKS=$T/elsewhere/objects
check "init --blobs file:///PATH" hz --blobs "file://$PACKS" init >/dev/null
check "init records the location" grep -qx "file://$PACKS" "$STORE/blobs.url"
repos=$(corpus_repos | head -4)
for r in $repos; do
	hz ingest "$r" "$CORPUS_MINI/$r" >/dev/null 2>"$T/err" || fail "ingest $r: $(cat "$T/err")"
done
check "the packs are under PATH/packs/XX/" [ "$(find "$PACKS/packs" -name '*.pack' | wc -l)" -ge 1 ]
check "no pack in the store's own objects/" [ "$(find "$STORE/objects" -name '*.pack' | wc -l)" -eq 0 ]
for r in $repos; do
	rm -rf "$T/rest"
	hz restore "$r" "$T/rest" >/dev/null 2>"$T/err" || { fail "restore $r: $(cat "$T/err")"; continue; }
	check "restore $r equals the original" diff -r "$CORPUS_MINI/$r" "$T/rest"
done
check "fsck" hz fsck >/dev/null
expect_fail "another directory is refused" "keeps its packs in" hz --blobs "file://$T/other" ls
first=$(echo "$repos" | head -1)
before=$(find "$PACKS/packs" -name '*.pack' | wc -l)
hz rm "$first" >/dev/null
hz gc >/dev/null 2>&1 || fail "gc"
check "gc deletes dead packs there ($before -> $(find "$PACKS/packs" -name '*.pack' | wc -l))" \
	[ "$(find "$PACKS/packs" -name '*.pack' | wc -l)" -lt "$before" ]
check "fsck after gc" hz fsck >/dev/null

# the default location: no record, the layout of docs/format.md
S2=$T/plain
"$HUBZIP" --store "$S2" --blobs "file://$(realpath "$T")/plain/objects" init >/dev/null 2>&1 ||
	fail "init with the default location spelled out"
check "the default location is not recorded" [ ! -e "$S2/blobs.url" ]
"$HUBZIP" --store "$S2" ingest "$first" "$CORPUS_MINI/$first" >/dev/null 2>&1 || fail "ingest (default)"
check "default: packs in DIR/objects/packs/XX/NAME.pack" \
	[ "$(find "$S2/objects/packs" -mindepth 2 -maxdepth 2 -regex '.*/[0-9a-f][0-9a-f]/[0-9a-f]*\.pack' | wc -l)" -ge 1 ]
# a store with local packs is not switched to another place behind its back
expect_fail "init --blobs on a store with local packs is refused" "move them" \
	"$HUBZIP" --store "$S2" --blobs "file://$T/moved" init
check "and nothing was recorded" [ ! -e "$S2/blobs.url" ]
done_tests
