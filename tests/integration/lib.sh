# Shared helpers for the integration tests (bash).  Each test sources this.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HUBZIP=${HUBZIP:-$ROOT/build/hubzip}
case "$HUBZIP" in /*) ;; *) HUBZIP=$ROOT/$HUBZIP ;; esac
CORPUS_MINI=${CORPUS_MINI:-/var/tmp/mhub-corpus/mini}
CORPUS_BUILDER=${CORPUS_BUILDER:-$ROOT/../shared/corpus/build.sh}
T=$(mktemp -d "${TMPDIR:-/tmp}/hubzip-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
STORE=$T/store
FAILS=0
CHECKS=0

hz() { "$HUBZIP" --store "$STORE" "$@"; }

ok() { CHECKS=$((CHECKS + 1)); }
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
check() { # description, command...
	local what=$1; shift
	if "$@"; then ok; else fail "$what"; fi
}
# expect_fail DESCRIPTION PATTERN COMMAND...: the command must exit non-zero
# and print PATTERN (grep -E) on stderr.
expect_fail() {
	local what=$1 pat=$2; shift 2
	if "$@" >"$T/.stdout" 2>"$T/err"; then
		fail "$what: succeeded, expected failure"
	elif ! grep -qE "$pat" "$T/err"; then
		fail "$what: error '$(head -c 300 "$T/err")' does not match /$pat/"
	else
		ok
	fi
}
done_tests() {
	if [ "$FAILS" -ne 0 ]; then
		echo "$(basename "$0"): $FAILS of $((CHECKS + FAILS)) checks failed" >&2
		exit 1
	fi
	echo "$(basename "$0"): all $CHECKS checks passed"
}

# The --mini corpus, built (and cached) by ../shared/corpus/build.sh.
need_corpus() {
	if [ ! -f "$CORPUS_MINI/MANIFEST.tsv" ]; then
		[ -x "$CORPUS_BUILDER" ] || { echo "corpus builder not found at $CORPUS_BUILDER" >&2; exit 1; }
		"$CORPUS_BUILDER" --mini "$CORPUS_MINI" >&2
	fi
}
corpus_repos() { tail -n +2 "$CORPUS_MINI/MANIFEST.tsv" | cut -f2 | sort -u; }
