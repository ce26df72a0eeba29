#!/usr/bin/env bash
# Crash safety, briefly: tests/crash/crash.py with 5 cycles of uploads,
# downloads, deletions and gc under a daemon killed with SIGKILL (the
# checks are in its head comment; `make test-crash` runs 60 cycles).
. "$(dirname "$0")/lib.sh"
need_corpus
python3 "$ROOT/tests/crash/crash.py" --hubzip "$HUBZIP" --corpus "$CORPUS_MINI" \
	--cycles "${CRASH_CYCLES:-5}" --json "$T/crash.json" >"$T/crash.out" 2>&1 &&
	ok || { cat "$T/crash.out" >&2; fail "crash.py: $(tail -1 "$T/crash.out")"; }
tail -1 "$T/crash.out"
check "acknowledged revisions were verified" \
	[ "$(jq '.verified_revisions > 0 and .acked > 0' "$T/crash.json")" = true ]
done_tests
