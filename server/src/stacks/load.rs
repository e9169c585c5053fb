//! Parsing and validating stack folders; every error names the file, the line and the reason.
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component as PathPart, Path};

use serde::Deserialize;
use toml::Spanned;

use super::params::{self, Param, ParamKind};
use super::{Catalog, Command, Component, Risk, Service, Stack, Template};

/// Stacks compiled into the binary, used when no stacks directory is configured.
static EMBEDDED: include_dir::Dir<'static> = include_dir::include_dir!("$CARGO_MANIFEST_DIR/../stacks");

/// A stack file that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackError {
    /// The file, relative to the stacks root.
    pub file: String,
    /// 1-based line, when the problem has one.
    pub line: Option<usize>,
    /// What is wrong, in words.
    pub reason: String,
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

impl std::error::Error for StackError {}

/// Files of a stacks tree, by path relative to its root (`essentials/1.0/stack.toml`).
type Files = BTreeMap<String, Vec<u8>>;

/// Loads every stack under `root` (a directory laid out as `stacks/README.md` says).
pub fn load_dir(root: &Path) -> Result<Catalog, StackError> {
    let mut files = Files::new();
    read_tree(root, root, &mut files).map_err(|e| StackError {
        file: root.display().to_string(),
        line: None,
        reason: format!("cannot read: {e}"),
    })?;
    load_files(&files)
}

/// Loads the stacks compiled into the binary.
pub fn load_embedded() -> Result<Catalog, StackError> {
    let mut files = Files::new();
    fn walk(dir: &include_dir::Dir<'static>, files: &mut Files) {
        for f in dir.files() {
            files.insert(f.path().to_string_lossy().into_owned(), f.contents().to_vec());
        }
        for d in dir.dirs() {
            walk(d, files);
        }
    }
    walk(&EMBEDDED, &mut files);
    load_files(&files)
}

fn read_tree(root: &Path, dir: &Path, files: &mut Files) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            read_tree(root, &path, files)?;
        } else {
            let rel = path.strip_prefix(root).expect("under root");
            files.insert(rel.to_string_lossy().into_owned(), std::fs::read(&path)?);
        }
    }
    Ok(())
}

fn err(file: &str, line: Option<usize>, reason: impl Into<String>) -> StackError {
    StackError {
        file: file.to_owned(),
        line,
        reason: reason.into(),
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn text<'a>(files: &'a Files, path: &str) -> Result<&'a str, StackError> {
    let bytes = files.get(path).ok_or_else(|| err(path, None, "file not found"))?;
    std::str::from_utf8(bytes).map_err(|_| err(path, None, "not valid UTF-8"))
}

fn parse_toml<T: for<'de> Deserialize<'de>>(files: &Files, path: &str) -> Result<T, StackError> {
    let src = text(files, path)?;
    toml::from_str(src).map_err(|e| {
        let line = e.span().map(|s| line_of(src, s.start));
        err(path, line, e.message().to_owned())
    })
}

fn check_name(kind: &str, name: &str, file: &str, line: Option<usize>) -> Result<(), StackError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(err(
            file,
            line,
            format!("{kind} name {name:?} must be lower-case letters, digits and '-', starting with a letter"),
        ))
    }
}

/// A path relative to a base that stays inside it.
fn is_contained(p: &str) -> bool {
    let path = Path::new(p);
    !p.is_empty() && path.components().all(|c| matches!(c, PathPart::Normal(_)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StackFile {
    name: Spanned<String>,
    version: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    config: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceFile {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    components: Vec<ComponentFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentFile {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    requires: Vec<Spanned<String>>,
    #[serde(default)]
    templates: Vec<TemplateFile>,
    #[serde(default)]
    commands: BTreeMap<String, Spanned<CommandFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    source: Spanned<String>,
    dest: Spanned<String>,
    #[serde(default = "default_mode")]
    mode: u32,
}

fn default_mode() -> u32 {
    0o644
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandFile {
    script: Spanned<String>,
    timeout: Spanned<i64>,
    risk: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    aliases: Vec<String>,
    /// Changes nothing on the host (status, checks, reports): a question may propose it.
    #[serde(default)]
    read_only: bool,
    /// The component's state after success (INSTALLED, STARTED, STOPPED).
    leads_to: Option<Spanned<String>>,
    /// The component's state after failure.
    leads_to_on_failure: Option<Spanned<String>>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<ParamFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamFile {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    description: String,
    default: Option<toml::Value>,
    min: Option<i64>,
    max: Option<i64>,
    values: Option<Vec<String>>,
    roots: Option<Vec<String>>,
    pattern: Option<String>,
    max_len: Option<usize>,
    /// Masked for viewers (config keys).
    #[serde(default)]
    secret: bool,
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Builds the catalog from a tree of files, validating everything a task will need.
fn load_files(files: &Files) -> Result<Catalog, StackError> {
    let mut catalog = Catalog::default();
    let stack_files: Vec<&String> = files
        .keys()
        .filter(|p| p.ends_with("/stack.toml") && p.matches('/').count() == 2)
        .collect();
    // Every stack's tasks carry the stacks directory's own lib/ besides the stack's.
    let shared = lib_files(files, "")?;
    for path in stack_files {
        let stack = load_stack(files, path, &shared)?;
        let key = (stack.name.clone(), stack.version.clone());
        catalog.stacks.insert(key, stack);
    }
    Ok(catalog)
}

/// The files directly in `<dir>lib/`, named as a task sees them: `(lib/<file>, content)`.
fn lib_files(files: &Files, dir: &str) -> Result<Vec<(String, String)>, StackError> {
    let prefix = format!("{dir}lib/");
    files
        .keys()
        .filter_map(|p| Some((p, p.strip_prefix(&prefix)?)))
        .filter(|(_, name)| !name.contains('/'))
        .map(|(p, name)| Ok((format!("lib/{name}"), text(files, p)?.to_owned())))
        .collect()
}

fn load_stack(files: &Files, stack_path: &str, shared: &[(String, String)]) -> Result<Stack, StackError> {
    let base = stack_path.trim_end_matches("stack.toml"); // "bigdata/1.0/"
    let mut parts = base.split('/');
    let (dir_name, dir_version) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let src = text(files, stack_path)?;
    let sf: StackFile = parse_toml(files, stack_path)?;
    let at = |s: &std::ops::Range<usize>| Some(line_of(src, s.start));
    check_name("stack", sf.name.get_ref(), stack_path, at(&sf.name.span()))?;
    if sf.name.get_ref() != dir_name || sf.version.get_ref() != dir_version {
        return Err(err(
            stack_path,
            at(&sf.name.span()),
            format!(
                "stack {} {} must live in the folder {}/{}/",
                sf.name.get_ref(),
                sf.version.get_ref(),
                sf.name.get_ref(),
                sf.version.get_ref()
            ),
        ));
    }
    let mut config = BTreeMap::new();
    let mut config_types = BTreeMap::new();
    for (k, v) in &sf.config {
        if !k
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(err(
                stack_path,
                None,
                format!("config key {k:?} must be lower_snake_case"),
            ));
        }
        let typed = match v {
            // Declared like a command parameter; a config key always has a default.
            toml::Value::Table(_) => v
                .clone()
                .try_into::<ParamFile>()
                .map_err(|e| e.to_string())
                .and_then(|p| build_param(k, p))
                .and_then(|p| match p.default {
                    Some(_) => Ok(p),
                    None => Err("a config key needs a default".into()),
                }),
            plain => params::inferred(k, &toml_to_json(plain)),
        }
        .map_err(|e| err(stack_path, None, format!("config key {k:?}: {e}")))?;
        config.insert(k.clone(), typed.default.clone().expect("checked"));
        config_types.insert(k.clone(), typed);
    }
    let mut lib = shared.to_vec();
    for (path, content) in lib_files(files, base)? {
        // One task directory holds both: a same-named file would silently replace the other.
        if shared.iter().any(|(p, _)| *p == path) {
            return Err(err(
                &format!("{base}{path}"),
                None,
                format!("the stacks directory's shared {path} has the same name; a task holds only one {path}, so rename this file"),
            ));
        }
        lib.push((path, content));
    }
    lib.sort();

    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![]);
    let mut services = BTreeMap::new();
    let svc_prefix = format!("{base}services/");
    let service_files: Vec<&String> = files
        .keys()
        .filter(|p| {
            p.starts_with(&svc_prefix)
                && p.ends_with("/service.toml")
                && p[svc_prefix.len()..].matches('/').count() == 1
        })
        .collect();
    for path in service_files {
        let svc_dir = path.trim_end_matches("service.toml");
        let service = load_service(files, path, svc_dir, &mut tera)?;
        services.insert(service.name.clone(), service);
    }
    // Dependencies may only name components of this stack, and never form a cycle.
    for svc in services.values() {
        for comp in svc.components.values() {
            for (s, c) in &comp.requires {
                let found = services.get(s).is_some_and(|x| x.components.contains_key(c));
                if !found {
                    return Err(err(
                        &format!("{svc_prefix}{}/service.toml", svc.name),
                        None,
                        format!(
                            "component {} requires {s}/{c}, which this stack does not have",
                            comp.name
                        ),
                    ));
                }
            }
        }
    }
    check_requires_acyclic(&services, &svc_prefix)?;
    Ok(Stack {
        name: sf.name.into_inner(),
        version: sf.version.into_inner(),
        description: sf.description,
        config,
        config_types,
        services,
        lib,
        tera,
    })
}

fn check_requires_acyclic(services: &BTreeMap<String, Service>, svc_prefix: &str) -> Result<(), StackError> {
    fn visit(
        node: (String, String),
        services: &BTreeMap<String, Service>,
        stack: &mut Vec<(String, String)>,
        done: &mut std::collections::BTreeSet<(String, String)>,
    ) -> Result<(), Vec<(String, String)>> {
        if done.contains(&node) {
            return Ok(());
        }
        if let Some(pos) = stack.iter().position(|n| *n == node) {
            return Err(stack[pos..].to_vec());
        }
        stack.push(node.clone());
        let comp = &services[&node.0].components[&node.1];
        for dep in &comp.requires {
            visit(dep.clone(), services, stack, done)?;
        }
        stack.pop();
        done.insert(node);
        Ok(())
    }
    let mut done = Default::default();
    for svc in services.values() {
        for comp in svc.components.values() {
            let mut stack = vec![];
            if let Err(cycle) = visit((svc.name.clone(), comp.name.clone()), services, &mut stack, &mut done) {
                let names: Vec<String> = cycle.iter().map(|(s, c)| format!("{s}/{c}")).collect();
                return Err(err(
                    &format!("{svc_prefix}{}/service.toml", svc.name),
                    None,
                    format!("requires form a cycle: {}", names.join(" -> ")),
                ));
            }
        }
    }
    Ok(())
}

fn load_service(files: &Files, path: &str, dir: &str, tera: &mut tera::Tera) -> Result<Service, StackError> {
    let src = text(files, path)?;
    let at = |s: std::ops::Range<usize>| Some(line_of(src, s.start));
    let sf: ServiceFile = parse_toml(files, path)?;
    let dir_name = dir.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    check_name("service", sf.name.get_ref(), path, at(sf.name.span()))?;
    if sf.name.get_ref() != dir_name {
        return Err(err(
            path,
            at(sf.name.span()),
            format!(
                "service {:?} must live in the folder services/{}/",
                sf.name.get_ref(),
                sf.name.get_ref()
            ),
        ));
    }
    let service_name = sf.name.get_ref().clone();
    let mut components = BTreeMap::new();
    for cf in sf.components {
        let cline = at(cf.name.span());
        check_name("component", cf.name.get_ref(), path, cline)?;
        let mut requires = vec![];
        for r in &cf.requires {
            let (s, c) = r.get_ref().split_once('/').ok_or_else(|| {
                err(
                    path,
                    at(r.span()),
                    format!("requires entry {:?} must be \"service/component\"", r.get_ref()),
                )
            })?;
            requires.push((s.to_owned(), c.to_owned()));
        }
        let mut templates = vec![];
        for t in &cf.templates {
            let source = t.source.get_ref();
            if !is_contained(source) {
                return Err(err(
                    path,
                    at(t.source.span()),
                    format!("template source {source:?} must be a relative path inside the service folder"),
                ));
            }
            let full = format!("{dir}{source}");
            let body = text(files, &full)
                .map_err(|e| err(path, at(t.source.span()), format!("template {source}: {}", e.reason)))?;
            let name = format!("{service_name}/{source}");
            tera.add_raw_template(&name, body).map_err(|e| {
                let mut reason = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    reason = format!("{reason}: {s}");
                    src = s.source();
                }
                err(&full, None, reason)
            })?;
            let dest = t.dest.get_ref();
            if !is_contained(dest) || dest == "script.sh" || dest.starts_with("lib/") {
                return Err(err(path, at(t.dest.span()), format!("template dest {dest:?} must be a relative path inside the task directory (not script.sh or lib/)")));
            }
            if t.mode > 0o777 {
                return Err(err(
                    path,
                    at(t.dest.span()),
                    format!("template mode {:o} is not a permission mode", t.mode),
                ));
            }
            templates.push(Template {
                name,
                dest: dest.clone(),
                mode: t.mode,
            });
        }
        let mut commands = BTreeMap::new();
        for (cmd_name, spanned) in cf.commands {
            let line = at(spanned.span());
            check_name("command", &cmd_name, path, line)?;
            let cmd = spanned.into_inner();
            let script_rel = cmd.script.get_ref();
            if !is_contained(script_rel) {
                return Err(err(
                    path,
                    at(cmd.script.span()),
                    format!("script {script_rel:?} must be a relative path inside the service folder"),
                ));
            }
            let script = text(files, &format!("{dir}{script_rel}"))
                .map_err(|e| {
                    err(
                        path,
                        at(cmd.script.span()),
                        format!("script {script_rel}: {}", e.reason),
                    )
                })?
                .to_owned();
            let timeout = *cmd.timeout.get_ref();
            if !(1..=86_400).contains(&timeout) {
                return Err(err(
                    path,
                    at(cmd.timeout.span()),
                    format!("timeout {timeout} must be between 1 and 86400 seconds"),
                ));
            }
            let risk = match cmd.risk.get_ref().as_str() {
                "low" => Risk::Low,
                "high" => Risk::High,
                other => {
                    return Err(err(
                        path,
                        at(cmd.risk.span()),
                        format!("risk {other:?} must be \"low\" or \"high\""),
                    ))
                }
            };
            let state = |v: &Option<Spanned<String>>, key: &str| -> Result<Option<&'static str>, StackError> {
                let Some(v) = v else { return Ok(None) };
                super::COMPONENT_STATES
                    .into_iter()
                    .find(|s| s == v.get_ref())
                    .map(Some)
                    .ok_or_else(|| {
                        err(
                            path,
                            at(v.span()),
                            format!(
                                "{key} {:?} must be one of {}",
                                v.get_ref(),
                                super::COMPONENT_STATES.join(", ")
                            ),
                        )
                    })
            };
            let leads_to = state(&cmd.leads_to, "leads_to")?;
            let leads_to_on_failure = state(&cmd.leads_to_on_failure, "leads_to_on_failure")?;
            let mut params = BTreeMap::new();
            for (pname, pspanned) in cmd.params {
                let pline = at(pspanned.span());
                check_name("parameter", &pname, path, pline)?;
                let p = build_param(&pname, pspanned.into_inner())
                    .map_err(|r| err(path, pline, format!("parameter {pname}: {r}")))?;
                params.insert(pname, p);
            }
            commands.insert(
                cmd_name.clone(),
                Command {
                    name: cmd_name,
                    description: cmd.description,
                    aliases: cmd.aliases,
                    read_only: cmd.read_only,
                    leads_to,
                    leads_to_on_failure,
                    script,
                    timeout_secs: timeout as u32,
                    risk,
                    params,
                },
            );
        }
        let name = cf.name.into_inner();
        if components.contains_key(&name) {
            return Err(err(path, cline, format!("component {name} is declared twice")));
        }
        components.insert(
            name.clone(),
            Component {
                name,
                description: cf.description,
                aliases: cf.aliases,
                requires,
                templates,
                commands,
            },
        );
    }
    let docs_prefix = format!("{dir}docs/");
    let docs = files
        .keys()
        .filter(|p| p.starts_with(&docs_prefix) && p.ends_with(".md"))
        .map(|p| Ok((p.clone(), text(files, p)?.to_owned())))
        .collect::<Result<Vec<_>, StackError>>()?;
    Ok(Service {
        name: service_name,
        description: sf.description,
        aliases: sf.aliases,
        components,
        docs,
    })
}

fn build_param(name: &str, p: ParamFile) -> Result<Param, String> {
    let kind = match p.kind.as_str() {
        "integer" => {
            let (min, max) = (p.min.unwrap_or(i64::MIN), p.max.unwrap_or(i64::MAX));
            if min > max {
                return Err(format!("min {min} is greater than max {max}"));
            }
            ParamKind::Integer { min, max }
        }
        "enum" => {
            let values = p.values.unwrap_or_default();
            if values.is_empty() {
                return Err("an enum needs a non-empty `values` list".into());
            }
            ParamKind::Enum { values }
        }
        "path" => {
            let roots = p.roots.unwrap_or_default();
            if roots.is_empty() || roots.iter().any(|r| !r.starts_with('/')) {
                return Err("a path needs `roots`, a list of absolute paths".into());
            }
            ParamKind::Path { roots }
        }
        "string" => {
            let pattern = p.pattern.unwrap_or_else(|| ".*".into());
            let re =
                regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| format!("pattern does not compile: {e}"))?;
            ParamKind::String {
                pattern: re,
                max_len: p.max_len.unwrap_or(256),
            }
        }
        "boolean" => ParamKind::Boolean,
        other => return Err(format!("type {other:?} must be integer, enum, path, string or boolean")),
    };
    let mut param = Param {
        name: name.to_owned(),
        description: p.description,
        kind,
        default: None,
        secret: p.secret,
    };
    if let Some(d) = p.default {
        let v = toml_to_json(&d);
        let checked = param.validate(&v).map_err(|e| format!("default: {e}"))?;
        param.default = Some(checked);
    }
    Ok(param)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> Files {
        entries
            .iter()
            .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
            .collect()
    }

    const STACK: &str = "name = \"s\"\nversion = \"1.0\"\n";
    const SERVICE: &str = "s/1.0/services/a/service.toml";

    /// Why the tree of `entries` does not load.
    fn load_err(entries: &[(&str, &str)]) -> StackError {
        load_files(&files(entries)).unwrap_err()
    }

    /// Why stack `s` does not load with the one service `a`, whose one component `a` is
    /// described by `component` (the TOML after `name`), and the further files `extra`.
    fn service_err(component: &str, extra: &[(&str, &str)]) -> StackError {
        let toml = format!("name = \"a\"\n[[components]]\nname = \"a\"\n{component}");
        let mut f = files(extra);
        f.extend(files(&[("s/1.0/stack.toml", STACK), (SERVICE, toml.as_str())]));
        load_files(&f).unwrap_err()
    }

    /// The error for a component whose commands (`commands`, TOML) all run a script `x.sh`.
    fn command_err(commands: &str) -> StackError {
        service_err(commands, &[("s/1.0/services/a/x.sh", "true\n")])
    }

    #[test]
    fn shipped_stacks_load() {
        let cat = load_embedded().expect("shipped stacks are valid");
        let ess = cat.stack("essentials", "1.0").expect("essentials 1.0");
        assert!(ess.component("host", "host").unwrap().commands.contains_key("check"));
        let big = cat.stack("bigdata", "1.0").expect("bigdata 1.0");
        let broker = big.component("kafka", "broker").unwrap();
        assert!(broker.requires.contains(&("zookeeper".into(), "server".into())));
        // The shared library is embedded too, and reaches every stack besides its own lib.
        let common = EMBEDDED
            .get_file("lib/common.sh")
            .expect("stacks/lib/common.sh is embedded");
        for (stack, own) in [(ess, "lib/service.sh"), (big, "lib/bigdata.sh")] {
            let lib: BTreeMap<&str, &str> = stack.lib.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
            assert_eq!(
                lib.get("lib/common.sh").map(|c| c.as_bytes()),
                Some(common.contents()),
                "{}",
                stack.name
            );
            assert!(lib.contains_key(own), "{}: {:?}", stack.name, lib.keys());
        }
    }

    #[test]
    fn every_stack_gets_the_shared_lib_files_besides_its_own() {
        let f = files(&[
            ("lib/common.sh", "log() { :; }\n"),
            ("lib/more/deep.sh", "nested folders are not lib files\n"),
            ("s/1.0/stack.toml", STACK),
            ("s/1.0/lib/own.sh", "own() { :; }\n"),
            ("t/2.0/stack.toml", "name = \"t\"\nversion = \"2.0\"\n"),
        ]);
        let cat = load_files(&f).unwrap();
        let lib = |name: &str, version: &str| cat.stack(name, version).unwrap().lib.clone();
        let shared = ("lib/common.sh".to_owned(), "log() { :; }\n".to_owned());
        let own = ("lib/own.sh".to_owned(), "own() { :; }\n".to_owned());
        assert_eq!(lib("s", "1.0"), vec![shared.clone(), own]);
        assert_eq!(lib("t", "2.0"), vec![shared]);
    }

    #[test]
    fn a_stack_lib_file_named_like_a_shared_one_is_refused() {
        let e = load_err(&[
            ("lib/common.sh", "log() { :; }\n"),
            ("s/1.0/stack.toml", STACK),
            ("s/1.0/lib/common.sh", "log() { echo; }\n"),
        ]);
        assert_eq!((e.file.as_str(), e.line), ("s/1.0/lib/common.sh", None));
        assert!(e.reason.contains("shared lib/common.sh"), "{e}");
        assert!(e.to_string().starts_with("s/1.0/lib/common.sh: "), "{e}");
    }

    #[test]
    fn unknown_risk_names_file_and_line() {
        let e = command_err("[components.commands.start]\nscript = \"x.sh\"\ntimeout = 5\nrisk = \"medium\"\n");
        assert_eq!((e.file.as_str(), e.line), (SERVICE, Some(7)));
        assert!(e.reason.contains("medium"), "{e}");
    }

    #[test]
    fn a_command_declares_the_state_it_leads_to() {
        let e = command_err(
            "[components.commands.start]\nscript = \"x.sh\"\ntimeout = 5\nrisk = \"low\"\nleads_to = \"RUNNING\"\n",
        );
        assert_eq!((e.file.as_str(), e.line), (SERVICE, Some(8)));
        assert!(
            e.reason
                .contains("leads_to \"RUNNING\" must be one of INSTALLED, STARTED, STOPPED"),
            "{e}"
        );
        let cat = load_embedded().unwrap();
        let nginx = cat
            .stack("essentials", "1.0")
            .unwrap()
            .component("nginx", "nginx")
            .unwrap();
        let leads = |c: &str| (nginx.commands[c].leads_to, nginx.commands[c].leads_to_on_failure);
        assert_eq!(leads("start"), (Some("STARTED"), None));
        assert_eq!(leads("stop"), (Some("STOPPED"), None));
        assert_eq!(leads("status"), (Some("STARTED"), Some("STOPPED")));
        assert_eq!(leads("reload"), (None, None));
    }

    #[test]
    fn missing_script_is_reported_at_its_key() {
        let e = service_err(
            "[components.commands.start]\nscript = \"nope.sh\"\ntimeout = 5\nrisk = \"low\"\n",
            &[],
        );
        assert_eq!((e.file.as_str(), e.line), (SERVICE, Some(5)));
        assert!(e.reason.contains("nope.sh") && e.reason.contains("not found"), "{e}");
    }

    #[test]
    fn toml_syntax_error_has_a_line() {
        let e = load_err(&[("s/1.0/stack.toml", "name = \"s\"\nversion = 1.0.0\n")]);
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn unknown_field_is_refused() {
        let e = load_err(&[("s/1.0/stack.toml", "name = \"s\"\nversion = \"1.0\"\nfoo = 1\n")]);
        assert!(e.reason.contains("foo"), "{e}");
    }

    #[test]
    fn dependency_on_missing_component_is_refused() {
        let e = service_err("requires = [\"b/b\"]\n", &[]);
        assert!(e.reason.contains("b/b"), "{e}");
    }

    #[test]
    fn broken_template_is_refused_with_its_file() {
        let e = service_err(
            "[[components.templates]]\nsource = \"t.conf\"\ndest = \"t.conf\"\n",
            &[("s/1.0/services/a/t.conf", "{% for x in %}")],
        );
        assert_eq!(e.file, "s/1.0/services/a/t.conf");
    }

    #[test]
    fn bad_param_default_is_refused() {
        let e = command_err("[components.commands.c]\nscript = \"x.sh\"\ntimeout = 5\nrisk = \"low\"\n[components.commands.c.params.days]\ntype = \"integer\"\nmin = 1\nmax = 10\ndefault = 50\n");
        assert!(e.reason.contains("days") && e.reason.contains("default"), "{e}");
    }
}
