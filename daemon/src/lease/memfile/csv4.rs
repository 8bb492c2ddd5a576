//! Kea 2.2's DHCPv4 memfile row format (`CSVLeaseFile4`, schema 2.1).
//!
//! ```text
//! address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context
//! 100.64.1.5,00:0c:01:00:00:01,01:00:0c:01:00:00:01,4000,1764000000,1,0,0,,0,
//! ```
//!
//! Identifiers are colon-separated lowercase hex (empty when absent), the
//! FQDN flags 0/1, the state an integer, hostname and user context escaped
//! (see [`super::escape`]). A row with `valid_lifetime` 0 records a deletion.
//!
//! Files written by older or newer Kea versions are read like Kea's
//! `VersionedCSVFile` does: a header that is a prefix of ours (at least up to
//! `hostname`) gets the missing columns' defaults; a header that extends ours
//! has its extra columns ignored.

use std::fmt;
use std::net::Ipv4Addr;

use thiserror::Error;

use super::escape;
use crate::lease::hex::{self, HexError};
use crate::lease::record::{ClientId, HwAddr, HwAddrError, Lease4, LeaseState};

/// The header Kea 2.2 writes, and we write, on the first line of a v4 memfile.
pub const HEADER: &str =
    "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context";

/// Longest client identifier Kea accepts (`ClientId::MAX_CLIENT_ID_LEN`).
pub const CLIENT_ID_MAX_LEN: usize = 255;

const COLUMN_COUNT: usize = 11;

// Kea: "any file with less than hostname is invalid".
const MIN_COLUMNS: usize = 9;

// Values of the columns an old header lacks (Kea's column defaults).
const DEFAULTS: [&[u8]; COLUMN_COUNT] = [b"", b"", b"", b"", b"", b"", b"", b"", b"", b"0", b""];

/// The columns of a v4 memfile, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// `address`
    Address,
    /// `hwaddr`
    HwAddr,
    /// `client_id`
    ClientId,
    /// `valid_lifetime`
    ValidLifetime,
    /// `expire`
    Expire,
    /// `subnet_id`
    SubnetId,
    /// `fqdn_fwd`
    FqdnFwd,
    /// `fqdn_rev`
    FqdnRev,
    /// `hostname`
    Hostname,
    /// `state`
    State,
    /// `user_context`
    UserContext,
}

impl Column {
    /// Every column, in file order.
    pub const ALL: [Column; COLUMN_COUNT] = [
        Column::Address,
        Column::HwAddr,
        Column::ClientId,
        Column::ValidLifetime,
        Column::Expire,
        Column::SubnetId,
        Column::FqdnFwd,
        Column::FqdnRev,
        Column::Hostname,
        Column::State,
        Column::UserContext,
    ];

    /// The column's name in the header.
    pub fn name(self) -> &'static str {
        match self {
            Column::Address => "address",
            Column::HwAddr => "hwaddr",
            Column::ClientId => "client_id",
            Column::ValidLifetime => "valid_lifetime",
            Column::Expire => "expire",
            Column::SubnetId => "subnet_id",
            Column::FqdnFwd => "fqdn_fwd",
            Column::FqdnRev => "fqdn_rev",
            Column::Hostname => "hostname",
            Column::State => "state",
            Column::UserContext => "user_context",
        }
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why one value of a row is unacceptable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FieldError {
    /// The column must not be empty.
    #[error("empty")]
    Empty,
    /// Not a dotted-quad IPv4 address.
    #[error("not an IPv4 address")]
    NotAnAddress,
    /// Not a decimal number.
    #[error("not a decimal number")]
    NotANumber,
    /// A number too large for the column.
    #[error("number out of range")]
    OutOfRange,
    /// Not 0 or 1.
    #[error("not 0 or 1")]
    NotABool,
    /// Not colon-separated hex.
    #[error("not colon-separated hex: {0}")]
    Hex(HexError),
    /// An unknown lease state.
    #[error("unknown lease state")]
    UnknownState,
    /// The user context is not a JSON map.
    #[error("not a JSON map")]
    NotJsonMap,
}

/// Why a row could not be turned into a lease.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RowError {
    /// The row has too few or too many values for the file's header.
    #[error("{found} columns, expected {}", expected_text(*.min, *.max))]
    ColumnCount {
        /// Values found in the row.
        found: usize,
        /// Fewest values allowed.
        min: usize,
        /// Most values allowed.
        max: usize,
    },
    /// One value is malformed.
    #[error("column {column}: {reason} (value \"{value}\")")]
    Field {
        /// The column holding the value.
        column: Column,
        /// What is wrong with it.
        reason: FieldError,
        /// The value as found (cut to 64 characters).
        value: String,
    },
    /// Kea refuses leases with neither identifier unless they are declined.
    #[error("neither hwaddr nor client_id is set and the lease is not declined")]
    NoIdentifier,
}

fn expected_text(min: usize, max: usize) -> String {
    if min == max {
        min.to_string()
    } else {
        format!("{min} to {max}")
    }
}

fn field_error(column: Column, reason: FieldError, value: &[u8]) -> RowError {
    let text = String::from_utf8_lossy(value);
    RowError::Field {
        column,
        reason,
        value: text.chars().take(64).collect(),
    }
}

/// Why a file's first line is not an acceptable v4 memfile header.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// A column name differs from ours at the same position.
    #[error("column {index} is \"{found}\", expected \"{expected}\"")]
    WrongColumn {
        /// Zero-based position.
        index: usize,
        /// The name found (cut to 64 characters).
        found: String,
        /// The name expected there.
        expected: &'static str,
    },
    /// Fewer columns than the oldest schema Kea reads.
    #[error("{found} columns, at least {MIN_COLUMNS} (up to hostname) are required")]
    TooFewColumns {
        /// Columns found.
        found: usize,
    },
}

/// The layout of one file, from its header: how many columns it declares
/// (ours, fewer for an older Kea schema, more for a newer one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schema {
    header_columns: usize,
}

impl Schema {
    /// The schema of files we write: exactly [`HEADER`].
    pub const CURRENT: Schema = Schema {
        header_columns: COLUMN_COUNT,
    };

    /// Checks a header line (without its line end) and returns its schema.
    pub fn from_header(line: &[u8]) -> Result<Schema, HeaderError> {
        let mut count = 0;
        for (index, name) in line.split(|&b| b == b',').enumerate() {
            if let Some(col) = Column::ALL.get(index) {
                if name != col.name().as_bytes() {
                    return Err(HeaderError::WrongColumn {
                        index,
                        found: String::from_utf8_lossy(name).chars().take(64).collect(),
                        expected: col.name(),
                    });
                }
            }
            count += 1;
        }
        if count < MIN_COLUMNS {
            return Err(HeaderError::TooFewColumns { found: count });
        }
        Ok(Schema {
            header_columns: count,
        })
    }

    /// True when the file's header differs from ours (an older or newer Kea
    /// schema): rows are converted as they are read.
    pub fn needs_conversion(&self) -> bool {
        self.header_columns != COLUMN_COUNT
    }

    /// Parses one row (without its line end).
    pub fn parse_row(&self, line: &[u8]) -> Result<Lease4, RowError> {
        let mut fields: [&[u8]; COLUMN_COUNT] = DEFAULTS;
        let mut found = 0;
        for field in line.split(|&b| b == b',') {
            if let Some(slot) = fields.get_mut(found) {
                *slot = field;
            }
            found += 1;
        }
        // Kea's VersionedCSVFile rules: rows of an older schema may carry any
        // number of columns from the header's up to ours; rows of a newer one
        // from ours up to the header's.
        let (min, max) = if self.header_columns <= COLUMN_COUNT {
            (self.header_columns, COLUMN_COUNT)
        } else {
            (COLUMN_COUNT, self.header_columns)
        };
        if found < min || found > max {
            return Err(RowError::ColumnCount { found, min, max });
        }
        lease_from_fields(&fields)
    }
}

/// Parses one row of a file with our header.
pub fn parse_row(line: &[u8]) -> Result<Lease4, RowError> {
    Schema::CURRENT.parse_row(line)
}

fn lease_from_fields(f: &[&[u8]; COLUMN_COUNT]) -> Result<Lease4, RowError> {
    use Column as C;
    let address =
        parse_ipv4(f[0]).ok_or_else(|| field_error(C::Address, FieldError::NotAnAddress, f[0]))?;
    let hwaddr = HwAddr::parse_bytes(f[1]).map_err(|e| {
        let reason = match e {
            HwAddrError::Syntax(h) => FieldError::Hex(h),
            HwAddrError::TooLong { .. } => FieldError::Hex(HexError::TooLong {
                max: crate::lease::record::HWADDR_MAX_LEN,
            }),
        };
        field_error(C::HwAddr, reason, f[1])
    })?;
    let client_id =
        parse_client_id(f[2]).map_err(|e| field_error(C::ClientId, FieldError::Hex(e), f[2]))?;
    let valid_lifetime = parse_u32(f[3]).map_err(|e| field_error(C::ValidLifetime, e, f[3]))?;
    let expire = parse_u64(f[4]).map_err(|e| field_error(C::Expire, e, f[4]))?;
    let subnet_id = parse_u32(f[5]).map_err(|e| field_error(C::SubnetId, e, f[5]))?;
    let fqdn_fwd = parse_bool(f[6]).map_err(|e| field_error(C::FqdnFwd, e, f[6]))?;
    let fqdn_rev = parse_bool(f[7]).map_err(|e| field_error(C::FqdnRev, e, f[7]))?;
    let hostname = parse_text(f[8]);
    let state = parse_u32(f[9])
        .and_then(|n| LeaseState::try_from(n).map_err(|_| FieldError::UnknownState))
        .map_err(|e| field_error(C::State, e, f[9]))?;
    let user_context = parse_text(f[10]);
    if let Some(ctx) = &user_context {
        // Kea parses the context and requires a map; without a JSON parser
        // at hand we check the outer braces, which catches truncation.
        let t = ctx.trim();
        if !(t.starts_with('{') && t.ends_with('}')) {
            return Err(field_error(C::UserContext, FieldError::NotJsonMap, f[10]));
        }
    }
    if hwaddr.is_empty() && client_id.is_none() && state != LeaseState::Declined {
        return Err(RowError::NoIdentifier);
    }
    Ok(Lease4 {
        address,
        hwaddr,
        client_id,
        valid_lifetime,
        expire,
        subnet_id,
        fqdn_fwd,
        fqdn_rev,
        hostname,
        state,
        user_context,
    })
}

/// The address of a row, parsing nothing else.
pub(crate) fn row_address(line: &[u8]) -> Option<Ipv4Addr> {
    let end = line.iter().position(|&b| b == b',').unwrap_or(line.len());
    parse_ipv4(&line[..end])
}

/// Strict dotted quad, as `inet_pton` (Kea's parser) accepts: four decimal
/// octets of one to three digits, no leading zeros.
fn parse_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split(|&b| b == b'.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part[0] == b'0') {
            return None;
        }
        let mut v: u16 = 0;
        for &c in part {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u16::from(c - b'0');
        }
        *octet = u8::try_from(v).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}

fn parse_u64(s: &[u8]) -> Result<u64, FieldError> {
    if s.is_empty() {
        return Err(FieldError::Empty);
    }
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return Err(FieldError::NotANumber);
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or(FieldError::OutOfRange)?;
    }
    Ok(v)
}

fn parse_u32(s: &[u8]) -> Result<u32, FieldError> {
    u32::try_from(parse_u64(s)?).map_err(|_| FieldError::OutOfRange)
}

fn parse_bool(s: &[u8]) -> Result<bool, FieldError> {
    match s {
        b"0" => Ok(false),
        b"1" => Ok(true),
        b"" => Err(FieldError::Empty),
        _ => Err(FieldError::NotABool),
    }
}

fn parse_client_id(s: &[u8]) -> Result<Option<ClientId>, HexError> {
    let mut buf = [0u8; CLIENT_ID_MAX_LEN];
    let n = hex::decode(s, &mut buf)?;
    Ok((n > 0).then(|| ClientId::new(&buf[..n])))
}

/// An escaped text column; empty is `None`. Bytes that are not UTF-8 (Kea
/// does not check) are replaced rather than losing the whole lease.
fn parse_text(s: &[u8]) -> Option<Box<str>> {
    if s.is_empty() {
        return None;
    }
    let text = match escape::unescape(s) {
        None => String::from_utf8_lossy(s).into_owned(),
        Some(bytes) => match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        },
    };
    (!text.is_empty()).then(|| text.into_boxed_str())
}

/// Appends the CSV row for `lease`, with its line end, to `out`. No
/// allocation beyond growing `out`.
pub fn format_row(lease: &Lease4, out: &mut Vec<u8>) {
    format_with(lease, lease.valid_lifetime, lease.expire, out);
}

/// Appends the row that records the deletion of `lease`: Kea writes the
/// lease with `valid_lifetime` 0, so `expire` becomes its cltt.
pub fn format_delete_row(lease: &Lease4, out: &mut Vec<u8>) {
    format_with(lease, 0, lease.cltt(), out);
}

fn format_with(lease: &Lease4, valid_lifetime: u32, expire: u64, out: &mut Vec<u8>) {
    let [a, b, c, d] = lease.address.octets();
    for (i, octet) in [a, b, c, d].into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        write_u64(out, u64::from(octet));
    }
    out.push(b',');
    hex::encode(lease.hwaddr.as_bytes(), out);
    out.push(b',');
    if let Some(id) = &lease.client_id {
        hex::encode(id, out);
    }
    out.push(b',');
    write_u64(out, u64::from(valid_lifetime));
    out.push(b',');
    write_u64(out, expire);
    out.push(b',');
    write_u64(out, u64::from(lease.subnet_id));
    out.push(b',');
    out.push(if lease.fqdn_fwd { b'1' } else { b'0' });
    out.push(b',');
    out.push(if lease.fqdn_rev { b'1' } else { b'0' });
    out.push(b',');
    if let Some(h) = &lease.hostname {
        escape::escape_into(h.as_bytes(), out);
    }
    out.push(b',');
    write_u64(out, u64::from(lease.state.as_u32()));
    out.push(b',');
    if let Some(ctx) = &lease.user_context {
        escape::escape_into(ctx.as_bytes(), out);
    }
    out.push(b'\n');
}

fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEA_ROW: &str =
        "100.64.1.5,00:0c:01:00:00:01,01:00:0c:01:00:00:01,4000,1764000000,1,0,0,,0,";

    fn sample() -> Lease4 {
        Lease4 {
            address: Ipv4Addr::new(192, 0, 2, 10),
            hwaddr: "00:0c:01:02:03:04".parse().expect("valid"),
            client_id: Some(vec![1, 0, 0x0c, 1, 2, 3, 4].into()),
            valid_lifetime: 3600,
            expire: 1_764_003_600,
            subnet_id: 42,
            fqdn_fwd: true,
            fqdn_rev: false,
            hostname: Some("host,with,commas&amp.example.org".into()),
            state: LeaseState::Declined,
            user_context: Some("{ \"a\": 1, \"b\": [ \"x\", \"y\" ] }".into()),
        }
    }

    fn row_of(l: &Lease4) -> String {
        let mut out = Vec::new();
        format_row(l, &mut out);
        String::from_utf8(out).expect("ascii")
    }

    fn strip(row: &str) -> &[u8] {
        row.trim_end_matches('\n').as_bytes()
    }

    #[test]
    fn parses_a_kea_written_row() {
        let l = parse_row(KEA_ROW.as_bytes()).expect("valid row");
        assert_eq!(l.address, Ipv4Addr::new(100, 64, 1, 5));
        assert_eq!(l.hwaddr.to_string(), "00:0c:01:00:00:01");
        assert_eq!(l.client_id.as_deref(), Some(&[1, 0, 0x0c, 1, 0, 0, 1][..]));
        assert_eq!(
            (l.valid_lifetime, l.expire, l.cltt()),
            (4000, 1_764_000_000, 1_763_996_000)
        );
        assert_eq!(l.subnet_id, 1);
        assert!(!l.fqdn_fwd && !l.fqdn_rev);
        assert_eq!(
            (l.hostname, l.state, l.user_context),
            (None, LeaseState::Default, None)
        );
        // And we write it back byte for byte.
        let again = parse_row(KEA_ROW.as_bytes()).expect("valid row");
        assert_eq!(row_of(&again), format!("{KEA_ROW}\n"));
    }

    #[test]
    fn round_trip_with_escapes() {
        let l = sample();
        let row = row_of(&l);
        assert_eq!(
            row,
            "192.0.2.10,00:0c:01:02:03:04,01:00:0c:01:02:03:04,3600,1764003600,42,1,0,\
             host&#x2cwith&#x2ccommas&#x26amp.example.org,1,\
             { \"a\": 1&#x2c \"b\": [ \"x\"&#x2c \"y\" ] }\n"
        );
        assert_eq!(parse_row(strip(&row)), Ok(l));
    }

    #[test]
    fn round_trip_edge_values() {
        let mut l = sample();
        l.hwaddr = HwAddr::EMPTY;
        l.client_id = Some(vec![0xff; CLIENT_ID_MAX_LEN].into());
        l.valid_lifetime = u32::MAX;
        l.expire = u64::from(u32::MAX) * 2;
        l.subnet_id = u32::MAX;
        l.hostname = Some("ü\n\t,&#x2c".into());
        l.user_context = None;
        l.state = LeaseState::ExpiredReclaimed;
        assert_eq!(parse_row(strip(&row_of(&l))), Ok(l));
    }

    #[test]
    fn delete_row_has_zero_lifetime_and_cltt() {
        let l = sample();
        let mut out = Vec::new();
        format_delete_row(&l, &mut out);
        let d = parse_row(strip(std::str::from_utf8(&out).expect("ascii"))).expect("valid");
        assert_eq!((d.valid_lifetime, d.expire), (0, l.cltt()));
    }

    fn err(row: &str) -> RowError {
        match parse_row(row.as_bytes()) {
            Ok(l) => panic!("row {row:?} parsed as {l:?}"),
            Err(e) => e,
        }
    }

    fn field(row: &str) -> (Column, FieldError) {
        match err(row) {
            RowError::Field { column, reason, .. } => (column, reason),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn bad_rows_say_which_column() {
        assert_eq!(
            err("1.2.3.4,aa,,1,2,1,0,0,,0"),
            RowError::ColumnCount {
                found: 10,
                min: 11,
                max: 11
            }
        );
        assert_eq!(
            err("1.2.3.4,aa,,1,2,1,0,0,,0,,"),
            RowError::ColumnCount {
                found: 12,
                min: 11,
                max: 11
            }
        );
        assert_eq!(
            field("1.2.3,aa,,1,2,1,0,0,,0,"),
            (Column::Address, FieldError::NotAnAddress)
        );
        assert_eq!(
            field("1.2.3.256,aa,,1,2,1,0,0,,0,"),
            (Column::Address, FieldError::NotAnAddress)
        );
        assert_eq!(
            field("01.2.3.4,aa,,1,2,1,0,0,,0,"),
            (Column::Address, FieldError::NotAnAddress)
        );
        assert_eq!(
            field("1.2.3.4.5,aa,,1,2,1,0,0,,0,"),
            (Column::Address, FieldError::NotAnAddress)
        );
        assert_eq!(
            field("1.2.3.4,zz,,1,2,1,0,0,,0,"),
            (Column::HwAddr, FieldError::Hex(HexError::BadDigit))
        );
        assert_eq!(
            field("1.2.3.4,aa,0:,1,2,1,0,0,,0,"),
            (Column::ClientId, FieldError::Hex(HexError::EmptyGroup))
        );
        assert_eq!(
            field("1.2.3.4,aa,,x,2,1,0,0,,0,"),
            (Column::ValidLifetime, FieldError::NotANumber)
        );
        assert_eq!(
            field("1.2.3.4,aa,,-1,2,1,0,0,,0,"),
            (Column::ValidLifetime, FieldError::NotANumber)
        );
        assert_eq!(
            field("1.2.3.4,aa,,4294967296,2,1,0,0,,0,"),
            (Column::ValidLifetime, FieldError::OutOfRange)
        );
        assert_eq!(
            field("1.2.3.4,aa,,1,,1,0,0,,0,"),
            (Column::Expire, FieldError::Empty)
        );
        assert_eq!(
            field("1.2.3.4,aa,,1,2,1,2,0,,0,"),
            (Column::FqdnFwd, FieldError::NotABool)
        );
        assert_eq!(
            field("1.2.3.4,aa,,1,2,1,0,true,,0,"),
            (Column::FqdnRev, FieldError::NotABool)
        );
        assert_eq!(
            field("1.2.3.4,aa,,1,2,1,0,0,,3,"),
            (Column::State, FieldError::UnknownState)
        );
        assert_eq!(
            field("1.2.3.4,aa,,1,2,1,0,0,,0,[1]"),
            (Column::UserContext, FieldError::NotJsonMap)
        );
        assert_eq!(err("1.2.3.4,,,1,2,1,0,0,,0,"), RowError::NoIdentifier);
        // A declined lease may have neither identifier.
        assert!(parse_row(b"1.2.3.4,,,1,2,1,0,0,,1,").is_ok());
        let msg = err("1.2.3.4,aa,,1,2,1,0,0,,0,[1]").to_string();
        assert_eq!(msg, "column user_context: not a JSON map (value \"[1]\")");
    }

    #[test]
    fn header_versions() {
        assert_eq!(Schema::from_header(HEADER.as_bytes()), Ok(Schema::CURRENT));
        assert!(!Schema::CURRENT.needs_conversion());
        // Kea 1.x schema 2.0: no user_context. Rows may have 10 or 11 values.
        let old = Schema::from_header(b"address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state")
            .expect("older schema");
        assert!(old.needs_conversion());
        let l = old.parse_row(b"1.2.3.4,aa,,1,2,1,0,0,h,1").expect("valid");
        assert_eq!((l.state, l.user_context), (LeaseState::Declined, None));
        // Schema 1.0: no state either; it defaults to 0.
        let oldest = Schema::from_header(
            b"address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname",
        )
        .expect("oldest schema");
        assert_eq!(
            oldest
                .parse_row(b"1.2.3.4,aa,,1,2,1,0,0,h")
                .map(|l| l.state),
            Ok(LeaseState::Default)
        );
        assert!(matches!(
            oldest.parse_row(b"1.2.3.4,aa,,1,2,1,0,0"),
            Err(RowError::ColumnCount { .. })
        ));
        // A newer Kea (2.6 adds pool_id): the extra column is ignored.
        let newer =
            Schema::from_header(format!("{HEADER},pool_id").as_bytes()).expect("newer schema");
        assert_eq!(
            newer
                .parse_row(b"1.2.3.4,aa,,1,2,1,0,0,,0,,7")
                .map(|l| l.subnet_id),
            Ok(1)
        );
        assert!(newer.parse_row(b"1.2.3.4,aa,,1,2,1,0,0,,0,").is_ok());
        assert!(matches!(
            newer.parse_row(b"1.2.3.4,aa,,1,2,1,0,0,,0,,7,8"),
            Err(RowError::ColumnCount { .. })
        ));

        assert_eq!(
            Schema::from_header(b"address,hwaddr,duid"),
            Err(HeaderError::WrongColumn {
                index: 2,
                found: "duid".into(),
                expected: "client_id"
            })
        );
        assert_eq!(
            Schema::from_header(b"address,hwaddr,client_id"),
            Err(HeaderError::TooFewColumns { found: 3 })
        );
    }
}
