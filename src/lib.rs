//! imphnen: the public API (work in progress).
