//! The validated sync configuration (placeholder until the API lands).

/// A Shopify Admin API version shopsync supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ApiVersion {
    /// 2026-01
    V2026_01,
    /// 2026-04
    V2026_04,
    /// 2026-07, the default
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
