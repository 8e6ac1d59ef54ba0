//! MySQL and MariaDB: UTC session, statement time limit, `START TRANSACTION READ ONLY`, binary protocol rows.
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use futures::TryStreamExt;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlRow};
use sqlx::types::BigDecimal;
use sqlx::{Column, Connection, Executor, MySqlPool, Row, Statement, TypeInfo, ValueRef};

use super::Feed;
use super::errors::{Phase, classify, unsupported};
use super::values::{date, datetime_utc, float, naive_datetime, time};
use crate::core::record::Value;
use crate::core::source::SourceRow;
use crate::core::source::StreamRequest;

/// A lazy pool for `url` (`mariadb://` is accepted as an alias of `mysql://`).
pub(super) fn pool(url: &str) -> Result<MySqlPool, String> {
    let url = match url.strip_prefix("mariadb:") {
        Some(rest) => format!("mysql:{rest}"),
        None => url.to_owned(),
    };
    // TIMESTAMP values are returned in the session zone: UTC makes them exact instants.
    let options = MySqlConnectOptions::from_str(&url)
        .map_err(|e| e.to_string())?
        .timezone(Some("+00:00".into()));
    Ok(MySqlPoolOptions::new()
        .max_connections(4)
        .connect_lazy_with(options))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Signed,
    Unsigned,
    Float,
    Decimal,
    Text,
    Binary,
    Date,
    Time,
    Datetime,
    Timestamp,
    Json,
    Year,
}

fn kind_of(name: &str) -> Option<Kind> {
    Some(match name {
        "BOOLEAN" => Kind::Bool,
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => Kind::Signed,
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
        | "BIGINT UNSIGNED" => Kind::Unsigned,
        "FLOAT" | "DOUBLE" => Kind::Float,
        "DECIMAL" => Kind::Decimal,
        "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET" => {
            Kind::Text
        }
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => Kind::Binary,
        "DATE" => Kind::Date,
        "TIME" => Kind::Time,
        "DATETIME" => Kind::Datetime,
        "TIMESTAMP" => Kind::Timestamp,
        "JSON" => Kind::Json,
        "YEAR" => Kind::Year,
        // A NULL literal column: every value is NULL.
        "NULL" => Kind::Text,
        _ => return None,
    })
}

/// The same lazy pool with another acquire timeout (nothing is connected yet, so nothing is lost).
pub(super) fn with_acquire_timeout(pool: MySqlPool, timeout: std::time::Duration) -> MySqlPool {
    let options = pool.connect_options().as_ref().clone();
    let max = pool.options().get_max_connections();
    pool.options()
        .clone()
        .max_connections(max)
        .acquire_timeout(timeout)
        .connect_lazy_with(options)
}

/// Runs the request and feeds its rows; see [`super::Feed`].
pub(super) async fn read(pool: MySqlPool, request: StreamRequest, mut feed: Feed) {
    let sync = request.sync.clone();
    let timeout = request.statement_timeout;
    let fail = |phase, columns: &[String], e| classify(&sync, phase, timeout, columns, e);

    let mut conn = match pool.acquire().await {
        Ok(c) => c,
        Err(e) => return feed.fail(fail(Phase::Connect, &[], e)).await,
    };
    let version: String = match sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut *conn)
        .await
    {
        Ok(v) => v,
        Err(e) => return feed.fail(fail(Phase::Connect, &[], e)).await,
    };
    // MariaDB limits statements in seconds, MySQL in milliseconds (SELECTs only); both are session settings,
    // set on every query because pooled connections are reused.
    let set_timeout = if version.contains("MariaDB") {
        format!(
            "SET SESSION max_statement_time = {:.3}",
            timeout.as_secs_f64().max(0.001)
        )
    } else {
        format!(
            "SET SESSION max_execution_time = {}",
            timeout.as_millis().max(1)
        )
    };
    if let Err(e) = conn.execute(sqlx::AssertSqlSafe(set_timeout)).await {
        return feed.fail(fail(Phase::Query, &[], e)).await;
    }
    let mut tx = match conn.begin_with("START TRANSACTION READ ONLY").await {
        Ok(tx) => tx,
        Err(e) => return feed.fail(fail(Phase::Connect, &[], e)).await,
    };
    let statement = match tx
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
    let mut kinds = Vec::with_capacity(names.len());
    for (column, name) in statement.columns().iter().zip(&names) {
        match kind_of(column.type_info().name()) {
            Some(kind) => kinds.push(kind),
            None => {
                let hint = format!("cast it in the query, e.g. `CAST({name} AS CHAR)`");
                return feed
                    .fail(unsupported(&sync, name, column.type_info().name(), &hint))
                    .await;
            }
        }
    }
    if !feed.header(names.clone(), &request.required_columns) {
        return;
    }
    let mut rows = statement.query().fetch(&mut *tx);
    loop {
        match rows.try_next().await {
            Ok(Some(row)) => match decode_row(&row, &kinds) {
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
    drop(rows);
    let _ = tx.rollback().await;
    feed.end().await;
}

/// The protocol flags text with a binary collation (`utf8mb4_bin`, MariaDB's JSON) exactly like true binary data,
/// so valid UTF-8 is taken as text and anything else is hex-encoded.
fn binary(bytes: Vec<u8>) -> Value {
    match String::from_utf8(bytes) {
        Ok(text) => Value::String(text),
        Err(e) => Value::String(hex::encode(e.into_bytes())),
    }
}

fn decode_row(row: &MySqlRow, kinds: &[Kind]) -> Result<Vec<Value>, sqlx::Error> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| decode(row, i, *kind))
        .collect()
}

fn decode(row: &MySqlRow, i: usize, kind: Kind) -> Result<Value, sqlx::Error> {
    if row.try_get_raw(i)?.is_null() {
        return Ok(Value::Null);
    }
    Ok(match kind {
        Kind::Bool => Value::Bool(row.try_get(i)?),
        Kind::Signed => Value::from(row.try_get::<i64, _>(i)?),
        Kind::Unsigned => Value::from(row.try_get::<u64, _>(i)?),
        Kind::Float => float(row.try_get::<f64, _>(i)?),
        Kind::Decimal => Value::String(row.try_get::<BigDecimal, _>(i)?.to_plain_string()),
        Kind::Text => Value::String(row.try_get_unchecked::<String, _>(i)?),
        Kind::Binary => binary(row.try_get::<Vec<u8>, _>(i)?),
        Kind::Date => date(row.try_get::<NaiveDate, _>(i)?),
        Kind::Time => time(row.try_get::<NaiveTime, _>(i)?),
        Kind::Datetime => naive_datetime(row.try_get::<NaiveDateTime, _>(i)?),
        Kind::Timestamp => datetime_utc(row.try_get::<DateTime<Utc>, _>(i)?),
        Kind::Json => row.try_get::<sqlx::types::Json<Value>, _>(i)?.0,
        Kind::Year => Value::from(row.try_get_unchecked::<u64, _>(i)?),
    })
}
