//! A small element tree for the netdhcp instance document, written with the model's
//! namespace on the root and children in the order they were added (the converters add
//! them in schema order, list keys first).

/// The netdhcp-server module's namespace.
pub const NAMESPACE: &str = "urn:netdhcp:yang:netdhcp-server";

/// An XML element: text (a leaf) or children (a container or list entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    name: String,
    text: Option<String>,
    children: Vec<Element>,
}

impl Element {
    /// An element with children to come.
    pub fn node(name: &str) -> Element {
        Element {
            name: name.to_string(),
            text: None,
            children: Vec::new(),
        }
    }

    /// A leaf with its value.
    pub fn leaf(name: &str, value: impl ToString) -> Element {
        Element {
            name: name.to_string(),
            text: Some(value.to_string()),
            children: Vec::new(),
        }
    }

    /// Adds a child.
    pub fn push(&mut self, child: Element) {
        self.children.push(child);
    }

    /// Adds a leaf when `value` is set.
    pub fn push_opt(&mut self, name: &str, value: Option<impl ToString>) {
        if let Some(v) = value {
            self.push(Element::leaf(name, v));
        }
    }

    /// Adds one leaf per value (a leaf-list).
    pub fn push_all<T: std::fmt::Display>(&mut self, name: &str, values: &[T]) {
        for v in values {
            self.push(Element::leaf(name, v));
        }
    }

    /// Its children, taken out.
    pub fn into_children(self) -> Vec<Element> {
        self.children
    }

    /// Whether it has no children and no text.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty() && self.text.is_none()
    }

    /// The child named `name`, if any.
    pub fn find(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Its text, for a leaf.
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// The children named `name`.
    pub fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Element> + 's {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The document: XML declaration, `comment` (if any), then this element as the root,
    /// carrying the model's namespace.
    pub fn to_document(&self, comment: Option<&str>) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        if let Some(c) = comment {
            // "--" may not appear inside an XML comment.
            out.push_str(&format!("<!--\n{}\n-->\n", c.replace("--", "- -")));
        }
        self.write(&mut out, 0, true);
        out
    }

    fn write(&self, out: &mut String, depth: usize, root: bool) {
        let indent = "  ".repeat(depth);
        out.push_str(&indent);
        out.push('<');
        out.push_str(&self.name);
        if root {
            out.push_str(&format!(" xmlns=\"{NAMESPACE}\""));
        }
        match (&self.text, self.children.is_empty()) {
            (Some(text), _) => {
                out.push('>');
                out.push_str(&escape(text));
                out.push_str(&format!("</{}>\n", self.name));
            }
            (None, true) => out.push_str("/>\n"),
            (None, false) => {
                out.push_str(">\n");
                for c in &self.children {
                    c.write(out, depth + 1, false);
                }
                out.push_str(&format!("{indent}</{}>\n", self.name));
            }
        }
    }
}

fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            _ => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_nested_elements_with_namespace_and_escapes() {
        let mut root = Element::node("server");
        let mut v4 = Element::node("dhcpv4");
        v4.push(Element::leaf("interface", "eth0"));
        v4.push_opt("valid-lifetime", Some(4000));
        v4.push_opt("renew-timer", None::<u32>);
        root.push(v4);
        let mut basic = Element::node("basic-auth");
        basic.push(Element::leaf("password", "a<b&c"));
        root.push(basic);
        let doc = root.to_document(Some("from kea -- test"));
        assert_eq!(
            doc,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!--\nfrom kea - - test\n-->\n\
             <server xmlns=\"urn:netdhcp:yang:netdhcp-server\">\n  <dhcpv4>\n    \
             <interface>eth0</interface>\n    <valid-lifetime>4000</valid-lifetime>\n  \
             </dhcpv4>\n  <basic-auth>\n    <password>a&lt;b&amp;c</password>\n  \
             </basic-auth>\n</server>\n"
        );
    }
}
