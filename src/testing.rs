//! Testing helpers (in progress).
