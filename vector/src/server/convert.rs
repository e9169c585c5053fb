//! Our shapes to qdrant-client's gRPC types and back.
use qdrant_client::qdrant::{self, Condition, PointStruct, Vector};
use qdrant_client::Payload as QdrantPayload;
use uuid::Uuid;

use crate::{Filter, Hit, Payload, Point, StoreError, DENSE, SPARSE, TIME_FIELD};

/// The server filter for `filter`, or `None` when it has no condition.
pub(super) fn filter(filter: &Filter) -> Option<qdrant::Filter> {
    let mut must: Vec<Condition> = filter
        .keyword_conditions()
        .into_iter()
        .map(|(key, value)| Condition::matches(key, value.to_string()))
        .collect();
    if !filter.kinds.is_empty() {
        let kinds: Vec<String> = filter.kinds.iter().map(|kind| kind.as_str().to_string()).collect();
        must.push(Condition::matches("kind", kinds));
    }
    if let Some(range) = filter.time {
        must.push(Condition::range(
            TIME_FIELD,
            qdrant::Range {
                gte: range.from.map(|from| from as f64),
                lte: range.to.map(|to| to as f64),
                lt: None,
                gt: None,
            },
        ));
    }
    (!must.is_empty()).then(|| qdrant::Filter::must(must))
}

/// The server point for `point`.
pub(super) fn point(point: Point) -> Result<PointStruct, StoreError> {
    let payload = QdrantPayload::try_from(
        serde_json::to_value(&point.payload)
            .map_err(|e| StoreError::Invalid(format!("payload of {} does not serialise: {e}", point.id)))?,
    )
    .map_err(|e| StoreError::Invalid(format!("payload of {}: {e}", point.id)))?;
    let vectors = std::collections::HashMap::from([
        (DENSE.to_string(), Vector::new_dense(point.dense)),
        (
            SPARSE.to_string(),
            Vector::new_sparse(point.sparse.indices, point.sparse.values),
        ),
    ]);
    Ok(PointStruct::new(point.id.to_string(), vectors, payload))
}

/// Our id for a server id; every point this crate writes has a UUID.
pub(super) fn id(id: Option<qdrant::PointId>) -> Result<Uuid, StoreError> {
    use qdrant::point_id::PointIdOptions;
    match id.and_then(|id| id.point_id_options) {
        Some(PointIdOptions::Uuid(text)) => {
            Uuid::parse_str(&text).map_err(|e| StoreError::Engine(format!("point id `{text}` is not a UUID: {e}")))
        }
        Some(PointIdOptions::Num(n)) => Err(StoreError::Engine(format!(
            "point {n} has a numeric id; this collection was not written by Steward"
        ))),
        None => Err(StoreError::Engine("a point came back without an id".into())),
    }
}

/// Our payload from a stored one.
pub(super) fn payload(
    id: Uuid,
    payload: std::collections::HashMap<String, qdrant::Value>,
) -> Result<Payload, StoreError> {
    let json: serde_json::Value = QdrantPayload::from(payload).into();
    serde_json::from_value(json).map_err(|e| StoreError::Engine(format!("point {id} has an unreadable payload: {e}")))
}

/// A search result as a [`Hit`].
pub(super) fn hit(scored: qdrant::ScoredPoint) -> Result<Hit, StoreError> {
    let id = id(scored.id)?;
    Ok(Hit {
        id,
        score: scored.score,
        payload: payload(id, scored.payload)?,
    })
}
