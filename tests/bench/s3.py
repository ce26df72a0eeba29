#!/usr/bin/env python3
"""hubzip bench, S3 section: the blob and index backends side by side in one run.

    python3 tests/bench/s3.py --hubzip build/hubzip --corpus /var/tmp/mhub-corpus/public

Ingests every repo of the corpus (one `hubzip ingest` per repo) into three
stores: the local default (packs in DIR/objects, SQLite index), S3 + SQLite
(packs in a bucket of @20minutes/s3rver, the fake S3 of the tests, on
loopback: pinned, installed by npm into build/npm-s3rver) and S3 + PostgreSQL
(the same bucket under another prefix, the index in a private PostgreSQL
cluster made with initdb under the work directory, as
tests/integration/92_postgres.sh does; fsync and synchronous_commit left at
the server's defaults, as SQLite runs with synchronous=FULL).  Then restores
every repo from each (every file compared with the original) and reads every
file once more with `hubzip cat`.  Reports, per phase and configuration, wall
MB/s and MB/s per core (bytes over the hubzip processes' CPU time), both
relative to local, the PostgreSQL server's CPU time (the cluster's processes,
from /proc: the index work moves there), and the object-store requests per
GB ingested and per GB served, by kind, as s3rver logged them
(tests/integration/js/s3rver.mjs logs every request).

s3rver keeps objects as files and is single-threaded JavaScript: its own cost
is in the S3 numbers, which are a floor for what a real store on the same
network would give, not a measurement of one.  Without a PostgreSQL server
(/usr/lib/postgresql/*/bin/initdb) the S3 + PostgreSQL rows are left out, with
a message.  Writes build/bench/report-s3.md and report-s3.json.  Python
standard library only.  MB = 10^6 bytes.
"""
import argparse, glob, hashlib, json, os, random, re, shutil, subprocess, sys, time

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


class Postgres:
    """A private cluster under DIR/pg, as tests/integration/92_postgres.sh makes it."""

    def __init__(self, work):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                      key=lambda d: [int(x) for x in re.findall(r"\d+", d)])
        self.bin = bins[-1] if bins else None
        self.dir, self.url, self.up = os.path.join(work, "pg"), None, False
        self.run_as = []

    def available(self):
        return bool(self.bin) and os.access(os.path.join(self.bin, "initdb"), os.X_OK)

    def _pg(self, tool, *a, **kw):
        return subprocess.run(self.run_as + [os.path.join(self.bin, tool), *a], **kw)

    def start(self):
        os.makedirs(self.dir)
        if os.getuid() == 0:  # the server refuses to run as root: as the postgres user
            if subprocess.run(["id", "postgres"], capture_output=True).returncode:
                subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
            self.run_as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.dir, "postgres")
            os.chmod(os.path.dirname(self.dir), 0o755)
        data = os.path.join(self.dir, "data")
        p = self._pg("initdb", "-D", data, "-A", "trust", "-U", "hubzip", "-E", "UTF8", "--no-sync",
                     capture_output=True)
        if p.returncode:
            raise SystemExit(f"s3 bench: initdb: {p.stdout.decode()}{p.stderr.decode()}")
        # a port below the ephemeral range (32768-60999 by default), where the
        # client side of other connections may hold any port
        for _ in range(10):
            port = random.randint(12000, 31999)
            p = self._pg("pg_ctl", "-D", data, "-l", os.path.join(self.dir, "log"), "-w", "-t", "30", "start",
                         "-o", f"-p {port} -k {self.dir} -c listen_addresses=127.0.0.1",
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if p.returncode == 0:
                self.up = True
                break
        if not self.up:
            raise SystemExit(f"s3 bench: cannot start PostgreSQL: {open(os.path.join(self.dir, 'log')).read()}")
        subprocess.run([os.path.join(self.bin, "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "hubzip",
                        "bench"], check=True)
        self.url = f"postgresql://hubzip@127.0.0.1:{port}/bench"
        with open(os.path.join(data, "postmaster.pid")) as f:
            self.pid = int(f.readline())

    def cpu(self):
        """CPU seconds of the cluster so far: the postmaster, its live children,
        and the children it has reaped (one backend per hubzip connection)."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for st in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(st) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid = int(st.split("/")[2])
            # fields from the state on: state=0, ppid=1, utime=11, stime=12, cutime=13, cstime=14
            if pid == self.pid:
                total += sum(int(x) for x in fields[11:15])
            elif int(fields[1]) == self.pid:
                total += int(fields[11]) + int(fields[12])
        return total / tick

    def stop(self):
        if self.up:
            self._pg("pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "fast", "stop",
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.up = False


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
        self.name, self.wall, self.cpu, self.bytes, self.server_cpu = name, 0.0, 0.0, 0, None

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

    def per_core(self):
        return self.bytes / MB / self.cpu if self.cpu else 0.0


def run_store(args, label, blobs, repos, sizes, originals, logf, pg=None):
    store = os.path.join(args.work, label)
    hz = [args.hubzip, "--store", store] + (["--blobs", blobs] if blobs else []) + \
        (["--index", pg.url] if pg else [])
    subprocess.run(hz + ["init"], check=True, stdout=subprocess.DEVNULL)
    res, counts = {}, {}
    for phase in ("ingest", "restore", "cat"):
        if logf:
            open(logf, "w").close()
        ph = Phase(phase)
        pg0 = pg.cpu() if pg else None
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
        if pg:
            ph.server_cpu = pg.cpu() - pg0
        res[phase] = ph
        if logf:
            counts[phase] = kinds(logf)
        log(f"{label} {phase}: {ph.bytes / MB:.1f} MB in {ph.wall:.2f}s ({ph.mbs():.1f} MB/s), "
            f"CPU {ph.cpu:.2f}s" + (f", PostgreSQL CPU {ph.server_cpu:.2f}s" if pg else ""))
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
    pg = Postgres(args.work)
    configs = [("local", "local"), ("s3", "S3 + SQLite")]
    res, counts, stats = {}, {}, {}
    try:
        res["local"], _, stats["local"] = run_store(args, "local", None, repos, sizes, originals, None)
        res["s3"], counts["s3"], stats["s3"] = run_store(args, "s3", f"s3://bench/hubzip?endpoint={endpoint}",
                                                         repos, sizes, originals, logf)
        if pg.available():
            pg.start()
            configs.append(("s3pg", "S3 + PostgreSQL"))
            res["s3pg"], counts["s3pg"], stats["s3pg"] = run_store(
                args, "s3pg", f"s3://bench/hubzip-pg?endpoint={endpoint}", repos, sizes, originals, logf, pg)
        else:
            log("S3 + PostgreSQL SKIPPED: no /usr/lib/postgresql/*/bin/initdb (deploy/install-deps.sh --test)")
    finally:
        pg.stop()
        srv.terminate()
        srv.wait()
    rows = []
    for phase in ("ingest", "restore", "cat"):
        lp = res["local"][phase]
        for key, name in configs:
            ph = res[key][phase]
            row = {"phase": phase, "config": name, "bytes": ph.bytes, "wall_s": round(ph.wall, 2),
                   "mb_s": round(ph.mbs(), 1), "mb_s_vs_local": round(ph.mbs() / lp.mbs(), 3) if lp.mbs() else None,
                   "cpu_s": round(ph.cpu, 2), "mb_s_per_core": round(ph.per_core(), 1),
                   "per_core_vs_local": round(ph.per_core() / lp.per_core(), 3) if lp.per_core() else None,
                   "postgres_cpu_s": None if ph.server_cpu is None else round(ph.server_cpu, 2)}
            if key in counts:
                n = sum(counts[key][phase].values())
                row.update({"requests": n, "requests_per_gb": round(n / (ph.bytes / 1e9), 1),
                            "by_kind": counts[key][phase],
                            "by_kind_per_gb": {k: round(v / (ph.bytes / 1e9), 1)
                                               for k, v in counts[key][phase].items()}})
            rows.append(row)
    packs = "; ".join(f"{name} {stats[key]['counts']['packs']} ({stats[key]['counts']['pack_bytes']} B)"
                      for key, name in configs)
    lines = [f"# hubzip bench: S3 and PostgreSQL backends vs local "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"- corpus: `{args.corpus}` ({len(repos)} repos, {total / MB:.1f} MB); S3: @20minutes/s3rver "
             f"{S3RVER} on loopback (a floor: its own cost is in the S3 times)"
             + (f"; PostgreSQL: {os.path.basename(os.path.dirname(pg.bin))}, private cluster on loopback, "
                "server defaults (fsync on)" if ("s3pg", "S3 + PostgreSQL") in configs else
                "; S3 + PostgreSQL skipped (no PostgreSQL server)"),
             f"- packs: {packs}",
             "- MB/s per core: MB over the CPU seconds of the hubzip processes; the PostgreSQL server's CPU "
             "is apart, in its own column", "",
             "| phase | MB | configuration | MB/s | vs local | MB/s per core | vs local | CPU s hubzip | "
             "CPU s PostgreSQL | requests per GB | by kind, per GB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        kinds_txt = ", ".join(f"{k} {v:g}" for k, v in sorted(r.get("by_kind_per_gb", {}).items())) or "-"
        pgc = "-" if r["postgres_cpu_s"] is None else r["postgres_cpu_s"]
        lines.append(f"| {r['phase']} | {r['bytes'] / MB:.1f} | {r['config']} | {r['mb_s']} | {r['mb_s_vs_local']} | "
                     f"{r['mb_s_per_core']} | {r['per_core_vs_local']} | {r['cpu_s']} | {pgc} | "
                     f"{r.get('requests_per_gb', '-')} | {kinds_txt} |")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "report-s3.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "report-s3.json"), "w") as f:
        json.dump({"corpus": args.corpus, "bytes": total, "rows": rows,
                   "packs": {key: stats[key]["counts"] for key, _ in configs}}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
