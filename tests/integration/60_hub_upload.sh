#!/usr/bin/env bash
# The hub's upload side (HUB-PROTOCOL.md section 3) on the real daemon, on
# a random loopback port with a temporary store, driven with curl:
# api/repos/create, validate-yaml, preupload, the Git LFS batch API with
# its signed PUT and verify, the NDJSON commit, gc of pending objects.
. "$(dirname "$0")/lib.sh"
need_corpus
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }

. "$(dirname "$0")/daemon.sh"

hz init >/dev/null
start_daemon
ADMIN=$(grep -o 'hf_[A-Za-z0-9]*' "$T/out" | head -1)
AUTH=(-H "Authorization: Bearer $ADMIN")
J=(-H "Content-Type: application/json")

# ---- api/repos/create
req POST "$U/api/repos/create" "${J[@]}" -d '{"name":"m1","organization":"acme"}'
expect "create without a token" 401 Unauthorized
req POST "$U/api/repos/create" "${AUTH[@]}" "${J[@]}" -d '{"name":"m1","organization":"acme"}'
expect "create a model" 200
check "create: url" [ "$(jq -r .url "$T/body")" = "$U/acme/m1" ]
check "create: id" [ "$(jq -r .id "$T/body")" = "acme/m1" ]
req POST "$U/api/repos/create" "${AUTH[@]}" "${J[@]}" -d '{"name":"m1","organization":"acme"}'
expect "create it again" 409 RepoExists
check "409 carries the url" [ "$(jq -r .url "$T/body")" = "$U/acme/m1" ]
req POST "$U/api/repos/create" "${AUTH[@]}" "${J[@]}" \
	-d '{"name":"d1","organization":"acme","type":"dataset","private":true}'
expect "create a private dataset" 200
check "dataset url" [ "$(jq -r .url "$T/body")" = "$U/datasets/acme/d1" ]
req GET "$U/api/datasets/acme/d1"
expect "the private dataset is invisible without a token" 404 RepoNotFound
req POST "$U/api/repos/create" "${AUTH[@]}" "${J[@]}" \
	-d '{"name":"v1","organization":"acme","visibility":"private"}'
expect "create with visibility" 200
req GET "$U/api/v1/repos/acme/v1" "${AUTH[@]}"
check "visibility private is kept" [ "$(jq -r .private "$T/body")" = true ]
req POST "$U/api/repos/create" "${AUTH[@]}" "${J[@]}" -d '{"name":"../x","organization":"acme"}'
expect "a bad name" 400 InvalidRepoName
req POST "$U/api/repos/create" "${AUTH[@]}" "${J[@]}" -d '{"name":'
expect "malformed JSON" 400 BadRequest
READER=$(hz token create reader --scope read)
req POST "$U/api/repos/create" -H "Authorization: Bearer $READER" "${J[@]}" \
	-d '{"name":"m2","organization":"acme"}'
expect "a read token may not create" 403 Forbidden

# ---- validate-yaml
req POST "$U/api/validate-yaml" "${J[@]}" -d '{"content":"---\nlicense: mit\n---\n","repoType":"model"}'
expect "validate-yaml" 200
check "validate-yaml body" [ "$(jq -c . "$T/body")" = '{"errors":[],"warnings":[]}' ]

# ---- preupload
P='{"files":[{"path":"model.safetensors","sample":"AAAA","size":1234},{"path":"empty.txt","sample":"","size":0}]}'
req POST "$U/api/models/acme/m1/preupload/main" "${J[@]}" -d "$P"
expect "preupload without a token" 401 Unauthorized
req POST "$U/api/models/acme/m1/preupload/main" "${AUTH[@]}" "${J[@]}" -d "$P"
expect "preupload" 200
check "preupload: lfs for a non-empty file" \
	[ "$(jq -r '.files[0].uploadMode' "$T/body")" = lfs ]
check "preupload: regular for an empty file" \
	[ "$(jq -r '.files[1].uploadMode' "$T/body")" = regular ]
check "preupload: shouldIgnore" [ "$(jq -r '.files[1].shouldIgnore' "$T/body")" = false ]
req POST "$U/api/datasets/acme/d1/preupload/main" "${AUTH[@]}" "${J[@]}" -d "$P"
expect "preupload to a dataset" 200
req POST "$U/api/datasets/acme/m1/preupload/main" "${AUTH[@]}" "${J[@]}" -d "$P"
expect "preupload to a model as a dataset" 404 RepoNotFound
req POST "$U/api/models/acme/m1/preupload/main" "${AUTH[@]}" "${J[@]}" \
	-d '{"files":[{"path":"../etc/passwd","sample":"","size":3}]}'
expect "preupload of a traversal path" 400 InvalidPath

# ---- the Git LFS batch API and the signed PUT
SRC=$CORPUS_MINI/upscalerjs/esrgan-slim-x2
M=$SRC/model.safetensors
OID=$(sha "$M")
SIZE=$(stat -c %s "$M")
LJ=(-H "Content-Type: application/vnd.git-lfs+json; charset=utf-8" -H "Accept: application/vnd.git-lfs+json")
B="{\"operation\":\"upload\",\"transfers\":[\"basic\"],\"objects\":[{\"oid\":\"$OID\",\"size\":$SIZE}],\"hash_algo\":\"sha256\"}"
req POST "$U/acme/m1.git/info/lfs/objects/batch" "${LJ[@]}" -d "$B"
expect "batch upload without a token" 401 Unauthorized
check "401 carries LFS-Authenticate" [ "$(hdr LFS-Authenticate)" = 'Basic realm="hubzip"' ]
req POST "$U/acme/m1.git/info/lfs/objects/batch" "${LJ[@]}" -H "Authorization: Bearer $READER" -d "$B"
expect "batch upload with a read token" 403 Forbidden
req POST "$U/acme/m1.git/info/lfs/objects/batch" "${LJ[@]}" "${AUTH[@]}" -d "$B"
expect "batch upload" 200
check "batch: LFS content type" [ "$(hdr Content-Type)" = application/vnd.git-lfs+json ]
check "batch: transfer basic" [ "$(jq -r .transfer "$T/body")" = basic ]
HREF=$(jq -r '.objects[0].actions.upload.href' "$T/body")
VHREF=$(jq -r '.objects[0].actions.verify.href' "$T/body")
check "batch: an upload href" [ "${HREF#"$U"/}" != "$HREF" ]
check "batch: expires_in" [ "$(jq -r '.objects[0].actions.upload.expires_in' "$T/body")" -gt 0 ]
check "batch: verify carries the Authorization" \
	[ "$(jq -r '.objects[0].actions.verify.header.Authorization' "$T/body")" = "Bearer $ADMIN" ]
check "batch: verify href" [ "$VHREF" = "$U/acme/m1.git/info/lfs/verify" ]
B2="{\"operation\":\"upload\",\"objects\":[{\"oid\":\"$OID\",\"size\":$SIZE}],\"hash_algo\":\"sha_256\"}"
req POST "$U/datasets/acme/d1.git/info/lfs/objects/batch" "${LJ[@]}" "${AUTH[@]}" -d "$B2"
expect "batch upload to a dataset (sha_256)" 200
req POST "$U/acme/m1.git/info/lfs/objects/batch" "${LJ[@]}" "${AUTH[@]}" \
	-d '{"operation":"upload","objects":[{"oid":"XYZ","size":1}]}'
expect "batch with a bad oid" 200
check "a bad oid is a per-object 422" [ "$(jq -r '.objects[0].error.code' "$T/body")" = 422 ]
req POST "$U/acme/m1.git/info/lfs/objects/batch" "${LJ[@]}" "${AUTH[@]}" \
	-d "{\"operation\":\"upload\",\"objects\":[{\"oid\":\"$OID\",\"size\":$((65 << 20))}]}"
expect "batch of an object over max_upload_bytes" 200
check "an object over max_upload_bytes is a per-object 413" \
	[ "$(jq -r '.objects[0].error.code' "$T/body")" = 413 ]
req POST "$U/acme/m1.git/info/lfs/objects/batch" "${LJ[@]}" "${AUTH[@]}" \
	-d "{\"operation\":\"upload\",\"objects\":[],\"hash_algo\":\"md5\"}"
expect "batch with another hash_algo" 409 UnsupportedHashAlgo
req POST "$U/acme/m1.git/info/lfs/objects/batch" -H "Content-Type: text/plain" "${AUTH[@]}" -d "$B"
expect "batch with a wrong content type" 415 UnsupportedMediaType

req POST "$U/acme/m1.git/info/lfs/objects/batch" "${LJ[@]}" "${AUTH[@]}" -d '{"operation":'
expect "a batch that is not JSON" 400 BadRequest
head -c $((5 << 20)) /dev/zero | tr '\0' ' ' >"$T/big"
req POST "$U/acme/m1.git/info/lfs/objects/batch" "${LJ[@]}" "${AUTH[@]}" --data-binary @"$T/big"
expect "a batch body over its limit" 413 PayloadTooLarge
PENDING=$STORE/objects/lfs-pending
# a tampered signature, another oid or size under the same signature, an expired URL
req PUT "${HREF/sig=/sig=0}" -T "$M"
expect "PUT with a tampered signature" 403 InvalidSignature
OTHER=$(printf '%064d' 0)
req PUT "${HREF/$OID/$OTHER}" -T "$M"
expect "PUT with another oid" 403 InvalidSignature
req PUT "${HREF/\/$SIZE?//$((SIZE + 1))?}" -T "$M"
expect "PUT with another size" 403 InvalidSignature
KEY=$(od -An -tx1 -v "$STORE/secret.key" | tr -d ' \n')
check "the secret key has 32 bytes" [ ${#KEY} -eq 64 ]
EXP=$(( $(date +%s) - 10 ))
SIG=$(printf 'upload\n%s\n%s\n%s' "$OID" "$SIZE" "$EXP" |
	openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEY" | awk '{print $NF}')
req PUT "$U/api/lfs/objects/$OID/$SIZE?op=upload&expires=$EXP&sig=$SIG" -T "$M"
expect "PUT with an expired URL" 403 ExpiredSignature
EXP=$(( $(date +%s) + 600 ))
SIG=$(printf 'upload\n%s\n%s\n%s' "$OID" "$SIZE" "$EXP" |
	openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEY" | awk '{print $NF}')
req GET "$U/api/lfs/objects/$OID/$SIZE?op=upload&expires=$EXP&sig=$SIG"
expect "an upload URL does not download" 403 InvalidSignature
# bytes that do not match the oid: rejected, nothing kept
head -c "$SIZE" /dev/urandom >"$T/wrong"
req PUT "$HREF" -T "$T/wrong"
expect "PUT of other bytes" 400 DigestMismatch
head -c 100 "$M" >"$T/short"
req PUT "$HREF" -T "$T/short"
expect "PUT of too few bytes" 400 SizeMismatch
cat "$M" "$T/short" >"$T/long"
req PUT "$HREF" -T "$T/long"
expect "PUT of too many bytes" 400 SizeMismatch
check "nothing is pending after the rejected PUTs" [ -z "$(ls -A "$PENDING" 2>/dev/null)" ]
req POST "$VHREF" "${LJ[@]}" "${AUTH[@]}" -d "{\"oid\":\"$OID\",\"size\":$SIZE}"
expect "verify before the upload" 404
# the real upload, with no Authorization
req PUT "$HREF" -T "$M"
expect "PUT of the object" 200
check "the object is pending" cmp -s "$PENDING/$OID" "$M"
req POST "$VHREF" "${LJ[@]}" "${AUTH[@]}" -d "{\"oid\":\"$OID\",\"size\":$SIZE}"
expect "verify" 200
req POST "$U/acme/m1.git/info/lfs/objects/batch" "${LJ[@]}" "${AUTH[@]}" -d "$B"
expect "batch upload of a pending object" 200
check "no actions for a pending object" \
	[ "$(jq -r '.objects[0] | has("actions")' "$T/body")" = false ]
req POST "$U/acme/m1.git/info/lfs/locks/verify" "${LJ[@]}" "${AUTH[@]}" -d '{}'
expect "locks/verify" 404
req POST "$U/acme/m1.git/info/lfs/objects/batch" "${LJ[@]}" \
	-d "{\"operation\":\"download\",\"objects\":[{\"oid\":\"$OID\",\"size\":$SIZE}]}"
expect "batch download of an object not committed" 200
check "download of a missing object is a per-object 404" \
	[ "$(jq -r '.objects[0].error.code' "$T/body")" = 404 ]

# ---- the NDJSON commit
ND=(-H "Content-Type: application/x-ndjson")
C=$U/api/models/acme/m1/commit/main
b64() { base64 -w0 "$1"; }
printf '# m1\n' >"$T/readme"
line_hdr() { jq -cn --arg s "$1" --arg p "${2:-}" \
	'{key:"header",value:({summary:$s,description:"d"} + (if $p == "" then {} else {parentCommit:$p} end))}'; }
line_file() { jq -cn --arg p "$1" --arg c "$(b64 "$2")" '{key:"file",value:{path:$p,content:$c,encoding:"base64"}}'; }
line_lfs() { jq -cn --arg p "$1" --arg o "$2" --argjson s "$3" '{key:"lfsFile",value:{path:$p,algo:"sha256",oid:$o,size:$s}}'; }
line_del() { jq -cn --arg k "$1" --arg p "$2" '{key:$k,value:{path:$p}}'; }
{ line_hdr "add files"; line_lfs model.safetensors "$OID" "$SIZE"; } >"$T/nd"
req POST "$C" "${ND[@]}" --data-binary @"$T/nd"
expect "commit without a token" 401 Unauthorized
{ line_hdr "missing"; line_lfs model.safetensors "$OID" "$SIZE"; line_lfs other.bin "$OTHER" 5; } >"$T/nd"
req POST "$C" "${ND[@]}" "${AUTH[@]}" --data-binary @"$T/nd"
expect "commit of an object never uploaded" 422 LfsObjectNotFound
req GET "$U/api/models/acme/m1"
check "a failed commit leaves no revision" [ "$(jq -r .sha "$T/body")" = null ]
{ line_hdr "bad"; echo '{"key":"file","value":{"path":"a","content":"!!!"}}'; } >"$T/nd"
req POST "$C" "${ND[@]}" "${AUTH[@]}" --data-binary @"$T/nd"
expect "commit with bad base64" 400 BadRequest
{ line_hdr "bad"; line_file ../x "$T/readme"; } >"$T/nd"
req POST "$C" "${ND[@]}" "${AUTH[@]}" --data-binary @"$T/nd"
expect "commit with a traversal path" 400 InvalidPath
hz ls >"$T/ls.before" 2>&1
for bad in /etc/passwd 'a//b' './a' "$(head -c 5000 /dev/zero | tr '\0' a)"; do
	{ line_hdr "bad"; line_file "$bad" "$T/readme"; } >"$T/nd"
	req POST "$C" "${ND[@]}" "${AUTH[@]}" --data-binary @"$T/nd"
	expect "commit of a bad path (${bad:0:20})" 400 InvalidPath
done
{ line_hdr "bad"; echo '{"key":"file","value":{"path":"a\u0000b","content":""}}'; } >"$T/nd"
req POST "$C" "${ND[@]}" "${AUTH[@]}" --data-binary @"$T/nd"
expect "commit of a path with a NUL" 400 BadRequest
{ line_hdr "bad"; line_del deletedFolder ../x; } >"$T/nd"
req POST "$C" "${ND[@]}" "${AUTH[@]}" --data-binary @"$T/nd"
expect "deleting a traversal path" 400 InvalidPath
hz ls >"$T/ls.after" 2>&1
check "the bad commits changed nothing" cmp -s "$T/ls.before" "$T/ls.after"
printf 'not json\n' >"$T/nd"
req POST "$C" "${ND[@]}" "${AUTH[@]}" --data-binary @"$T/nd"
expect "commit with a line that is not JSON" 400 BadRequest
: >"$T/empty"
{ line_hdr "add files"; line_lfs model.safetensors "$OID" "$SIZE"; line_file README.md "$T/readme"
  line_file empty.txt "$T/empty"; line_file sub/a.txt "$T/readme"; line_file sub/b.txt "$T/readme"; } >"$T/nd"
req POST "$C" "${ND[@]}" "${AUTH[@]}" --data-binary @"$T/nd"
expect "commit" 200
C1=$(jq -r .commitOid "$T/body")
check "commit: a 40-hex commitOid" [ ${#C1} -eq 40 ]
check "commit: commitUrl" [ "$(jq -r .commitUrl "$T/body")" = "$U/acme/m1/commit/$C1" ]
check "commit: pullRequestUrl null" [ "$(jq -r .pullRequestUrl "$T/body")" = null ]
check "the pending object was taken" [ ! -e "$PENDING/$OID" ]
curl -sf "$U/acme/m1/resolve/main/model.safetensors" -o "$T/dl"
check "the LFS file is byte-exact" cmp -s "$T/dl" "$M"
curl -sf "$U/acme/m1/resolve/main/README.md" -o "$T/dl"
check "the inline file is byte-exact" cmp -s "$T/dl" "$T/readme"
req GET "$U/acme/m1/resolve/main/empty.txt"
expect "the empty file" 200
check "the empty file is empty" [ ! -s "$T/body" ]
req GET "$U/api/models/acme/m1"
check "the repo's sha is the commit" [ "$(jq -r .sha "$T/body")" = "$C1" ]
req GET "$U/api/v1/repos/acme/m1/revisions" "${AUTH[@]}"
check "the message is the summary and the description" \
	[ "$(jq -r '.revisions[0].message' "$T/body")" = "$(printf 'add files\n\nd')" ]

{ line_hdr "stale" "$(printf '%040d' 0)"; line_file x.txt "$T/readme"; } >"$T/nd"
req POST "$C" "${ND[@]}" "${AUTH[@]}" --data-binary @"$T/nd"
expect "a stale parentCommit" 409 ParentCommitMismatch
{ line_hdr "edit" "$C1"; line_del deletedFile README.md; line_del deletedFolder sub/
  line_lfs copy.safetensors "$OID" "$SIZE"; } >"$T/nd"
req POST "$C" "${ND[@]}" "${AUTH[@]}" --data-binary @"$T/nd"
expect "commit with the right parent: deletions and a stored file" 200
C2=$(jq -r .commitOid "$T/body")
req GET "$U/api/v1/repos/acme/m1/files/main"
check "the new tree" [ "$(jq -r '[.files[].path] | join(",")' "$T/body")" = "copy.safetensors,empty.txt,model.safetensors" ]
curl -sf "$U/acme/m1/resolve/main/copy.safetensors" -o "$T/dl"
check "the stored file named again is byte-exact" cmp -s "$T/dl" "$M"
curl -sf "$U/acme/m1/resolve/$C1/README.md" -o "$T/dl"
check "the parent revision keeps README.md" cmp -s "$T/dl" "$T/readme"
{ line_hdr "only a deletion" "$C2"; line_del deletedFile empty.txt
  jq -cn --arg o "$OID" '{key:"lfsFile",value:{path:"copy2.safetensors",algo:"sha256",oid:$o}}'; } >"$T/nd"
req POST "$C" "${ND[@]}" "${AUTH[@]}" --data-binary @"$T/nd"
expect "a commit that deletes and copies (an lfsFile without size)" 200
curl -sf "$U/acme/m1/resolve/main/copy2.safetensors" -o "$T/dl"
check "the copy is byte-exact" cmp -s "$T/dl" "$M"
req GET "$U/acme/m1/resolve/main/empty.txt"
expect "the deleted file is gone" 404 EntryNotFound
{ line_hdr "size" ; line_lfs bad.safetensors "$OID" 5; } >"$T/nd"
req POST "$C" "${ND[@]}" "${AUTH[@]}" --data-binary @"$T/nd"
expect "an lfsFile of the wrong size" 422

# a stored object: the batch API leaves out the upload, offers a download
req POST "$U/acme/m1.git/info/lfs/objects/batch" "${LJ[@]}" "${AUTH[@]}" -d "$B"
expect "batch upload of a stored object" 200
check "no actions for a stored object" [ "$(jq -r '.objects[0] | has("actions")' "$T/body")" = false ]
req POST "$U/acme/m1.git/info/lfs/objects/batch" "${LJ[@]}" \
	-d "{\"operation\":\"download\",\"objects\":[{\"oid\":\"$OID\",\"size\":$SIZE}]}"
expect "batch download" 200
DHREF=$(jq -r '.objects[0].actions.download.href' "$T/body")
req GET "$DHREF"
expect "GET the download href" 200
check "the LFS download is byte-exact" cmp -s "$T/body" "$M"
req GET "${DHREF/sig=/sig=f}"
expect "GET a tampered download href" 403 InvalidSignature
req PUT "${DHREF}" -T "$M"
expect "PUT to a download href" 403 InvalidSignature

# a dataset
{ line_hdr "data"; line_file data.csv "$T/readme"; } >"$T/nd"
req POST "$U/api/datasets/acme/d1/commit/main" "${ND[@]}" "${AUTH[@]}" --data-binary @"$T/nd"
expect "commit to a dataset" 200
check "dataset commitUrl" [ "$(jq -r .commitUrl "$T/body")" = "$U/datasets/acme/d1/commit/$(jq -r .commitOid "$T/body")" ]

# a private repo's file is not "already stored" for a caller who cannot read it
printf 'private bytes\n' >"$T/secret"
SOID=$(sha "$T/secret")
SSIZE=$(stat -c %s "$T/secret")
{ line_hdr "secret"; line_file secret.bin "$T/secret"; } >"$T/nd"
req POST "$U/api/datasets/acme/d1/commit/main" "${ND[@]}" "${AUTH[@]}" --data-binary @"$T/nd"
expect "commit to the private dataset" 200
EVIL=$(hz token create evil --scope write --namespace evil)
EA=(-H "Authorization: Bearer $EVIL")
req POST "$U/api/repos/create" "${EA[@]}" "${J[@]}" -d '{"name":"r","organization":"evil"}'
expect "another namespace's repo" 200
req POST "$U/evil/r.git/info/lfs/objects/batch" "${LJ[@]}" "${EA[@]}" \
	-d "{\"operation\":\"upload\",\"objects\":[{\"oid\":\"$SOID\",\"size\":$SSIZE}]}"
expect "batch upload of another namespace's private object" 200
check "its upload is not skipped" [ "$(jq -r '.objects[0] | has("actions")' "$T/body")" = true ]
req POST "$U/evil/r.git/info/lfs/objects/batch" "${LJ[@]}" "${EA[@]}" \
	-d "{\"operation\":\"download\",\"objects\":[{\"oid\":\"$SOID\",\"size\":$SSIZE}]}"
expect "batch download of another namespace's private object" 200
check "its download is a per-object 404" [ "$(jq -r '.objects[0].error.code' "$T/body")" = 404 ]
{ line_hdr "steal"; line_lfs stolen.bin "$SOID" "$SSIZE"; } >"$T/nd"
req POST "$U/api/models/evil/r/commit/main" "${ND[@]}" "${EA[@]}" --data-binary @"$T/nd"
expect "commit naming another namespace's private object" 422 LfsObjectNotFound
req POST "$U/acme/m1.git/info/lfs/objects/batch" "${LJ[@]}" "${AUTH[@]}" \
	-d "{\"operation\":\"upload\",\"objects\":[{\"oid\":\"$SOID\",\"size\":$SSIZE}]}"
check "the owner's upload of it is skipped" [ "$(jq -r '.objects[0] | has("actions")' "$T/body")" = false ]

# a pending object nobody commits goes at gc after a day
printf 'left pending\n' >"$T/pend"
HREF2=$(curl -sf -X POST "$U/acme/m1.git/info/lfs/objects/batch" "${LJ[@]}" "${AUTH[@]}" \
	-d "{\"operation\":\"upload\",\"objects\":[{\"oid\":\"$(sha "$T/pend")\",\"size\":$(stat -c %s "$T/pend")}]}" |
	jq -r '.objects[0].actions.upload.href')
req PUT "$HREF2" -T "$T/pend"
expect "PUT of an object left pending" 200
stop_daemon
if grep -q Sanitizer "$T/log"; then fail "sanitizer report: $(head -c 2000 "$T/log")"; else ok; fi
hz gc >/dev/null
check "gc keeps a fresh pending object" [ -e "$PENDING/$(sha "$T/pend")" ]
touch -d '2 days ago' "$PENDING/$(sha "$T/pend")"
hz gc >/dev/null
check "gc removes a pending object a day old" [ ! -e "$PENDING/$(sha "$T/pend")" ]
if hz fsck >"$T/fsck" 2>&1; then ok; else fail "fsck: $(cat "$T/fsck")"; fi

stop_daemon
done_tests
