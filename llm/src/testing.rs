//! Test support (cargo feature `testing`): [`FakeOpenAi`], a small OpenAI-compatible server on
//! loopback that answers `POST …/chat/completions` from a script of canned [`Reply`]s, answers
//! `POST …/embeddings` from its own script or else with [`fake_embedding`]s of the inputs, and
//! records every request it receives.
//!
//! Steward's tests never mock Steward's own code; the third party is what gets replaced, by a
//! server that speaks its real wire format (JSON completions, SSE chunks, error bodies,
//! `Retry-After`). Enable it from another crate's tests with
//!
//! ```toml
//! [dev-dependencies]
//! steward-llm = { workspace = true, features = ["testing"] }
//! ```
//!
//! and use it like this:
//!
//! ```
//! use steward_llm::testing::{FakeOpenAi, Reply};
//! use steward_llm::{from_config, ChatModel, ChatRequest, Message};
//!
//! # #[tokio::main] async fn main() {
//! let fake = FakeOpenAi::start().await;
//! fake.push(Reply::completion("Kafka restarts in three stages."));
//! let model = from_config("openai", Some(&fake.base_url()), Some("sk-test"), Some("gpt-4o-mini")).unwrap();
//! let reply = model.chat(&ChatRequest { messages: vec![Message::user("How?")], ..Default::default() }).await.unwrap();
//! assert_eq!(reply.message.content, "Kafka restarts in three stages.");
//! assert_eq!(fake.requests()[0].body["messages"][0]["content"], "How?");
//! # }
//! ```
//!
//! Replies are served in the order pushed, one per request (retries included); a request with
//! no reply left gets a 500 whose message says so. [`chunk`] builds streaming chunks in
//! OpenAI's format for [`Reply::stream`].
pub mod chunk;
mod fake_openai;

pub use fake_openai::{fake_embedding, FakeOpenAi, RecordedRequest, Reply, StreamEnd, DEFAULT_EMBEDDING_DIMENSION};
