-- Records that webhooks and the events API deliver. Key columns are typed for lookups; `body`
-- holds the whole record as JSON, written and read only through the core's serde types.
CREATE TABLE pull_requests (
    source     TEXT NOT NULL,
    repository TEXT NOT NULL,
    number     INTEGER NOT NULL,
    merge_sha  TEXT,
    merged_at  INTEGER,
    body       TEXT NOT NULL,
    PRIMARY KEY (source, repository, number)
);
CREATE INDEX pull_requests_by_merge_sha ON pull_requests (merge_sha);

CREATE TABLE pull_request_reviews (
    source       TEXT NOT NULL,
    id           TEXT NOT NULL,
    repository   TEXT NOT NULL,
    number       INTEGER NOT NULL,
    submitted_at INTEGER NOT NULL,
    body         TEXT NOT NULL,
    PRIMARY KEY (source, id)
);
CREATE INDEX pull_request_reviews_by_request ON pull_request_reviews (repository, number);

CREATE TABLE incidents (
    source     TEXT NOT NULL,
    id         TEXT NOT NULL,
    service    TEXT,
    started_at INTEGER NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (source, id)
);
CREATE INDEX incidents_by_service ON incidents (service, started_at);

CREATE TABLE ci_runs (
    source   TEXT NOT NULL,
    id       TEXT NOT NULL,
    attempt  INTEGER NOT NULL,
    sha      TEXT NOT NULL,
    body     TEXT NOT NULL,
    PRIMARY KEY (source, id, attempt)
);

-- Webhook deliveries already processed: a redelivery is acknowledged and stored once.
CREATE TABLE deliveries (
    source      TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    event       TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (source, delivery_id)
);

-- API tokens: only a SHA-256 hash of the secret is kept.
CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    scope      TEXT NOT NULL CHECK (scope IN ('ingest', 'read', 'admin')),
    hash       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
