-- shopsync state store, PostgreSQL: the bulk operation each sync submitted and has not recorded yet (JSON), so
-- a run that died while it ran takes its results up instead of starting a second one.
CREATE TABLE shopsync_bulk_journal (
    sync TEXT NOT NULL PRIMARY KEY,
    body TEXT NOT NULL
);
