//! Store credit: storeCreditAccountCredit/Debit, storeCreditAccount and `Customer.storeCreditAccounts`.
//! An account holds one currency; crediting a customer in a currency it has no account in opens one.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{FieldError, gid, parse_gid, reference};
use crate::emulator::store::State;

/// A store credit account.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoreCreditAccount {
    /// Numeric id.
    pub id: u64,
    /// Owning customer.
    pub owner: u64,
    /// ISO currency code.
    pub currency: String,
    /// Balance in hundredths of the currency unit.
    pub balance_cents: i64,
}

/// The most an account may hold, in hundredths. Shopify documents CREDIT_LIMIT_EXCEEDED without a
/// figure; the captures show a credit taking a balance past 100,000 refused, smaller ones accepted.
const CREDIT_LIMIT_CENTS: i64 = 100_000 * 100;

/// Currency codes that only ever appear in results (`CurrencyCode` values no input may use).
const RESULT_ONLY_CURRENCIES: &[&str] = &["USDC", "XXX"];

/// Shopify's money text: `7.23`, `2.0`, `-1.0` (no trailing zero past the first decimal).
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    let (units, frac) = (c / 100, c % 100);
    if frac == 0 {
        format!("{sign}{units}.0")
    } else if frac % 10 == 0 {
        format!("{sign}{units}.{}", frac / 10)
    } else {
        format!("{sign}{units}.{frac:02}")
    }
}

/// Decimal text to hundredths (more decimals are rounded half away from zero).
fn cents(v: &Value) -> Option<i64> {
    let text = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let f: f64 = text.parse().ok()?;
    f.is_finite().then(|| (f * 100.0).round() as i64)
}

fn money_json(cents: i64, currency: &str) -> Value {
    json!({"__typename": "MoneyV2", "amount": money(cents), "currencyCode": currency})
}

/// The `StoreCreditAccount` object.
pub fn to_json(a: &StoreCreditAccount) -> Value {
    json!({"__typename": "StoreCreditAccount", "id": gid("StoreCreditAccount", a.id),
        "balance": money_json(a.balance_cents, &a.currency),
        "owner": reference("Customer", a.owner)})
}

/// The accounts of customer `owner`, oldest first.
pub fn of_customer(st: &State, owner: u64) -> Vec<Value> {
    st.store_credit_accounts
        .values()
        .filter(|a| a.owner == owner)
        .map(to_json)
        .collect()
}

/// `storeCreditAccounts(query:)` of an owner: `currency_code:XXX` terms narrow the list.
pub fn matching(obj: &Map<String, Value>, args: &Map<String, Value>) -> Option<Value> {
    let all = obj.get("storeCreditAccounts")?.as_array()?;
    let query = args
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let wanted: Vec<String> = query
        .split_whitespace()
        .filter_map(|t| t.strip_prefix("currency_code:"))
        .map(|c| c.trim_matches('"').to_ascii_uppercase())
        .collect();
    Some(Value::Array(
        all.iter()
            .filter(|a| {
                wanted.is_empty()
                    || a["balance"]["currencyCode"]
                        .as_str()
                        .is_some_and(|c| wanted.iter().any(|w| w == c))
            })
            .cloned()
            .collect(),
    ))
}

/// Loads a `StoreCreditAccount` by id.
pub fn load(st: &State, ty: &str, id: u64) -> Option<Value> {
    (ty == "StoreCreditAccount")
        .then(|| st.store_credit_accounts.get(&id).map(to_json))
        .flatten()
}

/// Store credit root fields; `None` when `field` is not one of them.
pub fn resolve(
    st: &mut State,
    field: &str,
    args: &Map<String, Value>,
) -> Option<Result<Value, FieldError>> {
    let (debit, input_key, amount_key) = match field {
        "storeCreditAccount" => {
            return Some(Ok(parse_gid(args.get("id"), "StoreCreditAccount")
                .and_then(|id| st.store_credit_accounts.get(&id))
                .map(to_json)
                .unwrap_or(Value::Null)));
        }
        "storeCreditAccountCredit" => (false, "creditInput", "creditAmount"),
        "storeCreditAccountDebit" => (true, "debitInput", "debitAmount"),
        _ => return None,
    };
    let input = args
        .get(input_key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let amount = input.get(amount_key).cloned().unwrap_or(Value::Null);
    let currency = amount["currencyCode"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if RESULT_ONLY_CURRENCIES.contains(&currency.as_str()) {
        return Some(Err(FieldError::new(
            "CURRENCY_CODE_INVALID",
            format!(
                "CurrencyCode \"{currency}\" is invalid. It can only be used as a result and not as an input value."
            ),
        )));
    }
    let fail = |field: Vec<&str>, message: &str, code: &str| {
        Some(Ok(json!({"storeCreditAccountTransaction": null,
            "userErrors": [{"field": field, "message": message, "code": code}]})))
    };
    let not_found = || {
        fail(
            vec!["id"],
            "Store credit account does not exist",
            "ACCOUNT_NOT_FOUND",
        )
    };
    // The id names an account, or a customer whose account in the amount's currency is meant.
    let (account, owner) = if let Some(id) = parse_gid(args.get("id"), "StoreCreditAccount") {
        match st.store_credit_accounts.get(&id) {
            Some(a) => (Some(a.id), a.owner),
            None => return not_found(),
        }
    } else if let Some(owner) =
        parse_gid(args.get("id"), "Customer").filter(|c| st.customers.contains_key(c))
    {
        let existing = st
            .store_credit_accounts
            .values()
            .find(|a| a.owner == owner && a.currency == currency)
            .map(|a| a.id);
        (existing, owner)
    } else if !debit && parse_gid(args.get("id"), "Customer").is_some() {
        return fail(vec!["id"], "Owner does not exist", "OWNER_NOT_FOUND");
    } else {
        return not_found();
    };
    if !debit
        && let Some(at) = input.get("expiresAt").and_then(Value::as_str)
        && at <= st.now_str().as_str()
    {
        return fail(
            vec![input_key, "expiresAt"],
            "The expiry date must be in the future",
            "EXPIRES_AT_IN_PAST",
        );
    }
    let Some(value) = cents(&amount["amount"]).filter(|c| *c > 0) else {
        let verb = if debit { "debit" } else { "credit" };
        return fail(
            vec![input_key, amount_key, "amount"],
            &format!("A positive amount must be used to {verb} a store credit account"),
            "NEGATIVE_OR_ZERO_AMOUNT",
        );
    };
    let account = match account {
        Some(id) => id,
        None if debit => return not_found(),
        None => {
            let id = st.next_id();
            st.store_credit_accounts.insert(
                id,
                StoreCreditAccount {
                    id,
                    owner,
                    currency: currency.clone(),
                    balance_cents: 0,
                },
            );
            id
        }
    };
    let Some(acc) = st.store_credit_accounts.get(&account).cloned() else {
        return not_found();
    };
    if acc.currency != currency {
        return fail(
            vec![input_key, amount_key, "currencyCode"],
            "The currency provided does not match the currency of the store credit account",
            "MISMATCHING_CURRENCY",
        );
    }
    if debit && value > acc.balance_cents {
        return fail(
            vec![input_key, amount_key, "amount"],
            "The store credit account does not have sufficient funds to satisfy the request",
            "INSUFFICIENT_FUNDS",
        );
    }
    if !debit && acc.balance_cents + value > CREDIT_LIMIT_CENTS {
        return fail(
            vec![input_key, amount_key, "amount"],
            "The operation would cause the account's credit limit to be exceeded",
            "CREDIT_LIMIT_EXCEEDED",
        );
    }
    let delta = if debit { -value } else { value };
    let after = acc.balance_cents + delta;
    if let Some(a) = st.store_credit_accounts.get_mut(&account) {
        a.balance_cents = after;
    }
    st.touch();
    let account_json = st.store_credit_accounts.get(&account).map(to_json);
    Some(Ok(json!({
        "storeCreditAccountTransaction": {
            "__typename": if debit { "StoreCreditAccountDebitTransaction" } else { "StoreCreditAccountCreditTransaction" },
            "amount": money_json(delta, &currency),
            "balanceAfterTransaction": money_json(after, &currency),
            "event": "ADJUSTMENT",
            "origin": null,
            "account": account_json,
            "createdAt": st.now_str(),
        },
        "userErrors": [],
    })))
}
