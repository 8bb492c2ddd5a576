//! DHCPv4 packet path micro-benchmarks: decoding a DISCOVER and a REQUEST, and the policy
//! handling a whole DORA (DISCOVER -> OFFER, REQUEST -> ACK, reply encoding included) on the
//! benchmark's configuration (one /10 subnet, a pool of about four million addresses).
//!
//! cargo bench -p netdhcpd --bench dhcp4

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ipnet::Ipv4Net;
use netdhcpd::config::{Dhcp4Config, Ingress};
use netdhcpd::dhcp4::{handle, Arrival, LeaseState4, MessageType, Packet};
use netdhcpd::lease::LeaseStore4;

const CONFIG: &str = r#"<server xmlns="urn:netdhcp:yang:netdhcp-server"><dhcpv4>
  <interface>eth0</interface>
  <valid-lifetime>4000</valid-lifetime><renew-timer>1000</renew-timer><rebind-timer>2000</rebind-timer>
  <dns-server>100.64.0.1</dns-server>
  <subnet><id>1</id><prefix>100.64.0.0/10</prefix><router>100.64.0.1</router>
    <pool><start>100.64.1.0</start><end>100.127.255.250</end></pool>
  </subnet>
</dhcpv4></server>"#;

const SERVER: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const RELAY: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 2);
const NOW: u64 = 1_800_000_000;
/// A fresh lease state after this many DORAs, so the pool never runs out.
const LEASES_PER_WORLD: u64 = 1_000_000;

/// A request as perfdhcp sends it through a relay: giaddr set, client-id 01 + MAC, a
/// parameter request list; REQUESTs add the server id and requested address.
fn request(kind: MessageType, mac: [u8; 6], extra: &[(u8, &[u8])]) -> Vec<u8> {
    let mut b = vec![0u8; 240];
    b[0] = 1; // BOOTREQUEST
    b[1] = 1; // Ethernet
    b[2] = 6;
    b[3] = 1; // hops
    b[4..8].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    b[24..28].copy_from_slice(&RELAY.octets()); // giaddr
    b[28..34].copy_from_slice(&mac);
    b[236..240].copy_from_slice(&[99, 130, 83, 99]);
    b.extend_from_slice(&[53, 1, kind as u8]);
    let mut cid = vec![61, 7, 1];
    cid.extend_from_slice(&mac);
    b.extend_from_slice(&cid);
    b.extend_from_slice(&[55, 7, 1, 28, 2, 3, 15, 6, 12]);
    for (code, data) in extra {
        b.push(*code);
        b.push(data.len() as u8);
        b.extend_from_slice(data);
    }
    b.push(255);
    b
}

fn mac(n: u64) -> [u8; 6] {
    let b = n.to_be_bytes();
    [0x02, 0x42, b[4], b[5], b[6], b[7]]
}

fn config() -> Dhcp4Config {
    let ctx = yang::context().expect("libyang context");
    match netdhcpd::northbound::validate_document(ctx, CONFIG) {
        Ok(v) => v.runtime.dhcp4,
        Err(problems) => panic!("benchmark configuration refused: {problems:?}"),
    }
}

fn decode(c: &mut Criterion) {
    let discover = request(MessageType::Discover, mac(1), &[]);
    let req = request(
        MessageType::Request,
        mac(1),
        &[(54, &SERVER.octets()), (50, &[100, 64, 1, 1])],
    );
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("discover", |b| {
        b.iter(|| Packet::parse(black_box(&discover)).map(|p| p.message_type()))
    });
    g.bench_function("request", |b| {
        b.iter(|| {
            Packet::parse(black_box(&req)).map(|p| {
                (
                    p.requested_ip(),
                    p.server_id(),
                    p.client_id().map(<[u8]>::len),
                )
            })
        })
    });
    g.finish();
}

fn dora(c: &mut Criterion) {
    let config = config();
    let addrs: Vec<Ipv4Net> = vec!["100.64.0.1/10".parse().expect("net")];
    let arrival = Arrival {
        ingress: Ingress {
            interface: "eth0",
            addresses: &addrs,
        },
        server_id: SERVER,
        now: NOW,
    };
    let fresh = || {
        let mut s = LeaseState4::new(LeaseStore4::new());
        s.reconfigure(&config, NOW);
        s
    };
    let mut state = fresh();
    let mut n: u64 = 0;
    let mut g = c.benchmark_group("policy");
    g.throughput(Throughput::Elements(1));
    // One iteration: a new client's DISCOVER and REQUEST, both decoded and answered; the
    // lease store grows by one lease.
    g.bench_function("dora_new_client", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if n >= LEASES_PER_WORLD {
                    state = fresh();
                    n = 0;
                }
                n += 1;
                let m = mac(n);
                let discover = request(MessageType::Discover, m, &[]);
                let started = Instant::now();
                let offer = handle(
                    &config,
                    &mut state,
                    &Packet::parse(&discover).expect("parse"),
                    &arrival,
                );
                let yiaddr: [u8; 4] = match &offer.reply {
                    Ok(r) => r.bytes[16..20].try_into().expect("4 bytes"),
                    Err(why) => panic!("no offer: {why:?}"),
                };
                total += started.elapsed();
                let req = request(
                    MessageType::Request,
                    m,
                    &[(54, &SERVER.octets()), (50, &yiaddr)],
                );
                let started = Instant::now();
                let ack = handle(
                    &config,
                    &mut state,
                    &Packet::parse(&req).expect("parse"),
                    &arrival,
                );
                total += started.elapsed();
                assert_eq!(ack.writes.len(), 1);
                black_box(ack);
            }
            total
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = decode, dora
}
criterion_main!(benches);
