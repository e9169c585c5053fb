//! What the index stores: one chunk of text with its vectors and its payload.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::bm25;
use crate::SparseVector;

/// What a chunk comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A section of a stack's documentation.
    Doc,
    /// Part of a finished job's log, with its outcome.
    JobLog,
    /// An incident's summary.
    Incident,
}

impl Kind {
    /// The payload value: `doc`, `job_log` or `incident`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Doc => "doc",
            Kind::JobLog => "job_log",
            Kind::Incident => "incident",
        }
    }
}

/// The fields stored with a chunk, filtered on and shown with a hit. Absent fields are not
/// stored at all, so a filter on `cluster` never matches a chunk without one (stack docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// What the chunk comes from.
    pub kind: Kind,
    /// The cluster it belongs to (job logs, incidents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The service, e.g. `kafka`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The component, e.g. `kafka_broker`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// The host (job logs, incidents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The job (job logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// When it happened or was written, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
    /// A heading or one-line description, shown when the chunk is cited.
    pub title: String,
    /// Where it comes from, e.g. `stacks/bigdata/kafka/docs/README.md#restart` or `job:42`;
    /// ingestion replaces a source's chunks as a whole.
    pub source: String,
    /// The chunk's text.
    pub text: String,
    /// [`content_hash`] of `text`: ingestion skips chunks whose hash is already stored.
    pub content_hash: String,
}

/// One chunk ready to store: id, dense vector, BM25 vector and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// [`point_id`] of the payload's source and content hash.
    pub id: Uuid,
    /// The embedding of the text.
    pub dense: Vec<f32>,
    /// The BM25 document vector of the text ([`bm25::document`]).
    pub sparse: SparseVector,
    /// The stored fields.
    pub payload: Payload,
}

impl Point {
    /// A point for `payload` with its embedding `dense`: the id and the BM25 vector are
    /// computed here, so every backend stores exactly the same thing.
    pub fn new(payload: Payload, dense: Vec<f32>) -> Self {
        Point {
            id: point_id(&payload.source, &payload.content_hash),
            sparse: bm25::document(&payload.text),
            dense,
            payload,
        }
    }
}

/// SHA-256 of `text`, in hex: what [`Payload::content_hash`] holds.
pub fn content_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The stable id of the chunk with `content_hash` in `source`: re-ingesting the same text
/// overwrites the same point, and the same text in two sources stays two points.
pub fn point_id(source: &str, content_hash: &str) -> Uuid {
    // A fixed namespace of our own, so ids never collide with another tool's v5 UUIDs.
    const NAMESPACE: Uuid = Uuid::from_u128(0x6e0f_4f5c_2b1d_4c52_9a43_5f8e_7d1c_a0b3);
    Uuid::new_v5(&NAMESPACE, format!("{source}\n{content_hash}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_depend_on_source_and_content_only() {
        let hash = content_hash("kafka restarts in three stages");
        assert_eq!(point_id("doc:a", &hash), point_id("doc:a", &hash));
        assert_ne!(point_id("doc:a", &hash), point_id("doc:b", &hash));
        assert_ne!(point_id("doc:a", &hash), point_id("doc:a", &content_hash("other")));
    }

    #[test]
    fn absent_fields_are_not_stored() {
        let payload = Payload {
            kind: Kind::Doc,
            cluster: None,
            service: Some("kafka".into()),
            component: None,
            host: None,
            job_id: None,
            time: None,
            title: "Restart".into(),
            source: "doc:kafka".into(),
            text: "t".into(),
            content_hash: content_hash("t"),
        };
        let json = serde_json::to_value(&payload).unwrap();
        assert_eq!(json["kind"], "doc");
        assert!(json.get("cluster").is_none());
        assert_eq!(json["service"], "kafka");
    }
}
