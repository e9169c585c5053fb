//! Component schemas → Rust types: one struct or enum per schema, with its description as
//! doc comments.
use std::collections::BTreeSet;
use std::fmt::Write;

use serde_json::{Map, Value};

use crate::naming::{doc, field, literal, pascal, snake};

/// The JSON Schema keywords the generator understands; any other fails the build.
const KEYWORDS: &[&str] = &[
    "$ref",
    "description",
    "type",
    "format",
    "minimum",
    "enum",
    "items",
    "properties",
    "required",
    "additionalProperties",
    "propertyNames",
    "oneOf",
    "allOf",
];

/// Fails the build on a keyword the generator would otherwise ignore.
pub fn check_keywords(schema: &Value, at: &str) {
    let Some(obj) = schema.as_object() else {
        panic!("{at}: a schema must be an object, not {schema}");
    };
    for k in obj.keys() {
        assert!(
            KEYWORDS.contains(&k.as_str()),
            "{at}: the generator does not understand the schema keyword {k:?}"
        );
    }
}

/// The name a `$ref` points at.
pub fn ref_name(r: &str, at: &str) -> String {
    r.strip_prefix("#/components/schemas/")
        .unwrap_or_else(|| panic!("{at}: only references to #/components/schemas/ are understood, not {r}"))
        .to_owned()
}

/// The Rust type of a schema used as a property, parameter, item or answer; `nullable` when
/// `null` is one of its values. `types` is the path to the generated types (`""` inside them).
pub struct Ty {
    pub rust: String,
    pub nullable: bool,
}

/// The Rust type of `schema` (found at `at`, for errors).
pub fn ty(schema: &Value, types: &str, at: &str) -> Ty {
    check_keywords(schema, at);
    let plain = |rust: String| Ty { rust, nullable: false };
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return plain(format!("{types}{}", ref_name(r, at)));
    }
    if let Some(alts) = schema.get("oneOf") {
        // The one union used inline: `null` or one schema, i.e. an optional value.
        let alts = alts.as_array().unwrap_or_else(|| panic!("{at}: oneOf is not a list"));
        let (nulls, others): (Vec<&Value>, Vec<&Value>) =
            alts.iter().partition(|a| a.get("type") == Some(&"null".into()));
        assert!(
            nulls.len() == 1 && others.len() == 1,
            "{at}: an inline oneOf must be `null` or one schema; name the union as a component instead"
        );
        let inner = ty(others[0], types, &format!("{at}/oneOf"));
        return Ty {
            rust: inner.rust,
            nullable: true,
        };
    }
    assert!(
        schema.get("allOf").is_none(),
        "{at}: allOf is understood only as a whole component"
    );
    let (kind, nullable) = match schema.get("type") {
        // No type: any JSON value at all.
        None => {
            assert!(
                schema.as_object().is_some_and(|o| o.keys().all(|k| k == "description")),
                "{at}: a schema without a type must be free-form (a description only)"
            );
            return plain("serde_json::Value".into());
        }
        Some(Value::String(t)) => (t.as_str(), false),
        Some(Value::Array(ts)) => {
            let names: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
            match names.as_slice() {
                [t, "null"] | ["null", t] if *t != "null" => (*t, true),
                _ => panic!("{at}: the type list {ts:?} is not `[T, \"null\"]`"),
            }
        }
        Some(other) => panic!("{at}: type {other} is neither a name nor a list"),
    };
    let format = schema.get("format").and_then(Value::as_str);
    let unsigned = schema.get("minimum").and_then(Value::as_f64).is_some_and(|m| m >= 0.0);
    assert!(
        schema.get("enum").is_none(),
        "{at}: an inline enum has no name; make it a component schema"
    );
    let rust = match (kind, format) {
        ("string", None) => "String".to_owned(),
        ("string", Some("date-time")) => "chrono::DateTime<chrono::Utc>".to_owned(),
        ("integer", Some("int64")) | ("integer", None) if unsigned => "u64".to_owned(),
        ("integer", Some("int64")) | ("integer", None) => "i64".to_owned(),
        ("integer", Some("int32")) if unsigned => "u32".to_owned(),
        ("integer", Some("int32")) => "i32".to_owned(),
        ("number", Some("float")) => "f32".to_owned(),
        ("number", Some("double")) | ("number", None) => "f64".to_owned(),
        ("boolean", None) => "bool".to_owned(),
        ("array", None) => {
            let items = schema
                .get("items")
                .unwrap_or_else(|| panic!("{at}: an array without items"));
            let item = ty(items, types, &format!("{at}/items"));
            assert!(!item.nullable, "{at}: nullable array items are not understood");
            format!("Vec<{}>", item.rust)
        }
        ("object", None) => object_type(schema, types, at),
        (k, f) => panic!("{at}: type {k:?} with format {f:?} is not understood"),
    };
    Ty { rust, nullable }
}

/// An inline object: a map when it says what its values are, else a free-form JSON object.
fn object_type(schema: &Value, types: &str, at: &str) -> String {
    assert!(
        schema.get("properties").is_none() && schema.get("required").is_none(),
        "{at}: an inline object with properties has no name; make it a component schema"
    );
    if let Some(names) = schema.get("propertyNames") {
        assert_eq!(
            names,
            &serde_json::json!({"type": "string"}),
            "{at}: only string property names are understood"
        );
    }
    match schema.get("additionalProperties") {
        None => "serde_json::Map<String, serde_json::Value>".to_owned(),
        Some(v) if v.as_object().is_some_and(Map::is_empty) => {
            "std::collections::BTreeMap<String, serde_json::Value>".to_owned()
        }
        Some(Value::Bool(b)) => panic!("{at}: additionalProperties {b} on an inline object is not understood"),
        Some(v) => {
            let value = ty(v, types, &format!("{at}/additionalProperties"));
            assert!(!value.nullable, "{at}: nullable map values are not understood");
            format!("std::collections::BTreeMap<String, {}>", value.rust)
        }
    }
}

/// What a component schema becomes.
enum Kind<'a> {
    /// `type: string` with `enum`: a Rust enum of unit variants.
    StringEnum(Vec<&'a str>),
    /// `oneOf` objects told apart by a one-value string property: an internally tagged enum.
    Tagged { tag: String, variants: Vec<&'a Value> },
    /// An object with properties: a struct.
    Object,
    /// `allOf` of references and at most one inline object: a struct that flattens them.
    AllOf(Vec<&'a Value>),
}

fn kind<'a>(name: &str, schema: &'a Value) -> Kind<'a> {
    let at = format!("#/components/schemas/{name}");
    check_keywords(schema, &at);
    if let Some(values) = schema.get("enum") {
        assert_eq!(
            schema.get("type"),
            Some(&"string".into()),
            "{at}: only string enums are understood"
        );
        let values: Vec<&str> = values
            .as_array()
            .unwrap_or_else(|| panic!("{at}: enum is not a list"))
            .iter()
            .map(|v| {
                v.as_str()
                    .unwrap_or_else(|| panic!("{at}: enum value {v} is not a string"))
            })
            .collect();
        return Kind::StringEnum(values);
    }
    if let Some(alts) = schema.get("oneOf") {
        let variants: Vec<&Value> = alts
            .as_array()
            .unwrap_or_else(|| panic!("{at}: oneOf is not a list"))
            .iter()
            .collect();
        return Kind::Tagged {
            tag: discriminator(&variants, &at),
            variants,
        };
    }
    if let Some(parts) = schema.get("allOf") {
        return Kind::AllOf(
            parts
                .as_array()
                .unwrap_or_else(|| panic!("{at}: allOf is not a list"))
                .iter()
                .collect(),
        );
    }
    assert_eq!(
        schema.get("type"),
        Some(&"object".into()),
        "{at}: a component must be an object, a string enum, a oneOf or an allOf"
    );
    Kind::Object
}

/// The property that tells `variants` apart: present in each as a required one-value string
/// enum, with a different value in each.
fn discriminator(variants: &[&Value], at: &str) -> String {
    let tag_of = |v: &Value| -> Vec<(String, String)> {
        v["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(
                |(k, p)| match p.get("enum").and_then(Value::as_array).map(Vec::as_slice) {
                    Some([Value::String(value)]) => Some((k.clone(), value.clone())),
                    _ => None,
                },
            )
            .collect()
    };
    let first = tag_of(variants.first().unwrap_or_else(|| panic!("{at}: an empty oneOf")));
    let tag = first
        .iter()
        .map(|(k, _)| k)
        .find(|k| variants.iter().all(|v| tag_of(v).iter().any(|(t, _)| t == *k)))
        .unwrap_or_else(|| {
            panic!("{at}: a oneOf is understood only when each alternative has the same one-value enum property")
        })
        .clone();
    let mut seen = BTreeSet::new();
    for v in variants {
        let value = tag_of(v).into_iter().find(|(k, _)| *k == tag).expect("checked").1;
        assert!(
            seen.insert(value.clone()),
            "{at}: two alternatives share the tag {value:?}"
        );
        assert!(
            required(v).contains(&tag.as_str()),
            "{at}: the tag {tag:?} must be required in every alternative"
        );
    }
    tag
}

fn required(schema: &Value) -> Vec<&str> {
    schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The fields of an object schema, each as its `pub`-less declaration with attributes and docs.
fn fields(schema: &Value, at: &str, indent: &str, public: bool, skip: Option<&str>) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut types = vec![];
    let props = schema
        .get("properties")
        .map(|p| {
            p.as_object()
                .unwrap_or_else(|| panic!("{at}: properties is not an object"))
        })
        .cloned()
        .unwrap_or_default();
    let required = required(schema);
    for r in &required {
        assert!(props.contains_key(*r), "{at}: required property {r:?} is not declared");
    }
    for (name, prop) in &props {
        if Some(name.as_str()) == skip {
            continue;
        }
        let pat = format!("{at}/properties/{name}");
        let t = ty(prop, "", &pat);
        // An optional or nullable value is an Option; absent and null read the same.
        let optional = t.nullable || !required.contains(&name.as_str());
        let description = prop
            .get("description")
            .or_else(|| {
                prop.get("oneOf")
                    .and_then(|alts| alts.as_array()?.iter().find_map(|a| a.get("description")))
            })
            .and_then(Value::as_str);
        out.push_str(&doc(description, indent));
        let (rust_name, rename) = field(name);
        if rename {
            writeln!(out, "{indent}#[serde(rename = {})]", literal(name)).unwrap();
        }
        let rust_ty = if optional {
            writeln!(
                out,
                "{indent}#[serde(default, skip_serializing_if = \"Option::is_none\")]"
            )
            .unwrap();
            format!("Option<{}>", t.rust)
        } else {
            t.rust.clone()
        };
        let vis = if public { "pub " } else { "" };
        writeln!(out, "{indent}{vis}{rust_name}: {rust_ty},").unwrap();
        if !optional {
            types.push(t.rust);
        }
    }
    (out, types)
}

/// Whether the generated type `name` can derive `Default` (its required fields all can).
fn defaultable(name: &str, schemas: &Map<String, Value>, seen: &mut BTreeSet<String>) -> bool {
    if !seen.insert(name.to_owned()) {
        return false;
    }
    let schema = &schemas[name];
    let at = format!("#/components/schemas/{name}");
    let field_types = match kind(name, schema) {
        Kind::StringEnum(_) | Kind::Tagged { .. } => return false,
        Kind::Object => fields(schema, &at, "", true, None).1,
        Kind::AllOf(parts) => parts
            .iter()
            .map(|p| match p.get("$ref").and_then(Value::as_str) {
                Some(r) => ref_name(r, &at),
                None => String::new(),
            })
            .chain(
                parts
                    .iter()
                    .filter(|p| p.get("$ref").is_none())
                    .flat_map(|p| fields(p, &at, "", true, None).1),
            )
            .filter(|t| !t.is_empty())
            .collect(),
    };
    // Vec, Option and maps of anything are Default; only a bare generated type can stop it.
    field_types
        .iter()
        .all(|t| !schemas.contains_key(t.as_str()) || defaultable(t, schemas, &mut seen.clone()))
}

/// The generated Rust source for every component schema.
pub fn generate(schemas: &Map<String, Value>) -> String {
    let mut out = String::from("// Generated by build.rs from web/src/api/openapi.json: do not edit.\n\n");
    for (name, schema) in schemas {
        let at = format!("#/components/schemas/{name}");
        assert_eq!(pascal(name), *name, "{at}: component names must be PascalCase");
        out.push_str(&doc(schema.get("description").and_then(Value::as_str), ""));
        match kind(name, schema) {
            Kind::StringEnum(values) => string_enum(&mut out, name, &values),
            Kind::Tagged { tag, variants } => tagged(&mut out, name, &tag, &variants, &at),
            Kind::Object => {
                let default = defaultable(name, schemas, &mut BTreeSet::new());
                derive(&mut out, default);
                // The server refuses unknown fields here; so does reading one from a file.
                if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
                    out.push_str("#[serde(deny_unknown_fields)]\n");
                } else {
                    assert!(
                        schema.get("additionalProperties").is_none(),
                        "{at}: additionalProperties on an object with properties is understood only as false"
                    );
                }
                let (body, _) = fields(schema, &at, "    ", true, None);
                writeln!(out, "pub struct {name} {{\n{body}}}\n").unwrap();
            }
            Kind::AllOf(parts) => {
                derive(&mut out, defaultable(name, schemas, &mut BTreeSet::new()));
                writeln!(out, "pub struct {name} {{").unwrap();
                for (i, part) in parts.iter().enumerate() {
                    let pat = format!("{at}/allOf/{i}");
                    match part.get("$ref").and_then(Value::as_str) {
                        Some(r) => {
                            check_keywords(part, &pat);
                            let target = ref_name(r, &pat);
                            out.push_str(&doc(part.get("description").and_then(Value::as_str), "    "));
                            writeln!(out, "    #[serde(flatten)]\n    pub {}: {target},", snake(&target)).unwrap();
                        }
                        None => {
                            check_keywords(part, &pat);
                            assert_eq!(
                                part.get("type"),
                                Some(&"object".into()),
                                "{pat}: allOf parts are references or objects"
                            );
                            out.push_str(&fields(part, &pat, "    ", true, None).0);
                        }
                    }
                }
                out.push_str("}\n\n");
            }
        }
    }
    out
}

fn derive(out: &mut String, default: bool) {
    let default = if default { ", Default" } else { "" };
    writeln!(
        out,
        "#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize{default})]"
    )
    .unwrap();
}

fn string_enum(out: &mut String, name: &str, values: &[&str]) {
    out.push_str(
        "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]\n",
    );
    writeln!(out, "pub enum {name} {{").unwrap();
    for v in values {
        writeln!(
            out,
            "    /// `{v}`\n    #[serde(rename = {})]\n    {},",
            literal(v),
            pascal(v)
        )
        .unwrap();
    }
    out.push_str("}\n\n");
    let arms: String = values
        .iter()
        .map(|v| format!("            {name}::{} => {},\n", pascal(v), literal(v)))
        .collect();
    let all: Vec<String> = values.iter().map(|v| format!("{name}::{}", pascal(v))).collect();
    let parse: String = values
        .iter()
        .map(|v| format!("            {} => Ok({name}::{}),\n", literal(v), pascal(v)))
        .collect();
    writeln!(
        out,
        "impl {name} {{
    /// Every value, in the document's order.
    pub const ALL: [{name}; {n}] = [{all}];

    /// The value as the API spells it.
    pub fn as_str(self) -> &'static str {{
        match self {{
{arms}        }}
    }}
}}

impl std::fmt::Display for {name} {{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{
        f.write_str(self.as_str())
    }}
}}

impl std::str::FromStr for {name} {{
    type Err = crate::ParseEnumError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {{
        match s {{
{parse}            _ => Err(crate::ParseEnumError::new({lit}, s, &{name}::ALL.map({name}::as_str))),
        }}
    }}
}}
",
        n = values.len(),
        all = all.join(", "),
        lit = literal(name),
    )
    .unwrap();
}

fn tagged(out: &mut String, name: &str, tag: &str, variants: &[&Value], at: &str) {
    derive(out, false);
    writeln!(out, "#[serde(tag = {})]\npub enum {name} {{", literal(tag)).unwrap();
    for (i, v) in variants.iter().enumerate() {
        let pat = format!("{at}/oneOf/{i}");
        check_keywords(v, &pat);
        assert_eq!(
            v.get("type"),
            Some(&"object".into()),
            "{pat}: tagged alternatives are objects"
        );
        let value = v["properties"][tag]["enum"][0]
            .as_str()
            .expect("checked by discriminator");
        out.push_str(&doc(v.get("description").and_then(Value::as_str), "    "));
        let (mut body, _) = fields(v, &pat, "        ", false, Some(tag));
        // A variant that carries a whole component (a job) is boxed, so the other variants
        // (a token of text) do not take its size.
        for (prop, schema) in v["properties"].as_object().into_iter().flatten() {
            if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
                let component = ref_name(r, &pat);
                let (rust_name, _) = field(prop);
                body = body.replace(
                    &format!("{rust_name}: {component},"),
                    &format!("{rust_name}: Box<{component}>,"),
                );
            }
        }
        writeln!(
            out,
            "    #[serde(rename = {})]\n    {} {{\n{body}    }},",
            literal(value),
            pascal(value)
        )
        .unwrap();
    }
    out.push_str("}\n\n");
}
