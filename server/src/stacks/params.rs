//! Typed command parameters: declared in the stack, validated on the server, passed as env.
use std::path::{Component as PathPart, Path};

use serde_json::Value;

/// A parameter a command declares.
#[derive(Debug, Clone)]
pub struct Param {
    /// Its name, as in `STEWARD_PARAM_<NAME>`.
    pub name: String,
    /// One line for people.
    pub description: String,
    /// What values it takes.
    pub kind: ParamKind,
    /// Used when the plan gives no value; a parameter without one is required.
    pub default: Option<Value>,
    /// A config value people below operator must not see (a password, a token): masked in
    /// the job and cluster views they get.
    pub secret: bool,
}

/// The type of a parameter and its constraints.
#[derive(Debug, Clone)]
pub enum ParamKind {
    /// An integer within `min..=max`.
    Integer {
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// One of a fixed set of strings.
    Enum {
        /// The allowed values.
        values: Vec<String>,
    },
    /// An absolute, normalised path under one of `roots`.
    Path {
        /// Allowed prefixes.
        roots: Vec<String>,
    },
    /// `true` or `false`.
    Boolean,
    /// A string matching an anchored pattern.
    String {
        /// The whole value must match.
        pattern: regex::Regex,
        /// Longest allowed, in bytes.
        max_len: usize,
    },
}

impl Param {
    /// Checks `value` and returns it in canonical form (what the plan stores and hashes).
    pub fn validate(&self, value: &Value) -> Result<Value, String> {
        match &self.kind {
            ParamKind::Integer { min, max } => {
                let n = match value {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.trim().parse::<i64>().ok(),
                    _ => None,
                }
                .ok_or_else(|| format!("{value} is not an integer"))?;
                if n < *min || n > *max {
                    return Err(format!("{n} is outside {min}..={max}"));
                }
                Ok(Value::from(n))
            }
            ParamKind::Enum { values } => {
                let s = value.as_str().ok_or_else(|| format!("{value} is not a string"))?;
                if values.iter().any(|v| v == s) {
                    Ok(Value::from(s))
                } else {
                    Err(format!("{s:?} is not one of {}", values.join(", ")))
                }
            }
            ParamKind::Path { roots } => {
                let s = value.as_str().ok_or_else(|| format!("{value} is not a string"))?;
                let p = Path::new(s);
                let normal = p.is_absolute()
                    && p.components()
                        .all(|c| matches!(c, PathPart::RootDir | PathPart::Normal(_)))
                    && !s.contains('\0');
                if !normal {
                    return Err(format!("{s:?} must be an absolute path without '.' or '..'"));
                }
                // Paths reach scripts: no whitespace, control characters, quotes or shell
                // metacharacters, whatever the script does with them.
                if let Some(c) = s
                    .chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || "/_.-+=,:@%~".contains(*c)))
                {
                    return Err(format!(
                        "{s:?} holds {c:?}; a path may hold letters, digits and / _ . - + = , : @ % ~"
                    ));
                }
                let clean: String = {
                    let t = s.trim_end_matches('/');
                    if t.is_empty() {
                        "/".into()
                    } else {
                        t.to_owned()
                    }
                };
                let under = roots.iter().any(|r| Path::new(&clean).starts_with(Path::new(r)));
                if !under {
                    return Err(format!("{clean:?} is not under {}", roots.join(", ")));
                }
                Ok(Value::from(clean))
            }
            ParamKind::Boolean => value
                .as_bool()
                .map(Value::from)
                .ok_or_else(|| format!("{value} is not true or false")),
            ParamKind::String { pattern, max_len } => {
                let s = value.as_str().ok_or_else(|| format!("{value} is not a string"))?;
                if s.len() > *max_len {
                    return Err(format!("longer than {max_len} bytes"));
                }
                if s.contains('\0') || !pattern.is_match(s) {
                    return Err(format!("{s:?} does not match {}", pattern.as_str()));
                }
                Ok(Value::from(s))
            }
        }
    }

    /// The environment variable the script reads.
    pub fn env_name(&self) -> String {
        format!("STEWARD_PARAM_{}", self.name.to_ascii_uppercase().replace('-', "_"))
    }

    /// A JSON Schema fragment for this parameter (used by the API and, later, the planner).
    pub fn schema(&self) -> Value {
        let mut s = match &self.kind {
            ParamKind::Integer { min, max } => serde_json::json!({"type": "integer", "minimum": min, "maximum": max}),
            ParamKind::Enum { values } => serde_json::json!({"type": "string", "enum": values}),
            ParamKind::Path { roots } => {
                serde_json::json!({"type": "string", "description": format!("absolute path under {}", roots.join(", "))})
            }
            ParamKind::Boolean => serde_json::json!({"type": "boolean"}),
            ParamKind::String { pattern, max_len } => {
                serde_json::json!({"type": "string", "pattern": pattern.as_str(), "maxLength": max_len})
            }
        };
        if let Some(d) = &self.default {
            s["default"] = d.clone();
        }
        if !self.description.is_empty() {
            s["title"] = Value::from(self.description.clone());
        }
        s
    }
}

/// What a config string may hold unless its key declares a pattern: no whitespace, quotes,
/// `$`, backticks, `;`, `|`, `&`, `<`, `>`, parentheses, backslashes or control characters,
/// so a value cannot break out of a script or a template however it is used.
pub const SAFE_CONFIG_STRING: &str = r"[A-Za-z0-9_.,:/@%+=~-]*";

/// The type of a config key given only its default: a non-negative integer, a boolean, or a
/// string matching [`SAFE_CONFIG_STRING`] of at most 256 bytes.
pub fn inferred(name: &str, default: &Value) -> Result<Param, String> {
    let kind = match default {
        Value::Number(n) if n.as_i64().is_some() => ParamKind::Integer {
            min: n.as_i64().unwrap_or(0).min(0),
            max: i64::MAX,
        },
        Value::Bool(_) => ParamKind::Boolean,
        Value::String(_) => ParamKind::String {
            pattern: regex::Regex::new(&format!("^(?:{SAFE_CONFIG_STRING})$")).expect("valid"),
            max_len: 256,
        },
        other => {
            return Err(format!(
                "{other} has no inferable type: declare [config.{name}] with a type"
            ))
        }
    };
    let mut p = Param {
        name: name.to_owned(),
        description: String::new(),
        kind,
        default: None,
        secret: false,
    };
    p.default = Some(
        p.validate(default)
            .map_err(|e| format!("default {e}; declare [config.{name}] with a type and pattern that allow it"))?,
    );
    Ok(p)
}

/// A value as the script sees it in its environment.
pub fn env_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path_param() -> Param {
        Param {
            name: "path".into(),
            description: String::new(),
            kind: ParamKind::Path {
                roots: vec!["/tmp".into(), "/var/tmp".into()],
            },
            default: None,
            secret: false,
        }
    }

    #[test]
    fn path_must_stay_under_its_roots() {
        let p = path_param();
        assert_eq!(p.validate(&json!("/tmp/x/")).unwrap(), json!("/tmp/x"));
        assert!(p.validate(&json!("/tmp/../etc")).is_err());
        assert!(p.validate(&json!("/tmpfoo")).is_err());
        assert!(p.validate(&json!("tmp")).is_err());
        assert!(p.validate(&json!("/etc")).is_err());
        for bad in ["/tmp/x\nrm -rf /", "/tmp/$(id)", "/tmp/a b", "/tmp/x;y", "/tmp/`id`"] {
            assert!(p.validate(&json!(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn integer_range_and_strings() {
        let p = Param {
            name: "days".into(),
            description: String::new(),
            kind: ParamKind::Integer { min: 1, max: 365 },
            default: None,
            secret: false,
        };
        assert_eq!(p.validate(&json!("7")).unwrap(), json!(7));
        assert!(p.validate(&json!(0)).is_err());
        assert!(p.validate(&json!("7; rm -rf /")).is_err());
        assert_eq!(p.env_name(), "STEWARD_PARAM_DAYS");
    }

    #[test]
    fn string_pattern_is_anchored() {
        let p = Param {
            name: "topic".into(),
            description: String::new(),
            kind: ParamKind::String {
                pattern: regex::Regex::new("^(?:[a-z]+)$").unwrap(),
                max_len: 10,
            },
            default: None,
            secret: false,
        };
        assert!(p.validate(&json!("abc")).is_ok());
        assert!(p.validate(&json!("abc def")).is_err());
        assert!(p.validate(&json!("abcdefghijk")).is_err());
    }
}
