#!/usr/bin/env bash
# The HTTP daemon on a random loopback port with a temporary store, driven
# with curl: uploads, byte-exact downloads, ranges, the hub's download
# endpoints, tokens and private repos, malformed requests, and SIGTERM in
# the middle of an upload.
. "$(dirname "$0")/lib.sh"
need_corpus
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }

. "$(dirname "$0")/daemon.sh"
snapshot() { { hz stats --json | jq -S "del(.counts.index_bytes, .disk.index_bytes)"; hz ls; } >"$1" 2>&1; }

hz init >/dev/null
start_daemon
ADMIN=$(grep -o 'hf_[A-Za-z0-9]*' "$T/out" | head -1)
check "an admin token is printed on the first start" [ ${#ADMIN} -eq 37 ]
AUTH=(-H "Authorization: Bearer $ADMIN")

# ---- create a repo, upload a corpus model file by file, download it back
SRC=$CORPUS_MINI/upscalerjs/esrgan-slim-x2
req POST "$U/api/v1/repos" "${AUTH[@]}" -d '{"repo": "acme/slim"}'
expect "create a repo" 201
req POST "$U/api/v1/repos" "${AUTH[@]}" -d '{"repo": "acme/slim"}'
expect "create it again" 409 RepoExists
n=0
while IFS= read -r f; do
	rel=${f#"$SRC"/}
	req PUT "$U/api/v1/repos/acme/slim/files/main/$rel" "${AUTH[@]}" \
		-H "X-Content-SHA256: $(sha "$f")" -T "$f"
	expect "PUT $rel" 201
	n=$((n + 1))
done < <(find "$SRC" -type f | sort)
check "the model has files" [ "$n" -ge 3 ]
req GET "$U/api/v1/repos/acme/slim/files/main"
expect "list files" 200
check "every file is listed" [ "$(jq '.files | length' "$T/body")" -eq "$n" ]
COMMIT=$(jq -r .commit "$T/body")
while IFS= read -r f; do
	rel=${f#"$SRC"/}
	curl -sf "$U/acme/slim/resolve/main/$rel" -o "$T/dl"
	check "resolve $rel is byte-exact" [ "$(sha "$T/dl")" = "$(sha "$f")" ]
	curl -sf "$U/api/v1/repos/acme/slim/files/$COMMIT/$rel" -o "$T/dl"
	check "native GET $rel at the commit is byte-exact" [ "$(sha "$T/dl")" = "$(sha "$f")" ]
done < <(find "$SRC" -type f | sort)
req GET "$U/api/v1/repos/acme/slim/revisions"
expect "list revisions" 200
check "one revision per PUT" [ "$(jq '.revisions | length' "$T/body")" -eq "$n" ]

# ---- ranges and the hub's headers
M=$SRC/model.safetensors
SIZE=$(stat -c %s "$M")
R=$U/acme/slim/resolve/main/model.safetensors
req GET "$R" -r 100-199
expect "range a-b" 206
check "range a-b bytes" cmp -s "$T/body" <(tail -c +101 "$M" | head -c 100)
check "range a-b Content-Range" [ "$(hdr Content-Range)" = "bytes 100-199/$SIZE" ]
req GET "$R" -r 1000-
expect "range a-" 206
check "range a- bytes" cmp -s "$T/body" <(tail -c +1001 "$M")
req GET "$R" -r -777
expect "range -n" 206
check "range -n bytes" cmp -s "$T/body" <(tail -c 777 "$M")
req GET "$R" -r "$SIZE-"
expect "range past the end" 416 RangeNotSatisfiable
check "416 Content-Range" [ "$(hdr Content-Range)" = "bytes */$SIZE" ]
req GET "$R" -H "Range: bytes=0-0"
expect "the JS size probe" 206
check "probe Content-Range" [ "$(hdr Content-Range)" = "bytes 0-0/$SIZE" ]
req HEAD "$R" -I
expect "HEAD resolve" 200
check "X-Repo-Commit" [ "$(hdr X-Repo-Commit)" = "$COMMIT" ]
check "ETag is the sha256" [ "$(hdr ETag)" = "\"$(sha "$M")\"" ]
check "X-Linked-Etag" [ "$(hdr X-Linked-Etag)" = "\"$(sha "$M")\"" ]
check "X-Linked-Size" [ "$(hdr X-Linked-Size)" = "$SIZE" ]
check "Accept-Ranges" [ "$(hdr Accept-Ranges)" = "bytes" ]
check "Content-Length" [ "$(hdr Content-Length)" = "$SIZE" ]
req HEAD "$U/acme/slim/raw/main/config.json" -I
expect "HEAD raw" 200
req GET "$U/acme/slim/resolve/$COMMIT/model.safetensors" -r 0-9
expect "resolve at a commit id" 206
req GET "$U/acme/slim/resolve/main/missing.bin"
expect "a missing file" 404 EntryNotFound
check "404 EntryNotFound carries X-Repo-Commit" [ "$(hdr X-Repo-Commit)" = "$COMMIT" ]
req GET "$U/acme/slim/resolve/nobranch/config.json"
expect "a missing revision" 404 RevisionNotFound
req GET "$U/acme/nothere/resolve/main/config.json"
expect "a missing repo" 404 RepoNotFound

# a 0-byte file
: >"$T/empty"
req PUT "$U/api/v1/repos/acme/slim/files/main/empty.txt" "${AUTH[@]}" -T "$T/empty"
expect "PUT a 0-byte file" 201
req GET "$U/acme/slim/resolve/main/empty.txt"
expect "GET a 0-byte file" 200
check "it is empty" [ ! -s "$T/body" ]
req GET "$U/acme/slim/resolve/main/empty.txt" -H "Range: bytes=0-0"
expect "the JS probe of a 0-byte file is a 2xx" 200
check "its size is after the '/'" [ "$(hdr Content-Range)" = "bytes */0" ]

# ---- the hub's listing endpoints
req GET "$U/api/models/acme/slim"
expect "model info" 200
check "siblings" [ "$(jq '.siblings | length' "$T/body")" -eq $((n + 1)) ]
req GET "$U/api/models/acme/slim/revision/main"
expect "model info at a revision" 200
req GET "$U/api/models/acme/slim/tree/main?recursive=true&limit=2"
expect "tree, first page" 200
check "a page of 2" [ "$(jq length "$T/body")" -eq 2 ]
check "a Link to the next page" grep -qi '^Link: <.*cursor=2>; rel="next"' "$T/hdr"
req GET "$U/api/models/acme/slim/tree/main/tfjs"
expect "tree of a directory" 200
check "tfjs holds 2 files" [ "$(jq '[.[] | select(.type == "file")] | length' "$T/body")" -eq 2 ]
req POST "$U/api/models/acme/slim/paths-info/main" -d 'paths=config.json&paths=tfjs&expand=false'
expect "paths-info (form)" 200
check "paths-info finds a file and a directory" [ "$(jq -r 'map(.type) | join(",")' "$T/body")" = "file,directory" ]
req POST "$U/api/models/acme/slim/paths-info/main" -H 'Content-Type: application/json' \
	-d '{"paths": ["model.safetensors", "nope"], "expand": true}'
expect "paths-info (JSON)" 200
check "paths-info lfs oid" [ "$(jq -r '.[0].lfs.oid' "$T/body")" = "$(sha "$M")" ]
req GET "$U/api/whoami-v2" "${AUTH[@]}"
expect "whoami" 200
check "whoami names the token" [ "$(jq -r .name "$T/body")" = admin ]
req GET "$U/api/whoami-v2"
expect "whoami without a token" 401 Unauthorized

# ---- datasets, an encoded revision (one path segment), HEAD on a miss
req POST "$U/api/v1/repos" "${AUTH[@]}" -d '{"repo": "acme/corpus", "type": "dataset"}'
expect "create a dataset repo" 201
req PUT "$U/api/v1/repos/acme/corpus/files/main/data/config.json" "${AUTH[@]}" -T "$SRC/config.json"
expect "upload to the dataset" 201
req GET "$U/datasets/acme/corpus/resolve/main/data/config.json"
expect "resolve a dataset file" 200
check "the dataset file is byte-exact" cmp -s "$T/body" "$SRC/config.json"
req GET "$U/acme/corpus/resolve/main/data/config.json"
expect "a dataset is not a model" 404 RepoNotFound
req GET "$U/api/datasets/acme/corpus"
expect "dataset info" 200
req GET "$U/api/models/acme/corpus"
expect "dataset info under models" 404 RepoNotFound
req PUT "$U/api/v1/repos/acme/slim/files/refs%2Fpr%2F1/pr.json" "${AUTH[@]}" -T "$SRC/config.json"
expect "PUT to branch refs/pr/1, encoded" 201
PR=$(jq -r .commit "$T/body")
req GET "$U/acme/slim/resolve/refs%2Fpr%2F1/pr.json"
expect "resolve an encoded refs/pr/1" 200
check "X-Repo-Commit of refs/pr/1" [ "$(hdr X-Repo-Commit)" = "$PR" ]
req GET "$U/api/models/acme/slim/revision/refs%2Fpr%2F1"
expect "model info at refs/pr/1" 200
check "its sha" [ "$(jq -r .sha "$T/body")" = "$PR" ]
req HEAD "$U/acme/slim/resolve/main/missing.bin" -I
expect "HEAD of a missing file" 404
check "HEAD 404 has X-Error-Code EntryNotFound" [ "$(hdr X-Error-Code)" = EntryNotFound ]

# ---- multipart commit: several files, one revision
req POST "$U/api/v1/repos/acme/slim/commit/main" "${AUTH[@]}" -F "message=two at once" \
	-F "extra/a.json=@$SRC/config.json" -F "extra/b.bin=@$SRC/tfjs/group1-shard1of1.bin"
expect "multipart commit" 201
check "one revision for both files" [ "$(jq '.files | length' "$T/body")" -eq 2 ]
curl -sf "$U/acme/slim/resolve/main/extra/b.bin" -o "$T/dl"
check "a committed file is byte-exact" [ "$(sha "$T/dl")" = "$(sha "$SRC/tfjs/group1-shard1of1.bin")" ]

# ---- tokens and private repos
READ=$(hz token create reader --scope read --namespace acme)
OTHER=$(hz token create other --scope write --namespace elsewhere)
check "token create prints only the token" grep -Eqx "hf_[A-Za-z0-9]{34}" <<<"$READ"
req POST "$U/api/v1/repos" "${AUTH[@]}" -d '{"repo": "acme/secret", "private": true}'
expect "create a private repo" 201
req PUT "$U/api/v1/repos/acme/secret/files/main/config.json" "${AUTH[@]}" -T "$SRC/config.json"
expect "upload to the private repo" 201
req GET "$U/acme/secret/resolve/main/config.json"
expect "private repo without a token" 404 RepoNotFound
req GET "$U/api/models/acme/secret"
expect "private repo info without a token" 404 RepoNotFound
req GET "$U/acme/secret/resolve/main/config.json" -H "Authorization: Bearer $OTHER"
expect "private repo with another namespace's token" 404 RepoNotFound
req GET "$U/acme/secret/resolve/main/config.json" -H "Authorization: Bearer $READ"
expect "private repo with a read token" 200
req GET "$U/acme/secret/resolve/main/config.json" -u "git:$READ"
expect "private repo with the token as Basic password" 200
req GET "$U/api/v1/repos"
check "a private repo is not listed without a token" [ "$(jq '[.repos[].repo] | index("acme/secret")' "$T/body")" = null ]
req GET "$U/api/v1/repos" -H "Authorization: Bearer $READ"
check "and is listed with one" [ "$(jq '[.repos[].repo] | index("acme/secret")' "$T/body")" != null ]
snapshot "$T/before"
req PUT "$U/api/v1/repos/acme/slim/files/main/x.json" -T "$SRC/config.json"
expect "write without a token" 401 Unauthorized
req PUT "$U/api/v1/repos/acme/slim/files/main/x.json" -H "Authorization: Bearer $READ" -T "$SRC/config.json"
expect "write with a read token" 403 Forbidden
req PUT "$U/api/v1/repos/acme/slim/files/main/x.json" -H "Authorization: Bearer hf_notatokenatallnotatokenatallnotato" -T "$SRC/config.json"
expect "write with an unknown token" 401 Unauthorized
hz token revoke reader >/dev/null
req GET "$U/acme/secret/resolve/main/config.json" -H "Authorization: Bearer $READ"
expect "a revoked token" 401 Unauthorized

# ---- refused uploads and malformed requests leave the store unchanged
req PUT "$U/api/v1/repos/acme/slim/files/main/bad.safetensors" "${AUTH[@]}" \
	-H "X-Content-SHA256: $(printf '%064d' 0)" -T "$M"
expect "a body that does not match X-Content-SHA256" 400 DigestMismatch
req PUT "$U/api/v1/repos/acme/slim/files/main/x.safetensors" "${AUTH[@]}" -T "$SRC/config.json"
expect "an invalid safetensors file" 422 InvalidFile
req GET "$U/acme/slim/resolve/main/a%zzb"
expect "bad percent-encoding" 400 InvalidPath
req GET "$U/acme/slim/resolve/main/a%00b"
expect "an encoded NUL" 400 InvalidPath
req GET "$U/acme/slim/resolve/main/../../../etc/passwd"
expect "../ in a download path" 400 InvalidPath
req PUT "$U/api/v1/repos/acme/slim/files/main/../../evil" "${AUTH[@]}" -T "$SRC/config.json"
expect "../ in an upload path" 400 InvalidPath
req PUT "$U/api/v1/repos/acme/slim/files/main/a/%2E%2E/%2E%2E/evil" "${AUTH[@]}" -T "$SRC/config.json"
expect "encoded ../ in an upload path" 400 InvalidPath
req PUT "$U/api/v1/repos/acme/slim/files/main//etc/evil" "${AUTH[@]}" -T "$SRC/config.json"
expect "an absolute upload path" 400 InvalidPath
req PUT "$U/api/v1/repos/acme/slim/files/main/$(head -c 5000 /dev/zero | tr '\0' a)" "${AUTH[@]}" -T "$SRC/config.json"
expect "an overlong path" 400 InvalidPath
req GET "$U/acme/..%2F..%2Fx/resolve/main/config.json"
expect "a bad repo name" 400 InvalidRepoName
req POST "$U/api/v1/repos" "${AUTH[@]}" -d '{"repo": "acme/x"'
expect "bad JSON" 400 InvalidJSON
req POST "$U/api/v1/repos" "${AUTH[@]}" -d '{"repo": 7}'
expect "JSON of the wrong shape" 400 InvalidJSON
req POST "$U/api/v1/repos/acme/slim/commit/main" "${AUTH[@]}" -H 'Content-Type: multipart/form-data; boundary=xyz' \
	--data-binary $'--xyz\r\nContent-Disposition: form-data; name="../evil"; filename="f"\r\n\r\nhello\r\n--xyz--\r\n'
expect "../ in a multipart file name" 400 InvalidPath
req GET "$U/api/v1/nothing"
expect "an unknown route" 404 NotFound
req DELETE "$U/acme/slim/resolve/main/config.json"
expect "a wrong method" 405 MethodNotAllowed
req GET "$U/api/v1/repos" -H "X-Big: $(head -c 70000 /dev/zero | tr '\0' a)"
check "oversize headers are refused: $CODE" [ "$CODE" = 431 ]
# bodies over --max-upload-bytes (64M here): announced, then chunked (the
# length known only once it is exceeded: read to the end, then the 413)
head -c $((65 << 20)) /dev/zero >"$T/big"
req PUT "$U/api/v1/repos/acme/slim/files/main/big.bin" "${AUTH[@]}" -T "$T/big"
expect "a body over the limit (Content-Length)" 413 PayloadTooLarge
req PUT "$U/api/v1/repos/acme/slim/files/main/big.bin" "${AUTH[@]}" \
	-H "Transfer-Encoding: chunked" -T - <"$T/big"
expect "a chunked body over the limit" 413 PayloadTooLarge
rm -f "$T/big"
snapshot "$T/after"
check "refused requests leave the store unchanged" cmp -s "$T/before" "$T/after"
check "and no spool files or packs in objects/tmp" [ -z "$(ls -A "$STORE/objects/tmp")" ]

req GET "$U/api/v1/stats" "${AUTH[@]}"
expect "stats" 200
check "stats are hubzip stats --json" cmp -s <(jq -S 'del(.counts.index_bytes, .disk.index_bytes)' "$T/body") \
	<(hz stats --json | jq -S 'del(.counts.index_bytes, .disk.index_bytes)')
req GET "$U/api/v1/stats"
expect "stats are public" 200
check "anonymous stats do not name the private repo" bash -c "! grep -q acme/secret '$T/body'"
check "but count it in rest" [ "$(jq .rest.repos "$T/body")" -ge 1 ]
check "the access log has one JSON line per request" \
	bash -c "grep '\"method\"' '$T/log' | jq -e 'select(.status and .path and .duration_ms != null and .remote)' >/dev/null"

# ---- a misassembled file (two equal-length tensor segments swapped in the
# index; every block intact): never served whole.  This file fits in the
# first response buffer, which is checked before the status line: a JSON
# 500 Corrupt and no byte (a larger one is cut short: 22_integrity_daemon.sh)
read -r fid a b < <(sqlite3 -separator ' ' "$STORE/hubzip.db" "
	SELECT s1.file_id, s1.file_off, s2.file_off FROM files f
	JOIN segments s1 ON s1.file_id = f.id JOIN segments s2 ON s2.file_id = f.id
	JOIN objects o1 ON o1.id = s1.object_id JOIN objects o2 ON o2.id = s2.object_id
	WHERE f.sha256 = x'$(sha "$M")' AND s1.role = 1 AND s2.role = 1
	AND s1.length = s2.length AND s1.file_off < s2.file_off AND o1.sha256 <> o2.sha256
	ORDER BY s1.length DESC LIMIT 1")
swap() {
	sqlite3 "$STORE/hubzip.db" "BEGIN;
		UPDATE segments SET object_id = -object_id WHERE file_id = $fid AND file_off IN ($a, $b);
		UPDATE segments SET object_id = (SELECT -object_id FROM segments
			WHERE file_id = $fid AND file_off = CASE WHEN s.file_off = $a THEN $b ELSE $a END)
			FROM segments s WHERE segments.file_id = $fid AND s.file_id = $fid
			AND s.file_off = segments.file_off AND segments.file_off IN ($a, $b);
		COMMIT;"
}
if [ -n "$fid" ]; then
	swap
	req GET "$U/acme/slim/resolve/main/model.safetensors"
	expect "a misassembled file is refused before any byte" 500 Corrupt
	check "a misassembled file is never served whole" \
		[ "$(stat -c %s "$T/body")" -lt "$(stat -c %s "$M")" ]
	check "the daemon logs the checksum mismatch" grep -q "checksum" "$T/log"
	swap
	curl -sf "$U/acme/slim/resolve/main/model.safetensors" -o "$T/dl"
	check "and whole again once repaired" [ "$(sha "$T/dl")" = "$(sha "$M")" ]
else
	fail "no two tensors of equal length to swap in $M"
fi

# ---- visibility changes and deletion
req PATCH "$U/api/v1/repos/acme/secret" "${AUTH[@]}" -d '{"private": false}'
expect "make a repo public" 200
req GET "$U/api/models/acme/secret"
expect "a public repo without a token" 200
req DELETE "$U/api/v1/repos/acme/corpus"
expect "delete without a token" 401 Unauthorized
req DELETE "$U/api/v1/repos/acme/corpus" "${AUTH[@]}"
expect "delete a repo" 200
req GET "$U/datasets/acme/corpus/resolve/main/data/config.json"
expect "a deleted repo" 404 RepoNotFound

# ---- SIGTERM in the middle of an upload: no revision, fsck clean, exit 0
snapshot "$T/before"
BIG=$CORPUS_MINI/realcugan/up2x-conservative/model.safetensors
curl -s --limit-rate 256K -T "$BIG" "${AUTH[@]}" \
	"$U/api/v1/repos/acme/slim/files/main/big.safetensors" -o /dev/null &
CURL=$!
# 2.5 MB at 256 KB/s: about halfway through after 2 s (the spool file is
# an O_TMPFILE, invisible in objects/tmp)
sleep 2
check "the upload is still running" kill -0 "$CURL"
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=
wait "$CURL" 2>/dev/null || true
check "the daemon exits 0 on SIGTERM" [ "$rc" -eq 0 ]
check "the upload was aborted" bash -c "grep 'big.safetensors' '$T/log' | jq -e 'select(.aborted)' >/dev/null"
snapshot "$T/after"
check "an interrupted upload leaves no revision" cmp -s "$T/before" "$T/after"
check "nor anything in objects/tmp" [ -z "$(ls -A "$STORE/objects/tmp")" ]
check "fsck is clean" bash -c "\"$HUBZIP\" --store '$STORE' fsck >/dev/null"

# a second start prints no new admin token
start_daemon
check "no admin token on later starts" bash -c "! grep -q hf_ '$T/out'"
req GET "$U/acme/slim/resolve/main/config.json"
expect "serving again after the restart" 200
stop_daemon
done_tests
