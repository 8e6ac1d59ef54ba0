//! The embedded state store: one SQLite file in WAL mode. Times are stored as milliseconds since the epoch; bulk
//! writes are multi-row `VALUES` lists; a snapshot is read in pages aggregated to JSON, and its diff index straight
//! from the file (see `index`).
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions,
    SqliteQueryResult, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

mod index;

use super::calls::{keys_json, limit, size_of};
use super::dialect::Dialect;
use super::store::SqlStore;
use super::{corrupt, db_error, parse_ownership};
use crate::core::calls::ApiCall;
use crate::core::state::SnapshotIndex;
use crate::core::state::{LedgerEntry, Outcome, RowHash, SnapshotEntry, StateError, StateResult};

/// The SQLite state store.
pub type SqliteStateStore = SqlStore<SqliteDialect>;

/// SQLite's side of the state store; it knows the file, to read a diff index straight from it.
#[derive(Debug, Clone)]
pub struct SqliteDialect {
    path: PathBuf,
}

/// Calls per multi-row insert: 17 parameters each stays under SQLite's 32766-parameter limit.
const CALL_CHUNK: usize = 500;

impl SqlStore<SqliteDialect> {
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
            dialect: SqliteDialect {
                path: path.to_owned(),
            },
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

impl Dialect for SqliteDialect {
    type Db = Sqlite;
    type Time = i64;

    /// Rows per multi-row statement: 8 parameters each stays under SQLite's 32766-parameter limit.
    const CHUNK: usize = 1000;

    fn time(t: DateTime<Utc>) -> i64 {
        t.timestamp_millis()
    }

    fn from_time(ms: i64) -> Result<DateTime<Utc>, String> {
        DateTime::from_timestamp_millis(ms).ok_or_else(|| format!("timestamp {ms} is out of range"))
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    fn snapshot<'a>(
        &'a self,
        pool: &'a SqlitePool,
        sync: &'a str,
    ) -> BoxStream<'a, StateResult<SnapshotEntry>> {
        // Pages of entries aggregated into one JSON row each: sqlx hands SQLite rows over from a worker thread
        // one at a time, which made a million-entry load take seconds of thread ping-pong. The next page is
        // read while this one is parsed, so SQLite's work and ours overlap on two cores.
        let pool = pool.clone();
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
    ) -> Option<BoxFuture<'a, StateResult<SnapshotIndex>>> {
        if insert_only {
            return None;
        }
        let (path, sync_name) = (self.path.clone(), sync.to_owned());
        Some(Box::pin(async move {
            tokio::task::spawn_blocking(move || index::load(&path, &sync_name))
                .await
                .map_err(|e| StateError::Database {
                    message: format!("reading the snapshot: {e}"),
                    retryable: false,
                })?
        }))
    }

    fn upsert_snapshot<'c>(
        conn: &'c mut SqliteConnection,
        sync: &'c str,
        chunk: &'c [&'c SnapshotEntry],
    ) -> BoxFuture<'c, StateResult<()>> {
        Box::pin(async move {
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
            q.build().execute(conn).await.map_err(db_error)?;
            Ok(())
        })
    }

    fn upsert_values<'c>(
        conn: &'c mut SqliteConnection,
        sync: &'c str,
        chunk: &'c [(&'c str, String)],
    ) -> BoxFuture<'c, StateResult<()>> {
        Box::pin(async move {
            let mut q =
                QueryBuilder::<Sqlite>::new("INSERT INTO shopsync_values (sync, key, fields) ");
            q.push_values(chunk, |mut b, (key, fields)| {
                b.push_bind(sync).push_bind(*key).push_bind(fields);
            });
            q.push(" ON CONFLICT (sync, key) DO UPDATE SET fields = excluded.fields");
            q.build().execute(conn).await.map_err(db_error)?;
            Ok(())
        })
    }

    fn update_sources<'c>(
        conn: &'c mut SqliteConnection,
        sync: &'c str,
        chunk: &'c [(&'c str, RowHash)],
    ) -> BoxFuture<'c, StateResult<()>> {
        Box::pin(async move {
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
            q.build().execute(conn).await.map_err(db_error)?;
            Ok(())
        })
    }

    fn upsert_ledger<'c>(
        conn: &'c mut SqliteConnection,
        sync: &'c str,
        chunk: &'c [LedgerEntry],
    ) -> BoxFuture<'c, StateResult<()>> {
        Box::pin(async move {
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
            q.build().execute(conn).await.map_err(db_error)?;
            Ok(())
        })
    }

    fn append_calls<'a>(
        pool: &'a SqlitePool,
        calls: &'a [ApiCall],
    ) -> BoxFuture<'a, StateResult<()>> {
        Box::pin(async move {
            let mut tx = pool.begin().await.map_err(db_error)?;
            for chunk in calls.chunks(CALL_CHUNK) {
                let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                    "INSERT INTO shopsync_calls (run_id, sync, started_at, duration_us, method, url, operation, \
                     document, variables, status, response, error, cost_requested, cost_actual, keys, attempt, size) ",
                );
                q.push_values(chunk, |mut b, c| {
                    b.push_bind(c.run_id)
                        .push_bind(&c.sync)
                        .push_bind(Self::time(c.started_at))
                        .push_bind(limit(c.duration_us))
                        .push_bind(&c.method)
                        .push_bind(&c.url)
                        .push_bind(&c.operation)
                        .push_bind(&c.document)
                        .push_bind(&c.variables)
                        .push_bind(c.status.map(i64::from))
                        .push_bind(&c.response)
                        .push_bind(&c.error)
                        .push_bind(c.cost_requested)
                        .push_bind(c.cost_actual)
                        .push_bind(keys_json(c))
                        .push_bind(i64::from(c.attempt))
                        .push_bind(size_of(c));
                });
                q.push(" RETURNING id");
                let ids = q.build().fetch_all(&mut *tx).await.map_err(db_error)?;
                let first = ids
                    .iter()
                    .filter_map(|r| r.try_get::<i64, _>(0).ok())
                    .min()
                    .unwrap_or(i64::MAX);
                // The transaction holds the write lock since the insert: every call from `first` on is ours.
                sqlx::query(
                    "INSERT OR IGNORE INTO shopsync_call_keys (sync, key, call_id) \
                     SELECT c.sync, k.value, c.id FROM shopsync_calls c, json_each(c.keys) k WHERE c.id >= ?",
                )
                .bind(first)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            }
            tx.commit().await.map_err(db_error)?;
            Ok(())
        })
    }
}
