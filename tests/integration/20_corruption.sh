#!/usr/bin/env bash
# Damage stored bytes and check that fsck reports the damaged files and that
# restore and cat fail instead of returning wrong bytes.
. "$(dirname "$0")/lib.sh"
need_corpus
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI missing (deploy/install-deps.sh --test)" >&2; exit 1; }

repo=upscalerjs/esrgan-slim-x4
src=$CORPUS_MINI/$repo
hz init >/dev/null
hz ingest "$repo" "$src" >/dev/null 2>&1
hz ingest other/repo "$CORPUS_MINI/mediapipe/selfie-segmentation" >/dev/null 2>&1
check "fsck clean before damage" bash -c "\"$HUBZIP\" --store '$STORE' fsck >/dev/null"

# the largest tensor block of model.safetensors
read -r pack off len < <(sqlite3 -separator ' ' "$STORE/hubzip.db" "
	SELECT p.name, b.pack_off, b.enc_len FROM revision_files rf
	JOIN revisions v ON v.id = rf.revision_id JOIN repos r ON r.id = v.repo_id
	JOIN segments s ON s.file_id = rf.file_id JOIN blocks b ON b.object_id = s.object_id
	JOIN packs p ON p.id = b.pack_id
	WHERE r.name = '$repo' AND rf.path = 'model.safetensors' AND s.role = 1
	ORDER BY b.enc_len DESC LIMIT 1")
pf=$STORE/objects/packs/${pack:0:2}/$pack.pack
[ -f "$pf" ] || { fail "pack file $pf not found"; done_tests; }
cp "$pf" "$T/pack.orig"

flip() { # file offset: xor the byte with 0x55
	python3 - "$1" "$2" <<'PY'
import sys
p, o = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0x55]))
PY
}
chmod u+w "$pf"

for where in payload checksum rawlen; do
	cp "$T/pack.orig" "$pf"
	case $where in
	payload) flip "$pf" $((off + 24 + len / 2)) ;;
	checksum) flip "$pf" $((off + 16)) ;;
	rawlen) flip "$pf" $((off + 9)) ;;
	esac
	hz fsck >"$T/fsck" 2>&1 && fail "fsck passes with a damaged $where"
	check "fsck names the damaged file ($where)" grep -q "damaged: $repo@[0-9a-f]*:model.safetensors" "$T/fsck"
	check "fsck does not blame the undamaged repo ($where)" bash -c "! grep -q 'other/repo' '$T/fsck'"
	rm -rf "$T/out"
	expect_fail "restore with a damaged $where" "damaged|corrupt|mismatch" hz restore "$repo" "$T/out"
	check "restore leaves no damaged file ($where)" [ ! -e "$T/out/model.safetensors" ]
	check "restore leaves no temporary ($where)" [ ! -e "$T/out/model.safetensors.hztmp" ]
	hz cat "$repo" model.safetensors >"$T/cat" 2>"$T/err" && fail "cat succeeds with a damaged $where"
	# what cat wrote before failing is a prefix of the original: never wrong bytes
	n=$(stat -c %s "$T/cat")
	check "cat output is a correct prefix ($where)" cmp -s "$T/cat" <(head -c "$n" "$src/model.safetensors")
	check "cat stopped before the damaged block ($where)" [ "$n" -lt "$(stat -c %s "$src/model.safetensors")" ]
	hz restore other/repo "$T/ok" 2>/dev/null
	check "the other repo still restores ($where)" cmp -s "$T/ok/model.safetensors" "$CORPUS_MINI/mediapipe/selfie-segmentation/model.safetensors"
done

# a truncated pack, then a deleted one
cp "$T/pack.orig" "$pf"
truncate -s $((off + 10)) "$pf"
hz fsck >"$T/fsck" 2>&1 && fail "fsck passes with a truncated pack"
check "fsck reports the truncated pack" grep -q "pack $pack" "$T/fsck"
expect_fail "cat from a truncated pack" "damaged|truncated|corrupt" hz cat "$repo" model.safetensors
rm -f "$pf"
hz fsck >"$T/fsck" 2>&1 && fail "fsck passes with a missing pack"
check "fsck reports the missing pack" grep -q "pack $pack: missing" "$T/fsck"
check "fsck names the file of a missing pack" grep -q "damaged: $repo@" "$T/fsck"

# a corrupted index row: a block's checksum
cp "$T/pack.orig" "$pf"
check "fsck clean after repair" bash -c "\"$HUBZIP\" --store '$STORE' fsck >/dev/null"
sqlite3 "$STORE/hubzip.db" "UPDATE blocks SET checksum = checksum + 1 WHERE pack_off = $off"
hz fsck >"$T/fsck" 2>&1 && fail "fsck passes with a corrupted index row"
check "fsck names the file of a bad index row" grep -q "damaged: $repo@" "$T/fsck"
expect_fail "cat with a corrupted index row" "damaged" hz cat "$repo" model.safetensors
sqlite3 "$STORE/hubzip.db" "UPDATE blocks SET checksum = checksum - 1 WHERE pack_off = $off"
check "fsck clean after the row is repaired" bash -c "\"$HUBZIP\" --store '$STORE' fsck >/dev/null"

# a misassembled file: two segments of equal length whose object ids are
# swapped.  Every block is intact and passes its own checksum; only the
# whole-file checksum (XXH3-128 recorded at ingest) can see it.
read -r fid a b < <(sqlite3 -separator ' ' "$STORE/hubzip.db" "
	SELECT s1.file_id, s1.file_off, s2.file_off FROM revision_files rf
	JOIN revisions v ON v.id = rf.revision_id JOIN repos r ON r.id = v.repo_id
	JOIN segments s1 ON s1.file_id = rf.file_id JOIN segments s2 ON s2.file_id = rf.file_id
	JOIN objects o1 ON o1.id = s1.object_id JOIN objects o2 ON o2.id = s2.object_id
	WHERE r.name = '$repo' AND rf.path = 'model.safetensors' AND s1.role = 1 AND s2.role = 1
	AND s1.length = s2.length AND s1.file_off < s2.file_off AND o1.sha256 <> o2.sha256
	ORDER BY s1.length DESC LIMIT 1")
[ -n "$fid" ] || fail "no two tensors of equal length to swap in $repo"
swap() {
	sqlite3 "$STORE/hubzip.db" "BEGIN;
		UPDATE segments SET object_id = -object_id WHERE file_id = $fid AND file_off IN ($a, $b);
		UPDATE segments SET object_id = (SELECT -object_id FROM segments
			WHERE file_id = $fid AND file_off = CASE WHEN s.file_off = $a THEN $b ELSE $a END)
			FROM segments s WHERE segments.file_id = $fid AND s.file_id = $fid
			AND s.file_off = segments.file_off AND segments.file_off IN ($a, $b);
		COMMIT;"
}
swap
check "the swap took" [ "$(sqlite3 "$STORE/hubzip.db" "SELECT count(*) FROM segments WHERE object_id < 0")" = 0 ]
hz cat "$repo" model.safetensors >"$T/cat" 2>"$T/err" && fail "cat of a misassembled file succeeds"
check "cat of a misassembled file names the checksum" grep -q "checksum" "$T/err"
expect_fail "restore of a misassembled file" "checksum" hz restore "$repo" "$T/mis"
check "restore leaves no misassembled file" [ ! -e "$T/mis/model.safetensors" ]
hz fsck >"$T/fsck" 2>&1 && fail "fsck passes with a misassembled file"
check "fsck names the misassembled file" grep -q "damaged: $repo@[0-9a-f]*:model.safetensors" "$T/fsck"
swap
check "fsck clean after the swap is undone" bash -c "\"$HUBZIP\" --store '$STORE' fsck >/dev/null"

# the recorded whole-file checksum itself damaged
sqlite3 "$STORE/hubzip.db" "UPDATE files SET xxh128 = zeroblob(16) WHERE id = $fid"
expect_fail "cat with a damaged file checksum" "checksum" hz cat "$repo" model.safetensors
hz fsck >"$T/fsck" 2>&1 && fail "fsck passes with a damaged file checksum"
check "fsck reports the damaged file checksum" grep -q "xxh128 mismatch" "$T/fsck"

# a file stored before schema 6 (no xxh128): full reads verify its SHA-256
sqlite3 "$STORE/hubzip.db" "UPDATE files SET xxh128 = NULL WHERE id = $fid"
check "a file without xxh128 restores" bash -c "\"$HUBZIP\" --store '$STORE' cat '$repo' model.safetensors | cmp -s - '$src/model.safetensors'"
swap
expect_fail "cat of a misassembled file without xxh128" "sha256" hz cat "$repo" model.safetensors
swap
done_tests
