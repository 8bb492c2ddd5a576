//! Loading the DHCPv6 lease files at start-up, and the v6 compaction merge.
//!
//! Same journal rules as v4: rows replayed in file order, last row per (type, address) wins,
//! `valid_lifetime` 0 deletes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use thiserror::Error;

use super::compact::{install_merge_output, CompactReport};
use super::csv6::{self, RowError6, Schema6};
use super::error::MemfileError;
use super::load::LoadReport;
use super::{with_suffix, INPUT_SUFFIX, OUTPUT_SUFFIX, PREVIOUS_SUFFIX};
use crate::lease::store6::LeaseStore6;

/// Why the DHCPv6 lease files could not be loaded.
#[derive(Debug, Error)]
pub enum Load6Error {
    /// A file could not be read.
    #[error("cannot read lease file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// A file's first line is not a DHCPv6 memfile header.
    #[error("lease file {}: {source}", path.display())]
    Header {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: csv6::HeaderError6,
    },
    /// The files hold more leases than one store can.
    #[error("lease file {} line {line}: more than {max} leases", path.display())]
    StoreFull {
        /// The file.
        path: PathBuf,
        /// The row that did not fit.
        line: u64,
        /// Most leases a store holds.
        max: usize,
    },
    /// More rows failed to parse than allowed.
    #[error("{bad_rows} bad lease rows, more than the {max_bad_rows} allowed; the last at {} line {line}: {last_error}", path.display())]
    TooManyBadRows {
        /// The file of the last bad row.
        path: PathBuf,
        /// Its line.
        line: u64,
        /// Bad rows counted.
        bad_rows: u64,
        /// The limit.
        max_bad_rows: u32,
        /// Why the last was rejected.
        #[source]
        last_error: RowError6,
    },
}

/// Streams the rows of one v6 file: calls `row(line_number, schema, bytes)` for each data row.
/// `Ok(false)` when the file does not exist.
fn for_each_row(
    path: &Path,
    mut row: impl FnMut(u64, &Schema6, &[u8]) -> Result<(), Load6Error>,
) -> Result<bool, Load6Error> {
    let io_err = |source| Load6Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err(e)),
    };
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::with_capacity(256);
    let mut schema: Option<Schema6> = None;
    let mut line = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io_err)? == 0 {
            break;
        }
        line += 1;
        let terminated = buf.last() == Some(&b'\n');
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        if buf.is_empty() {
            continue;
        }
        match &schema {
            None => {
                if !terminated && csv6::HEADER.as_bytes().starts_with(&buf) {
                    break; // torn header: an empty file
                }
                schema = Some(
                    Schema6::from_header(&buf).map_err(|source| Load6Error::Header {
                        path: path.to_path_buf(),
                        source,
                    })?,
                );
            }
            Some(s) => row(line, s, &buf)?,
        }
    }
    Ok(true)
}

/// Rows read before the store is sized from the files' length and their mean row length.
const SAMPLE_ROWS: u64 = 4096;

/// Loads the DHCPv6 lease files `files` in order (normally `X.1`, `X.2`, `X`; missing files
/// are skipped). Bad rows are logged and skipped, up to `max_bad_rows`.
///
/// The store is bulk loaded: only its key index is kept while rows are replayed (last row
/// wins), sized once from the files' length, and the other indexes are built at the end.
pub fn load6(
    files: &[PathBuf],
    max_bad_rows: u32,
) -> Result<(LeaseStore6, LoadReport), Load6Error> {
    let started = Instant::now();
    let mut store = LeaseStore6::new();
    let mut report = LoadReport::default();
    let total_bytes: u64 = files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let mut sampled_bytes = 0u64;
    store.begin_bulk_load();
    for path in files {
        let found = for_each_row(path, |line, schema, bytes| {
            report.rows_read += 1;
            if report.rows_read <= SAMPLE_ROWS {
                sampled_bytes += bytes.len() as u64 + 1;
                if report.rows_read == SAMPLE_ROWS {
                    // One reservation instead of rebuilds as the index grows; a journal with
                    // many rows per lease only over-sizes the key index (5 bytes a row).
                    let rows = total_bytes.saturating_mul(SAMPLE_ROWS) / sampled_bytes.max(1);
                    let rows = usize::try_from(rows)
                        .unwrap_or(usize::MAX)
                        .min(LeaseStore6::MAX_LEASES);
                    store.reserve(rows.saturating_sub(store.len()));
                }
            }
            match schema.parse_row(bytes) {
                Ok(lease) if lease.valid_lifetime == 0 => {
                    store.remove(lease.key());
                }
                Ok(lease) => {
                    if store.try_upsert(lease).is_err() {
                        return Err(Load6Error::StoreFull {
                            path: path.clone(),
                            line,
                            max: LeaseStore6::MAX_LEASES,
                        });
                    }
                }
                Err(error) => {
                    if report.count_bad_row(path, line, &error, max_bad_rows) {
                        return Err(Load6Error::TooManyBadRows {
                            path: path.clone(),
                            line,
                            bad_rows: report.bad_rows,
                            max_bad_rows,
                            last_error: error,
                        });
                    }
                }
            }
            Ok(())
        })?;
        if found {
            report.files_read += 1;
        }
    }
    store.finish_bulk_load();
    report.finish(store.len(), started, "DHCPv6");
    Ok((store, report))
}

/// The v6 compaction merge: `X.1` and `X.2` of active file `path` into a new `X.1` (one row
/// per live lease), then `X.2` deleted. Same crash-safety steps as the v4 merge; the leases are
/// merged in memory (v6 lease counts are those of clients' IAs, not of address space).
pub fn merge_previous6(path: &Path) -> Result<CompactReport, MemfileError> {
    let started = Instant::now();
    let previous = with_suffix(path, PREVIOUS_SUFFIX);
    let input = with_suffix(path, INPUT_SUFFIX);
    let output = with_suffix(path, OUTPUT_SUFFIX);
    let mut report = CompactReport::default();
    let (store, load) = load6(&[previous.clone(), input.clone()], u32::MAX)
        .map_err(|e| MemfileError::io("merge", &input)(io::Error::other(e.to_string())))?;
    report.rows_in = load.rows_read;
    report.bad_rows = load.bad_rows;
    let out = File::create(&output).map_err(MemfileError::io("create", &output))?;
    let mut out = BufWriter::with_capacity(1 << 20, out);
    let mut bytes = Vec::with_capacity(1 << 16);
    bytes.extend_from_slice(csv6::HEADER.as_bytes());
    bytes.push(b'\n');
    let mut leases: Vec<_> = store.iter().collect();
    leases.sort_by_key(|l| (l.expire, l.key()));
    for lease in leases {
        csv6::format_row(lease, &mut bytes);
        report.rows_out += 1;
        if bytes.len() > 1 << 16 {
            out.write_all(&bytes)
                .map_err(MemfileError::io("write", &output))?;
            bytes.clear();
        }
    }
    out.write_all(&bytes)
        .map_err(MemfileError::io("write", &output))?;
    let out = out
        .into_inner()
        .map_err(|e| MemfileError::io("write", &output)(e.into_error()))?;
    install_merge_output(path, out)?;
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::memfile::{memfile_files, Durability, MemfileWriter};
    use crate::lease::record6::{Lease6, LeaseType6};

    fn lease(addr: &str, valid: u32) -> Lease6 {
        Lease6 {
            address: addr.parse().expect("addr"),
            prefix_len: 128,
            lease_type: LeaseType6::Na,
            duid: vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 1].into(),
            iaid: 1,
            valid_lifetime: valid,
            preferred_lifetime: valid / 2,
            expire: 2_000_000_000,
            subnet_id: 1,
            ..Lease6::default()
        }
    }

    #[test]
    fn writer_load_and_compaction_keep_the_last_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("leases6.csv");
        let writer = MemfileWriter::open_v6(&path, Durability::Fsync).expect("open");
        let mut rows = Vec::new();
        csv6::format_row(&lease("2001:db8::1", 100), &mut rows);
        csv6::format_row(&lease("2001:db8::2", 100), &mut rows);
        csv6::format_row(&lease("2001:db8::1", 200), &mut rows);
        csv6::format_delete_row(&lease("2001:db8::2", 100), &mut rows);
        let (tx, rx) = std::sync::mpsc::channel();
        writer.submit(rows, Box::new(move |r| tx.send(r.is_ok()).expect("send")));
        assert!(rx.recv().expect("done"));
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with(&format!("{}\n", csv6::HEADER)));
        let (store, report) = load6(&memfile_files(&path), 0).expect("load");
        assert_eq!(report.rows_read, 4);
        assert_eq!(store.len(), 1);
        let report = writer.compact().expect("compact").join().expect("merge");
        assert_eq!(report.rows_out, 1);
        let (store, _) = load6(&memfile_files(&path), 0).expect("load");
        let key = (LeaseType6::Na, "2001:db8::1".parse().expect("a"));
        assert_eq!(store.get(key).map(|l| l.valid_lifetime), Some(200));
        // Reopening an existing v6 file appends without a second header.
        drop(writer);
        let writer = MemfileWriter::open_v6(&path, Durability::Fsync).expect("reopen");
        writer.flush_and_wait().expect("flush");
        assert_eq!(
            std::fs::read_to_string(&path)
                .expect("read")
                .matches("address,duid")
                .count(),
            1
        );
        // A v4 file is refused as a v6 file.
        let v4 = dir.path().join("v4.csv");
        std::fs::write(&v4, format!("{}\n", crate::lease::memfile::csv4::HEADER)).expect("w");
        assert!(MemfileWriter::open_v6(&v4, Durability::Fsync).is_err());
    }
}
