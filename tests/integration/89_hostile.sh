#!/usr/bin/env bash
# The hostile-input catalogue (tests/hostile/catalogue.jsonl): malformed
# safetensors through the CLI and HTTP, bad ranges, bad percent-encoding,
# path traversal, giant headers, slowloris, unknown methods, malformed
# request lines and framing, bad NDJSON commits, bad LFS batches, private
# repos, each with its expected answer, against the real daemon (a header
# deadline of 2 s).  Afterwards the store is as it was (stats, listings,
# objects, fsck), nothing is left in objects/tmp or lfs-pending, no request
# got a 5xx from hubzip, and the daemon still serves.
. "$(dirname "$0")/lib.sh"
need_corpus
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }

. "$(dirname "$0")/daemon.sh"
snapshot() {
	{
		hz stats --json | jq -S 'del(.counts.index_bytes, .disk.index_bytes, .computed_at)'
		hz ls
		for r in acme/m secret/p; do hz ls "$r"; done
		hz token list
		(cd "$STORE/objects" && find . -type f -printf '%p %s\n' | sort)
	} >"$1" 2>&1
}

hz init >/dev/null
export HUBZIP_HEADER_TIMEOUT=2
start_daemon
ADMIN=$(grep -o 'hf_[A-Za-z0-9]*' "$T/out" | head -1)
AUTH=(-H "Authorization: Bearer $ADMIN")

# a public model and a private repo in another namespace
SRC=$CORPUS_MINI/upscalerjs/esrgan-slim-x2
M=$SRC/model.safetensors
req POST "$U/api/v1/repos" "${AUTH[@]}" -d '{"repo": "acme/m"}'
expect "create acme/m" 201
req PUT "$U/api/v1/repos/acme/m/files/main/model.safetensors" "${AUTH[@]}" -T "$M"
expect "upload the model" 201
req PUT "$U/api/v1/repos/acme/m/files/main/config.json" "${AUTH[@]}" -T "$SRC/config.json"
expect "upload its config" 201
head -c 4096 /dev/urandom >"$T/secret.bin"
req POST "$U/api/v1/repos" "${AUTH[@]}" -d '{"repo": "secret/p", "private": true}'
expect "create the private secret/p" 201
req PUT "$U/api/v1/repos/secret/p/files/main/secret.bin" "${AUTH[@]}" -T "$T/secret.bin"
expect "upload its file" 201

export HOSTILE_ADMIN=$ADMIN
HOSTILE_READ=$(hz token create reader --scope read --namespace acme)
HOSTILE_OTHER=$(hz token create other --scope write --namespace elsewhere)
HOSTILE_ACME=$(hz token create acme-writer --scope write --namespace acme)
HOSTILE_OID=$(sha "$M")
HOSTILE_SIZE=$(stat -c %s "$M")
HOSTILE_SECRET_OID=$(sha "$T/secret.bin")
HOSTILE_SECRET_SIZE=4096
HOSTILE_FIX=$ROOT/tests/fixtures
HOSTILE_IN=$ROOT/tests/hostile/inputs
export HOSTILE_READ HOSTILE_OTHER HOSTILE_ACME HOSTILE_OID HOSTILE_SIZE HOSTILE_SECRET_OID \
	HOSTILE_SECRET_SIZE HOSTILE_FIX HOSTILE_IN

snapshot "$T/before"
LOG_FROM=$(wc -l <"$T/log")
rc=0
python3 "$ROOT/tests/hostile/run.py" --url "$U" --hubzip "$HUBZIP" --store "$STORE" \
	"$ROOT/tests/hostile/catalogue.jsonl" >"$T/catalogue.out" 2>&1 || rc=$?
cat "$T/catalogue.out"
check "every catalogue entry gets its expected answer" [ "$rc" -eq 0 ]
n=$(grep -cE '^(ok|FAIL) ' "$T/catalogue.out" || true)
check "the catalogue has at least 40 entries ($n)" [ "$n" -ge 40 ]

check "the daemon is still running" kill -0 "$PID"
req GET "$U/api/v1/health"
expect "and answers" 200
curl -sf "$U/acme/m/resolve/main/model.safetensors" -o "$T/dl"
check "and serves the model byte-exact" [ "$(sha "$T/dl")" = "$HOSTILE_OID" ]
snapshot "$T/after"
check "the store is unchanged" cmp -s "$T/before" "$T/after"
cmp -s "$T/before" "$T/after" || diff "$T/before" "$T/after" | head -20 >&2
check "nothing is left in objects/tmp" [ -z "$(ls -A "$STORE/objects/tmp")" ]
check "no pending LFS object was kept" \
	[ -z "$(ls -A "$STORE/objects/lfs-pending" 2>/dev/null)" ]
check "fsck is clean" bash -c "\"$HUBZIP\" --store '$STORE' fsck >/dev/null"
tail -n +"$((LOG_FROM + 1))" "$T/log" | grep '"status"' >"$T/access" || true
check "every request of the catalogue is in the access log as JSON" \
	bash -c "[ \$(jq -s length '$T/access') -ge 100 ]"
check "a method and path that are not UTF-8 are logged (as JSON)" \
	grep -q '"method":"G?T","path":"/??"' "$T/access"
check "hubzip answered no request with a 5xx" \
	bash -c "[ -z \"\$(jq -c 'select(.status >= 500)' '$T/access')\" ]"
check "the header deadline cut the slow connections, and said so" \
	grep -q 'sent no complete request headers within 2 s' "$T/log"
stop_daemon
done_tests
