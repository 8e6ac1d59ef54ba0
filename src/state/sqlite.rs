//! The embedded state store: one SQLite file in WAL mode.
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

mod calls;
mod index;

use super::{
    FieldMap, LedgerRow, RunRow, corrupt, db_error, parse_ownership, parse_values, stats_json,
};
use crate::core::alerts::AlertRecord;
use crate::core::state::SnapshotIndex;
use crate::core::state::{
    Baseline, Lease, LedgerEntry, Outcome, RowHash, RunRecord, SnapshotChange, SnapshotEntry,
    StateError, StateResult, StateStore, lease_expiry,
};

/// Rows per multi-row statement: 7 parameters each stays under SQLite's 32766-parameter limit.
const CHUNK: usize = 1000;

/// The SQLite state store.
#[derive(Debug, Clone)]
pub struct SqliteStateStore {
    pool: SqlitePool,
    path: std::path::PathBuf,
}

impl SqliteStateStore {
    /// Opens (creating if needed) the database file at `path` and applies migrations.
    pub async fn open(path: &Path) -> StateResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL is durable across application crashes; only an OS crash can lose the last commit.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(db_error)?;
        sqlx::migrate!("src/state/migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StateError::Migration(e.to_string()))?;
        Ok(Self {
            pool,
            path: path.to_owned(),
        })
    }
}

/// Snapshot entries per page when loading.
const PAGE: usize = 20_000;

/// One page of a snapshot as JSON: `[key, hash hex, shopify id, outcome, error, source hex, ownership]` per
/// entry.
type PageRow = (
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    String,
);

/// One page as SQLite aggregated it: the entries as a JSON array, the page's last key and its entry count.
type RawPage = (String, Option<String>, i64);

/// Reads one page of a snapshot. A free function over a pool handle, so that the next page can be read on
/// SQLite's worker thread while the caller parses the current one.
async fn raw_page(pool: SqlitePool, sync: String, after: Option<String>) -> StateResult<RawPage> {
    // Two statements rather than `(?2 IS NULL OR key > ?2)`: the OR would keep SQLite from seeking to the
    // page start in the primary key, making every page rescan the sync from its first key.
    let inner = match after {
        None => "WHERE sync = ?1 ORDER BY key LIMIT ?3",
        Some(_) => "WHERE sync = ?1 AND key > ?2 ORDER BY key LIMIT ?3",
    };
    let sql = format!(
        "SELECT json_group_array(json_array(key, lower(hex(hash)), shopify_id, outcome, error, \
         CASE WHEN source IS NULL THEN NULL ELSE lower(hex(source)) END, ownership)), max(key), count(*) \
         FROM (SELECT key, hash, shopify_id, outcome, error, source, ownership FROM shopsync_snapshot {inner})"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(&sync)
        .bind(&after)
        .bind(PAGE as i64)
        .fetch_one(&pool)
        .await
        .map_err(db_error)?;
    Ok((
        row.try_get(0).map_err(db_error)?,
        row.try_get(1).map_err(db_error)?,
        row.try_get(2).map_err(db_error)?,
    ))
}

/// Parses a page read by [`raw_page`]; `after` names the page in errors.
fn parse_page(sync: &str, after: Option<&str>, json: &str) -> StateResult<Vec<SnapshotEntry>> {
    let page: Vec<PageRow> = serde_json::from_str(json)
        .map_err(|e| corrupt(sync, after.unwrap_or_default(), e.to_string()))?;
    page.into_iter()
        .map(
            |(key, hash, shopify_id, outcome, error, source, ownership)| {
                let hash = RowHash::from_hex(&hash)
                    .ok_or_else(|| corrupt(sync, &key, "the stored hash is not 16 bytes"))?;
                let source = source
                    .map(|hex| {
                        RowHash::from_hex(&hex)
                            .ok_or_else(|| corrupt(sync, &key, "the stored source is not 16 bytes"))
                    })
                    .transpose()?;
                let outcome = Outcome::parse(&outcome)
                    .ok_or_else(|| corrupt(sync, &key, format!("unknown outcome `{outcome}`")))?;
                let ownership = parse_ownership(sync, &key, &ownership)?;
                Ok(SnapshotEntry {
                    key,
                    hash,
                    shopify_id,
                    outcome,
                    error,
                    source,
                    ownership,
                })
            },
        )
        .collect()
}

/// Where a paged snapshot read stands: the page being read (on its own task) and the key it starts after.
struct PageCursor {
    pending: tokio::task::JoinHandle<StateResult<RawPage>>,
    after: Option<String>,
}

impl PageCursor {
    fn start(pool: &SqlitePool, sync: &str, after: Option<String>) -> PageCursor {
        PageCursor {
            pending: tokio::spawn(raw_page(pool.clone(), sync.to_owned(), after.clone())),
            after,
        }
    }
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_millis(sync: &str, what: &str, ms: i64) -> StateResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| corrupt(sync, what, format!("timestamp {ms} is out of range")))
}

impl StateStore for SqliteStateStore {
    fn baseline<'a>(&'a self, sync: &'a str) -> BoxFuture<'a, StateResult<Option<Baseline>>> {
        Box::pin(async move {
            let row =
                sqlx::query("SELECT identity, fingerprint FROM shopsync_baselines WHERE sync = ?")
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
        // Pages of entries aggregated into one JSON row each: sqlx hands SQLite rows over from a worker thread
        // one at a time, which made a million-entry load take seconds of thread ping-pong. The next page is
        // read while this one is parsed, so SQLite's work and ours overlap on two cores.
        let pool = self.pool.clone();
        futures::stream::try_unfold(None::<Option<PageCursor>>, move |cursor| {
            let pool = pool.clone();
            async move {
                let cursor = match cursor {
                    None => PageCursor::start(&pool, sync, None),
                    Some(None) => return Ok(None),
                    Some(Some(c)) => c,
                };
                let (json, last, count) =
                    cursor.pending.await.map_err(|e| StateError::Database {
                        message: format!("reading the snapshot: {e}"),
                        retryable: false,
                    })??;
                let next = (count == PAGE as i64).then(|| PageCursor::start(&pool, sync, last));
                let entries = parse_page(sync, cursor.after.as_deref(), &json)?;
                Ok(Some((
                    futures::stream::iter(entries.into_iter().map(Ok)),
                    Some(next),
                )))
            }
        })
        .try_flatten()
        .boxed()
    }

    fn load_index<'a>(
        &'a self,
        sync: &'a str,
        insert_only: bool,
    ) -> BoxFuture<'a, StateResult<SnapshotIndex>> {
        if insert_only {
            return Box::pin(crate::core::state::read_index(self, sync, true));
        }
        let (path, sync_name) = (self.path.clone(), sync.to_owned());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || index::load(&path, &sync_name))
                .await
                .map_err(|e| StateError::Database {
                    message: format!("reading the snapshot: {e}"),
                    retryable: false,
                })?
        })
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
                let mut q = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO shopsync_snapshot (sync, key, hash, shopify_id, outcome, error, source, ownership) ",
                );
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(sync)
                        .push_bind(&e.key)
                        .push_bind(&e.hash.0[..])
                        .push_bind(&e.shopify_id)
                        .push_bind(e.outcome.as_str())
                        .push_bind(&e.error)
                        .push_bind(e.source.as_ref().map(|s| &s.0[..]))
                        .push_bind(e.ownership.as_str());
                });
                q.push(
                    " ON CONFLICT (sync, key) DO UPDATE SET hash = excluded.hash, shopify_id = excluded.shopify_id, \
                     outcome = excluded.outcome, error = excluded.error, source = excluded.source, \
                     ownership = excluded.ownership",
                );
                q.build().execute(&mut *tx).await.map_err(db_error)?;
            }
            let values: Vec<(&str, String)> = changes
                .iter()
                .filter_map(SnapshotChange::as_values)
                .map(|(k, f)| (k, serde_json::Value::Object(f.clone()).to_string()))
                .collect();
            for chunk in values.chunks(CHUNK) {
                let mut q =
                    QueryBuilder::<Sqlite>::new("INSERT INTO shopsync_values (sync, key, fields) ");
                q.push_values(chunk, |mut b, (key, fields)| {
                    b.push_bind(sync).push_bind(*key).push_bind(fields);
                });
                q.push(" ON CONFLICT (sync, key) DO UPDATE SET fields = excluded.fields");
                q.build().execute(&mut *tx).await.map_err(db_error)?;
            }
            let sources: Vec<(&str, RowHash)> = changes
                .iter()
                .filter_map(SnapshotChange::as_source)
                .collect();
            for chunk in sources.chunks(CHUNK) {
                // SQLite names a VALUES list's columns column1, column2.
                let mut q = QueryBuilder::<Sqlite>::new(
                    "UPDATE shopsync_snapshot SET source = v.column2 FROM (",
                );
                q.push_values(chunk, |mut b, (key, digest)| {
                    b.push_bind(*key).push_bind(&digest.0[..]);
                });
                q.push(") AS v WHERE shopsync_snapshot.sync = ")
                    .push_bind(sync)
                    .push(" AND shopsync_snapshot.key = v.column1");
                q.build().execute(&mut *tx).await.map_err(db_error)?;
            }
            let removals: Vec<&str> = changes
                .iter()
                .filter_map(SnapshotChange::as_remove)
                .collect();
            for chunk in removals.chunks(CHUNK) {
                for table in ["shopsync_snapshot", "shopsync_values"] {
                    let mut q =
                        QueryBuilder::<Sqlite>::new(format!("DELETE FROM {table} WHERE sync = "));
                    q.push_bind(sync).push(" AND key IN (");
                    let mut keys = q.separated(", ");
                    for key in chunk {
                        keys.push_bind(*key);
                    }
                    q.push(")");
                    q.build().execute(&mut *tx).await.map_err(db_error)?;
                }
            }
            sqlx::query(
                "INSERT INTO shopsync_baselines (sync, updated_at) VALUES (?, ?) \
                 ON CONFLICT (sync) DO UPDATE SET updated_at = excluded.updated_at",
            )
            .bind(sync)
            .bind(millis(Utc::now()))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            if let Some(b) = changes.iter().rev().find_map(SnapshotChange::as_baseline) {
                sqlx::query(
                    "UPDATE shopsync_baselines SET identity = ?, fingerprint = ? WHERE sync = ?",
                )
                .bind(&b.identity)
                .bind(&b.fingerprint)
                .bind(sync)
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
                "DELETE FROM shopsync_snapshot WHERE sync = ?",
                "DELETE FROM shopsync_values WHERE sync = ?",
                "DELETE FROM shopsync_baselines WHERE sync = ?",
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
                let mut q = QueryBuilder::<Sqlite>::new(
                    "SELECT key, fields FROM shopsync_values WHERE sync = ",
                );
                q.push_bind(sync).push(" AND key IN (");
                let mut binds = q.separated(", ");
                for key in chunk {
                    binds.push_bind(key);
                }
                q.push(")");
                for row in q.build().fetch_all(&self.pool).await.map_err(db_error)? {
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
            "SELECT key, hash, status, idempotency_key, shopify_id, error FROM shopsync_ledger WHERE sync = ?",
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
                let mut q = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO shopsync_ledger (sync, key, hash, status, idempotency_key, shopify_id, error) ",
                );
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(sync)
                        .push_bind(&e.key)
                        .push_bind(&e.hash.0[..])
                        .push_bind(e.status.as_str())
                        .push_bind(&e.idempotency_key)
                        .push_bind(&e.shopify_id)
                        .push_bind(&e.error);
                });
                q.push(
                    " ON CONFLICT (sync, key) DO UPDATE SET hash = excluded.hash, status = excluded.status, \
                     idempotency_key = excluded.idempotency_key, shopify_id = excluded.shopify_id, \
                     error = excluded.error",
                );
                q.build().execute(&mut *tx).await.map_err(db_error)?;
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
            let done = sqlx::query(
                "INSERT INTO shopsync_runs (sync, started_at, status, stats) VALUES (?, ?, 'running', ?)",
            )
            .bind(sync)
            .bind(millis(started_at))
            .bind(stats_json(&Default::default()))
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
            Ok(done.last_insert_rowid())
        })
    }

    fn finish_run<'a>(&'a self, run: &'a RunRecord) -> BoxFuture<'a, StateResult<()>> {
        Box::pin(async move {
            sqlx::query("UPDATE shopsync_runs SET finished_at = ?, status = ?, stats = ?, error = ? WHERE id = ?")
                .bind(run.finished_at.map(millis))
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
                "SELECT id, sync, started_at, finished_at, status, stats, error FROM shopsync_runs \
                 WHERE sync = ? ORDER BY id DESC LIMIT ?",
            )
            .bind(sync)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
            rows.into_iter()
                .map(|row| {
                    let id: i64 = row.try_get(0).map_err(db_error)?;
                    let what = format!("run {id}");
                    let finished: Option<i64> = row.try_get(3).map_err(db_error)?;
                    RunRow {
                        id,
                        sync: row.try_get(1).map_err(db_error)?,
                        started_at: from_millis(sync, &what, row.try_get(2).map_err(db_error)?)?,
                        finished_at: finished
                            .map(|ms| from_millis(sync, &what, ms))
                            .transpose()?,
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
                "DELETE FROM shopsync_runs WHERE sync = ?1 \
                 AND id NOT IN (SELECT id FROM shopsync_runs WHERE sync = ?1 ORDER BY id DESC LIMIT ?2) \
                 AND id <> COALESCE((SELECT max(id) FROM shopsync_runs WHERE sync = ?1 \
                     AND status IN ('succeeded', 'partially_succeeded')), -1) \
                 AND NOT EXISTS (SELECT 1 FROM shopsync_calls c WHERE c.run_id = shopsync_runs.id)",
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
            let started: Option<i64> = sqlx::query_scalar(
                "SELECT started_at FROM shopsync_runs WHERE sync = ? \
                 AND status IN ('succeeded', 'partially_succeeded') ORDER BY id DESC LIMIT 1",
            )
            .bind(sync)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
            started
                .map(|ms| from_millis(sync, "last successful run", ms))
                .transpose()
        })
    }

    fn alert_states<'a>(&'a self, sync: &'a str) -> BoxFuture<'a, StateResult<Vec<AlertRecord>>> {
        Box::pin(async move {
            let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
                "SELECT rule, state, since, message FROM shopsync_alerts WHERE sync = ?",
            )
            .bind(sync)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
            rows.into_iter()
                .map(|(rule, state, since, message)| {
                    let since = from_millis(sync, &format!("alert {rule}"), since)?;
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
                    "INSERT INTO shopsync_alerts (sync, rule, state, since, message) VALUES (?, ?, ?, ?, ?) \
                     ON CONFLICT (sync, rule) DO UPDATE SET state = excluded.state, since = excluded.since, \
                     message = excluded.message",
                )
                .bind(sync)
                .bind(r.rule.as_str())
                .bind(r.state.as_str())
                .bind(millis(r.since))
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
                "INSERT INTO shopsync_locks (sync, holder, expires_at) VALUES (?, ?, ?) \
                 ON CONFLICT (sync) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                 WHERE shopsync_locks.expires_at <= ? OR shopsync_locks.holder = excluded.holder",
            )
            .bind(sync)
            .bind(holder)
            .bind(millis(expires_at))
            .bind(millis(now))
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
            let row = sqlx::query("SELECT holder, expires_at FROM shopsync_locks WHERE sync = ?")
                .bind(sync)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
            let current: String = row.try_get(0).map_err(db_error)?;
            let until = from_millis(sync, "lock", row.try_get(1).map_err(db_error)?)?;
            Err(StateError::LockHeld {
                sync: sync.to_owned(),
                holder: current,
                expires_at: until,
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
                "UPDATE shopsync_locks SET expires_at = ? WHERE sync = ? AND holder = ?",
            )
            .bind(millis(expires_at))
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
            sqlx::query("DELETE FROM shopsync_locks WHERE sync = ? AND holder = ?")
                .bind(&lease.sync)
                .bind(&lease.holder)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
            Ok(())
        })
    }
}
