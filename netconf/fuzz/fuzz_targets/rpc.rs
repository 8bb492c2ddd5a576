//! `<rpc>` parsing never panics, and the XML it hands on (edit-config content, subtree
//! filters, inline config sources, unknown operations) is a fixed point: put back into a
//! request and parsed again, it comes out unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netconf::rpc::{parse_rpc, ConfigSource, Filter, Operation};

const BASE: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";

/// Wraps `body` in an rpc that binds the base namespace to a prefix only, so the wrapper
/// leaves the default namespace of the re-parsed content as the content itself declares it.
fn reparse(body: &str) -> Operation {
    let msg = format!("<nc:rpc message-id=\"1\" xmlns:nc=\"{BASE}\">{body}</nc:rpc>");
    match parse_rpc(msg.as_bytes()) {
        Ok(rpc) => rpc.operation,
        Err(e) => panic!("re-serialised XML does not parse: {e:?}\n{msg}"),
    }
}

/// The wrapper's own `nc` binding joins the scope of the re-parsed content; compare without it.
fn same(a: &str, b: &str) {
    let nc = format!(" xmlns:nc=\"{BASE}\"");
    assert_eq!(a.replace(&nc, ""), b.replace(&nc, ""));
}

fuzz_target!(|data: &[u8]| {
    let Ok(rpc) = parse_rpc(data) else { return };
    match rpc.operation {
        Operation::EditConfig { config, .. } => {
            let again = reparse(&format!(
                "<nc:edit-config><nc:target><nc:running/></nc:target><nc:config>{config}</nc:config></nc:edit-config>"
            ));
            let Operation::EditConfig { config: config2, .. } = again else { panic!("{again:?}") };
            same(&config, &config2);
        }
        Operation::Get { filter: Some(Filter::Subtree(f)), .. } => {
            let again = reparse(&format!("<nc:get><nc:filter>{f}</nc:filter></nc:get>"));
            let Operation::Get { filter: Some(Filter::Subtree(f2)), .. } = again else { panic!("{again:?}") };
            same(&f, &f2);
        }
        Operation::CopyConfig { source: ConfigSource::Config(config), .. } => {
            let again = reparse(&format!(
                "<nc:copy-config><nc:target><nc:running/></nc:target><nc:source><nc:config>{config}</nc:config></nc:source></nc:copy-config>"
            ));
            let Operation::CopyConfig { source: ConfigSource::Config(config2), .. } = again else { panic!("{again:?}") };
            same(&config, &config2);
        }
        Operation::Other { xml, name, namespace } => {
            let again = reparse(&xml);
            let Operation::Other { xml: xml2, name: name2, namespace: ns2 } = again else { panic!("{again:?}") };
            assert_eq!((&name, &namespace), (&name2, &ns2));
            same(&xml, &xml2);
        }
        _ => {}
    }
});
