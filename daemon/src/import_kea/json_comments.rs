//! Kea's JSON dialect: comments (`//`, `#`, `/* */`) and `<?include "file"?>` directives
//! around otherwise plain JSON. Comments are blanked out (newlines kept, so the JSON parser's
//! line numbers still point into the original file); include directives are blanked out too
//! and returned, since their contents are not converted.

/// An `<?include ... ?>` directive found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// 1-based line of the directive.
    pub line: usize,
    /// The directive as written, e.g. `<?include "subnets.json"?>`.
    pub directive: String,
}

/// Why the text could not be made plain JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommentError {
    /// A `/*` comment never ends.
    #[error("line {0}: /* comment is not closed")]
    UnclosedComment(usize),
    /// A `<?` directive never ends.
    #[error("line {0}: <? directive is not closed with ?>")]
    UnclosedDirective(usize),
}

/// `text` with comments and include directives replaced by blanks, and the directives found.
pub fn strip(text: &str) -> Result<(String, Vec<Include>), CommentError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut includes = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // Replaces bytes[from..to] by blanks, keeping its newlines.
    let blank = |out: &mut Vec<u8>, line: &mut usize, from: usize, to: usize| {
        for &b in &bytes[from..to] {
            if b == b'\n' {
                *line += 1;
                out.push(b'\n');
            } else {
                out.push(b' ');
            }
        }
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => {
                // A string: copied as is, escapes included, so "//" or "#" inside stays.
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i = (i + 1).min(bytes.len());
                for &c in &bytes[start..i] {
                    if c == b'\n' {
                        line += 1;
                    }
                }
                out.extend_from_slice(&bytes[start..i]);
            }
            b'#' => {
                let end = find(bytes, i, b"\n").unwrap_or(bytes.len());
                blank(&mut out, &mut line, i, end);
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = find(bytes, i, b"\n").unwrap_or(bytes.len());
                blank(&mut out, &mut line, i, end);
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = find(bytes, i + 2, b"*/").ok_or(CommentError::UnclosedComment(line))? + 2;
                blank(&mut out, &mut line, i, end);
                i = end;
            }
            b'<' if bytes.get(i + 1) == Some(&b'?') => {
                let end =
                    find(bytes, i + 2, b"?>").ok_or(CommentError::UnclosedDirective(line))? + 2;
                includes.push(Include {
                    line,
                    directive: String::from_utf8_lossy(&bytes[i..end]).into_owned(),
                });
                blank(&mut out, &mut line, i, end);
                i = end;
            }
            _ => {
                if b == b'\n' {
                    line += 1;
                }
                out.push(b);
                i += 1;
            }
        }
    }
    // Only ASCII bytes were replaced, by ASCII bytes: the result is still UTF-8.
    Ok((String::from_utf8_lossy(&out).into_owned(), includes))
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_three_comment_styles_go() {
        let text = "// head\n{ # hash\n \"a\": 1, /* block\n over lines */ \"b\": \"x//y#z\" }\n";
        let (json, includes) = strip(text).unwrap();
        assert!(includes.is_empty());
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["a"], 1);
        assert_eq!(v["b"], "x//y#z");
        assert_eq!(json.lines().count(), text.lines().count());
    }

    #[test]
    fn escaped_quote_does_not_end_a_string() {
        let (json, _) = strip(r#"{"a": "say \"//hi\"" // c"#).unwrap();
        assert_eq!(json.trim_end(), r#"{"a": "say \"//hi\"""#);
    }

    #[test]
    fn includes_are_found_and_blanked() {
        let text = "{\n\"Dhcp4\": {\n<?include \"/etc/kea/subnets.json\"?>\n}}";
        let (json, includes) = strip(text).unwrap();
        assert_eq!(
            includes,
            vec![Include {
                line: 3,
                directive: "<?include \"/etc/kea/subnets.json\"?>".into()
            }]
        );
        assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
    }

    #[test]
    fn unclosed_comment_is_an_error() {
        assert_eq!(
            strip("{\n/* x").unwrap_err(),
            CommentError::UnclosedComment(2)
        );
    }
}
