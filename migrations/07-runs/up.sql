-- One row per daemon fire or manual fetch, written when it starts and
-- completed when it ends. `holder` is the process identity (boot id, pid,
-- start time) that tells a row left `running` by a crash from one a live
-- process still works on, whatever the pid's later reuse.
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    trigger TEXT NOT NULL CHECK (trigger IN ('schedule', 'catch-up', 'manual', 'reload')),
    jobs TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    planned INTEGER NOT NULL DEFAULT 0,
    ok INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL DEFAULT 'running'
        CHECK (outcome IN ('running', 'done', 'interrupted', 'stopped', 'crashed')),
    reason TEXT,
    pid INTEGER NOT NULL,
    version TEXT NOT NULL,
    holder TEXT NOT NULL
);
-- The runs still open (closed as `crashed` at a start when their process is gone).
CREATE INDEX runs_running ON runs (outcome) WHERE outcome = 'running';
-- A job's last error that still matters: its failed reports by window end.
CREATE INDEX reports_failed_by_end ON reports (job, window_end, updated_at) WHERE status = 'failed';
