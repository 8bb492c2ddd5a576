//! Tests of the lease store: indexes against a brute-force model, expiry, memory.

use super::*;

fn lease(addr: [u8; 4], hw: u8, cid: Option<u8>, cltt: u64) -> Lease4 {
    Lease4 {
        address: Ipv4Addr::from(addr),
        hwaddr: HwAddr::from_bytes(&[0, 0x0c, 0, 0, 0, hw]).expect("6 bytes"),
        client_id: cid.map(|c| vec![1, 0, 0x0c, 0, 0, 0, c].into()),
        valid_lifetime: 100,
        expire: cltt + 100,
        subnet_id: 1,
        fqdn_fwd: false,
        fqdn_rev: false,
        hostname: None,
        state: LeaseState::Default,
        user_context: None,
    }
}

fn hw(n: u8) -> HwAddr {
    HwAddr::from_bytes(&[0, 0x0c, 0, 0, 0, n]).expect("6 bytes")
}

fn cid(n: u8) -> [u8; 7] {
    [1, 0, 0x0c, 0, 0, 0, n]
}

fn addr_of(l: Option<&Lease4>) -> Option<Ipv4Addr> {
    l.map(|l| l.address)
}

/// Checks every index against a brute-force scan of the records.
fn check_consistent(store: &LeaseStore4) {
    let all: Vec<&Lease4> = store.iter().collect();
    assert_eq!(all.len(), store.len());
    assert_eq!(store.by_addr.len(), all.len());
    for l in &all {
        assert_eq!(store.get(l.address), Some(*l));
        if let Some((subnet, id)) = client_key(l) {
            assert!(store
                .all_by_client_id(subnet, id)
                .any(|x| x.address == l.address));
            let best = all
                .iter()
                .filter(|x| client_key(x) == Some((subnet, id)))
                .max_by_key(|x| recency(x))
                .map(|x| x.address);
            assert_eq!(addr_of(store.find_by_client_id(subnet, id)), best);
        }
        if !l.hwaddr.is_empty() {
            let best = all
                .iter()
                .filter(|x| x.subnet_id == l.subnet_id && x.hwaddr == l.hwaddr)
                .max_by_key(|x| recency(x))
                .map(|x| x.address);
            assert_eq!(addr_of(store.find_by_hwaddr(l.subnet_id, &l.hwaddr)), best);
        }
    }
    assert_eq!(
        store.by_client_id.len(),
        all.iter().filter(|l| client_key(l).is_some()).count()
    );
    assert_eq!(
        store.by_hwaddr.len(),
        all.iter().filter(|l| hw_key(l).is_some()).count()
    );
    let mut want: Vec<u64> = all.iter().filter_map(|l| expiry_key(l)).collect();
    want.sort_unstable();
    assert_eq!(store.by_expiry.iter().copied().collect::<Vec<_>>(), want);
}

#[test]
fn upsert_get_remove() {
    let mut store = LeaseStore4::new();
    assert!(store.is_empty());
    assert_eq!(store.upsert(lease([10, 0, 0, 1], 1, Some(1), 1000)), None);
    assert_eq!(store.upsert(lease([10, 0, 0, 2], 2, None, 1000)), None);
    assert_eq!(store.len(), 2);
    assert_eq!(
        addr_of(store.find_by_client_id(1, &cid(1))),
        Some(Ipv4Addr::new(10, 0, 0, 1))
    );
    assert_eq!(
        addr_of(store.find_by_hwaddr(1, &hw(2))),
        Some(Ipv4Addr::new(10, 0, 0, 2))
    );
    assert_eq!(store.find_by_hwaddr(2, &hw(2)), None, "other subnet");
    assert_eq!(store.find_by_client_id(1, &[]), None);
    assert_eq!(store.find_by_hwaddr(1, &HwAddr::EMPTY), None);

    // Renewal: same client, later expiry.
    let old = store.upsert(lease([10, 0, 0, 1], 1, Some(1), 2000));
    assert_eq!(old.map(|l| l.expire), Some(1100));
    assert_eq!(store.len(), 2);
    check_consistent(&store);

    assert_eq!(
        store.remove(Ipv4Addr::new(10, 0, 0, 1)).map(|l| l.expire),
        Some(2100)
    );
    assert_eq!(store.remove(Ipv4Addr::new(10, 0, 0, 1)), None);
    assert_eq!(store.find_by_client_id(1, &cid(1)), None);
    assert_eq!(store.find_by_hwaddr(1, &hw(1)), None);
    check_consistent(&store);
}

#[test]
fn reassign_address_to_another_client() {
    let mut store = LeaseStore4::new();
    let a = Ipv4Addr::new(10, 0, 0, 9);
    store.upsert(lease([10, 0, 0, 9], 1, Some(1), 1000));
    store.upsert(lease([10, 0, 0, 9], 2, Some(2), 3000));
    assert_eq!(store.find_by_client_id(1, &cid(1)), None);
    assert_eq!(store.find_by_hwaddr(1, &hw(1)), None);
    assert_eq!(addr_of(store.find_by_client_id(1, &cid(2))), Some(a));
    assert_eq!(addr_of(store.find_by_hwaddr(1, &hw(2))), Some(a));
    // Move it to another subnet, then drop the client-id.
    let mut moved = lease([10, 0, 0, 9], 2, Some(2), 3000);
    moved.subnet_id = 7;
    store.upsert(moved);
    assert_eq!(store.find_by_client_id(1, &cid(2)), None);
    assert_eq!(addr_of(store.find_by_client_id(7, &cid(2))), Some(a));
    store.upsert(lease([10, 0, 0, 9], 2, None, 3000));
    assert_eq!(store.find_by_client_id(7, &cid(2)), None);
    check_consistent(&store);
}

#[test]
fn shared_hwaddr_survives_removal() {
    let mut store = LeaseStore4::new();
    // Three leases of one NIC with different client-ids.
    store.upsert(lease([10, 0, 0, 1], 5, Some(1), 1000));
    store.upsert(lease([10, 0, 0, 2], 5, Some(2), 3000));
    store.upsert(lease([10, 0, 0, 3], 5, Some(3), 2000));
    assert_eq!(
        addr_of(store.find_by_hwaddr(1, &hw(5))),
        Some(Ipv4Addr::new(10, 0, 0, 2))
    );
    assert_eq!(store.all_by_hwaddr(1, &hw(5)).count(), 3);
    store.remove(Ipv4Addr::new(10, 0, 0, 2));
    assert_eq!(
        addr_of(store.find_by_hwaddr(1, &hw(5))),
        Some(Ipv4Addr::new(10, 0, 0, 3))
    );
    store.remove(Ipv4Addr::new(10, 0, 0, 3));
    assert_eq!(
        addr_of(store.find_by_hwaddr(1, &hw(5))),
        Some(Ipv4Addr::new(10, 0, 0, 1))
    );
    check_consistent(&store);
}

#[test]
fn expired_is_ordered_and_limited() {
    let mut store = LeaseStore4::new();
    for i in 0..10u8 {
        // Expiry 1100 + 10 * (9 - i): the highest address expires first.
        store.upsert(lease([10, 0, 0, i], i, None, 1000 + 10 * u64::from(9 - i)));
    }
    let mut declined = lease([10, 0, 1, 1], 50, None, 0);
    declined.state = LeaseState::Declined;
    store.upsert(declined);
    let mut reclaimed = lease([10, 0, 1, 2], 51, None, 0);
    reclaimed.state = LeaseState::ExpiredReclaimed;
    store.upsert(reclaimed);
    let mut forever = lease([10, 0, 1, 3], 52, None, 0);
    forever.valid_lifetime = crate::lease::record::INFINITE_LIFETIME;
    store.upsert(forever);

    assert_eq!(store.expired(99, 100), Vec::<Ipv4Addr>::new());
    assert_eq!(store.expired(100, 100), vec![Ipv4Addr::new(10, 0, 1, 1)]);
    assert_eq!(
        store.expired(1120, 100),
        vec![
            Ipv4Addr::new(10, 0, 1, 1),
            Ipv4Addr::new(10, 0, 0, 9),
            Ipv4Addr::new(10, 0, 0, 8),
            Ipv4Addr::new(10, 0, 0, 7)
        ]
    );
    assert_eq!(
        store.expired(u64::MAX, 2),
        vec![Ipv4Addr::new(10, 0, 1, 1), Ipv4Addr::new(10, 0, 0, 9)]
    );
    assert_eq!(store.expired(u64::MAX, 100).len(), 11);

    // Reclaiming takes a lease out of the expiry index.
    let mut l = store
        .get(Ipv4Addr::new(10, 0, 0, 9))
        .cloned()
        .expect("present");
    l.state = LeaseState::ExpiredReclaimed;
    store.upsert(l);
    assert_eq!(store.expired(1120, 100).len(), 3);
    check_consistent(&store);
}

#[test]
fn expiry_after_2106_is_exact() {
    let mut store = LeaseStore4::new();
    let mut far = lease([10, 0, 0, 1], 1, None, 0);
    far.expire = u64::from(u32::MAX) + 10;
    store.upsert(far);
    assert!(store.expired(u64::from(u32::MAX) + 9, 10).is_empty());
    assert_eq!(store.expired(u64::from(u32::MAX) + 10, 10).len(), 1);
}

#[test]
fn bulk_load_builds_indexes() {
    let mut store = LeaseStore4::new();
    store.begin_bulk_load();
    for i in 0..200u8 {
        store.upsert(lease([10, 0, 0, i], i, Some(i), 1000 + u64::from(i % 7)));
    }
    for i in 0..50u8 {
        store.remove(Ipv4Addr::new(10, 0, 0, i * 2));
    }
    // Reassign some addresses to other clients, as later rows of a file do.
    for i in 150..200u8 {
        store.upsert(lease([10, 0, 0, i], i - 100, Some(i - 100), 5000));
    }
    store.finish_bulk_load();
    check_consistent(&store);
    assert_eq!(store.expired(u64::MAX, usize::MAX).len(), 150);
    assert_eq!(store.all_by_hwaddr(1, &hw(51)).count(), 2);
    // The store keeps working normally afterwards.
    store.upsert(lease([10, 0, 1, 1], 1, Some(1), 1));
    store.remove(Ipv4Addr::new(10, 0, 0, 151));
    check_consistent(&store);
}

#[test]
fn random_operations_keep_indexes_consistent() {
    // A small deterministic generator; collisions are frequent on purpose
    // (few addresses, few clients) to exercise reassignment and sharing.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut store = LeaseStore4::new();
    for round in 0..20_000u64 {
        let a = [10, 0, rnd(4) as u8, rnd(64) as u8];
        match rnd(10) {
            0..=2 => {
                store.remove(Ipv4Addr::from(a));
            }
            _ => {
                let cid = match rnd(3) {
                    0 => None,
                    _ => Some(rnd(40) as u8),
                };
                let mut l = lease(a, rnd(30) as u8, cid, rnd(5000));
                l.subnet_id = 1 + rnd(2) as u32;
                if rnd(8) == 0 {
                    l.hwaddr = HwAddr::EMPTY;
                    l.state = LeaseState::Declined;
                }
                store.upsert(l);
            }
        }
        if round % 2_000 == 0 {
            check_consistent(&store);
        }
    }
    check_consistent(&store);
}

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .expect("VmRSS line")
        * 1024
}

fn typical_lease(i: u32) -> Lease4 {
    let base = u32::from(Ipv4Addr::new(100, 64, 0, 0));
    let mac = [
        0,
        0x0c,
        (i >> 24) as u8,
        (i >> 16) as u8,
        (i >> 8) as u8,
        i as u8,
    ];
    let mut cid = vec![1u8];
    cid.extend_from_slice(&mac);
    Lease4 {
        address: Ipv4Addr::from(base + i),
        hwaddr: HwAddr::from_bytes(&mac).expect("6 bytes"),
        client_id: Some(cid.into()),
        valid_lifetime: 4000,
        expire: 1_764_000_000 + u64::from(i % 4000),
        subnet_id: 1 + i / 65536,
        fqdn_fwd: false,
        fqdn_rev: false,
        hostname: None,
        state: LeaseState::Default,
        user_context: None,
    }
}

/// Stores 2,000,000 leases shaped like a typical DHCPv4 client (6-byte MAC,
/// 7-byte client-id, no hostname) and prints the RSS growth per lease.
fn measure(bulk: bool) -> f64 {
    const N: u32 = 2_000_000;
    let before = rss_bytes();
    let mut store = LeaseStore4::new();
    if bulk {
        store.begin_bulk_load();
    }
    store.reserve(N as usize);
    for i in 0..N {
        store.upsert(typical_lease(i));
    }
    if bulk {
        store.finish_bulk_load();
    }
    let after = rss_bytes();
    let per_lease = (after - before) as f64 / f64::from(N);
    println!(
        "{N} leases ({}): RSS +{} MB = {per_lease:.1} bytes/lease; memory_estimate {:.1} bytes/lease; \
         size_of::<Lease4>() = {}; indexes: address {} MB, client-id {} MB, hwaddr {} MB",
        if bulk { "bulk load" } else { "one by one" },
        (after - before) / 1_000_000,
        store.memory_estimate() as f64 / f64::from(N),
        std::mem::size_of::<Lease4>(),
        store.by_addr.heap_bytes() / 1_000_000,
        store.by_client_id.heap_bytes() / 1_000_000,
        store.by_hwaddr.heap_bytes() / 1_000_000,
    );
    assert_eq!(store.len(), N as usize);
    per_lease
}

// RSS is per process, so run these one at a time:
// cargo test -p netdhcpd --lib memory_per_lease -- --ignored --nocapture --test-threads=1
//
// Of the bytes per lease: 104 the record (the 7-byte client-id is inline), 15
// the three hash indexes, and the expiry B-tree: 11 when built in bulk (a
// load), about 21 when grown by appends; a load leaves an eighth more room in
// the indexes. Measured on 2026-11-27: 129 one by one, 134 bulk (was 156 with
// the client-id in its own heap block).

#[test]
#[ignore = "allocates ~330 MB; run by hand to measure bytes/lease"]
fn memory_per_lease_2m_one_by_one() {
    let per_lease = measure(false);
    assert!(per_lease < 150.0, "{per_lease} bytes/lease");
}

#[test]
#[ignore = "allocates ~310 MB; run by hand to measure bytes/lease"]
fn memory_per_lease_2m_bulk_load() {
    let per_lease = measure(true);
    assert!(per_lease < 150.0, "{per_lease} bytes/lease");
}

#[test]
fn headroom_counts_what_fits_without_a_rebuild() {
    let mut store = LeaseStore4::new();
    store.reserve(100);
    assert!(store.headroom() >= 100, "{}", store.headroom());
    let before = store.headroom();
    for i in 0..10u8 {
        store.upsert(lease([10, 0, 0, i], i, Some(i), 1_000));
    }
    assert_eq!(store.headroom(), before - 10);
    // A renewal adds no index entry.
    store.upsert(lease([10, 0, 0, 3], 3, Some(3), 2_000));
    assert_eq!(store.headroom(), before - 10);
    check_consistent(&store);
}

#[test]
fn a_bulk_load_leaves_headroom_in_every_index() {
    let mut store = LeaseStore4::new();
    store.begin_bulk_load();
    for i in 0..10_000u32 {
        let mut l = lease([10, 0, 0, 0], 0, None, 1_000);
        l.address = Ipv4Addr::from(0x0a00_0000 + i);
        l.hwaddr = HwAddr::from_bytes(&i.to_be_bytes()).expect("4 bytes");
        l.client_id = Some(i.to_be_bytes().to_vec().into());
        store.upsert(l);
    }
    store.finish_bulk_load();
    assert!(
        store.headroom() >= 10_000 / LeaseStore4::LOAD_HEADROOM_DIV,
        "{}",
        store.headroom()
    );
    check_consistent(&store);
}

#[test]
fn declined_leases_are_counted_per_address_range_as_they_come_and_go() {
    let declined = |addr: [u8; 4]| Lease4 {
        state: LeaseState::Declined,
        ..lease(addr, 0, None, 1000)
    };
    let mut store = LeaseStore4::new();
    let pool = |s: &LeaseStore4| {
        s.declined_in(Ipv4Addr::new(100, 64, 0, 10), Ipv4Addr::new(100, 64, 0, 19))
    };
    store.upsert(declined([100, 64, 0, 10]));
    // The pool's running count starts from the declined leases already held.
    store.set_declined_ranges([(Ipv4Addr::new(100, 64, 0, 10), Ipv4Addr::new(100, 64, 0, 19))]);
    assert_eq!(pool(&store), 1);
    store.upsert(declined([100, 64, 0, 19]));
    store.upsert(declined([100, 64, 0, 20])); // outside the range
    store.upsert(lease([100, 64, 0, 11], 1, None, 1000));
    assert_eq!(pool(&store), 2);
    // Declined again: still one lease on probation.
    store.upsert(declined([100, 64, 0, 10]));
    assert_eq!(pool(&store), 2);
    // Given to a client again (set-lease, a partner's update), then probation ends (reclaim
    // deletes the lease).
    store.upsert(lease([100, 64, 0, 10], 2, None, 1000));
    store.remove(Ipv4Addr::new(100, 64, 0, 19));
    assert_eq!(pool(&store), 0);
    // A bulk load counts the declined rows it keeps (last row wins).
    let mut loaded = LeaseStore4::new();
    loaded.begin_bulk_load();
    loaded.upsert(declined([100, 64, 0, 12]));
    loaded.upsert(declined([100, 64, 0, 13]));
    loaded.upsert(lease([100, 64, 0, 13], 3, None, 1000));
    loaded.finish_bulk_load();
    assert_eq!(pool(&loaded), 1);
    loaded.set_declined_ranges([(Ipv4Addr::new(100, 64, 0, 10), Ipv4Addr::new(100, 64, 0, 19))]);
    assert_eq!(pool(&loaded), 1);
}
