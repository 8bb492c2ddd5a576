//! Leases as operational state: `/server/state/dhcpv4/lease` and `/server/state/dhcpv6/lease`.
//!
//! A server may hold millions of leases, so they are never part of the state every `<get>`
//! builds. Before a get is answered its filter is inspected ([`wanted`]): only when it reaches
//! a lease list are the engines asked for the leases its content matches (address, subnet-id,
//! hw-address, client-id, duid, type) can select, and at most `max_leases_in_get` of them
//! ([`fetch`], on a task of its own: the datastore serves other requests meanwhile); more is
//! a too-big rpc-error. Matches that name their leases' keys are looked up in the store's
//! indexes; the others by one pass over the store on the engine's thread. The leases are then merged into the reply's tree like any other
//! state, so access control and the filter itself apply to them unchanged: the inspection may
//! select more leases than the filter keeps, never fewer.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use netconf::error::{ErrorTag, ErrorType, RpcError};
use netconf::rpc::{Filter, NmdaDatastore, Operation};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use yang::yang5::context::Context;

use super::lease_rpc;
use crate::ha::inbox::PeerRequest;
use crate::ha::port::HaPort;
use crate::lease::record6::LeaseType6;
use crate::lease::{hex_text, HwAddr, Lease4, Lease6, LeaseStore4, LeaseStore6};

/// `max_leases_in_get` when the settings do not say.
pub const DEFAULT_MAX_LEASES_IN_GET: usize = 10_000;
/// The module owning the lease lists, as libyang names it in JSON paths.
const MODULE: &str = "netdhcp-server";
/// Leaf names of a DHCPv4 `lease` whose content matches the engine applies.
const ENGINE_MATCHES4: &[&str] = &["address", "subnet-id", "hw-address", "client-id"];
/// Leaf names of a DHCPv6 `lease` whose content matches the engine applies.
const ENGINE_MATCHES6: &[&str] = &["type", "address", "subnet-id", "duid"];
/// How long a get waits for an engine before it gives up.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(30);

/// One `lease` node a filter reaches: its content matches the engine can apply, by leaf name,
/// values as sent. No matches: every lease.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseMatch(pub BTreeMap<String, String>);

/// The leases a filter may select, per family: `None` when it does not reach that family's
/// lease list; otherwise the leases any one of the matches keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// `/server/state/dhcpv4/lease`.
    pub v4: Option<Vec<LeaseMatch>>,
    /// `/server/state/dhcpv6/lease`.
    pub v6: Option<Vec<LeaseMatch>>,
}

/// A family of lease lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn of(name: &str) -> Option<Family> {
        match name {
            "dhcpv4" => Some(Family::V4),
            "dhcpv6" => Some(Family::V6),
            _ => None,
        }
    }

    fn engine_matches(self) -> &'static [&'static str] {
        match self {
            Family::V4 => ENGINE_MATCHES4,
            Family::V6 => ENGINE_MATCHES6,
        }
    }
}

impl Wanted {
    /// Whether no lease list is reached: the get costs no engine query.
    pub fn is_empty(&self) -> bool {
        self.v4.is_none() && self.v6.is_none()
    }

    fn everything() -> Wanted {
        Wanted {
            v4: Some(vec![LeaseMatch::default()]),
            v6: Some(vec![LeaseMatch::default()]),
        }
    }

    fn add(&mut self, family: Family, m: LeaseMatch) {
        let list = match family {
            Family::V4 => &mut self.v4,
            Family::V6 => &mut self.v6,
        };
        let list = list.get_or_insert_with(Vec::new);
        if list.first().is_some_and(|all| all.0.is_empty()) {
            return;
        }
        if m.0.is_empty() {
            list.clear();
        }
        if !list.contains(&m) {
            list.push(m);
        }
    }

    fn add_all(&mut self, family: Family) {
        self.add(family, LeaseMatch::default());
    }

    fn merge(&mut self, other: Wanted) {
        for (family, list) in [(Family::V4, other.v4), (Family::V6, other.v6)] {
            for m in list.into_iter().flatten() {
                self.add(family, m);
            }
        }
    }
}

/// The leases a get with `filter` may select (no filter: all of them). A filter that does not
/// parse reaches nothing here; the filter step answers its error.
pub fn wanted(ctx: &Context, filter: Option<&Filter>) -> Wanted {
    match filter {
        None => Wanted::everything(),
        Some(Filter::Subtree(xml)) => subtree_wanted(xml).unwrap_or_default(),
        Some(Filter::XPath { select, namespaces }) => {
            match super::filter::xpath_to_module_prefixes(ctx, select, namespaces) {
                Ok(expr) => xpath_wanted(&expr),
                Err(_) => Wanted::default(),
            }
        }
    }
}

/// The filter of an operation reading the operational state (`<get>`, `<get-data>` of
/// ds:operational unless it keeps only configuration); `None` for any other operation.
pub fn filter_of(op: &Operation) -> Option<Option<&Filter>> {
    match op {
        Operation::Get { filter, .. } => Some(filter.as_ref()),
        Operation::GetData(request)
            if request.datastore == NmdaDatastore::Operational
                && request.config_filter != Some(true) =>
        {
            Some(request.filter.as_ref())
        }
        _ => None,
    }
}

/// The part of `wanted` `user` may read: a lease list access control denies would be pruned
/// from the reply, so its engine is not asked and its size cannot make the get too-big.
pub fn readable_part(
    access: &super::nacm::AccessControl,
    user: &str,
    mut wanted: Wanted,
) -> Wanted {
    if !access.reads_everything(user) {
        if !readable(access, user, "dhcpv4") {
            wanted.v4 = None;
        }
        if !readable(access, user, "dhcpv6") {
            wanted.v6 = None;
        }
    }
    wanted
}

/// An element of a subtree filter: its namespace, name, text and children.
#[derive(Debug, Default)]
struct Node {
    namespace: String,
    name: String,
    text: String,
    children: Vec<Node>,
}

impl Node {
    /// A content-match node (RFC 6241 section 6.2.5): a leaf with a value.
    fn is_content_match(&self) -> bool {
        self.children.is_empty() && !self.text.is_empty()
    }

    /// Selects the whole node: a selection node, or one with only content matches below.
    fn selects_all(&self) -> bool {
        self.children.iter().all(Node::is_content_match)
    }

    fn is_ours(&self, name: &str) -> bool {
        self.namespace == yang::paths::NAMESPACE && self.name == name
    }

    /// Children that select something below them (containment and selection nodes).
    fn branches(&self) -> impl Iterator<Item = &Node> {
        self.children.iter().filter(|c| !c.is_content_match())
    }
}

fn parse_subtree(xml: &str) -> Option<Vec<Node>> {
    let mut reader = NsReader::from_str(xml);
    let mut stack = vec![Node::default()];
    loop {
        let (ns, event) = reader.read_resolved_event().ok()?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let namespace = match ns {
                    ResolveResult::Bound(n) => String::from_utf8_lossy(n.as_ref()).into_owned(),
                    _ => String::new(),
                };
                let node = Node {
                    namespace,
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Node::default()
                };
                if matches!(event, Event::Empty(_)) {
                    stack.last_mut()?.children.push(node);
                } else {
                    stack.push(node);
                }
            }
            Event::Text(t) => {
                let text = t.unescape().ok()?;
                stack.last_mut()?.text.push_str(text.trim());
            }
            Event::End(_) => {
                let done = stack.pop()?;
                stack.last_mut()?.children.push(done);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let root = stack.pop()?;
    stack.is_empty().then_some(root.children)
}

fn subtree_wanted(xml: &str) -> Option<Wanted> {
    let mut wanted = Wanted::default();
    for server in parse_subtree(xml)?.iter().filter(|n| n.is_ours("server")) {
        if server.selects_all() {
            return Some(Wanted::everything());
        }
        for state in server.branches().filter(|n| n.is_ours("state")) {
            if state.selects_all() {
                return Some(Wanted::everything());
            }
            for family_node in state.branches() {
                let Some(family) = Family::of(&family_node.name)
                    .filter(|_| family_node.namespace == yang::paths::NAMESPACE)
                else {
                    continue;
                };
                if family_node.selects_all() {
                    wanted.add_all(family);
                    continue;
                }
                for lease in family_node.branches().filter(|n| n.is_ours("lease")) {
                    let matches = lease
                        .children
                        .iter()
                        .filter(|c| c.is_content_match())
                        .filter(|c| c.namespace == yang::paths::NAMESPACE)
                        .filter(|c| family.engine_matches().contains(&c.name.as_str()))
                        .map(|c| (c.name.clone(), c.text.clone()))
                        .collect();
                    wanted.add(family, LeaseMatch(matches));
                }
            }
        }
    }
    Some(wanted)
}

/// Splits `text` at `sep` where it is outside quotes and brackets.
fn split_outside(text: &str, sep: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut current = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if quote.is_none() && depth == 0 && rest.starts_with(sep) {
            parts.push(std::mem::take(&mut current));
            rest = &rest[sep.len()..];
            continue;
        }
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[' | '(') => depth += 1,
            (None, ']' | ')') => depth = depth.saturating_sub(1),
            _ => {}
        }
        current.push(c);
        rest = &rest[c.len_utf8()..];
    }
    parts.push(current);
    parts
}

/// `text` without its predicates (`[...]`, quotes respected).
fn without_predicates(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, c) if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// One location step: module (if written), name, predicate bodies.
struct Step {
    module: Option<String>,
    name: String,
    predicates: Vec<String>,
}

fn parse_step(text: &str) -> Option<Step> {
    let text = text.trim();
    let head_end = text.find('[').unwrap_or(text.len());
    let (head, mut tail) = text.split_at(head_end);
    let (module, name) = match head.split_once(':') {
        Some((m, n)) => (Some(m.to_string()), n.to_string()),
        None => (None, head.to_string()),
    };
    let mut predicates = Vec::new();
    while !tail.is_empty() {
        let body = tail.strip_prefix('[')?;
        let mut parts = split_outside(body, "]");
        if parts.len() < 2 {
            return None;
        }
        let inner = parts.remove(0);
        predicates.push(inner.clone());
        tail = &body[inner.len() + 1..];
    }
    Some(Step {
        module,
        name,
        predicates,
    })
}

/// `name = 'value'` (or `"value"`, or a bare number), module prefix allowed on the name.
fn equality(term: &str) -> Option<(String, String)> {
    let (name, value) = term.split_once('=')?;
    let name = name.trim();
    if name.ends_with(['!', '<', '>']) {
        return None;
    }
    let name = name.rsplit_once(':').map_or(name, |(_, n)| n);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return None;
    }
    let value = value.trim();
    let unquoted = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')));
    let value = match unquoted {
        Some(v) => v,
        None if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) => value,
        None => return None,
    };
    Some((name.to_string(), value.to_string()))
}

/// The engine's content matches of a `lease` step's predicates: equalities joined by `and`;
/// anything else is left to the filter step (it can only narrow the selection).
fn predicate_matches(family: Family, predicates: &[String]) -> LeaseMatch {
    let mut matches = BTreeMap::new();
    for p in predicates {
        if split_outside(p, " or ").len() > 1 {
            continue;
        }
        for term in split_outside(p, " and ") {
            if let Some((name, value)) = equality(&term) {
                if family.engine_matches().contains(&name.as_str()) {
                    matches.insert(name, value);
                }
            }
        }
    }
    LeaseMatch(matches)
}

/// What one location path (no `|`) reaches; XPath forms this does not follow (`//`, `*`,
/// axes, functions) are taken to reach every lease.
fn path_wanted(path: &str) -> Wanted {
    let path = path.trim();
    let Some(relative) = path.strip_prefix('/') else {
        return Wanted::everything();
    };
    if relative.is_empty() {
        return Wanted::everything();
    }
    let outside_predicates = without_predicates(relative);
    if relative.starts_with('/')
        || ["//", "*", "..", "::", "("]
            .iter()
            .any(|s| outside_predicates.contains(s))
    {
        // `/other-module:top//x` still cannot reach our lists.
        let first = split_outside(relative, "/").into_iter().next();
        if first
            .and_then(|f| parse_step(&f))
            .is_some_and(|s| s.module.is_some_and(|m| m != MODULE) && !s.name.contains('*'))
        {
            return Wanted::default();
        }
        return Wanted::everything();
    }
    let mut wanted = Wanted::default();
    let Some(steps) = split_outside(relative, "/")
        .iter()
        .map(|s| parse_step(s))
        .collect::<Option<Vec<_>>>()
    else {
        return Wanted::everything();
    };
    let names = ["server", "state"];
    let mut family = None;
    for (i, step) in steps.iter().enumerate() {
        // A step without prefix is in its parent's module (or, at the top, maybe ours).
        let module_ok = step.module.as_deref().is_none_or(|m| m == MODULE);
        if !module_ok {
            return Wanted::default();
        }
        match i {
            0 | 1 if step.name == names[i] => {}
            2 => match Family::of(&step.name) {
                Some(f) => family = Some(f),
                None => return Wanted::default(),
            },
            3 if step.name == "lease" => {
                if let Some(f) = family {
                    wanted.add(f, predicate_matches(f, &step.predicates));
                }
                return wanted;
            }
            _ => return Wanted::default(),
        }
    }
    match family {
        Some(f) => wanted.add_all(f),
        None => return Wanted::everything(),
    }
    wanted
}

fn xpath_wanted(expr: &str) -> Wanted {
    let mut wanted = Wanted::default();
    for path in split_outside(expr, "|") {
        wanted.merge(path_wanted(&path));
    }
    wanted
}

/// Keeps a DHCPv4 lease one match (all its leaves) keeps; values that cannot be a lease's
/// make a match that keeps none.
struct Match4 {
    address: Option<Ipv4Addr>,
    subnet_id: Option<u32>,
    hw_address: Option<HwAddr>,
    client_id: Option<Vec<u8>>,
}

impl Match4 {
    fn of(m: &LeaseMatch) -> Option<Match4> {
        let leaf = |name: &str| m.0.get(name).map(String::as_str);
        Some(Match4 {
            address: leaf("address").map(str::parse).transpose().ok()?,
            subnet_id: leaf("subnet-id").map(str::parse).transpose().ok()?,
            hw_address: leaf("hw-address").map(str::parse).transpose().ok()?,
            client_id: leaf("client-id").map(hex_text::decode).transpose().ok()?,
        })
    }
}

/// As [`Match4`], for DHCPv6.
struct Match6 {
    lease_type: Option<LeaseType6>,
    address: Option<Ipv6Addr>,
    subnet_id: Option<u32>,
    duid: Option<Vec<u8>>,
}

impl Match6 {
    fn of(m: &LeaseMatch) -> Option<Match6> {
        let leaf = |name: &str| m.0.get(name).map(String::as_str);
        let lease_type = match leaf("type") {
            None => None,
            Some("ia-na") => Some(LeaseType6::Na),
            Some("ia-ta") => Some(LeaseType6::Ta),
            Some("ia-pd") => Some(LeaseType6::Pd),
            Some(_) => return None,
        };
        Some(Match6 {
            lease_type,
            address: leaf("address").map(str::parse).transpose().ok()?,
            subnet_id: leaf("subnet-id").map(str::parse).transpose().ok()?,
            duid: leaf("duid").map(hex_text::decode).transpose().ok()?,
        })
    }
}

/// Why the leases a get selects cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum LeaseStateError {
    /// More leases than the setting allows.
    #[error(
        "the request selects more than {limit} leases (max_leases_in_get in the [netconf] table \
         of the start-up settings); filter on address, subnet-id, hw-address, client-id or \
         duid, or list the leases a page at a time with the get-leases4 and get-leases6 RPCs"
    )]
    TooBig {
        /// The setting's value.
        limit: usize,
    },
    /// An engine did not answer.
    #[error("the DHCP{family} engine did not answer the lease listing")]
    Engine {
        /// "v4" or "v6".
        family: &'static str,
    },
}

impl From<LeaseStateError> for RpcError {
    fn from(e: LeaseStateError) -> RpcError {
        let tag = match e {
            LeaseStateError::TooBig { .. } => ErrorTag::TooBig,
            LeaseStateError::Engine { .. } => ErrorTag::OperationFailed,
        };
        RpcError::new(ErrorType::Application, tag).with_message(e.to_string())
    }
}

/// Runs `look` on the family's engine thread against its lease store and returns its answer.
async fn look_up<L: crate::ha::family::PeerLease, T: Send + 'static>(
    port: &HaPort,
    family: &'static str,
    look: impl FnOnce(&L::Store) -> T + Send + 'static,
) -> Result<T, LeaseStateError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    L::inbox(port).send(PeerRequest::Lookup(Box::new(move |store: &L::Store| {
        // The requester may have given up (timeout); nothing to undo.
        let _ = tx.send(look(store));
    })));
    tokio::time::timeout(ENGINE_TIMEOUT, rx)
        .await
        .map_err(|_| LeaseStateError::Engine { family })?
        .map_err(|_| LeaseStateError::Engine { family })
}

/// How a family's matches are served, cheapest first: through the store's indexes when every
/// match names its leases' keys (one request, whatever the lease count); too-big at once when
/// a match keeps every lease and the store holds more than may be given; else the paged walk.
trait Selection: Send + Sync + 'static {
    type Lease: crate::ha::family::PeerLease;
    /// "v4" or "v6", for errors.
    const FAMILY: &'static str;
    /// Whether the store's indexes find this match's leases.
    fn is_indexed(&self) -> bool;
    /// Whether it keeps every lease.
    fn selects_all(&self) -> bool;
    /// The leases it keeps, found through the store's indexes (for an indexed match).
    fn look_up(&self, store: &StoreOf<Self>) -> Vec<Self::Lease>;
    /// Whether it keeps `lease`.
    fn keeps(&self, lease: &Self::Lease) -> bool;
    /// How many leases the store holds.
    fn store_len(store: &StoreOf<Self>) -> usize;
    /// Every lease of the store, in its own order.
    fn scan(store: &StoreOf<Self>) -> impl Iterator<Item = &Self::Lease>;
    /// Where a lease sorts in a reply (address order, as the get-leases RPCs list) and what
    /// makes two finds one.
    fn order(lease: &Self::Lease) -> (u128, u8);
    /// How many leases at most the match selects, when it names them.
    fn at_most(&self) -> Option<usize>;
}

type StoreOf<M> = <<M as Selection>::Lease as crate::ha::family::PeerLease>::Store;

impl Selection for Match4 {
    type Lease = Lease4;
    const FAMILY: &'static str = "v4";
    // An address, or a client-id or hardware address with the subnet-id (the client indexes
    // are per subnet).
    fn is_indexed(&self) -> bool {
        self.address.is_some()
            || self.subnet_id.is_some() && (self.client_id.is_some() || self.hw_address.is_some())
    }

    fn selects_all(&self) -> bool {
        self.address.is_none()
            && self.subnet_id.is_none()
            && self.hw_address.is_none()
            && self.client_id.is_none()
    }

    fn look_up(&self, store: &LeaseStore4) -> Vec<Lease4> {
        let keep = |l: &&Lease4| self.keeps(l);
        match (self.address, self.subnet_id) {
            (Some(a), _) => store.get(a).filter(keep).cloned().into_iter().collect(),
            (None, Some(subnet)) => match (&self.client_id, &self.hw_address) {
                (Some(id), _) => store
                    .all_by_client_id(subnet, id)
                    .filter(keep)
                    .cloned()
                    .collect(),
                (None, Some(hw)) => store
                    .all_by_hwaddr(subnet, hw)
                    .filter(keep)
                    .cloned()
                    .collect(),
                (None, None) => Vec::new(),
            },
            (None, None) => Vec::new(),
        }
    }

    fn keeps(&self, l: &Lease4) -> bool {
        self.address.is_none_or(|a| l.address == a)
            && self.subnet_id.is_none_or(|s| l.subnet_id == s)
            && self.hw_address.is_none_or(|h| l.hwaddr == h)
            && self
                .client_id
                .as_deref()
                .is_none_or(|c| l.client_id.as_deref() == Some(c))
    }

    fn store_len(store: &LeaseStore4) -> usize {
        store.len()
    }

    fn scan(store: &LeaseStore4) -> impl Iterator<Item = &Lease4> {
        store.iter()
    }

    fn order(lease: &Lease4) -> (u128, u8) {
        (u128::from(u32::from(lease.address)), 0)
    }

    fn at_most(&self) -> Option<usize> {
        self.address.map(|_| 1)
    }
}

impl Selection for Match6 {
    type Lease = Lease6;
    const FAMILY: &'static str = "v6";
    fn is_indexed(&self) -> bool {
        self.address.is_some()
    }

    fn selects_all(&self) -> bool {
        self.lease_type.is_none()
            && self.address.is_none()
            && self.subnet_id.is_none()
            && self.duid.is_none()
    }

    fn look_up(&self, store: &LeaseStore6) -> Vec<Lease6> {
        let Some(address) = self.address else {
            return Vec::new();
        };
        let types = match self.lease_type {
            Some(t) => vec![t],
            None => vec![LeaseType6::Na, LeaseType6::Ta, LeaseType6::Pd],
        };
        types
            .into_iter()
            .filter_map(|t| store.get((t, address)))
            .filter(|l| self.keeps(l))
            .cloned()
            .collect()
    }

    fn keeps(&self, l: &Lease6) -> bool {
        self.lease_type.is_none_or(|t| l.lease_type == t)
            && self.address.is_none_or(|a| l.address == a)
            && self.subnet_id.is_none_or(|s| l.subnet_id == s)
            && self.duid.as_deref().is_none_or(|d| &*l.duid == d)
    }

    fn store_len(store: &LeaseStore6) -> usize {
        store.len()
    }

    fn scan(store: &LeaseStore6) -> impl Iterator<Item = &Lease6> {
        store.iter()
    }

    fn order(lease: &Lease6) -> (u128, u8) {
        (u128::from(lease.address), lease.lease_type as u8)
    }

    fn at_most(&self) -> Option<usize> {
        // An address is leased at most once per lease type.
        self.address
            .map(|_| if self.lease_type.is_some() { 1 } else { 3 })
    }
}

/// The leases any of `matches` keeps, at most `room` of them (more: too-big naming `max`).
async fn select<M: Selection>(
    port: &HaPort,
    matches: Vec<M>,
    room: usize,
    max: usize,
) -> Result<Vec<M::Lease>, LeaseStateError> {
    let too_big = LeaseStateError::TooBig { limit: max };
    let matches = std::sync::Arc::new(matches);
    if matches.iter().all(M::is_indexed) {
        let wanted = matches.clone();
        let found = look_up::<M::Lease, _>(port, M::FAMILY, move |store| {
            let mut found: Vec<M::Lease> = wanted.iter().flat_map(|m| m.look_up(store)).collect();
            found.sort_unstable_by_key(M::order);
            found.dedup_by_key(|l| M::order(l));
            found
        })
        .await?;
        return if found.len() > room {
            Err(too_big)
        } else {
            Ok(found)
        };
    }
    if matches.iter().any(M::selects_all)
        && look_up::<M::Lease, _>(port, M::FAMILY, M::store_len).await? > room
    {
        return Err(too_big);
    }
    // One pass over the store in its own order (no sorted snapshot, no lookup per lease),
    // stopping at the first `room + 1` finds; matches that each name their leases stop it
    // sooner.
    let bound = matches
        .iter()
        .map(M::at_most)
        .sum::<Option<usize>>()
        .map_or(room + 1, |n| n.min(room + 1));
    let mut leases = look_up::<M::Lease, _>(port, M::FAMILY, move |store| {
        M::scan(store)
            .filter(|l| matches.iter().any(|m| m.keeps(l)))
            .take(bound)
            .cloned()
            .collect::<Vec<M::Lease>>()
    })
    .await?;
    if leases.len() > room {
        return Err(too_big);
    }
    leases.sort_unstable_by_key(M::order);
    Ok(leases)
}

/// The leases `wanted` selects as a `/server/state` document to merge into a get's state,
/// or too-big when they are more than `max` (both families together). No engine is asked
/// for a family the filter does not reach.
pub async fn fetch(port: &HaPort, wanted: &Wanted, max: usize) -> Result<String, RpcError> {
    let mut x = format!("<server xmlns=\"{}\"><state>", yang::paths::NAMESPACE);
    let mut held = 0usize;
    if let Some(matches) = &wanted.v4 {
        let matches: Vec<Match4> = matches.iter().filter_map(Match4::of).collect();
        if !matches.is_empty() {
            let leases = select(port, matches, max, max).await?;
            held += leases.len();
            x.push_str("<dhcpv4>");
            for l in &leases {
                lease_rpc::lease4_xml(l, &mut x);
            }
            x.push_str("</dhcpv4>");
        }
    }
    if let Some(matches) = &wanted.v6 {
        let matches: Vec<Match6> = matches.iter().filter_map(Match6::of).collect();
        if !matches.is_empty() {
            let leases = select(port, matches, max - held, max).await?;
            held += leases.len();
            x.push_str("<dhcpv6>");
            for l in &leases {
                lease_rpc::lease6_xml(l, &mut x);
            }
            x.push_str("</dhcpv6>");
        }
    }
    tracing::debug!(leases = held, "leases read for a get");
    let _ = write!(x, "</state></server>");
    Ok(x)
}

/// Whether `user` may read the lease list of `family` ("dhcpv4", "dhcpv6"), judged on the
/// list without keys: rules on the list or an ancestor count, rules naming one lease do not.
fn readable(access: &super::nacm::AccessControl, user: &str, family: &str) -> bool {
    use super::nacm::rules::Step;
    let step = |name: &str| Step {
        module: Some(MODULE.to_string()),
        name: name.to_string(),
        keys: Vec::new(),
    };
    let path = [step("server"), step("state"), step(family), step("lease")];
    access
        .rules()
        .may_access_data(&access.subject(user), &path, super::nacm::Access::READ)
        .permitted()
}

#[cfg(test)]
#[path = "lease_state_tests.rs"]
mod tests;
