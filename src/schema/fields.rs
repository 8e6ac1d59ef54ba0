//! Which Shopify input fields a sync may map to, looked up in the pinned schema of its API version.
use apollo_compiler::schema::ExtendedType;

use crate::core::config::{
    ActionKind, ApiVersion, DISCOUNT_USAGE_FIELDS, EventKind, ObjectKind, Target,
};

use super::schema;

/// Where the fields a target accepts come from in the Admin schema.
struct Inputs {
    /// Input object types whose fields may be mapped.
    types: &'static [&'static str],
    /// A mutation whose scalar arguments may be mapped (its `id` argument is named by `id_as`).
    mutation: Option<&'static str>,
    /// The mapping name for the mutation's `id` argument.
    id_as: &'static str,
    /// Fields shopsync itself understands that no input type carries (e.g. the REST path's order id).
    extra: &'static [&'static str],
    /// Fields of those types that are shopsync's business, not the user's.
    hidden: &'static [&'static str],
}

fn inputs(target: Target) -> Inputs {
    let plain = |types, extra| Inputs {
        types,
        mutation: None,
        id_as: "id",
        extra,
        hidden: &[],
    };
    match target {
        Target::Object(ObjectKind::Customers) => plain(&["CustomerSetInput"], &[]),
        Target::Object(ObjectKind::Products) => plain(&["ProductSetInput"], &[]),
        Target::Object(ObjectKind::InventoryItems) => plain(&["InventoryItemInput"], &["id"]),
        Target::Object(ObjectKind::InventoryLevels) => Inputs {
            types: &["InventoryQuantityInput", "InventorySetQuantitiesInput"],
            mutation: None,
            id_as: "id",
            extra: &[],
            // Quantities are built by shopsync from the row; compare/change-from values guard concurrency.
            hidden: &[
                "quantities",
                "changeFromQuantity",
                "compareQuantity",
                "ignoreCompareQuantity",
            ],
        },
        // The code discount's usage settings live on `DiscountCode*Input`, whose other fields are not a
        // code sync's business; a test checks they exist in every pinned version.
        Target::Object(ObjectKind::Discounts) => plain(
            &["DiscountRedeemCodeInput"],
            &[
                "priceRuleId",
                "id",
                DISCOUNT_USAGE_FIELDS[0],
                DISCOUNT_USAGE_FIELDS[1],
            ],
        ),
        Target::Event(EventKind::FulfillmentEvents) => {
            plain(&["FulfillmentEventInput"], &["orderId"])
        }
        Target::Action(a) => {
            let (mutation, types): (&'static str, &'static [&'static str]) = match a {
                ActionKind::CancelFulfillmentOrder => ("fulfillmentOrderCancel", &[]),
                ActionKind::MarkFulfillmentOrderIncomplete => ("fulfillmentOrderClose", &[]),
                ActionKind::HoldFulfillmentOrder => {
                    ("fulfillmentOrderHold", &["FulfillmentOrderHoldInput"])
                }
                ActionKind::MoveFulfillmentOrder => ("fulfillmentOrderMove", &[]),
                ActionKind::OpenFulfillmentOrder => ("fulfillmentOrderOpen", &[]),
                ActionKind::ReleaseFulfillmentOrderHold => ("fulfillmentOrderReleaseHold", &[]),
                ActionKind::RescheduleFulfillmentOrder => ("fulfillmentOrderReschedule", &[]),
            };
            Inputs {
                types,
                mutation: Some(mutation),
                id_as: "fulfillmentOrderId",
                extra: &[],
                hidden: &[],
            }
        }
    }
}

/// Every top-level field name `target` accepts in `version`, sorted.
pub fn mappable_fields(version: ApiVersion, target: Target) -> Vec<String> {
    let schema = schema(version);
    let spec = inputs(target);
    let mut out: Vec<String> = spec.extra.iter().map(|s| s.to_string()).collect();
    for ty in spec.types {
        if let Some(ExtendedType::InputObject(obj)) = schema.types.get(*ty) {
            out.extend(obj.fields.keys().map(|k| k.to_string()));
        }
    }
    if let Some(mutation) = spec.mutation
        && let Some(field) = schema.schema_definition.mutation.as_ref().and_then(|m| {
            match schema.types.get(m.name.as_str()) {
                Some(ExtendedType::Object(o)) => o.fields.get(mutation).cloned(),
                _ => None,
            }
        })
    {
        for arg in &field.arguments {
            let arg_type = arg.ty.inner_named_type();
            if matches!(
                schema.types.get(arg_type.as_str()),
                Some(ExtendedType::InputObject(_))
            ) {
                continue;
            }
            out.push(if arg.name == "id" {
                spec.id_as.to_string()
            } else {
                arg.name.to_string()
            });
        }
    }
    out.retain(|f| !spec.hidden.contains(&f.as_str()));
    out.sort();
    out.dedup();
    out
}

/// Checks a mapping target such as `firstName` or `seo.title` against the schema; the error explains what
/// exists instead.
pub fn check_field(version: ApiVersion, target: Target, path: &str) -> Result<(), String> {
    let mut segments = path.split('.');
    let first = segments.next().unwrap_or_default();
    let allowed = mappable_fields(version, target);
    if !allowed.iter().any(|f| f == first) {
        let hint = closest(first, &allowed)
            .map(|c| format!("; did you mean {c:?}?"))
            .unwrap_or_default();
        return Err(format!(
            "{target} have no field {first:?} in Shopify Admin API {version}{hint} (fields: {})",
            allowed.join(", ")
        ));
    }
    let rest: Vec<&str> = segments.collect();
    if rest.is_empty() {
        return Ok(());
    }
    // Nested paths walk input object types from the top-level field's type.
    let schema = schema(version);
    let spec = inputs(target);
    let mut current = spec
        .types
        .iter()
        .find_map(|ty| match schema.types.get(*ty) {
            Some(ExtendedType::InputObject(obj)) => obj
                .fields
                .get(first)
                .map(|f| f.ty.inner_named_type().clone()),
            _ => None,
        });
    let mut walked = first.to_string();
    for seg in rest {
        let Some(ty) = current else {
            return Err(format!("{walked} has no fields: it is not an input object"));
        };
        match schema.types.get(ty.as_str()) {
            Some(ExtendedType::InputObject(obj)) => match obj.fields.get(seg) {
                Some(f) => current = Some(f.ty.inner_named_type().clone()),
                None => {
                    let names: Vec<String> = obj.fields.keys().map(|k| k.to_string()).collect();
                    let hint = closest(seg, &names)
                        .map(|c| format!("; did you mean {c:?}?"))
                        .unwrap_or_default();
                    return Err(format!("{ty} has no field {seg:?}{hint}"));
                }
            },
            _ => return Err(format!("{walked} has no fields: it is a {ty}")),
        }
        walked.push('.');
        walked.push_str(seg);
    }
    Ok(())
}

/// The candidate nearest to `word` by edit distance, if near enough to be a likely typo.
fn closest<'a>(word: &str, candidates: &'a [String]) -> Option<&'a str> {
    let lower = word.to_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_fields_exist_in_every_version() {
        let all_targets = crate::core::config::ObjectKind::ALL
            .iter()
            .map(|o| Target::Object(*o))
            .chain(EventKind::ALL.iter().map(|e| Target::Event(*e)))
            .chain(ActionKind::ALL.iter().map(|a| Target::Action(*a)));
        for t in all_targets {
            for v in ApiVersion::ALL {
                for f in t.required_fields() {
                    assert!(
                        check_field(v, t, f).is_ok(),
                        "{t} in {v} lacks required field {f}"
                    );
                }
                for k in t.match_keys() {
                    assert!(
                        check_field(v, t, k.as_str()).is_ok(),
                        "{t} in {v} lacks match key {k}"
                    );
                }
            }
        }
    }

    #[test]
    fn typos_are_rejected_with_a_hint() {
        let t = Target::Object(ObjectKind::Customers);
        let err = check_field(ApiVersion::V2026_07, t, "fristName").unwrap_err();
        assert!(err.contains("did you mean \"firstName\""), "{err}");
        assert!(
            check_field(
                ApiVersion::V2026_07,
                Target::Object(ObjectKind::Products),
                "seo.title"
            )
            .is_ok()
        );
        let err = check_field(
            ApiVersion::V2026_07,
            Target::Object(ObjectKind::Products),
            "seo.titel",
        )
        .unwrap_err();
        assert!(err.contains("SEOInput"), "{err}");
    }

    #[test]
    fn discount_usage_fields_are_in_every_code_discount_input() {
        for v in ApiVersion::ALL {
            let schema = schema(v);
            for ty in [
                "DiscountCodeBasicInput",
                "DiscountCodeBxgyInput",
                "DiscountCodeFreeShippingInput",
                "DiscountCodeAppInput",
            ] {
                let Some(ExtendedType::InputObject(obj)) = schema.types.get(ty) else {
                    panic!("{v} has no {ty}");
                };
                for f in DISCOUNT_USAGE_FIELDS {
                    assert!(obj.fields.contains_key(f), "{v} {ty} lacks {f}");
                }
            }
            let discounts = Target::Object(ObjectKind::Discounts);
            assert!(check_field(v, discounts, "usageLimit").is_ok());
            assert!(
                check_field(v, discounts, "title").is_err(),
                "not a code's field"
            );
        }
    }

    #[test]
    fn action_fields_come_from_the_mutation() {
        let hold = Target::Action(ActionKind::HoldFulfillmentOrder);
        assert!(check_field(ApiVersion::V2026_07, hold, "reasonNotes").is_ok());
        assert!(check_field(ApiVersion::V2026_07, hold, "fulfillmentOrderId").is_ok());
        let moved = Target::Action(ActionKind::MoveFulfillmentOrder);
        assert!(check_field(ApiVersion::V2026_07, moved, "newLocationId").is_ok());
        assert!(check_field(ApiVersion::V2026_07, moved, "reason").is_err());
    }
}
