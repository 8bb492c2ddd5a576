//! DHCPv6 policy (RFC 8415 sections 16 and 18.3): a parsed message, the configuration snapshot
//! and the lease state in; a reply (or a reason for silence) and the lease rows to make durable
//! out. No sockets, no clocks, no files.

use std::net::{Ipv6Addr, SocketAddrV6};

use ipnet::Ipv6Net;

use crate::config::{Dhcp6Config, Ingress6, OptionSet6, Subnet6};
use crate::lease::record::LeaseState;
use crate::lease::record6::{Lease6, LeaseType6};
use crate::lease::store6::ClientIa;

use super::packet::{msg, opt, wrap_relays, Encoder, Ia, IaKind, Message, Packet, Status};
use super::state::{holds, lease_type, reserved, LeaseState6};

/// DHCPv6 server port.
pub const SERVER_PORT: u16 = 547;
/// DHCPv6 client port.
pub const CLIENT_PORT: u16 = 546;
/// Seconds an advertised address or prefix is held for the client.
pub const OFFER_LIFETIME: u64 = 60;

/// A reply ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply6 {
    /// The encoded message (RELAY-REPL layers included).
    pub bytes: Vec<u8>,
    /// Where it goes: the client's address and port 546, or the relay's and port 547.
    pub destination: SocketAddrV6,
    /// The innermost message type, for counters.
    pub kind: u8,
}

/// Why no reply is sent. Each reason has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Silence6 {
    /// DHCPv6 is disabled.
    Disabled,
    /// No configured subnet matches where the message came from.
    NoSubnet,
    /// A Client Identifier the message type requires is missing.
    NoClientId,
    /// A Server Identifier the message type requires is missing, or one it forbids is present.
    ServerIdRule,
    /// The message names another server (RFC 8415 section 16).
    OtherServer,
    /// An INFORMATION-REQUEST carrying IA options (RFC 8415 section 16.12).
    IaInInformationRequest,
    /// A CONFIRM without addresses (RFC 8415 section 18.3.3).
    NothingToConfirm,
}

/// The policy's answer.
#[derive(Debug)]
pub struct Decision6 {
    /// The reply, or why there is none.
    pub reply: Result<Reply6, Silence6>,
    /// Lease rows to make durable before the reply leaves.
    pub writes: Vec<Lease6>,
}

impl Decision6 {
    fn silent(why: Silence6) -> Self {
        Decision6 {
            reply: Err(why),
            writes: Vec::new(),
        }
    }
}

/// Everything about the message's arrival the policy needs.
#[derive(Debug, Clone, Copy)]
pub struct Arrival6<'a> {
    /// Interface and its addresses.
    pub ingress: Ingress6<'a>,
    /// Source of the datagram (client, or the relay that sent it to us).
    pub from: SocketAddrV6,
    /// The datagram was sent to a multicast address (ff02::1:2).
    pub multicast: bool,
    /// Our DUID (Server Identifier).
    pub server_duid: &'a [u8],
    /// Unix time, seconds.
    pub now: u64,
}

/// Handles one message.
pub fn handle(
    config: &Dhcp6Config,
    state: &mut LeaseState6,
    packet: &Packet<'_>,
    arrival: &Arrival6<'_>,
) -> Decision6 {
    if !config.enabled {
        return Decision6::silent(Silence6::Disabled);
    }
    state.expire_offers(config, arrival.now);
    let m = &packet.message;
    if let Err(why) = check_identifiers(m, arrival.server_duid) {
        return Decision6::silent(why);
    }
    let relay = packet
        .innermost_relay()
        .map(|r| (r.link_address, r.interface_id));
    let subnet = config.select_subnet(relay, arrival.ingress);
    let mut out = Out::new(packet, arrival);

    // RFC 8415 section 18.3: a message that must be multicast (we send no Server Unicast
    // option) but came by unicast is answered with UseMulticast and nothing else.
    let unicast = packet.relays.is_empty() && !arrival.multicast;
    if unicast
        && matches!(
            m.msg_type,
            msg::REQUEST | msg::RENEW | msg::RELEASE | msg::DECLINE
        )
    {
        let mut e = out.header(msg::REPLY);
        e.status(
            Status::UseMulticast,
            "use the All_DHCP_Relay_Agents_and_Servers address",
        );
        return out.finish(e, msg::REPLY);
    }

    if m.msg_type == msg::INFORMATION_REQUEST {
        if !m.ias.is_empty() {
            return Decision6::silent(Silence6::IaInInformationRequest);
        }
        let options = subnet.map_or(&config.options, |s| &s.options);
        let mut e = out.header(msg::REPLY);
        add_options(&mut e, options, &m.oro);
        return out.finish(e, msg::REPLY);
    }
    let Some(subnet) = subnet else {
        return Decision6::silent(Silence6::NoSubnet);
    };
    // Checked by check_identifiers for every type that reaches here.
    let Some(duid) = m.client_id else {
        return Decision6::silent(Silence6::NoClientId);
    };
    let options = subnet
        .reservation_for(duid)
        .map_or(&subnet.options, |r| &r.options);
    let mut ctx = Ctx {
        config,
        subnet,
        state,
        duid,
        now: arrival.now,
        writes: Vec::new(),
    };
    match m.msg_type {
        msg::SOLICIT => {
            let rapid = m.rapid_commit && subnet.rapid_commit;
            let kind = if rapid { msg::REPLY } else { msg::ADVERTISE };
            let mut e = out.header(kind);
            for ia in &m.ias {
                ctx.assign(&mut e, ia, rapid);
            }
            if rapid {
                e.option(opt::RAPID_COMMIT, &[]);
            }
            add_options(&mut e, options, &m.oro);
            out.writes = std::mem::take(&mut ctx.writes);
            out.finish(e, kind)
        }
        msg::REQUEST => {
            let mut e = out.header(msg::REPLY);
            for ia in &m.ias {
                ctx.assign(&mut e, ia, true);
            }
            add_options(&mut e, options, &m.oro);
            out.writes = std::mem::take(&mut ctx.writes);
            out.finish(e, msg::REPLY)
        }
        msg::RENEW | msg::REBIND => {
            let mut e = out.header(msg::REPLY);
            for ia in &m.ias {
                ctx.extend(&mut e, ia, m.msg_type == msg::REBIND);
            }
            add_options(&mut e, options, &m.oro);
            out.writes = std::mem::take(&mut ctx.writes);
            out.finish(e, msg::REPLY)
        }
        msg::RELEASE | msg::DECLINE => {
            let decline = m.msg_type == msg::DECLINE;
            let mut e = out.header(msg::REPLY);
            for ia in &m.ias {
                ctx.give_back(&mut e, ia, decline);
            }
            e.status(
                Status::Success,
                if decline {
                    "decline received"
                } else {
                    "release received"
                },
            );
            out.writes = std::mem::take(&mut ctx.writes);
            out.finish(e, msg::REPLY)
        }
        msg::CONFIRM => {
            let addrs: Vec<Ipv6Addr> = m
                .ias
                .iter()
                .filter(|ia| ia.kind != IaKind::Pd)
                .flat_map(|ia| ia.addrs.iter().map(|a| a.addr))
                .collect();
            if addrs.is_empty() {
                return Decision6::silent(Silence6::NothingToConfirm);
            }
            let mut e = out.header(msg::REPLY);
            if addrs.iter().all(|a| subnet.prefix.contains(a)) {
                e.status(Status::Success, "all addresses are on link");
            } else {
                e.status(Status::NotOnLink, "some addresses are not on link");
            }
            out.finish(e, msg::REPLY)
        }
        _ => Decision6::silent(Silence6::ServerIdRule),
    }
}

/// RFC 8415 section 16: which identifiers each message type must and must not carry.
fn check_identifiers(m: &Message<'_>, server_duid: &[u8]) -> Result<(), Silence6> {
    let ours = |id: Option<&[u8]>| id == Some(server_duid);
    match m.msg_type {
        msg::SOLICIT | msg::REBIND | msg::CONFIRM => {
            if m.client_id.is_none() {
                return Err(Silence6::NoClientId);
            }
            if m.server_id.is_some() {
                return Err(Silence6::ServerIdRule);
            }
        }
        msg::REQUEST | msg::RENEW | msg::RELEASE | msg::DECLINE => {
            if m.client_id.is_none() {
                return Err(Silence6::NoClientId);
            }
            if m.server_id.is_none() {
                return Err(Silence6::ServerIdRule);
            }
            if !ours(m.server_id) {
                return Err(Silence6::OtherServer);
            }
        }
        msg::INFORMATION_REQUEST => {
            if m.server_id.is_some() && !ours(m.server_id) {
                return Err(Silence6::OtherServer);
            }
        }
        _ => return Err(Silence6::ServerIdRule),
    }
    Ok(())
}

/// Sends the configured options: those always sent and those the ORO asks for.
fn add_options(e: &mut Encoder, options: &OptionSet6, oro: &[u16]) {
    for (code, value) in options.iter() {
        if value.always_send || oro.contains(&code) {
            e.option(code, &value.data);
        }
    }
}

/// The reply being built, and where it goes.
struct Out<'p, 'a> {
    packet: &'p Packet<'a>,
    arrival: &'p Arrival6<'p>,
    writes: Vec<Lease6>,
}

impl<'p, 'a> Out<'p, 'a> {
    fn new(packet: &'p Packet<'a>, arrival: &'p Arrival6<'p>) -> Self {
        Out {
            packet,
            arrival,
            writes: Vec::new(),
        }
    }

    fn header(&self, kind: u8) -> Encoder {
        let m = &self.packet.message;
        let mut e = Encoder::message(kind, m.transaction_id);
        e.option(opt::SERVERID, self.arrival.server_duid);
        if let Some(cid) = m.client_id {
            e.option(opt::CLIENTID, cid);
        }
        e
    }

    fn finish(self, e: Encoder, kind: u8) -> Decision6 {
        let relayed = !self.packet.relays.is_empty();
        let from = self.arrival.from;
        let port = if relayed { SERVER_PORT } else { CLIENT_PORT };
        Decision6 {
            reply: Ok(Reply6 {
                bytes: wrap_relays(e.finish(), &self.packet.relays),
                destination: SocketAddrV6::new(*from.ip(), port, 0, from.scope_id()),
                kind,
            }),
            writes: self.writes,
        }
    }
}

/// One message's work on the lease state.
struct Ctx<'c, 's> {
    config: &'c Dhcp6Config,
    subnet: &'c Subnet6,
    state: &'s mut LeaseState6,
    duid: &'c [u8],
    now: u64,
    writes: Vec<Lease6>,
}

fn ia_code(kind: IaKind) -> u16 {
    match kind {
        IaKind::Na => opt::IA_NA,
        IaKind::Ta => opt::IA_TA,
        IaKind::Pd => opt::IA_PD,
    }
}

fn ia_type(kind: IaKind) -> LeaseType6 {
    match kind {
        IaKind::Na => LeaseType6::Na,
        IaKind::Ta => LeaseType6::Ta,
        IaKind::Pd => LeaseType6::Pd,
    }
}

pub use crate::lease::record6::{hwaddr_of_duid, HWADDR_SOURCE_DUID};

/// What goes in one IA of the reply.
struct Grant {
    addr: Ipv6Addr,
    len: u8,
    preferred: u32,
    valid: u32,
}

impl Ctx<'_, '_> {
    fn client(&self, ia: &Ia) -> ClientIa {
        (self.duid.into(), ia.iaid, ia_type(ia.kind))
    }

    /// Whether the slot is usable by this client: nobody else leases it or is offered it.
    fn usable(&self, ia: &Ia, addr: Ipv6Addr, len: u8) -> bool {
        let key = (lease_type(len), addr);
        let me = self.client(ia);
        let leased_to_other = self.state.store.get(key).is_some_and(|l| {
            holds(l, self.now)
                && (l.duid.as_ref() != self.duid
                    || l.iaid != ia.iaid
                    || l.state == LeaseState::Declined)
        });
        let offered_to_other = self
            .state
            .offered_to(key, self.now)
            .is_some_and(|c| *c != me);
        !leased_to_other && !offered_to_other
    }

    /// The slot for an IA: reservation, current lease, held offer, hint, new allocation.
    fn choose(&mut self, ia: &Ia) -> Option<(Ipv6Addr, u8)> {
        let s = self.subnet;
        let pd = ia.kind == IaKind::Pd;
        let me = self.client(ia);
        if let Some(r) = s.reservation_for(self.duid) {
            let slot = if pd {
                r.prefix.map(|p| (p.network(), p.prefix_len()))
            } else {
                r.address.map(|a| (a, 128))
            };
            if let Some((a, l)) = slot {
                if self.usable(ia, a, l) {
                    return Some((a, l));
                }
            }
        }
        let kind = ia_type(ia.kind);
        let current = self
            .state
            .store
            .find_by_client(self.duid, ia.iaid, kind)
            .into_iter()
            .filter(|l| l.state != LeaseState::Declined)
            .map(|l| (l.address, l.prefix_len))
            .find(|(a, l)| {
                let served = if pd {
                    Ipv6Net::new(*a, *l).is_ok_and(|p| s.serves_prefix(p))
                } else {
                    s.serves_address(*a)
                };
                served && !reserved(s, *a, *l)
            });
        if let Some((a, l)) = current {
            if self.usable(ia, a, l) {
                self.state.take(s.id, a, l);
                return Some((a, l));
            }
        }
        // An offer held for this IA, if it is on this link (the client may have moved).
        let held = self
            .state
            .offers_of(&me, self.now)
            .into_iter()
            .find_map(|key| {
                if pd {
                    s.pd_pools
                        .iter()
                        .find(|p| p.prefix.contains(&key.1))
                        .map(|p| (key.1, p.delegated_len))
                } else {
                    s.serves_address(key.1).then_some((key.1, 128))
                }
            });
        if held.is_some() {
            return held;
        }
        // The client's hints: a free pool slot it asks for.
        if pd {
            for h in &ia.prefixes {
                if h.len != 0
                    && !h.prefix.is_unspecified()
                    && self.state.is_free(s.id, h.prefix, h.len)
                {
                    self.state.take(s.id, h.prefix, h.len);
                    return Some((h.prefix, h.len));
                }
            }
        } else {
            for h in &ia.addrs {
                if self.state.is_free(s.id, h.addr, 128) {
                    self.state.take(s.id, h.addr, 128);
                    return Some((h.addr, 128));
                }
            }
        }
        let len_hint = if pd {
            ia.prefixes.iter().map(|h| h.len).find(|l| *l != 0)
        } else {
            Some(128)
        };
        self.state.allocate(s.id, len_hint)
    }

    fn lease(&self, ia: &Ia, addr: Ipv6Addr, len: u8) -> Lease6 {
        let l = self.subnet.lifetimes;
        let hwaddr = hwaddr_of_duid(self.duid);
        Lease6 {
            address: addr,
            prefix_len: len,
            lease_type: ia_type(ia.kind),
            duid: self.duid.into(),
            iaid: ia.iaid,
            valid_lifetime: l.valid,
            preferred_lifetime: l.preferred,
            expire: self.now + u64::from(l.valid),
            subnet_id: self.subnet.id,
            ..Lease6::default()
        }
        .with_hwaddr(
            hwaddr.map(|(_, hw)| hw),
            hwaddr.map_or(1, |(t, _)| t),
            if hwaddr.is_some() {
                HWADDR_SOURCE_DUID
            } else {
                0
            },
        )
    }

    /// SOLICIT and REQUEST: gives the IA an address or prefix; `commit` makes it a lease
    /// (REQUEST, rapid commit), otherwise it is held as an offer.
    fn assign(&mut self, e: &mut Encoder, ia: &Ia, commit: bool) {
        if ia.kind == IaKind::Ta {
            // Temporary addresses are not served.
            self.write_ia(
                e,
                ia,
                &[],
                Some((Status::NoAddrsAvail, "temporary addresses are not served")),
            );
            return;
        }
        let Some((addr, len)) = self.choose(ia) else {
            let status = if ia.kind == IaKind::Pd {
                (Status::NoPrefixAvail, "no prefixes available")
            } else {
                (Status::NoAddrsAvail, "no addresses available")
            };
            self.write_ia(e, ia, &[], Some(status));
            return;
        };
        let key = (lease_type(len), addr);
        let l = self.subnet.lifetimes;
        if commit {
            self.state.forget_offer(key);
            self.state.take(self.subnet.id, addr, len);
            let lease = self.lease(ia, addr, len);
            self.state.store.upsert(lease.clone());
            self.writes.push(lease);
        } else if self
            .state
            .store
            .get(key)
            .is_none_or(|x| !holds(x, self.now))
        {
            let me = self.client(ia);
            self.state.hold_offer(key, me, self.now + OFFER_LIFETIME);
        }
        let grant = Grant {
            addr,
            len,
            preferred: l.preferred,
            valid: l.valid,
        };
        self.write_ia(e, ia, &[grant], None);
    }

    /// RENEW and REBIND: extends the IA's leases; addresses that are not the client's or no
    /// longer appropriate come back with zero lifetimes.
    fn extend(&mut self, e: &mut Encoder, ia: &Ia, rebind: bool) {
        if ia.kind == IaKind::Ta {
            self.write_ia(
                e,
                ia,
                &[],
                Some((Status::NoBinding, "temporary addresses are not served")),
            );
            return;
        }
        let s = self.subnet;
        let kind = ia_type(ia.kind);
        let bound: Vec<Lease6> = self
            .state
            .store
            .find_by_client(self.duid, ia.iaid, kind)
            .into_iter()
            .filter(|l| l.state != LeaseState::Declined)
            .cloned()
            .collect();
        let hinted: Vec<(Ipv6Addr, u8)> = if ia.kind == IaKind::Pd {
            ia.prefixes.iter().map(|p| (p.prefix, p.len)).collect()
        } else {
            ia.addrs.iter().map(|a| (a.addr, 128)).collect()
        };
        let appropriate = |a: Ipv6Addr, len: u8| {
            if len == 128 {
                s.serves_address(a)
            } else {
                Ipv6Net::new(a, len).is_ok_and(|p| s.serves_prefix(p))
            }
        };
        if bound.is_empty() {
            let off_link: Vec<Grant> = hinted
                .iter()
                .filter(|(a, l)| !appropriate(*a, *l))
                .map(|(a, l)| Grant {
                    addr: *a,
                    len: *l,
                    preferred: 0,
                    valid: 0,
                })
                .collect();
            if rebind && !off_link.is_empty() {
                self.write_ia(e, ia, &off_link, None);
            } else {
                self.write_ia(
                    e,
                    ia,
                    &off_link,
                    Some((Status::NoBinding, "no binding for this IA")),
                );
            }
            return;
        }
        let l = s.lifetimes;
        let mut grants = Vec::new();
        for lease in bound {
            if appropriate(lease.address, lease.prefix_len)
                && self.usable(ia, lease.address, lease.prefix_len)
            {
                self.state.take(s.id, lease.address, lease.prefix_len);
                let renewed = Lease6 {
                    valid_lifetime: l.valid,
                    preferred_lifetime: l.preferred,
                    expire: self.now + u64::from(l.valid),
                    subnet_id: s.id,
                    state: LeaseState::Default,
                    ..lease
                };
                grants.push(Grant {
                    addr: renewed.address,
                    len: renewed.prefix_len,
                    preferred: l.preferred,
                    valid: l.valid,
                });
                self.state.store.upsert(renewed.clone());
                self.writes.push(renewed);
            } else {
                grants.push(Grant {
                    addr: lease.address,
                    len: lease.prefix_len,
                    preferred: 0,
                    valid: 0,
                });
            }
        }
        for (a, len) in hinted {
            if !grants.iter().any(|g| g.addr == a && g.len == len) {
                grants.push(Grant {
                    addr: a,
                    len,
                    preferred: 0,
                    valid: 0,
                });
            }
        }
        self.write_ia(e, ia, &grants, None);
    }

    /// RELEASE and DECLINE: the client gives addresses back.
    fn give_back(&mut self, e: &mut Encoder, ia: &Ia, decline: bool) {
        let kind = ia_type(ia.kind);
        let listed: Vec<(Ipv6Addr, u8)> = if ia.kind == IaKind::Pd {
            ia.prefixes.iter().map(|p| (p.prefix, p.len)).collect()
        } else {
            ia.addrs.iter().map(|a| (a.addr, 128)).collect()
        };
        let mut any = false;
        for (addr, _) in listed {
            let key = (kind, addr);
            let Some(lease) = self.state.store.get(key) else {
                continue;
            };
            if lease.duid.as_ref() != self.duid
                || lease.iaid != ia.iaid
                || lease.state == LeaseState::Declined
            {
                continue;
            }
            any = true;
            let lease = lease.clone();
            if decline && kind != LeaseType6::Pd {
                // Kept out of use for the probation period, owned by nobody (Kea writes an
                // empty DUID for declined leases).
                let probation = self.config.decline_probation;
                let declined = Lease6 {
                    duid: Default::default(),
                    iaid: 0,
                    valid_lifetime: probation,
                    preferred_lifetime: 0,
                    expire: self.now + u64::from(probation),
                    state: LeaseState::Declined,
                    ..lease
                };
                self.state.store.upsert(declined.clone());
                self.writes.push(declined);
            } else {
                self.state.store.remove(key);
                self.state.release(
                    self.config,
                    lease.subnet_id,
                    lease.address,
                    lease.prefix_len,
                );
                self.writes.push(Lease6 {
                    valid_lifetime: 0,
                    expire: self.now,
                    ..lease
                });
            }
        }
        if !any {
            self.write_ia(
                e,
                ia,
                &[],
                Some((Status::NoBinding, "no binding for this IA")),
            );
        }
    }

    /// Writes one IA option: T1/T2 (zero when nothing is granted), its addresses or prefixes,
    /// and a status when given.
    fn write_ia(&self, e: &mut Encoder, ia: &Ia, grants: &[Grant], status: Option<(Status, &str)>) {
        let mark = e.begin(ia_code(ia.kind));
        e.raw(&ia.iaid.to_be_bytes());
        if ia.kind != IaKind::Ta {
            let l = self.subnet.lifetimes;
            let live = grants.iter().any(|g| g.valid > 0);
            let (t1, t2) = if live { (l.renew, l.rebind) } else { (0, 0) };
            e.raw(&t1.to_be_bytes());
            e.raw(&t2.to_be_bytes());
        }
        for g in grants {
            if ia.kind == IaKind::Pd {
                let m = e.begin(opt::IAPREFIX);
                e.raw(&g.preferred.to_be_bytes());
                e.raw(&g.valid.to_be_bytes());
                e.raw(&[g.len]);
                e.raw(&g.addr.octets());
                e.end(m);
            } else {
                let m = e.begin(opt::IAADDR);
                e.raw(&g.addr.octets());
                e.raw(&g.preferred.to_be_bytes());
                e.raw(&g.valid.to_be_bytes());
                e.end(m);
            }
        }
        if let Some((status, text)) = status {
            e.status(status, text);
        }
        e.end(mark);
    }
}
