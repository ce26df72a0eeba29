#!/usr/bin/env bash
# A PostgreSQL index (issue 7): a private cluster made with initdb under the
# test's temporary directory, on a random port.
#  1. the round-trip and families tests (10_, 40_) against it;
#  2. two daemons on different ports sharing one database, one store
#     directory and, when s3rver can run (see s3.sh), one bucket:
#     a. curl PUTs of the native API, all at once (the same bytes to two
#        repos, every file to one branch, half through each daemon): every
#        upload lands (no lost update: one revision per upload);
#     b. the npm @huggingface/hub client (hub_js.sh; skipped with a message
#        when it cannot be installed), four node processes at once: the
#        same models to two repos through the two daemons, and one commit
#        per model to one branch from both; then a parentCommit race on
#        that branch, one commit through each daemon (one lands, the other
#        is refused with 409 and lands when sent again on the new head);
#        every file downloaded with downloadFile through both daemons and
#        compared by SHA-256 (js/hub_concurrent.mjs);
#     then no object or file is indexed twice, one bucket object per pack,
#     fsck finds nothing, and gc keeps every file restorable byte-exactly.
. "$(dirname "$0")/lib.sh"
need_corpus
HERE=$(cd "$(dirname "$0")" && pwd)

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PGBIN/initdb" ] || { echo "no PostgreSQL server (deploy/install-deps.sh --test)" >&2; exit 1; }

# the server refuses to run as root: run it as the postgres user (made by
# the Debian package) or as whoever we are
AS=()
if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
	AS=(runuser -u postgres --)
	chmod 755 "$T"
fi
PGDIR=$T/pg
mkdir -p "$PGDIR"
[ ${#AS[@]} -eq 0 ] || chown postgres "$PGDIR"
# a port below the ephemeral range (32768-60999 by default), where the
# client side of other tests' connections may hold any port
rand_port() { echo $((12000 + RANDOM % 20000)); }
PGPORT=$(rand_port)
pg() { "${AS[@]}" "$PGBIN/$@"; }
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pg pg_ctl -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true
	! declare -F stop_s3 >/dev/null || stop_s3
	rm -rf "$T"
}
trap cleanup EXIT
pg initdb -D "$PGDIR/data" -A trust -U hubzip -E UTF8 --no-sync >"$T/initdb.log" 2>&1 ||
	{ cat "$T/initdb.log" >&2; exit 1; }
started=
for _ in $(seq 10); do # a port taken by someone else: another one
	if pg pg_ctl -D "$PGDIR/data" -l "$PGDIR/log" -w -t 30 start \
		-o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off" >/dev/null; then
		started=1
		break
	fi
	PGPORT=$(rand_port)
done
[ -n "$started" ] || { cat "$PGDIR/log" >&2; echo "cannot start PostgreSQL" >&2; exit 1; }
psql() { "$PGBIN/psql" -X -q -A -t -h 127.0.0.1 -p "$PGPORT" -U hubzip "$@"; }
url() { echo "postgresql://hubzip@127.0.0.1:$PGPORT/$1"; }
for db in roundtrip families shared unit; do
	"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U hubzip "$db"
done

# 0. the index API's unit tests (tests/unit/store/test_index.c), when built
UNIT=$(dirname "$HUBZIP")/tests/store/test_index
if [ -x "$UNIT" ]; then
	if HZ_TEST_PG_URL=$(url unit) "$UNIT" >"$T/unit.log" 2>&1 &&
		grep -q 'PASSED  \] 6 test' "$T/unit.log"; then
		ok
	else
		fail "test_index against PostgreSQL: $(tail -n 20 "$T/unit.log")"
	fi
fi

# 1. the round-trip test against the index
if HUBZIP_INDEX=$(url roundtrip) bash "$HERE/10_roundtrip.sh" >"$T/10.log" 2>&1; then
	ok
else
	fail "10_roundtrip.sh against PostgreSQL: $(tail -n 5 "$T/10.log")"
fi
check "10_roundtrip.sh: its revisions are in PostgreSQL" \
	[ "$(psql -d roundtrip -c 'SELECT count(*) FROM revisions')" -gt 0 ]
# families (40_families.sh makes several stores, one index each: here the
# corpus goes into a SQLite store and a PostgreSQL one in the same order,
# and both must find the same families and count the same bytes)
"$HUBZIP" --store "$T/sq" init >/dev/null
"$HUBZIP" --store "$T/pgf" --index "$(url families)" init >/dev/null
for r in $(corpus_repos); do
	"$HUBZIP" --store "$T/sq" ingest "$r" "$CORPUS_MINI/$r" >/dev/null 2>&1 || fail "ingest $r (SQLite)"
	"$HUBZIP" --store "$T/pgf" --index "$(url families)" ingest "$r" "$CORPUS_MINI/$r" >/dev/null 2>&1 ||
		fail "ingest $r (PostgreSQL)"
done
"$HUBZIP" --store "$T/sq" families --json >"$T/fam.sq"
"$HUBZIP" --store "$T/pgf" --index "$(url families)" families --json >"$T/fam.pg"
check "the same families on both indexes" cmp -s "$T/fam.sq" "$T/fam.pg"
check "families found" [ "$(jq 'length' "$T/fam.pg")" -ge 5 ]
acct='[.logical_bytes, .physical_bytes, .stages, [.repos[] | [.repo, .logical_bytes, .physical_bytes]]]'
"$HUBZIP" --store "$T/sq" stats --json | jq -c "$acct" >"$T/st.sq"
"$HUBZIP" --store "$T/pgf" --index "$(url families)" stats --json | jq -c "$acct" >"$T/st.pg"
check "the same accounting on both indexes" cmp -s "$T/st.sq" "$T/st.pg"
check "fsck of the PostgreSQL store" "$HUBZIP" --store "$T/pgf" --index "$(url families)" fsck >/dev/null 2>&1

IDX=$(url shared)
# and one bucket, when the S3 test's s3rver can run (91_s3.sh installs it)
BLOBS=()
if command -v node >/dev/null && { [ -n "${S3_ENDPOINT:-}" ] || command -v npm >/dev/null ||
	[ -f "$ROOT/build/npm-s3rver/node_modules/@20minutes/s3rver/package.json" ]; }; then
	. "$HERE/s3.sh"
	start_s3
	PREFIX=pg$$-$RANDOM
	BLOBS=(--blobs "s3://$S3_BUCKET/$PREFIX?endpoint=$S3_ENDPOINT")
else
	echo "92_postgres.sh: no node for s3rver: the daemons share local packs" >&2
fi
mkdir -p "$STORE"
expect_fail "a store dir without init is refused" "no hubzip schema" \
	"$HUBZIP" --store "$STORE" --index "$IDX" ls
expect_fail "--index takes only PostgreSQL URLs" "not a postgresql" \
	"$HUBZIP" --store "$STORE" --index "mysql://x" ls
check "init --index" "$HUBZIP" --store "$STORE" --index "$IDX" "${BLOBS[@]}" init >/dev/null
check "no SQLite file in the store" [ ! -e "$STORE/hubzip.db" ]
check "schema version in hubzip_schema" [ "$(psql -d shared -c 'SELECT version FROM hubzip_schema')" -ge 6 ]
TOKEN=$("$HUBZIP" --store "$STORE" --index "$IDX" token create admin --scope write)
AUTH=(-H "Authorization: Bearer $TOKEN")
check "the token is in PostgreSQL" [ "$(psql -d shared -c 'SELECT count(*) FROM tokens')" -eq 1 ]

# 2. two daemons on one index and one store directory
declare -A URLS
start() { # name: serves $STORE with the shared index
	local n=$1 out=$T/out.$1
	HUBZIP_INDEX=$IDX "$HUBZIP" --store "$STORE" serve --listen 127.0.0.1:0 >"$out" 2>>"$T/log.$n" &
	PIDS+=($!)
	for _ in $(seq 100); do
		grep -q '^hubzip: serving' "$out" 2>/dev/null && break
		sleep 0.1
	done
	URLS[$n]=$(grep -o 'http://127.0.0.1:[0-9]*' "$out" | head -1)
	[ -n "${URLS[$n]}" ] || { cat "$T/log.$n" >&2; echo "daemon $n did not start" >&2; exit 1; }
}
start a
start b
check "two daemons on different ports" [ "${URLS[a]}" != "${URLS[b]}" ]

# the files: every file of three repos of the corpus
mapfile -t REPOS < <(corpus_repos | head -n 3)
FILES=()
for r in "${REPOS[@]}"; do
	while IFS= read -r f; do FILES+=("$r/$f"); done < <(cd "$CORPUS_MINI/$r" && find . -type f ! -path './.git/*' | sed 's|^\./||' | sort)
done
UP=()
for repo in up/a up/b up/all; do
	curl -sf -X POST "${AUTH[@]}" -d "{\"repo\": \"$repo\"}" "${URLS[a]}/api/v1/repos" >/dev/null ||
		fail "create $repo"
done
put() { # daemon repo path file -> $T/codes
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "${AUTH[@]}" -T "$4" \
		"${URLS[$1]}/api/v1/repos/$2/files/main/$3")
	echo "$1 $2 $3 $code" >>"$T/codes"
}
: >"$T/codes"
# the same bytes to two repos through the two daemons, both at once; and
# every file to one branch (shared/all), half through each daemon, at once
i=0
for f in "${FILES[@]}"; do
	put a up/a "$f" "$CORPUS_MINI/$f" &
	UP+=($!)
	put b up/b "$f" "$CORPUS_MINI/$f" &
	UP+=($!)
	if [ $((i % 2)) -eq 0 ]; then d=a; else d=b; fi
	put $d up/all "$f" "$CORPUS_MINI/$f" &
	UP+=($!)
	i=$((i + 1))
	if [ $((i % 4)) -eq 0 ]; then wait "${UP[@]}"; UP=(); fi
done
[ ${#UP[@]} -eq 0 ] || wait "${UP[@]}"
n=${#FILES[@]}
check "all $((3 * n)) uploads answered 201" [ "$(grep -c ' 201$' "$T/codes")" -eq $((3 * n)) ]
grep -v ' 201$' "$T/codes" | head -n 5 >&2 || true

# every file through either daemon, byte-exact; the shared branch has them all
for repo in up/a up/b up/all; do
	for d in a b; do
		curl -sf "${URLS[$d]}/api/v1/repos/$repo/files/main" -o "$T/tree" || { fail "list $repo via $d"; continue; }
		check "$repo via $d lists all $n files (no lost update)" \
			[ "$(jq '[.files[]?] | length' "$T/tree")" -eq "$n" ]
	done
done
bad=0
for repo in up/a up/b up/all; do
	j=0
	for f in "${FILES[@]}"; do
		d=a; [ $((j % 2)) -eq 0 ] || d=b
		j=$((j + 1))
		curl -sf "${URLS[$d]}/api/v1/repos/$repo/files/main/$f" -o "$T/dl" &&
			cmp -s "$T/dl" "$CORPUS_MINI/$f" || { bad=$((bad + 1)); echo "differs: $repo $f via $d" >&2; }
	done
done
check "every file reads back byte-exactly through either daemon" [ "$bad" -eq 0 ]
# the same through the npm @huggingface/hub client (the hub protocol:
# preupload, LFS batch and PUT, NDJSON commit), four node processes started
# at once: the same models to js/a through a and to js/b through b, and one
# commit per model to js/all from both, each its own half of the files;
# then a parentCommit race on js/all, one commit through each daemon; then
# every file downloaded through both daemons and compared by SHA-256
. "$HERE/hub_js.sh"
JSREPOS=()
if hub_js_install; then
	JS=$HERE/js/hub_concurrent.mjs
	export HF_TOKEN=$TOKEN
	: >"$T/l.same"
	: >"$T/l.a"
	: >"$T/l.b"
	i=0
	for r in "${REPOS[@]}"; do
		for f in "${FILES[@]}"; do
			case $f in "$r"/*) ;; *) continue ;; esac
			echo "$f" >>"$T/l.same"
			if [ $((i % 2)) -eq 0 ]; then echo "$f" >>"$T/l.a"; else echo "$f" >>"$T/l.b"; fi
			i=$((i + 1))
		done
		echo | tee -a "$T/l.same" "$T/l.a" >>"$T/l.b"
	done
	JW=()
	jsup() { # daemon repo list
		node "$JS" upload "$HUB_JS_MOD" "${URLS[$1]}" "$2" "$CORPUS_MINI" "$T/$3" >"$T/js.$1.${2/\//_}" 2>&1 &
		JW+=("$!:$1:$2")
	}
	jswait() { # every process in JW: what it does
		local v pid d repo
		for v in "${JW[@]}"; do
			IFS=: read -r pid d repo <<<"$v"
			if wait "$pid"; then ok; else fail "$1 $repo via $d: $(tail -n 20 "$T/js.$d.${repo/\//_}")"; fi
		done
		JW=()
	}
	jsup a js/a l.same
	jsup b js/b l.same
	jsup a js/all l.a
	jsup b js/all l.b
	jswait "JS upload to"
	# the race: two new files (a fourth model's) on the head of js/all
	mapfile -t RACE < <(cd "$CORPUS_MINI" && find "$(corpus_repos | sed -n 4p)" -type f ! -path '*/.git/*' | sort | head -n 2)
	if node "$JS" race "$HUB_JS_MOD" "${URLS[a]}" "${URLS[b]}" js/all "$CORPUS_MINI" "${RACE[@]}" >"$T/js.race" 2>&1; then
		ok
	else
		fail "JS parentCommit race: $(tail -n 20 "$T/js.race")"
	fi
	cp "$T/l.b" "$T/l.all"
	cat "$T/l.a" >>"$T/l.all"
	printf '%s\n' "${RACE[@]}" >>"$T/l.all"
	for d in a b; do
		for rl in js/a:l.same js/b:l.same js/all:l.all; do
			repo=${rl%%:*}
			node "$JS" verify "$HUB_JS_MOD" "${URLS[$d]}" "$repo" "$CORPUS_MINI" "$T/${rl#*:}" \
				>"$T/js.$d.${repo/\//_}" 2>&1 &
			JW+=("$!:$d:$repo")
		done
	done
	jswait "JS downloads of"
	paragraphs() { awk 'BEGIN { RS = "" } END { print NR }' "$1"; }
	check "one revision per JS commit on js/all" \
		[ "$(psql -d shared -c "SELECT count(*) FROM revisions v JOIN repos r ON r.id = v.repo_id WHERE r.name = 'js/all'")" -eq \
		  $(($(paragraphs "$T/l.a") + $(paragraphs "$T/l.b") + 2)) ]
	JSREPOS=(js/all)
else
	echo "92_postgres.sh: SKIPPED the @huggingface/hub client part: $HUB_JS_WHY" >&2
fi
check "no object indexed twice" \
	[ "$(psql -d shared -c 'SELECT count(*) - count(DISTINCT sha256) FROM objects')" -eq 0 ]
check "no file indexed twice" \
	[ "$(psql -d shared -c 'SELECT count(*) - count(DISTINCT sha256) FROM files')" -eq 0 ]
if [ ${#BLOBS[@]} -gt 0 ]; then
	check "no pack on the local disk" [ "$(find "$STORE" -name '*.pack*' | wc -l)" -eq 0 ]
	check "one object in the bucket per indexed pack" \
		[ "$(s3tool ls "$PREFIX/packs/" | wc -l)" -eq \
		  "$(psql -d shared -c 'SELECT count(*) FROM packs')" ]
fi
check "every block's pack is indexed" \
	[ "$(psql -d shared -c 'SELECT count(*) FROM blocks b LEFT JOIN packs p ON p.id = b.pack_id WHERE p.id IS NULL')" -eq 0 ]
check "one revision per upload to the shared branch" \
	[ "$(psql -d shared -c "SELECT count(*) FROM revisions v JOIN repos r ON r.id = v.repo_id WHERE r.name = 'up/all'")" -eq "$n" ]

for p in "${PIDS[@]}"; do kill -TERM "$p"; wait "$p" 2>/dev/null || true; done
PIDS=()
check "fsck clean" "$HUBZIP" --store "$STORE" --index "$IDX" fsck >"$T/fsck" 2>&1
check "gc after concurrent uploads" "$HUBZIP" --store "$STORE" --index "$IDX" gc >/dev/null 2>&1
rm -rf "$T/out"
check "restore after gc" "$HUBZIP" --store "$STORE" --index "$IDX" restore up/all "$T/out"
bad=0
for f in "${FILES[@]}"; do cmp -s "$T/out/$f" "$CORPUS_MINI/$f" || bad=$((bad + 1)); done
check "restored byte-exactly after gc" [ "$bad" -eq 0 ]
for repo in "${JSREPOS[@]}"; do # what the JS client sent, too
	rm -rf "$T/out"
	check "restore $repo after gc" "$HUBZIP" --store "$STORE" --index "$IDX" restore "$repo" "$T/out"
	bad=0
	while IFS= read -r f; do
		[ -z "$f" ] || cmp -s "$T/out/$f" "$CORPUS_MINI/$f" || bad=$((bad + 1))
	done <"$T/l.all"
	check "$repo restored byte-exactly after gc" [ "$bad" -eq 0 ]
done
check "fsck clean after gc" "$HUBZIP" --store "$STORE" --index "$IDX" fsck >/dev/null 2>&1

# a schema newer than the binary is refused, as on SQLite
psql -d shared -c 'UPDATE hubzip_schema SET version = 9999'
expect_fail "a newer schema is refused" "newer than this hubzip" \
	"$HUBZIP" --store "$STORE" --index "$IDX" ls
# a server that is gone is an error, not a hang
pg pg_ctl -D "$PGDIR/data" -m fast stop >/dev/null
expect_fail "a stopped server is reported" "cannot connect to the index" \
	"$HUBZIP" --store "$STORE" --index "$IDX" ls
done_tests
