-- Write scopes and their versions (see loopwise_store::versions), as SQLite's migration 5. A
-- write bumps its scopes right after it commits, in a statement of its own, so writers of one
-- scope never wait for each other's transactions. Existing data starts at version 1.
CREATE TABLE write_versions (
    scope   TEXT COLLATE "C" PRIMARY KEY,
    version BIGINT NOT NULL
);

INSERT INTO write_versions (scope, version)
SELECT 'repository:' || locator, 1 FROM repositories;
INSERT INTO write_versions (scope, version)
SELECT DISTINCT 'deployments:' || service, 1 FROM deployments;
INSERT INTO write_versions (scope, version) VALUES ('incidents', 1);
