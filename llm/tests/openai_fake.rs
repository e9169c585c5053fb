//! The `openai` provider against a fake OpenAI-compatible server on loopback
//! (`steward_llm::testing::FakeOpenAi`), speaking OpenAI's real wire format.
use std::time::{Duration, Instant};

use serde_json::json;
use steward_llm::testing::{chunk, FakeOpenAi, Reply, StreamEnd};
use steward_llm::{
    from_config, ChatModel, ChatRequest, Delta, FinishReason, LlmError, Message, OpenAiChat, OpenAiConfig, ToolCall,
    ToolDef, Usage,
};
use tokio::sync::mpsc;

/// A model at the fake server with small timeouts and backoffs, so every test takes well under
/// a few seconds.
fn model_at(fake: &FakeOpenAi) -> OpenAiChat {
    OpenAiChat::new(
        OpenAiConfig::new(fake.base_url(), "gpt-4o-mini")
            .with_api_key("sk-test")
            .with_timeout(Duration::from_secs(2))
            .with_max_retries(3)
            .with_backoff(Duration::from_millis(10), Duration::from_millis(100)),
    )
    .expect("a valid configuration")
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::system("You are Steward."), Message::user(text)],
        ..Default::default()
    }
}

/// Runs a streamed chat and collects the deltas it sent.
async fn stream(model: &OpenAiChat, req: &ChatRequest) -> (Result<steward_llm::ChatResponse, LlmError>, Vec<Delta>) {
    let (tx, mut rx) = mpsc::channel(64);
    let result = model.chat_stream(req, tx).await;
    let mut deltas = Vec::new();
    while let Ok(delta) = rx.try_recv() {
        deltas.push(delta);
    }
    (result, deltas)
}

#[tokio::test]
async fn a_plain_completion_returns_text_usage_and_stop() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::completion("Kafka is healthy on all three brokers."));
    let model = model_at(&fake);

    let req = ChatRequest {
        temperature: Some(0.2),
        max_tokens: Some(256),
        ..ask("How is Kafka?")
    };
    let reply = model.chat(&req).await.unwrap();

    assert_eq!(
        reply.message,
        Message::assistant("Kafka is healthy on all three brokers.", vec![])
    );
    assert_eq!(reply.finish_reason, FinishReason::Stop);
    assert_eq!(
        reply.usage,
        Usage {
            prompt_tokens: 11,
            completion_tokens: 7
        }
    );
    assert_eq!(model.name(), "openai:gpt-4o-mini");

    let sent = &fake.requests()[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(sent.body["model"], "gpt-4o-mini");
    assert_eq!(
        sent.body["messages"],
        json!([{"role": "system", "content": "You are Steward."}, {"role": "user", "content": "How is Kafka?"}])
    );
    // f32 0.2 goes on the wire as `0.2`, not as its f64 widening 0.20000000298….
    assert_eq!(sent.body["temperature"], json!(0.2));
    // A compatible server at 127.0.0.1 reads `max_tokens`; only OpenAI's own hosts get `max_completion_tokens`.
    assert_eq!(sent.body["max_tokens"], 256);
    assert!(sent.body.get("max_completion_tokens").is_none());
    assert!(
        sent.body.get("tools").is_none(),
        "no tools offered, so none sent: {}",
        sent.body
    );
    assert!(sent.body.get("stream").is_none());
    assert!(sent.body.get("response_format").is_none());
}

#[tokio::test]
async fn without_a_key_no_credentials_are_sent() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::completion("ok"));
    let model = from_config("openai", Some(&fake.base_url()), None, Some("llama3.2")).unwrap();

    model.chat(&ask("hi")).await.unwrap();

    let sent = &fake.requests()[0];
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.header("api-key"), None);
}

#[tokio::test]
async fn tools_and_a_tool_conversation_are_sent_in_openai_format() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::completion("Disk on host-3 is 91% full."));
    let model = model_at(&fake);

    let parameters = json!({"type": "object", "properties": {"host": {"type": "string"}}, "required": ["host"]});
    let call = ToolCall {
        id: "call_1".into(),
        name: "host_metrics".into(),
        arguments: r#"{"host":"host-3"}"#.into(),
    };
    let req = ChatRequest {
        messages: vec![
            Message::user("How full is host-3's disk?"),
            Message::assistant("", vec![call]),
            Message::tool("call_1", r#"{"disk_used_pct":91}"#),
        ],
        tools: vec![ToolDef {
            name: "host_metrics".into(),
            description: "Latest metrics of one host".into(),
            parameters: parameters.clone(),
        }],
        ..Default::default()
    };
    model.chat(&req).await.unwrap();

    let body = &fake.requests()[0].body;
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {
            "name": "host_metrics", "description": "Latest metrics of one host", "parameters": parameters
        }}])
    );
    assert_eq!(
        body["messages"][1],
        json!({"role": "assistant", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "host_metrics", "arguments": "{\"host\":\"host-3\"}"}}
        ]})
    );
    assert_eq!(
        body["messages"][2],
        json!({"role": "tool", "content": "{\"disk_used_pct\":91}", "tool_call_id": "call_1"})
    );
}

#[tokio::test]
async fn a_tool_call_reply_becomes_tool_calls_with_their_ids() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::tool_calls(&[
        ("call_a", "search_knowledge", r#"{"query":"restart kafka"}"#),
        ("call_b", "recent_jobs", r#"{"limit":5}"#),
    ]));
    let model = model_at(&fake);
    assert!(model.supports_tools());

    let reply = model.chat(&ask("Restart Kafka on analytics")).await.unwrap();

    assert_eq!(reply.finish_reason, FinishReason::ToolCalls);
    assert_eq!(reply.message.content, "");
    assert_eq!(
        reply.message.tool_calls,
        vec![
            ToolCall {
                id: "call_a".into(),
                name: "search_knowledge".into(),
                arguments: r#"{"query":"restart kafka"}"#.into()
            },
            ToolCall {
                id: "call_b".into(),
                name: "recent_jobs".into(),
                arguments: r#"{"limit":5}"#.into()
            },
        ]
    );
}

#[tokio::test]
async fn a_response_schema_is_sent_as_a_json_schema_response_format() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::completion(r#"{"action":"restart"}"#));
    let model = model_at(&fake);
    let schema = json!({
        "title": "proposal",
        "type": "object",
        "properties": {"action": {"type": "string", "enum": ["restart", "stop"]}},
        "required": ["action"],
        "additionalProperties": false
    });

    let reply = model
        .chat(&ChatRequest {
            response_schema: Some(schema.clone()),
            ..ask("Plan it")
        })
        .await
        .unwrap();

    assert_eq!(reply.message.content, r#"{"action":"restart"}"#);
    assert_eq!(
        fake.requests()[0].body["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "proposal", "schema": schema, "strict": true}})
    );
}

#[tokio::test]
async fn streaming_sends_text_deltas_and_assembles_the_reply() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::stream_text(&["Kafka ", "restarts ", "in three stages."]));
    let model = model_at(&fake);

    let (reply, deltas) = stream(&model, &ask("How does Kafka restart?")).await;
    let reply = reply.unwrap();

    assert_eq!(
        deltas,
        vec![
            Delta::Text("Kafka ".into()),
            Delta::Text("restarts ".into()),
            Delta::Text("in three stages.".into())
        ]
    );
    assert_eq!(
        reply.message,
        Message::assistant("Kafka restarts in three stages.", vec![])
    );
    assert_eq!(reply.finish_reason, FinishReason::Stop);
    assert_eq!(
        reply.usage,
        Usage {
            prompt_tokens: 11,
            completion_tokens: 3
        }
    );
    let sent = &fake.requests()[0].body;
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn streamed_tool_call_fragments_are_forwarded_and_joined() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::stream(vec![
        chunk::role(),
        chunk::tool_call(0, Some("call_1"), Some("propose_job"), ""),
        chunk::tool_call(0, None, None, r#"{"service":"#),
        chunk::tool_call(0, None, None, r#""kafka","command":"#),
        chunk::tool_call(0, None, None, r#""restart"}"#),
        chunk::tool_call(1, Some("call_2"), Some("recent_jobs"), r#"{"limit":3}"#),
        chunk::finish("tool_calls"),
        chunk::usage(40, 12),
    ]));
    let model = model_at(&fake);

    let (reply, deltas) = stream(&model, &ask("Restart Kafka")).await;
    let reply = reply.unwrap();

    let fragment = |index, name: &str, arguments: &str| Delta::ToolCall {
        index,
        name: Some(name.to_string()),
        arguments: arguments.to_string(),
    };
    assert_eq!(
        deltas,
        vec![
            fragment(0, "propose_job", ""),
            fragment(0, "propose_job", r#"{"service":"#),
            fragment(0, "propose_job", r#""kafka","command":"#),
            fragment(0, "propose_job", r#""restart"}"#),
            fragment(1, "recent_jobs", r#"{"limit":3}"#),
        ]
    );
    assert_eq!(reply.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        reply.usage,
        Usage {
            prompt_tokens: 40,
            completion_tokens: 12
        }
    );
    assert_eq!(
        reply.message.tool_calls,
        vec![
            ToolCall {
                id: "call_1".into(),
                name: "propose_job".into(),
                arguments: r#"{"service":"kafka","command":"restart"}"#.into()
            },
            ToolCall {
                id: "call_2".into(),
                name: "recent_jobs".into(),
                arguments: r#"{"limit":3}"#.into()
            },
        ]
    );
}

#[tokio::test]
async fn a_429_is_retried_and_then_succeeds() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::error(429, "Rate limit reached for gpt-4o-mini").with_header("Retry-After", "1"));
    fake.push(Reply::completion("done"));
    let model = model_at(&fake);

    let started = Instant::now();
    let reply = model.chat(&ask("hi")).await.unwrap();

    assert_eq!(reply.message.content, "done");
    assert_eq!(fake.requests().len(), 2);
    // Retry-After: 1 is honoured over the 10 ms backoff… up to the configured 100 ms cap.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_millis(900),
        "{waited:?}"
    );
}

#[tokio::test]
async fn retry_after_is_honoured_when_within_the_cap() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::error(503, "overloaded").with_header("Retry-After", "1"));
    fake.push(Reply::completion("done"));
    let model = OpenAiChat::new(
        OpenAiConfig::new(fake.base_url(), "m").with_backoff(Duration::from_millis(10), Duration::from_secs(5)),
    )
    .unwrap();

    let started = Instant::now();
    model.chat(&ask("hi")).await.unwrap();

    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited only {:?}",
        started.elapsed()
    );
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn a_429_that_persists_past_the_retries_is_rate_limited() {
    let fake = FakeOpenAi::start().await;
    for _ in 0..4 {
        fake.push(Reply::error(429, "Rate limit reached"));
    }
    let model = model_at(&fake);

    let error = model.chat(&ask("hi")).await.unwrap_err();

    assert!(matches!(error, LlmError::RateLimited), "{error:?}");
    assert_eq!(fake.requests().len(), 4, "one attempt and three retries");
}

#[tokio::test]
async fn a_500_past_max_retries_is_an_http_error_with_the_providers_message() {
    let fake = FakeOpenAi::start().await;
    for _ in 0..4 {
        fake.push(Reply::error(
            500,
            "The server had an error while processing your request.",
        ));
    }
    fake.push(Reply::completion("never reached"));
    let model = model_at(&fake);

    let error = model.chat(&ask("hi")).await.unwrap_err();

    match error {
        LlmError::Http { status, message } => {
            assert_eq!(status, 500);
            assert_eq!(message, "The server had an error while processing your request.");
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    assert_eq!(fake.requests().len(), 4);
    assert_eq!(fake.replies_left(), 1);
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::error(401, "Incorrect API key provided: sk-test."));
    let model = model_at(&fake);

    let error = model.chat(&ask("hi")).await.unwrap_err();

    assert!(
        matches!(&error, LlmError::Http { status: 401, message } if message == "Incorrect API key provided: sk-test."),
        "{error:?}"
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn an_exhausted_quota_is_reported_at_once() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::json(
        429,
        json!({"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}),
    ));
    let model = model_at(&fake);

    let error = model.chat(&ask("hi")).await.unwrap_err();

    assert!(
        matches!(&error, LlmError::Http { status: 429, message } if message.contains("quota")),
        "{error:?}"
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_slow_provider_times_out() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::completion("too late").after(Duration::from_secs(3)));
    let model = OpenAiChat::new(
        OpenAiConfig::new(fake.base_url(), "m")
            .with_timeout(Duration::from_millis(200))
            .with_max_retries(3),
    )
    .unwrap();

    let started = Instant::now();
    let error = model.chat(&ask("hi")).await.unwrap_err();

    assert!(matches!(error, LlmError::Timeout(1)), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(fake.requests().len(), 1, "a timeout is not retried");
}

#[tokio::test]
async fn a_stream_that_stalls_times_out() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::stream_text(&["a", "b"]).with_gap(Duration::from_secs(3)));
    let model =
        OpenAiChat::new(OpenAiConfig::new(fake.base_url(), "m").with_timeout(Duration::from_millis(300))).unwrap();

    let started = Instant::now();
    let (result, _) = stream(&model, &ask("hi")).await;

    assert!(matches!(result, Err(LlmError::Timeout(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn malformed_json_is_malformed() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::raw(
        200,
        "application/json",
        r#"{"id": "chatcmpl-1", "choices": [ oops"#,
    ));
    let model = model_at(&fake);

    let error = model.chat(&ask("hi")).await.unwrap_err();

    assert!(
        matches!(&error, LlmError::Malformed(why) if why.contains("oops")),
        "{error:?}"
    );
    assert_eq!(fake.requests().len(), 1, "a malformed answer is not retried");
}

#[tokio::test]
async fn a_non_json_error_page_keeps_its_status() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::raw(404, "text/plain", "404 page not found"));
    let model = model_at(&fake);

    let error = model.chat(&ask("hi")).await.unwrap_err();

    assert!(
        matches!(&error, LlmError::Http { status: 404, message } if message == "404 page not found"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_stream_cut_mid_way_is_malformed() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::stream(vec![chunk::role(), chunk::text("Kafka "), chunk::text("rest")]).ending(StreamEnd::Cut));
    let model = model_at(&fake);

    let (result, deltas) = stream(&model, &ask("hi")).await;

    assert!(
        matches!(&result, Err(LlmError::Malformed(why)) if why.contains("stream broke")),
        "{result:?}"
    );
    assert_eq!(deltas, vec![Delta::Text("Kafka ".into()), Delta::Text("rest".into())]);
    assert_eq!(
        fake.requests().len(),
        1,
        "a stream is never retried once it has started"
    );
}

#[tokio::test]
async fn a_stream_that_ends_without_finishing_is_malformed() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::stream(vec![chunk::role(), chunk::text("Kafka ")]).ending(StreamEnd::Eof));
    let model = model_at(&fake);

    let (result, _) = stream(&model, &ask("hi")).await;

    assert!(
        matches!(&result, Err(LlmError::Malformed(why)) if why.contains("finish")),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_malformed_stream_chunk_is_malformed() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::sse(vec![
        chunk::text("Kafka ").to_string(),
        "{\"choices\": [".into(),
    ]));
    let model = model_at(&fake);

    let (result, deltas) = stream(&model, &ask("hi")).await;

    assert!(matches!(result, Err(LlmError::Malformed(_))), "{result:?}");
    assert_eq!(deltas, vec![Delta::Text("Kafka ".into())]);
}

#[tokio::test]
async fn opening_a_stream_is_retried_on_a_503() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::error(503, "overloaded"));
    fake.push(Reply::stream_text(&["ok"]));
    let model = model_at(&fake);

    let (result, deltas) = stream(&model, &ask("hi")).await;

    assert_eq!(result.unwrap().message.content, "ok");
    assert_eq!(deltas, vec![Delta::Text("ok".into())]);
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_retried_then_unavailable() {
    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let model = OpenAiChat::new(
        OpenAiConfig::new(format!("http://127.0.0.1:{port}/v1"), "m")
            .with_max_retries(2)
            .with_backoff(Duration::from_millis(10), Duration::from_millis(50)),
    )
    .unwrap();

    let error = model.chat(&ask("hi")).await.unwrap_err();

    assert!(
        matches!(&error, LlmError::Unavailable(why) if why.contains(&port.to_string())),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_azure_deployment_gets_an_api_key_header_and_an_api_version() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::completion("hello from Azure"));
    let base_url = format!("{}?api-version=2024-10-21", fake.root_url());
    let model = from_config("openai", Some(&base_url), Some("azure-key"), Some("gpt-4o-prod")).unwrap();

    let reply = model.chat(&ask("hi")).await.unwrap();

    assert_eq!(reply.message.content, "hello from Azure");
    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/openai/deployments/gpt-4o-prod/chat/completions");
    assert_eq!(sent.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(sent.header("api-key"), Some("azure-key"));
    assert_eq!(sent.header("authorization"), None);
}

#[tokio::test]
async fn a_trailing_slash_in_the_base_url_is_harmless() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::completion("ok"));
    let model = from_config("openai", Some(&format!("{}/", fake.base_url())), Some("k"), Some("m")).unwrap();

    model.chat(&ask("hi")).await.unwrap();

    assert_eq!(fake.requests()[0].path, "/v1/chat/completions");
}

#[test]
fn from_config_says_what_is_missing() {
    let unavailable = |result: Result<Box<dyn ChatModel>, LlmError>| match result {
        Err(LlmError::Unavailable(why)) => why,
        Err(other) => panic!("expected Unavailable, got {other:?}"),
        Ok(model) => panic!("expected an error, got {}", model.name()),
    };
    assert!(unavailable(from_config("openai", None, None, Some("m"))).contains("base URL"));
    assert!(unavailable(from_config("openai", Some("  "), None, Some("m"))).contains("base URL"));
    assert!(unavailable(from_config("openai", Some("http://localhost:11434/v1"), None, None)).contains("model"));
    assert!(unavailable(from_config("openai", Some("localhost:11434"), None, Some("m"))).contains("http://"));
    assert!(unavailable(from_config("local", None, None, None)).contains("steward-llm-local"));
    assert!(unavailable(from_config("anthropic", None, None, None)).contains("unknown"));
    assert_eq!(
        from_config("OpenAI", Some("http://localhost:1234/v1"), None, Some("qwen"))
            .unwrap()
            .name(),
        "openai:qwen"
    );
}

#[test]
fn a_configuration_never_prints_its_key() {
    let config = OpenAiConfig::new("https://api.openai.com/v1", "gpt-4o-mini").with_api_key("sk-secret");
    let printed = format!("{config:?}");
    assert!(!printed.contains("sk-secret"), "{printed}");
    assert!(printed.contains("redacted"));
}
