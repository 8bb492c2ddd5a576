//! Loading the DHCPv4 lease files at start-up.
//!
//! The memfile is a journal: rows are replayed in file order, the last row
//! for an address wins and a row with `valid_lifetime` 0 deletes the lease.
//! Files are streamed (one line buffer, no per-row allocation besides the
//! lease's own boxed fields) and parsed by hand.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::LoadError;
use super::reader::RowReader;
use crate::lease::store4::LeaseStore4;

const PROGRESS_EVERY: u64 = 500_000;

/// What a load did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Files that existed and were read.
    pub files_read: usize,
    /// Data rows read (headers and blank lines not counted).
    pub rows_read: u64,
    /// Leases in the store at the end.
    pub leases_loaded: usize,
    /// Rows that were rejected and skipped.
    pub bad_rows: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl LoadReport {
    /// Counts and logs a rejected row of either family; `true` once more than `max_bad_rows`
    /// rows were rejected in all, which fails the load.
    pub(super) fn count_bad_row(
        &mut self,
        path: &Path,
        line: u64,
        error: &dyn Display,
        max_bad_rows: u32,
    ) -> bool {
        self.bad_rows += 1;
        tracing::warn!(file = %path.display(), line, %error, "skipping bad lease row");
        self.bad_rows > u64::from(max_bad_rows)
    }

    /// Completes the report of a load that ended with `leases` leases and logs it;
    /// `family` ("DHCPv4") names the server in the log.
    pub(super) fn finish(&mut self, leases: usize, started: Instant, family: &str) {
        self.leases_loaded = leases;
        self.elapsed = started.elapsed();
        tracing::info!(
            files = self.files_read,
            rows = self.rows_read,
            leases = self.leases_loaded,
            bad_rows = self.bad_rows,
            elapsed_ms = self.elapsed.as_millis() as u64,
            "{family} leases loaded"
        );
    }
}

/// Loads the DHCPv4 lease files `files`, in order (normally
/// [`super::memfile_files`]: `X.1`, `X.2`, `X`; missing files are skipped).
///
/// Bad rows are logged and skipped; more than `max_bad_rows` of them in all
/// fails the load with [`LoadError::TooManyBadRows`]. A file whose header is
/// not a v4 memfile header (older and newer Kea schemas are accepted) fails it
/// with [`LoadError::Header`].
pub fn load4(files: &[PathBuf], max_bad_rows: u32) -> Result<(LeaseStore4, LoadReport), LoadError> {
    let started = Instant::now();
    let mut store = LeaseStore4::new();
    let mut report = LoadReport::default();
    store.begin_bulk_load();
    for path in files {
        let mut reader = match RowReader::open(path) {
            Ok(Some(r)) => r,
            Ok(None) => {
                tracing::debug!(file = %path.display(), "lease file absent");
                continue;
            }
            Err(e) => return Err(LoadError::from_open(path.clone(), e)),
        };
        report.files_read += 1;
        let schema = reader.schema();
        if schema.needs_conversion() {
            tracing::info!(file = %path.display(), "lease file has another Kea schema; its rows are converted");
        }
        let rows_before = report.rows_read;
        loop {
            let row = match reader.next_row() {
                Ok(Some(row)) => row,
                Ok(None) => break,
                Err(source) => {
                    return Err(LoadError::Io {
                        path: path.clone(),
                        source,
                    })
                }
            };
            report.rows_read += 1;
            match schema.parse_row(row.bytes) {
                Ok(lease) if lease.valid_lifetime == 0 => {
                    store.remove(lease.address);
                }
                Ok(lease) => {
                    if store.try_upsert(lease).is_err() {
                        return Err(LoadError::StoreFull {
                            path: path.clone(),
                            line: row.line,
                            max: LeaseStore4::MAX_LEASES,
                        });
                    }
                }
                Err(error) => {
                    if report.count_bad_row(path, row.line, &error, max_bad_rows) {
                        return Err(LoadError::TooManyBadRows {
                            path: path.clone(),
                            line: row.line,
                            bad_rows: report.bad_rows,
                            max_bad_rows,
                            last_error: error,
                        });
                    }
                }
            }
            if report.rows_read % PROGRESS_EVERY == 0 {
                tracing::info!(
                    rows = report.rows_read,
                    leases = store.len(),
                    "loading leases"
                );
            }
        }
        tracing::debug!(file = %path.display(), rows = report.rows_read - rows_before, "lease file read");
    }
    store.finish_bulk_load();
    report.finish(store.len(), started, "DHCPv4");
    Ok((store, report))
}
