//! The workloads, one file each; every mode returns a [`crate::report::Report`].

pub mod broadcast;
pub mod connect;
pub mod echo;
pub mod idle;
pub mod reflect;
pub mod smoke;
