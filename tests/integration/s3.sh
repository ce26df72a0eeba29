# Sourced by the S3 tests after lib.sh: an S3 service for the blob backend.
#
# By default @20minutes/s3rver (pinned; npm, installed once into
# build/npm-s3rver) on a random loopback port, checking SigV4 signatures,
# with its data in $T/s3 and a log of every request in $S3_LOG (see
# js/s3rver.mjs).  With S3_ENDPOINT set (make test-swift), that service is
# used instead, with the bucket S3_BUCKET and the credentials in the
# environment; S3_EXTERNAL=1 then.
#
# Sets S3_ENDPOINT, S3_BUCKET, S3_LOG (s3rver only), S3_DATA (s3rver only)
# and exports the AWS credentials.  skip() ends the test with a message
# when neither node nor an endpoint is at hand.
S3RVER_VERSION=5.0.0
S3_PID=
S3_LOG=$T/s3.log
S3_DATA=$T/s3

skip() { echo "$(basename "$0"): SKIPPED: $*"; exit 0; }

stop_s3() {
	if [ -n "$S3_PID" ] && kill -0 "$S3_PID" 2>/dev/null; then
		kill -TERM "$S3_PID" 2>/dev/null || true
		wait "$S3_PID" 2>/dev/null || true
	fi
	S3_PID=
}

start_s3() {
	if [ -n "${S3_ENDPOINT:-}" ]; then
		S3_EXTERNAL=1
		S3_BUCKET=${S3_BUCKET:-hubzip-test}
		export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
		return 0
	fi
	S3_EXTERNAL=
	local npm_dir=$ROOT/build/npm-s3rver mod
	mod=$npm_dir/node_modules/@20minutes/s3rver
	command -v node >/dev/null || skip "node is not installed"
	if [ "$(jq -r .version "$mod/package.json" 2>/dev/null)" != "$S3RVER_VERSION" ]; then
		command -v npm >/dev/null || skip "npm is not installed"
		timeout 300 npm install --no-audit --no-fund --prefix "$npm_dir" \
			"@20minutes/s3rver@$S3RVER_VERSION" >"$T/npm.log" 2>&1 ||
			skip "npm install @20minutes/s3rver@$S3RVER_VERSION failed (registry unreachable?): $(tail -3 "$T/npm.log")"
	fi
	S3_BUCKET=hubzip-test
	mkdir -p "$S3_DATA"
	: >"$S3_LOG"
	node "$ROOT/tests/integration/js/s3rver.mjs" "$mod" "$S3_DATA" "$S3_BUCKET" "$S3_LOG" \
		>"$T/s3.out" 2>&1 &
	S3_PID=$!
	for _ in $(seq 100); do
		grep -q '^s3rver listening' "$T/s3.out" 2>/dev/null && break
		kill -0 "$S3_PID" 2>/dev/null || { cat "$T/s3.out" >&2; echo "s3rver died" >&2; exit 1; }
		sleep 0.1
	done
	S3_ENDPOINT=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/s3.out" | head -1)
	[ -n "$S3_ENDPOINT" ] || { cat "$T/s3.out" >&2; echo "s3rver did not start" >&2; exit 1; }
	# s3rver's one account
	export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
}

# s3tool ARGS...: tests/integration/s3tool.py against the service
s3tool() {
	S3_ENDPOINT=$S3_ENDPOINT S3_BUCKET=$S3_BUCKET python3 "$ROOT/tests/integration/s3tool.py" "$@"
}
