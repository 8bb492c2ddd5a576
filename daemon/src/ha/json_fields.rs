//! What [`super::commands`] (DHCPv4) and [`super::commands6`] (DHCPv6) read and write alike in
//! Kea's JSON: errors that name the field, a map whose fields are read with them, the lease
//! fields both families spell the same way, and the lists of leases in pages and bulk applies.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde_json::{Map, Value};

use super::commands::{Answer, CommandError, ResultCode, PAGE_START};
use crate::lease::{HwAddr, LeaseState};

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// The field `name` is absent.
pub(crate) fn missing(name: &str) -> CommandError {
    CommandError::Missing {
        name: name.to_string(),
    }
}

/// The field `name` is `found`, not of the `expected` JSON type ("a string").
pub(crate) fn wrong_type(name: &str, expected: &'static str, found: &Value) -> CommandError {
    CommandError::WrongType {
        name: name.to_string(),
        expected,
        found: type_name(found),
    }
}

/// The field `name` has the right type but an unusable `value`: `reason` says why.
pub(crate) fn invalid(name: &str, value: &Value, reason: impl Into<String>) -> CommandError {
    /// Long values (a whole lease map) are cut so that one bad field does not flood the log.
    const MAX_SHOWN: usize = 80;
    let mut shown = value.to_string();
    if shown.len() > MAX_SHOWN {
        let mut cut = MAX_SHOWN;
        while !shown.is_char_boundary(cut) {
            cut -= 1;
        }
        shown.truncate(cut);
        shown.push('…');
    }
    CommandError::Invalid {
        name: name.to_string(),
        value: shown,
        reason: reason.into(),
    }
}

/// The JSON type of `v` with its article, for messages ("an integer").
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

// ---------------------------------------------------------------------------------------------
// Reading fields
// ---------------------------------------------------------------------------------------------

/// A JSON map whose fields are read with errors that name them. A `null` field counts as absent:
/// Kea never sends one, and tools that do mean "not set".
pub(crate) struct Fields<'a>(pub(crate) &'a Map<String, Value>);

impl<'a> Fields<'a> {
    /// `v` as a map; `what` names it in the error.
    pub(crate) fn of(v: &'a Value, what: &str) -> Result<Self, CommandError> {
        match v {
            Value::Object(map) => Ok(Fields(map)),
            other => Err(wrong_type(what, "a map", other)),
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub(crate) fn required(&self, name: &str) -> Result<&'a Value, CommandError> {
        self.get(name).ok_or_else(|| missing(name))
    }

    pub(crate) fn opt_str(&self, name: &str) -> Result<Option<&'a str>, CommandError> {
        self.get(name)
            .map(|v| v.as_str().ok_or_else(|| wrong_type(name, "a string", v)))
            .transpose()
    }

    pub(crate) fn str(&self, name: &str) -> Result<&'a str, CommandError> {
        self.opt_str(name)?.ok_or_else(|| missing(name))
    }

    pub(crate) fn opt_bool(&self, name: &str) -> Result<Option<bool>, CommandError> {
        self.get(name)
            .map(|v| v.as_bool().ok_or_else(|| wrong_type(name, "a boolean", v)))
            .transpose()
    }

    /// An integer as Kea holds them (`int64_t`).
    pub(crate) fn opt_int(&self, name: &str) -> Result<Option<i64>, CommandError> {
        self.get(name).map(|v| int(name, v)).transpose()
    }

    /// An integer in `lo..=hi`.
    pub(crate) fn opt_int_in(
        &self,
        name: &str,
        lo: i64,
        hi: i64,
    ) -> Result<Option<i64>, CommandError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => {
                let n = int(name, v)?;
                if (lo..=hi).contains(&n) {
                    Ok(Some(n))
                } else {
                    Err(invalid(name, v, format!("must be between {lo} and {hi}")))
                }
            }
        }
    }

    pub(crate) fn opt_u32(&self, name: &str) -> Result<Option<u32>, CommandError> {
        // In range by the check.
        Ok(self
            .opt_int_in(name, 0, i64::from(u32::MAX))?
            .map(|n| n as u32))
    }

    pub(crate) fn u32(&self, name: &str) -> Result<u32, CommandError> {
        self.opt_u32(name)?.ok_or_else(|| missing(name))
    }

    /// The list `name`; `None` when absent.
    pub(crate) fn opt_list(&self, name: &str) -> Result<Option<&'a [Value]>, CommandError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(list)) => Ok(Some(list)),
            Some(other) => Err(wrong_type(name, "a list", other)),
        }
    }

    /// A text field read with `parse` (given the field's name, value and text); `None` when
    /// absent.
    pub(crate) fn opt_parsed<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str, &Value, &str) -> Result<T, CommandError>,
    ) -> Result<Option<T>, CommandError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let text = v.as_str().ok_or_else(|| wrong_type(name, "a string", v))?;
        parse(name, v, text).map(Some)
    }

    /// A required text field read with `parse` (given the field's name, value and text).
    pub(crate) fn parsed<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str, &Value, &str) -> Result<T, CommandError>,
    ) -> Result<T, CommandError> {
        self.opt_parsed(name, parse)?.ok_or_else(|| missing(name))
    }

    pub(crate) fn ipv4(&self, name: &str) -> Result<Ipv4Addr, CommandError> {
        self.parsed(name, parse_ipv4)
    }

    pub(crate) fn ipv6(&self, name: &str) -> Result<Ipv6Addr, CommandError> {
        self.parsed(name, parse_ipv6)
    }

    /// Refuses a deletion by `identifier-type`/`identifier` (an operator's form of `lease4-del`,
    /// `lease6-del` and bulk deletions) with a message that says to give `ip-address`.
    pub(crate) fn refuse_identifier(&self) -> Result<(), CommandError> {
        if self.get("ip-address").is_none() && self.get("identifier-type").is_some() {
            return Err(CommandError::Malformed(
                "deleting by identifier is not supported; give 'ip-address'".to_string(),
            ));
        }
        Ok(())
    }
}

/// `v`, the field `name`, as a signed 64-bit integer.
pub(crate) fn int(name: &str, v: &Value) -> Result<i64, CommandError> {
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| {
            if n.is_f64() {
                wrong_type(name, "an integer", v)
            } else {
                invalid(name, v, "is larger than a 64-bit signed integer")
            }
        }),
        other => Err(wrong_type(name, "an integer", other)),
    }
}

/// `text`, the value `v` of the field `name`, as an IPv4 address.
pub(crate) fn parse_ipv4(name: &str, v: &Value, text: &str) -> Result<Ipv4Addr, CommandError> {
    parse_ip::<Ipv4Addr, Ipv6Addr>(name, v, text, ["IPv4", "IPv6"])
}

/// `text`, the value `v` of the field `name`, as an IPv6 address.
pub(crate) fn parse_ipv6(name: &str, v: &Value, text: &str) -> Result<Ipv6Addr, CommandError> {
    parse_ip::<Ipv6Addr, Ipv4Addr>(name, v, text, ["IPv6", "IPv4"])
}

/// An address of family `A`, the error saying so when `text` is one of the other family `B`;
/// `families` names the two ("IPv4", "IPv6").
fn parse_ip<A: FromStr, B: FromStr>(
    name: &str,
    v: &Value,
    text: &str,
    [family, other]: [&str; 2],
) -> Result<A, CommandError> {
    text.parse::<A>().map_err(|_| {
        let reason = if text.parse::<B>().is_ok() {
            format!("is an {other} address, an {family} address is required")
        } else {
            format!("is not an {family} address")
        };
        invalid(name, v, reason)
    })
}

/// A hardware address as Kea's `HWAddr::fromText` reads it.
pub(crate) fn parse_hwaddr(name: &str, v: &Value, text: &str) -> Result<HwAddr, CommandError> {
    text.parse::<HwAddr>()
        .map_err(|e| invalid(name, v, e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Lease fields both families share
// ---------------------------------------------------------------------------------------------

/// Lowercase two-digit hex separated by colons, as Kea's `DUID::toText`, `ClientId::toText` and
/// `HWAddr::toText`.
pub(crate) fn colon_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The value of the hexadecimal digit `c` (either case); `None` when it is not one.
fn hex_digit(c: u8) -> Option<u8> {
    // A hexadecimal digit is below 16.
    char::from(c).to_digit(16).map(|d| d as u8)
}

/// Bytes of one or two hexadecimal digits separated by `sep` ("1:02:c"), as Kea's
/// `decodeFormattedHexString` reads them; `bad_digit` and `empty_byte` are the errors for a
/// character that is neither and for an empty byte.
pub(crate) fn hex_groups(
    text: &[u8],
    sep: u8,
    bad_digit: &'static str,
    empty_byte: &'static str,
) -> Result<Vec<u8>, &'static str> {
    let nibble = |c| hex_digit(c).ok_or(bad_digit);
    text.split(|&b| b == sep)
        .map(|group| match *group {
            [lo] => nibble(lo),
            [hi, lo] => Ok((nibble(hi)? << 4) | nibble(lo)?),
            [] => Err(empty_byte),
            _ => Err("has more than two hexadecimal digits in one byte"),
        })
        .collect()
}

/// Bytes of two hexadecimal digits each, without separators ("01000c"); an odd last digit is
/// left out, so the caller decides what an odd count means. `bad_digit` is the error for a
/// character that is not a digit.
pub(crate) fn hex_pairs(text: &[u8], bad_digit: &'static str) -> Result<Vec<u8>, &'static str> {
    let nibble = |c| hex_digit(c).ok_or(bad_digit);
    text.chunks_exact(2)
        .map(|pair| Ok((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}

/// Which time field a lease map carries.
#[derive(Clone, Copy)]
pub(crate) enum LeaseTime {
    /// `cltt`, as `Lease4::toElement` and `Lease6::toElement` (lease pages).
    Cltt,
    /// `expire`, as HA's lease updates after `insertLeaseExpireTime`.
    Expire,
}

/// The fields every lease map has, whatever the family.
pub(crate) struct CommonLeaseFields<'a> {
    /// Seconds since the epoch of the client's last transmission.
    pub(crate) cltt: u64,
    /// Seconds since the epoch when the lease ends.
    pub(crate) expire: u64,
    pub(crate) valid_lifetime: u32,
    pub(crate) fqdn_fwd: bool,
    pub(crate) fqdn_rev: bool,
    pub(crate) hostname: Option<&'a str>,
    pub(crate) state: LeaseState,
    /// The stored user context (JSON text).
    pub(crate) user_context: Option<&'a str>,
}

/// The [`CommonLeaseFields`] of `$lease`, a `Lease4` or a `Lease6` (the two name these fields
/// and accessors alike).
macro_rules! common_lease_fields {
    ($lease:ident) => {
        $crate::ha::json_fields::CommonLeaseFields {
            cltt: $lease.cltt(),
            expire: $lease.expire,
            valid_lifetime: $lease.valid_lifetime,
            fqdn_fwd: $lease.fqdn_fwd,
            fqdn_rev: $lease.fqdn_rev,
            hostname: $lease.hostname(),
            state: $lease.state,
            user_context: $lease.user_context(),
        }
    };
}
pub(crate) use common_lease_fields;

impl CommonLeaseFields<'_> {
    /// Writes the fields into `m`, as `toElement` does: `cltt` or `expire` as `time` says,
    /// `hostname` "" when none, `user-context` only when the stored context is a JSON map (Kea
    /// would refuse the whole lease for anything else, so it is better left out).
    pub(crate) fn insert_into(&self, m: &mut Map<String, Value>, time: LeaseTime) {
        match time {
            LeaseTime::Cltt => m.insert("cltt".into(), self.cltt.into()),
            LeaseTime::Expire => m.insert("expire".into(), self.expire.into()),
        };
        m.insert("valid-lft".into(), self.valid_lifetime.into());
        m.insert("fqdn-fwd".into(), self.fqdn_fwd.into());
        m.insert("fqdn-rev".into(), self.fqdn_rev.into());
        m.insert("hostname".into(), self.hostname.unwrap_or("").into());
        m.insert("state".into(), self.state.as_u32().into());
        let context = self
            .user_context
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
            .filter(Value::is_object);
        if let Some(ctx) = context {
            m.insert("user-context".into(), ctx);
        }
    }
}

/// When the lease ends: `expire` (HA's updates; wins when both are present, as in lease_cmds)
/// or `cltt + valid-lft` (`toElement`), with the checks of lease_cmds (`expire` positive and at
/// least `valid-lft`) and `fromElement` (`cltt` positive). Computed in 64 bits, so an infinite
/// lifetime cannot overflow.
pub(crate) fn read_expire(f: &Fields<'_>, valid_lifetime: u32) -> Result<u64, CommandError> {
    let valid = u64::from(valid_lifetime);
    if let Some(e) = f.opt_int("expire")? {
        let shown = f.get("expire").unwrap_or(&Value::Null);
        let e = u64::try_from(e)
            .ok()
            .filter(|&e| e > 0)
            .ok_or_else(|| invalid("expire", shown, "must be positive"))?;
        if e < valid {
            return Err(invalid(
                "expire",
                shown,
                format!("is earlier than valid-lft ({valid_lifetime}) seconds after the epoch"),
            ));
        }
        Ok(e)
    } else if let Some(c) = f.opt_int("cltt")? {
        let shown = f.get("cltt").unwrap_or(&Value::Null);
        let cltt = u64::try_from(c)
            .ok()
            .filter(|&c| c > 0)
            .ok_or_else(|| invalid("cltt", shown, "must be positive"))?;
        // cltt <= i64::MAX and valid <= u32::MAX: the sum fits in u64.
        Ok(cltt + valid)
    } else {
        Err(CommandError::Malformed(
            "neither 'expire' nor 'cltt' is present: the lease has no time".to_string(),
        ))
    }
}

/// The hostname; "" reads as none.
pub(crate) fn read_hostname(f: &Fields<'_>) -> Result<Option<Box<str>>, CommandError> {
    Ok(f.opt_str("hostname")?
        .filter(|h| !h.is_empty())
        .map(Box::from))
}

/// The lease `state`: 0 (default, also when absent), 1 (declined) or 2 (expired-reclaimed).
pub(crate) fn read_state(f: &Fields<'_>) -> Result<LeaseState, CommandError> {
    match f.opt_int_in("state", 0, 2)? {
        None => Ok(LeaseState::Default),
        Some(n) => LeaseState::try_from(n as u32).map_err(|_| {
            invalid(
                "state",
                f.get("state").unwrap_or(&Value::Null),
                "must be 0 (default), 1 (declined) or 2 (expired-reclaimed)",
            )
        }),
    }
}

/// The user context (a map when present), with a `comment` moved into it as lease_cmds'
/// `Lease4Parser` and `Lease6Parser` do; stored as compact JSON text.
pub(crate) fn read_user_context(f: &Fields<'_>) -> Result<Option<Box<str>>, CommandError> {
    let context = match f.get("user-context") {
        None => None,
        Some(Value::Object(map)) => Some(map),
        Some(other) => return Err(wrong_type("user-context", "a map", other)),
    };
    let Some(comment) = f.get("comment") else {
        return Ok(context.map(|m| Value::Object(m.clone()).to_string().into_boxed_str()));
    };
    let mut merged = context.cloned().unwrap_or_default();
    if merged.contains_key("comment") {
        return Err(invalid(
            "comment",
            comment,
            "the user context already has a comment",
        ));
    }
    merged.insert("comment".into(), comment.clone());
    Ok(Some(Value::Object(merged).to_string().into_boxed_str()))
}

// ---------------------------------------------------------------------------------------------
// Lists of leases: pages and bulk applies
// ---------------------------------------------------------------------------------------------

/// The entry at `at` in a list (`leases[3]`), read by `read`, its errors placed there.
pub(crate) fn entry_at<T>(
    entry: &Value,
    at: &str,
    read: impl FnOnce(&Value) -> Result<T, CommandError>,
) -> Result<T, CommandError> {
    if !entry.is_object() {
        return Err(wrong_type(at, "a map", entry));
    }
    read(entry).map_err(|e| e.within(at))
}

/// Every entry of the list `name`, each read by `read` at its place (`leases[3]`); the first
/// error fails the whole list.
pub(crate) fn read_entries<T>(
    list: &[Value],
    name: &str,
    read: impl Fn(&Value) -> Result<T, CommandError>,
) -> Result<Vec<T>, CommandError> {
    list.iter()
        .enumerate()
        .map(|(i, entry)| entry_at(entry, &format!("{name}[{i}]"), &read))
        .collect()
}

/// Reads bulk apply arguments with lease_cmds' rules: at least one of `deleted-leases` and
/// `leases`, each a list, every entry a map read by `deletion` or `lease`. Any malformed entry
/// fails the whole command, named (`leases[2].valid-lft`), so nothing is half applied.
pub(crate) fn read_bulk_apply<D, L>(
    v: &Value,
    deletion: impl Fn(&Value) -> Result<D, CommandError>,
    lease: impl Fn(&Value) -> Result<L, CommandError>,
) -> Result<(Vec<D>, Vec<L>), CommandError> {
    let f = Fields::of(v, "arguments")?;
    let deleted_list = f.opt_list("deleted-leases")?;
    let lease_list = f.opt_list("leases")?;
    if deleted_list.is_none() && lease_list.is_none() {
        return Err(CommandError::Malformed(
            "neither 'deleted-leases' nor 'leases' is present".to_string(),
        ));
    }
    let deleted = read_entries(deleted_list.unwrap_or_default(), "deleted-leases", deletion)?;
    let leases = read_entries(lease_list.unwrap_or_default(), "leases", lease)?;
    Ok((deleted, leases))
}

/// The arguments of a `lease4-get-page` or `lease6-get-page` request: `from` is "start" for the
/// first page, else the previous page's last address.
pub(crate) fn page_request_arguments(from: Option<impl ToString>, limit: u32) -> Value {
    let from = from.map_or_else(|| PAGE_START.to_string(), |a| a.to_string());
    let mut m = Map::new();
    m.insert("from".into(), from.into());
    m.insert("limit".into(), limit.into());
    Value::Object(m)
}

/// Reads page request arguments with lease_cmds' checks: `from` is "start" (`None`) or an
/// address read by `parse` (given the field's name, value and text), `limit` an integer from 1
/// to 4294967295.
pub(crate) fn read_page_request<A>(
    v: &Value,
    parse: fn(&str, &Value, &str) -> Result<A, CommandError>,
) -> Result<(Option<A>, u32), CommandError> {
    let f = Fields::of(v, "arguments")?;
    let from = f.parsed("from", |name, v, text| {
        if text == PAGE_START {
            Ok(None)
        } else {
            parse(name, v, text).map(Some)
        }
    })?;
    let limit_value = f.required("limit")?;
    let limit = int("limit", limit_value)?;
    let limit = u32::try_from(limit)
        .ok()
        .filter(|&l| l > 0)
        .ok_or_else(|| invalid("limit", limit_value, "must be between 1 and 4294967295"))?;
    Ok((from, limit))
}

/// The whole answer to a page request, as lease_cmds gives it: result 0 with the leases, or
/// result 3 (empty) with an empty list when there are no more; `{"leases": [...], "count": n}`
/// in both. `family` is "IPv4" or "IPv6", for the text.
pub(crate) fn page_answer<L>(leases: &[L], family: &str, to_json: fn(&L) -> Value) -> Answer {
    Answer {
        result: if leases.is_empty() {
            ResultCode::Empty
        } else {
            ResultCode::Success
        },
        text: format!("{} {family} lease(s) found.", leases.len()),
        arguments: Some(page_answer_arguments(leases, to_json)),
    }
}

/// The arguments of a page answer: `{"leases": [...], "count": n}`, each lease by `to_json`.
pub(crate) fn page_answer_arguments<L>(leases: &[L], to_json: fn(&L) -> Value) -> Value {
    let mut m = Map::new();
    m.insert(
        "leases".into(),
        Value::Array(leases.iter().map(to_json).collect()),
    );
    m.insert("count".into(), leases.len().into());
    Value::Object(m)
}

/// The `leases` list of a page answer's arguments (required).
fn page_entries(v: &Value) -> Result<&[Value], CommandError> {
    let f = Fields::of(v, "arguments")?;
    match f.required("leases")? {
        Value::Array(list) => Ok(list),
        other => Err(wrong_type("leases", "a list", other)),
    }
}

/// Reads a page answer's arguments strictly: any malformed lease fails the page, its error
/// naming it (`leases[3].hw-address`).
pub(crate) fn read_page<L>(
    v: &Value,
    from_json: fn(&Value) -> Result<L, CommandError>,
) -> Result<Vec<L>, CommandError> {
    read_entries(page_entries(v)?, "leases", from_json)
}

/// A page of leases read as Kea's synchronisation reads it; see `Page` and `Page6`.
pub(crate) struct LenientPage<L, A> {
    pub(crate) leases: Vec<L>,
    pub(crate) rejected: Vec<CommandError>,
    pub(crate) count: usize,
    pub(crate) last_address: Option<A>,
}

/// Reads a page answer's arguments the way Kea's HA does: malformed leases are set aside, the
/// others kept; the last entry's `ip-address` is read even when the rest of it is malformed.
/// Fails only when `leases` is absent or not a list (or the arguments not a map).
pub(crate) fn read_page_lenient<L, A: FromStr>(
    v: &Value,
    from_json: fn(&Value) -> Result<L, CommandError>,
) -> Result<LenientPage<L, A>, CommandError> {
    let entries = page_entries(v)?;
    let mut page = LenientPage {
        leases: Vec::with_capacity(entries.len()),
        rejected: Vec::new(),
        count: entries.len(),
        last_address: entries.last().and_then(|last| {
            last.get("ip-address")
                .and_then(Value::as_str)
                .and_then(|a| a.parse().ok())
        }),
    };
    for (i, entry) in entries.iter().enumerate() {
        match entry_at(entry, &format!("leases[{i}]"), from_json) {
            Ok(lease) => page.leases.push(lease),
            Err(e) => page.rejected.push(e),
        }
    }
    Ok(page)
}
