//! Memfile tests through the file system: load, writer, compaction, crash states.

use std::collections::HashMap;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use super::csv4::{format_delete_row, format_row, HEADER};
use super::*;
use crate::lease::record::{HwAddr, Lease4, LeaseState};

fn lease(host: u8, client: u8, expire: u64) -> Lease4 {
    Lease4 {
        address: Ipv4Addr::new(100, 64, 1, host),
        hwaddr: HwAddr::from_bytes(&[0, 0x0c, 1, 0, 0, client]).expect("6 bytes"),
        client_id: Some(vec![1, 0, 0x0c, 1, 0, 0, client].into()),
        valid_lifetime: 4000,
        expire,
        subnet_id: 1,
        fqdn_fwd: false,
        fqdn_rev: false,
        hostname: Some(format!("host-{client},x").into_boxed_str()),
        state: LeaseState::Default,
        user_context: None,
    }
}

fn row(l: &Lease4) -> Vec<u8> {
    let mut v = Vec::new();
    format_row(l, &mut v);
    v
}

fn delete_row(l: &Lease4) -> Vec<u8> {
    let mut v = Vec::new();
    format_delete_row(l, &mut v);
    v
}

fn write_file(path: &Path, rows: &[Vec<u8>]) {
    let mut text = format!("{HEADER}\n").into_bytes();
    for r in rows {
        text.extend_from_slice(r);
    }
    fs::write(path, text).expect("write test file");
}

fn active(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("kea-leases4.csv")
}

/// Loads the file set and returns it as a map, checking the report's count.
fn load_map(path: &Path) -> HashMap<Ipv4Addr, Lease4> {
    let (store, report) = load4(&memfile_files(path), 0).expect("load");
    assert_eq!(report.leases_loaded, store.len());
    store.iter().map(|l| (l.address, l.clone())).collect()
}

/// Applies rows to a model the way a load should.
#[derive(Default)]
struct Model(HashMap<Ipv4Addr, Lease4>);

impl Model {
    fn put(&mut self, l: &Lease4) -> Vec<u8> {
        self.0.insert(l.address, l.clone());
        row(l)
    }
    fn delete(&mut self, l: &Lease4) -> Vec<u8> {
        self.0.remove(&l.address);
        delete_row(l)
    }
}

#[test]
fn memfile_files_follow_kea_names() {
    let [p1, p2, x] = memfile_files(Path::new("/var/lib/kea/kea-leases4.csv"));
    assert_eq!(p1, Path::new("/var/lib/kea/kea-leases4.csv.1"));
    assert_eq!(p2, Path::new("/var/lib/kea/kea-leases4.csv.2"));
    assert_eq!(x, Path::new("/var/lib/kea/kea-leases4.csv"));
}

#[test]
fn load_replays_files_in_order_last_row_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x = active(&dir);
    let mut m = Model::default();
    let a1 = m.put(&lease(1, 1, 1000));
    let a2 = m.put(&lease(2, 2, 1000));
    let a3 = m.put(&lease(3, 3, 1000));
    write_file(&with_suffix(&x, ".1"), &[a1, a2, a3]);
    // .2: renew 1, delete 2, reassign 3 to another client.
    let b1 = m.put(&lease(1, 1, 2000));
    let b2 = m.delete(&lease(2, 2, 1000));
    let b3 = m.put(&lease(3, 9, 2000));
    write_file(&with_suffix(&x, ".2"), &[b1, b2, b3]);
    // X: bring 2 back, delete 1, and a row for an address never seen.
    let c2 = m.put(&lease(2, 7, 3000));
    let c1 = m.delete(&lease(1, 1, 2000));
    let c4 = m.put(&lease(4, 4, 3000));
    write_file(&x, &[c2, c1, c4]);

    let (store, report) = load4(&memfile_files(&x), 0).expect("load");
    assert_eq!(
        (report.files_read, report.rows_read, report.bad_rows),
        (3, 9, 0)
    );
    let got: HashMap<_, _> = store.iter().map(|l| (l.address, l.clone())).collect();
    assert_eq!(got, m.0);
    assert_eq!(
        store
            .find_by_client_id(1, &[1, 0, 0x0c, 1, 0, 0, 9])
            .map(|l| l.address),
        Some(Ipv4Addr::new(100, 64, 1, 3))
    );
    assert!(store
        .find_by_client_id(1, &[1, 0, 0x0c, 1, 0, 0, 3])
        .is_none());
    assert_eq!(store.expired(1999, 10), Vec::<Ipv4Addr>::new());
    assert_eq!(store.expired(2000, 10), vec![Ipv4Addr::new(100, 64, 1, 3)]);
    assert_eq!(store.expired(3000, 10).len(), 3);
}

#[test]
fn load_without_files_is_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, report) = load4(&memfile_files(&active(&dir)), 0).expect("load");
    assert!(store.is_empty());
    assert_eq!((report.files_read, report.rows_read), (0, 0));
}

#[test]
fn bad_rows_are_counted_and_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x = active(&dir);
    let good = row(&lease(1, 1, 1000));
    let rows = vec![
        b"100.64.1.2,00:0c,,4000,1000,1,0,0,,0\n".to_vec(), // line 2: 10 columns
        good.clone(),                                       // line 3
        b"100.64.1.300,00:0c,,4000,1000,1,0,0,,0,\n".to_vec(), // line 4: address
        b"\n".to_vec(),                                     // line 5: blank, skipped
        b"100.64.1.3,00:0c,,4000,soon,1,0,0,,0,\n".to_vec(), // line 6: expire
    ];
    write_file(&x, &rows);
    let (store, report) = load4(&memfile_files(&x), 3).expect("three bad rows allowed");
    assert_eq!((report.rows_read, report.bad_rows, store.len()), (4, 3, 1));

    match load4(&memfile_files(&x), 2) {
        Err(LoadError::TooManyBadRows {
            path,
            line,
            bad_rows,
            max_bad_rows,
            last_error,
        }) => {
            assert_eq!((path, line, bad_rows, max_bad_rows), (x.clone(), 6, 3, 2));
            assert_eq!(
                last_error.to_string(),
                "column expire: not a decimal number (value \"soon\")"
            );
        }
        other => panic!("{other:?}"),
    }
    let msg = load4(&memfile_files(&x), 0)
        .map(|_| ())
        .expect_err("no bad row allowed")
        .to_string();
    assert!(msg.contains("kea-leases4.csv line 2"), "{msg}");
}

#[test]
fn wrong_header_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x = active(&dir);
    fs::write(with_suffix(&x, ".2"), "address,duid,valid_lifetime\n").expect("write");
    match load4(&memfile_files(&x), 10) {
        Err(e @ LoadError::Header { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("kea-leases4.csv.2 line 1"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn writer_creates_file_and_group_commits_from_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x = active(&dir);
    let writer =
        Arc::new(MemfileWriter::with_queue_capacity(&x, Durability::None, 4).expect("open"));
    assert_eq!(fs::read_to_string(&x).expect("read"), format!("{HEADER}\n"));
    let called = Arc::new(AtomicUsize::new(0));
    let (order_tx, order_rx) = mpsc::channel();
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let writer = writer.clone();
            let called = called.clone();
            let order_tx = order_tx.clone();
            std::thread::spawn(move || {
                for i in 0..50u8 {
                    let l = lease(t * 50 + i, t, u64::from(i));
                    let called = called.clone();
                    let order_tx = order_tx.clone();
                    writer.submit(
                        row(&l),
                        Box::new(move |r| {
                            assert!(r.is_ok(), "{r:?}");
                            called.fetch_add(1, Ordering::SeqCst);
                            order_tx.send((t, i)).expect("test alive");
                        }),
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("submitter");
    }
    writer.flush_and_wait().expect("flush");
    assert_eq!(called.load(Ordering::SeqCst), 200);
    // Callbacks of one thread complete in its submission order.
    drop(order_tx);
    let mut next = [0u8; 4];
    for (t, i) in order_rx {
        assert_eq!(next[usize::from(t)], i);
        next[usize::from(t)] += 1;
    }
    let text = fs::read_to_string(&x).expect("read");
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.remove(0), HEADER);
    let mut want: Vec<String> = (0..4u8)
        .flat_map(|t| {
            (0..50u8).map(move |i| {
                String::from_utf8(row(&lease(t * 50 + i, t, u64::from(i)))).expect("ascii")
            })
        })
        .map(|s| s.trim_end().to_owned())
        .collect();
    lines.sort_unstable();
    want.sort_unstable();
    assert_eq!(lines, want);
}

#[test]
fn writer_fsync_mode_appends_to_existing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x = active(&dir);
    let mut m = Model::default();
    write_file(&x, &[m.put(&lease(1, 1, 1000))]);
    let writer = MemfileWriter::open(&x, Durability::Fsync).expect("open");
    let (tx, rx) = mpsc::channel();
    let mut rows = m.put(&lease(2, 2, 1000));
    rows.extend(m.delete(&lease(1, 1, 1000)));
    writer.submit(
        rows,
        Box::new(move |r| tx.send(r.is_ok()).expect("test alive")),
    );
    assert_eq!(rx.recv(), Ok(true), "done called after the fsync");
    writer.shutdown().expect("shutdown");
    let text = fs::read_to_string(&x).expect("read");
    assert_eq!(text.matches(HEADER).count(), 1, "header not repeated");
    assert_eq!(load_map(&x), m.0);
}

#[test]
fn writer_rejects_a_foreign_file_and_repairs_a_torn_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x = active(&dir);
    fs::write(&x, "address,duid,iaid\n").expect("write");
    match MemfileWriter::open(&x, Durability::None) {
        Err(MemfileError::Header { path, line: 1, .. }) => assert_eq!(path, x),
        other => panic!("{other:?}"),
    }

    // A crash left half a row at the end: it must stay a bad row of its own.
    let mut text = format!("{HEADER}\n").into_bytes();
    text.extend(row(&lease(1, 1, 1000)));
    text.extend(b"100.64.1.2,00:0c:01");
    fs::write(&x, text).expect("write");
    let writer = MemfileWriter::open(&x, Durability::None).expect("open");
    writer.submit(row(&lease(3, 3, 1000)), Box::new(|r| assert!(r.is_ok())));
    drop(writer);
    let (store, report) = load4(&memfile_files(&x), 1).expect("load");
    assert_eq!((report.bad_rows, store.len()), (1, 2));

    // A crash while creating the file left a torn header: start over.
    fs::write(&x, "address,hwaddr,cli").expect("write");
    drop(MemfileWriter::open(&x, Durability::None).expect("open"));
    assert_eq!(fs::read_to_string(&x).expect("read"), format!("{HEADER}\n"));
}

#[test]
fn submit_blocks_while_the_queue_is_full() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x = active(&dir);
    let writer =
        Arc::new(MemfileWriter::with_queue_capacity(&x, Durability::None, 1).expect("open"));
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    // The first batch's callback holds the writer thread until released.
    writer.submit(
        row(&lease(1, 1, 1)),
        Box::new(move |_| {
            started_tx.send(()).expect("test alive");
            release_rx.recv().expect("test alive");
        }),
    );
    started_rx.recv().expect("writer thread in the callback");
    writer.submit(row(&lease(2, 2, 1)), Box::new(|_| {})); // fills the queue
    let (returned_tx, returned_rx) = mpsc::channel();
    let submitter = {
        let writer = writer.clone();
        std::thread::spawn(move || {
            writer.submit(row(&lease(3, 3, 1)), Box::new(|_| {}));
            returned_tx.send(()).expect("test alive");
        })
    };
    assert!(
        returned_rx
            .recv_timeout(std::time::Duration::from_millis(300))
            .is_err(),
        "submit returned while the queue was full"
    );
    release_tx.send(()).expect("writer alive");
    returned_rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("submit unblocked once the queue drained");
    submitter.join().expect("submitter");
    writer.flush_and_wait().expect("flush");
    assert_eq!(load_map(&x).len(), 3);
}

#[test]
fn write_or_submit_writes_on_the_calling_thread_when_the_writer_is_idle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x = active(&dir);
    let writer = MemfileWriter::open(&x, Durability::Fsync).expect("open");
    let caller = std::thread::current().id();
    let (tx, rx) = mpsc::channel();
    writer.write_or_submit(
        row(&lease(1, 1, 1000)),
        Box::new(move |r| {
            tx.send((r.is_ok(), std::thread::current().id()))
                .expect("test alive")
        }),
    );
    // Called before write_or_submit returned, on this thread, with the row in the file.
    assert_eq!(rx.try_recv(), Ok((true, caller)));
    let on_disk = load_map(&x);
    assert_eq!(
        on_disk.get(&Ipv4Addr::new(100, 64, 1, 1)),
        Some(&lease(1, 1, 1000))
    );
}

#[test]
fn write_or_submit_queues_behind_queued_rows_so_the_last_row_still_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x = active(&dir);
    let writer = MemfileWriter::open(&x, Durability::None).expect("open");
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    // The first batch's callback holds the writer thread until released.
    writer.submit(
        row(&lease(1, 1, 1)),
        Box::new(move |_| {
            started_tx.send(()).expect("test alive");
            release_rx.recv().expect("test alive");
        }),
    );
    started_rx.recv().expect("writer thread in the callback");
    // Queued: an old row for address .2, then (from the packet path) its newer row.
    writer.submit(row(&lease(2, 2, 100)), Box::new(|_| {}));
    let (tx, rx) = mpsc::channel();
    writer.write_or_submit(
        row(&lease(2, 2, 200)),
        Box::new(move |r| tx.send(r.is_ok()).expect("test alive")),
    );
    assert!(
        rx.try_recv().is_err(),
        "written on the calling thread while rows were queued"
    );
    release_tx.send(()).expect("writer alive");
    assert_eq!(rx.recv(), Ok(true));
    let on_disk = load_map(&x);
    assert_eq!(
        on_disk.get(&Ipv4Addr::new(100, 64, 1, 2)).map(|l| l.expire),
        Some(200)
    );
    // Idle again: the next write is the caller's own.
    let (tx, rx) = mpsc::channel();
    writer.write_or_submit(
        row(&lease(3, 3, 300)),
        Box::new(move |r| tx.send(r.is_ok()).expect("test alive")),
    );
    assert_eq!(rx.try_recv(), Ok(true));
    assert_eq!(load_map(&x).len(), 3);
}

#[test]
fn panicking_callback_does_not_stop_the_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x = active(&dir);
    let writer = MemfileWriter::open(&x, Durability::None).expect("open");
    // A panicking callback does not stop the writer.
    writer.submit(row(&lease(1, 1, 1)), Box::new(|_| panic!("callback bug")));
    let (tx, rx) = mpsc::channel();
    writer.submit(
        row(&lease(2, 2, 1)),
        Box::new(move |r| tx.send(r.is_ok()).expect("alive")),
    );
    assert_eq!(rx.recv(), Ok(true));
    drop(writer);
    assert_eq!(load_map(&x).len(), 2);
}

#[test]
fn compaction_keeps_exactly_the_live_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x = active(&dir);
    let writer = MemfileWriter::open(&x, Durability::Fsync).expect("open");
    let mut m = Model::default();
    let mut rows = Vec::new();
    for round in 0..5u64 {
        for h in 0..40u8 {
            rows.extend(m.put(&lease(h, h, 1000 + round)));
        }
    }
    for h in 0..10u8 {
        rows.extend(m.delete(&lease(h, h, 1004)));
    }
    writer.submit(rows, Box::new(|r| assert!(r.is_ok())));
    assert_eq!(writer.stats().last_compaction(), None);
    let report = writer.compact().expect("start").join().expect("merge");
    assert!(report.rotated);
    // The rows the compaction wrote are all the file holds now.
    assert_eq!(writer.stats().rows(), 30);
    assert!(writer.stats().last_compaction().is_some());
    assert_eq!(
        (report.rows_in, report.rows_out, report.bad_rows),
        (210, 30, 0)
    );
    assert!(!with_suffix(&x, ".2").exists());
    assert!(!with_suffix(&x, ".output").exists());

    // More rows after the compaction go to the fresh X.
    let mut rows = Vec::new();
    rows.extend(m.put(&lease(200, 200, 5000)));
    rows.extend(m.delete(&lease(20, 20, 1004)));
    rows.extend(m.put(&lease(5, 55, 5000)));
    writer.submit(rows, Box::new(|r| assert!(r.is_ok())));
    writer.flush_and_wait().expect("flush");
    assert_eq!(load_map(&x), m.0);
    assert_eq!(fs::read_to_string(&x).expect("read").lines().count(), 4);
    assert_eq!(writer.stats().rows(), 33);

    // A second compaction merges X.1 with the new X.2.
    let report = writer.compact().expect("start").join().expect("merge");
    assert_eq!((report.rows_in, report.rows_out), (33, 31));
    assert_eq!(writer.stats().rows(), 31);
    drop(writer);
    assert_eq!(load_map(&x), m.0);
    // The merged file is what Kea's LFC would write: header + one row each.
    let merged = fs::read_to_string(with_suffix(&x, ".1")).expect("read");
    assert_eq!(merged.lines().next(), Some(HEADER));
    assert_eq!(merged.lines().count(), 32);
}

/// Files before a compaction, with rows in all three files and the live set.
fn three_files(x: &Path) -> HashMap<Ipv4Addr, Lease4> {
    let mut m = Model::default();
    let p: Vec<_> = (0..20u8).map(|h| m.put(&lease(h, h, 1000))).collect();
    write_file(&with_suffix(x, ".1"), &p);
    let mut two: Vec<_> = (0..5u8).map(|h| m.delete(&lease(h, h, 1000))).collect();
    two.extend((5..10u8).map(|h| m.put(&lease(h, h + 100, 2000))));
    two.push(m.put(&lease(50, 50, 2000)));
    write_file(&with_suffix(x, ".2"), &two);
    let active: Vec<_> = vec![m.put(&lease(3, 3, 3000)), m.delete(&lease(50, 50, 2000))];
    write_file(x, &active);
    m.0
}

#[test]
fn crash_states_load_correctly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x = active(&dir);
    let want = three_files(&x);
    assert_eq!(load_map(&x), want, "rotated, merge not started");

    // Merge output half written and left behind: ignored.
    fs::write(
        with_suffix(&x, ".output"),
        format!("{HEADER}\n100.64.1.7,00:0c"),
    )
    .expect("write");
    assert_eq!(load_map(&x), want, "X.output left behind");

    // X.2 present without X.1 (the first compaction ever crashed).
    let dir2 = tempfile::tempdir().expect("tempdir");
    let x2 = active(&dir2);
    let mut m = Model::default();
    let two: Vec<_> = (0..5u8).map(|h| m.put(&lease(h, h, 1000))).collect();
    write_file(&with_suffix(&x2, ".2"), &two);
    write_file(&x2, &[m.delete(&lease(1, 1, 1000))]);
    assert_eq!(load_map(&x2), m.0, "X.2 without X.1");
    // ... and the next compaction resumes it rather than rotating.
    let writer = MemfileWriter::open(&x2, Durability::None).expect("open");
    let report = writer.compact().expect("start").join().expect("merge");
    assert!(!report.rotated);
    assert_eq!((report.rows_in, report.rows_out), (5, 5));
    drop(writer);
    assert!(!with_suffix(&x2, ".2").exists());
    assert_eq!(load_map(&x2), m.0, "after resumed compaction");

    // Merge renamed to X.1 but X.2 not yet deleted.
    merge_previous(&x).expect("merge");
    assert!(
        !with_suffix(&x, ".output").exists(),
        "stale output replaced"
    );
    assert_eq!(load_map(&x), want, "after merge");
    let merged_only = fs::read(with_suffix(&x, ".1")).expect("read");
    let want_again = three_files(&x); // restores .1, .2 and X
    assert_eq!(want_again, want);
    fs::write(with_suffix(&x, ".1"), merged_only).expect("write");
    assert_eq!(load_map(&x), want, "X.1 merged, X.2 still present");
}

#[test]
fn second_compaction_while_merging_is_refused_or_serialised() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x = active(&dir);
    let writer = MemfileWriter::open(&x, Durability::None).expect("open");
    writer.submit(row(&lease(1, 1, 1)), Box::new(|_| {}));
    let first = writer.compact().expect("start");
    // Either the merge is still running (refused) or done and X.2 is gone.
    match writer.compact() {
        Err(MemfileError::CompactionInProgress { .. }) => {}
        Ok(second) => {
            second.join().expect("second merge");
        }
        Err(e) => panic!("{e}"),
    }
    first.join().expect("first merge");
    drop(writer);
    assert_eq!(load_map(&x).len(), 1);
}
