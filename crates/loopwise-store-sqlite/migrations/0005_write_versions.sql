-- Write scopes and their versions (see loopwise_store::versions): every write that changes what
-- reports read bumps its scope in the same transaction, so a report cache knows what is fresh.
-- Existing data starts at version 1 in every scope it has.
CREATE TABLE write_versions (
    scope   TEXT PRIMARY KEY,
    version INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO write_versions (scope, version)
SELECT 'repository:' || locator, 1 FROM repositories;
INSERT INTO write_versions (scope, version)
SELECT DISTINCT 'deployments:' || service, 1 FROM deployments;
INSERT INTO write_versions (scope, version) VALUES ('incidents', 1);
