//! Steward's server: the control plane behind the `steward` binary.
//!
//! See ARCHITECTURE.md for the codemap and the invariants.
pub mod agents;
pub mod api;
pub mod audit;
pub mod auth;
pub mod bench;
pub mod chat;
pub mod config;
pub mod db;
pub mod evals;
pub mod events;
pub mod integrations;
pub mod inventory;
pub mod jobs;
pub mod knowledge;
pub mod metrics;
pub mod remediation;
pub mod server;
pub mod stacks;
pub mod telemetry;
pub mod tls;

/// The module layers ARCHITECTURE.md draws, checked against the code's `crate::` paths.
#[cfg(test)]
mod layers {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    /// Source text without its `#[cfg(test)] mod … { … }` blocks and comments: tests may
    /// reach anywhere, the product may not.
    fn product_code(text: &str) -> String {
        let mut text = text.to_owned();
        while let Some(at) = text.find("#[cfg(test)]\nmod ") {
            let end = text[at..].find("\n}\n").map_or(text.len(), |e| at + e + 3);
            text.replace_range(at..end, "");
        }
        text.lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The top-level modules `text` names through `crate::…` (including `use crate::{a, b}`).
    fn named_modules(text: &str) -> BTreeSet<String> {
        let ident = |s: &str| -> String {
            s.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        };
        let mut out = BTreeSet::new();
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 0;
                let mut part_start = true;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => part_start = true,
                        c if part_start && !c.is_whitespace() => {
                            out.insert(ident(&group[i..]));
                            part_start = false;
                        }
                        _ => {}
                    }
                }
            } else {
                out.insert(ident(rest));
            }
        }
        out
    }

    fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
        if path.is_dir() {
            for e in std::fs::read_dir(path).unwrap() {
                rust_files(&e.unwrap().path(), out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests.rs") {
            out.push(path.to_owned());
        }
    }

    /// Top-level module → the other top-level modules its product code uses.
    fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
        let mut modules = BTreeMap::new();
        for e in std::fs::read_dir(src).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if name != "main" && name != "lib" {
                modules.insert(name, path);
            }
        }
        let names: BTreeSet<String> = modules.keys().cloned().collect();
        modules
            .iter()
            .map(|(name, path)| {
                let mut files = Vec::new();
                rust_files(path, &mut files);
                let used = files
                    .iter()
                    .flat_map(|f| named_modules(&product_code(&std::fs::read_to_string(f).unwrap())))
                    .filter(|m| m != name && names.contains(m))
                    .collect();
                (name.clone(), used)
            })
            .collect()
    }

    /// The numbered list under "## Module layers" in ARCHITECTURE.md: module → layer.
    fn documented_layers(architecture: &str) -> BTreeMap<String, usize> {
        let section = architecture
            .split("\n## Module layers")
            .nth(1)
            .expect("ARCHITECTURE.md has a `## Module layers` section");
        let section = section.split("\n## ").next().unwrap();
        let mut layers = BTreeMap::new();
        for line in section.lines() {
            let Some((n, rest)) = line.split_once(". ") else {
                continue;
            };
            let Ok(n) = n.trim().parse::<usize>() else { continue };
            let names = rest.split(" — ").next().unwrap_or(rest);
            for name in names.split('`').skip(1).step_by(2) {
                layers.insert(name.to_owned(), n);
            }
        }
        layers
    }

    #[test]
    fn every_module_uses_only_the_layers_below_it() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let graph = graph(&root.join("src"));
        let layers = documented_layers(&std::fs::read_to_string(root.join("../ARCHITECTURE.md")).unwrap());
        let mut wrong = Vec::new();
        for (module, used) in &graph {
            let Some(&mine) = layers.get(module) else {
                wrong.push(format!("module `{module}` is in no layer of ARCHITECTURE.md"));
                continue;
            };
            for other in used {
                if layers.get(other).is_none_or(|&theirs| theirs >= mine) {
                    wrong.push(format!(
                        "`{module}` (layer {mine}) uses `{other}` (layer {:?})",
                        layers.get(other)
                    ));
                }
            }
        }
        for module in layers.keys() {
            if !graph.contains_key(module) {
                wrong.push(format!("ARCHITECTURE.md names `{module}`, which is not a module"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    /// The agent crate's modules form no cycle either (a session used to reach back into its
    /// endpoint's caller for an error formatter).
    #[test]
    fn the_agent_modules_form_no_cycle() {
        let graph = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/src"));
        fn reaches(
            graph: &BTreeMap<String, BTreeSet<String>>,
            from: &str,
            to: &str,
            seen: &mut BTreeSet<String>,
        ) -> bool {
            graph
                .get(from)
                .into_iter()
                .flatten()
                .any(|next| next == to || (seen.insert(next.clone()) && reaches(graph, next, to, seen)))
        }
        let cycles: Vec<&String> = graph
            .keys()
            .filter(|m| reaches(&graph, m, m, &mut BTreeSet::new()))
            .collect();
        assert!(cycles.is_empty(), "modules on a cycle: {cycles:?}");
    }

    #[test]
    fn paths_are_read_from_use_groups_and_paths() {
        let text = "use crate::{audit, jobs::{Jobs, X}, db::Store};\nlet x = crate::metrics::A;\n// crate::chat\n";
        let found = named_modules(&product_code(text));
        assert_eq!(found, ["audit", "db", "jobs", "metrics"].map(String::from).into());
        let text = "fn a() {}\n#[cfg(test)]\nmod tests {\n    use crate::chat;\n}\nfn b() { crate::api::x(); }\n";
        assert_eq!(named_modules(&product_code(text)), ["api"].map(String::from).into());
    }
}
