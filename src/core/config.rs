//! The sync configuration model: what a user can ask shopsync to do, as plain data.
//!
//! These enums are the vocabulary shared by the custom resources (`shopsync::api`), the CLI and the engine. The
//! tables here (which modes and match keys an object supports, which fields an action requires) are the single
//! source of the rules that the CRD's CEL validations and `shopsync validate` enforce.
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A Shopify Admin API version shopsync supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ApiVersion {
    /// 2026-01
    #[serde(rename = "2026-01")]
    V2026_01,
    /// 2026-04
    #[serde(rename = "2026-04")]
    V2026_04,
    /// 2026-07, the default
    #[serde(rename = "2026-07")]
    V2026_07,
}

impl ApiVersion {
    /// Every supported version, oldest first.
    pub const ALL: [ApiVersion; 3] = [
        ApiVersion::V2026_01,
        ApiVersion::V2026_04,
        ApiVersion::V2026_07,
    ];
    /// The version used when a destination names none.
    pub const DEFAULT: ApiVersion = ApiVersion::V2026_07;

    /// The version as Shopify writes it in URLs, e.g. `2026-07`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2026_01 => "2026-01",
            ApiVersion::V2026_04 => "2026-04",
            ApiVersion::V2026_07 => "2026-07",
        }
    }

    /// Parses `2026-07` style names; `None` for anything unsupported.
    pub fn parse(s: &str) -> Option<ApiVersion> {
        ApiVersion::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Declares a fieldless enum whose variants serialize as fixed strings, with `ALL`, `as_str` and `Display`.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as written in specs.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the spelling used in specs.
            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }

            /// Every value as written in specs.
            pub fn names() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.as_str()).collect()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// A kind of Shopify record that rows of a query become.
    ObjectKind {
        /// Customers, matched by email, id or phone.
        Customers = "customers",
        /// Discount codes of an existing price rule, matched by id.
        Discounts = "discounts",
        /// Inventory items (sku, cost, origin, HS code), matched by id. Update only.
        InventoryItems = "inventoryItems",
        /// Inventory quantities of an item at a location, matched by inventory item id and location.
        InventoryLevels = "inventoryLevels",
        /// Products with their options and variants, matched by handle.
        Products = "products",
    }
}

string_enum! {
    /// A kind of Shopify event that each row sends once.
    EventKind {
        /// A tracking event on a fulfillment (`fulfillmentEventCreate`).
        FulfillmentEvents = "fulfillmentEvents",
    }
}

string_enum! {
    /// An action on a fulfillment order that each row performs once.
    ActionKind {
        /// `fulfillmentOrderCancel`.
        CancelFulfillmentOrder = "cancelFulfillmentOrder",
        /// `fulfillmentOrderClose`: marks the fulfillment order incomplete.
        MarkFulfillmentOrderIncomplete = "markFulfillmentOrderIncomplete",
        /// `fulfillmentOrderHold`: requires a reason.
        HoldFulfillmentOrder = "holdFulfillmentOrder",
        /// `fulfillmentOrderMove`: requires the new location id.
        MoveFulfillmentOrder = "moveFulfillmentOrder",
        /// `fulfillmentOrderOpen`.
        OpenFulfillmentOrder = "openFulfillmentOrder",
        /// `fulfillmentOrderReleaseHold`.
        ReleaseFulfillmentOrderHold = "releaseFulfillmentOrderHold",
        /// `fulfillmentOrderReschedule`: requires the new fulfill-at time.
        RescheduleFulfillmentOrder = "rescheduleFulfillmentOrder",
    }
}

string_enum! {
    /// How rows are applied to existing and missing Shopify records.
    SyncMode {
        /// Create missing records and update existing ones.
        Upsert = "upsert",
        /// Update existing records only; a row without a record is rejected.
        Update = "update",
        /// Create missing records only; existing records are never touched.
        Insert = "insert",
    }
}

string_enum! {
    /// The Shopify field that identifies which record a row is.
    MatchKey {
        /// The customer's email address.
        Email = "email",
        /// The customer's phone number (E.164).
        Phone = "phone",
        /// The record's Shopify id (a GID such as `gid://shopify/Customer/1`, or its number).
        Id = "id",
        /// The product handle.
        Handle = "handle",
        /// The inventory item id; with the location, it identifies an inventory level.
        InventoryItemId = "inventoryItemId",
    }
}

string_enum! {
    /// What happens in Shopify when a row leaves the query's result.
    DeleteBehavior {
        /// Leave the record alone (the default).
        DoNothing = "doNothing",
        /// Delete the record, if this sync created or matched it, under the delete guard.
        Delete = "delete",
    }
}

string_enum! {
    /// What happens in Shopify when the ShopifySync resource itself is deleted.
    DeletionPolicy {
        /// Leave the store alone (the default).
        Orphan = "Orphan",
        /// Delete the records this sync created, under the delete guard, before the resource goes.
        Delete = "Delete",
    }
}

string_enum! {
    /// What a run does with rows that share a primary key.
    OnDuplicateKey {
        /// Reject every row with the duplicated key (`DUPLICATE_PRIMARY_KEY`); the other rows sync.
        RejectRows = "rejectRows",
        /// Fail the whole run before anything is sent.
        FailRun = "failRun",
    }
}

string_enum! {
    /// How a mapped column's value is read before it is sent.
    ValueFormat {
        /// Send the value as the warehouse returned it (the default).
        Auto = "auto",
        /// The column holds JSON text (for example a SQLite TEXT column); parse it into a structure.
        Json = "json",
        /// Send the value as a string.
        String = "string",
    }
}

string_enum! {
    /// What a NULL in a mapped column does to the Shopify field.
    #[derive(Default)]
    NullPolicy {
        /// Clear the field (for a metafield: delete it), so Shopify holds what the warehouse holds. The default.
        #[default]
        Clear = "clear",
        /// Leave the field as it is in Shopify: the NULL is not sent.
        Keep = "keep",
    }
}

impl NullPolicy {
    /// Whether this is the default, which specs and fingerprints leave out.
    pub fn is_clear(&self) -> bool {
        *self == NullPolicy::Clear
    }
}

string_enum! {
    /// What a drift check does with a field Shopify changed while the warehouse did not (`spec.drift.policy`).
    #[derive(Default)]
    DriftPolicy {
        /// Count it and show it (status, run report, `plan --live`); nothing is written. The default.
        #[default]
        Report = "report",
        /// Send the warehouse's value again in the same run, although the row did not change.
        Overwrite = "overwrite",
        /// Accept Shopify's value into the state as the last applied one, without writing to Shopify.
        Adopt = "adopt",
    }
}

string_enum! {
    /// Whether a sync writes to Shopify at all (`spec.managementPolicy`), after Crossplane's management policies.
    #[derive(Default)]
    ManagementPolicy {
        /// Plan and write: the ordinary sync. The default.
        #[default]
        Manage = "Manage",
        /// Plan with live values and record what a run would do; never write to Shopify nor change the state's
        /// record of what was synced.
        Observe = "Observe",
    }
}

/// Drift detection of a sync (`spec.drift`): compare what Shopify holds now with what the sync last applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftConfig {
    /// Whether runs check for drift at all (a sync without `spec.drift` never reads Shopify back).
    pub enabled: bool,
    /// What a check does with drifted fields.
    pub policy: DriftPolicy,
    /// At most one check per this interval (`spec.drift.every`); `None` checks on every run.
    #[serde(default, with = "duration_text_opt")]
    pub every: Option<Duration>,
}

/// Metafield types shopsync can write (Shopify's type names); `list.` variants of the scalar ones are allowed
/// where Shopify allows them.
pub const METAFIELD_TYPES: &[&str] = &[
    "boolean",
    "color",
    "date",
    "date_time",
    "dimension",
    "id",
    "json",
    "link",
    "money",
    "multi_line_text_field",
    "number_decimal",
    "number_integer",
    "rating",
    "rich_text_field",
    "single_line_text_field",
    "url",
    "volume",
    "weight",
];

/// Metafield types that have a `list.` variant.
pub const LIST_METAFIELD_TYPES: &[&str] = &[
    "color",
    "date",
    "date_time",
    "dimension",
    "id",
    "link",
    "number_decimal",
    "number_integer",
    "rating",
    "single_line_text_field",
    "url",
    "volume",
    "weight",
];

/// Whether `t` names a metafield type shopsync can write.
pub fn is_metafield_type(t: &str) -> bool {
    match t.strip_prefix("list.") {
        Some(base) => LIST_METAFIELD_TYPES.contains(&base),
        None => METAFIELD_TYPES.contains(&t),
    }
}

/// What a sync feeds: exactly one object, event or action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Target {
    /// Rows become records of this object.
    Object(ObjectKind),
    /// Each row sends this event once.
    Event(EventKind),
    /// Each row performs this action once.
    Action(ActionKind),
}

impl Target {
    /// The target's name as written in specs, e.g. `customers` or `holdFulfillmentOrder`.
    pub fn name(self) -> &'static str {
        match self {
            Target::Object(o) => o.as_str(),
            Target::Event(e) => e.as_str(),
            Target::Action(a) => a.as_str(),
        }
    }

    /// Events and actions send each primary key once and never update or delete.
    pub fn is_insert_only(self) -> bool {
        !matches!(self, Target::Object(_))
    }

    /// The modes this target supports.
    pub fn modes(self) -> &'static [SyncMode] {
        match self {
            Target::Object(
                ObjectKind::Customers | ObjectKind::InventoryLevels | ObjectKind::Products,
            ) => &[SyncMode::Upsert, SyncMode::Update, SyncMode::Insert],
            Target::Object(ObjectKind::Discounts) => &[SyncMode::Update, SyncMode::Insert],
            Target::Object(ObjectKind::InventoryItems) => &[SyncMode::Update],
            Target::Event(_) | Target::Action(_) => &[SyncMode::Insert],
        }
    }

    /// The match keys this target supports (empty for events and actions, which are keyed by primary key).
    pub fn match_keys(self) -> &'static [MatchKey] {
        match self {
            Target::Object(ObjectKind::Customers) => {
                &[MatchKey::Email, MatchKey::Id, MatchKey::Phone]
            }
            Target::Object(ObjectKind::Discounts | ObjectKind::InventoryItems) => &[MatchKey::Id],
            Target::Object(ObjectKind::InventoryLevels) => &[MatchKey::InventoryItemId],
            Target::Object(ObjectKind::Products) => &[MatchKey::Handle],
            Target::Event(_) | Target::Action(_) => &[],
        }
    }

    /// The match key used when the spec names none.
    pub fn default_match_key(self) -> Option<MatchKey> {
        self.match_keys().first().copied()
    }

    /// Mapping targets every row must supply (by a column or a static value).
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            Target::Object(ObjectKind::Discounts) => &["priceRuleId", "code"],
            Target::Object(ObjectKind::InventoryLevels) => &["locationId", "quantity"],
            Target::Object(_) => &[],
            Target::Event(EventKind::FulfillmentEvents) => &["fulfillmentId", "orderId", "status"],
            Target::Action(ActionKind::HoldFulfillmentOrder) => &["fulfillmentOrderId", "reason"],
            Target::Action(ActionKind::MoveFulfillmentOrder) => {
                &["fulfillmentOrderId", "newLocationId"]
            }
            Target::Action(ActionKind::RescheduleFulfillmentOrder) => {
                &["fulfillmentOrderId", "fulfillAt"]
            }
            Target::Action(_) => &["fulfillmentOrderId"],
        }
    }

    /// Whether metafield mappings are supported.
    pub fn supports_metafields(self) -> bool {
        matches!(
            self,
            Target::Object(ObjectKind::Customers | ObjectKind::Products)
        )
    }

    /// Whether rows leaving the result can delete records (`deleteBehavior`, `deletionPolicy: Delete`).
    pub fn supports_delete(self) -> bool {
        matches!(self, Target::Object(ObjectKind::Products))
    }
}

impl Target {
    /// The Admin API access scopes a token needs to write this target: each inner slice lists alternatives, any
    /// one of which is enough (fulfillment order actions accept the scope of the order's kind of location).
    pub fn required_scopes(self) -> &'static [&'static [&'static str]] {
        const FULFILLMENT_ORDERS: &[&str] = &[
            "write_merchant_managed_fulfillment_orders",
            "write_assigned_fulfillment_orders",
            "write_third_party_fulfillment_orders",
        ];
        match self {
            Target::Object(ObjectKind::Customers) => &[&["write_customers"]],
            Target::Object(ObjectKind::Products) => &[&["write_products"]],
            Target::Object(ObjectKind::InventoryItems | ObjectKind::InventoryLevels) => {
                &[&["write_inventory"]]
            }
            Target::Object(ObjectKind::Discounts) => &[&["write_discounts"]],
            Target::Event(_) => &[&["write_fulfillments"]],
            // Only the fulfillment service holding the order can close it; rescheduling is the merchant's or an
            // order management app's (Shopify's documentation of each mutation).
            Target::Action(ActionKind::MarkFulfillmentOrderIncomplete) => {
                &[&["write_assigned_fulfillment_orders"]]
            }
            Target::Action(ActionKind::RescheduleFulfillmentOrder) => &[&[
                "write_merchant_managed_fulfillment_orders",
                "write_third_party_fulfillment_orders",
            ]],
            Target::Action(_) => &[FULFILLMENT_ORDERS],
        }
    }

    /// [`Target::required_scopes`] for a sync in `mode`: discounts in update mode also rename codes through the
    /// REST discount-code endpoint, which answers to `write_price_rules`.
    pub fn required_scopes_in(self, mode: SyncMode) -> Vec<&'static [&'static str]> {
        let mut scopes = self.required_scopes().to_vec();
        if self == Target::Object(ObjectKind::Discounts) && mode == SyncMode::Update {
            scopes.push(&["write_price_rules"]);
        }
        scopes
    }
}

/// Settings of a code discount (a price rule) that a discounts sync may change in mode update: its usage limit and
/// whether each customer may use it once only. Every `DiscountCode*Input` (basic, buy X get Y, free shipping, app)
/// of the supported API versions has both. A redeem code has no usage settings of its own: its usage count is
/// Shopify's, counted from orders, and read-only in both APIs.
pub const DISCOUNT_USAGE_FIELDS: [&str; 2] = ["usageLimit", "appliesOncePerCustomer"];

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// When a sync runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Schedule {
    /// Every interval, measured from the start of the previous run.
    Interval(#[serde(with = "duration_text")] Duration),
    /// On a five-field cron expression, in UTC.
    Cron(String),
    /// Only when triggered (the `shopsync.dev/run-now` annotation, or `shopsync run`).
    Manual,
}

impl Schedule {
    /// When a sync on this schedule runs next after a run that started at `last`; `None` for manual syncs (and
    /// for a cron expression that never fires again).
    pub fn next_after(
        &self,
        last: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        match self {
            Schedule::Interval(d) => chrono::Duration::from_std(*d).ok().map(|d| last + d),
            Schedule::Cron(expr) => croner::Cron::new(expr)
                .parse()
                .ok()?
                .find_next_occurrence(&last, false)
                .ok(),
            Schedule::Manual => None,
        }
    }
}

/// Limits on how many records one run may delete; over a limit, the run deletes nothing and says why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteGuard {
    /// At most this many deletes per run.
    pub max_count: Option<u64>,
    /// At most this percentage (0 to 100) of the records synced so far.
    pub max_percent: Option<f64>,
}

impl DeleteGuard {
    /// The guard applied when a spec sets none: at most 10% of the synced records per run.
    pub const DEFAULT: DeleteGuard = DeleteGuard {
        max_count: None,
        max_percent: Some(10.0),
    };

    /// Why `removed` out of `previous` keys trips the guard, or `None` when it does not.
    pub fn check(&self, removed: u64, previous: u64) -> Option<String> {
        if removed == 0 {
            return None;
        }
        if let Some(max) = self.max_count.filter(|&max| removed > max) {
            return Some(format!(
                "{removed} records would be deleted, more than the delete guard's maximum of {max}"
            ));
        }
        if let Some(max) = self.max_percent {
            let percent = if previous == 0 {
                100.0
            } else {
                removed as f64 * 100.0 / previous as f64
            };
            if percent > max {
                return Some(format!(
                    "{removed} of {previous} records ({percent:.2}%) would be deleted, more than the delete \
                     guard's maximum of {max}%"
                ));
            }
        }
        None
    }
}

/// Where a mapped value goes in Shopify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MappingTarget {
    /// A field of the target's input, e.g. `firstName`, `variants`, `reason`.
    Field(String),
    /// A custom field.
    Metafield {
        /// The metafield namespace, e.g. `custom`.
        namespace: String,
        /// The metafield key.
        key: String,
        /// The metafield type, e.g. `single_line_text_field`.
        #[serde(rename = "type")]
        type_: String,
    },
}

/// Where a mapped value comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MappingSource {
    /// A column of the query's result.
    Column(String),
    /// The same value for every row.
    Static(serde_json::Value),
}

/// One field mapping: a source, where it goes, and how to read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldMapping {
    /// Where the value goes.
    pub target: MappingTarget,
    /// Where the value comes from.
    pub source: MappingSource,
    /// How the value is read.
    pub format: ValueFormat,
    /// What a NULL does. Left out of the serialized form when it is the default, so that mapping fingerprints
    /// (and with them every row hash) stay as they were for specs that do not set it.
    #[serde(default, skip_serializing_if = "NullPolicy::is_clear")]
    pub on_null: NullPolicy,
}

/// A fully validated sync, ready for the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncConfig {
    /// `namespace/name` of the ShopifySync (or `name` for local files without a namespace).
    pub id: String,
    /// The destination's name.
    pub destination: String,
    /// The SQL query whose rows are synced.
    pub query: String,
    /// How long the query may run.
    #[serde(with = "duration_text")]
    pub query_timeout: Duration,
    /// The column that identifies a row across runs.
    pub primary_key: String,
    /// What the rows feed.
    pub target: Target,
    /// How rows apply to records (always insert for events and actions).
    pub mode: SyncMode,
    /// How rows find their record (objects only).
    pub match_key: Option<MatchKey>,
    /// The column holding the match key's value, when not the one mapped to the key's field.
    pub match_column: Option<String>,
    /// The field mappings, in spec order.
    pub mappings: Vec<FieldMapping>,
    /// What happens to records whose row left the result.
    pub delete_behavior: DeleteBehavior,
    /// With deletes on: delete records the sync matched too, not only those it created (`spec.deleteMatched`).
    #[serde(default)]
    pub delete_matched: bool,
    /// Limits on deletes per run.
    pub delete_guard: DeleteGuard,
    /// What happens to rows with a duplicated primary key.
    pub on_duplicate_key: OnDuplicateKey,
    /// Change sets at least this large go through Shopify bulk operations.
    pub bulk_threshold: u64,
    /// When the sync runs.
    pub schedule: Schedule,
    /// Suspended syncs do not run on schedule.
    pub suspend: bool,
    /// Drift detection (`spec.drift`); off unless the spec asks for it.
    #[serde(default)]
    pub drift: DriftConfig,
    /// Manage (write) or only observe (`spec.managementPolicy`).
    #[serde(default)]
    pub management: ManagementPolicy,
}

impl SyncConfig {
    /// Whether keys that leave the model are deleted from the store (rather than only forgotten).
    pub fn deletes(&self) -> bool {
        self.delete_behavior == DeleteBehavior::Delete && self.target.supports_delete()
    }

    /// Every column the query must return for this sync to work.
    pub fn required_columns(&self) -> Vec<&str> {
        let mut cols = vec![self.primary_key.as_str()];
        if let Some(c) = &self.match_column {
            cols.push(c);
        }
        for m in &self.mappings {
            if let MappingSource::Column(c) = &m.source
                && !cols.contains(&c.as_str())
            {
                cols.push(c);
            }
        }
        cols
    }
}

/// Parses a Go-style duration such as `90s`, `15m`, `1h30m` or `1.5h` (the format Kubernetes uses, so CEL's
/// `duration()` and this function agree).
pub fn parse_duration(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_end == 0 {
            return None;
        }
        let value: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * seconds;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Formats a duration the way [`parse_duration`] reads it, e.g. `1h30m`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Serde adapter for durations written as Go-style text.
pub mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Writes `1h30m` style text.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    /// Reads `1h30m` style text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text)
            .ok_or_else(|| D::Error::custom(format!("invalid duration {text:?}")))
    }
}

/// Serde adapter for optional durations written as Go-style text.
pub mod duration_text_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Writes `1h30m` style text, or null.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&super::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    /// Reads `1h30m` style text, or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => super::parse_duration(&text)
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("invalid duration {text:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("15"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("1d"), None);
        assert_eq!(parse_duration(""), None);
        for d in [1, 59, 60, 61, 3600, 5400, 86_399] {
            let d = Duration::from_secs(d);
            assert_eq!(parse_duration(&format_duration(d)), Some(d));
        }
    }

    #[test]
    fn target_tables_follow_the_design() {
        let inv = Target::Object(ObjectKind::InventoryItems);
        assert_eq!(inv.modes(), &[SyncMode::Update]);
        let disc = Target::Object(ObjectKind::Discounts);
        assert!(!disc.modes().contains(&SyncMode::Upsert));
        for a in ActionKind::ALL {
            let t = Target::Action(*a);
            assert_eq!(t.modes(), &[SyncMode::Insert]);
            assert!(t.match_keys().is_empty());
            assert!(t.required_fields().contains(&"fulfillmentOrderId"));
        }
        assert!(
            Target::Action(ActionKind::HoldFulfillmentOrder)
                .required_fields()
                .contains(&"reason")
        );
        assert!(Target::Object(ObjectKind::Products).supports_delete());
        assert!(!Target::Object(ObjectKind::Customers).supports_delete());
    }

    #[test]
    fn delete_guard_trips_on_count_and_percent() {
        let g = DeleteGuard {
            max_count: Some(5),
            max_percent: Some(10.0),
        };
        assert!(g.check(5, 100).is_none());
        assert!(g.check(6, 1000).unwrap().contains("maximum of 5"));
        assert!(g.check(4, 20).unwrap().contains("maximum of 10%"));
        assert!(DeleteGuard::default().check(1_000, 1_000).is_none());
    }

    #[test]
    fn metafield_types() {
        assert!(is_metafield_type("single_line_text_field"));
        assert!(is_metafield_type("list.number_integer"));
        assert!(!is_metafield_type("list.json"));
        assert!(!is_metafield_type("text"));
    }
}
