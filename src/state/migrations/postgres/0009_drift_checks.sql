-- shopsync state store, PostgreSQL: when each sync's drift was last checked, so that `spec.drift.every` holds
-- across runs, restarts and replicas.
CREATE TABLE shopsync_drift_checks (
    sync TEXT NOT NULL PRIMARY KEY,
    checked_at TIMESTAMPTZ NOT NULL
);
