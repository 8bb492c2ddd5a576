//! The startup datastore: the configuration the daemon loads when it starts, kept as XML in
//! the state directory and replaced atomically.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Errors reading or writing the startup datastore.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The file could not be read.
    #[error("cannot read startup datastore {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file could not be written durably.
    #[error("cannot write startup datastore {path}: {source}")]
    Write {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// The startup datastore file inside a state directory.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("startup.xml")
}

/// Reads the startup datastore, `None` when there is none yet.
pub fn read(state_dir: &Path) -> Result<Option<String>, StartupError> {
    let path = path(state_dir);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StartupError::Read { path, source }),
    }
}

/// Replaces the startup datastore: temp file, fsync, rename, fsync of the directory, so a crash
/// leaves either the old or the new file, never a torn one.
pub fn write(state_dir: &Path, xml: &str) -> Result<(), StartupError> {
    let path = path(state_dir);
    write_atomically(&path, xml.as_bytes()).map_err(|source| StartupError::Write { path, source })
}

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })?
        .sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        write(dir.path(), "<a/>").unwrap();
        assert_eq!(read(dir.path()).unwrap().as_deref(), Some("<a/>"));
        write(dir.path(), "<b/>").unwrap();
        assert_eq!(read(dir.path()).unwrap().as_deref(), Some("<b/>"));
        assert!(!dir.path().join("startup.tmp").exists());
    }
}
