#!/usr/bin/env bash
# `hubzip push` and `hubzip pull` against the real daemon on a random
# loopback port with a temporary store: a --mini corpus repo pushed,
# pulled byte-exact, pushed again with no LFS PUT, a resumed pull, and
# HTTP errors that exit non-zero with the server's message.
. "$(dirname "$0")/lib.sh"
need_corpus
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }

. "$(dirname "$0")/daemon.sh"

# lfs_puts: how many LFS PUTs the access log holds
lfs_puts() { grep -c '"method": *"PUT".*"path": *"/api/lfs/objects/' "$T/log" || true; }
same_tree() { # A B: the same files, byte for byte
	diff <(cd "$1" && find . -type f | sort) <(cd "$2" && find . -type f | sort) >/dev/null &&
		(cd "$1" && find . -type f -print0 | xargs -0 -I{} cmp -s {} "$2/{}")
}

hz init >/dev/null
start_daemon
WRITER=$(hz token create pusher --scope write)
READER=$(hz token create puller --scope read)

# a --mini repo with a few files more: a nested one and an empty one
REPO=$(corpus_repos | head -1)
SRC=$T/src
mkdir -p "$SRC/sub/deeper" "$SRC/.git"
cp -r "$CORPUS_MINI/$REPO/." "$SRC/"
printf '# pushed\n' >"$SRC/README.md"
printf 'nested file\n' >"$SRC/sub/deeper/a b.txt"
: >"$SRC/empty.txt"
printf 'not pushed\n' >"$SRC/.git/config"

# ---- push
if HUBZIP_TOKEN=$WRITER "$HUBZIP" push "$U" acme/pp "$SRC" >"$T/c1" 2>"$T/err"; then ok; else
	fail "push: $(cat "$T/err")"; fi
C1=$(cat "$T/c1")
check "push prints a 40-hex commit id" [ ${#C1} -eq 40 ]
check "the repo's main is the commit" \
	[ "$(curl -sf "$U/api/models/acme/pp" | jq -r .sha)" = "$C1" ]
PUTS1=$(lfs_puts)
check "the first push sent LFS PUTs" [ "$PUTS1" -gt 0 ]
check "the access log shows the batch request" grep -q 'info/lfs/objects/batch' "$T/log"
check ".git is not pushed" [ "$(curl -s -o /dev/null -w '%{http_code}' "$U/acme/pp/resolve/main/.git/config")" = 404 ]

# ---- pull, byte-exact
if HUBZIP_TOKEN=$READER "$HUBZIP" pull "$U" acme/pp "$T/dst" 2>"$T/err"; then ok; else
	fail "pull: $(cat "$T/err")"; fi
rm -rf "$SRC/.git"
check "pulled files are byte-exact" same_tree "$SRC" "$T/dst"
check "no .part file is left" [ -z "$(find "$T/dst" -name '*.part')" ]
check "the empty file is pulled" test -f "$T/dst/empty.txt" -a ! -s "$T/dst/empty.txt"

# ---- a second push sends no LFS bytes
if HUBZIP_TOKEN=$WRITER "$HUBZIP" push "$U" acme/pp "$SRC" >"$T/c2" 2>"$T/err"; then ok; else
	fail "second push: $(cat "$T/err")"; fi
check "the second push sent no LFS PUT" [ "$(lfs_puts)" -eq "$PUTS1" ]
check "the second push made a commit" [ "$(wc -c <"$T/c2")" -eq 41 ]
# the same files to another branch and repo: nothing sent either
if HUBZIP_TOKEN=$WRITER "$HUBZIP" push "$U" acme/pp2@dev "$SRC" >/dev/null 2>"$T/err"; then ok; else
	fail "push to another repo: $(cat "$T/err")"; fi
check "a push to another repo of stored files sent no LFS PUT" [ "$(lfs_puts)" -eq "$PUTS1" ]
check "the branch dev exists" \
	[ "$(curl -sf "$U/api/v1/repos/acme/pp2" -H "Authorization: Bearer $READER" | jq -r '.branches.dev | length')" = 40 ]

# ---- a resumed pull: a truncated .part left over
BIG=$(cd "$SRC" && find . -type f -printf '%s %P\n' | sort -n | tail -1 | cut -d' ' -f2-)
SZ=$(stat -c %s "$SRC/$BIG")
mkdir -p "$T/res/$(dirname "$BIG")"
head -c $((SZ / 2)) "$SRC/$BIG" >"$T/res/$BIG.part"
if HUBZIP_TOKEN=$READER "$HUBZIP" pull "$U" "acme/pp@$C1" "$T/res" 2>"$T/err"; then ok; else
	fail "resumed pull: $(cat "$T/err")"; fi
check "the resumed pull is byte-exact" same_tree "$SRC" "$T/res"
check "the resumed GET asked for a range" \
	grep -q "\"GET\".*resolve/$C1/$BIG\".*\"status\": *206" "$T/log"

# a .part of wrong bytes fails the SHA-256 and is removed; the next pull succeeds
rm -f "$T/res/$BIG"
head -c $((SZ / 2)) /dev/zero >"$T/res/$BIG.part"
expect_fail "a pull resumed from wrong bytes" 'SHA-256' \
	env HUBZIP_TOKEN=$READER "$HUBZIP" pull "$U" acme/pp "$T/res"
check "the bad .part is removed" [ ! -e "$T/res/$BIG.part" ]
if HUBZIP_TOKEN=$READER "$HUBZIP" pull "$U" acme/pp "$T/res" 2>"$T/err"; then ok; else
	fail "pull after a bad .part: $(cat "$T/err")"; fi
check "then byte-exact" same_tree "$SRC" "$T/res"

# ---- more files than one tree page (1000): the Link pagination is followed
MANY=$T/many
mkdir -p "$MANY/d"
for i in $(seq 1 1010); do : >"$MANY/d/e$i"; done
printf 'one\n' >"$MANY/one..txt"
if HUBZIP_TOKEN=$WRITER "$HUBZIP" push "$U" acme/many "$MANY" >/dev/null 2>"$T/err"; then ok; else
	fail "push of 1011 files: $(cat "$T/err")"; fi
if HUBZIP_TOKEN=$READER "$HUBZIP" pull "$U" acme/many "$T/many2" 2>"$T/err"; then ok; else
	fail "pull of 1011 files: $(cat "$T/err")"; fi
check "all 1011 files are pulled, byte-exact" same_tree "$MANY" "$T/many2"
check "the tree was read in two pages" [ "$(grep -c "\"GET\",\"path\":\"/api/models/acme/many/tree/" "$T/log")" -eq 2 ]

# ---- errors: non-zero exit and the server's message
expect_fail "push without a token" 'HTTP 401' "$HUBZIP" push "$U" acme/pp "$SRC"
expect_fail "push with a read token" 'HTTP 403' env HUBZIP_TOKEN=$READER "$HUBZIP" push "$U" acme/pp "$SRC"
expect_fail "pull of a missing repo" 'HTTP 404.*' env HUBZIP_TOKEN=$READER "$HUBZIP" pull "$U" acme/nope "$T/x"
expect_fail "pull of a missing revision" 'HTTP 404' env HUBZIP_TOKEN=$READER "$HUBZIP" pull "$U" acme/pp@nobranch "$T/x"
expect_fail "a bad repo name" 'namespace/name' "$HUBZIP" pull "$U" justname "$T/x"
expect_fail "no server" 'pull' "$HUBZIP" pull http://127.0.0.1:1 acme/pp "$T/x"

stop_daemon
if grep -q Sanitizer "$T/log"; then fail "sanitizer report: $(head -c 2000 "$T/log")"; else ok; fi
if hz fsck >"$T/fsck" 2>&1; then ok; else fail "fsck: $(cat "$T/fsck")"; fi
done_tests
