//! PostgreSQL: a `READ ONLY` transaction with `statement_timeout`, rows in binary format, decoded by column type.
//!
//! Rows leave the reader undecoded ([`PgRawRow`]), with a digest of their binary cells when the request asks for
//! one: a plan compares the digest with the snapshot's and decodes only the rows that changed.
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use futures::TryStreamExt;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow, PgTypeKind};
use sqlx::{Column, Executor, PgPool, Row, Statement, TypeInfo, ValueRef};
use std::fmt::Write;

use super::Feed;
use super::errors::{Phase, classify, unsupported};
use super::values::{date, datetime_utc, float, naive_datetime, time};
use crate::core::record::Value;
use crate::core::source::{RawRow, SourceRow};
use crate::core::source::{StreamRequest, WarehouseError};
use crate::core::state::RowHash;

/// Part of every row digest: a change in how shopsync decodes or maps values (a new version) makes every row
/// take the decoding path once, where its mapped hash still decides whether it changed.
const DIGEST_VERSION: &str = concat!("shopsync/", env!("CARGO_PKG_VERSION"), "/postgres-binary");

/// A lazy pool for `url`.
pub(super) fn pool(url: &str) -> Result<PgPool, String> {
    let options = PgConnectOptions::from_str(url).map_err(|e| e.to_string())?;
    Ok(PgPoolOptions::new()
        .max_connections(4)
        .connect_lazy_with(options))
}

/// How one column is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    Text,
    Uuid,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Json,
    Bytea,
    Array(Elem),
}

/// Element types of arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elem {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Text,
    Date,
    Timestamp,
    Timestamptz,
    Json,
}

fn kind_of(type_info: &sqlx::postgres::PgTypeInfo) -> Option<Kind> {
    let kind = match type_info.name() {
        "BOOL" => Kind::Bool,
        "INT2" => Kind::Int2,
        "INT4" => Kind::Int4,
        "INT8" => Kind::Int8,
        "OID" => Kind::Oid,
        "FLOAT4" => Kind::Float4,
        "FLOAT8" => Kind::Float8,
        "NUMERIC" => Kind::Numeric,
        "TEXT" | "VARCHAR" | "CHAR" | "BPCHAR" | "NAME" | "CITEXT" | "\"CHAR\"" | "UNKNOWN" => {
            Kind::Text
        }
        "UUID" => Kind::Uuid,
        "DATE" => Kind::Date,
        "TIME" => Kind::Time,
        "TIMESTAMP" => Kind::Timestamp,
        "TIMESTAMPTZ" => Kind::Timestamptz,
        "JSON" | "JSONB" => Kind::Json,
        "BYTEA" => Kind::Bytea,
        "BOOL[]" => Kind::Array(Elem::Bool),
        "INT2[]" => Kind::Array(Elem::Int2),
        "INT4[]" => Kind::Array(Elem::Int4),
        "INT8[]" => Kind::Array(Elem::Int8),
        "FLOAT4[]" => Kind::Array(Elem::Float4),
        "FLOAT8[]" => Kind::Array(Elem::Float8),
        "TEXT[]" | "VARCHAR[]" | "CHAR[]" | "BPCHAR[]" | "NAME[]" => Kind::Array(Elem::Text),
        "DATE[]" => Kind::Array(Elem::Date),
        "TIMESTAMP[]" => Kind::Array(Elem::Timestamp),
        "TIMESTAMPTZ[]" => Kind::Array(Elem::Timestamptz),
        "JSON[]" | "JSONB[]" => Kind::Array(Elem::Json),
        // Enum labels travel as text.
        _ if matches!(type_info.kind(), PgTypeKind::Enum(_)) => Kind::Text,
        _ => return None,
    };
    Some(kind)
}

/// The same lazy pool with another acquire timeout (nothing is connected yet, so nothing is lost).
pub(super) fn with_acquire_timeout(pool: PgPool, timeout: std::time::Duration) -> PgPool {
    let options = pool.connect_options().as_ref().clone();
    let max = pool.options().get_max_connections();
    pool.options()
        .clone()
        .max_connections(max)
        .acquire_timeout(timeout)
        .connect_lazy_with(options)
}

/// Runs the request and feeds its rows; see [`super::Feed`].
pub(super) async fn read(pool: PgPool, request: StreamRequest, mut feed: Feed) {
    let sync = request.sync.clone();
    let timeout = request.statement_timeout;
    let fail = |phase, columns: &[String], e| classify(&sync, phase, timeout, columns, e);

    let mut tx = match pool.begin_with("BEGIN READ ONLY").await {
        Ok(tx) => tx,
        Err(e) => return feed.fail(fail(Phase::Connect, &[], e)).await,
    };
    // SET cannot take a bind parameter; the value is an integer we format ourselves.
    let set_timeout = format!(
        "SET LOCAL statement_timeout = {}",
        timeout.as_millis().max(1)
    );
    if let Err(e) = tx.execute(sqlx::AssertSqlSafe(set_timeout)).await {
        return feed.fail(fail(Phase::Query, &[], e)).await;
    }
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
        match kind_of(column.type_info()) {
            Some(kind) => kinds.push(kind),
            None => {
                let hint = format!("cast it in the query, e.g. `{name}::text`");
                return feed
                    .fail(unsupported(&sync, name, column.type_info().name(), &hint))
                    .await;
            }
        }
    }
    if !feed.header(names.clone(), &request.required_columns) {
        return;
    }
    let seed = request
        .digest_seed
        .as_deref()
        .map(|seed| digest_seed(seed, statement.columns()));
    let shape = Arc::new(Shape {
        sync: sync.clone(),
        timeout,
        names,
        kinds,
    });
    let mut buffer = Vec::new();
    let mut rows = statement.query().fetch(&mut *tx);
    loop {
        match rows.try_next().await {
            Ok(Some(row)) => {
                let digest = match &seed {
                    Some(seed) => match digest(&row, seed, &mut buffer) {
                        Ok(d) => Some(d),
                        Err(e) => return feed.fail(fail(Phase::Stream, &shape.names, e)).await,
                    },
                    None => None,
                };
                let raw = PgRawRow {
                    row,
                    shape: shape.clone(),
                };
                let row = if request.decode_all {
                    match raw.values() {
                        Ok(values) => SourceRow::decoded_with_digest(values, digest),
                        Err(e) => return feed.fail(e).await,
                    }
                } else {
                    SourceRow::raw(Box::new(raw), digest)
                };
                if !feed.row(row).await {
                    return;
                }
            }
            Ok(None) => break,
            Err(e) => return feed.fail(fail(Phase::Stream, &shape.names, e)).await,
        }
    }
    drop(rows);
    // Read-only: nothing to commit; the rollback only ends the transaction.
    let _ = tx.rollback().await;
    feed.end().await;
}

/// What every row of one result shares: how to decode it and how to name its errors.
#[derive(Debug)]
struct Shape {
    sync: String,
    timeout: std::time::Duration,
    names: Vec<String>,
    kinds: Vec<Kind>,
}

/// A row as PostgreSQL sent it, decoded on demand.
struct PgRawRow {
    row: PgRow,
    shape: Arc<Shape>,
}

impl std::fmt::Debug for PgRawRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgRawRow")
            .field("columns", &self.shape.names)
            .finish_non_exhaustive()
    }
}

impl PgRawRow {
    fn error(&self, e: sqlx::Error) -> WarehouseError {
        let shape = &self.shape;
        classify(&shape.sync, Phase::Stream, shape.timeout, &shape.names, e)
    }
}

impl RawRow for PgRawRow {
    fn value(&self, column: usize) -> Result<Value, WarehouseError> {
        match self.shape.kinds.get(column) {
            Some(kind) => decode(&self.row, column, *kind).map_err(|e| self.error(e)),
            None => Ok(Value::Null),
        }
    }

    fn values(&self) -> Result<Vec<Value>, WarehouseError> {
        self.shape
            .kinds
            .iter()
            .enumerate()
            .map(|(i, kind)| decode(&self.row, i, *kind).map_err(|e| self.error(e)))
            .collect()
    }
}

/// The digest prefix of one result: the request's seed, the decoder version and the result's column names and
/// types (a renamed or retyped column changes every digest).
fn digest_seed(seed: &str, columns: &[sqlx::postgres::PgColumn]) -> [u8; 16] {
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    for part in [DIGEST_VERSION, seed] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    for column in columns {
        for part in [column.name(), column.type_info().name()] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
    }
    h.digest128().to_le_bytes()
}

/// The digest of a row's binary cells, each with its length (NULL has its own marker), after the result's seed.
fn digest(row: &PgRow, seed: &[u8; 16], buffer: &mut Vec<u8>) -> Result<RowHash, sqlx::Error> {
    buffer.clear();
    buffer.extend_from_slice(seed);
    for i in 0..row.len() {
        let raw = row.try_get_raw(i)?;
        if raw.is_null() {
            buffer.extend_from_slice(&u32::MAX.to_le_bytes());
            continue;
        }
        let bytes = raw.as_bytes().map_err(|source| sqlx::Error::ColumnDecode {
            index: i.to_string(),
            source,
        })?;
        buffer.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        buffer.extend_from_slice(bytes);
    }
    Ok(RowHash(xxhash_rust::xxh3::xxh3_128(buffer).to_le_bytes()))
}

fn decode(row: &PgRow, i: usize, kind: Kind) -> Result<Value, sqlx::Error> {
    if row.try_get_raw(i)?.is_null() {
        return Ok(Value::Null);
    }
    Ok(match kind {
        Kind::Bool => Value::Bool(row.try_get(i)?),
        Kind::Int2 => Value::from(row.try_get::<i16, _>(i)?),
        Kind::Int4 => Value::from(row.try_get::<i32, _>(i)?),
        Kind::Int8 => Value::from(row.try_get::<i64, _>(i)?),
        Kind::Oid => Value::from(row.try_get::<sqlx::postgres::types::Oid, _>(i)?.0),
        Kind::Float4 => float(f64::from(row.try_get::<f32, _>(i)?)),
        Kind::Float8 => float(row.try_get::<f64, _>(i)?),
        Kind::Numeric => Value::String(numeric(row, i)?),
        Kind::Text => Value::String(row.try_get_unchecked::<String, _>(i)?),
        Kind::Uuid => Value::String(uuid(row, i)?),
        Kind::Date => date(row.try_get::<NaiveDate, _>(i)?),
        Kind::Time => time(row.try_get::<NaiveTime, _>(i)?),
        Kind::Timestamp => naive_datetime(row.try_get::<NaiveDateTime, _>(i)?),
        Kind::Timestamptz => datetime_utc(row.try_get::<DateTime<Utc>, _>(i)?),
        Kind::Json => row.try_get::<sqlx::types::Json<Value>, _>(i)?.0,
        Kind::Bytea => Value::String(hex::encode(row.try_get::<Vec<u8>, _>(i)?)),
        Kind::Array(elem) => array(row, i, elem)?,
    })
}

/// NUMERIC from its binary form, keeping the column's display scale (`1.50` stays `1.50`), which decoding
/// through a decimal type would lose.
fn numeric(row: &PgRow, i: usize) -> Result<String, sqlx::Error> {
    let raw = row.try_get_raw(i)?;
    let decode_error = |source: String| sqlx::Error::ColumnDecode {
        index: i.to_string(),
        source: source.into(),
    };
    let bytes = raw.as_bytes().map_err(|source| sqlx::Error::ColumnDecode {
        index: i.to_string(),
        source,
    })?;
    numeric_text(bytes).map_err(decode_error)
}

fn numeric_text(bytes: &[u8]) -> Result<String, String> {
    let word = |at: usize| -> Result<u16, String> {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated NUMERIC".to_owned())
    };
    let ndigits = i32::from(word(0)?);
    let weight = i32::from(word(2)? as i16);
    let sign = word(4)?;
    let dscale = usize::from(word(6)?);
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        0x0000 | 0x4000 => {}
        other => return Err(format!("unknown NUMERIC sign {other:#x}")),
    }
    // Base-10000 digits; positions outside the stored ones are zero.
    let digit = |n: i32| -> Result<u16, String> {
        if n < 0 || n >= ndigits {
            Ok(0)
        } else {
            word(8 + 2 * n as usize)
        }
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for n in 0..=weight {
            let d = digit(n)?;
            let _ = if n == 0 {
                write!(out, "{d}")
            } else {
                write!(out, "{d:04}")
            };
        }
    }
    if dscale > 0 {
        let mut fraction = String::with_capacity(dscale + 4);
        let mut n = weight + 1;
        while fraction.len() < dscale {
            let _ = write!(fraction, "{:04}", digit(n)?);
            n += 1;
        }
        fraction.truncate(dscale);
        out.push('.');
        out.push_str(&fraction);
    }
    Ok(out)
}

fn uuid(row: &PgRow, i: usize) -> Result<String, sqlx::Error> {
    let raw = row.try_get_raw(i)?;
    let bytes = raw.as_bytes().map_err(|source| sqlx::Error::ColumnDecode {
        index: i.to_string(),
        source,
    })?;
    let hex = hex::encode(bytes);
    if hex.len() != 32 {
        let source = format!("a UUID has 16 bytes, got {}", bytes.len()).into();
        return Err(sqlx::Error::ColumnDecode {
            index: i.to_string(),
            source,
        });
    }
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

fn array(row: &PgRow, i: usize, elem: Elem) -> Result<Value, sqlx::Error> {
    fn list<T>(items: Vec<Option<T>>, f: impl Fn(T) -> Value) -> Value {
        Value::Array(
            items
                .into_iter()
                .map(|v| v.map_or(Value::Null, &f))
                .collect(),
        )
    }
    Ok(match elem {
        Elem::Bool => list(row.try_get::<Vec<Option<bool>>, _>(i)?, Value::Bool),
        Elem::Int2 => list(row.try_get::<Vec<Option<i16>>, _>(i)?, Value::from),
        Elem::Int4 => list(row.try_get::<Vec<Option<i32>>, _>(i)?, Value::from),
        Elem::Int8 => list(row.try_get::<Vec<Option<i64>>, _>(i)?, Value::from),
        Elem::Float4 => list(row.try_get::<Vec<Option<f32>>, _>(i)?, |f| {
            float(f64::from(f))
        }),
        Elem::Float8 => list(row.try_get::<Vec<Option<f64>>, _>(i)?, float),
        Elem::Text => list(
            row.try_get_unchecked::<Vec<Option<String>>, _>(i)?,
            Value::String,
        ),
        Elem::Date => list(row.try_get::<Vec<Option<NaiveDate>>, _>(i)?, date),
        Elem::Timestamp => list(
            row.try_get::<Vec<Option<NaiveDateTime>>, _>(i)?,
            naive_datetime,
        ),
        Elem::Timestamptz => list(
            row.try_get::<Vec<Option<DateTime<Utc>>>, _>(i)?,
            datetime_utc,
        ),
        Elem::Json => list(
            row.try_get::<Vec<Option<sqlx::types::Json<Value>>>, _>(i)?,
            |j| j.0,
        ),
    })
}
