//! imphnen-router
