//! RFC 6242 decoder: feeding the input in arbitrary pieces gives the same messages (and the
//! same error) as feeding it at once, and every decoded message survives encode -> decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netconf::framing::{encode, Decoder, Framing, FramingError};

const MAX: usize = 4096;

fn decode_in_pieces(framing: Framing, input: &[u8], cuts: &[u8]) -> (Vec<Vec<u8>>, Option<FramingError>) {
    let mut d = Decoder::new(MAX);
    d.set_framing(framing);
    let mut out = Vec::new();
    let mut rest = input;
    let mut cuts = cuts.iter().cycle();
    while !rest.is_empty() {
        let n = (usize::from(*cuts.next().unwrap_or(&255)) + 1).min(rest.len());
        d.feed(&rest[..n]);
        rest = &rest[n..];
        loop {
            match d.next_message() {
                Ok(Some(m)) => out.push(m),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let framing = if selector & 1 == 0 { Framing::EndOfMessage } else { Framing::Chunked };
    let n_cuts = usize::from(selector >> 1).min(rest.len());
    let (cuts, input) = rest.split_at(n_cuts);

    let whole = decode_in_pieces(framing, input, &[]);
    let pieces = decode_in_pieces(framing, input, if cuts.is_empty() { &[0] } else { cuts });
    assert_eq!(whole, pieces, "decoding depends on how the input was split");

    for msg in &whole.0 {
        let mut encoded = Vec::new();
        encode(framing, msg, &mut encoded);
        let again = decode_in_pieces(framing, &encoded, &[0]);
        // End-of-message framing cannot carry a message containing the delimiter.
        if framing == Framing::Chunked || !msg.windows(6).any(|w| w == b"]]>]]>") {
            let expected = if msg.is_empty() && framing == Framing::Chunked { b" ".to_vec() } else { msg.clone() };
            assert_eq!(again, (vec![expected], None));
        }
    }
});
