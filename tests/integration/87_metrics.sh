#!/usr/bin/env bash
# GET /metrics against the real daemon: `promtool check metrics` passes on
# the page (empty and populated); uploads, a multipart commit, downloads,
# ranges and 404s move the counters by exactly what was sent; the store
# gauges equal GET /api/v1/stats, also right after a change through the
# daemon or by another process; no repo's name shows; and
# metrics_token_required makes the page need a token.
. "$(dirname "$0")/lib.sh"
need_corpus
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }
command -v promtool >/dev/null || { echo "promtool is needed (deploy/install-deps.sh --test)" >&2; exit 1; }

. "$(dirname "$0")/daemon.sh"

# scrape FILE: the page into FILE (headers into $T/mhdr)
scrape() { curl -sf -D "$T/mhdr" "$U/metrics" -o "$1"; }
# val FILE SERIES: a sample's value (0 when the series is absent)
val() { awk -v s="$2" '$1 == s { v = $2; f = 1 } END { print f ? v : 0 }' "$1"; }
# delta SERIES: what it gained from $T/m0 to $T/m1
delta() { echo $(($(val "$T/m1" "$1") - $(val "$T/m0" "$1"))); }
# wait_count SERIES WANT: scrape into $T/m1 until SERIES reached WANT over
# $T/m0 (a request is counted when its connection is done with it, which
# can be just after the client has read the reply)
wait_count() {
	for _ in $(seq 50); do
		scrape "$T/m1"
		[ "$(delta "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
}
check_delta() { # description series want
	local got
	got=$(delta "$2")
	if [ "$got" = "$3" ]; then ok; else fail "$1: $2 moved by $got, expected $3"; fi
}
promcheck() { # description file
	if promtool check metrics <"$2" >"$T/prom" 2>&1; then ok; else
		fail "$1: promtool check metrics: $(head -c 600 "$T/prom")"
	fi
}

hz init >/dev/null
start_daemon
ADMIN=$(grep -o 'hf_[A-Za-z0-9]*' "$T/out" | head -1)
AUTH=(-H "Authorization: Bearer $ADMIN")

# ---- the page of a fresh server
scrape "$T/m0"
check "GET /metrics is 200" [ -s "$T/m0" ]
promcheck "a fresh server" "$T/m0"
check "Content-Type of the text format" \
	grep -qi '^Content-Type: text/plain; version=0.0.4; charset=utf-8' "$T/mhdr"
check "build info" grep -q '^hubzip_build_info{version="[^"]*"} 1$' "$T/m0"
check "an empty store has 0 logical bytes" [ "$(val "$T/m0" hubzip_store_logical_bytes)" = 0 ]
for fam in hubzip_http_requests_total hubzip_http_request_duration_seconds \
	hubzip_uploads_in_flight hubzip_ingest_bytes_total hubzip_restore_bytes_total \
	hubzip_store_physical_bytes hubzip_store_saved_bytes hubzip_store_objects; do
	check "$fam has HELP and TYPE" grep -q "^# TYPE $fam " "$T/m0"
done
req HEAD "$U/metrics" -I
expect "HEAD /metrics" 200

# ---- traffic: uploads, a multipart commit, downloads, ranges, 404s
SRC=$CORPUS_MINI/upscalerjs/esrgan-slim-x2
M=$SRC/model.safetensors
MSIZE=$(stat -c %s "$M")
scrape "$T/m0"
req POST "$U/api/v1/repos" "${AUTH[@]}" -d '{"repo": "acme/slim"}'
expect "create a repo" 201
PUT_BYTES=0
for f in "$M" "$SRC/config.json"; do
	req PUT "$U/api/v1/repos/acme/slim/files/main/${f##*/}" "${AUTH[@]}" -T "$f"
	expect "PUT ${f##*/}" 201
	PUT_BYTES=$((PUT_BYTES + $(stat -c %s "$f")))
done
TFJS=$(find "$SRC/tfjs" -type f | sort | head -2)
FORM=() MP_BYTES=0 MP_FILES=0
while IFS= read -r f; do
	FORM+=(-F "tfjs/${f##*/}=@$f")
	MP_BYTES=$((MP_BYTES + $(stat -c %s "$f")))
	MP_FILES=$((MP_FILES + 1))
done <<<"$TFJS"
check "two tfjs files for the multipart commit" [ "$MP_FILES" -eq 2 ]
req POST "$U/api/v1/repos/acme/slim/commit/main" "${AUTH[@]}" -F message=tfjs "${FORM[@]}"
expect "multipart commit" 201
req GET "$U/acme/slim/resolve/main/model.safetensors"
expect "download the model" 200
check "the download is byte-exact" cmp -s "$T/body" "$M"
req GET "$U/acme/slim/resolve/main/model.safetensors" -r 100-1123
expect "a range of 1024 bytes" 206
req HEAD "$U/acme/slim/resolve/main/model.safetensors" -I
expect "HEAD sends no file bytes" 200
for i in 1 2 3; do
	req GET "$U/acme/slim/resolve/main/missing-$i.bin"
	expect "missing file $i" 404 EntryNotFound
done
req GET "$U/no/such/endpoint/at/all"
expect "no such endpoint" 404 NotFound

wait_count 'hubzip_http_requests_total{route="other",code="404"}' 1
check_delta "uploads" 'hubzip_http_requests_total{route="upload",code="201"}' 2
check_delta "commits" 'hubzip_http_requests_total{route="commit",code="201"}' 1
check_delta "repo creation" 'hubzip_http_requests_total{route="api_native",code="201"}' 1
check_delta "downloads" 'hubzip_http_requests_total{route="resolve",code="200"}' 2
check_delta "ranges" 'hubzip_http_requests_total{route="resolve",code="206"}' 1
check_delta "404s of resolve" 'hubzip_http_requests_total{route="resolve",code="404"}' 3
check_delta "404s of no route" 'hubzip_http_requests_total{route="other",code="404"}' 1
check_delta "histogram count of 404s" \
	'hubzip_http_request_duration_seconds_count{route="resolve",code="404"}' 3
check_delta "histogram +Inf bucket of 404s" \
	'hubzip_http_request_duration_seconds_bucket{route="resolve",code="404",le="+Inf"}' 3
check_delta "bytes restored: one whole file and 1024" hubzip_restore_bytes_total $((MSIZE + 1024))
check_delta "files ingested" hubzip_ingest_files_total $((2 + MP_FILES))
check_delta "bytes ingested" hubzip_ingest_bytes_total $((PUT_BYTES + MP_BYTES))
check_delta "revisions committed" hubzip_ingest_commits_total 3
check_delta "request bytes of uploads" 'hubzip_http_request_bytes_total{route="upload"}' "$PUT_BYTES"
check "no upload in flight" [ "$(val "$T/m1" hubzip_uploads_in_flight)" = 0 ]
check "only the scrape in flight" [ "$(val "$T/m1" hubzip_http_requests_in_flight)" = 1 ]
check "ingest took time" awk -v v="$(val "$T/m1" hubzip_ingest_seconds_total)" 'BEGIN { exit !(v > 0) }'
# every histogram's +Inf bucket is its count, and its count the counter
awk '
	/^hubzip_http_requests_total\{/ { split($1, a, "{"); req[a[2]] = $2 }
	/^hubzip_http_request_duration_seconds_count\{/ { split($1, a, "{"); cnt[a[2]] = $2 }
	/^hubzip_http_request_duration_seconds_bucket\{.*le="\+Inf"\}/ {
		k = $1; sub(/^[^{]*\{/, "", k); sub(/,le="\+Inf"\}$/, "}", k); inf[k] = $2 }
	END { n = 0; for (k in req) { n++; if (cnt[k] != req[k] || inf[k] != req[k]) exit 1 }
	      exit n < 5 }' "$T/m1" && ok || fail "histogram counts and +Inf buckets match the request counters"
promcheck "a populated page" "$T/m1"

# ---- the store gauges are GET /api/v1/stats
req GET "$U/api/v1/stats" "${AUTH[@]}"
expect "stats" 200
cp "$T/body" "$T/stats.json"
scrape "$T/m2"
check "some bytes are stored" [ "$(val "$T/m2" hubzip_store_logical_bytes)" -gt "$MSIZE" ]
while read -r series expr; do
	want=$(jq -r "$expr" "$T/stats.json")
	got=$(val "$T/m2" "$series")
	if [ "$got" = "$want" ]; then ok; else fail "$series is $got, /api/v1/stats says $want"; fi
done <<'EOF'
hubzip_store_logical_bytes .logical_bytes
hubzip_store_physical_bytes .physical_bytes
hubzip_store_saved_bytes{stage="file_dedup"} .stages.file_dedup
hubzip_store_saved_bytes{stage="tensor_dedup"} .stages.tensor_dedup
hubzip_store_saved_bytes{stage="delta"} .stages.delta
hubzip_store_saved_bytes{stage="coding"} .stages.coding
hubzip_store_objects .counts.objects
hubzip_store_files .counts.files
hubzip_store_unique_files .counts.unique_files
hubzip_store_tensors .counts.tensors
hubzip_store_unique_tensors .counts.unique_tensors
hubzip_store_repos .counts.repos
hubzip_store_revisions .counts.revisions
hubzip_store_packs .counts.packs
hubzip_store_pack_bytes .counts.pack_bytes
hubzip_store_families .counts.families // (.families | length)
EOF
# docs/format.md: pack_bytes = physical_bytes + 32 x packs + dead_bytes, and
# dead_bytes is 0 right after ingests into a fresh store
check "dead bytes follow the pack rule" [ "$(val "$T/m2" hubzip_store_dead_bytes)" = \
	$(jq '.counts.pack_bytes - .physical_bytes - 32 * .counts.packs' "$T/stats.json") ]
check "no dead bytes after ingests into a fresh store" [ "$(val "$T/m2" hubzip_store_dead_bytes)" = 0 ]

# ---- changes show at once, through the daemon or not; no repo is named
req POST "$U/api/v1/repos" "${AUTH[@]}" -d '{"repo": "hiddenns/secretmodel", "private": true}'
expect "create a private repo" 201
req PUT "$U/api/v1/repos/hiddenns/secretmodel/files/main/config.json" "${AUTH[@]}" \
	-T "$SRC/config.json"
expect "upload to the private repo" 201
scrape "$T/m3"
check "the new repo is counted at once" \
	[ "$(val "$T/m3" hubzip_store_repos)" = $(($(val "$T/m2" hubzip_store_repos) + 1)) ]
check "the new file's bytes are counted at once" [ "$(val "$T/m3" hubzip_store_logical_bytes)" = \
	$(($(val "$T/m2" hubzip_store_logical_bytes) + $(stat -c %s "$SRC/config.json"))) ]
check "the store generation moved" \
	[ "$(val "$T/m3" hubzip_store_generation)" -gt "$(val "$T/m2" hubzip_store_generation)" ]
check "no repo name in the metrics" \
	bash -c '! grep -qiE "hiddenns|secretmodel|acme" "$0"' "$T/m3"
hz ingest cli/other "$SRC/config.json" "$M" >/dev/null 2>"$T/ingest.err" ||
	fail "hubzip ingest while the daemon serves: $(cat "$T/ingest.err")"
scrape "$T/m4"
req GET "$U/api/v1/stats" "${AUTH[@]}"
expect "stats after an ingest by another process" 200
check "an ingest by another process shows at once" \
	[ "$(val "$T/m4" hubzip_store_logical_bytes)" = "$(jq .logical_bytes "$T/body")" ]
check "... and its repo" [ "$(val "$T/m4" hubzip_store_repos)" = "$(jq .counts.repos "$T/body")" ]
check "... which is a new one" [ "$(val "$T/m4" hubzip_store_repos)" = \
	$(($(val "$T/m3" hubzip_store_repos) + 1)) ]

# ---- a bad token is refused even though the page is public
req GET "$U/metrics" -H "Authorization: Bearer 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"
expect "a bad token" 401 Unauthorized

# ---- metrics_token_required
stop_daemon
"$HUBZIP" --store "$STORE" serve --listen 127.0.0.1:0 --metrics-token-required maybe \
	>"$T/out2" 2>"$T/err2" && fail "an invalid metrics_token_required starts" ||
	{ grep -q "metrics_token_required" "$T/err2" && ok || fail "error names the key: $(cat "$T/err2")"; }
export HUBZIP_METRICS_TOKEN_REQUIRED=true
start_daemon
unset HUBZIP_METRICS_TOKEN_REQUIRED
req GET "$U/metrics"
expect "no token when one is required" 401 Unauthorized
READ=$(hz token create metrics-reader --scope read --namespace elsewhere)
req GET "$U/metrics" -H "Authorization: Bearer $READ"
expect "any valid token will do" 200
promcheck "the page with a token" "$T/body"
check "counters start over with the process" \
	[ "$(val "$T/body" hubzip_ingest_bytes_total)" = 0 ]
check "the store gauges do not" [ "$(val "$T/body" hubzip_store_logical_bytes)" = \
	"$(val "$T/m4" hubzip_store_logical_bytes)" ]
req GET "$U/api/v1/health"
expect "health stays public" 200

done_tests
