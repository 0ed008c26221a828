-- Feature flag history: one row per change of a flag, as its source reported it.
CREATE TABLE flag_changes (
    source     TEXT NOT NULL,
    repository TEXT NOT NULL,
    flag_id    TEXT NOT NULL,
    changed_at INTEGER NOT NULL,
    flag_key   TEXT NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (source, repository, flag_id, changed_at)
);
CREATE INDEX flag_changes_by_key ON flag_changes (repository, flag_key, changed_at);
