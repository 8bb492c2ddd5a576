use super::*;

const NS: &str = "urn:netdhcp:yang:netdhcp-server";

fn subtree(inner: &str) -> Wanted {
    let ctx = yang::context().unwrap();
    wanted(
        ctx,
        Some(&Filter::Subtree(format!(
            r#"<server xmlns="{NS}">{inner}</server>"#
        ))),
    )
}

fn xpath(select: &str) -> Wanted {
    let ctx = yang::context().unwrap();
    let namespaces = [
        ("nd", NS),
        ("ncm", "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"),
    ]
    .into_iter()
    .map(|(p, n)| (p.to_string(), n.to_string()))
    .collect();
    wanted(
        ctx,
        Some(&Filter::XPath {
            select: select.into(),
            namespaces,
        }),
    )
}

fn lease_match(pairs: &[(&str, &str)]) -> LeaseMatch {
    LeaseMatch(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn one(pairs: &[(&str, &str)]) -> Option<Vec<LeaseMatch>> {
    Some(vec![lease_match(pairs)])
}

fn all() -> Option<Vec<LeaseMatch>> {
    one(&[])
}

#[test]
fn no_filter_and_whole_state_reach_every_lease() {
    let ctx = yang::context().unwrap();
    assert_eq!(wanted(ctx, None), Wanted::everything());
    assert_eq!(subtree(""), Wanted::everything(), "<server/> selects all");
    assert_eq!(subtree("<state/>"), Wanted::everything());
    // A content match alone selects its whole parent.
    assert_eq!(
        subtree("<state><version>1.0</version></state>"),
        Wanted::everything()
    );
}

#[test]
fn filters_beside_the_lease_lists_reach_no_lease() {
    for inner in [
        "<state><dhcpv4><counters/></dhcpv4></state>",
        "<state><dhcpv4><counters><ack/></counters><leases/></dhcpv4><dhcpv6><counters/></dhcpv6></state>",
        "<state><lease-file/><ha/></state>",
        "<dhcpv4><subnet/></dhcpv4>",
        "<state><dhcpv4><subnet><id>1</id></subnet></dhcpv4></state>",
    ] {
        assert!(subtree(inner).is_empty(), "{inner}");
    }
    let ctx = yang::context().unwrap();
    let monitoring = Filter::Subtree(
        r#"<netconf-state xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"/>"#.into(),
    );
    assert!(wanted(ctx, Some(&monitoring)).is_empty());
    assert!(wanted(ctx, Some(&Filter::Subtree(String::new()))).is_empty());
    assert!(wanted(ctx, Some(&Filter::Subtree("<unclosed".into()))).is_empty());
}

#[test]
fn a_family_container_reaches_its_leases_only() {
    let w = subtree("<state><dhcpv4/></state>");
    assert_eq!((w.v4, w.v6), (all(), None));
    let w = subtree("<state><dhcpv6><lease/></dhcpv6></state>");
    assert_eq!((w.v4, w.v6), (None, all()));
}

#[test]
fn content_matches_on_lease_are_extracted() {
    let w = subtree("<state><dhcpv4><lease><address>100.64.0.5</address></lease></dhcpv4></state>");
    assert_eq!((w.v4, w.v6), (one(&[("address", "100.64.0.5")]), None));

    // Leaves the engine does not match on (hostname) and selection nodes are left to the
    // filter step; several matches are kept together.
    let w = subtree(
        "<state><dhcpv4><lease><subnet-id>2</subnet-id><hw-address>02:00:00:00:00:07</hw-address><hostname>h</hostname><expire/></lease></dhcpv4></state>",
    );
    assert_eq!(
        w.v4,
        one(&[("hw-address", "02:00:00:00:00:07"), ("subnet-id", "2")])
    );

    let w = subtree(
        "<state><dhcpv6><lease><type>ia-pd</type><duid>00:03:00:01:02</duid><iaid>7</iaid></lease></dhcpv6></state>",
    );
    assert_eq!(
        (w.v4, w.v6),
        (None, one(&[("duid", "00:03:00:01:02"), ("type", "ia-pd")]))
    );
    // client-id is a DHCPv4 leaf only.
    let w = subtree("<state><dhcpv6><lease><client-id>01</client-id></lease></dhcpv6></state>");
    assert_eq!(w.v6, all());
}

#[test]
fn several_lease_nodes_are_a_union_and_all_absorbs_the_rest() {
    let w = subtree(
        "<state><dhcpv4><lease><address>100.64.0.5</address></lease><lease><client-id>01:02</client-id></lease></dhcpv4></state>",
    );
    assert_eq!(w.v4.as_ref().map(Vec::len), Some(2));
    let w = subtree(
        "<state><dhcpv4><lease><address>100.64.0.5</address></lease><lease/></dhcpv4></state>",
    );
    assert_eq!(w.v4, all());
}

#[test]
fn xpath_paths_are_followed() {
    let w = xpath("/nd:server/nd:state/nd:dhcpv4/nd:lease[nd:address='100.64.0.5']");
    assert_eq!((w.v4, w.v6), (one(&[("address", "100.64.0.5")]), None));
    let w = xpath(
        "/nd:server/nd:state/nd:dhcpv6/nd:lease[nd:subnet-id=3 and nd:duid=\"00:01\"]/nd:expire",
    );
    assert_eq!(
        (w.v4, w.v6),
        (None, one(&[("duid", "00:01"), ("subnet-id", "3")]))
    );
    // A predicate the engine cannot apply leaves the whole list to the filter step.
    let w = xpath("/nd:server/nd:state/nd:dhcpv4/nd:lease[nd:address='a' or nd:address='b']");
    assert_eq!(w.v4, all());
    assert!(xpath("/nd:server/nd:state/nd:dhcpv4/nd:counters").is_empty());
    let w = xpath("/server/state/dhcpv4/lease[hw-address='02:00:00:00:00:01']");
    assert_eq!(w.v4, one(&[("hw-address", "02:00:00:00:00:01")]));
    assert!(xpath("/nd:server/nd:state/nd:lease-file").is_empty());
    assert!(xpath("/ncm:netconf-state/ncm:sessions").is_empty());
    assert!(xpath("/ncm:netconf-state//ncm:session").is_empty());
    assert_eq!(xpath("/nd:server/nd:state"), Wanted::everything());
    assert_eq!(xpath("/nd:server/nd:state/nd:dhcpv6").v6, all());
    assert_eq!(xpath("//nd:lease"), Wanted::everything());
    assert_eq!(xpath("/nd:server/*"), Wanted::everything());
    let w = xpath(
        "/nd:server/nd:state/nd:dhcpv4/nd:counters | /nd:server/nd:state/nd:dhcpv4/nd:lease[nd:subnet-id='2']",
    );
    assert_eq!((w.v4, w.v6), (one(&[("subnet-id", "2")]), None));
}

fn lease4(last: u8, subnet: u32, client: Option<&[u8]>) -> Lease4 {
    Lease4 {
        address: Ipv4Addr::new(100, 64, 0, last),
        hwaddr: HwAddr::from_bytes(&[2, 0, 0, 0, 0, last]).unwrap(),
        client_id: client.map(crate::lease::ClientId::new),
        valid_lifetime: 3600,
        expire: 1_000_000,
        subnet_id: subnet,
        fqdn_fwd: false,
        fqdn_rev: false,
        hostname: None,
        state: crate::lease::LeaseState::Default,
        user_context: None,
    }
}

#[test]
fn engine_matches_keep_what_they_name() {
    let m = Match4::of(&LeaseMatch(
        [
            ("hw-address".to_string(), "02:00:00:00:00:07".to_string()),
            ("subnet-id".to_string(), "2".to_string()),
        ]
        .into(),
    ))
    .unwrap();
    assert!(m.keeps(&lease4(7, 2, None)));
    assert!(!m.keeps(&lease4(7, 1, None)));
    assert!(!m.keeps(&lease4(8, 2, None)));
    // client-id with or without colons, as hex_text reads it.
    let m = Match4::of(&LeaseMatch(
        [("client-id".to_string(), "0102aa".to_string())].into(),
    ))
    .unwrap();
    assert!(m.keeps(&lease4(1, 1, Some(&[1, 2, 0xaa]))));
    assert!(!m.keeps(&lease4(1, 1, None)));
    // A value no lease can have keeps nothing (and costs no engine walk).
    for (leaf, value) in [("address", "100.64.0.300"), ("subnet-id", "x")] {
        assert!(Match4::of(&LeaseMatch([(leaf.to_string(), value.to_string())].into())).is_none());
    }
    let m6 = Match6::of(&LeaseMatch(
        [
            ("type".to_string(), "ia-pd".to_string()),
            ("duid".to_string(), "00:01".to_string()),
        ]
        .into(),
    ))
    .unwrap();
    let pd = Lease6 {
        lease_type: LeaseType6::Pd,
        duid: [0u8, 1].as_slice().into(),
        ..Lease6::default()
    };
    assert!(m6.keeps(&pd));
    let na = Lease6 {
        lease_type: LeaseType6::Na,
        ..pd.clone()
    };
    assert!(!m6.keeps(&na));
}

#[test]
fn too_big_names_the_limit_the_setting_and_the_paging_rpcs() {
    let e: RpcError = LeaseStateError::TooBig { limit: 250 }.into();
    assert_eq!(e.tag, ErrorTag::TooBig);
    assert_eq!(e.error_type, ErrorType::Application);
    let message = e.message.unwrap_or_default();
    for needle in ["250", "max_leases_in_get", "get-leases4", "get-leases6"] {
        assert!(message.contains(needle), "{message}");
    }
}

fn match4(pairs: &[(&str, &str)]) -> Match4 {
    Match4::of(&lease_match(pairs)).unwrap()
}

#[test]
fn matches_naming_keys_are_looked_up_in_the_indexes() {
    let mut store = LeaseStore4::new();
    for last in 1..=20u8 {
        store.upsert(lease4(last, u32::from(last % 2) + 1, Some(&[9, last])));
    }
    let by_address = match4(&[("address", "100.64.0.7")]);
    assert!(by_address.is_indexed());
    let found: Vec<Ipv4Addr> = by_address
        .look_up(&store)
        .iter()
        .map(|l| l.address)
        .collect();
    assert_eq!(found, vec![Ipv4Addr::new(100, 64, 0, 7)]);
    // The address's lease must still pass the other leaves.
    assert!(match4(&[("address", "100.64.0.7"), ("subnet-id", "1")])
        .look_up(&store)
        .is_empty());
    let by_hw = match4(&[("subnet-id", "2"), ("hw-address", "02:00:00:00:00:09")]);
    assert!(by_hw.is_indexed());
    assert_eq!(by_hw.look_up(&store).len(), 1);
    let by_client = match4(&[("subnet-id", "1"), ("client-id", "09:0c")]);
    assert!(by_client.is_indexed());
    assert_eq!(
        by_client.look_up(&store)[0].address,
        Ipv4Addr::new(100, 64, 0, 12)
    );
    // The client indexes are per subnet: without the subnet-id, a walk.
    assert!(!match4(&[("hw-address", "02:00:00:00:00:09")]).is_indexed());
    assert!(!match4(&[("subnet-id", "1")]).is_indexed());
    assert!(match4(&[]).selects_all() && !match4(&[("subnet-id", "1")]).selects_all());

    let mut store6 = LeaseStore6::new();
    let at: Ipv6Addr = "2001:db8::5".parse().unwrap();
    for lease_type in [LeaseType6::Na, LeaseType6::Pd] {
        store6.upsert(Lease6 {
            lease_type,
            address: at,
            prefix_len: if lease_type == LeaseType6::Pd {
                64
            } else {
                128
            },
            duid: [0u8, 1].as_slice().into(),
            ..Lease6::default()
        });
    }
    let m6 = |pairs: &[(&str, &str)]| Match6::of(&lease_match(pairs)).unwrap();
    let any_type = m6(&[("address", "2001:db8::5")]);
    assert!(any_type.is_indexed());
    assert_eq!(any_type.look_up(&store6).len(), 2);
    let pd_only = m6(&[("address", "2001:db8::5"), ("type", "ia-pd")]);
    let found = pd_only.look_up(&store6);
    assert_eq!((found.len(), found[0].lease_type), (1, LeaseType6::Pd));
    assert!(!m6(&[("duid", "00:01")]).is_indexed());
}
