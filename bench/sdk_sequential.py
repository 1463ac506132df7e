#!/usr/bin/env python3
"""Fetch hourly MNA reports one after the other with the official Python SDK.

The baseline that mna-reportd's benchmark compares against, in two modes.
For each hourly window [begin + i*3600, begin + (i+1)*3600), i < count:

Plain mode (the default): "call, download, write, record", the least a
script can do.

1. call GetStatisticData through tencentcloud-sdk-python-mna,
2. download the FilePath the answer points to (one requests.Session, so the
   connection is kept alive),
3. write the file to OUT/<begin>_<end>.xlsx (no fsync unless --fsync),
4. record one row (window, request id, path, bytes, sha256) in a SQLite
   table and commit (one commit per report; default journal, synchronous
   FULL as sqlite3 ships it).

--same-work: what mna-reportd does for each report, done sequentially.

1. call GetStatisticData through the SDK (timed: one `call` attempt),
2. download the FilePath with the requests session (timed: one `download`
   attempt), checking the length against Content-Length, SHA-256,
3. write it to OUT/<begin>_<end>.xlsx.part (created 0600) and fsync it,
4. check with zipfile that it is a zip holding `[Content_Types].xml` and
   `xl/workbook.xml`,
5. rename it to OUT/<begin>_<end>.xlsx and fsync the directory,
6. in one SQLite transaction (WAL, synchronous NORMAL, mna-reportd's schema
   from its migrations/ directory): upsert the report as `ok`,
   insert its two attempt rows, and insert every row of every sheet, read
   with openpyxl (read_only, data_only), as a JSON object keyed by the
   sheet's first row (whole numbers as integers, other numbers as numbers,
   empty cells as null, dates as ISO 8601 text; empty rows skipped); commit.

It prints one JSON line on stdout: {"reports": N, "bytes": B,
"import_s": ..., "loop_s": ...}; with --same-work also "rows" (rows stored
in report_rows) and "steps_s" (seconds spent in each step above, summed
over the reports). Exit status 1 on any failure.

Usage:
  sdk_sequential.py --endpoint 127.0.0.1:PORT --secret-id ID --secret-key KEY \
                    --out DIR --begin UNIX_SECONDS --count N [--fsync | --same-work]
"""

import argparse
import datetime
import hashlib
import json
import os
import sqlite3
import sys
import time
import zipfile

T_START = time.perf_counter()

import requests  # noqa: E402  (timed: the import cost is part of a run)
from tencentcloud.common import credential  # noqa: E402
from tencentcloud.common.profile.client_profile import ClientProfile  # noqa: E402
from tencentcloud.common.profile.http_profile import HttpProfile  # noqa: E402
from tencentcloud.mna.v20210119 import mna_client, models  # noqa: E402

T_IMPORTED = time.perf_counter()

# Imported by main() for --same-work only, so that plain runs do not pay for them.
openpyxl = None
get_column_letter = None

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
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--fsync", action="store_true", help="fsync each file and the directory")
    mode.add_argument(
        "--same-work",
        action="store_true",
        help="do what mna-reportd does per report (check, rename, rows into SQLite)",
    )
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


# ---------------------------------------------------------------------------
# --same-work
# ---------------------------------------------------------------------------

JOB = "hourly"
XLSX_PARTS = ("[Content_Types].xml", "xl/workbook.xml")
# The steps of one report, in order; "steps_s" in the summary sums each.
STEPS = ("call", "download", "write_fsync", "zip_check", "rename_dir_fsync", "rows", "db")

# mna-reportd's own schema: its migrations, applied in order as it does.
MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "migrations")

UPSERT_REPORT = """
INSERT INTO reports (job, target, region, granularity, window_start, window_end, status,
                     attempts, "trigger", request_id, file_path, bytes, sha256,
                     created_at, updated_at)
VALUES (?, 'all', '', ?, ?, ?, 'ok', 2, 'manual', ?, ?, ?, ?, ?, ?)
ON CONFLICT (job, target, region, window_start, window_end) DO UPDATE SET
    status = 'ok', attempts = attempts + 2, request_id = excluded.request_id,
    file_path = excluded.file_path, bytes = excluded.bytes, sha256 = excluded.sha256,
    error_code = NULL, error_message = NULL, updated_at = excluded.updated_at
RETURNING id, attempts
"""
INSERT_ATTEMPT = """
INSERT INTO attempts (report_id, attempt, kind, started_at, duration_ms, http_status, request_id)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
INSERT_ROW = "INSERT INTO report_rows (report_id, sheet, row_number, data) VALUES (?, ?, ?, ?)"


def open_history(path):
    """The history with mna-reportd's tables and durability settings."""
    db = sqlite3.connect(path, isolation_level=None)  # transactions are explicit
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")
    (version,) = db.execute("PRAGMA user_version").fetchone()
    for number, name in enumerate(sorted(os.listdir(MIGRATIONS)), start=1):
        if number > version:
            with open(os.path.join(MIGRATIONS, name, "up.sql"), encoding="utf-8") as f:
                sql = f.read()
            db.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
    return db


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path, data):
    """Create `path` 0600, write `data`, fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def check_xlsx(path):
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
    missing = [n for n in XLSX_PARTS if n not in names]
    if missing:
        raise ValueError(f"{path}: a zip without {', '.join(missing)}")


def cell_json(v):
    """A cell as JSON: whole numbers as integers, dates as ISO 8601 text."""
    if isinstance(v, float):
        return int(v) if v.is_integer() and abs(v) < 2**53 else v
    if isinstance(v, datetime.datetime):
        if v.time() == datetime.time(0):
            return v.date().isoformat()
        return v.isoformat(timespec="milliseconds" if v.microsecond else "seconds")
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, datetime.timedelta):
        return v.total_seconds() / 86400
    return v  # str, int, bool, None


def header_names(values):
    """Column names from the header row: trimmed text, else the column letter; unique."""
    names, seen = [], {}
    for i, v in enumerate(values):
        text = "" if v is None else str(cell_json(v)).strip()
        name = text or get_column_letter(i + 1)
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return names


def workbook_rows(report_id, path):
    """(report_id, sheet, row_number, json) for every non-empty row below each sheet's header."""
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for ws in wb.worksheets:
            header = None
            for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
                if header is None:
                    if any(v is not None for v in values):
                        header = header_names(values)
                    continue
                if all(v is None for v in values):
                    continue
                row = dict.fromkeys(header)
                for i, v in enumerate(values):
                    row[header[i] if i < len(header) else get_column_letter(i + 1)] = cell_json(v)
                data = json.dumps(row, separators=(",", ":"), ensure_ascii=False)
                yield report_id, ws.title, number, data
    finally:
        wb.close()


class Clock:
    """Seconds spent per step, summed over the reports."""

    def __init__(self):
        self.steps = dict.fromkeys(STEPS, 0.0)
        self.t = time.perf_counter()

    def start(self):
        """Start timing a report: what came before is not its."""
        self.t = time.perf_counter()

    def lap(self, step):
        now = time.perf_counter()
        spent = now - self.t
        self.steps[step] += spent
        self.t = now
        return spent

    def timed(self, rows, step):
        """`rows`, with the time spent producing them counted as `step`, not the caller's."""
        it = iter(rows)
        while True:
            start = time.perf_counter()
            try:
                row = next(it)
            except StopIteration:
                self.steps[step] += time.perf_counter() - start
                return
            spent = time.perf_counter() - start
            self.steps[step] += spent
            self.t += spent  # not the caller's step
            yield row


def fetch_one_same_work(client, session, db, out, begin, clock):
    """One report as mna-reportd does it; returns (bytes, rows stored)."""
    end = begin + HOUR
    clock.start()
    call_at = int(time.time())
    url, request_id = file_path_of(client, begin, end)
    call_ms = round(clock.lap("call") * 1000)
    download_at = int(time.time())
    r = session.get(url, timeout=30)
    r.raise_for_status()
    data = r.content
    expected = r.headers.get("Content-Length")
    if expected is not None and int(expected) != len(data):
        raise ValueError(f"{url}: {len(data)} bytes, Content-Length {expected}")
    sha256 = hashlib.sha256(data).hexdigest()
    download_ms = round(clock.lap("download") * 1000)
    final = os.path.join(out, f"{begin}_{end}.xlsx")
    part = final + ".part"
    write_durably(part, data)
    clock.lap("write_fsync")
    check_xlsx(part)
    clock.lap("zip_check")
    os.replace(part, final)
    fsync_dir(out)
    clock.lap("rename_dir_fsync")
    now = int(time.time())
    db.execute("BEGIN IMMEDIATE")
    try:
        report_id, attempts = db.execute(
            UPSERT_REPORT,
            (JOB, HOURLY, begin, end, request_id, final, len(data), sha256, now, now),
        ).fetchone()
        db.executemany(
            INSERT_ATTEMPT,
            [
                (report_id, attempts - 1, "call", call_at, call_ms, 200, request_id),
                (report_id, attempts, "download", download_at, download_ms, r.status_code, None),
            ],
        )
        db.execute("DELETE FROM report_rows WHERE report_id = ?", (report_id,))
        rows = db.executemany(INSERT_ROW, clock.timed(workbook_rows(report_id, final), "rows"))
        stored = rows.rowcount
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    clock.lap("db")
    return len(data), stored


def main():
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    import_s = T_IMPORTED - T_START
    if args.same_work:
        # Only this mode pays for openpyxl; it counts in import_s.
        t = time.perf_counter()
        global openpyxl, get_column_letter
        import openpyxl
        from openpyxl.utils import get_column_letter

        import_s += time.perf_counter() - t
    client = make_client(args.endpoint, args.secret_id, args.secret_key)
    session = requests.Session()
    history = os.path.join(args.out, "history.db")
    db = open_history(history) if args.same_work else open_db(history)
    clock = Clock()
    t0 = time.perf_counter()
    total = rows = 0
    for i in range(args.count):
        begin = args.begin + i * HOUR
        if args.same_work:
            n, stored = fetch_one_same_work(client, session, db, args.out, begin, clock)
            total, rows = total + n, rows + stored
        else:
            total += fetch_one(client, session, db, args.out, begin, args.fsync)
    loop_s = time.perf_counter() - t0
    db.close()
    summary = {
        "reports": args.count,
        "bytes": total,
        "import_s": round(import_s, 4),
        "loop_s": round(loop_s, 4),
    }
    if args.same_work:
        summary["rows"] = rows
        summary["steps_s"] = {k: round(v, 4) for k, v in clock.steps.items()}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001  (a benchmark run either works or says why)
        print(f"sdk_sequential.py: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
