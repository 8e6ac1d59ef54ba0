//! state (see DESIGN.md section 3).
