//! Writing a `v1 List` one item at a time, the way kubectl prints it, so a snapshot of any
//! size streams to disk without being held in memory.
//!
//! - JSON: `json.MarshalIndent(obj, "", "    ")` of an unstructured object: keys sorted
//!   bytewise, 4-space indentation, `{}` / `[]` for empty containers, and Go's string escaping
//!   (`<`, `>`, `&`, U+2028 and U+2029 as `\u` escapes).
//! - YAML: sigs.k8s.io/yaml (go-yaml v2): keys sorted, 2-space indentation, sequences at their
//!   key's indentation, strings quoted only when they would read as another type, `|` blocks
//!   for multi-line strings. Long lines are not folded (go-yaml folds at 80 columns; parsers
//!   do not care).
//!
//! After the List comes the NodeMetricsList document as `kubectl get --raw` prints it: one line
//! of compact JSON in the API's field order.

use serde_json::Value;
use std::io::{self, Write};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    /// Compact JSON (what the API server sends and `ttdoctor snapshot -o x.json` writes).
    JsonCompact,
    Yaml,
}

pub struct ListWriter<W: Write> {
    w: W,
    format: Format,
    items: usize,
}

impl<W: Write> ListWriter<W> {
    pub fn new(mut w: W, format: Format) -> io::Result<Self> {
        match format {
            Format::Json => w.write_all(b"{\n    \"apiVersion\": \"v1\",\n    \"items\": [")?,
            Format::JsonCompact => w.write_all(b"{\"apiVersion\":\"v1\",\"items\":[")?,
            Format::Yaml => w.write_all(b"apiVersion: v1\n")?,
        }
        Ok(ListWriter {
            w,
            format,
            items: 0,
        })
    }

    pub fn item(&mut self, v: &Value) -> io::Result<()> {
        match self.format {
            Format::Json => {
                if self.items > 0 {
                    self.w.write_all(b",")?;
                }
                self.w.write_all(b"\n        ")?;
                json(&mut self.w, v, 2)?;
            }
            Format::JsonCompact => {
                if self.items > 0 {
                    self.w.write_all(b",")?;
                }
                serde_json::to_writer(&mut self.w, v)?;
            }
            Format::Yaml => {
                if self.items == 0 {
                    self.w.write_all(b"items:\n")?;
                }
                yaml_seq(&mut self.w, std::slice::from_ref(v), 0)?;
            }
        }
        self.items += 1;
        Ok(())
    }

    /// Closes the List and appends the metrics document (already one line of JSON).
    pub fn finish(mut self, metrics: Option<&str>) -> io::Result<W> {
        match self.format {
            Format::Json => {
                if self.items > 0 {
                    self.w.write_all(b"\n    ")?;
                }
                self.w.write_all(
                    b"],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n",
                )?;
                if let Some(m) = metrics {
                    self.w.write_all(m.as_bytes())?;
                    self.w.write_all(b"\n")?;
                }
            }
            Format::JsonCompact => {
                self.w
                    .write_all(b"],\"kind\":\"List\",\"metadata\":{\"resourceVersion\":\"\"}}\n")?;
                if let Some(m) = metrics {
                    self.w.write_all(m.as_bytes())?;
                    self.w.write_all(b"\n")?;
                }
            }
            Format::Yaml => {
                if self.items == 0 {
                    self.w.write_all(b"items: []\n")?;
                }
                self.w
                    .write_all(b"kind: List\nmetadata:\n  resourceVersion: \"\"\n")?;
                if let Some(m) = metrics {
                    self.w.write_all(b"---\n")?;
                    self.w.write_all(m.as_bytes())?;
                    self.w.write_all(b"\n")?;
                }
            }
        }
        self.w.flush()?;
        Ok(self.w)
    }
}

fn newline(w: &mut impl Write, depth: usize) -> io::Result<()> {
    const SPACES: &[u8] = &[b' '; 128];
    w.write_all(b"\n")?;
    let mut n = depth * 4;
    while n > 0 {
        let k = n.min(SPACES.len());
        w.write_all(&SPACES[..k])?;
        n -= k;
    }
    Ok(())
}

fn sorted(m: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_unstable_by(|a, b| a.0.cmp(b.0));
    v
}

/// One value as Go's `json.MarshalIndent` prints it at `depth`.
pub fn json(w: &mut impl Write, v: &Value, depth: usize) -> io::Result<()> {
    match v {
        Value::Object(m) if m.is_empty() => w.write_all(b"{}"),
        Value::Array(a) if a.is_empty() => w.write_all(b"[]"),
        Value::Object(m) => {
            w.write_all(b"{")?;
            for (i, (k, val)) in sorted(m).into_iter().enumerate() {
                if i > 0 {
                    w.write_all(b",")?;
                }
                newline(w, depth + 1)?;
                go_string(w, k)?;
                w.write_all(b": ")?;
                json(w, val, depth + 1)?;
            }
            newline(w, depth)?;
            w.write_all(b"}")
        }
        Value::Array(a) => {
            w.write_all(b"[")?;
            for (i, val) in a.iter().enumerate() {
                if i > 0 {
                    w.write_all(b",")?;
                }
                newline(w, depth + 1)?;
                json(w, val, depth + 1)?;
            }
            newline(w, depth)?;
            w.write_all(b"]")
        }
        Value::String(s) => go_string(w, s),
        other => serde_json::to_writer(w, other).map_err(io::Error::other),
    }
}

/// Compact JSON with sorted keys (for values inside the metrics line).
pub fn json_compact(v: &Value) -> String {
    let mut out = Vec::new();
    compact(&mut out, v).expect("writing to a Vec");
    String::from_utf8(out).expect("utf-8")
}

fn compact(w: &mut Vec<u8>, v: &Value) -> io::Result<()> {
    match v {
        Value::Object(m) => {
            w.push(b'{');
            for (i, (k, val)) in sorted(m).into_iter().enumerate() {
                if i > 0 {
                    w.push(b',');
                }
                go_string(w, k)?;
                w.push(b':');
                compact(w, val)?;
            }
            w.push(b'}');
            Ok(())
        }
        Value::Array(a) => {
            w.push(b'[');
            for (i, val) in a.iter().enumerate() {
                if i > 0 {
                    w.push(b',');
                }
                compact(w, val)?;
            }
            w.push(b']');
            Ok(())
        }
        Value::String(s) => go_string(w, s),
        other => serde_json::to_writer(w, other).map_err(io::Error::other),
    }
}

/// A JSON string as Go's encoding/json writes it (HTML-safe).
pub fn go_string(w: &mut impl Write, s: &str) -> io::Result<()> {
    w.write_all(b"\"")?;
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, ch) in s.char_indices() {
        let esc: Option<String> = match ch {
            '"' => Some("\\\"".into()),
            '\\' => Some("\\\\".into()),
            '\n' => Some("\\n".into()),
            '\r' => Some("\\r".into()),
            '\t' => Some("\\t".into()),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => Some(format!("\\u{:04x}", ch as u32)),
            c if (c as u32) < 0x20 => Some(format!("\\u{:04x}", c as u32)),
            _ => None,
        };
        if let Some(e) = esc {
            w.write_all(&bytes[start..i])?;
            w.write_all(e.as_bytes())?;
            start = i + ch.len_utf8();
        }
    }
    w.write_all(&bytes[start..])?;
    w.write_all(b"\"")
}

// ---- YAML ----

fn spaces(w: &mut impl Write, n: usize) -> io::Result<()> {
    for _ in 0..n {
        w.write_all(b" ")?;
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Quote {
    None,
    /// Strings that would read back as another type (`"true"`, `"0"`, timestamps, `""`).
    Double,
    /// Strings that would not parse as a plain scalar (`'a: b'`).
    Single,
}

/// Ints (with `0x`/`0o`/`0b`), floats, YAML 1.1 base-60 numbers and timestamps, as go-yaml
/// v2 resolves a plain scalar (`10.244.2.11` stays a string).
fn resolves_to_number_or_time(s: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(concat!(
            r"^[-+]?(",
            r"[0-9][0-9_]*",
            r"|0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+",
            r"|(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?",
            r"|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?",
            r")$",
            r"|^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?$",
        ))
        .expect("valid regex")
    })
    .is_match(s)
}

/// How go-yaml v2 quotes a string: a plain scalar that would resolve to another type (YAML
/// 1.1) gets double quotes, one that would not parse gets single quotes.
fn quoting(s: &str) -> Quote {
    if s.is_empty() {
        return Quote::Double;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | "null"
            | "~"
            | ".inf"
            | "-.inf"
            | "+.inf"
            | ".nan"
    ) {
        return Quote::Double;
    }
    if resolves_to_number_or_time(s) {
        return Quote::Double;
    }
    let first = s.as_bytes()[0];
    if s.chars().any(|c| c.is_control() || c == '\u{feff}') {
        return Quote::Double;
    }
    let syntax = s.trim() != s
        || b"?:,[]{}#&*!|>'\"%@`".contains(&first)
        || (first == b'-' && (s.len() == 1 || s.as_bytes()[1] == b' '))
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':');
    if syntax { Quote::Single } else { Quote::None }
}

fn scalar(w: &mut impl Write, v: &Value) -> io::Result<()> {
    match v {
        Value::Null => w.write_all(b"null"),
        Value::String(s) => match quoting(s) {
            Quote::None => w.write_all(s.as_bytes()),
            Quote::Single => {
                w.write_all(b"'")?;
                w.write_all(s.replace('\'', "''").as_bytes())?;
                w.write_all(b"'")
            }
            // JSON escapes are valid in a double-quoted YAML scalar.
            Quote::Double => serde_json::to_writer(w, s).map_err(io::Error::other),
        },
        other => serde_json::to_writer(w, other).map_err(io::Error::other),
    }
}

/// A multi-line string as a literal block, when the block can say it exactly.
fn block(s: &str) -> Option<&'static str> {
    if !s.contains('\n') || s.starts_with([' ', '\t']) || s.contains('\r') {
        return None;
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return None;
    }
    if s.lines().any(|l| l.ends_with([' ', '\t'])) {
        return None;
    }
    let trailing = s.len() - s.trim_end_matches('\n').len();
    Some(match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    })
}

fn write_block(w: &mut impl Write, s: &str, indicator: &str, indent: usize) -> io::Result<()> {
    w.write_all(indicator.as_bytes())?;
    w.write_all(b"\n")?;
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        if !line.is_empty() {
            spaces(w, indent)?;
            w.write_all(line.as_bytes())?;
        }
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// A value after `key:` or `-` on the current line, whose children sit at `indent`.
fn after_marker(w: &mut impl Write, v: &Value, indent: usize, in_seq: bool) -> io::Result<()> {
    match v {
        Value::Object(m) if m.is_empty() => w.write_all(b" {}\n"),
        Value::Array(a) if a.is_empty() => w.write_all(b" []\n"),
        Value::Object(m) if in_seq => {
            w.write_all(b" ")?;
            yaml_map(w, m, indent, true)
        }
        Value::Object(m) => {
            w.write_all(b"\n")?;
            yaml_map(w, m, indent, false)
        }
        Value::Array(a) if in_seq => {
            w.write_all(b" ")?;
            yaml_seq_inline(w, a, indent)
        }
        // go-yaml v2 puts a mapping's sequence at the key's own indentation.
        Value::Array(a) => {
            w.write_all(b"\n")?;
            yaml_seq(w, a, indent - 2)
        }
        Value::String(s) if block(s).is_some() => {
            w.write_all(b" ")?;
            write_block(w, s, block(s).expect("checked"), indent)
        }
        other => {
            w.write_all(b" ")?;
            scalar(w, other)?;
            w.write_all(b"\n")
        }
    }
}

fn yaml_map(
    w: &mut impl Write,
    m: &serde_json::Map<String, Value>,
    indent: usize,
    first_inline: bool,
) -> io::Result<()> {
    for (i, (k, v)) in sorted(m).into_iter().enumerate() {
        if i > 0 || !first_inline {
            spaces(w, indent)?;
        }
        scalar(w, &Value::String(k.clone()))?;
        w.write_all(b":")?;
        after_marker(w, v, indent + 2, false)?;
    }
    Ok(())
}

/// Sequence items at `indent` (`- item`), each on its own line.
pub fn yaml_seq(w: &mut impl Write, a: &[Value], indent: usize) -> io::Result<()> {
    for v in a {
        spaces(w, indent)?;
        w.write_all(b"-")?;
        after_marker(w, v, indent + 2, true)?;
    }
    Ok(())
}

/// A nested sequence whose first item continues the current line (`- - a`).
fn yaml_seq_inline(w: &mut impl Write, a: &[Value], indent: usize) -> io::Result<()> {
    for (i, v) in a.iter().enumerate() {
        if i > 0 {
            spaces(w, indent)?;
        }
        w.write_all(b"-")?;
        after_marker(w, v, indent + 2, true)?;
    }
    Ok(())
}
