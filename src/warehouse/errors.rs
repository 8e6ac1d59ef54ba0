//! Classifying sqlx errors into [`WarehouseError`]s that name the sync and the column.
use std::time::Duration;

use crate::core::source::WarehouseError;

/// Where in a query's life an error happened: the same driver error means different things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Getting a connection and starting the transaction.
    Connect,
    /// Preparing or starting the statement.
    Query,
    /// Reading rows.
    Stream,
}

/// Maps a driver error; `columns` names the result's columns for decode errors.
pub(crate) fn classify(
    sync: &str,
    phase: Phase,
    timeout: Duration,
    columns: &[String],
    error: sqlx::Error,
) -> WarehouseError {
    let sync = sync.to_owned();
    match error {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let message = db.message().to_owned();
            if is_timeout(&code, &message) {
                return WarehouseError::Timeout { sync, timeout };
            }
            // Administrator shutdown or crash: the server ended the session (e.g. pg_terminate_backend).
            if matches!(code.as_str(), "57P01" | "57P02" | "57P03") {
                return match phase {
                    Phase::Stream | Phase::Query => {
                        WarehouseError::ConnectionLost { sync, message }
                    }
                    Phase::Connect => WarehouseError::Connect { sync, message },
                };
            }
            // Authentication, unknown database, too many connections.
            if phase == Phase::Connect
                || matches!(
                    code.as_str(),
                    "28000" | "28P01" | "3D000" | "53300" | "1045" | "1049" | "1040"
                )
            {
                return WarehouseError::Connect {
                    sync,
                    message: format!("{message} (code {code})"),
                };
            }
            WarehouseError::Query {
                sync,
                message: format!("{message} (code {code})"),
            }
        }
        sqlx::Error::ColumnDecode { index, source } => WarehouseError::Type {
            sync,
            column: column_name(columns, &index),
            message: format!("cannot read the value without loss: {source}"),
        },
        sqlx::Error::ColumnNotFound(column) => WarehouseError::MissingColumn { sync, column },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => {
            let message = error.to_string();
            match phase {
                Phase::Connect => WarehouseError::Connect { sync, message },
                Phase::Query | Phase::Stream => WarehouseError::ConnectionLost { sync, message },
            }
        }
        other => WarehouseError::Query {
            sync,
            message: other.to_string(),
        },
    }
}

fn is_timeout(code: &str, message: &str) -> bool {
    // PostgreSQL query_canceled is also raised by user cancels; the message tells a timeout apart.
    (code == "57014" && message.contains("timeout"))
        // MariaDB max_statement_time, MySQL max_execution_time.
        || code == "70100" && message.contains("max_statement_time")
        || code == "1969"
        || code == "3024"
        || message.contains("max_statement_time exceeded")
        || message.contains("maximum statement execution time exceeded")
}

fn column_name(columns: &[String], index: &str) -> String {
    index
        .trim_matches('"')
        .parse::<usize>()
        .ok()
        .and_then(|i| columns.get(i).cloned())
        .unwrap_or_else(|| index.trim_matches('"').to_owned())
}

/// A value the type mapping does not support, naming the column and its database type.
pub(crate) fn unsupported(sync: &str, column: &str, type_name: &str, hint: &str) -> WarehouseError {
    WarehouseError::Type {
        sync: sync.to_owned(),
        column: column.to_owned(),
        message: format!("database type {type_name} is not supported; {hint}"),
    }
}
