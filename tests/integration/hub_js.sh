# Sourced by the tests that drive the npm @huggingface/hub client, after
# lib.sh: the client, pinned, installed once into build/npm (70_hub_js.sh,
# 92_postgres.sh).
#
# hub_js_install: 0 when node and the client are at hand (HUB_JS_MOD is the
# module's directory, for the scripts in js/); otherwise 1, with the reason
# in HUB_JS_WHY (no node, no npm, or the registry is unreachable).
HUB_JS_VERSION=2.17.5
HUB_JS_DIR=$ROOT/build/npm
HUB_JS_MOD=$HUB_JS_DIR/node_modules/@huggingface/hub
HUB_JS_WHY=

hub_js_install() {
	command -v node >/dev/null || { HUB_JS_WHY="node is not installed"; return 1; }
	[ "$(jq -r .version "$HUB_JS_MOD/package.json" 2>/dev/null)" != "$HUB_JS_VERSION" ] || return 0
	command -v npm >/dev/null || { HUB_JS_WHY="npm is not installed"; return 1; }
	timeout 300 npm install --no-audit --no-fund --prefix "$HUB_JS_DIR" \
		"@huggingface/hub@$HUB_JS_VERSION" >"$T/npm.log" 2>&1 || {
		HUB_JS_WHY="npm install @huggingface/hub@$HUB_JS_VERSION failed (registry unreachable?): $(tail -3 "$T/npm.log")"
		return 1
	}
}
