//! SQL warehouses on sqlx: PostgreSQL, MySQL/MariaDB and SQLite, chosen by the connection URL.
//!
//! Each query runs in a task that owns its connection (inside a read-only transaction where the database has
//! one) and hands rows over a bounded channel in small batches: memory stays flat however large the result is,
//! decoding overlaps with the consumer's work, and dropping the [`RowSet`] ends the task, which rolls back.
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use crate::core::source::{Columns, SharedColumns, SourceRow};
use crate::core::source::{RowSet, RowStream, StreamRequest, Warehouse, WarehouseError};

mod errors;
mod mysql;
mod postgres;
mod sqlite;
mod values;

/// Rows per channel message: large enough to amortise the hand-over, small enough to keep memory flat.
const BATCH_ROWS: usize = 256;
/// Batches in flight between the reader task and the consumer.
const CHANNEL_DEPTH: usize = 4;

/// A warehouse reached through sqlx; connections are opened lazily, on the first query.
#[derive(Debug, Clone)]
pub struct SqlWarehouse {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
    Sqlite(sqlx::SqlitePool),
}

impl SqlWarehouse {
    /// Picks the driver from the URL scheme (`postgres://`, `postgresql://`, `mysql://`, `mariadb://`,
    /// `sqlite:`) without connecting yet. `sync` names the sync in errors.
    pub fn from_url(sync: &str, url: &str) -> Result<Self, WarehouseError> {
        let invalid = |message: String| WarehouseError::InvalidUrl {
            sync: sync.to_owned(),
            message,
        };
        let scheme = url
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let backend = match scheme.as_str() {
            "postgres" | "postgresql" => Backend::Postgres(postgres::pool(url).map_err(invalid)?),
            "mysql" | "mariadb" => Backend::MySql(mysql::pool(url).map_err(invalid)?),
            "sqlite" => Backend::Sqlite(sqlite::pool(url).map_err(invalid)?),
            other => {
                return Err(invalid(format!(
                    "unsupported scheme `{other}`: use postgres://, mysql://, mariadb:// or sqlite:"
                )));
            }
        };
        Ok(Self { backend })
    }

    /// Limits how long a query waits for a connection (default 30 s); an unreachable warehouse fails after it.
    pub fn with_connect_timeout(self, timeout: std::time::Duration) -> Self {
        let backend = match self.backend {
            Backend::Postgres(pool) => {
                Backend::Postgres(postgres::with_acquire_timeout(pool, timeout))
            }
            Backend::MySql(pool) => Backend::MySql(mysql::with_acquire_timeout(pool, timeout)),
            Backend::Sqlite(pool) => Backend::Sqlite(sqlite::with_acquire_timeout(pool, timeout)),
        };
        Self { backend }
    }
}

impl Warehouse for SqlWarehouse {
    fn stream<'a>(
        &'a self,
        request: &'a StreamRequest,
    ) -> BoxFuture<'a, Result<RowSet, WarehouseError>> {
        let (feed, header, rows) = Feed::new(request.sync.clone());
        let owned = request.clone();
        // The task is detached on purpose: it ends when the query ends or when the consumer drops the rows.
        match &self.backend {
            Backend::Postgres(pool) => {
                drop(tokio::spawn(postgres::read(pool.clone(), owned, feed)))
            }
            Backend::MySql(pool) => drop(tokio::spawn(mysql::read(pool.clone(), owned, feed))),
            Backend::Sqlite(pool) => drop(tokio::spawn(sqlite::read(pool.clone(), owned, feed))),
        }
        Box::pin(async move {
            match header.await {
                Ok(Ok(columns)) => Ok(RowSet { columns, rows }),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(reader_stopped(&request.sync)),
            }
        })
    }
}

fn reader_stopped(sync: &str) -> WarehouseError {
    WarehouseError::ConnectionLost {
        sync: sync.to_owned(),
        message: "the row reader stopped unexpectedly".into(),
    }
}

enum Message {
    Rows(Vec<SourceRow>),
    Failed(WarehouseError),
    End,
}

/// The reader task's side of a query: send the header once, then rows, then exactly one of end or failure.
pub(crate) struct Feed {
    sync: String,
    header: Option<oneshot::Sender<Result<SharedColumns, WarehouseError>>>,
    tx: mpsc::Sender<Message>,
    batch: Vec<SourceRow>,
}

impl Feed {
    fn new(
        sync: String,
    ) -> (
        Self,
        oneshot::Receiver<Result<SharedColumns, WarehouseError>>,
        RowStream,
    ) {
        let (header_tx, header_rx) = oneshot::channel();
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let feed = Feed {
            sync: sync.clone(),
            header: Some(header_tx),
            tx,
            batch: Vec::with_capacity(BATCH_ROWS),
        };
        (feed, header_rx, receive(sync, rx))
    }

    /// Checks the required columns and publishes the header; `false` when the query must stop.
    pub(crate) fn header(&mut self, names: Vec<String>, required: &[String]) -> bool {
        let columns = Columns::new(names);
        let result = match columns.missing(required).first() {
            Some(column) => Err(WarehouseError::MissingColumn {
                sync: self.sync.clone(),
                column: (*column).to_owned(),
            }),
            None => Ok(SharedColumns::new(columns)),
        };
        let ok = result.is_ok();
        self.header.take().is_some_and(|h| h.send(result).is_ok()) && ok
    }

    /// Queues a row; `false` when the consumer is gone and the query should stop.
    pub(crate) async fn row(&mut self, row: SourceRow) -> bool {
        self.batch.push(row);
        if self.batch.len() < BATCH_ROWS {
            return true;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_ROWS));
        self.tx.send(Message::Rows(batch)).await.is_ok()
    }

    /// Ends the stream successfully.
    pub(crate) async fn end(mut self) {
        let batch = std::mem::take(&mut self.batch);
        if !batch.is_empty() && self.tx.send(Message::Rows(batch)).await.is_err() {
            return;
        }
        let _ = self.tx.send(Message::End).await;
    }

    /// Ends the stream with an error: before the header it fails the `stream` call itself.
    pub(crate) async fn fail(mut self, error: WarehouseError) {
        if let Some(header) = self.header.take() {
            let _ = header.send(Err(error));
            return;
        }
        // Rows already read are delivered first, so the error arrives where it happened.
        let batch = std::mem::take(&mut self.batch);
        if !batch.is_empty() && self.tx.send(Message::Rows(batch)).await.is_err() {
            return;
        }
        let _ = self.tx.send(Message::Failed(error)).await;
    }
}

/// Turns the batches back into a row stream. A channel that closes without an explicit end is an error: a
/// silently truncated result would look like removed rows to the diff.
fn receive(sync: String, rx: mpsc::Receiver<Message>) -> RowStream {
    let state = (rx, Vec::new().into_iter(), false);
    futures::stream::unfold(state, move |(mut rx, mut buffered, done)| {
        let sync = sync.clone();
        async move {
            loop {
                if let Some(row) = buffered.next() {
                    return Some((Ok(row), (rx, buffered, done)));
                }
                if done {
                    return None;
                }
                match rx.recv().await {
                    Some(Message::Rows(batch)) => buffered = batch.into_iter(),
                    Some(Message::End) => return None,
                    Some(Message::Failed(error)) => {
                        return Some((Err(error), (rx, buffered, true)));
                    }
                    None => return Some((Err(reader_stopped(&sync)), (rx, buffered, true))),
                }
            }
        }
    })
    .boxed()
}
