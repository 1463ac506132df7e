-- What `export` wrote where: one row per report and destination (a local
-- directory or an s3:// URL, as normalised by the exporter). `file` is the
-- file's path below `report_rows/` and `reports/` of the destination
-- (`job=<job>/date=<YYYY-MM-DD>/<first>-<last>.parquet`). A row is written
-- with `exported_at` NULL before its file is, and completed once the file
-- is durable under its final name: a crash in between leaves a planned set
-- that the next export writes again under the same name.
CREATE TABLE exports (
    report_id   INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    destination TEXT    NOT NULL,
    file        TEXT    NOT NULL,
    exported_at INTEGER,
    PRIMARY KEY (destination, report_id)
) WITHOUT ROWID;
CREATE INDEX exports_by_file ON exports (destination, file);
