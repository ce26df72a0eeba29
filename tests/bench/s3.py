#!/usr/bin/env python3
"""hubzip bench, S3 section: the blob backends side by side in one run.

    python3 tests/bench/s3.py --hubzip build/hubzip --corpus /var/tmp/mhub-corpus/public

Ingests every repo of the corpus (one `hubzip ingest` per repo) into a store
with the local backend (DIR/objects) and into one with the S3 backend (a
bucket of @20minutes/s3rver, the fake S3 of the tests, on loopback: pinned,
installed by npm into build/npm-s3rver), then restores every repo from each
(every file compared with the original) and reads every file once more with
`hubzip cat`.  Reports the throughput of each phase with S3 relative to local,
and the object-store requests per GB ingested and per GB served, by kind, as
s3rver logged them (tests/integration/js/s3rver.mjs logs every request).

s3rver keeps objects as files and is single-threaded JavaScript: its own cost
is in the S3 numbers, which are a floor for what a real store on the same
network would give, not a measurement of one.  Writes build/bench/report-s3.md
and report-s3.json.  Python standard library only.  MB = 10^6 bytes.
"""
import argparse, hashlib, json, os, re, shutil, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
S3RVER = "5.0.0"
MB = 1e6


def log(msg):
    print(f"[s3 bench] {msg}", file=sys.stderr, flush=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def tree(top):
    """{relative path: sha256} of every file under top."""
    out = {}
    for d, _, fs in os.walk(top):
        for name in fs:
            p = os.path.join(d, name)
            out[os.path.relpath(p, top)] = sha256(p)
    return out


def repos_of(corpus):
    with open(os.path.join(corpus, "MANIFEST.tsv"), encoding="utf-8") as f:
        head = f.readline().rstrip("\n").split("\t")
        col = head.index("repo_id")
        repos = []
        for line in f:
            if line.strip():
                r = line.rstrip("\n").split("\t")[col]
                if r not in repos:
                    repos.append(r)
    return repos


def start_s3rver(work):
    npm = os.path.join(ROOT, "build", "npm-s3rver")
    mod = os.path.join(npm, "node_modules", "@20minutes", "s3rver")
    try:
        ver = json.load(open(os.path.join(mod, "package.json")))["version"]
    except OSError:
        ver = None
    if ver != S3RVER:
        log(f"npm install @20minutes/s3rver@{S3RVER}")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", npm,
                        f"@20minutes/s3rver@{S3RVER}"], check=True, stdout=subprocess.DEVNULL)
    data, logf = os.path.join(work, "s3"), os.path.join(work, "s3.log")
    os.makedirs(data)
    open(logf, "w").close()
    out = open(os.path.join(work, "s3.out"), "w+")
    p = subprocess.Popen(["node", os.path.join(ROOT, "tests", "integration", "js", "s3rver.mjs"),
                          mod, data, "bench", logf], stdout=out, stderr=subprocess.STDOUT)
    for _ in range(100):
        out.seek(0)
        m = re.search(r"http://127\.0\.0\.1:\d+", out.read())
        if m:
            return p, m.group(0), logf
        if p.poll() is not None:
            break
        time.sleep(0.1)
    out.seek(0)
    raise SystemExit(f"s3 bench: s3rver did not start: {out.read()}")


def kinds(logf):
    """Requests s3rver logged, by kind."""
    k = {}
    for line in open(logf):
        method, url, rng = (line.split(" ") + ["", ""])[:3]
        rng = rng.strip()
        if method == "GET":
            kind = "GET list" if "list-type=" in url else ("GET ranged" if rng != "-" else "GET whole")
        elif method == "PUT":
            kind = "PUT part" if "partNumber=" in url else "PUT"
        elif method == "POST":
            kind = "POST create multipart" if "uploads" in url else "POST complete multipart"
        else:
            kind = method
        k[kind] = k.get(kind, 0) + 1
    return k


class Phase:
    def __init__(self, name):
        self.name, self.wall, self.cpu, self.bytes = name, 0.0, 0.0, 0

    def run(self, cmd, nbytes):
        t0, r0 = time.perf_counter(), os.times()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t1, r1 = time.perf_counter(), os.times()
        if p.returncode:
            raise SystemExit(f"s3 bench: {' '.join(cmd)} failed: {p.stderr.decode(errors='replace')}")
        self.wall += t1 - t0
        self.cpu += (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
        self.bytes += nbytes

    def mbs(self):
        return self.bytes / MB / self.wall if self.wall else 0.0


def run_store(args, label, blobs, repos, sizes, originals, logf):
    store = os.path.join(args.work, label)
    hz = [args.hubzip, "--store", store] + (["--blobs", blobs] if blobs else [])
    subprocess.run(hz + ["init"], check=True, stdout=subprocess.DEVNULL)
    res, counts = {}, {}
    for phase in ("ingest", "restore", "cat"):
        if logf:
            open(logf, "w").close()
        ph = Phase(phase)
        for r in repos:
            if phase == "ingest":
                ph.run(hz + ["ingest", r, os.path.join(args.corpus, r)], sizes[r])
            elif phase == "restore":
                out = os.path.join(args.work, f"{label}-out", r)
                shutil.rmtree(out, ignore_errors=True)
                ph.run(hz + ["restore", r, out], sizes[r])
            else:
                for rel in sorted(originals[r]):
                    ph.run(hz + ["cat", r, rel], os.path.getsize(os.path.join(args.corpus, r, rel)))
        if phase == "restore":
            for r in repos:
                got = tree(os.path.join(args.work, f"{label}-out", r))
                if got != originals[r]:
                    raise SystemExit(f"s3 bench: {label}: {r} does not restore byte-exactly")
            shutil.rmtree(os.path.join(args.work, f"{label}-out"))
        res[phase] = ph
        if logf:
            counts[phase] = kinds(logf)
        log(f"{label} {phase}: {ph.bytes / MB:.1f} MB in {ph.wall:.2f}s ({ph.mbs():.1f} MB/s)")
    fsck = subprocess.run(hz + ["fsck"], capture_output=True)
    if fsck.returncode:
        raise SystemExit(f"s3 bench: {label}: fsck: {fsck.stdout.decode()}{fsck.stderr.decode()}")
    stats = json.loads(subprocess.run(hz + ["stats", "--json"], check=True, capture_output=True).stdout)
    return res, counts, stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default="/var/tmp/mhub-corpus/public")
    ap.add_argument("--hubzip", default=os.path.join(ROOT, "build", "hubzip"))
    ap.add_argument("--work", default="/var/tmp/hubzip-bench/s3")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    args = ap.parse_args()
    args.hubzip, args.corpus = os.path.abspath(args.hubzip), os.path.abspath(args.corpus)
    if not shutil.which("node") or not shutil.which("npm"):
        log("SKIPPED: node and npm are needed for s3rver")
        return 0
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    exe = os.path.join(args.work, "hubzip")  # a private copy: `make` elsewhere may replace the binary
    shutil.copy2(args.hubzip, exe)
    args.hubzip = exe
    repos = repos_of(args.corpus)
    originals = {r: tree(os.path.join(args.corpus, r)) for r in repos}
    sizes = {r: sum(os.path.getsize(os.path.join(args.corpus, r, p)) for p in originals[r]) for r in repos}
    total = sum(sizes.values())
    log(f"corpus {args.corpus}: {len(repos)} repos, {total / MB:.1f} MB")
    srv, endpoint, logf = start_s3rver(args.work)
    os.environ["AWS_ACCESS_KEY_ID"] = os.environ["AWS_SECRET_ACCESS_KEY"] = "S3RVER"
    try:
        local, _, lstats = run_store(args, "local", None, repos, sizes, originals, None)
        s3, counts, sstats = run_store(args, "s3", f"s3://bench/hubzip?endpoint={endpoint}",
                                       repos, sizes, originals, logf)
    finally:
        srv.terminate()
        srv.wait()
    rows = []
    for phase in ("ingest", "restore", "cat"):
        lp, sp = local[phase], s3[phase]
        n = sum(counts[phase].values())
        rows.append({"phase": phase, "bytes": sp.bytes, "local_mb_s": round(lp.mbs(), 1),
                     "s3_mb_s": round(sp.mbs(), 1), "s3_vs_local": round(sp.mbs() / lp.mbs(), 3) if lp.mbs() else None,
                     "local_cpu_s": round(lp.cpu, 2), "s3_cpu_s": round(sp.cpu, 2), "requests": n,
                     "requests_per_gb": round(n / (sp.bytes / 1e9), 1), "by_kind": counts[phase],
                     "by_kind_per_gb": {k: round(v / (sp.bytes / 1e9), 1) for k, v in counts[phase].items()}})
    lines = [f"# hubzip bench: S3 backend vs local ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"- corpus: `{args.corpus}` ({len(repos)} repos, {total / MB:.1f} MB); S3: @20minutes/s3rver "
             f"{S3RVER} on loopback (a floor: its own cost is in the S3 times)",
             f"- packs: {lstats['counts']['packs']} local, {sstats['counts']['packs']} in the bucket; pack bytes "
             f"{lstats['counts']['pack_bytes']} / {sstats['counts']['pack_bytes']}", "",
             "| phase | MB | local MB/s | S3 MB/s | S3 / local | CPU s local / S3 | requests | per GB | by kind, per GB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        kinds_txt = ", ".join(f"{k} {v:g}" for k, v in sorted(r["by_kind_per_gb"].items()))
        lines.append(f"| {r['phase']} | {r['bytes'] / MB:.1f} | {r['local_mb_s']} | {r['s3_mb_s']} | "
                     f"{r['s3_vs_local']} | {r['local_cpu_s']} / {r['s3_cpu_s']} | {r['requests']} | "
                     f"{r['requests_per_gb']} | {kinds_txt} |")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "report-s3.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "report-s3.json"), "w") as f:
        json.dump({"corpus": args.corpus, "bytes": total, "rows": rows,
                   "packs": {"local": lstats["counts"], "s3": sstats["counts"]}}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
