#!/usr/bin/env bash
# Ingest the --mini corpus, restore every repo, compare every file's sha256
# with MANIFEST.tsv; ranges; listing; stats arithmetic; deduplication.
. "$(dirname "$0")/lib.sh"
need_corpus

check "init" hz init >/dev/null
for r in $(corpus_repos); do
	hz ingest "$r" "$CORPUS_MINI/$r" >"$T/commit" 2>/dev/null || fail "ingest $r"
	check "ingest $r prints a commit id" grep -qE '^[0-9a-f]{40}$' "$T/commit"
done

# every file restores byte-exactly
for r in $(corpus_repos); do
	rm -rf "$T/out"
	hz restore "$r" "$T/out" 2>/dev/null || { fail "restore $r"; continue; }
	while IFS=$'\t' read -r path repo _ _ _ bytes _ _ _ _ sha _; do
		[ "$repo" = "$r" ] || continue
		rel=${path#"$r"/}
		got=$(sha256sum "$T/out/$rel" | cut -c1-64)
		check "restore $path sha256" [ "$got" = "$sha" ]
		check "restore $path size" [ "$(stat -c %s "$T/out/$rel")" = "$bytes" ]
	done < <(tail -n +2 "$CORPUS_MINI/MANIFEST.tsv")
	# every other file (config.json...) too, and no stray files (e.g. temporaries)
	check "restore $r equals the original directory" diff -r "$CORPUS_MINI/$r" "$T/out"
done

# ranges: cat --range equals the same slice of the original
# the largest safetensors file, so that ranges cross blocks and tensors
f=$(tail -n +2 "$CORPUS_MINI/MANIFEST.tsv" | awk -F'\t' '$1 ~ /safetensors$/ {print $6 "\t" $1}' | sort -n | tail -n 1 | cut -f2)
repo=$(tail -n +2 "$CORPUS_MINI/MANIFEST.tsv" | awk -F'\t' -v f="$f" '$1 == f {print $2}')
rel=${f#"$repo"/}
src=$CORPUS_MINI/$f
size=$(stat -c %s "$src")
hlen=$(( $(od -An -t u8 -N 8 "$src") + 8 ))
slice() { python3 -c 'import sys; f = open(sys.argv[1], "rb"); f.seek(int(sys.argv[2])); sys.stdout.buffer.write(f.read(int(sys.argv[3]) - int(sys.argv[2]) + 1))' "$src" "$1" "$2"; }
for r in "0-0" "0-7" "8-$((hlen - 1))" "$((hlen - 1))-$hlen" "$hlen-$((hlen + 1048576))" \
	"$((size / 2))-$((size / 2 + 3000000))" "$((size - 1))-$((size - 1))" "0-$((size - 1))"; do
	a=${r%-*}; b=${r#*-}
	[ "$b" -ge "$size" ] && b=$((size - 1))
	hz cat "$repo" "$rel" --range "$a-$b" >"$T/got" 2>"$T/err" || { fail "cat --range $r: $(cat "$T/err")"; continue; }
	slice "$a" "$b" >"$T/want"
	check "cat --range $r equals the original slice" cmp -s "$T/got" "$T/want"
done
hz cat "$repo" "$rel" --range "-100" >"$T/got"
check "cat --range -100 is the last 100 bytes" cmp -s "$T/got" <(tail -c 100 "$src")
hz cat "$repo" "$rel" --range "$((size - 10))-" >"$T/got"
check "cat --range A- is the tail" cmp -s "$T/got" <(tail -c 10 "$src")
hz cat "$repo@main" "$rel" >"$T/got"
check "cat of a whole file" cmp -s "$T/got" "$src"
expect_fail "range past the end" "outside the file" hz cat "$repo" "$rel" --range "$size-$((size + 5))"
expect_fail "malformed range" "invalid range" hz cat "$repo" "$rel" --range "abc"
expect_fail "missing file" "no file" hz cat "$repo" "nope.bin"
expect_fail "missing repo" "not found" hz cat "nobody/none" "x"
expect_fail "missing revision" "not found" hz cat "$repo@deadbeefdeadbeef" "$rel"

# a commit id (and a prefix of it) resolves like the branch
commit=$(hz ls --json | python3 -c "import json,sys; print([r['main'] for r in json.load(sys.stdin) if r['repo']=='$repo'][0])")
hz cat "$repo@$commit" "$rel" >"$T/got"
check "cat at a full commit id" cmp -s "$T/got" "$src"
hz cat "$repo@${commit:0:8}" "$rel" >"$T/got"
check "cat at a commit prefix" cmp -s "$T/got" "$src"

# listing
check "ls lists every repo" [ "$(hz ls | wc -l)" = "$(corpus_repos | wc -l)" ]
hz ls "$repo" >"$T/ls"
check "ls REPO shows the file with its sha256" grep -q "$(sha256sum "$src" | cut -c1-64) .* $rel\$" "$T/ls"

# stats: logical = sum of the original sizes; stages add up
hz stats --json >"$T/stats.json"
python3 - "$T/stats.json" "$CORPUS_MINI" <<'PY' || fail "stats arithmetic"
import json, os, sys
st = json.load(open(sys.argv[1]))
rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(sys.argv[2], "MANIFEST.tsv"))][1:]
logical = sum(os.path.getsize(os.path.join(dp, f)) for r in {r[1] for r in rows}
              for dp, _, fs in os.walk(os.path.join(sys.argv[2], r)) for f in fs)
assert st["logical_bytes"] == logical, (st["logical_bytes"], logical)
s = st["stages"]
assert s["file_dedup"] + s["tensor_dedup"] + s["delta"] + s["coding"] == st["logical_bytes"] - st["physical_bytes"], s
assert sum(r["logical_bytes"] for r in st["repos"]) == st["logical_bytes"]
assert sum(r["physical_bytes"] for r in st["repos"]) == st["physical_bytes"]
assert st["physical_bytes"] < st["logical_bytes"] * 0.9, "expected savings on the mini corpus"
# duplicates cost nothing: upstream duplicate files are deduplicated
assert s["file_dedup"] > 0 and s["tensor_dedup"] > 0 and s["coding"] > 0, s
# physical counts encoded blocks; the packs hold at most that plus headers
assert st["physical_bytes"] <= st["counts"]["pack_bytes"] <= st["physical_bytes"] + 64 * st["counts"]["packs"], st["counts"]
print("stats ok: logical %d physical %d (%.2fx)" % (st["logical_bytes"], st["physical_bytes"], st["logical_bytes"] / st["physical_bytes"]))
PY
ok

# re-ingesting known content under a new name costs only metadata
before=$(hz stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["pack_bytes"])')
hz ingest copy/again "$CORPUS_MINI/$repo" >/dev/null 2>&1
after=$(hz stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["pack_bytes"])')
check "a duplicate repo adds no pack bytes" [ "$before" = "$after" ]

# a second revision: the tree keeps the other files, ls at the old commit still works
echo '{"note": "v2"}' >"$T/extra.json"
c2=$(hz ingest "$repo" "$T/extra.json" -m "add extra" 2>/dev/null)
check "new revision has the added file" bash -c "\"$HUBZIP\" --store '$STORE' ls '$repo' | grep -q ' extra.json\$'"
check "new revision keeps the old files" bash -c "\"$HUBZIP\" --store '$STORE' ls '$repo@$c2' | grep -q ' $rel\$'"
check "old revision does not have the new file" bash -c "! \"$HUBZIP\" --store '$STORE' ls '$repo@$commit' | grep -q ' extra.json\$'"

check "fsck is clean" bash -c "\"$HUBZIP\" --store '$STORE' fsck >'$T/fsck' 2>&1"
done_tests
