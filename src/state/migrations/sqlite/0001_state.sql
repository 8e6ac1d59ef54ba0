-- shopsync state store, SQLite.
CREATE TABLE shopsync_baselines (
    sync TEXT PRIMARY KEY,
    updated_at INTEGER NOT NULL
);

CREATE TABLE shopsync_snapshot (
    sync TEXT NOT NULL,
    key TEXT NOT NULL,
    hash BLOB NOT NULL,
    shopify_id TEXT,
    outcome TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (sync, key)
) WITHOUT ROWID;

CREATE TABLE shopsync_ledger (
    sync TEXT NOT NULL,
    key TEXT NOT NULL,
    hash BLOB NOT NULL,
    status TEXT NOT NULL,
    idempotency_key TEXT,
    shopify_id TEXT,
    error TEXT,
    PRIMARY KEY (sync, key)
) WITHOUT ROWID;

CREATE TABLE shopsync_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sync TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    status TEXT NOT NULL,
    stats TEXT NOT NULL,
    error TEXT
);
CREATE INDEX shopsync_runs_by_sync ON shopsync_runs (sync, id);

CREATE TABLE shopsync_locks (
    sync TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
