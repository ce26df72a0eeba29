#!/usr/bin/env python3
"""Drives headless Chromium over the DevTools protocol for 88_dashboard.sh.

Chromium is started with --remote-debugging-pipe: commands go in on its
fd 3 and answers and events come out on its fd 4, as NUL-terminated JSON,
so the standard library is enough (no websocket module).  Every console
error, uncaught exception, failed load, HTTP error status and
Content-Security-Policy violation of the page is recorded.

Usage: dashboard.py --out REPORT.json [--chromium PATH] STEP...
Steps run in order:
  open:URL          open URL in a 1440x900 viewport (light colour scheme)
  wait:JS           poll until the expression is truthy (--timeout seconds)
  eval:NAME=JS      evaluate (promises awaited); the JSON result is kept under NAME
  shot:PATH         screenshot of the viewport
  full:PATH         screenshot of the whole page
  dark / light      prefers-color-scheme for what follows
  size:WxH          the viewport's size
  run:CMD           run a shell command (e.g. an ingest while the page is open)
The report is {"errors": [...], "values": {NAME: value}, "ok": bool}; the
exit status is 0 unless a step could not run (a wait that timed out, a
crashed browser): the caller judges the errors and values.
"""
import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self, exe, log_path):
        self.tmp = tempfile.mkdtemp(prefix="hubzip-chromium.")
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()

        def child_fds():
            # fds 3 and 4 of the child; dup high first so that neither
            # source is clobbered and both lose close-on-exec
            a = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(res_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--remote-debugging-pipe", "--user-data-dir=" + self.tmp,
             "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-sync",
             "--disable-background-networking", "--disable-component-update",
             "--hide-scrollbars", "--window-size=1440,900", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            close_fds=False, preexec_fn=child_fds)
        os.close(cmd_r)
        os.close(res_w)
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def _read_one(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from chromium")
            r, _, _ = select.select([self.res_r], [], [], left)
            if not r:
                continue
            chunk = os.read(self.res_r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed its pipe (crashed?)")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=True, timeout=30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self.cmd_w, data)
            data = data[n:]
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_one(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def pump(self, seconds):
        """Collects events for up to `seconds`."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._read_one(deadline))
        except TimeoutError:
            pass

    def close(self):
        try:
            self.call("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def describe_errors(events):
    """The page's errors among the protocol events, as lines of text."""
    out = []
    for e in events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            ex = d.get("exception", {})
            out.append("exception: %s (%s:%s)" % (ex.get("description") or d.get("text"),
                                                   d.get("url", ""), d.get("lineNumber", "")))
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            out.append("console.%s: %s" % (p.get("type"), args))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            en = p["entry"]
            out.append("log (%s): %s %s" % (en.get("source"), en.get("text"), en.get("url", "")))
        elif m == "Network.loadingFailed" and not p.get("canceled"):
            out.append("load failed: %s %s" % (p.get("errorText"), p.get("blockedReason", "")))
        elif m == "Network.responseReceived":
            r = p.get("response", {})
            if r.get("status", 0) >= 400:
                out.append("HTTP %s: %s" % (r.get("status"), r.get("url")))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "chromium"))
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("steps", nargs="+")
    a = ap.parse_args()

    values, errors, status = {}, [], 0
    b = Browser(a.chromium, a.out + ".chromium.log")
    try:
        tid = b.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        b.session = b.call("Target.attachToTarget", {"targetId": tid, "flatten": True},
                           session=False)["sessionId"]
        for dom in ("Runtime", "Log", "Network", "Page"):
            b.call(dom + ".enable")
        width, height = 1440, 900
        b.call("Emulation.setDeviceMetricsOverride",
               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        b.call("Emulation.setEmulatedMedia",
               {"features": [{"name": "prefers-color-scheme", "value": "light"}]})

        def evaluate(expr):
            r = b.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                            "awaitPromise": True})
            if "exceptionDetails" in r:
                raise RuntimeError("evaluating %r: %s" % (
                    expr, r["exceptionDetails"].get("exception", {}).get("description")))
            return r.get("result", {}).get("value")

        def shoot(path, full):
            params = {"format": "png"}
            if full:
                h = evaluate("document.documentElement.scrollHeight")
                params.update({"captureBeyondViewport": True,
                               "clip": {"x": 0, "y": 0, "width": width, "height": h, "scale": 1}})
            data = b.call("Page.captureScreenshot", params)["data"]
            with open(path, "wb") as f:
                f.write(base64.b64decode(data))

        for step in a.steps:
            kind, _, arg = step.partition(":")
            if kind == "open":
                b.call("Page.navigate", {"url": arg})
            elif kind == "wait":
                deadline = time.monotonic() + a.timeout
                while True:
                    try:
                        if evaluate("!!(%s)" % arg):  # JS truthiness
                            break
                    except RuntimeError as e:  # e.g. no document.body yet
                        last = e
                    else:
                        last = None
                    if time.monotonic() > deadline:
                        raise TimeoutError("waited %gs for %s%s" % (
                            a.timeout, arg, " (%s)" % last if last else ""))
                    b.pump(0.1)
            elif kind == "eval":
                name, _, expr = arg.partition("=")
                values[name] = evaluate(expr)
            elif kind in ("shot", "full"):
                b.pump(0.3)  # let transitions settle
                shoot(arg, kind == "full")
            elif kind in ("dark", "light"):
                b.call("Emulation.setEmulatedMedia",
                       {"features": [{"name": "prefers-color-scheme", "value": kind}]})
            elif kind == "run":
                subprocess.run(arg, shell=True, check=True, stdin=subprocess.DEVNULL)
            elif kind == "size":
                width, height = (int(x) for x in arg.split("x"))
                b.call("Emulation.setDeviceMetricsOverride",
                       {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
            else:
                raise ValueError("unknown step %r" % step)
        b.pump(0.3)
    except Exception as e:  # reported, and the exit status says so
        errors.append("driver: %s" % e)
        status = 1
    finally:
        b.close()
    errors = describe_errors(b.events) + errors
    with open(a.out, "w") as f:
        json.dump({"errors": errors, "values": values, "ok": status == 0}, f, indent=1)
    return status


if __name__ == "__main__":
    sys.exit(main())
