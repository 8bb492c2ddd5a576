//! Kea `option-data` and `option-def` to netdhcp's option leaves: the dedicated leaves
//! (router, dns-server, domain-name, domain-search) where one fits, else `option` entries by
//! code with the format that carries the value (`hex` when none of the named ones does).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::Value;

use super::report::{Fields, Report};
use super::xml_writer::Element;
use super::Family;

/// How Kea types an option's value (its option definition's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeaType {
    /// `ipv4-address`.
    Ipv4,
    /// `ipv6-address`.
    Ipv6,
    /// `string`.
    Text,
    /// `uint8`.
    U8,
    /// `uint16`.
    U16,
    /// `uint32`.
    U32,
    /// `int8`.
    I8,
    /// `int16`.
    I16,
    /// `int32`.
    I32,
    /// `boolean`.
    Bool,
    /// `fqdn`: RFC 1035 labels on the wire.
    Fqdn,
    /// `binary`: hex digits.
    Binary,
    /// `empty`: no payload.
    Empty,
}

impl KeaType {
    fn from_kea(name: &str) -> Option<KeaType> {
        Some(match name {
            "ipv4-address" => KeaType::Ipv4,
            "ipv6-address" => KeaType::Ipv6,
            "string" => KeaType::Text,
            "uint8" => KeaType::U8,
            "uint16" => KeaType::U16,
            "uint32" => KeaType::U32,
            "int8" => KeaType::I8,
            "int16" => KeaType::I16,
            "int32" => KeaType::I32,
            "boolean" => KeaType::Bool,
            "fqdn" => KeaType::Fqdn,
            "binary" => KeaType::Binary,
            "empty" => KeaType::Empty,
            _ => return None,
        })
    }
}

/// An option definition: Kea's standard ones and those of `option-def`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionDef {
    /// Kea's name for it.
    pub name: String,
    /// Option code.
    pub code: u16,
    /// Value type.
    pub kind: KeaType,
    /// Whether the value is a list of `kind`.
    pub array: bool,
}

use KeaType::*;

/// Kea 2.2's standard DHCPv4 option names (those with a type netdhcp can carry).
const STANDARD_V4: &[(&str, u16, KeaType, bool)] = &[
    ("subnet-mask", 1, Ipv4, false),
    ("time-offset", 2, I32, false),
    ("routers", 3, Ipv4, true),
    ("time-servers", 4, Ipv4, true),
    ("name-servers", 5, Ipv4, true),
    ("domain-name-servers", 6, Ipv4, true),
    ("log-servers", 7, Ipv4, true),
    ("cookie-servers", 8, Ipv4, true),
    ("lpr-servers", 9, Ipv4, true),
    ("impress-servers", 10, Ipv4, true),
    ("resource-location-servers", 11, Ipv4, true),
    ("host-name", 12, Text, false),
    ("boot-size", 13, U16, false),
    ("merit-dump", 14, Text, false),
    ("domain-name", 15, Text, false),
    ("swap-server", 16, Ipv4, false),
    ("root-path", 17, Text, false),
    ("extensions-path", 18, Text, false),
    ("ip-forwarding", 19, Bool, false),
    ("non-local-source-routing", 20, Bool, false),
    ("max-dgram-reassembly", 22, U16, false),
    ("default-ip-ttl", 23, U8, false),
    ("path-mtu-aging-timeout", 24, U32, false),
    ("path-mtu-plateau-table", 25, U16, true),
    ("interface-mtu", 26, U16, false),
    ("all-subnets-local", 27, Bool, false),
    ("broadcast-address", 28, Ipv4, false),
    ("perform-mask-discovery", 29, Bool, false),
    ("mask-supplier", 30, Bool, false),
    ("router-discovery", 31, Bool, false),
    ("router-solicitation-address", 32, Ipv4, false),
    ("trailer-encapsulation", 34, Bool, false),
    ("arp-cache-timeout", 35, U32, false),
    ("ieee802-3-encapsulation", 36, Bool, false),
    ("default-tcp-ttl", 37, U8, false),
    ("tcp-keepalive-interval", 38, U32, false),
    ("tcp-keepalive-garbage", 39, Bool, false),
    ("nis-domain", 40, Text, false),
    ("nis-servers", 41, Ipv4, true),
    ("ntp-servers", 42, Ipv4, true),
    ("netbios-name-servers", 44, Ipv4, true),
    ("netbios-dd-server", 45, Ipv4, true),
    ("netbios-node-type", 46, U8, false),
    ("netbios-scope", 47, Text, false),
    ("font-servers", 48, Ipv4, true),
    ("x-display-manager", 49, Ipv4, true),
    ("dhcp-requested-address", 50, Ipv4, false),
    ("dhcp-lease-time", 51, U32, false),
    ("dhcp-message-type", 53, U8, false),
    ("dhcp-server-identifier", 54, Ipv4, false),
    ("dhcp-parameter-request-list", 55, U8, true),
    ("dhcp-message", 56, Text, false),
    ("dhcp-max-message-size", 57, U16, false),
    ("dhcp-renewal-time", 58, U32, false),
    ("dhcp-rebinding-time", 59, U32, false),
    ("vendor-class-identifier", 60, Text, false),
    ("dhcp-client-identifier", 61, Binary, false),
    ("nwip-domain-name", 62, Text, false),
    ("nisplus-domain-name", 64, Text, false),
    ("nisplus-servers", 65, Ipv4, true),
    ("tftp-server-name", 66, Text, false),
    ("boot-file-name", 67, Text, false),
    ("mobile-ip-home-agent", 68, Ipv4, true),
    ("smtp-server", 69, Ipv4, true),
    ("pop-server", 70, Ipv4, true),
    ("nntp-server", 71, Ipv4, true),
    ("www-server", 72, Ipv4, true),
    ("finger-server", 73, Ipv4, true),
    ("irc-server", 74, Ipv4, true),
    ("streettalk-server", 75, Ipv4, true),
    ("streettalk-directory-assistance-server", 76, Ipv4, true),
    ("user-class", 77, Binary, false),
    ("relay-agent-information", 82, Binary, false),
    ("pcode", 100, Text, false),
    ("tcode", 101, Text, false),
    ("domain-search", 119, Fqdn, true),
    ("v4-captive-portal", 114, Text, false),
];

/// Kea 2.2's standard DHCPv6 option names (those with a type netdhcp can carry).
const STANDARD_V6: &[(&str, u16, KeaType, bool)] = &[
    ("clientid", 1, Binary, false),
    ("serverid", 2, Binary, false),
    ("oro", 6, U16, true),
    ("preference", 7, U8, false),
    ("elapsed-time", 8, U16, false),
    ("unicast", 12, Ipv6, false),
    ("rapid-commit", 14, Empty, false),
    ("interface-id", 18, Binary, false),
    ("reconf-accept", 20, Empty, false),
    ("sip-server-dns", 21, Fqdn, true),
    ("sip-server-addr", 22, Ipv6, true),
    ("dns-servers", 23, Ipv6, true),
    ("domain-search", 24, Fqdn, true),
    ("nis-servers", 27, Ipv6, true),
    ("nisp-servers", 28, Ipv6, true),
    ("nis-domain-name", 29, Fqdn, true),
    ("nisp-domain-name", 30, Fqdn, true),
    ("sntp-servers", 31, Ipv6, true),
    ("information-refresh-time", 32, U32, false),
    ("bcmcs-server-dns", 33, Fqdn, true),
    ("bcmcs-server-addr", 34, Ipv6, true),
    ("new-posix-timezone", 41, Text, false),
    ("new-tzdb-timezone", 42, Text, false),
    ("bootfile-url", 59, Text, false),
    ("bootfile-param", 60, Binary, false),
    ("erp-local-domain-name", 65, Fqdn, false),
    ("v6-captive-portal", 103, Text, false),
];

/// Codes netdhcp fills in itself and refuses as configured options.
fn managed(family: Family, code: u16) -> bool {
    match family {
        Family::V4 => matches!(code, 50 | 51 | 53 | 54 | 55 | 58 | 59 | 61 | 82),
        Family::V6 => matches!(
            code,
            1 | 2 | 3 | 4 | 5 | 6 | 8 | 9 | 13 | 14 | 18 | 19 | 20 | 25 | 26
        ),
    }
}

/// What to set instead of a managed option, when there is something.
fn managed_hint(family: Family, code: u16) -> &'static str {
    match (family, code) {
        (Family::V4, 51) => " (set valid-lifetime instead)",
        (Family::V4, 58) => " (set renew-timer instead)",
        (Family::V4, 59) => " (set rebind-timer instead)",
        (Family::V6, 14) => " (set rapid-commit on the subnet instead)",
        _ => "",
    }
}

/// Option definitions in force: Kea's standard ones and the configuration's `option-def`.
#[derive(Debug, Clone)]
pub struct OptionDefs {
    family: Family,
    custom: Vec<OptionDef>,
}

impl OptionDefs {
    /// The standard definitions of `family` only.
    pub fn standard(family: Family) -> OptionDefs {
        OptionDefs {
            family,
            custom: Vec::new(),
        }
    }

    /// Standard definitions plus the `option-def` list at `path` (if any); definitions
    /// netdhcp cannot carry (records, encapsulation, other spaces) are reported.
    pub fn with_kea_defs(
        family: Family,
        defs: Vec<(String, &Value)>,
        report: &mut Report,
    ) -> OptionDefs {
        let mut out = OptionDefs::standard(family);
        for (path, def) in defs {
            let Some(mut f) = Fields::of(def, &path, report) else {
                continue;
            };
            f.ignore("comment");
            let name = f.string("name", report);
            let code = f.u32("code", report).and_then(|c| u16::try_from(c).ok());
            let kind = f.string("type", report);
            let array = f.boolean("array", report).unwrap_or(false);
            let space = f.string("space", report);
            let encapsulate = f.string("encapsulate", report).unwrap_or("");
            let record = f.get("record-types");
            let (Some(name), Some(code), Some(kind)) = (name, code, kind) else {
                report.add(path, "option-def needs name, code and type; dropped");
                continue;
            };
            if space.is_some_and(|s| s != family.option_space()) {
                report.add(
                    path,
                    "option-def in another option space: not supported, dropped",
                );
                f.finish(report);
                continue;
            }
            if !encapsulate.is_empty() {
                report.add(
                    f.path_of("encapsulate"),
                    "encapsulated option spaces: not supported, definition dropped",
                );
                f.finish(report);
                continue;
            }
            if record.is_some_and(|r| r.as_str().is_some_and(|s| !s.is_empty())) {
                report.add(
                    f.path_of("record-types"),
                    "record option types: not supported, definition dropped (send such options with csv-format false)",
                );
            }
            match KeaType::from_kea(kind) {
                Some(kind) => out.custom.push(OptionDef {
                    name: name.to_string(),
                    code,
                    kind,
                    array,
                }),
                None if kind == "record" => {}
                None => report.add(
                    f.path_of("type"),
                    format!("option type {kind:?}: not supported, definition dropped"),
                ),
            }
            f.finish(report);
        }
        out
    }

    fn table(&self) -> &'static [(&'static str, u16, KeaType, bool)] {
        match self.family {
            Family::V4 => STANDARD_V4,
            Family::V6 => STANDARD_V6,
        }
    }

    /// The definition named `name`.
    pub fn by_name(&self, name: &str) -> Option<OptionDef> {
        self.custom
            .iter()
            .find(|d| d.name == name)
            .cloned()
            .or_else(|| {
                self.table()
                    .iter()
                    .find(|(n, ..)| *n == name)
                    .map(|&(n, code, kind, array)| OptionDef {
                        name: n.to_string(),
                        code,
                        kind,
                        array,
                    })
            })
    }

    /// The definition of code `code`.
    pub fn by_code(&self, code: u16) -> Option<OptionDef> {
        self.custom
            .iter()
            .find(|d| d.code == code)
            .cloned()
            .or_else(|| {
                self.table()
                    .iter()
                    .find(|(_, c, ..)| *c == code)
                    .map(|&(n, code, kind, array)| OptionDef {
                        name: n.to_string(),
                        code,
                        kind,
                        array,
                    })
            })
    }
}

/// An `option` list entry of the netdhcp model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomOption {
    /// The model's format name (`hex`, `text`, `ipv4-address-list`, ...).
    pub format: &'static str,
    /// The value in that format.
    pub value: String,
    /// Sent even when not asked for.
    pub always_send: bool,
}

/// The options of one level (global, subnet, reservation) in the netdhcp model's terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// DHCPv4 routers (option 3).
    pub router: Vec<String>,
    /// DNS servers (DHCPv4 option 6, DHCPv6 option 23).
    pub dns_server: Vec<String>,
    /// DHCPv4 domain name (option 15).
    pub domain_name: Option<String>,
    /// Domain search list (DHCPv4 option 119, DHCPv6 option 24).
    pub domain_search: Vec<String>,
    /// Every other option, by code.
    pub custom: BTreeMap<u16, CustomOption>,
}

impl Options {
    /// These options overridden, option by option, by `over` (Kea's inheritance from a
    /// shared network to its subnets).
    pub fn overlaid(&self, over: &Options) -> Options {
        let pick = |mine: &Vec<String>, theirs: &Vec<String>| {
            if theirs.is_empty() {
                mine.clone()
            } else {
                theirs.clone()
            }
        };
        let mut custom = self.custom.clone();
        custom.extend(over.custom.iter().map(|(k, v)| (*k, v.clone())));
        Options {
            router: pick(&self.router, &over.router),
            dns_server: pick(&self.dns_server, &over.dns_server),
            domain_name: over
                .domain_name
                .clone()
                .or_else(|| self.domain_name.clone()),
            domain_search: pick(&self.domain_search, &over.domain_search),
            custom,
        }
    }

    /// Appends the option leaves to `parent`, in the model's order.
    pub fn write(&self, family: Family, parent: &mut Element) {
        if family == Family::V4 {
            parent.push_all("router", &self.router);
        }
        parent.push_all("dns-server", &self.dns_server);
        if family == Family::V4 {
            parent.push_opt("domain-name", self.domain_name.as_ref());
        }
        parent.push_all("domain-search", &self.domain_search);
        for (code, o) in &self.custom {
            let mut e = Element::node("option");
            e.push(Element::leaf("code", code));
            e.push(Element::leaf("format", o.format));
            e.push(Element::leaf("value", &o.value));
            if o.always_send {
                e.push(Element::leaf("always-send", "true"));
            }
            parent.push(e);
        }
    }
}

/// Converts an `option-data` list; whatever cannot be carried is reported.
pub fn convert_option_data(
    items: Vec<(String, &Value)>,
    defs: &OptionDefs,
    report: &mut Report,
) -> Options {
    let mut out = Options::default();
    for (path, item) in items {
        let Some(mut f) = Fields::of(item, &path, report) else {
            continue;
        };
        convert_one(&mut f, defs, &mut out, report);
        f.finish(report);
    }
    out
}

fn convert_one(f: &mut Fields, defs: &OptionDefs, out: &mut Options, report: &mut Report) {
    let family = defs.family;
    f.ignore("comment");
    let name = f.string("name", report);
    let code = f.u32("code", report);
    let data = f.string("data", report).unwrap_or("");
    let csv = f.boolean("csv-format", report).unwrap_or(true);
    let always_send = f.boolean("always-send", report).unwrap_or(false);
    if f.boolean("never-send", report) == Some(true) {
        report.add(
            f.path_of("never-send"),
            "never-send: not supported, option dropped",
        );
        return;
    }
    if let Some(space) = f.string("space", report) {
        if space != family.option_space() {
            report.add(
                f.path(),
                format!("option space {space:?}: not supported, dropped"),
            );
            return;
        }
    }
    let code = match code {
        Some(c) => match u16::try_from(c) {
            Ok(c) if family == Family::V6 || c <= 254 => Some(c),
            _ => {
                report.add(
                    f.path_of("code"),
                    format!("option code {c} out of range, dropped"),
                );
                return;
            }
        },
        None => None,
    };
    let def = match (name, code) {
        (Some(n), _) => defs
            .by_name(n)
            .or_else(|| code.and_then(|c| defs.by_code(c))),
        (None, Some(c)) => defs.by_code(c),
        (None, None) => {
            report.add(f.path(), "option-data needs a name or a code, dropped");
            return;
        }
    };
    let Some(code) = code.or(def.as_ref().map(|d| d.code)) else {
        report.add(
            f.path(),
            format!(
                "unknown option {:?}: no definition, dropped",
                name.unwrap_or_default()
            ),
        );
        return;
    };
    if managed(family, code) {
        report.add(
            f.path(),
            format!(
                "option {code} is managed by netdhcp and cannot be configured, dropped{}",
                managed_hint(family, code)
            ),
        );
        return;
    }
    if !csv {
        match hex_value(data) {
            Ok(value) => {
                out.custom.insert(
                    code,
                    CustomOption {
                        format: "hex",
                        value,
                        always_send,
                    },
                );
            }
            Err(e) => report.add(f.path_of("data"), format!("{e}, option dropped")),
        }
        return;
    }
    let Some(def) = def else {
        report.add(
            f.path(),
            format!("option {code} has no definition netdhcp knows (send it with csv-format false), dropped"),
        );
        return;
    };
    let items = if def.array || matches!(def.kind, Ipv4 | Ipv6) {
        data.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    } else {
        vec![data.trim()]
    };
    if !always_send && set_dedicated(family, code, &items, out) {
        return;
    }
    match encode(family, &def, data, &items) {
        Ok((format, value)) => {
            out.custom.insert(
                code,
                CustomOption {
                    format,
                    value,
                    always_send,
                },
            );
        }
        Err(e) => report.add(f.path_of("data"), format!("{e}, option dropped")),
    }
}

/// Sets the dedicated leaf for `code`, if the model has one.
fn set_dedicated(family: Family, code: u16, items: &[&str], out: &mut Options) -> bool {
    let list = || items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let valid_v4 = || items.iter().all(|s| s.parse::<Ipv4Addr>().is_ok());
    let valid_v6 = || items.iter().all(|s| s.parse::<Ipv6Addr>().is_ok());
    match (family, code) {
        (Family::V4, 3) if valid_v4() => out.router = list(),
        (Family::V4, 6) if valid_v4() => out.dns_server = list(),
        (Family::V4, 15) if items.len() == 1 => out.domain_name = Some(items[0].to_string()),
        (Family::V4, 119) | (Family::V6, 24) => out.domain_search = list(),
        (Family::V6, 23) if valid_v6() => out.dns_server = list(),
        _ => return false,
    }
    true
}

/// The netdhcp (format, value) of a Kea value with definition `def`.
fn encode(
    family: Family,
    def: &OptionDef,
    data: &str,
    items: &[&str],
) -> Result<(&'static str, String), String> {
    let single = |what: &str| -> Result<&str, String> {
        match items {
            [one] => Ok(one),
            _ => Err(format!("expected one {what}, got {data:?}")),
        }
    };
    Ok(match (def.kind, def.array) {
        (Ipv4, _) => {
            let addrs = parse_all::<Ipv4Addr>(items, "IPv4 address")?;
            if family == Family::V4 {
                ("ipv4-address-list", items.join(","))
            } else {
                (
                    "hex",
                    hex(&addrs.iter().flat_map(|a| a.octets()).collect::<Vec<_>>()),
                )
            }
        }
        (Ipv6, _) => {
            let addrs = parse_all::<Ipv6Addr>(items, "IPv6 address")?;
            if family == Family::V6 {
                ("ipv6-address-list", items.join(","))
            } else {
                (
                    "hex",
                    hex(&addrs.iter().flat_map(|a| a.octets()).collect::<Vec<_>>()),
                )
            }
        }
        (Text, _) => ("text", data.to_string()),
        (U8, false) => ("uint8", number::<u8>(single("uint8")?)?.to_string()),
        (U16, false) => ("uint16", number::<u16>(single("uint16")?)?.to_string()),
        (U32, false) => ("uint32", number::<u32>(single("uint32")?)?.to_string()),
        (Bool, false) => ("boolean", boolean(single("boolean")?)?.to_string()),
        (kind, _) => {
            let mut bytes = Vec::new();
            for item in items {
                match kind {
                    U8 => bytes.push(number::<u8>(item)?),
                    U16 => bytes.extend(number::<u16>(item)?.to_be_bytes()),
                    U32 => bytes.extend(number::<u32>(item)?.to_be_bytes()),
                    I8 => bytes.extend(number::<i8>(item)?.to_be_bytes()),
                    I16 => bytes.extend(number::<i16>(item)?.to_be_bytes()),
                    I32 => bytes.extend(number::<i32>(item)?.to_be_bytes()),
                    Bool => bytes.push(u8::from(boolean(item)?)),
                    Fqdn => bytes.extend(domain_labels(item)?),
                    Binary => bytes.extend(decode_hex(item)?),
                    Empty | Ipv4 | Ipv6 | Text => {}
                }
            }
            ("hex", hex(&bytes))
        }
    })
}

fn parse_all<A: std::str::FromStr>(items: &[&str], what: &str) -> Result<Vec<A>, String> {
    items
        .iter()
        .map(|s| {
            s.parse::<A>()
                .map_err(|_| format!("{s:?} is not an {what}"))
        })
        .collect()
}

fn number<N: std::str::FromStr>(s: &str) -> Result<N, String> {
    s.parse::<N>()
        .map_err(|_| format!("{s:?} is not a number of the option's type"))
}

fn boolean(s: &str) -> Result<bool, String> {
    match s {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("{s:?} is not a boolean")),
    }
}

/// A domain name as RFC 1035 labels.
fn domain_labels(name: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        if label.len() > 63 {
            return Err(format!("{name:?} has a label longer than 63 bytes"));
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    Ok(out)
}

/// Kea's hex option data (`0a0b`, `0a:0b`, `0x0a0b`, blanks allowed) in netdhcp's hex form.
fn hex_value(data: &str) -> Result<String, String> {
    Ok(hex(&decode_hex(data)?))
}

/// Decodes hex digits with optional `0x` prefix and ':', '-' or blank separators.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let digits: Vec<u8> = t
        .bytes()
        .filter(|b| !matches!(b, b':' | b'-' | b' '))
        .collect();
    if digits.len() % 2 == 1 {
        return Err(format!("{text:?} has an odd number of hex digits"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .ok_or_else(|| format!("{text:?} is not hex"))
        })
        .collect()
}

/// Bytes as lower-case hex pairs separated by ':'.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn convert(family: Family, defs: Value, data: Value) -> (Options, Vec<String>) {
        let mut report = Report::default();
        let defs = OptionDefs::with_kea_defs(
            family,
            defs.as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, d)| (format!("Dhcp4/option-def[{i}]"), d))
                .collect(),
            &mut report,
        );
        let items = data
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("Dhcp4/option-data[{i}]"), d))
            .collect();
        let options = convert_option_data(items, &defs, &mut report);
        let lines = report.into_items().iter().map(|u| u.to_string()).collect();
        (options, lines)
    }

    #[test]
    fn named_v4_options_take_the_dedicated_leaves() {
        let (o, report) = convert(
            Family::V4,
            json!([]),
            json!([
                {"name": "routers", "data": "100.64.0.1"},
                {"name": "domain-name-servers", "data": "100.64.0.53, 100.64.0.54"},
                {"name": "domain-name", "data": "example.net"},
                {"name": "domain-search", "data": "example.net, example.org"},
            ]),
        );
        assert!(report.is_empty(), "{report:?}");
        assert_eq!(o.router, vec!["100.64.0.1"]);
        assert_eq!(o.dns_server, vec!["100.64.0.53", "100.64.0.54"]);
        assert_eq!(o.domain_name.as_deref(), Some("example.net"));
        assert_eq!(o.domain_search, vec!["example.net", "example.org"]);
        assert!(o.custom.is_empty());
    }

    #[test]
    fn options_by_code_name_and_hex_become_option_entries() {
        let (o, report) = convert(
            Family::V4,
            json!([]),
            json!([
                {"code": 42, "data": "100.64.0.123"},
                {"name": "interface-mtu", "data": "1500", "always-send": true},
                {"code": 43, "csv-format": false, "data": "0x0104C0A80001"},
                {"name": "routers", "data": "100.64.0.1", "always-send": true},
                {"name": "time-offset", "data": "-3600"},
            ]),
        );
        assert!(report.is_empty(), "{report:?}");
        let c = |code| o.custom.get(&code).cloned().unwrap();
        assert_eq!(
            c(42),
            CustomOption {
                format: "ipv4-address-list",
                value: "100.64.0.123".into(),
                always_send: false
            }
        );
        assert_eq!(
            c(26),
            CustomOption {
                format: "uint16",
                value: "1500".into(),
                always_send: true
            }
        );
        assert_eq!(c(43).value, "01:04:c0:a8:00:01");
        assert_eq!(c(3).format, "ipv4-address-list");
        assert!(c(3).always_send);
        assert_eq!(c(2).value, "ff:ff:f1:f0");
        assert!(o.router.is_empty());
    }

    #[test]
    fn custom_definitions_are_used_and_unknown_ones_reported() {
        let (o, report) = convert(
            Family::V4,
            json!([
                {"name": "acme-server", "code": 222, "type": "ipv4-address", "array": true, "space": "dhcp4"},
                {"name": "acme-flags", "code": 223, "type": "uint16", "array": true},
                {"name": "acme-rec", "code": 224, "type": "record", "record-types": "uint8, string"},
            ]),
            json!([
                {"name": "acme-server", "data": "100.64.0.7, 100.64.0.8"},
                {"name": "acme-flags", "data": "1, 2"},
                {"name": "no-such-option", "data": "1"},
                {"name": "dhcp-lease-time", "data": "60"},
                {"name": "routers", "data": "not-an-address, 1"},
                {"name": "x", "space": "vendor-4491", "code": 2, "data": "1"},
            ]),
        );
        assert_eq!(o.custom[&222].value, "100.64.0.7,100.64.0.8");
        assert_eq!(o.custom[&223].value, "00:01:00:02");
        assert_eq!(
            report,
            vec![
                "Dhcp4/option-def[2]/record-types: record option types: not supported, definition dropped (send such options with csv-format false)",
                "Dhcp4/option-data[2]: unknown option \"no-such-option\": no definition, dropped",
                "Dhcp4/option-data[3]: option 51 is managed by netdhcp and cannot be configured, dropped (set valid-lifetime instead)",
                "Dhcp4/option-data[4]/data: \"not-an-address\" is not an IPv4 address, option dropped",
                "Dhcp4/option-data[5]: option space \"vendor-4491\": not supported, dropped",
            ]
        );
    }

    #[test]
    fn v6_options() {
        let (o, report) = convert(
            Family::V6,
            json!([]),
            json!([
                {"name": "dns-servers", "data": "2001:db8::53"},
                {"name": "domain-search", "data": "example.net"},
                {"name": "sntp-servers", "data": "2001:db8::123"},
                {"name": "information-refresh-time", "data": "3600"},
                {"name": "sip-server-dns", "data": "sip.example.net"},
                {"name": "rapid-commit"},
            ]),
        );
        assert_eq!(o.dns_server, vec!["2001:db8::53"]);
        assert_eq!(o.domain_search, vec!["example.net"]);
        assert_eq!(o.custom[&31].format, "ipv6-address-list");
        assert_eq!(o.custom[&32].value, "3600");
        assert_eq!(
            o.custom[&21].value,
            "03:73:69:70:07:65:78:61:6d:70:6c:65:03:6e:65:74:00"
        );
        assert_eq!(
            report,
            vec!["Dhcp4/option-data[5]: option 14 is managed by netdhcp and cannot be configured, dropped (set rapid-commit on the subnet instead)"]
        );
    }

    #[test]
    fn overlay_replaces_per_option() {
        let global = Options {
            dns_server: vec!["100.64.0.53".into()],
            domain_name: Some("g.example".into()),
            ..Options::default()
        };
        let subnet = Options {
            dns_server: vec!["100.64.0.99".into()],
            ..Options::default()
        };
        let merged = global.overlaid(&subnet);
        assert_eq!(merged.dns_server, vec!["100.64.0.99"]);
        assert_eq!(merged.domain_name.as_deref(), Some("g.example"));
    }
}
