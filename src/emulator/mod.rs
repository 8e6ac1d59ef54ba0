//! emulator (see DESIGN.md section 3).
