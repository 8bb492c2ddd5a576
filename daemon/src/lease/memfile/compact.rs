//! Compaction in Kea's LFC file scheme, without blocking appends.
//!
//! 1. On the writer thread: sync the active file `X`, create a fresh
//!    `X.new` with the header, rename `X` to `X.2` and `X.new` to `X`. If
//!    `X.2` already exists, an earlier compaction did not finish: no
//!    rotation, its merge is simply redone.
//! 2. On a background thread: merge `X.1` and `X.2` into `X.output` (last
//!    row per address wins, deleted leases dropped), fsync it, rename it to
//!    `X.1`, fsync the directory, delete `X.2`, fsync the directory.
//!
//! A load replays `X.1`, `X.2`, `X`. After a crash at any step that replay
//! gives the same leases: before the rename of `X.output` the old `X.1` and
//! `X.2` are intact (and `X.output` is ignored); after it, `X.1` holds the
//! merge and replaying a leftover `X.2` on top repeats rows whose last
//! values the merge already holds.
//!
//! The merge streams: a first pass records, per address, the position of its
//! last valid row (8 bytes per address); a second pass copies those rows.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::csv4::{self, HEADER};
use super::error::MemfileError;
use super::file_stats::FileStats;
use super::reader::RowReader;
use super::writer::{create_with_header, header_len, ActiveFile};
use super::{sync_dir, with_suffix, INPUT_SUFFIX, NEW_SUFFIX, OUTPUT_SUFFIX, PREVIOUS_SUFFIX};
use crate::lease::index::mix64;

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// The active file was rotated to `X.2` (false when an unfinished
    /// compaction's `X.2` was merged instead).
    pub rotated: bool,
    /// Data rows read from `X.1` and `X.2`.
    pub rows_in: u64,
    /// Rows written to the new `X.1` (one per live lease).
    pub rows_out: u64,
    /// Rows that failed to parse and were dropped.
    pub bad_rows: u64,
    /// Wall time of the merge.
    pub elapsed: Duration,
}

/// A running compaction's merge.
#[derive(Debug)]
pub struct CompactionHandle {
    path: PathBuf,
    thread: JoinHandle<Result<CompactReport, MemfileError>>,
}

impl CompactionHandle {
    /// True once the merge has ended (either way).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the merge and returns its report. Dropping the handle
    /// instead lets the merge finish on its own (it logs its outcome).
    pub fn join(self) -> Result<CompactReport, MemfileError> {
        match self.thread.join() {
            Ok(result) => result,
            Err(_) => Err(MemfileError::CompactionPanicked { path: self.path }),
        }
    }
}

/// Step 1 and the launch of step 2; runs on the writer thread, which owns
/// `active`.
pub(super) fn start(
    active: &mut ActiveFile,
    compacting: &Arc<AtomicBool>,
    stats: &Arc<FileStats>,
) -> Result<CompactionHandle, MemfileError> {
    let path = active.path.clone();
    if compacting.swap(true, Ordering::AcqRel) {
        return Err(MemfileError::CompactionInProgress { path });
    }
    // From here on the flag is ours; a guard hands it back whatever happens.
    let guard = InProgress(compacting.clone());
    let rotated = rotate(active)?;
    let merge: fn(&Path) -> Result<CompactReport, MemfileError> = if active.header == HEADER {
        merge_previous
    } else {
        super::load6::merge_previous6
    };
    let span = tracing::info_span!("lfc", file = %path.display());
    let thread_path = path.clone();
    let stats = stats.clone();
    let thread = std::thread::Builder::new()
        .name("memfile-lfc".into())
        .spawn(move || {
            let _guard = guard;
            span.in_scope(|| {
                let result = merge(&thread_path).map(|r| CompactReport { rotated, ..r });
                if let Ok(r) = &result {
                    stats.compacted(r);
                }
                match &result {
                    Ok(r) => tracing::info!(
                        rotated = r.rotated,
                        rows_in = r.rows_in,
                        rows_out = r.rows_out,
                        bad_rows = r.bad_rows,
                        elapsed_ms = r.elapsed.as_millis() as u64,
                        "lease file compacted"
                    ),
                    Err(e) => tracing::error!(error = %e, "lease file compaction failed; the next one retries"),
                }
                result
            })
        })
        .map_err(MemfileError::io("spawn compaction thread for", &path))?;
    Ok(CompactionHandle { path, thread })
}

struct InProgress(Arc<AtomicBool>);

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Moves the active file to `X.2` and puts a fresh `X` in its place.
/// Returns false, changing nothing, when `X.2` already exists.
fn rotate(active: &mut ActiveFile) -> Result<bool, MemfileError> {
    let path = active.path.clone();
    let input = with_suffix(&path, INPUT_SUFFIX);
    match std::fs::symlink_metadata(&input) {
        Ok(_) => {
            tracing::info!(file = %input.display(), "resuming an unfinished compaction");
            return Ok(false);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(MemfileError::io("stat", &input)(e)),
    }
    if let Some(why) = &active.poisoned {
        return Err(MemfileError::io("rotate", &path)(io::Error::other(
            why.clone(),
        )));
    }
    // Everything in X.2 must be on disk before the merge makes it X.1.
    active
        .file
        .sync_data()
        .map_err(MemfileError::io("fdatasync", &path))?;
    let fresh_path = with_suffix(&path, NEW_SUFFIX);
    let fresh = create_with_header(&fresh_path, active.header)?;
    std::fs::rename(&path, &input).map_err(MemfileError::io("rename to .2", &path))?;
    if let Err(e) = std::fs::rename(&fresh_path, &path) {
        // Put the active file back; if even that fails, appending to the
        // handle (now X.2, which the merge will delete) would lose rows.
        if let Err(back) = std::fs::rename(&input, &path) {
            let why = format!(
                "lease file rotation failed half-way ({e}; undoing it: {back}); {} must be renamed back to {} by hand",
                input.display(),
                path.display()
            );
            tracing::error!("{why}");
            active.poisoned = Some(why);
        }
        return Err(MemfileError::io("rename into place", &path)(e));
    }
    active.file = fresh;
    active.len = header_len(active.header);
    active.needs_newline = false;
    sync_dir(&path).map_err(MemfileError::io("fsync directory of", &path))?;
    Ok(true)
}

/// Merges `X.1` and `X.2` of active file `path` into a new `X.1` and
/// deletes `X.2` (step 2). Safe to run again after a crash, and offline: it
/// never touches `X`.
pub fn merge_previous(path: &Path) -> Result<CompactReport, MemfileError> {
    let started = Instant::now();
    let previous = with_suffix(path, PREVIOUS_SUFFIX);
    let input = with_suffix(path, INPUT_SUFFIX);
    let output = with_suffix(path, OUTPUT_SUFFIX);
    let sources = [previous.clone(), input.clone()];
    let mut report = CompactReport::default();

    // Pass 1: the position of each address's last valid row.
    let mut last: HashMap<u32, u32, BuildHasherDefault<AddrHasher>> = HashMap::default();
    let mut position: u32 = 0;
    for file in &sources {
        let Some(mut reader) = open_source(file)? else {
            continue;
        };
        let schema = reader.schema();
        while let Some(row) = reader.next_row().map_err(MemfileError::io("read", file))? {
            position = position
                .checked_add(1)
                .ok_or_else(|| MemfileError::TooManyRows { path: file.clone() })?;
            report.rows_in += 1;
            match schema.parse_row(row.bytes) {
                Ok(lease) => {
                    last.insert(u32::from(lease.address), position);
                }
                Err(error) => {
                    report.bad_rows += 1;
                    tracing::warn!(file = %file.display(), line = row.line, %error, "dropping bad lease row");
                }
            }
        }
    }

    // Pass 2: copy those rows, except deletions, in their original order.
    let out = File::create(&output).map_err(MemfileError::io("create", &output))?;
    let mut out = BufWriter::with_capacity(1 << 20, out);
    let write_err = |source| MemfileError::Io {
        op: "write",
        path: output.clone(),
        source,
    };
    let mut line = Vec::with_capacity(256);
    line.extend_from_slice(HEADER.as_bytes());
    line.push(b'\n');
    out.write_all(&line).map_err(write_err)?;
    let rows_pass1 = position;
    position = 0;
    for file in &sources {
        let Some(mut reader) = open_source(file)? else {
            continue;
        };
        let schema = reader.schema();
        while let Some(row) = reader.next_row().map_err(MemfileError::io("read", file))? {
            // Saturating: a file that grew since pass 1 is caught below.
            position = position.saturating_add(1);
            // Only the last row of an address is parsed in full again.
            let is_last = csv4::row_address(row.bytes)
                .is_some_and(|a| last.get(&u32::from(a)) == Some(&position));
            if !is_last {
                continue;
            }
            if let Ok(lease) = schema.parse_row(row.bytes) {
                if lease.valid_lifetime != 0 {
                    line.clear();
                    csv4::format_row(&lease, &mut line);
                    out.write_all(&line).map_err(write_err)?;
                    report.rows_out += 1;
                }
            }
        }
    }
    if position != rows_pass1 {
        // Only a compaction writes these files; another process (a second
        // daemon, kea-lfc) changed them. The positions no longer match.
        let why = io::Error::other("lease files changed during the merge");
        return Err(MemfileError::io("merge", &input)(why));
    }
    let out = out.into_inner().map_err(|e| write_err(e.into_error()))?;
    install_merge_output(path, out)?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Ends a merge of active file `path` (either family): makes the written `X.output` durable,
/// renames it to `X.1`, then deletes the merged `X.2`. Each step leaves files that replay to
/// the same leases, so a crash anywhere is safe.
pub(super) fn install_merge_output(path: &Path, out: File) -> Result<(), MemfileError> {
    let previous = with_suffix(path, PREVIOUS_SUFFIX);
    let input = with_suffix(path, INPUT_SUFFIX);
    let output = with_suffix(path, OUTPUT_SUFFIX);
    out.sync_all().map_err(MemfileError::io("fsync", &output))?;
    drop(out);

    std::fs::rename(&output, &previous).map_err(MemfileError::io("rename to .1", &output))?;
    sync_dir(path).map_err(MemfileError::io("fsync directory of", path))?;
    match std::fs::remove_file(&input) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(MemfileError::io("remove", &input)(e)),
    }
    sync_dir(path).map_err(MemfileError::io("fsync directory of", path))
}

/// Opens one merge source; `None` when it does not exist.
fn open_source(file: &Path) -> Result<Option<RowReader<File>>, MemfileError> {
    RowReader::open(file).map_err(|e| MemfileError::from_open(file.to_path_buf(), e))
}

/// Hasher for the merge's address map: addresses come from our own files,
/// so a fast mixer is enough.
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix64(self.0 ^ u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = mix64(u64::from(n));
    }
}
