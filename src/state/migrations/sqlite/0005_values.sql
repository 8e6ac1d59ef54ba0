-- shopsync state store, SQLite: the values Shopify last accepted per key, for plan's before/after.
-- A table of its own so that diffing, which streams shopsync_snapshot, never reads them.
CREATE TABLE shopsync_values (
    sync TEXT NOT NULL,
    key TEXT NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (sync, key)
) WITHOUT ROWID;
