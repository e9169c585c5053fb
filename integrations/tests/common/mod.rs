//! A scripted HTTP server on loopback standing in for Slack's or Telegram's API: it answers
//! each request with the next scripted reply and records what it was sent.
#![allow(dead_code)] // each test file uses part of it

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use steward_integrations::RetryPolicy;

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::from_u16(self.status).unwrap(), self.body).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value.parse().unwrap());
        }
        response
    }
}

struct Script {
    replies: Mutex<VecDeque<Reply>>,
    last: Reply,
    recorded: Mutex<Vec<Recorded>>,
}

/// The running fake.
pub struct Scripted {
    pub base: String,
    script: Arc<Script>,
}

impl Scripted {
    /// Answers with `replies` in order, then with the last of them for ever.
    pub async fn start(replies: Vec<Reply>) -> Scripted {
        let last = replies.last().cloned().expect("at least one reply");
        let script = Arc::new(Script {
            replies: Mutex::new(replies.into()),
            last,
            recorded: Mutex::new(Vec::new()),
        });
        let state = script.clone();
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let script = state.clone();
            async move {
                script.recorded.lock().unwrap().push(Recorded {
                    path: uri.path().to_owned(),
                    headers,
                    body: body.to_vec(),
                    at: Instant::now(),
                });
                let next = script.replies.lock().unwrap().pop_front();
                next.unwrap_or_else(|| script.last.clone())
            }
        });
        Scripted {
            base: serve(app).await,
            script,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.script.recorded.lock().unwrap().clone()
    }
}

/// Serves `app` on an ephemeral loopback port; returns `http://127.0.0.1:{port}`.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Retries quick enough for tests; `Retry-After` up to 5 s is still waited out.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(5),
    }
}

/// A base URL where nothing listens: a port just bound and released.
pub async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// Waits until `condition` holds, failing the test after `deadline`.
pub async fn eventually(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
