//! What a Kea setting became when it could not be carried over, with its JSON path, and a
//! walker over Kea objects that reports every key nobody read.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

/// The reason given for a Kea key netdhcp has no equivalent for.
pub const DROPPED: &str = "not supported, dropped";

/// One Kea setting the converted document does not express (or expresses differently).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// JSON path in the Kea configuration, e.g. `Dhcp4/subnet4[0]/relay/ip-addresses`.
    pub path: String,
    /// What happened to it, e.g. `not supported, dropped`.
    pub reason: String,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// Every setting the conversion could not express, in the order met.
#[derive(Debug, Default)]
pub struct Report {
    items: Vec<Unsupported>,
}

impl Report {
    /// Records `path` with `reason`.
    pub fn add(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.items.push(Unsupported {
            path: path.into(),
            reason: reason.into(),
        });
    }

    /// Records `path` as not supported and dropped.
    pub fn dropped(&mut self, path: impl Into<String>) {
        self.add(path, DROPPED);
    }

    /// The entries recorded so far.
    pub fn into_items(self) -> Vec<Unsupported> {
        self.items
    }
}

/// `path/key`.
pub fn child(path: &str, key: &str) -> String {
    format!("{path}/{key}")
}

/// `path/key[index]`.
pub fn item(path: &str, key: &str, index: usize) -> String {
    format!("{path}/{key}[{index}]")
}

/// A Kea JSON object being converted: each key read is marked, and `finish` reports the
/// others as dropped, so no setting disappears silently.
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    path: String,
    read: BTreeSet<&'a str>,
}

impl<'a> Fields<'a> {
    /// The object at `value` (path `path`); None, reported, when it is not an object.
    pub fn of(value: &'a Value, path: &str, report: &mut Report) -> Option<Fields<'a>> {
        match value.as_object() {
            Some(object) => Some(Fields {
                object,
                path: path.to_string(),
                read: BTreeSet::new(),
            }),
            None => {
                report.add(path, "expected a JSON object, dropped");
                None
            }
        }
    }

    /// This object's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path of one of its keys.
    pub fn path_of(&self, key: &str) -> String {
        child(&self.path, key)
    }

    /// The value of `key`, marked as read.
    pub fn get(&mut self, key: &str) -> Option<&'a Value> {
        let (k, v) = self.object.get_key_value(key)?;
        self.read.insert(k.as_str());
        Some(v)
    }

    /// Marks `key` as read without converting it: it needs no counterpart.
    pub fn ignore(&mut self, key: &str) {
        self.get(key);
    }

    /// Reports `key`, if present, with `reason` (it is read: `finish` will not report it again).
    pub fn report_if_present(&mut self, key: &str, reason: &str, report: &mut Report) {
        if self.get(key).is_some() {
            report.add(self.path_of(key), reason);
        }
    }

    /// A string value; a value of another type is reported and dropped.
    pub fn string(&mut self, key: &str, report: &mut Report) -> Option<&'a str> {
        let v = self.get(key)?;
        let s = v.as_str();
        if s.is_none() {
            report.add(self.path_of(key), "expected a string, dropped");
        }
        s
    }

    /// A boolean value; a value of another type is reported and dropped.
    pub fn boolean(&mut self, key: &str, report: &mut Report) -> Option<bool> {
        let v = self.get(key)?;
        let b = v.as_bool();
        if b.is_none() {
            report.add(self.path_of(key), "expected true or false, dropped");
        }
        b
    }

    /// An unsigned 32-bit value; anything else is reported and dropped.
    pub fn u32(&mut self, key: &str, report: &mut Report) -> Option<u32> {
        let v = self.get(key)?;
        let n = v.as_u64().and_then(|n| u32::try_from(n).ok());
        if n.is_none() {
            report.add(
                self.path_of(key),
                "expected an unsigned 32-bit integer, dropped",
            );
        }
        n
    }

    /// An array value (its items with their paths); anything else is reported and dropped.
    pub fn array(&mut self, key: &str, report: &mut Report) -> Vec<(String, &'a Value)> {
        let Some(v) = self.get(key) else {
            return Vec::new();
        };
        match v.as_array() {
            Some(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (item(&self.path, key, i), v))
                .collect(),
            None => {
                report.add(self.path_of(key), "expected a JSON array, dropped");
                Vec::new()
            }
        }
    }

    /// Reports every key not read, as dropped.
    pub fn finish(self, report: &mut Report) {
        for key in self.object.keys() {
            if !self.read.contains(key.as_str()) {
                report.dropped(child(&self.path, key));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unread_keys_are_reported_with_their_path() {
        let v = json!({"subnet": "100.64.0.0/24", "relay": {"ip-addresses": []}, "id": "x"});
        let mut report = Report::default();
        let mut f = Fields::of(&v, "Dhcp4/subnet4[0]", &mut report).unwrap();
        assert_eq!(f.string("subnet", &mut report), Some("100.64.0.0/24"));
        assert_eq!(f.u32("id", &mut report), None);
        f.finish(&mut report);
        let lines: Vec<String> = report.into_items().iter().map(|u| u.to_string()).collect();
        assert_eq!(
            lines,
            vec![
                "Dhcp4/subnet4[0]/id: expected an unsigned 32-bit integer, dropped",
                "Dhcp4/subnet4[0]/relay: not supported, dropped",
            ]
        );
    }

    #[test]
    fn arrays_carry_item_paths() {
        let v = json!({"pools": [{"pool": "a"}, {"pool": "b"}], "x": 1});
        let mut report = Report::default();
        let mut f = Fields::of(&v, "Dhcp4/subnet4[2]", &mut report).unwrap();
        let items = f.array("pools", &mut report);
        assert_eq!(items[1].0, "Dhcp4/subnet4[2]/pools[1]");
        assert!(f.array("x", &mut report).is_empty());
        f.ignore("x");
        f.finish(&mut report);
        assert_eq!(
            report.into_items()[0].to_string(),
            "Dhcp4/subnet4[2]/x: expected a JSON array, dropped"
        );
    }

    #[test]
    fn a_non_object_is_reported() {
        let mut report = Report::default();
        assert!(Fields::of(&json!([1]), "Dhcp6", &mut report).is_none());
        assert_eq!(
            report.into_items()[0].to_string(),
            "Dhcp6: expected a JSON object, dropped"
        );
    }
}
