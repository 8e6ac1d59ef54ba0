-- shopsync state store, PostgreSQL: the debugger log (every Shopify request and answer of a run).
CREATE TABLE shopsync_calls (
    id BIGSERIAL PRIMARY KEY,
    run_id BIGINT REFERENCES shopsync_runs (id),
    sync TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    duration_us BIGINT NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    operation TEXT,
    document TEXT,
    variables TEXT,
    status INTEGER,
    response TEXT,
    error TEXT,
    cost_requested DOUBLE PRECISION,
    cost_actual DOUBLE PRECISION,
    keys JSONB NOT NULL,
    attempt INTEGER NOT NULL,
    size BIGINT NOT NULL
);
CREATE INDEX shopsync_calls_by_run ON shopsync_calls (run_id, id);
CREATE INDEX shopsync_calls_by_sync ON shopsync_calls (sync, id);
CREATE INDEX shopsync_calls_by_time ON shopsync_calls (started_at);

-- One row per primary key a call concerned: `shopsync debugger key` looks calls up here.
CREATE TABLE shopsync_call_keys (
    sync TEXT NOT NULL,
    key TEXT NOT NULL,
    call_id BIGINT NOT NULL,
    PRIMARY KEY (sync, key, call_id)
);
CREATE INDEX shopsync_call_keys_by_call ON shopsync_call_keys (call_id);
