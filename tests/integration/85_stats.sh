#!/usr/bin/env bash
# The storage statistics (issue 5; docs/api.md "Storage statistics"): ingest
# the whole --mini corpus (CLI and HTTP), then check the accounting's
# invariants with jq: totals equal the sum over repos, logical bytes equal
# the original file sizes, physical bytes equal the pack files on disk less
# the documented pack overhead, the stages add up at every level, revisions
# add up to their repo and members to their family; the ingest history; a
# private repo is never named to anonymous callers; after deleting a repo
# and gc the numbers move consistently and fsck is clean; fsck notices a
# tampered cache.
. "$(dirname "$0")/lib.sh"
need_corpus
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq is needed" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "sqlite3 is needed" >&2; exit 1; }
. "$(dirname "$0")/daemon.sh"

dir_bytes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
disk_pack_bytes() { find "$STORE/objects/packs" -name '*.pack' -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
# jqt DESCRIPTION FILE FILTER: the jq filter must be true on the file
jqt() { check "$1" jq -e "$3" "$2" >/dev/null; }

hz init >/dev/null
start_daemon
ADMIN=$(grep -o 'hf_[A-Za-z0-9]*' "$T/out" | head -1)
AUTH=(-H "Authorization: Bearer $ADMIN")

# ---- ingest: every repo with the CLI, but one through HTTP (one multipart
# commit), a second revision of one repo, and a private repo
HTTP_REPO=upscalerjs/esrgan-slim-x2
want_logical=0
commits=0
for r in $(corpus_repos); do
	if [ "$r" = "$HTTP_REPO" ]; then
		req POST "$U/api/v1/repos" "${AUTH[@]}" -d "{\"repo\": \"$r\"}"
		expect "create $r" 201
		args=()
		while IFS= read -r f; do args+=(-F "${f#"$CORPUS_MINI/$r/"}=@$f"); done \
			< <(find "$CORPUS_MINI/$r" -type f | sort)
		req POST "$U/api/v1/repos/$r/commit/main" "${AUTH[@]}" "${args[@]}"
		expect "commit $r over HTTP" 201
	else
		hz ingest "$r" "$CORPUS_MINI/$r" >/dev/null 2>&1 || fail "ingest $r"
	fi
	want_logical=$((want_logical + $(dir_bytes "$CORPUS_MINI/$r")))
	commits=$((commits + 1))
done
# a second revision: the tree is the first plus one file, all counted again
R2=realesrgan/animevideov3-x2
echo '{"note": "second revision"}' >"$T/extra.json"
hz ingest "$R2" "$T/extra.json" >/dev/null 2>&1 || fail "second revision of $R2"
want_logical=$((want_logical + $(dir_bytes "$CORPUS_MINI/$R2") + $(stat -c %s "$T/extra.json")))
commits=$((commits + 1))
# a private repo, uploaded over HTTP
SECRET_SRC=$CORPUS_MINI/mediapipe/selfie-segmentation
req POST "$U/api/v1/repos" "${AUTH[@]}" -d '{"repo": "hidden/secret-model", "private": true}'
expect "create a private repo" 201
while IFS= read -r f; do
	req PUT "$U/api/v1/repos/hidden/secret-model/files/main/${f#"$SECRET_SRC/"}" "${AUTH[@]}" -T "$f"
	expect "upload to the private repo" 201
	commits=$((commits + 1))
done < <(find "$SECRET_SRC" -type f | sort)
# file by file: revision k holds the first k files
k=0
while IFS= read -r f; do
	k=$((k + 1))
	want_logical=$((want_logical + $(find "$SECRET_SRC" -type f | sort | head -n "$k" | xargs stat -c %s | awk '{s += $1} END {print s}')))
done < <(find "$SECRET_SRC" -type f | sort)
nrepos=$(( $(corpus_repos | wc -l) + 1 ))

# ---- the store as a whole, for a token that reads everything
req GET "$U/api/stats" "${AUTH[@]}"
expect "GET /api/stats" 200
cp "$T/body" "$T/admin.json"
S=$T/admin.json
jqt "every repo is listed, nothing left in rest" "$S" ".rest.repos == 0 and (.repos | length) == $nrepos"
jqt "counts.repos" "$S" ".counts.repos == $nrepos"
check "logical bytes are the original file sizes ($want_logical)" \
	[ "$(jq .logical_bytes "$S")" = "$want_logical" ]
jqt "totals are the sum over repos (logical, physical)" "$S" \
	'.logical_bytes == ([.repos[].logical_bytes] | add) and .physical_bytes == ([.repos[].physical_bytes] | add)'
jqt "every stage of the totals is the sum over repos" "$S" \
	'. as $s | all(["file_dedup", "tensor_dedup", "delta", "coding"][]; . as $k | $s.stages[$k] == ([$s.repos[].stages[$k]] | add))'
jqt "the stages add up to logical - physical (store)" "$S" \
	'(.stages | add) == .logical_bytes - .physical_bytes'
jqt "the stages add up to logical - physical (every repo)" "$S" \
	'all(.repos[]; (.stages | add) == .logical_bytes - .physical_bytes)'
jqt "the stages add up to logical - physical (every family)" "$S" \
	'all(.families[]; (.stages | add) == .logical_bytes - .physical_bytes)'
jqt "tensor dedup, delta and coding all saved something" "$S" \
	'.stages.tensor_dedup > 0 and .stages.delta > 0 and .stages.coding > 0 and .stages.file_dedup > 0'
jqt "the families are found, with their members" "$S" \
	'.counts.families == (.families | length) and .counts.families >= 5 and all(.families[]; (.repos | length) == .members and .hidden_members == 0)'
jqt "a family's bytes are the sum of its members'" "$S" \
	'. as $s | all(.families[]; .logical_bytes == ([.repos[].logical_bytes] | add) and .physical_bytes == ([.repos[].physical_bytes] | add))'
jqt "a repo's family is the family that lists it" "$S" \
	'. as $s | all(.families[]; . as $f | all(.repos[]; .repo as $r | ($s.repos[] | select(.repo == $r) | .family) == $f.family))'
jqt "revisions counted" "$S" ".counts.revisions == $commits"
# physical = the pack files on disk less the pack headers (nothing is dead yet)
disk=$(disk_pack_bytes)
npacks=$(find "$STORE/objects/packs" -name '*.pack' | wc -l)
check "disk.pack_bytes are the pack files on disk ($disk)" [ "$(jq .disk.pack_bytes "$S")" = "$disk" ]
check "physical bytes = pack bytes on disk - 32 x packs" \
	[ "$(jq .physical_bytes "$S")" = "$((disk - 32 * npacks))" ]
jqt "disk: pack bytes = physical + headers + dead, dead 0" "$S" \
	".disk.pack_header_bytes == 32 * $npacks and .disk.dead_bytes == 0 and .disk.pack_bytes == .physical_bytes + .disk.pack_header_bytes + .disk.dead_bytes"
jqt "largest repos first" "$S" '[.repos[].logical_bytes] == ([.repos[].logical_bytes] | sort | reverse)'

# the CLI prints the same JSON (read from the same cached generation)
hz stats --json >"$T/cli.json"
check "hubzip stats --json is GET /api/stats" cmp -s \
	<(jq -S 'del(.counts.index_bytes, .disk.index_bytes)' "$S") \
	<(jq -S 'del(.counts.index_bytes, .disk.index_bytes)' "$T/cli.json")
hz stats >"$T/cli.txt"
check "hubzip stats prints the totals" grep -qE "^total +$(jq .logical_bytes "$S") +$(jq .physical_bytes "$S") " "$T/cli.txt"
check "and the stage bar" grep -qE '^  \[[FTDC#]{50}\]' "$T/cli.txt"
hz stats "$R2" --json >"$T/cli-repo.json"
jqt "hubzip stats REPO --json" "$T/cli-repo.json" ".repo == \"$R2\" and .commits_total == 2"
expect_fail "hubzip stats of a missing repo" "not found" hz stats nobody/none

# ---- cached: the same generation until something changes
req GET "$U/api/stats" "${AUTH[@]}"
check "a second request is the same generation" [ "$(jq .generation "$T/body")" = "$(jq .generation "$S")" ]
check "and the same computation" [ "$(jq -r .computed_at "$T/body")" = "$(jq -r .computed_at "$S")" ]

# ---- one repo: revisions add up to the repo
req GET "$U/api/stats/repos/$R2" "${AUTH[@]}"
expect "GET /api/stats/repos/$R2" 200
cp "$T/body" "$T/r2.json"
jqt "two revisions, newest first, main on the newest" "$T/r2.json" \
	'.commits_total == 2 and (.commits | length) == 2 and .commits[0].branches == ["main"] and .commits[1].branches == [] and .commits[0].created_at >= .commits[1].created_at'
jqt "its revisions add up to the repo (bytes and stages)" "$T/r2.json" \
	'. as $r | .logical_bytes == ([.commits[].logical_bytes] | add) and .physical_bytes == ([.commits[].physical_bytes] | add) and all(["file_dedup", "tensor_dedup", "delta", "coding"][]; . as $k | $r.stages[$k] == ([$r.commits[].stages[$k]] | add))'
jqt "the second revision costs only its new file" "$T/r2.json" \
	'.commits[0].physical_bytes < 1000 and .commits[0].stages.file_dedup > 0'
check "the repo summary equals its entry in /api/stats" cmp -s \
	<(jq -S "del(.generation, .computed_at, .created_at, .branches, .family_info, .commits, .commits_total)" "$T/r2.json") \
	<(jq -S ".repos[] | select(.repo == \"$R2\")" "$S")
jqt "family_info names the family" "$T/r2.json" '.family_info.family == .family and (.family_info.root | type) == "string"'
req GET "$U/api/stats/repos/$R2?limit=1" "${AUTH[@]}"
jqt "?limit bounds the revisions listed" "$T/body" '(.commits | length) == 1 and .commits_total == 2'
for r in $(corpus_repos); do
	req GET "$U/api/stats/repos/$r" "${AUTH[@]}"
	check "revisions of $r add up" jq -e '.logical_bytes == ([.commits[].logical_bytes] | add) and .physical_bytes == ([.commits[].physical_bytes] | add)' "$T/body" >/dev/null
done
req GET "$U/api/stats/repos/nobody/none"
expect "stats of a missing repo" 404 RepoNotFound
req GET "$U/api/stats/repos/hidden/secret-model"
expect "stats of a private repo without a token" 404 RepoNotFound
req GET "$U/api/stats/repos/hidden/secret-model" "${AUTH[@]}"
expect "stats of a private repo with the admin token" 200
req GET "$U/api/stats/repos/$R2?limit=0" "${AUTH[@]}"
expect "a bad limit" 400 BadRequest

# ---- one family
fam=$(jq '.families[0].family' "$S")
req GET "$U/api/stats/families/$fam" "${AUTH[@]}"
expect "GET /api/stats/families/$fam" 200
cp "$T/body" "$T/fam.json"
jqt "a family's members add up to it (bytes, stages)" "$T/fam.json" \
	'. as $f | .logical_bytes == ([.repos[].logical_bytes] | add) and .physical_bytes == ([.repos[].physical_bytes] | add) and all(["file_dedup", "tensor_dedup", "delta", "coding"][]; . as $k | $f.stages[$k] == ([$f.repos[].stages[$k]] | add))'
jqt "the founder first, without a base; the others with one" "$T/fam.json" \
	'.repos[0].repo == .root and .repos[0].base == null and all(.repos[1:][]; (.base | type) == "string" and .score > 0)'
jqt "the family's unique tensors are at most its tensors" "$T/fam.json" '.unique_tensors <= .tensors and .unique_files <= .files'
req GET "$U/api/stats/families/999999"
expect "an unknown family" 404 FamilyNotFound
req GET "$U/api/stats/families/abc"
expect "a family id that is not a number" 400 BadRequest

# ---- anonymous: the private repo is counted but never named
req GET "$U/api/stats"
expect "GET /api/stats without a token" 200
cp "$T/body" "$T/anon.json"
check "the private repo is not named" bash -c "! grep -q 'hidden/secret-model' '$T/anon.json'"
jqt "it is in rest" "$T/anon.json" ".rest.repos == 1 and (.repos | length) == $((nrepos - 1))"
check "the totals are the same as for the admin" cmp -s <(jq -S '{logical_bytes, physical_bytes, stages, counts: (.counts | del(.index_bytes))}' "$S") \
	<(jq -S '{logical_bytes, physical_bytes, stages, counts: (.counts | del(.index_bytes))}' "$T/anon.json")
jqt "listed repos and rest add up to the totals" "$T/anon.json" \
	'. as $s | .logical_bytes == ([.repos[].logical_bytes] | add) + .rest.logical_bytes and .physical_bytes == ([.repos[].physical_bytes] | add) + .rest.physical_bytes and all(["file_dedup", "tensor_dedup", "delta", "coding"][]; . as $k | $s.stages[$k] == ([$s.repos[].stages[$k]] | add) + $s.rest.stages[$k])'
req GET "$U/api/stats?limit=3"
jqt "?limit=3 lists three repos, the rest summed" "$T/body" \
	"(.repos | length) == 3 and .rest.repos == $((nrepos - 3)) and .logical_bytes == ([.repos[].logical_bytes] | add) + .rest.logical_bytes"
req GET "$U/api/stats?limit=x"
expect "a bad limit" 400 BadRequest
req GET "$U/api/stats" -H "Authorization: Bearer hf_nonsense"
expect "a bad token" 401 Unauthorized
req GET "$U/api/v1/stats"
expect "/api/v1/stats is an alias" 200
check "of the same JSON" cmp -s <(jq -S 'del(.counts.index_bytes, .disk.index_bytes)' "$T/body") \
	<(jq -S 'del(.counts.index_bytes, .disk.index_bytes)' "$T/anon.json")

# ---- history: one row per commit
req GET "$U/api/stats/history" "${AUTH[@]}"
expect "GET /api/stats/history" 200
cp "$T/body" "$T/hist.json"
jqt "one row per committed ingest" "$T/hist.json" "(.history | length) == $commits and .truncated == false"
jqt "the history's logical bytes sum to the store's" "$T/hist.json" \
	"([.history[].logical_bytes] | add) == $(jq .logical_bytes "$S")"
jqt "the history's physical bytes sum to the store's (nothing deleted yet)" "$T/hist.json" \
	"([.history[].physical_bytes] | add) == $(jq .physical_bytes "$S")"
jqt "sources: http for the uploads, cli for hubzip ingest" "$T/hist.json" \
	"([.history[] | select(.source == \"http\")] | length) == $((commits - $(corpus_repos | wc -l)))
	 and ([.history[] | select(.source == \"cli\" and .repo == \"$R2\")] | length) == 2
	 and all(.history[] | select(.repo == \"$HTTP_REPO\"); .source == \"http\")"
jqt "rows are oldest first, with times and durations" "$T/hist.json" \
	'[.history[].id] == ([.history[].id] | sort) and all(.history[]; .seconds >= 0 and .unix > 1700000000 and (.commit | length) == 40)'
req GET "$U/api/stats/history"
jqt "anonymous: the private repo's rows carry no name" "$T/body" \
	"([.history[] | select(.repo == null)] | length) == $(jq '[.history[] | select(.repo == "hidden/secret-model")] | length' "$T/hist.json") and ([.history[] | select(.repo == null and .commit != null)] | length) == 0"
check "anonymous history does not name the private repo" bash -c "! grep -q 'hidden/secret-model' '$T/body'"
req GET "$U/api/stats/history?limit=2"
jqt "?limit=2: two rows, truncated" "$T/body" '(.history | length) == 2 and .truncated == true'
last=$(jq '.history[1].id' "$T/body")
req GET "$U/api/stats/history?after=$last&limit=10000"
jqt "?after= continues after that row" "$T/body" "(.history | length) == $((commits - 2)) and .history[0].id == $((last + 1))"
req GET "$U/api/stats/history?since=4102444800"
jqt "?since= in the future: nothing" "$T/body" '(.history | length) == 0'
req GET "$U/api/stats/history?limit=10001"
expect "a history limit over the maximum" 400 BadRequest

check "fsck is clean after the ingests" hz fsck >/dev/null 2>&1

# ---- delete a repo, gc: the numbers move consistently
DEL=realcugan/up2x-denoise3x
del_logical=$(jq ".repos[] | select(.repo == \"$DEL\") | .logical_bytes" "$S")
gen0=$(jq .generation "$S")
req DELETE "$U/api/v1/repos/$DEL" "${AUTH[@]}"
expect "delete $DEL" 200
req GET "$U/api/stats" "${AUTH[@]}"
cp "$T/body" "$T/del.json"
jqt "a new generation" "$T/del.json" ".generation > $gen0"
jqt "logical bytes drop by the repo's" "$T/del.json" ".logical_bytes == $(jq .logical_bytes "$S") - $del_logical"
jqt "the repo is gone from the list" "$T/del.json" "([.repos[].repo] | index(\"$DEL\")) == null and .counts.repos == $((nrepos - 1))"
jqt "totals are still the sum over repos" "$T/del.json" \
	'.logical_bytes == ([.repos[].logical_bytes] | add) and .physical_bytes == ([.repos[].physical_bytes] | add) and (.stages | add) == .logical_bytes - .physical_bytes'
jqt "its bytes are dead until gc" "$T/del.json" \
	".physical_bytes < $(jq .physical_bytes "$S") and .disk.dead_bytes == $(jq .physical_bytes "$S") - .physical_bytes and .disk.pack_bytes == .physical_bytes + .disk.pack_header_bytes + .disk.dead_bytes"
hz gc >"$T/gc.out" 2>&1 || fail "gc: $(cat "$T/gc.out")"
kept=$(grep -oE '[0-9]+ dead bytes remain' "$T/gc.out" | cut -d' ' -f1)
req GET "$U/api/stats" "${AUTH[@]}"
cp "$T/body" "$T/gc.json"
disk=$(disk_pack_bytes)
npacks=$(find "$STORE/objects/packs" -name '*.pack' | wc -l)
jqt "gc leaves the live numbers as they were" "$T/gc.json" \
	"$(jq '{logical_bytes, physical_bytes, stages}' "$T/del.json") == {logical_bytes, physical_bytes, stages}"
check "after gc: disk.pack_bytes are the files on disk ($disk)" [ "$(jq .disk.pack_bytes "$T/gc.json")" = "$disk" ]
jqt "after gc: pack bytes = physical + 32 x packs + the dead bytes gc kept ($kept)" "$T/gc.json" \
	".counts.packs == $npacks and .disk.dead_bytes == ${kept:-null} and .disk.pack_bytes == .physical_bytes + 32 * $npacks + .disk.dead_bytes"
hz fsck >"$T/fsck.out" 2>&1
check "fsck is clean after delete and gc" grep -q ' 0 problems' "$T/fsck.out"
req GET "$U/api/stats/history" "${AUTH[@]}"
jqt "the history keeps the deleted repo's rows" "$T/body" \
	"([.history[] | select(.repo == \"$DEL\")] | length) == 1 and (.history | length) == $commits"
req GET "$U/api/stats/history"
jqt "anonymous: a deleted repo's rows carry no name" "$T/body" \
	"([.history[] | select(.repo == \"$DEL\")] | length) == 0"

# ---- a commit moves the generation; the cache follows
hz ingest "$DEL" "$CORPUS_MINI/$DEL" >/dev/null 2>&1 || fail "ingest $DEL again"
req GET "$U/api/stats" "${AUTH[@]}"
jqt "after a new ingest: a new generation, the repo back" "$T/body" \
	".generation > $(jq .generation "$T/gc.json") and ([.repos[].repo] | index(\"$DEL\")) != null and .logical_bytes == $(jq .logical_bytes "$S")"
stop_daemon

# ---- fsck notices a cache that does not match the index
hz stats --json >/dev/null # the cache holds the current generation
sqlite3 "$STORE/hubzip.db" "UPDATE stats_repos SET physical_bytes = physical_bytes + 1
	WHERE repo_id = (SELECT min(repo_id) FROM stats_repos)"
if hz fsck >"$T/fsck.out" 2>&1; then
	fail "fsck of a tampered cache succeeded"
else
	check "fsck reports the tampered cache" grep -q 'accounting: the cached stats_repos differ' "$T/fsck.out"
fi
# a new generation makes the stale cache harmless: it is recomputed
sqlite3 "$STORE/hubzip.db" "UPDATE stats_state SET generation = generation + 1"
check "fsck is clean once the cache is stale" hz fsck >/dev/null 2>&1
hz stats --json >"$T/after.json"
jqt "the recomputed numbers are right again" "$T/after.json" \
	'.physical_bytes == ([.repos[].physical_bytes] | add)'

done_tests
