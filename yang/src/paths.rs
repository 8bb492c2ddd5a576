//! Schema paths of the `netdhcp-server` module, in one place so no other code spells them.

/// The top container.
pub const SERVER: &str = "/netdhcp-server:server";
/// Lease database settings.
pub const LEASE_DATABASE: &str = "/netdhcp-server:server/lease-database";
/// Log levels.
pub const LOGGING: &str = "/netdhcp-server:server/logging";
/// The DHCPv4 server.
pub const DHCPV4: &str = "/netdhcp-server:server/dhcpv4";
/// XML namespace of `netdhcp-server`.
pub const NAMESPACE: &str = "urn:netdhcp:yang:netdhcp-server";
/// The DHCPv6 server.
pub const DHCPV6: &str = "/netdhcp-server:server/dhcpv6";
/// Failover (HA) settings.
pub const HA: &str = "/netdhcp-server:server/ha";
