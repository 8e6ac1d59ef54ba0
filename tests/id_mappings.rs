//! Every id-typed mapping of every target (the table in `core::ids`), through the spec and the compiled mapping a
//! run uses: a number, digits as text, or a gid of the field's type (or of a legacy name of the same record, for
//! discounts) become the one gid Shopify takes; a gid of another type rejects the row, naming the field and the
//! type it got.
use serde_json::{Value, json};
use shopsync::api::{ShopifySync, sync_config};
use shopsync::core::config::{ActionKind, EventKind, MatchKey, ObjectKind, Target};
use shopsync::core::ids::id_fields;
use shopsync::core::mapping::compile;
use shopsync::core::source::Columns;

fn targets() -> Vec<Target> {
    ObjectKind::ALL
        .iter()
        .map(|o| Target::Object(*o))
        .chain(EventKind::ALL.iter().map(|e| Target::Event(*e)))
        .chain(ActionKind::ALL.iter().map(|a| Target::Action(*a)))
        .collect()
}

/// The fields a spec for `target` maps: its id fields, required fields and match key, each from a column of
/// the same name.
fn fields(target: Target) -> Vec<String> {
    let mut out: Vec<String> = id_fields(target)
        .iter()
        .map(|(f, _)| f.to_string())
        .collect();
    let extra = target
        .required_fields()
        .iter()
        .copied()
        .chain(target.default_match_key().map(MatchKey::as_str));
    for f in extra {
        if !out.iter().any(|o| o == f) {
            out.push(f.to_string());
        }
    }
    out
}

fn config(target: Target, fields: &[String]) -> shopsync::core::config::SyncConfig {
    let what = match target {
        Target::Object(o) => format!("object: {o}\n  mode: {}", target.modes()[0]),
        Target::Event(e) => format!("event: {e}"),
        Target::Action(a) => format!("action: {a}"),
    };
    let mappings: Vec<String> = fields
        .iter()
        .map(|f| format!("{{from: {f}, to: {f}}}"))
        .collect();
    let yaml = format!(
        "apiVersion: shopsync.dev/v1alpha1\nkind: ShopifySync\nmetadata: {{name: ids}}\nspec:\n  \
         destinationRef: {{name: demo}}\n  source: {{url: \"sqlite://w.db\", query: \"SELECT 1\"}}\n  \
         primaryKey: k\n  {what}\n  mappings: [{}]\n  schedule: {{manual: true}}\n",
        mappings.join(", ")
    );
    let spec: ShopifySync = serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    sync_config("default/ids", &spec.spec).unwrap_or_else(|e| panic!("{target}: {e:?}\n{yaml}"))
}

#[test]
fn every_id_mapping_takes_numbers_and_its_gids_and_rejects_other_types() {
    let mut checked = 0;
    for target in targets() {
        let ids = id_fields(target);
        assert!(!ids.is_empty(), "{target} names no id field");
        let fields = fields(target);
        let sync = config(target, &fields);
        let columns = Columns::new(
            std::iter::once("k".to_string())
                .chain(fields.iter().cloned())
                .collect(),
        );
        let mapping = compile(&sync, &columns).unwrap();
        // Every other field holds something valid: id fields a number, the rest text.
        let row = |field: &str, value: Value| -> Vec<Value> {
            std::iter::once(json!("r1"))
                .chain(fields.iter().map(|f| match f.as_str() {
                    f if f == field => value.clone(),
                    f if ids.iter().any(|(i, _)| *i == f) => json!(11),
                    _ => json!("text"),
                }))
                .collect()
        };
        for (field, kind) in ids {
            let canonical = json!(format!("gid://shopify/{}/7", kind.canonical));
            let mut accepted = vec![json!(7), json!("7")];
            accepted.extend(
                kind.accepted()
                    .iter()
                    .map(|ty| json!(format!("gid://shopify/{ty}/7"))),
            );
            for value in accepted {
                let record = mapping
                    .apply(&row(field, value.clone()), None)
                    .unwrap_or_else(|r| panic!("{target} {field} = {value}: {}", r.message));
                assert_eq!(
                    record.fields[*field], canonical,
                    "{target} {field} = {value}"
                );
            }
            let wrong = "gid://shopify/Shop/7";
            let rejection = mapping
                .apply(&row(field, json!(wrong)), None)
                .err()
                .unwrap_or_else(|| panic!("{target} {field} took {wrong}"));
            assert_eq!(rejection.key.as_deref(), Some("r1"));
            assert!(
                rejection.message.starts_with(&format!("{field}: "))
                    && rejection
                        .message
                        .contains(&format!("is a Shop id, not a {} id", kind.canonical)),
                "{target} {field}: {}",
                rejection.message
            );
            checked += 1;
        }
    }
    // customers, products, inventory items: id; levels: item + location; discounts: rule + code; the event:
    // fulfillment + order; seven actions with their order, move's location and release's holds.
    assert_eq!(checked, 1 + 1 + 1 + 2 + 2 + 2 + 7 + 2, "id fields checked");
}
