//! imphnen-engine
