//! The datastore side: configuration documents validated against the YANG model and the
//! semantic checks, the running/candidate/startup datastores, edit-config semantics, filters,
//! and the commit pipeline that applies a configuration to the running servers.

pub mod actor;
pub mod commit;
pub mod datastore;
pub mod edit;
pub mod error;
pub mod filter;
pub mod get_data;
pub mod ha_rpc;
pub mod lease_rpc;
pub mod lease_state;
pub mod library;
pub mod nacm;
pub mod notifications;
pub mod startup;
pub mod state;
pub mod time;
pub mod validate;
pub mod xpath;

pub use validate::{validate_document, Problem, ValidatedConfig};
#[cfg(test)]
mod datastore_tests;
