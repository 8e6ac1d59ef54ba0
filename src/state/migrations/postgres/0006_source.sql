-- shopsync state store, PostgreSQL: the digest of each key's warehouse row as read when it was last sent, so a
-- plan recognises unchanged rows without decoding them. NULL for entries written before it (decoded once).
ALTER TABLE shopsync_snapshot ADD COLUMN source BYTEA;
