//! What differs between the two state databases, and only that.
//!
//! The store logic and every statement the databases share live once, in [`super::store`] and
//! [`super::calls`]: `$N` placeholders (SQLite reads `$N` as the N-th parameter too), `CAST` rather than `::`,
//! `ON CONFLICT` upserts and `RETURNING`, which both understand. A dialect supplies the rest: the sqlx driver, how
//! a point in time is stored, and the bulk writes and snapshot reads each database does fastest its own way
//! (PostgreSQL binds whole columns as arrays; SQLite takes multi-row `VALUES` lists and hands rows over slowly).
use std::fmt::Debug;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use sqlx::{Database, Decode, Encode, Pool, Type};

use crate::core::calls::ApiCall;
use crate::core::state::SnapshotIndex;
use crate::core::state::{LedgerEntry, RowHash, SnapshotEntry, StateResult};

/// The connection a dialect's transaction runs on.
pub type Conn<D> = <<D as Dialect>::Db as Database>::Connection;

/// One state database's peculiarities, implemented by [`super::postgres::PgDialect`] and [`super::sqlite::SqliteDialect`].
pub trait Dialect: Debug + Clone + Send + Sync + 'static {
    /// The sqlx driver.
    type Db: Database;
    /// A point in time as stored: a `timestamptz`, or milliseconds since the epoch.
    type Time: for<'t> Encode<'t, Self::Db>
        + for<'r> Decode<'r, Self::Db>
        + Type<Self::Db>
        + Clone
        + Send
        + Sync;

    /// Rows per multi-row statement, and keys per `IN` list, under the database's parameter limit.
    const CHUNK: usize;

    /// A point in time as stored.
    fn time(t: DateTime<Utc>) -> Self::Time;
    /// A stored point in time, or why it is not one.
    fn from_time(t: Self::Time) -> Result<DateTime<Utc>, String>;
    /// How many rows a statement changed.
    fn rows_affected(done: &<Self::Db as Database>::QueryResult) -> u64;

    /// Streams a sync's snapshot.
    fn snapshot<'a>(
        &'a self,
        pool: &'a Pool<Self::Db>,
        sync: &'a str,
    ) -> BoxStream<'a, StateResult<SnapshotEntry>>;
    /// Builds a sync's diff index faster than entry by entry, or `None` to leave it to
    /// [`crate::core::state::read_index`].
    fn load_index<'a>(
        &'a self,
        _sync: &'a str,
        _insert_only: bool,
    ) -> Option<BoxFuture<'a, StateResult<SnapshotIndex>>> {
        None
    }

    /// Inserts or replaces snapshot entries (at most [`Dialect::CHUNK`]).
    fn upsert_snapshot<'c>(
        conn: &'c mut Conn<Self>,
        sync: &'c str,
        entries: &'c [&'c SnapshotEntry],
    ) -> BoxFuture<'c, StateResult<()>>;
    /// Inserts or replaces accepted values, given as `(key, JSON object text)`.
    fn upsert_values<'c>(
        conn: &'c mut Conn<Self>,
        sync: &'c str,
        values: &'c [(&'c str, String)],
    ) -> BoxFuture<'c, StateResult<()>>;
    /// Sets the source digest of existing snapshot entries, creating none.
    fn update_sources<'c>(
        conn: &'c mut Conn<Self>,
        sync: &'c str,
        sources: &'c [(&'c str, RowHash)],
    ) -> BoxFuture<'c, StateResult<()>>;
    /// Inserts or replaces ledger entries.
    fn upsert_ledger<'c>(
        conn: &'c mut Conn<Self>,
        sync: &'c str,
        entries: &'c [LedgerEntry],
    ) -> BoxFuture<'c, StateResult<()>>;
    /// Appends calls to the debugger log, with a key row per primary key each concerns.
    fn append_calls<'a>(
        pool: &'a Pool<Self::Db>,
        calls: &'a [ApiCall],
    ) -> BoxFuture<'a, StateResult<()>>;
}
