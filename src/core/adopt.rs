//! Adoption: before a sync first writes to a store that already holds records, which warehouse rows match an
//! existing record (and by which key), which would create one, and which conflict.
//!
//! A row matches the way its write will: products by handle, customers by the sync's match key (email or
//! phone). Values are compared the way Shopify stores them ([`normalize`]): emails without whitespace and in
//! lower case, phones in E.164, handles handleized. Conflicts are what a write would get wrong or have refused:
//! - two rows → one record: rows sharing a normalised identifier (two emails that differ only in case) would
//!   write the same record, the second overwriting the first, or be refused ("has already been taken");
//! - one row → two candidates: the row's identifiers find different records (its email one customer, its phone
//!   another), so whichever the write picks, the other identifier collides;
//! - taken: the match key finds no record but another unique identifier of the row belongs to one, so the
//!   create would be refused.
//!
//! Everything here is pure: the adapter looks up the values [`lookups`] lists and hands back what it found.
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::{MatchKey, ObjectKind, Target};
use super::record::FieldValues;

/// A unique identifier of a Shopify record that a row can be matched by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Identifier {
    /// A product's handle.
    Handle,
    /// A customer's email address.
    Email,
    /// A customer's phone number.
    Phone,
}

impl Identifier {
    /// The mapped field holding it (also the word reports use).
    pub fn field(self) -> &'static str {
        match self {
            Identifier::Handle => "handle",
            Identifier::Email => "email",
            Identifier::Phone => "phone",
        }
    }
}

/// Shopify's form of `raw` as `kind`, or `None` when it cannot be one (empty, not an email, not a phone number):
/// such a value matches nothing and the write would be refused.
pub fn normalize(kind: Identifier, raw: &str) -> Option<String> {
    match kind {
        // Shopify strips whitespace and lower-cases emails.
        Identifier::Email => {
            let e: String = raw
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_lowercase();
            let (local, domain) = e.split_once('@')?;
            (!local.is_empty() && domain.contains('.') && !domain.contains('@')).then_some(e)
        }
        // E.164: an international number keeps its digits after `+`; a national one of ten digits (or eleven
        // starting with 1) is read in the North American plan, as Shopify reads it for a US store.
        Identifier::Phone => {
            let t = raw.trim();
            if t.chars()
                .any(|c| !(c.is_ascii_digit() || " +-().".contains(c)))
            {
                return None;
            }
            let digits: String = t.chars().filter(char::is_ascii_digit).collect();
            match (t.starts_with('+'), digits.len()) {
                (true, 8..=15) if !digits.starts_with('0') => Some(format!("+{digits}")),
                (false, 10) => Some(format!("+1{digits}")),
                (false, 11) if digits.starts_with('1') => Some(format!("+{digits}")),
                _ => None,
            }
        }
        // Shopify's handle derivation: lower case, anything else collapsed to single dashes.
        Identifier::Handle => {
            let mut out = String::new();
            for c in raw.to_lowercase().chars() {
                if c.is_alphanumeric() {
                    out.push(c);
                } else if !out.is_empty() && !out.ends_with('-') {
                    out.push('-');
                }
            }
            let out = out.trim_end_matches('-').to_string();
            (!out.is_empty()).then_some(out)
        }
    }
}

/// How a sync's rows are matched: the identifier its writes match by, and the other unique identifiers a row
/// can carry (which a record may already hold).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matching {
    /// What the write matches by.
    pub by: Identifier,
    /// Other unique identifiers the sync maps.
    pub also: Vec<Identifier>,
}

/// How `target` rows are matched given the `mapped` fields; `Err` says why there is nothing to adopt.
pub fn matching(
    target: Target,
    match_key: Option<MatchKey>,
    mapped: &[&str],
) -> Result<Matching, String> {
    let also = |by: Identifier, others: &[Identifier]| Matching {
        by,
        also: others
            .iter()
            .copied()
            .filter(|o| mapped.contains(&o.field()))
            .collect(),
    };
    match target {
        Target::Object(ObjectKind::Products) => Ok(also(Identifier::Handle, &[])),
        Target::Object(ObjectKind::Customers) => match match_key.unwrap_or(MatchKey::Email) {
            MatchKey::Email => Ok(also(Identifier::Email, &[Identifier::Phone])),
            MatchKey::Phone => Ok(also(Identifier::Phone, &[Identifier::Email])),
            other => Err(format!(
                "customers matched by {other} name their record: there is nothing to adopt"
            )),
        },
        other => Err(format!(
            "no adoption report for {other}: only products and customers are matched to existing records"
        )),
    }
}

/// One new row's identifiers as the warehouse holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIdentifiers {
    /// The primary key.
    pub key: String,
    /// Each identifier's raw value (absent when the row has none).
    pub values: BTreeMap<Identifier, String>,
}

impl RowIdentifiers {
    /// The identifiers of `matching` in a row's mapped `fields`.
    pub fn of(matching: &Matching, key: &str, fields: &FieldValues) -> RowIdentifiers {
        let values = std::iter::once(matching.by)
            .chain(matching.also.iter().copied())
            .filter_map(|i| {
                let v = match fields.get(i.field())? {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                Some((i, v))
            })
            .collect();
        RowIdentifiers {
            key: key.to_string(),
            values,
        }
    }

    fn normalized(&self, kind: Identifier) -> Option<String> {
        normalize(kind, self.values.get(&kind)?)
    }
}

/// The normalised values to look up for `rows`, each once, in order.
pub fn lookups(matching: &Matching, rows: &[RowIdentifiers]) -> Vec<(Identifier, String)> {
    let mut out = BTreeSet::new();
    for r in rows {
        for kind in std::iter::once(matching.by).chain(matching.also.iter().copied()) {
            if let Some(v) = r.normalized(kind) {
                out.insert((kind, v));
            }
        }
    }
    out.into_iter().collect()
}

/// What the lookups found: the record id holding each normalised value (values absent from the map found none).
pub type Found = BTreeMap<(Identifier, String), String>;

/// How one new row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdoptionState {
    /// It matches an existing record, which the sync adopts.
    Match,
    /// No record matches: the sync creates one.
    Create,
    /// Its write would hit the wrong record or be refused (see [`Conflict`]).
    Conflict,
    /// It has no usable value to match by (empty, or not an email or phone number): its write is refused.
    NoKey,
}

impl AdoptionState {
    /// The word reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            AdoptionState::Match => "match",
            AdoptionState::Create => "create",
            AdoptionState::Conflict => "conflict",
            AdoptionState::NoKey => "no key",
        }
    }
}

/// A record an identifier of a row finds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// By which identifier.
    pub by: Identifier,
    /// Its normalised value.
    pub value: String,
    /// The record.
    pub shopify_id: String,
}

/// Why a row's write would go wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Conflict {
    /// Two rows → one record: these rows share a normalised identifier.
    SharedRecord {
        /// The identifier.
        by: Identifier,
        /// Its normalised value.
        value: String,
        /// The record holding it, when one exists (otherwise the first write would create it).
        #[serde(rename = "shopifyId", skip_serializing_if = "Option::is_none")]
        shopify_id: Option<String>,
        /// Every row sharing it, this one included.
        keys: Vec<String>,
    },
    /// One row → two candidates: its identifiers find different records.
    TwoCandidates {
        /// The records found, by identifier.
        candidates: Vec<Candidate>,
    },
    /// The match key finds no record, but another identifier of the row is held by one: a create is refused.
    Taken {
        /// The record holding it.
        candidate: Candidate,
    },
}

impl Conflict {
    /// One line for reports.
    pub fn text(&self) -> String {
        match self {
            Conflict::SharedRecord {
                by,
                value,
                shopify_id,
                keys,
            } => format!(
                "rows {} share {} {value:?}{}",
                keys.join(", "),
                by.field(),
                match shopify_id {
                    Some(id) => format!(" (held by {id})"),
                    None => String::new(),
                }
            ),
            Conflict::TwoCandidates { candidates } => format!(
                "two candidates: {}",
                candidates
                    .iter()
                    .map(|c| format!("{} {:?} is {}", c.by.field(), c.value, c.shopify_id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Conflict::Taken { candidate: c } => format!(
                "no record to match, but {} {:?} is held by {}: creating would be refused",
                c.by.field(),
                c.value,
                c.shopify_id
            ),
        }
    }
}

/// One new row's classification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdoptionRow {
    /// The primary key.
    pub key: String,
    /// How it stands.
    pub state: AdoptionState,
    /// The identifier it is matched by, and its normalised value (none for [`AdoptionState::NoKey`]).
    pub by: Identifier,
    /// Its normalised value of `by`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The record it matches (for a match; for a conflict, the one its match key finds, if any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shopify_id: Option<String>,
    /// Why it conflicts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
}

/// Counts of an adoption report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdoptionCounts {
    /// New rows classified.
    pub rows: u64,
    /// Matching an existing record.
    pub matched: u64,
    /// Creating one.
    pub created: u64,
    /// In conflict.
    pub conflicts: u64,
    /// Without a value to match by.
    pub no_key: u64,
}

/// The adoption report of a sync's new rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Adoption {
    /// How rows are matched.
    pub matching: Matching,
    /// The counts.
    pub counts: AdoptionCounts,
    /// Every row, conflicts first, then by state and key.
    pub rows: Vec<AdoptionRow>,
}

/// Classifies `rows` given what the lookups `found` (see the module docs).
pub fn classify(matching: &Matching, rows: &[RowIdentifiers], found: &Found) -> Adoption {
    let kinds: Vec<Identifier> = std::iter::once(matching.by)
        .chain(matching.also.iter().copied())
        .collect();
    // Rows by each normalised identifier value, for the two-rows → one-record conflicts.
    let mut sharing: BTreeMap<(Identifier, &str), Vec<&str>> = BTreeMap::new();
    let normalized: Vec<BTreeMap<Identifier, String>> = rows
        .iter()
        .map(|r| {
            kinds
                .iter()
                .filter_map(|k| Some((*k, r.normalized(*k)?)))
                .collect()
        })
        .collect();
    for (r, values) in rows.iter().zip(&normalized) {
        for (k, v) in values {
            sharing.entry((*k, v.as_str())).or_default().push(&r.key);
        }
    }
    let mut out = Adoption {
        matching: matching.clone(),
        counts: AdoptionCounts::default(),
        rows: Vec::with_capacity(rows.len()),
    };
    for (r, values) in rows.iter().zip(&normalized) {
        let value = values.get(&matching.by).cloned();
        let mut row = AdoptionRow {
            key: r.key.clone(),
            state: AdoptionState::Create,
            by: matching.by,
            value: value.clone(),
            shopify_id: None,
            conflicts: Vec::new(),
        };
        out.counts.rows += 1;
        let Some(value) = value else {
            row.state = AdoptionState::NoKey;
            out.counts.no_key += 1;
            out.rows.push(row);
            continue;
        };
        row.shopify_id = found.get(&(matching.by, value)).cloned();
        for (k, v) in values {
            let keys = sharing
                .get(&(*k, v.as_str()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            if keys.len() > 1 {
                row.conflicts.push(Conflict::SharedRecord {
                    by: *k,
                    value: v.clone(),
                    shopify_id: found.get(&(*k, v.clone())).cloned(),
                    keys: keys.iter().map(|k| k.to_string()).collect(),
                });
            }
        }
        let candidates: Vec<Candidate> = values
            .iter()
            .filter_map(|(k, v)| {
                Some(Candidate {
                    by: *k,
                    value: v.clone(),
                    shopify_id: found.get(&(*k, v.clone()))?.clone(),
                })
            })
            .collect();
        let distinct: BTreeSet<&str> = candidates.iter().map(|c| c.shopify_id.as_str()).collect();
        if distinct.len() > 1 {
            row.conflicts.push(Conflict::TwoCandidates {
                candidates: candidates.clone(),
            });
        } else if row.shopify_id.is_none()
            && let Some(c) = candidates.into_iter().next()
        {
            row.conflicts.push(Conflict::Taken { candidate: c });
        }
        if !row.conflicts.is_empty() {
            row.state = AdoptionState::Conflict;
            out.counts.conflicts += 1;
        } else if row.shopify_id.is_some() {
            row.state = AdoptionState::Match;
            out.counts.matched += 1;
        } else {
            out.counts.created += 1;
        }
        out.rows.push(row);
    }
    let rank = |s: AdoptionState| match s {
        AdoptionState::Conflict => 0,
        AdoptionState::NoKey => 1,
        AdoptionState::Match => 2,
        AdoptionState::Create => 3,
    };
    out.rows
        .sort_by(|a, b| (rank(a.state), &a.key).cmp(&(rank(b.state), &b.key)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn customers() -> Matching {
        matching(
            Target::Object(ObjectKind::Customers),
            None,
            &["email", "phone", "firstName"],
        )
        .unwrap()
    }

    fn row(key: &str, email: Option<&str>, phone: Option<&str>) -> RowIdentifiers {
        let mut fields = FieldValues::new();
        if let Some(e) = email {
            fields.insert("email".into(), json!(e));
        }
        if let Some(p) = phone {
            fields.insert("phone".into(), json!(p));
        }
        RowIdentifiers::of(&customers(), key, &fields)
    }

    fn found(entries: &[(Identifier, &str, &str)]) -> Found {
        entries
            .iter()
            .map(|(k, v, id)| ((*k, v.to_string()), id.to_string()))
            .collect()
    }

    fn state_of(a: &Adoption, key: &str) -> AdoptionState {
        a.rows.iter().find(|r| r.key == key).unwrap().state
    }

    #[test]
    fn values_are_normalised_as_shopify_stores_them() {
        use Identifier::*;
        assert_eq!(
            normalize(Email, " Ann.Lee@Example.COM ").as_deref(),
            Some("ann.lee@example.com")
        );
        assert_eq!(normalize(Email, "not an email"), None);
        assert_eq!(normalize(Email, ""), None);
        assert_eq!(
            normalize(Phone, "+1 (415) 555-0123").as_deref(),
            Some("+14155550123")
        );
        assert_eq!(
            normalize(Phone, "415.555.0123").as_deref(),
            Some("+14155550123")
        );
        assert_eq!(
            normalize(Phone, "+44 20 7946 0958").as_deref(),
            Some("+442079460958")
        );
        assert_eq!(normalize(Phone, "call me"), None);
        assert_eq!(normalize(Handle, "Blue  Tee!").as_deref(), Some("blue-tee"));
        assert_eq!(normalize(Handle, "--"), None);
    }

    #[test]
    fn matches_creates_and_both_conflict_kinds() {
        use Identifier::*;
        let rows = vec![
            row("1", Some("Ann@Example.com"), None),
            row("2", Some("new@example.com"), Some("+14155550100")),
            row("3", Some("dup@example.com"), None),
            row("4", Some(" DUP@example.com"), None),
            row("5", Some("bob@example.com"), Some("(415) 555-0199")),
            row("6", Some("nobody@example.com"), Some("+14155550199")),
            row("7", None, Some("+14155550111")),
        ];
        let m = customers();
        assert_eq!(
            lookups(&m, &rows).len(),
            8,
            "every distinct normalised value once"
        );
        let f = found(&[
            (Email, "ann@example.com", "gid://shopify/Customer/1"),
            (Email, "bob@example.com", "gid://shopify/Customer/2"),
            (Phone, "+14155550199", "gid://shopify/Customer/3"),
        ]);
        let a = classify(&m, &rows, &f);
        assert_eq!(state_of(&a, "1"), AdoptionState::Match);
        let r1 = a.rows.iter().find(|r| r.key == "1").unwrap();
        assert_eq!(
            (r1.by, r1.value.as_deref(), r1.shopify_id.as_deref()),
            (
                Email,
                Some("ann@example.com"),
                Some("gid://shopify/Customer/1")
            )
        );
        assert_eq!(state_of(&a, "2"), AdoptionState::Create);
        // Two rows → one record.
        for k in ["3", "4"] {
            let r = a.rows.iter().find(|r| r.key == k).unwrap();
            assert_eq!(r.state, AdoptionState::Conflict);
            assert_eq!(
                r.conflicts,
                vec![Conflict::SharedRecord {
                    by: Email,
                    value: "dup@example.com".into(),
                    shopify_id: None,
                    keys: vec!["3".into(), "4".into()]
                }]
            );
        }
        // One row → two candidates: its email finds customer 2, its phone customer 3. Row 6's phone is customer
        // 3's too (a shared phone), and its email finds nobody (taken).
        let r5 = a.rows.iter().find(|r| r.key == "5").unwrap();
        assert!(
            r5.conflicts.iter().any(
                |c| matches!(c, Conflict::TwoCandidates { candidates } if candidates.len() == 2)
            ),
            "{r5:?}"
        );
        let r6 = a.rows.iter().find(|r| r.key == "6").unwrap();
        assert!(
            r6.conflicts
                .iter()
                .any(|c| matches!(c, Conflict::Taken { candidate } if candidate.shopify_id == "gid://shopify/Customer/3"))
        );
        assert_eq!(state_of(&a, "7"), AdoptionState::NoKey);
        assert_eq!(
            a.counts,
            AdoptionCounts {
                rows: 7,
                matched: 1,
                created: 1,
                conflicts: 4,
                no_key: 1
            }
        );
        assert_eq!(a.rows[0].state, AdoptionState::Conflict, "conflicts first");
    }

    #[test]
    fn only_products_and_customers_by_email_or_phone_are_matched() {
        let p = matching(Target::Object(ObjectKind::Products), None, &["handle"]).unwrap();
        assert_eq!((p.by, p.also.len()), (Identifier::Handle, 0));
        let c = matching(
            Target::Object(ObjectKind::Customers),
            Some(MatchKey::Phone),
            &["email"],
        )
        .unwrap();
        assert_eq!(
            (c.by, c.also.clone()),
            (Identifier::Phone, vec![Identifier::Email])
        );
        assert!(
            matching(
                Target::Object(ObjectKind::Customers),
                Some(MatchKey::Id),
                &[]
            )
            .is_err()
        );
        assert!(matching(Target::Object(ObjectKind::InventoryLevels), None, &[]).is_err());
    }

    fn email() -> impl Strategy<Value = String> {
        // Few distinct addresses in several spellings, so rows collide.
        (
            "[ab]",
            prop_oneof![Just(""), Just(" "), Just("  ")],
            any::<bool>(),
        )
            .prop_map(|(local, pad, upper)| {
                let e = format!("{pad}{local}@shop.example");
                if upper { e.to_uppercase() } else { e }
            })
    }

    fn phone() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("+14155550100".to_string()),
            Just("(415) 555-0100".to_string()),
            Just("+1 415 555 0101".to_string()),
            Just("nope".to_string()),
        ]
    }

    fn rows() -> impl Strategy<Value = Vec<RowIdentifiers>> {
        prop::collection::vec((prop::option::of(email()), prop::option::of(phone())), 0..8)
            .prop_map(|v| {
                v.into_iter()
                    .enumerate()
                    .map(|(i, (e, p))| row(&i.to_string(), e.as_deref(), p.as_deref()))
                    .collect()
            })
    }

    fn store() -> impl Strategy<Value = Found> {
        // A customer has one email: a@ can only be customer 1, b@ only customer 2; the phone either's.
        let ids = prop_oneof![
            Just("gid://shopify/Customer/1"),
            Just("gid://shopify/Customer/2")
        ];
        (
            prop::option::of(Just("gid://shopify/Customer/1")),
            prop::option::of(Just("gid://shopify/Customer/2")),
            prop::option::of(ids),
        )
            .prop_map(|(a, b, p)| {
                let mut f = Found::new();
                if let Some(id) = a {
                    f.insert((Identifier::Email, "a@shop.example".into()), id.into());
                }
                if let Some(id) = b {
                    f.insert((Identifier::Email, "b@shop.example".into()), id.into());
                }
                if let Some(id) = p {
                    f.insert((Identifier::Phone, "+14155550100".into()), id.into());
                }
                f
            })
    }

    proptest! {
        /// Normalising is idempotent: Shopify's stored form is its own stored form.
        #[test]
        fn normalising_twice_changes_nothing(raw in "[ A-Za-z0-9@.+()-]{0,20}") {
            for kind in [Identifier::Email, Identifier::Phone, Identifier::Handle] {
                if let Some(n) = normalize(kind, &raw) {
                    prop_assert_eq!(normalize(kind, &n), Some(n));
                }
            }
        }

        /// Every row is classified once; the counts add up; a match is the record its key finds; rows that
        /// neither conflict nor lack a key write distinct records; two-candidate conflicts are exactly the rows
        /// whose identifiers find two records.
        #[test]
        fn classification_laws(rows in rows(), found in store()) {
            let m = customers();
            let a = classify(&m, &rows, &found);
            prop_assert_eq!(a.rows.len(), rows.len());
            let c = a.counts;
            prop_assert_eq!(c.rows, c.matched + c.created + c.conflicts + c.no_key);
            let mut targets = BTreeSet::new();
            for r in &a.rows {
                let input = rows.iter().find(|i| i.key == r.key).unwrap();
                prop_assert_eq!(r.value.clone(), input.normalized(m.by));
                prop_assert_eq!(r.state == AdoptionState::NoKey, r.value.is_none());
                match r.state {
                    AdoptionState::Match => {
                        let id = found.get(&(m.by, r.value.clone().unwrap())).unwrap();
                        prop_assert_eq!(r.shopify_id.as_ref(), Some(id));
                        prop_assert!(targets.insert(id.clone()));
                    }
                    AdoptionState::Create => {
                        prop_assert!(targets.insert(r.value.clone().unwrap()));
                        prop_assert!(r.shopify_id.is_none());
                    }
                    _ => {}
                }
                let ids: BTreeSet<&String> = [m.by, Identifier::Phone].iter()
                    .filter_map(|k| found.get(&(*k, input.normalized(*k)?)))
                    .collect();
                let two = r.conflicts.iter().any(|c| matches!(c, Conflict::TwoCandidates { .. }));
                prop_assert_eq!(two, r.value.is_some() && ids.len() > 1);
                prop_assert_eq!(r.state == AdoptionState::Conflict, !r.conflicts.is_empty());
            }
        }

        /// How an email is spelt (case, whitespace) never changes how a row is classified.
        #[test]
        fn spelling_does_not_matter(rows in rows(), found in store()) {
            let m = customers();
            let shout: Vec<RowIdentifiers> = rows.iter().map(|r| {
                let mut r = r.clone();
                if let Some(e) = r.values.get_mut(&Identifier::Email) {
                    *e = format!(" {} ", e.to_uppercase());
                }
                r
            }).collect();
            prop_assert_eq!(classify(&m, &rows, &found), classify(&m, &shout, &found));
        }
    }
}
