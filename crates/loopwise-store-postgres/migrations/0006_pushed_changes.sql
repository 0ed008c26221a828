-- Commits known only from push payloads, by repository, as SQLite's migration 6: a report asks
-- how many a repository has without scanning all of its history.
CREATE INDEX changes_pushed ON changes (repository_id) WHERE source <> 'git';
