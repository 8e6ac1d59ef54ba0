//! warehouse (see DESIGN.md section 3).
