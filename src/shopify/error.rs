//! Errors of the Admin API client and how the engine should treat each.
use std::time::Duration;

/// How the engine reacts to an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Try again after a backoff.
    Retryable,
    /// Try again after exactly this wait.
    RateLimited(Duration),
    /// Do not retry: the request, the row or the configuration must change first.
    Permanent,
}

/// A failed call to the Admin API.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ShopifyError {
    /// The connection failed or timed out.
    #[error("cannot reach {url}: {message}")]
    Network {
        /// The endpoint.
        url: String,
        /// What the network layer said.
        message: String,
    },
    /// HTTP 401: the token is missing, wrong or revoked.
    #[error(
        "the store rejected the access token (HTTP 401): check the Secret the destination's credentials refer to"
    )]
    Unauthorized,
    /// HTTP 402: the shop is frozen (unpaid).
    #[error("the store is frozen (HTTP 402 Payment Required): the shop owner must settle the bill")]
    PaymentRequired,
    /// HTTP 403: the token lacks a scope, or the shop is unavailable.
    #[error("access denied (HTTP 403): {0}; grant the app the scopes shopsync needs")]
    Forbidden(String),
    /// HTTP 404: no such shop or API version.
    #[error(
        "not found (HTTP 404) at {url}: check the destination's store name, endpoint and apiVersion"
    )]
    NotFound {
        /// The endpoint.
        url: String,
    },
    /// HTTP 423: the shop is locked.
    #[error("the store is locked (HTTP 423): Shopify locked the shop; contact its owner")]
    Locked,
    /// HTTP 429, or a 5xx answer.
    #[error("Shopify answered HTTP {status}")]
    Unavailable {
        /// The status.
        status: u16,
        /// `Retry-After`, when the answer carried one.
        retry_after: Option<Duration>,
    },
    /// The GraphQL `THROTTLED` error: the bucket lacked the points this request needs.
    #[error("throttled by the store's rate limit; {wait:?} until enough points are restored")]
    Throttled {
        /// How long until the bucket holds the requested cost.
        wait: Duration,
    },
    /// A query whose single cost exceeds Shopify's per-query ceiling; it must be split.
    #[error("query cost {cost} exceeds Shopify's single-query limit {max}")]
    MaxCostExceeded {
        /// The query's cost.
        cost: u64,
        /// The ceiling.
        max: u64,
    },
    /// Other top-level GraphQL errors: the document or its variables are wrong.
    #[error("GraphQL error: {0}")]
    GraphQl(String),
    /// The answer was not the JSON Shopify sends.
    #[error("unreadable answer from Shopify: {0}")]
    Decode(String),
    /// Retries ran out; the last error is kept.
    #[error("gave up after {attempts} attempts: {last}")]
    Exhausted {
        /// How many attempts were made.
        attempts: u32,
        /// The last error.
        last: Box<ShopifyError>,
    },
}

impl ShopifyError {
    /// How the engine should react.
    pub fn class(&self) -> ErrorClass {
        match self {
            ShopifyError::Network { .. } => ErrorClass::Retryable,
            ShopifyError::Unavailable {
                retry_after: Some(d),
                ..
            } => ErrorClass::RateLimited(*d),
            ShopifyError::Unavailable { .. } => ErrorClass::Retryable,
            ShopifyError::Throttled { wait } => ErrorClass::RateLimited(*wait),
            ShopifyError::Exhausted { .. }
            | ShopifyError::Unauthorized
            | ShopifyError::PaymentRequired
            | ShopifyError::Forbidden(_)
            | ShopifyError::NotFound { .. }
            | ShopifyError::Locked
            | ShopifyError::MaxCostExceeded { .. }
            | ShopifyError::GraphQl(_)
            | ShopifyError::Decode(_) => ErrorClass::Permanent,
        }
    }

    /// Whether the whole run must stop (the store or the credentials are unusable), rather than one row.
    pub fn fails_run(&self) -> bool {
        matches!(
            self,
            ShopifyError::Unauthorized
                | ShopifyError::PaymentRequired
                | ShopifyError::Forbidden(_)
                | ShopifyError::NotFound { .. }
                | ShopifyError::Locked
        ) || matches!(self, ShopifyError::Exhausted { last, .. } if last.fails_run())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(
            ShopifyError::Network {
                url: "u".into(),
                message: "m".into()
            }
            .class(),
            ErrorClass::Retryable
        );
        assert_eq!(
            ShopifyError::Unavailable {
                status: 503,
                retry_after: None
            }
            .class(),
            ErrorClass::Retryable
        );
        let d = Duration::from_secs(2);
        assert_eq!(
            ShopifyError::Unavailable {
                status: 429,
                retry_after: Some(d)
            }
            .class(),
            ErrorClass::RateLimited(d)
        );
        assert_eq!(
            ShopifyError::Throttled { wait: d }.class(),
            ErrorClass::RateLimited(d)
        );
        for e in [
            ShopifyError::Unauthorized,
            ShopifyError::PaymentRequired,
            ShopifyError::Locked,
        ] {
            assert_eq!(e.class(), ErrorClass::Permanent);
            assert!(e.fails_run());
        }
        assert!(!ShopifyError::GraphQl("x".into()).fails_run());
        assert!(ShopifyError::Unauthorized.to_string().contains("Secret"));
    }
}
