//! NETCONF server protocol library. It reaches the datastore through a trait and knows nothing
//! of DHCP.
