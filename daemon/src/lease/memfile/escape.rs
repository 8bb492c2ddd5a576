//! Kea's escaping of text columns (hostname, user context) in CSV files.
//!
//! Kea's `CSVRow::escapeCharacters` writes the separator ',' and the escape
//! tag's first character '&' as `&#x` plus two lowercase hex digits
//! ("&#x2c", "&#x26"); `unescapeCharacters` turns any `&#x` followed by two
//! hex digits back into that byte and keeps a `&#x` without them literally.
//!
//! We also escape control characters (below 0x20, and 0x7f): Kea 2.2 writes
//! them raw, so a hostname with a newline would split the row in two. Kea
//! 2.2 reads our escaped form back correctly (its unescape accepts any byte),
//! and later Kea versions escape control characters the same way.

const TAG: &[u8] = b"&#x";
const DIGITS: &[u8; 16] = b"0123456789abcdef";

fn needs_escape(b: u8) -> bool {
    b == b',' || b == b'&' || b < 0x20 || b == 0x7f
}

/// Appends `text` to `out`, escaped.
pub(crate) fn escape_into(text: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    for (i, &b) in text.iter().enumerate() {
        if needs_escape(b) {
            out.extend_from_slice(&text[start..i]);
            out.extend_from_slice(TAG);
            out.push(DIGITS[usize::from(b >> 4)]);
            out.push(DIGITS[usize::from(b & 0x0f)]);
            start = i + 1;
        }
    }
    out.extend_from_slice(&text[start..]);
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Undoes Kea's escaping. Returns `None` when `field` holds no escape tag,
/// so the common case needs no copy.
pub(crate) fn unescape(field: &[u8]) -> Option<Vec<u8>> {
    let first = find_tag(field, 0)?;
    let mut out = Vec::with_capacity(field.len());
    out.extend_from_slice(&field[..first]);
    let mut i = first;
    while i < field.len() {
        if field[i..].starts_with(TAG) {
            let digits = field
                .get(i + 3..i + 5)
                .and_then(|d| Some((hex_value(d[0])?, hex_value(d[1])?)));
            if let Some((hi, lo)) = digits {
                out.push((hi << 4) | lo);
                i += 5;
                continue;
            }
            // Not followed by two hex digits: text that just looks like a tag.
            // (Kea 2.2 turns a tag at the very end into a NUL byte; we keep it.)
            out.extend_from_slice(TAG);
            i += 3;
            continue;
        }
        out.push(field[i]);
        i += 1;
    }
    Some(out)
}

fn find_tag(field: &[u8], from: usize) -> Option<usize> {
    field
        .get(from..)?
        .windows(TAG.len())
        .position(|w| w == TAG)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str) -> String {
        let mut out = Vec::new();
        escape_into(s.as_bytes(), &mut out);
        String::from_utf8(out).expect("ascii")
    }

    fn unesc(s: &str) -> String {
        unescape(s.as_bytes()).map_or_else(|| s.to_owned(), |v| String::from_utf8(v).expect("utf8"))
    }

    #[test]
    fn escapes_like_kea() {
        assert_eq!(esc("plain.example.org"), "plain.example.org");
        assert_eq!(esc("a,b"), "a&#x2cb");
        assert_eq!(esc("a&b"), "a&#x26b");
        assert_eq!(esc("{ \"a\": 1, \"b\": 2 }"), "{ \"a\": 1&#x2c \"b\": 2 }");
        assert_eq!(esc("line\nbreak"), "line&#x0abreak");
        assert_eq!(esc("ünï"), "ünï", "UTF-8 stays raw");
    }

    #[test]
    fn unescapes_like_kea() {
        assert!(unescape(b"no tags here").is_none());
        assert_eq!(unesc("a&#x2cb"), "a,b");
        assert_eq!(unesc("a&#x2Cb&#x26c"), "a,b&c");
        assert_eq!(unesc("&#xzz"), "&#xzz");
        assert_eq!(unesc("tail&#x"), "tail&#x");
        assert_eq!(unesc("tail&#x2"), "tail&#x2");
        assert_eq!(unesc("&#x&#x2c"), "&#x,");
    }

    #[test]
    fn round_trip_every_byte() {
        let all: Vec<u8> = (0..=255u8).collect();
        let mut out = Vec::new();
        escape_into(&all, &mut out);
        assert!(!out.contains(&b','));
        assert!(!out.contains(&b'\n'));
        assert_eq!(unescape(&out), Some(all));
    }
}
