//! Python's `repr()` and `pprint.pformat()` of plain data, for error texts
//! that upstream Placement takes from Python (jsonschema's messages print
//! the schema and the instance with `pformat(width=72, sort_dicts=False)`).

/// A Python value as far as error texts need one.
#[derive(Debug, Clone, PartialEq)]
pub enum Py {
    Str(String),
    /// Anything printed as is: numbers, `None`, `True`, `False`.
    Raw(String),
    List(Vec<Py>),
    /// A dict, in insertion order.
    Dict(Vec<(String, Py)>),
}

impl Py {
    pub fn str(s: impl Into<String>) -> Py {
        Py::Str(s.into())
    }
    pub fn raw(s: impl Into<String>) -> Py {
        Py::Raw(s.into())
    }
    pub fn dict<K: Into<String>>(items: impl IntoIterator<Item = (K, Py)>) -> Py {
        Py::Dict(items.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
    pub fn list(items: impl IntoIterator<Item = Py>) -> Py {
        Py::List(items.into_iter().collect())
    }
}

/// Python `repr()` of a string: single quotes unless the text has a single
/// quote and no double quote; backslashes and control characters escaped.
pub fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python `repr()`.
pub fn repr(v: &Py) -> String {
    match v {
        Py::Str(s) => repr_str(s),
        Py::Raw(s) => s.clone(),
        Py::List(a) => format!("[{}]", a.iter().map(repr).collect::<Vec<_>>().join(", ")),
        Py::Dict(o) => {
            format!(
                "{{{}}}",
                o.iter().map(|(k, v)| format!("{}: {}", repr_str(k), repr(v))).collect::<Vec<_>>().join(", ")
            )
        }
    }
}

const WIDTH: i64 = 72;

fn char_len(s: &str) -> i64 {
    s.chars().count() as i64
}

/// `pprint.pformat(v, width=72, sort_dicts=False)`: whatever fits in the
/// width stays on one line, longer dicts and lists get one item a line,
/// longer strings are cut at whitespace into adjacent literals.
pub fn pformat(v: &Py) -> String {
    let mut out = String::new();
    format(v, &mut out, 0, 0, 0);
    out
}

/// jsonschema's `_pretty`: `pformat`, continuation lines indented by four.
pub fn pretty(v: &Py) -> String {
    pformat(v).split('\n').collect::<Vec<_>>().join("\n    ")
}

fn format(v: &Py, out: &mut String, indent: i64, allowance: i64, level: u32) {
    let rep = repr(v);
    if char_len(&rep) > WIDTH - indent - allowance {
        match v {
            Py::Dict(o) if !o.is_empty() => {
                out.push('{');
                let indent = indent + 1;
                let last = o.len() - 1;
                for (i, (k, ent)) in o.iter().enumerate() {
                    let krep = repr_str(k);
                    out.push_str(&krep);
                    out.push_str(": ");
                    let allow = if i == last { allowance + 1 } else { 1 };
                    format(ent, out, indent + char_len(&krep) + 2, allow, level + 1);
                    if i != last {
                        out.push_str(",\n");
                        out.push_str(&" ".repeat(indent as usize));
                    }
                }
                out.push('}');
                return;
            }
            Py::List(a) if !a.is_empty() => {
                out.push('[');
                let indent = indent + 1;
                let last = a.len() - 1;
                for (i, ent) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(",\n");
                        out.push_str(&" ".repeat(indent as usize));
                    }
                    let allow = if i == last { allowance + 1 } else { 1 };
                    format(ent, out, indent, allow, level + 1);
                }
                out.push(']');
                return;
            }
            Py::Str(s) if !s.is_empty() => {
                format_str(s, out, indent, allowance, level + 1);
                return;
            }
            _ => {}
        }
    }
    out.push_str(&rep);
}

/// pprint's `_pprint_str`.
fn format_str(s: &str, out: &mut String, mut indent: i64, mut allowance: i64, level: u32) {
    let lines: Vec<&str> = s.split_inclusive('\n').collect();
    if level == 1 {
        indent += 1;
        allowance += 1;
    }
    let max_width = WIDTH - indent;
    let mut max_width1 = max_width;
    let mut chunks: Vec<String> = Vec::new();
    let mut rep = String::new();
    for (i, line) in lines.iter().enumerate() {
        rep = repr_str(line);
        if i == lines.len() - 1 {
            max_width1 -= allowance;
        }
        if char_len(&rep) <= max_width1 {
            chunks.push(rep.clone());
            continue;
        }
        // Runs of non-space followed by space (`re.findall(r'\S*\s*')`).
        let mut parts: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut in_space = false;
        for c in line.chars() {
            if !c.is_whitespace() && in_space {
                parts.push(std::mem::take(&mut cur));
                in_space = false;
            }
            if c.is_whitespace() {
                in_space = true;
            }
            cur.push(c);
        }
        if !cur.is_empty() {
            parts.push(cur);
        }
        let mut max_width2 = max_width;
        let mut current = String::new();
        for (j, part) in parts.iter().enumerate() {
            let candidate = format!("{current}{part}");
            if j == parts.len() - 1 && i == lines.len() - 1 {
                max_width2 -= allowance;
            }
            if char_len(&repr_str(&candidate)) > max_width2 {
                if !current.is_empty() {
                    chunks.push(repr_str(&current));
                }
                current = part.clone();
            } else {
                current = candidate;
            }
        }
        if !current.is_empty() {
            chunks.push(repr_str(&current));
        }
    }
    if chunks.len() == 1 {
        out.push_str(&rep);
        return;
    }
    if level == 1 {
        out.push('(');
    }
    for (i, c) in chunks.iter().enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(&" ".repeat(indent as usize));
        }
        out.push_str(c);
    }
    if level == 1 {
        out.push(')');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_stay_on_one_line() {
        let v = Py::dict([("type", Py::str("integer")), ("minimum", Py::raw("1"))]);
        assert_eq!(pformat(&v), "{'type': 'integer', 'minimum': 1}");
    }

    #[test]
    fn long_dicts_and_lists_break_like_pprint() {
        // As Python 3.11 prints them with pformat(width=72, sort_dicts=False).
        let v = Py::dict([
            ("type", Py::str("object")),
            ("properties", Py::dict([("resources", Py::dict([("type", Py::str("string"))]))])),
            ("required", Py::list([Py::str("resources")])),
            ("additionalProperties", Py::raw("False")),
        ]);
        assert_eq!(
            pformat(&v),
            "{'type': 'object',\n 'properties': {'resources': {'type': 'string'}},\n 'required': ['resources'],\n 'additionalProperties': False}"
        );
        let l = Py::list([
            Py::str("ab000000-0000-4000-8000-000000000001"),
            Py::str("ab000000-0000-4000-8000-000000000001"),
        ]);
        assert_eq!(pformat(&l), "['ab000000-0000-4000-8000-000000000001',\n 'ab000000-0000-4000-8000-000000000001']");
    }

    #[test]
    fn long_strings_are_cut_at_spaces() {
        let s = "word ".repeat(20);
        let out = pformat(&Py::str(s.trim_end()));
        assert!(out.starts_with("('word word"), "{out}");
        assert!(out.ends_with("word')"), "{out}");
        assert!(out.lines().all(|l| l.chars().count() <= 72), "{out}");
    }

    #[test]
    fn repr_quotes_like_python() {
        assert_eq!(repr_str("it's"), "\"it's\"");
        assert_eq!(repr_str("a\\b\n"), "'a\\\\b\\n'");
        assert_eq!(repr_str("\"'"), "'\"\\''");
    }
}
