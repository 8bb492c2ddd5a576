//! Data paths in the form NETCONF clients read: libyang writes paths with module names as
//! prefixes (`/netdhcp-server:server/dhcpv4/subnet[id='1']`); an error-path is an XPath whose
//! prefixes are XML namespace prefixes declared on the element (`/ndhcp:server/ndhcp:dhcpv4/
//! ndhcp:subnet[ndhcp:id='1']`, RFC 6241 4.3).

use yang::yang5::context::Context;

/// A path with XML prefixes and the (prefix, namespace) pairs it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlPath {
    /// The XPath.
    pub path: String,
    /// Declarations its prefixes need.
    pub namespaces: Vec<(String, String)>,
}

/// Rewrites a libyang path. Steps without a module name belong to the module of the step
/// before them, so every name gets that module's prefix.
pub fn to_xml_path(ctx: &Context, json_path: &str) -> XmlPath {
    let mut out = String::with_capacity(json_path.len() * 2);
    let mut namespaces: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, String)> = None; // (prefix, namespace)
    let bytes = json_path.as_bytes();
    let mut i = 0;
    let mut in_quote: Option<u8> = None;
    let mut depth = 0usize; // inside [...]
    let mut step_prefix: Option<(String, String)> = None;
    while i < bytes.len() {
        let c = bytes[i];
        if let Some(q) = in_quote {
            out.push(c as char);
            if c == q {
                in_quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            b'\'' | b'"' => {
                in_quote = Some(c);
                out.push(c as char);
                i += 1;
            }
            b'[' => {
                depth += 1;
                step_prefix = current.clone();
                out.push('[');
                i += 1;
            }
            b']' => {
                depth = depth.saturating_sub(1);
                out.push(']');
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'-' | b'.'))
                {
                    i += 1;
                }
                let word = &json_path[start..i];
                if i < bytes.len() && bytes[i] == b':' {
                    // module:name
                    i += 1;
                    let module = ctx.get_module_latest(word);
                    let pair = module.map(|m| (m.prefix().to_string(), m.namespace().to_string()));
                    if let Some(p) = &pair {
                        if !namespaces.contains(p) {
                            namespaces.push(p.clone());
                        }
                    }
                    if depth == 0 {
                        current = pair;
                    } else {
                        step_prefix = pair;
                    }
                    continue;
                }
                let prefix = if depth == 0 { &current } else { &step_prefix };
                // `.` and functions stay as they are; names get the prefix.
                match prefix {
                    Some((p, _)) if word != "." => {
                        out.push_str(p);
                        out.push(':');
                        out.push_str(word);
                    }
                    _ => out.push_str(word),
                }
            }
            _ => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    XmlPath {
        path: out,
        namespaces,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_path_gets_xml_prefixes() {
        let ctx = yang::context().unwrap();
        let p = to_xml_path(
            ctx,
            "/netdhcp-server:server/dhcpv4/subnet[id='1']/pool[start='100.64.0.1']",
        );
        assert_eq!(p.path, "/ndhcp:server/ndhcp:dhcpv4/ndhcp:subnet[ndhcp:id='1']/ndhcp:pool[ndhcp:start='100.64.0.1']");
        assert_eq!(
            p.namespaces,
            vec![(
                "ndhcp".to_string(),
                "urn:netdhcp:yang:netdhcp-server".to_string()
            )]
        );
    }

    #[test]
    fn leaf_list_value_and_quotes_survive() {
        let ctx = yang::context().unwrap();
        let p = to_xml_path(ctx, "/netdhcp-server:server/dhcpv4/interface[.='e:th0']");
        assert_eq!(
            p.path,
            "/ndhcp:server/ndhcp:dhcpv4/ndhcp:interface[.='e:th0']"
        );
    }
}
