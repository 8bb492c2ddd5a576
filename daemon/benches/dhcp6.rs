//! DHCPv6 packet path micro-benchmarks: decoding a SOLICIT and a REQUEST as perfdhcp -6 sends
//! them, and the policy handling a whole exchange (SOLICIT -> ADVERTISE, REQUEST -> REPLY,
//! reply encoding included) for a new client with one IA_NA, on a /64 subnet whose pool holds
//! 2^32 addresses.
//!
//! cargo bench -p netdhcpd --bench dhcp6

use std::hint::black_box;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ipnet::Ipv6Net;
use netdhcpd::config::{Dhcp6Config, Ingress6};
use netdhcpd::dhcp6::packet::{msg, opt, Encoder, Packet};
use netdhcpd::dhcp6::policy::CLIENT_PORT;
use netdhcpd::dhcp6::{handle, Arrival6, LeaseState6};
use netdhcpd::lease::LeaseStore6;

const CONFIG: &str = r#"<server xmlns="urn:netdhcp:yang:netdhcp-server"><dhcpv6>
  <interface>eth0</interface>
  <preferred-lifetime>3000</preferred-lifetime><valid-lifetime>4000</valid-lifetime>
  <renew-timer>1000</renew-timer><rebind-timer>2000</rebind-timer>
  <dns-server>2001:db8:1::53</dns-server>
  <subnet><id>1</id><prefix>2001:db8:1::/64</prefix>
    <pool><start>2001:db8:1::1:0:0</start><end>2001:db8:1::1:ffff:ffff</end></pool>
  </subnet>
</dhcpv6></server>"#;

const SERVER_DUID: &[u8] = &[0, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
const NOW: u64 = 1_800_000_000;
/// A fresh lease state after this many exchanges, so memory stays bounded.
const LEASES_PER_WORLD: u64 = 1_000_000;

/// A DUID-LL from a counter, as perfdhcp -6 varies it per client.
fn duid(n: u64) -> Vec<u8> {
    let b = n.to_be_bytes();
    vec![0, 3, 0, 1, 0x02, 0x42, b[4], b[5], b[6], b[7]]
}

/// A client message with client id, elapsed time, an ORO (DNS) and one IA_NA; a REQUEST
/// adds the server id and the advertised address.
fn message(kind: u8, client: &[u8], addr: Option<Ipv6Addr>) -> Vec<u8> {
    let mut e = Encoder::message(kind, [0x12, 0x34, 0x56]);
    e.option(opt::CLIENTID, client);
    if addr.is_some() {
        e.option(opt::SERVERID, SERVER_DUID);
    }
    e.option(opt::ELAPSED_TIME, &[0, 0]);
    e.option(opt::ORO, &[0, 23]);
    let ia = e.begin(opt::IA_NA);
    e.raw(&1u32.to_be_bytes());
    e.raw(&[0; 8]);
    if let Some(a) = addr {
        let s = e.begin(opt::IAADDR);
        e.raw(&a.octets());
        e.raw(&[0; 8]);
        e.end(s);
    }
    e.end(ia);
    e.finish()
}

fn config() -> Dhcp6Config {
    let ctx = yang::context().expect("libyang context");
    match netdhcpd::northbound::validate_document(ctx, CONFIG) {
        Ok(v) => v.runtime.dhcp6,
        Err(problems) => panic!("benchmark configuration refused: {problems:?}"),
    }
}

/// The address of the first IA_NA's IAADDR in a reply.
fn advertised(reply: &[u8]) -> Ipv6Addr {
    let ia = netdhcpd::dhcp6::packet::options(&reply[4..])
        .filter_map(Result::ok)
        .find(|(c, _)| *c == opt::IA_NA)
        .map(|(_, d)| d)
        .expect("an IA_NA");
    let (_, addr) = netdhcpd::dhcp6::packet::options(&ia[12..])
        .filter_map(Result::ok)
        .find(|(c, _)| *c == opt::IAADDR)
        .expect("an IAADDR");
    let octets: [u8; 16] = addr[..16].try_into().expect("16 bytes");
    Ipv6Addr::from(octets)
}

fn decode(c: &mut Criterion) {
    let solicit = message(msg::SOLICIT, &duid(1), None);
    let request = message(
        msg::REQUEST,
        &duid(1),
        Some("2001:db8:1::1:0:0".parse().expect("addr")),
    );
    let mut g = c.benchmark_group("decode6");
    g.throughput(Throughput::Elements(1));
    g.bench_function("solicit", |b| {
        b.iter(|| Packet::parse(black_box(&solicit)).map(|p| p.message.msg_type))
    });
    g.bench_function("request", |b| {
        b.iter(|| Packet::parse(black_box(&request)).map(|p| p.message.msg_type))
    });
    g.finish();
}

fn sarr(c: &mut Criterion) {
    let config = config();
    let addrs: Vec<Ipv6Net> = vec!["2001:db8:1::1/64".parse().expect("net")];
    let arrival = Arrival6 {
        ingress: Ingress6 {
            interface: "eth0",
            addresses: &addrs,
        },
        from: SocketAddrV6::new("fe80::2".parse().expect("addr"), CLIENT_PORT, 0, 3),
        multicast: true,
        server_duid: SERVER_DUID,
        now: NOW,
    };
    let fresh = || {
        let mut s = LeaseState6::new(LeaseStore6::new());
        s.reconfigure(&config, NOW);
        s
    };
    let mut state = fresh();
    let mut n: u64 = 0;
    let mut g = c.benchmark_group("policy6");
    g.throughput(Throughput::Elements(1));
    // One iteration: a new client's SOLICIT and REQUEST, both decoded and answered; the lease
    // store grows by one lease.
    g.bench_function("sarr_new_client", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if n >= LEASES_PER_WORLD {
                    state = fresh();
                    n = 0;
                }
                n += 1;
                let client = duid(n);
                let solicit = message(msg::SOLICIT, &client, None);
                let started = Instant::now();
                let advertise = handle(
                    &config,
                    &mut state,
                    &Packet::parse(&solicit).expect("parse"),
                    &arrival,
                );
                let addr = match &advertise.reply {
                    Ok(r) => advertised(&r.bytes),
                    Err(why) => panic!("no advertise: {why:?}"),
                };
                total += started.elapsed();
                let request = message(msg::REQUEST, &client, Some(addr));
                let started = Instant::now();
                let reply = handle(
                    &config,
                    &mut state,
                    &Packet::parse(&request).expect("parse"),
                    &arrival,
                );
                total += started.elapsed();
                assert_eq!(reply.writes.len(), 1);
                black_box(reply);
            }
            total
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = decode, sarr
}
criterion_main!(benches);
