//! What a search or a delete selects: payload filters, the search mode, the query, the hits.
use uuid::Uuid;

use crate::{Kind, Payload};

/// Payload conditions, all of which must hold; an unset field does not restrict. Each field
/// condition is an exact match, so a chunk without the field never matches it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Any of these kinds (empty: every kind).
    pub kinds: Vec<Kind>,
    /// This cluster.
    pub cluster: Option<String>,
    /// This service.
    pub service: Option<String>,
    /// This component.
    pub component: Option<String>,
    /// This host.
    pub host: Option<String>,
    /// This job.
    pub job_id: Option<String>,
    /// This source (ingestion replaces a source's chunks).
    pub source: Option<String>,
    /// Chunks whose `time` lies in this range (chunks without a time never match).
    pub time: Option<TimeRange>,
}

impl Filter {
    /// No condition: selects everything.
    pub fn all() -> Self {
        Filter::default()
    }

    /// Everything of `cluster`.
    pub fn cluster(cluster: impl Into<String>) -> Self {
        Filter {
            cluster: Some(cluster.into()),
            ..Filter::default()
        }
    }

    /// Everything from `source`.
    pub fn source(source: impl Into<String>) -> Self {
        Filter {
            source: Some(source.into()),
            ..Filter::default()
        }
    }

    /// Whether the filter has no condition at all.
    pub fn is_empty(&self) -> bool {
        self == &Filter::default()
    }

    /// The exact-match conditions as `(payload key, value)` pairs, kinds excluded.
    pub(crate) fn keyword_conditions(&self) -> Vec<(&'static str, &str)> {
        [
            ("cluster", &self.cluster),
            ("service", &self.service),
            ("component", &self.component),
            ("host", &self.host),
            ("job_id", &self.job_id),
            ("source", &self.source),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.as_deref().map(|value| (key, value)))
        .collect()
    }

    /// Whether `payload` passes the filter; the stores filter natively, this is the reference
    /// their tests compare with.
    pub fn matches(&self, payload: &Payload) -> bool {
        let field = |key: &str| match key {
            "cluster" => payload.cluster.as_deref(),
            "service" => payload.service.as_deref(),
            "component" => payload.component.as_deref(),
            "host" => payload.host.as_deref(),
            "job_id" => payload.job_id.as_deref(),
            "source" => Some(payload.source.as_str()),
            _ => None,
        };
        (self.kinds.is_empty() || self.kinds.contains(&payload.kind))
            && self
                .keyword_conditions()
                .into_iter()
                .all(|(key, value)| field(key) == Some(value))
            && self
                .time
                .is_none_or(|range| payload.time.is_some_and(|time| range.contains(time)))
    }
}

/// An inclusive range of Unix seconds; an open end is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Earliest time, inclusive.
    pub from: Option<i64>,
    /// Latest time, inclusive.
    pub to: Option<i64>,
}

impl TimeRange {
    /// Whether `time` lies in the range.
    pub fn contains(&self, time: i64) -> bool {
        self.from.is_none_or(|from| time >= from) && self.to.is_none_or(|to| time <= to)
    }
}

/// Which vectors a search compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    /// Dense and BM25 candidates fused by reciprocal rank: paraphrases and exact names both find.
    #[default]
    Hybrid,
    /// Embeddings only: meaning, not words.
    Dense,
    /// BM25 only: words, identifiers, host names, error codes.
    Sparse,
}

impl SearchMode {
    /// `hybrid`, `dense` or `sparse`.
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Hybrid => "hybrid",
            SearchMode::Dense => "dense",
            SearchMode::Sparse => "sparse",
        }
    }
}

/// One search.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The question as text: its BM25 vector is computed from it.
    pub text: String,
    /// The question's embedding; required by the hybrid and dense modes.
    pub dense: Option<Vec<f32>>,
    /// Which vectors to compare.
    pub mode: SearchMode,
    /// Which chunks may be returned.
    pub filter: Filter,
    /// At most this many hits.
    pub limit: usize,
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The point's id.
    pub id: Uuid,
    /// The ranking score: cosine similarity (dense), BM25 (sparse) or the fused reciprocal-rank
    /// score (hybrid). Only the order is comparable across modes.
    pub score: f32,
    /// The stored fields.
    pub payload: Payload,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_hash;

    fn payload(cluster: Option<&str>, time: Option<i64>) -> Payload {
        Payload {
            kind: Kind::JobLog,
            cluster: cluster.map(str::to_string),
            service: None,
            component: None,
            host: Some("an-3".into()),
            job_id: None,
            time,
            title: "t".into(),
            source: "job:1".into(),
            text: "x".into(),
            content_hash: content_hash("x"),
        }
    }

    #[test]
    fn every_condition_must_hold_and_absent_fields_never_match() {
        let filter = Filter {
            host: Some("an-3".into()),
            ..Filter::cluster("analytics")
        };
        assert!(filter.matches(&payload(Some("analytics"), None)));
        assert!(!filter.matches(&payload(Some("web"), None)));
        assert!(!filter.matches(&payload(None, None)));
        assert!(Filter::all().matches(&payload(None, None)));
    }

    #[test]
    fn time_ranges_are_inclusive_and_skip_undated_chunks() {
        let filter = Filter {
            time: Some(TimeRange {
                from: Some(100),
                to: Some(200),
            }),
            ..Filter::all()
        };
        assert!(filter.matches(&payload(None, Some(100))));
        assert!(filter.matches(&payload(None, Some(200))));
        assert!(!filter.matches(&payload(None, Some(201))));
        assert!(!filter.matches(&payload(None, None)));
    }
}
