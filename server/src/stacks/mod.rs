//! The stack catalog: services, components, commands, templates and docs, loaded from data.
//!
//! Stacks are data (`stacks/README.md` documents the format); this module parses and
//! validates them once at start-up and renders tasks from them. Nothing here touches the
//! database.
mod load;
mod params;
mod render;

use std::collections::BTreeMap;

use serde::Serialize;

pub use load::{load_dir, load_embedded, StackError};
pub use params::{Param, ParamKind};
pub use render::{RenderContext, RenderedFile, RenderedTask};

/// How dangerous a command is; `high` needs more care at approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Read-only or easily undone.
    Low,
    /// Destructive or disruptive (stop, delete, format).
    High,
}

impl Risk {
    /// The lower-case name used in plans, JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::High => "high",
        }
    }
}

/// Every stack the server knows, by name and version.
#[derive(Debug, Default)]
pub struct Catalog {
    stacks: BTreeMap<(String, String), Stack>,
}

impl Catalog {
    /// The stack `name` at `version`.
    pub fn stack(&self, name: &str, version: &str) -> Option<&Stack> {
        self.stacks.get(&(name.to_owned(), version.to_owned()))
    }

    /// The highest version of stack `name`, for callers that did not name one.
    pub fn latest(&self, name: &str) -> Option<&Stack> {
        self.stacks
            .range((name.to_owned(), String::new())..)
            .take_while(|((n, _), _)| n == name)
            .map(|(_, s)| s)
            .max_by(|a, b| version_key(&a.version).cmp(&version_key(&b.version)))
    }

    /// All stacks, ordered by name then version.
    pub fn stacks(&self) -> impl Iterator<Item = &Stack> {
        self.stacks.values()
    }

    /// The Markdown document at `path` (relative to the stacks root, as the knowledge index
    /// cites it in `doc:<path>#anchor`), if a loaded stack ships it. Only loaded documents are
    /// found: the path never reaches the file system.
    pub fn doc(&self, path: &str) -> Option<&str> {
        self.stacks
            .values()
            .flat_map(|st| st.services.values())
            .flat_map(|svc| svc.docs.iter())
            .find(|(p, _)| p == path)
            .map(|(_, text)| text.as_str())
    }
}

/// A document's title: its first `# ` heading, else its file name without `.md`.
pub fn doc_title(path: &str, markdown: &str) -> String {
    markdown
        .lines()
        .find_map(|l| l.strip_prefix("# ").map(str::trim).filter(|t| !t.is_empty()))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let file = path.rsplit('/').next().unwrap_or(path);
            file.strip_suffix(".md").unwrap_or(file).to_owned()
        })
}

fn version_key(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// One version of a stack.
#[derive(Debug)]
pub struct Stack {
    /// e.g. `bigdata`.
    pub name: String,
    /// e.g. `1.0`.
    pub version: String,
    /// One line for people.
    pub description: String,
    /// Defaults for templates and scripts; clusters override them.
    pub config: BTreeMap<String, serde_json::Value>,
    /// What each config key accepts: declared in the stack file (`[config.<key>]` with a
    /// `type`, like a command parameter), or inferred from a plain default (a non-negative
    /// integer, a boolean, or a string free of whitespace and shell metacharacters).
    pub config_types: BTreeMap<String, params::Param>,
    /// Services by name.
    pub services: BTreeMap<String, Service>,
    /// Shared shell helpers shipped with every task, as `(lib/<file>, content)`.
    pub lib: Vec<(String, String)>,
    /// The stack's templates, parsed once at load.
    pub(crate) tera: tera::Tera,
}

impl Stack {
    /// The config keys declared `secret`, which viewers never see.
    pub fn secret_config_keys(&self) -> Vec<&str> {
        self.config_types
            .iter()
            .filter(|(_, p)| p.secret)
            .map(|(k, _)| k.as_str())
            .collect()
    }

    /// The component `service/component`, if the stack has it.
    pub fn component(&self, service: &str, component: &str) -> Option<&Component> {
        self.services.get(service)?.components.get(component)
    }
}

/// A service of a stack (kafka, hdfs, nginx …).
#[derive(Debug)]
pub struct Service {
    /// Its name, the same as its folder.
    pub name: String,
    /// One line for people.
    pub description: String,
    /// Other words people use for it.
    pub aliases: Vec<String>,
    /// Components by name.
    pub components: BTreeMap<String, Component>,
    /// Markdown docs as `(path relative to the stacks root, content)`.
    pub docs: Vec<(String, String)>,
}

/// A component of a service (namenode, broker …): the unit placed on hosts.
#[derive(Debug)]
pub struct Component {
    /// Its name.
    pub name: String,
    /// One line for people.
    pub description: String,
    /// Other words people use for it.
    pub aliases: Vec<String>,
    /// Components of the same stack that must be up first, as `(service, component)`.
    pub requires: Vec<(String, String)>,
    /// Config templates rendered for each task.
    pub templates: Vec<Template>,
    /// Commands by name.
    pub commands: BTreeMap<String, Command>,
}

/// A config template of a component.
#[derive(Debug)]
pub struct Template {
    /// The Tera template's name in the stack's Tera instance.
    pub name: String,
    /// Where the rendered file lands, relative to the task's working directory.
    pub dest: String,
    /// Unix permission bits.
    pub mode: u32,
}

/// The states a component can be recorded in after a command.
pub const COMPONENT_STATES: [&str; 3] = ["INSTALLED", "STARTED", "STOPPED"];

/// A command of a component: a script with a timeout, a risk and typed parameters.
#[derive(Debug)]
pub struct Command {
    /// Its name (start, stop, disk-usage …).
    pub name: String,
    /// One line for people.
    pub description: String,
    /// Other words people use for it.
    pub aliases: Vec<String>,
    /// It only reads (status, checks, reports): the chat may propose it to answer a question.
    pub read_only: bool,
    /// The component's state after the command succeeds (`leads_to`), if it says one.
    pub leads_to: Option<&'static str>,
    /// The component's state after the command fails (`leads_to_on_failure`), if it says one.
    pub leads_to_on_failure: Option<&'static str>,
    /// The script's text, shipped byte for byte.
    pub script: String,
    /// Seconds before the agent kills it.
    pub timeout_secs: u32,
    /// How dangerous it is.
    pub risk: Risk,
    /// Parameters by name.
    pub params: BTreeMap<String, Param>,
}
