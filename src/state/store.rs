//! The state store over either database: the store logic and its statements, written once.
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, QueryBuilder, Row, Type,
};

use super::dialect::{Conn, Dialect};
use super::{FieldMap, LedgerRow, RunRow, alert_record, corrupt, db_error, parse_values};
use crate::core::alerts::AlertRecord;
use crate::core::state::SnapshotIndex;
use crate::core::state::{
    Baseline, BulkJournal, Lease, LedgerEntry, RunRecord, RunStats, SnapshotChange, SnapshotEntry,
    StateError, StateResult, StateStore, lease_expiry, read_index,
};

/// A state store: the shared statements, run on a [`Dialect`]'s pool.
#[derive(Debug)]
pub struct SqlStore<D: Dialect> {
    pub(super) pool: Pool<D::Db>,
    pub(super) dialect: D,
}

// By hand: a derive would ask the driver type itself to be `Clone`; the pool is a handle to share.
impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            dialect: self.dialect.clone(),
        }
    }
}

/// The arguments of a dialect's statements.
pub(super) type Args<D> = <<D as Dialect>::Db as Database>::Arguments;
/// A row of a dialect's database.
pub(super) type DbRow<D> = <<D as Dialect>::Db as Database>::Row;

/// A statement of the shared set.
pub(super) fn sql<D: Dialect>(text: &'static str) -> Query<'static, D::Db, Args<D>> {
    sqlx::query(text)
}

/// Column `i` of a row.
pub(super) fn col<'r, R, T>(row: &'r R, i: usize) -> StateResult<T>
where
    R: Row,
    usize: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(i).map_err(db_error)
}

/// A stored point in time, naming what it belongs to when it is unreadable.
pub(super) fn when<D: Dialect>(sync: &str, what: &str, t: D::Time) -> StateResult<DateTime<Utc>> {
    D::from_time(t).map_err(|message| corrupt(sync, what, message))
}

/// `head` followed by `sync = <sync> AND key IN (<keys>)`, each key bound on its own.
fn keyed<'k, DB>(
    head: &str,
    sync: &str,
    keys: impl IntoIterator<Item = &'k str>,
) -> QueryBuilder<DB>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
{
    let mut q = QueryBuilder::new(head);
    q.push("sync = ").push_bind(sync).push(" AND key IN (");
    let mut binds = q.separated(", ");
    for key in keys {
        binds.push_bind(key);
    }
    q.push(")");
    q
}

/// A run as read by `SELECT id, sync, started_at, finished_at, status, CAST(stats AS TEXT), error`.
pub(super) fn run_record<D, R>(row: &R) -> StateResult<RunRecord>
where
    D: Dialect,
    R: Row<Database = D::Db>,
    usize: ColumnIndex<R>,
    i64: for<'r> Decode<'r, D::Db> + Type<D::Db>,
    String: for<'r> Decode<'r, D::Db> + Type<D::Db>,
{
    let id: i64 = col(row, 0)?;
    let sync: String = col(row, 1)?;
    let what = format!("run {id}");
    let started_at = when::<D>(&sync, &what, col(row, 2)?)?;
    let finished: Option<D::Time> = col(row, 3)?;
    RunRow {
        id,
        started_at,
        finished_at: finished.map(|t| when::<D>(&sync, &what, t)).transpose()?,
        sync,
        status: col(row, 4)?,
        stats: col(row, 5)?,
        error: col(row, 6)?,
    }
    .into_record()
}

impl<D> StateStore for SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    Args<D>: IntoArguments<D::Db>,
    usize: ColumnIndex<DbRow<D>>,
    for<'t> &'t str: Encode<'t, D::Db> + Type<D::Db>,
    for<'t> Option<&'t str>: Encode<'t, D::Db>,
    i64: for<'t> Encode<'t, D::Db> + for<'r> Decode<'r, D::Db> + Type<D::Db>,
    Option<D::Time>: for<'t> Encode<'t, D::Db>,
    Json<RunStats>: for<'t> Encode<'t, D::Db> + Type<D::Db>,
    String: for<'r> Decode<'r, D::Db> + Type<D::Db>,
    Vec<u8>: for<'r> Decode<'r, D::Db> + Type<D::Db>,
{
    fn baseline<'a>(&'a self, sync: &'a str) -> BoxFuture<'a, StateResult<Option<Baseline>>> {
        Box::pin(async move {
            let row =
                sql::<D>("SELECT identity, fingerprint FROM shopsync_baselines WHERE sync = $1")
                    .bind(sync)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?;
            row.map(|r| {
                Ok(Baseline {
                    identity: col(&r, 0)?,
                    fingerprint: col(&r, 1)?,
                })
            })
            .transpose()
        })
    }

    fn snapshot<'a>(&'a self, sync: &'a str) -> BoxStream<'a, StateResult<SnapshotEntry>> {
        self.dialect.snapshot(&self.pool, sync)
    }

    fn load_index<'a>(
        &'a self,
        sync: &'a str,
        insert_only: bool,
    ) -> BoxFuture<'a, StateResult<SnapshotIndex>> {
        self.dialect
            .load_index(sync, insert_only)
            .unwrap_or_else(|| Box::pin(read_index(self, sync, insert_only)))
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
            for chunk in upserts.chunks(D::CHUNK) {
                D::upsert_snapshot(&mut *tx, sync, chunk).await?;
            }
            let values: Vec<(&str, String)> = changes
                .iter()
                .filter_map(SnapshotChange::as_values)
                .map(|(k, f)| (k, serde_json::Value::Object(f.clone()).to_string()))
                .collect();
            for chunk in values.chunks(D::CHUNK) {
                D::upsert_values(&mut *tx, sync, chunk).await?;
            }
            let sources: Vec<_> = changes
                .iter()
                .filter_map(SnapshotChange::as_source)
                .collect();
            for chunk in sources.chunks(D::CHUNK) {
                D::update_sources(&mut *tx, sync, chunk).await?;
            }
            let removals: Vec<&str> = changes
                .iter()
                .filter_map(SnapshotChange::as_remove)
                .collect();
            for chunk in removals.chunks(D::CHUNK) {
                for head in [
                    "DELETE FROM shopsync_snapshot WHERE ",
                    "DELETE FROM shopsync_values WHERE ",
                ] {
                    keyed::<D::Db>(head, sync, chunk.iter().copied())
                        .build()
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
            }
            sql::<D>(
                "INSERT INTO shopsync_baselines (sync, updated_at) VALUES ($1, $2) \
                 ON CONFLICT (sync) DO UPDATE SET updated_at = EXCLUDED.updated_at",
            )
            .bind(sync)
            .bind(D::time(Utc::now()))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            if let Some(b) = changes.iter().rev().find_map(SnapshotChange::as_baseline) {
                sql::<D>(
                    "UPDATE shopsync_baselines SET identity = $2, fingerprint = $3 WHERE sync = $1",
                )
                .bind(sync)
                .bind(b.identity.as_deref())
                .bind(b.fingerprint.as_deref())
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
            for statement in [
                "DELETE FROM shopsync_snapshot WHERE sync = $1",
                "DELETE FROM shopsync_values WHERE sync = $1",
                "DELETE FROM shopsync_baselines WHERE sync = $1",
            ] {
                sql::<D>(statement)
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
            for chunk in keys.chunks(D::CHUNK) {
                let rows = keyed::<D::Db>(
                    "SELECT key, CAST(fields AS TEXT) FROM shopsync_values WHERE ",
                    sync,
                    chunk.iter().map(String::as_str),
                )
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                for row in rows {
                    let key: String = col(&row, 0)?;
                    let text: String = col(&row, 1)?;
                    let fields = parse_values(sync, &key, &text)?;
                    out.push((key, fields));
                }
            }
            Ok(out)
        })
    }

    fn ledger<'a>(&'a self, sync: &'a str) -> BoxStream<'a, StateResult<LedgerEntry>> {
        sql::<D>(
            "SELECT key, hash, status, idempotency_key, shopify_id, error FROM shopsync_ledger WHERE sync = $1",
        )
        .bind(sync)
        .fetch(&self.pool)
        .map_err(db_error)
        .and_then(move |row| async move {
            LedgerRow {
                key: col(&row, 0)?,
                hash: col(&row, 1)?,
                status: col(&row, 2)?,
                idempotency_key: col(&row, 3)?,
                shopify_id: col(&row, 4)?,
                error: col(&row, 5)?,
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
            for chunk in entries.chunks(D::CHUNK) {
                D::upsert_ledger(&mut *tx, sync, chunk).await?;
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
            let row = sql::<D>(
                "INSERT INTO shopsync_runs (sync, started_at, status, stats) VALUES ($1, $2, 'running', $3) \
                 RETURNING id",
            )
            .bind(sync)
            .bind(D::time(started_at))
            .bind(Json(RunStats::default()))
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
            col(&row, 0)
        })
    }

    fn finish_run<'a>(&'a self, run: &'a RunRecord) -> BoxFuture<'a, StateResult<()>> {
        Box::pin(async move {
            sql::<D>(
                "UPDATE shopsync_runs SET finished_at = $1, status = $2, stats = $3, error = $4 WHERE id = $5",
            )
            .bind(run.finished_at.map(D::time))
            .bind(run.status.as_str())
            .bind(Json(run.stats))
            .bind(run.error.as_deref())
            .bind(run.id)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
            Ok(())
        })
    }

    fn runs<'a>(&'a self, sync: &'a str, limit: u32) -> BoxFuture<'a, StateResult<Vec<RunRecord>>> {
        Box::pin(async move {
            let rows = sql::<D>(
                "SELECT id, sync, started_at, finished_at, status, CAST(stats AS TEXT), error \
                 FROM shopsync_runs WHERE sync = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(sync)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
            rows.iter().map(run_record::<D, _>).collect()
        })
    }

    fn prune_runs<'a>(&'a self, sync: &'a str, keep: u32) -> BoxFuture<'a, StateResult<u64>> {
        Box::pin(async move {
            let done = sql::<D>(
                "DELETE FROM shopsync_runs WHERE sync = $1 \
                 AND id NOT IN (SELECT id FROM shopsync_runs WHERE sync = $1 ORDER BY id DESC LIMIT $2) \
                 AND id <> COALESCE((SELECT max(id) FROM shopsync_runs WHERE sync = $1 \
                     AND status IN ('succeeded', 'partially_succeeded')), -1) \
                 AND NOT EXISTS (SELECT 1 FROM shopsync_calls c WHERE c.run_id = shopsync_runs.id)",
            )
            .bind(sync)
            .bind(i64::from(keep))
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
            Ok(D::rows_affected(&done))
        })
    }

    fn last_success<'a>(
        &'a self,
        sync: &'a str,
    ) -> BoxFuture<'a, StateResult<Option<DateTime<Utc>>>> {
        Box::pin(async move {
            let row = sql::<D>(
                "SELECT started_at FROM shopsync_runs WHERE sync = $1 \
                 AND status IN ('succeeded', 'partially_succeeded') ORDER BY id DESC LIMIT 1",
            )
            .bind(sync)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
            row.map(|r| when::<D>(sync, "last successful run", col(&r, 0)?))
                .transpose()
        })
    }

    fn alert_states<'a>(&'a self, sync: &'a str) -> BoxFuture<'a, StateResult<Vec<AlertRecord>>> {
        Box::pin(async move {
            let rows =
                sql::<D>("SELECT rule, state, since, message FROM shopsync_alerts WHERE sync = $1")
                    .bind(sync)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
            rows.iter()
                .map(|row| {
                    let rule: String = col(row, 0)?;
                    let state: String = col(row, 1)?;
                    let since = when::<D>(sync, &format!("alert {rule}"), col(row, 2)?)?;
                    alert_record(sync, &rule, &state, since, col(row, 3)?)
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
                sql::<D>(
                    "INSERT INTO shopsync_alerts (sync, rule, state, since, message) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (sync, rule) DO UPDATE SET state = EXCLUDED.state, since = EXCLUDED.since, \
                     message = EXCLUDED.message",
                )
                .bind(sync)
                .bind(r.rule.as_str())
                .bind(r.state.as_str())
                .bind(D::time(r.since))
                .bind(r.message.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            }
            tx.commit().await.map_err(db_error)
        })
    }

    fn bulk_journal<'a>(
        &'a self,
        sync: &'a str,
    ) -> BoxFuture<'a, StateResult<Option<BulkJournal>>> {
        Box::pin(async move {
            let row = sql::<D>("SELECT body FROM shopsync_bulk_journal WHERE sync = $1")
                .bind(sync)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
            let Some(row) = row else { return Ok(None) };
            let body: String = col(&row, 0)?;
            serde_json::from_str(&body)
                .map(Some)
                .map_err(|e| corrupt(sync, "bulk journal", e.to_string()))
        })
    }

    fn save_bulk_journal<'a>(
        &'a self,
        sync: &'a str,
        journal: &'a BulkJournal,
    ) -> BoxFuture<'a, StateResult<()>> {
        Box::pin(async move {
            let body = serde_json::to_string(journal)
                .map_err(|e| corrupt(sync, "bulk journal", e.to_string()))?;
            sql::<D>(
                "INSERT INTO shopsync_bulk_journal (sync, body) VALUES ($1, $2) \
                 ON CONFLICT (sync) DO UPDATE SET body = EXCLUDED.body",
            )
            .bind(sync)
            .bind(body.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
            Ok(())
        })
    }

    fn clear_bulk_journal<'a>(&'a self, sync: &'a str) -> BoxFuture<'a, StateResult<()>> {
        Box::pin(async move {
            sql::<D>("DELETE FROM shopsync_bulk_journal WHERE sync = $1")
                .bind(sync)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
            Ok(())
        })
    }

    fn claim_drift_check<'a>(
        &'a self,
        sync: &'a str,
        now: DateTime<Utc>,
        due_from: DateTime<Utc>,
    ) -> BoxFuture<'a, StateResult<bool>> {
        Box::pin(async move {
            let done = sql::<D>(
                "INSERT INTO shopsync_drift_checks (sync, checked_at) VALUES ($1, $2) \
                 ON CONFLICT (sync) DO UPDATE SET checked_at = EXCLUDED.checked_at \
                 WHERE shopsync_drift_checks.checked_at <= $3",
            )
            .bind(sync)
            .bind(D::time(now))
            .bind(D::time(due_from))
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
            Ok(D::rows_affected(&done) > 0)
        })
    }

    fn last_drift_check<'a>(
        &'a self,
        sync: &'a str,
    ) -> BoxFuture<'a, StateResult<Option<DateTime<Utc>>>> {
        Box::pin(async move {
            let row = sql::<D>("SELECT checked_at FROM shopsync_drift_checks WHERE sync = $1")
                .bind(sync)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
            row.map(|r| when::<D>(sync, "last drift check", col(&r, 0)?))
                .transpose()
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
            let done = sql::<D>(
                "INSERT INTO shopsync_locks (sync, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (sync) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at \
                 WHERE shopsync_locks.expires_at <= $4 OR shopsync_locks.holder = EXCLUDED.holder",
            )
            .bind(sync)
            .bind(holder)
            .bind(D::time(expires_at))
            .bind(D::time(now))
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
            if D::rows_affected(&done) == 1 {
                return Ok(Lease {
                    sync: sync.to_owned(),
                    holder: holder.to_owned(),
                    expires_at,
                });
            }
            let row = sql::<D>("SELECT holder, expires_at FROM shopsync_locks WHERE sync = $1")
                .bind(sync)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
            Err(StateError::LockHeld {
                sync: sync.to_owned(),
                holder: col(&row, 0)?,
                expires_at: when::<D>(sync, "lock", col(&row, 1)?)?,
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
            let done = sql::<D>(
                "UPDATE shopsync_locks SET expires_at = $1 WHERE sync = $2 AND holder = $3",
            )
            .bind(D::time(expires_at))
            .bind(lease.sync.as_str())
            .bind(lease.holder.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
            if D::rows_affected(&done) == 0 {
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
            sql::<D>("DELETE FROM shopsync_locks WHERE sync = $1 AND holder = $2")
                .bind(lease.sync.as_str())
                .bind(lease.holder.as_str())
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
            Ok(())
        })
    }
}
