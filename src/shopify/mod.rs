//! The Shopify Admin API client: GraphQL transport per store, API version and token; the shared cost budget
//! that keeps every sync writing to a store inside its rate limit; error classification and bounded retries.
//!
//! Errors are classified the way the engine acts on them: retryable (network, 5xx, HTTP 429, THROTTLED),
//! rate-limited (wait as `throttleStatus` or `Retry-After` says), or permanent (user errors reject a row;
//! 401/402/403/404/423 fail the run with what the user must fix).
mod budget;
pub mod bulk;
mod client;
mod context;
mod error;
pub mod ops;
mod transport;

pub use budget::{CostBudget, Reservation, ThrottleStatus};
pub use bulk::BulkSettings;
pub use client::{DEFAULT_BATCH_SIZE, ShopifyClient};
pub use context::RequestContext;
pub use error::{ErrorClass, ShopifyError};
pub use ops::shop::{ShopInfo, shop_info};
pub use transport::{GraphqlResponse, MAX_ANSWER_BYTES, QueryCost, RetryPolicy, Store, Transport};
