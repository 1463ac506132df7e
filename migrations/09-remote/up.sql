-- The remote archive (a bucket, `[storage.remote]`). A report is `ok` once
-- its file is durable on disk, as before; its upload is a second, recorded
-- step: `remote_key` (the object key below the bucket) and `uploaded_at`
-- are set together once the object is verified. A report's local copy may
-- then go (`keep_local`): its `file_path` is cleared, and it is read from
-- the bucket.
ALTER TABLE reports ADD COLUMN remote_key TEXT;
ALTER TABLE reports ADD COLUMN uploaded_at INTEGER;
-- The outbox: `ok` reports whose upload is not recorded yet.
CREATE INDEX reports_outbox ON reports (id) WHERE status = 'ok' AND uploaded_at IS NULL;
-- Uploaded reports that still have a local copy, by upload time (keep_local).
CREATE INDEX reports_kept_local ON reports (uploaded_at)
    WHERE uploaded_at IS NOT NULL AND file_path IS NOT NULL;
-- Multipart uploads begun and neither completed nor aborted: written before
-- the first part is sent and deleted once the upload is completed or
-- aborted, so the uploads a crash leaves are known and aborted at start.
-- `owner` is the process that uploads (as in `claims`): an upload of a
-- live process is its own, never a leftover.
CREATE TABLE multipart_uploads (
    upload_id  TEXT    PRIMARY KEY,
    remote_key TEXT    NOT NULL,
    owner      TEXT    NOT NULL,
    started_at INTEGER NOT NULL
) WITHOUT ROWID;
-- History snapshots written to the bucket (`<prefix>/_history/`).
CREATE TABLE snapshots (
    remote_key TEXT    PRIMARY KEY,
    taken_at   INTEGER NOT NULL,
    bytes      INTEGER NOT NULL
) WITHOUT ROWID;
