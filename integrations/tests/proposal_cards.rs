//! Proposal cards as Slack blocks and as Telegram messages: what a person sees, which
//! buttons they get, and what a button press carries back.
use serde_json::{json, Value};
use steward_integrations::slack::{self, APPROVE_ACTION_ID, REJECT_ACTION_ID};
use steward_integrations::telegram;
use steward_integrations::{Decision, ProposalCard};

const PLAN_HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn card() -> ProposalCard {
    ProposalCard {
        job_id: 42,
        summary: "Restart nginx on the web tier".into(),
        cluster: "prod".into(),
        hosts: (1..=7).map(|i| format!("web-{i}")).collect(),
        risk: "high".into(),
        plan_hash: PLAN_HASH.into(),
        link: Some("https://steward.example/jobs/42".into()),
        state: "PROPOSED".into(),
        decided_by: None,
        outcome: None,
        actionable: true,
    }
}

fn block<'a>(blocks: &'a [Value], kind: &str) -> Vec<&'a Value> {
    blocks.iter().filter(|b| b["type"] == kind).collect()
}

/// Every mrkdwn text in the blocks, for checking what user data became.
fn mrkdwn_texts(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if map.get("type") == Some(&json!("mrkdwn")) {
                out.push(map["text"].as_str().unwrap().to_owned());
            }
            map.values().for_each(|v| mrkdwn_texts(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| mrkdwn_texts(v, out)),
        _ => {}
    }
}

#[test]
fn an_actionable_card_has_approve_and_reject_buttons_carrying_job_and_plan() {
    let blocks = slack::proposal_blocks(&card());
    let actions = block(&blocks, "actions");
    assert_eq!(actions.len(), 1);
    assert_eq!(
        actions[0]["elements"],
        json!([
            {"type": "button", "text": {"type": "plain_text", "text": "Approve"}, "style": "primary",
             "action_id": "steward_approve", "value": format!("42:{PLAN_HASH}")},
            {"type": "button", "text": {"type": "plain_text", "text": "Reject"}, "style": "danger",
             "action_id": "steward_reject", "value": format!("42:{PLAN_HASH}")},
        ])
    );
    assert_eq!(APPROVE_ACTION_ID, "steward_approve");
    assert_eq!(REJECT_ACTION_ID, "steward_reject");
    let value = actions[0]["elements"][0]["value"].as_str().unwrap();
    assert_eq!(slack::parse_action_value(value), Some((42, PLAN_HASH.to_owned())));
    assert_eq!(slack::decision("steward_reject"), Some(Decision::Reject));
}

#[test]
fn the_card_shows_cluster_hosts_risk_plan_state_and_link() {
    let blocks = slack::proposal_blocks(&card());
    assert_eq!(
        blocks[0],
        json!({"type": "header", "text": {"type": "plain_text", "text": "Steward job #42"}})
    );
    assert_eq!(blocks[1]["text"]["text"], "Restart nginx on the web tier");
    let fields: Vec<&str> = blocks[2]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "*Cluster*\nprod",
            "*Hosts*\nweb-1, web-2, web-3, web-4, web-5 and 2 more",
            "*Risk*\nhigh",
            "*Plan*\n9f86d081884c",
            "*State*\nPROPOSED",
        ]
    );
    assert_eq!(
        blocks[3]["text"]["text"],
        "<https://steward.example/jobs/42|Open job #42 in Steward>"
    );
    assert!(block(&blocks, "context").is_empty(), "nobody decided yet");
    assert_eq!(
        slack::fallback_text(&card()),
        "Steward job #42 (PROPOSED, risk high) on prod: Restart nginx on the web tier"
    );
}

#[test]
fn a_decided_card_has_no_buttons_and_says_who_decided_and_how_it_ended() {
    let decided = ProposalCard {
        state: "SUCCEEDED".into(),
        decided_by: Some("alice".into()),
        outcome: Some("nginx restarted on 7 hosts".into()),
        actionable: false,
        link: None,
        ..card()
    };
    let blocks = slack::proposal_blocks(&decided);
    assert!(block(&blocks, "actions").is_empty());
    assert_eq!(
        block(&blocks, "context")[0]["elements"],
        json!([{"type": "mrkdwn", "text": "Decided by alice"}, {"type": "mrkdwn", "text": "nginx restarted on 7 hosts"}])
    );
    assert_eq!(blocks.len(), 4, "header, summary, fields, context; no link");
}

#[test]
fn text_from_jobs_and_people_is_escaped_in_mrkdwn() {
    let hostile = ProposalCard {
        summary: "<script>alert(1)</script> & <!channel> <https://evil.example|click>".into(),
        hosts: vec!["<@U123>".into()],
        decided_by: Some("<!here>".into()),
        outcome: Some("a > b & c < d".into()),
        link: None,
        ..card()
    };
    let blocks = slack::proposal_blocks(&hostile);
    assert_eq!(
        blocks[1]["text"]["text"],
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!channel&gt; &lt;https://evil.example|click&gt;"
    );
    let mut texts = Vec::new();
    mrkdwn_texts(&Value::Array(blocks), &mut texts);
    assert!(texts.len() >= 8, "{texts:?}");
    for text in &texts {
        assert!(!text.contains('<') && !text.contains('>'), "unescaped: {text}");
    }
    assert!(texts.contains(&"a &gt; b &amp; c &lt; d".to_owned()));
    assert!(!slack::fallback_text(&hostile).contains('<'));
}

#[test]
fn a_very_long_outcome_is_cut_to_slacks_limits() {
    let long = ProposalCard {
        summary: "x".repeat(10_000),
        outcome: Some("&".repeat(5_000)),
        ..card()
    };
    let blocks = slack::proposal_blocks(&long);
    assert!(blocks[1]["text"]["text"].as_str().unwrap().chars().count() <= 3000);
    let context = block(&blocks, "context")[0]["elements"][0]["text"].as_str().unwrap();
    assert!(context.chars().count() <= 2000);
    assert!(context.ends_with("&amp;…"), "cut between entities, not inside one");
}

#[test]
fn the_telegram_card_is_plain_text_with_buttons_while_actionable() {
    let text = telegram::proposal_text(&card());
    assert_eq!(
        text,
        "Steward job #42: PROPOSED\nRestart nginx on the web tier\n\nCluster: prod\n\
         Hosts: web-1, web-2, web-3, web-4, web-5 and 2 more\nRisk: high\nPlan: 9f86d081884c\n\n\
         https://steward.example/jobs/42"
    );
    let keyboard = telegram::proposal_keyboard(&card()).unwrap();
    let row = &keyboard.inline_keyboard[0];
    assert_eq!(
        (row[0].text.as_str(), row[0].callback_data.as_str()),
        ("Approve", "a:42:9f86d081884c7d65")
    );
    assert_eq!(
        (row[1].text.as_str(), row[1].callback_data.as_str()),
        ("Reject", "r:42:9f86d081884c7d65")
    );
    let pressed = telegram::parse_callback_data(&row[0].callback_data).unwrap();
    assert_eq!(pressed.decision, Decision::Approve);
    assert_eq!(pressed.job_id, 42);
    assert!(PLAN_HASH.starts_with(&pressed.plan_hash_prefix));

    let decided = ProposalCard {
        actionable: false,
        decided_by: Some("bob".into()),
        ..card()
    };
    assert_eq!(telegram::proposal_keyboard(&decided), None);
    assert!(telegram::proposal_text(&decided).contains("\nDecided by bob"));
}

#[test]
fn callback_data_stays_within_64_bytes() {
    let extreme = ProposalCard {
        job_id: i64::MIN,
        plan_hash: "é".repeat(100),
        ..card()
    };
    for button in &telegram::proposal_keyboard(&extreme).unwrap().inline_keyboard[0] {
        assert!(button.callback_data.len() <= 64, "{} bytes", button.callback_data.len());
        let parsed = telegram::parse_callback_data(&button.callback_data).unwrap();
        assert_eq!(parsed.job_id, i64::MIN);
        assert_eq!(parsed.plan_hash_prefix, "éééééééé");
    }
}

#[test]
fn a_huge_telegram_card_fits_in_one_message() {
    let huge = ProposalCard {
        summary: "😀".repeat(5000),
        outcome: Some("😀".repeat(5000)),
        ..card()
    };
    assert!(telegram::proposal_text(&huge).encode_utf16().count() <= 4096);
}
