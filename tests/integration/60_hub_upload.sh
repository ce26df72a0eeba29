#!/usr/bin/env bash
# The hub's upload side (HUB-PROTOCOL.md section 3) on the real daemon, on
# a random loopback port with a temporary store, driven with curl:
# api/repos/create, validate-yaml, preupload.
. "$(dirname "$0")/lib.sh"
need_corpus
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }

PID=
stop_daemon() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	PID=
}
trap 'stop_daemon; rm -rf "$T"' EXIT

# start_daemon: serves $STORE on 127.0.0.1:<kernel's choice>; sets U, PID.
start_daemon() {
	: >"$T/out"
	"$HUBZIP" --store "$STORE" serve --listen 127.0.0.1:0 --max-upload-bytes 64M \
		>"$T/out" 2>>"$T/log" &
	PID=$!
	for _ in $(seq 100); do
		grep -q '^hubzip: serving' "$T/out" 2>/dev/null && break
		kill -0 "$PID" 2>/dev/null || { cat "$T/log" >&2; echo "daemon died" >&2; exit 1; }
		sleep 0.1
	done
	U=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/out" | head -1)
	[ -n "$U" ] || { echo "daemon did not start" >&2; cat "$T/log" >&2; exit 1; }
	for _ in $(seq 50); do
		curl -sf "$U/api/v1/health" >/dev/null && return 0
		sleep 0.1
	done
	echo "daemon not ready" >&2
	exit 1
}

# req METHOD URL [curl args...]: sets CODE, body in $T/body, headers in $T/hdr
req() {
	local m=$1 url=$2; shift 2
	CODE=$(curl -s --path-as-is -X "$m" -o "$T/body" -D "$T/hdr" -w '%{http_code}' "$@" "$url")
}
hdr() { grep -i "^$1:" "$T/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
expect() { # description code [error-code]: the last req's status (and JSON error)
	local what=$1 want=$2 ecode=${3:-}
	if [ "$CODE" != "$want" ]; then
		fail "$what: status $CODE, expected $want ($(head -c 200 "$T/body"))"
		return
	fi
	if [ -n "$ecode" ]; then
		if [ "$(hdr X-Error-Code)" != "$ecode" ]; then
			fail "$what: X-Error-Code '$(hdr X-Error-Code)', expected $ecode"
			return
		fi
		if ! jq -e '.error' "$T/body" >/dev/null 2>&1; then
			fail "$what: body is not a JSON error: $(head -c 200 "$T/body")"
			return
		fi
	fi
	ok
}
sha() { sha256sum "$1" | cut -c1-64; }

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

#@LFS@

stop_daemon
done_tests
