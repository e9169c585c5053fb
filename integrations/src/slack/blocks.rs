//! A proposal card in Block Kit, and reading back what its buttons carry.
//!
//! Everything that comes from people or jobs (summary, host names, who decided, the outcome)
//! is escaped before it goes into mrkdwn, so a summary cannot mention `@channel`, fake a link
//! or break the layout; and cut to Slack's length limits, so a long outcome cannot make
//! Slack refuse the whole message.
use serde_json::{json, Value};

use crate::{host_list, prefix, ProposalCard};

/// The Approve button's `action_id`.
pub const APPROVE_ACTION_ID: &str = "steward_approve";
/// The Reject button's `action_id`.
pub const REJECT_ACTION_ID: &str = "steward_reject";

/// Slack's limit on a section's text.
const SECTION_TEXT_MAX: usize = 3000;
/// Slack's limit on a section field's and a context element's text.
const FIELD_TEXT_MAX: usize = 2000;

/// The Block Kit blocks of a proposal card; Approve and Reject buttons only while
/// `card.actionable`.
pub fn proposal_blocks(card: &ProposalCard) -> Vec<Value> {
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": { "type": "plain_text", "text": format!("Steward job #{}", card.job_id) },
        }),
        json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": mrkdwn(&card.summary, SECTION_TEXT_MAX) },
        }),
        json!({
            "type": "section",
            "fields": [
                field("Cluster", &card.cluster),
                field("Hosts", &host_list(&card.hosts)),
                field("Risk", &card.risk),
                field("Plan", prefix(&card.plan_hash, 12)),
                field("State", &card.state),
            ],
        }),
    ];
    if let Some(link) = &card.link {
        // `|` would end the URL part of the link; percent-encoded it means the same URL.
        let url = escape(&link.replace('|', "%7C"));
        blocks.push(json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": format!("<{url}|Open job #{} in Steward>", card.job_id) },
        }));
    }
    let mut context = Vec::new();
    if let Some(who) = &card.decided_by {
        context.push(json!({ "type": "mrkdwn", "text": format!("Decided by {}", mrkdwn(who, 200)) }));
    }
    if let Some(outcome) = &card.outcome {
        context.push(json!({ "type": "mrkdwn", "text": mrkdwn(outcome, FIELD_TEXT_MAX) }));
    }
    if !context.is_empty() {
        blocks.push(json!({ "type": "context", "elements": context }));
    }
    if card.actionable {
        let value = format!("{}:{}", card.job_id, card.plan_hash);
        blocks.push(json!({
            "type": "actions",
            "block_id": "steward_decision",
            "elements": [
                button("Approve", "primary", APPROVE_ACTION_ID, &value),
                button("Reject", "danger", REJECT_ACTION_ID, &value),
            ],
        }));
    }
    blocks
}

/// The message's `text`: what notifications and screen readers show instead of the blocks.
pub fn fallback_text(card: &ProposalCard) -> String {
    let text = format!(
        "Steward job #{} ({}, risk {}) on {}: {}",
        card.job_id, card.state, card.risk, card.cluster, card.summary
    );
    mrkdwn(&text, SECTION_TEXT_MAX)
}

/// The job id and plan hash from an Approve or Reject button's `value` (`"{job_id}:{plan_hash}"`).
pub fn parse_action_value(value: &str) -> Option<(i64, String)> {
    let (job_id, plan_hash) = value.split_once(':')?;
    let job_id = job_id.parse().ok()?;
    if plan_hash.is_empty() || plan_hash.contains(':') {
        return None;
    }
    Some((job_id, plan_hash.to_owned()))
}

/// The decision a button's `action_id` stands for, if it is one of the card's buttons.
pub fn decision(action_id: &str) -> Option<crate::Decision> {
    match action_id {
        APPROVE_ACTION_ID => Some(crate::Decision::Approve),
        REJECT_ACTION_ID => Some(crate::Decision::Reject),
        _ => None,
    }
}

fn field(label: &str, value: &str) -> Value {
    json!({ "type": "mrkdwn", "text": format!("*{label}*\n{}", mrkdwn(value, FIELD_TEXT_MAX - 40)) })
}

fn button(text: &str, style: &str, action_id: &str, value: &str) -> Value {
    json!({
        "type": "button",
        "text": { "type": "plain_text", "text": text },
        "style": style,
        "action_id": action_id,
        "value": value,
    })
}

/// Slack's escaping: `&`, `<` and `>` become entities, which is all mrkdwn needs for text to
/// show as typed.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `text` escaped and cut to at most `max` characters, never inside an entity.
fn mrkdwn(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut len = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let piece = match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            c => c.to_string(),
        };
        // Keep one character free for the ellipsis unless this is the last piece.
        let room = if chars.peek().is_some() {
            max.saturating_sub(1)
        } else {
            max
        };
        if len + piece.chars().count() > room {
            out.push('…');
            break;
        }
        len += piece.chars().count();
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrkdwn_escapes_and_never_cuts_an_entity() {
        assert_eq!(mrkdwn("a <b> & c", 100), "a &lt;b&gt; &amp; c");
        assert_eq!(
            mrkdwn("ab<c", 5),
            "ab…",
            "&lt; does not fit in the 4 left before the ellipsis"
        );
        assert_eq!(mrkdwn("abcd", 4), "abcd");
        assert_eq!(mrkdwn("abcde", 4), "abc…");
        assert!(mrkdwn(&"<".repeat(5000), 3000).chars().count() <= 3000);
    }

    #[test]
    fn action_values_round_trip_and_junk_is_refused() {
        assert_eq!(parse_action_value("42:abc123"), Some((42, "abc123".to_owned())));
        for junk in ["", "42", "42:", "x:abc", "42:a:b", ":abc"] {
            assert_eq!(parse_action_value(junk), None, "{junk}");
        }
        assert_eq!(decision("steward_approve"), Some(crate::Decision::Approve));
        assert_eq!(decision("steward_reject"), Some(crate::Decision::Reject));
        assert_eq!(decision("other"), None);
    }
}
