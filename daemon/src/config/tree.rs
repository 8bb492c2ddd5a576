//! Small readers over the validated data tree. Only the config module uses them: the packet
//! path never sees YANG.

use std::path::PathBuf;
use std::time::Duration;

use yang::paths;
use yang::yang5::data::{Data, DataNodeRef, DataTree};

use super::{Durability, LeaseDbConfig};

/// The root of a configuration tree.
pub(super) struct Root<'t, 'a> {
    tree: &'t DataTree<'a>,
}

impl<'t, 'a> Root<'t, 'a> {
    pub(super) fn new(tree: &'t DataTree<'a>) -> Self {
        Root { tree }
    }

    /// The node at an absolute schema path, if instantiated.
    pub(super) fn node(&self, path: &str) -> Option<Node<'t>> {
        let set = self.tree.find_xpath(path).ok()?;
        let node = set.into_iter().next()?;
        Some(Node { node })
    }
}

/// One data node, read by child names.
pub(super) struct Node<'t> {
    node: DataNodeRef<'t>,
}

impl<'t> Node<'t> {
    /// Data path, for error messages.
    pub(super) fn path(&self) -> String {
        self.node.path()
    }

    /// Canonical value of the child leaf `name`.
    pub(super) fn leaf(&self, name: &str) -> Option<String> {
        self.node
            .children()
            .find(|c| c.schema().name() == name)
            .and_then(|c| c.value_canonical())
    }

    /// Values of the leaf-list `name`, in data order.
    pub(super) fn leaf_list(&self, name: &str) -> Vec<String> {
        self.node
            .children()
            .filter(|c| c.schema().name() == name)
            .filter_map(|c| c.value_canonical())
            .collect()
    }

    /// Every instance of the child list `name`.
    pub(super) fn list(&self, name: &str) -> Vec<Node<'t>> {
        self.node
            .children()
            .filter(|c| c.schema().name() == name)
            .map(|node| Node { node })
            .collect()
    }

    /// A leaf parsed with `FromStr`; libyang has validated its type, so a parse failure here
    /// is reported as a configuration error rather than trusted.
    pub(super) fn parsed<T: std::str::FromStr>(
        &self,
        name: &str,
        errors: &mut Vec<super::ConfigError>,
    ) -> Option<T> {
        let raw = self.leaf(name)?;
        match raw.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                errors.push(super::ConfigError::new(
                    format!("{}/{name}", self.path()),
                    format!("cannot read value {raw:?}"),
                ));
                None
            }
        }
    }
}

pub(super) fn read_lease_db(root: &Root<'_, '_>) -> LeaseDbConfig {
    let db = root.node(paths::LEASE_DATABASE);
    let leaf = |name: &str| db.as_ref().and_then(|n| n.leaf(name));
    LeaseDbConfig {
        memfile_v4: PathBuf::from(leaf("memfile-v4").unwrap_or_else(|| "leases4.csv".into())),
        memfile_v6: PathBuf::from(leaf("memfile-v6").unwrap_or_else(|| "leases6.csv".into())),
        durability: match leaf("durability").as_deref() {
            Some("none") => Durability::None,
            _ => Durability::Fsync,
        },
        compaction_interval: leaf("compaction-interval")
            .map_or(Some(3600), |v| v.parse::<u64>().ok())
            .filter(|secs| *secs > 0)
            .map(Duration::from_secs),
        max_bad_rows: leaf("max-bad-rows")
            .and_then(|v| v.parse().ok())
            .unwrap_or(100),
    }
}
