#!/usr/bin/env python3
"""A minimal S3 client for the tests (SigV4, path-style, Python's standard
library only), independent of hubzip's: it puts objects behind hubzip's back
(a tampered pack, a stray one), reads and lists them.

  s3tool.py ls PREFIX           keys and sizes under PREFIX, one per line
  s3tool.py get KEY FILE        the object to FILE
  s3tool.py put KEY FILE        FILE as the object
  s3tool.py rm KEY

Environment: S3_ENDPOINT (http://HOST:PORT), S3_BUCKET, S3_REGION (default
us-east-1), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.
"""
import datetime, hashlib, hmac, http.client, os, sys, urllib.parse, xml.etree.ElementTree as ET

EP = urllib.parse.urlparse(os.environ["S3_ENDPOINT"])
BUCKET = os.environ["S3_BUCKET"]
REGION = os.environ.get("S3_REGION", "us-east-1")
AK, SK = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]


def q(s, safe="-_.~"):
    return urllib.parse.quote(s, safe=safe)


def request(method, key, query=(), body=b""):
    path = "/" + BUCKET + ("/" + key if key else "")
    now = datetime.datetime.now(datetime.timezone.utc)
    date = now.strftime("%Y%m%dT%H%M%SZ")
    phash = hashlib.sha256(body).hexdigest()
    host = EP.netloc
    cquery = "&".join(sorted(q(k) + "=" + q(v) for k, v in query))
    headers = {"host": host, "x-amz-content-sha256": phash, "x-amz-date": date}
    signed = ";".join(sorted(headers))
    creq = "\n".join([method, q(path, "-_.~/"), cquery,
                      "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, phash])
    scope = f"{date[:8]}/{REGION}/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + SK).encode()
    for part in (date[:8], REGION, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={AK}/{scope}, "
                                f"SignedHeaders={signed}, Signature={sig}")
    conn = http.client.HTTPConnection(EP.hostname, EP.port or 80, timeout=60)
    conn.request(method, q(path, "-_.~/") + ("?" + cquery if cquery else ""), body, headers)
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        sys.exit(f"s3tool: {method} {path}: HTTP {r.status} {data[:300]!r}")
    return data


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "ls":
        token = None
        while True:
            query = [("list-type", "2"), ("prefix", args[0])]
            if token:
                query.append(("continuation-token", token))
            root = ET.fromstring(request("GET", "", query))
            ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            for c in root.iter(ns + "Contents"):
                print(c.find(ns + "Key").text + "\t" + c.find(ns + "Size").text)
            t = root.find(ns + "NextContinuationToken")
            if root.findtext(ns + "IsTruncated") != "true" or t is None:
                break
            token = t.text
    elif cmd == "get":
        open(args[1], "wb").write(request("GET", args[0]))
    elif cmd == "put":
        request("PUT", args[0], body=open(args[1], "rb").read())
    elif cmd == "rm":
        request("DELETE", args[0])
    else:
        sys.exit(__doc__)


main()
