-- shopsync state store, PostgreSQL.
CREATE TABLE shopsync_baselines (
    sync TEXT PRIMARY KEY,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE shopsync_snapshot (
    sync TEXT NOT NULL,
    key TEXT NOT NULL,
    hash BYTEA NOT NULL,
    shopify_id TEXT,
    outcome TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (sync, key)
);

CREATE TABLE shopsync_ledger (
    sync TEXT NOT NULL,
    key TEXT NOT NULL,
    hash BYTEA NOT NULL,
    status TEXT NOT NULL,
    idempotency_key TEXT,
    shopify_id TEXT,
    error TEXT,
    PRIMARY KEY (sync, key)
);

CREATE TABLE shopsync_runs (
    id BIGSERIAL PRIMARY KEY,
    sync TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status TEXT NOT NULL,
    stats JSONB NOT NULL,
    error TEXT
);
CREATE INDEX shopsync_runs_by_sync ON shopsync_runs (sync, id);

CREATE TABLE shopsync_locks (
    sync TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
