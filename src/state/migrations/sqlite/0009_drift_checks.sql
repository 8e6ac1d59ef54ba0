-- shopsync state store, SQLite: when each sync's drift was last checked, so that `spec.drift.every` holds
-- across runs, restarts and processes.
CREATE TABLE shopsync_drift_checks (
    sync TEXT NOT NULL PRIMARY KEY,
    checked_at INTEGER NOT NULL
) WITHOUT ROWID;
