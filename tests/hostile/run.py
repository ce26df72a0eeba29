#!/usr/bin/env python3
"""Runs the hostile-input catalogue (tests/hostile/catalogue.jsonl, described
in tests/hostile/README.md) against the hubzip CLI and a running daemon.

  run.py --url http://127.0.0.1:PORT --hubzip BIN --store DIR CATALOGUE

Every HTTP request goes over a raw socket, byte for byte as the catalogue
says (http.client would refuse or repair most of them).  Prints one line
per entry and exits 1 if any entry did not get its expected answer.
Placeholders in strings: {NAME} from --var NAME=VALUE (and the environment
variables HOSTILE_<NAME>); "{#NAME}" with its quotes, in a JSON body, is the
bare value (a number); {rep:TEXT:N} is TEXT N times.  Strings are sent
as Latin-1: "\\u00ff" is the byte 0xff.
"""
import argparse
import base64
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

REP = re.compile(r"\{rep:(.*?):(\d+)\}", re.S)


class Ctx:
    def __init__(self, args):
        u = urllib.parse.urlsplit(args.url)
        self.host, self.port = u.hostname, u.port
        self.hubzip, self.store = args.hubzip, args.store
        self.vars = {k[8:]: v for k, v in os.environ.items() if k.startswith("HOSTILE_")}
        for kv in args.var:
            k, v = kv.split("=", 1)
            self.vars[k] = v
        self.tokens = {"admin": self.vars.get("ADMIN"), "read": self.vars.get("READ"),
                       "other": self.vars.get("OTHER"), "acme": self.vars.get("ACME")}

    def expand(self, s):
        s = REP.sub(lambda m: m.group(1) * int(m.group(2)), s)
        for k, v in self.vars.items():
            s = s.replace('"{#' + k + '}"', v)  # a number inside JSON
            s = s.replace("{" + k + "}", v)
        return s


def latin1(s):
    return s.encode("latin-1")


class Resp:
    def __init__(self):
        self.status = None
        self.headers = {}
        self.body = b""
        self.closed = False      # the server closed the connection
        self.raw = b""


def read_response(sock, timeout, head=False):
    """Reads one response and then waits for EOF (every request says
    Connection: close, or is something the server must close on)."""
    r = Resp()
    sock.settimeout(timeout)
    buf = b""
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            b = sock.recv(65536)
            if not b:
                r.closed = True
                break
            buf += b
    except (socket.timeout, TimeoutError):
        pass
    except ConnectionResetError:
        r.closed = True
    r.raw = buf
    if not buf:
        return r
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return r
    lines = buf[:head_end].split(b"\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        return r
    r.status = int(m.group(1))
    for ln in lines[1:]:
        if b":" in ln:
            k, v = ln.split(b":", 1)
            r.headers.setdefault(k.strip().lower().decode("latin-1"),
                                 v.strip().decode("latin-1"))
    body = buf[head_end + 4:]
    n = r.headers.get("content-length")
    if not head and n is not None and n.isdigit():
        body = body[:int(n)]
    r.body = body
    return r


def exchange(ctx, data, timeout=10.0, head=False):
    s = socket.create_connection((ctx.host, ctx.port), timeout=timeout)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may refuse before reading it all
    try:
        return read_response(s, timeout, head)
    finally:
        s.close()


def build_request(ctx, e):
    method = ctx.expand(e.get("method", "GET"))
    path = ctx.expand(e["path"])
    hdrs = [("Host", f"{ctx.host}:{ctx.port}")]
    tok = ctx.tokens.get(e.get("auth", ""))
    if e.get("auth") and not tok:
        raise ValueError(f"no token for auth {e['auth']!r}")
    if tok:
        hdrs.append(("Authorization", "Bearer " + tok))
    for k, v in e.get("headers", {}).items():
        hdrs.append((k, ctx.expand(v)))
    body = None
    if "body" in e:
        body = latin1(ctx.expand(e["body"]))
    elif "json_body" in e:
        body = ctx.expand(json.dumps(e["json_body"])).encode()
    elif "ndjson" in e:
        lines = [ln if isinstance(ln, str) else json.dumps(ln) for ln in e["ndjson"]]
        body = latin1(ctx.expand("\n".join(lines) + "\n"))
    elif "body_file" in e:
        with open(ctx.expand(e["body_file"]), "rb") as f:
            body = f.read()
    if "body_b64_of_file" in e:  # an NDJSON "file" op of a file's bytes
        with open(ctx.expand(e["body_b64_of_file"]), "rb") as f:
            b64 = base64.b64encode(f.read()).decode()
        body = latin1(ctx.expand(e["ndjson_template"]).replace("{B64}", b64) + "\n")
    names = {k.lower() for k, _ in hdrs}
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        hdrs.append(("Content-Length", str(len(body))))
    if "connection" not in names:
        hdrs.append(("Connection", "close"))
    req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n"
    return latin1(req) + (body or b""), method == "HEAD"


def dig(v, path):
    for p in path.split("."):
        if isinstance(v, list):
            v = v[int(p)] if p.isdigit() and int(p) < len(v) else None
        elif isinstance(v, dict):
            v = v.get(p)
        else:
            return None
    return v


def check_response(e, r, file_size):
    """What is wrong with r for entry e, or None."""
    want = e.get("status")
    if want is None:
        if r.status is not None:
            return f"expected no response, got {r.status}"
        if e.get("closed", True) and not r.closed:
            return "the connection was not closed"
        return None
    if r.status != want:
        return f"status {r.status}, expected {want} ({r.raw[:160]!r})"
    if e.get("closed") and not r.closed:
        return "the connection was not closed"
    if e.get("mhd"):  # libmicrohttpd's own answer: an HTML body
        return None
    body_json = None
    try:
        body_json = json.loads(r.body) if r.body else None
    except ValueError:
        pass
    if want >= 400 and not (r.headers.get("x-error-code") and isinstance(body_json, dict)
                            and "error" in body_json):
        return f"not a JSON error with X-Error-Code: {r.headers} {r.body[:160]!r}"
    if "code" in e and r.headers.get("x-error-code") != e["code"]:
        return f"X-Error-Code {r.headers.get('x-error-code')!r}, expected {e['code']!r}"
    if "match" in e and not re.search(e["match"], r.body.decode("utf-8", "replace")):
        return f"body {r.body[:200]!r} does not match /{e['match']}/"
    for path, v in e.get("json", {}).items():
        if dig(body_json, path) != v:
            return f"{path} is {dig(body_json, path)!r}, expected {v!r}"
    if e.get("whole_file"):
        if r.headers.get("content-length") != str(file_size) or len(r.body) != file_size:
            return (f"not the whole file: Content-Length {r.headers.get('content-length')},"
                    f" {len(r.body)} bytes, file {file_size}")
        if "content-range" in r.headers:
            return "a Content-Range on a whole file"
    return None


def run_cli(ctx, e):
    args = [ctx.hubzip, "--store", ctx.store] + [ctx.expand(a) for a in e["args"]]
    p = subprocess.run(args, capture_output=True, timeout=60)
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode != e.get("exit", 1):
        return f"exit {p.returncode}, expected {e.get('exit', 1)} ({err.strip()[:200]})"
    if "stderr" in e and not re.search(e["stderr"], err):
        return f"stderr {err.strip()[:300]!r} does not match /{e['stderr']}/"
    return None


def health_latency(ctx):
    t0 = time.time()
    r = exchange(ctx, latin1(f"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n"
                             "Connection: close\r\n\r\n"), timeout=5)
    return (time.time() - t0) if r.status == 200 else None


def run_slow(ctx, e):
    """Connections that trickle `send` a byte every `interval` s (or send
    nothing): the server must cut every one within `cut_within` s, and
    answer other clients meanwhile."""
    n = e.get("connections", 1)
    data = latin1(ctx.expand(e.get("send", "")))
    interval = e.get("interval", 0.25)
    cut_within = e["cut_within"]
    results = [None] * n

    def one(i):
        s = socket.create_connection((ctx.host, ctx.port), timeout=cut_within + 5)
        t0 = time.time()
        s.settimeout(interval)
        k = 0
        try:
            while time.time() - t0 < cut_within + 5:
                if k < len(data):
                    s.send(data[k:k + 1])
                    k += 1
                try:
                    b = s.recv(4096)
                    if not b:
                        results[i] = ("closed", time.time() - t0, k)
                        return
                    results[i] = ("answered", time.time() - t0, b[:80])
                    return
                except (socket.timeout, TimeoutError):
                    pass
        except (BrokenPipeError, ConnectionResetError):
            results[i] = ("closed", time.time() - t0, k)
            return
        finally:
            s.close()
        results[i] = ("still open", time.time() - t0, k)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    slowest = 0.0
    while any(t.is_alive() for t in threads):
        lat = health_latency(ctx)
        if lat is None:
            return "another client was not served while slow connections were open"
        slowest = max(slowest, lat)
        time.sleep(0.3)
    for t in threads:
        t.join()
    bad = [r for r in results if not r or r[0] != "closed" or r[1] > cut_within]
    if bad:
        return f"{len(bad)} of {n} connections not cut within {cut_within} s: {bad[:3]}"
    if slowest > e.get("others_within", 1.0):
        return f"another client waited {slowest:.2f} s"
    cut = max(r[1] for r in results)
    return None if not e.get("report") else f"#ok cut after {cut:.1f} s, others within {slowest * 1e3:.0f} ms"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--hubzip", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--var", action="append", default=[])
    ap.add_argument("--only", help="run only entries whose id matches this regex")
    ap.add_argument("catalogue")
    args = ap.parse_args()
    ctx = Ctx(args)
    file_size = int(ctx.vars.get("SIZE", "0"))
    entries = []
    with open(args.catalogue) as f:
        for lineno, line in enumerate(f, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                e = json.loads(line)
                e["_line"] = lineno
                entries.append(e)
    ids = [e["id"] for e in entries]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        print(f"duplicate ids: {sorted(dup)}")
        return 1
    failed = 0
    kinds = {}
    for e in entries:
        if args.only and not re.search(args.only, e["id"]):
            continue
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
        t0 = time.time()
        try:
            if e["kind"] == "cli":
                err = run_cli(ctx, e)
                got = ""
            elif e["kind"] in ("http", "raw"):
                if e["kind"] == "raw":
                    data, head = latin1(ctx.expand(e["send"])), False
                else:
                    data, head = build_request(ctx, e)
                r = exchange(ctx, data, timeout=e.get("timeout", 10.0), head=head)
                err = check_response(e, r, file_size)
                got = f"{r.status} {r.headers.get('x-error-code', '')}".strip()
            elif e["kind"] == "slow":
                err = run_slow(ctx, e)
                got = ""
                if err and err.startswith("#ok "):
                    got, err = err[4:], None
            else:
                err = f"unknown kind {e['kind']!r}"
        except Exception as x:  # a failed entry, not a failed run
            err = f"{type(x).__name__}: {x}"
        dt = time.time() - t0
        if err:
            failed += 1
            print(f"FAIL {e['id']} (line {e['_line']}): {err}")
        else:
            print(f"ok   {e['id']:<34} {got:<28} {dt * 1e3:7.0f} ms")
    total = sum(kinds.values())
    print(f"{total} entries ({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}),"
          f" {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
