//! shopify (see DESIGN.md section 3).
