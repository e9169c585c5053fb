//! The local model, loaded from the real GGUF file: it loads, answers under a schema with
//! JSON of that schema, streams what it returns, reuses a shared prompt prefix, and says
//! clearly when its file is missing.
//!
//! These tests need the model file: `scripts/fetch-model.sh` (run by `make test` through
//! `scripts/setup.sh`) puts it under the repository's `data/models`. They fail, never skip,
//! when it is absent.
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};
use steward_llm::{ChatModel, ChatRequest, Delta, FinishReason, LlmError, Message};
use steward_llm_local::{model_path_in, LocalChat};
use steward_stats::Memory;
use tokio::sync::mpsc;

const COMMANDS: [&str; 3] = ["start", "stop", "restart"];
const HOSTS: [&str; 4] = ["web-1", "web-2", "db-1", "cache-1"];
const MAX_HOSTS: usize = 3;

fn model_path() -> PathBuf {
    let path = model_path_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../data"));
    assert!(
        path.is_file(),
        "the local model file {} is missing: run `bash scripts/fetch-model.sh` (or `make test`, which runs it)",
        path.display()
    );
    path
}

/// Loads the model on `threads` threads. nextest runs these tests as parallel processes on
/// a 2-core machine, so tests that do not measure speed use one thread each: llama.cpp's
/// threads spin at barriers and lose badly when there are more of them than free cores.
fn load(threads: usize) -> LocalChat {
    LocalChat::load(&model_path(), threads).expect("the default model loads")
}

fn action_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "command": { "type": "string", "enum": COMMANDS },
            "hosts": { "type": "array", "items": { "type": "string", "enum": HOSTS }, "maxItems": MAX_HOSTS }
        },
        "required": ["command", "hosts"],
        "additionalProperties": false
    })
}

/// Checks `text` against `action_schema()` by hand (the workspace has no schema validator).
fn assert_valid_action(text: &str) -> Value {
    let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
    let object = value.as_object().unwrap_or_else(|| panic!("not an object: {text}"));
    assert_eq!(object.len(), 2, "exactly command and hosts: {text}");
    let command = object["command"]
        .as_str()
        .unwrap_or_else(|| panic!("command is not a string: {text}"));
    assert!(COMMANDS.contains(&command), "unknown command {command}: {text}");
    let hosts = object["hosts"]
        .as_array()
        .unwrap_or_else(|| panic!("hosts is not an array: {text}"));
    assert!(hosts.len() <= MAX_HOSTS, "more than {MAX_HOSTS} hosts: {text}");
    for host in hosts {
        assert!(
            host.as_str().is_some_and(|h| HOSTS.contains(&h)),
            "unknown host {host}: {text}"
        );
    }
    value
}

/// A planner-like few-shot conversation (~600 tokens) ending with `request`.
fn planner_messages(preamble: &str, request: &str) -> Vec<Message> {
    let system = format!(
        "{preamble}You turn an operator's request into one action on a small cluster. Answer with a JSON \
         object only: \"command\" is one of start, stop, restart; \"hosts\" lists the hosts it runs on, \
         chosen only from the catalog below, at most three.\n\n\
         Catalog:\n\
         - web-1: nginx web server, public traffic, port 443, behind the load balancer.\n\
         - web-2: nginx web server, public traffic, port 443, behind the load balancer.\n\
         - db-1: PostgreSQL 16 primary database, port 5432, nightly backups at 02:00.\n\
         - cache-1: Redis 7 cache for sessions and rate limits, port 6379.\n\n\
         Rules:\n\
         1. Use only hosts from the catalog; never invent a host name.\n\
         2. \"the web servers\" or \"nginx\" means web-1 and web-2.\n\
         3. \"the database\" or \"postgres\" means db-1; \"the cache\" or \"redis\" means cache-1.\n\
         4. \"bounce\", \"restart\" and \"reboot the service\" all mean restart.\n\
         5. \"bring up\" and \"start\" mean start; \"shut down\", \"take down\" and \"stop\" mean stop.\n\
         6. When the operator names a host, use exactly that host.\n\
         7. Answer with the JSON object and nothing else.\n"
    );
    let examples = [
        ("stop web-2", r#"{"command": "stop", "hosts": ["web-2"]}"#),
        (
            "please bounce the web servers",
            r#"{"command": "restart", "hosts": ["web-1", "web-2"]}"#,
        ),
        ("bring up the database", r#"{"command": "start", "hosts": ["db-1"]}"#),
        (
            "redis is stuck, restart it",
            r#"{"command": "restart", "hosts": ["cache-1"]}"#,
        ),
        (
            "shut down web-1 and the cache",
            r#"{"command": "stop", "hosts": ["web-1", "cache-1"]}"#,
        ),
        ("start postgres", r#"{"command": "start", "hosts": ["db-1"]}"#),
        (
            "restart nginx on web-1",
            r#"{"command": "restart", "hosts": ["web-1"]}"#,
        ),
        (
            "take down the web servers and the database",
            r#"{"command": "stop", "hosts": ["web-1", "web-2", "db-1"]}"#,
        ),
    ];
    let mut messages = vec![Message::system(system)];
    for (ask, answer) in examples {
        messages.push(Message::user(format!("Request: {ask}")));
        messages.push(Message::assistant(answer, vec![]));
    }
    messages.push(Message::user(format!("Request: {request}")));
    messages
}

fn planner_request(preamble: &str, request: &str) -> ChatRequest {
    ChatRequest {
        messages: planner_messages(preamble, request),
        response_schema: Some(action_schema()),
        max_tokens: Some(64),
        ..ChatRequest::default()
    }
}

#[tokio::test]
async fn the_default_model_loads_and_names_itself() {
    let started = Instant::now();
    let model = load(2);
    let Memory {
        rss_mib: rss,
        peak_mib: peak,
    } = Memory::own();
    eprintln!(
        "load: {:.2} s, RSS {rss:.0} MiB (peak {peak:.0} MiB)",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(model.name(), "local:gemma-3-270m-q4_k_m");
    assert!(
        !model.supports_tools(),
        "the planner must use a structured prompt with this model"
    );
}

#[tokio::test]
async fn a_missing_model_file_is_unavailable_and_named() {
    let path = Path::new("/nonexistent/steward/no-such-model.gguf");
    match LocalChat::load(path, 2) {
        Err(LlmError::Unavailable(message)) => {
            assert!(message.contains("/nonexistent/steward/no-such-model.gguf"), "{message}");
            assert!(message.contains("fetch-model.sh"), "{message}");
        }
        other => panic!("expected Unavailable naming the path, got {other:?}"),
    }
}

#[tokio::test]
async fn a_file_that_is_not_a_model_is_unavailable_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.gguf");
    std::fs::write(&path, b"this is not a GGUF file").unwrap();
    match LocalChat::load(&path, 2) {
        Err(LlmError::Unavailable(message)) => assert!(message.contains(&*path.to_string_lossy()), "{message}"),
        other => panic!("expected Unavailable naming the path, got {other:?}"),
    }
}

#[tokio::test]
async fn schema_constrained_replies_are_json_of_the_schema() {
    let model = load(1);
    // Free-form requests: any valid action will do; the grammar is what is under test.
    for request in [
        "please restart the thing",
        "the site is down, do something",
        "turn everything off now",
        "shut down the cache",
    ] {
        let reply = model.chat(&planner_request("", request)).await.unwrap();
        eprintln!("{request:?} -> {}", reply.message.content);
        assert_valid_action(&reply.message.content);
        assert_eq!(reply.finish_reason, FinishReason::Stop, "{request}");
        assert!(
            reply.usage.prompt_tokens > 500 && reply.usage.completion_tokens > 0,
            "{:?}",
            reply.usage
        );
    }
    // Requests this base model gets right with these examples (verified; it misses many
    // others, see FINDINGS): a regression here means decoding broke, not the model.
    for (request, expected) in [
        ("restart web-2", json!({"command": "restart", "hosts": ["web-2"]})),
        ("restart the database", json!({"command": "restart", "hosts": ["db-1"]})),
    ] {
        let reply = model.chat(&planner_request("", request)).await.unwrap();
        assert_eq!(assert_valid_action(&reply.message.content), expected, "{request}");
    }
}

#[tokio::test]
async fn streamed_deltas_add_up_to_the_returned_reply() {
    let model = load(1);
    let requests = [
        // Free text with accented characters, whose bytes can straddle tokens.
        ChatRequest {
            messages: vec![Message::user(
                "Écris une courte phrase en français sur les élèves et l'été.",
            )],
            max_tokens: Some(40),
            ..ChatRequest::default()
        },
        planner_request("", "bounce web-2"),
    ];
    for request in requests {
        let (tx, mut rx) = mpsc::channel(16);
        let collector = tokio::spawn(async move {
            let mut pieces = Vec::new();
            while let Some(Delta::Text(piece)) = rx.recv().await {
                pieces.push(piece);
            }
            pieces
        });
        let reply = model.chat_stream(&request, tx).await.unwrap();
        let pieces = collector.await.unwrap();
        assert!(pieces.len() > 1, "one delta per token or so, got {pieces:?}");
        assert_eq!(pieces.concat(), reply.message.content);
        assert!(!reply.message.content.is_empty());
    }
}

#[tokio::test]
async fn max_tokens_cuts_the_reply_with_finish_reason_length() {
    let model = load(1);
    let request = ChatRequest {
        messages: vec![Message::user("Count from one to fifty in words: one, two, three,")],
        max_tokens: Some(8),
        ..ChatRequest::default()
    };
    let reply = model.chat(&request).await.unwrap();
    assert_eq!(reply.finish_reason, FinishReason::Length, "{:?}", reply.message.content);
    assert_eq!(reply.usage.completion_tokens, 8);
}

#[tokio::test]
async fn a_shared_prompt_prefix_is_reused_without_changing_the_answer() {
    let model = load(2);
    let time = |label: &str, stats: steward_llm_local::GenerationStats, latency: f64| {
        let evaluated = stats.prompt_tokens - stats.reused_prompt_tokens;
        eprintln!(
            "{label}: {latency:.3} s; prompt {} tokens ({} reused, {evaluated} evaluated in {:.3} s = {:.0} tok/s); \
             {} generated in {:.3} s = {:.1} tok/s; {} full grammar masks",
            stats.prompt_tokens,
            stats.reused_prompt_tokens,
            stats.prompt_time.as_secs_f64(),
            evaluated as f64 / stats.prompt_time.as_secs_f64(),
            stats.completion_tokens,
            stats.generation_time.as_secs_f64(),
            stats.completion_tokens as f64 / stats.generation_time.as_secs_f64(),
            stats.grammar_full_masks,
        );
    };
    let ask = async |label: &str, preamble: &str, request: &str| {
        let started = Instant::now();
        let reply = model.chat(&planner_request(preamble, request)).await.unwrap();
        let stats = model.last_stats().unwrap();
        time(label, stats, started.elapsed().as_secs_f64());
        (reply.message.content, stats)
    };

    let (cold, _) = ask("cold (empty cache)", "", "restart the database").await;
    let (_, other) = ask("warm (shared prefix)", "", "stop the web servers").await;
    let (again, same) = ask("warm (same question again)", "", "restart the database").await;
    // A different first line shares nothing but the first tokens: the no-reuse case.
    let (_, fresh) = ask("no reuse (different prefix)", "Ticket 4711. ", "restart the database").await;

    assert_eq!(again, cold, "reusing the cache must not change a greedy answer");
    assert!(other.reused_prompt_tokens * 10 > other.prompt_tokens * 8, "{other:?}");
    assert!(same.reused_prompt_tokens * 10 > same.prompt_tokens * 9, "{same:?}");
    assert!(fresh.reused_prompt_tokens < 10, "{fresh:?}");
    let Memory {
        rss_mib: rss,
        peak_mib: peak,
    } = Memory::own();
    eprintln!("RSS {rss:.0} MiB (peak {peak:.0} MiB)");
}

#[tokio::test]
async fn requests_beyond_the_queue_are_refused_as_busy_not_queued() {
    let chat = std::sync::Arc::new(load(2));
    let req = ChatRequest {
        // Short work each (the queue, not the generation, is under test), but far longer
        // than sending fourteen requests takes.
        messages: vec![Message::user("Hi")],
        tools: vec![],
        temperature: Some(0.0),
        max_tokens: Some(2),
        response_schema: None,
    };
    // Sent at once: one runs, eight wait, the rest are refused at once.
    let calls: Vec<_> = (0..14)
        .map(|_| {
            let chat = chat.clone();
            let req = req.clone();
            tokio::spawn(async move { chat.chat(&req).await })
        })
        .collect();
    let mut busy = 0;
    let mut answered = 0;
    for c in calls {
        match c.await.unwrap() {
            Ok(_) => answered += 1,
            Err(LlmError::Busy {
                queued,
                retry_after_secs,
            }) => {
                assert_eq!(queued, 8);
                assert!(retry_after_secs >= 1);
                busy += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(busy >= 1, "some were refused ({answered} answered)");
    // Eight fit the queue; a ninth when the worker had already taken one off it.
    assert!(answered >= 8, "the eight queued were answered: {answered}");
    assert!(answered <= 9, "no more than the queue and the one running: {answered}");
}
