//! The Slack and Telegram bots against a real server, agent and fake model, with Slack's Web
//! API and Telegram's Bot API replaced by local servers speaking their wire formats: requests
//! verified before anything happens, accounts linked with a code, chat turns answered in
//! their thread, proposals posted as cards whose buttons approve as the linked user (and
//! only as them), cards edited as the job moves, deliveries retried through rate limits.

use std::time::Duration;

use crate::common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use steward_integrations::testing::{Call, FakeSlack, FakeTelegram};
use steward_llm::testing::{FakeOpenAi, Reply};

const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const BOT_TOKEN: &str = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";
const PROPOSALS: &str = "C0PROPOSALS";
const TELEGRAM_TOKEN: &str = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";
const TELEGRAM_SECRET: &str = "tg-secret-3f9c2a";
const GROUP: i64 = -1001234567890;

/// Slack's signature of `body` at `timestamp`.
fn slack_signature(timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs `body` to a Slack endpoint of `server`, signed at `timestamp` (now when `None`),
/// with `content_type`; → (status, body text).
async fn slack_post(
    server: &Server,
    path: &str,
    content_type: &str,
    body: &str,
    signed_at: Option<i64>,
) -> (u16, String) {
    let ts = signed_at.unwrap_or_else(|| chrono::Utc::now().timestamp());
    let r = reqwest::Client::new()
        .post(server.url(path))
        .header("content-type", content_type)
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", slack_signature(ts, body))
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// [`slack_post`] of a JSON body to the Events API endpoint.
async fn slack_event(server: &Server, body: &str, signed_at: Option<i64>) -> (u16, String) {
    slack_post(
        server,
        "/integrations/slack/events",
        "application/json",
        body,
        signed_at,
    )
    .await
}

/// An Events API callback for a message from `user` in `channel` (a mention unless `im`).
fn slack_message(event_id: &str, user: &str, channel: &str, ts: &str, text: &str, im: bool) -> String {
    let event = if im {
        json!({"type": "message", "channel_type": "im", "user": user, "text": text, "channel": channel, "ts": ts})
    } else {
        json!({"type": "app_mention", "user": user, "text": format!("<@U0STEWARD> {text}"), "channel": channel, "ts": ts})
    };
    json!({"type": "event_callback", "event_id": event_id, "team_id": "T0TEAM", "event": event}).to_string()
}

/// A press of `action` on job `job`'s card by Slack user `user`, as the form Slack posts.
fn slack_press(slack: &FakeSlack, user: &str, action: &str, job: &Value) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_lowercase()},
        "channel": {"id": PROPOSALS},
        "message": {"ts": "1700000000.000001"},
        "response_url": slack.response_url(user),
        "actions": [{"action_id": action, "block_id": "decide", "value": format!("{}:{}", job["id"], job["plan_hash"].as_str().unwrap())}],
    });
    serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
}

/// The fake model's two answers to "echo on h1": a proposal, then a sentence.
fn propose_echo(fake: &FakeOpenAi) {
    let args = json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "hosts": ["h1"], "rationale": "asked in chat"});
    fake.push(Reply::tool_calls(&[("call_1", "propose_job", &args.to_string())]));
    fake.push(Reply::completion("Echo on h1 is proposed; approve it to run."));
}

fn text_of(c: &Call) -> String {
    c.body["text"].as_str().unwrap_or_default().to_owned()
}

/// A Slack card of job `id`: its blocks' header names it.
fn card_of(c: &Call, id: i64) -> bool {
    c.body["blocks"].to_string().contains(&format!("Steward job #{id}\""))
}

async fn audit_via(server: &Server, action: &str, job: i64) -> Value {
    let (s, events) = server.get("/api/v1/audit?limit=200").await;
    assert_eq!(s, 200, "{events}");
    events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == action && e["target"] == format!("job:{job}"))
        .cloned()
        .unwrap_or_else(|| panic!("no {action} of job {job} in {events}"))
}

/// A server on a temporary directory whose model is a fake, with the bot settings in `env`;
/// `with_agent` also connects host `h1` of cluster `test`, for tests that run jobs.
struct Bed {
    server: Server,
    model: FakeOpenAi,
    _agent: Option<Agent>,
    _dir: tempfile::TempDir,
}

impl Bed {
    async fn start(env: &[(&str, &str)], with_agent: bool) -> Bed {
        let dir = tempfile::tempdir().unwrap();
        let model = FakeOpenAi::start().await;
        let model_url = model.base_url();
        let server = testing_server(dir.path(), &fake_llm_env(&model_url, env));
        let mut agent = None;
        if with_agent {
            server.cluster("test", &["h1"]).await;
            agent = Some(start_agent(&server, "h1", &dir.path().join("agent-h1")));
            server.wait_online("h1").await;
        }
        Bed {
            server,
            model,
            _agent: agent,
            _dir: dir,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_requests_are_verified_and_a_linked_approver_chats_and_approves_in_slack() {
    let slack = FakeSlack::start().await;
    let api_url = slack.api_url();
    let env = [
        ("STEWARD_SLACK_SIGNING_SECRET", SIGNING_SECRET),
        ("STEWARD_SLACK_BOT_TOKEN", BOT_TOKEN),
        ("STEWARD_SLACK_CHANNEL", PROPOSALS),
        ("STEWARD_SLACK_API_URL", &api_url),
        ("STEWARD_PUBLIC_URL", "https://steward.example.com"),
    ];
    let Bed { server, model, .. } = &Bed::start(&env, true).await;

    // Nothing unverified gets in: Slack's own check, then forgeries, stale and replayed requests.
    let challenge =
        json!({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
            .to_string();
    let now = chrono::Utc::now().timestamp();
    let (s, body) = slack_event(server, &challenge, Some(now)).await;
    assert_eq!(
        (s, serde_json::from_str::<Value>(&body).unwrap()["challenge"].clone()),
        (200, json!("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"))
    );
    let (s, body) = slack_event(server, &challenge, Some(now)).await;
    assert_eq!(s, 401, "a replay is refused: {body}");
    assert!(body.contains("replayed"), "{body}");
    let (s, body) = slack_event(server, &challenge, Some(now - 301)).await;
    assert_eq!(s, 401, "a stale request is refused: {body}");
    let forged = reqwest::Client::new()
        .post(server.url("/integrations/slack/events"))
        .header("x-slack-request-timestamp", now.to_string())
        .header("x-slack-signature", slack_signature(now, "something else"))
        .body(slack_message(
            "EvForged",
            "U0MALLORY",
            "C0OPS",
            "1.1",
            "echo on h1",
            false,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let (s, body) = slack_event(server, "{not json", None).await;
    assert_eq!(s, 400, "{body}");

    // An unlinked account is told how to link, privately, and nothing else happens.
    let (s, _) = slack_event(
        server,
        &slack_message("Ev1", "U0MALLORY", "C0OPS", "1700000100.000100", "echo on h1", false),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let told = slack
        .wait_for(10, "the unlinked user's answer", |c| c.method == "chat.postEphemeral")
        .await;
    assert_eq!(
        (told.body["user"].as_str(), told.body["channel"].as_str()),
        (Some("U0MALLORY"), Some("C0OPS"))
    );
    assert!(text_of(&told).contains("not linked"), "{told:?}");
    assert_eq!(
        told.authorization.as_deref(),
        Some(format!("Bearer {BOT_TOKEN}").as_str())
    );
    let (_, jobs) = server.get("/api/v1/jobs").await;
    assert_eq!(jobs, json!([]), "nothing was proposed");

    // Alice links her account with a code from the console, in a direct message.
    let alice = server.user("alice", "approver").await;
    let (s, code) = server
        .call_as(&alice, reqwest::Method::POST, "/api/v1/chat-identities/link-code", None)
        .await;
    assert_eq!(s, 201, "{code}");
    let link = format!("link {}", code["code"].as_str().unwrap());
    let (s, _) = slack_event(
        server,
        &slack_message("Ev2", "U0ALICE", "D0ALICE", "1700000200.000200", &link, true),
        None,
    )
    .await;
    assert_eq!(s, 200);
    slack
        .wait_for(10, "the link confirmation", |c| {
            text_of(c).contains("acts as Steward user alice")
        })
        .await;
    let (_, links) = server.get("/api/v1/chat-identities").await;
    assert_eq!(links[0]["external_id"], "U0ALICE", "{links}");
    assert_eq!(
        (links[0]["username"].as_str(), links[0]["created_by"].as_str()),
        (Some("alice"), Some("alice"))
    );
    // The code is spent.
    let (s, _) = slack_event(
        server,
        &slack_message("Ev3", "U0EVE", "D0EVE", "1700000300.000300", &link, true),
        None,
    )
    .await;
    assert_eq!(s, 200);
    slack
        .wait_for(10, "the spent code's refusal", |c| text_of(c).contains("Not linked"))
        .await;

    // Alice asks in a channel thread: the answer lands in that thread, the proposal's card
    // there and in the proposals channel, with the plan hash and a link to the console.
    propose_echo(model);
    let (s, _) = slack_event(
        server,
        &slack_message("Ev4", "U0ALICE", "C0OPS", "1700000400.000400", "echo on h1", false),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let reply = slack
        .wait_for(30, "the answer in the thread", |c| {
            text_of(c).starts_with("Echo on h1 is proposed")
        })
        .await;
    assert_eq!(
        (reply.body["channel"].as_str(), reply.body["thread_ts"].as_str()),
        (Some("C0OPS"), Some("1700000400.000400"))
    );
    let (_, jobs) = server.get("/api/v1/jobs").await;
    let job = jobs[0].clone();
    let id = job["id"].as_i64().unwrap();
    let (_, job) = server.get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(
        (
            job["state"].as_str(),
            job["source"].as_str(),
            job["requested_by"].as_str()
        ),
        (Some("PROPOSED"), Some("slack"), Some("alice"))
    );
    let in_thread = slack
        .wait_for(10, "the card in the thread", |c| {
            c.method == "chat.postMessage" && c.body["thread_ts"] == "1700000400.000400" && card_of(c, id)
        })
        .await;
    let in_channel = slack
        .wait_for(10, "the card in the proposals channel", |c| {
            c.method == "chat.postMessage" && c.body["channel"] == PROPOSALS && card_of(c, id)
        })
        .await;
    for card in [&in_thread, &in_channel] {
        let blocks = card.body["blocks"].to_string();
        assert!(
            blocks.contains("steward_approve") && blocks.contains("steward_reject"),
            "{blocks}"
        );
        assert!(blocks.contains(&job["plan_hash"].as_str().unwrap()[..12]), "{blocks}");
        assert!(
            blocks.contains(&format!("https://steward.example.com/jobs/{id}")),
            "{blocks}"
        );
        assert!(blocks.contains("h1"), "{blocks}");
    }

    // Buttons act only for a linked user whose role allows it; a refusal changes nothing.
    let press = |user: &str| slack_press(&slack, user, "steward_approve", &job);
    let form = "application/x-www-form-urlencoded";
    let (s, _) = slack_post(
        server,
        "/integrations/slack/interactions",
        form,
        &press("U0MALLORY"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let refused = slack
        .wait_for(10, "the unlinked presser's refusal", |c| {
            c.method == "response_url" && text_of(c).contains("not linked")
        })
        .await;
    assert_eq!(refused.body["response_type"], "ephemeral");
    server.user("vic", "viewer").await;
    let (s, v) = server
        .post(
            "/api/v1/chat-identities",
            json!({"provider": "slack", "external_id": "U0VIC", "username": "vic"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, _) = slack_post(server, "/integrations/slack/interactions", form, &press("U0VIC"), None).await;
    assert_eq!(s, 200);
    slack
        .wait_for(10, "the viewer's refusal", |c| {
            c.method == "response_url" && text_of(c).contains("role (viewer)")
        })
        .await;
    let (_, still) = server.get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(still["state"], "PROPOSED");

    // Alice approves; the job runs; every card of it is edited to its end, without buttons.
    let (s, _) = slack_post(
        server,
        "/integrations/slack/interactions",
        form,
        &press("U0ALICE"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    slack
        .wait_for(10, "the presser told what happened", |c| {
            c.method == "response_url" && text_of(c).contains(&format!("Job {id} is"))
        })
        .await;
    let done = server.wait_done(id, 30).await;
    assert_eq!(done["state"], "SUCCESSFUL", "{done}");
    assert_eq!(done["decided_by"], "alice");
    let approved = audit_via(server, "job.approved", id).await;
    assert_eq!(
        (approved["actor"].as_str(), approved["details"]["via"].as_str()),
        (Some("alice"), Some("slack")),
        "{approved}"
    );
    for card in [&in_thread, &in_channel] {
        let channel = card.body["channel"].clone();
        let edited = slack
            .wait_for(30, "the card edited to the job's end", |c| {
                c.method == "chat.update"
                    && c.body["channel"] == channel
                    && c.body["blocks"].to_string().contains("SUCCESSFUL")
            })
            .await;
        let blocks = edited.body["blocks"].to_string();
        assert!(!blocks.contains("steward_approve"), "no buttons once decided: {blocks}");
        assert!(blocks.contains("alice"), "who approved: {blocks}");
    }

    // A rate-limited post is retried after Slack's Retry-After, and delivered once.
    slack.fail_next(
        "chat.postMessage",
        429,
        Some(1),
        json!({"ok": false, "error": "ratelimited"}),
    );
    let second = server
        .propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "params": {"lines": 1}}))
        .await;
    let second_id = second["id"].as_i64().unwrap();
    let is_try = |c: &Call| c.method == "chat.postMessage" && c.body["channel"] == PROPOSALS && card_of(c, second_id);
    slack
        .wait_for_count(30, "card posts (the 429, then the retry)", 2, is_try)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        slack.calls().iter().filter(|c| is_try(c)).count(),
        2,
        "one refused with 429, one delivered, nothing more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slash_command_is_acknowledged_at_once_and_answered_through_its_response_url() {
    let slack = FakeSlack::start().await;
    let api_url = slack.api_url();
    let env = [
        ("STEWARD_SLACK_SIGNING_SECRET", SIGNING_SECRET),
        ("STEWARD_SLACK_BOT_TOKEN", BOT_TOKEN),
        ("STEWARD_SLACK_API_URL", &api_url),
    ];
    let Bed { server, model, .. } = &Bed::start(&env, false).await;
    let bob = server.user("bob", "operator").await;
    let (_, code) = server
        .call_as(&bob, reqwest::Method::POST, "/api/v1/chat-identities/link-code", None)
        .await;
    let command = |text: &str| {
        serde_urlencoded::to_string([
            ("command", "/steward"),
            ("text", text),
            ("user_id", "U0BOB"),
            ("user_name", "bob"),
            ("channel_id", "C0OPS"),
            ("team_id", "T0TEAM"),
            ("trigger_id", "13345224609.738474920.8088930838d88f008e0"),
            ("response_url", &slack.response_url("bob")),
        ])
        .unwrap()
    };
    let form = "application/x-www-form-urlencoded";
    let (s, ack) = slack_post(
        server,
        "/integrations/slack/commands",
        form,
        &command(&format!("link {}", code["code"].as_str().unwrap())),
        None,
    )
    .await;
    assert_eq!(s, 200, "{ack}");
    let ack: Value = serde_json::from_str(&ack).unwrap();
    assert_eq!(ack["response_type"], "ephemeral", "{ack}");
    slack
        .wait_for(10, "the link confirmation", |c| {
            c.method == "response_url" && text_of(c).contains("acts as Steward user bob")
        })
        .await;

    // The model takes as long as it takes; Slack got its acknowledgement at once.
    model.push(Reply::completion("There are no hosts yet.").after(Duration::from_millis(3500)));
    let started = std::time::Instant::now();
    let (s, _) = slack_post(
        server,
        "/integrations/slack/commands",
        form,
        &command("what hosts do we have?"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "acknowledged within Slack's 3 s: {:?}",
        started.elapsed()
    );
    let answer = slack
        .wait_for(30, "the answer", |c| {
            c.method == "response_url" && text_of(c).contains("no hosts yet")
        })
        .await;
    assert_eq!(answer.body["response_type"], "in_channel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_updates_need_the_secret_and_a_linked_approver_decides_with_the_keyboard() {
    let telegram = FakeTelegram::start().await;
    let (api_url, chat) = (telegram.api_url(), GROUP.to_string());
    let env = [
        ("STEWARD_TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN),
        ("STEWARD_TELEGRAM_SECRET_TOKEN", TELEGRAM_SECRET),
        ("STEWARD_TELEGRAM_CHAT_ID", chat.as_str()),
        ("STEWARD_TELEGRAM_API_URL", api_url.as_str()),
    ];
    let Bed { server, .. } = &Bed::start(&env, true).await;
    let post = |secret: Option<&'static str>, update: Value| {
        let mut r = reqwest::Client::new()
            .post(server.url("/integrations/telegram/webhook"))
            .json(&update);
        if let Some(s) = secret {
            r = r.header("x-telegram-bot-api-secret-token", s);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    let private = |update_id: i64, from: i64, text: &str| {
        json!({"update_id": update_id, "message": {"message_id": update_id, "date": 1700000000,
            "chat": {"id": from, "type": "private"}, "from": {"id": from, "is_bot": false, "first_name": "Carol"}, "text": text}})
    };

    // The secret token first: without it (or with another) nothing is read.
    assert_eq!(post(None, private(1, 42, "hello")).await, 401);
    assert_eq!(post(Some("guess"), private(2, 42, "hello")).await, 401);
    assert!(telegram.calls().is_empty(), "{:?}", telegram.calls());

    // Carol (an approver) links her account in a private chat.
    let carol = server.user("carol", "approver").await;
    let (_, code) = server
        .call_as(&carol, reqwest::Method::POST, "/api/v1/chat-identities/link-code", None)
        .await;
    let link = format!("/steward link {}", code["code"].as_str().unwrap());
    assert_eq!(post(Some(TELEGRAM_SECRET), private(3, 42, &link)).await, 200);
    let linked = telegram
        .wait_for(10, "the link confirmation", |c| {
            c.method == "sendMessage" && text_of(c).contains("acts as Steward user carol")
        })
        .await;
    assert_eq!(
        (
            linked.body["chat_id"].as_i64(),
            linked.body["reply_parameters"]["message_id"].as_i64()
        ),
        (Some(42), Some(3))
    );

    // A proposal from the API goes to the group with its keyboard.
    let job = server
        .propose(json!({"cluster": "test", "service": "app", "component": "worker", "command": "echo", "params": {"lines": 1}}))
        .await;
    let id = job["id"].as_i64().unwrap();
    let card = telegram
        .wait_for(10, "the card in the group", |c| {
            c.method == "sendMessage" && c.body["chat_id"] == GROUP && text_of(c).contains(&id.to_string())
        })
        .await;
    let buttons = card.body["reply_markup"]["inline_keyboard"].to_string();
    let approve = card.body["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(buttons.contains("Approve") && buttons.contains("Reject"), "{buttons}");
    assert!(approve.len() <= 64, "{approve}");

    // A press from an unlinked account is answered with why, and changes nothing.
    let press = |update_id: i64, from: i64, data: &str| {
        json!({"update_id": update_id, "callback_query": {"id": format!("cb{update_id}"), "from": {"id": from, "is_bot": false, "first_name": "X"},
            "message": {"message_id": 1, "date": 1700000000, "chat": {"id": GROUP, "type": "supergroup"}}, "data": data}})
    };
    assert_eq!(post(Some(TELEGRAM_SECRET), press(4, 666, &approve)).await, 200);
    let answered = telegram
        .wait_for(10, "the refusal", |c| {
            c.method == "answerCallbackQuery" && c.body["callback_query_id"] == "cb4"
        })
        .await;
    assert!(text_of(&answered).contains("not linked"), "{answered:?}");
    let (_, still) = server.get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(still["state"], "PROPOSED");

    // Carol's press approves it as carol, via telegram; the card is edited as it runs.
    assert_eq!(post(Some(TELEGRAM_SECRET), press(5, 42, &approve)).await, 200);
    // Telegram redelivers an unacknowledged update: the same press is one decision.
    assert_eq!(post(Some(TELEGRAM_SECRET), press(5, 42, &approve)).await, 200);
    let done = server.wait_done(id, 30).await;
    assert_eq!(
        (done["state"].as_str(), done["decided_by"].as_str()),
        (Some("SUCCESSFUL"), Some("carol"))
    );
    let approved = audit_via(server, "job.approved", id).await;
    assert_eq!(approved["details"]["via"], "telegram", "{approved}");
    let edited = telegram
        .wait_for(30, "the card edited to the end", |c| {
            c.method == "editMessageText" && text_of(c).contains("SUCCESSFUL")
        })
        .await;
    assert_eq!(edited.body["chat_id"], GROUP);
    assert!(
        !edited.body["reply_markup"].to_string().contains("Approve"),
        "no buttons once decided: {edited:?}"
    );
    assert_eq!(
        telegram.calls_of("answerCallbackQuery").len(),
        2,
        "one answer per press, the redelivery ignored"
    );

    // Four-eyes holds here as in the console: carol cannot approve a high-risk job she asked for.
    let orphan = json!({"cluster": "test", "service": "app", "component": "worker", "command": "orphan",
        "hosts": ["h1"], "params": {"pidfile": "/tmp/chatops-orphan.pid"}});
    let (s, risky) = server
        .call_as(&carol, reqwest::Method::POST, "/api/v1/jobs", Some(orphan))
        .await;
    assert_eq!(s, 201, "{risky}");
    let risky_id = risky["id"].as_i64().unwrap();
    let risky_card = telegram
        .wait_for(10, "the high-risk card", |c| {
            c.method == "sendMessage" && text_of(c).contains(&format!("#{risky_id}"))
        })
        .await;
    let approve_risky = risky_card.body["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(post(Some(TELEGRAM_SECRET), press(6, 42, &approve_risky)).await, 200);
    let refused = telegram
        .wait_for(10, "the four-eyes refusal", |c| {
            c.method == "answerCallbackQuery" && c.body["callback_query_id"] == "cb6"
        })
        .await;
    assert!(text_of(&refused).contains("was not changed"), "{refused:?}");
    let (_, still) = server.get(&format!("/api/v1/jobs/{risky_id}")).await;
    assert_eq!(
        (still["state"].as_str(), still["approvals"].as_array().map(Vec::len)),
        (Some("PROPOSED"), Some(0)),
        "{still}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_long_polling_serves_a_server_telegram_cannot_reach() {
    let telegram = FakeTelegram::start().await;
    let api_url = telegram.api_url();
    let env = [
        ("STEWARD_TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN),
        ("STEWARD_TELEGRAM_MODE", "poll"),
        ("STEWARD_TELEGRAM_API_URL", &api_url),
    ];
    let Bed { server, model, .. } = &Bed::start(&env, false).await;
    let dan = server.user("dan", "operator").await;
    let (_, code) = server
        .call_as(&dan, reqwest::Method::POST, "/api/v1/chat-identities/link-code", None)
        .await;
    telegram
        .wait_for(10, "the webhook removed", |c| c.method == "deleteWebhook")
        .await;
    let message = |update_id: i64, text: &str| {
        json!({"update_id": update_id, "message": {"message_id": update_id, "date": 1700000000,
            "chat": {"id": 77, "type": "private"}, "from": {"id": 77, "is_bot": false, "first_name": "Dan"}, "text": text}})
    };
    telegram.push_update(message(100, &format!("link {}", code["code"].as_str().unwrap())));
    telegram
        .wait_for(15, "the link confirmation", |c| {
            c.method == "sendMessage" && text_of(c).contains("acts as Steward user dan")
        })
        .await;
    model.push(Reply::completion("No host has connected yet."));
    telegram.push_update(message(101, "what hosts are there?"));
    let answer = telegram
        .wait_for(30, "the answer", |c| {
            c.method == "sendMessage" && text_of(c).contains("No host has connected yet")
        })
        .await;
    assert_eq!(answer.body["chat_id"], 77);
    // The webhook is not served in poll mode.
    let r = reqwest::Client::new()
        .post(server.url("/integrations/telegram/webhook"))
        .header("x-telegram-bot-api-secret-token", "anything")
        .json(&message(102, "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_is_announced_in_the_configured_chat_and_a_failed_delivery_is_retried() {
    let telegram = FakeTelegram::start().await;
    let (api_url, chat) = (telegram.api_url(), GROUP.to_string());
    let mut env = vec![
        ("STEWARD_TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN),
        ("STEWARD_TELEGRAM_SECRET_TOKEN", TELEGRAM_SECRET),
        ("STEWARD_TELEGRAM_CHAT_ID", chat.as_str()),
        ("STEWARD_TELEGRAM_API_URL", api_url.as_str()),
    ];
    env.extend(DATA_DISK_DETECTOR);
    let Bed { server, .. } = &Bed::start(&env, false).await;
    // Telegram is down for longer than the client's own retries: the notice waits in the
    // outbox and is sent once Telegram answers again.
    for _ in 0..3 {
        let down = json!({"ok": false, "error_code": 502, "description": "Bad Gateway"});
        telegram.fail_next("sendMessage", 502, None, down);
    }
    let tx = raw_agent(server, "db-1").await;
    send_disk(&tx, 1, 97.0).await;
    let is_notice = |c: &Call| {
        c.method == "sendMessage" && c.body["chat_id"] == GROUP && text_of(c).starts_with("Incident 1 on host db-1")
    };
    let tries = telegram.wait_for_count(40, "notice attempts", 4, is_notice).await;
    assert!(text_of(&tries[3]).contains("db-1"), "{tries:#?}");
    assert!(
        tries.iter().all(|c| c.body == tries[0].body),
        "the same notice each time: {tries:#?}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        telegram.calls().iter().filter(|c| is_notice(c)).count(),
        4,
        "delivered once it went through, and not again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_socket_mode_slack_never_reaches_the_server_and_every_envelope_is_acknowledged() {
    let slack = FakeSlack::start().await;
    let api_url = slack.api_url();
    let env = [
        ("STEWARD_SLACK_BOT_TOKEN", BOT_TOKEN),
        ("STEWARD_SLACK_APP_TOKEN", "xapp-1-A0APP-2187-0b16e4"),
        ("STEWARD_SLACK_API_URL", &api_url),
    ];
    let Bed { server, model, .. } = &Bed::start(&env, false).await;
    // No signing secret: nothing is taken over HTTP.
    let (s, body) = slack_event(server, "{}", None).await;
    assert_eq!(s, 404, "{body}");
    let opened = slack
        .wait_for(15, "the Socket Mode connection", |c| {
            c.method == "apps.connections.open"
        })
        .await;
    assert_eq!(opened.authorization.as_deref(), Some("Bearer xapp-1-A0APP-2187-0b16e4"));

    server.user("erin", "operator").await;
    let (s, v) = server
        .post(
            "/api/v1/chat-identities",
            json!({"provider": "slack", "external_id": "U0ERIN", "username": "erin"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    model.push(Reply::completion("No host has connected yet."));
    let event = serde_json::from_str::<Value>(&slack_message(
        "EvSock1",
        "U0ERIN",
        "C0OPS",
        "1700000500.000500",
        "what hosts are there?",
        false,
    ))
    .unwrap();
    slack.push_envelope(
        json!({"envelope_id": "env-1", "type": "events_api", "accepts_response_payload": false, "payload": event}),
    );
    let ack = slack
        .wait_for(15, "the acknowledgement", |c| c.method == "socket_ack")
        .await;
    assert_eq!(ack.body, json!({"envelope_id": "env-1"}));
    let answer = slack
        .wait_for(30, "the answer in the thread", |c| {
            c.method == "chat.postMessage" && text_of(c).contains("No host has connected yet")
        })
        .await;
    assert_eq!(
        (answer.body["channel"].as_str(), answer.body["thread_ts"].as_str()),
        (Some("C0OPS"), Some("1700000500.000500"))
    );

    // A slash command over the socket: acknowledged too, answered at its response URL.
    model.push(Reply::completion("Still no host."));
    let command = json!({"command": "/steward", "text": "any hosts now?", "user_id": "U0ERIN", "user_name": "erin",
        "channel_id": "C0OPS", "team_id": "T0TEAM", "trigger_id": "1.2.3", "response_url": slack.response_url("erin")});
    slack.push_envelope(
        json!({"envelope_id": "env-2", "type": "slash_commands", "accepts_response_payload": true, "payload": command}),
    );
    slack
        .wait_for(15, "the command's acknowledgement", |c| {
            c.method == "socket_ack" && c.body["envelope_id"] == "env-2"
        })
        .await;
    slack
        .wait_for(30, "the command's answer", |c| {
            c.method == "response_url" && text_of(c).contains("Still no host")
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_telegram_token_refused_while_polling_is_reported_and_the_server_keeps_running() {
    let telegram = FakeTelegram::start().await;
    let api_url = telegram.api_url();
    let revoked = json!({"ok": false, "error_code": 401, "description": "Unauthorized"});
    telegram.fail_next("deleteWebhook", 401, None, revoked);
    let env = [
        ("STEWARD_TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN),
        ("STEWARD_TELEGRAM_MODE", "poll"),
        ("STEWARD_TELEGRAM_API_URL", api_url.as_str()),
    ];
    let Bed { server, .. } = &Bed::start(&env, false).await;
    telegram
        .wait_for(10, "the first call", |c| c.method == "deleteWebhook")
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (s, health) = server.get("/healthz").await;
    assert_eq!(
        (s, health["status"].as_str()),
        (200, Some("ok")),
        "the server is still up"
    );
    assert!(
        telegram.calls_of("getUpdates").is_empty(),
        "polling stopped: {:#?}",
        telegram.calls()
    );
    let (s, jobs) = server.get("/api/v1/jobs").await;
    assert_eq!(s, 200, "{jobs}");
}
