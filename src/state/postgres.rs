//! The PostgreSQL state store, for the controller in a cluster: connecting (a schema per installation if asked),
//! its migrations, and the bulk writes PostgreSQL does fastest, a whole column bound as one array (`UNNEST`).
use std::str::FromStr;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgQueryResult};
use sqlx::{PgPool, Postgres, Row};

use super::calls::{keys_json, limit, size_of};
use super::dialect::Dialect;
use super::store::SqlStore;
use super::{SnapshotRow, db_error};
use crate::core::calls::ApiCall;
use crate::core::state::{LedgerEntry, RowHash, SnapshotEntry, StateError, StateResult};

/// The PostgreSQL state store.
pub type PostgresStateStore = SqlStore<PgDialect>;

/// PostgreSQL's side of the state store: `timestamptz` times, `UNNEST` bulk writes.
#[derive(Debug, Clone, Copy)]
pub struct PgDialect;

impl SqlStore<PgDialect> {
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
        Ok(Self {
            pool,
            dialect: PgDialect,
        })
    }
}

/// PostgreSQL rejects NUL in text; Shopify answers never carry one, but a warehouse value might.
fn pg_text(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

fn pg_opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(pg_text)
}

impl Dialect for PgDialect {
    type Db = Postgres;
    type Time = DateTime<Utc>;

    /// Rows per `UNNEST` statement.
    const CHUNK: usize = 10_000;

    fn time(t: DateTime<Utc>) -> DateTime<Utc> {
        t
    }

    fn from_time(t: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
        Ok(t)
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }

    fn snapshot<'a>(
        &'a self,
        pool: &'a PgPool,
        sync: &'a str,
    ) -> BoxStream<'a, StateResult<SnapshotEntry>> {
        sqlx::query(
            "SELECT key, hash, shopify_id, outcome, error, source, ownership FROM shopsync_snapshot WHERE sync = $1",
        )
        .bind(sync)
        .fetch(pool)
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

    fn upsert_snapshot<'c>(
        conn: &'c mut PgConnection,
        sync: &'c str,
        chunk: &'c [&'c SnapshotEntry],
    ) -> BoxFuture<'c, StateResult<()>> {
        Box::pin(async move {
            let keys: Vec<&str> = chunk.iter().map(|e| e.key.as_str()).collect();
            let hashes: Vec<&[u8]> = chunk.iter().map(|e| &e.hash.0[..]).collect();
            let ids: Vec<Option<&str>> = chunk.iter().map(|e| e.shopify_id.as_deref()).collect();
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
            .execute(conn)
            .await
            .map_err(db_error)?;
            Ok(())
        })
    }

    fn upsert_values<'c>(
        conn: &'c mut PgConnection,
        sync: &'c str,
        chunk: &'c [(&'c str, String)],
    ) -> BoxFuture<'c, StateResult<()>> {
        Box::pin(async move {
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
            .execute(conn)
            .await
            .map_err(db_error)?;
            Ok(())
        })
    }

    fn update_sources<'c>(
        conn: &'c mut PgConnection,
        sync: &'c str,
        chunk: &'c [(&'c str, RowHash)],
    ) -> BoxFuture<'c, StateResult<()>> {
        Box::pin(async move {
            let keys: Vec<&str> = chunk.iter().map(|(k, _)| *k).collect();
            let digests: Vec<&[u8]> = chunk.iter().map(|(_, d)| &d.0[..]).collect();
            sqlx::query(
                "UPDATE shopsync_snapshot AS s SET source = t.d \
                 FROM UNNEST($2::text[], $3::bytea[]) AS t (k, d) WHERE s.sync = $1 AND s.key = t.k",
            )
            .bind(sync)
            .bind(keys)
            .bind(digests)
            .execute(conn)
            .await
            .map_err(db_error)?;
            Ok(())
        })
    }

    fn upsert_ledger<'c>(
        conn: &'c mut PgConnection,
        sync: &'c str,
        chunk: &'c [LedgerEntry],
    ) -> BoxFuture<'c, StateResult<()>> {
        Box::pin(async move {
            let keys: Vec<&str> = chunk.iter().map(|e| e.key.as_str()).collect();
            let hashes: Vec<&[u8]> = chunk.iter().map(|e| &e.hash.0[..]).collect();
            let statuses: Vec<&str> = chunk.iter().map(|e| e.status.as_str()).collect();
            let idems: Vec<Option<&str>> =
                chunk.iter().map(|e| e.idempotency_key.as_deref()).collect();
            let ids: Vec<Option<&str>> = chunk.iter().map(|e| e.shopify_id.as_deref()).collect();
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
            .execute(conn)
            .await
            .map_err(db_error)?;
            Ok(())
        })
    }

    fn append_calls<'a>(pool: &'a PgPool, calls: &'a [ApiCall]) -> BoxFuture<'a, StateResult<()>> {
        Box::pin(async move {
            let mut run_id = Vec::with_capacity(calls.len());
            let mut sync = Vec::with_capacity(calls.len());
            let mut started_at = Vec::with_capacity(calls.len());
            let mut duration_us = Vec::with_capacity(calls.len());
            let mut method = Vec::with_capacity(calls.len());
            let mut url = Vec::with_capacity(calls.len());
            let mut operation = Vec::with_capacity(calls.len());
            let mut document = Vec::with_capacity(calls.len());
            let mut variables = Vec::with_capacity(calls.len());
            let mut status = Vec::with_capacity(calls.len());
            let mut response = Vec::with_capacity(calls.len());
            let mut error = Vec::with_capacity(calls.len());
            let mut cost_requested = Vec::with_capacity(calls.len());
            let mut cost_actual = Vec::with_capacity(calls.len());
            let mut keys = Vec::with_capacity(calls.len());
            let mut attempt = Vec::with_capacity(calls.len());
            let mut size = Vec::with_capacity(calls.len());
            for c in calls {
                run_id.push(c.run_id);
                sync.push(pg_text(&c.sync));
                started_at.push(c.started_at);
                duration_us.push(limit(c.duration_us));
                method.push(c.method.clone());
                url.push(pg_text(&c.url));
                operation.push(pg_opt(&c.operation));
                document.push(pg_opt(&c.document));
                variables.push(pg_opt(&c.variables));
                status.push(c.status.map(i32::from));
                response.push(pg_opt(&c.response));
                error.push(pg_opt(&c.error));
                cost_requested.push(c.cost_requested);
                cost_actual.push(c.cost_actual);
                keys.push(pg_text(&keys_json(c)));
                attempt.push(i32::try_from(c.attempt).unwrap_or(i32::MAX));
                size.push(size_of(c));
            }
            // One statement: the calls, then a key row per primary key of each, from what the insert returned.
            sqlx::query(
                "WITH inserted AS (\
                   INSERT INTO shopsync_calls (run_id, sync, started_at, duration_us, method, url, operation, \
                     document, variables, status, response, error, cost_requested, cost_actual, keys, attempt, size) \
                   SELECT run_id, sync, started_at, duration_us, method, url, operation, document, variables, \
                     status, response, error, cost_requested, cost_actual, keys::jsonb, attempt, size \
                   FROM UNNEST($1::bigint[], $2::text[], $3::timestamptz[], $4::bigint[], $5::text[], $6::text[], \
                     $7::text[], $8::text[], $9::text[], $10::int[], $11::text[], $12::text[], $13::float8[], \
                     $14::float8[], $15::text[], $16::int[], $17::bigint[]) \
                     AS t(run_id, sync, started_at, duration_us, method, url, operation, document, variables, \
                     status, response, error, cost_requested, cost_actual, keys, attempt, size) \
                   RETURNING id, sync, keys) \
                 INSERT INTO shopsync_call_keys (sync, key, call_id) \
                 SELECT DISTINCT i.sync, k, i.id FROM inserted i, jsonb_array_elements_text(i.keys) k \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&run_id)
            .bind(&sync)
            .bind(&started_at)
            .bind(&duration_us)
            .bind(&method)
            .bind(&url)
            .bind(&operation)
            .bind(&document)
            .bind(&variables)
            .bind(&status)
            .bind(&response)
            .bind(&error)
            .bind(&cost_requested)
            .bind(&cost_actual)
            .bind(&keys)
            .bind(&attempt)
            .bind(&size)
            .execute(pool)
            .await
            .map_err(db_error)?;
            Ok(())
        })
    }
}
