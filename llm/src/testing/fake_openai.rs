//! The fake OpenAI-compatible server: an axum app on 127.0.0.1, a queue of replies, a log of requests.
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::chunk;

/// A fake OpenAI-compatible server on loopback; it stops when dropped.
pub struct FakeOpenAi {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    server: JoinHandle<()>,
}

/// The replies still to serve and the requests received so far.
struct Script {
    /// Replies to `…/chat/completions`, in order.
    replies: VecDeque<Reply>,
    /// Replies to `…/embeddings`, in order; when none is left the server computes one.
    embedding_replies: VecDeque<Reply>,
    /// The length of the vectors computed for `…/embeddings`.
    embedding_dimension: usize,
    received: Vec<RecordedRequest>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            replies: VecDeque::new(),
            embedding_replies: VecDeque::new(),
            embedding_dimension: DEFAULT_EMBEDDING_DIMENSION,
            received: Vec::new(),
        }
    }
}

/// The length of computed embeddings until [`FakeOpenAi::set_embedding_dimension`] changes it.
pub const DEFAULT_EMBEDDING_DIMENSION: usize = 64;

/// One request the fake server received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The query string, if any (e.g. `api-version=2024-10-21`).
    pub query: Option<String>,
    /// Headers, names lower-cased (the last value when one repeats).
    pub headers: BTreeMap<String, String>,
    /// The body as JSON, or a JSON string holding the raw text when it was not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// How a streamed reply ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// `data: [DONE]`, then the body closes normally.
    Done,
    /// The body closes normally without `[DONE]`.
    Eof,
    /// The connection is cut mid-body (the chunked encoding never terminates).
    Cut,
}

/// One canned answer.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    delay: Duration,
    body: ReplyBody,
}

/// What a reply's body is made of.
#[derive(Debug, Clone)]
enum ReplyBody {
    /// A JSON document.
    Json(Value),
    /// Text as is, under its content type.
    Raw { content_type: String, text: String },
    /// Server-sent events: `data:` payloads, `gap` apart, then `end`.
    Sse {
        events: Vec<String>,
        end: StreamEnd,
        gap: Duration,
    },
}

impl Reply {
    fn new(status: u16, body: ReplyBody) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            delay: Duration::ZERO,
            body,
        }
    }

    /// 200 with a `chat.completion` whose message is `text`, `finish_reason: "stop"`, and usage
    /// of 11 prompt and 7 completion tokens.
    pub fn completion(text: &str) -> Self {
        Reply::json(
            200,
            completion(json!({"role": "assistant", "content": text, "refusal": null}), "stop"),
        )
    }

    /// 200 with a `chat.completion` that calls tools: `(id, name, arguments)` each, no content,
    /// `finish_reason: "tool_calls"`.
    pub fn tool_calls(calls: &[(&str, &str, &str)]) -> Self {
        let calls: Vec<Value> = calls
            .iter()
            .map(|(id, name, arguments)| {
                json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
            })
            .collect();
        Reply::json(
            200,
            completion(
                json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": calls}),
                "tool_calls",
            ),
        )
    }

    /// `status` with this JSON body (a JSON object without `model` gets the request's model).
    pub fn json(status: u16, body: Value) -> Self {
        Reply::new(status, ReplyBody::Json(body))
    }

    /// `status` with OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`.
    pub fn error(status: u16, message: &str) -> Self {
        let kind = match status {
            429 => "rate_limit_exceeded",
            500.. => "server_error",
            _ => "invalid_request_error",
        };
        Reply::json(
            status,
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
        )
    }

    /// `status` with `text` as is, under `content_type` (for malformed or non-JSON bodies).
    pub fn raw(status: u16, content_type: &str, text: &str) -> Self {
        Reply::new(
            status,
            ReplyBody::Raw {
                content_type: content_type.into(),
                text: text.into(),
            },
        )
    }

    /// 200 with an SSE stream: one `data:` event per chunk (see [`chunk`](super::chunk)), then
    /// `data: [DONE]` (change with [`Reply::ending`]).
    pub fn stream(chunks: Vec<Value>) -> Self {
        Reply::sse(chunks.iter().map(Value::to_string).collect())
    }

    /// 200 with an SSE stream whose `data:` payloads are these strings verbatim (for malformed
    /// chunks), then `data: [DONE]`.
    pub fn sse(events: Vec<String>) -> Self {
        Reply::new(
            200,
            ReplyBody::Sse {
                events,
                end: StreamEnd::Done,
                gap: Duration::ZERO,
            },
        )
    }

    /// A streamed text reply as OpenAI sends it: the role chunk, one chunk per fragment, the
    /// `stop` chunk, the usage chunk (11 prompt tokens, one completion token per fragment), `[DONE]`.
    pub fn stream_text(fragments: &[&str]) -> Self {
        let mut chunks = vec![chunk::role()];
        chunks.extend(fragments.iter().map(|fragment| chunk::text(fragment)));
        chunks.push(chunk::finish("stop"));
        chunks.push(chunk::usage(11, fragments.len() as u32));
        Reply::stream(chunks)
    }

    /// 200 with an embeddings `list` in OpenAI's format: one `embedding` object per vector, with
    /// `index` in the order given, and usage of one prompt token per vector.
    pub fn embeddings(vectors: &[Vec<f32>]) -> Self {
        Reply::embeddings_at(&vectors.iter().cloned().enumerate().collect::<Vec<_>>())
    }

    /// Like [`Reply::embeddings`] with explicit `(index, vector)` pairs, for replies out of
    /// order, with holes or duplicates.
    pub fn embeddings_at(entries: &[(usize, Vec<f32>)]) -> Self {
        Reply::json(200, embedding_list(entries))
    }

    /// Adds a response header (e.g. `Retry-After`).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Waits `delay` before answering (to provoke a client timeout).
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// For a stream: waits `gap` before each event.
    pub fn with_gap(mut self, gap: Duration) -> Self {
        if let ReplyBody::Sse { gap: current, .. } = &mut self.body {
            *current = gap;
        }
        self
    }

    /// For a stream: how it ends.
    pub fn ending(mut self, end: StreamEnd) -> Self {
        if let ReplyBody::Sse { end: current, .. } = &mut self.body {
            *current = end;
        }
        self
    }

    /// The HTTP response, after the delay; `model` is the request's.
    async fn render(self, model: &str) -> Response {
        tokio::time::sleep(self.delay).await;
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (content_type, body) = match self.body {
            ReplyBody::Json(value) => (
                "application/json".to_string(),
                Body::from(with_model(value, model).to_string()),
            ),
            ReplyBody::Raw { content_type, text } => (content_type, Body::from(text)),
            ReplyBody::Sse { events, end, gap } => ("text/event-stream".to_string(), sse_body(events, end, gap, model)),
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            "content-type",
            HeaderValue::from_str(&content_type).expect("a valid content type"),
        );
        for (name, value) in self.headers {
            let name = axum::http::HeaderName::from_bytes(name.as_bytes()).expect("a valid header name");
            headers.insert(name, HeaderValue::from_str(&value).expect("a valid header value"));
        }
        response
    }
}

/// A `chat.completion` object with one choice.
fn completion(message: Value, finish_reason: &str) -> Value {
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    })
}

/// An embeddings `list` object holding these `(index, vector)` pairs.
fn embedding_list(entries: &[(usize, Vec<f32>)]) -> Value {
    let data: Vec<Value> = entries
        .iter()
        .map(|(index, vector)| json!({"object": "embedding", "index": index, "embedding": vector}))
        .collect();
    json!({
        "object": "list",
        "data": data,
        "usage": {"prompt_tokens": entries.len(), "total_tokens": entries.len()},
    })
}

/// Real servers echo the model asked for; canned bodies leave it out and get it here.
fn with_model(mut value: Value, model: &str) -> Value {
    if let Some(object) = value.as_object_mut() {
        let reply = object.contains_key("choices") || object.get("object") == Some(&json!("list"));
        if reply && !object.contains_key("model") {
            object.insert("model".into(), json!(model));
        }
    }
    value
}

/// The SSE body: `data: …` events, `gap` apart, then the chosen ending.
fn sse_body(events: Vec<String>, end: StreamEnd, gap: Duration, model: &str) -> Body {
    let model = model.to_string();
    let events = futures::stream::iter(events).then(move |event| {
        let model = model.clone();
        async move {
            tokio::time::sleep(gap).await;
            // Only well-formed chunks get a model; malformed ones go out untouched.
            let event = match serde_json::from_str::<Value>(&event) {
                Ok(chunk) => with_model(chunk, &model).to_string(),
                Err(_) => event,
            };
            Ok::<_, std::io::Error>(Bytes::from(format!("data: {event}\n\n")))
        }
    });
    let ending = futures::stream::once(async move {
        match end {
            StreamEnd::Done => vec![Ok(Bytes::from_static(b"data: [DONE]\n\n"))],
            StreamEnd::Eof => vec![],
            StreamEnd::Cut => {
                // An error from the body stream makes hyper abort the connection mid-body. The
                // pause first lets the events before it reach the client, as they would have
                // when a real connection drops.
                tokio::time::sleep(Duration::from_millis(50)).await;
                vec![Err(std::io::Error::other("the fake server cut the stream"))]
            }
        }
    })
    .flat_map(futures::stream::iter);
    Body::from_stream(events.chain(ending))
}

impl FakeOpenAi {
    /// Starts the server on 127.0.0.1 on a free port, with no replies queued.
    pub async fn start() -> FakeOpenAi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake OpenAI server");
        let addr = listener.local_addr().expect("the fake OpenAI server's address");
        let script = Arc::new(Mutex::new(Script::default()));
        let app = Router::new().fallback(answer).with_state(script.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the fake OpenAI server runs");
        });
        FakeOpenAi { addr, script, server }
    }

    /// The base URL to configure: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.root_url())
    }

    /// The server's root, `http://127.0.0.1:PORT`, for URL shapes other than `/v1` (Azure's).
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues `reply` after those already queued.
    pub fn push(&self, reply: Reply) -> &Self {
        self.script().replies.push_back(reply);
        self
    }

    /// Queues `reply` for the next request to `…/embeddings` that has none queued before it.
    /// With no reply queued, the server answers with [`fake_embedding`]s of the inputs.
    pub fn push_embedding(&self, reply: Reply) -> &Self {
        self.script().embedding_replies.push_back(reply);
        self
    }

    /// Makes computed embeddings `dimension` long (default [`DEFAULT_EMBEDDING_DIMENSION`]).
    pub fn set_embedding_dimension(&self, dimension: usize) -> &Self {
        self.script().embedding_dimension = dimension.max(1);
        self
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.script().received.clone()
    }

    /// How many queued replies have not been served.
    pub fn replies_left(&self) -> usize {
        self.script().replies.len()
    }

    fn script(&self) -> MutexGuard<'_, Script> {
        // A test that panicked while holding the lock has failed already; its data is still fine.
        self.script.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Records the request, then serves the next reply to `…/chat/completions` or `…/embeddings`.
async fn answer(
    State(script): State<Arc<Mutex<Script>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-model")
        .to_string();
    let post = method == Method::POST;
    let chat = post && uri.path().ends_with("/chat/completions");
    let embeddings = post && uri.path().ends_with("/embeddings");
    let reply = {
        let mut script = script.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let reply = if chat {
            script.replies.pop_front()
        } else if embeddings {
            let dimension = script.embedding_dimension;
            Some(
                script
                    .embedding_replies
                    .pop_front()
                    .unwrap_or_else(|| computed_embeddings(&body, dimension)),
            )
        } else {
            Some(Reply::error(
                404,
                &format!("the fake OpenAI server does not serve {method} {}", uri.path()),
            ))
        };
        script.received.push(RecordedRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            headers: headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_string(),
                        String::from_utf8_lossy(value.as_bytes()).into(),
                    )
                })
                .collect(),
            body,
        });
        reply
    };
    let reply = reply.unwrap_or_else(|| Reply::error(500, "the fake OpenAI server has no scripted reply left"));
    reply.render(&model).await
}

/// The answer to an embeddings request with no scripted reply: a [`fake_embedding`] per input,
/// or OpenAI's 400 for an input that is not a string or an array of strings.
fn computed_embeddings(body: &Value, dimension: usize) -> Reply {
    let texts: Option<Vec<&str>> = match &body["input"] {
        Value::String(text) => Some(vec![text.as_str()]),
        Value::Array(items) if !items.is_empty() => items.iter().map(Value::as_str).collect(),
        _ => None,
    };
    match texts {
        Some(texts) => Reply::embeddings(
            &texts
                .iter()
                .map(|text| fake_embedding(text, dimension))
                .collect::<Vec<_>>(),
        ),
        None => Reply::error(
            400,
            "'input' must be a string or a non-empty array of strings (the fake server takes no tokens)",
        ),
    }
}

/// The vector the fake server computes for `text`: hashed bag of lower-cased words, L2-normalised.
///
/// Deterministic, and texts that share words are close, so tests can run retrieval through the
/// fake endpoint and predict what comes back. A text without words maps to the first axis.
pub fn fake_embedding(text: &str, dimension: usize) -> Vec<f32> {
    let dimension = dimension.max(1);
    let mut vector = vec![0.0f32; dimension];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
    {
        // FNV-1a: stable across runs and platforms, unlike the standard library's hasher.
        let hash = word
            .to_lowercase()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
            });
        vector[(hash % dimension as u64) as usize] += 1.0;
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 {
        vector[0] = 1.0;
    } else {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}
