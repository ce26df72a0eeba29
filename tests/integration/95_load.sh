#!/usr/bin/env bash
# A short load test (make test-load runs the long one): 64 concurrent
# clients for 10 s on loopback (downloads whole and ranged, resolve and
# native, listings, uploads of new and duplicate content, LFS batches,
# stats), then 5 s while a client uploads a 32 MiB model again and again.
# Every answer is checked (status, length, the SHA-256 of whole files):
# errors must be 0, the daemon must exit 0 and fsck must be clean after.
. "$(dirname "$0")/lib.sh"
need_corpus
HZLOAD=${HZLOAD:-$ROOT/build/hzload}
[ -x "$HZLOAD" ] || { echo "95_load.sh: $HZLOAD not built (make $HZLOAD)" >&2; exit 1; }
export HUBZIP HZLOAD CORPUS_MINI
if bash "$ROOT/tests/load/load.sh" --seconds 10 --out "$T/mixed.json" >/dev/null; then ok; else fail "the mixed load"; fi
check "every kind of request ran" [ "$(jq '.kinds | length' "$T/mixed.json")" -eq 8 ]
check "no request failed" [ "$(jq .errors "$T/mixed.json")" -eq 0 ]
check "hundreds of requests" [ "$(jq .requests "$T/mixed.json")" -ge 500 ]
# memory is bounded by what is in flight (docs/bench.md, "Load": ~220-300
# MiB for 64 clients), not by how many requests were served
check "the daemon's peak RSS stays under 768 MiB" [ "$(jq .daemon_peak_rss_kib "$T/mixed.json")" -lt $((768 << 10)) ]
jq -c '{requests_per_s, mb_per_s_down, errors, daemon_peak_rss_kib,
	p99_ms: (.kinds | map_values(.p99_ms))}' "$T/mixed.json"
if bash "$ROOT/tests/load/load.sh" --seconds 5 --clients 16 --big 32 --out "$T/big.json" >/dev/null; then
	ok
else
	fail "the load with big uploads"
fi
check "big uploads committed" [ "$(jq '.kinds.big_upload.requests' "$T/big.json")" -ge 1 ]
check "no request failed with big uploads" [ "$(jq .errors "$T/big.json")" -eq 0 ]
check "and the peak RSS stays under 512 MiB" [ "$(jq .daemon_peak_rss_kib "$T/big.json")" -lt $((512 << 10)) ]
jq -c '{requests_per_s, errors, daemon_peak_rss_kib,
	p99_ms: (.kinds | map_values(.p99_ms))}' "$T/big.json"
done_tests
