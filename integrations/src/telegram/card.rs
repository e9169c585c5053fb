//! A proposal card as a Telegram message: plain text (no parse mode, so nothing from a job
//! or a person can be read as markup or a link) and, while a decision is awaited, an inline
//! keyboard whose buttons name the job and the plan they approve.
use super::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use crate::{host_list, prefix, truncate, Decision, ProposalCard};

/// How much of the plan hash a button carries: enough that a changed plan makes old buttons
/// stale, short enough for Telegram's 64-byte `callback_data`.
pub const PLAN_HASH_PREFIX_BYTES: usize = 16;

/// Telegram's limit on a message's text, in UTF-16 code units.
const MESSAGE_MAX: usize = 4096;

/// The card's text.
pub fn proposal_text(card: &ProposalCard) -> String {
    let mut lines = vec![
        format!("Steward job #{}: {}", card.job_id, truncate(&card.state, 50)),
        truncate(&card.summary, 1000),
        String::new(),
        format!("Cluster: {}", truncate(&card.cluster, 200)),
        format!("Hosts: {}", truncate(&host_list(&card.hosts), 600)),
        format!("Risk: {}", truncate(&card.risk, 50)),
        format!("Plan: {}", prefix(&card.plan_hash, 12)),
    ];
    if let Some(who) = &card.decided_by {
        lines.push(format!("Decided by {}", truncate(who, 200)));
    }
    if let Some(outcome) = &card.outcome {
        lines.push(String::new());
        lines.push(truncate(outcome, 1500));
    }
    if let Some(link) = &card.link {
        lines.push(String::new());
        lines.push(truncate(link, 400));
    }
    cut_utf16(&lines.join("\n"), MESSAGE_MAX)
}

/// Approve and Reject buttons, while `card.actionable`.
pub fn proposal_keyboard(card: &ProposalCard) -> Option<InlineKeyboardMarkup> {
    if !card.actionable {
        return None;
    }
    let button = |text: &str, decision| InlineKeyboardButton {
        text: text.to_owned(),
        callback_data: callback_data(decision, card.job_id, &card.plan_hash),
    };
    Some(InlineKeyboardMarkup {
        inline_keyboard: vec![vec![
            button("Approve", Decision::Approve),
            button("Reject", Decision::Reject),
        ]],
    })
}

/// What an Approve or Reject button's `callback_data` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackData {
    /// Which button.
    pub decision: Decision,
    /// The job it decides.
    pub job_id: i64,
    /// The start of the plan hash the button was shown with; compare it with the job's.
    pub plan_hash_prefix: String,
}

/// `a:{job_id}:{plan_hash_prefix}` or `r:…`; at most 2 + 20 + 1 + 16 = 39 bytes.
fn callback_data(decision: Decision, job_id: i64, plan_hash: &str) -> String {
    let tag = match decision {
        Decision::Approve => 'a',
        Decision::Reject => 'r',
    };
    format!("{tag}:{job_id}:{}", byte_prefix(plan_hash, PLAN_HASH_PREFIX_BYTES))
}

/// Reads a button's `callback_data`; `None` for anything the card's buttons do not send.
pub fn parse_callback_data(data: &str) -> Option<CallbackData> {
    let mut parts = data.splitn(3, ':');
    let decision = match parts.next()? {
        "a" => Decision::Approve,
        "r" => Decision::Reject,
        _ => return None,
    };
    let job_id = parts.next()?.parse().ok()?;
    let plan_hash_prefix = parts.next()?;
    if plan_hash_prefix.is_empty() || plan_hash_prefix.len() > PLAN_HASH_PREFIX_BYTES || plan_hash_prefix.contains(':')
    {
        return None;
    }
    Some(CallbackData {
        decision,
        job_id,
        plan_hash_prefix: plan_hash_prefix.to_owned(),
    })
}

/// The longest start of `text` within `max` bytes that does not split a character.
fn byte_prefix(text: &str, max: usize) -> &str {
    let end = text
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .take_while(|&end| end <= max)
        .last()
        .unwrap_or(0);
    &text[..end]
}

/// `text` cut to `max` UTF-16 code units (how Telegram counts), ending in "…" when cut.
fn cut_utf16(text: &str, max: usize) -> String {
    if text.encode_utf16().count() <= max {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut units = 0;
    for c in text.chars() {
        if units + c.len_utf16() > max - 1 {
            break;
        }
        units += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_data_round_trips_and_junk_is_refused() {
        let data = callback_data(Decision::Reject, 42, "0123456789abcdef0123");
        assert_eq!(data, "r:42:0123456789abcdef");
        assert_eq!(
            parse_callback_data(&data),
            Some(CallbackData {
                decision: Decision::Reject,
                job_id: 42,
                plan_hash_prefix: "0123456789abcdef".into()
            })
        );
        for junk in [
            "",
            "a",
            "a:42",
            "a:42:",
            "x:42:abc",
            "a:x:abc",
            "a:42:a:b",
            "a:42:0123456789abcdef0",
        ] {
            assert_eq!(parse_callback_data(junk), None, "{junk}");
        }
    }

    #[test]
    fn byte_prefix_never_splits_a_character() {
        assert_eq!(byte_prefix("ééééééééé", 5), "éé");
        assert_eq!(byte_prefix("abc", 16), "abc");
    }

    #[test]
    fn cut_utf16_counts_astral_characters_twice() {
        assert_eq!(cut_utf16("😀😀😀", 6), "😀😀😀");
        assert_eq!(cut_utf16("😀😀😀", 5), "😀😀…");
        assert_eq!(cut_utf16("abcdef", 4), "abc…");
    }
}
