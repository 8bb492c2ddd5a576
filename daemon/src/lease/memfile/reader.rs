//! Streaming a memfile line by line: header check, line numbers, blank lines.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::csv4::{HeaderError, Schema, HEADER};

// Large reads: loading is sequential and 2 million rows are ~150 MB.
const READ_BUFFER: usize = 1 << 20;

/// What the first line of a file says.
#[derive(Debug)]
pub(crate) enum HeaderState {
    /// The file is empty, or holds only a torn header (a prefix of ours with
    /// no line end: a crash while the file was being created).
    Empty,
    /// A valid header; data rows follow it.
    Valid(Schema),
}

/// A header that is not a v4 memfile header, with its line number.
#[derive(Debug)]
pub(crate) enum OpenError {
    Io(io::Error),
    Header { line: u64, source: HeaderError },
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        OpenError::Io(e)
    }
}

/// Reads the rows of one lease file after its header.
pub(crate) struct RowReader<R> {
    input: BufReader<R>,
    buf: Vec<u8>,
    line: u64,
    schema: Schema,
    empty: bool,
}

/// One data row: its 1-based line number and its bytes without line end.
pub(crate) struct Row<'a> {
    pub(crate) line: u64,
    pub(crate) bytes: &'a [u8],
}

impl RowReader<File> {
    /// Opens `path`; `Ok(None)` when it does not exist.
    pub(crate) fn open(path: &Path) -> Result<Option<Self>, OpenError> {
        match File::open(path) {
            Ok(f) => Self::new(f).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(OpenError::Io(e)),
        }
    }
}

impl<R: Read> RowReader<R> {
    /// Reads and checks the header.
    pub(crate) fn new(input: R) -> Result<Self, OpenError> {
        let mut reader = RowReader {
            input: BufReader::with_capacity(READ_BUFFER, input),
            buf: Vec::with_capacity(256),
            line: 0,
            schema: Schema::CURRENT,
            empty: false,
        };
        match reader.read_header()? {
            HeaderState::Empty => reader.empty = true,
            HeaderState::Valid(schema) => reader.schema = schema,
        }
        Ok(reader)
    }

    /// The file's schema (from its header).
    pub(crate) fn schema(&self) -> Schema {
        self.schema
    }

    fn read_header(&mut self) -> Result<HeaderState, OpenError> {
        // Kea skips blank lines before the header too.
        loop {
            let Some(terminated) = self.read_line()? else {
                return Ok(HeaderState::Empty);
            };
            if self.buf.is_empty() {
                continue;
            }
            if !terminated
                && HEADER.as_bytes().starts_with(&self.buf)
                && self.buf.len() < HEADER.len()
            {
                tracing::warn!(line = self.line, "torn memfile header (crash while creating the file); treating the file as empty");
                return Ok(HeaderState::Empty);
            }
            return Schema::from_header(&self.buf)
                .map(HeaderState::Valid)
                .map_err(|source| OpenError::Header {
                    line: self.line,
                    source,
                });
        }
    }

    /// Reads one line into `buf` without its line end (and without a '\r'
    /// before it). `Some(true)` for a terminated line, `Some(false)` for a
    /// last line without '\n', `None` at end of file.
    fn read_line(&mut self) -> io::Result<Option<bool>> {
        self.buf.clear();
        if self.input.read_until(b'\n', &mut self.buf)? == 0 {
            return Ok(None);
        }
        self.line += 1;
        let terminated = self.buf.last() == Some(&b'\n');
        if terminated {
            self.buf.pop();
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(Some(terminated))
    }

    /// The next data row; blank lines are skipped, as Kea does.
    pub(crate) fn next_row(&mut self) -> io::Result<Option<Row<'_>>> {
        if self.empty {
            return Ok(None);
        }
        loop {
            if self.read_line()?.is_none() {
                return Ok(None);
            }
            if !self.buf.is_empty() {
                return Ok(Some(Row {
                    line: self.line,
                    bytes: &self.buf,
                }));
            }
        }
    }
}

/// Reads just the header of `path`, for the writer's checks.
pub(crate) fn read_header(path: &Path) -> Result<HeaderState, OpenError> {
    let file = File::open(path)?;
    let reader = RowReader::new(file)?;
    Ok(if reader.empty {
        HeaderState::Empty
    } else {
        HeaderState::Valid(reader.schema)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Result<Vec<(u64, String)>, OpenError> {
        let mut r = RowReader::new(text.as_bytes())?;
        let mut out = Vec::new();
        while let Some(row) = r.next_row().map_err(OpenError::Io)? {
            out.push((row.line, String::from_utf8_lossy(row.bytes).into_owned()));
        }
        Ok(out)
    }

    #[test]
    fn numbers_lines_and_skips_blanks() {
        let text = format!("{HEADER}\nrow a\n\nrow b\r\nrow c");
        let got = rows(&text).expect("valid header");
        assert_eq!(
            got,
            vec![
                (2, "row a".into()),
                (4, "row b".into()),
                (5, "row c".into())
            ]
        );
    }

    #[test]
    fn empty_and_torn_files_are_empty() {
        assert!(rows("").expect("empty").is_empty());
        assert!(rows("\n\n").expect("blank").is_empty());
        assert!(rows("address,hwaddr,cli").expect("torn").is_empty());
        assert!(rows(HEADER).expect("header without newline").is_empty());
    }

    #[test]
    fn wrong_header_is_reported_with_its_line() {
        match rows("\naddress,duid\n1.2.3.4") {
            Err(OpenError::Header { line: 2, .. }) => {}
            Err(OpenError::Header { line, .. }) => panic!("line {line}"),
            Err(OpenError::Io(e)) => panic!("{e}"),
            Ok(r) => panic!("accepted: {r:?}"),
        }
        // A terminated prefix of the header is not torn: it is wrong.
        assert!(matches!(
            rows("address,hwaddr\n"),
            Err(OpenError::Header { .. })
        ));
    }
}
