-- The deployments table again, with the same columns, key, index and allowed values, but
-- with its CHECKs written as comparisons. SQLite compiles a CHECK of `x IN (three or more
-- values)` into a temporary index that it builds and frees for every row written, which was
-- the largest single cost of storing a deployment. SQLite cannot alter a CHECK in place: the
-- table is rebuilt (https://www.sqlite.org/lang_altertable.html, "other kinds of table schema
-- changes"), inside the migration's transaction, so an interrupted upgrade changes nothing.
-- No other table or view refers to deployments, and no trigger exists on it.
CREATE TABLE deployments_rebuilt (
    source      TEXT NOT NULL,
    source_id   TEXT NOT NULL,
    service     TEXT NOT NULL,
    environment TEXT NOT NULL,
    sha         TEXT NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    status      TEXT NOT NULL CHECK (status = 'success' OR status = 'failure'),
    kind        TEXT NOT NULL CHECK (kind = 'normal' OR kind = 'rollback' OR kind = 'hotfix'),
    PRIMARY KEY (source, source_id)
);

INSERT INTO deployments_rebuilt
    (source, source_id, service, environment, sha, started_at, finished_at, status, kind)
SELECT source, source_id, service, environment, sha, started_at, finished_at, status, kind
FROM deployments;

DROP TABLE deployments;
ALTER TABLE deployments_rebuilt RENAME TO deployments;
CREATE INDEX deployments_by_chain ON deployments (service, environment, finished_at);
