//! Emulator settings: plan (rate-limit bucket), token, shop domain.
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::EmulatorError;

/// A Shopify plan, which decides the GraphQL bucket size and restore rate.
///
/// Bucket sizes are 20 x the restore rate, as observed on live stores (REFERENCE.md 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// 100 points/s, bucket 2000.
    Standard,
    /// 200 points/s, bucket 4000.
    Advanced,
    /// 1000 points/s, bucket 20000.
    Plus,
    /// 2000 points/s, bucket 40000 (bucket size unconfirmed upstream; 20 x restore assumed).
    Enterprise,
    /// Explicit numbers.
    Custom {
        /// `maximumAvailable`.
        bucket: u32,
        /// `restoreRate` in points per second.
        restore: u32,
    },
}

impl Plan {
    /// The restore rate in points per second.
    pub fn restore_rate(self) -> u32 {
        match self {
            Plan::Standard => 100,
            Plan::Advanced => 200,
            Plan::Plus => 1000,
            Plan::Enterprise => 2000,
            Plan::Custom { restore, .. } => restore,
        }
    }

    /// The plan's name as `shop.plan.publicDisplayName` reports it.
    pub fn display_name(self) -> &'static str {
        match self {
            Plan::Standard => "Basic",
            Plan::Advanced => "Advanced",
            Plan::Plus => "Shopify Plus",
            Plan::Enterprise => "Plus Enterprise",
            Plan::Custom { .. } => "Development",
        }
    }

    /// The bucket size (`maximumAvailable`).
    pub fn bucket_size(self) -> u32 {
        match self {
            Plan::Custom { bucket, .. } => bucket,
            other => other.restore_rate() * 20,
        }
    }

    /// The REST bucket: 40 requests leaking 2/s on Standard; higher plans scale the leak rate
    /// (bucket sizes beyond Standard are unconfirmed upstream, so the bucket stays at 20 x leak).
    pub fn rest_leak_rate(self) -> u32 {
        match self {
            Plan::Standard | Plan::Custom { .. } => 2,
            Plan::Advanced => 4,
            Plan::Plus => 20,
            Plan::Enterprise => 40,
        }
    }
}

impl FromStr for Plan {
    type Err = EmulatorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "standard" | "basic" => Ok(Plan::Standard),
            "advanced" => Ok(Plan::Advanced),
            "plus" => Ok(Plan::Plus),
            "enterprise" => Ok(Plan::Enterprise),
            other => {
                let bad = || EmulatorError::InvalidPlan(s.to_string());
                let (bucket, restore) = other.split_once('/').ok_or_else(bad)?;
                let bucket: u32 = bucket.trim().parse().map_err(|_| bad())?;
                let restore: u32 = restore.trim().parse().map_err(|_| bad())?;
                if bucket == 0 || restore == 0 {
                    return Err(bad());
                }
                Ok(Plan::Custom { bucket, restore })
            }
        }
    }
}

/// Everything an emulator instance is configured with.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Rate-limit plan.
    pub plan: Plan,
    /// The access token clients must send in `X-Shopify-Access-Token`.
    pub token: String,
    /// The shop domain, e.g. `emulator.myshopify.com`.
    pub shop_domain: String,
    /// When false, no bucket is charged (benchmarks); `extensions.cost` is still reported.
    pub throttling: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            plan: Plan::Standard,
            token: "shpat_emulator".to_string(),
            shop_domain: "emulator.myshopify.com".to_string(),
            throttling: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parse_with_shopify_numbers() {
        let p: Plan = "advanced".parse().unwrap();
        assert_eq!((p.bucket_size(), p.restore_rate()), (4000, 200));
        let p: Plan = "1000/50".parse().unwrap();
        assert_eq!((p.bucket_size(), p.restore_rate()), (1000, 50));
        assert!("gold".parse::<Plan>().is_err());
        assert!("0/5".parse::<Plan>().is_err());
    }
}
