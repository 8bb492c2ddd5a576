//! Errors of loading, writing and compacting memfiles.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::csv4::{HeaderError, RowError};
use super::reader::OpenError;

/// Why the lease files could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// A file could not be opened or read.
    #[error("cannot read lease file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// A file's first line is not a DHCPv4 memfile header.
    #[error("lease file {} line {line}: invalid header: {source}", path.display())]
    Header {
        /// The file.
        path: PathBuf,
        /// The header's line number.
        line: u64,
        /// What is wrong with it.
        #[source]
        source: HeaderError,
    },
    /// More rows failed to parse than allowed.
    #[error(
        "{bad_rows} bad lease rows, more than the {max_bad_rows} allowed; the last at {} line {line}: {last_error}",
        path.display()
    )]
    TooManyBadRows {
        /// The file of the last bad row.
        path: PathBuf,
        /// Line number of the last bad row.
        line: u64,
        /// Bad rows counted over all files.
        bad_rows: u64,
        /// The configured limit.
        max_bad_rows: u32,
        /// Why the last row was rejected.
        #[source]
        last_error: RowError,
    },
    /// The files hold more distinct addresses than the store can.
    #[error("lease file {} line {line}: more than {max} leases", path.display())]
    StoreFull {
        /// The file.
        path: PathBuf,
        /// The row that did not fit.
        line: u64,
        /// The store's capacity.
        max: usize,
    },
}

impl LoadError {
    pub(crate) fn from_open(path: PathBuf, e: OpenError) -> Self {
        match e {
            OpenError::Io(source) => LoadError::Io { path, source },
            OpenError::Header { line, source } => LoadError::Header { path, line, source },
        }
    }
}

/// Why the memfile writer or a compaction failed.
#[derive(Debug, Error)]
pub enum MemfileError {
    /// A file system operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "rename", "fsync", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// An existing file's first line is not a DHCPv4 memfile header.
    #[error("lease file {} line {line}: invalid header: {source}", path.display())]
    Header {
        /// The file.
        path: PathBuf,
        /// The header's line number.
        line: u64,
        /// What is wrong with it.
        #[source]
        source: HeaderError,
    },
    /// The writer thread is gone (it panicked); nothing can be written.
    #[error("the memfile writer for {} has stopped", path.display())]
    WriterStopped {
        /// The active lease file.
        path: PathBuf,
    },
    /// A compaction is still merging; try again when it is done.
    #[error("a compaction of {} is already running", path.display())]
    CompactionInProgress {
        /// The active lease file.
        path: PathBuf,
    },
    /// The compaction thread panicked; the files are as a crash would leave them.
    #[error("the compaction of {} panicked", path.display())]
    CompactionPanicked {
        /// The active lease file.
        path: PathBuf,
    },
    /// The files to merge have more rows than a compaction handles (2^32).
    #[error("{} has more rows than a compaction handles", path.display())]
    TooManyRows {
        /// The file being read.
        path: PathBuf,
    },
}

impl MemfileError {
    /// An error builder for `map_err`; the path is copied only on error.
    pub(crate) fn io<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> Self + 'p {
        move |source| MemfileError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn from_open(path: PathBuf, e: OpenError) -> Self {
        match e {
            OpenError::Io(source) => MemfileError::Io {
                op: "read",
                path,
                source,
            },
            OpenError::Header { line, source } => MemfileError::Header { path, line, source },
        }
    }
}
