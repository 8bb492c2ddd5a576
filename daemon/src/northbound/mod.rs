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

/// Whether `xml` (state data, the YANG library) fits the daemon's modules, strictly (every
/// element known), without validation.
#[cfg(test)]
pub(crate) fn assert_fits_the_model(xml: &str) {
    let parsed = yang::yang5::data::DataTree::parse_string(
        yang::context().expect("the embedded modules load"),
        xml,
        yang::yang5::data::DataFormat::XML,
        yang::yang5::data::DataParserFlags::NO_VALIDATION
            | yang::yang5::data::DataParserFlags::STRICT,
        yang::yang5::data::DataValidationFlags::empty(),
    );
    assert!(parsed.is_ok(), "{:?}\n{xml}", parsed.err());
}
