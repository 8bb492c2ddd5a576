//! The memfile writer: one thread owns the active lease file and appends
//! rows with group commit.
//!
//! Callers queue already formatted rows with a completion callback. The
//! thread takes everything queued (up to a size cap), writes it with one
//! `write`, makes it durable with one `fdatasync` (in [`Durability::Fsync`]
//! mode), then runs the callbacks in submission order. Under load, one
//! fsync covers many requests; a client's ACK can wait for its callback.
//!
//! A packet engine can also write its batch itself
//! ([`MemfileWriter::write_or_submit`]) when the thread has nothing queued:
//! the hand-off and wake-up of a second thread per batch cost more than the
//! write, and while the engine waits for the fsync new packets gather in its
//! sockets, so its next batch is the group commit. Rows reach the file in
//! submission order either way.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::compact::{self, CompactionHandle};
use super::csv4::HEADER;
use super::error::MemfileError;
use super::file_stats::FileStats;
use super::reader::{self, HeaderState};
use super::{sync_dir, with_suffix, INPUT_SUFFIX, NEW_SUFFIX};

/// Completion callback of [`MemfileWriter::submit`]: `Ok` once the rows are
/// written (and synced in [`Durability::Fsync`] mode). Callbacks run on the
/// writer thread, one after the other: keep them short (send a reply, wake a
/// task), since the next batch waits for them.
pub type Done = Box<dyn FnOnce(Result<(), Arc<io::Error>>) + Send + 'static>;

/// When a batch counts as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// After `fdatasync`: the rows survive a power loss.
    Fsync,
    /// After `write`: the rows survive a crash of the daemon, not of the
    /// machine (Kea's behaviour).
    None,
}

/// The mean fsync time up to which [`MemfileWriter::write_or_submit`] syncs on the calling
/// thread. Above it (a busy disk) the engine would stop answering for longer than handing its
/// rows to the writer thread costs, and it keeps reading packets while that thread syncs.
pub const INLINE_SYNC_LIMIT: Duration = Duration::from_micros(500);

/// Queue length (in submissions) of [`MemfileWriter::open`].
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

// A batch stops taking queued rows past this size, so a steady stream of
// submissions cannot delay the first callback without bound.
const MAX_BATCH_BYTES: usize = 8 << 20;

enum Command {
    Rows(Vec<u8>, Done),
    Flush(mpsc::Sender<Result<(), MemfileError>>),
    Compact(mpsc::Sender<Result<CompactionHandle, MemfileError>>),
}

/// Appends lease rows to the active memfile from a dedicated thread.
///
/// `Sync`: share it (e.g. in an `Arc`) and submit from any thread. Dropping
/// it writes everything queued, syncs, and joins the thread.
pub struct MemfileWriter {
    path: PathBuf,
    file: Arc<SharedFile>,
    tx: Option<SyncSender<Command>>,
    thread: Option<JoinHandle<()>>,
}

/// The active file, shared by the writer thread and callers writing on their own thread.
struct SharedFile {
    active: Mutex<ActiveFile>,
    durability: Durability,
    /// Commands sent to the writer thread and not yet carried out: a caller may write on its
    /// own thread only when this is 0, so its rows cannot overtake queued ones.
    queued: AtomicUsize,
    /// Recent fsync time, microseconds: an exponentially weighted mean (weight 1/8 per sync).
    sync_micros: AtomicU64,
    /// Rows held and last compaction, for operational state.
    stats: Arc<FileStats>,
    /// The header line of this kind of file (v4 or v6), known without locking `active`.
    header: &'static str,
}

impl SharedFile {
    /// In [`Durability::Fsync`] mode, whether recent fsyncs took longer than a caller should
    /// stop its own work for.
    fn sync_too_slow_to_wait_for(&self) -> bool {
        self.durability == Durability::Fsync
            && self.sync_micros.load(Ordering::Relaxed) > INLINE_SYNC_LIMIT.as_micros() as u64
    }

    /// Appends `buf` (see [`append`]), keeping the fsync time's mean.
    fn append_timed(&self, active: &mut ActiveFile, buf: &[u8]) -> io::Result<()> {
        let started = Instant::now();
        let before = active.len;
        let result = append(active, self.durability, buf);
        // In the file (even when only its sync failed): counted.
        if active.len >= before + buf.len() as u64 {
            self.stats.rows_written(buf);
        }
        if self.durability == Durability::Fsync {
            let took = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u64;
            let mean = self.sync_micros.load(Ordering::Relaxed);
            // Only the thread holding the file updates the mean: no lost update.
            self.sync_micros
                .store(mean - mean / 8 + took / 8, Ordering::Relaxed);
        }
        result
    }

    fn lock(&self) -> MutexGuard<'_, ActiveFile> {
        // A panic while appending leaves the file as a failed write would (cut back or
        // flagged), so the state is still usable.
        self.active.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for MemfileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemfileWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The active file as the writer thread sees it; the compaction's rotation
/// swaps the file underneath.
pub(super) struct ActiveFile {
    pub(super) path: PathBuf,
    pub(super) file: File,
    /// Bytes known to be in the file, to cut a torn write back off.
    pub(super) len: u64,
    /// The header line of this kind of file (v4 or v6).
    pub(super) header: &'static str,
    /// The file does not end in '\n' (a torn row): start the next write with
    /// one so the torn row stays a single bad line.
    pub(super) needs_newline: bool,
    /// Set when the files are in a state where appending could lose rows
    /// (a rotation failed half-way and could not be undone).
    pub(super) poisoned: Option<String>,
}

impl MemfileWriter {
    /// Opens (creating it with the header if missing or empty) the active
    /// file `path` and starts the writer thread.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, MemfileError> {
        Self::with_queue_capacity(path, durability, DEFAULT_QUEUE_CAPACITY)
    }

    /// Like [`MemfileWriter::open`] for a DHCPv6 memfile: the header written and checked is
    /// `header` ([`super::csv6::HEADER`]); compaction merges with the v6 row format.
    pub fn open_v6(path: &Path, durability: Durability) -> Result<Self, MemfileError> {
        Self::start(
            open_active_v6(path)?,
            path,
            durability,
            DEFAULT_QUEUE_CAPACITY,
        )
    }

    /// Like [`MemfileWriter::open`], with a queue of `capacity` submissions:
    /// [`MemfileWriter::submit`] blocks while it is full.
    pub fn with_queue_capacity(
        path: &Path,
        durability: Durability,
        capacity: usize,
    ) -> Result<Self, MemfileError> {
        Self::start(open_active(path)?, path, durability, capacity)
    }

    fn start(
        active: ActiveFile,
        path: &Path,
        durability: Durability,
        capacity: usize,
    ) -> Result<Self, MemfileError> {
        if with_suffix(path, INPUT_SUFFIX).exists() {
            tracing::warn!(file = %path.display(), "an earlier compaction did not finish; the next compaction completes it");
        }
        let (tx, rx) = mpsc::sync_channel(capacity.max(1));
        let header = active.header;
        let file = Arc::new(SharedFile {
            active: Mutex::new(active),
            durability,
            queued: AtomicUsize::new(0),
            sync_micros: AtomicU64::new(0),
            stats: Arc::default(),
            header,
        });
        let mut worker = Worker {
            file: file.clone(),
            compacting: Arc::new(AtomicBool::new(false)),
        };
        let span = tracing::info_span!("memfile", file = %path.display());
        let thread = std::thread::Builder::new()
            .name("memfile-writer".into())
            .spawn(move || span.in_scope(|| worker.run(rx)))
            .map_err(MemfileError::io("spawn writer thread for", path))?;
        Ok(MemfileWriter {
            path: path.to_path_buf(),
            file,
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// The active file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True for a DHCPv6 memfile ([`MemfileWriter::open_v6`]).
    pub fn is_v6(&self) -> bool {
        self.file.header == super::csv6::HEADER
    }

    /// Rows held and last compaction time; the start-up load adds the rows it read with
    /// [`FileStats::rows_loaded`].
    pub fn stats(&self) -> &FileStats {
        &self.file.stats
    }

    /// Queues formatted CSV rows (see [`super::csv4::format_row`]); `done` is
    /// called from the writer thread once they are written, or with the error.
    /// Blocks while the queue is full. If the writer has stopped, `done` is
    /// called at once with an error.
    pub fn submit(&self, rows: Vec<u8>, done: Done) {
        let cmd = Command::Rows(rows, done);
        // `send` blocks while the queue is full: that is the backpressure.
        let returned = match &self.tx {
            Some(tx) => {
                self.file.queued.fetch_add(1, Ordering::AcqRel);
                let returned = tx.send(cmd).err().map(|e| e.0);
                if returned.is_some() {
                    self.file.queued.fetch_sub(1, Ordering::AcqRel);
                }
                returned
            }
            None => Some(cmd),
        };
        if let Some(Command::Rows(_, done)) = returned {
            let err = io::Error::other(format!(
                "the memfile writer for {} has stopped",
                self.path.display()
            ));
            call_done(done, Err(Arc::new(err)));
        }
    }

    /// Writes `rows` like [`MemfileWriter::submit`], but on the calling thread, calling `done`
    /// before it returns, when the writer thread has nothing queued and the file's recent
    /// fsyncs were quick; otherwise queues them behind what is queued. The calling thread
    /// waits for the write (and fsync): a packet engine does not read its sockets meanwhile,
    /// which costs less than the hand-off while an fsync is shorter than
    /// [`INLINE_SYNC_LIMIT`], and more on a busy disk.
    pub fn write_or_submit(&self, mut rows: Vec<u8>, done: Done) {
        if self.tx.is_none() || self.file.sync_too_slow_to_wait_for() {
            return self.submit(rows, done);
        }
        // Never wait for the writer thread (it may be rotating the file for a compaction):
        // when it holds the file, or has anything queued, queue behind it. The count is read
        // under the lock, which the writer thread holds while it touches the file, so a
        // command counted there (rows or a rotation) always comes first.
        let mut active = match self.file.active.try_lock() {
            Ok(active) => active,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return self.submit(rows, done),
        };
        if self.file.queued.load(Ordering::Acquire) != 0 {
            drop(active);
            return self.submit(rows, done);
        }
        // A row without its line end would swallow the next one.
        if rows.last().is_some_and(|&b| b != b'\n') {
            rows.push(b'\n');
        }
        let result = self.file.append_timed(&mut active, &rows).map_err(Arc::new);
        drop(active);
        if let Err(e) = &result {
            tracing::error!(error = %e, rows_bytes = rows.len(), "lease write failed");
        }
        call_done(done, result);
    }

    /// Waits until everything submitted before is written and synced to disk
    /// (also in [`Durability::None`] mode).
    pub fn flush_and_wait(&self) -> Result<(), MemfileError> {
        let (reply, wait) = mpsc::channel();
        self.send(Command::Flush(reply))?;
        wait.recv().map_err(|_| self.stopped())?
    }

    /// Starts a compaction (see [`super::compact`]): rows submitted before
    /// go to the old file, rows after to a fresh one. Returns once the files
    /// are rotated; the merge runs on its own thread.
    pub fn compact(&self) -> Result<CompactionHandle, MemfileError> {
        let (reply, wait) = mpsc::channel();
        self.send(Command::Compact(reply))?;
        wait.recv().map_err(|_| self.stopped())?
    }

    /// Writes everything queued, syncs and stops the thread, reporting a
    /// final sync error (dropping does the same, logging it instead).
    pub fn shutdown(mut self) -> Result<(), MemfileError> {
        let flushed = self.flush_and_wait();
        self.stop();
        flushed
    }

    fn send(&self, cmd: Command) -> Result<(), MemfileError> {
        match &self.tx {
            Some(tx) => {
                self.file.queued.fetch_add(1, Ordering::AcqRel);
                tx.send(cmd).map_err(|_| {
                    self.file.queued.fetch_sub(1, Ordering::AcqRel);
                    self.stopped()
                })
            }
            None => Err(self.stopped()),
        }
    }

    fn stopped(&self) -> MemfileError {
        MemfileError::WriterStopped {
            path: self.path.clone(),
        }
    }

    fn stop(&mut self) {
        // Closing the channel ends the thread after it drains the queue.
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!(file = %self.path.display(), "the memfile writer thread panicked");
            }
        }
    }
}

impl Drop for MemfileWriter {
    fn drop(&mut self) {
        self.stop();
    }
}

fn call_done(done: Done, result: Result<(), Arc<io::Error>>) {
    // A panicking callback must not take the writer thread (and every later
    // write) down with it.
    if catch_unwind(AssertUnwindSafe(move || done(result))).is_err() {
        tracing::error!("a lease write callback panicked");
    }
}

/// Opens the active file for appending, creating it with the header when it
/// is missing, empty or holds only a torn header.
fn open_active(path: &Path) -> Result<ActiveFile, MemfileError> {
    open_or_create(path, HEADER, || match reader::read_header(path) {
        Ok(HeaderState::Empty) => Ok(true),
        Ok(HeaderState::Valid(schema)) => {
            if schema.needs_conversion() {
                tracing::warn!(file = %path.display(), "lease file has another Kea schema's header; appending rows of ours (Kea reads both)");
            }
            Ok(false)
        }
        Err(e) => Err(MemfileError::from_open(path.to_path_buf(), e)),
    })
}

/// Opens the DHCPv6 active file: like [`open_active`], with the v6 header.
fn open_active_v6(path: &Path) -> Result<ActiveFile, MemfileError> {
    open_or_create(
        path,
        super::csv6::HEADER,
        || match super::csv6::read_header(path) {
            Ok(header) => Ok(header.is_none()),
            Err(e) => Err(MemfileError::io("read header of", path)(e)),
        },
    )
}

/// Opens active file `path` for appending, or creates it with `header` when it is missing,
/// empty, or `lacks_header` (run only on a non-empty file) finds only a torn header.
fn open_or_create(
    path: &Path,
    header: &'static str,
    lacks_header: impl FnOnce() -> Result<bool, MemfileError>,
) -> Result<ActiveFile, MemfileError> {
    let fresh = match std::fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        Err(e) => return Err(MemfileError::io("stat", path)(e)),
        Ok(m) if m.len() == 0 => true,
        Ok(_) => lacks_header()?,
    };
    if !fresh {
        return open_existing(path, header);
    }
    // Created aside and renamed in, so a crash never leaves a file without its header.
    let file = create_with_header(&with_suffix(path, NEW_SUFFIX), header)?;
    std::fs::rename(with_suffix(path, NEW_SUFFIX), path)
        .map_err(MemfileError::io("rename into place", path))?;
    sync_dir(path).map_err(MemfileError::io("fsync directory of", path))?;
    Ok(ActiveFile {
        path: path.to_path_buf(),
        file,
        len: header_len(header),
        header,
        needs_newline: false,
        poisoned: None,
    })
}

fn open_existing(path: &Path, header: &'static str) -> Result<ActiveFile, MemfileError> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .open(path)
        .map_err(MemfileError::io("open", path))?;
    let len = file
        .metadata()
        .map_err(MemfileError::io("stat", path))?
        .len();
    let mut last = [b'\n'; 1];
    if len > 0 {
        file.read_exact_at(&mut last, len - 1)
            .map_err(MemfileError::io("read", path))?;
    }
    let needs_newline = last[0] != b'\n';
    if needs_newline {
        tracing::warn!(file = %path.display(), "lease file ends in a torn row; it will be skipped as a bad row");
    }
    Ok(ActiveFile {
        path: path.to_path_buf(),
        file,
        len,
        header,
        needs_newline,
        poisoned: None,
    })
}

pub(super) fn header_len(header: &str) -> u64 {
    header.len() as u64 + 1
}

/// Creates (or empties) `path`, writes the header and syncs it. The handle
/// appends.
pub(super) fn create_with_header(path: &Path, header_line: &str) -> Result<File, MemfileError> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(MemfileError::io("create", path))?;
    file.set_len(0)
        .map_err(MemfileError::io("truncate", path))?;
    let mut header = Vec::with_capacity(header_line.len() + 1);
    header.extend_from_slice(header_line.as_bytes());
    header.push(b'\n');
    file.write_all(&header)
        .map_err(MemfileError::io("write header to", path))?;
    file.sync_all().map_err(MemfileError::io("fsync", path))?;
    Ok(file)
}

struct Worker {
    file: Arc<SharedFile>,
    compacting: Arc<AtomicBool>,
}

impl Worker {
    fn run(&mut self, rx: Receiver<Command>) {
        let mut buf: Vec<u8> = Vec::new();
        let mut dones: Vec<Done> = Vec::new();
        while let Ok(first) = rx.recv() {
            let mut next = Some(first);
            while let Some(cmd) = next {
                match cmd {
                    Command::Rows(rows, done) => {
                        buf.extend_from_slice(&rows);
                        // A row without its line end would swallow the next one.
                        if rows.last().is_some_and(|&b| b != b'\n') {
                            buf.push(b'\n');
                        }
                        dones.push(done);
                    }
                    Command::Flush(reply) => {
                        self.commit(&mut buf, &mut dones);
                        let synced = self.sync();
                        self.file.queued.fetch_sub(1, Ordering::AcqRel);
                        // The waiter may have given up; nothing to do then.
                        let _ = reply.send(synced);
                    }
                    Command::Compact(reply) => {
                        self.commit(&mut buf, &mut dones);
                        let started = self.start_compaction();
                        self.file.queued.fetch_sub(1, Ordering::AcqRel);
                        let _ = reply.send(started);
                    }
                }
                next = if buf.len() < MAX_BATCH_BYTES {
                    rx.try_recv().ok()
                } else {
                    None
                };
            }
            self.commit(&mut buf, &mut dones);
        }
        // All senders are gone and the queue is drained.
        if let Err(e) = self.sync() {
            tracing::error!(error = %e, "final lease file sync failed");
        }
        tracing::debug!("memfile writer stopped");
    }

    /// Writes the batch, syncs it if required, and completes its callbacks.
    fn commit(&mut self, buf: &mut Vec<u8>, dones: &mut Vec<Done>) {
        if dones.is_empty() {
            return;
        }
        let result = self
            .file
            .append_timed(&mut self.file.lock(), buf)
            .map_err(Arc::new);
        if let Err(e) = &result {
            tracing::error!(error = %e, rows_bytes = buf.len(), callbacks = dones.len(), "lease write failed");
        }
        // Written: a caller's own write may follow these rows now, even before their
        // callbacks ran.
        self.file.queued.fetch_sub(dones.len(), Ordering::AcqRel);
        for done in dones.drain(..) {
            call_done(done, result.clone());
        }
        buf.clear();
        // Do not keep a burst's buffer forever.
        if buf.capacity() > MAX_BATCH_BYTES * 2 {
            buf.shrink_to(MAX_BATCH_BYTES);
        }
    }

    fn sync(&self) -> Result<(), MemfileError> {
        let a = &*self.file.lock();
        if let Some(why) = &a.poisoned {
            return Err(MemfileError::io("write", &a.path)(io::Error::other(
                why.clone(),
            )));
        }
        a.file
            .sync_data()
            .map_err(MemfileError::io("fdatasync", &a.path))
    }

    fn start_compaction(&mut self) -> Result<CompactionHandle, MemfileError> {
        compact::start(&mut self.file.lock(), &self.compacting, &self.file.stats)
    }
}

/// Appends `buf` (whole rows) to the active file and, in [`Durability::Fsync`] mode, syncs it.
fn append(a: &mut ActiveFile, durability: Durability, buf: &[u8]) -> io::Result<()> {
    if let Some(why) = &a.poisoned {
        return Err(io::Error::other(why.clone()));
    }
    if a.needs_newline {
        (&a.file).write_all(b"\n")?;
        a.len += 1;
        a.needs_newline = false;
    }
    if let Err(e) = (&a.file).write_all(buf) {
        // Cut a partial row back off; if that fails too, make sure the
        // next batch starts on a line of its own.
        if a.file.set_len(a.len).is_err() {
            a.needs_newline = true;
            if let Ok(m) = a.file.metadata() {
                a.len = m.len();
            }
        }
        return Err(e);
    }
    a.len += buf.len() as u64;
    if durability == Durability::Fsync {
        // The rows are in the file either way; a failed sync is reported
        // so callers do not ACK, and they may write the rows again (a
        // repeated row is harmless: last row wins).
        a.file.sync_data()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn recorder(log: &Arc<Mutex<Vec<(u8, bool)>>>, id: u8) -> Done {
        let log = log.clone();
        Box::new(move |r| log.lock().expect("not poisoned").push((id, r.is_ok())))
    }

    #[test]
    fn slow_fsyncs_send_rows_to_the_writer_thread_and_quick_ones_keep_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("leases4.csv");
        let writer = MemfileWriter::open(&path, Durability::Fsync).expect("open");
        let on_thread = |writer: &MemfileWriter, row: &[u8]| {
            let (tx, rx) = mpsc::channel();
            writer.write_or_submit(
                row.to_vec(),
                Box::new(move |r| {
                    tx.send((r.is_ok(), std::thread::current().id()))
                        .expect("test alive")
                }),
            );
            rx.recv().expect("done called")
        };
        let caller = std::thread::current().id();
        // A disk slower than the limit: the writer thread syncs.
        writer
            .file
            .sync_micros
            .store(INLINE_SYNC_LIMIT.as_micros() as u64 * 4, Ordering::Relaxed);
        let (ok, thread) = on_thread(&writer, b"row 1\n");
        assert!(ok);
        assert_ne!(thread, caller);
        // Quick again: the caller syncs.
        writer.file.sync_micros.store(0, Ordering::Relaxed);
        let (ok, thread) = on_thread(&writer, b"row 2\n");
        assert!(ok);
        assert_eq!(thread, caller);
        drop(writer);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.ends_with("row 1\nrow 2\n"), "{text}");
    }

    #[test]
    fn write_error_reaches_every_callback_and_later_batches_retry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("leases4.csv");
        std::fs::write(&path, format!("{HEADER}\n")).expect("write");
        // A read-only handle: every write fails (EBADF).
        let read_only = File::open(&path).expect("open");
        let mut worker = Worker {
            file: Arc::new(SharedFile {
                active: Mutex::new(ActiveFile {
                    path: path.clone(),
                    file: read_only,
                    len: header_len(HEADER),
                    header: HEADER,
                    needs_newline: false,
                    poisoned: None,
                }),
                durability: Durability::Fsync,
                queued: AtomicUsize::new(0),
                sync_micros: AtomicU64::new(0),
                stats: Arc::default(),
                header: HEADER,
            }),
            compacting: Arc::new(AtomicBool::new(false)),
        };
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut buf = b"row 1\nrow 2\n".to_vec();
        let mut dones = vec![recorder(&log, 1), recorder(&log, 2)];
        worker.commit(&mut buf, &mut dones);
        assert_eq!(*log.lock().expect("lock"), vec![(1, false), (2, false)]);
        assert!(buf.is_empty() && dones.is_empty());

        // The disk is back: the next batch goes through.
        worker.file.lock().file = OpenOptions::new().append(true).open(&path).expect("open");
        let mut buf = b"row 3\n".to_vec();
        let mut dones = vec![recorder(&log, 3)];
        worker.commit(&mut buf, &mut dones);
        assert_eq!(log.lock().expect("lock").last(), Some(&(3, true)));
        // Cutting the failed batch off failed too (read-only handle), so the
        // writer started on a fresh line: a blank line, which loads skip.
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, format!("{HEADER}\n\nrow 3\n"));

        // A poisoned writer refuses, and says why.
        worker.file.lock().poisoned = Some("rotation failed half-way".into());
        let mut buf = b"row 4\n".to_vec();
        let mut dones = vec![recorder(&log, 4)];
        worker.commit(&mut buf, &mut dones);
        assert_eq!(log.lock().expect("lock").last(), Some(&(4, false)));
        assert!(worker.sync().is_err());
    }
}
