//! Lease micro-benchmarks: free-address allocation, the lease store's lookups and upserts at a
//! million leases, formatting a memfile row, and loading a 100,000-row memfile.
//!
//! cargo bench -p netdhcpd --bench lease

use std::hint::black_box;
use std::io::Write;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use netdhcpd::lease::free_map::FreeMap;
use netdhcpd::lease::memfile::{csv4, load4};
use netdhcpd::lease::{HwAddr, Lease4, LeaseState, LeaseStore4};

const BASE: u32 = 0x6440_0100; // 100.64.1.0
const STORE_LEASES: u32 = 1_000_000;

fn mac(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [0x0e, 0, b[0], b[1], b[2], b[3]]
}

/// A lease like most clients have: 6-byte MAC, client-id 01 + MAC, no host name.
fn lease(i: u32, expire: u64) -> Lease4 {
    let m = mac(i);
    let mut cid = vec![1u8];
    cid.extend_from_slice(&m);
    Lease4 {
        address: Ipv4Addr::from(BASE + i),
        hwaddr: HwAddr::from_bytes(&m).expect("6 bytes"),
        client_id: Some(cid.into()),
        valid_lifetime: 4000,
        expire,
        subnet_id: 1,
        fqdn_fwd: false,
        fqdn_rev: false,
        hostname: None,
        state: LeaseState::Default,
        user_context: None,
    }
}

// A fixed multiplicative walk over 0..n, so lookups do not follow insertion order.
fn scatter(k: u64, n: u32) -> u32 {
    (k.wrapping_mul(2_654_435_761) % u64::from(n)) as u32
}

fn free_map(c: &mut Criterion) {
    let mut g = c.benchmark_group("free_map");
    g.throughput(Throughput::Elements(1));
    // A pool of four million addresses, allocated from empty (the map is renewed, outside
    // the timing, when it fills).
    let n = 4_000_000u32;
    let mut map = FreeMap::new(0, n - 1);
    g.bench_function("allocate_4m_pool", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let chunk = left.min(u64::from(n - map.used()));
                if chunk == 0 {
                    map = FreeMap::new(0, n - 1);
                    continue;
                }
                let started = Instant::now();
                for _ in 0..chunk {
                    black_box(map.allocate());
                }
                total += started.elapsed();
                left -= chunk;
            }
            total
        })
    });
    // 99% full, the free addresses scattered: allocate one then release it again.
    let mut nearly_full = FreeMap::new(0, n - 1);
    for a in 0..n {
        if a % 100 != 0 {
            nearly_full.take(a);
        }
    }
    g.bench_function("allocate_release_99pct_full", |b| {
        b.iter(|| {
            let a = nearly_full.allocate().expect("free address");
            nearly_full.release(black_box(a));
        })
    });
    g.finish();
}

fn store(c: &mut Criterion) {
    let mut store = LeaseStore4::new();
    store.reserve(STORE_LEASES as usize + 1_000_000);
    for i in 0..STORE_LEASES {
        store.upsert(lease(i, 1_800_000_000 + u64::from(i % 4000)));
    }
    let mut g = c.benchmark_group("store4_1m");
    g.throughput(Throughput::Elements(1));
    let mut k = 0u64;
    g.bench_function("get_by_address", |b| {
        b.iter(|| {
            k += 1;
            black_box(store.get(Ipv4Addr::from(BASE + scatter(k, STORE_LEASES))));
        })
    });
    g.bench_function("find_by_client_id", |b| {
        b.iter(|| {
            k += 1;
            let m = mac(scatter(k, STORE_LEASES));
            let cid = [1, m[0], m[1], m[2], m[3], m[4], m[5]];
            black_box(store.find_by_client_id(1, &cid));
        })
    });
    g.bench_function("find_by_hwaddr", |b| {
        b.iter(|| {
            k += 1;
            let hw = HwAddr::from_bytes(&mac(scatter(k, STORE_LEASES))).expect("6 bytes");
            black_box(store.find_by_hwaddr(1, &hw));
        })
    });
    // A renewal: same address and identifiers, a later expiry (only the expiry index moves).
    g.bench_function("upsert_renewal", |b| {
        b.iter_batched(
            || {
                k += 1;
                lease(scatter(k, STORE_LEASES), 1_800_010_000 + k)
            },
            |l| black_box(store.upsert(l)),
            BatchSize::SmallInput,
        )
    });
    // A new client: a new address in every index (room reserved above, so no rebuild).
    let mut next = STORE_LEASES;
    g.bench_function("upsert_new", |b| {
        b.iter_batched(
            || {
                next += 1;
                if next >= STORE_LEASES + 900_000 {
                    next = STORE_LEASES + 1; // re-upserts from here on: replacements
                }
                lease(next, 1_800_000_000)
            },
            |l| black_box(store.upsert(l)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn memfile(c: &mut Criterion) {
    let mut g = c.benchmark_group("memfile");
    let l = lease(12_345, 1_800_000_000);
    let mut out = Vec::with_capacity(256);
    g.throughput(Throughput::Elements(1));
    g.bench_function("csv4_format_row", |b| {
        b.iter(|| {
            out.clear();
            csv4::format_row(black_box(&l), &mut out);
            black_box(out.len())
        })
    });

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("leases4.csv");
    let rows = 100_000u32;
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        f.write_all(csv4::HEADER.as_bytes()).expect("write");
        f.write_all(b"\n").expect("write");
        let mut buf = Vec::new();
        for i in 0..rows {
            buf.clear();
            csv4::format_row(&lease(i, 1_800_000_000 + u64::from(i % 3600)), &mut buf);
            f.write_all(&buf).expect("write");
        }
    }
    g.throughput(Throughput::Elements(u64::from(rows)));
    g.sample_size(10);
    g.bench_function("load4_100k_rows", |b| {
        b.iter(|| {
            let (store, report) = load4(std::slice::from_ref(&path), 0).expect("load");
            assert_eq!(report.leases_loaded, rows as usize);
            black_box(store)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = free_map, store, memfile
}
criterion_main!(benches);
