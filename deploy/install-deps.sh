#!/bin/sh
# Installs the Debian packages hubzip needs, only those missing (idempotent).
#   install-deps.sh          build dependencies
#   install-deps.sh --test   and what `make test` needs (cmocka, clang for fuzzing, python3-numpy for the corpus,
#                            prometheus for promtool: Debian ships promtool only in it, and its
#                            package enables a prometheus.service on :9090 where systemd runs)
#                            and chromium, run headless by the dashboard test, and postgresql (initdb, pg_ctl)
#                            for the PostgreSQL index test, which runs its own cluster in a temporary directory;
#                            systemd (systemd-analyze, systemd-sysusers) and strace for the deployment test
#   install-deps.sh --bench  and what `make bench` needs (zstd CLI, time; postgresql for the S3 + PostgreSQL
#                            rows of tests/bench/s3.py, which runs its own cluster)
#   install-deps.sh --swift  and OpenStack Swift with memcached, for `make test-swift` (the S3 test
#                            against Swift's s3api; tests/swift/run.sh starts its own servers)
set -eu

BUILD="gcc make pkg-config libzstd-dev libjansson-dev libxxhash-dev libsqlite3-dev libssl-dev libmicrohttpd-dev libcurl4-openssl-dev libpq-dev"
TEST="libcmocka-dev clang libclang-rt-14-dev sqlite3 postgresql python3 python3-numpy ca-certificates curl jq git git-lfs prometheus chromium systemd strace"
BENCH="zstd xdelta3 time python3 python3-numpy postgresql"
SWIFT="swift swift-proxy swift-account swift-container swift-object memcached python3 curl jq"

want=$BUILD
case "${1:-}" in
--test) want="$BUILD $TEST" ;;
--bench) want="$BUILD $BENCH" ;;
--swift) want="$BUILD $SWIFT" ;;
"") ;;
*) echo "usage: $0 [--test|--bench|--swift]" >&2; exit 2 ;;
esac

missing=
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
# the corpus builder fetches npm packages; npm may come from Debian or NodeSource
case " $want " in *" libcmocka-dev "*) command -v npm >/dev/null 2>&1 || missing="$missing npm" ;; esac
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
		echo "install-deps: missing packages:$missing (run as root: apt-get install$missing)" >&2
		exit 1
	fi
else
	SUDO=
fi
echo "install-deps: installing:$missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
