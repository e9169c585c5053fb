//! Steward's Rust SDK: typed requests and answers for the whole REST API, its event streams,
//! retries, and errors as types.
//!
//! The types ([`types`]) and one method per operation on [`Client`] are generated at build time
//! from the OpenAPI document the server publishes (`web/src/api/openapi.json`, which the
//! server's tests keep equal to what it serves), so the SDK and the API cannot drift apart.
//!
//! ```no_run
//! use steward_client::types::{ApproveRequest, Login, ProposeRequest};
//! use steward_client::Client;
//!
//! # async fn example() -> Result<(), steward_client::Error> {
//! let anonymous = Client::new("http://127.0.0.1:8080", None);
//! let session = anonymous
//!     .login(&Login { username: "admin".into(), password: "…".into() })
//!     .await?;
//! let client = anonymous.with_token(session.token);
//!
//! // Propose a job; nothing runs until it is approved with the plan hash that was reviewed.
//! let job = client
//!     .propose_job(&ProposeRequest {
//!         cluster: "local".into(),
//!         service: Some("host".into()),
//!         component: Some("host".into()),
//!         command: Some("check".into()),
//!         ..Default::default()
//!     })
//!     .await?;
//! let approval = ApproveRequest { plan_hash: job.plan_hash.clone(), comment: None };
//! // A job's list fields (id, state, risk, …) are its `job_summary`.
//! match client.approve_job(job.job_summary.id, &approval).await {
//!     Ok(job) => println!("job {} is {}", job.job_summary.id, job.job_summary.state),
//!     // Errors carry the API's stable code.
//!     Err(e) if e.code() == Some("four_eyes") => println!("someone else must approve it"),
//!     Err(e) => return Err(e),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Streams: [`Client::event_stream`] (the event feed), [`Client::send_message_stream`] (a chat
//! turn) and [`Client::follow_task_logs`].
#![warn(missing_docs)]

mod client;
mod endpoint;
mod error;
pub mod operations;
mod retry;
mod stream;
pub mod types;

pub use client::{Client, ClientBuilder};
pub use endpoint::{Answer, Endpoint, Operation};
pub use error::Error;
pub use retry::RetryPolicy;
pub use stream::{
    decode_chat, decode_feed, decode_stream, decode_task_log, ChatUpdate, FeedEvent, LogLine, TaskLogEvent,
};

/// A string that is none of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {what}: expected {}", expected.join(", "))]
pub struct ParseEnumError {
    what: &'static str,
    value: String,
    expected: Vec<&'static str>,
}

impl ParseEnumError {
    pub(crate) fn new(what: &'static str, value: &str, expected: &[&'static str]) -> Self {
        ParseEnumError {
            what,
            value: value.to_owned(),
            expected: expected.to_vec(),
        }
    }
}
