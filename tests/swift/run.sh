#!/usr/bin/env bash
# make test-swift: the S3 test (tests/integration/91_s3.sh) against
# OpenStack Swift with its s3api middleware instead of s3rver.  A
# single-node Swift (one device, one replica, rings built here) runs from a
# temporary directory on loopback ports with memcached and tempauth (S3
# access key "test:tester", secret "testing"), from the Debian packages
# swift, swift-proxy, swift-account, swift-container, swift-object and
# memcached (deploy/install-deps.sh --swift).  Nothing is installed as a
# service; everything started here is stopped on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HUBZIP=${HUBZIP:-$ROOT/build/hubzip}
W=$(mktemp -d "${TMPDIR:-/tmp}/hubzip-swift.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
PY=/usr/bin/python3	# Debian's, where the swift modules are

# free loopback ports, one per server
read -r PP PA PC PO PM < <($PY - <<'PYEOF'
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PYEOF
)
mkdir -p "$W/etc" "$W/node/d1" "$W/run" "$W/log"
cat >"$W/etc/swift.conf" <<EOF2
[swift-hash]
swift_hash_path_suffix = hubzip-test
swift_hash_path_prefix = hubzip-test
[storage-policy:0]
name = Policy-0
default = yes
EOF2
for kind in account:$PA container:$PC object:$PO; do
	name=${kind%%:*} port=${kind#*:}
	cat >"$W/etc/$name-server.conf" <<EOF2
[DEFAULT]
devices = $W/node
mount_check = false
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
swift_dir = $W/etc
log_name = $name-server
[pipeline:main]
pipeline = $name-server
[app:$name-server]
use = egg:swift#$name
EOF2
	swift-ring-builder "$W/etc/$name.builder" create 6 1 1 >/dev/null
	swift-ring-builder "$W/etc/$name.builder" add "r1z1-127.0.0.1:$port/d1" 100 >/dev/null
	swift-ring-builder "$W/etc/$name.builder" rebalance >/dev/null
done
cat >"$W/etc/proxy-server.conf" <<EOF2
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PP
workers = 0
swift_dir = $W/etc
log_name = proxy-server
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
# the corpus's packs are a few MB: let 1 MiB parts through (S3 wants 5 MiB)
min_segment_size = 1048576
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$PM
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
EOF2
memcached -l 127.0.0.1 -p "$PM" -U 0 -u "$(id -un)" >"$W/log/memcached" 2>&1 &
PIDS+=($!)
for name in account container object proxy; do
	$PY "/usr/bin/swift-$name-server" "$W/etc/$name-server.conf" >"$W/log/$name" 2>&1 &
	PIDS+=($!)
done
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$PP/healthcheck" >/dev/null 2>&1 && break
	sleep 0.2
done
curl -sf "http://127.0.0.1:$PP/healthcheck" >/dev/null || {
	tail -20 "$W"/log/* >&2; echo "swift did not start" >&2; exit 1; }
echo "swift (s3api) on http://127.0.0.1:$PP"
export S3_ENDPOINT=http://127.0.0.1:$PP S3_BUCKET=hubzip-swift-test
export AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing
rc=0
HUBZIP=$HUBZIP bash "$ROOT/tests/integration/91_s3.sh" || rc=$?
[ "$rc" -eq 0 ] || { echo "--- swift logs" >&2; tail -30 "$W"/log/proxy >&2; }
exit "$rc"
