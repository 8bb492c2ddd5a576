//! Policy tests: messages built with the encoder, replies read back option by option.

use std::net::{Ipv6Addr, SocketAddrV6};

use crate::config::v6_test_support::{config, reserve, subnet};
use crate::config::{Dhcp6Config, Ingress6, PdPool, Pool6, Subnet6};
use crate::lease::record::LeaseState;
use crate::lease::record6::LeaseType6;
use crate::lease::store6::{ClientIa, LeaseStore6};
use crate::lease::Lease6;

use super::packet::{msg, opt, options, parse_ia, Encoder, Ia, IaKind, Packet, Status};
use super::policy::{handle, Arrival6, Decision6, Silence6, CLIENT_PORT, SERVER_PORT};
use super::state::LeaseState6;

const SERVER_DUID: &[u8] = &[0, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
const DUID_A: &[u8] = &[0, 3, 0, 1, 2, 0, 0, 0, 0, 0xa];
const DUID_B: &[u8] = &[0, 3, 0, 1, 2, 0, 0, 0, 0, 0xb];
const NOW: u64 = 1_800_000_000;

fn a(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

fn setup() -> (Dhcp6Config, LeaseState6) {
    let c = config(subnets());
    let mut st = LeaseState6::new(LeaseStore6::new());
    st.reconfigure(&c, NOW);
    (c, st)
}

/// Subnet 1 (direct: three addresses, four /48s, a reservation for DUID_B) and subnet 2
/// (relayed, rapid commit).
fn subnets() -> Vec<Subnet6> {
    let mut s = subnet(
        1,
        "2001:db8:1::/64",
        &[("2001:db8:1::100", "2001:db8:1::102")],
        &[("2001:db8:100::/46", 48)],
    );
    reserve(
        &mut s,
        DUID_B,
        Some("2001:db8:1::50"),
        Some("2001:db8:200::/56"),
    );
    s.options.set(99, b"custom".to_vec(), false);
    let mut relayed = subnet(
        2,
        "2001:db8:2::/64",
        &[("2001:db8:2::100", "2001:db8:2::1ff")],
        &[],
    );
    relayed
        .interface_ids
        .push(b"port-7".to_vec().into_boxed_slice());
    relayed.rapid_commit = true;
    vec![s, relayed]
}

struct Msg {
    e: Encoder,
}

impl Msg {
    fn new(kind: u8, duid: Option<&[u8]>, server: bool) -> Self {
        let mut e = Encoder::message(kind, [0xab, 0xcd, 0xef]);
        if let Some(d) = duid {
            e.option(opt::CLIENTID, d);
        }
        if server {
            e.option(opt::SERVERID, SERVER_DUID);
        }
        e.option(opt::ELAPSED_TIME, &[0, 0]);
        Msg { e }
    }

    fn na(mut self, iaid: u32, addrs: &[&str]) -> Self {
        let m = self.e.begin(opt::IA_NA);
        self.e.raw(&iaid.to_be_bytes());
        self.e.raw(&[0; 8]);
        for x in addrs {
            let s = self.e.begin(opt::IAADDR);
            self.e.raw(&a(x).octets());
            self.e.raw(&[0; 8]);
            self.e.end(s);
        }
        self.e.end(m);
        self
    }

    fn pd(mut self, iaid: u32, prefixes: &[(&str, u8)]) -> Self {
        let m = self.e.begin(opt::IA_PD);
        self.e.raw(&iaid.to_be_bytes());
        self.e.raw(&[0; 8]);
        for (p, l) in prefixes {
            let s = self.e.begin(opt::IAPREFIX);
            self.e.raw(&[0; 8]);
            self.e.raw(&[*l]);
            self.e.raw(&a(p).octets());
            self.e.end(s);
        }
        self.e.end(m);
        self
    }

    fn opt(mut self, code: u16, data: &[u8]) -> Self {
        self.e.option(code, data);
        self
    }

    fn bytes(self) -> Vec<u8> {
        self.e.finish()
    }
}

fn arrival(multicast: bool) -> Arrival6<'static> {
    Arrival6 {
        ingress: Ingress6 {
            interface: "eth0",
            addresses: &[],
        },
        from: SocketAddrV6::new(a("fe80::2"), CLIENT_PORT, 0, 3),
        multicast,
        server_duid: SERVER_DUID,
        now: NOW,
    }
}

/// Subnet 1 is chosen by the interface's address.
fn run(c: &Dhcp6Config, st: &mut LeaseState6, bytes: &[u8]) -> Decision6 {
    run_at(c, st, bytes, true, NOW)
}

fn run_at(
    c: &Dhcp6Config,
    st: &mut LeaseState6,
    bytes: &[u8],
    multicast: bool,
    now: u64,
) -> Decision6 {
    let addrs = ["2001:db8:1::1/64".parse().expect("net")];
    let p = Packet::parse(bytes).expect("test message parses");
    let mut arr = arrival(multicast);
    arr.ingress.addresses = &addrs;
    arr.now = now;
    handle(c, st, &p, &arr)
}

/// A reply read back.
#[derive(Debug)]
struct Parsed {
    kind: u8,
    txid: [u8; 3],
    opts: Vec<(u16, Vec<u8>)>,
}

impl Parsed {
    fn of(d: &Decision6) -> Parsed {
        let r = d.reply.as_ref().expect("a reply");
        Parsed::from_bytes(&r.bytes)
    }

    fn from_bytes(b: &[u8]) -> Parsed {
        let opts = options(&b[4..])
            .map(|o| o.map(|(c, d)| (c, d.to_vec())).expect("well-formed reply"))
            .collect();
        Parsed {
            kind: b[0],
            txid: [b[1], b[2], b[3]],
            opts,
        }
    }

    fn get(&self, code: u16) -> Option<&[u8]> {
        self.opts
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, d)| d.as_slice())
    }

    fn status(&self) -> Option<u16> {
        self.get(opt::STATUS_CODE)
            .map(|d| u16::from_be_bytes([d[0], d[1]]))
    }

    fn ias(&self) -> Vec<(Ia, Option<u16>)> {
        self.opts
            .iter()
            .filter(|(c, _)| matches!(*c, opt::IA_NA | opt::IA_PD))
            .map(|(c, d)| {
                let ia = parse_ia(*c, d).expect("ia");
                let status = options(&d[12..])
                    .filter_map(Result::ok)
                    .find(|(c, _)| *c == opt::STATUS_CODE)
                    .map(|(_, s)| u16::from_be_bytes([s[0], s[1]]));
                (ia, status)
            })
            .collect()
    }
}

#[test]
fn solicit_gets_an_advertise_and_request_commits_it() {
    let (c, mut st) = setup();
    let d = run(
        &c,
        &mut st,
        &Msg::new(msg::SOLICIT, Some(DUID_A), false)
            .na(1, &[])
            .bytes(),
    );
    assert!(d.writes.is_empty(), "an ADVERTISE writes no lease");
    let r = Parsed::of(&d);
    assert_eq!(r.kind, msg::ADVERTISE);
    assert_eq!(r.txid, [0xab, 0xcd, 0xef]);
    assert_eq!(r.get(opt::SERVERID), Some(SERVER_DUID));
    assert_eq!(r.get(opt::CLIENTID), Some(DUID_A));
    let ias = r.ias();
    assert_eq!(ias.len(), 1);
    let offered = ias[0].0.addrs[0].addr;
    assert_eq!(offered, a("2001:db8:1::100"));
    assert_eq!((ias[0].0.t1, ias[0].0.t2), (1000, 2000));
    assert_eq!(
        (ias[0].0.addrs[0].preferred, ias[0].0.addrs[0].valid),
        (3000, 4000)
    );
    assert_eq!(
        d.reply.as_ref().expect("reply").destination,
        SocketAddrV6::new(a("fe80::2"), CLIENT_PORT, 0, 3)
    );
    // The advertised address is held: another client gets the next one.
    let other = run(
        &c,
        &mut st,
        &Msg::new(msg::SOLICIT, Some(&[0, 3, 9]), false)
            .na(1, &[])
            .bytes(),
    );
    assert_eq!(
        Parsed::of(&other).ias()[0].0.addrs[0].addr,
        a("2001:db8:1::101")
    );

    let d = run(
        &c,
        &mut st,
        &Msg::new(msg::REQUEST, Some(DUID_A), true)
            .na(1, &[])
            .bytes(),
    );
    let r = Parsed::of(&d);
    assert_eq!(r.kind, msg::REPLY);
    assert_eq!(r.ias()[0].0.addrs[0].addr, offered);
    assert_eq!(d.writes.len(), 1);
    let l = &d.writes[0];
    assert_eq!(
        (l.address, l.prefix_len, l.lease_type, l.iaid),
        (offered, 128, LeaseType6::Na, 1)
    );
    assert_eq!(l.duid.as_ref(), DUID_A);
    assert_eq!(l.expire, NOW + 4000);
    // DUID-LL: the hardware address is recorded as Kea does, source "DUID".
    assert_eq!(l.hwaddr(), Some(&DUID_A[4..]));
    assert_eq!((l.hwtype(), l.hwaddr_source()), (1, 2));
    assert!(st.store.get((LeaseType6::Na, offered)).is_some());
}

#[test]
fn several_ias_and_prefix_delegation_in_one_request() {
    let (c, mut st) = setup();
    let bytes = Msg::new(msg::REQUEST, Some(DUID_A), true)
        .na(1, &[])
        .na(2, &[])
        .pd(3, &[("::", 48)])
        .bytes();
    let d = run(&c, &mut st, &bytes);
    let ias = Parsed::of(&d).ias();
    assert_eq!(ias.len(), 3);
    assert_ne!(ias[0].0.addrs[0].addr, ias[1].0.addrs[0].addr);
    assert_eq!(ias[2].0.kind, IaKind::Pd);
    assert_eq!(ias[2].0.prefixes[0].prefix, a("2001:db8:100::"));
    assert_eq!(ias[2].0.prefixes[0].len, 48);
    assert_eq!(d.writes.len(), 3);
    assert_eq!(d.writes[2].lease_type, LeaseType6::Pd);
    assert_eq!(d.writes[2].prefix_len, 48);
    // The same request again gets the same bindings (IAID kept per client).
    let again = run(&c, &mut st, &bytes);
    let ias2 = Parsed::of(&again).ias();
    for (x, y) in ias.iter().zip(&ias2) {
        assert_eq!(x.0.addrs, y.0.addrs);
        assert_eq!(x.0.prefixes, y.0.prefixes);
    }
}

#[test]
fn exhausted_pools_give_per_ia_status_codes() {
    let (c, mut st) = setup();
    for i in 0..3u8 {
        let d = run(
            &c,
            &mut st,
            &Msg::new(msg::REQUEST, Some(&[0, 3, i]), true)
                .na(1, &[])
                .bytes(),
        );
        assert_eq!(d.writes.len(), 1);
    }
    let d = run(
        &c,
        &mut st,
        &Msg::new(msg::SOLICIT, Some(DUID_A), false)
            .na(1, &[])
            .pd(2, &[])
            .bytes(),
    );
    let ias = Parsed::of(&d).ias();
    assert_eq!(ias[0].1, Some(Status::NoAddrsAvail as u16));
    assert!(ias[0].0.addrs.is_empty());
    assert_eq!(ias[1].1, None, "prefixes remain");
    // Use up the /48s of the /46 (one is held for DUID_A's advertised IA_PD).
    for i in 0..3u8 {
        let d = run(
            &c,
            &mut st,
            &Msg::new(msg::REQUEST, Some(&[0, 4, i]), true)
                .pd(1, &[])
                .bytes(),
        );
        assert_eq!(d.writes.len(), 1);
    }
    let d = run(
        &c,
        &mut st,
        &Msg::new(msg::SOLICIT, Some(&[0, 5, 5]), false)
            .pd(2, &[])
            .bytes(),
    );
    assert_eq!(
        Parsed::of(&d).ias()[0].1,
        Some(Status::NoPrefixAvail as u16)
    );
}

#[test]
fn renew_extends_and_unknown_ias_get_no_binding() {
    let (c, mut st) = setup();
    let d = run(
        &c,
        &mut st,
        &Msg::new(msg::REQUEST, Some(DUID_A), true)
            .na(1, &[])
            .bytes(),
    );
    let addr = d.writes[0].address;
    let later = NOW + 500;
    let renew = Msg::new(msg::RENEW, Some(DUID_A), true)
        .na(1, &["2001:db8:1::100"])
        .na(9, &[])
        .bytes();
    let d = run_at(&c, &mut st, &renew, true, later);
    let ias = Parsed::of(&d).ias();
    assert_eq!(ias[0].0.addrs[0].addr, addr);
    assert_eq!(ias[0].0.addrs[0].valid, 4000);
    assert_eq!(d.writes[0].expire, later + 4000);
    assert_eq!(ias[1].1, Some(Status::NoBinding as u16));
    // REBIND of an off-link address without binding: zero lifetimes, no status.
    let rebind = Msg::new(msg::REBIND, Some(DUID_B), false)
        .na(4, &["2001:db8:9::1"])
        .bytes();
    let ias = Parsed::of(&run(&c, &mut st, &rebind)).ias();
    assert_eq!(ias[0].0.addrs[0].valid, 0);
    assert_eq!(ias[0].1, None);
    // REBIND of an on-link address without binding: NoBinding.
    let rebind = Msg::new(msg::REBIND, Some(DUID_B), false)
        .na(4, &["2001:db8:1::101"])
        .bytes();
    assert_eq!(
        Parsed::of(&run(&c, &mut st, &rebind)).ias()[0].1,
        Some(Status::NoBinding as u16)
    );
    // REBIND of the bound address extends it.
    let rebind = Msg::new(msg::REBIND, Some(DUID_A), false)
        .na(1, &["2001:db8:1::100"])
        .bytes();
    let d = run(&c, &mut st, &rebind);
    assert_eq!(Parsed::of(&d).ias()[0].0.addrs[0].valid, 4000);
    assert_eq!(d.writes.len(), 1);
}

#[test]
fn release_frees_and_decline_quarantines() {
    let (c, mut st) = setup();
    let d = run(
        &c,
        &mut st,
        &Msg::new(msg::REQUEST, Some(DUID_A), true)
            .na(1, &[])
            .na(2, &[])
            .bytes(),
    );
    let (a1, a2) = (d.writes[0].address, d.writes[1].address);
    let rel = Msg::new(msg::RELEASE, Some(DUID_A), true)
        .na(1, &[&a1.to_string()])
        .na(5, &["2001:db8:1::102"])
        .bytes();
    let d = run(&c, &mut st, &rel);
    let r = Parsed::of(&d);
    assert_eq!(r.status(), Some(Status::Success as u16));
    assert_eq!(r.ias().len(), 1, "only the IA without binding is listed");
    assert_eq!(r.ias()[0].1, Some(Status::NoBinding as u16));
    assert_eq!(
        d.writes[0].valid_lifetime, 0,
        "a release writes a deletion row"
    );
    assert!(st.store.get((LeaseType6::Na, a1)).is_none());
    let dec = Msg::new(msg::DECLINE, Some(DUID_A), true)
        .na(2, &[&a2.to_string()])
        .bytes();
    let d = run(&c, &mut st, &dec);
    assert_eq!(Parsed::of(&d).status(), Some(Status::Success as u16));
    assert_eq!(d.writes[0].state, LeaseState::Declined);
    assert_eq!(d.writes[0].expire, NOW + c.decline_probation as u64);
    // The declined address is not given again; the released one is.
    let d = run(
        &c,
        &mut st,
        &Msg::new(msg::REQUEST, Some(&[0, 3, 7]), true)
            .na(1, &[])
            .na(2, &[])
            .bytes(),
    );
    let got: Vec<Ipv6Addr> = d.writes.iter().map(|l| l.address).collect();
    assert!(got.contains(&a1));
    assert!(!got.contains(&a2));
}

#[test]
fn confirm_says_whether_addresses_are_on_link() {
    let (c, mut st) = setup();
    let on = Msg::new(msg::CONFIRM, Some(DUID_A), false)
        .na(1, &["2001:db8:1::77"])
        .bytes();
    assert_eq!(
        Parsed::of(&run(&c, &mut st, &on)).status(),
        Some(Status::Success as u16)
    );
    let off = Msg::new(msg::CONFIRM, Some(DUID_A), false)
        .na(1, &["2001:db8:1::77", "2001:db8:5::1"])
        .bytes();
    assert_eq!(
        Parsed::of(&run(&c, &mut st, &off)).status(),
        Some(Status::NotOnLink as u16)
    );
    let empty = Msg::new(msg::CONFIRM, Some(DUID_A), false)
        .na(1, &[])
        .bytes();
    assert_eq!(
        run(&c, &mut st, &empty).reply.err(),
        Some(Silence6::NothingToConfirm)
    );
}

#[test]
fn information_request_honours_the_oro() {
    let (c, mut st) = setup();
    let plain = Msg::new(msg::INFORMATION_REQUEST, Some(DUID_A), false).bytes();
    let r = Parsed::of(&run(&c, &mut st, &plain));
    assert_eq!(r.kind, msg::REPLY);
    assert!(
        r.get(opt::DNS_SERVERS).is_some(),
        "DNS servers are always sent"
    );
    assert!(r.get(99).is_none(), "not asked for");
    let asking = Msg::new(msg::INFORMATION_REQUEST, None, false)
        .opt(opt::ORO, &[0, 99])
        .bytes();
    let r = Parsed::of(&run(&c, &mut st, &asking));
    assert_eq!(r.get(99), Some(&b"custom"[..]));
    let with_ia = Msg::new(msg::INFORMATION_REQUEST, Some(DUID_A), false)
        .na(1, &[])
        .bytes();
    assert_eq!(
        run(&c, &mut st, &with_ia).reply.err(),
        Some(Silence6::IaInInformationRequest)
    );
}

#[test]
fn identifiers_are_checked() {
    let (c, mut st) = setup();
    let no_cid = Msg::new(msg::SOLICIT, None, false).na(1, &[]).bytes();
    assert_eq!(
        run(&c, &mut st, &no_cid).reply.err(),
        Some(Silence6::NoClientId)
    );
    let with_sid = Msg::new(msg::SOLICIT, Some(DUID_A), true).bytes();
    assert_eq!(
        run(&c, &mut st, &with_sid).reply.err(),
        Some(Silence6::ServerIdRule)
    );
    let mut e = Encoder::message(msg::REQUEST, [0; 3]);
    e.option(opt::CLIENTID, DUID_A);
    e.option(opt::SERVERID, &[0, 3, 0, 1, 9, 9, 9, 9, 9, 9]);
    assert_eq!(
        run(&c, &mut st, &e.finish()).reply.err(),
        Some(Silence6::OtherServer)
    );
    let no_sid = Msg::new(msg::RENEW, Some(DUID_A), false).na(1, &[]).bytes();
    assert_eq!(
        run(&c, &mut st, &no_sid).reply.err(),
        Some(Silence6::ServerIdRule)
    );
}

#[test]
fn unicast_requests_get_use_multicast() {
    let (c, mut st) = setup();
    let req = Msg::new(msg::REQUEST, Some(DUID_A), true)
        .na(1, &[])
        .bytes();
    let d = run_at(&c, &mut st, &req, false, NOW);
    assert!(d.writes.is_empty());
    let r = Parsed::of(&d);
    assert_eq!(r.status(), Some(Status::UseMulticast as u16));
    assert!(r.ias().is_empty());
}

#[test]
fn rapid_commit_only_where_enabled() {
    let (c, mut st) = setup();
    let solicit = Msg::new(msg::SOLICIT, Some(DUID_A), false)
        .na(1, &[])
        .opt(opt::RAPID_COMMIT, &[])
        .bytes();
    let d = run(&c, &mut st, &solicit);
    assert_eq!(
        Parsed::of(&d).kind,
        msg::ADVERTISE,
        "subnet 1 has rapid commit off"
    );
    assert!(d.writes.is_empty());
    // Subnet 2 (rapid commit on) through a relay that names it by interface-id.
    let relayed = relay(
        &relay(&solicit, "2001:db8:9::1", Some(b"port-7")),
        "::",
        None,
    );
    let p = Packet::parse(&relayed).expect("parses");
    let mut arr = arrival(false);
    arr.from = SocketAddrV6::new(a("2001:db8:ffff::1"), SERVER_PORT, 0, 0);
    let d = handle(&c, &mut st, &p, &arr);
    let reply = d.reply.as_ref().expect("reply");
    assert_eq!(
        reply.destination,
        SocketAddrV6::new(a("2001:db8:ffff::1"), SERVER_PORT, 0, 0)
    );
    assert_eq!(reply.kind, msg::REPLY);
    assert_eq!(d.writes.len(), 1);
    assert_eq!(d.writes[0].subnet_id, 2);
    // Outer RELAY-REPL, inner RELAY-REPL with the interface-id echoed, then the REPLY.
    assert_eq!(reply.bytes[0], msg::RELAY_REPL);
    let inner_bytes = options(&reply.bytes[34..])
        .filter_map(Result::ok)
        .find(|(c, _)| *c == opt::RELAY_MSG)
        .map(|(_, d)| d.to_vec())
        .expect("relay-msg");
    assert_eq!(inner_bytes[0], msg::RELAY_REPL);
    let inner_opts: Vec<(u16, Vec<u8>)> = options(&inner_bytes[34..])
        .filter_map(Result::ok)
        .map(|(c, d)| (c, d.to_vec()))
        .collect();
    assert!(inner_opts
        .iter()
        .any(|(c, d)| *c == opt::INTERFACE_ID && d == b"port-7"));
    let msg_bytes = &inner_opts
        .iter()
        .find(|(c, _)| *c == opt::RELAY_MSG)
        .expect("inner msg")
        .1;
    let r = Parsed::from_bytes(msg_bytes);
    assert_eq!(r.kind, msg::REPLY);
    assert!(r.get(opt::RAPID_COMMIT).is_some());
    assert_eq!(r.ias()[0].0.addrs[0].addr, a("2001:db8:2::100"));
}

fn relay(inner: &[u8], link: &str, interface_id: Option<&[u8]>) -> Vec<u8> {
    let mut e = Encoder::default();
    e.raw(&[msg::RELAY_FORW, 0]);
    e.raw(&a(link).octets());
    e.raw(&a("fe80::99").octets());
    if let Some(id) = interface_id {
        e.option(opt::INTERFACE_ID, id);
    }
    e.option(opt::RELAY_MSG, inner);
    e.finish()
}

#[test]
fn relays_select_by_link_address_and_unknown_links_are_ignored() {
    let (c, mut st) = setup();
    let solicit = Msg::new(msg::SOLICIT, Some(DUID_A), false)
        .na(1, &[])
        .bytes();
    let p_bytes = relay(&solicit, "2001:db8:2::1", None);
    let p = Packet::parse(&p_bytes).expect("parses");
    let d = handle(&c, &mut st, &p, &arrival(false));
    let reply = d.reply.expect("reply");
    assert_eq!(reply.bytes[0], msg::RELAY_REPL);
    let unknown = relay(&solicit, "2001:db8:77::1", None);
    let p = Packet::parse(&unknown).expect("parses");
    assert_eq!(
        handle(&c, &mut st, &p, &arrival(false)).reply.err(),
        Some(Silence6::NoSubnet)
    );
}

#[test]
fn reservations_by_duid_give_address_and_prefix() {
    let (c, mut st) = setup();
    let d = run(
        &c,
        &mut st,
        &Msg::new(msg::REQUEST, Some(DUID_B), true)
            .na(1, &[])
            .pd(2, &[])
            .bytes(),
    );
    let ias = Parsed::of(&d).ias();
    assert_eq!(ias[0].0.addrs[0].addr, a("2001:db8:1::50"));
    assert_eq!(ias[1].0.prefixes[0].prefix, a("2001:db8:200::"));
    assert_eq!(ias[1].0.prefixes[0].len, 56);
    // Another client asking for the reserved address does not get it.
    let d = run(
        &c,
        &mut st,
        &Msg::new(msg::REQUEST, Some(DUID_A), true)
            .na(1, &["2001:db8:1::50"])
            .bytes(),
    );
    assert_ne!(Parsed::of(&d).ias()[0].0.addrs[0].addr, a("2001:db8:1::50"));
}

#[test]
fn reclaim_expires_leases_and_frees_their_slots() {
    let (c, mut st) = setup();
    for i in 0..3u8 {
        run(
            &c,
            &mut st,
            &Msg::new(msg::REQUEST, Some(&[0, 3, i]), true)
                .na(1, &[])
                .bytes(),
        );
    }
    let rows = st.reclaim(&c, NOW + 5000, 100);
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|l| l.state == LeaseState::ExpiredReclaimed));
    let d = run_at(
        &c,
        &mut st,
        &Msg::new(msg::REQUEST, Some(DUID_A), true)
            .na(1, &[])
            .bytes(),
        true,
        NOW + 5001,
    );
    assert_eq!(d.writes.len(), 1);
}

// ---------- failover: the partner's leases ----------

/// A lease the partner granted takes its slot out of our pool; its deletion gives it back; a
/// sync keeps our newer lease.
#[test]
fn partner_leases_take_and_free_pool_slots() {
    let (c, mut st) = setup();
    let theirs = crate::lease::Lease6 {
        address: a("2001:db8:1::101"),
        prefix_len: 128,
        lease_type: LeaseType6::Na,
        duid: DUID_A.into(),
        iaid: 1,
        valid_lifetime: 4000,
        preferred_lifetime: 3000,
        expire: NOW + 4000,
        subnet_id: 1,
        state: LeaseState::Default,
        ..Default::default()
    };
    assert!(st.is_free(1, theirs.address, 128));
    st.apply_partner_lease(&c, theirs.clone(), false, NOW)
        .expect("applied");
    assert!(!st.is_free(1, theirs.address, 128));
    let mut older = theirs.clone();
    older.expire -= 10;
    assert!(st.apply_partner_lease(&c, older, true, NOW).is_none());
    let gone = st.delete_partner_lease(&c, theirs.key()).expect("deleted");
    assert_eq!(gone.valid_lifetime, 0);
    assert!(st.is_free(1, theirs.address, 128));
}

// ---------- commits: what a new configuration keeps ----------

fn na_of(duid: &[u8], iaid: u32) -> ClientIa {
    (duid.into(), iaid, LeaseType6::Na)
}

fn pd_of(duid: &[u8], iaid: u32) -> ClientIa {
    (duid.into(), iaid, LeaseType6::Pd)
}

/// A lease of `addr`/`len` held until well after the tests' clock.
fn held_lease(duid: &[u8], addr: &str, len: u8, subnet_id: u32) -> Lease6 {
    Lease6 {
        address: a(addr),
        prefix_len: len,
        lease_type: if len == 128 {
            LeaseType6::Na
        } else {
            LeaseType6::Pd
        },
        duid: duid.into(),
        iaid: 1,
        valid_lifetime: 4000,
        preferred_lifetime: 3000,
        expire: NOW + 4000,
        subnet_id,
        state: LeaseState::Default,
        ..Default::default()
    }
}

/// The IAs a SOLICIT or REQUEST at `now` got: (addresses, prefixes).
fn granted(
    c: &Dhcp6Config,
    st: &mut LeaseState6,
    kind: u8,
    duid: &[u8],
    now: u64,
) -> (Vec<Ipv6Addr>, Vec<(Ipv6Addr, u8)>) {
    let d = run_at(
        c,
        st,
        &Msg::new(kind, Some(duid), kind != msg::SOLICIT)
            .na(1, &[])
            .pd(2, &[])
            .bytes(),
        true,
        now,
    );
    let ias = Parsed::of(&d).ias();
    (
        ias.iter()
            .flat_map(|(ia, _)| ia.addrs.iter().map(|x| x.addr))
            .collect(),
        ias.iter()
            .flat_map(|(ia, _)| ia.prefixes.iter().map(|x| (x.prefix, x.len)))
            .collect(),
    )
}

/// A SOLICIT relayed to subnet 2; returns the address advertised.
fn relayed_offer(c: &Dhcp6Config, st: &mut LeaseState6, duid: &[u8], now: u64) -> Ipv6Addr {
    let solicit = Msg::new(msg::SOLICIT, Some(duid), false).na(1, &[]).bytes();
    let bytes = relay(&solicit, "2001:db8:2::1", None);
    let p = Packet::parse(&bytes).expect("parses");
    let mut arr = arrival(false);
    arr.now = now;
    let d = handle(c, st, &p, &arr);
    let reply = d.reply.expect("a relayed reply").bytes;
    assert_eq!(reply[0], msg::RELAY_REPL);
    // msg-type, hop-count, link-address, peer-address, then options.
    let inner = options(&reply[34..])
        .filter_map(Result::ok)
        .find(|(code, _)| *code == opt::RELAY_MSG)
        .map(|(_, data)| data.to_vec())
        .expect("a Relay Message option");
    let r = Parsed::from_bytes(&inner);
    assert_eq!(r.kind, msg::ADVERTISE);
    r.ias()[0].0.addrs[0].addr
}

/// A commit that leaves a subnet's prefix, pools and reservations alone keeps its allocators
/// and offers: the advertised address and prefix are the client's at its REQUEST after the
/// commit, nobody else gets them or a leased slot meanwhile, and the REPLY carries the new
/// option value.
#[test]
fn a_commit_changing_only_options_keeps_offers_and_taken_slots() {
    let (c, mut st) = setup();
    let (leased, _) = granted(&c, &mut st, msg::REQUEST, &[0, 3, 1], NOW);
    assert_eq!(leased, [a("2001:db8:1::100")]);
    let (offered, offered_pd) = granted(&c, &mut st, msg::SOLICIT, DUID_A, NOW);
    assert_eq!(offered, [a("2001:db8:1::101")]);
    assert_eq!(offered_pd, [(a("2001:db8:101::"), 48)]);

    let mut changed = subnets();
    changed[0].options.set(99, b"changed".to_vec(), false);
    let c2 = config(changed);
    st.reconfigure(&c2, NOW + 1);

    assert_eq!(
        st.offers_of(&na_of(DUID_A, 1), NOW + 1),
        [(LeaseType6::Na, offered[0])]
    );
    assert_eq!(
        st.offers_of(&pd_of(DUID_A, 2), NOW + 1),
        [(LeaseType6::Pd, offered_pd[0].0)]
    );
    let (other, other_pd) = granted(&c2, &mut st, msg::SOLICIT, &[0, 3, 9], NOW + 1);
    assert_eq!(other, [a("2001:db8:1::102")], "neither leased nor offered");
    assert_eq!(other_pd, [(a("2001:db8:102::"), 48)]);

    let d = run_at(
        &c2,
        &mut st,
        &Msg::new(msg::REQUEST, Some(DUID_A), true)
            .na(1, &[])
            .pd(2, &[])
            .opt(opt::ORO, &[0, 99])
            .bytes(),
        true,
        NOW + 2,
    );
    let r = Parsed::of(&d);
    let ias = r.ias();
    assert_eq!(ias[0].0.addrs[0].addr, offered[0]);
    assert_eq!(
        (ias[1].0.prefixes[0].prefix, ias[1].0.prefixes[0].len),
        offered_pd[0]
    );
    assert_eq!(r.get(99), Some(&b"changed"[..]), "the new option value");
}

/// A kept subnet's allocators are not rebuilt from the store: a lease that reached the store
/// without going through the state (which never happens in service) stays unseen by the
/// subnet kept, and is seen by the same subnet once its pools change.
#[test]
fn a_kept_subnet_is_not_rebuilt_from_the_leases() {
    let (_, mut st) = setup();
    st.store
        .upsert(held_lease(&[0, 3, 1], "2001:db8:2::100", 128, 2));
    let mut changed = subnets();
    changed[0].options.set(99, b"changed".to_vec(), false);
    st.reconfigure(&config(changed.clone()), NOW + 1);
    assert!(st.is_free(2, a("2001:db8:2::100"), 128));

    changed[1].pools[0].end = a("2001:db8:2::2ff");
    st.reconfigure(&config(changed), NOW + 2);
    assert!(!st.is_free(2, a("2001:db8:2::100"), 128));
}

/// A commit that changes a subnet's address pool and adds a prefix pool builds those two
/// allocators from the reservations and leases, by looking each slot up (`wide` false: the
/// new pools have fewer slots than the store has leases) or by one walk over the leases
/// (`wide` true: a 2^64-address pool and a 2^24-prefix pool); leased slots stay taken, the
/// changed pool's offer is dropped, the unchanged prefix pool keeps its allocator and offer,
/// the other subnet's offer stays.
#[test]
fn a_pool_change_rebuilds_the_subnet_and_its_leases_stay_taken() {
    for wide in [false, true] {
        let mut store = LeaseStore6::new();
        // Leases elsewhere, so the narrow pools are small next to the store.
        for i in 0..40u8 {
            store.upsert(held_lease(
                &[0, 7, i],
                &format!("2001:db8:2::1{i:02x}"),
                128,
                2,
            ));
        }
        let c = config(subnets());
        let mut st = LeaseState6::new(store);
        st.reconfigure(&c, NOW);
        let (leased, leased_pd) = granted(&c, &mut st, msg::REQUEST, &[0, 3, 1], NOW);
        assert_eq!(leased, [a("2001:db8:1::100")]);
        assert_eq!(leased_pd, [(a("2001:db8:100::"), 48)]);
        let (second, second_pd) = granted(&c, &mut st, msg::REQUEST, &[0, 3, 2], NOW);
        assert_eq!(second, [a("2001:db8:1::101")]);
        assert_eq!(second_pd, [(a("2001:db8:101::"), 48)]);
        let (offered, offered_pd) = granted(&c, &mut st, msg::SOLICIT, DUID_A, NOW);
        assert_eq!(offered, [a("2001:db8:1::102")]);
        let relayed = relayed_offer(&c, &mut st, DUID_B, NOW);
        // Recorded under another subnet id (a migrated file): matched by address.
        st.store
            .upsert(held_lease(&[0, 3, 3], "2001:db8:1::103", 128, 77));

        let mut changed = subnets();
        changed[0].pools = vec![Pool6 {
            start: a("2001:db8:1::100"),
            end: a(if wide {
                "2001:db8:1::ffff:ffff:ffff:ffff"
            } else {
                "2001:db8:1::105"
            }),
        }];
        changed[0].pd_pools.push(PdPool {
            prefix: if wide {
                "2001:db8:300::/40".parse().expect("net")
            } else {
                "2001:db8:300::/52".parse().expect("net")
            },
            delegated_len: if wide { 64 } else { 56 },
        });
        let c2 = config(changed);
        st.reconfigure(&c2, NOW + 1);

        for x in ["2001:db8:1::100", "2001:db8:1::101", "2001:db8:1::103"] {
            assert!(!st.is_free(1, a(x), 128), "{x} stays leased (wide {wide})");
        }
        assert!(!st.is_free(1, leased_pd[0].0, 48), "wide {wide}");
        assert!(!st.is_free(1, second_pd[0].0, 48), "wide {wide}");
        assert!(st.offers_of(&na_of(DUID_A, 1), NOW + 1).is_empty());
        assert_eq!(
            st.offers_of(&pd_of(DUID_A, 2), NOW + 1),
            [(LeaseType6::Pd, offered_pd[0].0)],
            "the unchanged prefix pool keeps its offer (wide {wide})"
        );
        assert!(
            st.is_free(1, offered[0], 128),
            "the changed pool's offer is dropped (wide {wide})"
        );
        assert!(!st.is_free(1, offered_pd[0].0, 48), "wide {wide}");
        assert_eq!(
            st.offered_to((LeaseType6::Na, relayed), NOW + 1),
            Some(&na_of(DUID_B, 1)),
            "subnet 2 keeps its offer (wide {wide})"
        );
        assert!(!st.is_free(2, relayed, 128));

        let expected = ["2001:db8:1::102", "2001:db8:1::104", "2001:db8:1::105"].map(a);
        let got: Vec<Ipv6Addr> = (0..3)
            .filter_map(|_| st.allocate(1, Some(128)).map(|(x, _)| x))
            .collect();
        assert_eq!(got, expected, "wide {wide}");
        if !wide {
            assert_eq!(st.allocate(1, Some(128)), None);
        }
        // 100:: and 101:: are leased, 102:: is still offered: the kept allocator has only
        // 103:: of its four /48s left.
        assert_eq!(
            st.allocate(1, Some(48)),
            Some((a("2001:db8:103::"), 48)),
            "wide {wide}"
        );
        assert_eq!(
            st.allocate(1, Some(if wide { 64 } else { 56 })),
            Some((a("2001:db8:300::"), if wide { 64 } else { 56 }))
        );
    }
}

/// A reservation added to a subnet whose pools did not change is a change: the reserved
/// address and prefix are taken out of the pools at once.
#[test]
fn a_reservation_added_to_an_otherwise_unchanged_subnet_takes_its_slots() {
    let (_, mut st) = setup();
    let mut changed = subnets();
    reserve(
        &mut changed[0],
        &[0, 3, 0x77],
        Some("2001:db8:1::100"),
        Some("2001:db8:100::/48"),
    );
    let c2 = config(changed);
    st.reconfigure(&c2, NOW + 1);
    assert!(!st.is_free(1, a("2001:db8:1::100"), 128));
    assert!(!st.is_free(1, a("2001:db8:100::"), 48));
    let (addrs, prefixes) = granted(&c2, &mut st, msg::SOLICIT, DUID_A, NOW + 1);
    assert_eq!(addrs, [a("2001:db8:1::101")]);
    assert_eq!(prefixes, [(a("2001:db8:101::"), 48)]);
    let (addrs, prefixes) = granted(&c2, &mut st, msg::REQUEST, &[0, 3, 0x77], NOW + 1);
    assert_eq!(addrs, [a("2001:db8:1::100")]);
    assert_eq!(prefixes, [(a("2001:db8:100::"), 48)]);
}

/// A removed subnet's offers go (from the client's offers too); the subnet kept keeps its
/// own, and it still expires on time. Put back, the removed subnet is built afresh with the
/// slots free.
#[test]
fn a_removed_subnet_loses_its_offers() {
    let (c, mut st) = setup();
    let (offered, offered_pd) = granted(&c, &mut st, msg::SOLICIT, DUID_A, NOW);
    // The same IA also holds an offer on subnet 2's link.
    let relayed = relayed_offer(&c, &mut st, DUID_A, NOW);
    assert_eq!(st.offers_of(&na_of(DUID_A, 1), NOW).len(), 2);

    st.reconfigure(&config(subnets().split_off(1)), NOW + 1);
    assert_eq!(
        st.offers_of(&na_of(DUID_A, 1), NOW + 1),
        [(LeaseType6::Na, relayed)]
    );
    assert!(st.offers_of(&pd_of(DUID_A, 2), NOW + 1).is_empty());
    assert_eq!(st.offered_to((LeaseType6::Na, offered[0]), NOW + 1), None);
    assert_eq!(
        st.offered_to((LeaseType6::Pd, offered_pd[0].0), NOW + 1),
        None
    );

    let c3 = config(subnets());
    st.reconfigure(&c3, NOW + 2);
    assert!(st.is_free(1, offered[0], 128));
    assert!(st.is_free(1, offered_pd[0].0, 48));
    let (addrs, prefixes) = granted(&c3, &mut st, msg::SOLICIT, &[0, 3, 9], NOW + 2);
    assert_eq!((addrs, prefixes), (offered, offered_pd));
    assert!(!st.is_free(2, relayed, 128));
    st.expire_offers(&c3, NOW + 1000);
    assert!(st.is_free(2, relayed, 128), "the kept offer expires");
}

/// A change to a subnet's prefix pool alone rebuilds that pool: the grown pool's new prefixes
/// are free, the leased prefix stays taken, the advertised one is released; the unchanged
/// address pool keeps its offer.
#[test]
fn a_prefix_pool_change_rebuilds_the_subnet() {
    let (c, mut st) = setup();
    let (_, leased_pd) = granted(&c, &mut st, msg::REQUEST, &[0, 3, 1], NOW);
    assert_eq!(leased_pd, [(a("2001:db8:100::"), 48)]);
    let (offered, offered_pd) = granted(&c, &mut st, msg::SOLICIT, DUID_A, NOW);
    assert_eq!(offered_pd, [(a("2001:db8:101::"), 48)]);

    let mut changed = subnets();
    changed[0].pd_pools[0].prefix = "2001:db8:100::/45".parse().expect("net");
    st.reconfigure(&config(changed), NOW + 1);
    assert!(st.offers_of(&pd_of(DUID_A, 2), NOW + 1).is_empty());
    assert_eq!(
        st.offers_of(&na_of(DUID_A, 1), NOW + 1),
        [(LeaseType6::Na, offered[0])],
        "the unchanged address pool keeps its offer"
    );
    assert!(!st.is_free(1, offered[0], 128));
    assert!(!st.is_free(1, leased_pd[0].0, 48));
    let prefixes: Vec<Ipv6Addr> = std::iter::from_fn(|| st.allocate(1, Some(48)).map(|(x, _)| x))
        .take(10)
        .collect();
    assert_eq!(
        prefixes,
        (1..8u16)
            .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0x100 + i, 0, 0, 0, 0, 0))
            .collect::<Vec<_>>()
    );
}

/// Adding an address pool to a subnet keeps the unchanged pools' allocators and offers; the
/// new pool's slots are looked up on their own (a lease already there stays taken); a
/// reservation added inside a kept pool takes its slot and drops an offer of it, one removed
/// frees its slot when nobody holds it.
#[test]
fn a_pool_added_keeps_the_unchanged_pools_and_reservations_apply_to_them() {
    let (c, mut st) = setup();
    let (offered, offered_pd) = granted(&c, &mut st, msg::SOLICIT, DUID_A, NOW);
    assert_eq!(offered, [a("2001:db8:1::100")]);
    // A lease inside the pool to come, stored behind the allocators' back: only a lookup of
    // the new pool's slots can find it.
    st.store
        .upsert(held_lease(&[0, 3, 5], "2001:db8:1::200", 128, 1));

    let mut grown = subnets();
    grown[0].pools.push(Pool6 {
        start: a("2001:db8:1::200"),
        end: a("2001:db8:1::201"),
    });
    reserve(&mut grown[0], &[0, 3, 6], Some("2001:db8:1::101"), None);
    st.reconfigure(&config(grown), NOW + 1);
    assert_eq!(
        st.offers_of(&na_of(DUID_A, 1), NOW + 1),
        [(LeaseType6::Na, offered[0])],
        "the kept pool keeps its offer"
    );
    assert_eq!(
        st.offers_of(&pd_of(DUID_A, 2), NOW + 1),
        [(LeaseType6::Pd, offered_pd[0].0)]
    );
    assert!(
        !st.is_free(1, a("2001:db8:1::200"), 128),
        "leased in the new pool"
    );
    assert!(st.is_free(1, a("2001:db8:1::201"), 128));
    assert!(!st.is_free(1, a("2001:db8:1::101"), 128), "newly reserved");

    // The reservation goes again: its slot is free, the offered one stays taken.
    let mut back = subnets();
    back[0].pools.push(Pool6 {
        start: a("2001:db8:1::200"),
        end: a("2001:db8:1::201"),
    });
    st.reconfigure(&config(back), NOW + 2);
    assert!(st.is_free(1, a("2001:db8:1::101"), 128));
    assert!(!st.is_free(1, offered[0], 128));
    assert!(!st.is_free(1, a("2001:db8:1::200"), 128));

    // Reserving the offered address for another client takes it from the offer.
    let mut taken = subnets();
    reserve(&mut taken[0], &[0, 3, 7], Some("2001:db8:1::100"), None);
    st.reconfigure(&config(taken), NOW + 3);
    assert!(st.offers_of(&na_of(DUID_A, 1), NOW + 3).is_empty());
    assert!(!st.is_free(1, offered[0], 128), "reserved");
}
