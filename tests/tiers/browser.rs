//! Test tier `browser`: The dashboard in headless Chromium through chromedriver (Debian's `chromium`, `chromium-driver`).
//! `cargo nextest run --test browser`.
//!
//! One binary per tier (Cargo.toml, `[[test]]`): each file below stays a module of its own.

#[path = "../ui_browser.rs"]
mod ui_browser;
