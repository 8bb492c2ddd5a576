//! DHCPv4 policy (RFC 2131 section 4.3): a received request, the configuration snapshot and
//! the lease state in; a reply (or a reason for silence) and the lease rows to make durable
//! out. No sockets, no clocks, no files.

use std::net::Ipv4Addr;

use crate::config::{Dhcp4Config, Ingress, OptionSet4, Subnet4};
use crate::lease::{HwAddr, Lease4, LeaseState};

use super::packet::{opt, MessageType, Packet, ReplyWriter, FLAG_BROADCAST};
use super::state::{holds_address, ClientKey, LeaseState4};

/// Where a reply goes (RFC 2131 section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// To the relay agent, server port 67.
    Relay(Ipv4Addr),
    /// To the client's configured address, port 68.
    Unicast(Ipv4Addr),
    /// To a client that has no address yet: to `ip` at hardware address `hw` (port 68) when the
    /// socket layer can, else broadcast.
    ToHardware {
        /// The address being given.
        ip: Ipv4Addr,
        /// chaddr.
        hw: HwAddr,
    },
    /// 255.255.255.255, port 68.
    Broadcast,
}

/// A reply ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The encoded BOOTREPLY.
    pub bytes: Vec<u8>,
    /// Where it goes.
    pub destination: Destination,
    /// Its message type, for counters.
    pub kind: MessageType,
}

/// Why no reply is sent. Each reason has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Silence {
    /// No configured subnet matches where the packet came from.
    NoSubnet,
    /// Every pool address of the subnet is in use.
    PoolExhausted,
    /// The client chose another server's offer.
    OtherServerSelected,
    /// A message with no reply by design (RELEASE, DECLINE).
    NoReplyExpected,
    /// A request this non-authoritative server cannot grant.
    NotAuthoritative,
    /// A message type clients do not send (OFFER, ACK, NAK).
    NotAClientMessage,
    /// A message missing what its type requires (e.g. DECLINE without option 50).
    Incomplete,
    /// DHCPv4 is disabled.
    Disabled,
}

/// The policy's answer.
#[derive(Debug)]
pub struct Decision {
    /// The reply, or why there is none.
    pub reply: Result<Reply, Silence>,
    /// Lease rows to make durable before the reply leaves.
    pub writes: Vec<Lease4>,
}

impl Decision {
    fn silent(why: Silence) -> Self {
        Decision {
            reply: Err(why),
            writes: Vec::new(),
        }
    }
}

/// Everything about the packet's arrival the policy needs.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    /// Interface and its addresses.
    pub ingress: Ingress<'a>,
    /// The server identifier to use on this interface (configured or its first address).
    pub server_id: Ipv4Addr,
    /// Unix time, seconds.
    pub now: u64,
}

struct Client<'p> {
    key: ClientKey,
    client_id: Option<&'p [u8]>,
    hw: HwAddr,
}

impl Client<'_> {
    fn owns(&self, lease: &Lease4) -> bool {
        match (self.client_id, lease.client_id.as_deref()) {
            (Some(ours), Some(theirs)) => ours == theirs,
            _ => lease.hwaddr == self.hw,
        }
    }
}

/// Handles one request.
pub fn handle(
    config: &Dhcp4Config,
    state: &mut LeaseState4,
    packet: &Packet<'_>,
    arrival: &Arrival<'_>,
) -> Decision {
    if !config.enabled {
        return Decision::silent(Silence::Disabled);
    }
    state.expire_offers(config, arrival.now);
    let hw = HwAddr::from_bytes(packet.chaddr()).unwrap_or_default();
    let client_id = packet.client_id();
    let client = Client {
        key: match client_id {
            Some(id) => ClientKey::ClientId(id.into()),
            None => ClientKey::HwAddr(hw),
        },
        client_id,
        hw,
    };
    let Some(subnet) = config.select_subnet(packet.giaddr(), packet.ciaddr(), arrival.ingress)
    else {
        return Decision::silent(Silence::NoSubnet);
    };
    match packet.message_type() {
        MessageType::Discover => discover(config, state, packet, arrival, subnet, &client),
        MessageType::Request => request(config, state, packet, arrival, subnet, &client),
        MessageType::Decline => decline(config, state, packet, arrival, subnet, &client),
        MessageType::Release => release(config, state, packet, arrival, subnet, &client),
        MessageType::Inform => inform(packet, arrival, subnet, &client),
        MessageType::Offer | MessageType::Ack | MessageType::Nak => {
            Decision::silent(Silence::NotAClientMessage)
        }
    }
}

/// The address this client should get in `subnet`, without allocating: its reservation, its
/// lease, the address already offered to it, or the one it asks for if free.
fn preferred_address(
    state: &LeaseState4,
    subnet: &Subnet4,
    client: &Client<'_>,
    requested: Option<Ipv4Addr>,
    now: u64,
) -> Option<Ipv4Addr> {
    if let Some(r) = subnet.reservation_for(client.client_id, client.hw.as_bytes()) {
        return Some(r.address);
    }
    if let Some(lease) = client_lease(state, subnet, client) {
        let a = lease.address;
        // Its old address, if nobody else took it meanwhile and it is still ours to give.
        let still_ours = holds_address(lease, now) || state.is_free(subnet.id, a);
        if still_ours && state.in_pool(subnet.id, a) && subnet.reservation_at(a).is_none() {
            return Some(a);
        }
    }
    if let Some(a) = state.offer_of(&client.key, now) {
        return Some(a);
    }
    requested.filter(|a| state.is_free(subnet.id, *a))
}

fn client_lease<'s>(
    state: &'s LeaseState4,
    subnet: &Subnet4,
    client: &Client<'_>,
) -> Option<&'s Lease4> {
    let found = match client.client_id {
        Some(id) => state.store.find_by_client_id(subnet.id, id),
        None => state.store.find_by_hwaddr(subnet.id, &client.hw),
    };
    found.filter(|l| client.owns(l) && l.state != LeaseState::Declined)
}

fn discover(
    config: &Dhcp4Config,
    state: &mut LeaseState4,
    packet: &Packet<'_>,
    arrival: &Arrival<'_>,
    subnet: &Subnet4,
    client: &Client<'_>,
) -> Decision {
    let now = arrival.now;
    let addr = match preferred_address(state, subnet, client, packet.requested_ip(), now) {
        Some(a) => {
            state.take(subnet.id, a);
            a
        }
        None => match state.allocate(subnet.id) {
            Some(a) => a,
            None => return Decision::silent(Silence::PoolExhausted),
        },
    };
    state.hold_offer(
        addr,
        client.key.clone(),
        now + u64::from(config.offer_lifetime),
    );
    Decision {
        reply: Ok(grant_reply(
            packet,
            arrival,
            subnet,
            client,
            MessageType::Offer,
            addr,
        )),
        writes: Vec::new(),
    }
}

fn request(
    config: &Dhcp4Config,
    state: &mut LeaseState4,
    packet: &Packet<'_>,
    arrival: &Arrival<'_>,
    subnet: &Subnet4,
    client: &Client<'_>,
) -> Decision {
    let now = arrival.now;
    let ciaddr = packet.ciaddr();
    // RFC 2131 4.3.2: SELECTING carries a server id; INIT-REBOOT a requested address;
    // RENEWING and REBINDING only ciaddr.
    if let Some(sid) = packet.server_id() {
        if sid != arrival.server_id && Some(sid) != config.server_identifier {
            if let Some(a) = state.offer_of(&client.key, now) {
                state.drop_offer(config, subnet.id, a, now);
            }
            return Decision::silent(Silence::OtherServerSelected);
        }
    }
    let Some(addr) = packet
        .requested_ip()
        .or((!ciaddr.is_unspecified()).then_some(ciaddr))
    else {
        return nak_or_silence(
            config,
            packet,
            arrival,
            "no requested address and no ciaddr",
        );
    };
    if !subnet.prefix.contains(&addr) {
        return nak_or_silence(
            config,
            packet,
            arrival,
            "requested address is not on this network",
        );
    }
    let reserved = subnet.reservation_for(client.client_id, client.hw.as_bytes());
    if let Some(r) = reserved {
        if r.address != addr {
            return nak_or_silence(
                config,
                packet,
                arrival,
                "a different address is reserved for this client",
            );
        }
    } else if subnet.reservation_at(addr).is_some() {
        return nak_or_silence(
            config,
            packet,
            arrival,
            "address is reserved for another client",
        );
    }
    if let Some(other) = state.offered_to(addr, now) {
        if *other != client.key {
            return nak_or_silence(
                config,
                packet,
                arrival,
                "address is offered to another client",
            );
        }
    }
    if let Some(lease) = state.store.get(addr) {
        if holds_address(lease, now) && !client.owns(lease) {
            return nak_or_silence(
                config,
                packet,
                arrival,
                "address is leased to another client",
            );
        }
        if lease.state == LeaseState::Declined && holds_address(lease, now) {
            return nak_or_silence(
                config,
                packet,
                arrival,
                "address was declined and is on probation",
            );
        }
    }
    let ours = reserved.is_some()
        || state.offered_to(addr, now).is_some()
        || state
            .store
            .get(addr)
            .is_some_and(|l| client.owns(l) && holds_address(l, now));
    if !ours && !state.is_free(subnet.id, addr) {
        return nak_or_silence(config, packet, arrival, "address is not available");
    }
    if reserved.is_none() && !state.in_pool(subnet.id, addr) {
        return nak_or_silence(
            config,
            packet,
            arrival,
            "address is not in a pool of this subnet",
        );
    }
    // Grant.
    state.drop_offer(config, subnet.id, addr, now);
    state.take(subnet.id, addr);
    // An earlier lease of this client on another address is superseded.
    let mut writes = Vec::with_capacity(2);
    if let Some(old) = client_lease(state, subnet, client) {
        if old.address != addr {
            let old_addr = old.address;
            let mut gone = old.clone();
            gone.valid_lifetime = 0;
            state.store.remove(old_addr);
            state.release(config, subnet.id, old_addr);
            writes.push(gone);
        }
    }
    let valid = subnet.lifetimes.valid;
    let hostname = reserved
        .and_then(|r| r.hostname.clone())
        .or_else(|| {
            packet
                .hostname()
                .and_then(|h| std::str::from_utf8(h).ok())
                .map(sanitize_hostname)
        })
        .filter(|h| !h.is_empty());
    let lease = Lease4 {
        address: addr,
        hwaddr: client.hw,
        client_id: client.client_id.map(Into::into),
        valid_lifetime: valid,
        expire: now + u64::from(valid),
        subnet_id: subnet.id,
        fqdn_fwd: false,
        fqdn_rev: false,
        hostname: hostname.map(Into::into),
        state: LeaseState::Default,
        user_context: None,
    };
    state.store.upsert(lease.clone());
    writes.push(lease);
    Decision {
        reply: Ok(grant_reply(
            packet,
            arrival,
            subnet,
            client,
            MessageType::Ack,
            addr,
        )),
        writes,
    }
}

// Host names end up in the CSV file and in logs: keep them to what DNS allows.
fn sanitize_hostname(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(253)
        .collect()
}

fn decline(
    config: &Dhcp4Config,
    state: &mut LeaseState4,
    packet: &Packet<'_>,
    arrival: &Arrival<'_>,
    subnet: &Subnet4,
    client: &Client<'_>,
) -> Decision {
    let Some(addr) = packet.requested_ip() else {
        return Decision::silent(Silence::Incomplete);
    };
    let Some(lease) = state
        .store
        .get(addr)
        .filter(|l| client.owns(l) && l.state == LeaseState::Default)
    else {
        return Decision::silent(Silence::NoReplyExpected);
    };
    // RFC 2131 4.3.3: the address is in use elsewhere on the link; keep it out of use for the
    // probation period and forget the client.
    let probation = config.decline_probation;
    let declined = Lease4 {
        hwaddr: HwAddr::default(),
        client_id: None,
        hostname: None,
        valid_lifetime: probation.max(1),
        expire: arrival.now + u64::from(probation),
        state: LeaseState::Declined,
        ..lease.clone()
    };
    state.store.upsert(declined.clone());
    state.take(subnet.id, addr);
    Decision {
        reply: Err(Silence::NoReplyExpected),
        writes: vec![declined],
    }
}

fn release(
    config: &Dhcp4Config,
    state: &mut LeaseState4,
    packet: &Packet<'_>,
    _arrival: &Arrival<'_>,
    subnet: &Subnet4,
    client: &Client<'_>,
) -> Decision {
    let addr = packet.ciaddr();
    let Some(lease) = state
        .store
        .get(addr)
        .filter(|l| client.owns(l) && l.state == LeaseState::Default)
    else {
        return Decision::silent(Silence::NoReplyExpected);
    };
    let mut gone = lease.clone();
    gone.valid_lifetime = 0;
    state.store.remove(addr);
    state.release(config, subnet.id, addr);
    Decision {
        reply: Err(Silence::NoReplyExpected),
        writes: vec![gone],
    }
}

fn inform(
    packet: &Packet<'_>,
    arrival: &Arrival<'_>,
    subnet: &Subnet4,
    client: &Client<'_>,
) -> Decision {
    // RFC 2131 4.3.5: options only, no lease, no lease time.
    let options = options_for(subnet, client);
    let mut w = ReplyWriter::new(packet, MessageType::Ack, Ipv4Addr::UNSPECIFIED);
    w.option(opt::SERVER_ID, &arrival.server_id.octets());
    w.option(opt::SUBNET_MASK, &subnet.mask().octets());
    write_options(&mut w, packet, options);
    echo_relay_info(&mut w, packet);
    let destination = if !packet.giaddr().is_unspecified() {
        Destination::Relay(packet.giaddr())
    } else if !packet.ciaddr().is_unspecified() {
        Destination::Unicast(packet.ciaddr())
    } else {
        Destination::Broadcast
    };
    Decision {
        reply: Ok(Reply {
            bytes: w.finish(),
            destination,
            kind: MessageType::Ack,
        }),
        writes: Vec::new(),
    }
}

fn options_for<'c>(subnet: &'c Subnet4, client: &Client<'_>) -> &'c OptionSet4 {
    subnet
        .reservation_for(client.client_id, client.hw.as_bytes())
        .map(|r| &r.options)
        .unwrap_or(&subnet.options)
}

fn grant_reply(
    packet: &Packet<'_>,
    arrival: &Arrival<'_>,
    subnet: &Subnet4,
    client: &Client<'_>,
    kind: MessageType,
    addr: Ipv4Addr,
) -> Reply {
    let l = subnet.lifetimes;
    let mut w = ReplyWriter::new(packet, kind, addr);
    w.option(opt::SERVER_ID, &arrival.server_id.octets());
    w.option(opt::LEASE_TIME, &l.valid.to_be_bytes());
    w.option(opt::RENEWAL_TIME, &l.renew.to_be_bytes());
    w.option(opt::REBINDING_TIME, &l.rebind.to_be_bytes());
    w.option(opt::SUBNET_MASK, &subnet.mask().octets());
    write_options(&mut w, packet, options_for(subnet, client));
    echo_relay_info(&mut w, packet);
    Reply {
        bytes: w.finish(),
        destination: destination(packet, addr, client.hw),
        kind,
    }
}

/// Configured options the client gets: those it asks for in option 55 (in its order), then
/// those marked always-send; all within its maximum message size.
fn write_options(w: &mut ReplyWriter, packet: &Packet<'_>, options: &OptionSet4) {
    // Room for END and option 82, which is echoed after these.
    let limit = packet.max_message_size().saturating_sub(
        28 + 1
            + packet
                .option(opt::RELAY_AGENT_INFO)
                .map_or(0, |o| o.len() + 2),
    );
    let prl = packet.parameter_request_list();
    let add = |w: &mut ReplyWriter, code: u8, data: &[u8]| {
        let size = data.len() + 2 * data.len().div_ceil(255).max(1);
        if w.len() + size <= limit {
            w.option(code, data);
        }
    };
    for code in prl {
        if let Some(v) = options.get(*code) {
            add(w, *code, &v.data);
        }
    }
    for (code, v) in options.iter() {
        if v.always_send && !prl.contains(&code) {
            add(w, code, &v.data);
        }
    }
}

/// RFC 3046 2.2: the relay agent information option is echoed unchanged, last.
fn echo_relay_info(w: &mut ReplyWriter, packet: &Packet<'_>) {
    if !packet.giaddr().is_unspecified() {
        if let Some(info) = packet.option(opt::RELAY_AGENT_INFO) {
            w.option(opt::RELAY_AGENT_INFO, info);
        }
    }
}

fn destination(packet: &Packet<'_>, yiaddr: Ipv4Addr, hw: HwAddr) -> Destination {
    if !packet.giaddr().is_unspecified() {
        Destination::Relay(packet.giaddr())
    } else if !packet.ciaddr().is_unspecified() {
        Destination::Unicast(packet.ciaddr())
    } else if packet.flags() & FLAG_BROADCAST != 0 {
        Destination::Broadcast
    } else {
        Destination::ToHardware { ip: yiaddr, hw }
    }
}

fn nak_or_silence(
    config: &Dhcp4Config,
    packet: &Packet<'_>,
    arrival: &Arrival<'_>,
    why: &str,
) -> Decision {
    if !config.authoritative {
        return Decision::silent(Silence::NotAuthoritative);
    }
    tracing::trace!(reason = why, "NAK");
    let mut w = ReplyWriter::new(packet, MessageType::Nak, Ipv4Addr::UNSPECIFIED);
    w.option(opt::SERVER_ID, &arrival.server_id.octets());
    w.option(opt::MESSAGE, why.as_bytes());
    echo_relay_info(&mut w, packet);
    // RFC 2131 4.3.2: a NAK not relayed is broadcast, since the client's address is wrong.
    let destination = if packet.giaddr().is_unspecified() {
        Destination::Broadcast
    } else {
        Destination::Relay(packet.giaddr())
    };
    Decision {
        reply: Ok(Reply {
            bytes: w.finish(),
            destination,
            kind: MessageType::Nak,
        }),
        writes: Vec::new(),
    }
}
