-- shopsync state store, SQLite: the state of each alert rule of each sync, so that a notification goes out
-- once per change of state, across runs and restarts.
CREATE TABLE shopsync_alerts (
    sync TEXT NOT NULL,
    rule TEXT NOT NULL,
    state TEXT NOT NULL,
    since INTEGER NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (sync, rule)
) WITHOUT ROWID;

-- The late rule and run-history pruning look for a sync's runs by status.
CREATE INDEX shopsync_runs_by_status ON shopsync_runs (sync, status, id);
