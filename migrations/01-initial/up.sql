-- The history of mna-reportd. Times are Unix seconds (UTC).

-- One row per report: one target x one region x one window of one job.
CREATE TABLE reports (
    id            INTEGER PRIMARY KEY,
    job           TEXT    NOT NULL,
    target        TEXT    NOT NULL,
    region        TEXT    NOT NULL DEFAULT '',
    granularity   INTEGER NOT NULL,
    window_start  INTEGER NOT NULL,
    window_end    INTEGER NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'running', 'ok', 'failed', 'pruned')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    "trigger"     TEXT    NOT NULL
                  CHECK ("trigger" IN ('schedule', 'catch-up', 'manual')),
    request_id    TEXT,
    file_path     TEXT,
    bytes         INTEGER,
    sha256        TEXT,
    error_code    TEXT,
    error_message TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (job, target, region, window_start, window_end)
);
CREATE INDEX reports_by_job_end ON reports (job, window_end);

-- One row per API call or download try.
CREATE TABLE attempts (
    report_id     INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('call', 'download')),
    started_at    INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    http_status   INTEGER,
    error_code    TEXT,
    error_message TEXT,
    request_id    TEXT,
    PRIMARY KEY (report_id, attempt)
);

-- The xlsx contents: one row per sheet row below the header.
CREATE TABLE report_rows (
    report_id     INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    sheet         TEXT    NOT NULL,
    row_number    INTEGER NOT NULL,
    data          TEXT    NOT NULL,
    PRIMARY KEY (report_id, sheet, row_number)
) WITHOUT ROWID;

-- Which process is fetching a report right now, and the report's status
-- before (a forced fetch that fails or is interrupted gives it back).
CREATE TABLE claims (
    report_id       INTEGER PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE,
    owner           TEXT    NOT NULL,
    claimed_at      INTEGER NOT NULL,
    previous_status TEXT    NOT NULL DEFAULT 'pending'
);
