#!/usr/bin/env bash
# The security review's checks (docs/security.md), against the real daemon:
# signed LFS URLs (tampered, expired, bound to operation, object and size),
# token storage (only hashes; no token in the index or the log; revoked and
# malformed tokens refused), constant-time comparisons (a source check),
# a private repo invisible in every listing, search, stats, metrics and
# dashboard endpoint and in the LFS and commit paths (no existence oracle,
# no naming its content by hash), and error bodies that never name the
# store's directory.
. "$(dirname "$0")/lib.sh"
need_corpus
. "$(dirname "$0")/daemon.sh"

hz init >/dev/null
start_daemon
ADMIN=$(grep -o 'hf_[A-Za-z0-9]*' "$T/out" | head -1)
AUTH=(-H "Authorization: Bearer $ADMIN")
OTHER=$(hz token create other --scope write --namespace other)
READER=$(hz token create reader --scope read --namespace acme)
SRC=$CORPUS_MINI/upscalerjs/esrgan-slim-x2
M=$SRC/model.safetensors
MSHA=$(sha "$M")
MSIZE=$(stat -c %s "$M")
bodies=$T/bodies
: >"$bodies"
keep() { { cat "$T/hdr" "$T/body"; echo; } >>"$bodies"; }

req POST "$U/api/v1/repos" "${AUTH[@]}" -d '{"repo": "acme/pub"}'
expect "create a public repo" 201
req PUT "$U/api/v1/repos/acme/pub/files/main/model.safetensors" "${AUTH[@]}" -T "$M"
expect "upload to it" 201
# the private repo: a name, a path and content found nowhere else
head -c 70000 /dev/urandom >"$T/zebra.bin"
ZSHA=$(sha "$T/zebra.bin")
req POST "$U/api/v1/repos" "${AUTH[@]}" -d '{"repo": "secretns/hidden-zebra", "private": true}'
expect "create a private repo" 201
req PUT "$U/api/v1/repos/secretns/hidden-zebra/files/main/zebra-secret.bin" "${AUTH[@]}" -T "$T/zebra.bin"
expect "upload to it" 201
req POST "$U/api/v1/repos" "${AUTH[@]}" -d '{"repo": "other/mine"}'
expect "a repo of the other namespace" 201

# ---- signed URLs
batch() { # repo operation oid size [curl args]: the batch reply in $T/body
	local repo=$1 op=$2 oid=$3 size=$4
	shift 4
	req POST "$U/$repo.git/info/lfs/objects/batch" -H 'Content-Type: application/vnd.git-lfs+json' "$@" \
		-d "{\"operation\":\"$op\",\"objects\":[{\"oid\":\"$oid\",\"size\":$size}]}"
}
batch acme/pub download "$MSHA" "$MSIZE"
expect "batch download of a public file, anonymously" 200
HREF=$(jq -r '.objects[0].actions.download.href' "$T/body")
check "a signed download URL" grep -q '/api/lfs/objects/.*op=download&expires=[0-9]*&sig=[0-9a-f]\{64\}$' <<<"$HREF"
req GET "$HREF"
expect "the signed URL downloads" 200
check "byte-exact" cmp -s "$T/body" "$M"
EXP=$(sed 's/.*expires=\([0-9]*\).*/\1/' <<<"$HREF")
SIG=${HREF##*sig=}
BASE=${HREF%%\?*}
flip() { # the hex string with its first digit changed
	local c=${1:0:1}
	[ "$c" = 0 ] && c=1 || c=0
	echo "$c${1:1}"
}
signed_bad() { # what url code
	req GET "$2"
	keep
	expect "$1" 403 "$3"
}
signed_bad "a tampered signature" "$BASE?op=download&expires=$EXP&sig=$(flip "$SIG")" InvalidSignature
signed_bad "the signature in upper case" "$BASE?op=download&expires=$EXP&sig=${SIG^^}" InvalidSignature
signed_bad "a later expiry" "$BASE?op=download&expires=$((EXP + 1))&sig=$SIG" InvalidSignature
signed_bad "another object" "$U/api/lfs/objects/$ZSHA/$MSIZE?op=download&expires=$EXP&sig=$SIG" InvalidSignature
signed_bad "another size" "$U/api/lfs/objects/$MSHA/$((MSIZE - 1))?op=download&expires=$EXP&sig=$SIG" InvalidSignature
signed_bad "no signature" "$BASE?op=download&expires=$EXP" InvalidSignature
signed_bad "a short signature" "$BASE?op=download&expires=$EXP&sig=${SIG:0:63}" InvalidSignature
req PUT "$BASE?op=download&expires=$EXP&sig=$SIG" -T "$M"
keep
expect "a download URL used to upload" 403 InvalidSignature
req GET "$BASE?op=upload&expires=$EXP&sig=$SIG"
keep
expect "op changed to upload" 403 InvalidSignature
# sign as the server does, with the store's key: a valid signature whose
# time has passed is refused as expired (and the same signer's future URL
# works, so the check is the expiry's)
sign() { # op oid size expires
	python3 -c 'import hashlib, hmac, sys
key = open(sys.argv[1], "rb").read()
msg = "\n".join(sys.argv[2:6]).encode()
print(hmac.new(key, msg, hashlib.sha256).hexdigest())' "$STORE/secret.key" "$@"
}
FUT=$(($(date +%s) + 600))
req GET "$BASE?op=download&expires=$FUT&sig=$(sign download "$MSHA" "$MSIZE" "$FUT")"
expect "a URL signed with the store's key" 200
PAST=$(($(date +%s) - 5))
req GET "$BASE?op=download&expires=$PAST&sig=$(sign download "$MSHA" "$MSIZE" "$PAST")"
keep
expect "a validly signed URL past its expiry" 403 ExpiredSignature
check "the key file is readable by its owner only" [ "$(stat -c %a "$STORE/secret.key")" = 600 ]
# upload URLs: bound to the size and the content's SHA-256
head -c 5000 /dev/urandom >"$T/up.bin"
USHA=$(sha "$T/up.bin")
batch acme/pub upload "$USHA" 5000 "${AUTH[@]}"
expect "batch upload" 200
UHREF=$(jq -r '.objects[0].actions.upload.href' "$T/body")
head -c 4999 "$T/up.bin" >"$T/short.bin"
req PUT "$UHREF" -T "$T/short.bin"
keep
expect "an upload of another length" 400 SizeMismatch
head -c 5000 /dev/urandom >"$T/other.bin"
req PUT "$UHREF" -T "$T/other.bin"
keep
expect "an upload of other bytes" 400 DigestMismatch
check "nothing was kept" [ ! -e "$STORE/objects/lfs-pending/$USHA" ]
req GET "$UHREF"
keep
expect "an upload URL used to download" 403 InvalidSignature
req PUT "$UHREF" -T "$T/up.bin"
expect "the right bytes" 200
# a pending (uploaded, not committed) object is nobody's yet: LFS verify
# tells only those who may upload to the repo
vfy() { req POST "$U/acme/pub.git/info/lfs/verify" -H 'Content-Type: application/vnd.git-lfs+json' "$@" \
	-d "{\"oid\":\"$USHA\",\"size\":5000}"; }
vfy "${AUTH[@]}"
expect "verify of a pending object by a writer" 200
vfy
expect "verify of a pending object, anonymously" 404
vfy -H "Authorization: Bearer $READER"
expect "verify of a pending object by a reader" 404

# ---- tokens
check "the index keeps the token's SHA-256" [ "$(sqlite3 "$STORE/hubzip.db" "SELECT lower(hex(hash)) FROM tokens WHERE name = 'other'")" = "$(printf %s "$OTHER" | sha256sum | cut -c1-64)" ]
check "and not the token" bash -c "! sqlite3 '$STORE/hubzip.db' .dump | grep -qF '$OTHER'"
check "no token is in the store's files" bash -c "! grep -rqF -e '$OTHER' -e '$ADMIN' -e '$READER' '$STORE'"
req GET "$U/api/whoami-v2" -H "Authorization: Bearer ${OTHER:0:36}"
expect "a token one character short" 401 Unauthorized
last=x; [ "${OTHER:36:1}" = x ] && last=y   # really a different character
req GET "$U/api/whoami-v2" -H "Authorization: Bearer ${OTHER:0:36}$last"
expect "a token with one character changed" 401 Unauthorized
req GET "$U/api/whoami-v2" -H "Authorization: Bearer $OTHER"
expect "the token" 200
hz token create gone --scope read >"$T/gone"
hz token revoke gone >/dev/null
req GET "$U/api/whoami-v2" -H "Authorization: Bearer $(cat "$T/gone")"
expect "a revoked token" 401 Unauthorized
req GET "$U/api/v1/repos" -H "Authorization: Bearer $(cat "$T/gone")"
expect "a revoked token on a public route" 401 Unauthorized
# the comparisons that decide are constant-time (CRYPTO_memcmp): the
# stored token hash and the URL signature
check "store/auth.c compares token hashes with CRYPTO_memcmp" \
	grep -q 'CRYPTO_memcmp(.*hash' "$ROOT/store/auth.c"
check "api/lfs.c compares signatures with CRYPTO_memcmp" grep -q 'CRYPTO_memcmp(want, q_sig' "$ROOT/api/lfs.c"
check "and nothing else compares them" bash -c "! grep -nE '(str|mem)n?cmp\\(([^)]*q_sig|want,)' '$ROOT/api/lfs.c' | grep -v CRYPTO_"

# ---- the private repo: invisible to anonymous callers and to a token of
# another namespace, everywhere
for who in anonymous other; do
	A=()
	[ "$who" = other ] && A=(-H "Authorization: Bearer $OTHER")
	for p in api/v1/repos api/stats api/v1/stats "api/stats?limit=100000" api/stats/history \
		metrics "" ui/app.js ui/index.html api/whoami-v2; do
		req GET "$U/$p" "${A[@]}"
		keep
		check "$who: GET /$p does not name the private repo" bash -c "! grep -q zebra '$T/body' '$T/hdr'"
	done
	for f in 1 2 3 4 5; do
		req GET "$U/api/stats/families/$f" "${A[@]}"
		keep
		check "$who: family $f does not name it" bash -c "! grep -q zebra '$T/body'"
	done
	for p in api/stats/repos/secretns/hidden-zebra api/v1/repos/secretns/hidden-zebra \
		api/v1/repos/secretns/hidden-zebra/revisions api/v1/repos/secretns/hidden-zebra/files/main \
		api/v1/repos/secretns/hidden-zebra/files/main/zebra-secret.bin \
		api/models/secretns/hidden-zebra api/models/secretns/hidden-zebra/revision/main \
		api/models/secretns/hidden-zebra/tree/main secretns/hidden-zebra/resolve/main/zebra-secret.bin \
		secretns/hidden-zebra/raw/main/zebra-secret.bin; do
		req GET "$U/$p" "${A[@]}"
		expect "$who: GET /$p" 404 RepoNotFound
	done
	req POST "$U/api/models/secretns/hidden-zebra/paths-info/main" "${A[@]}" -d 'paths=zebra-secret.bin'
	expect "$who: paths-info" 404 RepoNotFound
	batch secretns/hidden-zebra download "$ZSHA" 70000 "${A[@]}"
	expect "$who: LFS batch on the private repo" 404 RepoNotFound
	batch acme/pub download "$ZSHA" 70000 "${A[@]}"
	keep
	check "$who: its content by hash through a public repo: no URL" [ "$(jq -r '.objects[0].error.code' "$T/body")" = 404 ]
	req POST "$U/acme/pub.git/info/lfs/verify" "${A[@]}" -H 'Content-Type: application/vnd.git-lfs+json' \
		-d "{\"oid\":\"$ZSHA\",\"size\":70000}"
	expect "$who: LFS verify of its content" 404
	req GET "$U/api/stats/history" "${A[@]}"
	check "$who: history rows of the private repo have no name" \
		[ "$(jq '[.history[] | select(.repo == null)] | length' "$T/body")" -ge 1 ]
done
req PATCH "$U/api/v1/repos/secretns/hidden-zebra" -H "Authorization: Bearer $OTHER" -d '{"private": false}'
expect "another namespace cannot make it public" 404 RepoNotFound
req DELETE "$U/api/v1/repos/secretns/hidden-zebra" -H "Authorization: Bearer $OTHER"
expect "nor delete it" 404 RepoNotFound
# another namespace's writer: the upload batch does not skip the private
# content (no dedup oracle) and a commit cannot name it by hash
batch other/mine upload "$ZSHA" 70000 -H "Authorization: Bearer $OTHER"
check "an upload of the private content is asked for its bytes" \
	[ "$(jq -r '.objects[0].actions.upload.href | type' "$T/body")" = string ]
printf '{"key":"header","value":{"summary":"steal"}}\n{"key":"lfsFile","value":{"path":"z.bin","algo":"sha256","oid":"%s","size":70000}}\n' "$ZSHA" >"$T/steal"
req POST "$U/api/models/other/mine/commit/main" -H "Authorization: Bearer $OTHER" \
	-H 'Content-Type: application/x-ndjson' --data-binary "@$T/steal"
keep
expect "a commit naming the private content by hash" 422 LfsObjectNotFound
req GET "$U/api/v1/repos" -H "Authorization: Bearer $READER"
check "a reader of acme does not see secretns either" bash -c "! grep -q zebra '$T/body'"
req GET "$U/secretns/hidden-zebra/resolve/main/zebra-secret.bin" "${AUTH[@]}"
expect "the admin reads it" 200
check "the checks above would have seen it" cmp -s "$T/body" "$T/zebra.bin"

# ---- error bodies never name the store's directory: make the spool
# directory vanish (500s) and look at every error body and header
mv "$STORE/objects/tmp" "$STORE/objects/tmp.away"
req PUT "$U/api/v1/repos/acme/pub/files/main/x.bin" "${AUTH[@]}" -T "$SRC/config.json"
keep
expect "an upload with no spool directory" 500 InternalError
req POST "$U/api/v1/repos/acme/pub/commit/main" "${AUTH[@]}" -F "a.json=@$SRC/config.json"
keep
expect "a multipart commit with no spool directory" 500 InternalError
printf '{"key":"header","value":{"summary":"x"}}\n{"key":"file","value":{"path":"y.txt","content":"eHl6","encoding":"base64"}}\n' >"$T/nd"
req POST "$U/api/models/acme/pub/commit/main" "${AUTH[@]}" -H 'Content-Type: application/x-ndjson' --data-binary "@$T/nd"
keep
expect "an NDJSON commit with no spool directory" 500
batch acme/pub upload "$(sha "$T/other.bin")" 5000 "${AUTH[@]}"
req PUT "$(jq -r '.objects[0].actions.upload.href' "$T/body")" -T "$T/other.bin"
keep
expect "a signed PUT with no spool directory" 500
mv "$STORE/objects/tmp.away" "$STORE/objects/tmp"
check "the log has the detail" grep -q 'cannot create a spool file' "$T/log"
check "no error body or header names the store's directory" bash -c "! grep -qF '$STORE' '$bodies'"
check "nor any objects/ path" bash -c "! grep -q 'objects/' '$bodies'"
check "nor the private repo" bash -c "! grep -q zebra '$bodies'"
check "no token is in the log" bash -c "! grep -qF -e '$OTHER' -e '$ADMIN' -e '$READER' '$T/log'"
stop_daemon
done_tests
