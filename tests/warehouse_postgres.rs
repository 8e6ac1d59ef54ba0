//! The PostgreSQL warehouse against the real server on 127.0.0.1:5432 (database `test`).
use std::time::Duration;

use futures::TryStreamExt;
use serde_json::{Value, json};
use shopsync::core::diff::{DiffSettings, Differ};
use shopsync::core::plan::MemorySink;
use shopsync::core::record::{Record, RejectionCode, RowRejection, primary_key};
use shopsync::core::source::{Columns, SourceRow};
use shopsync::core::source::{FailureClass, RowSet, StreamRequest, Warehouse, WarehouseError};
use shopsync::core::state::SnapshotIndex;
use shopsync::core::state::{
    Outcome, Ownership, RowHash, SnapshotChange, SnapshotEntry, StateStore,
};
use shopsync::state::SqliteStateStore;
use shopsync::warehouse::SqlWarehouse;
use sqlx::Executor;

const URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

async fn admin() -> sqlx::PgPool {
    sqlx::PgPool::connect(URL)
        .await
        .expect("PostgreSQL must be running on 127.0.0.1:5432")
}

async fn collect(set: RowSet) -> Result<Vec<Vec<Value>>, WarehouseError> {
    set.rows
        .and_then(|r| futures::future::ready(r.into_values()))
        .try_collect()
        .await
}

fn warehouse() -> SqlWarehouse {
    SqlWarehouse::from_url("customers", URL).unwrap()
}

#[tokio::test]
async fn every_column_type_maps_without_loss() {
    let admin = admin().await;
    let ty = unique("mood");
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "CREATE TYPE {ty} AS ENUM ('happy', 'sad')"
        )))
        .await
        .unwrap();
    let query = format!(
        "SELECT true AS b, 32767::int2 AS i2, 2147483647::int4 AS i4, 9223372036854775807::int8 AS i8, \
         1.5::float4 AS f4, 0.1::float8 AS f8, 'NaN'::float8 AS fnan, \
         123456789012345678901234567890.0123456789::numeric AS big, 1.50::numeric(10,2) AS money, \
         'héllo'::text AS t, 'v'::varchar(3) AS vc, 'c'::char(3) AS ch, \
         'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, DATE '2026-02-28' AS d, TIME '13:45:01.5' AS tm, \
         TIMESTAMP '2026-02-28 13:45:01' AS ts, TIMESTAMPTZ '2026-02-28 13:45:01.123+02' AS tstz, \
         '{{\"a\": [1, 2.5, \"x\"]}}'::json AS j, '{{\"n\": 12345678901234567890}}'::jsonb AS jb, \
         '\\xdeadbeef'::bytea AS by, ARRAY[1, NULL, 3]::int4[] AS ai, ARRAY['x', NULL]::text[] AS at, \
         -0.000120::numeric AS small, 'sad'::{ty} AS e, NULL::text AS n, NULL::int8 AS ni"
    );
    let set = warehouse()
        .stream(&StreamRequest::new("customers", query))
        .await
        .unwrap();
    let names: Vec<&str> = set.columns.names().iter().map(String::as_str).collect();
    assert_eq!(names[..4], ["b", "i2", "i4", "i8"]);
    let rows = collect(set).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!("DROP TYPE {ty}")))
        .await
        .unwrap();
    assert_eq!(
        rows,
        [vec![
            json!(true),
            json!(32767),
            json!(2147483647),
            json!(9223372036854775807_i64),
            json!(1.5),
            json!(0.1),
            json!("NaN"),
            json!("123456789012345678901234567890.0123456789"),
            json!("1.50"),
            json!("héllo"),
            json!("v"),
            json!("c  "),
            json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            json!("2026-02-28"),
            json!("13:45:01.500"),
            json!("2026-02-28T13:45:01"),
            json!("2026-02-28T11:45:01.123Z"),
            json!({"a": [1, 2.5, "x"]}),
            serde_json::from_str::<Value>(r#"{"n": 12345678901234567890}"#).unwrap(),
            json!("deadbeef"),
            json!([1, null, 3]),
            json!(["x", null]),
            json!("-0.000120"),
            json!("sad"),
            Value::Null,
            Value::Null,
        ]]
    );
}

#[tokio::test]
async fn rows_stream_in_order_across_batches() {
    let query = "SELECT g AS id, g * 2 AS twice FROM generate_series(1, 2000) g ORDER BY g";
    let set = warehouse()
        .stream(&StreamRequest::new("customers", query))
        .await
        .unwrap();
    let rows = collect(set).await.unwrap();
    assert_eq!(rows.len(), 2000);
    assert_eq!(rows[1999], [json!(2000), json!(4000)]);
}

#[tokio::test]
async fn missing_required_column_names_sync_and_column() {
    let request =
        StreamRequest::new("customers", "SELECT 1 AS id").with_required_columns(["id", "email"]);
    let err = warehouse().stream(&request).await.unwrap_err();
    assert_eq!(
        err,
        WarehouseError::MissingColumn {
            sync: "customers".into(),
            column: "email".into()
        }
    );
    assert!(err.to_string().contains("`customers`") && err.to_string().contains("`email`"));
    assert_eq!(err.class(), FailureClass::Permanent);
}

#[tokio::test]
async fn sql_errors_are_permanent_and_name_the_sync() {
    let err = warehouse()
        .stream(&StreamRequest::new("customers", "SELEC 1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WarehouseError::Query { sync, message } if sync == "customers" && message.contains("syntax"))
    );
    assert_eq!(err.class(), FailureClass::Permanent);
    let err = warehouse()
        .stream(&StreamRequest::new(
            "customers",
            "SELECT * FROM no_such_table_x",
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no_such_table_x"), "{err}");
}

#[tokio::test]
async fn errors_raised_while_streaming_name_the_sync() {
    // The division by zero happens on row 3, after rows were produced.
    let query = "SELECT 10 / (3 - g) AS x FROM generate_series(1, 5) g";
    let set = warehouse()
        .stream(&StreamRequest::new("customers", query))
        .await
        .unwrap();
    let err = collect(set).await.unwrap_err();
    assert!(
        matches!(&err, WarehouseError::Query { message, .. } if message.contains("division by zero")),
        "{err}"
    );
}

#[tokio::test]
async fn numeric_text_keeps_scale_and_sign() {
    let query = "SELECT 0::numeric AS a, 10000.0001::numeric AS b, -12345678.90::numeric(12,2) AS c, \
                 100000000::numeric AS d, 'NaN'::numeric AS e";
    let set = warehouse()
        .stream(&StreamRequest::new("customers", query))
        .await
        .unwrap();
    let rows = collect(set).await.unwrap();
    assert_eq!(
        rows,
        [vec![
            json!("0"),
            json!("10000.0001"),
            json!("-12345678.90"),
            json!("100000000"),
            json!("NaN")
        ]]
    );
}

#[tokio::test]
async fn unsupported_types_name_the_column() {
    let query = "SELECT 1 AS id, interval '1 day' AS wait";
    let err = warehouse()
        .stream(&StreamRequest::new("customers", query))
        .await
        .unwrap_err();
    let WarehouseError::Type {
        sync,
        column,
        message,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((sync.as_str(), column.as_str()), ("customers", "wait"));
    assert!(
        message.contains("INTERVAL") && message.contains("wait::text"),
        "{message}"
    );
}

#[tokio::test]
async fn queries_run_read_only() {
    let admin = admin().await;
    let table = unique("ro");
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {table} (id int)"
        )))
        .await
        .unwrap();
    let query = format!("WITH x AS (INSERT INTO {table} VALUES (1) RETURNING id) SELECT id FROM x");
    let err = match warehouse()
        .stream(&StreamRequest::new("customers", query))
        .await
    {
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
    assert!(err.to_string().contains("read-only"), "{err}");
    assert_eq!(count, 0);
}

#[tokio::test]
async fn statement_timeout_is_enforced() {
    let request = StreamRequest::new("customers", "SELECT 1 AS s FROM pg_sleep(10)")
        .with_timeout(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let err = match warehouse().stream(&request).await {
        Ok(set) => collect(set).await.unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(
        err,
        WarehouseError::Timeout {
            sync: "customers".into(),
            timeout: Duration::from_millis(200)
        }
    );
    assert_eq!(err.class(), FailureClass::Retryable);
    assert!(started.elapsed() < Duration::from_secs(9));
}

#[tokio::test]
async fn unreachable_server_is_a_retryable_connect_error() {
    let warehouse = SqlWarehouse::from_url("customers", "postgres://postgres@127.0.0.1:1/test")
        .unwrap()
        .with_connect_timeout(Duration::from_millis(500));
    let err = warehouse
        .stream(&StreamRequest::new("customers", "SELECT 1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, WarehouseError::Connect { ref sync, .. } if sync == "customers"),
        "{err}"
    );
    assert_eq!(err.class(), FailureClass::Retryable);
}

#[tokio::test]
async fn unsupported_url_scheme_is_rejected() {
    let err = SqlWarehouse::from_url("customers", "oracle://x").unwrap_err();
    assert!(
        matches!(err, WarehouseError::InvalidUrl { .. }) && err.to_string().contains("oracle"),
        "{err}"
    );
}

fn map(columns: &Columns, row: SourceRow) -> Result<Record, RowRejection> {
    let values = row.into_values().unwrap();
    let key = primary_key("id", columns.get(&values, "id").unwrap())?;
    let fields = columns.names().iter().cloned().zip(values).collect();
    Ok(Record { key, fields })
}

#[tokio::test]
async fn null_and_duplicate_keys_are_rejected() {
    let query =
        "SELECT * FROM (VALUES (1, 'a'), (NULL, 'b'), (2, 'c'), (1, 'd'), (3, 'e')) AS t(id, name)";
    let set = warehouse()
        .stream(&StreamRequest::new("customers", query))
        .await
        .unwrap();
    let columns = set.columns.clone();
    let mut differ = Differ::new(
        DiffSettings::objects("m"),
        SnapshotIndex::new(),
        MemorySink::default(),
    );
    let mut rows = set.rows;
    while let Some(row) = rows.try_next().await.unwrap() {
        differ.push(map(&columns, row)).unwrap();
    }
    let (summary, sink) = differ.finish().unwrap();
    let keys: Vec<String> = sink.into_changes().into_iter().map(|c| c.key).collect();
    assert_eq!(keys, ["2", "3"]);
    let codes: Vec<RejectionCode> = summary.rejections.iter().map(|r| r.code).collect();
    assert_eq!(
        codes,
        [
            RejectionCode::NullPrimaryKey,
            RejectionCode::DuplicatePrimaryKey
        ]
    );
    assert!(summary.rejections[0].message.contains("`id`"));
    assert_eq!(summary.stats.rejected, 3);
}

#[tokio::test]
async fn connection_dropped_mid_stream_is_a_clear_error_and_leaves_state_untouched() {
    let app = unique("shopsync_drop");
    let url = format!("{URL}?application_name={app}");
    let warehouse = SqlWarehouse::from_url("customers", &url).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStateStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let before = vec![SnapshotChange::Upsert(SnapshotEntry {
        key: "1".into(),
        hash: RowHash([7; 16]),
        shopify_id: Some("gid://shopify/Customer/1".into()),
        outcome: Outcome::Succeeded,
        error: None,
        source: None,
        ownership: Ownership::Matched,
    })];
    store.commit_snapshot("customers", &before).await.unwrap();

    let query = "SELECT g AS id, md5(g::text) AS name FROM generate_series(1, 20000000) g";
    let set = warehouse
        .stream(&StreamRequest::new("customers", query))
        .await
        .unwrap();
    let columns = set.columns.clone();
    let mut rows = set.rows;
    let mut differ = Differ::new(
        DiffSettings::objects("m"),
        SnapshotIndex::new(),
        MemorySink::default(),
    );
    for _ in 0..100 {
        differ
            .push(map(&columns, rows.try_next().await.unwrap().unwrap()))
            .unwrap();
    }
    let admin = admin().await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(&app)
    .fetch_all(&admin)
    .await
    .unwrap();
    assert_eq!(killed, [true]);
    let err = loop {
        match rows.try_next().await {
            Ok(Some(row)) => differ.push(map(&columns, row)).unwrap(),
            Ok(None) => panic!("the stream ended without reporting the lost connection"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(&err, WarehouseError::ConnectionLost { sync, .. } if sync == "customers"),
        "{err}"
    );
    assert_eq!(err.class(), FailureClass::Retryable);
    assert!(err.to_string().contains("connection was lost"), "{err}");
    // The run stops here: nothing is committed, so the snapshot is what it was.
    drop(differ);
    let after: Vec<SnapshotEntry> = store.snapshot("customers").try_collect().await.unwrap();
    let SnapshotChange::Upsert(expected) = &before[0] else {
        unreachable!()
    };
    assert_eq!(after, std::slice::from_ref(expected));
}

/// Rows carry a digest when asked: stable for the same bytes, different for another seed, another value or another
/// column name, absent when not asked.
#[tokio::test]
async fn digests_follow_bytes_columns_and_seed() {
    async fn digests(query: &str, seed: Option<&str>) -> Vec<Option<RowHash>> {
        let mut request = StreamRequest::new("customers", query);
        if let Some(seed) = seed {
            request = request.with_digest_seed(seed);
        }
        let set = warehouse().stream(&request).await.unwrap();
        set.rows.map_ok(|r| r.digest()).try_collect().await.unwrap()
    }
    let q = "SELECT * FROM (VALUES (1::int8, 'a'::text), (2, NULL)) AS t(id, name)";
    let first = digests(q, Some("m1")).await;
    assert!(first.iter().all(Option::is_some), "{first:?}");
    assert_ne!(first[0], first[1]);
    assert_eq!(
        digests(q, Some("m1")).await,
        first,
        "same bytes, same digest"
    );
    assert_ne!(digests(q, Some("m2")).await[0], first[0], "the seed counts");
    let renamed = "SELECT * FROM (VALUES (1::int8, 'a'::text), (2, NULL)) AS t(id, label)";
    assert_ne!(
        digests(renamed, Some("m1")).await[0],
        first[0],
        "column names count"
    );
    let changed = "SELECT * FROM (VALUES (1::int8, 'b'::text), (2, NULL)) AS t(id, name)";
    assert_ne!(digests(changed, Some("m1")).await[0], first[0]);
    // NULL and the empty string are different rows.
    let empty = "SELECT * FROM (VALUES (1::int8, 'a'::text), (2, '')) AS t(id, name)";
    assert_ne!(digests(empty, Some("m1")).await[1], first[1]);
    assert_eq!(digests(q, None).await, vec![None, None]);
    // Decoding on the reader's task (a re-baseline) changes neither the digests nor the values.
    let request = StreamRequest::new("customers", q)
        .with_digest_seed("m1")
        .with_decode_all(true);
    let rows: Vec<SourceRow> = warehouse()
        .stream(&request)
        .await
        .unwrap()
        .rows
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(SourceRow::digest).collect::<Vec<_>>(),
        first
    );
    let values: Vec<Vec<Value>> = rows.into_iter().map(|r| r.into_values().unwrap()).collect();
    assert_eq!(
        values,
        [vec![json!(1), json!("a")], vec![json!(2), Value::Null]]
    );
}

/// Through the engine: a second plan skips unchanged rows by digest, still sees a changed mapped column, and
/// refreshes the digest of a row whose unmapped column changed (unchanged, nothing sent).
#[tokio::test]
async fn second_plan_skips_unchanged_rows_and_refreshes_stale_digests() {
    use shopsync::api::{ShopifySync, sync_config};
    use shopsync::core::engine;
    use shopsync::core::plan::ChangeKind;

    let admin = admin().await;
    let table = unique("digest_plan");
    admin
        .execute(sqlx::AssertSqlSafe(
            format!(
                "CREATE TABLE {table} (id bigint PRIMARY KEY, email text, note text); \
                 INSERT INTO {table} SELECT g, 'u' || g || '@example.com', 'n' FROM generate_series(1, 50) g"
            )),
        )
        .await
        .unwrap();
    let yaml = format!(
        r#"
apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {{name: customers}}
spec:
  destinationRef: {{name: demo}}
  source: {{url: "{URL}", query: "SELECT id, email, note FROM {table}"}}
  primaryKey: id
  object: customers
  mode: upsert
  match: {{key: email}}
  mappings:
    - {{from: email, to: email}}
  schedule: {{manual: true}}
"#
    );
    let spec: ShopifySync = serde_yaml::from_str(&yaml).unwrap();
    let sync = sync_config("default/customers", &spec.spec).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = SqliteStateStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let wh = warehouse();

    let first = engine::plan(&wh, &state, &sync).await.unwrap();
    assert_eq!(first.changes.len(), 50);
    assert!(first.changes.iter().all(|c| c.source.is_some()));
    let commit: Vec<_> = first
        .changes
        .iter()
        .map(|c| c.succeeded(None, Ownership::Created))
        .collect();
    state.commit_snapshot(&sync.id, &commit).await.unwrap();

    let second = engine::plan(&wh, &state, &sync).await.unwrap();
    assert!(second.is_empty(), "{second:?}");
    assert_eq!(second.summary.stats.unchanged, 50);
    assert!(second.summary.source_refreshes.is_empty());

    // `note` is not mapped: the row's bytes change, its payload does not.
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET note = 'changed' WHERE id = 7"
        )))
        .await
        .unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET email = 'new@example.com' WHERE id = 9"
        )))
        .await
        .unwrap();
    let third = engine::plan(&wh, &state, &sync).await.unwrap();
    let changed: Vec<_> = third
        .of_kind(ChangeKind::Changed)
        .map(|c| c.key.as_str())
        .collect();
    assert_eq!(changed, ["9"]);
    assert_eq!(third.summary.stats.unchanged, 49);
    let refreshed: Vec<_> = third
        .summary
        .source_refreshes
        .iter()
        .filter_map(|c| c.as_source().map(|(k, _)| k))
        .collect();
    assert_eq!(refreshed, ["7"]);

    let mut commit: Vec<_> = third
        .changes
        .iter()
        .map(|c| c.succeeded(None, Ownership::Created))
        .collect();
    commit.extend(third.summary.source_refreshes.iter().cloned());
    state.commit_snapshot(&sync.id, &commit).await.unwrap();
    let fourth = engine::plan(&wh, &state, &sync).await.unwrap();
    assert!(
        fourth.is_empty() && fourth.summary.source_refreshes.is_empty(),
        "{fourth:?}"
    );
    admin
        .execute(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
        .await
        .unwrap();
}
