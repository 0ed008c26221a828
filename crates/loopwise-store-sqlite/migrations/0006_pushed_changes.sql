-- Commits known only from push payloads (source other than 'git'), by repository: a report asks
-- how many a repository has, for its provenance, and should not scan all of its history to
-- learn that there are none.
CREATE INDEX changes_pushed ON changes (repository_id) WHERE source <> 'git';
