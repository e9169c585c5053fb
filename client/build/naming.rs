//! Rust names and doc comments for what the document calls things.

/// `list_jobs` → `ListJobs`, `tool_call` → `ToolCall`, `viewer` → `Viewer`.
pub fn pascal(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            let first = c.next().expect("not empty").to_ascii_uppercase();
            std::iter::once(first).chain(c).collect::<String>()
        })
        .collect()
}

/// `HostView` → `host_view`.
pub fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern", "false", "fn",
    "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "static",
    "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while", "abstract", "become", "box", "do",
    "final", "gen", "macro", "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// A JSON property or parameter name as a Rust field name, and whether serde must be told the
/// JSON name (raw identifiers like `r#type` need no rename: serde strips the `r#`).
pub fn field(name: &str) -> (String, bool) {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        let cleaned: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        return (cleaned, true);
    }
    if KEYWORDS.contains(&name) {
        return (format!("r#{name}"), false);
    }
    (name.to_owned(), false)
}

/// A description as `///` lines at `indent`.
pub fn doc(description: Option<&str>, indent: &str) -> String {
    let Some(d) = description.map(str::trim).filter(|d| !d.is_empty()) else {
        return String::new();
    };
    assert!(
        !d.contains("```"),
        "a description holds a code block, which would become a doc test: {d}"
    );
    d.lines()
        .map(|l| {
            let l = l.trim_end();
            if l.is_empty() {
                format!("{indent}///\n")
            } else {
                format!("{indent}/// {l}\n")
            }
        })
        .collect()
}

/// A Rust string literal holding `s`.
pub fn literal(s: &str) -> String {
    format!("{s:?}")
}
