//! RFC 6242 message framing: end-of-message (`]]>]]>`) and chunked framing.
//!
//! The decoder is pure and incremental: feed it whatever bytes the transport delivered, then
//! take complete messages out one at a time. The framing can change between two messages
//! (after the `<hello>` exchange, when both sides announced `base:1.1`), so the decoder only
//! decodes on demand: bytes that follow a message stay buffered, untouched, until the caller
//! has chosen the framing for the next one.
//!
//! ```text
//! end-of-message (RFC 6242 4.3):   <message bytes> ]]>]]>
//!
//! chunked (RFC 6242 4.2):
//!   Chunked-Message = 1*chunk end-of-chunks
//!   chunk           = LF HASH chunk-size LF chunk-data
//!   chunk-size      = 1*DIGIT1 0*DIGIT          ; 1 ..= 4294967295
//!   end-of-chunks   = LF HASH HASH LF
//! ```

/// The end-of-message delimiter of the `:base:1.0` framing (RFC 6242 section 4.3).
pub const END_OF_MESSAGE: &[u8] = b"]]>]]>";

/// The default upper bound on one decoded message, in bytes.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// Largest chunk size the grammar allows (RFC 6242 section 4.2).
const MAX_CHUNK_SIZE: u64 = 4_294_967_295;

/// Which framing mechanism a session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Messages end with `]]>]]>`: the hello, and whole sessions when a side only speaks base:1.0.
    EndOfMessage,
    /// Chunked framing, once both sides advertised base:1.1.
    Chunked,
}

/// Why the byte stream cannot be decoded. Every variant ends the session: the stream has no
/// reliable resynchronisation point after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// A message grew past the configured maximum before it ended.
    #[error("message larger than the limit of {limit} bytes")]
    TooBig {
        /// The configured limit.
        limit: usize,
    },
    /// Bytes where a chunk header (`\n#<size>\n`) or the end-of-chunks marker (`\n##\n`) must be.
    #[error("malformed chunk header: expected {expected}, got byte 0x{got:02x}")]
    BadChunkHeader {
        /// What the grammar allows at this point.
        expected: &'static str,
        /// The byte received instead.
        got: u8,
    },
    /// A chunk size of zero, with a leading zero, or larger than 4294967295.
    #[error("invalid chunk size")]
    BadChunkSize,
    /// `\n##\n` before any chunk: a chunked message has at least one chunk.
    #[error("end-of-chunks marker without any chunk")]
    EmptyMessage,
}

/// Where the chunked decoder stands in the grammar above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Expecting the LF that starts a chunk header or the end-of-chunks marker.
    HeaderLf,
    /// Expecting the first `#`.
    HeaderHash,
    /// After `\n#`: a second `#` (end of chunks) or the first digit of a size.
    HeaderAfterHash,
    /// Reading size digits; the value so far and how many digits were read.
    Size(u64),
    /// Expecting the LF closing `\n##`.
    EndLf,
    /// Inside chunk data with this many bytes left.
    Data(u64),
}

/// Incremental RFC 6242 decoder.
///
/// ```
/// use netconf::framing::{Decoder, Framing};
/// let mut d = Decoder::new(1024);
/// d.feed(b"<hello/>]]>]]>\n#6\n<rpc/");
/// assert_eq!(d.next_message().unwrap().as_deref(), Some(&b"<hello/>"[..]));
/// d.set_framing(Framing::Chunked);
/// assert_eq!(d.next_message().unwrap(), None);
/// d.feed(b">\n##\n");
/// assert_eq!(d.next_message().unwrap().as_deref(), Some(&b"<rpc/>"[..]));
/// ```
#[derive(Debug)]
pub struct Decoder {
    framing: Framing,
    max_message_size: usize,
    /// Received bytes not yet consumed by a decoded message.
    input: Vec<u8>,
    /// End-of-message framing: how far `input` was already searched for the delimiter, so a
    /// message arriving one byte at a time is scanned once, not once per byte.
    scanned: usize,
    /// Chunked framing: the payload of the message being assembled.
    message: Vec<u8>,
    /// Chunked framing: grammar position.
    state: ChunkState,
    /// Chunked framing: whether the current message already has a chunk.
    has_chunk: bool,
}

impl Decoder {
    /// A decoder for a new session: end-of-message framing, as the hello requires.
    pub fn new(max_message_size: usize) -> Self {
        Decoder {
            framing: Framing::EndOfMessage,
            max_message_size,
            input: Vec::new(),
            scanned: 0,
            message: Vec::new(),
            state: ChunkState::HeaderLf,
            has_chunk: false,
        }
    }

    /// The framing used for the next message.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Switches framing. Call it between messages only (after [`Decoder::next_message`]
    /// returned a message): bytes already buffered are decoded with the new framing.
    pub fn set_framing(&mut self, framing: Framing) {
        if framing != self.framing {
            self.framing = framing;
            self.scanned = 0;
            self.message.clear();
            self.state = ChunkState::HeaderLf;
            self.has_chunk = false;
        }
    }

    /// Appends received bytes. Nothing is decoded until [`Decoder::next_message`].
    pub fn feed(&mut self, data: &[u8]) {
        self.input.extend_from_slice(data);
    }

    /// Bytes buffered and not yet part of a returned message (for the session to bound its
    /// reads: it stops reading while a full message is waiting).
    pub fn buffered(&self) -> usize {
        self.input.len() + self.message.len()
    }

    /// Decodes the next complete message, if the buffered bytes hold one.
    ///
    /// Returns `Ok(None)` when more input is needed. After an error the decoder state is
    /// unspecified: the session must end.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        match self.framing {
            Framing::EndOfMessage => self.next_eom(),
            Framing::Chunked => self.next_chunked(),
        }
    }

    fn next_eom(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        // Restart the search a delimiter length back, in case the delimiter straddles two feeds.
        let from = self.scanned.saturating_sub(END_OF_MESSAGE.len() - 1);
        if let Some(pos) = find(&self.input[from..], END_OF_MESSAGE) {
            let end = from + pos;
            if end > self.max_message_size {
                return Err(FramingError::TooBig {
                    limit: self.max_message_size,
                });
            }
            let rest = self.input.split_off(end + END_OF_MESSAGE.len());
            let mut msg = std::mem::replace(&mut self.input, rest);
            msg.truncate(end);
            self.scanned = 0;
            return Ok(Some(msg));
        }
        self.scanned = self.input.len();
        // Without a delimiter, everything buffered belongs to the message; allow for a partial
        // delimiter at the end before calling it too big.
        if self.input.len() > self.max_message_size + END_OF_MESSAGE.len() - 1 {
            return Err(FramingError::TooBig {
                limit: self.max_message_size,
            });
        }
        Ok(None)
    }

    fn next_chunked(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        let mut pos = 0;
        let result = loop {
            if let ChunkState::Data(left) = self.state {
                let available = self.input.len() - pos;
                if available == 0 {
                    break Ok(None);
                }
                // `left` can exceed usize on 32-bit targets; the min keeps the cast lossless.
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(available);
                if self.message.len() + take > self.max_message_size {
                    break Err(FramingError::TooBig {
                        limit: self.max_message_size,
                    });
                }
                self.message.extend_from_slice(&self.input[pos..pos + take]);
                pos += take;
                let left = left - take as u64;
                self.state = if left == 0 {
                    ChunkState::HeaderLf
                } else {
                    ChunkState::Data(left)
                };
                continue;
            }
            let Some(&byte) = self.input.get(pos) else {
                break Ok(None);
            };
            pos += 1;
            match self.step_header(byte) {
                Ok(true) => {
                    self.state = ChunkState::HeaderLf;
                    self.has_chunk = false;
                    break Ok(Some(std::mem::take(&mut self.message)));
                }
                Ok(false) => {}
                Err(e) => break Err(e),
            }
        };
        self.input.drain(..pos);
        result
    }

    /// Advances the header grammar by one byte; `Ok(true)` when the message is complete.
    fn step_header(&mut self, byte: u8) -> Result<bool, FramingError> {
        self.state = match (self.state, byte) {
            (ChunkState::HeaderLf, b'\n') => ChunkState::HeaderHash,
            (ChunkState::HeaderLf, got) => {
                return Err(FramingError::BadChunkHeader {
                    expected: "LF",
                    got,
                })
            }
            (ChunkState::HeaderHash, b'#') => ChunkState::HeaderAfterHash,
            (ChunkState::HeaderHash, got) => {
                return Err(FramingError::BadChunkHeader {
                    expected: "'#'",
                    got,
                })
            }
            (ChunkState::HeaderAfterHash, b'#') => {
                if !self.has_chunk {
                    return Err(FramingError::EmptyMessage);
                }
                ChunkState::EndLf
            }
            (ChunkState::HeaderAfterHash, b'1'..=b'9') => ChunkState::Size(u64::from(byte - b'0')),
            (ChunkState::HeaderAfterHash, b'0') => return Err(FramingError::BadChunkSize),
            (ChunkState::HeaderAfterHash, got) => {
                return Err(FramingError::BadChunkHeader {
                    expected: "'#' or a digit",
                    got,
                })
            }
            (ChunkState::Size(n), b'0'..=b'9') => {
                let n = n * 10 + u64::from(byte - b'0');
                if n > MAX_CHUNK_SIZE {
                    return Err(FramingError::BadChunkSize);
                }
                ChunkState::Size(n)
            }
            (ChunkState::Size(n), b'\n') => {
                if self.message.len() as u64 + n > self.max_message_size as u64 {
                    // Refuse early: no point buffering a chunk that cannot fit.
                    return Err(FramingError::TooBig {
                        limit: self.max_message_size,
                    });
                }
                self.has_chunk = true;
                ChunkState::Data(n)
            }
            (ChunkState::Size(_), got) => {
                return Err(FramingError::BadChunkHeader {
                    expected: "a digit or LF",
                    got,
                })
            }
            (ChunkState::EndLf, b'\n') => return Ok(true),
            (ChunkState::EndLf, got) => {
                return Err(FramingError::BadChunkHeader {
                    expected: "LF",
                    got,
                })
            }
            (ChunkState::Data(_), _) => unreachable_data_state(),
        };
        Ok(false)
    }
}

/// `step_header` is only called outside chunk data; keep the match total without panicking.
#[cold]
fn unreachable_data_state() -> ChunkState {
    debug_assert!(false, "step_header called inside chunk data");
    ChunkState::HeaderLf
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Appends `message` to `out`, framed.
///
/// Chunked messages are written as one chunk per 4 GiB - 1 (the grammar's maximum), in
/// practice one chunk. An empty message cannot be represented in chunked framing and is written
/// as a single space, which XML treats as insignificant whitespace.
pub fn encode(framing: Framing, message: &[u8], out: &mut Vec<u8>) {
    match framing {
        Framing::EndOfMessage => {
            out.extend_from_slice(message);
            out.extend_from_slice(END_OF_MESSAGE);
        }
        Framing::Chunked => {
            let message: &[u8] = if message.is_empty() { b" " } else { message };
            let max = usize::try_from(MAX_CHUNK_SIZE).unwrap_or(usize::MAX);
            for chunk in message.chunks(max) {
                out.extend_from_slice(format!("\n#{}\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
            }
            out.extend_from_slice(b"\n##\n");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn drain(d: &mut Decoder) -> Result<Vec<Vec<u8>>, FramingError> {
        let mut out = Vec::new();
        while let Some(m) = d.next_message()? {
            out.push(m);
        }
        Ok(out)
    }

    /// Feeds `input` split at every byte boundary, returning the messages and first error.
    fn decode_bytewise(
        framing: Framing,
        input: &[u8],
        max: usize,
    ) -> (Vec<Vec<u8>>, Option<FramingError>) {
        let mut d = Decoder::new(max);
        d.set_framing(framing);
        let mut out = Vec::new();
        for b in input {
            d.feed(std::slice::from_ref(b));
            match drain(&mut d) {
                Ok(mut m) => out.append(&mut m),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    fn decode_all(
        framing: Framing,
        input: &[u8],
        max: usize,
    ) -> (Vec<Vec<u8>>, Option<FramingError>) {
        let mut d = Decoder::new(max);
        d.set_framing(framing);
        d.feed(input);
        let mut out = Vec::new();
        loop {
            match d.next_message() {
                Ok(Some(m)) => out.push(m),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn eom_messages() {
        let input = b"<a/>]]>]]><b>x</b>]]>]]>\n<c";
        let (msgs, err) = decode_all(Framing::EndOfMessage, input, 100);
        assert_eq!(err, None);
        assert_eq!(msgs, vec![b"<a/>".to_vec(), b"<b>x</b>".to_vec()]);
        assert_eq!(
            decode_bytewise(Framing::EndOfMessage, input, 100),
            (msgs, None)
        );
    }

    #[test]
    fn eom_delimiter_lookalikes() {
        let input = b"]]>]]]>]]>]]>";
        let (msgs, err) = decode_bytewise(Framing::EndOfMessage, input, 100);
        assert_eq!(err, None);
        assert_eq!(msgs, vec![b"]]>]".to_vec()]);
    }

    #[test]
    fn eom_too_big() {
        let (_, err) = decode_all(Framing::EndOfMessage, b"0123456789]]>]]>", 9);
        assert_eq!(err, Some(FramingError::TooBig { limit: 9 }));
        let (msgs, err) = decode_all(Framing::EndOfMessage, b"012345678]]>]]>", 9);
        assert_eq!((msgs.len(), err), (1, None));
        // No delimiter yet, but already more than the limit plus a partial delimiter.
        let (_, err) = decode_bytewise(Framing::EndOfMessage, &[b'x'; 20], 9);
        assert_eq!(err, Some(FramingError::TooBig { limit: 9 }));
    }

    #[test]
    fn chunked_messages() {
        let input = b"\n#4\n<rpc\n#18\n message-id=\"102\"\n\n#79\n     xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\">\n  <close-session/>\n</rpc>\n##\n\n#3\nabc\n##\n";
        let (msgs, err) = decode_all(Framing::Chunked, input, 1000);
        assert_eq!(err, None);
        assert_eq!(msgs.len(), 2);
        assert!(msgs[0].starts_with(b"<rpc message-id=\"102\"\n"));
        assert!(msgs[0].ends_with(b"</rpc>"));
        assert_eq!(msgs[1], b"abc");
        assert_eq!(decode_bytewise(Framing::Chunked, input, 1000), (msgs, None));
    }

    #[test]
    fn chunked_errors() {
        let cases: &[(&[u8], FramingError)] = &[
            (
                b"x",
                FramingError::BadChunkHeader {
                    expected: "LF",
                    got: b'x',
                },
            ),
            (
                b"\n!",
                FramingError::BadChunkHeader {
                    expected: "'#'",
                    got: b'!',
                },
            ),
            (b"\n#0\n", FramingError::BadChunkSize),
            (b"\n#01\n", FramingError::BadChunkSize),
            (b"\n#4294967296\n", FramingError::BadChunkSize),
            (
                b"\n#12a",
                FramingError::BadChunkHeader {
                    expected: "a digit or LF",
                    got: b'a',
                },
            ),
            (
                b"\n#x",
                FramingError::BadChunkHeader {
                    expected: "'#' or a digit",
                    got: b'x',
                },
            ),
            (b"\n##\n", FramingError::EmptyMessage),
            (
                b"\n#1\na\n##x",
                FramingError::BadChunkHeader {
                    expected: "LF",
                    got: b'x',
                },
            ),
            (
                b"\n#1\nab",
                FramingError::BadChunkHeader {
                    expected: "LF",
                    got: b'b',
                },
            ),
            (b"\n#2000\n", FramingError::TooBig { limit: 1000 }),
        ];
        for (input, want) in cases {
            assert_eq!(
                decode_all(Framing::Chunked, input, 1000).1.as_ref(),
                Some(want),
                "{input:?}"
            );
            assert_eq!(
                decode_bytewise(Framing::Chunked, input, 1000).1.as_ref(),
                Some(want),
                "{input:?} bytewise"
            );
        }
    }

    #[test]
    fn chunked_too_big_across_chunks() {
        let (_, err) = decode_all(Framing::Chunked, b"\n#6\nabcdef\n#5\nghijk\n##\n", 10);
        assert_eq!(err, Some(FramingError::TooBig { limit: 10 }));
        let (msgs, err) = decode_all(Framing::Chunked, b"\n#6\nabcdef\n#4\nghij\n##\n", 10);
        assert_eq!((msgs, err), (vec![b"abcdefghij".to_vec()], None));
    }

    #[test]
    fn hello_then_chunked_in_one_read() {
        let mut d = Decoder::new(100);
        d.feed(b"<hello/>]]>]]>\n#3\nabc\n##\n");
        assert_eq!(d.next_message().unwrap().unwrap(), b"<hello/>");
        d.set_framing(Framing::Chunked);
        assert_eq!(d.next_message().unwrap().unwrap(), b"abc");
        assert_eq!(d.next_message().unwrap(), None);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn encode_round_trip() {
        for framing in [Framing::EndOfMessage, Framing::Chunked] {
            let mut out = Vec::new();
            encode(framing, b"<rpc-reply/>", &mut out);
            encode(framing, b"second", &mut out);
            let (msgs, err) = decode_bytewise(framing, &out, 100);
            assert_eq!(err, None);
            assert_eq!(msgs, vec![b"<rpc-reply/>".to_vec(), b"second".to_vec()]);
        }
        let mut out = Vec::new();
        encode(Framing::Chunked, b"abc", &mut out);
        assert_eq!(out, b"\n#3\nabc\n##\n");
    }
}
