-- What the report engine derived from the other tables, as SQLite's migration 7: a blob per
-- (kind, scope, name) that only the engine reads, under the key it was derived under. Not
-- exported, not counted, and writing it bumps no write version: it is a cache the engine can
-- rebuild, and emptying the table is always safe.
CREATE TABLE derived_facts (
    kind  TEXT COLLATE "C" NOT NULL,
    scope TEXT COLLATE "C" NOT NULL,
    name  TEXT COLLATE "C" NOT NULL,
    key   TEXT NOT NULL,
    data  BYTEA NOT NULL,
    PRIMARY KEY (kind, scope, name)
);
