//! Deterministic resolution of a request against the catalog, for models without tool calling.
//!
//! A small local model confuses services and invents hosts (FINDINGS.md), so names are
//! resolved here: which cluster, which hosts are named (and which named hosts do not exist),
//! whether "all" was said, and which catalog actions the words point at. The model is then
//! asked only to choose among those candidate actions, or none.
use std::collections::BTreeSet;

use crate::inventory::ClusterView;
use crate::stacks::{Catalog, Stack};

/// One action of the catalog the request may mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Service.
    pub service: String,
    /// Component.
    pub component: String,
    /// Command.
    pub command: String,
}

impl Candidate {
    /// The command in `stack`.
    fn command<'a>(&self, stack: &'a Stack) -> Option<&'a crate::stacks::Command> {
        stack
            .component(&self.service, &self.component)?
            .commands
            .get(&self.command)
    }

    /// How the model sees it: `restart kafka/broker`.
    pub fn label(&self) -> String {
        format!("{} {}/{}", self.command, self.service, self.component)
    }
}

/// What the words of a request resolve to.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    /// Hosts of the cluster named in the request.
    pub hosts: Vec<String>,
    /// Host-like names in the request that the cluster does not have.
    pub unknown_hosts: Vec<String>,
    /// Candidate actions, best first.
    pub candidates: Vec<Candidate>,
    /// Why there is nothing to propose, when resolution alone can tell.
    pub refusal: Option<String>,
    /// Whether the words name a command (not only a component).
    pub command_named: bool,
    /// Whether the words name a component (or its service).
    pub component_named: bool,
}

/// Lower-case words (letters, digits, `-`, `_`, `.`, `/`) of a text; a possessive `'s` is
/// dropped ("nginx's config" names nginx).
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace(['’', '\''], "'")
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '\'')))
        .map(|w| {
            let w = w.strip_suffix("'s").unwrap_or(w);
            w.trim_matches(|c| matches!(c, '.' | '-' | '\'')).to_owned()
        })
        .filter(|w| !w.is_empty() && w != "/")
        .flat_map(|w| {
            // "Kafka-Broker" names kafka and broker; a host (an-2) or a command (test-config)
            // stays one word too.
            let parts: Vec<String> = if w.contains('-') && !looks_like_host(&w) && !w.starts_with('/') {
                w.split('-').filter(|p| !p.is_empty()).map(str::to_owned).collect()
            } else {
                vec![]
            };
            std::iter::once(w).chain(parts)
        })
        .collect()
}

/// The clauses of a text (cut at `,;:!?()` and dashes between words), each as its words:
/// the object of a command does not run on past the end of its clause.
fn clauses(text: &str) -> Vec<Vec<String>> {
    text.split([',', ';', ':', '!', '?', '(', ')', '—', '–'])
        .flat_map(|c| c.split(" - "))
        .map(words)
        .filter(|c| !c.is_empty())
        .collect()
}

/// Optimal-string-alignment distance (an adjacent swap counts once), for typos.
pub(super) fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// Words that carry no meaning for matching ("rotate the logs" names "rotate logs").
const FILLER: &[&str] = &[
    "the", "it", "a", "an", "my", "our", "its", "their", "this", "that", "of", "on", "le", "la", "les", "der", "die",
    "das", "el",
];

/// Whether the phrase occurs exactly (no typo allowed): for refusals, where a near miss
/// ("broken" for "broker") must not refuse a good request.
fn mentions_exactly(text_words: &[String], phrase: &str) -> bool {
    let p = words(phrase);
    !p.is_empty() && text_words.windows(p.len()).any(|w| w == p.as_slice())
}

/// Whether the phrase (one or more words) occurs in `text_words`, allowing a typo in long words.
fn mentions(text_words: &[String], phrase: &str) -> bool {
    let text_words: Vec<String> = text_words
        .iter()
        .filter(|w| !FILLER.contains(&w.as_str()))
        .cloned()
        .collect();
    let p: Vec<String> = words(phrase)
        .into_iter()
        .filter(|w| !FILLER.contains(&w.as_str()))
        .collect();
    if p.is_empty() || p.len() > text_words.len() {
        return false;
    }
    text_words.windows(p.len()).any(|w| {
        w.iter().zip(&p).all(|(t, q)| {
            t == q || t.strip_suffix('s') == Some(q.as_str()) || inflected(t, q) || swapped(t, q) || {
                let tolerance = match q.chars().count() {
                    0..=4 => 0,
                    5..=7 => 1,
                    _ => 2,
                };
                tolerance > 0 && distance(t, q) <= tolerance
            }
        })
    })
}

/// Whether a phrase of several words occurs with up to two other words between each
/// ("shut the namenode down" says "shut down", "test the nginx config" says "test config"),
/// or a word of one ends a hyphenated word ("deep-check" says "check").
fn mentions_apart(text_words: &[String], phrase: &str) -> bool {
    let p = words(phrase);
    match p.as_slice() {
        [] => false,
        [one] => one.chars().count() >= 4 && text_words.iter().any(|t| t.ends_with(&format!("-{one}"))),
        _ => text_words.iter().enumerate().any(|(start, t)| {
            if t != &p[0] {
                return false;
            }
            let mut at = start;
            p[1..]
                .iter()
                .all(|q| match text_words[at + 1..].iter().take(3).position(|t| t == q) {
                    Some(k) => {
                        at += k + 1;
                        true
                    }
                    None => false,
                })
        }),
    }
}

/// `t` is `q` with an English participle ending: deployed, installing, reloaded.
fn inflected(t: &str, q: &str) -> bool {
    let Some(rest) = t
        .strip_prefix(q)
        .or_else(|| q.strip_suffix('e').and_then(|stem| t.strip_prefix(stem)))
    else {
        return false;
    };
    // Participles only ("needs installing", "deployed"): "starts in five minutes" narrates.
    q.chars().count() >= 3 && matches!(rest, "d" | "ed" | "ing" | "ped" | "ping")
}

/// `t` is `q` with two neighbouring letters swapped ("stpo"): a typo even in a short word.
fn swapped(t: &str, q: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (t.chars().collect(), q.chars().collect());
    if a.len() != b.len() || a.len() < 3 {
        return false;
    }
    let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    matches!(diff.as_slice(), [i, j] if *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i])
}

const INJECTION: &[&str] = &[
    "ignore previous",
    "ignore all previous",
    "ignore your instructions",
    "disregard previous",
    "admin mode",
    "system:",
    "rm -rf",
    "curl ",
    "wget ",
    "| sh",
    "|sh",
    "sudo ",
    "chmod ",
    "nc -e",
    "/bin/sh",
    "bash -i",
    "override",
    "iptables",
    "assistant:",
    "the assistant must",
    "ignore the operator",
    "dd if=",
    "of=/dev/",
    "mkfs",
];

/// The injection pattern `text` contains, if any: such a text gets no proposal, whatever
/// path it takes.
pub fn injection(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    INJECTION.iter().copied().find(|p| lower.contains(p))
}

/// Phrases that say "not now".
const NOT_NOW: &[&str] = &[
    "don't do anything",
    "do not do anything",
    "don't run anything",
    "not now",
    "just asking",
    "asking before",
    "for later",
    "no action",
    "nothing now",
    "remind",
    "fyi",
    "already",
    "tomorrow",
    "next week",
    "demain",
    "pour l'instant",
    "plus tard",
    "morgen",
    "später",
    "mañana",
    "más tarde",
    "domani",
    "più tardi",
    "amanhã",
    "later vandaag",
];

/// Resolves `text` against cluster `cluster` running `stack` (`catalog` tells which names
/// exist elsewhere). Every word that names an operation or an object must be accounted for
/// by the chosen action, or the request is refused with what the cluster can do.
pub fn resolve(text: &str, cluster: &ClusterView, stack: &Stack, catalog: &Catalog) -> Resolution {
    let mut r = resolve_names(text, cluster, stack, catalog);
    let tw = words(text);
    // Several commands named: the one said as the request's verb wins ("the RM has to be down
    // before the config freeze, SHUTDOWN now" is not `configure`).
    if r.candidates.iter().map(|c| &c.command).collect::<BTreeSet<_>>().len() > 1 {
        let verbs = imperatives(text);
        let said = |c: &Candidate| {
            c.command(stack).is_some_and(|cmd| {
                std::iter::once(&cmd.name)
                    .chain(cmd.aliases.iter())
                    .filter_map(|p| words(p).into_iter().next())
                    .any(|first| verbs.contains(&first))
            })
        };
        let keep: Vec<Candidate> = r.candidates.iter().filter(|c| said(c)).cloned().collect();
        if !keep.is_empty() {
            r.candidates = keep;
        }
    }
    if r.refusal.is_none() {
        r.refusal = unaccounted(
            text,
            &tw,
            &r.candidates,
            r.component_named,
            On {
                cluster,
                stack,
                catalog,
            },
        );
    }
    if let Some(why) = r.refusal.take() {
        r.candidates.clear();
        r.refusal = Some(format!("{why}. {}", possible(&tw, cluster, stack)));
    }
    r
}

/// Words that name an operation. One the chosen command's name or aliases do not account for
/// means the request asks for something else ("delete the datanode's data" is not `check`).
/// Only the bare (imperative) form counts: "we're replacing a disk" explains, it does not ask.
const OPERATIONS: &[&str] = &[
    "delete",
    "remove",
    "wipe",
    "erase",
    "purge",
    "drop",
    "truncate",
    "destroy",
    "nuke",
    "scale",
    "resize",
    "upgrade",
    "downgrade",
    "update",
    "patch",
    "migrate",
    "rebalance",
    "rename",
    "move",
    "copy",
    "chmod",
    "chown",
    "kill",
    "reboot",
    "flush",
    "flushall",
    "backup",
    "snapshot",
    "restore",
    "rollback",
    "create",
    "add",
    "grow",
    "shrink",
    "increase",
    "decrease",
    "raise",
    "lower",
    "set",
    "change",
    "modify",
    "edit",
    "tune",
    "expand",
    "provision",
    "decommission",
    "recommission",
    "uninstall",
    "mount",
    "unmount",
    "empty",
    "clear",
    "compact",
    "reindex",
    "failover",
    "promote",
    "demote",
    "replace",
    "enable",
    "disable",
    "open",
    "close",
    "block",
    "allow",
    "grant",
    "revoke",
    "format",
    "install",
    "bump",
    "double",
    "halve",
    "skip",
    "bypass",
    "trigger",
    "elect",
    "supprimer",
    "supprime",
    "effacer",
    "löschen",
    "lösche",
    "entfernen",
    "entferne",
    "borrar",
    "borra",
    "eliminar",
    "elimina",
    "apagar",
    "apaga",
    "cancellare",
    "cancella",
    "verwijderen",
    "verwijder",
    "aktualisieren",
    "actualizar",
    "actualiza",
    "aggiornare",
    "aggiorna",
    "skalieren",
    "escalar",
    "ändern",
    "cambiar",
    "cambia",
    "modifier",
    "modifie",
];

/// Words that qualify a request without naming anything, and small words of every language
/// the planner reads.
const MODIFIERS: &[&str] = &[
    "please",
    "pls",
    "now",
    "again",
    "asap",
    "quick",
    "quickly",
    "right",
    "away",
    "too",
    "also",
    "first",
    "then",
    "soon",
    "all",
    "every",
    "each",
    "both",
    "whole",
    "entire",
    "everything",
    "them",
    "one",
    "ones",
    "service",
    "services",
    "server",
    "servers",
    "daemon",
    "daemons",
    "process",
    "instance",
    "instances",
    "node",
    "nodes",
    "host",
    "hosts",
    "machine",
    "machines",
    "box",
    "boxes",
    "cluster",
    "member",
    "members",
    "role",
    "thing",
    "stuff",
    "fleet",
    "ensemble",
    "pool",
    "farm",
    "group",
    "tier",
    "summary",
    "report",
    "overview",
    "for",
    "me",
    "us",
    "real",
    "run",
    "give",
    "get",
    "do",
    "perform",
    "execute",
    "need",
    "needs",
    "needed",
    "want",
    "full",
    "force",
    "kick",
    "off",
    "has",
    "have",
    "had",
    "been",
    "keeps",
    "got",
    "seems",
    "looks",
    "let",
    "lets",
    "let's",
    "make",
    "sure",
    "there",
    "here",
    "back",
    "up",
    "down",
    "out",
    "over",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "its",
    "just",
    "even",
    "still",
    "two",
    "three",
    "four",
    "five",
    "bitte",
    "s'il",
    "vous",
    "plaît",
    "plait",
    "por",
    "favor",
    "favore",
    "alsjeblieft",
    "graag",
    "svp",
    "todos",
    "todas",
    "alle",
    "tous",
    "toutes",
    "tutti",
    "tutte",
    "todo",
    "tout",
    "o",
    "os",
    "as",
    "il",
    "lo",
    "gli",
    "un",
    "una",
    "une",
    "ein",
    "eine",
    "einen",
    "het",
    "een",
    "los",
    "las",
    "configuration",
    "configurazione",
    "konfiguration",
    "configuración",
    "configuração",
    "configuratie",
];

/// Words that end the object of a command ("restart kafka ON an-3").
const PHRASE_ENDS: &[&str] = &[
    "on",
    "in",
    "at",
    "for",
    "with",
    "from",
    "to",
    "across",
    "everywhere",
    "and",
    "then",
    "now",
    "so",
    "because",
    "since",
    "after",
    "before",
    "if",
    "when",
    "but",
    "or",
    "as",
    "via",
    "using",
    "under",
    "without",
    "by",
    "sur",
    "dans",
    "auf",
    "en",
    "em",
    "su",
    "op",
    "bei",
    "para",
    "per",
    "von",
    "de",
    "do",
    "da",
    "di",
    "del",
    "des",
    "du",
    "der",
    "den",
    "dem",
    "nos",
    "nas",
    "no",
    "na",
    "sul",
    "sulla",
    "im",
    "am",
    "und",
    "et",
    "y",
    "e",
    "weil",
    "parce",
    "porque",
    "perché",
    "omdat",
    "please",
    "bitte",
    "senza",
    "sans",
    "ohne",
    "sin",
    "sem",
    "zonder",
];

/// Words before the verb of a request that say nothing about what to do ("please", "can
/// you", "we need to").
const LEAD_INS: &[&str] = &[
    "please", "pls", "can", "could", "would", "will", "you", "kindly", "just", "now", "then", "also", "and", "go",
    "ahead", "let's", "lets", "we", "i", "need", "needs", "to", "want", "must", "should", "have", "has", "quickly",
    "bitte", "kannst", "du", "peux", "tu", "pouvez", "vous", "puedes", "puoi", "podes", "kun", "je", "graag", "por",
    "favor", "s'il", "te", "plaît",
];

/// The first word of each clause after its lead-ins, and every word right after "to": where
/// an imperative stands ("wipe the data dir", "we need to upgrade kafka"). An operation word
/// elsewhere is context ("the metadata dir move").
fn imperatives(text: &str) -> Vec<String> {
    let mut out = vec![];
    for c in clauses(text) {
        if let Some(w) = c.iter().find(|w| !LEAD_INS.contains(&w.as_str())) {
            out.push(w.clone());
        }
        for pair in c.windows(2) {
            if matches!(pair[0].as_str(), "to" | "and" | "then") {
                out.push(pair[1].clone());
            }
        }
    }
    out
}

/// What a request is resolved against: the cluster, its stack and the whole catalog.
#[derive(Clone, Copy)]
struct On<'a> {
    cluster: &'a ClusterView,
    stack: &'a Stack,
    catalog: &'a Catalog,
}

/// Pronouns that stand for what the request named first ("tomcat is down, bounce IT").
const PRONOUNS: &[&str] = &[
    "it", "them", "that", "this", "lo", "la", "le", "les", "ihn", "sie", "es", "het",
];

/// Why the words ask for more than `candidates` can do: an operation, an object or a
/// parameter no candidate accounts for. `named` says whether a component was named.
fn unaccounted(text: &str, tw: &[String], candidates: &[Candidate], named: bool, on: On) -> Option<String> {
    let On {
        cluster,
        stack,
        catalog,
    } = on;
    let commands: Vec<&crate::stacks::Command> = candidates.iter().filter_map(|c| c.command(stack)).collect();
    // A word is accounted for by a command when it is its name, a one-word alias, or part of
    // a longer alias that the request says in full ("set up" accounts for "set"; "set" alone
    // does not).
    let accounts = |cmd: &crate::stacks::Command, w: &str| {
        cmd.name == w
            || words(&cmd.name.replace('-', " ")).iter().any(|n| n == w)
            || cmd.aliases.iter().any(|a| {
                let aw = words(a);
                aw.iter().any(|x| x == w) && (aw.len() == 1 || mentions_exactly(tw, a) || mentions_apart(tw, a))
            })
    };
    for w in imperatives(text) {
        if OPERATIONS.contains(&w.as_str()) && !commands.iter().any(|cmd| accounts(cmd, &w)) {
            return Some(format!("the catalog has no operation {w:?} here"));
        }
    }
    // A command of this stack named exactly ("run test-config on the namenode") that no
    // candidate is.
    for st in catalog.stacks().flat_map(|st| st.services.values()) {
        for comp in st.components.values() {
            for name in comp.commands.keys().filter(|n| n.contains('-')) {
                if tw.iter().any(|w| w == name) && !candidates.iter().any(|c| &c.command == name) {
                    return Some(format!("{name} is not a command of what the request names"));
                }
            }
        }
    }
    // Parameters: `key=value`, `--flag`, a size ("8g"), or "with …" the commands do not take.
    let takes = |name: &str| commands.iter().any(|c| c.params.contains_key(name));
    let no_params = commands.iter().all(|c| c.params.is_empty());
    for raw in text.split_whitespace() {
        let raw = raw.trim_matches(|c: char| matches!(c, ',' | ';' | '.' | '"' | '\'' | '`'));
        if let Some(flag) = raw.strip_prefix("--").or_else(|| {
            raw.strip_prefix('-')
                .filter(|f| f.len() > 1 && !f.starts_with(char::is_numeric))
        }) {
            let name = flag.split('=').next().unwrap_or(flag);
            if !takes(name) {
                return Some(format!("no candidate command takes a parameter {name:?}"));
            }
        } else if let Some((k, _)) = raw.split_once('=') {
            if !takes(k) {
                return Some(format!("no candidate command takes a parameter {k:?}"));
            }
        }
    }
    if no_params {
        // Values only count in the clauses that name a candidate command.
        let named_in = |c: &[String]| {
            candidates
                .iter()
                .filter_map(|cand| cand.command(stack))
                .any(|cmd| spoken(cmd).iter().any(|p| mentions_exactly(c, p)))
        };
        let command_clauses: Vec<Vec<String>> = clauses(text).into_iter().filter(|c| named_in(c)).collect();
        if let Some(w) = command_clauses.iter().flatten().find(|w| is_size(w)) {
            return Some(format!("{w:?} is a value, and the command takes no parameters"));
        }
        for c in command_clauses {
            if let Some(i) = c.iter().position(|w| {
                matches!(
                    w.as_str(),
                    "with"
                        | "without"
                        | "using"
                        | "mit"
                        | "ohne"
                        | "avec"
                        | "sans"
                        | "con"
                        | "sin"
                        | "com"
                        | "sem"
                        | "met"
                        | "zonder"
                )
            }) {
                let rest: Vec<&String> = c[i + 1..].iter().filter(|w| !FILLER.contains(&w.as_str())).collect();
                if let Some(first) = rest.first() {
                    if first.chars().any(|ch| ch.is_ascii_digit()) || !MODIFIERS.contains(&first.as_str()) {
                        return Some(format!(
                            "the command takes no parameters, and the request asks for \"{} {}\"",
                            c[i], first
                        ));
                    }
                }
            }
        }
    }
    if let Some(unknown) = unknown_object(text, candidates, named, on) {
        return Some(format!("cluster {} has nothing called {unknown:?}", cluster.name));
    }
    None
}

/// How a request may say a command: its name, its name with spaces for dashes, its aliases.
fn spoken(cmd: &crate::stacks::Command) -> Vec<String> {
    let mut out = vec![cmd.name.clone(), cmd.name.replace('-', " ")];
    out.extend(cmd.aliases.iter().cloned());
    out
}

/// `8g`, `512mb`, `4096m`, `2tb`: a quantity with a unit.
fn is_size(w: &str) -> bool {
    let digits = w.chars().take_while(char::is_ascii_digit).count();
    let unit = &w[digits..];
    digits > 0
        && matches!(
            unit,
            "k" | "kb" | "m" | "mb" | "g" | "gb" | "t" | "tb" | "gib" | "mib" | "kib" | "tib" | "x" | "%"
        )
}

/// The words the catalog knows.
struct Vocabulary {
    /// Every word of every name and alias.
    all: BTreeSet<String>,
    /// Words of service and component names and aliases.
    components: BTreeSet<String>,
    /// Words long enough (5+) to be recognised with a typo.
    typo: Vec<String>,
}

fn vocabulary(catalog: &Catalog) -> Vocabulary {
    let mut v = Vocabulary {
        all: BTreeSet::new(),
        components: BTreeSet::new(),
        typo: vec![],
    };
    for st in catalog.stacks() {
        for s in st.services.values() {
            let mut names = vec![s.name.clone()];
            names.extend(s.aliases.iter().cloned());
            for c in s.components.values() {
                names.push(c.name.clone());
                names.extend(c.aliases.iter().cloned());
                for cmd in c.commands.values() {
                    let mut ws = words(&cmd.name.replace('-', " "));
                    ws.push(cmd.name.clone());
                    for a in &cmd.aliases {
                        ws.extend(words(a));
                    }
                    v.typo.extend(ws.iter().filter(|w| w.chars().count() >= 5).cloned());
                    v.all.extend(ws);
                }
            }
            for n in names {
                let ws = words(&n);
                v.typo.extend(ws.iter().filter(|w| w.chars().count() >= 5).cloned());
                v.components.extend(ws.iter().cloned());
                v.all.extend(ws);
            }
        }
    }
    v.typo.sort();
    v.typo.dedup();
    v
}

/// The words the command acts on that name nothing this server knows ("restart POSTGRES
/// on web-1", "restart the kafka CONNECT WORKER", "tomcat is down, bounce it"), if any. The
/// object is read after the last place the request names a candidate command, within its
/// clause; a pronoun stands for the first words of the request. When the request names a
/// component, only unknown words beside it in the object count (the rest may be context).
fn unknown_object(text: &str, candidates: &[Candidate], named: bool, on: On) -> Option<String> {
    let On {
        cluster,
        stack,
        catalog,
    } = on;
    let v = vocabulary(catalog);
    let mut phrases: Vec<Vec<String>> = vec![];
    for cmd in candidates.iter().filter_map(|c| c.command(stack)) {
        phrases.extend(spoken(cmd).iter().map(|p| words(p)));
    }
    phrases.retain(|p| !p.is_empty());
    let cls = clauses(text);
    // The last mention of a candidate command: (clause, start, end of the mention).
    let mut at = None;
    for (ci, c) in cls.iter().enumerate() {
        for p in &phrases {
            if p.len() > c.len() {
                continue;
            }
            for i in 0..=c.len() - p.len() {
                if c[i..i + p.len()] == p[..] {
                    let end = i + p.len();
                    if at.is_none_or(|(aci, _, aend)| (ci, end) > (aci, aend)) {
                        at = Some((ci, i, end));
                    }
                }
            }
        }
    }
    let (ci, _, end) = at?;
    let hosts: BTreeSet<&str> = cluster.hosts.iter().map(|h| h.hostname.as_str()).collect();
    let known = |w: &str| {
        v.all.contains(w)
            || FILLER.contains(&w)
            || MODIFIERS.contains(&w)
            || PRONOUNS.contains(&w)
            || w.ends_with("ly")
            || w.parse::<f64>().is_ok()
            || hosts.contains(w)
            || w.starts_with('/')
            || w.contains('=')
            || is_size(w)
            || v.typo.iter().any(|n| {
                let tolerance = if n.chars().count() >= 8 { 2 } else { 1 };
                distance(w, n) <= tolerance
            })
            || w.strip_suffix('s').is_some_and(|s| v.all.contains(s))
    };
    let object = |c: &[String], from: usize| -> Vec<String> {
        c[from..]
            .iter()
            .take_while(|w| !PHRASE_ENDS.contains(&w.as_str()) && !hosts.contains(w.as_str()))
            .filter(|w| PRONOUNS.contains(&w.as_str()) || !FILLER.contains(&w.as_str()))
            .cloned()
            .collect()
    };
    let mut obj = object(&cls[ci], end);
    let bare = obj
        .iter()
        .all(|w| PRONOUNS.contains(&w.as_str()) || MODIFIERS.contains(&w.as_str()));
    if bare && obj.iter().any(|w| PRONOUNS.contains(&w.as_str())) {
        // "bounce it": what the request began with — its first word that is not a host.
        // When a component is named, the pronoun is taken to stand for it.
        if named {
            return None;
        }
        obj = object(&cls[0], 0).into_iter().take(1).collect();
    }
    let component_word =
        |w: &str| v.components.contains(w) || w.strip_suffix('s').is_some_and(|s| v.components.contains(s));
    let unknown: Vec<&str> = obj.iter().map(String::as_str).filter(|w| !known(w)).collect();
    if unknown.is_empty() || (named && !obj.iter().any(|w| component_word(w))) {
        return None;
    }
    Some(unknown.join(" "))
}

/// What the cluster can do, for a refusal: the commands of the component the words name, or
/// the cluster's components.
fn possible(tw: &[String], cluster: &ClusterView, stack: &Stack) -> String {
    let mut placed = vec![];
    for s in stack.services.values() {
        for c in s.components.values() {
            if cluster.carriers(&s.name, &c.name).is_empty() {
                continue;
            }
            let named = mentions(tw, &s.name)
                || s.aliases.iter().any(|a| mentions(tw, a))
                || (c.name != "server" && mentions(tw, &c.name))
                || c.aliases.iter().any(|a| mentions(tw, a));
            placed.push((named, s.name.as_str(), c));
        }
    }
    let named: Vec<_> = placed.iter().filter(|p| p.0).collect();
    if !named.is_empty() {
        let parts: Vec<String> = named
            .iter()
            .map(|(_, s, c)| {
                let cmds: Vec<&str> = c.commands.keys().map(String::as_str).collect();
                format!("{s}/{} can {}", c.name, cmds.join(", "))
            })
            .collect();
        return format!("On cluster {}, {}", cluster.name, parts.join("; "));
    }
    let comps: Vec<String> = placed.iter().map(|(_, s, c)| format!("{s}/{}", c.name)).collect();
    if comps.is_empty() {
        return format!("Cluster {} runs no component yet", cluster.name);
    }
    format!(
        "Cluster {} runs {}; ask for one of their commands",
        cluster.name,
        comps.join(", ")
    )
}

fn resolve_names(text: &str, cluster: &ClusterView, stack: &Stack, catalog: &Catalog) -> Resolution {
    let lower = text.to_lowercase();
    let tw = words(text);
    let mut r = Resolution::default();
    if let Some(p) = injection(&lower) {
        r.refusal = Some(format!(
            "the request contains {:?}, which is not an operation of the catalog",
            p.trim()
        ));
        return r;
    }
    if let Some(p) = NOT_NOW.iter().find(|p| lower.contains(*p)) {
        r.refusal = Some(format!("the request says {p:?}"));
        return r;
    }
    // Hosts: exact names of this cluster; host-like words (letters-digits) that are not.
    let known: BTreeSet<&str> = cluster.hosts.iter().map(|h| h.hostname.as_str()).collect();
    for w in &tw {
        if known.contains(w.as_str()) {
            if !r.hosts.contains(w) {
                r.hosts.push(w.clone());
            }
        } else if looks_like_host(w) && !r.unknown_hosts.contains(w) {
            r.unknown_hosts.push(w.clone());
        }
    }
    if !r.unknown_hosts.is_empty() {
        r.refusal = Some(format!(
            "cluster {} has no host {}",
            cluster.name,
            r.unknown_hosts.join(", ")
        ));
        return r;
    }

    // Components named (by name or alias, exactly) that this cluster does not run: refuse
    // rather than guess a neighbour ("zk healthcheck" on a cluster without ZooKeeper is not
    // the host's check).
    let placed = |svc: &str, comp: &str| !cluster.carriers(svc, comp).is_empty();
    for svc in catalog.stacks().flat_map(|st| st.services.values()) {
        if svc.name == "host" || svc.components.keys().any(|c| placed(&svc.name, c)) {
            continue;
        }
        let mut names = vec![svc.name.clone()];
        names.extend(svc.aliases.iter().cloned());
        for c in svc.components.values() {
            if !matches!(c.name.as_str(), "server" | "host") && c.name != svc.name {
                names.push(c.name.clone());
            }
            names.extend(c.aliases.iter().cloned());
        }
        // An alias this cluster's own components share names them, not the absent service.
        let ours = |n: &str| {
            stack.services.values().any(|s| {
                s.components.values().any(|c| {
                    placed(&s.name, &c.name) && (c.aliases.iter().any(|a| a == n) || s.aliases.iter().any(|a| a == n))
                })
            })
        };
        if names.iter().any(|n| mentions_exactly(&tw, n) && !ours(n)) {
            r.refusal = Some(format!("cluster {} does not run {}", cluster.name, svc.name));
            return r;
        }
    }

    // Components placed in this cluster, scored by how strongly the words name them.
    let mut scored: Vec<(u32, &str, &str)> = vec![];
    for svc in stack.services.values() {
        for comp in svc.components.values() {
            if !placed(&svc.name, &comp.name) {
                continue;
            }
            let mut score = 0;
            if mentions(&tw, &svc.name) || svc.aliases.iter().any(|a| mentions(&tw, a)) {
                score += 2;
            }
            // Named or aliased counts once; a generic name ("server") alone names nothing.
            let named = (comp.name != svc.name && comp.name != "server" && mentions(&tw, &comp.name))
                || comp.aliases.iter().any(|a| mentions(&tw, a));
            if named {
                score += 2;
            } else if comp.name == "server" && score > 0 && mentions(&tw, &comp.name) {
                score += 1;
            }
            scored.push((score, &svc.name, &comp.name));
        }
    }
    let best = scored.iter().map(|s| s.0).max().unwrap_or(0);
    r.component_named = best > 0;
    let mut comps: Vec<(&str, &str)> = if best > 0 {
        scored.iter().filter(|s| s.0 == best).map(|s| (s.1, s.2)).collect()
    } else if !r.hosts.is_empty() {
        // Nothing named: whatever runs on the named hosts.
        scored
            .iter()
            .filter(|s| r.hosts.iter().any(|h| cluster.carriers(s.1, s.2).contains(h)))
            .map(|s| (s.1, s.2))
            .collect()
    } else {
        scored.iter().map(|s| (s.1, s.2)).collect()
    };
    if !r.hosts.is_empty() {
        let before = comps.clone();
        comps.retain(|(s, c)| r.hosts.iter().all(|h| cluster.carriers(s, c).contains(h)));
        if comps.is_empty() {
            let names: Vec<String> = before.iter().map(|(s, c)| format!("{s}/{c}")).collect();
            r.refusal = Some(format!("{} does not run {}", r.hosts.join(", "), names.join(" or ")));
            return r;
        }
    }

    // Commands of those components; named or aliased counts the same, so one command's extra
    // aliases do not outrank another's name.
    // How strongly a command is named: the words of its longest name or alias the request
    // says ("free disk space" outranks "disk"); 0 when not named.
    let named_cmd = |name: &str, aliases: &[String]| -> usize {
        let spaced = name.replace('-', " ");
        std::iter::once(name)
            .chain(std::iter::once(spaced.as_str()))
            .chain(aliases.iter().map(String::as_str))
            .filter(|p| mentions(&tw, p) || mentions_apart(&tw, p))
            .map(|p| words(p).len())
            .max()
            .unwrap_or(0)
    };
    let mut cmds: Vec<(usize, Candidate)> = vec![];
    for (s, c) in &comps {
        let comp = stack.component(s, c).expect("from the stack");
        for cmd in comp.commands.values() {
            let cand = Candidate {
                service: s.to_string(),
                component: c.to_string(),
                command: cmd.name.clone(),
            };
            cmds.push((named_cmd(&cmd.name, &cmd.aliases), cand));
        }
    }
    let strongest = cmds.iter().map(|c| c.0).max().unwrap_or(0);
    let any_named = strongest > 0;
    r.command_named = any_named;
    if !any_named {
        // A command of the stack was named, but not one these components have.
        let elsewhere = stack
            .services
            .values()
            .flat_map(|s| s.components.values())
            .flat_map(|c| c.commands.values())
            .find(|cmd| mentions(&tw, &cmd.name) || mentions(&tw, &cmd.name.replace('-', " ")));
        if let (Some(cmd), true) = (elsewhere, best > 0) {
            let names: Vec<String> = comps.iter().map(|(s, c)| format!("{s}/{c}")).collect();
            r.refusal = Some(format!("{} has no command {}", names.join(" or "), cmd.name));
            return r;
        }
    }
    // A request that names no command does not say what to do: it is not guessed.
    r.candidates = if any_named {
        cmds.into_iter().filter(|c| c.0 == strongest).map(|c| c.1).collect()
    } else {
        if best > 0 {
            let names: Vec<String> = comps.iter().map(|(s, c)| format!("{s}/{c}")).collect();
            r.refusal = Some(
                match imperatives(text).into_iter().find(|w| OPERATIONS.contains(&w.as_str())) {
                    Some(op) => format!("the catalog has no operation {op:?} here"),
                    None => format!("the request names {} but none of its commands", names.join(" and ")),
                },
            );
            return r;
        }
        vec![]
    };
    // When no component was named, a command only counts if it names one component by itself
    // ("rotate the logs on web-2"); "restart postgres on web-1" must not become nginx.
    if best == 0 && r.candidates.len() > 1 {
        r.candidates.clear();
    }
    if r.candidates.is_empty() {
        r.refusal = Some("the request does not name one of this cluster's components and commands".into());
    }
    r
}

/// The parameters of `cmd` that the request gives in plain words: a path (`/data`) for a
/// `path` parameter, "N days" for a `days` parameter.
pub fn params_in(text: &str, cmd: &crate::stacks::Command) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    let raw: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '"' | '\'' | '`' | '(' | ')'))
        .filter(|w| !w.is_empty())
        .collect();
    if cmd.params.contains_key("path") {
        if let Some(p) = raw.iter().find(|w| w.starts_with('/')) {
            let p = p.trim_end_matches(['.', '?', '!', ':']);
            out.insert("path".into(), serde_json::json!(p));
        }
    }
    if cmd.params.contains_key("days") {
        let lower: Vec<String> = raw.iter().map(|w| w.to_lowercase()).collect();
        let day = |w: &str| {
            matches!(
                w,
                "day"
                    | "days"
                    | "jour"
                    | "jours"
                    | "tag"
                    | "tage"
                    | "tagen"
                    | "día"
                    | "días"
                    | "dia"
                    | "dias"
                    | "giorni"
                    | "giorno"
                    | "dag"
                    | "dagen"
            )
        };
        if let Some(n) = lower
            .windows(2)
            .find(|w| day(&w[1]))
            .and_then(|w| w[0].parse::<i64>().ok())
        {
            out.insert("days".into(), serde_json::json!(n));
        }
    }
    out
}

/// `an-9`, `web-12`, `db01`, `h9`, `broker7.lan`-style names: letters then digits, with an
/// optional dash, and any domain after a dot. A host the request names that the cluster
/// does not have must be refused, never dropped: dropping it would widen the request to
/// every host running the component.
pub(super) fn looks_like_host(w: &str) -> bool {
    let label = w.split('.').next().unwrap_or(w);
    let Some(pos) = label.find(|c: char| c.is_ascii_digit()) else {
        return false;
    };
    let (head, tail) = label.split_at(pos);
    let head = head.trim_end_matches('-');
    !head.is_empty()
        && head.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        && tail.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_tolerated_in_long_words_only() {
        let tw = words("please restart kafak on an-3");
        assert!(mentions(&tw, "kafka"));
        assert!(mentions(&words("zookeper is down"), "zookeeper"));
        assert!(!mentions(&words("stop nm"), "rm"));
        assert!(mentions(&words("is it up?"), "is it up"));
        assert_eq!(distance("kafak", "kafka"), 1);
    }

    #[test]
    fn host_like_words() {
        assert!(looks_like_host("an-9"));
        assert!(looks_like_host("web-12"));
        assert!(looks_like_host("db01"), "no dash needed");
        assert!(looks_like_host("h9"));
        assert!(looks_like_host("broker7.example.com"));
        assert!(!looks_like_host("log4j"));
        assert!(!looks_like_host("nginx"));
        assert!(!looks_like_host("7"));
    }
}

#[cfg(test)]
mod eval_cases {
    //! The resolver against the planner's evaluation cases: the right action must survive
    //! resolution, so the model can pick it; and requests that name nothing real are refused.
    use super::*;
    use crate::inventory::{HostComponentView, HostView};

    #[derive(serde::Deserialize)]
    struct Fixture {
        clusters: Vec<FCluster>,
    }
    #[derive(serde::Deserialize)]
    struct FCluster {
        name: String,
        stack: String,
        version: String,
        hosts: Vec<FHost>,
    }
    #[derive(serde::Deserialize)]
    struct FHost {
        hostname: String,
        components: Vec<String>,
    }

    fn clusters() -> Vec<ClusterView> {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../llm/evals/fixture.toml")).unwrap();
        let f: Fixture = toml::from_str(&text).unwrap();
        f.clusters
            .into_iter()
            .map(|c| ClusterView {
                id: 0,
                name: c.name,
                stack: c.stack,
                stack_version: c.version,
                config: serde_json::json!({}),
                hosts: c
                    .hosts
                    .into_iter()
                    .map(|h| HostView {
                        id: 0,
                        hostname: h.hostname,
                        cluster: None,
                        state: "ONLINE".into(),
                        last_heartbeat: None,
                        agent_version: None,
                        labels: serde_json::json!({}),
                        facts: serde_json::json!({}),
                        components: h
                            .components
                            .iter()
                            .map(|p| {
                                let (s, c) = p.split_once('/').unwrap();
                                HostComponentView {
                                    service: s.into(),
                                    component: c.into(),
                                    state: "UNKNOWN".into(),
                                }
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect()
    }

    #[test]
    fn the_right_action_survives_resolution_for_the_eval_cases() {
        let catalog = crate::stacks::load_embedded().unwrap();
        let clusters = clusters();
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../llm/evals/cases.jsonl")).unwrap();
        let (mut kept, mut actions, mut refused, mut nulls, mut total_candidates) = (0, 0, 0, 0, 0);
        let mut misses = vec![];
        let mut unrefused = vec![];
        let (mut questions, mut unnamed) = (0, 0);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let case: serde_json::Value = serde_json::from_str(line).unwrap();
            let cluster = clusters.iter().find(|c| c.name == case["cluster"]).unwrap();
            let stack = catalog.stack(&cluster.stack, &cluster.stack_version).unwrap();
            // Questions take the answering path (scored by `steward eval`), not the resolver.
            if crate::chat::answer::is_question(case["request"].as_str().unwrap()) {
                questions += 1;
                continue;
            }
            let r = resolve(case["request"].as_str().unwrap(), cluster, stack, &catalog);
            if case["expect"].is_object() && !r.command_named && r.refusal.is_none() {
                unnamed += 1;
                eprintln!("unnamed: {} → {}", case["request"], case["expect"]["command"]);
            }
            match case["expect"].as_object() {
                Some(e) => {
                    actions += 1;
                    let want = format!(
                        "{} {}/{}",
                        e["command"].as_str().unwrap(),
                        e["service"].as_str().unwrap(),
                        e["component"].as_str().unwrap()
                    );
                    total_candidates += r.candidates.len();
                    if r.candidates.iter().any(|c| c.label() == want) {
                        kept += 1;
                    } else {
                        misses.push(format!(
                            "{} → want {want}, got {:?} {:?}",
                            case["request"],
                            r.candidates.iter().map(Candidate::label).collect::<Vec<_>>(),
                            r.refusal
                        ));
                    }
                }
                None => {
                    nulls += 1;
                    refused += usize::from(r.refusal.is_some());
                    if r.refusal.is_none() {
                        unrefused.push(format!(
                            "{} → {:?}",
                            case["request"],
                            r.candidates.iter().map(Candidate::label).collect::<Vec<_>>()
                        ));
                    }
                }
            }
        }
        eprintln!(
            "kept {kept}/{actions}, mean candidates {:.1}, refused by resolution {refused}/{nulls}; {questions} questions left to the answering path; {unnamed} actions named no command",
            total_candidates as f64 / actions as f64
        );
        for m in &misses {
            eprintln!("miss: {m}");
        }
        for m in &unrefused {
            eprintln!("not refused: {m}");
        }
        assert!(
            kept as f64 >= 0.9 * actions as f64,
            "the right action was lost for {} of {actions} cases",
            actions - kept
        );
    }

    /// Written by hand, apart from the evaluation cases: each must be refused, with the
    /// reason and what the cluster can do instead.
    #[test]
    fn requests_outside_the_catalog_are_refused_with_what_is_possible() {
        let catalog = crate::stacks::load_embedded().unwrap();
        let clusters = clusters();
        let cases = [
            (
                "web",
                "restart memcached on web-1",
                "nothing called \"memcached\"",
                "Cluster web runs",
            ),
            (
                "analytics",
                "restart the kafka mirror maker on an-2",
                "nothing called \"mirror maker\"",
                "kafka/broker can",
            ),
            (
                "analytics",
                "wipe the datanode data directory on an-3",
                "no operation \"wipe\"",
                "hdfs/datanode can",
            ),
            (
                "analytics",
                "delete /data/kafka-logs on an-2",
                "does not name one of this cluster's components",
                "Cluster analytics runs",
            ),
            (
                "web",
                "scale nginx up to 4 workers",
                "no operation \"scale\"",
                "nginx/nginx can",
            ),
            (
                "analytics",
                "restart kafka with an 8g heap",
                "\"8g\" is a value",
                "kafka/broker can",
            ),
            (
                "web",
                "reload nginx --worker-connections=4096",
                "parameter \"worker-connections\"",
                "nginx/nginx can",
            ),
            (
                "web",
                "upgrade redis on web-2",
                "no operation \"upgrade\"",
                "redis/redis can",
            ),
            (
                "web",
                "install htop on web-1",
                "nothing called \"htop\"",
                "Cluster web runs",
            ),
        ];
        for (cluster, text, why, possible) in cases {
            let c = clusters.iter().find(|c| c.name == cluster).unwrap();
            let stack = catalog.stack(&c.stack, &c.stack_version).unwrap();
            let r = resolve(text, c, stack, &catalog);
            let refusal = r
                .refusal
                .unwrap_or_else(|| panic!("{text}: not refused, candidates {:?}", r.candidates));
            assert!(refusal.contains(why), "{text}: {refusal}");
            assert!(refusal.contains(possible), "{text}: {refusal}");
            assert!(r.candidates.is_empty(), "{text}");
        }
        // And what the catalog does have still resolves.
        let web = clusters.iter().find(|c| c.name == "web").unwrap();
        let stack = catalog.stack(&web.stack, &web.stack_version).unwrap();
        for text in [
            "restart nginx gracefully on web-1",
            "clean tmp on web-2 older than 3 days",
            "rotate the logs on web-2",
        ] {
            let r = resolve(text, web, stack, &catalog);
            assert!(r.refusal.is_none(), "{text}: {:?}", r.refusal);
        }
    }

    #[test]
    fn a_disk_incident_resolves_to_the_report_on_its_own_mount() {
        let catalog = crate::stacks::load_embedded().unwrap();
        let clusters = clusters();
        let web = clusters.iter().find(|c| c.name == "web").unwrap();
        let stack = catalog.stack(&web.stack, &web.stack_version).unwrap();
        let incident = crate::telemetry::IncidentView {
            id: 1,
            state: "OPEN".into(),
            host_id: 1,
            host: "web-2".into(),
            cluster: Some("web".into()),
            signal: "disk_used_pct{fs=\"ext4\",mount=\"/tmp\"}".into(),
            metric: "disk_used_pct".into(),
            detector: "threshold".into(),
            summary: "disk /tmp is 96.0 % full (threshold 90 %)".into(),
            value: 96.0,
            peak: 96.0,
            threshold: Some(90.0),
            forecast: None,
            opened_at: String::new(),
            updated_at: String::new(),
            resolved_at: None,
            job_id: None,
            remediation: None,
        };
        let text = crate::remediation::structured_request(&incident);
        let r = resolve(&text, web, stack, &catalog);
        assert!(r.refusal.is_none(), "{text}: {:?}", r.refusal);
        let labels: Vec<String> = r.candidates.iter().map(Candidate::label).collect();
        assert_eq!(labels, ["disk-usage host/host"], "investigate first: {text}");
        assert_eq!(r.hosts, ["web-2"], "{text}");
        let cmd = &stack.component("host", "host").unwrap().commands["disk-usage"];
        assert_eq!(
            params_in(&text, cmd)["path"],
            "/tmp",
            "the incident's own mount: {text}"
        );
    }
}
