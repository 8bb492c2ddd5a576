//! DHCPv6 wire format (RFC 8415 sections 8, 9 and 21): borrowed views of received messages,
//! parsed fully (relay layers, options, IA sub-options) before anything acts on them, and an
//! encoder for replies.
//!
//! ```text
//! client/server message                 relay message (RELAY-FORW, RELAY-REPL)
//!  0       1       2       3             0       1       2 ... 17       18 ... 33     34
//! +-------+-----------------------+     +-------+-------+-----------+------------+---------
//! | type  |    transaction-id     |     | type  |  hops | link-addr | peer-addr  | options
//! +-------+-----------------------+     +-------+-------+-----------+------------+---------
//! | options (code u16, len u16, data) ...
//! ```

use std::net::Ipv6Addr;

/// Message types (RFC 8415 section 7.3).
pub mod msg {
    /// SOLICIT.
    pub const SOLICIT: u8 = 1;
    /// ADVERTISE.
    pub const ADVERTISE: u8 = 2;
    /// REQUEST.
    pub const REQUEST: u8 = 3;
    /// CONFIRM.
    pub const CONFIRM: u8 = 4;
    /// RENEW.
    pub const RENEW: u8 = 5;
    /// REBIND.
    pub const REBIND: u8 = 6;
    /// REPLY.
    pub const REPLY: u8 = 7;
    /// RELEASE.
    pub const RELEASE: u8 = 8;
    /// DECLINE.
    pub const DECLINE: u8 = 9;
    /// RECONFIGURE.
    pub const RECONFIGURE: u8 = 10;
    /// INFORMATION-REQUEST.
    pub const INFORMATION_REQUEST: u8 = 11;
    /// RELAY-FORW.
    pub const RELAY_FORW: u8 = 12;
    /// RELAY-REPL.
    pub const RELAY_REPL: u8 = 13;
}

/// Option codes (RFC 8415 section 21, RFC 3646).
pub mod opt {
    /// Client Identifier.
    pub const CLIENTID: u16 = 1;
    /// Server Identifier.
    pub const SERVERID: u16 = 2;
    /// Identity Association for Non-temporary Addresses.
    pub const IA_NA: u16 = 3;
    /// Identity Association for Temporary Addresses.
    pub const IA_TA: u16 = 4;
    /// IA Address.
    pub const IAADDR: u16 = 5;
    /// Option Request.
    pub const ORO: u16 = 6;
    /// Preference.
    pub const PREFERENCE: u16 = 7;
    /// Elapsed Time.
    pub const ELAPSED_TIME: u16 = 8;
    /// Relay Message.
    pub const RELAY_MSG: u16 = 9;
    /// Server Unicast.
    pub const UNICAST: u16 = 12;
    /// Status Code.
    pub const STATUS_CODE: u16 = 13;
    /// Rapid Commit.
    pub const RAPID_COMMIT: u16 = 14;
    /// Interface-Id.
    pub const INTERFACE_ID: u16 = 18;
    /// Reconfigure Message.
    pub const RECONF_MSG: u16 = 19;
    /// Reconfigure Accept.
    pub const RECONF_ACCEPT: u16 = 20;
    /// DNS Recursive Name Server (RFC 3646).
    pub const DNS_SERVERS: u16 = 23;
    /// Domain Search List (RFC 3646).
    pub const DOMAIN_LIST: u16 = 24;
    /// Identity Association for Prefix Delegation.
    pub const IA_PD: u16 = 25;
    /// IA Prefix.
    pub const IAPREFIX: u16 = 26;
}

/// Status codes (RFC 8415 section 21.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Status {
    /// Success.
    Success = 0,
    /// Failure, reason unspecified.
    UnspecFail = 1,
    /// The server has no addresses available to assign to the IA.
    NoAddrsAvail = 2,
    /// Client record (binding) unavailable.
    NoBinding = 3,
    /// The prefix for the address is not appropriate for the link.
    NotOnLink = 4,
    /// The client must use the multicast address.
    UseMulticast = 5,
    /// The server has no prefixes available to assign to the IA_PD.
    NoPrefixAvail = 6,
}

/// Most relay layers a message may carry (RFC 8415 section 7.6: HOP_COUNT_LIMIT is 8; the
/// relays themselves enforce it, this bound only stops a hostile nesting).
pub const MAX_RELAYS: usize = 32;

/// Why a message was rejected. Each variant has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than a message header.
    #[error("message shorter than its header")]
    TooShort,
    /// An option's length runs past its container.
    #[error("option {0} runs past the end of its container")]
    OptionOverrun(u16),
    /// A fixed-size option has the wrong length.
    #[error("option {0} has an invalid length")]
    BadOptionLength(u16),
    /// An option that may appear once appears more often.
    #[error("option {0} appears more than once")]
    Duplicate(u16),
    /// A RELAY-FORW without exactly one Relay Message option.
    #[error("relay message without a Relay Message option")]
    NoRelayMessage,
    /// More relay layers than [`MAX_RELAYS`].
    #[error("too many relay layers")]
    TooManyRelays,
    /// A message type servers do not accept, or unknown.
    #[error("message type {0} is not a client or relay-forward message")]
    NotAClientMessage(u8),
}

/// An IA type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IaKind {
    /// IA_NA.
    Na,
    /// IA_TA.
    Ta,
    /// IA_PD.
    Pd,
}

/// An address in an IA (IAADDR, RFC 8415 section 21.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IaAddr {
    /// The address.
    pub addr: Ipv6Addr,
    /// Preferred lifetime the client asks for (a hint).
    pub preferred: u32,
    /// Valid lifetime the client asks for (a hint).
    pub valid: u32,
}

/// A prefix in an IA_PD (IAPREFIX, RFC 8415 section 21.22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IaPrefix {
    /// Preferred lifetime hint.
    pub preferred: u32,
    /// Valid lifetime hint.
    pub valid: u32,
    /// Prefix length (0 in a hint means any).
    pub len: u8,
    /// The prefix (`::` in a length-only hint).
    pub prefix: Ipv6Addr,
}

/// An IA_NA, IA_TA or IA_PD option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ia {
    /// Which kind.
    pub kind: IaKind,
    /// Identity association identifier.
    pub iaid: u32,
    /// T1 hint (0 for IA_TA).
    pub t1: u32,
    /// T2 hint (0 for IA_TA).
    pub t2: u32,
    /// IAADDR options (IA_NA, IA_TA).
    pub addrs: Vec<IaAddr>,
    /// IAPREFIX options (IA_PD).
    pub prefixes: Vec<IaPrefix>,
}

/// A client message (not a relay message), parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// Message type.
    pub msg_type: u8,
    /// Transaction id.
    pub transaction_id: [u8; 3],
    /// Client Identifier (the DUID).
    pub client_id: Option<&'a [u8]>,
    /// Server Identifier.
    pub server_id: Option<&'a [u8]>,
    /// IA options in message order.
    pub ias: Vec<Ia>,
    /// Option codes requested (ORO).
    pub oro: Vec<u16>,
    /// Elapsed time, hundredths of a second.
    pub elapsed: Option<u16>,
    /// Rapid Commit present.
    pub rapid_commit: bool,
}

/// One relay layer (RFC 8415 section 9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayLayer<'a> {
    /// Hop count.
    pub hop_count: u8,
    /// Link address: an address on the client's link, or `::`.
    pub link_address: Ipv6Addr,
    /// Peer address: where the relay got the message from.
    pub peer_address: Ipv6Addr,
    /// Interface-Id option (echoed in the reply).
    pub interface_id: Option<&'a [u8]>,
}

/// A received message with its relay layers, outermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Relay layers, outermost (the one that sent it to us) first; empty when direct.
    pub relays: Vec<RelayLayer<'a>>,
    /// The client's message.
    pub message: Message<'a>,
}

/// Walks the options of a buffer: (code, data).
struct OptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = Result<(u16, &'a [u8]), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        if self.rest.len() < 4 {
            self.rest = &[];
            return Some(Err(DecodeError::OptionOverrun(0)));
        }
        let code = u16::from_be_bytes([self.rest[0], self.rest[1]]);
        let len = usize::from(u16::from_be_bytes([self.rest[2], self.rest[3]]));
        if self.rest.len() < 4 + len {
            self.rest = &[];
            return Some(Err(DecodeError::OptionOverrun(code)));
        }
        let data = &self.rest[4..4 + len];
        self.rest = &self.rest[4 + len..];
        Some(Ok((code, data)))
    }
}

/// The options of `buf` as (code, data), an error for one that overruns.
pub fn options(buf: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), DecodeError>> {
    option_iter(buf)
}

fn option_iter(buf: &[u8]) -> OptionIter<'_> {
    OptionIter { rest: buf }
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn addr_at(b: &[u8], i: usize) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&b[i..i + 16]);
    Ipv6Addr::from(o)
}

/// Parses an IA_NA, IA_TA or IA_PD option's data.
pub fn parse_ia(code: u16, data: &[u8]) -> Result<Ia, DecodeError> {
    let (kind, fixed) = match code {
        opt::IA_NA => (IaKind::Na, 12),
        opt::IA_PD => (IaKind::Pd, 12),
        _ => (IaKind::Ta, 4),
    };
    if data.len() < fixed {
        return Err(DecodeError::BadOptionLength(code));
    }
    let mut ia = Ia {
        kind,
        iaid: u32_at(data, 0),
        t1: if fixed == 12 { u32_at(data, 4) } else { 0 },
        t2: if fixed == 12 { u32_at(data, 8) } else { 0 },
        addrs: Vec::new(),
        prefixes: Vec::new(),
    };
    for o in option_iter(&data[fixed..]) {
        let (sub, d) = o?;
        match (kind, sub) {
            (IaKind::Na | IaKind::Ta, opt::IAADDR) => {
                if d.len() < 24 {
                    return Err(DecodeError::BadOptionLength(sub));
                }
                option_iter(&d[24..]).try_for_each(|o| o.map(|_| ()))?;
                ia.addrs.push(IaAddr {
                    addr: addr_at(d, 0),
                    preferred: u32_at(d, 16),
                    valid: u32_at(d, 20),
                });
            }
            (IaKind::Pd, opt::IAPREFIX) => {
                if d.len() < 25 || d[8] > 128 {
                    return Err(DecodeError::BadOptionLength(sub));
                }
                option_iter(&d[25..]).try_for_each(|o| o.map(|_| ()))?;
                ia.prefixes.push(IaPrefix {
                    preferred: u32_at(d, 0),
                    valid: u32_at(d, 4),
                    len: d[8],
                    prefix: addr_at(d, 9),
                });
            }
            (_, opt::STATUS_CODE) if d.len() < 2 => {
                return Err(DecodeError::BadOptionLength(sub));
            }
            _ => {}
        }
    }
    Ok(ia)
}

fn set_once<'a>(slot: &mut Option<&'a [u8]>, code: u16, data: &'a [u8]) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::Duplicate(code));
    }
    *slot = Some(data);
    Ok(())
}

impl<'a> Message<'a> {
    /// Parses a client message (types SOLICIT .. INFORMATION-REQUEST that clients send).
    pub fn parse(buf: &'a [u8]) -> Result<Self, DecodeError> {
        if buf.len() < 4 {
            return Err(DecodeError::TooShort);
        }
        let msg_type = buf[0];
        match msg_type {
            msg::SOLICIT
            | msg::REQUEST
            | msg::CONFIRM
            | msg::RENEW
            | msg::REBIND
            | msg::RELEASE
            | msg::DECLINE
            | msg::INFORMATION_REQUEST => {}
            other => return Err(DecodeError::NotAClientMessage(other)),
        }
        let mut m = Message {
            msg_type,
            transaction_id: [buf[1], buf[2], buf[3]],
            client_id: None,
            server_id: None,
            ias: Vec::new(),
            oro: Vec::new(),
            elapsed: None,
            rapid_commit: false,
        };
        let mut seen_oro = false;
        for o in option_iter(&buf[4..]) {
            let (code, data) = o?;
            match code {
                opt::CLIENTID => {
                    if data.is_empty() || data.len() > 130 {
                        return Err(DecodeError::BadOptionLength(code));
                    }
                    set_once(&mut m.client_id, code, data)?;
                }
                opt::SERVERID => {
                    if data.is_empty() || data.len() > 130 {
                        return Err(DecodeError::BadOptionLength(code));
                    }
                    set_once(&mut m.server_id, code, data)?;
                }
                opt::IA_NA | opt::IA_TA | opt::IA_PD => {
                    let ia = parse_ia(code, data)?;
                    if m.ias.iter().any(|o| o.kind == ia.kind && o.iaid == ia.iaid) {
                        return Err(DecodeError::Duplicate(code));
                    }
                    m.ias.push(ia);
                }
                opt::ORO => {
                    if data.len() % 2 != 0 {
                        return Err(DecodeError::BadOptionLength(code));
                    }
                    if seen_oro {
                        return Err(DecodeError::Duplicate(code));
                    }
                    seen_oro = true;
                    m.oro = data
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                }
                opt::ELAPSED_TIME => {
                    if data.len() != 2 {
                        return Err(DecodeError::BadOptionLength(code));
                    }
                    if m.elapsed.is_some() {
                        return Err(DecodeError::Duplicate(code));
                    }
                    m.elapsed = Some(u16::from_be_bytes([data[0], data[1]]));
                }
                opt::RAPID_COMMIT => {
                    if !data.is_empty() {
                        return Err(DecodeError::BadOptionLength(code));
                    }
                    m.rapid_commit = true;
                }
                opt::PREFERENCE if data.len() != 1 => {
                    return Err(DecodeError::BadOptionLength(code));
                }
                opt::STATUS_CODE if data.len() < 2 => {
                    return Err(DecodeError::BadOptionLength(code));
                }
                _ => {}
            }
        }
        Ok(m)
    }
}

impl<'a> Packet<'a> {
    /// Parses a datagram received on the server port: a client message, or RELAY-FORW layers
    /// around one.
    pub fn parse(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut relays = Vec::new();
        let mut cur = buf;
        loop {
            let Some(&kind) = cur.first() else {
                return Err(DecodeError::TooShort);
            };
            if kind != msg::RELAY_FORW {
                if kind == msg::RELAY_REPL {
                    return Err(DecodeError::NotAClientMessage(kind));
                }
                let message = Message::parse(cur)?;
                return Ok(Packet { relays, message });
            }
            if relays.len() >= MAX_RELAYS {
                return Err(DecodeError::TooManyRelays);
            }
            if cur.len() < 34 {
                return Err(DecodeError::TooShort);
            }
            let mut layer = RelayLayer {
                hop_count: cur[1],
                link_address: addr_at(cur, 2),
                peer_address: addr_at(cur, 18),
                interface_id: None,
            };
            let mut inner: Option<&[u8]> = None;
            for o in option_iter(&cur[34..]) {
                let (code, data) = o?;
                match code {
                    opt::RELAY_MSG => set_once(&mut inner, code, data)?,
                    opt::INTERFACE_ID => set_once(&mut layer.interface_id, code, data)?,
                    _ => {}
                }
            }
            relays.push(layer);
            cur = inner.ok_or(DecodeError::NoRelayMessage)?;
        }
    }

    /// The relay closest to the client, if relayed.
    pub fn innermost_relay(&self) -> Option<&RelayLayer<'a>> {
        self.relays.last()
    }
}

/// Builds a message: options appended in order; options may nest.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// A message with header `msg_type` and `transaction_id`.
    pub fn message(msg_type: u8, transaction_id: [u8; 3]) -> Self {
        let mut buf = Vec::with_capacity(256);
        buf.push(msg_type);
        buf.extend_from_slice(&transaction_id);
        Encoder { buf }
    }

    /// Appends a whole option.
    pub fn option(&mut self, code: u16, data: &[u8]) {
        let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&code.to_be_bytes());
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf
            .extend_from_slice(&data[..usize::from(len).min(data.len())]);
    }

    /// Opens an option whose data follows; close it with [`Encoder::end`].
    pub fn begin(&mut self, code: u16) -> usize {
        self.buf.extend_from_slice(&code.to_be_bytes());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.len()
    }

    /// Raw bytes inside an open option.
    pub fn raw(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Closes the option opened at `mark`, writing its length.
    pub fn end(&mut self, mark: usize) {
        let len = u16::try_from(self.buf.len() - mark).unwrap_or(u16::MAX);
        self.buf[mark - 2..mark].copy_from_slice(&len.to_be_bytes());
    }

    /// A Status Code option.
    pub fn status(&mut self, status: Status, message: &str) {
        let m = self.begin(opt::STATUS_CODE);
        self.raw(&(status as u16).to_be_bytes());
        self.raw(message.as_bytes());
        self.end(m);
    }

    /// The encoded bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Wraps a reply in RELAY-REPL layers mirroring `relays` (outermost first), echoing each
/// layer's hop count, addresses and Interface-Id (RFC 8415 section 19.3).
pub fn wrap_relays(inner: Vec<u8>, relays: &[RelayLayer<'_>]) -> Vec<u8> {
    let mut out = inner;
    for layer in relays.iter().rev() {
        let mut e = Encoder {
            buf: Vec::with_capacity(out.len() + 64),
        };
        e.raw(&[msg::RELAY_REPL, layer.hop_count]);
        e.raw(&layer.link_address.octets());
        e.raw(&layer.peer_address.octets());
        if let Some(id) = layer.interface_id {
            e.option(opt::INTERFACE_ID, id);
        }
        e.option(opt::RELAY_MSG, &out);
        out = e.finish();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solicit() -> Vec<u8> {
        let mut e = Encoder::message(msg::SOLICIT, [1, 2, 3]);
        e.option(opt::CLIENTID, &[0, 3, 0, 1, 2, 0, 0, 0, 0, 1]);
        e.option(opt::ELAPSED_TIME, &[0, 0]);
        e.option(opt::ORO, &[0, 23, 0, 24]);
        let m = e.begin(opt::IA_NA);
        e.raw(&[0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0]);
        let a = e.begin(opt::IAADDR);
        e.raw(&"2001:db8::5".parse::<Ipv6Addr>().expect("a").octets());
        e.raw(&[0, 0, 0, 10, 0, 0, 0, 20]);
        e.end(a);
        e.end(m);
        let p = e.begin(opt::IA_PD);
        e.raw(&[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
        let q = e.begin(opt::IAPREFIX);
        e.raw(&[0, 0, 0, 0, 0, 0, 0, 0, 56]);
        e.raw(&Ipv6Addr::UNSPECIFIED.octets());
        e.end(q);
        e.end(p);
        e.option(opt::RAPID_COMMIT, &[]);
        e.finish()
    }

    #[test]
    fn parses_a_solicit_with_two_ias() {
        let bytes = solicit();
        let p = Packet::parse(&bytes).expect("parses");
        assert!(p.relays.is_empty());
        let m = p.message;
        assert_eq!(m.msg_type, msg::SOLICIT);
        assert_eq!(m.transaction_id, [1, 2, 3]);
        assert_eq!(m.client_id.map(<[u8]>::len), Some(10));
        assert_eq!(m.oro, vec![23, 24]);
        assert!(m.rapid_commit);
        assert_eq!(m.ias.len(), 2);
        assert_eq!(m.ias[0].kind, IaKind::Na);
        assert_eq!(m.ias[0].iaid, 7);
        assert_eq!(m.ias[0].addrs[0].valid, 20);
        assert_eq!(m.ias[1].kind, IaKind::Pd);
        assert_eq!(m.ias[1].prefixes[0].len, 56);
    }

    #[test]
    fn parses_nested_relays_and_wraps_the_reply() {
        let inner = solicit();
        let mut r1 = Encoder::default();
        r1.raw(&[msg::RELAY_FORW, 0]);
        r1.raw(&"2001:db8:1::1".parse::<Ipv6Addr>().expect("l").octets());
        r1.raw(&"fe80::1".parse::<Ipv6Addr>().expect("p").octets());
        r1.option(opt::INTERFACE_ID, b"port-1");
        r1.option(opt::RELAY_MSG, &inner);
        let r1 = r1.finish();
        let mut r2 = Encoder::default();
        r2.raw(&[msg::RELAY_FORW, 1]);
        r2.raw(&Ipv6Addr::UNSPECIFIED.octets());
        r2.raw(&"2001:db8:9::1".parse::<Ipv6Addr>().expect("p").octets());
        r2.option(opt::RELAY_MSG, &r1);
        let r2 = r2.finish();
        let p = Packet::parse(&r2).expect("parses");
        assert_eq!(p.relays.len(), 2);
        assert_eq!(p.relays[0].hop_count, 1);
        assert_eq!(
            p.innermost_relay().and_then(|r| r.interface_id),
            Some(&b"port-1"[..])
        );
        let wrapped = wrap_relays(vec![msg::REPLY, 1, 2, 3], &p.relays);
        assert_eq!(wrapped[0], msg::RELAY_REPL);
        assert_eq!(wrapped[1], 1);
        // The outer layer has no interface-id: its relay-msg follows the header.
        let inner = &wrapped[34 + 4..];
        assert_eq!(inner[0], msg::RELAY_REPL);
        assert!(inner.windows(6).any(|w| w == b"port-1"));
        assert_eq!(&inner[inner.len() - 4..], &[msg::REPLY, 1, 2, 3]);
    }

    #[test]
    fn mutated_messages_never_panic_and_parsed_ones_reencode() {
        // Deterministic xorshift: flips, truncations and insertions of a valid message, as a
        // cheap stand-in for the fuzz target.
        let good = solicit();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut m = good.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % m.len();
                match next() % 3 {
                    0 => m[i] = next() as u8,
                    1 => m.truncate(i.max(1)),
                    _ => m.insert(i, next() as u8),
                }
            }
            if let Ok(p) = Packet::parse(&m) {
                // What parsed is within bounds, and a reply wrapped for its relays is made of
                // well-formed options at every layer.
                assert!(p.relays.len() <= MAX_RELAYS);
                assert!(p
                    .message
                    .ias
                    .iter()
                    .all(|ia| ia.kind != IaKind::Ta || ia.t1 == 0));
                let mut layer = wrap_relays(vec![msg::REPLY, 0, 0, 0], &p.relays);
                for _ in &p.relays {
                    assert_eq!(layer[0], msg::RELAY_REPL);
                    let inner = options(&layer[34..])
                        .map(|o| o.expect("well-formed"))
                        .find(|(c, _)| *c == opt::RELAY_MSG)
                        .map(|(_, d)| d.to_vec())
                        .expect("relay-msg");
                    layer = inner;
                }
                assert_eq!(layer, vec![msg::REPLY, 0, 0, 0]);
            }
        }
    }

    #[test]
    fn rejects_malformed_messages() {
        let good = solicit();
        assert_eq!(Packet::parse(&[]), Err(DecodeError::TooShort));
        assert_eq!(Packet::parse(&good[..3]), Err(DecodeError::TooShort));
        // Every truncation that cuts an option is refused, never half-read.
        for cut in 5..good.len() {
            let r = Packet::parse(&good[..cut]);
            if let Ok(p) = r {
                // A cut exactly on an option boundary is a valid shorter message.
                assert!(p.message.client_id.is_some() || cut <= 18, "cut {cut}");
            }
        }
        assert!(Packet::parse(&good[..good.len() - 1]).is_err());
        let mut dup = good.clone();
        dup.extend_from_slice(&[0, 1, 0, 1, 9]);
        assert_eq!(
            Packet::parse(&dup),
            Err(DecodeError::Duplicate(opt::CLIENTID))
        );
        let mut elapsed = Encoder::message(msg::SOLICIT, [0; 3]);
        elapsed.option(opt::ELAPSED_TIME, &[1]);
        assert_eq!(
            Packet::parse(&elapsed.finish()),
            Err(DecodeError::BadOptionLength(opt::ELAPSED_TIME))
        );
        assert_eq!(
            Packet::parse(&[msg::ADVERTISE, 0, 0, 0]),
            Err(DecodeError::NotAClientMessage(msg::ADVERTISE))
        );
        // A relay without a relay message, and one that nests past the limit.
        let mut relay = vec![msg::RELAY_FORW, 0];
        relay.extend_from_slice(&[0; 32]);
        assert_eq!(Packet::parse(&relay), Err(DecodeError::NoRelayMessage));
        let mut nested = good;
        for _ in 0..=MAX_RELAYS {
            let mut e = Encoder::default();
            e.raw(&[msg::RELAY_FORW, 0]);
            e.raw(&[0; 32]);
            e.option(opt::RELAY_MSG, &nested);
            nested = e.finish();
        }
        assert_eq!(Packet::parse(&nested), Err(DecodeError::TooManyRelays));
    }
}
