//! The DHCPv4 memfile: leases journaled in ISC Kea 2.2's CSV format, so
//! files move between Kea and netdhcp and `kea-lfc` can check them.
//!
//! Files, for an active file `X` (Kea's names):
//!
//! - `X`: the file the writer appends to;
//! - `X.2`: the previous active file, frozen while a compaction merges it;
//! - `X.1`: the result of the last compaction;
//! - `X.output`: a merge in progress (ignored by loads);
//! - `X.new`: a fresh active file being created (ignored by loads).
//!
//! Loads replay `X.1`, `X.2`, `X` in that order, last row wins. Every step of
//! writing and compacting leaves files that replay to the same leases.

pub mod compact;
pub mod csv4;
pub mod csv6;
mod error;
mod escape;
pub mod file_stats;
pub mod load;
pub mod load6;
mod reader;
pub mod writer;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub use compact::{merge_previous, CompactReport, CompactionHandle};
pub use error::{LoadError, MemfileError};
pub use file_stats::FileStats;
pub use load::{load4, LoadReport};
pub use load6::{load6, Load6Error};
pub use writer::{Done, Durability, MemfileWriter};

/// Suffix of the last compaction's output (Kea's `FILE_PREVIOUS`).
pub const PREVIOUS_SUFFIX: &str = ".1";
/// Suffix of the frozen active file being compacted (Kea's `FILE_INPUT`).
pub const INPUT_SUFFIX: &str = ".2";
/// Suffix of a merge in progress (Kea's `FILE_OUTPUT`).
pub const OUTPUT_SUFFIX: &str = ".output";
/// Suffix of a fresh active file before it is renamed into place.
pub const NEW_SUFFIX: &str = ".new";

/// The files a load reads for active file `path`, in replay order:
/// `[X.1, X.2, X]`.
pub fn memfile_files(path: &Path) -> [PathBuf; 3] {
    [
        with_suffix(path, PREVIOUS_SUFFIX),
        with_suffix(path, INPUT_SUFFIX),
        path.to_path_buf(),
    ]
}

/// `path` with `suffix` appended to its file name ("leases4.csv" + ".1").
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Makes renames and deletions in the directory holding `path` durable.
pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}
