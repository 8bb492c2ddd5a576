//! The datastore side: configuration documents validated against the YANG model and the
//! semantic checks, and the startup datastore kept in the state directory.

pub mod edit;
pub mod filter;
pub mod startup;
pub mod validate;

pub use validate::{validate_document, Problem, ValidatedConfig};
