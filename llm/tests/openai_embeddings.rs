//! The OpenAI-compatible embedder against the fake server on loopback
//! (`steward_llm::testing::FakeOpenAi`), which speaks OpenAI's real `/embeddings` wire format.
use std::time::Duration;

use serde_json::json;
use steward_llm::testing::{fake_embedding, FakeOpenAi, Reply};
use steward_llm::{Embedder, LlmError, OpenAiConfig, OpenAiEmbedder};

/// A config for the fake server with small timeouts and backoffs, so retries take milliseconds.
fn config_for(fake: &FakeOpenAi) -> OpenAiConfig {
    OpenAiConfig::new(fake.base_url(), "text-embedding-3-small")
        .with_api_key("sk-test")
        .with_timeout(Duration::from_secs(2))
        .with_max_retries(2)
        .with_backoff(Duration::from_millis(10), Duration::from_millis(50))
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|text| text.to_string()).collect()
}

#[tokio::test]
async fn each_text_gets_its_vector_in_order_over_the_real_wire_format() {
    let fake = FakeOpenAi::start().await;
    fake.set_embedding_dimension(8);
    let embedder = OpenAiEmbedder::new(config_for(&fake), 8).unwrap();
    let input = texts(&["kafka broker down", "zookeeper session expired", "disk full on an-3"]);

    let vectors = embedder.embed(&input).await.unwrap();

    let expected: Vec<Vec<f32>> = input.iter().map(|text| fake_embedding(text, 8)).collect();
    assert_eq!(vectors, expected);
    assert_eq!(embedder.dimension(), 8);
    assert_eq!(embedder.model_id(), "openai:text-embedding-3-small/8");
    let sent = &fake.requests()[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/embeddings");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(sent.body["model"], "text-embedding-3-small");
    assert_eq!(sent.body["input"], json!(input));
}

#[tokio::test]
async fn a_reply_out_of_order_is_put_back_in_input_order() {
    let fake = FakeOpenAi::start().await;
    fake.push_embedding(Reply::embeddings_at(&[(1, vec![0.0, 1.0]), (0, vec![1.0, 0.0])]));
    let embedder = OpenAiEmbedder::new(config_for(&fake), 2).unwrap();

    let vectors = embedder.embed(&texts(&["first", "second"])).await.unwrap();

    assert_eq!(vectors, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
}

#[tokio::test]
async fn many_texts_go_out_in_bounded_batches() {
    let fake = FakeOpenAi::start().await;
    fake.set_embedding_dimension(4);
    let embedder = OpenAiEmbedder::new(config_for(&fake), 4).unwrap().with_max_batch(2);
    let input = texts(&["a", "b", "c", "d", "e"]);

    let vectors = embedder.embed(&input).await.unwrap();

    assert_eq!(vectors.len(), 5);
    assert_eq!(vectors[4], fake_embedding("e", 4));
    let sizes: Vec<usize> = fake
        .requests()
        .iter()
        .map(|request| request.body["input"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, vec![2, 2, 1]);
}

#[tokio::test]
async fn nothing_to_embed_sends_nothing() {
    let fake = FakeOpenAi::start().await;
    let embedder = OpenAiEmbedder::new(config_for(&fake), 4).unwrap();

    assert!(embedder.embed(&[]).await.unwrap().is_empty());
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    let fake = FakeOpenAi::start().await;
    fake.set_embedding_dimension(4);
    fake.push_embedding(Reply::error(429, "Rate limit reached").with_header("retry-after-ms", "5"));
    fake.push_embedding(Reply::error(503, "overloaded"));
    let embedder = OpenAiEmbedder::new(config_for(&fake), 4).unwrap();

    let vectors = embedder.embed(&texts(&["kafka"])).await.unwrap();

    assert_eq!(vectors, vec![fake_embedding("kafka", 4)]);
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn a_bad_request_is_not_retried_and_keeps_the_providers_message() {
    let fake = FakeOpenAi::start().await;
    fake.push_embedding(Reply::error(400, "This model's maximum context length is 8192 tokens"));
    let embedder = OpenAiEmbedder::new(config_for(&fake), 4).unwrap();

    let error = embedder.embed(&texts(&["very long"])).await.unwrap_err();

    assert!(
        matches!(&error, LlmError::Http { status: 400, message } if message.contains("maximum context length")),
        "{error}"
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn vectors_of_the_wrong_length_are_refused_with_a_hint() {
    let fake = FakeOpenAi::start().await;
    fake.set_embedding_dimension(16);
    let embedder = OpenAiEmbedder::new(config_for(&fake), 384).unwrap();

    let error = embedder.embed(&texts(&["kafka"])).await.unwrap_err();

    assert!(matches!(error, LlmError::Malformed(_)), "{error}");
    assert!(error.to_string().contains("16-dimensional"), "{error}");
    assert!(error.to_string().contains("embedding dimension"), "{error}");
}

#[tokio::test]
async fn detect_learns_the_dimension_from_one_probe() {
    let fake = FakeOpenAi::start().await;
    fake.set_embedding_dimension(12);

    let embedder = OpenAiEmbedder::detect(config_for(&fake)).await.unwrap();

    assert_eq!(embedder.dimension(), 12);
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn an_unreachable_endpoint_says_where_it_tried() {
    // A port nothing listens on: bind, learn the port, close.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let config = OpenAiConfig::new(format!("http://127.0.0.1:{port}/v1"), "nomic-embed-text")
        .with_max_retries(1)
        .with_backoff(Duration::from_millis(5), Duration::from_millis(10));
    let embedder = OpenAiEmbedder::new(config, 768).unwrap();

    let error = embedder.embed(&texts(&["kafka"])).await.unwrap_err();

    assert!(matches!(error, LlmError::Unavailable(_)), "{error}");
    assert!(error.to_string().contains(&format!("127.0.0.1:{port}")), "{error}");
}

#[tokio::test]
async fn a_classic_azure_deployment_gets_its_url_shape_and_key_header() {
    let fake = FakeOpenAi::start().await;
    fake.set_embedding_dimension(4);
    let config = OpenAiConfig::new(fake.root_url(), "embed-deployment")
        .with_api_key("azure-key")
        .with_azure_api_version("2024-10-21");
    let embedder = OpenAiEmbedder::new(config, 4).unwrap();

    embedder.embed(&texts(&["kafka"])).await.unwrap();

    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/openai/deployments/embed-deployment/embeddings");
    assert_eq!(sent.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(sent.header("api-key"), Some("azure-key"));
}

#[test]
fn a_zero_dimension_or_bad_url_is_refused_up_front() {
    assert!(OpenAiEmbedder::new(OpenAiConfig::new("http://h/v1", "m"), 0).is_err());
    assert!(OpenAiEmbedder::new(OpenAiConfig::new("h/v1", "m"), 8).is_err());
}
