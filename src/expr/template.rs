//! Message and command templates: literal text with `${cel}` parts.

use kube_cel::cel::{Context, Program, Value};

/// A compiled template.
pub struct Template {
    parts: Vec<Part>,
}

enum Part {
    Lit(String),
    Expr(String, Program),
}

impl Template {
    /// Splits `${...}` parts (brace- and quote-aware, so CEL map literals work) and compiles
    /// each; the error names the offending expression.
    pub fn compile(src: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = src;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Lit(rest[..start].to_string()));
            }
            let body = &rest[start + 2..];
            let end = closing_brace(body).ok_or_else(|| format!("unclosed `${{` in {src:?}"))?;
            let expr = body[..end].trim();
            let program = Program::compile(expr).map_err(|e| {
                format!(
                    "in `${{{expr}}}`: {}",
                    crate::text::first_line(&e.to_string())
                )
            })?;
            parts.push(Part::Expr(expr.to_string(), program));
            rest = &body[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Template { parts })
    }

    pub fn programs(&self) -> impl Iterator<Item = &Program> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(_, prog) => Some(prog),
            Part::Lit(_) => None,
        })
    }

    pub fn render(&self, ctx: &Context) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Expr(src, prog) => {
                    let v = super::exec(prog, ctx).map_err(|e| format!("`${{{src}}}`: {e}"))?;
                    out.push_str(&display(&v));
                }
            }
        }
        Ok(out)
    }
}

/// How a value reads in a message: strings bare, lists comma-separated.
pub fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => format!("{f}"),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::List(l) => l.iter().map(display).collect::<Vec<_>>().join(", "),
        other => super::values::to_json(other).to_string(),
    }
}

fn closing_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_parts_with_maps_and_quotes() {
        let t = Template::compile("a ${ {'k': '}'}['k'] } b ${1 + 2}").unwrap();
        let ctx = Context::default();
        assert_eq!(t.render(&ctx).unwrap(), "a } b 3");
    }

    #[test]
    fn reports_unclosed_and_bad_expressions() {
        let err = |s: &str| Template::compile(s).err().expect("should not compile");
        assert!(err("x ${1 + ").contains("unclosed"));
        assert!(err("x ${1 +} y").contains("1 +"));
    }
}
