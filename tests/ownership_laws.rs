//! The write-safety laws of ownership, over random histories: warehouse snapshots, records that exist in the
//! store before the sync, modes and spec edits (primary key, deleteBehavior), run through the real engine and a
//! real SQLite state against a model store.
//!
//! - a record the sync did not create is never deleted (no sync here opts in to `deleteMatched`);
//! - a record insert mode found existing is never written, and insert mode never updates anything;
//! - no run whose primary key changed since the last run deletes anything;
//! - a record the sync created and whose row left the model is deleted (when the sync deletes and the guard
//!   allows it), so the laws above are not met by never deleting at all.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use serde_json::{Value, json};
use shopsync::core::config::{DeleteBehavior, DeleteGuard, SyncConfig, SyncMode};
use shopsync::core::engine::Engine;
use shopsync::core::source::{Columns, SourceRow};
use shopsync::core::source::{RowSet, StreamRequest, Warehouse, WarehouseError};
use shopsync::core::write::{ApiFailure, BoxFuture, ShopifyApi, WriteOp, WriteOutcome};
use shopsync::state::SqliteStateStore;

/// A product in the model store.
#[derive(Debug, Clone, PartialEq)]
struct Product {
    handle: String,
    title: String,
    /// Created by the sync under test (not there before it).
    by_sync: bool,
}

/// What the model store saw in one run.
#[derive(Debug, Default)]
struct Seen {
    deleted: Vec<Product>,
    /// Writes that changed a record that existed before the write.
    updated: Vec<Product>,
    created: u64,
}

/// A store of products by id, answering as Shopify does for each mode (see src/shopify/ops/products.rs): a new
/// key is matched by handle, a known key by its id.
#[derive(Default)]
struct ModelStore {
    products: Mutex<BTreeMap<String, Product>>,
    next: Mutex<u64>,
    seen: Mutex<Seen>,
}

impl ModelStore {
    fn by_handle(&self, handle: &str) -> Option<String> {
        let products = self.products.lock().unwrap();
        products
            .iter()
            .find(|(_, p)| p.handle == handle)
            .map(|(id, _)| id.clone())
    }

    fn upsert(
        &self,
        sync: &SyncConfig,
        key: &str,
        fields: &serde_json::Map<String, Value>,
        known: Option<&str>,
    ) -> WriteOutcome {
        let handle = fields["handle"].as_str().unwrap_or_default().to_string();
        let title = fields["title"].as_str().unwrap_or_default().to_string();
        let existing = match known {
            Some(id) => {
                Some(id.to_string()).filter(|id| self.products.lock().unwrap().contains_key(id))
            }
            None => self.by_handle(&handle),
        };
        match (sync.mode, existing) {
            (SyncMode::Insert, Some(id)) => WriteOutcome::Skipped {
                key: key.into(),
                shopify_id: Some(id),
                reason: "exists".into(),
            },
            (SyncMode::Update, None) => WriteOutcome::Rejected {
                key: key.into(),
                code: Some("NOT_FOUND".into()),
                field: vec![],
                message: "no such product".into(),
            },
            (_, Some(id)) => {
                let mut products = self.products.lock().unwrap();
                let p = products.get_mut(&id).expect("exists");
                p.title = title;
                self.seen.lock().unwrap().updated.push(p.clone());
                WriteOutcome::Succeeded {
                    key: key.into(),
                    shopify_id: Some(id),
                    created: false,
                }
            }
            (_, None) => {
                let id = {
                    let mut next = self.next.lock().unwrap();
                    *next += 1;
                    format!("gid://shopify/Product/{}", 1000 + *next)
                };
                self.products.lock().unwrap().insert(
                    id.clone(),
                    Product {
                        handle,
                        title,
                        by_sync: true,
                    },
                );
                self.seen.lock().unwrap().created += 1;
                WriteOutcome::Succeeded {
                    key: key.into(),
                    shopify_id: Some(id),
                    created: true,
                }
            }
        }
    }
}

impl ShopifyApi for ModelStore {
    fn write<'a>(
        &'a self,
        sync: &'a SyncConfig,
        ops: Vec<WriteOp>,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ApiFailure>> {
        Box::pin(async move {
            let outcomes = ops
                .into_iter()
                .map(|op| match op {
                    WriteOp::Upsert {
                        key,
                        fields,
                        known_id,
                        ..
                    } => self.upsert(sync, &key, &fields, known_id.as_deref()),
                    WriteOp::Delete { key, shopify_id } => {
                        match self.products.lock().unwrap().remove(&shopify_id) {
                            Some(p) => {
                                self.seen.lock().unwrap().deleted.push(p);
                                WriteOutcome::Succeeded {
                                    key,
                                    shopify_id: Some(shopify_id),
                                    created: false,
                                }
                            }
                            None => WriteOutcome::Rejected {
                                key,
                                code: None,
                                field: vec![],
                                message: "gone".into(),
                            },
                        }
                    }
                    WriteOp::Send { key, .. } => WriteOutcome::Rejected {
                        key,
                        code: None,
                        field: vec![],
                        message: "not an event sync".into(),
                    },
                })
                .collect();
            Ok(outcomes)
        })
    }
}

/// The model: rows of (id, sku, handle, title), both id and sku unique.
struct MemoryWarehouse {
    rows: Vec<[Value; 4]>,
}

impl Warehouse for MemoryWarehouse {
    fn stream<'a>(
        &'a self,
        _request: &'a StreamRequest,
    ) -> BoxFuture<'a, Result<RowSet, WarehouseError>> {
        let columns = Columns::new(["id", "sku", "handle", "title"].map(String::from).to_vec());
        let rows: Vec<Result<SourceRow, WarehouseError>> = self
            .rows
            .iter()
            .map(|r| Ok(SourceRow::new(r.to_vec())))
            .collect();
        Box::pin(futures::future::ready(Ok(RowSet {
            columns: Arc::new(columns),
            rows: Box::pin(futures::stream::iter(rows)),
        })))
    }
}

fn config(mode: SyncMode, primary_key: &str, deletes: bool) -> SyncConfig {
    let spec: shopsync::api::ShopifySync = serde_json::from_value(json!({
        "apiVersion": "shopsync.dev/v1alpha1",
        "kind": "ShopifySync",
        "metadata": {"name": "products"},
        "spec": {
            "destinationRef": {"name": "demo"},
            "source": {"url": "sqlite://unused.db", "query": "SELECT id, sku, handle, title FROM items"},
            "primaryKey": primary_key,
            "object": "products",
            "mode": match mode { SyncMode::Upsert => "upsert", SyncMode::Update => "update", SyncMode::Insert => "insert" },
            "mappings": [{"from": "handle", "to": "handle"}, {"from": "title", "to": "title"}],
            "schedule": {"manual": true},
        }
    }))
    .expect("spec");
    let mut c = shopsync::api::sync_config("default/products", &spec.spec).expect("valid");
    c.delete_behavior = if deletes {
        DeleteBehavior::Delete
    } else {
        DeleteBehavior::DoNothing
    };
    // The laws must hold whatever the guard lets through: let every delete through.
    c.delete_guard = DeleteGuard {
        max_count: None,
        max_percent: Some(100.0),
    };
    c
}

/// One step of a history: which of the 8 product handles the model holds (and with which title version), and
/// the spec the run uses.
#[derive(Debug, Clone)]
struct Step {
    present: Vec<(u8, u8)>,
    by_sku: bool,
    deletes: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (
        proptest::collection::btree_map(0u8..8, 0u8..3, 0..8),
        prop::bool::weighted(0.2),
        any::<bool>(),
    )
        .prop_map(|(present, by_sku, deletes)| Step {
            present: present.into_iter().collect(),
            by_sku,
            deletes,
        })
}

fn mode() -> impl Strategy<Value = SyncMode> {
    prop_oneof![
        Just(SyncMode::Upsert),
        Just(SyncMode::Insert),
        Just(SyncMode::Update)
    ]
}

fn rows(present: &[(u8, u8)]) -> Vec<[Value; 4]> {
    present
        .iter()
        .map(|(n, version)| {
            [
                json!(format!("{n}")),
                json!(format!("sku-{n}")),
                json!(format!("p-{n}")),
                json!(format!("title {n} v{version}")),
            ]
        })
        .collect()
}

async fn history(
    mode: SyncMode,
    existing: BTreeSet<u8>,
    steps: Vec<Step>,
) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = SqliteStateStore::open(&dir.path().join("state.db"))
        .await
        .expect("state");
    let store = ModelStore::default();
    // Products that exist before the sync's first run, some of them with handles the model will bring.
    for n in &existing {
        store.products.lock().unwrap().insert(
            format!("gid://shopify/Product/{}", 100 + n),
            Product {
                handle: format!("p-{n}"),
                title: "the merchant's own".into(),
                by_sync: false,
            },
        );
    }
    let mut previous_key: Option<bool> = None;
    // Handles present in every step so far.
    let mut always: BTreeSet<String> = BTreeSet::new();
    let mut key_changes = 0;
    for (i, step) in steps.iter().enumerate() {
        let sync = config(mode, if step.by_sku { "sku" } else { "id" }, step.deletes);
        let warehouse = MemoryWarehouse {
            rows: rows(&step.present),
        };
        let before = store.products.lock().unwrap().clone();
        let report = Engine::new(
            &warehouse,
            &state,
            &store,
            &shopsync::clock::SystemClock,
            "laws",
        )
        .run(&sync)
        .await
        .expect("run");
        let seen = std::mem::take(&mut *store.seen.lock().unwrap());
        // A record the sync did not create is never deleted (nothing opts in to deleteMatched).
        for p in &seen.deleted {
            prop_assert!(
                p.by_sync,
                "step {i}: deleted {p:?}, which the sync did not create"
            );
        }
        // Insert mode never writes a record that exists; a record found existing is never written after.
        if mode == SyncMode::Insert {
            prop_assert!(
                seen.updated.is_empty(),
                "step {i}: insert mode updated {:?}",
                seen.updated
            );
        }
        for p in &seen.updated {
            prop_assert!(
                p.by_sync || mode != SyncMode::Insert,
                "step {i}: wrote {p:?}, which insert mode found existing"
            );
        }
        // A run after a primary key change deletes nothing.
        if previous_key.is_some_and(|k| k != step.by_sku) {
            key_changes += 1;
            prop_assert!(
                seen.deleted.is_empty(),
                "step {i}: deleted {:?} after a key change",
                seen.deleted
            );
        }
        // Records the sync created whose row was in every earlier step and left the model in this one are deleted
        // when the sync deletes, in a history that never changed its key. (A key that left while deletes were off
        // is forgotten, and one absent across a key change is not carried over: either is matched when its row
        // returns, and is then not the sync's to delete. Both err towards keeping a record.)
        if step.deletes && key_changes == 0 {
            let handles: BTreeSet<String> =
                step.present.iter().map(|(n, _)| format!("p-{n}")).collect();
            for (id, p) in &before {
                if p.by_sync && always.contains(&p.handle) && !handles.contains(&p.handle) {
                    prop_assert!(
                        !store.products.lock().unwrap().contains_key(id),
                        "step {i}: {p:?} left the model but was not deleted (report {report:?})"
                    );
                }
            }
        }
        // Records that existed before the sync are never deleted, and in insert mode keep their own title.
        for n in &existing {
            let id = format!("gid://shopify/Product/{}", 100 + n);
            let products = store.products.lock().unwrap();
            let p = products.get(&id);
            prop_assert!(p.is_some(), "step {i}: the merchant's product {id} is gone");
            if mode == SyncMode::Insert {
                prop_assert_eq!(p.map(|p| p.title.as_str()), Some("the merchant's own"));
            }
        }
        previous_key = Some(step.by_sku);
        let now: BTreeSet<String> = step.present.iter().map(|(n, _)| format!("p-{n}")).collect();
        always = if i == 0 {
            now
        } else {
            always.intersection(&now).cloned().collect()
        };
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn a_sync_deletes_only_what_it_created_and_never_writes_what_insert_found(
        mode in mode(),
        existing in proptest::collection::btree_set(0u8..8, 0..5),
        steps in proptest::collection::vec(step(), 1..6),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(history(mode, existing, steps))?;
    }
}
