//! Example configurations shipped with netdhcp, embedded so the test suite checks each one
//! against the YANG model and the semantic checks.

// Tests unwrap freely: a panic there is a failed test with its message.
#![cfg_attr(test, allow(clippy::unwrap_used))]

/// (file name, contents) of every example instance document.
pub const CONFIGS: &[(&str, &str)] = &[
    ("single-server.xml", include_str!("single-server.xml")),
    ("relay.xml", include_str!("relay.xml")),
    ("dhcpv6-pd.xml", include_str!("dhcpv6-pd.xml")),
    ("ha-primary.xml", include_str!("ha-primary.xml")),
    ("ha-standby.xml", include_str!("ha-standby.xml")),
    ("ha-lb-primary.xml", include_str!("ha-lb-primary.xml")),
    ("ha-lb-secondary.xml", include_str!("ha-lb-secondary.xml")),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_example_is_valid() {
        let ctx = yang::context().expect("yang context");
        for (name, text) in super::CONFIGS {
            let result = netdhcpd::northbound::validate_document(ctx, text)
                .map(|v| v.runtime.dhcp4.subnets.len() + v.runtime.dhcp6.subnets.len());
            match result {
                Ok(subnets) => assert!(subnets > 0, "{name} defines no subnet"),
                Err(problems) => panic!("{name} is invalid: {problems:?}"),
            }
        }
    }
}
