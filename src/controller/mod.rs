//! controller (see DESIGN.md section 3).
