//! The SQLite warehouse on a temporary file.
use std::time::Duration;

use futures::TryStreamExt;
use serde_json::{Value, json};
use shopsync::core::source::{RowSet, StreamRequest, Warehouse, WarehouseError};
use shopsync::warehouse::SqlWarehouse;
use sqlx::Executor;

async fn seeded() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warehouse.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    pool.execute(
        "CREATE TABLE customers (id INTEGER, email TEXT, vip BOOLEAN, score REAL, balance TEXT, photo BLOB);
         INSERT INTO customers VALUES (1, 'a@example.com', 1, 1.5, '12.30', X'CAFE'),
                                      (2, NULL, 0, NULL, NULL, NULL),
                                      (9223372036854775807, 'big@example.com', NULL, -0.25, '0.1', NULL);",
    )
    .await
    .unwrap();
    pool.close().await;
    (dir, format!("sqlite://{}", path.display()))
}

async fn collect(set: RowSet) -> Result<Vec<Vec<Value>>, WarehouseError> {
    set.rows
        .and_then(|r| futures::future::ready(r.into_values()))
        .try_collect()
        .await
}

#[tokio::test]
async fn values_map_by_storage_class_and_declared_boolean() {
    let (_dir, url) = seeded().await;
    let warehouse = SqlWarehouse::from_url("customers", &url).unwrap();
    let set = warehouse
        .stream(&StreamRequest::new(
            "customers",
            "SELECT * FROM customers ORDER BY id",
        ))
        .await
        .unwrap();
    assert_eq!(
        set.columns.names(),
        ["id", "email", "vip", "score", "balance", "photo"]
    );
    let rows = collect(set).await.unwrap();
    assert_eq!(
        rows,
        [
            vec![
                json!(1),
                json!("a@example.com"),
                json!(true),
                json!(1.5),
                json!("12.30"),
                json!("cafe")
            ],
            vec![
                json!(2),
                Value::Null,
                json!(false),
                Value::Null,
                Value::Null,
                Value::Null
            ],
            vec![
                json!(9223372036854775807_i64),
                json!("big@example.com"),
                Value::Null,
                json!(-0.25),
                json!("0.1"),
                Value::Null
            ],
        ]
    );
}

#[tokio::test]
async fn connection_is_read_only() {
    let (_dir, url) = seeded().await;
    let warehouse = SqlWarehouse::from_url("customers", &url).unwrap();
    let request = StreamRequest::new(
        "customers",
        "INSERT INTO customers (id) VALUES (5) RETURNING id",
    );
    let err = match warehouse.stream(&request).await {
        Ok(set) => collect(set).await.unwrap_err(),
        Err(e) => e,
    };
    assert!(
        err.to_string().contains("readonly") || err.to_string().contains("read-only"),
        "{err}"
    );
}

#[tokio::test]
async fn missing_columns_and_sql_errors_name_the_sync() {
    let (_dir, url) = seeded().await;
    let warehouse = SqlWarehouse::from_url("customers", &url).unwrap();
    let request = StreamRequest::new("customers", "SELECT id FROM customers")
        .with_required_columns(["id", "phone"]);
    assert_eq!(
        warehouse.stream(&request).await.unwrap_err(),
        WarehouseError::MissingColumn {
            sync: "customers".into(),
            column: "phone".into()
        }
    );
    let err = warehouse
        .stream(&StreamRequest::new(
            "customers",
            "SELECT nope FROM customers",
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WarehouseError::Query { sync, message } if sync == "customers" && message.contains("nope")),
        "{err}"
    );
}

#[tokio::test]
async fn statement_timeout_is_enforced_by_the_reader() {
    let (_dir, url) = seeded().await;
    let warehouse = SqlWarehouse::from_url("customers", &url).unwrap();
    // A recursive query that would run for a very long time.
    let query = "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 200000000) SELECT count(*) FROM s";
    let request = StreamRequest::new("customers", query).with_timeout(Duration::from_millis(300));
    let err = match warehouse.stream(&request).await {
        Ok(set) => collect(set).await.unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(
        err,
        WarehouseError::Timeout {
            sync: "customers".into(),
            timeout: Duration::from_millis(300)
        }
    );
}
