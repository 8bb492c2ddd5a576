//! Example configurations shipped with netdhcp, embedded so the test suite checks each one
//! against the YANG model and the semantic checks.

/// (file name, contents) of every example instance document.
pub const CONFIGS: &[(&str, &str)] = &[
    ("single-server.xml", include_str!("single-server.xml")),
    ("relay.xml", include_str!("relay.xml")),
];
