//! DHCPv4 wire format (RFC 2131 section 2, RFC 2132, RFC 3396): a borrowed view of a received
//! packet, checked fully before anything acts on it, and an encoder for replies.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +---------------+---------------+---------------+---------------+
//! |     op (1)    |   htype (1)   |   hlen (1)    |   hops (1)    |
//! |                            xid (4)                            |
//! |           secs (2)            |           flags (2)           |
//! |  ciaddr (4) | yiaddr (4) | siaddr (4) | giaddr (4)            |
//! |  chaddr (16) | sname (64) | file (128) | magic cookie | options |
//! ```

use std::net::Ipv4Addr;

/// Offset of the magic cookie; the fixed header before it is 236 bytes.
const COOKIE_OFFSET: usize = 236;
const OPTIONS_OFFSET: usize = 240;
const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
const SNAME: std::ops::Range<usize> = 44..108;
const FILE: std::ops::Range<usize> = 108..236;

/// BOOTREQUEST.
pub const OP_REQUEST: u8 = 1;
/// BOOTREPLY.
pub const OP_REPLY: u8 = 2;
/// The broadcast bit of `flags`.
pub const FLAG_BROADCAST: u16 = 0x8000;

/// Option codes this module reads or writes itself.
pub mod opt {
    /// Padding.
    pub const PAD: u8 = 0;
    /// Subnet mask.
    pub const SUBNET_MASK: u8 = 1;
    /// Host name.
    pub const HOSTNAME: u8 = 12;
    /// Requested IP address.
    pub const REQUESTED_IP: u8 = 50;
    /// IP address lease time.
    pub const LEASE_TIME: u8 = 51;
    /// Option overload (sname/file carry options).
    pub const OVERLOAD: u8 = 52;
    /// DHCP message type.
    pub const MESSAGE_TYPE: u8 = 53;
    /// Server identifier.
    pub const SERVER_ID: u8 = 54;
    /// Parameter request list.
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    /// Message (error text).
    pub const MESSAGE: u8 = 56;
    /// Maximum DHCP message size.
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    /// Renewal (T1) time.
    pub const RENEWAL_TIME: u8 = 58;
    /// Rebinding (T2) time.
    pub const REBINDING_TIME: u8 = 59;
    /// Client identifier.
    pub const CLIENT_ID: u8 = 61;
    /// Relay agent information (RFC 3046).
    pub const RELAY_AGENT_INFO: u8 = 82;
    /// End of options.
    pub const END: u8 = 255;
}

/// DHCP message types (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// DHCPDISCOVER.
    Discover = 1,
    /// DHCPOFFER.
    Offer = 2,
    /// DHCPREQUEST.
    Request = 3,
    /// DHCPDECLINE.
    Decline = 4,
    /// DHCPACK.
    Ack = 5,
    /// DHCPNAK.
    Nak = 6,
    /// DHCPRELEASE.
    Release = 7,
    /// DHCPINFORM.
    Inform = 8,
}

impl MessageType {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            _ => return None,
        })
    }
}

/// Why a received packet was refused. Each reason is counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than the fixed header plus the magic cookie.
    #[error("packet of {0} bytes is shorter than the 240-byte DHCP header")]
    Truncated(usize),
    /// Not a BOOTREQUEST.
    #[error("op {0} is not BOOTREQUEST")]
    NotRequest(u8),
    /// hlen larger than chaddr.
    #[error("hardware address length {0} exceeds 16")]
    BadHardwareLength(u8),
    /// Wrong magic cookie.
    #[error("magic cookie is not 99.130.83.99")]
    BadCookie,
    /// An option's length runs past the end of its area.
    #[error("option {code} at offset {offset} runs past the end of the packet")]
    OptionOverrun {
        /// Option code.
        code: u8,
        /// Offset of the option in the packet.
        offset: usize,
    },
    /// Option 53 missing, of the wrong length, or of an unknown value.
    #[error("missing or invalid DHCP message type (option 53)")]
    BadMessageType,
    /// An option that must have a fixed length does not.
    #[error("option {0} has an invalid length")]
    BadOptionLength(u8),
    /// More options than a request can reasonably carry.
    #[error("too many options")]
    TooManyOptions,
}

const MAX_OPTIONS: usize = 64;

/// A received DHCPv4 request, borrowed from the receive buffer. Construction checks every
/// length, so accessors cannot fail.
#[derive(Debug)]
pub struct Packet<'a> {
    buf: &'a [u8],
    message_type: MessageType,
    // (code, start, end) of each option instance, in order of appearance.
    options: [(u8, u16, u16); MAX_OPTIONS],
    option_count: usize,
}

impl<'a> Packet<'a> {
    /// Parses and checks a received packet.
    pub fn parse(buf: &'a [u8]) -> Result<Self, DecodeError> {
        if buf.len() < OPTIONS_OFFSET {
            return Err(DecodeError::Truncated(buf.len()));
        }
        if buf[0] != OP_REQUEST {
            return Err(DecodeError::NotRequest(buf[0]));
        }
        if buf[2] > 16 {
            return Err(DecodeError::BadHardwareLength(buf[2]));
        }
        if buf[COOKIE_OFFSET..OPTIONS_OFFSET] != MAGIC_COOKIE {
            return Err(DecodeError::BadCookie);
        }
        let mut packet = Packet {
            buf,
            message_type: MessageType::Discover,
            options: [(0, 0, 0); MAX_OPTIONS],
            option_count: 0,
        };
        packet.scan(OPTIONS_OFFSET, buf.len())?;
        // RFC 2131 4.1 / 2132 9.3: option 52 says sname and/or file carry more options.
        if let Some(overload) = packet.option(opt::OVERLOAD) {
            let overload = *overload
                .first()
                .ok_or(DecodeError::BadOptionLength(opt::OVERLOAD))?;
            if overload & 1 != 0 {
                packet.scan(FILE.start, FILE.end)?;
            }
            if overload & 2 != 0 {
                packet.scan(SNAME.start, SNAME.end)?;
            }
        }
        packet.message_type = match packet.option(opt::MESSAGE_TYPE) {
            Some([t]) => MessageType::from_u8(*t).ok_or(DecodeError::BadMessageType)?,
            _ => return Err(DecodeError::BadMessageType),
        };
        for (code, len) in [
            (opt::REQUESTED_IP, 4),
            (opt::SERVER_ID, 4),
            (opt::MAX_MESSAGE_SIZE, 2),
        ] {
            if packet.option(code).is_some_and(|v| v.len() != len) {
                return Err(DecodeError::BadOptionLength(code));
            }
        }
        if packet.option(opt::CLIENT_ID).is_some_and(|v| v.is_empty()) {
            return Err(DecodeError::BadOptionLength(opt::CLIENT_ID));
        }
        Ok(packet)
    }

    fn scan(&mut self, start: usize, end: usize) -> Result<(), DecodeError> {
        let mut i = start;
        while i < end {
            let code = self.buf[i];
            match code {
                opt::PAD => i += 1,
                // Bytes after END are padding or garbage some clients send; they are ignored.
                opt::END => return Ok(()),
                _ => {
                    let len_at = i + 1;
                    if len_at >= end {
                        return Err(DecodeError::OptionOverrun { code, offset: i });
                    }
                    let data_start = len_at + 1;
                    let data_end = data_start + usize::from(self.buf[len_at]);
                    if data_end > end {
                        return Err(DecodeError::OptionOverrun { code, offset: i });
                    }
                    if self.option_count == MAX_OPTIONS {
                        return Err(DecodeError::TooManyOptions);
                    }
                    // Offsets fit in u16: packets come from a buffer of at most 64 KiB.
                    self.options[self.option_count] = (code, data_start as u16, data_end as u16);
                    self.option_count += 1;
                    i = data_end;
                }
            }
        }
        // Options that fill the area exactly without an END are accepted, as common clients
        // and servers (ISC) do.
        Ok(())
    }

    /// The first instance of option `code`. RFC 3396 concatenation is offered by
    /// [`Packet::option_concat`] for the options where it matters.
    pub fn option(&self, code: u8) -> Option<&'a [u8]> {
        self.options[..self.option_count]
            .iter()
            .find(|(c, _, _)| *c == code)
            .map(|(_, s, e)| &self.buf[usize::from(*s)..usize::from(*e)])
    }

    /// All instances of option `code` concatenated (RFC 3396).
    pub fn option_concat(&self, code: u8) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for (_, s, e) in self.options[..self.option_count]
            .iter()
            .filter(|(c, _, _)| *c == code)
        {
            out.get_or_insert_with(Vec::new)
                .extend_from_slice(&self.buf[usize::from(*s)..usize::from(*e)]);
        }
        out
    }

    /// The whole packet.
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }
    /// Option 53.
    pub fn message_type(&self) -> MessageType {
        self.message_type
    }
    /// Hardware type.
    pub fn htype(&self) -> u8 {
        self.buf[1]
    }
    /// Relay hops.
    pub fn hops(&self) -> u8 {
        self.buf[3]
    }
    /// Transaction id, as the four wire bytes.
    pub fn xid(&self) -> [u8; 4] {
        [self.buf[4], self.buf[5], self.buf[6], self.buf[7]]
    }
    /// Seconds elapsed since the client began.
    pub fn secs(&self) -> u16 {
        u16::from_be_bytes([self.buf[8], self.buf[9]])
    }
    /// Flags (broadcast bit).
    pub fn flags(&self) -> u16 {
        u16::from_be_bytes([self.buf[10], self.buf[11]])
    }
    /// Client address (when it has one).
    pub fn ciaddr(&self) -> Ipv4Addr {
        ip_at(self.buf, 12)
    }
    /// Relay agent address.
    pub fn giaddr(&self) -> Ipv4Addr {
        ip_at(self.buf, 24)
    }
    /// Client hardware address, `hlen` bytes.
    pub fn chaddr(&self) -> &'a [u8] {
        &self.buf[28..28 + usize::from(self.buf[2])]
    }
    /// Option 61.
    pub fn client_id(&self) -> Option<&'a [u8]> {
        self.option(opt::CLIENT_ID)
    }
    /// Option 50.
    pub fn requested_ip(&self) -> Option<Ipv4Addr> {
        self.option(opt::REQUESTED_IP).map(|v| ip_at(v, 0))
    }
    /// Option 54.
    pub fn server_id(&self) -> Option<Ipv4Addr> {
        self.option(opt::SERVER_ID).map(|v| ip_at(v, 0))
    }
    /// Option 55, empty when absent.
    pub fn parameter_request_list(&self) -> &'a [u8] {
        self.option(opt::PARAMETER_REQUEST_LIST).unwrap_or(&[])
    }
    /// Option 57, at least 576 per RFC 2132 9.10.
    pub fn max_message_size(&self) -> usize {
        self.option(opt::MAX_MESSAGE_SIZE)
            .map(|v| usize::from(u16::from_be_bytes([v[0], v[1]])))
            .unwrap_or(576)
            .max(576)
    }
    /// Option 12.
    pub fn hostname(&self) -> Option<&'a [u8]> {
        self.option(opt::HOSTNAME)
    }
}

fn ip_at(buf: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(buf[at], buf[at + 1], buf[at + 2], buf[at + 3])
}

/// Writes a BOOTREPLY: the fixed header copied from the request, then options in the order
/// they are added, then END and padding to the BOOTP minimum of 300 bytes.
pub struct ReplyWriter {
    buf: Vec<u8>,
}

impl ReplyWriter {
    /// Starts a reply to `request` with message type `kind`.
    pub fn new(request: &Packet<'_>, kind: MessageType, yiaddr: Ipv4Addr) -> Self {
        let mut buf = Vec::with_capacity(576);
        let req = request.bytes();
        buf.extend_from_slice(&[OP_REPLY, req[1], req[2], 0]);
        buf.extend_from_slice(&req[4..12]); // xid, secs, flags
                                            // ciaddr is echoed for ACKs to clients that have one (RFC 2131 table 3), zero in NAK.
        if kind == MessageType::Nak {
            buf.extend_from_slice(&[0; 4]);
        } else {
            buf.extend_from_slice(&req[12..16]);
        }
        buf.extend_from_slice(&yiaddr.octets());
        buf.extend_from_slice(&[0; 4]); // siaddr: no next server
        buf.extend_from_slice(&req[24..44]); // giaddr, chaddr
        buf.resize(COOKIE_OFFSET, 0); // sname, file
        buf.extend_from_slice(&MAGIC_COOKIE);
        let mut w = ReplyWriter { buf };
        w.option(opt::MESSAGE_TYPE, &[kind as u8]);
        w
    }

    /// Adds an option; payloads over 255 bytes are split into several instances (RFC 3396).
    pub fn option(&mut self, code: u8, data: &[u8]) {
        if data.is_empty() {
            self.buf.extend_from_slice(&[code, 0]);
            return;
        }
        for chunk in data.chunks(255) {
            self.buf.push(code);
            self.buf.push(chunk.len() as u8);
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Bytes the packet holds so far, for size limits.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing but the header is written (never true after `new`).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Ends the options and returns the packet.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(opt::END);
        if self.buf.len() < 300 {
            self.buf.resize(300, 0);
        }
        self.buf
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a request the way a client would.
    pub(crate) fn request(kind: MessageType, mac: [u8; 6], options: &[(u8, &[u8])]) -> Vec<u8> {
        let mut b = vec![0u8; OPTIONS_OFFSET];
        b[0] = OP_REQUEST;
        b[1] = 1;
        b[2] = 6;
        b[4..8].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        b[28..34].copy_from_slice(&mac);
        b[COOKIE_OFFSET..OPTIONS_OFFSET].copy_from_slice(&MAGIC_COOKIE);
        b.extend_from_slice(&[opt::MESSAGE_TYPE, 1, kind as u8]);
        for (code, data) in options {
            b.push(*code);
            b.push(data.len() as u8);
            b.extend_from_slice(data);
        }
        b.push(opt::END);
        b
    }

    #[test]
    fn parses_a_discover() {
        let raw = request(
            MessageType::Discover,
            [2, 0, 0, 0, 0, 1],
            &[(55, &[1, 3, 6]), (61, &[1, 2, 0, 0, 0, 0, 1])],
        );
        let p = Packet::parse(&raw).unwrap();
        assert_eq!(p.message_type(), MessageType::Discover);
        assert_eq!(p.chaddr(), &[2, 0, 0, 0, 0, 1]);
        assert_eq!(p.parameter_request_list(), &[1, 3, 6]);
        assert_eq!(p.client_id(), Some(&[1u8, 2, 0, 0, 0, 0, 1][..]));
        assert_eq!(p.xid(), [0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(p.max_message_size(), 576);
    }

    #[test]
    fn refuses_malformed() {
        let good = request(MessageType::Discover, [2, 0, 0, 0, 0, 1], &[]);
        assert_eq!(
            Packet::parse(&good[..200]).unwrap_err(),
            DecodeError::Truncated(200)
        );
        let mut bad = good.clone();
        bad[236] = 0;
        assert_eq!(Packet::parse(&bad).unwrap_err(), DecodeError::BadCookie);
        let mut bad = good.clone();
        bad[0] = OP_REPLY;
        assert_eq!(Packet::parse(&bad).unwrap_err(), DecodeError::NotRequest(2));
        let mut bad = good[..OPTIONS_OFFSET].to_vec();
        bad.extend_from_slice(&[53, 1, 1, 12, 40, b'a']);
        assert!(matches!(
            Packet::parse(&bad).unwrap_err(),
            DecodeError::OptionOverrun { code: 12, .. }
        ));
        let mut bad = good[..OPTIONS_OFFSET].to_vec();
        bad.extend_from_slice(&[12, 1, b'a', 255]);
        assert_eq!(
            Packet::parse(&bad).unwrap_err(),
            DecodeError::BadMessageType
        );
        let mut bad = good[..OPTIONS_OFFSET].to_vec();
        bad.extend_from_slice(&[53, 1, 99, 255]);
        assert_eq!(
            Packet::parse(&bad).unwrap_err(),
            DecodeError::BadMessageType
        );
        let mut bad = good[..OPTIONS_OFFSET].to_vec();
        bad.extend_from_slice(&[53, 1, 1, 50, 3, 1, 2, 3, 255]);
        assert_eq!(
            Packet::parse(&bad).unwrap_err(),
            DecodeError::BadOptionLength(50)
        );
        let mut bad = good.clone();
        bad[2] = 17;
        assert_eq!(
            Packet::parse(&bad).unwrap_err(),
            DecodeError::BadHardwareLength(17)
        );
    }

    #[test]
    fn overloaded_file_field_is_read() {
        let mut raw = request(
            MessageType::Request,
            [2, 0, 0, 0, 0, 1],
            &[(opt::OVERLOAD, &[1])],
        );
        raw[FILE.start..FILE.start + 7].copy_from_slice(&[50, 4, 100, 64, 1, 7, 255]);
        let p = Packet::parse(&raw).unwrap();
        assert_eq!(p.requested_ip(), Some(Ipv4Addr::new(100, 64, 1, 7)));
    }

    #[test]
    fn long_options_concatenate() {
        let raw = request(
            MessageType::Discover,
            [2, 0, 0, 0, 0, 1],
            &[(77, b"ab"), (77, b"cd")],
        );
        let p = Packet::parse(&raw).unwrap();
        assert_eq!(p.option_concat(77).unwrap(), b"abcd");
    }

    #[test]
    fn reply_round_trips_through_an_independent_decoder() {
        use dhcproto::{Decodable, Decoder};
        let raw = request(MessageType::Discover, [2, 0, 0, 0, 0, 1], &[]);
        let p = Packet::parse(&raw).unwrap();
        let mut w = ReplyWriter::new(&p, MessageType::Offer, Ipv4Addr::new(100, 64, 1, 5));
        w.option(opt::SERVER_ID, &[100, 64, 0, 1]);
        w.option(opt::LEASE_TIME, &4000u32.to_be_bytes());
        let long = vec![b'x'; 300];
        w.option(77, &long);
        let bytes = w.finish();
        let m = dhcproto::v4::Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(m.opcode(), dhcproto::v4::Opcode::BootReply);
        assert_eq!(m.yiaddr(), Ipv4Addr::new(100, 64, 1, 5));
        assert_eq!(m.xid(), 0xdeadbeef);
        assert_eq!(m.chaddr(), &[2, 0, 0, 0, 0, 1]);
        assert_eq!(
            m.opts().get(dhcproto::v4::OptionCode::MessageType),
            Some(&dhcproto::v4::DhcpOption::MessageType(
                dhcproto::v4::MessageType::Offer
            ))
        );
        assert_eq!(
            m.opts().get(dhcproto::v4::OptionCode::AddressLeaseTime),
            Some(&dhcproto::v4::DhcpOption::AddressLeaseTime(4000))
        );
    }
}
