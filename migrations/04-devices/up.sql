-- The device inventory: what the API's device listings returned, one row
-- per device id. Times are Unix seconds; `removed_at` is set when a complete
-- listing that should have held the device did not, and cleared when it
-- comes back. `raw` is the device's JSON object from the last listing.
CREATE TABLE devices (
    device_id   TEXT    PRIMARY KEY,
    name        TEXT,
    group_id    TEXT,
    group_name  TEXT,
    remark      TEXT,
    device_type INTEGER,
    created_at  INTEGER,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    removed_at  INTEGER,
    raw         TEXT    NOT NULL
);
CREATE INDEX devices_by_group ON devices (group_id);

-- Per discovering job: its last listing, complete or failed.
CREATE TABLE discoveries (
    job            TEXT    PRIMARY KEY,
    scope          TEXT    NOT NULL,
    listed_at      INTEGER,
    devices        INTEGER,
    calls          INTEGER,
    failed_at      INTEGER,
    error_code     TEXT,
    error_message  TEXT
);
