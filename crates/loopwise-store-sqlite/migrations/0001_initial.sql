-- Git history, per repository. Shas are lowercase hex text; parents are space-separated shas.
CREATE TABLE repositories (
    id         INTEGER PRIMARY KEY,
    locator    TEXT NOT NULL UNIQUE
);

CREATE TABLE changes (
    repository_id  INTEGER NOT NULL REFERENCES repositories (id),
    sha            TEXT NOT NULL,
    parents        TEXT NOT NULL,
    author_time    INTEGER NOT NULL,
    committer_time INTEGER NOT NULL,
    author_name    TEXT NOT NULL,
    author_email   TEXT NOT NULL,
    subject        TEXT NOT NULL,
    reverts        TEXT,
    source         TEXT NOT NULL DEFAULT 'git',
    PRIMARY KEY (repository_id, sha)
) WITHOUT ROWID;

CREATE TABLE tags (
    repository_id INTEGER NOT NULL REFERENCES repositories (id),
    name          TEXT NOT NULL,
    commit_sha    TEXT NOT NULL,
    time          INTEGER NOT NULL,
    annotated     INTEGER NOT NULL CHECK (annotated IN (0, 1)),
    PRIMARY KEY (repository_id, name)
) WITHOUT ROWID;

-- Cache of "does this commit touch this set of paths?" for monorepo services.
CREATE TABLE path_touches (
    repository_id INTEGER NOT NULL REFERENCES repositories (id),
    paths_key     TEXT NOT NULL,
    sha           TEXT NOT NULL,
    touched       INTEGER NOT NULL CHECK (touched IN (0, 1)),
    PRIMARY KEY (repository_id, paths_key, sha)
) WITHOUT ROWID;

CREATE TABLE deployments (
    source      TEXT NOT NULL,
    source_id   TEXT NOT NULL,
    service     TEXT NOT NULL,
    environment TEXT NOT NULL,
    sha         TEXT NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    status      TEXT NOT NULL CHECK (status IN ('success', 'failure')),
    kind        TEXT NOT NULL CHECK (kind IN ('normal', 'rollback', 'hotfix')),
    PRIMARY KEY (source, source_id)
);

CREATE INDEX deployments_by_chain ON deployments (service, environment, finished_at);
