-- What the report engine derived from the other tables (per chain, a blob only the engine reads),
-- under the key (write versions and settings) it was derived under, so a restarted server reads
-- it instead of deriving it again. Not exported, not counted, and writing it bumps no write
-- version: it is a cache the engine can rebuild, and emptying the table is always safe.
-- A table with a rowid, not WITHOUT ROWID: its rows are blobs of a megabyte or two.
CREATE TABLE derived_facts (
    kind  TEXT NOT NULL,
    scope TEXT NOT NULL,
    name  TEXT NOT NULL,
    key   TEXT NOT NULL,
    data  BLOB NOT NULL,
    PRIMARY KEY (kind, scope, name)
);
