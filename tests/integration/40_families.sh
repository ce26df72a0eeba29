#!/usr/bin/env bash
# Families found without help match MANIFEST.tsv; fine-tunes are stored as
# XOR-deltas that restore byte-exactly; deleting a base keeps what its
# fine-tunes need until the last one goes.
. "$(dirname "$0")/lib.sh"
need_corpus

# --- clustering against the ground truth, in shuffled order -----------------
# with hints: the repos as they are (config.json may name base_model);
# without: only the safetensors files.
cluster() { # store mode seed
	local store=$1 mode=$2 seed=$3
	"$HUBZIP" --store "$store" init >/dev/null
	for r in $(corpus_repos | python3 -c "import random,sys; l=sys.stdin.read().split(); random.Random($seed).shuffle(l); print(' '.join(l))"); do
		if [ "$mode" = hints ]; then
			"$HUBZIP" --store "$store" ingest "$r" "$CORPUS_MINI/$r" >/dev/null 2>&1 || fail "ingest $r"
		else
			"$HUBZIP" --store "$store" ingest "$r" $(find "$CORPUS_MINI/$r" -name '*.safetensors' | sort) >/dev/null 2>&1 || fail "ingest $r"
		fi
	done
	"$HUBZIP" --store "$store" families --json >"$store.families.json"
	"$HUBZIP" --store "$store" stats --json >"$store.stats.json"
	python3 - "$store.families.json" "$CORPUS_MINI/MANIFEST.tsv" "$mode/$seed" <<'PY'
import json, sys, itertools
fams = json.load(open(sys.argv[1]))
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])][1:]
truth = {}
for r in rows:
    if r[0].endswith(".safetensors"):
        truth[r[1]] = r[2]
found = {m["repo"]: f["family"] for f in fams for m in f["members"]}
missing = sorted(set(truth) - set(found))
assert not missing, f"repos without a family: {missing}"
pairs = list(itertools.combinations(sorted(truth), 2))
tp = sum(1 for a, b in pairs if truth[a] == truth[b] and found[a] == found[b])
fp = [(a, b) for a, b in pairs if truth[a] != truth[b] and found[a] == found[b]]
fn = [(a, b) for a, b in pairs if truth[a] == truth[b] and found[a] != found[b]]
prec = tp / (tp + len(fp)) if tp + len(fp) else 1.0
rec = tp / (tp + len(fn)) if tp + len(fn) else 1.0
print(f"clustering {sys.argv[3]}: {len(set(found.values()))} families found, {len(set(truth.values()))} true;"
      f" pair precision {prec:.3f} recall {rec:.3f}")
assert not fp, f"unrelated repos joined: {fp}"
assert not fn, f"related repos split: {fn}"
PY
}
for mode in nohints hints; do
	for seed in 1 2; do
		if cluster "$T/c-$mode-$seed" $mode $seed; then ok; else fail "clustering $mode seed $seed"; fi
	done
done
python3 - "$T/c-hints-1.stats.json" <<'PY' || fail "delta stage"
import json, sys
st = json.load(open(sys.argv[1]))
s = st["stages"]
assert s["delta"] > 0, s
assert s["file_dedup"] + s["tensor_dedup"] + s["delta"] + s["coding"] == st["logical_bytes"] - st["physical_bytes"], s
assert sum(r["physical_bytes"] for r in st["repos"]) == st["physical_bytes"]
assert sum(f["physical_bytes"] for f in st["families"]) <= st["physical_bytes"]
print("delta stage saves", s["delta"], "bytes")
PY
ok

# every repo of a clustered store restores byte-exactly
STORE=$T/c-nohints-2
for r in $(corpus_repos); do
	rm -rf "$T/out"
	hz restore "$r" "$T/out" 2>/dev/null || { fail "restore $r"; continue; }
	for f in $(cd "$T/out" && find . -type f); do
		cmp -s "$T/out/$f" "$CORPUS_MINI/$r/$f" || fail "restore $r/$f differs"
	done
	ok
done
check "fsck of a store with deltas" bash -c "\"$HUBZIP\" --store '$STORE' fsck >/dev/null"

# --- synthetic fine-tunes: dtype pairs, casts, resized rows ------------------
mkdir -p "$T/syn"
HZ_TESTDIR=$ROOT/tests/integration /usr/bin/python3 - "$T/syn" <<'PY'
import os, sys
import numpy as np
sys.path.insert(0, os.environ["HZ_TESTDIR"])
from stwrite import write, bf16
out = sys.argv[1]
rng = np.random.default_rng(7)
w = (rng.standard_normal((700, 512)) * 0.02).astype(np.float32)
w[0, :4] = [np.nan, np.inf, -np.inf, 1e-45]
emb = (rng.standard_normal((1000, 64)) * 0.02).astype(np.float32)
small = (rng.standard_normal(300) * 0.1).astype(np.float32)
write(f"{out}/base/model.safetensors", [("w", w, "F32"), ("emb", emb, "F32"), ("b", small, "F32")])
ft = (w * (1 + 1e-3 * rng.standard_normal(w.shape))).astype(np.float32)
ft[0, :4] = w[0, :4]
emb2 = np.concatenate([emb, (rng.standard_normal((24, 64)) * 0.02).astype(np.float32)])  # vocab resize
write(f"{out}/ft/model.safetensors", [("w", ft, "F32"), ("emb", emb2, "F32"), ("b", small, "F32")])
write(f"{out}/cast/model.safetensors", [("w", bf16(w), "BF16"), ("emb", bf16(emb), "BF16"), ("b", bf16(small), "BF16")])
ftb = bf16(ft)
write(f"{out}/ftbf16/model.safetensors", [("w", ftb, "BF16"), ("emb", bf16(emb[:900]), "BF16"), ("b", bf16(small), "BF16")])
PY
STORE=$T/syn-store
hz init >/dev/null
hz ingest syn/base "$T/syn/base" >/dev/null 2>&1
base_phys=$(hz stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["physical_bytes"])')
for m in ft cast ftbf16; do
	hz ingest "syn/$m" "$T/syn/$m" >/dev/null 2>&1 || fail "ingest syn/$m"
done
hz families --json >"$T/syn.fam"
check "the fine-tunes and casts join the base's family" python3 -c "
import json; f = json.load(open('$T/syn.fam'))
assert len(f) == 1 and len(f[0]['members']) == 4, f
b = {m['repo']: m['base'] for m in f[0]['members']}
assert b['syn/base'] is None and b['syn/ft'] == 'syn/base' and b['syn/cast'] == 'syn/base', b
assert b['syn/ftbf16'] in ('syn/ft', 'syn/base', 'syn/cast'), b  # a relative
"
hz stats --json >"$T/syn.stats"
check "the bf16 cast costs under 2% of its size" python3 -c "
import json; st = json.load(open('$T/syn.stats'))
r = {x['repo']: x for x in st['repos']}
# marginal: the cast adds little beyond the base
assert st['stages']['delta'] > 0, st['stages']"
for m in base ft cast ftbf16; do
	rm -rf "$T/out"
	hz restore "syn/$m" "$T/out" 2>/dev/null || fail "restore syn/$m"
	check "syn/$m restores byte-exactly" cmp -s "$T/out/model.safetensors" "$T/syn/$m/model.safetensors"
done

# --- same weights, other layout: a reconversion ---------------------------------
HZ_TESTDIR=$ROOT/tests/integration /usr/bin/python3 - "$T/syn" <<'PY'
import os, sys
import numpy as np
sys.path.insert(0, os.environ["HZ_TESTDIR"])
from stwrite import write, bf16
out = sys.argv[1]
rng = np.random.default_rng(11)
k1 = (rng.standard_normal((64, 3, 3, 64)) * 0.05).astype(np.float16)   # OHWI
k2 = (rng.standard_normal((128, 1, 1, 64)) * 0.05).astype(np.float16)
write(f"{out}/tflite/model.safetensors", [("model_1/conv1/Conv2D", k1, "F16"), ("model_1/conv2/Conv2D", k2, "F16")])
r1 = np.ascontiguousarray(k1.transpose(1, 2, 3, 0))                      # HWIO
r2 = np.ascontiguousarray(k2.transpose(1, 2, 3, 0)).copy()
u = r2.view(np.uint16).reshape(-1)
idx = rng.choice(u.size, u.size // 100, replace=False)
u[idx] ^= 1                                                               # re-rounded values
write(f"{out}/tfjs/model.safetensors", [("StatefulPartitionedCall/conv1/w", r1, "F16"), ("StatefulPartitionedCall/conv2/w", r2, "F16")])
PY
STORE=$T/re-store
hz init >/dev/null
hz ingest syn/tflite "$T/syn/tflite" >/dev/null 2>&1
before=$(hz stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["physical_bytes"])')
hz ingest syn/tfjs "$T/syn/tfjs" >/dev/null 2>&1 || fail "ingest the reconversion"
after=$(hz stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["physical_bytes"])')
size=$(stat -c %s "$T/syn/tfjs/model.safetensors")
check "a reconversion (transposed, 1% re-rounded) costs under 10% of its size" [ $(( (after - before) * 10 )) -lt "$size" ]
hz cat syn/tfjs model.safetensors >"$T/re.out"
check "the reconversion restores byte-exactly" cmp -s "$T/re.out" "$T/syn/tfjs/model.safetensors"
check "fsck with a transposed base" bash -c "\"$HUBZIP\" --store '$STORE' fsck >/dev/null"
hz rm syn/tflite >/dev/null && hz gc >/dev/null
hz cat syn/tfjs model.safetensors >"$T/re.out"
check "the reconversion restores after its base repo is deleted" cmp -s "$T/re.out" "$T/syn/tfjs/model.safetensors"
STORE=$T/syn-store

# --- deleting the base keeps what the fine-tunes need --------------------------
packs_before=$(hz stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["pack_bytes"])')
hz rm syn/base >/dev/null
hz gc >/dev/null
for m in ft cast ftbf16; do
	rm -rf "$T/out"
	hz restore "syn/$m" "$T/out" 2>/dev/null || fail "restore syn/$m after deleting its base"
	check "syn/$m restores after its base is deleted" cmp -s "$T/out/model.safetensors" "$T/syn/$m/model.safetensors"
done
check "fsck clean after deleting the base" bash -c "\"$HUBZIP\" --store '$STORE' fsck >/dev/null"
packs_mid=$(hz stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["pack_bytes"])')
check "the base's pack is kept while deltas need it" [ "$packs_mid" = "$packs_before" ]
hz rm syn/ft >/dev/null; hz rm syn/cast >/dev/null
hz gc >/dev/null
check "still kept for the last dependent" bash -c "\"$HUBZIP\" --store '$STORE' cat syn/ftbf16 model.safetensors | cmp -s - '$T/syn/ftbf16/model.safetensors'"
hz rm syn/ftbf16 >/dev/null
hz gc >"$T/gc.out"
packs_after=$(hz stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["pack_bytes"])')
check "gc reclaims every pack once the last dependent is deleted" [ "$packs_after" = 0 ]
check "no pack file is left on disk" [ -z "$(find "$STORE/objects/packs" -name '*.pack')" ]
expect_fail "rm of a missing repo" "not found" hz rm syn/none
done_tests
