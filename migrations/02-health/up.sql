-- One row that the health probe of /healthz rewrites, proving the database takes a write.
CREATE TABLE health (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at  INTEGER NOT NULL
);
