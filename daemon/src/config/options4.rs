//! Option payloads, encoded once at commit time so the packet path only copies bytes. The
//! codes are DHCPv4's; formats, helpers and option sets serve DHCPv6 too.

use std::collections::BTreeMap;

use super::common::{encode_address_list, FamilyAddress};

/// Option codes with dedicated leaves in the model (RFC 2132, RFC 3397).
pub mod code {
    /// Routers.
    pub const ROUTER: u8 = 3;
    /// Domain name servers.
    pub const DNS_SERVER: u8 = 6;
    /// Host name.
    pub const HOSTNAME: u8 = 12;
    /// Domain name.
    pub const DOMAIN_NAME: u8 = 15;
    /// Domain search list.
    pub const DOMAIN_SEARCH: u8 = 119;
}

/// How a configured custom option value is written on the wire, in either family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionFormat {
    /// Hexadecimal digits, ':' or spaces allowed between bytes.
    Hex,
    /// UTF-8 text.
    Text,
    /// Comma-separated addresses of the server's family (IPv4 or IPv6).
    AddressList,
    /// One byte.
    Uint8,
    /// Two bytes, network order.
    Uint16,
    /// Four bytes, network order.
    Uint32,
    /// One byte, 1 or 0.
    Boolean,
}

impl OptionFormat {
    /// The format named by the model's `option-format` enumeration of family `A`.
    pub fn from_yang<A: FamilyAddress>(name: &str) -> Option<Self> {
        Some(match name {
            "hex" => OptionFormat::Hex,
            "text" => OptionFormat::Text,
            "uint8" => OptionFormat::Uint8,
            "uint16" => OptionFormat::Uint16,
            "uint32" => OptionFormat::Uint32,
            "boolean" => OptionFormat::Boolean,
            list if list == A::LIST_FORMAT => OptionFormat::AddressList,
            _ => return None,
        })
    }

    /// Encodes `value`, addresses being of family `A`; the error says what is wrong with it.
    pub fn encode<A: FamilyAddress>(self, value: &str) -> Result<Vec<u8>, String> {
        let value = value.trim();
        match self {
            OptionFormat::Hex => decode_hex(value),
            OptionFormat::Text => Ok(value.as_bytes().to_vec()),
            OptionFormat::AddressList => encode_address_list::<A>(value),
            OptionFormat::Uint8 => value
                .parse::<u8>()
                .map(|v| vec![v])
                .map_err(|e| e.to_string()),
            OptionFormat::Uint16 => value
                .parse::<u16>()
                .map(|v| v.to_be_bytes().to_vec())
                .map_err(|e| e.to_string()),
            OptionFormat::Uint32 => value
                .parse::<u32>()
                .map(|v| v.to_be_bytes().to_vec())
                .map_err(|e| e.to_string()),
            OptionFormat::Boolean => match value {
                "true" | "1" => Ok(vec![1]),
                "false" | "0" => Ok(vec![0]),
                _ => Err(format!("{value:?} is not a boolean (true or false)")),
            },
        }
    }
}

/// Decodes hex digits, allowing ':', '-', '.' or blanks between byte pairs.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b':' | b'-' | b'.' | b' '))
        .collect();
    if digits.len() % 2 == 1 {
        return Err(format!("{text:?} has an odd number of hex digits"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).map_err(|_| format!("{text:?} is not hex"))?;
            u8::from_str_radix(s, 16).map_err(|_| format!("{text:?} is not hex"))
        })
        .collect()
}

/// Encodes domain names as RFC 1035 label sequences (for option 119, RFC 3397).
pub fn encode_domain_list<S: AsRef<str>>(names: &[S]) -> Vec<u8> {
    let mut out = Vec::new();
    for name in names {
        for label in name
            .as_ref()
            .trim_end_matches('.')
            .split('.')
            .filter(|l| !l.is_empty())
        {
            let bytes = label.as_bytes();
            // The model's domain-name type limits labels to 63 octets.
            out.push(bytes.len().min(63) as u8);
            out.extend_from_slice(&bytes[..bytes.len().min(63)]);
        }
        out.push(0);
    }
    out
}

/// One option ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionValue {
    /// Payload; longer than 255 bytes is split per RFC 3396 when encoded.
    pub data: Box<[u8]>,
    /// Sent even when the client's parameter request list does not name it.
    pub always_send: bool,
}

/// Options by code `C` (u8 for DHCPv4, u16 for DHCPv6). Later layers (subnet, reservation)
/// override earlier ones code by code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionSet<C> {
    options: BTreeMap<C, OptionValue>,
}

/// DHCPv4 options by code.
pub type OptionSet4 = OptionSet<u8>;

// Derived Default would needlessly ask for `C: Default`.
impl<C> Default for OptionSet<C> {
    fn default() -> Self {
        OptionSet {
            options: BTreeMap::new(),
        }
    }
}

impl<C: Ord + Copy> OptionSet<C> {
    /// Sets (or replaces) an option.
    pub fn set(&mut self, code: C, data: Vec<u8>, always_send: bool) {
        self.options.insert(
            code,
            OptionValue {
                data: data.into_boxed_slice(),
                always_send,
            },
        );
    }

    /// The option with `code`, if configured.
    pub fn get(&self, code: C) -> Option<&OptionValue> {
        self.options.get(&code)
    }

    /// Options of `self` overridden by those of `over`.
    pub fn overlaid(&self, over: &OptionSet<C>) -> OptionSet<C> {
        let mut merged = self.clone();
        for (code, value) in &over.options {
            merged.options.insert(*code, value.clone());
        }
        merged
    }

    /// All options in code order.
    pub fn iter(&self) -> impl Iterator<Item = (C, &OptionValue)> {
        self.options.iter().map(|(c, v)| (*c, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn formats_encode() {
        assert_eq!(
            OptionFormat::Hex.encode::<Ipv4Addr>("0a:0B:ff").unwrap(),
            vec![10, 11, 255]
        );
        assert!(OptionFormat::Hex.encode::<Ipv4Addr>("abc").is_err());
        assert_eq!(
            OptionFormat::AddressList
                .encode::<Ipv4Addr>("100.64.0.1, 100.64.0.2")
                .unwrap(),
            vec![100, 64, 0, 1, 100, 64, 0, 2]
        );
        assert!(OptionFormat::AddressList
            .encode::<Ipv4Addr>("100.64.0.300")
            .is_err());
        assert_eq!(
            OptionFormat::Uint16.encode::<Ipv4Addr>("1500").unwrap(),
            vec![5, 220]
        );
        assert_eq!(
            OptionFormat::Boolean.encode::<Ipv4Addr>("true").unwrap(),
            vec![1]
        );
        assert!(OptionFormat::Uint8.encode::<Ipv4Addr>("256").is_err());
    }

    #[test]
    fn domain_list_is_rfc1035_labels() {
        assert_eq!(
            encode_domain_list(&["example.net", "a.b."]),
            b"\x07example\x03net\x00\x01a\x01b\x00".to_vec()
        );
    }

    #[test]
    fn overlay_overrides_by_code() {
        let mut global = OptionSet4::default();
        global.set(6, vec![1, 1, 1, 1], false);
        global.set(15, b"g".to_vec(), false);
        let mut subnet = OptionSet4::default();
        subnet.set(6, vec![2, 2, 2, 2], true);
        let merged = global.overlaid(&subnet);
        assert_eq!(&*merged.get(6).unwrap().data, &[2, 2, 2, 2]);
        assert!(merged.get(6).unwrap().always_send);
        assert_eq!(&*merged.get(15).unwrap().data, b"g");
    }
}
