//! What operational state shows of one memfile: the lease rows it holds and when it was last
//! compacted. Kept by the writer as it appends, set from the load at start-up and from each
//! compaction's report, so readers never read the file.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::compact::CompactReport;

/// Row count and last compaction time of one memfile (lock-free, shared with readers).
#[derive(Debug, Default)]
pub struct FileStats {
    /// Data rows (headers excluded) in the files a restart replays: the previous compaction's
    /// output, a compaction's frozen input while one runs, and the active file.
    rows: AtomicU64,
    /// Unix seconds at the end of the last successful compaction; 0 when none since start.
    last_compaction: AtomicU64,
}

impl FileStats {
    /// Data rows the memfile holds now.
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// Unix seconds of the last successful compaction since start, if any.
    pub fn last_compaction(&self) -> Option<u64> {
        match self.last_compaction.load(Ordering::Relaxed) {
            0 => None,
            secs => Some(secs),
        }
    }

    /// Adds the data rows the start-up load read from the files.
    pub fn rows_loaded(&self, rows: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
    }

    /// Counts the rows of `buf` (whole rows, each ending in '\n') just appended.
    pub(super) fn rows_written(&self, buf: &[u8]) {
        let rows = buf.iter().filter(|&&b| b == b'\n').count() as u64;
        self.rows.fetch_add(rows, Ordering::Relaxed);
    }

    /// Takes in a finished compaction: the rows it merged are replaced by the rows it wrote,
    /// while rows appended to the fresh active file meanwhile stay counted.
    pub(super) fn compacted(&self, report: &CompactReport) {
        // The closure never returns None, so the update cannot fail.
        let _ = self
            .rows
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |rows| {
                Some(rows_after_compaction(rows, report))
            });
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_secs().max(1));
        self.last_compaction.store(now, Ordering::Relaxed);
    }
}

/// Rows held after a compaction that read `rows_in` rows (the previous output and the frozen
/// input) and wrote `rows_out`, from the `rows` counted before it ended.
fn rows_after_compaction(rows: u64, report: &CompactReport) -> u64 {
    rows.saturating_sub(report.rows_in)
        .saturating_add(report.rows_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(rows_in: u64, rows_out: u64) -> CompactReport {
        CompactReport {
            rotated: true,
            rows_in,
            rows_out,
            ..CompactReport::default()
        }
    }

    #[test]
    fn rows_follow_load_appends_and_compaction() {
        let stats = FileStats::default();
        assert_eq!((stats.rows(), stats.last_compaction()), (0, None));
        stats.rows_loaded(10);
        stats.rows_written(b"a,1\nb,2\nc,3\n");
        assert_eq!(stats.rows(), 13);
        // 13 rows merged into 4 leases while 2 more rows went to the fresh active file.
        stats.rows_written(b"d,4\ne,5\n");
        stats.compacted(&report(13, 4));
        assert_eq!(stats.rows(), 6);
        assert!(stats.last_compaction().is_some_and(|t| t > 1_700_000_000));
    }

    #[test]
    fn a_report_larger_than_the_count_never_underflows() {
        assert_eq!(rows_after_compaction(3, &report(5, 2)), 2);
    }
}
