-- shopsync state store, PostgreSQL: how each synced record came to be known (created, matched or skipped), so
-- that a sync deletes only what it created and never writes what insert mode found existing. Entries from
-- before read as matched: nothing says the sync created them.
ALTER TABLE shopsync_snapshot ADD COLUMN ownership TEXT NOT NULL DEFAULT 'matched';
-- What identifies the sync's records (primary key, target, match key) and its mapping fingerprint as of the last
-- commit: a changed identity re-baselines instead of removing every old key.
ALTER TABLE shopsync_baselines ADD COLUMN identity TEXT;
ALTER TABLE shopsync_baselines ADD COLUMN fingerprint TEXT;
