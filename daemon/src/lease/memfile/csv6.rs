//! Rows of the DHCPv6 memfile, in ISC Kea 2.2's `kea-leases6.csv` format.
//!
//! Columns are found by name from the file's header, so files written by older Kea versions
//! (fewer columns) and newer ones (more columns, e.g. `pool_id`) load; we always write exactly
//! [`HEADER`].

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::net::Ipv6Addr;
use std::path::Path;

use thiserror::Error;

use super::escape;
use crate::lease::hex;
use crate::lease::record::LeaseState;
use crate::lease::record6::{Lease6, LeaseType6};

/// The header Kea 2.2 writes, and we write, on the first line of a v6 memfile.
pub const HEADER: &str = "address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source";

/// Longest DUID (RFC 8415 section 11.1: 128 bytes plus the 2-byte type).
pub const DUID_MAX_LEN: usize = 130;

const NAMES: [&str; 17] = [
    "address",
    "duid",
    "valid_lifetime",
    "expire",
    "subnet_id",
    "pref_lifetime",
    "lease_type",
    "iaid",
    "prefix_len",
    "fqdn_fwd",
    "fqdn_rev",
    "hostname",
    "hwaddr",
    "state",
    "user_context",
    "hwtype",
    "hwaddr_source",
];
// Kea: a v6 file needs at least the columns up to hostname.
const REQUIRED: usize = 12;

/// Why a header is not a v6 memfile header.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not a DHCPv6 memfile header: missing column {0}")]
pub struct HeaderError6(pub &'static str);

/// Why a row was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RowError6 {
    /// Fewer columns than the header.
    #[error("row has {found} columns, the header {expected}")]
    Columns {
        /// Columns in the row.
        found: usize,
        /// Columns in the header.
        expected: usize,
    },
    /// A column's value is invalid.
    #[error("invalid {column}: {value:?}")]
    Invalid {
        /// Column name.
        column: &'static str,
        /// Its text.
        value: String,
    },
}

/// Column positions of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schema6 {
    index: [Option<usize>; 17],
    // The inverse of `index` for the first columns of a row: which of ours column `c` is
    // (`NOT_READ` when none), so a row is split in one pass.
    read_as: [u8; FAST_COLUMNS],
    columns: usize,
}

/// Columns of a row found through `Schema6::read_as`; later ones (a header with many extra
/// columns first) through `index`.
const FAST_COLUMNS: usize = 32;
const NOT_READ: u8 = u8::MAX;

impl Schema6 {
    /// Reads a header line.
    pub fn from_header(line: &[u8]) -> Result<Self, HeaderError6> {
        let text = String::from_utf8_lossy(line);
        let names: Vec<&str> = text.trim_end_matches('\r').split(',').collect();
        let mut index = [None; 17];
        for (i, name) in NAMES.iter().enumerate() {
            index[i] = names.iter().position(|n| n.trim() == *name);
            if i < REQUIRED && index[i].is_none() {
                return Err(HeaderError6(name));
            }
        }
        let mut read_as = [NOT_READ; FAST_COLUMNS];
        for (ours, column) in index.iter().enumerate() {
            if let Some(slot) = column.and_then(|c| read_as.get_mut(c)) {
                // `index` has 17 entries, so `ours` fits in a u8.
                *slot = ours as u8;
            }
        }
        Ok(Schema6 {
            index,
            read_as,
            columns: names.len(),
        })
    }

    /// Parses one data row.
    pub fn parse_row(&self, line: &[u8]) -> Result<Lease6, RowError6> {
        // The columns we read, found in one pass without allocating: rows are read by the
        // million at start-up.
        let mut wanted = [&b""[..]; 17];
        let mut found = 0;
        for field in line.split(|b| *b == b',') {
            match self.read_as.get(found) {
                Some(&NOT_READ) => {}
                Some(&ours) => wanted[usize::from(ours)] = field,
                None => {
                    for (slot, column) in wanted.iter_mut().zip(&self.index) {
                        if *column == Some(found) {
                            *slot = field;
                        }
                    }
                }
            }
            found += 1;
        }
        if found < self.columns {
            return Err(RowError6::Columns {
                found,
                expected: self.columns,
            });
        }
        let get = |i: usize| -> &[u8] { wanted[i] };
        let bad = |i: usize| RowError6::Invalid {
            column: NAMES[i],
            value: String::from_utf8_lossy(get(i)).into_owned(),
        };
        let text = |i: usize| std::str::from_utf8(get(i)).map_err(|_| bad(i));
        let num = |i: usize| -> Result<u64, RowError6> {
            text(i)?.trim().parse::<u64>().map_err(|_| bad(i))
        };
        let opt_num = |i: usize, default: u64| -> Result<u64, RowError6> {
            if get(i).is_empty() {
                Ok(default)
            } else {
                num(i)
            }
        };
        let address: Ipv6Addr = text(0)?.parse().map_err(|_| bad(0))?;
        let mut duid = [0u8; DUID_MAX_LEN];
        let n = hex::decode(get(1), &mut duid).map_err(|_| bad(1))?;
        let valid_lifetime = u32::try_from(num(2)?).map_err(|_| bad(2))?;
        let expire = num(3)?;
        let subnet_id = u32::try_from(num(4)?).map_err(|_| bad(4))?;
        let preferred_lifetime = u32::try_from(num(5)?).map_err(|_| bad(5))?;
        let lease_type = u8::try_from(num(6)?)
            .ok()
            .and_then(LeaseType6::from_u8)
            .ok_or_else(|| bad(6))?;
        let iaid = u32::try_from(num(7)?).map_err(|_| bad(7))?;
        let prefix_len = u8::try_from(num(8)?)
            .ok()
            .filter(|l| *l <= 128)
            .ok_or_else(|| bad(8))?;
        let flag = |i: usize| -> Result<bool, RowError6> {
            match get(i) {
                b"1" | b"true" => Ok(true),
                b"0" | b"false" | b"" => Ok(false),
                _ => Err(bad(i)),
            }
        };
        let unescaped = |i: usize| -> Option<Box<str>> {
            let raw = get(i);
            let bytes = escape::unescape(raw).unwrap_or_else(|| raw.to_vec());
            let s = String::from_utf8_lossy(&bytes).into_owned();
            (!s.is_empty()).then(|| s.into_boxed_str())
        };
        let mut hw = [0u8; 64];
        let hw_len = hex::decode(get(12), &mut hw).map_err(|_| bad(12))?;
        let state = LeaseState::try_from(opt_num(13, 0)? as u32).map_err(|_| bad(13))?;
        Ok(Lease6 {
            address,
            prefix_len,
            lease_type,
            duid: duid[..n].into(),
            iaid,
            valid_lifetime,
            preferred_lifetime,
            expire,
            subnet_id,
            fqdn_fwd: flag(9)?,
            fqdn_rev: flag(10)?,
            state,
            ..Lease6::default()
        }
        .with_hostname(unescaped(11))
        .with_user_context(unescaped(14))
        .with_hwaddr(
            (hw_len > 0).then(|| &hw[..hw_len]),
            u16::try_from(opt_num(15, 1)?).map_err(|_| bad(15))?,
            u32::try_from(opt_num(16, 0)?).map_err(|_| bad(16))?,
        ))
    }
}

/// The address column of a row (for cheap checks), if it parses.
pub fn row_key(line: &[u8]) -> Option<Ipv6Addr> {
    let end = line.iter().position(|b| *b == b',')?;
    std::str::from_utf8(&line[..end]).ok()?.parse().ok()
}

/// Reads the header of `path`: `Ok(None)` when the file is empty or holds only a torn header.
pub fn read_header(path: &Path) -> io::Result<Option<Schema6>> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        let terminated = line.last() == Some(&b'\n');
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if line.is_empty() {
            continue;
        }
        if !terminated && HEADER.as_bytes().starts_with(&line) {
            return Ok(None);
        }
        return Schema6::from_header(&line)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
    }
}

/// Appends the CSV row for `lease`, with its line end, to `out`.
pub fn format_row(lease: &Lease6, out: &mut Vec<u8>) {
    format_with(lease, lease.valid_lifetime, lease.expire, out);
}

/// Appends the row that records the deletion of `lease` (valid lifetime 0, expire = cltt).
pub fn format_delete_row(lease: &Lease6, out: &mut Vec<u8>) {
    format_with(lease, 0, lease.cltt(), out);
}

fn format_with(lease: &Lease6, valid_lifetime: u32, expire: u64, out: &mut Vec<u8>) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{},", lease.address);
    if lease.duid.is_empty() {
        // Kea's DUID::EMPTY, written for declined leases.
        out.extend_from_slice(b"00");
    } else {
        hex::encode(&lease.duid, out);
    }
    let _ = write!(
        out,
        ",{valid_lifetime},{expire},{},{},{},{},{},{},{},",
        lease.subnet_id,
        lease.preferred_lifetime,
        lease.lease_type.as_u8(),
        lease.iaid,
        lease.prefix_len,
        u8::from(lease.fqdn_fwd),
        u8::from(lease.fqdn_rev),
    );
    if let Some(h) = lease.hostname() {
        escape::escape_into(h.as_bytes(), out);
    }
    out.push(b',');
    if let Some(hw) = lease.hwaddr() {
        hex::encode(hw, out);
    }
    let _ = write!(out, ",{},", lease.state.as_u32());
    if let Some(ctx) = lease.user_context() {
        escape::escape_into(ctx.as_bytes(), out);
    }
    if lease.hwaddr().is_some() {
        let _ = write!(out, ",{},{}", lease.hwtype(), lease.hwaddr_source());
    } else {
        out.extend_from_slice(b",,");
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::record6::ExtraColumns6;

    fn sample() -> Lease6 {
        Lease6 {
            address: "2001:db8:1::10".parse().expect("addr"),
            prefix_len: 128,
            lease_type: LeaseType6::Na,
            duid: vec![0, 1, 0, 1, 0x2a, 0xbb, 0xcc, 0xdd, 2, 0, 0, 0, 0, 1].into(),
            iaid: 7,
            valid_lifetime: 4000,
            preferred_lifetime: 3000,
            expire: 1_800_000_000,
            subnet_id: 1,
            ..Lease6::default()
        }
        .with_hostname(Some("a,b".into()))
    }

    #[test]
    fn row_round_trips() {
        let schema = Schema6::from_header(HEADER.as_bytes()).expect("header");
        for lease in [
            sample(),
            Lease6 {
                address: "2001:db8:100::".parse().expect("pd"),
                prefix_len: 56,
                lease_type: LeaseType6::Pd,
                state: LeaseState::ExpiredReclaimed,
                ..sample()
            }
            .with_hwaddr(Some(&[2, 0, 0, 0, 0, 1]), 1, 4),
            // The DUID's own hardware address, as the server records it.
            sample().with_hwaddr(Some(&[2, 0, 0, 0, 0, 1]), 1, 2),
        ] {
            let mut out = Vec::new();
            format_row(&lease, &mut out);
            assert_eq!(out.iter().filter(|b| **b == b',').count(), 16);
            let back = schema.parse_row(&out[..out.len() - 1]).expect("parses");
            assert_eq!(back, lease);
        }
    }

    #[test]
    fn kea_written_row_loads() {
        // A row as Kea 2.2 writes it for an IA_NA lease.
        let row = b"2001:db8:1::100,00:03:00:01:02:00:00:00:00:01,4000,1800004000,1,3000,0,1,128,0,0,,02:00:00:00:00:01,0,,1,2";
        let schema = Schema6::from_header(HEADER.as_bytes()).expect("header");
        let l = schema.parse_row(row).expect("parses");
        assert_eq!(l.duid.len(), 10);
        assert_eq!(l.prefix_len, 128);
        assert_eq!(l.hwaddr(), Some(&[2u8, 0, 0, 0, 0, 1][..]));
        assert_eq!((l.hwtype(), l.hwaddr_source()), (1, 2));
        assert_eq!(
            l.extra,
            ExtraColumns6::default(),
            "the DUID's hardware address is not stored twice"
        );
        // A newer schema with pool_id appended still loads.
        let newer = Schema6::from_header(format!("{HEADER},pool_id").as_bytes()).expect("newer");
        let mut with_pool = row.to_vec();
        with_pool.extend_from_slice(b",0");
        assert_eq!(newer.parse_row(&with_pool).expect("parses"), l);
    }

    #[test]
    fn columns_are_found_by_name_past_the_first_32() {
        let extra: Vec<String> = (0..40).map(|i| format!("x{i}")).collect();
        let header = format!("{},{HEADER}", extra.join(","));
        let schema = Schema6::from_header(header.as_bytes()).expect("header");
        let mut row = vec![b'0'; 1];
        for _ in 1..40 {
            row.extend_from_slice(b",0");
        }
        row.push(b',');
        format_row(&sample(), &mut row);
        row.pop();
        assert_eq!(schema.parse_row(&row).expect("parses"), sample());
        assert!(matches!(
            schema.parse_row(b"0,0"),
            Err(RowError6::Columns { found: 2, .. })
        ));
    }

    #[test]
    fn bad_rows_are_rejected() {
        let schema = Schema6::from_header(HEADER.as_bytes()).expect("header");
        assert!(schema
            .parse_row(b"not-an-address,00,1,1,1,1,0,1,128,0,0,,,0,,,")
            .is_err());
        assert!(schema
            .parse_row(b"2001:db8::1,00,1,1,1,1,7,1,128,0,0,,,0,,,")
            .is_err());
        assert!(schema.parse_row(b"2001:db8::1,00").is_err());
        assert!(Schema6::from_header(crate::lease::memfile::csv4::HEADER.as_bytes()).is_err());
    }
}
