-- shopsync state store, PostgreSQL: the state of each alert rule of each sync, so that a notification goes
-- out once per change of state, across runs, restarts and replicas.
CREATE TABLE shopsync_alerts (
    sync TEXT NOT NULL,
    rule TEXT NOT NULL,
    state TEXT NOT NULL,
    since TIMESTAMPTZ NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (sync, rule)
);

-- The late rule and run-history pruning look for a sync's runs by status.
CREATE INDEX shopsync_runs_by_status ON shopsync_runs (sync, status, id);
