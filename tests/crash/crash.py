#!/usr/bin/env python3
"""Crash safety: SIGKILL `hubzip serve` under concurrent uploads, downloads,
repo deletions and garbage collection, restart it, and check what survives.

Each cycle starts the daemon (random loopback port, the same store every
cycle, gc every second), runs for a random time:

  - uploaders, each to a new branch per upload (so a revision's tree is
    exactly the files of one upload): native PUT of one file, multipart
    commits of 2-3 files, and the hub's way (LFS batch, PUTs of the signed
    URLs, NDJSON commit with lfsFile and inline file lines); some go to
    scratch repos that a deleter removes and creates again;
  - LFS PUTs that no commit takes (pending objects gc must reclaim);
  - downloaders of acknowledged revisions (a complete 200 must hash right);
  - `hubzip gc` runs (besides the daemon's own gc thread),

then SIGKILLs the daemon (and a `hubzip gc` in flight), restarts it and
checks:

  1. every acknowledged revision (a 2xx with its commit id) of a repo that
     was not deleted has exactly the uploaded files, and each restores
     byte for byte through the daemon and with `hubzip restore`;
  2. nothing unacknowledged is visible, with the one rule a crash allows:
     an upload whose 2xx was lost in flight may have committed, and then
     its revision must be whole (its branch holds exactly the files of
     that upload, each restoring byte for byte).  A branch that no upload
     was made to, or a revision with a missing, extra or damaged file, is
     a failure;
  3. `hubzip fsck` is clean;
  4. `hubzip gc --lfs-pending-age 0` reclaims every orphan: afterwards
     objects/tmp holds no pack, pins or spool file, every pack file is
     named by the index and every indexed pack exists, no pending LFS
     object is left, and the dead bytes `hubzip stats` reports are exactly
     those of the index and the disk (pack bytes - headers - live blocks),
     all of them inside packs that still hold live blocks (a concurrent
     duplicate of an object: the loser's copy stays inside its pack).

Python 3 standard library only.  Exit status 0 when every check passed;
the summary (and --json FILE) says how many cycles, revisions and files
were verified, what gc reclaimed, and every failure.
"""
import argparse
import base64
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from array import array

TIMEOUT = 60


class Fatal(Exception):
    pass


def sha256(b):
    return hashlib.sha256(b).hexdigest()


# ---- content -----------------------------------------------------------------

def safetensors(tensors):
    """tensors: [(name, array('f'), shape)] -> bytes of a safetensors file."""
    hdr, off, blobs = {}, 0, []
    for name, a, shape in tensors:
        b = a.tobytes()
        hdr[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def make_pool(rng, corpus):
    """(path, bytes) candidates: corpus files and generated models with
    fine-tunes of them (which the store codes as deltas)."""
    pool = []
    if corpus and os.path.isdir(corpus):
        for root, _, files in os.walk(corpus):
            for f in sorted(files):
                p = os.path.join(root, f)
                if f.endswith((".safetensors", ".json", ".md")) and os.path.getsize(p) <= (3 << 20):
                    with open(p, "rb") as fh:
                        pool.append((f, fh.read()))
    for k in range(4):
        names = ["layer%d.weight" % i for i in range(4)]
        base = []
        for n in names:
            a = array("f", (rng.gauss(0, 0.02) for _ in range(32768)))
            base.append((n, a, [128, 256]))
        pool.append(("model.safetensors", safetensors(base)))
        for v in range(3):
            ft = []
            for n, a, shape in base:
                b = array("f", a)
                for i in range(0, len(b), 7):
                    b[i] += rng.gauss(0, 0.001)
                ft.append((n, b, shape))
            pool.append(("model.safetensors", safetensors(ft)))
    return pool


def fresh_file(rng, big=False):
    """A file nobody uploaded before: new bytes, new objects; a big one
    (1-6 MiB) keeps a session writing its pack for a while."""
    n = rng.randrange(1 << 20, 6 << 20) if big else rng.randrange(1, 200_000)
    return ("notes-%08x.bin" % rng.getrandbits(32), rng.randbytes(n))


# ---- HTTP ----------------------------------------------------------------------

class Http:
    def __init__(self, url, token):
        u = urllib.parse.urlparse(url)
        self.host, self.port, self.token = u.hostname, u.port, token

    def req(self, method, path, body=None, headers=None, auth=True):
        """(status, headers dict, body bytes); raises OSError/HTTPException
        when the connection fails."""
        h = dict(headers or {})
        if auth and self.token:
            h["Authorization"] = "Bearer " + self.token
        c = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()


def q(s):
    return urllib.parse.quote(s, safe="/")


# ---- the daemon -------------------------------------------------------------------

class Daemon:
    def __init__(self, hubzip, store, logdir):
        self.hubzip, self.store, self.logdir = hubzip, store, logdir
        self.proc, self.url, self.starts = None, None, 0

    def start(self):
        self.starts += 1
        out = os.path.join(self.logdir, "serve-%d.out" % self.starts)
        err = os.path.join(self.logdir, "serve-%d.log" % self.starts)
        self.proc = subprocess.Popen(
            [self.hubzip, "--store", self.store, "serve", "--listen", "127.0.0.1:0",
             "--gc-interval", "1", "--max-uploads", "16", "--threads", "4"],
            stdout=open(out, "w"), stderr=open(err, "w"))
        for _ in range(300):
            with open(out) as f:
                for line in f:
                    if line.startswith("hubzip: serving"):
                        self.url = line.split(" at ")[1].strip().rstrip("/")
            if self.url:
                break
            if self.proc.poll() is not None:
                raise Fatal("the daemon did not start: %s" % open(err).read()[-2000:])
            time.sleep(0.05)
        else:
            raise Fatal("the daemon did not start in time")
        u = urllib.parse.urlparse(self.url)
        for _ in range(100):
            try:
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
                c.request("GET", "/api/v1/health")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise Fatal("the daemon does not answer")

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.url = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        self.url = None


# ---- the run ----------------------------------------------------------------------

class State:
    """What the clients did and were told, across cycles."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attempts = {}  # (repo, branch) -> {"files": {path: sha}, "commit": id|None, "kind"}
        self.pending_oids = set()  # LFS objects PUT (acknowledged) without a commit
        self.deleted = set()  # scratch repos deleted at some point
        self.unacked_seen = set()  # (repo, branch) visible without a 2xx
        self.failures = []
        self.counts = dict(acked=0, attempts=0, unacked_visible=0, verified_revisions=0,
                           verified_files_daemon=0, verified_files_cli=0, downloads_ok=0,
                           downloads_cut=0, orphan_packs=0, orphans_tmp=0, orphans_unnamed=0,
                           orphan_pins=0, lfs_pending=0, lfs_not_found=0,
                           dead_bytes=0, cli_gc_runs=0, deletes=0)

    def fail(self, msg):
        with self.lock:
            self.failures.append(msg)
        print("FAIL:", msg, file=sys.stderr, flush=True)

    def count(self, k, n=1):
        with self.lock:
            self.counts[k] += n


TRACKED = ["crash/native", "crash/multi", "crash/hub"]
SCRATCH = ["crash/scratch0", "crash/scratch1"]


class Cycle:
    def __init__(self, run, n):
        self.run, self.n = run, n
        self.st = run.state
        self.rng = random.Random(run.seed * 1000003 + n)
        self.stop = threading.Event()
        self.seq = 0
        self.seq_lock = threading.Lock()

    def branch(self, kind):
        with self.seq_lock:
            self.seq += 1
            return "c%d-%s-%d" % (self.n, kind, self.seq)

    def pick_files(self, rng, k):
        files = {}
        while len(files) < k:
            r = rng.random()
            if r < 0.3:
                name, data = fresh_file(rng, r < 0.08)
            else:
                name, data = rng.choice(self.run.pool)
            path = "d%d/%s" % (len(files), name)
            files[path] = data
        return files

    def record(self, repo, branch, files, kind):
        with self.st.lock:
            self.st.attempts[(repo, branch)] = {
                "files": {p: sha256(d) for p, d in files.items()},
                "sizes": {p: len(d) for p, d in files.items()},
                "commit": None, "kind": kind, "cycle": self.n}
            self.st.counts["attempts"] += 1

    def ack(self, repo, branch, commit):
        with self.st.lock:
            self.st.attempts[(repo, branch)]["commit"] = commit
            self.st.counts["acked"] += 1

    # -- uploaders

    def up_native(self, h, rng, repo):
        files = self.pick_files(rng, 1)
        (path, data), = files.items()
        b = self.branch("put")
        self.record(repo, b, files, "put")
        s, _, body = h.req("PUT", "/api/v1/repos/%s/files/%s/%s" % (repo, b, q(path)), data,
                           {"X-Content-SHA256": sha256(data)})
        if s == 201:
            self.ack(repo, b, json.loads(body)["commit"])
        elif s not in (404, 503, 507):
            self.st.fail("PUT %s@%s: %d %s" % (repo, b, s, body[:200]))

    def up_multipart(self, h, rng, repo):
        files = self.pick_files(rng, rng.randrange(2, 4))
        b = self.branch("mp")
        self.record(repo, b, files, "multipart")
        bound = "crash%016x" % rng.getrandbits(64)
        parts = []
        for path, data in files.items():
            parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"f\"\r\n"
                          "Content-Type: application/octet-stream\r\n\r\n" % (bound, path)).encode()
                         + data + b"\r\n")
        parts.append(("--%s\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\ncycle %d\r\n"
                      % (bound, self.n)).encode())
        body = b"".join(parts) + ("--%s--\r\n" % bound).encode()
        s, _, rb = h.req("POST", "/api/v1/repos/%s/commit/%s" % (repo, b), body,
                         {"Content-Type": "multipart/form-data; boundary=" + bound})
        if s == 201:
            self.ack(repo, b, json.loads(rb)["commit"])
        elif s not in (404, 503, 507):
            self.st.fail("multipart %s@%s: %d %s" % (repo, b, s, rb[:200]))

    def lfs_put(self, h, repo, files):
        """LFS batch and the PUTs it asks for; False if the server refused."""
        objs = [{"oid": sha256(d), "size": len(d)} for d in files.values() if d]
        if not objs:
            return True
        s, _, rb = h.req("POST", "/%s.git/info/lfs/objects/batch" % repo,
                         json.dumps({"operation": "upload", "objects": objs}),
                         {"Content-Type": "application/vnd.git-lfs+json",
                          "Accept": "application/vnd.git-lfs+json"})
        if s != 200:
            if s not in (404, 503):
                self.st.fail("LFS batch %s: %d %s" % (repo, s, rb[:200]))
            return False
        by_oid = {sha256(d): d for d in files.values()}
        for o in json.loads(rb)["objects"]:
            up = (o.get("actions") or {}).get("upload")
            if not up:
                continue
            u = urllib.parse.urlparse(up["href"])
            s, _, pb = h.req("PUT", u.path + "?" + u.query, by_oid[o["oid"]], auth=False)
            if s != 200:
                if s not in (503, 507):
                    self.st.fail("LFS PUT %s: %d %s" % (o["oid"], s, pb[:200]))
                return False
            with self.st.lock:
                self.st.pending_oids.add(o["oid"])
        return True

    def up_hub(self, h, rng, repo):
        files = self.pick_files(rng, rng.randrange(1, 4))
        inline = ("README-%d.md" % rng.getrandbits(20), b"cycle %d\n" % self.n)
        b = self.branch("hub")
        allf = dict(files)
        allf[inline[0]] = inline[1]
        self.record(repo, b, allf, "hub")
        if not self.lfs_put(h, repo, files):
            return
        lines = [json.dumps({"key": "header", "value": {"summary": "cycle %d" % self.n,
                                                          "description": ""}})]
        for path, data in files.items():
            lines.append(json.dumps({"key": "lfsFile", "value": {
                "path": path, "algo": "sha256", "oid": sha256(data), "size": len(data)}}))
        lines.append(json.dumps({"key": "file", "value": {
            "path": inline[0], "content": base64.b64encode(inline[1]).decode(),
            "encoding": "base64"}}))
        s, hd, rb = h.req("POST", "/api/models/%s/commit/%s" % (repo, b),
                          "\n".join(lines) + "\n", {"Content-Type": "application/x-ndjson"})
        if s == 200:
            self.ack(repo, b, json.loads(rb)["commitOid"])
        elif s == 422 and hd.get("x-error-code") == "LfsObjectNotFound" and self.gc_took(files):
            self.st.count("lfs_not_found")  # the batch's "stored" went to gc since
        elif s not in (404, 503, 507):
            self.st.fail("NDJSON commit %s@%s: %d %s" % (repo, b, s, rb[:200]))

    def gc_took(self, files):
        """Whether a file the batch may have offered as stored (content a
        scratch repo held, which the deleter removes) is one of these."""
        with self.st.lock:
            scratch = set()
            for (r, _), a in self.st.attempts.items():
                if r in SCRATCH:
                    scratch.update(a["files"].values())
        return any(sha256(d) in scratch for d in files.values())

    def up_lfs_only(self, h, rng, repo):
        """LFS PUTs no commit takes: pending objects for gc."""
        self.lfs_put(h, repo, dict([fresh_file(rng)]))

    def uploader(self, k):
        rng = random.Random(self.rng.getrandbits(64))
        h = Http(self.run.daemon.url, self.run.token)
        kinds = [self.up_native, self.up_multipart, self.up_hub]
        while not self.stop.is_set():
            try:
                repo = rng.choice(SCRATCH) if rng.random() < 0.25 else TRACKED[k % 3]
                if rng.random() < 0.1:
                    self.up_lfs_only(h, rng, repo)
                else:
                    kinds[k % 3 if repo in TRACKED else rng.randrange(3)](h, rng, repo)
            except (OSError, http.client.HTTPException):
                return  # the daemon is gone

    # -- downloaders, deleter, gc

    def downloader(self):
        rng = random.Random(self.rng.getrandbits(64))
        h = Http(self.run.daemon.url, None)
        while not self.stop.is_set():
            with self.st.lock:
                acked = [(k, a) for k, a in self.st.attempts.items()
                         if a["commit"] and k[0] in TRACKED]
            if not acked:
                time.sleep(0.02)
                continue
            (repo, _), a = rng.choice(acked)
            path = rng.choice(sorted(a["files"]))
            try:
                s, hd, body = h.req("GET", "/%s/resolve/%s/%s" % (repo, a["commit"], q(path)))
            except (OSError, http.client.HTTPException):
                self.st.count("downloads_cut")
                continue
            if s == 200 and len(body) == a["sizes"][path]:
                if sha256(body) != a["files"][path]:
                    self.st.fail("download %s@%s:%s: 200 with the wrong bytes"
                                 % (repo, a["commit"], path))
                self.st.count("downloads_ok")
            elif s not in (503,):
                self.st.fail("download %s@%s:%s: %d" % (repo, a["commit"], path, s))

    def deleter(self):
        rng = random.Random(self.rng.getrandbits(64))
        h = Http(self.run.daemon.url, self.run.token)
        while not self.stop.wait(rng.uniform(0.2, 0.6)):
            repo = rng.choice(SCRATCH)
            try:
                s, _, _ = h.req("DELETE", "/api/v1/repos/" + repo)
                if s == 200:
                    with self.st.lock:
                        self.st.deleted.add(repo)
                        self.st.counts["deletes"] += 1
                h.req("POST", "/api/v1/repos", json.dumps({"repo": repo}),
                      {"Content-Type": "application/json"})
            except (OSError, http.client.HTTPException):
                return

    def cli_gc(self):
        """`hubzip gc` now and then, as an operator's cron would."""
        rng = random.Random(self.rng.getrandbits(64))
        while not self.stop.wait(rng.uniform(0.3, 0.8)):
            p = subprocess.Popen([self.run.hubzip, "--store", self.run.store, "gc"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.run.gc_proc = p
            _, err = p.communicate()
            self.run.gc_proc = None
            if p.returncode == 0:
                self.st.count("cli_gc_runs")
            elif p.returncode != -signal.SIGKILL:
                self.st.fail("hubzip gc during the run: %s" % err.decode()[-300:])

    # -- one cycle

    def go(self):
        d = self.run.daemon
        d.start()
        threads = [threading.Thread(target=self.uploader, args=(k,)) for k in range(4)]
        threads += [threading.Thread(target=self.downloader) for _ in range(2)]
        threads += [threading.Thread(target=self.deleter), threading.Thread(target=self.cli_gc)]
        for t in threads:
            t.start()
        time.sleep(self.rng.uniform(self.run.min_delay, self.run.max_delay))
        gc = self.run.gc_proc
        d.kill9()
        if gc and self.rng.random() < 0.5:  # sometimes a gc dies with it
            try:
                gc.kill()
            except OSError:
                pass
        self.stop.set()
        for t in threads:
            t.join(TIMEOUT)
            if t.is_alive():
                raise Fatal("a client thread hangs after the kill")
        count_orphans(self)
        d.start()
        self.verify()
        d.stop()


class Run:
    def __init__(self, args):
        self.hubzip = os.path.abspath(args.hubzip)
        self.seed = args.seed
        self.min_delay, self.max_delay = args.min_delay, args.max_delay
        self.dir = tempfile.mkdtemp(prefix="hubzip-crash.")
        self.store = os.path.join(self.dir, "store")
        self.state = State()
        self.gc_proc = None
        self.pool = make_pool(random.Random(self.seed), args.corpus)
        self.hz("init")
        self.token = self.hz("token", "create", "crash", "--scope", "write").strip()
        self.daemon = Daemon(self.hubzip, self.store, self.dir)
        self.daemon.start()
        h = Http(self.daemon.url, self.token)
        for r in TRACKED + SCRATCH:
            s, _, b = h.req("POST", "/api/v1/repos", json.dumps({"repo": r}),
                            {"Content-Type": "application/json"})
            if s != 201:
                raise Fatal("create %s: %d %s" % (r, s, b))
        self.daemon.stop()

    def hz(self, *args, check=True):
        p = subprocess.run([self.hubzip, "--store", self.store] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if check and p.returncode:
            raise Fatal("hubzip %s: %s" % (" ".join(args), p.stderr.decode()[-1000:]))
        return p.stdout.decode()


def verify(self):
    """Cycle.verify: the checks after a restart (see the module's head)."""
    st, run = self.st, self.run
    h = Http(run.daemon.url, run.token)
    with st.lock:
        attempts = dict(st.attempts)
        deleted = set(st.deleted)
    # what the daemon shows: every branch of every repo
    visible = {}
    for repo in TRACKED + SCRATCH:
        s, _, b = h.req("GET", "/api/v1/repos/" + repo)
        if s == 404 and repo in SCRATCH:
            continue  # killed between its deletion and its creation
        if s != 200:
            st.fail("GET repo %s after restart: %d" % (repo, s))
            continue
        for br, commit in (json.loads(b).get("branches") or {}).items():
            visible[(repo, br)] = commit
    # 1. acknowledged revisions; the new ones all, older ones sampled
    todo = []
    for key, a in attempts.items():
        if not a["commit"]:
            continue
        if key[0] in SCRATCH and (key[0] in deleted or key not in visible):
            continue  # its repo may have been deleted since
        if a["cycle"] == self.n or self.run.full or self.rng.random() < 0.05:
            todo.append((key, a["commit"], a))
        if visible.get(key) != a["commit"]:
            st.fail("acknowledged %s@%s (commit %s) is not the branch's head after the crash"
                    " (%s)" % (key[0], key[1], a["commit"], visible.get(key)))
    # 2. what is visible and was not acknowledged: whole, or a failure
    for key, commit in visible.items():
        a = attempts.get(key)
        if a is None:
            st.fail("branch %s@%s was never uploaded to" % key)
        elif not a["commit"]:
            with st.lock:
                st.unacked_seen.add(key)
                st.counts["unacked_visible"] = len(st.unacked_seen)
            todo.append((key, commit, a))
    for (repo, br), commit, a in todo:
        check_revision(self, h, repo, br, commit, a)
    # 3. fsck
    p = subprocess.run([run.hubzip, "--store", run.store, "fsck"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if p.returncode:
        st.fail("fsck after cycle %d: %s" % (self.n, p.stdout.decode()[-2000:]))
    # 4. gc reclaims every orphan
    gc_and_check(self)


def check_revision(self, h, repo, br, commit, a):
    st, run = self.st, self.run
    s, _, b = h.req("GET", "/api/v1/repos/%s/files/%s" % (repo, commit))
    if s != 200:
        st.fail("%s@%s (%s): file list %d" % (repo, br, commit, s))
        return
    got = {f["path"]: f["sha256"] for f in json.loads(b)["files"]}
    if got != a["files"]:
        st.fail("%s@%s (%s, %s): the tree is not the upload's: missing %s, extra %s, other %s"
                % (repo, br, commit, "acknowledged" if a["commit"] else "not acknowledged",
                   sorted(set(a["files"]) - set(got)), sorted(set(got) - set(a["files"])),
                   sorted(p for p in got if p in a["files"] and got[p] != a["files"][p])))
        return
    for path, want in a["files"].items():
        s, _, body = h.req("GET", "/api/v1/repos/%s/files/%s/%s" % (repo, commit, q(path)))
        if s != 200 or sha256(body) != want:
            st.fail("%s@%s:%s through the daemon: %d, sha256 %s" %
                    (repo, commit, path, s, sha256(body) if s == 200 else "-"))
        else:
            st.count("verified_files_daemon")
    out = os.path.join(run.dir, "restore")
    shutil.rmtree(out, ignore_errors=True)
    p = subprocess.run([run.hubzip, "--store", run.store, "restore", "%s@%s" % (repo, commit), out],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode:
        st.fail("hubzip restore %s@%s: %s" % (repo, commit, p.stdout.decode()[-500:]))
        return
    for path, want in a["files"].items():
        with open(os.path.join(out, path), "rb") as f:
            if sha256(f.read()) != want:
                st.fail("hubzip restore %s@%s:%s: wrong bytes" % (repo, commit, path))
            else:
                st.count("verified_files_cli")
    st.count("verified_revisions")


def pack_files(objects):
    """{name: size} of the pack files on disk."""
    on_disk = {}
    for root, _, files in os.walk(os.path.join(objects, "packs")):
        for f in files:
            on_disk[f[:-5] if f.endswith(".pack") else f] = os.path.getsize(os.path.join(root, f))
    return on_disk


def count_orphans(self):
    """What the crash left, before anything can clean it: packs of sessions
    that died (in tmp/, or moved into packs/ with no row yet) and pins."""
    st, run = self.st, self.run
    objects = os.path.join(run.store, "objects")
    tmp = os.listdir(os.path.join(objects, "tmp"))
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(run.store, "hubzip.db"), uri=True)
    try:
        rows = set(r[0] for r in db.execute("SELECT name FROM packs"))
    finally:
        db.close()
    st.count("orphans_tmp", sum(1 for f in tmp if f.endswith(".pack.tmp")))
    st.count("orphans_unnamed", sum(1 for n in pack_files(objects) if n not in rows))
    st.count("orphan_pins", sum(1 for f in tmp if f.endswith(".pins")))


def gc_and_check(self):
    st, run = self.st, self.run
    objects = os.path.join(run.store, "objects")
    p = subprocess.run([run.hubzip, "--store", run.store, "gc", "--lfs-pending-age", "0"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode:
        st.fail("gc after cycle %d: %s" % (self.n, p.stdout.decode()[-500:]))
        return
    out = p.stdout.decode()
    try:
        words = out.split()
        st.count("orphan_packs", int(words[words.index("orphaned") - 1]))
        st.count("lfs_pending", int(words[words.index("pending") - 1]))
    except (ValueError, IndexError):
        st.fail("gc output not understood: %s" % out)
    left = os.listdir(os.path.join(objects, "tmp"))
    if left:
        st.fail("after gc, objects/tmp still holds %s" % left[:10])
    pend = os.path.join(objects, "lfs-pending")
    if os.path.isdir(pend) and os.listdir(pend):
        st.fail("after gc --lfs-pending-age 0, lfs-pending holds %s" % os.listdir(pend)[:10])
    on_disk = pack_files(objects)
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(run.store, "hubzip.db"), uri=True)
    try:
        rows = dict(db.execute("SELECT name, size FROM packs"))
        live = dict(db.execute("SELECT p.name, coalesce(sum(b.enc_len), 0) FROM packs p"
                               " LEFT JOIN blocks b ON b.pack_id = p.id GROUP BY p.id"))
    finally:
        db.close()
    if set(on_disk) != set(rows):
        st.fail("after gc: pack files no row names %s, rows without a file %s"
                % (sorted(set(on_disk) - set(rows))[:5], sorted(set(rows) - set(on_disk))[:5]))
    empty = [n for n, b in live.items() if b == 0]
    if empty:
        st.fail("after gc: packs without a live block remain: %s" % empty[:5])
    dead = sum(on_disk.get(n, 0) - 32 - b for n, b in live.items())
    s = json.loads(run.hz("stats", "--json"))
    if s["disk"]["dead_bytes"] != dead:
        st.fail("stats' dead bytes %d, the index and the disk say %d"
                % (s["disk"]["dead_bytes"], dead))
    with st.lock:
        st.counts["dead_bytes"] = dead
        st.pending_oids.clear()


Cycle.verify = verify


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hubzip", required=True)
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--corpus", default=os.environ.get("CORPUS_MINI", "/var/tmp/mhub-corpus/mini"))
    ap.add_argument("--min-delay", type=float, default=0.3)
    ap.add_argument("--max-delay", type=float, default=2.5)
    ap.add_argument("--full", action="store_true",
                    help="re-verify every acknowledged revision every cycle, not a sample")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--json", help="write the summary there")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    t0 = time.time()
    run = Run(args)
    run.full = args.full
    print("crash: seed %d, store %s" % (args.seed, run.store), flush=True)
    try:
        for n in range(1, args.cycles + 1):
            c = Cycle(run, n)
            c.go()
            with run.state.lock:
                k = dict(run.state.counts)
            print("cycle %d: %d uploads acknowledged (%d attempted), %d revision checks,"
                  " %d unacknowledged but whole; the crashes left %d packs in tmp/, %d unnamed"
                  " packs, %d pins; %d failures"
                  % (n, k["acked"], k["attempts"], k["verified_revisions"], k["unacked_visible"],
                     k["orphans_tmp"], k["orphans_unnamed"], k["orphan_pins"],
                     len(run.state.failures)), flush=True)
        # the end: every acknowledged revision once more, through a fresh daemon
        c = Cycle(run, args.cycles + 1)
        run.full = True
        run.daemon.start()
        verify(c)
        run.daemon.stop()
    except Fatal as e:
        run.state.fail(str(e))
    finally:
        if run.daemon.proc and run.daemon.proc.poll() is None:
            run.daemon.stop()
    st = run.state
    summary = dict(st.counts, cycles=args.cycles, seed=args.seed, seconds=round(time.time() - t0, 1),
                   failures=st.failures)
    print("crash: %d cycles in %.0f s, seed %d: %d uploads acknowledged of %d attempted,"
          " %d revision checks (%d files through the daemon, %d with hubzip restore),"
          " %d unacknowledged revisions visible and whole, %d downloads verified during the runs;"
          " the crashes left %d session packs in tmp/, %d unnamed packs and %d pins for gc"
          " (check 4), and %d pending LFS objects gc --lfs-pending-age 0 took; %d repo"
          " deletions, %d concurrent hubzip gc runs, %d lfsFile commits refused because a"
          " concurrent gc took the stored file the batch had offered; %d failures"
          % (args.cycles, summary["seconds"], args.seed, st.counts["acked"], st.counts["attempts"],
             st.counts["verified_revisions"], st.counts["verified_files_daemon"],
             st.counts["verified_files_cli"], st.counts["unacked_visible"],
             st.counts["downloads_ok"], st.counts["orphans_tmp"], st.counts["orphans_unnamed"],
             st.counts["orphan_pins"], st.counts["lfs_pending"], st.counts["deletes"],
             st.counts["cli_gc_runs"], st.counts["lfs_not_found"], len(st.failures)), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    if args.keep or st.failures:
        print("crash: kept %s" % run.dir)
    else:
        shutil.rmtree(run.dir, ignore_errors=True)
    sys.exit(1 if st.failures else 0)


if __name__ == "__main__":
    main()
