//! Marketing consent: customerEmailMarketingConsentUpdate, customerSmsMarketingConsentUpdate and the
//! consent inputs of customerCreate (customerUpdate refers callers to the dedicated mutations).
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::customers::Customer;
use super::{FieldError, parse_gid};
use crate::emulator::store::State;

/// One channel's consent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Consent {
    /// `CustomerEmailMarketingState` / `CustomerSmsMarketingState`.
    pub state: String,
    /// `CustomerMarketingOptInLevel`.
    pub level: Option<String>,
    /// When the consent was given or withdrawn.
    pub updated_at: Option<String>,
    /// Where SMS consent was collected (`OTHER` for the Admin API).
    pub collected_from: Option<String>,
}

impl Default for Consent {
    fn default() -> Self {
        Consent {
            state: "NOT_SUBSCRIBED".into(),
            level: Some("SINGLE_OPT_IN".into()),
            updated_at: None,
            collected_from: None,
        }
    }
}

/// Consent as a `CustomerEmailAddress`/`CustomerPhoneNumber` read shows it (seeding a recorded store).
pub fn from_read(v: &Value) -> Option<Consent> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Some(Consent {
        state: s("marketingState")?,
        level: s("marketingOptInLevel"),
        updated_at: s("marketingUpdatedAt"),
        collected_from: s("marketingCollectedFrom"),
    })
}

/// Consent states a client may not set: Shopify derives them.
const DERIVED_STATES: &[&str] = &["NOT_SUBSCRIBED", "REDACTED", "INVALID"];

fn derived_state(state: &str) -> FieldError {
    FieldError::new(
        "INVALID",
        format!("Cannot specify {state} as a marketing state input"),
    )
}

/// Fields of `Customer` that show consent.
pub fn fields(c: &Customer, out: &mut Map<String, Value>) {
    let email = c.email_consent.clone().unwrap_or_default();
    let sms = c.sms_consent.clone().unwrap_or_default();
    out.insert(
        "defaultEmailAddress".into(),
        match &c.email {
            Some(e) => json!({"__typename": "CustomerEmailAddress", "emailAddress": e,
                "marketingState": email.state, "marketingOptInLevel": email.level,
                "marketingUpdatedAt": email.updated_at, "validFormat": true}),
            None => Value::Null,
        },
    );
    out.insert(
        "emailMarketingConsent".into(),
        match &c.email {
            Some(_) => json!({"marketingState": email.state, "marketingOptInLevel": email.level,
                "consentUpdatedAt": email.updated_at}),
            None => Value::Null,
        },
    );
    out.insert(
        "defaultPhoneNumber".into(),
        match &c.phone {
            Some(p) => json!({"__typename": "CustomerPhoneNumber", "phoneNumber": p,
                "marketingState": sms.state, "marketingOptInLevel": sms.level,
                "marketingUpdatedAt": sms.updated_at, "marketingCollectedFrom": sms.collected_from}),
            None => Value::Null,
        },
    );
    out.insert(
        "smsMarketingConsent".into(),
        match &c.phone {
            Some(_) => json!({"marketingState": sms.state, "marketingOptInLevel": sms.level,
                "consentUpdatedAt": sms.updated_at, "consentCollectedFrom": sms.collected_from}),
            None => Value::Null,
        },
    );
}

fn consent_from(
    input: &Map<String, Value>,
    state_key: &str,
    level_key: &str,
    at_key: &str,
) -> Consent {
    Consent {
        state: input
            .get(state_key)
            .and_then(Value::as_str)
            .unwrap_or("NOT_SUBSCRIBED")
            .to_string(),
        level: input
            .get(level_key)
            .and_then(Value::as_str)
            .map(str::to_string),
        updated_at: input
            .get(at_key)
            .and_then(Value::as_str)
            .map(str::to_string),
        collected_from: None,
    }
}

/// The inline consent inputs of customerCreate (`create`) or customerUpdate: applied to `c` on create,
/// refused on update. `Err` is a top-level error.
pub fn apply_inline(
    c: &mut Customer,
    input: &Map<String, Value>,
    create: bool,
    now: &str,
) -> Result<Vec<Value>, FieldError> {
    let channels = [
        (
            "emailMarketingConsent",
            "marketingState",
            "marketingOptInLevel",
            "consentUpdatedAt",
            "customerEmailMarketingConsentUpdate",
        ),
        (
            "smsMarketingConsent",
            "marketingState",
            "marketingOptInLevel",
            "consentUpdatedAt",
            "customerSmsMarketingConsentUpdate",
        ),
        (
            "whatsAppMarketingConsent",
            "state",
            "optInLevel",
            "updatedAt",
            "customerWhatsAppMarketingConsentUpdate",
        ),
    ];
    let mut errors = Vec::new();
    for (key, state_key, level_key, at_key, mutation) in channels {
        let Some(given) = input.get(key).and_then(Value::as_object) else {
            continue;
        };
        let consent = consent_from(given, state_key, level_key, at_key);
        if DERIVED_STATES[1..].contains(&consent.state.as_str()) {
            return Err(derived_state(&consent.state));
        }
        if !create {
            errors.push(json!({"field": [key], "message": format!(
                "To update {key}, please use the {mutation} Mutation instead"
            )}));
            continue;
        }
        match key {
            "emailMarketingConsent" if c.email.is_none() => errors.push(json!({"field": [key],
                "message": "An email address is required to set the email marketing consent state."})),
            "smsMarketingConsent" if c.phone.is_none() => errors.push(json!({"field": [key],
                "message": "A phone number is required to set the SMS consent state."})),
            "whatsAppMarketingConsent" if c.phone.is_none() => errors.push(json!({"field": [key],
                "message": "A phone number is required to set the WhatsApp consent state."})),
            "emailMarketingConsent" => c.email_consent = Some(stamped(consent, now, None)),
            "smsMarketingConsent" => c.sms_consent = Some(stamped(consent, now, Some("OTHER"))),
            // WhatsApp consent is not readable through the fields modelled here.
            _ => {}
        }
    }
    Ok(errors)
}

fn stamped(mut c: Consent, now: &str, collected_from: Option<&str>) -> Consent {
    if c.level.is_none() {
        c.level = Some("SINGLE_OPT_IN".into());
    }
    if c.updated_at.is_none() {
        c.updated_at = Some(now.to_string());
    }
    c.collected_from = collected_from.map(str::to_string);
    c
}

/// The two consent update mutations; `None` when `field` is not one of them.
pub fn resolve(
    st: &mut State,
    field: &str,
    args: &Map<String, Value>,
) -> Option<Result<Value, FieldError>> {
    let sms = match field {
        "customerEmailMarketingConsentUpdate" => false,
        "customerSmsMarketingConsentUpdate" => true,
        _ => return None,
    };
    let input = args
        .get("input")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let key = if sms {
        "smsMarketingConsent"
    } else {
        "emailMarketingConsent"
    };
    let given = input
        .get(key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let consent = consent_from(
        &given,
        "marketingState",
        "marketingOptInLevel",
        "consentUpdatedAt",
    );
    // The input is checked before the customer is looked up.
    if DERIVED_STATES.contains(&consent.state.as_str()) {
        return Some(Err(derived_state(&consent.state)));
    }
    let fail = |e: Value| Some(Ok(json!({"customer": null, "userErrors": [e]})));
    let Some(mut c) = parse_gid(input.get("customerId"), "Customer")
        .and_then(|id| st.customers.get(&id))
        .cloned()
    else {
        return fail(if sms {
            json!({"field": null, "message": "Customer not found", "code": null})
        } else {
            json!({"field": ["input", "customerId"], "message": "Customer not found", "code": "INVALID"})
        });
    };
    let reference = super::reference("Customer", c.id);
    if consent.level.is_none() {
        let e = json!({"field": ["input", key, "marketingOptInLevel"],
            "message": "Marketing opt in level must exist", "code": "MISSING_ARGUMENT"});
        // The email mutation still answers with the (unchanged) customer.
        return Some(Ok(
            json!({"customer": if sms { Value::Null } else { reference }, "userErrors": [e]}),
        ));
    }
    let now = st.now_str();
    if sms {
        if consent
            .updated_at
            .as_deref()
            .is_some_and(|t| t > now.as_str())
        {
            return fail(json!({"field": ["input", key, "consentUpdatedAt"],
                "message": "Consent updated at must not be in the future", "code": "INVALID"}));
        }
        if c.phone.is_none() {
            return fail(json!({"field": ["input", key],
                "message": "A phone number is required to set the SMS consent state.", "code": "INVALID"}));
        }
        if consent.state == "PENDING" && consent.level.as_deref() != Some("CONFIRMED_OPT_IN") {
            return fail(json!({"field": ["input", key, "marketingOptInLevel"],
                "message": "Marketing opt in level must be confirmed opt-in for pending consent state",
                "code": "INVALID"}));
        }
        c.sms_consent = Some(stamped(consent, &now, Some("OTHER")));
    } else if c.email.is_some() {
        c.email_consent = Some(stamped(consent, &now, None));
    } else {
        // Without an email there is nothing to consent for: Shopify answers with the customer unchanged.
        return Some(Ok(json!({"customer": reference, "userErrors": []})));
    }
    c.updated_at = now;
    let id = c.id;
    st.put_customer(c);
    st.touch();
    Some(Ok(
        json!({"customer": super::reference("Customer", id), "userErrors": []}),
    ))
}
