//! The PostgreSQL state store, for the controller in a cluster.
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};

mod calls;

use super::{FieldMap, LedgerRow, RunRow, SnapshotRow, db_error, parse_values, stats_json};
use crate::core::alerts::AlertRecord;
use crate::core::state::{
    Baseline, Lease, LedgerEntry, RowHash, RunRecord, SnapshotChange, SnapshotEntry, StateError,
    StateResult, StateStore, lease_expiry,
};

/// Rows per `UNNEST` statement.
const CHUNK: usize = 10_000;

/// The PostgreSQL state store.
#[derive(Debug, Clone)]
pub struct PostgresStateStore {
    pool: PgPool,
}

impl PostgresStateStore {
    /// Connects to `url` and applies migrations in the connection's default schema.
    pub async fn connect(url: &str) -> StateResult<Self> {
        Self::connect_in_schema(url, None).await
    }

    /// Connects to `url` and keeps every table in `schema` (created if missing), e.g. one schema per shopsync
    /// installation sharing a database.
    pub async fn connect_in_schema(url: &str, schema: Option<&str>) -> StateResult<Self> {
        let mut options = PgConnectOptions::from_str(url).map_err(db_error)?;
        if let Some(schema) = schema {
            if !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                || schema.is_empty()
            {
                return Err(StateError::Migration(format!(
                    "schema name `{schema}` must be letters, digits and underscores"
                )));
            }
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options)
                .await
                .map_err(db_error)?;
            // The name was checked above; identifiers cannot be bound as parameters.
            let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
            sqlx::Executor::execute(&mut conn, sqlx::raw_sql(sqlx::AssertSqlSafe(create)))
                .await
                .map_err(db_error)?;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(db_error)?;
        sqlx::migrate!("src/state/migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StateError::Migration(e.to_string()))?;
        Ok(Self { pool })
    }
}

impl StateStore for PostgresStateStore {
    fn baseline<'a>(&'a self, sync: &'a str) -> BoxFuture<'a, StateResult<Option<Baseline>>> {
        Box::pin(async move {
            let row =
                sqlx::query("SELECT identity, fingerprint FROM shopsync_baselines WHERE sync = $1")
                    .bind(sync)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?;
            row.map(|r| {
                Ok(Baseline {
                    identity: r.try_get(0).map_err(db_error)?,
                    fingerprint: r.try_get(1).map_err(db_error)?,
                })
            })
            .transpose()
        })
    }

    fn snapshot<'a>(&'a self, sync: &'a str) -> BoxStream<'a, StateResult<SnapshotEntry>> {
        sqlx::query(
            "SELECT key, hash, shopify_id, outcome, error, source, ownership FROM shopsync_snapshot WHERE sync = $1",
        )
        .bind(sync)
        .fetch(&self.pool)
        .map_err(db_error)
        .and_then(move |row| async move {
            SnapshotRow {
                key: row.try_get(0).map_err(db_error)?,
                hash: row.try_get(1).map_err(db_error)?,
                shopify_id: row.try_get(2).map_err(db_error)?,
                outcome: row.try_get(3).map_err(db_error)?,
                error: row.try_get(4).map_err(db_error)?,
                source: row.try_get(5).map_err(db_error)?,
                ownership: row.try_get(6).map_err(db_error)?,
            }
            .into_entry(sync)
        })
        .boxed()
    }

    fn commit_snapshot<'a>(
        &'a self,
        sync: &'a str,
        changes: &'a [SnapshotChange],
    ) -> BoxFuture<'a, StateResult<()>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(db_error)?;
            let upserts: Vec<&SnapshotEntry> = changes
                .iter()
                .filter_map(SnapshotChange::as_upsert)
                .collect();
            for chunk in upserts.chunks(CHUNK) {
                let keys: Vec<&str> = chunk.iter().map(|e| e.key.as_str()).collect();
                let hashes: Vec<&[u8]> = chunk.iter().map(|e| &e.hash.0[..]).collect();
                let ids: Vec<Option<&str>> =
                    chunk.iter().map(|e| e.shopify_id.as_deref()).collect();
                let outcomes: Vec<&str> = chunk.iter().map(|e| e.outcome.as_str()).collect();
                let errors: Vec<Option<&str>> = chunk.iter().map(|e| e.error.as_deref()).collect();
                let sources: Vec<Option<&[u8]>> = chunk
                    .iter()
                    .map(|e| e.source.as_ref().map(|s| &s.0[..]))
                    .collect();
                let ownerships: Vec<&str> = chunk.iter().map(|e| e.ownership.as_str()).collect();
                sqlx::query(
                    "INSERT INTO shopsync_snapshot (sync, key, hash, shopify_id, outcome, error, source, ownership) \
                     SELECT $1, * FROM UNNEST($2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[], $7::bytea[], \
                     $8::text[]) \
                     ON CONFLICT (sync, key) DO UPDATE SET hash = EXCLUDED.hash, shopify_id = EXCLUDED.shopify_id, \
                     outcome = EXCLUDED.outcome, error = EXCLUDED.error, source = EXCLUDED.source, \
                     ownership = EXCLUDED.ownership",
                )
                .bind(sync)
                .bind(keys)
                .bind(hashes)
                .bind(ids)
                .bind(outcomes)
                .bind(errors)
                .bind(sources)
                .bind(ownerships)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            }
            let values: Vec<(&str, String)> = changes
                .iter()
                .filter_map(SnapshotChange::as_values)
                .map(|(k, f)| (k, serde_json::Value::Object(f.clone()).to_string()))
                .collect();
            for chunk in values.chunks(CHUNK) {
                let keys: Vec<&str> = chunk.iter().map(|(k, _)| *k).collect();
                let fields: Vec<&str> = chunk.iter().map(|(_, f)| f.as_str()).collect();
                sqlx::query(
                    "INSERT INTO shopsync_values (sync, key, fields) \
                     SELECT $1, k, f::jsonb FROM UNNEST($2::text[], $3::text[]) AS t (k, f) \
                     ON CONFLICT (sync, key) DO UPDATE SET fields = EXCLUDED.fields",
                )
                .bind(sync)
                .bind(keys)
                .bind(fields)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            }
            let sources: Vec<(&str, RowHash)> = changes
                .iter()
                .filter_map(SnapshotChange::as_source)
                .collect();
            for chunk in sources.chunks(CHUNK) {
                let keys: Vec<&str> = chunk.iter().map(|(k, _)| *k).collect();
                let digests: Vec<&[u8]> = chunk.iter().map(|(_, d)| &d.0[..]).collect();
                sqlx::query(
                    "UPDATE shopsync_snapshot AS s SET source = t.d \
                     FROM UNNEST($2::text[], $3::bytea[]) AS t (k, d) WHERE s.sync = $1 AND s.key = t.k",
                )
                .bind(sync)
                .bind(keys)
                .bind(digests)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            }
            let removals: Vec<&str> = changes
                .iter()
                .filter_map(SnapshotChange::as_remove)
                .collect();
            for chunk in removals.chunks(CHUNK) {
                for sql in [
                    "DELETE FROM shopsync_snapshot WHERE sync = $1 AND key = ANY($2)",
                    "DELETE FROM shopsync_values WHERE sync = $1 AND key = ANY($2)",
                ] {
                    sqlx::query(sql)
                        .bind(sync)
                        .bind(chunk)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
            }
            sqlx::query(
                "INSERT INTO shopsync_baselines (sync, updated_at) VALUES ($1, now()) \
                 ON CONFLICT (sync) DO UPDATE SET updated_at = EXCLUDED.updated_at",
            )
            .bind(sync)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            if let Some(b) = changes.iter().rev().find_map(SnapshotChange::as_baseline) {
                sqlx::query(
                    "UPDATE shopsync_baselines SET identity = $2, fingerprint = $3 WHERE sync = $1",
                )
                .bind(sync)
                .bind(&b.identity)
                .bind(&b.fingerprint)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            }
            tx.commit().await.map_err(db_error)
        })
    }

    fn reset_snapshot<'a>(&'a self, sync: &'a str) -> BoxFuture<'a, StateResult<()>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(db_error)?;
            for sql in [
                "DELETE FROM shopsync_snapshot WHERE sync = $1",
                "DELETE FROM shopsync_values WHERE sync = $1",
                "DELETE FROM shopsync_baselines WHERE sync = $1",
            ] {
                sqlx::query(sql)
                    .bind(sync)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
            tx.commit().await.map_err(db_error)
        })
    }

    fn values<'a>(
        &'a self,
        sync: &'a str,
        keys: &'a [String],
    ) -> BoxFuture<'a, StateResult<Vec<(String, FieldMap)>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for chunk in keys.chunks(CHUNK) {
                let rows = sqlx::query(
                    "SELECT key, fields::text FROM shopsync_values WHERE sync = $1 AND key = ANY($2)",
                )
                .bind(sync)
                .bind(chunk)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                for row in rows {
                    let key: String = row.try_get(0).map_err(db_error)?;
                    let text: String = row.try_get(1).map_err(db_error)?;
                    let fields = parse_values(sync, &key, &text)?;
                    out.push((key, fields));
                }
            }
            Ok(out)
        })
    }

    fn ledger<'a>(&'a self, sync: &'a str) -> BoxStream<'a, StateResult<LedgerEntry>> {
        sqlx::query(
            "SELECT key, hash, status, idempotency_key, shopify_id, error FROM shopsync_ledger WHERE sync = $1",
        )
        .bind(sync)
        .fetch(&self.pool)
        .map_err(db_error)
        .and_then(move |row| async move {
            LedgerRow {
                key: row.try_get(0).map_err(db_error)?,
                hash: row.try_get(1).map_err(db_error)?,
                status: row.try_get(2).map_err(db_error)?,
                idempotency_key: row.try_get(3).map_err(db_error)?,
                shopify_id: row.try_get(4).map_err(db_error)?,
                error: row.try_get(5).map_err(db_error)?,
            }
            .into_entry(sync)
        })
        .boxed()
    }

    fn record_ledger<'a>(
        &'a self,
        sync: &'a str,
        entries: &'a [LedgerEntry],
    ) -> BoxFuture<'a, StateResult<()>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(db_error)?;
            for chunk in entries.chunks(CHUNK) {
                let keys: Vec<&str> = chunk.iter().map(|e| e.key.as_str()).collect();
                let hashes: Vec<&[u8]> = chunk.iter().map(|e| &e.hash.0[..]).collect();
                let statuses: Vec<&str> = chunk.iter().map(|e| e.status.as_str()).collect();
                let idems: Vec<Option<&str>> =
                    chunk.iter().map(|e| e.idempotency_key.as_deref()).collect();
                let ids: Vec<Option<&str>> =
                    chunk.iter().map(|e| e.shopify_id.as_deref()).collect();
                let errors: Vec<Option<&str>> = chunk.iter().map(|e| e.error.as_deref()).collect();
                sqlx::query(
                    "INSERT INTO shopsync_ledger (sync, key, hash, status, idempotency_key, shopify_id, error) \
                     SELECT $1, * FROM UNNEST($2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[], $7::text[]) \
                     ON CONFLICT (sync, key) DO UPDATE SET hash = EXCLUDED.hash, status = EXCLUDED.status, \
                     idempotency_key = EXCLUDED.idempotency_key, shopify_id = EXCLUDED.shopify_id, \
                     error = EXCLUDED.error",
                )
                .bind(sync)
                .bind(keys)
                .bind(hashes)
                .bind(statuses)
                .bind(idems)
                .bind(ids)
                .bind(errors)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            }
            tx.commit().await.map_err(db_error)
        })
    }

    fn start_run<'a>(
        &'a self,
        sync: &'a str,
        started_at: DateTime<Utc>,
    ) -> BoxFuture<'a, StateResult<i64>> {
        Box::pin(async move {
            let row = sqlx::query(
                "INSERT INTO shopsync_runs (sync, started_at, status, stats) VALUES ($1, $2, 'running', $3::jsonb) \
                 RETURNING id",
            )
            .bind(sync)
            .bind(started_at)
            .bind(stats_json(&Default::default()))
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
            row.try_get(0).map_err(db_error)
        })
    }

    fn finish_run<'a>(&'a self, run: &'a RunRecord) -> BoxFuture<'a, StateResult<()>> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE shopsync_runs SET finished_at = $1, status = $2, stats = $3::jsonb, error = $4 WHERE id = $5",
            )
            .bind(run.finished_at)
            .bind(run.status.as_str())
            .bind(stats_json(&run.stats))
            .bind(&run.error)
            .bind(run.id)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
            Ok(())
        })
    }

    fn runs<'a>(&'a self, sync: &'a str, limit: u32) -> BoxFuture<'a, StateResult<Vec<RunRecord>>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT id, sync, started_at, finished_at, status, stats::text, error FROM shopsync_runs \
                 WHERE sync = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(sync)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
            rows.into_iter()
                .map(|row| {
                    RunRow {
                        id: row.try_get(0).map_err(db_error)?,
                        sync: row.try_get(1).map_err(db_error)?,
                        started_at: row.try_get(2).map_err(db_error)?,
                        finished_at: row.try_get(3).map_err(db_error)?,
                        status: row.try_get(4).map_err(db_error)?,
                        stats: row.try_get(5).map_err(db_error)?,
                        error: row.try_get(6).map_err(db_error)?,
                    }
                    .into_record()
                })
                .collect()
        })
    }

    fn prune_runs<'a>(&'a self, sync: &'a str, keep: u32) -> BoxFuture<'a, StateResult<u64>> {
        Box::pin(async move {
            let done = sqlx::query(
                "DELETE FROM shopsync_runs r WHERE r.sync = $1 \
                 AND r.id NOT IN (SELECT id FROM shopsync_runs WHERE sync = $1 ORDER BY id DESC LIMIT $2) \
                 AND r.id <> COALESCE((SELECT max(id) FROM shopsync_runs WHERE sync = $1 \
                     AND status IN ('succeeded', 'partially_succeeded')), -1) \
                 AND NOT EXISTS (SELECT 1 FROM shopsync_calls c WHERE c.run_id = r.id)",
            )
            .bind(sync)
            .bind(i64::from(keep))
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
            Ok(done.rows_affected())
        })
    }

    fn last_success<'a>(
        &'a self,
        sync: &'a str,
    ) -> BoxFuture<'a, StateResult<Option<DateTime<Utc>>>> {
        Box::pin(async move {
            sqlx::query_scalar(
                "SELECT started_at FROM shopsync_runs WHERE sync = $1 \
                 AND status IN ('succeeded', 'partially_succeeded') ORDER BY id DESC LIMIT 1",
            )
            .bind(sync)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)
        })
    }

    fn alert_states<'a>(&'a self, sync: &'a str) -> BoxFuture<'a, StateResult<Vec<AlertRecord>>> {
        Box::pin(async move {
            let rows: Vec<(String, String, DateTime<Utc>, String)> = sqlx::query_as(
                "SELECT rule, state, since, message FROM shopsync_alerts WHERE sync = $1",
            )
            .bind(sync)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
            rows.into_iter()
                .map(|(rule, state, since, message)| {
                    super::alert_record(sync, &rule, &state, since, message)
                })
                .collect()
        })
    }

    fn save_alert_states<'a>(
        &'a self,
        sync: &'a str,
        records: &'a [AlertRecord],
    ) -> BoxFuture<'a, StateResult<()>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(db_error)?;
            for r in records {
                sqlx::query(
                    "INSERT INTO shopsync_alerts (sync, rule, state, since, message) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (sync, rule) DO UPDATE SET state = EXCLUDED.state, since = EXCLUDED.since, \
                     message = EXCLUDED.message",
                )
                .bind(sync)
                .bind(r.rule.as_str())
                .bind(r.state.as_str())
                .bind(r.since)
                .bind(&r.message)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            }
            tx.commit().await.map_err(db_error)
        })
    }

    fn acquire_lock<'a>(
        &'a self,
        sync: &'a str,
        holder: &'a str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, StateResult<Lease>> {
        Box::pin(async move {
            let expires_at = lease_expiry(now, ttl);
            // One statement decides atomically: take a free, expired or own lock; leave anyone else's.
            let done = sqlx::query(
                "INSERT INTO shopsync_locks (sync, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (sync) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at \
                 WHERE shopsync_locks.expires_at <= $4 OR shopsync_locks.holder = EXCLUDED.holder",
            )
            .bind(sync)
            .bind(holder)
            .bind(expires_at)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
            if done.rows_affected() == 1 {
                return Ok(Lease {
                    sync: sync.to_owned(),
                    holder: holder.to_owned(),
                    expires_at,
                });
            }
            let row = sqlx::query("SELECT holder, expires_at FROM shopsync_locks WHERE sync = $1")
                .bind(sync)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
            Err(StateError::LockHeld {
                sync: sync.to_owned(),
                holder: row.try_get(0).map_err(db_error)?,
                expires_at: row.try_get(1).map_err(db_error)?,
            })
        })
    }

    fn renew_lock<'a>(
        &'a self,
        lease: &'a Lease,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, StateResult<Lease>> {
        Box::pin(async move {
            let expires_at = lease_expiry(now, ttl);
            let done = sqlx::query(
                "UPDATE shopsync_locks SET expires_at = $1 WHERE sync = $2 AND holder = $3",
            )
            .bind(expires_at)
            .bind(&lease.sync)
            .bind(&lease.holder)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
            if done.rows_affected() == 0 {
                return Err(StateError::LockLost {
                    sync: lease.sync.clone(),
                    holder: lease.holder.clone(),
                });
            }
            Ok(Lease {
                expires_at,
                ..lease.clone()
            })
        })
    }

    fn release_lock<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, StateResult<()>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM shopsync_locks WHERE sync = $1 AND holder = $2")
                .bind(&lease.sync)
                .bind(&lease.holder)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
            Ok(())
        })
    }
}
