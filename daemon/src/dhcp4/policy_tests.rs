//! Policy decisions, transition by transition, on a real validated configuration.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::packet::tests::request as build;
use super::packet::{opt, MessageType, Packet};
use super::policy::{handle, Arrival, Decision, Destination, Silence};
use super::state::LeaseState4;
use crate::config::{Dhcp4Config, Ingress};
use crate::lease::{LeaseState, LeaseStore4};

const CONFIG: &str = r#"<server xmlns="urn:netdhcp:yang:netdhcp-server"><dhcpv4>
  <interface>eth0</interface>
  <valid-lifetime>4000</valid-lifetime><renew-timer>1000</renew-timer><rebind-timer>2000</rebind-timer>
  <decline-probation-period>600</decline-probation-period>
  <dns-server>100.64.0.1</dns-server>
  <subnet><id>1</id><prefix>100.64.0.0/24</prefix>
    <router>100.64.0.1</router>
    <pool><start>100.64.0.10</start><end>100.64.0.12</end></pool>
    <reservation><ip-address>100.64.0.50</ip-address><hw-address>02:00:00:00:00:50</hw-address><hostname>res</hostname></reservation>
    <option><code>42</code><format>ipv4-address-list</format><value>100.64.0.7</value></option>
  </subnet>
  <subnet><id>2</id><prefix>100.64.8.0/24</prefix><relay-address>100.70.0.1</relay-address>
    <pool><start>100.64.8.10</start><end>100.64.8.20</end></pool>
  </subnet>
</dhcpv4></server>"#;

const SERVER: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const NOW: u64 = 1_800_000_000;

struct World {
    config: Dhcp4Config,
    state: LeaseState4,
    addrs: Vec<Ipv4Net>,
}

impl World {
    fn new() -> Self {
        let ctx = yang::context().expect("context");
        let v = crate::northbound::validate_document(ctx, CONFIG)
            .map_err(|p| format!("{p:?}"))
            .expect("config");
        let config = v.runtime.dhcp4;
        let mut state = LeaseState4::new(LeaseStore4::new());
        state.reconfigure(&config, NOW);
        World {
            config,
            state,
            addrs: vec!["100.64.0.1/24".parse().expect("net")],
        }
    }

    fn send_at(&mut self, raw: &[u8], now: u64) -> Decision {
        let packet = Packet::parse(raw).expect("parse");
        let arrival = Arrival {
            ingress: Ingress {
                interface: "eth0",
                addresses: &self.addrs,
            },
            server_id: SERVER,
            now,
        };
        handle(&self.config, &mut self.state, &packet, &arrival)
    }

    fn send(&mut self, raw: &[u8]) -> Decision {
        self.send_at(raw, NOW)
    }

    /// DISCOVER then REQUEST; returns the ACKed address.
    fn dora(&mut self, mac: [u8; 6]) -> Ipv4Addr {
        let offer = reply(&self.send(&build(MessageType::Discover, mac, &[])));
        let yiaddr = offer.yiaddr();
        let ack = self.send(&build(
            MessageType::Request,
            mac,
            &[
                (opt::SERVER_ID, &SERVER.octets()),
                (opt::REQUESTED_IP, &yiaddr.octets()),
            ],
        ));
        assert_eq!(ack.writes.len(), 1);
        assert_eq!(reply(&ack).kind(), MessageType::Ack);
        yiaddr
    }
}

/// A decoded reply, read with the same borrowed parser (replies are BOOTREPLY, so the op check
/// is bypassed by flipping it).
struct Seen {
    bytes: Vec<u8>,
    destination: Destination,
}

impl Seen {
    fn packet(&self) -> Packet<'_> {
        Packet::parse(&self.bytes).expect("reply parses")
    }
    fn yiaddr(&self) -> Ipv4Addr {
        Ipv4Addr::new(
            self.bytes[16],
            self.bytes[17],
            self.bytes[18],
            self.bytes[19],
        )
    }
    fn kind(&self) -> MessageType {
        self.packet().message_type()
    }
    fn option(&self, code: u8) -> Option<Vec<u8>> {
        self.packet().option(code).map(|o| o.to_vec())
    }
}

fn reply(d: &Decision) -> Seen {
    let r = d.reply.as_ref().expect("a reply");
    let mut bytes = r.bytes.clone();
    bytes[0] = super::packet::OP_REQUEST;
    Seen {
        bytes,
        destination: r.destination,
    }
}

const A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
const B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];

#[test]
fn discover_offers_a_pool_address_with_options() {
    let mut w = World::new();
    let d = w.send(&build(
        MessageType::Discover,
        A,
        &[(opt::PARAMETER_REQUEST_LIST, &[1, 3, 6, 42])],
    ));
    assert!(d.writes.is_empty(), "an offer writes nothing");
    let r = reply(&d);
    assert_eq!(r.kind(), MessageType::Offer);
    assert!((10..=12).contains(&r.yiaddr().octets()[3]));
    assert_eq!(r.option(opt::SERVER_ID).unwrap(), SERVER.octets());
    assert_eq!(r.option(opt::LEASE_TIME).unwrap(), 4000u32.to_be_bytes());
    assert_eq!(r.option(opt::RENEWAL_TIME).unwrap(), 1000u32.to_be_bytes());
    assert_eq!(
        r.option(opt::REBINDING_TIME).unwrap(),
        2000u32.to_be_bytes()
    );
    assert_eq!(r.option(opt::SUBNET_MASK).unwrap(), [255, 255, 255, 0]);
    assert_eq!(r.option(3).unwrap(), [100, 64, 0, 1]);
    assert_eq!(r.option(6).unwrap(), [100, 64, 0, 1]);
    assert_eq!(r.option(42).unwrap(), [100, 64, 0, 7]);
    assert!(matches!(r.destination, Destination::ToHardware { ip, .. } if ip == r.yiaddr()));
}

#[test]
fn unrequested_options_are_not_sent() {
    let mut w = World::new();
    let r = reply(&w.send(&build(
        MessageType::Discover,
        A,
        &[(opt::PARAMETER_REQUEST_LIST, &[1, 3])],
    )));
    assert!(r.option(42).is_none());
    // Routers and DNS servers are sent always.
    assert!(r.option(6).is_some());
}

#[test]
fn request_acks_and_writes_the_lease() {
    let mut w = World::new();
    let addr = w.dora(A);
    let lease = w.state.store.get(addr).expect("lease stored");
    assert_eq!(lease.valid_lifetime, 4000);
    assert_eq!(lease.expire, NOW + 4000);
    assert_eq!(lease.subnet_id, 1);
    assert_eq!(lease.hwaddr.as_bytes(), &A);
    assert_eq!(lease.state, LeaseState::Default);
}

#[test]
fn same_client_gets_same_address_other_client_another() {
    let mut w = World::new();
    let a = w.dora(A);
    let again = reply(&w.send(&build(MessageType::Discover, A, &[])));
    assert_eq!(again.yiaddr(), a);
    let b = w.dora(B);
    assert_ne!(a, b);
}

#[test]
fn client_id_identifies_the_client_across_hardware_addresses() {
    let mut w = World::new();
    let cid: &[u8] = &[0xff, 1, 2, 3, 4];
    let offer = reply(&w.send(&build(MessageType::Discover, A, &[(opt::CLIENT_ID, cid)])));
    let addr = offer.yiaddr();
    let ack = w.send(&build(
        MessageType::Request,
        A,
        &[
            (opt::CLIENT_ID, cid),
            (opt::SERVER_ID, &SERVER.octets()),
            (opt::REQUESTED_IP, &addr.octets()),
        ],
    ));
    assert_eq!(reply(&ack).kind(), MessageType::Ack);
    // Same client-id on another NIC: same address.
    let offer = reply(&w.send(&build(MessageType::Discover, B, &[(opt::CLIENT_ID, cid)])));
    assert_eq!(offer.yiaddr(), addr);
}

#[test]
fn reservation_is_given_to_its_client_only() {
    let mut w = World::new();
    let reserved_mac = [2, 0, 0, 0, 0, 0x50];
    let r = reply(&w.send(&build(MessageType::Discover, reserved_mac, &[])));
    assert_eq!(r.yiaddr(), Ipv4Addr::new(100, 64, 0, 50));
    assert_eq!(r.option(opt::HOSTNAME).unwrap(), b"res");
    let nak = reply(&w.send(&build(
        MessageType::Request,
        A,
        &[
            (opt::SERVER_ID, &SERVER.octets()),
            (opt::REQUESTED_IP, &[100, 64, 0, 50]),
        ],
    )));
    assert_eq!(nak.kind(), MessageType::Nak);
    assert_eq!(nak.destination, Destination::Broadcast);
}

#[test]
fn pool_exhaustion_is_silent() {
    let mut w = World::new();
    for i in 0..3u8 {
        w.dora([2, 0, 0, 0, 1, i]);
    }
    let d = w.send(&build(MessageType::Discover, [2, 0, 0, 0, 2, 0], &[]));
    assert_eq!(d.reply.unwrap_err(), Silence::PoolExhausted);
}

#[test]
fn offers_expire_and_free_their_address() {
    let mut w = World::new();
    for i in 0..3u8 {
        reply(&w.send(&build(MessageType::Discover, [2, 0, 0, 0, 1, i], &[])));
    }
    assert_eq!(
        w.send(&build(MessageType::Discover, B, &[]))
            .reply
            .unwrap_err(),
        Silence::PoolExhausted
    );
    let later = NOW + u64::from(w.config.offer_lifetime) + 1;
    let r = reply(&w.send_at(&build(MessageType::Discover, B, &[]), later));
    assert_eq!(r.kind(), MessageType::Offer);
}

#[test]
fn init_reboot_on_the_wrong_network_is_naked() {
    let mut w = World::new();
    let nak = reply(&w.send(&build(
        MessageType::Request,
        A,
        &[(opt::REQUESTED_IP, &[100, 64, 9, 9])],
    )));
    assert_eq!(nak.kind(), MessageType::Nak);
}

#[test]
fn renewing_extends_the_lease() {
    let mut w = World::new();
    let addr = w.dora(A);
    let mut raw = build(MessageType::Request, A, &[]);
    raw[12..16].copy_from_slice(&addr.octets());
    let d = w.send_at(&raw, NOW + 1500);
    let r = reply(&d);
    assert_eq!(r.kind(), MessageType::Ack);
    assert_eq!(r.destination, Destination::Unicast(addr));
    assert_eq!(w.state.store.get(addr).unwrap().expire, NOW + 1500 + 4000);
}

#[test]
fn another_servers_offer_chosen_is_silent_and_frees_ours() {
    let mut w = World::new();
    let offer = reply(&w.send(&build(MessageType::Discover, A, &[])));
    let d = w.send(&build(
        MessageType::Request,
        A,
        &[
            (opt::SERVER_ID, &[100, 64, 0, 2]),
            (opt::REQUESTED_IP, &offer.yiaddr().octets()),
        ],
    ));
    assert_eq!(d.reply.unwrap_err(), Silence::OtherServerSelected);
    assert!(w.state.is_free(1, offer.yiaddr()));
}

#[test]
fn release_deletes_the_lease() {
    let mut w = World::new();
    let addr = w.dora(A);
    let mut raw = build(
        MessageType::Release,
        A,
        &[(opt::SERVER_ID, &SERVER.octets())],
    );
    raw[12..16].copy_from_slice(&addr.octets());
    let d = w.send(&raw);
    assert_eq!(d.writes.len(), 1);
    assert_eq!(d.writes[0].valid_lifetime, 0);
    assert!(w.state.store.get(addr).is_none());
    assert!(w.state.is_free(1, addr));
}

#[test]
fn declined_address_is_kept_out_for_the_probation_period() {
    let mut w = World::new();
    let addr = w.dora(A);
    let d = w.send(&build(
        MessageType::Decline,
        A,
        &[
            (opt::SERVER_ID, &SERVER.octets()),
            (opt::REQUESTED_IP, &addr.octets()),
        ],
    ));
    assert_eq!(d.writes[0].state, LeaseState::Declined);
    assert_eq!(d.writes[0].expire, NOW + 600);
    // Nobody gets it during probation, not even the same client.
    for i in 0..3u8 {
        let r = w.send(&build(MessageType::Discover, [2, 0, 0, 0, 3, i], &[]));
        if let Ok(r) = &r.reply {
            let mut b = r.bytes.clone();
            b[0] = 1;
            assert_ne!(Ipv4Addr::new(b[16], b[17], b[18], b[19]), addr);
        }
    }
    // After probation the reclaim pass frees it.
    let rows = w.state.reclaim(&w.config, NOW + 601, 100);
    assert!(rows
        .iter()
        .any(|l| l.address == addr && l.valid_lifetime == 0));
    assert!(w.state.is_free(1, addr));
}

#[test]
fn expired_lease_is_reclaimed_and_the_client_gets_it_back() {
    let mut w = World::new();
    let addr = w.dora(A);
    let later = NOW + 4001;
    let rows = w.state.reclaim(&w.config, later, 100);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, LeaseState::ExpiredReclaimed);
    let r = reply(&w.send_at(&build(MessageType::Discover, A, &[]), later));
    assert_eq!(r.yiaddr(), addr);
}

#[test]
fn relayed_discover_uses_relay_subnet_and_echoes_option_82() {
    let mut w = World::new();
    let mut raw = build(
        MessageType::Discover,
        A,
        &[(opt::RELAY_AGENT_INFO, &[1, 3, b'a', b'b', b'c'])],
    );
    raw[24..28].copy_from_slice(&[100, 70, 0, 1]);
    let r = reply(&w.send(&raw));
    assert_eq!(
        r.destination,
        Destination::Relay(Ipv4Addr::new(100, 70, 0, 1))
    );
    assert_eq!(r.yiaddr().octets()[..3], [100, 64, 8]);
    assert_eq!(
        r.option(opt::RELAY_AGENT_INFO).unwrap(),
        [1, 3, b'a', b'b', b'c']
    );
    // giaddr inside a subnet selects it too.
    let mut raw = build(MessageType::Discover, B, &[]);
    raw[24..28].copy_from_slice(&[100, 64, 0, 200]);
    assert_eq!(reply(&w.send(&raw)).yiaddr().octets()[..3], [100, 64, 0]);
}

#[test]
fn unknown_relay_is_silent() {
    let mut w = World::new();
    let mut raw = build(MessageType::Discover, A, &[]);
    raw[24..28].copy_from_slice(&[100, 99, 0, 1]);
    assert_eq!(w.send(&raw).reply.unwrap_err(), Silence::NoSubnet);
}

#[test]
fn inform_gets_options_without_a_lease() {
    let mut w = World::new();
    let mut raw = build(
        MessageType::Inform,
        A,
        &[(opt::PARAMETER_REQUEST_LIST, &[3, 42])],
    );
    raw[12..16].copy_from_slice(&[100, 64, 0, 77]);
    let d = w.send(&raw);
    assert!(d.writes.is_empty());
    let r = reply(&d);
    assert_eq!(r.kind(), MessageType::Ack);
    assert_eq!(r.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert!(r.option(opt::LEASE_TIME).is_none());
    assert_eq!(r.option(42).unwrap(), [100, 64, 0, 7]);
    assert_eq!(
        r.destination,
        Destination::Unicast(Ipv4Addr::new(100, 64, 0, 77))
    );
}

#[test]
fn broadcast_flag_is_honoured() {
    let mut w = World::new();
    let mut raw = build(MessageType::Discover, A, &[]);
    raw[10] = 0x80;
    assert_eq!(reply(&w.send(&raw)).destination, Destination::Broadcast);
}

#[test]
fn leases_loaded_at_start_block_their_addresses() {
    let mut w = World::new();
    let addr = w.dora(A);
    let store = std::mem::replace(&mut w.state, LeaseState4::new(LeaseStore4::new())).store;
    let mut state = LeaseState4::new(store);
    state.reconfigure(&w.config, NOW + 10);
    assert!(!state.is_free(1, addr));
}

#[test]
fn shrinking_a_pool_keeps_the_lease_but_refuses_its_renewal() {
    let mut w = World::new();
    let addr = w.dora(A);
    // The pool shrinks past the leased address.
    let ctx = yang::context().expect("context");
    let smaller = CONFIG.replace(
        "<pool><start>100.64.0.10</start><end>100.64.0.12</end></pool>",
        &format!(
            "<pool><start>100.64.0.{}</start><end>100.64.0.30</end></pool>",
            addr.octets()[3] + 1
        ),
    );
    let v = crate::northbound::validate_document(ctx, &smaller)
        .map_err(|p| format!("{p:?}"))
        .expect("config");
    w.config = v.runtime.dhcp4;
    w.state.reconfigure(&w.config, NOW + 10);
    // The lease is still there (nothing is deleted by a commit)...
    assert!(w.state.store.get(addr).is_some());
    // ...its renewal is refused, so the client moves to an address of the new pool...
    let mut raw = build(MessageType::Request, A, &[]);
    raw[12..16].copy_from_slice(&addr.octets());
    assert_eq!(reply(&w.send_at(&raw, NOW + 20)).kind(), MessageType::Nak);
    let offer = reply(&w.send_at(&build(MessageType::Discover, A, &[]), NOW + 20));
    assert_ne!(offer.yiaddr(), addr);
    assert!(w.state.in_pool(1, offer.yiaddr()));
    // ...and nobody else is offered the old address.
    for i in 0..5u8 {
        let r = reply(&w.send_at(
            &build(MessageType::Discover, [2, 0, 0, 0, 9, i], &[]),
            NOW + 20,
        ));
        assert_ne!(r.yiaddr(), addr);
    }
}

// ---------- failover: the partner's leases and a split pool ----------

/// A lease the partner granted takes its address out of our pool, so we never offer it; its
/// deletion gives it back; a sync keeps our newer lease.
#[test]
fn partner_leases_take_and_free_pool_addresses() {
    let mut w = World::new();
    let mac_a = [2, 0, 0, 0, 0, 0xa];
    let ours = w.dora(mac_a);
    let mut theirs = w.state.store.get(ours).cloned().expect("lease");
    theirs.address = Ipv4Addr::new(100, 64, 0, 11);
    theirs.hwaddr = crate::lease::HwAddr::from_bytes(&[2, 0, 0, 0, 0, 0xb]).expect("mac");
    let (written, conflict) = w
        .state
        .apply_partner_lease(&w.config, theirs.clone(), false, NOW)
        .expect("applied");
    assert_eq!(written.address, theirs.address);
    assert!(!conflict);
    assert!(!w.state.is_free(1, theirs.address));
    // The third client gets the one address left, not the partner's.
    let third = w.dora([2, 0, 0, 0, 0, 0xc]);
    assert_ne!(third, theirs.address);
    assert_ne!(third, ours);

    let mut older = theirs.clone();
    older.expire -= 100;
    assert!(
        w.state
            .apply_partner_lease(&w.config, older, true, NOW)
            .is_none(),
        "a sync keeps the newer lease"
    );
    let gone = w
        .state
        .delete_partner_lease(&w.config, theirs.address)
        .expect("deleted");
    assert_eq!(gone.valid_lifetime, 0, "a deletion row");
    assert!(w.state.is_free(1, theirs.address));
}

/// The partner's lease on an address we leased to another client is a conflict: it wins and
/// is reported.
#[test]
fn a_partner_lease_over_another_clients_lease_is_a_conflict() {
    let mut w = World::new();
    let ours = w.dora([2, 0, 0, 0, 0, 0xa]);
    let mut theirs = w.state.store.get(ours).cloned().expect("lease");
    theirs.hwaddr = crate::lease::HwAddr::from_bytes(&[2, 0, 0, 0, 0, 0xb]).expect("mac");
    let (_, conflict) = w
        .state
        .apply_partner_lease(&w.config, theirs, false, NOW)
        .expect("applied");
    assert!(conflict);
}

/// In a load-balancing split each server gives only its half of the pool.
#[test]
fn a_split_pool_gives_only_this_servers_half() {
    let mut w = World::new();
    w.state.set_address_split(Some(1));
    let got: Vec<Ipv4Addr> = (0..3u8)
        .filter_map(|i| {
            let d = w.send(&build(MessageType::Discover, [2, 0, 0, 0, 1, i], &[]));
            d.reply.ok().map(|r| {
                Seen {
                    bytes: r.bytes,
                    destination: r.destination,
                }
                .yiaddr()
            })
        })
        .collect();
    assert_eq!(
        got,
        vec![Ipv4Addr::new(100, 64, 0, 11)],
        "the pool 10..12 has one odd address"
    );
}

// ---------- commits: what a new configuration keeps ----------

fn reconfigured(w: &mut World, xml: &str, now: u64) {
    let ctx = yang::context().expect("context");
    let v = crate::northbound::validate_document(ctx, xml)
        .map_err(|p| format!("{p:?}"))
        .expect("config");
    w.config = v.runtime.dhcp4;
    w.state.reconfigure(&w.config, now);
}

/// A commit that leaves a subnet's prefix, pools and reservations alone keeps its offers and
/// free maps: the client's REQUEST after the commit gets the offered address, and the offered
/// address is not given to anyone else meanwhile.
#[test]
fn a_commit_changing_only_options_keeps_offers_and_taken_addresses() {
    let mut w = World::new();
    let leased = w.dora([2, 0, 0, 0, 1, 1]);
    let offer = reply(&w.send(&build(MessageType::Discover, A, &[])));
    let offered = offer.yiaddr();
    reconfigured(
        &mut w,
        &CONFIG.replace("<value>100.64.0.7</value>", "<value>100.64.0.8</value>"),
        NOW + 1,
    );
    assert_eq!(
        w.state.offer_of(
            &super::state::ClientKey::HwAddr(crate::lease::HwAddr::from_bytes(&A).expect("mac")),
            NOW + 1
        ),
        Some(offered)
    );
    assert!(!w.state.is_free(1, offered) && !w.state.is_free(1, leased));
    let other = reply(&w.send_at(
        &build(MessageType::Discover, [2, 0, 0, 0, 9, 9], &[]),
        NOW + 1,
    ));
    assert!(other.yiaddr() != offered && other.yiaddr() != leased);
    let mut req = build(
        MessageType::Request,
        A,
        &[
            (opt::REQUESTED_IP, &offered.octets()[..]),
            (opt::SERVER_ID, &SERVER.octets()[..]),
            (opt::PARAMETER_REQUEST_LIST, &[42][..]),
        ],
    );
    req[12..16].copy_from_slice(&[0; 4]);
    let ack = reply(&w.send_at(&req, NOW + 2));
    assert_eq!((ack.kind(), ack.yiaddr()), (MessageType::Ack, offered));
    assert_eq!(
        ack.option(42).expect("option 42"),
        [100, 64, 0, 8],
        "the new option value"
    );
}

/// A commit that changes one subnet's pools rebuilds that subnet's maps from its leases (by
/// looking each address up, or by one walk over the leases when the pools are larger than the
/// lease count) and drops only that subnet's offers.
#[test]
fn a_commit_changing_a_pool_rebuilds_only_that_subnet() {
    for wide in [false, true] {
        let mut w = World::new();
        let leased = w.dora([2, 0, 0, 0, 1, 1]);
        let relayed_offer = {
            let mut raw = build(MessageType::Discover, [2, 0, 0, 0, 2, 2], &[]);
            raw[24..28].copy_from_slice(&[100, 70, 0, 1]); // giaddr: subnet 2
            reply(&w.send(&raw)).yiaddr()
        };
        let offered1 = reply(&w.send(&build(MessageType::Discover, A, &[]))).yiaddr();
        let end = if wide { "100.64.0.250" } else { "100.64.0.13" };
        reconfigured(
            &mut w,
            &CONFIG.replace(
                "<pool><start>100.64.0.10</start><end>100.64.0.12</end></pool>",
                &format!("<pool><start>100.64.0.10</start><end>{end}</end></pool>"),
            ),
            NOW + 1,
        );
        assert!(
            !w.state.is_free(1, leased),
            "the lease still holds its address (wide {wide})"
        );
        assert!(
            w.state.is_free(1, offered1),
            "subnet 1's offer is dropped (wide {wide})"
        );
        assert!(
            !w.state.is_free(2, relayed_offer),
            "subnet 2 keeps its offer (wide {wide})"
        );
        assert!(w.state.in_pool(1, Ipv4Addr::new(100, 64, 0, 13)));
    }
}

/// Adding a pool to a subnet keeps the map and offers of its unchanged pool: the new pool's
/// addresses are looked up on their own, the leased and offered addresses of the old pool stay
/// taken, and the client's REQUEST still gets its offer.
#[test]
fn a_commit_adding_a_pool_keeps_the_unchanged_pools() {
    let mut w = World::new();
    let leased = w.dora([2, 0, 0, 0, 1, 1]);
    let offered = reply(&w.send(&build(MessageType::Discover, A, &[]))).yiaddr();
    // A lease inside the range of the pool to come, stored behind the maps' back: only a
    // lookup of the new pool's addresses can find it.
    let mut stray = w.state.store.get(leased).expect("lease").clone();
    stray.address = Ipv4Addr::new(100, 64, 0, 30);
    w.state.store.upsert(stray);
    reconfigured(
        &mut w,
        &CONFIG.replace(
            "<pool><start>100.64.0.10</start><end>100.64.0.12</end></pool>",
            "<pool><start>100.64.0.10</start><end>100.64.0.12</end></pool>\
             <pool><start>100.64.0.30</start><end>100.64.0.31</end></pool>",
        ),
        NOW + 1,
    );
    assert!(!w.state.is_free(1, leased) && !w.state.is_free(1, offered));
    assert!(
        !w.state.is_free(1, Ipv4Addr::new(100, 64, 0, 30)),
        "the new pool's leased address is taken"
    );
    assert!(w.state.is_free(1, Ipv4Addr::new(100, 64, 0, 31)));
    assert_eq!(
        w.state.offer_of(
            &super::state::ClientKey::HwAddr(crate::lease::HwAddr::from_bytes(&A).expect("mac")),
            NOW + 1
        ),
        Some(offered),
        "the offer in the kept pool stays"
    );
    let usage = w.state.pool_usage(1);
    assert_eq!(usage.len(), 2);
    assert_eq!(usage[0].2, 2, "pool 10..12: one lease, one offer");
    assert_eq!(usage[1].2, 1, "pool 30..31: one lease");
}

/// Reservations added to or removed from a kept pool change what it can give: a newly
/// reserved address is taken (and an offer of it to another client dropped), an address no
/// longer reserved and held by nobody becomes free.
#[test]
fn a_commit_changing_reservations_applies_them_to_the_kept_pool() {
    let mut w = World::new();
    let offered = reply(&w.send(&build(MessageType::Discover, A, &[]))).yiaddr();
    let with_pool_reservation = CONFIG.replace(
        "<reservation><ip-address>100.64.0.50</ip-address>",
        &format!(
            "<reservation><ip-address>{offered}</ip-address><hw-address>02:00:00:00:00:99</hw-address></reservation>\
             <reservation><ip-address>100.64.0.50</ip-address>"
        ),
    );
    reconfigured(&mut w, &with_pool_reservation, NOW + 1);
    let key = super::state::ClientKey::HwAddr(crate::lease::HwAddr::from_bytes(&A).expect("mac"));
    assert_eq!(
        w.state.offer_of(&key, NOW + 1),
        None,
        "the offer of a now reserved address is dropped"
    );
    assert!(
        !w.state.is_free(1, offered),
        "reserved addresses stay taken"
    );
    reconfigured(&mut w, CONFIG, NOW + 2);
    assert!(
        w.state.is_free(1, offered),
        "no longer reserved, held by no lease nor offer: free again"
    );
}

/// The engines' receive coalescing comes from the configuration: off unless set, in
/// microseconds, at most 10 ms (the model refuses more).
#[test]
fn receive_coalescing_is_read_from_the_configuration() {
    use std::time::Duration;
    let ctx = yang::context().expect("context");
    let read = |xml: &str| crate::northbound::validate_document(ctx, xml).map(|v| v.runtime);
    let runtime = read(CONFIG).map_err(|p| format!("{p:?}")).expect("config");
    assert_eq!(runtime.dhcp4.receive_coalescing, Duration::ZERO);
    let set = CONFIG.replace(
        "<interface>eth0</interface>",
        "<interface>eth0</interface><receive-coalescing>1500</receive-coalescing>",
    );
    let runtime = read(&set).map_err(|p| format!("{p:?}")).expect("config");
    assert_eq!(
        runtime.dhcp4.receive_coalescing,
        Duration::from_micros(1500)
    );
    let v6 = r#"<server xmlns="urn:netdhcp:yang:netdhcp-server"><dhcpv6>
      <interface>eth0</interface><receive-coalescing>700</receive-coalescing>
    </dhcpv6></server>"#;
    let runtime = read(v6).map_err(|p| format!("{p:?}")).expect("config");
    assert_eq!(runtime.dhcp6.receive_coalescing, Duration::from_micros(700));
    let too_long = CONFIG.replace(
        "<interface>eth0</interface>",
        "<interface>eth0</interface><receive-coalescing>10001</receive-coalescing>",
    );
    assert!(read(&too_long).is_err(), "more than 10 ms is refused");
}
