#!/usr/bin/env bash
# Runs every libFuzzer target of a `make fuzz` build for a while and reports,
# per target, the executions, coverage and findings (`make fuzz-run`).
#
#   tests/fuzz/run.sh FUZZ_DIR [SECONDS [PARALLEL [TARGET...]]]
#
# FUZZ_DIR holds the binaries (build/fuzz/fuzz_<name>).  Each target runs
# SECONDS (default 600) under `nice -n 19`, PARALLEL (default 2) at a time,
# on FUZZ_DIR/work/<name> seeded from the checked-in tests/fuzz/corpus/<name>
# (new inputs go to the work directory only, never to the checked-in corpus)
# with tests/fuzz/<name>.dict when there is one.  Logs go to
# FUZZ_DIR/logs/<name>.log, crashing inputs to FUZZ_DIR/artifacts/<name>/.
# The exit status is non-zero when a target found something.
#
# To check in what a run found (minimised, so that `make test` stays fast):
#   mkdir new && build/fuzz/fuzz_<name> -merge=1 new tests/fuzz/corpus/<name> \
#       build/fuzz/work/<name>  &&  compare, then replace the corpus with new/
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIR=${1:?usage: run.sh FUZZ_DIR [SECONDS [PARALLEL [TARGET...]]]}
SECS=${2:-600}
PAR=${3:-2}
shift $(($# < 3 ? $# : 3))
DIR=$(cd "$DIR" && pwd) || exit 1

if [ $# -gt 0 ]; then
	targets=("$@")
else
	targets=()
	for f in "$ROOT"/tests/fuzz/fuzz_*.c; do
		n=$(basename "$f" .c)
		targets+=("${n#fuzz_}")
	done
fi
for t in "${targets[@]}"; do
	[ -x "$DIR/fuzz_$t" ] || { echo "run.sh: no $DIR/fuzz_$t (make fuzz first)" >&2; exit 1; }
	[ -d "$ROOT/tests/fuzz/corpus/$t" ] || { echo "run.sh: no corpus tests/fuzz/corpus/$t" >&2; exit 1; }
done
mkdir -p "$DIR/logs"

run_one() {
	local t=$1 dict=()
	[ -f "$ROOT/tests/fuzz/$t.dict" ] && dict=(-dict="$ROOT/tests/fuzz/$t.dict")
	mkdir -p "$DIR/work/$t" "$DIR/artifacts/$t"
	echo "fuzz_$t: ${SECS}s, log $DIR/logs/$t.log"
	nice -n 19 "$DIR/fuzz_$t" -max_total_time="$SECS" -timeout=25 -print_final_stats=1 \
		-artifact_prefix="$DIR/artifacts/$t/" "${dict[@]}" \
		"$DIR/work/$t" "$ROOT/tests/fuzz/corpus/$t" >"$DIR/logs/$t.log" 2>&1
	echo "fuzz_$t: exit $?"
}
export -f run_one
export DIR ROOT SECS
printf '%s\n' "${targets[@]}" | xargs -P "$PAR" -I{} bash -c 'run_one {}'

# the report: executions, coverage (edges) and features at the end, findings
found=0
stat() { grep -oE "stat::$1: *[0-9]+" "$2" | grep -oE '[0-9]+$'; }
printf '\n%-24s %12s %8s %7s %7s %7s %8s  %s\n' target executions exec/s cov ft corpus rss_mb \
	findings
for t in "${targets[@]}"; do
	log=$DIR/logs/$t.log
	execs=$(stat number_of_executed_units "$log")
	rate=$(stat average_exec_per_sec "$log")
	rss=$(stat peak_rss_mb "$log")
	last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*')
	ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*')
	corp=$(grep -o 'corp: [0-9]*' <<<"$last" | grep -o '[0-9]*')
	arts=$(ls -A "$DIR/artifacts/$t" 2>/dev/null | tr '\n' ' ')
	[ -n "$arts" ] && found=1
	printf '%-24s %12s %8s %7s %7s %7s %8s  %s\n' "fuzz_$t" "${execs:-?}" "${rate:-?}" \
		"${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}" "${arts:-none}"
done
exit $found
