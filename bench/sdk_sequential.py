#!/usr/bin/env python3
"""Fetch hourly MNA reports one after the other with the official Python SDK.

The baseline that mna-reportd's benchmark compares against. For each hourly
window [begin + i*3600, begin + (i+1)*3600), i < count, it

1. calls GetStatisticData through tencentcloud-sdk-python-mna,
2. downloads the FilePath the answer points to (one requests.Session, so the
   connection is kept alive),
3. writes the file to OUT/<begin>_<end>.xlsx (no fsync unless --fsync),
4. records one row (window, request id, path, bytes, sha256) in a SQLite
   table and commits (one commit per report; default journal, synchronous
   FULL as sqlite3 ships it).

It prints one JSON line on stdout: {"reports": N, "bytes": B,
"import_s": ..., "loop_s": ...}. Exit status 1 on any failure.

Usage:
  sdk_sequential.py --endpoint 127.0.0.1:PORT --secret-id ID --secret-key KEY \
                    --out DIR --begin UNIX_SECONDS --count N [--fsync]
"""

import argparse
import hashlib
import json
import os
import sqlite3
import sys
import time

T_START = time.perf_counter()

import requests  # noqa: E402  (timed: the import cost is part of a run)
from tencentcloud.common import credential  # noqa: E402
from tencentcloud.common.profile.client_profile import ClientProfile  # noqa: E402
from tencentcloud.common.profile.http_profile import HttpProfile  # noqa: E402
from tencentcloud.mna.v20210119 import mna_client, models  # noqa: E402

T_IMPORTED = time.perf_counter()

HOUR = 3600
HOURLY = 1


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True, help="HOST:PORT of the API")
    p.add_argument("--secret-id", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--out", required=True, help="directory for files and history.db")
    p.add_argument("--begin", type=int, required=True, help="start of the first window")
    p.add_argument("--count", type=int, required=True, help="number of hourly windows")
    p.add_argument("--fsync", action="store_true", help="fsync each file and the directory")
    return p.parse_args()


def make_client(endpoint, secret_id, secret_key):
    cred = credential.Credential(secret_id, secret_key)
    # keepAlive: reuse one connection for every call, the SDK's fastest setting.
    http = HttpProfile(endpoint=endpoint, protocol="http", keepAlive=True)
    return mna_client.MnaClient(cred, "", ClientProfile(httpProfile=http))


def open_db(path):
    db = sqlite3.connect(path)
    db.execute(
        """CREATE TABLE IF NOT EXISTS reports (
               window_start INTEGER, window_end INTEGER, request_id TEXT,
               file_path TEXT, bytes INTEGER, sha256 TEXT, fetched_at REAL,
               UNIQUE (window_start, window_end))"""
    )
    db.commit()
    return db


def file_path_of(client, begin, end):
    req = models.GetStatisticDataRequest()
    req.from_json_string(
        json.dumps(
            {
                "DeviceId": "-1",
                "BeginTime": begin,
                "EndTime": end,
                "TimeGranularity": HOURLY,
                "GatewayType": 0,
            }
        )
    )
    resp = client.GetStatisticData(req)
    return resp.FilePath, resp.RequestId


def write_file(path, data, fsync):
    with open(path, "wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    if fsync:
        d = os.open(os.path.dirname(path), os.O_RDONLY)
        try:
            os.fsync(d)
        finally:
            os.close(d)


def fetch_one(client, session, db, out, begin, fsync):
    end = begin + HOUR
    url, request_id = file_path_of(client, begin, end)
    r = session.get(url, timeout=30)
    r.raise_for_status()
    data = r.content
    path = os.path.join(out, f"{begin}_{end}.xlsx")
    write_file(path, data, fsync)
    db.execute(
        "INSERT OR REPLACE INTO reports VALUES (?, ?, ?, ?, ?, ?, ?)",
        (begin, end, request_id, path, len(data), hashlib.sha256(data).hexdigest(), time.time()),
    )
    db.commit()
    return len(data)


def main():
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    client = make_client(args.endpoint, args.secret_id, args.secret_key)
    session = requests.Session()
    db = open_db(os.path.join(args.out, "history.db"))
    t0 = time.perf_counter()
    total = 0
    for i in range(args.count):
        total += fetch_one(client, session, db, args.out, args.begin + i * HOUR, args.fsync)
    loop_s = time.perf_counter() - t0
    db.close()
    print(
        json.dumps(
            {
                "reports": args.count,
                "bytes": total,
                "import_s": round(T_IMPORTED - T_START, 4),
                "loop_s": round(loop_s, 4),
            }
        )
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001  (a benchmark run either works or says why)
        print(f"sdk_sequential.py: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
