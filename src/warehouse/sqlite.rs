//! SQLite: a read-only connection; the statement timeout is enforced by the reader, SQLite having none.
use std::str::FromStr;

use futures::TryStreamExt;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteRow};
use sqlx::{Column, Executor, Row, SqlitePool, Statement, TypeInfo, ValueRef};
use tokio::time::{Instant, timeout_at};

use super::Feed;
use super::errors::{Phase, classify};
use super::values::float;
use crate::core::record::Value;
use crate::core::source::SourceRow;
use crate::core::source::{StreamRequest, WarehouseError};

/// A lazy read-only pool for `url`.
pub(super) fn pool(url: &str) -> Result<SqlitePool, String> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| e.to_string())?
        .read_only(true);
    Ok(SqlitePoolOptions::new()
        .max_connections(2)
        .connect_lazy_with(options))
}

/// The same lazy pool with another acquire timeout (nothing is connected yet, so nothing is lost).
pub(super) fn with_acquire_timeout(pool: SqlitePool, timeout: std::time::Duration) -> SqlitePool {
    let options = pool.connect_options().as_ref().clone();
    let max = pool.options().get_max_connections();
    pool.options()
        .clone()
        .max_connections(max)
        .acquire_timeout(timeout)
        .connect_lazy_with(options)
}

/// Runs the request and feeds its rows; see [`super::Feed`].
pub(super) async fn read(pool: SqlitePool, request: StreamRequest, mut feed: Feed) {
    let sync = request.sync.clone();
    let timeout = request.statement_timeout;
    let deadline = Instant::now() + timeout;
    let fail = |phase, columns: &[String], e| classify(&sync, phase, timeout, columns, e);
    let timed_out = || WarehouseError::Timeout {
        sync: sync.clone(),
        timeout,
    };

    let mut conn = match pool.acquire().await {
        Ok(c) => c,
        Err(e) => return feed.fail(fail(Phase::Connect, &[], e)).await,
    };
    let statement = match conn
        .prepare(sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(
            // The sync's own SQL, run as written (read-only where the database allows).
            request.query.as_str(),
        )))
        .await
    {
        Ok(s) => s,
        Err(e) => return feed.fail(fail(Phase::Query, &[], e)).await,
    };
    let names: Vec<String> = statement
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    // The declared type decides booleans; everything else follows the stored value's class.
    let booleans: Vec<bool> = statement
        .columns()
        .iter()
        .map(|c| c.type_info().name().eq_ignore_ascii_case("BOOLEAN"))
        .collect();
    if !feed.header(names.clone(), &request.required_columns) {
        return;
    }
    let mut rows = statement.query().fetch(&mut *conn);
    loop {
        let next = match timeout_at(deadline, rows.try_next()).await {
            Ok(next) => next,
            Err(_) => {
                // The statement may still be running in the driver's worker: keep that connection out of the pool.
                drop(rows);
                drop(conn.detach());
                return feed.fail(timed_out()).await;
            }
        };
        match next {
            Ok(Some(row)) => match decode_row(&row, &booleans) {
                Ok(values) => {
                    if !feed.row(SourceRow::new(values)).await {
                        return;
                    }
                }
                Err(e) => return feed.fail(fail(Phase::Stream, &names, e)).await,
            },
            Ok(None) => break,
            Err(e) => return feed.fail(fail(Phase::Stream, &names, e)).await,
        }
    }
    feed.end().await;
}

fn decode_row(row: &SqliteRow, booleans: &[bool]) -> Result<Vec<Value>, sqlx::Error> {
    (0..row.len())
        .map(|i| decode(row, i, booleans.get(i).copied().unwrap_or(false)))
        .collect()
}

fn decode(row: &SqliteRow, i: usize, boolean: bool) -> Result<Value, sqlx::Error> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let class = raw.type_info().name().to_owned();
    Ok(match class.as_str() {
        "INTEGER" if boolean => Value::Bool(row.try_get_unchecked::<i64, _>(i)? != 0),
        "INTEGER" => Value::from(row.try_get_unchecked::<i64, _>(i)?),
        "REAL" => float(row.try_get_unchecked::<f64, _>(i)?),
        "BLOB" => Value::String(hex::encode(row.try_get_unchecked::<Vec<u8>, _>(i)?)),
        _ => Value::String(row.try_get_unchecked::<String, _>(i)?),
    })
}
