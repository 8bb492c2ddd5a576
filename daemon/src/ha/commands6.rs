//! The DHCPv6 half of ISC Kea 2.2's HA command set: DHCPv6 leases as Kea's JSON, the
//! `lease6-bulk-apply` lease updates, `lease6-get-page` for the synchronisation and `lease6-del`.
//! Requests, answers, result codes and errors are those of [`super::commands`]. Pure: no I/O, no
//! clock.
//!
//! What Kea 2.2 sends and accepts, and so what this module follows:
//!
//! - a lease is `Lease6::toElement`: `ip-address`, `type` ("IA_NA", "IA_TA", "IA_PD"),
//!   `prefix-len` (only for IA_PD), `iaid`, `duid`, `subnet-id`, `cltt`, `preferred-lft`,
//!   `valid-lft`, `fqdn-fwd`, `fqdn-rev`, `hostname`, `hw-address` (only when the lease has one),
//!   `state` and `user-context` (only when there is one). That is what `lease6-get-page`
//!   answers, and Kea's synchronisation reads every one of those fields back with
//!   `Lease6::fromElement`, `cltt` included;
//! - Kea's HA sends DHCPv6 lease changes only as `lease6-bulk-apply`
//!   (`CommandCreator::createLease6BulkApply`): `{"deleted-leases": [...], "leases": [...]}`,
//!   both lists of whole leases in which `CommandCreator::insertLeaseExpireTime` replaced `cltt`
//!   with `expire` (= cltt + valid-lft), the field lease_cmds' `Lease6Parser` reads. No
//!   `force-create`: bulk apply always creates;
//! - lease_cmds identifies a deleted lease (`getParameters` + `getIPv6LeaseForDelete`) by
//!   `ip-address` and `type` alone (default IA_NA; "0", "1" and "2" also accepted), and
//!   `lease6-del` the same way;
//! - `lease6-get-page` is `{"from": "start" | <IPv6 address>, "limit": n}`, answered with
//!   `{"leases": [...], "count": n}`, result 3 and an empty list after the last page.
//!
//! A DUID is lowercase colon-separated hex ("00:03:00:01:..."); the empty DUID Kea gives declined
//! leases (`DUID::EMPTY`) is the single byte 0, written "00", as the memfile writes it. A lease
//! without a DUID is sent that way; "00" is read back as the one byte 0. The hardware type and
//! source are not part of Kea's JSON: a lease read from JSON has type 1 (Ethernet, as Kea's
//! `HWAddr::fromText` sets) and source 0 (unknown).

use std::net::Ipv6Addr;

use serde_json::{Map, Value};

use super::commands::{Answer, CommandError};
use super::json_fields::{
    self, colon_hex, common_lease_fields, hex_groups, hex_pairs, invalid, missing, parse_hwaddr,
    parse_ipv6, read_expire, read_hostname, read_state, read_user_context, Fields, LeaseTime,
};
use crate::lease::memfile::csv6::DUID_MAX_LEN;
use crate::lease::{Lease6, LeaseState, LeaseType6};

/// The hardware type a lease read from JSON gets (Kea's `HTYPE_ETHER`).
const HTYPE_ETHER: u16 = 1;
/// The hardware address source a lease read from JSON gets (Kea's `HWADDR_SOURCE_UNKNOWN`).
const HWADDR_SOURCE_UNKNOWN: u32 = 0;

// ---------------------------------------------------------------------------------------------
// Fields only DHCPv6 leases have
// ---------------------------------------------------------------------------------------------

impl Fields<'_> {
    /// The lease `type` ("IA_NA", "IA_TA", "IA_PD"); with `numeric` also "0", "1" and "2", as
    /// lease_cmds' `getParameters` (deletions) accepts.
    fn opt_lease_type(&self, numeric: bool) -> Result<Option<LeaseType6>, CommandError> {
        self.opt_parsed("type", |name, v, text| match (text, numeric) {
            ("IA_NA", _) | ("0", true) => Ok(LeaseType6::Na),
            ("IA_TA", _) | ("1", true) => Ok(LeaseType6::Ta),
            ("IA_PD", _) | ("2", true) => Ok(LeaseType6::Pd),
            _ => Err(invalid(
                name,
                v,
                "must be \"IA_NA\", \"IA_TA\" or \"IA_PD\"",
            )),
        })
    }

    /// A delegated prefix length, 1 to 128 (`Lease6::fromElement`'s range).
    fn opt_prefix_len(&self) -> Result<Option<u8>, CommandError> {
        // In range by the check.
        Ok(self.opt_int_in("prefix-len", 1, 128)?.map(|n| n as u8))
    }

    fn duid(&self, name: &str) -> Result<Box<[u8]>, CommandError> {
        self.parsed(name, |name, v, text| {
            parse_duid_text(text)
                .map(Vec::into_boxed_slice)
                .map_err(|reason| invalid(name, v, reason))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Hex text of DUIDs and hardware addresses
// ---------------------------------------------------------------------------------------------

/// The DUID as Kea writes it; an empty one as Kea's empty DUID, the single byte 0 ("00").
fn duid_text(duid: &[u8]) -> String {
    if duid.is_empty() {
        "00".to_string()
    } else {
        colon_hex(duid)
    }
}

/// Reads a DUID the way Kea 2.2's `DUID::fromText` (`decodeFormattedHexString`) does: bytes of
/// one or two hex digits separated by colons ("0:3:0:1") or by spaces, or a run of digits
/// without separators, optionally after "0x", an odd count getting a leading 0. The result
/// must be 1 to 130 bytes (RFC 8415's limit, as Kea's `DUID` checks).
fn parse_duid_text(text: &str) -> Result<Vec<u8>, &'static str> {
    const BAD_DIGIT: &str = "contains a character that is not a hexadecimal digit or separator";
    let bytes = text.as_bytes();
    let separator = [b':', b' '].into_iter().find(|s| bytes.contains(s));
    let out = if let Some(sep) = separator {
        hex_groups(
            bytes,
            sep,
            BAD_DIGIT,
            "has two separators in a row or one at an end",
        )?
    } else {
        let digits = match bytes {
            [b'0', b'x', rest @ ..] if !rest.is_empty() => rest,
            _ => bytes,
        };
        let (first, pairs) = digits.split_at(digits.len() % 2);
        let mut out = Vec::with_capacity(digits.len() / 2 + 1);
        // An odd count: the first digit is a byte of its own, as if after a 0.
        if let [lo] = *first {
            out.extend(hex_pairs(&[b'0', lo], BAD_DIGIT)?);
        }
        out.extend(hex_pairs(pairs, BAD_DIGIT)?);
        out
    };
    if out.is_empty() {
        return Err("is empty");
    }
    if out.len() > DUID_MAX_LEN {
        return Err("is longer than 130 bytes");
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Leases
// ---------------------------------------------------------------------------------------------

/// Kea's name of a lease type (`Lease::typeToText`).
pub fn lease_type_text(t: LeaseType6) -> &'static str {
    match t {
        LeaseType6::Na => "IA_NA",
        LeaseType6::Ta => "IA_TA",
        LeaseType6::Pd => "IA_PD",
    }
}

fn lease_map(lease: &Lease6, time: LeaseTime) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("ip-address".into(), lease.address.to_string().into());
    m.insert("type".into(), lease_type_text(lease.lease_type).into());
    if lease.lease_type == LeaseType6::Pd {
        m.insert("prefix-len".into(), lease.prefix_len.into());
    }
    m.insert("iaid".into(), lease.iaid.into());
    m.insert("duid".into(), duid_text(&lease.duid).into());
    m.insert("subnet-id".into(), lease.subnet_id.into());
    m.insert("preferred-lft".into(), lease.preferred_lifetime.into());
    if let Some(hw) = lease.hwaddr().filter(|hw| !hw.is_empty()) {
        m.insert("hw-address".into(), colon_hex(hw).into());
    }
    common_lease_fields!(lease).insert_into(&mut m, time);
    m
}

/// The lease as Kea's `Lease6::toElement`, with `cltt`: what `lease6-get-page` answers carry
/// and what Kea's synchronisation requires (its `Lease6::fromElement` refuses a lease without
/// `cltt`, `hostname`, `fqdn-fwd`/`fqdn-rev` or `state`, so all are always written). The lease
/// updates HA sends carry `expire` instead: see [`bulk_apply6_arguments`] and
/// [`lease6_del_arguments`].
///
/// `prefix-len` is written only for IA_PD, `hw-address` only when the lease has a non-empty
/// one, `user-context` only when the stored context is a JSON map; `hostname` is "" when none.
pub fn lease6_to_json(lease: &Lease6) -> Value {
    Value::Object(lease_map(lease, LeaseTime::Cltt))
}

/// Reads a lease in either form Kea produces: `Lease6::toElement` (with `cltt`, lease pages)
/// or HA's lease updates (with `expire`, what lease_cmds reads).
///
/// Required: `ip-address` (IPv6), `duid` (1 to 130 bytes of hex), `iaid`, `subnet-id`,
/// `valid-lft`, `expire` or `cltt`, and `prefix-len` (1 to 128) when the type is IA_PD.
/// Optional with lease_cmds' defaults: `type` (IA_NA), `preferred-lft` (lease_cmds takes the
/// subnet's valid lifetime; here the lease's `valid-lft`), `fqdn-fwd`/`fqdn-rev` (false),
/// `hostname` (none), `hw-address` (none; "" is none too), `state` (0; 1, declined, is refused
/// for a prefix as lease_cmds does), `user-context` (none; must be a map) and `comment` (goes
/// into the user context). `prefix-len` of an address is ignored (addresses are 128, as
/// lease_cmds sets), and so are other fields (`force-create`, `origin`).
///
/// lease_cmds would find a missing `subnet-id` or `valid-lft` in its configuration; there is
/// none here, so they are required, as on the DHCPv4 side. The hostname is kept as sent (Kea
/// lowercases it; a Kea partner has done so already).
pub fn lease6_from_json(v: &Value) -> Result<Lease6, CommandError> {
    let f = Fields::of(v, "lease")?;
    let address = f.ipv6("ip-address")?;
    let lease_type = f.opt_lease_type(false)?.unwrap_or_default();
    let prefix_len = if lease_type == LeaseType6::Pd {
        f.opt_prefix_len()?.ok_or_else(|| missing("prefix-len"))?
    } else {
        128
    };
    let duid = f.duid("duid")?;
    let iaid = f.u32("iaid")?;
    let subnet_id = f.u32("subnet-id")?;
    let valid_lifetime = f.u32("valid-lft")?;
    let preferred_lifetime = f.opt_u32("preferred-lft")?.unwrap_or(valid_lifetime);
    let expire = read_expire(&f, valid_lifetime)?;
    let fqdn_fwd = f.opt_bool("fqdn-fwd")?.unwrap_or(false);
    let fqdn_rev = f.opt_bool("fqdn-rev")?.unwrap_or(false);
    let hostname = read_hostname(&f)?;
    let hwaddr = f
        .opt_parsed("hw-address", parse_hwaddr)?
        .filter(|hw| !hw.is_empty());
    let state = read_state(&f)?;
    if state == LeaseState::Declined && lease_type == LeaseType6::Pd {
        return Err(invalid(
            "state",
            f.get("state").unwrap_or(&Value::Null),
            "a delegated prefix (IA_PD) cannot be declined",
        ));
    }
    let user_context = read_user_context(&f)?;
    Ok(Lease6 {
        address,
        prefix_len,
        lease_type,
        duid: duid.into(),
        iaid,
        valid_lifetime,
        preferred_lifetime,
        expire,
        subnet_id,
        fqdn_fwd,
        fqdn_rev,
        state,
        ..Lease6::default()
    }
    .with_hostname(hostname)
    .with_user_context(user_context)
    .with_hwaddr(
        hwaddr.as_ref().map(|hw| hw.as_bytes()),
        HTYPE_ETHER,
        HWADDR_SOURCE_UNKNOWN,
    ))
}

/// Reads what identifies a lease to delete, as lease_cmds' `getParameters` does: `ip-address`
/// (required; deleting by `identifier-type`/`identifier` is not supported) and `type` (IA_NA by
/// default; "0", "1", "2" accepted). Also kept when present: `prefix-len` of a prefix (else
/// 128), `duid` and `iaid`, checked as in a lease. Every other field is ignored, so a whole
/// lease, as Kea's HA sends it, is fine. The result has Kea's identity fields and
/// [`Lease6::default`]'s others (valid lifetime 0: a deletion).
fn deletion_from_json(v: &Value) -> Result<Lease6, CommandError> {
    let f = Fields::of(v, "lease")?;
    let (address, lease_type) = deleted_address_and_type(&f)?;
    let prefix_len = match lease_type {
        LeaseType6::Pd => f.opt_prefix_len()?.unwrap_or(128),
        LeaseType6::Na | LeaseType6::Ta => 128,
    };
    let duid = match f.get("duid") {
        None => Box::default(),
        Some(_) => f.duid("duid")?,
    };
    let iaid = f.opt_u32("iaid")?.unwrap_or(0);
    Ok(Lease6 {
        address,
        prefix_len,
        lease_type,
        duid: duid.into(),
        iaid,
        ..Lease6::default()
    })
}

/// The arguments of a `lease6-del` as Kea's HA builds it (`CommandCreator::createLease6Delete`):
/// the whole lease with `expire`. lease_cmds reads only `ip-address` and `type`.
pub fn lease6_del_arguments(lease: &Lease6) -> Value {
    Value::Object(lease_map(lease, LeaseTime::Expire))
}

/// Reads `lease6-del` arguments: the address and type of the lease to delete (type IA_NA when
/// absent, as lease_cmds). Deleting by `identifier-type`/`identifier` is not supported.
pub fn parse_lease6_del(v: &Value) -> Result<(Ipv6Addr, LeaseType6), CommandError> {
    deleted_address_and_type(&Fields::of(v, "arguments")?)
}

/// What lease_cmds' `getParameters` reads to find a lease to delete: `ip-address` (required;
/// not `identifier-type`/`identifier`) and `type` (IA_NA by default; "0", "1", "2" accepted).
fn deleted_address_and_type(f: &Fields<'_>) -> Result<(Ipv6Addr, LeaseType6), CommandError> {
    f.refuse_identifier()?;
    let address = f.ipv6("ip-address")?;
    let lease_type = f.opt_lease_type(true)?.unwrap_or_default();
    Ok((address, lease_type))
}

// ---------------------------------------------------------------------------------------------
// lease6-bulk-apply
// ---------------------------------------------------------------------------------------------

/// Many DHCPv6 lease changes in one `lease6-bulk-apply`, the only way Kea 2.2's HA sends them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkUpdate6 {
    /// Leases to create or update (always created when absent).
    pub leases: Vec<Lease6>,
    /// Leases to delete. Sent whole; read back with only what identifies them (address, type,
    /// prefix length, and DUID and IAID when given; see [`parse_bulk_apply6`]). The store
    /// deletes by [`Lease6::key`].
    pub deleted: Vec<Lease6>,
}

/// The arguments of a `lease6-bulk-apply`, exactly as `CommandCreator::createLease6BulkApply`:
/// `{"deleted-leases": [...], "leases": [...]}`, both lists of whole leases with `expire`
/// instead of `cltt`, both always present (possibly empty).
pub fn bulk_apply6_arguments(b: &BulkUpdate6) -> Value {
    let list = |leases: &[Lease6]| {
        Value::Array(
            leases
                .iter()
                .map(|l| Value::Object(lease_map(l, LeaseTime::Expire)))
                .collect(),
        )
    };
    let mut m = Map::new();
    m.insert("deleted-leases".into(), list(&b.deleted));
    m.insert("leases".into(), list(&b.leases));
    Value::Object(m)
}

/// Reads `lease6-bulk-apply` arguments with lease_cmds' rules: at least one of
/// `deleted-leases` and `leases`, each a list. A deleted entry needs `ip-address` (and `type`
/// unless IA_NA), as lease_cmds' `getParameters`; a lease entry is read by
/// [`lease6_from_json`]. Any malformed entry fails the whole command, named
/// (`leases[2].duid`), so nothing is half applied, as lease_cmds parses everything before
/// applying anything.
pub fn parse_bulk_apply6(v: &Value) -> Result<BulkUpdate6, CommandError> {
    let (deleted, leases) = json_fields::read_bulk_apply(v, deletion_from_json, lease6_from_json)?;
    Ok(BulkUpdate6 { leases, deleted })
}

// ---------------------------------------------------------------------------------------------
// Lease pages (synchronisation)
// ---------------------------------------------------------------------------------------------

/// A `lease6-get-page` request: the leases after `from` (exclusive), at most `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest6 {
    /// The address of the previous page's last lease; `None` for the first page ("start").
    pub from: Option<Ipv6Addr>,
    /// The page size, 1 to 2^32-1.
    pub limit: u32,
}

/// The arguments of a `lease6-get-page` request (`CommandCreator::createLease6GetPage`).
pub fn get_page6_arguments(p: &PageRequest6) -> Value {
    json_fields::page_request_arguments(p.from, p.limit)
}

/// Reads `lease6-get-page` arguments with lease_cmds' checks: `from` is "start" or an IPv6
/// address ("::" also means the first page and reads as `None`; an IPv4 address is refused),
/// `limit` an integer from 1 to 4294967295.
pub fn parse_get_page6(v: &Value) -> Result<PageRequest6, CommandError> {
    let (from, limit) = json_fields::read_page_request(v, parse_ipv6)?;
    Ok(PageRequest6 {
        from: from.filter(|a| !a.is_unspecified()),
        limit,
    })
}

/// The arguments of a `lease6-get-page` answer: `{"leases": [...], "count": n}`, leases as
/// [`lease6_to_json`]. Sent with every page, the empty last one included: Kea's synchronisation
/// requires the `leases` list even with result 3.
pub fn page6_answer_arguments(leases: &[Lease6]) -> Value {
    json_fields::page_answer_arguments(leases, lease6_to_json)
}

/// The whole answer to `lease6-get-page`, as lease_cmds gives it: result 0 with the leases, or
/// result 3 (empty) with an empty list when there are no more.
pub fn page6_answer(leases: &[Lease6]) -> Answer {
    json_fields::page_answer(leases, "IPv6", lease6_to_json)
}

/// Reads a `lease6-get-page` answer's arguments strictly: any malformed lease fails the page,
/// its error naming it (`leases[3].duid`). See [`parse_page6_lenient`] for Kea's way.
pub fn parse_page6(v: &Value) -> Result<Vec<Lease6>, CommandError> {
    json_fields::read_page(v, lease6_from_json)
}

/// A page of DHCPv6 leases read as Kea's synchronisation reads it: malformed leases are set
/// aside, the others kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page6 {
    /// The leases that could be read, in the partner's order.
    pub leases: Vec<Lease6>,
    /// Why each malformed entry was set aside (to log).
    pub rejected: Vec<CommandError>,
    /// Entries in the page, read or not. A page with fewer entries than the limit asked for is
    /// the last one.
    pub count: usize,
    /// The `ip-address` of the page's last entry, even if the rest of it is malformed: the
    /// `from` of the next request (Kea's HA would end the synchronisation there instead).
    pub last_address: Option<Ipv6Addr>,
}

/// Reads a `lease6-get-page` answer's arguments the way Kea's HA does (bad leases are skipped
/// and logged, the synchronisation goes on). Fails only when `leases` is absent or not a list
/// (or the arguments not a map).
pub fn parse_page6_lenient(v: &Value) -> Result<Page6, CommandError> {
    let json_fields::LenientPage {
        leases,
        rejected,
        count,
        last_address,
    } = json_fields::read_page_lenient(v, lease6_from_json)?;
    Ok(Page6 {
        leases,
        rejected,
        count,
        last_address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ha::commands::{
        encode_answer, encode_request, names, parse_answer, ResultCode, Service,
    };
    use crate::lease::record::INFINITE_LIFETIME;
    use serde_json::json;
    use std::fmt;

    const DUID: [u8; 14] = [0, 1, 0, 1, 0x2a, 0xbb, 0xcc, 0xdd, 0, 0x0c, 1, 2, 3, 4];
    const DUID_TEXT: &str = "00:01:00:01:2a:bb:cc:dd:00:0c:01:02:03:04";

    /// An IA_NA address with nothing optional.
    fn address() -> Lease6 {
        Lease6 {
            address: "2001:db8:1::10".parse().unwrap(),
            prefix_len: 128,
            lease_type: LeaseType6::Na,
            duid: DUID.into(),
            iaid: 7,
            valid_lifetime: 4000,
            preferred_lifetime: 3000,
            expire: 1_700_004_000,
            subnet_id: 1,
            fqdn_fwd: false,
            fqdn_rev: false,
            state: LeaseState::Default,
            ..Lease6::default()
        }
    }

    /// An IA_NA address with every optional field.
    fn full_address() -> Lease6 {
        Lease6 {
            fqdn_fwd: true,
            fqdn_rev: true,
            ..address()
        }
        .with_hostname(Some("host-a.example.org".into()))
        .with_hwaddr(
            Some(&[0, 0x0c, 1, 2, 3, 4]),
            HTYPE_ETHER,
            HWADDR_SOURCE_UNKNOWN,
        )
        .with_user_context(Some(r#"{"ISC":{"relay-info":[{"hop":0}]},"n":1}"#.into()))
    }

    /// An IA_PD /56 prefix with nothing optional.
    fn prefix() -> Lease6 {
        Lease6 {
            address: "2001:db8:100::".parse().unwrap(),
            prefix_len: 56,
            lease_type: LeaseType6::Pd,
            iaid: 9,
            subnet_id: 2,
            ..address()
        }
    }

    /// An IA_PD /56 prefix with every optional field.
    fn full_prefix() -> Lease6 {
        prefix()
            .with_hostname(Some("router-b.example.org".into()))
            .with_hwaddr(
                Some(&[2, 0, 0, 0, 0, 1]),
                HTYPE_ETHER,
                HWADDR_SOURCE_UNKNOWN,
            )
            .with_user_context(Some(r#"{"comment":"lab"}"#.into()))
    }

    /// [`full_address`] as Kea writes it, with its time as `time_field` (`cltt` in pages,
    /// `expire` in HA's lease updates).
    fn full_address_json(time_field: &str, time: u64) -> Value {
        let mut v = json!({
            "ip-address": "2001:db8:1::10",
            "type": "IA_NA",
            "iaid": 7,
            "duid": DUID_TEXT,
            "subnet-id": 1,
            "preferred-lft": 3000,
            "valid-lft": 4000,
            "fqdn-fwd": true,
            "fqdn-rev": true,
            "hostname": "host-a.example.org",
            "hw-address": "00:0c:01:02:03:04",
            "state": 0,
            "user-context": {"ISC": {"relay-info": [{"hop": 0}]}, "n": 1}
        });
        v[time_field] = time.into();
        v
    }

    fn err_text(r: Result<impl fmt::Debug, CommandError>) -> String {
        r.expect_err("should fail").to_string()
    }

    // ---------- leases ----------

    #[test]
    fn leases_round_trip_through_both_time_forms() {
        let temporary = Lease6 {
            lease_type: LeaseType6::Ta,
            address: "2001:db8:1::77".parse().unwrap(),
            ..address()
        };
        let declined = Lease6 {
            duid: vec![0].into(),
            state: LeaseState::Declined,
            preferred_lifetime: 0,
            ..address()
        };
        let infinite = Lease6 {
            valid_lifetime: INFINITE_LIFETIME,
            preferred_lifetime: INFINITE_LIFETIME,
            expire: 1_700_000_000 + u64::from(INFINITE_LIFETIME),
            ..full_prefix()
        };
        let reclaimed = Lease6 {
            state: LeaseState::ExpiredReclaimed,
            ..prefix()
        };
        for l in [
            address(),
            full_address(),
            prefix(),
            full_prefix(),
            temporary,
            declined,
            infinite,
            reclaimed,
        ] {
            assert_eq!(
                lease6_from_json(&lease6_to_json(&l)).unwrap(),
                l,
                "cltt form"
            );
            assert_eq!(
                lease6_from_json(&lease6_del_arguments(&l)).unwrap(),
                l,
                "expire form"
            );
        }
    }

    #[test]
    fn lease_json_is_keas_to_element() {
        assert_eq!(
            lease6_to_json(&full_prefix()),
            json!({
                "ip-address": "2001:db8:100::",
                "type": "IA_PD",
                "prefix-len": 56,
                "iaid": 9,
                "duid": DUID_TEXT,
                "subnet-id": 2,
                "cltt": 1_700_000_000,
                "preferred-lft": 3000,
                "valid-lft": 4000,
                "fqdn-fwd": false,
                "fqdn-rev": false,
                "hostname": "router-b.example.org",
                "hw-address": "02:00:00:00:00:01",
                "state": 0,
                "user-context": {"comment": "lab"}
            })
        );
        assert_eq!(
            lease6_to_json(&full_address()),
            full_address_json("cltt", 1_700_000_000)
        );
        // An address has no prefix-len; absent hardware address and context are left out; no
        // hostname is "".
        let plain = lease6_to_json(&address());
        for key in ["prefix-len", "hw-address", "user-context", "expire"] {
            assert!(plain.get(key).is_none(), "{key}");
        }
        assert_eq!(plain["hostname"], "");
        // A lease without a DUID is sent with Kea's empty DUID; an empty hardware address and a
        // context that is not a map are left out.
        let odd = Lease6 {
            duid: Default::default(),
            ..address()
        }
        .with_hwaddr(Some(&[]), HTYPE_ETHER, HWADDR_SOURCE_UNKNOWN)
        .with_user_context(Some("{broken".into()));
        let v = lease6_to_json(&odd);
        assert_eq!(v["duid"], "00");
        assert!(v.get("hw-address").is_none());
        assert!(v.get("user-context").is_none());
        assert_eq!(lease6_from_json(&v).unwrap().duid.as_ref(), &[0u8]);
    }

    #[test]
    fn lease_cmds_defaults_and_text_forms() {
        // The least lease_cmds' Lease6Parser takes that we can use (we have no subnet
        // configuration to take the subnet and lifetimes from).
        let v = json!({
            "ip-address": "2001:db8:1::5",
            "duid": "1:2:3:4",
            "iaid": 1,
            "subnet-id": 1,
            "valid-lft": 600,
            "expire": 1_000_600,
            "hw-address": "",
            "comment": "set by hand"
        });
        let l = lease6_from_json(&v).unwrap();
        assert_eq!(l.lease_type, LeaseType6::Na);
        assert_eq!(l.prefix_len, 128);
        assert_eq!(l.duid.as_ref(), &[1u8, 2, 3, 4]);
        assert_eq!(
            l.preferred_lifetime, 600,
            "preferred-lft defaults to valid-lft"
        );
        assert_eq!((l.expire, l.hwaddr()), (1_000_600, None));
        assert_eq!((l.hwtype(), l.hwaddr_source()), (1, 0));
        assert_eq!(
            (l.fqdn_fwd, l.fqdn_rev, l.hostname(), l.state),
            (false, false, None, LeaseState::Default)
        );
        assert_eq!(l.user_context(), Some(r#"{"comment":"set by hand"}"#));
        // The DUID text forms of Kea's decodeFormattedHexString.
        for (text, bytes) in [
            ("000A0b0c", &[0u8, 0x0a, 0x0b, 0x0c][..]),
            ("0x0a0b0c", &[0x0a, 0x0b, 0x0c]),
            ("a0b0c", &[0x0a, 0x0b, 0x0c]),
            ("00 01 0a", &[0, 1, 0x0a]),
            ("00", &[0]),
        ] {
            let mut w = v.clone();
            w["duid"] = json!(text);
            assert_eq!(lease6_from_json(&w).unwrap().duid.as_ref(), bytes, "{text}");
        }
        // A prefix-len on an address is ignored; expire wins over cltt.
        let mut w = lease6_to_json(&address());
        w["prefix-len"] = json!(64);
        w["expire"] = json!(1_800_000_000);
        let l = lease6_from_json(&w).unwrap();
        assert_eq!((l.prefix_len, l.expire), (128, 1_800_000_000));
    }

    #[test]
    fn malformed_leases_name_the_field() {
        let good = lease6_to_json(&full_prefix());
        let cases: Vec<(&str, Value, &str)> = vec![
            ("ip-address", Value::Null, "'ip-address' is missing"),
            ("ip-address", json!("2001:db8::g"), "'ip-address'"),
            (
                "ip-address",
                json!("192.0.2.1"),
                "an IPv6 address is required",
            ),
            ("ip-address", json!(6), "'ip-address' must be a string"),
            ("type", json!("IA_XX"), "'type' has an invalid value"),
            ("type", json!("2"), "'type'"),
            ("type", json!(2), "'type' must be a string"),
            ("prefix-len", Value::Null, "'prefix-len' is missing"),
            ("prefix-len", json!(0), "'prefix-len'"),
            ("prefix-len", json!(129), "'prefix-len'"),
            ("prefix-len", json!("56"), "'prefix-len' must be an integer"),
            ("duid", Value::Null, "'duid' is missing"),
            (
                "duid",
                json!(""),
                "'duid' has an invalid value \"\": is empty",
            ),
            ("duid", json!("00::01"), "'duid'"),
            ("duid", json!("0g"), "'duid'"),
            ("duid", json!("001:02"), "'duid'"),
            ("duid", json!(vec!["01"; 131].join(":")), "longer than 130"),
            ("duid", json!([0, 1]), "'duid' must be a string"),
            ("iaid", Value::Null, "'iaid' is missing"),
            ("iaid", json!(-1), "'iaid'"),
            ("iaid", json!(4_294_967_296u64), "'iaid'"),
            ("subnet-id", Value::Null, "'subnet-id' is missing"),
            ("valid-lft", Value::Null, "'valid-lft' is missing"),
            ("valid-lft", json!(1.5), "'valid-lft' must be an integer"),
            (
                "preferred-lft",
                json!("3000"),
                "'preferred-lft' must be an integer",
            ),
            ("cltt", Value::Null, "neither 'expire' nor 'cltt'"),
            ("cltt", json!(0), "'cltt'"),
            ("fqdn-rev", json!("yes"), "'fqdn-rev' must be a boolean"),
            ("hostname", json!(1), "'hostname' must be a string"),
            (
                "hw-address",
                json!("zz:01"),
                "'hw-address' has an invalid value",
            ),
            (
                "hw-address",
                json!(vec!["01"; 21].join(":")),
                "'hw-address'",
            ),
            ("state", json!(3), "'state'"),
            ("state", json!(1), "cannot be declined"),
            ("user-context", json!("x"), "'user-context' must be a map"),
            ("comment", json!("again"), "'comment'"),
        ];
        for (field, value, expected) in cases {
            let mut v = good.clone();
            if value.is_null() {
                v.as_object_mut().unwrap().remove(field);
            } else {
                v[field] = value;
            }
            let msg = err_text(lease6_from_json(&v));
            assert!(msg.contains(expected), "{field}: {msg}");
        }
        let mut expire = lease6_del_arguments(&address());
        expire["expire"] = json!(3999);
        let msg = err_text(lease6_from_json(&expire));
        assert!(
            msg.contains("'expire'") && msg.contains("valid-lft"),
            "{msg}"
        );
        expire["expire"] = json!(-1);
        assert!(err_text(lease6_from_json(&expire)).contains("'expire'"));
        assert!(err_text(lease6_from_json(&json!([]))).contains("'lease' must be a map"));
    }

    // ---------- bulk apply ----------

    /// What identifies a deleted lease once read back.
    fn identity(l: &Lease6) -> Lease6 {
        Lease6 {
            address: l.address,
            prefix_len: l.prefix_len,
            lease_type: l.lease_type,
            duid: l.duid.clone(),
            iaid: l.iaid,
            ..Lease6::default()
        }
    }

    #[test]
    fn bulk_apply_request_is_what_kea_ha_sends() {
        let bulk = BulkUpdate6 {
            leases: vec![full_address()],
            deleted: vec![prefix()],
        };
        let body = encode_request(
            names::LEASE6_BULK_APPLY,
            Service::Dhcp6,
            Some(bulk_apply6_arguments(&bulk)),
        );
        let got: Value = serde_json::from_slice(&body).unwrap();
        // Kea 2.2: CommandCreator::createLease6BulkApply = toElement of each lease, cltt
        // replaced by expire (insertLeaseExpireTime), deleted leases whole too.
        let expected = json!({
            "command": "lease6-bulk-apply",
            "service": ["dhcp6"],
            "arguments": {
                "deleted-leases": [{
                    "ip-address": "2001:db8:100::",
                    "type": "IA_PD",
                    "prefix-len": 56,
                    "iaid": 9,
                    "duid": "00:01:00:01:2a:bb:cc:dd:00:0c:01:02:03:04",
                    "subnet-id": 2,
                    "expire": 1_700_004_000,
                    "preferred-lft": 3000,
                    "valid-lft": 4000,
                    "fqdn-fwd": false,
                    "fqdn-rev": false,
                    "hostname": "",
                    "state": 0
                }],
                "leases": [full_address_json("expire", 1_700_004_000)]
            }
        });
        assert_eq!(got, expected);
        // And read back: leases whole, deletions by what identifies them.
        let req = crate::ha::commands::parse_request(&body).unwrap();
        assert_eq!(req.service, Some(Service::Dhcp6));
        let back = parse_bulk_apply6(req.arguments.as_ref().unwrap()).unwrap();
        assert_eq!(back.leases, bulk.leases);
        assert_eq!(back.deleted, vec![identity(&prefix())]);
        assert_eq!(back.deleted[0].key(), prefix().key());
        assert_eq!(back.deleted[0].valid_lifetime, 0, "a deletion");
        // Identity-only deletions round trip exactly.
        let minimal = BulkUpdate6 {
            leases: vec![prefix(), full_prefix()],
            deleted: vec![identity(&address()), identity(&full_prefix())],
        };
        assert_eq!(
            parse_bulk_apply6(&bulk_apply6_arguments(&minimal)).unwrap(),
            minimal
        );
        // Both lists are always sent, empty or not.
        assert_eq!(
            bulk_apply6_arguments(&BulkUpdate6::default()),
            json!({"deleted-leases": [], "leases": []})
        );
    }

    #[test]
    fn bulk_apply_deletions_as_lease_cmds_reads_them() {
        let b = parse_bulk_apply6(&json!({"deleted-leases": [
            {"ip-address": "2001:db8:1::1"},
            {"ip-address": "2001:db8:2::", "type": "2"},
            {"ip-address": "2001:db8:3::", "type": "IA_PD", "prefix-len": 48,
             "duid": "01:02:03", "iaid": 5, "valid-lft": "junk is ignored"}
        ]}))
        .unwrap();
        assert!(b.leases.is_empty());
        let keys: Vec<_> = b.deleted.iter().map(Lease6::key).collect();
        assert_eq!(
            keys,
            vec![
                (LeaseType6::Na, "2001:db8:1::1".parse().unwrap()),
                (LeaseType6::Pd, "2001:db8:2::".parse().unwrap()),
                (LeaseType6::Pd, "2001:db8:3::".parse().unwrap()),
            ]
        );
        assert_eq!(b.deleted[1].prefix_len, 128, "no prefix-len given");
        assert_eq!(
            (
                b.deleted[2].prefix_len,
                b.deleted[2].duid.as_ref(),
                b.deleted[2].iaid
            ),
            (48, &[1u8, 2, 3][..], 5)
        );
        // Leases alone are fine too.
        let only = parse_bulk_apply6(&json!({"leases": [lease6_to_json(&prefix())]})).unwrap();
        assert_eq!((only.leases, only.deleted), (vec![prefix()], vec![]));
    }

    #[test]
    fn malformed_bulk_apply() {
        let good = lease6_to_json(&address());
        let mut no_duid = good.clone();
        no_duid.as_object_mut().unwrap().remove("duid");
        let cases = [
            (json!({}), "neither 'deleted-leases' nor 'leases'"),
            (json!([]), "'arguments' must be a map"),
            (json!({"leases": {}}), "'leases' must be a list"),
            (
                json!({"deleted-leases": "x"}),
                "'deleted-leases' must be a list",
            ),
            (
                json!({"deleted-leases": [{}]}),
                "'deleted-leases[0].ip-address' is missing",
            ),
            (
                json!({"deleted-leases": [{"ip-address": "192.0.2.1"}]}),
                "'deleted-leases[0].ip-address'",
            ),
            (
                json!({"deleted-leases": [{"ip-address": "2001:db8::1", "type": "V4"}]}),
                "'deleted-leases[0].type'",
            ),
            (
                json!({"deleted-leases": [{"ip-address": "2001:db8::1", "duid": "x"}]}),
                "'deleted-leases[0].duid'",
            ),
            (
                json!({"deleted-leases": [{"identifier-type": "duid", "identifier": "01:02"}]}),
                "deleted-leases[0]: deleting by identifier",
            ),
            (
                json!({"deleted-leases": ["2001:db8::1"]}),
                "'deleted-leases[0]' must be a map",
            ),
            (json!({"leases": [good, 7]}), "'leases[1]' must be a map"),
            (json!({"leases": [no_duid]}), "'leases[0].duid' is missing"),
        ];
        for (args, expected) in cases {
            let msg = err_text(parse_bulk_apply6(&args));
            assert!(msg.contains(expected), "{args}: {msg}");
        }
    }

    // ---------- lease6-del ----------

    #[test]
    fn lease6_del_carries_the_lease_and_reads_back_address_and_type() {
        let args = lease6_del_arguments(&full_prefix());
        assert_eq!(args["expire"], 1_700_004_000);
        assert!(args.get("cltt").is_none());
        assert!(args.get("force-create").is_none());
        assert_eq!(
            parse_lease6_del(&args).unwrap(),
            (full_prefix().address, LeaseType6::Pd)
        );
        assert_eq!(
            parse_lease6_del(&json!({"ip-address": "2001:db8::1"})).unwrap(),
            ("2001:db8::1".parse().unwrap(), LeaseType6::Na)
        );
        assert_eq!(
            parse_lease6_del(&json!({"ip-address": "2001:db8::1", "type": "1"})).unwrap(),
            ("2001:db8::1".parse().unwrap(), LeaseType6::Ta)
        );
        assert!(err_text(parse_lease6_del(&json!({}))).contains("'ip-address' is missing"));
        assert!(err_text(parse_lease6_del(&json!({"ip-address": "10.0.0.1"}))).contains("IPv4"));
        assert!(err_text(parse_lease6_del(
            &json!({"ip-address": "2001:db8::1", "type": "IA_XX"})
        ))
        .contains("'type'"));
        assert!(err_text(parse_lease6_del(
            &json!({"subnet-id": 1, "identifier-type": "duid", "identifier": "01:02:03"})
        ))
        .contains("identifier"));
        assert!(err_text(parse_lease6_del(&json!(5))).contains("'arguments' must be a map"));
    }

    // ---------- pages ----------

    #[test]
    fn page_requests() {
        let first = PageRequest6 {
            from: None,
            limit: 10_000,
        };
        assert_eq!(
            get_page6_arguments(&first),
            json!({"from": "start", "limit": 10_000})
        );
        assert_eq!(
            parse_get_page6(&get_page6_arguments(&first)).unwrap(),
            first
        );
        let next = PageRequest6 {
            from: Some("2001:db8:1::ff".parse().unwrap()),
            limit: 1,
        };
        assert_eq!(
            get_page6_arguments(&next),
            json!({"from": "2001:db8:1::ff", "limit": 1})
        );
        assert_eq!(parse_get_page6(&get_page6_arguments(&next)).unwrap(), next);
        assert_eq!(
            parse_get_page6(&json!({"from": "::", "limit": 5}))
                .unwrap()
                .from,
            None
        );
        let cases = [
            (json!({"limit": 5}), "'from' is missing"),
            (json!({"from": 5, "limit": 5}), "'from' must be a string"),
            (
                json!({"from": "192.0.2.1", "limit": 5}),
                "an IPv6 address is required",
            ),
            (json!({"from": "begin", "limit": 5}), "'from'"),
            (json!({"from": "start"}), "'limit' is missing"),
            (json!({"from": "start", "limit": 0}), "'limit'"),
            (json!({"from": "start", "limit": -1}), "'limit'"),
            (
                json!({"from": "start", "limit": 4_294_967_296u64}),
                "'limit'",
            ),
            (
                json!({"from": "start", "limit": "9"}),
                "'limit' must be an integer",
            ),
        ];
        for (args, expected) in cases {
            let msg = err_text(parse_get_page6(&args));
            assert!(msg.contains(expected), "{args}: {msg}");
        }
    }

    #[test]
    fn page_answers_round_trip_and_the_last_page_is_empty() {
        let leases = vec![address(), full_address(), prefix(), full_prefix()];
        let answer = page6_answer(&leases);
        assert_eq!(answer.result, ResultCode::Success);
        assert_eq!(answer.text, "4 IPv6 lease(s) found.");
        let args = answer.arguments.clone().unwrap();
        assert_eq!(args["count"], 4);
        assert!(args["leases"][0].get("cltt").is_some(), "pages carry cltt");
        assert_eq!(parse_page6(&args).unwrap(), leases);
        let page = parse_page6_lenient(&args).unwrap();
        assert_eq!(page.leases, leases);
        assert_eq!((page.count, page.rejected.len()), (4, 0));
        assert_eq!(page.last_address, Some(full_prefix().address));
        // Through the wire, as lease_cmds answers the last page: result 3, empty list.
        let empty = parse_answer(&encode_answer(&page6_answer(&[]))).unwrap();
        assert_eq!(empty.result, ResultCode::Empty);
        assert_eq!(empty.text, "0 IPv6 lease(s) found.");
        let args = empty.into_arguments().unwrap().unwrap();
        assert_eq!(args, json!({"leases": [], "count": 0}));
        let page = parse_page6_lenient(&args).unwrap();
        assert!(page.leases.is_empty());
        assert_eq!((page.count, page.last_address), (0, None));
        // A Kea answer body, verbatim shape.
        let kea = br#"[{"result":3,"text":"0 IPv6 lease(s) found.","arguments":{"leases":[],"count":0}}]"#;
        let a = parse_answer(kea).unwrap();
        assert!(parse_page6(a.arguments.as_ref().unwrap())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn bad_leases_in_a_page() {
        let mut bad = lease6_to_json(&address());
        bad["duid"] = json!("xyz");
        bad["ip-address"] = json!("2001:db8:1::99");
        let args = json!({"leases": [lease6_to_json(&full_prefix()), bad], "count": 2});
        let msg = err_text(parse_page6(&args));
        assert!(msg.contains("'leases[1].duid'"), "{msg}");
        let page = parse_page6_lenient(&args).unwrap();
        assert_eq!(page.leases, vec![full_prefix()]);
        assert_eq!((page.count, page.rejected.len()), (2, 1));
        assert!(page.rejected[0].to_string().contains("'leases[1].duid'"));
        assert_eq!(page.last_address, Some("2001:db8:1::99".parse().unwrap()));
        assert!(err_text(parse_page6_lenient(&json!({"count": 0}))).contains("'leases' is missing"));
        assert!(err_text(parse_page6_lenient(&json!({"leases": {}})))
            .contains("'leases' must be a list"));
    }
}
