//! DHCPv4 option payloads, encoded once at commit time so the packet path only copies bytes.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

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

/// How a configured custom option value is written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionFormat {
    /// Hexadecimal digits, ':' or spaces allowed between bytes.
    Hex,
    /// UTF-8 text.
    Text,
    /// Comma-separated IPv4 addresses.
    Ipv4AddressList,
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
    /// The format named by the model's `option-format` enumeration.
    pub fn from_yang(name: &str) -> Option<Self> {
        Some(match name {
            "hex" => OptionFormat::Hex,
            "text" => OptionFormat::Text,
            "ipv4-address-list" => OptionFormat::Ipv4AddressList,
            "uint8" => OptionFormat::Uint8,
            "uint16" => OptionFormat::Uint16,
            "uint32" => OptionFormat::Uint32,
            "boolean" => OptionFormat::Boolean,
            _ => return None,
        })
    }

    /// Encodes `value`; the error says what is wrong with it.
    pub fn encode(self, value: &str) -> Result<Vec<u8>, String> {
        let value = value.trim();
        match self {
            OptionFormat::Hex => decode_hex(value),
            OptionFormat::Text => Ok(value.as_bytes().to_vec()),
            OptionFormat::Ipv4AddressList => value
                .split(',')
                .map(|a| {
                    a.trim()
                        .parse::<Ipv4Addr>()
                        .map(|ip| ip.octets())
                        .map_err(|_| format!("{:?} is not an IPv4 address", a.trim()))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|v| v.concat()),
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
    if digits.len() % 2 != 0 {
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

/// Options by code. Later layers (subnet, reservation) override earlier ones code by code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptionSet4 {
    options: BTreeMap<u8, OptionValue>,
}

impl OptionSet4 {
    /// Sets (or replaces) an option.
    pub fn set(&mut self, code: u8, data: Vec<u8>, always_send: bool) {
        self.options.insert(
            code,
            OptionValue {
                data: data.into_boxed_slice(),
                always_send,
            },
        );
    }

    /// The option with `code`, if configured.
    pub fn get(&self, code: u8) -> Option<&OptionValue> {
        self.options.get(&code)
    }

    /// Options of `self` overridden by those of `over`.
    pub fn overlaid(&self, over: &OptionSet4) -> OptionSet4 {
        let mut merged = self.clone();
        for (code, value) in &over.options {
            merged.options.insert(*code, value.clone());
        }
        merged
    }

    /// All options in code order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &OptionValue)> {
        self.options.iter().map(|(c, v)| (*c, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_encode() {
        assert_eq!(
            OptionFormat::Hex.encode("0a:0B:ff").unwrap(),
            vec![10, 11, 255]
        );
        assert!(OptionFormat::Hex.encode("abc").is_err());
        assert_eq!(
            OptionFormat::Ipv4AddressList
                .encode("100.64.0.1, 100.64.0.2")
                .unwrap(),
            vec![100, 64, 0, 1, 100, 64, 0, 2]
        );
        assert!(OptionFormat::Ipv4AddressList
            .encode("100.64.0.300")
            .is_err());
        assert_eq!(OptionFormat::Uint16.encode("1500").unwrap(), vec![5, 220]);
        assert_eq!(OptionFormat::Boolean.encode("true").unwrap(), vec![1]);
        assert!(OptionFormat::Uint8.encode("256").is_err());
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
