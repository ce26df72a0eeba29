#!/usr/bin/env python3
"""hubzip benchmark: ratios per relation, the order-0 bound, speed and memory.

    python3 tests/bench/bench.py --hubzip build/hubzip --corpus /var/tmp/mhub-corpus/public
    python3 tests/bench/bench.py --corpus /var/tmp/mhub-corpus/mini --quick --no-synthetic

Side by side with `zstd -3` and `zstd -19 --long=27` (and, for files made from a
parent, with delta coders given that parent), in one run:

  1. bytes per relation of MANIFEST.tsv (plus the unlisted config.json files),
     hubzip's stored bytes being the marginal cost of each file, ingested one
     commit at a time in a realistic order;
  2. the order-0 entropy bound of float tensors that have no base;
  3. ingest / restore speed (MB/s per core of CPU time, and wall MB/s), peak RSS;
  4. a synthetic BF16 model of N GiB: peak RSS and speed of ingest and restore;
  5. SHA-256 (OpenSSL) vs XXH3-128 throughput (tests/bench/hash_bench.c);
  6. fine-tunes, dtype casts and re-conversions against their base: hubzip (which
     finds the base itself) vs `zstd -19 --long=31 --patch-from=BASE`, `xdelta3 -e -9
     -s BASE` and BitX (XOR with the base, byte planes, zstd -3), the peers being
     given the MANIFEST parent's file as BASE;
  7. clustering: `families --json` of three stores (repo by repo; safetensors only in
     a shuffled order, no config.json hints; file by file) against MANIFEST family_id;
  8. a PASS/MISS summary against the targets (informational);
  9. HTTP on loopback (--no-http skips it, --http-only runs it alone): `hubzip serve`
     uploads (curl PUT, 1 and 8 at a time) and downloads (resolve, 1 and 32 at a
     time) of the base and fine-tune safetensors files, every body hashed, against a
     Python PUT sink and `python3 -m http.server`: MB/s per core of the server's CPU
     (/proc/PID/stat), wall MB/s, errors, the server's peak RSS (VmHWM).

Prints the report on stdout (progress on stderr) and writes build/bench/report.json
and build/bench/report.md.  Exits non-zero only if a hubzip command fails, a
restored file differs from the original or a peer's delta does not decode.
Python standard library + numpy only.  MB = 10^6 bytes, MiB = 2^20 bytes.
See docs/bench.md.
"""
import os
import sys

try:
    import numpy as np
except ImportError:  # e.g. a pyenv python3 first in PATH: use the system's, which has numpy
    if __name__ == "__main__" and not os.environ.get("HUBZIP_BENCH_REEXEC") and os.access("/usr/bin/python3", os.X_OK) \
            and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.environ["HUBZIP_BENCH_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("bench: numpy is required (apt-get install python3-numpy)")

import argparse
import concurrent.futures
import datetime
import hashlib
import json
import mmap
import platform
import random
import resource
import shutil
import sqlite3
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELATIONS = ["base", "independent", "finetune", "lora-merged", "dtype-cast", "duplicate",
             "reshard", "reconvert", "other-file", "config"]
NO_BASE = ("base", "independent")
FLOAT_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}
DTYPE_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
              "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2,
              "U8": 1, "BOOL": 1}
MB = 1e6
MIB = 1 << 20
CHUNK = 8 << 20

TARGETS = {
    "dup_reshard_pct": 0.1,      # duplicates and reshards: stored < 0.1% of raw
    "bound_excess_pct": 1.0,     # float tensors without base: <= 1% above order-0
    "ingest_mbps_core": 250.0,
    "restore_mbps_core": 800.0,
    "synthetic_rss_mib": 200.0,
    # issue 3: XOR-deltas against the family base, and family detection
    "ft_vs_best_peer": 0.9,      # finetune + lora-merged: hubzip <= 0.9 x the best oracle-base peer
    "cast_pct": 0.5,             # dtype-cast: stored < 0.5% of raw
    "reconvert_pct": 30.0,       # reconvert: stored < 30% of raw
    "ft_attached_pct": 100.0,    # every fine-tune in its true family
    "ft_ingest_mbps_core": 200.0,
    "ft_restore_mbps_core": 700.0,
    # issue 4: HTTP on loopback (hubzip serve)
    "http_dl_ft_mbps_core": 700.0,   # download of delta-coded fine-tunes, per core of the daemon
    "http_ul_mbps_core": 200.0,      # upload of new data, per core of the daemon
    "http_rss_mib": 300.0,           # 32 concurrent downloads, 8 concurrent uploads
}
# relations coded against a base: the peers get the MANIFEST parent's file (an oracle)
PEER_RELATIONS = ("finetune", "lora-merged", "dtype-cast", "reconvert")
FT_RELATIONS = ("finetune", "lora-merged")
SHUFFLE_SEED = 20261127


class BenchError(Exception):
    pass


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---- processes ---------------------------------------------------------------

class Run:
    """One finished child process: exit code, CPU seconds, peak RSS, wall time."""
    __slots__ = ("cmd", "rc", "user", "sys", "rss_kib", "wall", "out", "err")

    @property
    def cpu(self):
        return self.user + self.sys

    def as_json(self):
        return {"cmd": self.cmd, "rc": self.rc, "user_s": round(self.user, 4),
                "sys_s": round(self.sys, 4), "maxrss_kib": self.rss_kib,
                "wall_s": round(self.wall, 4)}


RUSAGE_EXEC = None   # build/bench/rusage_exec, compiled by build_helpers()


def build_helpers():
    """Compiles the C helpers into build/bench/ when missing or older than their source."""
    global RUSAGE_EXEC
    outd = os.path.join(ROOT, "build", "bench")
    os.makedirs(outd, exist_ok=True)
    exes = {}
    for name, libs in (("rusage_exec", []), ("hash_bench", ["-lcrypto", "-lxxhash"])):
        src = os.path.join(ROOT, "tests", "bench", name + ".c")
        exe = os.path.join(outd, name)
        if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
            cc = subprocess.run([os.environ.get("CC", "cc"), "-std=c11", "-O2", "-Wall", "-Wextra", "-o",
                                 exe, src] + libs, capture_output=True, text=True)
            if cc.returncode != 0:
                raise BenchError(f"cannot compile {src}:\n{cc.stderr}")
        exes[name] = exe
    RUSAGE_EXEC = exes["rusage_exec"]
    return exes


def run(cmd, stdout=None, feed=None, check=True, capture=False):
    """Runs cmd under rusage_exec and collects the command's own rusage (wait4).

    stdout: a path (written), None (/dev/null) or an open file object; capture=True
    reads it instead.  feed: an iterable of bytes written to the child's stdin."""
    r = Run()
    r.cmd = [str(c) for c in cmd]
    close = None
    if capture:
        out = subprocess.PIPE
    elif stdout is None:
        out = close = open(os.devnull, "wb")
    elif isinstance(stdout, str):
        out = close = open(stdout, "wb")
    else:
        out = stdout
    err = tempfile.TemporaryFile()
    rfd, wfd = os.pipe()
    try:
        p = subprocess.Popen([RUSAGE_EXEC, str(wfd)] + r.cmd, pass_fds=(wfd,),
                             stdin=subprocess.PIPE if feed is not None else subprocess.DEVNULL,
                             stdout=out, stderr=err)
    except OSError as e:
        os.close(rfd)
        raise BenchError(f"cannot run {RUSAGE_EXEC}: {e}")
    finally:
        os.close(wfd)
    r.out = b""
    line = b""
    try:
        if feed is not None:
            try:
                for chunk in feed:
                    p.stdin.write(chunk)
            except BrokenPipeError:
                pass
            try:
                p.stdin.close()
            except BrokenPipeError:
                pass
        if capture:
            r.out = p.stdout.read()
            p.stdout.close()
        while True:
            b = os.read(rfd, 4096)
            if not b:
                break
            line += b
    finally:
        os.close(rfd)
        _, status, _ = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if close:
            close.close()
    err.seek(0)
    r.err = err.read().decode(errors="replace")
    err.close()
    try:
        rc, user, sys_, rss, wall = line.split()
        r.rc, r.user, r.sys, r.rss_kib, r.wall = int(rc), float(user), float(sys_), int(rss), float(wall)
    except ValueError:
        raise BenchError(f"no rusage for {' '.join(r.cmd)} (exit {p.returncode}): {r.err.strip()}")
    if check and r.rc != 0:
        raise BenchError(f"command failed (exit {r.rc}): {' '.join(r.cmd)}\n{r.err.strip()}")
    return r


def run_pool(jobs, n, fn):
    """Calls fn(i) for i in range(n) on `jobs` threads (each runs one child at a time)."""
    results = [None] * n
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        futs = {ex.submit(fn, i): i for i in range(n)}
        for f in concurrent.futures.as_completed(futs):
            results[futs[f]] = f.result()
    return results


class Phase:
    """Accumulates the children of one timed phase."""

    def __init__(self, name, procs_at_once=1):
        self.name, self.procs_at_once = name, procs_at_once
        self.runs, self.bytes, self.wall = [], 0, 0.0
        self.other_pct = None
        self._t0, self._busy0, self._own0 = time.perf_counter(), cpu_busy_s(), own_cpu_s()

    def done(self):
        """Ends the phase: elapsed time, and the share of the machine that processes other
        than ours used meanwhile (a contended phase measures the neighbours too)."""
        self.wall = time.perf_counter() - self._t0
        busy = cpu_busy_s()
        if busy is not None and self._busy0 is not None and self.wall > 0:
            other = max(0.0, (busy - self._busy0) - (own_cpu_s() - self._own0))
            self.other_pct = 100 * other / (self.wall * (os.cpu_count() or 1))

    def add(self, r, nbytes=0):
        self.runs.append(r)
        self.bytes += nbytes

    @property
    def cpu(self):
        return sum(r.cpu for r in self.runs)

    @property
    def max_rss_mib(self):
        return max((r.rss_kib for r in self.runs), default=0) / 1024

    def summary(self):
        cpu = self.cpu
        if self.procs_at_once == 1:  # one process at a time: wall = their own elapsed times
            self.wall = sum(r.wall for r in self.runs)
        return {"name": self.name, "processes": len(self.runs), "procs_at_once": self.procs_at_once,
                "bytes": self.bytes, "cpu_s": round(cpu, 3),
                "user_s": round(sum(r.user for r in self.runs), 3),
                "sys_s": round(sum(r.sys for r in self.runs), 3),
                "mbps_per_core": self.bytes / MB / cpu if cpu > 0 else None,
                "wall_s": round(self.wall, 3),
                "wall_mbps": self.bytes / MB / self.wall if self.wall > 0 else None,
                "max_rss_mib": round(self.max_rss_mib, 1),
                "other_cpu_pct": None if self.other_pct is None else round(self.other_pct, 1)}


# ---- corpus ------------------------------------------------------------------

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(CHUNK)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def load_corpus(corpus):
    """Returns (files, repos): files in MANIFEST order then unlisted ones; repos in
    ingest order (repos holding a base or independent file first, then MANIFEST order)."""
    man = os.path.join(corpus, "MANIFEST.tsv")
    if not os.path.isfile(man):
        raise BenchError(f"{man} not found (build the corpus with shared/corpus/build.sh)")
    files, listed = [], set()
    with open(man, encoding="utf-8") as f:
        head = f.readline().rstrip("\n").split("\t")
        col = {c: i for i, c in enumerate(head)}
        for need in ("path", "repo_id", "relation", "bytes", "sha256", "dtype", "family_id"):
            if need not in col:
                raise BenchError(f"{man}: no column '{need}'")
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            v = line.split("\t")
            e = {"path": v[col["path"]], "repo": v[col["repo_id"]], "relation": v[col["relation"]],
                 "bytes": int(v[col["bytes"]]), "sha256": v[col["sha256"]], "dtype": v[col["dtype"]],
                 "family": v[col["family_id"]], "parent": v[col["parent"]] if "parent" in col else "-",
                 "listed": True}
            files.append(e)
            listed.add(e["path"])
    repo_order = []
    for e in files:
        if e["repo"] not in repo_order:
            repo_order.append(e["repo"])
    # files on disk that the MANIFEST does not list: config.json (and anything else)
    for repo in repo_order:
        top = os.path.join(corpus, repo)
        extra = []
        for dp, dns, fns in os.walk(top):
            dns[:] = sorted(d for d in dns if d != ".git")
            for fn in fns:
                rel = os.path.relpath(os.path.join(dp, fn), corpus)
                if rel not in listed:
                    extra.append(rel)
        for rel in sorted(extra):
            files.append({"path": rel, "repo": repo,
                          "relation": "config" if os.path.basename(rel) == "config.json" else "unlisted",
                          "bytes": os.path.getsize(os.path.join(corpus, rel)), "sha256": None,
                          "dtype": "json", "family": "-", "parent": "-", "listed": False})
    for e in files:
        e["abs"] = os.path.join(corpus, e["path"])
        e["rel"] = e["path"][len(e["repo"]) + 1:]
        if not e["path"].startswith(e["repo"] + "/"):
            raise BenchError(f"MANIFEST path {e['path']} is not under its repo {e['repo']}")
        if not os.path.isfile(e["abs"]):
            raise BenchError(f"{e['abs']}: listed in MANIFEST.tsv but missing")
    # realistic upload order: repos holding a base or independent model first, then the
    # rest in MANIFEST order, except that a repo waits for its parent repo (a duplicate
    # or a reshard is not uploaded before what it copies)
    parents = {r: {e["parent"] for e in files if e["repo"] == r and e["parent"] not in ("-", "", r)
                   and e["parent"] in repo_order} for r in repo_order}
    repos = [r for r in repo_order if any(e["repo"] == r and e["relation"] in NO_BASE for e in files)]
    rest = [r for r in repo_order if r not in repos]
    while rest:
        nxt = next((r for r in rest if parents[r] <= set(repos)), rest[0])
        repos.append(nxt)
        rest.remove(nxt)
    return files, repos


def check_corpus(files):
    """Hashes every corpus file; the MANIFEST must agree (else the corpus is damaged)."""
    for e in files:
        size = os.path.getsize(e["abs"])
        h = sha256_file(e["abs"])
        if e["sha256"] is None:
            e["sha256"] = h
        elif h != e["sha256"] or size != e["bytes"]:
            raise BenchError(f"corpus file {e['path']} differs from MANIFEST.tsv (sha256 or size)")
        e["bytes"] = size


# ---- hubzip helpers ----------------------------------------------------------

class Hubzip:
    def __init__(self, binary, store):
        self.bin, self.store = binary, store

    def __call__(self, *args, **kw):
        return run([self.bin, "--store", self.store] + list(args), **kw)

    def stats(self):
        return json.loads(self("stats", "--json", capture=True).out)

    def db(self):
        return sqlite3.connect(os.path.join(self.store, "hubzip.db"))


def db_totals(hz):
    con = hz.db()
    try:
        r = con.execute(
            "SELECT coalesce(sum(stored_size),0),"
            " coalesce(sum(CASE WHEN kind=1 THEN stored_size END),0),"
            " coalesce(sum(size),0), count(*) FROM objects").fetchone()
        pk = con.execute("SELECT coalesce(sum(size),0) FROM packs").fetchone()[0]
    finally:
        con.close()
    return {"stored": r[0], "tensor_stored": r[1], "object_bytes": r[2], "objects": r[3], "pack_bytes": pk}


def shared_split(hz, files):
    """Each object's stored bytes split evenly between the corpus files whose
    segments reference it (the rule of `stats --json` per repo, per file here)."""
    con = hz.db()
    try:
        fid = {bytes(s).hex(): i for i, s in con.execute("SELECT id, sha256 FROM files")}
        objs_of, stored = {}, {}
        for f_id, o_id, st in con.execute(
                "SELECT DISTINCT s.file_id, s.object_id, o.stored_size FROM segments s"
                " JOIN objects o ON o.id = s.object_id"):
            objs_of.setdefault(f_id, set()).add(o_id)
            stored[o_id] = st
    finally:
        con.close()
    refs = {}
    for e in files:
        for o in objs_of.get(fid.get(e["sha256"]), ()):
            refs[o] = refs.get(o, 0) + 1
    for e in files:
        f = fid.get(e["sha256"])
        if f is None:
            raise BenchError(f"{e['path']}: not found in the store after ingest")
        e["hz_shared"] = sum(stored[o] / refs[o] for o in objs_of.get(f, ()))
    return sum(stored[o] for o in refs)


def verify_tree(outdir, repo, files_of_repo):
    """Every file of the repo restored with the right sha256, and nothing else."""
    want = {e["rel"]: e for e in files_of_repo}
    got = set()
    for dp, _, fns in os.walk(outdir):
        for fn in fns:
            got.add(os.path.relpath(os.path.join(dp, fn), outdir))
    if got != set(want):
        raise BenchError(f"restore {repo}: files differ: missing {sorted(set(want) - got)},"
                         f" extra {sorted(got - set(want))}")
    for rel, e in want.items():
        if sha256_file(os.path.join(outdir, rel)) != e["sha256"]:
            raise BenchError(f"restore {repo}: {rel} restored with a different sha256")
    return len(want)


# ---- 1. marginal cost, file by file --------------------------------------------

def bench_marginal(args, files, repos, work):
    store = os.path.join(work, "marginal-store")
    hz = Hubzip(args.hubzip, store)
    hz("init")
    phase = Phase("hubzip ingest, 1 proc/file")
    # issue 3's ingest target: the same runs, fine-tune files only (base lookup included)
    phase_ft = Phase("hubzip ingest, 1 proc/file, fine-tunes")
    stage_root = os.path.join(work, "stage")
    prev = db_totals(hz)
    for repo in repos:
        for e in (x for x in files if x["repo"] == repo):
            shutil.rmtree(stage_root, ignore_errors=True)
            link = os.path.join(stage_root, e["rel"])
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(e["abs"], link)   # ingest of a dir keeps the file's path in the repo
            r = hz("ingest", repo, stage_root, "-m", f"bench: {e['rel']}")
            phase.add(r, e["bytes"])
            if e["relation"] in FT_RELATIONS:
                phase_ft.add(r, e["bytes"])
            cur = db_totals(hz)
            e["hz_marginal"] = cur["stored"] - prev["stored"]
            e["hz_marginal_tensor"] = cur["tensor_stored"] - prev["tensor_stored"]
            e["hz_new_objects"] = cur["objects"] - prev["objects"]
            e["hz_ingest"] = r.as_json()
            prev = cur
    phase.done()
    phase_ft.other_pct = phase.other_pct
    shutil.rmtree(stage_root, ignore_errors=True)
    st = hz.stats()
    total_shared = shared_split(hz, files)
    return {"store": store, "stats": st, "db": prev, "shared_total": total_shared, "phase": phase,
            "phase_ft": phase_ft}


# ---- 3. speed: whole repos -------------------------------------------------------

def bench_speed(args, files, repos, work):
    store = os.path.join(work, "store")
    hz = Hubzip(args.hubzip, store)
    hz("init")
    by_repo = {r: [e for e in files if e["repo"] == r] for r in repos}
    res = {}
    ing = Phase("hubzip ingest, 1 proc/repo")
    per_repo = {}
    for repo in repos:
        r = hz("ingest", repo, os.path.join(args.corpus, repo))
        nb = sum(e["bytes"] for e in by_repo[repo])
        ing.add(r, nb)
        per_repo[repo] = {"bytes": nb, "files": len(by_repo[repo]), "ingest": r.as_json()}
    ing.done()
    res["ingest"] = ing
    log(f"ingested {len(repos)} repos in {ing.wall:.1f}s; fsck")
    fsck = hz("fsck", capture=True, check=False)
    if fsck.rc != 0:
        raise BenchError(f"fsck found problems:\n{fsck.out.decode(errors='replace')}{fsck.err}")
    res["fsck"] = fsck.out.decode(errors="replace").strip()
    res["stats"] = hz.stats()

    for label, sub in (("restore-warm", "hubzip restore (1st pass)"), ("restore", "hubzip restore, warm")):
        ph = Phase(sub)
        outroot = os.path.join(work, label)
        shutil.rmtree(outroot, ignore_errors=True)
        os.makedirs(outroot)
        for repo in repos:
            os.makedirs(os.path.dirname(os.path.join(outroot, repo)), exist_ok=True)
            r = hz("restore", repo, os.path.join(outroot, repo))
            ph.add(r, per_repo[repo]["bytes"])
            per_repo[repo][label] = r.as_json()
        ph.done()
        for repo in repos:
            verify_tree(os.path.join(outroot, repo), repo, by_repo[repo])
        shutil.rmtree(outroot)
        res[label] = ph
        log(f"{sub}: {len(repos)} repos in {ph.wall:.1f}s, every file verified")

    ph = Phase("hubzip cat > /dev/null, warm")
    for e in files:
        r = hz("cat", e["repo"], e["rel"])
        ph.add(r, e["bytes"])
        e["hz_cat"] = r.as_json()
    ph.done()
    res["cat"] = ph
    # the restore target of issue 3: every fine-tune file read once more, on its own
    ph = Phase("hubzip cat > /dev/null, fine-tunes")
    for e in files:
        if e["relation"] in FT_RELATIONS:
            r = hz("cat", e["repo"], e["rel"])
            ph.add(r, e["bytes"])
            e["hz_cat_ft"] = r.as_json()
    ph.done()
    res["cat_ft"] = ph
    res["per_repo"] = per_repo
    res["store"] = store
    return res


# ---- zstd ----------------------------------------------------------------------

def bench_zstd(args, files, work, quick):
    res = {}
    d3 = os.path.join(work, "zstd3")
    os.makedirs(d3, exist_ok=True)

    def z3(i):
        e = files[i]
        out = os.path.join(d3, f"{i}.zst")
        r = run(["zstd", "-3", "-T1", "-q", "-f", "-c", e["abs"]], stdout=out)
        e["zstd3"] = os.path.getsize(out)
        e["zstd3_cpu"] = r.cpu
        return r

    ph = Phase(f"zstd -3 -T1, {args.jobs} at once", args.jobs)
    for i, r in enumerate(run_pool(args.jobs, len(files), z3)):
        ph.add(r, files[i]["bytes"])
    ph.done()
    res["zstd3_par"] = ph
    log(f"zstd -3 of {len(files)} files in {ph.wall:.1f}s")

    if not quick:
        d19 = os.path.join(work, "zstd19")
        os.makedirs(d19, exist_ok=True)

        def z19(i):
            e = files[i]
            out = os.path.join(d19, f"{i}.zst")
            r = run(["zstd", "-19", "--long=27", "-T1", "-q", "-f", "-c", e["abs"]], stdout=out)
            e["zstd19"] = os.path.getsize(out)
            e["zstd19_cpu"] = r.cpu
            os.unlink(out)
            return r

        # biggest first, so that the two cores finish together
        order = sorted(range(len(files)), key=lambda i: -files[i]["bytes"])
        ph = Phase(f"zstd -19 --long=27 -T1, {args.jobs} at once", args.jobs)
        for k, r in enumerate(run_pool(args.jobs, len(order), lambda k: z19(order[k]))):
            ph.add(r, files[order[k]]["bytes"])
        ph.done()
        res["zstd19_par"] = ph
        log(f"zstd -19 --long=27 of {len(files)} files in {ph.wall:.1f}s")

    # speed, one process at a time like hubzip: compress, decompress to disk and to /dev/null
    seq = os.path.join(work, "zstd3-seq")
    os.makedirs(seq, exist_ok=True)
    ph = Phase("zstd -3 -T1 compress")
    for i, e in enumerate(files):
        ph.add(run(["zstd", "-3", "-T1", "-q", "-f", e["abs"], "-o", os.path.join(seq, f"{i}.zst")]),
               e["bytes"])
    ph.done()
    res["zstd3_c"] = ph
    outd = os.path.join(work, "zstd3-out")
    os.makedirs(outd, exist_ok=True)
    ph = Phase("zstd -3 -d to disk, warm")
    for i, e in enumerate(files):
        ph.add(run(["zstd", "-d", "-T1", "-q", "-f", os.path.join(seq, f"{i}.zst"), "-o",
                    os.path.join(outd, str(i))]), e["bytes"])
    ph.done()
    for i, e in enumerate(files):
        if sha256_file(os.path.join(outd, str(i))) != e["sha256"]:
            raise BenchError(f"zstd round trip of {e['path']} differs (zstd broken?)")
    res["zstd3_d"] = ph
    # the floor of any restore to disk on this machine: the kernel's cost of
    # reading the (cached) bytes and writing them into new files, nothing else
    cpd = os.path.join(work, "cp-out")
    os.makedirs(cpd, exist_ok=True)
    ph = Phase("cp to disk (kernel floor), warm")
    for i, e in enumerate(files):
        ph.add(run(["cp", e["abs"], os.path.join(cpd, str(i))]), e["bytes"])
    ph.done()
    res["cp"] = ph
    shutil.rmtree(cpd, ignore_errors=True)
    ph = Phase("zstd -3 -d > /dev/null, warm")
    for i, e in enumerate(files):
        ph.add(run(["zstd", "-d", "-T1", "-q", "-c", os.path.join(seq, f"{i}.zst")]), e["bytes"])
    ph.done()
    res["zstd3_dnull"] = ph
    for d in (seq, outd, d3):
        shutil.rmtree(d, ignore_errors=True)
    return res


# ---- 2. order-0 bound ------------------------------------------------------------

def st_header(mm, path):
    if len(mm) < 8:
        raise BenchError(f"{path}: not a safetensors file")
    n = int.from_bytes(mm[:8], "little")
    hdr = json.loads(bytes(mm[8:8 + n]))
    base = 8 + n
    out = []
    for name, t in hdr.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out.append((name, t["dtype"], t["shape"], base + a, base + b))
    out.sort(key=lambda x: x[3])
    return out


UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def plane_bound(buf, k, rotl1=False):
    """n * H0(plane) / 8 summed over the k byte planes of buf (little-endian elements);
    with rotl1, of the elements rotated left by one bit first (sign bit to the bottom,
    so that the exponent fills a byte of its own)."""
    if rotl1:
        v = np.frombuffer(buf, dtype=UINT[k]).astype(np.dtype(UINT[k]).newbyteorder("<"), copy=False)
        bits = np.array(8 * k - 1, dtype=UINT[k])
        v = (v << np.array(1, dtype=UINT[k])) | (v >> bits)
        a = v.view(np.uint8).reshape(-1, k)
    else:
        a = np.frombuffer(buf, dtype=np.uint8).reshape(-1, k)
    return sum(h0_bytes(np.bincount(a[:, j], minlength=256)) for j in range(k))


def bench_bound(args, files, store_hz, quick):
    con = store_hz.db()
    seen = set()
    per_dtype = {}
    per_file = []
    feeds = []
    try:
        for e in files:
            if e["relation"] not in NO_BASE or not e["path"].endswith(".safetensors"):
                continue
            with open(e["abs"], "rb") as f:
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            try:
                pieces = []
                fr = {"path": e["path"], "tensors": 0, "raw": 0, "bound": 0.0, "hubzip": 0}
                for name, dt, shape, a, b in st_header(mm, e["path"]):
                    if dt not in FLOAT_DTYPES or b <= a:
                        continue
                    buf = mm[a:b]
                    sha = hashlib.sha256(buf).digest()
                    if sha in seen:
                        continue
                    seen.add(sha)
                    row = con.execute("SELECT stored_size, size, kind FROM objects WHERE sha256 = ?",
                                      (sha,)).fetchone()
                    if row is None or row[1] != len(buf):
                        raise BenchError(f"{e['path']}: tensor {name} not found in the store")
                    bound = plane_bound(buf, FLOAT_DTYPES[dt])
                    brot = plane_bound(buf, FLOAT_DTYPES[dt], rotl1=True)
                    d = per_dtype.setdefault(dt, {"tensors": 0, "raw": 0, "bound": 0.0, "bound_rotl1": 0.0,
                                                  "hubzip": 0})
                    d["tensors"] += 1
                    d["raw"] += len(buf)
                    d["bound"] += bound
                    d["bound_rotl1"] += brot
                    d["hubzip"] += row[0]
                    fr["tensors"] += 1
                    fr["raw"] += len(buf)
                    fr["bound"] += bound
                    fr["hubzip"] += row[0]
                    pieces.append((a, b))
                if fr["tensors"]:
                    per_file.append(fr)
                    feeds.append((e["abs"], pieces, fr))
            finally:
                mm.close()
    finally:
        con.close()

    if not quick:
        def z19(i):
            path, pieces, fr = feeds[i]

            def gen():
                with open(path, "rb") as f:
                    for a, b in pieces:
                        f.seek(a)
                        left = b - a
                        while left:
                            chunk = f.read(min(CHUNK, left))
                            left -= len(chunk)
                            yield chunk
            out = os.path.join(args.work, f"bound-{i}.zst")   # a file: a pipe read after the feed could fill up
            r = run(["zstd", "-19", "--long=27", "-T1", "-q", "-c"], feed=gen(), stdout=out)
            fr["zstd19"] = os.path.getsize(out)
            os.unlink(out)
            return r
        order = sorted(range(len(feeds)), key=lambda i: -feeds[i][2]["raw"])
        runs = run_pool(args.jobs, len(order), lambda k: z19(order[k]))
        zcpu = sum(r.cpu for r in runs)
    else:
        zcpu = None
    tot = {"tensors": sum(d["tensors"] for d in per_dtype.values()),
           "raw": sum(d["raw"] for d in per_dtype.values()),
           "bound": sum(d["bound"] for d in per_dtype.values()),
           "bound_rotl1": sum(d["bound_rotl1"] for d in per_dtype.values()),
           "hubzip": sum(d["hubzip"] for d in per_dtype.values()),
           "zstd19": None if quick else sum(fr.get("zstd19", 0) for fr in per_file),
           "zstd19_cpu_s": zcpu}
    return {"per_dtype": per_dtype, "total": tot, "per_file": per_file}


# ---- 4. synthetic model ------------------------------------------------------------

def synth_layout(gib):
    cols = 8192
    rows_per = 16384                     # 256 MiB of BF16 per tensor
    rows_total = int(gib * (1 << 30)) // (2 * cols)
    if rows_total < 1:
        raise BenchError("--synthetic-gib is too small")
    kinds = ["mlp.down_proj", "mlp.gate_proj", "mlp.up_proj", "self_attn.o_proj"]
    shapes, i = [], 0
    while rows_total > 0:
        r = min(rows_per, rows_total)
        shapes.append((f"model.layers.{i // 4:03d}.{kinds[i % 4]}.weight", r, cols))
        rows_total -= r
        i += 1
    hdr = {"__metadata__": {"format": "pt"}}
    off = 0
    for name, r, c in shapes:
        n = r * c * 2
        hdr[name] = {"dtype": "BF16", "shape": [r, c], "data_offsets": [off, off + n]}
        off += n
    hj = json.dumps(hdr, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    return shapes, len(hj).to_bytes(8, "little") + hj, off


def h0_bytes(counts):
    """n * H0 / 8 for one histogram."""
    c = counts[counts > 0].astype(np.float64)
    n = c.sum()
    return float(-(c * np.log2(c / n)).sum()) / 8.0 if n else 0.0


def synth_header_len(gib):
    return len(synth_layout(gib)[1])


def synth_file(gib):
    """Writes (or reuses) the synthetic model.  Returns (path, size, sha256, generated,
    order-0 bound of its byte planes, per tensor, in bytes)."""
    shapes, head, data = synth_layout(gib)
    d = "/var/tmp/hubzip-bench"
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"synthetic-{gib:g}gib-bf16.safetensors")
    size = len(head) + data
    h = hashlib.sha256()
    bound = 0.0

    def planes(buf, counts):
        a = np.frombuffer(buf, dtype=np.uint8).reshape(-1, 2)
        counts[0] += np.bincount(a[:, 0], minlength=256)
        counts[1] += np.bincount(a[:, 1], minlength=256)

    if os.path.isfile(path) and os.path.getsize(path) == size:
        with open(path, "rb") as f:
            if f.read(len(head)) == head:
                log(f"reusing {path}; hashing it")
                h.update(head)
                for _, r, c in shapes:
                    counts = np.zeros((2, 256), dtype=np.int64)
                    left = r * c * 2
                    while left:
                        b = f.read(min(CHUNK, left))
                        if not b:
                            raise BenchError(f"{path}: short read")
                        left -= len(b)
                        h.update(b)
                        planes(b, counts)
                    bound += h0_bytes(counts[0]) + h0_bytes(counts[1])
                return path, size, h.hexdigest(), False, bound
    log(f"writing {path} ({size / MB:.0f} MB of BF16 N(0, 0.02))")
    rng = np.random.default_rng(20251127)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(head)
        h.update(head)
        for _, r, c in shapes:
            counts = np.zeros((2, 256), dtype=np.int64)
            left = r * c
            while left:
                n = min(left, 4 << 20)
                x = rng.standard_normal(n, dtype=np.float32)
                x *= np.float32(0.02)
                u = x.view(np.uint32)
                # float32 -> bf16, round to nearest even (no NaN can occur here)
                bf = ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16))
                b = bf.astype("<u2").tobytes()
                f.write(b)
                h.update(b)
                planes(b, counts)
                left -= n
            bound += h0_bytes(counts[0]) + h0_bytes(counts[1])
    os.replace(tmp, path)
    return path, size, h.hexdigest(), True, bound


def synth_ft_file(base_path, gib):
    """A fine-tune of the synthetic model: every weight moved by N(0, 0.0002) (1% of the
    weights' spread, in float32) and rounded back to BF16 as torch rounds.  Written once
    next to the base and reused.  Returns (path, size, sha256)."""
    shapes, head, data = synth_layout(gib)
    path = base_path.replace(".safetensors", "-ft.safetensors")
    size = len(head) + data
    h = hashlib.sha256()
    if os.path.isfile(path) and os.path.getsize(path) == size:
        log(f"reusing {path}; hashing it")
        with open(path, "rb") as f:
            while True:
                b = f.read(CHUNK)
                if not b:
                    break
                h.update(b)
        return path, size, h.hexdigest()
    log(f"writing {path} (a fine-tune of {os.path.basename(base_path)})")
    rng = np.random.default_rng(20261127)
    tmp = path + ".tmp"
    with open(base_path, "rb") as src, open(tmp, "wb") as f:
        if src.read(len(head)) != head:
            raise BenchError(f"{base_path}: not the synthetic layout")
        f.write(head)
        h.update(head)
        left = data // 2
        while left:
            n = min(left, 4 << 20)
            b = np.frombuffer(src.read(2 * n), dtype="<u2")
            x = (b.astype(np.uint32) << np.uint32(16)).view(np.float32)
            x = x + rng.standard_normal(n, dtype=np.float32) * np.float32(0.0002)
            u = x.view(np.uint32)
            bf = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
            out = bf.astype("<u2").tobytes()
            f.write(out)
            h.update(out)
            left -= n
    os.replace(tmp, path)
    return path, size, h.hexdigest()


def cat_sha(args, store, repo, name):
    h = hashlib.sha256()
    p = subprocess.Popen([args.hubzip, "--store", store, "cat", repo, name],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while True:
        b = p.stdout.read(CHUNK)
        if not b:
            break
        h.update(b)
    err = p.stderr.read()
    if p.wait() != 0:
        raise BenchError(f"cat of {repo}/{name} failed: {err.decode(errors='replace')}")
    return h.hexdigest()


def bench_synthetic(args, work):
    path, size, sha, made, bound = synth_file(args.synthetic_gib)
    store = os.path.join(work, "synthetic-store")
    shutil.rmtree(store, ignore_errors=True)
    hz = Hubzip(args.hubzip, store)
    hz("init")
    repo = "bench/synthetic"
    name = os.path.basename(path)
    log(f"ingesting {name}")
    ph_ing = Phase("synthetic ingest")
    ing = hz("ingest", repo, path)
    ph_ing.done()
    st = hz.stats()
    log("reading it back (cat > /dev/null)")
    ph_cat = Phase("synthetic cat")
    cat = hz("cat", repo, name)
    ph_cat.done()
    log("verifying it (cat | sha256)")
    if cat_sha(args, store, repo, name) != sha:
        raise BenchError("the synthetic model was read back with a different sha256")
    # a fine-tune of it, ingested into the same store: found, XOR-coded, read back
    ft_path, ft_size, ft_sha = synth_ft_file(path, args.synthetic_gib)
    ft_repo, ft_name = "bench/synthetic-ft", os.path.basename(ft_path)
    log(f"ingesting {ft_name} (its base is in the store)")
    ph_fti = Phase("synthetic fine-tune ingest")
    ft_ing = hz("ingest", ft_repo, ft_path)
    ph_fti.done()
    st2 = hz.stats()
    ph_ftc = Phase("synthetic fine-tune cat")
    ft_cat = hz("cat", ft_repo, ft_name)
    ph_ftc.done()
    log("verifying the fine-tune (cat | sha256)")
    if cat_sha(args, store, ft_repo, ft_name) != ft_sha:
        raise BenchError("the synthetic fine-tune was read back with a different sha256")
    fams = json.loads(hz("families", "--json", capture=True).out)
    shutil.rmtree(store)

    def row(r, ph):
        return {"other_cpu_pct": None if ph.other_pct is None else round(ph.other_pct, 1),"bytes": size, "cpu_s": round(r.cpu, 3), "user_s": round(r.user, 3), "sys_s": round(r.sys, 3),
                "mbps_per_core": size / MB / r.cpu if r.cpu else None, "wall_s": round(r.wall, 3),
                "wall_mbps": size / MB / r.wall if r.wall else None, "max_rss_mib": round(r.rss_kib / 1024, 1)}
    ft = {"path": ft_path, "bytes": ft_size,
          "stored": st2["physical_bytes"] - st["physical_bytes"],
          "families": fams, "ingest": row(ft_ing, ph_fti), "cat": row(ft_cat, ph_ftc)}
    return {"path": path, "bytes": size, "generated": made, "stored": st["physical_bytes"],
            "order0_bound": bound, "tensor_bytes": size - synth_header_len(args.synthetic_gib),
            "ingest": row(ing, ph_ing), "cat": row(cat, ph_cat), "ft": ft}


# ---- 6. fine-tunes, casts and re-conversions against their base -----------------------

def oracle_base(e, by_path):
    """The file of the MANIFEST parent repo that e was made from: the same path in the
    parent repo, else (e a shard, the parent unsharded) the parent's model.safetensors.
    Returns (base entry or None, note or None)."""
    par = e["parent"]
    if par in ("-", ""):
        return None, "no parent"
    b = by_path.get(f"{par}/{e['rel']}")
    if b is not None:
        return b, None
    b = by_path.get(f"{par}/model.safetensors")
    if b is not None:
        return b, f"{par} has no {e['rel']}: its model.safetensors is the base"
    return None, f"{par} has no {e['rel']} and no single model.safetensors: skipped"


def zstd_to_file(chunks, out):
    """zstd -3 -T1 of the concatenated chunks; returns (compressed bytes, Run)."""
    r = run(["zstd", "-3", "-T1", "-q", "-c"], feed=chunks, stdout=out)
    n = os.path.getsize(out)
    os.unlink(out)
    return n, r


def bitx(e, base, tmp):
    """The BitX reference: the tensors that the base has with the same name, dtype and
    size XORed with the base's, byte j of every element of every such tensor of element
    size k in stream (k, j) (2 planes for 16-bit, 4 for F32/I32, 8 for 64-bit, 1 for 8-bit);
    the other tensors' bytes in one stream, the header in one; each stream zstd -3 on its
    own.  Returns {bytes, xored (tensor bytes XORed), streams, cpu_s}."""
    with open(e["abs"], "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    bmm = None
    try:
        btens = {}
        if base is not None:
            with open(base["abs"], "rb") as f:
                bmm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            btens = {name: (dt, a, b) for name, dt, _, a, b in st_header(bmm, base["path"])}
        tens = st_header(mm, e["path"])
        hdr_end = 8 + int.from_bytes(mm[:8], "little")
        streams = {"header": [mm[:hdr_end]], "unmatched": []}
        covered = hdr_end
        xored = 0
        for name, dt, _, a, b in tens:
            covered += b - a
            if b <= a:
                continue
            k = DTYPE_SIZE.get(dt)
            bt = btens.get(name)
            if k and bt and bt[0] == dt and bt[2] - bt[1] == b - a:
                x = np.frombuffer(mm, np.uint8, b - a, a) ^ np.frombuffer(bmm, np.uint8, b - a, bt[1])
                v = x.reshape(-1, k)
                for j in range(k):
                    streams.setdefault(f"xor{8 * k}-byte{j}", []).append(v[:, j].tobytes())
                xored += b - a
            else:
                streams["unmatched"].append(mm[a:b])
        if covered != len(mm):   # bytes outside the header and the tensors (none in a valid file)
            seen = np.zeros(len(mm), dtype=bool)
            seen[:hdr_end] = True
            for _, _, _, a, b in tens:
                seen[a:b] = True
            for i in np.flatnonzero(~seen):
                streams["unmatched"].append(mm[int(i):int(i) + 1])
        sizes, cpu = {}, 0.0
        for key, chunks in streams.items():
            if not sum(len(c) for c in chunks):
                continue
            n, r = zstd_to_file(chunks, os.path.join(tmp, f"bitx-{os.getpid()}-{id(chunks)}.zst"))
            sizes[key] = n
            cpu += r.cpu
    finally:
        mm.close()
        if bmm is not None:
            bmm.close()
    return {"bytes": sum(sizes.values()), "xored": xored, "streams": sizes, "cpu_s": round(cpu, 3)}


def peer_zstd_patch(e, base, out):
    """zstd -19 --long=31 --patch-from=BASE; the patch is decoded and checked."""
    cmd = ["zstd", "-19", "--long=31", f"--patch-from={base['abs']}", "-T1", "-q", "-f", "-c", e["abs"]]
    r = run(cmd, stdout=out, check=False)
    if r.rc != 0:   # e.g. a window too small for BASE + FILE: give zstd one that covers both
        wlog = max(27, min(31, (base["bytes"] + e["bytes"] - 1).bit_length()))
        cmd.insert(3, f"--zstd=wlog={wlog}")
        r = run(cmd, stdout=out)
    n = os.path.getsize(out)
    d = run(["zstd", "-d", "--long=31", f"--patch-from={base['abs']}", "-q", "-c", out], capture=True)
    os.unlink(out)
    if hashlib.sha256(d.out).hexdigest() != e["sha256"]:
        raise BenchError(f"zstd --patch-from round trip of {e['path']} differs")
    return n, r, cmd


def peer_xdelta3(e, base, out):
    """xdelta3 -e -9 -s BASE FILE; the delta is decoded and checked."""
    cmd = ["xdelta3", "-e", "-9", "-f"]
    if base["bytes"] > (64 << 20):   # xdelta3's default source window is 64 MiB
        cmd += ["-B", str(min(1 << 31, 1 << (base["bytes"] - 1).bit_length()))]
    cmd += ["-s", base["abs"], e["abs"], out]
    r = run(cmd)
    n = os.path.getsize(out)
    d = run(["xdelta3", "-d", "-c", "-s", base["abs"], out], capture=True)
    os.unlink(out)
    if hashlib.sha256(d.out).hexdigest() != e["sha256"]:
        raise BenchError(f"xdelta3 round trip of {e['path']} differs")
    return n, r, cmd


def bench_peers(args, files, work, quick):
    """For every safetensors file of PEER_RELATIONS with a MANIFEST parent: zstd
    --patch-from and xdelta3 (not with --quick) and BitX against the parent's file."""
    by_path = {e["path"]: e for e in files}
    tmp = os.path.join(work, "peers")
    os.makedirs(tmp, exist_ok=True)
    todo, notes = [], []
    for e in files:
        if e["relation"] not in PEER_RELATIONS or not e["path"].endswith(".safetensors"):
            continue
        if e["parent"] in ("-", ""):
            e["peer"] = {"base": None, "note": "no parent: a sibling of an unpublished base"}
            continue
        base, note = oracle_base(e, by_path)
        e["peer"] = {"base": base["path"] if base else None, "note": note,
                     "base_dtype": base["dtype"] if base else None}
        if note:
            notes.append(f"{e['path']}: {note}")
        if base is not None:
            todo.append((e, base))
    have_xd = shutil.which("xdelta3") is not None
    if not quick and not have_xd:
        raise BenchError("xdelta3 not found (deploy/install-deps.sh --bench)")

    def one(i):
        e, base = todo[i]
        p = e["peer"]
        b = bitx(e, base, tmp)
        p["bitx"], p["bitx_xored"], p["bitx_streams"], p["bitx_cpu_s"] = \
            b["bytes"], b["xored"], b["streams"], b["cpu_s"]
        if not quick:
            n, r, cmd = peer_zstd_patch(e, base, os.path.join(tmp, f"{i}.zst"))
            p["zstd_patch"], p["zstd_patch_cpu_s"], p["zstd_patch_cmd"] = n, round(r.cpu, 3), cmd
            n, r, cmd = peer_xdelta3(e, base, os.path.join(tmp, f"{i}.xd3"))
            p["xdelta3"], p["xdelta3_cpu_s"], p["xdelta3_cmd"] = n, round(r.cpu, 3), cmd
        return e["path"]

    order = sorted(range(len(todo)), key=lambda i: -todo[i][0]["bytes"])   # biggest first
    t0 = time.perf_counter()
    run_pool(args.jobs, len(order), lambda k: one(order[k]))
    shutil.rmtree(tmp, ignore_errors=True)
    return {"files": len(todo), "notes": notes, "wall_s": round(time.perf_counter() - t0, 1),
            "peers": ["BitX"] if quick else ["zstd-patch", "xdelta3", "BitX"]}


# ---- 7. clustering -----------------------------------------------------------------------

def safetensors_repos(files):
    """{repo: its true family} for the repos that hold safetensors files, and the set of
    those whose safetensors files include a fine-tune (finetune / lora-merged)."""
    truth, ft = {}, set()
    for e in files:
        if not e["listed"] or not e["path"].endswith(".safetensors"):
            continue
        truth.setdefault(e["repo"], e["family"])
        if e["relation"] in FT_RELATIONS:
            ft.add(e["repo"])
    return truth, ft


def bench_shuffled(args, files, repos, work):
    """A fresh store filled with only the safetensors files of each repo (no config.json:
    no base_model hints), one commit per repo, the repos in a shuffled order (fixed seed):
    fine-tunes may come before their base.  fsck, and every file read back and hashed."""
    store = os.path.join(work, "shuffled-store")
    hz = Hubzip(args.hubzip, store)
    hz("init")
    order = [r for r in repos if any(e["repo"] == r and e["path"].endswith(".safetensors") for e in files)]
    random.Random(SHUFFLE_SEED).shuffle(order)
    stage_root = os.path.join(work, "stage-shuffled")
    ph = Phase("hubzip ingest, shuffled, safetensors only")
    sel = []
    for repo in order:
        shutil.rmtree(stage_root, ignore_errors=True)
        fs = [e for e in files if e["repo"] == repo and e["path"].endswith(".safetensors")]
        for e in fs:
            link = os.path.join(stage_root, e["rel"])
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(e["abs"], link)
        r = hz("ingest", repo, stage_root)
        ph.add(r, sum(e["bytes"] for e in fs))
        sel += fs
    ph.done()
    shutil.rmtree(stage_root, ignore_errors=True)
    fsck = hz("fsck", capture=True, check=False)
    if fsck.rc != 0:
        raise BenchError(f"fsck of the shuffled store found problems:\n"
                         f"{fsck.out.decode(errors='replace')}{fsck.err}")
    for e in sel:
        if hashlib.sha256(hz("cat", e["repo"], e["rel"], capture=True).out).hexdigest() != e["sha256"]:
            raise BenchError(f"shuffled store: {e['path']} read back with a different sha256")
    log(f"shuffled store: {len(order)} repos, {len(sel)} safetensors files, fsck clean, every file verified")
    return {"store": store, "order": order, "seed": SHUFFLE_SEED, "phase": ph, "stats": hz.stats(),
            "raw": sum(e["bytes"] for e in sel), "files": len(sel)}


def read_families(hz):
    """repo -> {family, base, score, hint} from `families --json`, or (None, error)."""
    r = hz("families", "--json", capture=True, check=False)
    if r.rc != 0:
        return None, (r.err.strip() or f"exit {r.rc}").splitlines()[0]
    try:
        fams = json.loads(r.out)
    except ValueError as ex:
        raise BenchError(f"families --json: not JSON: {ex}")
    found = {}
    for f in fams:
        for m in f.get("members", []):
            found[m["repo"]] = {"family": f["family"], "root": f.get("root"), "base": m.get("base"),
                                "score": m.get("score"), "hint": m.get("hint")}
    return found, None


def cluster_metrics(files, found):
    """Pairwise precision / recall of the found families against MANIFEST family_id over
    the repos holding safetensors files, the wrong pairs, and per fine-tune repo whether
    it is attached to its true family: in the found family of the family's published
    root (its `base` repo), or, for siblings of an unpublished base, in the found family
    of at least one other repo of its true family."""
    truth, ft = safetensors_repos(files)
    parent = {}
    roots = {}
    for e in files:
        if e["listed"] and e["path"].endswith(".safetensors"):
            if e["parent"] not in ("-", "") and e["repo"] not in parent:
                parent[e["repo"]] = e["parent"]
            if e["relation"] == "base":
                roots.setdefault(e["family"], e["repo"])
    rs = sorted(truth)
    fam = {r: found[r]["family"] if r in found else f"(none: {r})" for r in rs}
    tp = joined = split = 0
    wrong_joined, wrong_split = [], []
    for i, a in enumerate(rs):
        for b in rs[i + 1:]:
            st, sf = truth[a] == truth[b], fam[a] == fam[b]
            if st and sf:
                tp += 1
            elif sf:
                joined += 1
                wrong_joined.append([a, b])
            elif st:
                split += 1
                wrong_split.append([a, b])
    ftrows = []
    for r in sorted(ft):
        root = roots.get(truth[r])
        if root is not None and root != r:
            ok = fam[r] == fam[root]
            ref = root
        else:
            ok = any(fam[r] == fam[o] for o in rs if o != r and truth[o] == truth[r])
            ref = "(a sibling)"
        fb = found.get(r, {}).get("base")
        par = parent.get(r)
        if fb is None:
            kind = "none"           # founded a family (or not assigned)
        elif fb == par:
            kind = "parent"
        elif truth.get(fb) == truth[r]:
            # another checkpoint of the same run (closer than the parent), or a sibling
            kind = "same family" if par else "sibling"
        else:
            kind = "other family"
        ftrows.append({"repo": r, "family": truth[r], "attached": ok, "reference": ref,
                       "found_family": fam[r], "parent": par, "found_base": fb, "base_kind": kind,
                       "score": found.get(r, {}).get("score"), "hint": found.get(r, {}).get("hint")})
    n_pairs = len(rs) * (len(rs) - 1) // 2
    return {"repos": len(rs), "true_families": len(set(truth.values())),
            "found_families": len(set(fam.values())), "unassigned": sum(1 for r in rs if r not in found),
            "pairs": n_pairs, "true_pairs": tp + split, "tp": tp,
            "precision": 100.0 * tp / (tp + joined) if tp + joined else None,
            "recall": 100.0 * tp / (tp + split) if tp + split else None,
            "wrongly_joined": wrong_joined, "wrongly_split": wrong_split,
            "finetunes": ftrows, "ft_attached": sum(1 for x in ftrows if x["attached"]),
            "ft_attached_pct": 100.0 * sum(1 for x in ftrows if x["attached"]) / len(ftrows) if ftrows else None}


def bench_clustering(args, files, stores):
    """stores: [(label, order, hints, store dir)] -> per store the metrics (or an error)."""
    out = []
    for label, order, hints, store in stores:
        found, err = read_families(Hubzip(args.hubzip, store))
        row = {"store": label, "order": order, "hints": hints, "error": err}
        if found is not None:
            row.update(cluster_metrics(files, found))
            row["families_json"] = found
        out.append(row)
    return out


# ---- 5. hashes ---------------------------------------------------------------------

def bench_hash(exe):
    r = run([exe, "1024", "3"], capture=True)
    return json.loads(r.out)


# ---- report ------------------------------------------------------------------------

def fmt_mb(b, nd=3):
    return "-" if b is None else f"{b / MB:.{nd}f}"


def fmt_pct(x):
    if x is None:
        return "-"
    a = abs(x)
    if a >= 10:
        return f"{x:.1f}%"
    if a >= 1:
        return f"{x:.2f}%"
    if a >= 0.01:
        return f"{x:.3f}%"
    return f"{x:.4f}%"


def ratio_pct(part, whole):
    return None if part is None or not whole else 100.0 * part / whole


def fmt_num(x, nd=1):
    return "-" if x is None else f"{x:,.{nd}f}"


class Table:
    def __init__(self, title, headers, align=None):
        self.title, self.headers = title, headers
        self.align = align or ["l"] + ["r"] * (len(headers) - 1)
        self.rows = []
        self.note = None

    def add(self, *cells):
        self.rows.append([str(c) for c in cells])

    def text(self):
        w = [max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h)
             for i, h in enumerate(self.headers)]

        def line(cells):
            return "  ".join(c.ljust(w[i]) if self.align[i] == "l" else c.rjust(w[i])
                             for i, c in enumerate(cells)).rstrip()
        out = [self.title, line(self.headers), "  ".join("-" * x for x in w)]
        out += [line(r) for r in self.rows]
        if self.note:
            out.append(self.note)
        return "\n".join(out)

    def md(self):
        sep = ["---" if a == "l" else "---:" for a in self.align]
        out = [f"### {self.title}", "", "| " + " | ".join(self.headers) + " |",
               "| " + " | ".join(sep) + " |"]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in self.rows]
        note = getattr(self, "md_note", None) or self.note
        if note and "\n" in note:
            out += ["", "```", note, "```"]
        elif note:
            out += ["", note]
        return "\n".join(out)


def machine_info():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem / (1 << 30), 1),
            "kernel": platform.release(), "python": platform.python_version()}


def cpu_busy_s():
    """CPU seconds spent by the whole machine so far (every core, not idle), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return (sum(v[:3]) + sum(v[5:8])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None


def own_cpu_s():
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def git_head():
    """HEAD, plus a note when the sources that make build/hubzip differ from it."""
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        st = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "common", "delta", "store",
                             "api", "daemon", "migrations", "Makefile"], capture_output=True, text=True,
                            check=True).stdout.split("\n")
        dirty = sorted({line[3:].split("/")[0] for line in st if line.strip()})
        return head + (f" + uncommitted changes in {', '.join(d + '/' for d in dirty)}" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


PEER_COLS = (("zstd_patch", "zstd-patch"), ("xdelta3", "xdelta3"), ("bitx", "BitX"))


def peer_sums(fs, quick):
    """Totals of hubzip and of each peer over the files fs, and the best peer (the one
    with the smallest total on these files)."""
    d = {"files": len(fs), "raw": sum(e["bytes"] for e in fs),
         "hubzip": sum(e["hz_marginal"] for e in fs),
         "hubzip_cpu_s": round(sum(e["hz_ingest"]["user_s"] + e["hz_ingest"]["sys_s"] for e in fs), 3)}
    for k, _ in PEER_COLS:
        if quick and k != "bitx":
            d[k] = d[k + "_cpu_s"] = None
            continue
        d[k] = sum(e["peer"][k] for e in fs)
        d[k + "_cpu_s"] = round(sum(e["peer"][k + "_cpu_s"] for e in fs), 3)
    d["best_file"] = sum(min(e["peer"][k] for k, _ in PEER_COLS if e["peer"].get(k) is not None) for e in fs)
    cands = [(d[k], name) for k, name in PEER_COLS if d[k] is not None]
    d["best"], d["best_peer"] = min(cands) if fs else (None, None)
    d["hubzip_vs_best"] = d["hubzip"] / d["best"] if d["best"] else None
    return d


def peer_report(args, files, peers):
    quick = args.quick
    with_base = [e for e in files if e.get("peer") and e["peer"].get("bitx") is not None]
    per = {}
    groups = [(rel, [e for e in with_base if e["relation"] == rel]) for rel in PEER_RELATIONS]
    ft = [e for e in with_base if e["relation"] in FT_RELATIONS]
    groups.append(("finetune+lora-merged", ft))
    # where the gain comes from: a fine-tune saved in its parent's dtype (BitX XORs every
    # tensor) or in another one (bf16 training of an F32 parent: nothing for BitX to XOR)
    groups.append(("  in the parent's dtype", [e for e in ft if e["dtype"] == e["peer"]["base_dtype"]]))
    groups.append(("  in another dtype", [e for e in ft if e["dtype"] != e["peer"]["base_dtype"]]))
    t = Table("Fine-tunes, casts and re-conversions against their base (MB; peers are given the MANIFEST parent's"
              " file as base, hubzip finds it itself: its marginal cost; best peer = the peer with the smallest"
              " total" + ("; --quick: BitX is the only peer" if quick else "") + ")",
              ["relation", "files", "raw MB", "hubzip MB", "zstd-patch MB", "xdelta3 MB", "BitX MB",
               "best peer", "best MB", "hubzip vs best"])
    tp = Table("The same in % of raw, and CPU seconds (hubzip: its per-file ingests; BitX: its zstd -3 processes)",
               ["relation", "hubzip %", "zstd-patch %", "xdelta3 %", "BitX %", "best/file %", "hubzip s",
                "zstd-patch s", "xdelta3 s", "BitX s"])

    def vs(a, b):
        return fmt_pct(100 * (a / b - 1)) if a is not None and b else "-"
    for rel, fs in groups:
        d = peer_sums(fs, quick)
        per[rel] = d
        if not fs:
            t.add(rel, 0, *["-"] * 8)
            tp.add(rel, *["-"] * 9)
            continue
        t.add(rel, d["files"], fmt_mb(d["raw"]), fmt_mb(d["hubzip"]), fmt_mb(d["zstd_patch"]),
              fmt_mb(d["xdelta3"]), fmt_mb(d["bitx"]), d["best_peer"], fmt_mb(d["best"]),
              vs(d["hubzip"], d["best"]))
        tp.add(rel, fmt_pct(ratio_pct(d["hubzip"], d["raw"])), fmt_pct(ratio_pct(d["zstd_patch"], d["raw"])),
               fmt_pct(ratio_pct(d["xdelta3"], d["raw"])), fmt_pct(ratio_pct(d["bitx"], d["raw"])),
               fmt_pct(ratio_pct(d["best_file"], d["raw"])), fmt_num(d["hubzip_cpu_s"], 2),
               fmt_num(d["zstd_patch_cpu_s"], 2), fmt_num(d["xdelta3_cpu_s"], 2), fmt_num(d["bitx_cpu_s"], 2))
    notes = list(peers["notes"])
    if quick:
        notes.append("--quick: zstd -19 --patch-from and xdelta3 skipped")
    t.note = "\n".join(notes) if notes else None
    tp.note = ("best/file = the smallest peer of each file, added up (a stricter reference than the best peer)")

    # siblings of an unpublished base: no oracle, only the per-file zstd
    sib = [e for e in files if e["relation"] in PEER_RELATIONS and e["path"].endswith(".safetensors")
           and e["parent"] in ("-", "")]
    fams = sorted({e["family"] for e in sib}, key=lambda f: next(i for i, e in enumerate(sib) if e["family"] == f))
    ts = Table("Sibling fine-tunes of an unpublished base (parent '-': no oracle base; the first one ingested"
               " pays in full)", ["family", "files", "raw MB", "zstd-3 %", "zstd-19 %", "hubzip MB", "hubzip %",
                                  "hubzip vs zstd-19" if not quick else "hubzip vs zstd-3"])
    sibrows = {}
    for fam in fams + (["total"] if fams else []):
        fs = sib if fam == "total" else [e for e in sib if e["family"] == fam]
        raw = sum(e["bytes"] for e in fs)
        z3 = sum(e["zstd3"] for e in fs)
        z19 = None if quick else sum(e["zstd19"] for e in fs)
        hz = sum(e["hz_marginal"] for e in fs)
        sibrows[fam] = {"files": len(fs), "raw": raw, "zstd3": z3, "zstd19": z19, "hubzip": hz}
        ts.add(fam, len(fs), fmt_mb(raw), fmt_pct(ratio_pct(z3, raw)), fmt_pct(ratio_pct(z19, raw)), fmt_mb(hz),
               fmt_pct(ratio_pct(hz, raw)), vs(hz, z3 if quick else z19))
    peers["per_relation"] = per
    peers["siblings"] = sibrows
    return per, [t, tp] + ([ts] if sib else [])


def peer_file_table(files, clus):
    """Every file coded against an oracle base, for report.md."""
    fb = {}
    for c in clus:
        if c["store"] == "file-by-file" and c.get("families_json"):
            fb = c["families_json"]
    t = Table("Every file with an oracle base: the peers' cost and the base hubzip found (file-by-file store)",
              ["file", "relation", "MANIFEST parent", "hubzip's base (score)", "raw MB", "hubzip %",
               "zstd-patch %", "xdelta3 %", "BitX %", "BitX XORed %"])
    for e in files:
        p = e.get("peer")
        if not p or p.get("bitx") is None:
            continue
        m = fb.get(e["repo"], {})
        base = m.get("base") or "(none)"
        if m.get("score") is not None:
            base += f" ({m['score']:.3f})"
        t.add(e["path"], e["relation"], e["parent"], base, fmt_mb(e["bytes"]),
              fmt_pct(ratio_pct(e["hz_marginal"], e["bytes"])), fmt_pct(ratio_pct(p.get("zstd_patch"), e["bytes"])),
              fmt_pct(ratio_pct(p.get("xdelta3"), e["bytes"])), fmt_pct(ratio_pct(p["bitx"], e["bytes"])),
              fmt_pct(ratio_pct(p["bitx_xored"], e["bytes"])))
    return t


def pair_lines(pairs, found, truth, limit):
    out = []
    for a, b in pairs if limit is None else pairs[:limit]:
        fa = found.get(a, {}).get("family", "-")
        fb = found.get(b, {}).get("family", "-")
        out.append(f"    {a} ({truth[a]}, found {fa})  ~  {b} ({truth[b]}, found {fb})")
    if limit is not None and len(pairs) > limit:
        out.append(f"    ... and {len(pairs) - limit} more (report.md, report.json)")
    return out


def cluster_report(files, clus, marginal, shuffled, limit=12):
    truth, _ = safetensors_repos(files)
    ok = [c for c in clus if not c["error"]]
    title = "Clustering: `families --json` against MANIFEST family_id"
    if ok:
        title += (f" ({ok[0]['repos']} repos with safetensors files, {ok[0]['true_families']} true families;"
                  f" {ok[0]['pairs']} pairs of repos, {ok[0]['true_pairs']} of them in one true family)")
    t = Table(title, ["store", "order", "hints", "found families", "precision", "recall", "wrongly joined",
                      "wrongly split", "fine-tunes attached", "base = parent", "base in other family"])
    lines = []
    for c in clus:
        if c["error"]:
            t.add(c["store"], c["order"], c["hints"], "-", "-", "-", "-", "-", "-", "-", "-")
            lines.append(f"  {c['store']}: families --json failed: {c['error']}")
            continue
        fts = c["finetunes"]
        withpar = [x for x in fts if x["parent"]]
        t.add(c["store"], c["order"], c["hints"],
              f"{c['found_families']}" + (f" ({c['unassigned']} unassigned)" if c["unassigned"] else ""),
              fmt_pct(c["precision"]), fmt_pct(c["recall"]), len(c["wrongly_joined"]), len(c["wrongly_split"]),
              f"{c['ft_attached']}/{len(fts)}",
              f"{sum(1 for x in withpar if x['base_kind'] == 'parent')}/{len(withpar)}",
              sum(1 for x in fts if x["base_kind"] == "other family"))
        fj = c["families_json"]
        if c["wrongly_joined"]:
            lines.append(f"  {c['store']}: wrongly joined (different true families, one found family):")
            lines += pair_lines(c["wrongly_joined"], fj, truth, limit)
        if c["wrongly_split"]:
            lines.append(f"  {c['store']}: wrongly split (one true family, different found families):")
            lines += pair_lines(c["wrongly_split"], fj, truth, limit)
        bad = [x for x in fts if not x["attached"]]
        if bad:
            lines.append(f"  {c['store']}: fine-tunes not attached to their true family:")
            lines += [f"    {x['repo']} ({x['family']}): found family {x['found_family']}, "
                      + (f"no other repo of {x['family']} in it" if x["reference"] == "(a sibling)" else
                         f"its root {x['reference']} in {fj.get(x['reference'], {}).get('family', '-')}")
                      for x in bad[:limit]]
            if limit is not None and len(bad) > limit:
                lines.append(f"    ... and {len(bad) - limit} more")
        other = [x for x in fts if x["base_kind"] == "other family"]
        if other:
            lines.append(f"  {c['store']}: fine-tunes whose base is in another true family:")
            lines += [f"    {x['repo']} ({x['family']}): base {x['found_base']} ({truth.get(x['found_base'])}),"
                      f" score {x['score']}" for x in other[:limit]]
            if limit is not None and len(other) > limit:
                lines.append(f"    ... and {len(other) - limit} more")
        diff = [x for x in fts if x["base_kind"] == "same family"]
        if diff:
            lines.append(f"  {c['store']}: fine-tunes based on another repo of their family than the MANIFEST"
                         f" parent: " + ", ".join(f"{x['repo']} <- {x['found_base']}" for x in diff[:limit])
                         + (f" and {len(diff) - limit} more" if limit is not None and len(diff) > limit else ""))
    notes = ["precision = pairs in one found family that are in one true family / pairs in one found family;"
             " recall = pairs in one true family that are in one found family / pairs in one true family."]
    if shuffled:
        st = shuffled["stats"]
        sf_marg = sum(e["hz_marginal"] for e in files if e["listed"] and e["path"].endswith(".safetensors"))
        notes.append(f"safetensors files: {shuffled['raw'] / MB:.3f} MB raw, stored in {sf_marg / MB:.3f} MB"
                     f" by the file-by-file store (bases first; sum of their marginal costs) and in"
                     f" {st['physical_bytes'] / MB:.3f} MB by the shuffled store (seed {shuffled['seed']};"
                     f" stages.delta {st.get('stages', {}).get('delta', 0) / MB:.3f} MB)")
    t.note = "\n".join(notes + lines)
    if limit is not None:   # report.md lists every pair
        t.md_note = cluster_report(files, clus, marginal, shuffled, limit=None)[0].note
    return [t]


# ---- HTTP: hubzip serve vs a plain static server and PUT sink (issue 4) ----------

PUT_SINK = r'''
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_PUT(self):
        n = int(self.headers.get("Content-Length", "0"))
        path = os.path.join(sys.argv[2], self.path.strip("/").replace("/", "_"))
        with open(path, "wb") as f:
            while n > 0:
                b = self.rfile.read(min(n, 1 << 20))
                if not b:
                    break
                f.write(b)
                n -= len(b)
        self.send_response(201 if n == 0 else 400)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_s(pid):
    """utime + stime of every thread of pid, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


class Server:
    """A server process run under rusage_exec (its CPU and peak RSS come from wait4 at the end,
    and from /proc/PID while it runs)."""

    def __init__(self, name, cmd, port, log_path):
        import urllib.request
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        self._rfd, wfd = os.pipe()
        self._log = open(log_path, "wb")
        self.p = subprocess.Popen([RUSAGE_EXEC, str(wfd)] + [str(c) for c in cmd], pass_fds=(wfd,),
                                  stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        os.close(wfd)
        self.pid = None
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 20:
            if self.pid is None:
                try:
                    with open(f"/proc/{self.p.pid}/task/{self.p.pid}/children") as f:
                        kids = f.read().split()
                    if kids:
                        self.pid = int(kids[0])
                except OSError:
                    pass
            if self.p.poll() is not None:
                break
            try:
                import socket
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    if self.pid is not None:
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BenchError(f"{name} did not start: see {log_path}")

    def cpu(self):
        return proc_cpu_s(self.pid)

    def hwm_mib(self):
        return proc_hwm_mib(self.pid)

    def stop(self):
        self.hwm = None
        try:
            self.hwm = self.hwm_mib()
        except OSError:
            pass
        if self.pid:
            try:
                os.kill(self.pid, 15)
            except ProcessLookupError:
                pass
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            if self.pid:
                os.kill(self.pid, 9)
            self.p.wait()
        line = os.read(self._rfd, 4096)
        os.close(self._rfd)
        self._log.close()
        self.rusage = None
        try:
            rc, user, sys_, rss, wall = line.split()
            self.rusage = {"rc": int(rc), "cpu_s": float(user) + float(sys_), "maxrss_mib": int(rss) / 1024}
        except ValueError:
            pass


def http_phase(srv, name, jobs, items, fn, verify=None):
    """Runs fn(item) -> (ok, bytes or error) for every item on `jobs` threads; the server's CPU seconds
    from /proc around it.  verify() -> [errors], after the timed part.  Returns a summary dict."""
    busy0, own0 = cpu_busy_s(), own_cpu_s()
    c0 = srv.cpu()
    t0 = time.perf_counter()
    res = run_pool(jobs, len(items), lambda i: fn(items[i]))
    wall = time.perf_counter() - t0
    cpu = srv.cpu() - c0
    busy1, own1 = cpu_busy_s(), own_cpu_s()
    nbytes = sum(b for ok, b in res if ok)
    errors = [msg for ok, msg in res if not ok]
    if verify is not None:
        errors += verify()
    d = {"name": name, "server": srv.name, "at_once": jobs, "requests": len(items), "bytes": nbytes,
         "errors": len(errors), "error_samples": errors[:5], "server_cpu_s": round(cpu, 3),
         "wall_s": round(wall, 3),
         "mbps_per_core": nbytes / MB / cpu if cpu > 0 else None,
         "wall_mbps": nbytes / MB / wall if wall > 0 else None,
         "client_cpu_s": round((own1 - own0), 3) if own0 is not None and own1 is not None else None,
         "server_hwm_mib": round(srv.hwm_mib(), 1), "other_cpu_pct": None}
    if busy0 is not None and busy1 is not None and wall > 0:   # the server is not reaped yet: subtract it
        other = max(0.0, (busy1 - busy0) - (own1 - own0) - cpu)
        d["other_cpu_pct"] = round(100 * other / (wall * (os.cpu_count() or 1)), 1)
    log(f"http: {srv.name} {name} x{jobs}: {nbytes / MB:.0f} MB in {wall:.1f}s, server CPU {cpu:.2f}s,"
        f" {len(errors)} errors")
    return d


def curl_put(url, path, headers):
    cmd = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Expect:", "-T", path]
    for h in headers:
        cmd += ["-H", h]
    p = subprocess.run(cmd + [url], capture_output=True, text=True)
    code = p.stdout.strip()
    if p.returncode != 0 or code not in ("200", "201"):
        return False, f"PUT {url}: curl exit {p.returncode}, HTTP {code} {p.stderr.strip()[:200]}"
    return True, os.path.getsize(path)


def curl_get(url, out, size, headers=()):
    cmd = ["curl", "-sS", "-o", out, "-w", "%{http_code}"]
    for h in headers:
        cmd += ["-H", h]
    p = subprocess.run(cmd + [url], capture_output=True, text=True)
    code = p.stdout.strip()
    if p.returncode != 0 or code != "200":
        return False, f"GET {url}: curl exit {p.returncode}, HTTP {code} {p.stderr.strip()[:200]}"
    got = os.path.getsize(out)
    if got != size:
        return False, f"GET {url}: {got} bytes, expected {size}"
    return True, got


def bench_http(args, files, repos, work):
    """Upload then download the corpus's base and fine-tune safetensors files over loopback HTTP,
    through `hubzip serve` and through plain Python servers; every download is hashed."""
    if shutil.which("curl") is None:
        raise BenchError("curl not found")
    hwork = os.path.join(work, "http")
    shutil.rmtree(hwork, ignore_errors=True)
    os.makedirs(hwork)
    rank = {r: i for i, r in enumerate(repos)}
    sel = sorted((e for e in files if e["listed"] and e["path"].endswith(".safetensors")
                  and e["relation"] in NO_BASE + FT_RELATIONS), key=lambda e: rank[e["repo"]])
    bases = [e for e in sel if e["relation"] in NO_BASE]
    fts = [e for e in sel if e["relation"] in FT_RELATIONS]
    allf = bases + fts
    dl_at, ul_at = 32, 8
    phases, errors = [], []

    def hz_start(tag):
        store = os.path.join(hwork, f"store-{tag}")
        run([args.hubzip, "--store", store, "init"])
        tok = run([args.hubzip, "--store", store, "token", "create", "bench", "--scope", "write"],
                  capture=True).out.decode().strip().split()[-1]
        port = free_port()
        srv = Server("hubzip serve", [args.hubzip, "--store", store, "serve", "--listen", f"127.0.0.1:{port}",
                                      "--log-level", "error"], port, os.path.join(hwork, f"serve-{tag}.log"))
        import urllib.request
        for repo in sorted({e["repo"] for e in allf}):
            req = urllib.request.Request(srv.url + "/api/v1/repos", method="POST",
                                         data=json.dumps({"repo": repo}).encode(),
                                         headers={"Authorization": f"Bearer {tok}",
                                                  "Content-Type": "application/json"})
            with urllib.request.urlopen(req) as r:
                r.read()
        return srv, tok

    def hz_put(srv, tok):
        def f(e):
            return curl_put(f"{srv.url}/api/v1/repos/{e['repo']}/files/main/{e['rel']}", e["abs"],
                            [f"Authorization: Bearer {tok}", f"X-Content-SHA256: {e['sha256']}"])
        return f

    def sink_put(srv):
        def f(e):
            return curl_put(f"{srv.url}/{e['path']}", e["abs"], [])
        return f

    seq = iter(range(1 << 30))
    pending = []

    def getter(base_url, tok, hub):
        def f(e):
            out = os.path.join(hwork, "dl", str(next(seq)))
            url = (f"{base_url}/{e['repo']}/resolve/main/{e['rel']}" if hub else f"{base_url}/{e['path']}")
            ok, v = curl_get(url, out, e["bytes"], [f"Authorization: Bearer {tok}"] if tok else [])
            pending.append((out, url, e))
            return ok, v
        return f

    def verify():   # after the timed part: hashing is not the servers' work
        errs = []
        for out, url, e in pending:
            if os.path.exists(out):
                got = sha256_file(out)
                if got != e["sha256"]:
                    errs.append(f"GET {url}: sha256 {got} != {e['sha256']}")
                os.unlink(out)
        pending.clear()
        return errs
    os.makedirs(os.path.join(hwork, "dl"))

    def dl_list(fs, n):   # at least n requests, so n are in flight at once
        out = list(fs)
        while len(out) < n:
            out += fs
        return out

    servers = {}
    # hubzip: one fresh store, files uploaded one at a time (bases, then fine-tunes), then downloads
    log(f"http: {len(bases)} base files ({sum(e['bytes'] for e in bases) / MB:.0f} MB), {len(fts)} fine-tunes"
        f" ({sum(e['bytes'] for e in fts) / MB:.0f} MB)")
    hz, tok = hz_start("serial")
    try:
        phases.append(http_phase(hz, "upload, bases (no base: new data)", 1, bases, hz_put(hz, tok)))
        phases.append(http_phase(hz, "upload, fine-tunes (delta-coded)", 1, fts, hz_put(hz, tok)))
        g = getter(hz.url, tok, True)
        phases.append(http_phase(hz, "download, all", 1, allf, g, verify))
        phases.append(http_phase(hz, "download, fine-tunes (delta-coded)", 1, fts, g, verify))
        phases.append(http_phase(hz, "download, all", dl_at, dl_list(allf, dl_at), g, verify))
        phases.append(http_phase(hz, "download, fine-tunes (delta-coded)", dl_at, dl_list(fts, dl_at), g, verify))
    finally:
        hz.stop()
    servers["hubzip serve (uploads 1 at a time, downloads)"] = {"peak_rss_mib": hz.hwm, "rusage": hz.rusage}
    # hubzip: a second fresh store, the same files uploaded 8 at a time (all bases, then the fine-tunes)
    hz2, tok2 = hz_start("concurrent")
    try:
        phases.append(http_phase(hz2, "upload, bases (no base: new data)", ul_at, bases, hz_put(hz2, tok2)))
        phases.append(http_phase(hz2, "upload, fine-tunes (delta-coded)", ul_at, fts, hz_put(hz2, tok2)))
    finally:
        hz2.stop()
    servers[f"hubzip serve (uploads {ul_at} at a time)"] = {"peak_rss_mib": hz2.hwm, "rusage": hz2.rusage}
    # peers: a PUT sink (Python, writes the body to a file) and python3 -m http.server
    sinkd = os.path.join(hwork, "sink")
    os.makedirs(sinkd)
    script = os.path.join(hwork, "put_sink.py")
    with open(script, "w") as f:
        f.write(PUT_SINK)
    for at in (1, ul_at):
        port = free_port()
        sk = Server("python PUT sink", [sys.executable, script, port, sinkd], port,
                    os.path.join(hwork, f"sink-{at}.log"))
        try:
            phases.append(http_phase(sk, "upload, bases (no base: new data)", at, bases, sink_put(sk)))
            phases.append(http_phase(sk, "upload, fine-tunes (delta-coded)", at, fts, sink_put(sk)))
        finally:
            sk.stop()
            shutil.rmtree(sinkd)
            os.makedirs(sinkd)
        servers[f"python PUT sink ({at} at a time)"] = {"peak_rss_mib": sk.hwm, "rusage": sk.rusage}
    port = free_port()
    st = Server("python3 -m http.server", [sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                                           "--directory", args.corpus, port], port,
                os.path.join(hwork, "http.server.log"))
    try:
        g = getter(st.url, None, False)
        phases.append(http_phase(st, "download, all", 1, allf, g, verify))
        phases.append(http_phase(st, "download, fine-tunes (delta-coded)", 1, fts, g, verify))
        phases.append(http_phase(st, "download, all", dl_at, dl_list(allf, dl_at), g, verify))
        phases.append(http_phase(st, "download, fine-tunes (delta-coded)", dl_at, dl_list(fts, dl_at), g, verify))
    finally:
        st.stop()
    servers["python3 -m http.server"] = {"peak_rss_mib": st.hwm, "rusage": st.rusage}
    for p in phases:
        errors += p["error_samples"]
    return {"phases": phases, "servers": servers, "files": {"bases": len(bases), "finetunes": len(fts)},
            "bytes": {"bases": sum(e["bytes"] for e in bases), "finetunes": sum(e["bytes"] for e in fts)},
            "errors": sum(p["errors"] for p in phases), "error_samples": errors[:10],
            "download_at_once": dl_at, "upload_at_once": ul_at}


def http_report(h):
    """Tables of the HTTP section, and its target rows as (name, value, text, goal, ok)."""
    t = Table("HTTP on loopback: hubzip serve vs python3 -m http.server / a Python PUT sink (curl clients;"
              " MB/s per core = bytes / the server's CPU s)",
              ["phase", "server", "at once", "requests", "MB", "server CPU s", "MB/s per core", "wall MB/s",
               "errors", "server peak RSS MiB", "others' CPU"])
    for p in h["phases"]:
        t.add(p["name"], p["server"], p["at_once"], p["requests"], fmt_mb(p["bytes"], 1),
              fmt_num(p["server_cpu_s"], 2), fmt_num(p["mbps_per_core"]), fmt_num(p["wall_mbps"]),
              p["errors"], fmt_num(p["server_hwm_mib"]),
              "-" if p["other_cpu_pct"] is None else f"{p['other_cpu_pct']:.1f}%")
    t.note = ("uploads: PUT with X-Content-SHA256 into a fresh store (1 at a time; then a second fresh store, "
              f"{h['upload_at_once']} at a time), bases first; downloads: GET /{{ns}}/{{name}}/resolve/main/{{path}},"
              f" every body hashed and compared with MANIFEST.tsv; at {h['download_at_once']} at once the file list"
              " is repeated to give that many requests. Peak RSS: VmHWM of the server after the phase.")
    if h["error_samples"]:
        t.note += "\nerrors: " + "; ".join(h["error_samples"])
    ts = Table("HTTP servers: whole-life CPU and peak RSS (wait4)", ["server", "CPU s", "peak RSS MiB"])
    for k, v in h["servers"].items():
        ru = v["rusage"] or {}
        ts.add(k, fmt_num(ru.get("cpu_s"), 2), fmt_num(ru.get("maxrss_mib") or v["peak_rss_mib"]))

    def pick(server, name, at):
        return next((p for p in h["phases"] if p["server"] == server and p["name"] == name
                     and p["at_once"] == at), None)
    rows = []
    for at in (1, h["download_at_once"]):
        p = pick("hubzip serve", "download, fine-tunes (delta-coded)", at)
        v = p and p["mbps_per_core"]
        rows.append((f"HTTP download of delta-coded fine-tunes MB/s per core ({at} at a time)", v, fmt_num(v),
                     f">= {TARGETS['http_dl_ft_mbps_core']:g}", v is not None and v >= TARGETS["http_dl_ft_mbps_core"]))
    for at in (1, h["upload_at_once"]):
        ps = [pick("hubzip serve", n, at) for n in ("upload, bases (no base: new data)",
                                                    "upload, fine-tunes (delta-coded)")]
        b = sum(p["bytes"] for p in ps)
        c = sum(p["server_cpu_s"] for p in ps)
        v = b / MB / c if c > 0 else None
        rows.append((f"HTTP upload of new data MB/s per core (bases + fine-tunes, {at} at a time)", v, fmt_num(v),
                     f">= {TARGETS['http_ul_mbps_core']:g}", v is not None and v >= TARGETS["http_ul_mbps_core"]))
    e = sum(p["errors"] for p in h["phases"] if p["server"] == "hubzip serve" and p["at_once"] > 1)
    rows.append((f"HTTP {h['download_at_once']} concurrent downloads, {h['upload_at_once']} concurrent uploads:"
                 " errors", e, str(e), "= 0", e == 0))
    rss = max(v["peak_rss_mib"] or 0 for k, v in h["servers"].items() if k.startswith("hubzip"))
    rows.append(("HTTP peak RSS of hubzip serve", rss, f"{rss:.1f} MiB", f"< {TARGETS['http_rss_mib']:g} MiB",
                 rss < TARGETS["http_rss_mib"]))
    return [t, ts], rows


def build_report(args, files, marginal, speed, zs, bound, synth, hashes, info, peers, clus, shuffled, http=None):
    tables, checks = [], []
    raw_total = sum(e["bytes"] for e in files)
    quick = args.quick

    # 1. per relation
    t = Table("Stored bytes per relation (MB = 10^6 B; % = stored/raw; hubzip = marginal cost of each"
              " file, ingested one commit at a time)",
              ["relation", "files", "raw MB", "zstd-3 MB", "zstd-3 %", "zstd-19 MB", "zstd-19 %",
               "hubzip MB", "hubzip %", "shared MB", "shared %"])
    tc = Table("Per relation: CPU seconds (zstd -T1 per file; hubzip = its per-file ingests) and what"
               " hubzip's marginal bytes hold (tensor data / headers, gaps and whole files)",
               ["relation", "files", "raw MB", "zstd-3 s", "zstd-19 s", "hubzip s", "hubzip MB/s/core",
                "tensor MB", "other MB"])
    rels = RELATIONS + sorted({e["relation"] for e in files} - set(RELATIONS))
    per_rel = {}
    for rel in rels + ["total"]:
        fs = files if rel == "total" else [e for e in files if e["relation"] == rel]
        if not fs and rel not in RELATIONS:
            continue
        raw = sum(e["bytes"] for e in fs)
        z3 = sum(e["zstd3"] for e in fs)
        z19 = None if quick else sum(e["zstd19"] for e in fs)
        hz = sum(e["hz_marginal"] for e in fs)
        sh = sum(e["hz_shared"] for e in fs)
        cpu3 = sum(e["zstd3_cpu"] for e in fs)
        cpu19 = None if quick else sum(e["zstd19_cpu"] for e in fs)
        cpuh = sum(e["hz_ingest"]["user_s"] + e["hz_ingest"]["sys_s"] for e in fs)
        per_rel[rel] = {"files": len(fs), "raw": raw, "zstd3": z3, "zstd19": z19, "hubzip_marginal": hz,
                        "hubzip_marginal_tensor": sum(e["hz_marginal_tensor"] for e in fs),
                        "hubzip_shared": round(sh), "zstd3_cpu_s": round(cpu3, 3),
                        "zstd19_cpu_s": None if cpu19 is None else round(cpu19, 3),
                        "hubzip_cpu_s": round(cpuh, 3)}
        if not fs:
            t.add(rel, 0, *["-"] * 9)
            tc.add(rel, 0, *["-"] * 7)
            continue
        t.add(rel, len(fs), fmt_mb(raw), fmt_mb(z3), fmt_pct(ratio_pct(z3, raw)), fmt_mb(z19),
              fmt_pct(ratio_pct(z19, raw)), fmt_mb(hz), fmt_pct(ratio_pct(hz, raw)), fmt_mb(sh),
              fmt_pct(ratio_pct(sh, raw)))
        hzt = per_rel[rel]["hubzip_marginal_tensor"]
        tc.add(rel, len(fs), fmt_mb(raw), fmt_num(cpu3, 2), fmt_num(cpu19, 2), fmt_num(cpuh, 2),
               fmt_num(raw / MB / cpuh if cpuh else None), fmt_mb(hzt), fmt_mb(hz - hzt))
    tables += [t, tc]

    # reconciliation with stats --json
    mst, sst = marginal["stats"], speed["stats"]
    sum_marg = sum(e["hz_marginal"] for e in files)
    repo_sum = sum(r["physical_bytes"] for r in sst.get("repos", []))
    tr = Table("Totals and stats --json (the same corpus in two fresh stores)",
               ["quantity", "bytes", "MB", "check"])
    tr.add("corpus raw bytes (files on disk)", raw_total, fmt_mb(raw_total), "")
    tr.add("sum of per-file marginal costs", sum_marg, fmt_mb(sum_marg), "")
    tr.add("file-by-file store: stats physical_bytes", mst["physical_bytes"], fmt_mb(mst["physical_bytes"]),
           "= marginal sum" if mst["physical_bytes"] == sum_marg else
           f"DIFFERS by {mst['physical_bytes'] - sum_marg}")
    tr.add("file-by-file store: shared split total", round(marginal["shared_total"]),
           fmt_mb(marginal["shared_total"]),
           "= physical" if round(marginal["shared_total"]) == mst["physical_bytes"] else "DIFFERS")
    tr.add("repo-by-repo store: stats logical_bytes", sst["logical_bytes"], fmt_mb(sst["logical_bytes"]),
           "= raw" if sst["logical_bytes"] == raw_total else f"DIFFERS by {sst['logical_bytes'] - raw_total}")
    tr.add("repo-by-repo store: stats physical_bytes", sst["physical_bytes"], fmt_mb(sst["physical_bytes"]),
           "= file-by-file" if sst["physical_bytes"] == mst["physical_bytes"] else
           f"{sst['physical_bytes'] - mst['physical_bytes']:+d} vs file-by-file")
    tr.add("repo-by-repo store: sum of repos[].physical_bytes", repo_sum, fmt_mb(repo_sum),
           "= physical" if repo_sum == sst["physical_bytes"] else "DIFFERS")
    stages = sst.get("stages", {})
    for k in ("file_dedup", "tensor_dedup", "delta", "coding"):
        if k in stages:
            tr.add(f"  saved by stage {k}", stages[k], fmt_mb(stages[k]),
                   fmt_pct(ratio_pct(stages[k], sst["logical_bytes"])) + " of logical")
    cnt = sst.get("counts", {})
    if "pack_bytes" in cnt:
        tr.add("repo-by-repo store: pack_bytes on disk", cnt["pack_bytes"], fmt_mb(cnt["pack_bytes"]), "")
        tr.add("repo-by-repo store: index_bytes", cnt.get("index_bytes", 0), fmt_mb(cnt.get("index_bytes", 0)),
               "")
    tables.append(tr)

    # 2. order-0 bound
    tb = Table("Float tensors with no base (relation base/independent, each distinct tensor once):"
               " order-0 bound of byte planes (rotl1 = of the elements rotated left 1 bit first)",
               ["dtype", "tensors", "raw MB", "bound MB", "hubzip MB", "vs bound", "zstd-19 MB", "vs bound",
                "rotl1 bound MB", "hubzip vs it"])
    bt = bound["total"]

    def vs(x, ref):
        return fmt_pct(100 * (x / ref - 1)) if x is not None and ref else "-"
    for dt in ("F64", "F32", "F16", "BF16"):
        d = bound["per_dtype"].get(dt)
        if d:
            tb.add(dt, d["tensors"], fmt_mb(d["raw"]), fmt_mb(d["bound"]), fmt_mb(d["hubzip"]),
                   vs(d["hubzip"], d["bound"]), "-", "-", fmt_mb(d["bound_rotl1"]),
                   vs(d["hubzip"], d["bound_rotl1"]))
    excess = 100 * (bt["hubzip"] / bt["bound"] - 1) if bt["bound"] else None
    tb.add("total", bt["tensors"], fmt_mb(bt["raw"]), fmt_mb(bt["bound"]), fmt_mb(bt["hubzip"]),
           vs(bt["hubzip"], bt["bound"]), fmt_mb(bt["zstd19"]), vs(bt["zstd19"], bt["bound"]),
           fmt_mb(bt["bound_rotl1"]), vs(bt["hubzip"], bt["bound_rotl1"]))
    tables.append(tb)

    # 3. speed
    ts = Table("Speed (MB/s per core = MB / (user+sys CPU s of the measured processes); wall = elapsed;"
               " others' CPU = share of the 2 cores used by other processes meanwhile)".replace(
                   "the 2 cores", f"the {os.cpu_count()} cores"),
               ["operation", "procs", "at once", "MB", "CPU s", "MB/s/core", "wall s", "wall MB/s",
                "max RSS MiB", "others' CPU"])
    phases = [marginal["phase"], marginal["phase_ft"], speed["ingest"]]
    if shuffled:
        phases.append(shuffled["phase"])
    phases += [zs["zstd3_c"], speed["restore-warm"], speed["restore"], speed["cat"], speed["cat_ft"],
               zs["zstd3_d"], zs["zstd3_dnull"], zs["cp"], zs["zstd3_par"]]
    if "zstd19_par" in zs:
        phases.append(zs["zstd19_par"])
    for ph in phases:
        s = ph.summary()
        ts.add(s["name"], s["processes"], s["procs_at_once"], fmt_mb(s["bytes"], 1), fmt_num(s["cpu_s"], 2),
               fmt_num(s["mbps_per_core"]), fmt_num(s["wall_s"], 2), fmt_num(s["wall_mbps"]),
               fmt_num(s["max_rss_mib"]), fmt_pct(s["other_cpu_pct"]))
    if synth:
        for k, label in (("ingest", "synthetic: hubzip ingest"), ("cat", "synthetic: hubzip cat > /dev/null")):
            s = synth[k]
            ts.add(label, 1, 1, fmt_mb(s["bytes"], 1), fmt_num(s["cpu_s"], 2), fmt_num(s["mbps_per_core"]),
                   fmt_num(s["wall_s"], 2), fmt_num(s["wall_mbps"]), fmt_num(s["max_rss_mib"]),
                   fmt_pct(s["other_cpu_pct"]))
    cfg = sorted(e["hz_ingest"]["user_s"] + e["hz_ingest"]["sys_s"] for e in files if e["relation"] == "config")
    cfgw = sorted(e["hz_ingest"]["wall_s"] for e in files if e["relation"] == "config")
    if cfg:
        ts.note = (f"Fixed cost of one hubzip process (ingest of one config.json, median of {len(cfg)}):"
                   f" {1000 * cfg[len(cfg) // 2]:.1f} ms CPU, {1000 * cfgw[len(cfgw) // 2]:.1f} ms wall.")
    tables.append(ts)

    # peak RSS: the biggest hubzip processes
    allp = []
    for ph in (marginal["phase"], speed["ingest"], speed["restore-warm"], speed["restore"], speed["cat"],
               speed["cat_ft"]) + ((shuffled["phase"],) if shuffled else ()):
        for r in ph.runs:
            allp.append((r.rss_kib, ph.name, " ".join(r.cmd[3:5])))
    allp.sort(reverse=True)
    tp = Table(f"Peak RSS of the {len(allp)} corpus hubzip processes: the largest 5 (all in report.json)",
               ["phase", "command", "RSS MiB"])
    for kib, ph, cmd in allp[:5]:
        tp.add(ph, cmd, fmt_num(kib / 1024))
    tables.append(tp)

    # 4. synthetic
    if synth:
        ty = Table(f"Synthetic model: {synth['bytes'] / (1 << 30):.2f} GiB of BF16 N(0, 0.02)"
                   f" ({os.path.basename(synth['path'])})",
                   ["step", "MB", "CPU s", "MB/s/core", "wall s", "wall MB/s", "peak RSS MiB"])
        for k in ("ingest", "cat"):
            s = synth[k]
            ty.add(k, fmt_mb(s["bytes"], 1), fmt_num(s["cpu_s"], 2), fmt_num(s["mbps_per_core"]),
                   fmt_num(s["wall_s"], 2), fmt_num(s["wall_mbps"]), fmt_num(s["max_rss_mib"]))
        ty.add("stored (% of raw)", fmt_mb(synth["stored"], 1), "", fmt_pct(ratio_pct(synth["stored"], synth["bytes"])),
               "", "", "")
        ty.add("order-0 bound (% of raw)", fmt_mb(synth["order0_bound"], 1), "",
               fmt_pct(ratio_pct(synth["order0_bound"], synth["tensor_bytes"])), "", "", "")
        ty.add("stored vs bound", "", "", fmt_pct(100 * (synth["stored"] / synth["order0_bound"] - 1)), "", "", "")
        ft = synth.get("ft")
        if ft:
            for k in ("ingest", "cat"):
                s = ft[k]
                ty.add(f"fine-tune {k}", fmt_mb(s["bytes"], 1), fmt_num(s["cpu_s"], 2), fmt_num(s["mbps_per_core"]),
                       fmt_num(s["wall_s"], 2), fmt_num(s["wall_mbps"]), fmt_num(s["max_rss_mib"]))
            ty.add("fine-tune stored (% of raw)", fmt_mb(ft["stored"], 1), "",
                   fmt_pct(ratio_pct(ft["stored"], ft["bytes"])), "", "", "")
            ty.note = ("The fine-tune moves every weight by N(0, 0.0002), 1% of their spread, in float32, and"
                       " rounds back to BF16; it is ingested into the store that holds the base, so the"
                       " ingest includes finding the base.")
        tables.append(ty)

    # 5. hashes
    th = Table(f"Hash throughput on {hashes['bytes'] / (1 << 30):.0f} GiB in memory"
               f" (best of {hashes['reps']}; GB = 10^9 B)", ["hash", "GB/s", "CPU s per GB", "note"])
    th.add("SHA-256 (OpenSSL EVP)", f"{hashes['sha256_gbps']:.2f}", f"{1 / hashes['sha256_gbps']:.3f}",
           "SHA extensions: " + ("yes" if hashes.get("cpu_sha_ni") else "no"))
    th.add("XXH3-128", f"{hashes['xxh3_128_gbps']:.2f}", f"{1 / hashes['xxh3_128_gbps']:.3f}", "")
    th.add("XXH3-64 (block checksums)", f"{hashes['xxh3_64_gbps']:.2f}", f"{1 / hashes['xxh3_64_gbps']:.3f}", "")
    tables.append(th)

    # 6. fine-tunes, casts and re-conversions against their (oracle) base
    peer_rel, peer_tables = peer_report(args, files, peers)
    tables += peer_tables

    # 7. clustering
    tables += cluster_report(files, clus, marginal, shuffled)

    # 8. summary
    tt = Table("Targets (informational: a MISS does not fail the bench)",
               ["target", "measured", "goal", "result"])

    def target(name, val, txt, goal, ok):
        res = "-" if val is None else ("PASS" if ok else "MISS")
        tt.add(name, txt, goal, res)
        checks.append({"target": name, "measured": val, "goal": goal, "result": res})
    for rel in ("duplicate", "reshard"):
        pr = per_rel.get(rel)
        v = ratio_pct(pr["hubzip_marginal"], pr["raw"]) if pr and pr["files"] else None
        target(f"{rel}s: stored / raw", v, fmt_pct(v), f"< {TARGETS['dup_reshard_pct']}%",
               v is not None and v < TARGETS["dup_reshard_pct"])
    target("float tensors, no base: above order-0 bound", excess,
           "-" if excess is None else f"{excess:+.2f}%", f"<= +{TARGETS['bound_excess_pct']:g}%",
           excess is not None and excess <= TARGETS["bound_excess_pct"])
    if synth:
        v = 100 * (synth["stored"] / synth["order0_bound"] - 1)
        target("  the same, synthetic BF16 model", v, f"{v:+.2f}%", f"<= +{TARGETS['bound_excess_pct']:g}%",
               v <= TARGETS["bound_excess_pct"])
    v = speed["ingest"].summary()["mbps_per_core"]
    target("ingest MB/s per core (corpus, 1 proc/repo)", v, fmt_num(v), f">= {TARGETS['ingest_mbps_core']:g}",
           v is not None and v >= TARGETS["ingest_mbps_core"])
    v = speed["restore"].summary()["mbps_per_core"]
    target("restore MB/s per core (corpus, warm, to disk)", v, fmt_num(v),
           f">= {TARGETS['restore_mbps_core']:g}", v is not None and v >= TARGETS["restore_mbps_core"])
    if synth:
        v = synth["cat"]["mbps_per_core"]
        target(f"restore MB/s per core ({args.synthetic_gib:g} GiB model, warm, > /dev/null)", v,
               fmt_num(v), f">= {TARGETS['restore_mbps_core']:g}",
               v is not None and v >= TARGETS["restore_mbps_core"])
        v = max(synth["ingest"]["max_rss_mib"], synth["cat"]["max_rss_mib"])
        target(f"peak RSS, {args.synthetic_gib:g} GiB model (ingest, cat)", v,
               f"{synth['ingest']['max_rss_mib']:.1f} / {synth['cat']['max_rss_mib']:.1f} MiB",
               f"< {TARGETS['synthetic_rss_mib']:g} MiB", v < TARGETS["synthetic_rss_mib"])
    else:
        target("peak RSS, synthetic model", None, "(skipped)", f"< {TARGETS['synthetic_rss_mib']:g} MiB", False)
    # issue 3
    d = peer_rel.get("finetune+lora-merged")
    v = d["hubzip_vs_best"] if d and d["files"] else None
    target("fine-tunes (finetune+lora-merged): hubzip / best peer", v,
           "-" if v is None else f"{v:.3f}x ({d['best_peer']})",
           f"<= {TARGETS['ft_vs_best_peer']:g}x" + (" (BitX only)" if quick else ""),
           v is not None and v <= TARGETS["ft_vs_best_peer"])
    for rel, key, cmp_ in (("dtype-cast", "cast_pct", "<"), ("reconvert", "reconvert_pct", "<")):
        pr = per_rel.get(rel)
        v = ratio_pct(pr["hubzip_marginal"], pr["raw"]) if pr and pr["files"] else None
        target(f"{rel}s: stored / raw", v, fmt_pct(v), f"{cmp_} {TARGETS[key]:g}%",
               v is not None and v < TARGETS[key])
    for c in clus:
        if c["store"] not in ("repo-by-repo", "shuffled"):
            continue
        v = None if c["error"] else c["ft_attached_pct"]
        target(f"fine-tunes attached to their true family ({c['store']})", v,
               "-" if v is None else f"{c['ft_attached']}/{len(c['finetunes'])} = {fmt_pct(v)}",
               f"= {TARGETS['ft_attached_pct']:g}%", v is not None and v >= TARGETS["ft_attached_pct"])
    v = marginal["phase_ft"].summary()["mbps_per_core"]
    target("ingest MB/s per core, fine-tunes (1 proc/file, base lookup included)", v, fmt_num(v),
           f">= {TARGETS['ft_ingest_mbps_core']:g}", v is not None and v >= TARGETS["ft_ingest_mbps_core"])
    v = speed["cat_ft"].summary()["mbps_per_core"]
    target("restore MB/s per core, fine-tunes (warm, > /dev/null)", v, fmt_num(v),
           f">= {TARGETS['ft_restore_mbps_core']:g}", v is not None and v >= TARGETS["ft_restore_mbps_core"])
    if synth and synth.get("ft"):
        ft = synth["ft"]
        v = ft["ingest"]["mbps_per_core"]
        target(f"  the same, fine-tune of the {args.synthetic_gib:g} GiB model: ingest MB/s per core", v,
               fmt_num(v), f">= {TARGETS['ft_ingest_mbps_core']:g}",
               v is not None and v >= TARGETS["ft_ingest_mbps_core"])
        v = ft["cat"]["mbps_per_core"]
        target(f"  the same, fine-tune of the {args.synthetic_gib:g} GiB model: restore MB/s per core", v,
               fmt_num(v), f">= {TARGETS['ft_restore_mbps_core']:g}",
               v is not None and v >= TARGETS["ft_restore_mbps_core"])
    if http:
        htables, hrows = http_report(http)
        tables += htables
        for row in hrows:
            target(*row)
    tables.append(tt)
    return tables, per_rel, checks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default="/var/tmp/mhub-corpus/public")
    ap.add_argument("--hubzip", default=os.path.join(ROOT, "build", "hubzip"))
    ap.add_argument("--work", default="/var/tmp/hubzip-bench/work")
    ap.add_argument("--quick", action="store_true",
                    help="skip zstd -19, zstd --patch-from, xdelta3 and the synthetic model")
    ap.add_argument("--synthetic-gib", type=float, default=4.0)
    ap.add_argument("--no-synthetic", action="store_true")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="parallel zstd processes (default 2)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench"), help="where report.{json,md} go")
    ap.add_argument("--no-http", action="store_true", help="skip the HTTP section (hubzip serve)")
    ap.add_argument("--http-only", action="store_true",
                    help="only the HTTP section: prints its tables, writes report-http.{json,md}")
    args = ap.parse_args()
    args.hubzip = os.path.abspath(args.hubzip)
    args.corpus = os.path.abspath(args.corpus)
    args.work = os.path.abspath(args.work)
    if not os.access(args.hubzip, os.X_OK):
        raise BenchError(f"{args.hubzip}: not an executable (run make)")
    if shutil.which("zstd") is None:
        raise BenchError("zstd not found (deploy/install-deps.sh --bench)")
    synthetic = not (args.quick or args.no_synthetic)
    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.perf_counter()
    load_start = os.getloadavg()
    busy_start, own_start = cpu_busy_s(), own_cpu_s()

    helpers = build_helpers()
    files, repos = load_corpus(args.corpus)
    log(f"corpus {args.corpus}: {len(files)} files ({sum(e['bytes'] for e in files) / MB:.1f} MB)"
        f" in {len(repos)} repos; checking sha256")
    check_corpus(files)
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    # run a private copy: a `make` elsewhere must not swap the binary in the middle of the run
    built = args.hubzip
    args.hubzip = os.path.join(args.work, "hubzip")
    shutil.copy2(built, args.hubzip)
    hubzip_sha = sha256_file(args.hubzip)
    git_start = git_head()   # now: the tree may move on during the run, the binary does not
    if args.http_only:
        return main_http_only(args, files, repos, started, git_start)

    log("1/8 marginal cost: ingesting file by file")
    marginal = bench_marginal(args, files, repos, args.work)
    log("3/8 speed: ingest by repo, restore, cat (fresh store)")
    speed = bench_speed(args, files, repos, args.work)
    log(f"7/8 clustering: a third store, safetensors only, repos shuffled (seed {SHUFFLE_SEED})")
    shuffled = bench_shuffled(args, files, repos, args.work)
    clus = bench_clustering(args, files, [
        ("repo-by-repo", "bases first", "config.json", speed["store"]),
        ("shuffled", f"seed {SHUFFLE_SEED}", "none", shuffled["store"]),
        ("file-by-file", "bases first", "config.json after weights", marginal["store"])])
    log("1/8 zstd per file" + ("" if args.quick else " (-3 and -19 --long=27)"))
    zs = bench_zstd(args, files, args.work, args.quick)
    log("6/8 fine-tunes, casts and re-conversions against their base: "
        + ("BitX (--quick)" if args.quick else "zstd --patch-from, xdelta3, BitX"))
    peers = bench_peers(args, files, args.work, args.quick)
    log(f"6/8 peers of {peers['files']} files in {peers['wall_s']:.0f}s")
    log("2/8 order-0 bound of float tensors without base")
    bound = bench_bound(args, files, Hubzip(args.hubzip, marginal["store"]), args.quick)
    synth = None
    if synthetic:
        log(f"4/8 synthetic {args.synthetic_gib:g} GiB model")
        synth = bench_synthetic(args, args.work)
    http = None
    if not args.no_http:
        log("9 HTTP: hubzip serve vs python3 -m http.server and a PUT sink")
        http = bench_http(args, files, repos, args.work)
    log("5/8 hashes")
    hashes = bench_hash(helpers["hash_bench"])
    try:
        with open("/proc/cpuinfo") as f:
            hashes["cpu_sha_ni"] = " sha_ni" in f.read()
    except OSError:
        pass

    info = machine_info()
    info["loadavg_start"] = load_start
    info["date"] = started.strftime("%Y-%m-%d %H:%M UTC")
    info["git"] = git_start
    git_end = git_head()
    if git_end != git_start:
        info["git_at_end"] = git_end
    info["hubzip"] = run([args.hubzip, "version"], capture=True).out.decode().strip()
    info["hubzip_binary"] = {"path": built, "sha256": hubzip_sha}
    zv = run(["zstd", "--version"], capture=True).out.decode()
    info["zstd"] = "zstd " + next((w.rstrip(",") for w in zv.split() if w[:2] in ("v1", "v2")), zv.strip())
    info["command"] = " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:])
    info["corpus"] = args.corpus
    info["elapsed_s"] = round(time.perf_counter() - t_start, 1)
    info["loadavg_end"] = os.getloadavg()
    busy_end, own_end = cpu_busy_s(), own_cpu_s()
    wall = time.perf_counter() - t_start
    if busy_start is not None and busy_end is not None:
        other = max(0.0, (busy_end - busy_start) - (own_end - own_start))
        info["other_cpu_s"] = round(other, 1)
        info["other_cpu_pct"] = round(100 * other / (wall * (os.cpu_count() or 1)), 1)
    info["bench_py_maxrss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    speed_phases = [marginal["phase"], speed["ingest"], speed["restore-warm"], speed["restore"], speed["cat"],
                    speed["cat_ft"], shuffled["phase"]]
    speed_phases += list(zs.values())
    tables, per_rel, checks = build_report(args, files, marginal, speed, zs, bound, synth, hashes, info,
                                           peers, clus, shuffled, http)
    head = (f"hubzip bench  {info['date']}  git {info['git']}  {info['hubzip']}\n"
            + (f"(the tree moved on during the run: git {info['git_at_end']} at its end)\n"
               if "git_at_end" in info else "")
            + f"machine: {info['cpu']}, {info['cores']} cores, {info['mem_gib']} GiB, Linux {info['kernel']};"
            f" load average {info['loadavg_start'][0]:.2f} at start\n"
            f"corpus: {args.corpus} ({len(files)} files, {len(repos)} repos)"
            f"{'  --quick' if args.quick else ''}  elapsed {info['elapsed_s']:.0f}s")
    if "other_cpu_s" in info:
        head += (f"\nother processes used {info['other_cpu_s']:.0f} CPU s during the run"
                 f" ({info['other_cpu_pct']:.1f}% of the machine)")
        busy = [p.name for p in speed_phases if p.other_pct is not None and p.other_pct > 5]
        if busy:
            head += (f"; WARNING: more than 5% during {len(busy)} of the timed phases (see others' CPU):"
                     " their speeds are not representative")
    text = head + "\n\n" + "\n\n".join(tb.text() for tb in tables) + "\n"
    print(text)

    os.makedirs(args.out, exist_ok=True)
    md = [f"# hubzip bench, {info['date']}", "",
          f"- machine: {info['cpu']}, {info['cores']} cores, {info['mem_gib']} GiB, Linux {info['kernel']};"
          f" load average {info['loadavg_start'][0]:.2f} at start; other processes used"
          f" {info.get('other_cpu_s', '?')} CPU s during the run ({info.get('other_cpu_pct', '?')}% of the machine)",
          f"- git {info['git']}" + (f" (git {info['git_at_end']} at the end of the run)" if "git_at_end" in info
                                      else "") + f", {info['hubzip']}, {info['zstd']}",
          f"- corpus: `{args.corpus}` ({len(files)} files, {len(repos)} repos)",
          f"- command: `{info['command']}`", ""]
    md += [tb.md() + "\n" for tb in tables]
    md.append(peer_file_table(files, clus).md() + "\n")
    # every hubzip process of the corpus runs, per repo
    tr = Table("Every hubzip process on the corpus, per repo (CPU s / peak RSS MiB)",
               ["repo", "MB", "ingest s", "ingest MiB", "restore s", "restore MiB", "per-file ingests",
                "max per-file MiB"])
    for repo in repos:
        pr = speed["per_repo"][repo]
        fs = [e for e in files if e["repo"] == repo]

        def c(j):
            return fmt_num(j["user_s"] + j["sys_s"], 3)
        tr.add(repo, fmt_mb(pr["bytes"], 2), c(pr["ingest"]), fmt_num(pr["ingest"]["maxrss_kib"] / 1024),
               c(pr["restore"]), fmt_num(pr["restore"]["maxrss_kib"] / 1024), len(fs),
               fmt_num(max(e["hz_ingest"]["maxrss_kib"] for e in fs) / 1024))
    md.append(tr.md() + "\n")
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write("\n".join(md))

    def ph(p):
        d = p.summary()
        d["runs"] = [r.as_json() for r in p.runs]
        return d
    rep = {
        "info": info, "targets": checks, "relations": per_rel,
        "totals": {"raw": sum(e["bytes"] for e in files),
                   "file_by_file_store": {"stats": marginal["stats"], "db": marginal["db"],
                                          "shared_total": marginal["shared_total"]},
                   "repo_by_repo_store": {"stats": speed["stats"], "fsck": speed["fsck"]}},
        "order0": bound,
        "peers": peers,
        "clustering": clus,
        "shuffled_store": {"seed": shuffled["seed"], "order": shuffled["order"], "files": shuffled["files"],
                           "raw": shuffled["raw"], "stats": shuffled["stats"]},
        "speed": {k: ph(v) for k, v in
                  [("ingest_per_file", marginal["phase"]), ("ingest_per_file_finetunes", marginal["phase_ft"]),
                   ("ingest", speed["ingest"]), ("ingest_shuffled", shuffled["phase"]),
                   ("restore_first", speed["restore-warm"]), ("restore", speed["restore"]), ("cat", speed["cat"]),
                   ("cat_finetunes", speed["cat_ft"])]
                  + [(k, v) for k, v in zs.items()]},
        "per_repo": speed["per_repo"],
        "files": [{k: v for k, v in e.items() if k != "abs"} for e in files],
        "synthetic": synth, "hashes": hashes, "http": http,
    }
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(rep, f, indent=1)
    log(f"wrote {os.path.join(args.out, 'report.json')} and report.md")
    if http and http["errors"]:
        raise BenchError(f"{http['errors']} HTTP requests failed or returned wrong bytes: "
                         + "; ".join(http["error_samples"]))
    return 0


def main_http_only(args, files, repos, started, git_start):
    log("HTTP only: hubzip serve vs python3 -m http.server and a PUT sink")
    http = bench_http(args, files, repos, args.work)
    tables, rows = http_report(http)
    tt = Table("Targets (HTTP; informational)", ["target", "measured", "goal", "result"])
    for name, v, txt, goal, ok in rows:
        tt.add(name, txt, goal, "-" if v is None else ("PASS" if ok else "MISS"))
    tables.append(tt)
    info = machine_info()
    info["date"] = started.strftime("%Y-%m-%d %H:%M UTC")
    info["git"] = git_start
    info["hubzip"] = run([args.hubzip, "version"], capture=True).out.decode().strip()
    info["command"] = " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:])
    head = (f"hubzip bench (HTTP only)  {info['date']}  git {info['git']}  {info['hubzip']}\n"
            f"machine: {info['cpu']}, {info['cores']} cores, {info['mem_gib']} GiB, Linux {info['kernel']}\n"
            f"corpus: {args.corpus}")
    print(head + "\n\n" + "\n\n".join(tb.text() for tb in tables) + "\n")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "report-http.md"), "w") as f:
        f.write(f"# hubzip bench (HTTP only), {info['date']}\n\n- git {info['git']}, {info['hubzip']}\n"
                f"- command: `{info['command']}`\n\n" + "\n\n".join(tb.md() for tb in tables) + "\n")
    with open(os.path.join(args.out, "report-http.json"), "w") as f:
        json.dump({"info": info, "http": http}, f, indent=1)
    return 1 if http["errors"] else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
