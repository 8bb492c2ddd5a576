//! Writing `<rpc-reply>` (RFC 6241 section 4.2).

use std::fmt::Write as _;

use super::{RpcAttributes, NS_BASE, NS_MONITORING};
use crate::backend::Reply;
use crate::error::RpcError;
use crate::xml::{escape_attr, escape_text};

/// Wraps `body` in `<rpc-reply>`, carrying every attribute of the request's `<rpc>` unchanged.
/// `attributes` is `None` when the request could not be read at all.
pub fn rpc_reply(attributes: Option<&RpcAttributes>, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 128);
    let _ = write!(out, "<rpc-reply xmlns=\"{NS_BASE}\"");
    if let Some(attributes) = attributes {
        for (name, value) in &attributes.attributes {
            let _ = write!(out, " {}=\"{}\"", name, escape_attr(value));
        }
    }
    if body.is_empty() {
        out.push_str("/>");
    } else {
        out.push('>');
        out.push_str(body);
        out.push_str("</rpc-reply>");
    }
    out
}

/// An `<rpc-reply>` holding `<ok/>`.
pub fn ok(attributes: Option<&RpcAttributes>) -> String {
    rpc_reply(attributes, "<ok/>")
}

/// An `<rpc-reply>` holding one `<rpc-error>` per error (at least one: an empty list becomes a
/// generic operation-failed, since a reply with neither `<ok/>` nor data nor errors is invalid).
pub fn errors(attributes: Option<&RpcAttributes>, errors: &[RpcError]) -> String {
    let mut body = String::new();
    if errors.is_empty() {
        RpcError::operation_failed("the operation failed").write_xml(&mut body);
    }
    for e in errors {
        e.write_xml(&mut body);
    }
    rpc_reply(attributes, &body)
}

/// The reply to a backend answer.
///
/// `get_schema` selects the namespace of `<data>`: RFC 6022 puts the schema in a `<data>`
/// element of the monitoring namespace, not the base one.
pub fn from_result(
    attributes: Option<&RpcAttributes>,
    result: &Result<Reply, Vec<RpcError>>,
    get_schema: bool,
) -> String {
    match result {
        Err(errs) => errors(attributes, errs),
        Ok(Reply::Ok) => ok(attributes),
        Ok(Reply::Data(xml)) => {
            let ns = if get_schema { NS_MONITORING } else { NS_BASE };
            if xml.is_empty() {
                rpc_reply(attributes, &format!("<data xmlns=\"{ns}\"/>"))
            } else {
                rpc_reply(attributes, &format!("<data xmlns=\"{ns}\">{xml}</data>"))
            }
        }
        Ok(Reply::Schema(text)) => rpc_reply(
            attributes,
            &format!(
                "<data xmlns=\"{NS_MONITORING}\">{}</data>",
                escape_text(text)
            ),
        ),
        // RFC 7950 section 7.14.4: an rpc without output answers <ok/>.
        Ok(Reply::Output(xml)) if xml.trim().is_empty() => ok(attributes),
        Ok(Reply::Output(xml)) => rpc_reply(attributes, xml),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs() -> RpcAttributes {
        RpcAttributes {
            attributes: vec![
                ("xmlns:ex".into(), "http://example.net/content/1.0".into()),
                ("message-id".into(), "101".into()),
                ("ex:user-id".into(), "f\"red".into()),
            ],
        }
    }

    #[test]
    fn ok_echoes_attributes() {
        assert_eq!(
            ok(Some(&attrs())),
            format!(
                "<rpc-reply xmlns=\"{NS_BASE}\" xmlns:ex=\"http://example.net/content/1.0\" message-id=\"101\" ex:user-id=\"f&quot;red\"><ok/></rpc-reply>"
            )
        );
    }

    #[test]
    fn data_and_schema() {
        let d = from_result(None, &Ok(Reply::Data("<a xmlns=\"urn:a\"/>".into())), false);
        assert_eq!(
            d,
            format!("<rpc-reply xmlns=\"{NS_BASE}\"><data><a xmlns=\"urn:a\"/></data></rpc-reply>")
                .replace("<data>", &format!("<data xmlns=\"{NS_BASE}\">"))
        );
        let s = from_result(
            None,
            &Ok(Reply::Schema("module m { prefix \"<\"; }".into())),
            true,
        );
        assert!(s.contains(&format!(
            "<data xmlns=\"{NS_MONITORING}\">module m {{ prefix \"&lt;\"; }}</data>"
        )));
        let o = from_result(None, &Ok(Reply::Output(String::new())), false);
        assert!(o.ends_with("<ok/></rpc-reply>"));
    }

    #[test]
    fn empty_error_list_is_still_an_error() {
        let e = errors(None, &[]);
        assert!(e.contains("<error-tag>operation-failed</error-tag>"));
    }
}
