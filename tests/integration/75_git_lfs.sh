#!/usr/bin/env bash
# git-lfs (Debian's 3.3) against the daemon's LFS batch API: a push to a
# plain git remote whose lfs.url points at hubzip uploads the LFS objects
# (locks/verify answered 404, verify called); an NDJSON commit names
# them; a fresh clone's `git lfs pull` gets them back byte-exact.
# Skipped, with a message, when git-lfs is not installed.
. "$(dirname "$0")/lib.sh"
need_corpus
skip() { echo "$(basename "$0"): SKIPPED: $*"; exit 0; }
command -v git >/dev/null || skip "git is not installed"
git lfs version >/dev/null 2>&1 || skip "git-lfs is not installed (apt-get install git-lfs)"

MAX_UPLOAD=256M
. "$(dirname "$0")/daemon.sh"


hz init >/dev/null
start_daemon
TOKEN=$(grep -o 'hf_[A-Za-z0-9]*' "$T/out" | head -1)
export GIT_TERMINAL_PROMPT=0 GIT_CONFIG_NOSYSTEM=1 HOME=$T/home
mkdir -p "$HOME"
git config --global user.email t@example.com
git config --global user.name test
git config --global init.defaultBranch main
git config --global credential.helper ""
SRC=$CORPUS_MINI/upscalerjs/esrgan-slim-x2

curl -sf -X POST "$U/api/repos/create" -H "Authorization: Bearer $TOKEN" \
	-d '{"name":"g","organization":"acme"}' >/dev/null
check "the repo is created" [ $? -eq 0 ]
git init -q --bare "$T/remote.git"
git init -q "$T/w"
cd "$T/w"
git lfs install --local >/dev/null
git config lfs.url "$U/acme/g.git/info/lfs"
git config http.extraHeader "Authorization: Bearer $TOKEN"
git lfs track "*.safetensors" "*.bin" >/dev/null
cp "$SRC/model.safetensors" .
mkdir tfjs && cp "$SRC/tfjs/group1-shard1of1.bin" tfjs/
git add .gitattributes model.safetensors tfjs
git commit -qm "lfs files"
git remote add origin "$T/remote.git"
if git push -q origin main >"$T/push.log" 2>&1; then ok; else fail "git push: $(tail -5 "$T/push.log")"; fi
cd "$ROOT"
for f in model.safetensors tfjs/group1-shard1of1.bin; do
	check "git-lfs uploaded $f" [ -f "$STORE/objects/lfs-pending/$(sha "$SRC/$f")" ]
done
check "git-lfs asked for locks (404)" grep -q '"path":"/acme/g.git/info/lfs/locks/verify","status":404' "$T/log"
check "git-lfs called verify" grep -q '"path":"/acme/g.git/info/lfs/verify","status":200' "$T/log"

# name them in an NDJSON commit
{
	echo '{"key":"header","value":{"summary":"from git-lfs"}}'
	for f in model.safetensors tfjs/group1-shard1of1.bin; do
		printf '{"key":"lfsFile","value":{"path":"%s","algo":"sha256","oid":"%s","size":%s}}\n' \
			"$f" "$(sha "$SRC/$f")" "$(stat -c %s "$SRC/$f")"
	done
} >"$T/nd"
CODE=$(curl -s -o "$T/body" -w '%{http_code}' -X POST "$U/api/models/acme/g/commit/main" \
	-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/x-ndjson" --data-binary @"$T/nd")
check "the commit of the pushed objects ($CODE $(head -c 200 "$T/body"))" [ "$CODE" = 200 ]

# a fresh clone pulls them back
GIT_LFS_SKIP_SMUDGE=1 git clone -q "$T/remote.git" "$T/c" 2>"$T/clone.log"
cd "$T/c"
git lfs install --local >/dev/null
git config lfs.url "$U/acme/g.git/info/lfs"
git config http.extraHeader "Authorization: Bearer $TOKEN"
if git lfs pull >"$T/pull.log" 2>&1; then ok; else fail "git lfs pull: $(tail -5 "$T/pull.log")"; fi
cd "$ROOT"
for f in model.safetensors tfjs/group1-shard1of1.bin; do
	check "git lfs pull of $f is byte-exact" cmp -s "$T/c/$f" "$SRC/$f"
done
stop_daemon
done_tests
