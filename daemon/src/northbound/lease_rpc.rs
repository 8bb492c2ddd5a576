//! The lease RPCs of the netdhcp-server module: get-leases4 and get-leases6 (paged listings
//! filtered by the engines, so millions of leases are walked a page at a time), delete-lease,
//! set-lease4 and set-lease6 (repairs), reclaim-leases and compact-lease-files. Each is carried out by the engine owning the leases
//! (through its inbox) or by the lease file writers, off the datastore thread.

use std::collections::HashMap;
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use netconf::backend::Reply;
use netconf::error::RpcError;
use netconf::rpc::Operation;
use netconf::xml::escape_text;
use quick_xml::events::Event as XmlEvent;
use quick_xml::Reader;
use tokio::sync::oneshot;

use super::time::rfc3339;
use crate::ha::family::PeerLease;
use crate::ha::inbox::{ApplyMode, InboxError, LeaseFilter, PeerRequest};
use crate::ha::port::HaPort;
use crate::lease::memfile::MemfileWriter;
use crate::lease::record6::LeaseType6;
use crate::lease::{hex_text, HwAddr, Lease4, Lease6, LeaseState};

/// Default page size of a listing.
const DEFAULT_LIMIT: u32 = 1000;
/// Largest page (the model's range).
const MAX_LIMIT: u32 = 10_000;

/// A lease RPC, parsed.
#[derive(Debug)]
pub enum LeaseRpc {
    /// get-leases4.
    List4(Query<Ipv4Addr>),
    /// get-leases6.
    List6(Query<Ipv6Addr>),
    /// delete-lease.
    Delete(IpAddr),
    /// set-lease4.
    Set4(SetLease4),
    /// set-lease6.
    Set6(SetLease6),
    /// reclaim-leases.
    Reclaim,
    /// compact-lease-files.
    Compact,
}

/// A listing's input.
#[derive(Debug)]
pub struct Query<A> {
    subnet_id: Option<u32>,
    address: Option<A>,
    /// hw-address (v4).
    hw_address: Option<HwAddr>,
    /// client-id (v4) or duid (v6), bytes.
    client: Option<Vec<u8>>,
    after: Option<A>,
    limit: u32,
}

/// set-lease4's input.
#[derive(Debug)]
pub struct SetLease4 {
    address: Ipv4Addr,
    hw_address: HwAddr,
    client_id: Option<Vec<u8>>,
    valid_lifetime: Option<u32>,
    hostname: Option<String>,
}

/// set-lease6's input.
#[derive(Debug)]
pub struct SetLease6 {
    lease_type: LeaseType6,
    address: Ipv6Addr,
    prefix_len: u8,
    duid: Vec<u8>,
    iaid: u32,
    valid_lifetime: Option<u32>,
    preferred_lifetime: Option<u32>,
    hostname: Option<String>,
}

/// What the lease RPCs act on.
#[derive(Clone)]
pub struct LeaseTargets {
    /// The engines' port (inboxes).
    pub port: Arc<HaPort>,
    /// The DHCPv4 and DHCPv6 lease file writers.
    pub writers: Vec<Arc<MemfileWriter>>,
    /// The running configuration (set-lease4 and set-lease6 place a lease in its subnet).
    pub config: Arc<arc_swap::ArcSwap<crate::config::RuntimeConfig>>,
}

/// The lease RPC an operation is, if it is one; an input error is an rpc-error.
pub fn parse(op: &Operation) -> Option<Result<LeaseRpc, RpcError>> {
    let Operation::Other {
        name,
        namespace,
        xml,
    } = op
    else {
        return None;
    };
    if namespace != yang::paths::NAMESPACE {
        return None;
    }
    let known = [
        "get-leases4",
        "get-leases6",
        "delete-lease",
        "set-lease4",
        "set-lease6",
        "reclaim-leases",
        "compact-lease-files",
    ];
    if !known.contains(&name.as_str()) {
        return None;
    }
    Some(input_leaves(xml).and_then(|leaves| build(name, leaves)))
}

/// The operation element's child leaves, by local name.
fn input_leaves(xml: &str) -> Result<HashMap<String, String>, RpcError> {
    let mut reader = Reader::from_str(xml);
    let mut leaves = HashMap::new();
    let mut depth = 0usize;
    let mut current: Option<String> = None;
    loop {
        match reader.read_event() {
            Ok(XmlEvent::Start(e)) => {
                depth += 1;
                if depth == 2 {
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    leaves.insert(name.clone(), String::new());
                    current = Some(name);
                } else if depth > 2 {
                    return Err(RpcError::bad_element(
                        current.as_deref().unwrap_or("input"),
                        "a leaf was expected",
                    ));
                }
            }
            Ok(XmlEvent::Empty(e)) if depth == 1 => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                leaves.insert(name, String::new());
            }
            Ok(XmlEvent::Text(t)) if depth == 2 => {
                let text = t
                    .unescape()
                    .map_err(|e| RpcError::malformed_message(e.to_string()))?;
                if let Some(name) = &current {
                    leaves.insert(name.clone(), text.trim().to_string());
                }
            }
            Ok(XmlEvent::End(_)) => {
                depth = depth.saturating_sub(1);
                if depth < 2 {
                    current = None;
                }
            }
            Ok(XmlEvent::Eof) => return Ok(leaves),
            Ok(_) => {}
            Err(e) => return Err(RpcError::malformed_message(e.to_string())),
        }
    }
}

fn value<T: std::str::FromStr>(
    leaves: &HashMap<String, String>,
    name: &str,
    what: &str,
) -> Result<Option<T>, RpcError> {
    leaves
        .get(name)
        .map(|text| {
            text.parse::<T>()
                .map_err(|_| RpcError::invalid_value(name, format!("{text:?} is not {what}")))
        })
        .transpose()
}

fn hex_bytes(leaves: &HashMap<String, String>, name: &str) -> Result<Option<Vec<u8>>, RpcError> {
    leaves
        .get(name)
        .map(|text| {
            hex_text::decode(text).map_err(|e| {
                RpcError::invalid_value(name, format!("{text:?} is not hexadecimal bytes: {e}"))
            })
        })
        .transpose()
}

fn only(leaves: &HashMap<String, String>, allowed: &[&str]) -> Result<(), RpcError> {
    match leaves.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(RpcError::unknown_element(unknown)),
        None => Ok(()),
    }
}

fn limit(leaves: &HashMap<String, String>) -> Result<u32, RpcError> {
    let limit = value::<u32>(leaves, "limit", "a number")?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(RpcError::invalid_value(
            "limit",
            format!("limit must be 1..{MAX_LIMIT}"),
        ));
    }
    Ok(limit)
}

fn build(name: &str, leaves: HashMap<String, String>) -> Result<LeaseRpc, RpcError> {
    match name {
        "get-leases4" => {
            only(
                &leaves,
                &[
                    "subnet-id",
                    "limit",
                    "address",
                    "hw-address",
                    "client-id",
                    "after",
                ],
            )?;
            Ok(LeaseRpc::List4(Query {
                subnet_id: value(&leaves, "subnet-id", "a subnet id")?,
                address: value(&leaves, "address", "an IPv4 address")?,
                hw_address: value(&leaves, "hw-address", "a hardware address")?,
                client: hex_bytes(&leaves, "client-id")?,
                after: value(&leaves, "after", "an IPv4 address")?,
                limit: limit(&leaves)?,
            }))
        }
        "get-leases6" => {
            only(&leaves, &["subnet-id", "limit", "address", "duid", "after"])?;
            Ok(LeaseRpc::List6(Query {
                subnet_id: value(&leaves, "subnet-id", "a subnet id")?,
                address: value(&leaves, "address", "an IPv6 address")?,
                hw_address: None,
                client: hex_bytes(&leaves, "duid")?,
                after: value(&leaves, "after", "an IPv6 address")?,
                limit: limit(&leaves)?,
            }))
        }
        "delete-lease" => {
            only(&leaves, &["address"])?;
            value(&leaves, "address", "an IP address")?
                .map(LeaseRpc::Delete)
                .ok_or_else(|| RpcError::missing_element("address"))
        }
        "set-lease4" => {
            only(
                &leaves,
                &[
                    "address",
                    "hw-address",
                    "client-id",
                    "valid-lifetime",
                    "hostname",
                ],
            )?;
            let address = value(&leaves, "address", "an IPv4 address")?
                .ok_or_else(|| RpcError::missing_element("address"))?;
            let hw_address = value(&leaves, "hw-address", "a hardware address")?
                .ok_or_else(|| RpcError::missing_element("hw-address"))?;
            let valid_lifetime = value::<u32>(&leaves, "valid-lifetime", "a number")?;
            if valid_lifetime == Some(0) {
                return Err(RpcError::invalid_value(
                    "valid-lifetime",
                    "use delete-lease to remove a lease",
                ));
            }
            Ok(LeaseRpc::Set4(SetLease4 {
                address,
                hw_address,
                client_id: hex_bytes(&leaves, "client-id")?.filter(|c| !c.is_empty()),
                valid_lifetime,
                hostname: leaves.get("hostname").cloned().filter(|h| !h.is_empty()),
            }))
        }
        "set-lease6" => set_lease6(&leaves).map(LeaseRpc::Set6),
        "reclaim-leases" => only(&leaves, &[]).map(|()| LeaseRpc::Reclaim),
        _ => only(&leaves, &[]).map(|()| LeaseRpc::Compact),
    }
}

fn set_lease6(leaves: &HashMap<String, String>) -> Result<SetLease6, RpcError> {
    only(
        leaves,
        &[
            "type",
            "address",
            "prefix-length",
            "duid",
            "iaid",
            "valid-lifetime",
            "preferred-lifetime",
            "hostname",
        ],
    )?;
    let lease_type = match leaves.get("type").map(String::as_str) {
        None | Some("ia-na") => LeaseType6::Na,
        Some("ia-pd") => LeaseType6::Pd,
        Some(other) => {
            return Err(RpcError::invalid_value(
                "type",
                format!("{other}: expected ia-na or ia-pd"),
            ))
        }
    };
    let address: Ipv6Addr = value(leaves, "address", "an IPv6 address")?
        .ok_or_else(|| RpcError::missing_element("address"))?;
    let prefix_len = match (
        lease_type,
        value::<u8>(leaves, "prefix-length", "a prefix length")?,
    ) {
        (LeaseType6::Pd, None) => return Err(RpcError::missing_element("prefix-length")),
        (LeaseType6::Pd, Some(len)) if (1..=128).contains(&len) => len,
        (LeaseType6::Pd, Some(len)) => {
            return Err(RpcError::invalid_value(
                "prefix-length",
                format!("{len}: a delegated prefix is 1 to 128 bits long"),
            ))
        }
        (_, None | Some(128)) => 128,
        (_, Some(len)) => {
            return Err(RpcError::invalid_value(
                "prefix-length",
                format!("{len}: an ia-na lease is one address (128)"),
            ))
        }
    };
    if lease_type == LeaseType6::Pd {
        let masked = ipnet::Ipv6Net::new(address, prefix_len)
            .map(|net| net.trunc().addr())
            .unwrap_or(address);
        if masked != address {
            return Err(RpcError::invalid_value(
                "address",
                format!("{address} has bits set past /{prefix_len}"),
            ));
        }
    }
    let duid = hex_bytes(leaves, "duid")?
        .filter(|d| !d.is_empty())
        .ok_or_else(|| RpcError::missing_element("duid"))?;
    let iaid = value::<u32>(leaves, "iaid", "a number")?
        .ok_or_else(|| RpcError::missing_element("iaid"))?;
    let valid_lifetime = value::<u32>(leaves, "valid-lifetime", "a number")?;
    if valid_lifetime == Some(0) {
        return Err(RpcError::invalid_value(
            "valid-lifetime",
            "use delete-lease to remove a lease",
        ));
    }
    let preferred_lifetime = value::<u32>(leaves, "preferred-lifetime", "a number")?;
    if let (Some(p), Some(v)) = (preferred_lifetime, valid_lifetime) {
        if p > v {
            return Err(RpcError::invalid_value(
                "preferred-lifetime",
                format!("{p} is longer than the valid lifetime {v}"),
            ));
        }
    }
    Ok(SetLease6 {
        lease_type,
        address,
        prefix_len,
        duid,
        iaid,
        valid_lifetime,
        preferred_lifetime,
        hostname: leaves.get("hostname").cloned().filter(|h| !h.is_empty()),
    })
}

fn engine_stopped() -> Vec<RpcError> {
    vec![RpcError::operation_failed("the DHCP engine is not running")]
}

/// Carries out a lease RPC.
pub async fn run(targets: LeaseTargets, rpc: LeaseRpc) -> Result<Reply, Vec<RpcError>> {
    match rpc {
        LeaseRpc::List4(q) => {
            let filter = filter4(&q);
            let page = page::<Lease4>(&targets.port, q.after, q.limit, filter).await?;
            Ok(Reply::Output(render(&page, q.limit, lease4_xml, |l| {
                l.address.to_string()
            })))
        }
        LeaseRpc::List6(q) => {
            let filter = filter6(&q);
            let page = page::<Lease6>(&targets.port, q.after, q.limit, filter).await?;
            Ok(Reply::Output(render(&page, q.limit, lease6_xml, |l| {
                l.address.to_string()
            })))
        }
        LeaseRpc::Delete(addr) => delete(&targets.port, addr).await,
        LeaseRpc::Set4(input) => {
            let lease = lease_of(&targets.config.load().dhcp4, input)?;
            apply::<Lease4>(&targets.port, vec![lease], Vec::new()).await?;
            Ok(Reply::Ok)
        }
        LeaseRpc::Set6(input) => {
            let lease = lease6_of(&targets.config.load().dhcp6, input)?;
            apply::<Lease6>(&targets.port, vec![lease], Vec::new()).await?;
            Ok(Reply::Ok)
        }
        LeaseRpc::Reclaim => {
            let total =
                reclaim::<Lease4>(&targets.port).await? + reclaim::<Lease6>(&targets.port).await?;
            Ok(Reply::Output(format!(
                "<reclaimed xmlns=\"{}\">{total}</reclaimed>",
                yang::paths::NAMESPACE
            )))
        }
        LeaseRpc::Compact => compact(targets.writers).await,
    }
}

/// Up to `limit` leases after `after` that `filter` keeps, in address order, from the
/// family's engine (its inbox; the engine walks its leases on its own thread). The engine
/// looks at a bounded number of leases per request, so a filter keeping few of millions of
/// leases takes several requests, and packets are served between them.
async fn page<L: PeerLease>(
    port: &HaPort,
    after: Option<L::Addr>,
    limit: u32,
    filter: LeaseFilter<L>,
) -> Result<Vec<L>, Vec<RpcError>> {
    let mut leases: Vec<L> = Vec::new();
    let mut from = after;
    loop {
        let (done, answer) = oneshot::channel();
        L::inbox(port).send(PeerRequest::GetPage {
            from,
            limit: limit - leases.len() as u32,
            filter: Some(filter.clone()),
            done,
        });
        let page = answer.await.map_err(|_| engine_stopped())?;
        leases.extend(page.leases);
        match page.resume_after {
            Some(resume) if leases.len() < limit as usize => from = Some(resume),
            _ => return Ok(leases),
        }
    }
}

async fn reclaim<L: PeerLease>(port: &HaPort) -> Result<u64, Vec<RpcError>> {
    let (done, answer) = oneshot::channel();
    L::inbox(port).send(PeerRequest::Reclaim { done });
    answer.await.map_err(|_| engine_stopped())
}

/// The lease set-lease4 describes, placed in the configured subnet holding its address.
fn lease_of(
    config: &crate::config::Dhcp4Config,
    input: SetLease4,
) -> Result<Lease4, Vec<RpcError>> {
    let subnet = config
        .subnets
        .iter()
        .find(|s| s.prefix.contains(&input.address))
        .ok_or_else(|| {
            vec![RpcError::invalid_value(
                "address",
                format!("{} is in no configured DHCPv4 subnet", input.address),
            )]
        })?;
    let valid_lifetime = input.valid_lifetime.unwrap_or(subnet.lifetimes.valid);
    Ok(Lease4 {
        address: input.address,
        hwaddr: input.hw_address,
        client_id: input.client_id.as_deref().map(crate::lease::ClientId::new),
        valid_lifetime,
        expire: crate::engine::unix_now() + u64::from(valid_lifetime),
        subnet_id: subnet.id,
        fqdn_fwd: false,
        fqdn_rev: false,
        hostname: input.hostname.map(String::into_boxed_str),
        state: LeaseState::Default,
        user_context: None,
    })
}

/// The lease set-lease6 describes, placed in the configured subnet holding its address (an
/// address lease) or in the subnet whose prefix pool holds the prefix (a delegated prefix).
fn lease6_of(
    config: &crate::config::Dhcp6Config,
    input: SetLease6,
) -> Result<Lease6, Vec<RpcError>> {
    let subnet = config
        .subnets
        .iter()
        .find(|s| match input.lease_type {
            LeaseType6::Pd => s.pd_pools.iter().any(|p| {
                p.prefix.contains(&input.address) && input.prefix_len >= p.prefix.prefix_len()
            }),
            _ => s.prefix.contains(&input.address),
        })
        .ok_or_else(|| {
            let place = match input.lease_type {
                LeaseType6::Pd => "prefix pool",
                _ => "subnet",
            };
            vec![RpcError::invalid_value(
                "address",
                format!(
                    "{}/{} is in no configured DHCPv6 {place}",
                    input.address, input.prefix_len
                ),
            )]
        })?;
    let valid_lifetime = input.valid_lifetime.unwrap_or(subnet.lifetimes.valid);
    let preferred_lifetime = input
        .preferred_lifetime
        .unwrap_or(subnet.lifetimes.preferred)
        .min(valid_lifetime);
    Ok(Lease6 {
        address: input.address,
        prefix_len: input.prefix_len,
        lease_type: input.lease_type,
        duid: input.duid.into(),
        iaid: input.iaid,
        valid_lifetime,
        preferred_lifetime,
        expire: crate::engine::unix_now() + u64::from(valid_lifetime),
        subnet_id: subnet.id,
        state: LeaseState::Default,
        ..Lease6::default()
    }
    .with_hostname(input.hostname.map(String::into_boxed_str)))
}

/// Applies an operator's changes through the family's engine; returns the report.
async fn apply<L: PeerLease>(
    port: &HaPort,
    leases: Vec<L>,
    deleted: Vec<L::Key>,
) -> Result<crate::ha::inbox::ApplyReport, Vec<RpcError>> {
    let (done, answer) = oneshot::channel();
    L::inbox(port).send(PeerRequest::Apply {
        leases,
        deleted,
        mode: ApplyMode::Operator,
        done,
    });
    match answer.await {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(InboxError::Partner)) => Err(vec![RpcError::operation_failed(
            "the change is made here, but the failover partner did not acknowledge it",
        )]),
        Ok(Err(e)) => Err(vec![RpcError::operation_failed(e.to_string())]),
        Err(_) => Err(engine_stopped()),
    }
}

async fn delete(port: &HaPort, addr: IpAddr) -> Result<Reply, Vec<RpcError>> {
    let deleted = match addr {
        IpAddr::V4(a) => apply::<Lease4>(port, Vec::new(), vec![a]).await?.deleted,
        IpAddr::V6(a) => {
            let keys = [LeaseType6::Na, LeaseType6::Ta, LeaseType6::Pd]
                .into_iter()
                .map(|t| (t, a))
                .collect();
            apply::<Lease6>(port, Vec::new(), keys).await?.deleted
        }
    };
    if deleted == 0 {
        return Err(vec![RpcError::invalid_value(
            "address",
            format!("no lease of {addr}"),
        )
        .with_app_tag("data-missing")]);
    }
    Ok(Reply::Ok)
}

async fn compact(writers: Vec<Arc<MemfileWriter>>) -> Result<Reply, Vec<RpcError>> {
    let joined = tokio::task::spawn_blocking(move || {
        for writer in writers {
            let report = writer.compact().and_then(|handle| handle.join());
            match report {
                Ok(report) => {
                    tracing::info!(file = %writer.path().display(), ?report, "lease file compacted")
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    })
    .await;
    match joined {
        Ok(Ok(())) => Ok(Reply::Ok),
        Ok(Err(e)) => Err(vec![RpcError::operation_failed(format!(
            "compaction failed: {e}"
        ))]),
        Err(e) => Err(vec![RpcError::operation_failed(format!(
            "compaction failed: {e}"
        ))]),
    }
}

fn filter4(q: &Query<Ipv4Addr>) -> LeaseFilter<Lease4> {
    let (subnet, address, hw, client) = (q.subnet_id, q.address, q.hw_address, q.client.clone());
    Arc::new(move |l: &Lease4| {
        subnet.is_none_or(|s| l.subnet_id == s)
            && address.is_none_or(|a| l.address == a)
            && hw.is_none_or(|h| l.hwaddr == h)
            && client
                .as_deref()
                .is_none_or(|c| l.client_id.as_deref() == Some(c))
    })
}

fn filter6(q: &Query<Ipv6Addr>) -> LeaseFilter<Lease6> {
    let (subnet, address, duid) = (q.subnet_id, q.address, q.client.clone());
    Arc::new(move |l: &Lease6| {
        subnet.is_none_or(|s| l.subnet_id == s)
            && address.is_none_or(|a| l.address == a)
            && duid.as_deref().is_none_or(|d| &*l.duid == d)
    })
}

/// The output: one `<lease>` per lease, and `<next>` when the page is full (more may follow).
fn render<L>(
    page: &[L],
    limit: u32,
    lease_xml: fn(&L, &mut String),
    address: fn(&L) -> String,
) -> String {
    let mut x = String::with_capacity(page.len() * 256 + 64);
    for lease in page {
        lease_xml(lease, &mut x);
    }
    if page.len() >= limit as usize {
        if let Some(last) = page.last() {
            let _ = write!(
                x,
                "<next xmlns=\"{}\">{}</next>",
                yang::paths::NAMESPACE,
                address(last)
            );
        }
    }
    x
}

fn state_name(state: LeaseState) -> &'static str {
    match state {
        LeaseState::Default => "default",
        LeaseState::Declined => "declined",
        LeaseState::ExpiredReclaimed => "expired-reclaimed",
    }
}

fn common_xml(
    x: &mut String,
    subnet_id: u32,
    valid_lifetime: u32,
    expire: u64,
    state: LeaseState,
    hostname: Option<&str>,
) {
    let _ = write!(
        x,
        "<subnet-id>{subnet_id}</subnet-id><valid-lifetime>{valid_lifetime}</valid-lifetime><expire>{}</expire><state>{}</state>",
        rfc3339(expire),
        state_name(state)
    );
    if let Some(h) = hostname.filter(|h| !h.is_empty()) {
        let _ = write!(x, "<hostname>{}</hostname>", escape_text(h));
    }
}

/// A DHCPv4 lease as a `lease` entry (grouping lease4-entry).
pub(crate) fn lease4_xml(l: &Lease4, x: &mut String) {
    let _ = write!(
        x,
        "<lease xmlns=\"{}\"><address>{}</address><hw-address>{}</hw-address>",
        yang::paths::NAMESPACE,
        l.address,
        l.hwaddr
    );
    if let Some(id) = &l.client_id {
        let _ = write!(x, "<client-id>{}</client-id>", hex_text::encode(id));
    }
    common_xml(
        x,
        l.subnet_id,
        l.valid_lifetime,
        l.expire,
        l.state,
        l.hostname(),
    );
    x.push_str("</lease>");
}

/// A DHCPv6 lease as a `lease` entry (grouping lease6-entry).
pub(crate) fn lease6_xml(l: &Lease6, x: &mut String) {
    let kind = match l.lease_type {
        LeaseType6::Na => "ia-na",
        LeaseType6::Ta => "ia-ta",
        LeaseType6::Pd => "ia-pd",
    };
    let _ = write!(
        x,
        "<lease xmlns=\"{}\"><type>{kind}</type><address>{}</address><prefix-length>{}</prefix-length><duid>{}</duid><iaid>{}</iaid><preferred-lifetime>{}</preferred-lifetime>",
        yang::paths::NAMESPACE,
        l.address,
        l.prefix_len,
        hex_text::encode(&l.duid),
        l.iaid,
        l.preferred_lifetime
    );
    common_xml(
        x,
        l.subnet_id,
        l.valid_lifetime,
        l.expire,
        l.state,
        l.hostname(),
    );
    x.push_str("</lease>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str, body: &str) -> Operation {
        Operation::Other {
            name: name.into(),
            namespace: yang::paths::NAMESPACE.into(),
            xml: format!(
                r#"<{name} xmlns="{}">{body}</{name}>"#,
                yang::paths::NAMESPACE
            ),
        }
    }

    #[test]
    fn listing_input_is_read_and_checked() {
        let parsed = parse(&op(
            "get-leases4",
            "<subnet-id>3</subnet-id><hw-address>02:00:00:00:00:0a</hw-address><after>100.64.0.9</after><limit>50</limit>",
        ))
        .unwrap()
        .unwrap();
        let LeaseRpc::List4(q) = parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(q.subnet_id, Some(3));
        assert_eq!(q.after, Some(Ipv4Addr::new(100, 64, 0, 9)));
        assert_eq!(q.limit, 50);
        assert!(q.hw_address.is_some());

        let bad = parse(&op("get-leases4", "<address>100.64.0.300</address>"))
            .unwrap()
            .unwrap_err();
        assert_eq!(bad.tag, netconf::error::ErrorTag::InvalidValue);
        let bad = parse(&op("get-leases4", "<limit>0</limit>"))
            .unwrap()
            .unwrap_err();
        assert_eq!(bad.tag, netconf::error::ErrorTag::InvalidValue);
        let bad = parse(&op("get-leases6", "<hw-address>02:00</hw-address>"))
            .unwrap()
            .unwrap_err();
        assert_eq!(bad.tag, netconf::error::ErrorTag::UnknownElement);
        let missing = parse(&op("delete-lease", "")).unwrap().unwrap_err();
        assert_eq!(missing.tag, netconf::error::ErrorTag::MissingElement);
        assert!(parse(&op("reboot", "")).is_none(), "not a lease RPC");
    }

    #[test]
    fn filters_keep_only_matching_leases() {
        let lease = |last: u8, subnet: u32| Lease4 {
            address: Ipv4Addr::new(100, 64, 0, last),
            hwaddr: HwAddr::from_bytes(&[2, 0, 0, 0, 0, last]).unwrap(),
            client_id: None,
            valid_lifetime: 3600,
            expire: 1_000_000,
            subnet_id: subnet,
            fqdn_fwd: false,
            fqdn_rev: false,
            hostname: None,
            state: LeaseState::Default,
            user_context: None,
        };
        let q = Query {
            subnet_id: Some(2),
            hw_address: Some(HwAddr::from_bytes(&[2, 0, 0, 0, 0, 7]).unwrap()),
            address: None,
            client: None,
            after: None,
            limit: 10,
        };
        let keep = filter4(&q);
        assert!(keep(&lease(7, 2)));
        assert!(!keep(&lease(7, 1)));
        assert!(!keep(&lease(8, 2)));
    }

    #[test]
    fn a_full_page_names_the_next_start_and_parses_against_the_model() {
        let l = Lease4 {
            address: Ipv4Addr::new(100, 64, 0, 5),
            hwaddr: HwAddr::from_bytes(&[2, 0, 0, 0, 0, 5]).unwrap(),
            client_id: Some(crate::lease::ClientId::new(&[1, 2, 0, 0, 0, 0, 5])),
            valid_lifetime: 3600,
            expire: 1_800_000_000,
            subnet_id: 1,
            fqdn_fwd: false,
            fqdn_rev: false,
            hostname: Some("a<b".into()),
            state: LeaseState::Default,
            user_context: None,
        };
        let full = render(std::slice::from_ref(&l), 1, lease4_xml, |l| {
            l.address.to_string()
        });
        assert!(full.contains("<next xmlns=") && full.contains(">100.64.0.5</next>"));
        assert!(full.contains("<client-id>01:02:00:00:00:00:05</client-id>"));
        assert!(full.contains("<hostname>a&lt;b</hostname>"));
        let last = render(std::slice::from_ref(&l), 2, lease4_xml, |l| {
            l.address.to_string()
        });
        assert!(!last.contains("<next"), "a short page is the last");
    }
}
