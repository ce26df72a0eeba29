#!/usr/bin/env bash
# The dashboard (/ and /ui/...): its files are served from the binary with
# their types, ETag/304 and a self-only CSP, and do not shadow the hub
# routes of a namespace "ui".  Headless Chromium (driven over the DevTools
# protocol by dashboard.py) loads it from the daemon, for an empty store,
# anonymously (a private repo is not named) and with a token: no console
# error, exception, failed load or CSP violation; the totals, stages,
# repos, families and history it shows are those of /api/stats; it picks
# up an ingest on its own (auto-refresh).  Screenshots go to the build
# directory ($SHOTS, default: the directory of $HUBZIP).
# Skipped, with a message, when chromium is not installed.
. "$(dirname "$0")/lib.sh"
need_corpus
skip() { echo "$(basename "$0"): SKIPPED: $*"; exit 0; }
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] || skip "chromium is not installed (deploy/install-deps.sh --test installs it)"
export CHROMIUM
SHOTS=${SHOTS:-$(dirname "$HUBZIP")}
mkdir -p "$SHOTS"
DRIVER=$ROOT/tests/integration/dashboard.py

. "$(dirname "$0")/daemon.sh"

# browse REPORT STEP...: runs the browser; the report's errors must be none
browse() {
	local rep=$1; shift
	if ! python3 "$DRIVER" --out "$rep" "$@" >"$T/driver.out" 2>&1; then
		fail "the browser steps did not all run: $(cat "$T/driver.out")"
	fi
	if [ ! -s "$rep" ]; then
		fail "no report from the browser driver: $(cat "$T/driver.out")"
		echo '{"errors": ["no report"], "values": {}}' >"$rep"
	fi
	if [ "$(jq '.errors | length' "$rep")" -eq 0 ]; then ok; else
		fail "the page logged errors ($rep): $(jq -r '.errors[]' "$rep" | head -20)"; fi
}
val() { jq -r ".values.$2" "$1"; }
LOADED='document.body.dataset.loaded >= 1'
TOTALS='({l: document.getElementById("total-logical").dataset.bytes, p: document.getElementById("total-physical").dataset.bytes})'

hz init >/dev/null
start_daemon
ADMIN=$(grep -o 'hf_[A-Za-z0-9]*' "$T/out" | head -1)
AUTH=(-H "Authorization: Bearer $ADMIN")

# ---- the files: types, caching, security headers, 404, methods
req GET "$U/"
expect "GET /" 200
check "/ is HTML" [ "$(hdr Content-Type)" = "text/html; charset=utf-8" ]
check "/ has a CSP limited to this origin" grep -q "script-src 'self'" <<<"$(hdr Content-Security-Policy)"
check "/ forbids sniffing" [ "$(hdr X-Content-Type-Options)" = "nosniff" ]
check "/ is revalidated" [ "$(hdr Cache-Control)" = "no-cache" ]
ETAG=$(hdr ETag)
check "/ has an ETag" grep -qE '^"[0-9a-f]{16}"$' <<<"$ETAG"
cp "$T/body" "$T/index.html"
rm -f "$T/body"
req GET "$U/" -H "If-None-Match: $ETAG"
expect "If-None-Match with its ETag" 304
check "a 304 has no body" [ ! -s "$T/body" ]
req GET "$U/ui/index.html" -H "If-None-Match: \"0000000000000000\", W/$ETAG"
expect "a weak ETag in a list" 304
req GET "$U/ui/index.html" -H 'If-None-Match: "0000000000000000"'
expect "If-None-Match with another ETag" 200
check "/ui/index.html is the page" cmp -s "$T/body" "$T/index.html"
for u in /ui /ui/; do
	req GET "$U$u"
	expect "GET $u" 200
	check "$u is the page" cmp -s "$T/body" "$T/index.html"
done
req GET "$U/ui/app.js"
expect "GET /ui/app.js" 200
check "app.js is JavaScript" [ "$(hdr Content-Type)" = "text/javascript; charset=utf-8" ]
check "app.js is the source file" cmp -s "$T/body" "$ROOT/api/ui/app.js"
req GET "$U/ui/style.css"
expect "GET /ui/style.css" 200
check "style.css is CSS" [ "$(hdr Content-Type)" = "text/css; charset=utf-8" ]
req HEAD "$U/ui/style.css" -I
expect "HEAD /ui/style.css" 200
req GET "$U/ui/nope.js"
expect "an unknown asset" 404 NotFound
req GET "$U/ui/a/app.js"
expect "an asset below /ui/ is not served" 404 NotFound
req GET "$U/ui/..%2Fhubzip.db"
expect "an escaped name" 400 InvalidPath
req POST "$U/" -d x
expect "POST /" 405 MethodNotAllowed
# nothing but this origin: every src/href is /ui/... or data:
refs=$(grep -oE '(src|href)="[^"]*"' "$T/index.html" | cut -d'"' -f2)
check "the page loads files from /ui/ only" [ -z "$(grep -vE '^(/ui/[a-z]+\.(js|css)|data:,)$' <<<"$refs")" ]
check "no URL in the page or the style sheet" [ -z "$(grep -lE 'https?:|//|@import|url\(' \
	"$ROOT"/api/ui/*.html "$ROOT"/api/ui/*.css || true)" ]
check "app.js names no other host" [ -z "$(grep -oE 'https?://[^"]*' "$ROOT/api/ui/app.js" | grep -v 'www.w3.org/2000/svg' || true)" ]

# ---- an empty store: the page loads and says so
browse "$T/empty.json" "open:$U/" "wait:$LOADED" "eval:t=$TOTALS" \
	'eval:h=document.getElementById("history").dataset.points' \
	'eval:rows=document.querySelectorAll("#repos tbody tr.empty").length' \
	"shot:$SHOTS/dashboard-empty.png"
check "empty store: logical 0" [ "$(val "$T/empty.json" t.l)" = 0 ]
check "empty store: physical 0" [ "$(val "$T/empty.json" t.p)" = 0 ]
check "empty store: no history" [ "$(val "$T/empty.json" h)" = 0 ]
check "empty store: the repos table says none" [ "$(val "$T/empty.json" rows)" = 1 ]

# ---- the --mini corpus, one repo of it private
for r in $(corpus_repos); do hz ingest "$r" "$CORPUS_MINI/$r" >/dev/null 2>&1; done
SECRET=waifu2x/cunet-noise0-scale2x
req PATCH "$U/api/v1/repos/$SECRET" "${AUTH[@]}" -d '{"private": true}'
expect "make a repo private" 200
curl -sf "$U/api/stats" >"$T/anon.json"
curl -sf "${AUTH[@]}" "$U/api/stats" >"$T/admin.json"
curl -sf "${AUTH[@]}" "$U/api/stats/history" >"$T/history.json"
check "the anonymous stats hide the private repo" [ "$(jq '.rest.repos' "$T/anon.json")" -ge 1 ]

# anonymous: the same totals, the private repo not named; then a token
# given with the Token button shows it
browse "$T/anon-ui.json" "open:$U/" "wait:$LOADED" "eval:t=$TOTALS" \
	"eval:secret=document.body.textContent.includes(\"${SECRET#*/}\")" \
	'eval:repos=document.querySelectorAll("#repos tbody tr[data-repo]").length' \
	'eval:rest=document.querySelectorAll("#repos tbody tr.rest").length' \
	"eval:form=(document.getElementById('token-toggle').click(), document.getElementById('token-input').value = '$ADMIN', document.getElementById('token-form').requestSubmit(), 1)" \
	"wait:document.querySelector('#repos tr[data-repo=\"$SECRET\"]')" \
	"eval:kept=localStorage.getItem('hubzip.token') === '$ADMIN'"
check "anonymous: the logical total of /api/stats" \
	[ "$(val "$T/anon-ui.json" t.l)" = "$(jq .logical_bytes "$T/anon.json")" ]
check "anonymous: the physical total of /api/stats" \
	[ "$(val "$T/anon-ui.json" t.p)" = "$(jq .physical_bytes "$T/anon.json")" ]
check "anonymous: the private repo is not named" [ "$(val "$T/anon-ui.json" secret)" = false ]
check "anonymous: the repos not listed are summed in a row" [ "$(val "$T/anon-ui.json" rest)" = 1 ]
check "a token given with the Token button is kept" [ "$(val "$T/anon-ui.json" kept)" = true ]

# with the admin token (#token= is kept and taken off the address): every
# number of /api/stats, a family opened, screenshots, then an ingest that
# the page shows without a reload
FAM=$(jq '[.families[] | select(.members > 1)] | max_by(.members) | .family' "$T/admin.json")
OLD=$(jq .logical_bytes "$T/admin.json")
STAGES='Object.fromEntries([...document.querySelectorAll("#stage-legend li")].map(li => [li.dataset.stage, li.dataset.bytes]))'
browse "$T/ui.json" "open:$U/#token=$ADMIN" "wait:$LOADED" "eval:t=$TOTALS" \
	'eval:hash=location.hash' \
	"eval:stages=$STAGES" \
	'eval:repos=[...document.querySelectorAll("#repos tbody tr[data-repo]")].map(tr => tr.dataset.repo)' \
	'eval:families=[...document.querySelectorAll("#families tbody tr.fam")].map(tr => Number(tr.dataset.family))' \
	'eval:points=document.getElementById("history").dataset.points' \
	"eval:click=document.querySelector('#families tr.fam[data-family=\"$FAM\"]').click() || 1" \
	"wait:document.querySelectorAll('#families tr.member[data-member]').length > 0" \
	'eval:members=[...document.querySelectorAll("#families tr.member[data-member]")].map(tr => tr.dataset.member)' \
	"eval:segtip=(document.querySelector('#stage-bar .seg').dispatchEvent(new MouseEvent('mousemove', {clientX: 200, clientY: 300, bubbles: true})), document.getElementById('tooltip').textContent)" \
	"eval:charttip=(() => { const r = document.querySelector('#history svg').getBoundingClientRect(); document.querySelector('#history svg').dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + r.width * 0.6, clientY: r.top + r.height / 2, bubbles: true})); return document.getElementById('tooltip').textContent; })()" \
	"shot:$SHOTS/dashboard.png" \
	"eval:leave=document.querySelector('#history svg').dispatchEvent(new MouseEvent('mouseleave')) && document.getElementById('tooltip').hidden" \
	"full:$SHOTS/dashboard-full.png" \
	dark "full:$SHOTS/dashboard-dark.png" light \
	'eval:sort=document.querySelector("#repos th[data-key=repo]").click() || [...document.querySelectorAll("#repos tbody tr[data-repo]")].map(tr => tr.dataset.repo)' \
	"run:'$HUBZIP' --store '$STORE' ingest acme/late '$CORPUS_MINI/upscalerjs/esrgan-slim-x2' >/dev/null 2>&1" \
	"wait:document.getElementById('total-logical').dataset.bytes !== '$OLD'" \
	"eval:after=$TOTALS" \
	'eval:late=!!document.querySelector("#repos tbody tr[data-repo=\"acme/late\"]")'
A=$T/admin.json R=$T/ui.json
check "the logical total of /api/stats" [ "$(val "$R" t.l)" = "$(jq .logical_bytes "$A")" ]
check "the physical total of /api/stats" [ "$(val "$R" t.p)" = "$(jq .physical_bytes "$A")" ]
check "the token is taken off the address" [ "$(val "$R" hash)" = "" ]
for s in file_dedup tensor_dedup delta coding; do
	check "stage $s of /api/stats" [ "$(val "$R" "stages.$s")" = "$(jq ".stages.$s" "$A")" ]
done
check "stored is the physical total" [ "$(val "$R" stages.stored)" = "$(jq .physical_bytes "$A")" ]
check "the largest repos, largest first" [ "$(jq -c '.values.repos' "$R")" = \
	"$(jq -c '[.repos[:12][] | .repo]' "$A")" ]
check "the private repo is listed for the admin" jq -e --arg s "$SECRET" '[.repos[].repo] | index($s)' "$A" >/dev/null
check "every family, largest first" [ "$(jq -c '.values.families' "$R")" = "$(jq -c '[.families[].family]' "$A")" ]
check "family $FAM opened lists its members" [ "$(jq -c '.values.members' "$R")" = \
	"$(jq -c --argjson f "$FAM" '[.families[] | select(.family == $f) | .repos[].repo]' "$A")" ]
check "a click sorts the repos by name" [ "$(jq -c '.values.sort' "$R")" = \
	"$(jq -c '[.repos[].repo] | sort | .[:12]' "$A")" ]
check "a stage's tooltip names it" grep -q "File dedup" <<<"$(val "$R" segtip)"
check "the chart's tooltip gives the totals" grep -q "logical .*physical" <<<"$(val "$R" charttip)"
check "the tooltip goes when the mouse leaves" [ "$(val "$R" leave)" = true ]
check "the history has a point per ingest" [ "$(val "$R" points)" = "$(jq '.history | length' "$T/history.json")" ]
curl -sf "${AUTH[@]}" "$U/api/stats" >"$T/after.json"
check "the page refreshed to the new logical total" [ "$(val "$R" after.l)" = "$(jq .logical_bytes "$T/after.json")" ]
check "the page refreshed to the new physical total" [ "$(val "$R" after.p)" = "$(jq .physical_bytes "$T/after.json")" ]
check "the new repo is listed after the refresh" [ "$(val "$R" late)" = true ]
for f in dashboard.png dashboard-full.png dashboard-dark.png dashboard-empty.png; do
	check "screenshot $f" [ "$(head -c 8 "$SHOTS/$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
done

# ---- the hub routes of a namespace "ui" are not shadowed
hz ingest ui/demo "$CORPUS_MINI/upscalerjs/esrgan-slim-x2" >/dev/null 2>&1
F=$(cd "$CORPUS_MINI/upscalerjs/esrgan-slim-x2" && ls | head -1)
req GET "$U/ui/demo/resolve/main/$F"
expect "resolve in namespace ui" 200
check "resolve in namespace ui is byte-exact" cmp -s "$T/body" "$CORPUS_MINI/upscalerjs/esrgan-slim-x2/$F"

# ---- a family of more members than /api/stats lists (50): opening it
# fetches /api/stats/families/{id} for all of them
SMALL=$CORPUS_MINI/mediapipe/selfie-segmentation-landscape
for i in $(seq -w 1 54); do hz ingest "copies/m$i" "$SMALL" >/dev/null 2>&1; done
curl -sf "${AUTH[@]}" "$U/api/stats" >"$T/big.json"
BIG=$(jq '.families | max_by(.members) | .family' "$T/big.json")
curl -sf "${AUTH[@]}" "$U/api/stats/families/$BIG" >"$T/family.json"
check "the big family has more members than the summary lists" \
	[ "$(jq --argjson f "$BIG" '.families[] | select(.family == $f) | .repos | length' "$T/big.json")" -lt \
	  "$(jq '.repos | length' "$T/family.json")" ]
browse "$T/big-ui.json" "open:$U/#token=$ADMIN" "wait:$LOADED" \
	"eval:click=document.querySelector('#families tr.fam[data-family=\"$BIG\"]').click() || 1" \
	"wait:document.querySelectorAll('#families tr.member[data-member]').length > 50" \
	'eval:members=[...document.querySelectorAll("#families tr.member[data-member]")].map(tr => tr.dataset.member)'
check "the opened family lists every member" [ "$(jq -c '.values.members' "$T/big-ui.json")" = \
	"$(jq -c '[.repos[].repo]' "$T/family.json")" ]

stop_daemon
done_tests
