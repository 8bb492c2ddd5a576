//! Kea's colon-separated hexadecimal text form of byte strings ("00:0c:01"),
//! used for hardware addresses and client identifiers.

use thiserror::Error;

/// Why a colon-separated hexadecimal string could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HexError {
    /// A character that is neither a hexadecimal digit nor a colon.
    #[error("invalid hexadecimal digit")]
    BadDigit,
    /// Two colons in a row, or a colon at either end.
    #[error("empty byte between colons")]
    EmptyGroup,
    /// More than two digits between colons.
    #[error("more than two hexadecimal digits in one byte")]
    GroupTooLong,
    /// Without colons the digits must come in pairs.
    #[error("odd number of hexadecimal digits")]
    OddLength,
    /// More bytes than the destination holds.
    #[error("longer than {max} bytes")]
    TooLong {
        /// The largest number of bytes accepted.
        max: usize,
    },
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

fn nibble(c: u8) -> Result<u8, HexError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(HexError::BadDigit),
    }
}

/// Decodes `text` into `out` and returns the number of bytes written.
///
/// Accepts Kea's form, one or two digits per byte separated by colons
/// ("0:c:1" and "00:0c:01" are equal, as in Kea's `decodeColonSeparatedHexString`),
/// and, leniently, an unseparated even-length string ("000c01"). The empty
/// string decodes to zero bytes.
pub(crate) fn decode(text: &[u8], out: &mut [u8]) -> Result<usize, HexError> {
    if text.is_empty() {
        return Ok(0);
    }
    let too_long = HexError::TooLong { max: out.len() };
    let mut n = 0;
    if !text.contains(&b':') && text.len() > 2 {
        if text.len() & 1 == 1 {
            return Err(HexError::OddLength);
        }
        for pair in text.chunks_exact(2) {
            let slot = out.get_mut(n).ok_or(too_long)?;
            *slot = (nibble(pair[0])? << 4) | nibble(pair[1])?;
            n += 1;
        }
        return Ok(n);
    }
    for group in text.split(|&b| b == b':') {
        let value = match *group {
            [] => return Err(HexError::EmptyGroup),
            [lo] => nibble(lo)?,
            [hi, lo] => (nibble(hi)? << 4) | nibble(lo)?,
            _ => return Err(HexError::GroupTooLong),
        };
        let slot = out.get_mut(n).ok_or(too_long)?;
        *slot = value;
        n += 1;
    }
    Ok(n)
}

/// Appends `bytes` as lowercase two-digit hex separated by colons, the way Kea
/// writes them (`HWAddr::toText(false)`, `ClientId::toText()`).
pub(crate) fn encode(bytes: &[u8], out: &mut Vec<u8>) {
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Result<Vec<u8>, HexError> {
        let mut buf = [0u8; 8];
        decode(text.as_bytes(), &mut buf).map(|n| buf[..n].to_vec())
    }

    #[test]
    fn decodes_kea_forms() {
        assert_eq!(dec(""), Ok(vec![]));
        assert_eq!(dec("00:0c:01"), Ok(vec![0, 0x0c, 1]));
        assert_eq!(dec("0:c:1"), Ok(vec![0, 0x0c, 1]));
        assert_eq!(dec("AB:cd"), Ok(vec![0xab, 0xcd]));
        assert_eq!(dec("ff"), Ok(vec![0xff]));
        assert_eq!(dec("000c01"), Ok(vec![0, 0x0c, 1]));
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(dec("00::01"), Err(HexError::EmptyGroup));
        assert_eq!(dec(":01"), Err(HexError::EmptyGroup));
        assert_eq!(dec("01:"), Err(HexError::EmptyGroup));
        assert_eq!(dec("001:02"), Err(HexError::GroupTooLong));
        assert_eq!(dec("0g"), Err(HexError::BadDigit));
        assert_eq!(dec("00c01"), Err(HexError::OddLength));
        assert_eq!(dec("1:2:3:4:5:6:7:8:9"), Err(HexError::TooLong { max: 8 }));
    }

    #[test]
    fn encodes_lowercase_with_colons() {
        let mut out = Vec::new();
        encode(&[0, 0x0c, 0xAB], &mut out);
        assert_eq!(out, b"00:0c:ab");
        out.clear();
        encode(&[], &mut out);
        assert!(out.is_empty());
    }
}
