//! The MySQL/MariaDB warehouse against the real MariaDB on 127.0.0.1:3306 (database `test`).
use std::time::Duration;

use futures::TryStreamExt;
use serde_json::{Value, json};
use shopsync::core::source::{FailureClass, RowSet, StreamRequest, Warehouse, WarehouseError};
use shopsync::warehouse::SqlWarehouse;
use sqlx::Executor;

const URL: &str = "mysql://root@127.0.0.1:3306/test";

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

async fn admin() -> sqlx::MySqlPool {
    sqlx::MySqlPool::connect(URL)
        .await
        .expect("MariaDB must be running on 127.0.0.1:3306")
}

async fn collect(set: RowSet) -> Result<Vec<Vec<Value>>, WarehouseError> {
    set.rows
        .and_then(|r| futures::future::ready(r.into_values()))
        .try_collect()
        .await
}

fn warehouse() -> SqlWarehouse {
    SqlWarehouse::from_url("orders", "mariadb://root@127.0.0.1:3306/test").unwrap()
}

#[tokio::test]
async fn every_column_type_maps_without_loss() {
    let admin = admin().await;
    let table = unique("types");
    admin
        .execute(sqlx::AssertSqlSafe(
            format!(
                "CREATE TABLE {table} (id INT PRIMARY KEY, flag BOOLEAN, tiny TINYINT, big BIGINT, \
                 ubig BIGINT UNSIGNED, f FLOAT, d DOUBLE, price DECIMAL(40,10), name VARCHAR(20), body TEXT, \
                 kind ENUM('a','b'), raw VARBINARY(8), day DATE, at TIME, local DATETIME(3), stamp TIMESTAMP(6) NULL, \
                 doc JSON, yr YEAR, missing INT)"
            )),
        )
        .await
        .unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(
            format!(
                "INSERT INTO {table} VALUES (1, TRUE, -128, -9223372036854775808, 18446744073709551615, 1.5, 0.1, \
                 '123456789012345678901234567890.0123456789', 'héllo', 'text', 'b', X'DEADBEEF', '2026-02-28', \
                 '13:45:01', '2026-02-28 13:45:01.250', '2026-02-28 13:45:01.123456', '{{\"a\": [1, \"x\"]}}', \
                 2026, NULL)"
            )),
        )
        .await
        .unwrap();
    let set = warehouse()
        .stream(&StreamRequest::new(
            "orders",
            format!("SELECT * FROM {table}"),
        ))
        .await
        .unwrap();
    let rows = collect(set).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
        .await
        .unwrap();
    let row = &rows[0];
    assert_eq!(
        row[0..9],
        [
            json!(1),
            json!(true),
            json!(-128),
            json!(-9223372036854775808_i64),
            json!(18446744073709551615_u64),
            json!(1.5),
            json!(0.1),
            json!("123456789012345678901234567890.0123456789"),
            json!("héllo"),
        ]
    );
    assert_eq!(
        row[9..15],
        [
            json!("text"),
            json!("b"),
            json!("deadbeef"),
            json!("2026-02-28"),
            json!("13:45:01"),
            json!("2026-02-28T13:45:01.250"),
        ]
    );
    // TIMESTAMP is an instant: read in a UTC session it is exact RFC 3339.
    assert_eq!(row[15], json!("2026-02-28T13:45:01.123456Z"));
    // MariaDB's JSON is LONGTEXT with a check: it arrives as its text.
    let doc: Value =
        serde_json::from_str(row[16].as_str().unwrap_or_else(|| panic!("{:?}", row[16]))).unwrap();
    assert_eq!(doc, json!({"a": [1, "x"]}));
    assert_eq!(row[17..], [json!(2026), Value::Null]);
}

#[tokio::test]
async fn missing_required_column_names_sync_and_column() {
    let request =
        StreamRequest::new("orders", "SELECT 1 AS id").with_required_columns(["fulfillment_id"]);
    let err = warehouse().stream(&request).await.unwrap_err();
    assert_eq!(
        err,
        WarehouseError::MissingColumn {
            sync: "orders".into(),
            column: "fulfillment_id".into()
        }
    );
}

#[tokio::test]
async fn sql_errors_are_permanent_and_name_the_sync() {
    let err = warehouse()
        .stream(&StreamRequest::new(
            "orders",
            "SELECT * FROM no_such_table_y",
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WarehouseError::Query { sync, message } if sync == "orders" && message.contains("no_such_table_y")),
        "{err}"
    );
    assert_eq!(err.class(), FailureClass::Permanent);
}

#[tokio::test]
async fn queries_run_read_only() {
    let admin = admin().await;
    let table = unique("ro");
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {table} (id INT)"
        )))
        .await
        .unwrap();
    let request = StreamRequest::new("orders", format!("INSERT INTO {table} VALUES (1)"));
    let err = match warehouse().stream(&request).await {
        Ok(set) => collect(set).await.unwrap_err(),
        Err(e) => e,
    };
    let count: i64 =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&admin)
            .await
            .unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
        .await
        .unwrap();
    assert!(err.to_string().contains("READ ONLY"), "{err}");
    assert_eq!(count, 0);
}

#[tokio::test]
async fn statement_timeout_is_enforced() {
    let query = "SELECT count(*) AS n FROM information_schema.columns a, information_schema.columns b, \
                 information_schema.columns c";
    let request = StreamRequest::new("orders", query).with_timeout(Duration::from_millis(200));
    let err = match warehouse().stream(&request).await {
        Ok(set) => collect(set).await.unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(
        err,
        WarehouseError::Timeout {
            sync: "orders".into(),
            timeout: Duration::from_millis(200)
        }
    );
}

#[tokio::test]
async fn rows_stream_across_batches() {
    let query = "SELECT seq AS n FROM seq_1_to_1500 ORDER BY seq";
    let set = warehouse()
        .stream(&StreamRequest::new("orders", query))
        .await
        .unwrap();
    let rows = collect(set).await.unwrap();
    assert_eq!(rows.len(), 1500);
    assert_eq!(rows[1499], [json!(1500)]);
}
