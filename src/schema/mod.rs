//! The pinned Shopify Admin GraphQL schemas (type system only), one per supported API version.
//!
//! The emulator validates every incoming document against these, the client's documents are checked against
//! them by tests, and `shopsync validate` looks mapped fields up in them. They are parsed once per process.
use std::sync::OnceLock;

use apollo_compiler::Schema;
use apollo_compiler::validation::Valid;

use crate::core::config::ApiVersion;

const SDL_2026_01: &str = include_str!("admin-2026-01.graphql");
const SDL_2026_04: &str = include_str!("admin-2026-04.graphql");
const SDL_2026_07: &str = include_str!("admin-2026-07.graphql");

/// The schema text of `version`, exactly as pinned.
pub fn sdl(version: ApiVersion) -> &'static str {
    match version {
        ApiVersion::V2026_01 => SDL_2026_01,
        ApiVersion::V2026_04 => SDL_2026_04,
        ApiVersion::V2026_07 => SDL_2026_07,
    }
}

/// The parsed and validated schema of `version`, built on first use and shared afterwards.
pub fn schema(version: ApiVersion) -> &'static Valid<Schema> {
    static CACHE: [OnceLock<Valid<Schema>>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = match version {
        ApiVersion::V2026_01 => &CACHE[0],
        ApiVersion::V2026_04 => &CACHE[1],
        ApiVersion::V2026_07 => &CACHE[2],
    };
    slot.get_or_init(|| {
        // The pinned files are checked by the `pinned_schemas_parse` test; a failure here is a build defect,
        // never a consequence of user input.
        match Schema::parse_and_validate(
            sdl(version),
            format!("admin-{}.graphql", version.as_str()),
        ) {
            Ok(valid) => valid,
            Err(with_errors) => panic!(
                "pinned Shopify schema {} does not validate: {}",
                version.as_str(),
                with_errors.errors
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_schemas_parse() {
        for v in ApiVersion::ALL {
            let s = schema(v);
            assert!(
                s.types.contains_key("CustomerSetInput"),
                "{} lacks CustomerSetInput",
                v.as_str()
            );
            assert!(
                s.types.contains_key("ProductSetInput"),
                "{} lacks ProductSetInput",
                v.as_str()
            );
        }
    }
}
