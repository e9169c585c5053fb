//! Steward's Slack and Telegram wire layer: everything that speaks those services' real
//! protocols, and nothing else.
//!
//! This crate checks request signatures, parses what the services send, calls their APIs
//! (with retries that honour their rate limits), renders proposal cards in their formats, and
//! keeps the long-lived connections (Slack Socket Mode, Telegram long polling). It knows
//! nothing about the server: no database, no jobs engine, no users. The server turns the
//! events delivered here into chat turns and approvals, and hands back [`ProposalCard`]s.
#![warn(missing_docs)]

pub mod retry;
pub mod slack;
pub mod telegram;
#[cfg(feature = "testing")]
pub mod testing;

pub use retry::RetryPolicy;

/// What a chat card shows of a proposed job; both services render it their own way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalCard {
    /// The job's id, carried in the buttons so a click names the job.
    pub job_id: i64,
    /// One line saying what the job does.
    pub summary: String,
    /// The cluster the job runs on.
    pub cluster: String,
    /// The hosts the job touches (the card shows the first few).
    pub hosts: Vec<String>,
    /// The plan's risk level as the server names it.
    pub risk: String,
    /// The hash of the plan the buttons approve: a changed plan makes old buttons stale.
    pub plan_hash: String,
    /// The job's page in the web console, when the server knows its public URL.
    pub link: Option<String>,
    /// The job's state as the server names it (`PROPOSED`, `APPROVED`, …).
    pub state: String,
    /// Who approved or rejected the job, once someone has.
    pub decided_by: Option<String>,
    /// A one-paragraph summary of the result, once the job has ended.
    pub outcome: Option<String>,
    /// Whether the card offers Approve and Reject buttons (only while a decision is awaited).
    pub actionable: bool,
}

/// What a person asked for by pressing a card's button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The Approve button.
    Approve,
    /// The Reject button.
    Reject,
}

/// How many hosts a card names before it says "and N more".
const HOSTS_SHOWN: usize = 5;

/// The card's host list: the first few, then how many more, so a 500-host job stays readable.
fn host_list(hosts: &[String]) -> String {
    if hosts.is_empty() {
        return "none".to_owned();
    }
    let shown = hosts.iter().take(HOSTS_SHOWN).cloned().collect::<Vec<_>>().join(", ");
    match hosts.len().saturating_sub(HOSTS_SHOWN) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// The first `n` characters of `text`, for plan-hash prefixes (never splits a character).
fn prefix(text: &str, n: usize) -> &str {
    match text.char_indices().nth(n) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// `text` cut to at most `max` characters, ending in "…" when cut, to stay within a
/// service's length limit rather than have the whole message refused.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// An error and its causes on one line: reqwest's "error sending request" says little
/// without its cause ("connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let causes = std::iter::successors(Some(error), |e| e.source());
    causes.map(ToString::to_string).collect::<Vec<_>>().join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_list_names_the_first_five_then_counts_the_rest() {
        let hosts: Vec<String> = (1..=7).map(|i| format!("web-{i}")).collect();
        assert_eq!(host_list(&hosts), "web-1, web-2, web-3, web-4, web-5 and 2 more");
        assert_eq!(host_list(&hosts[..2]), "web-1, web-2");
        assert_eq!(host_list(&[]), "none");
    }

    #[test]
    fn truncate_and_prefix_count_characters_not_bytes() {
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(prefix("ééééé", 3), "ééé");
        assert_eq!(prefix("ab", 12), "ab");
    }
}
