//! Our shapes to qdrant-edge's and back. qdrant-edge exposes its engine's internal types; they
//! stay inside this module and `edge/`.
use qdrant_edge::external::ordered_float::OrderedFloat;
use qdrant_edge::{
    Condition, FieldCondition, Filter as EdgeFilter, JsonPath, Match, NamedQuery, Payload as EdgePayload, PointId,
    PointStruct, QueryEnum, Range, ScoredPoint, ValueVariants, Vector, VectorInternal, Vectors,
};
use uuid::Uuid;

use crate::{Filter, Hit, Payload, Point, SparseVector, StoreError, DENSE, SPARSE, TIME_FIELD};

/// The edge filter for `filter`, or `None` when it has no condition.
pub(super) fn filter(filter: &Filter) -> Option<EdgeFilter> {
    let mut must: Vec<Condition> = filter
        .keyword_conditions()
        .into_iter()
        .map(|(key, value)| keyword(key, value))
        .collect();
    if !filter.kinds.is_empty() {
        let any_kind: Vec<Condition> = filter.kinds.iter().map(|kind| keyword("kind", kind.as_str())).collect();
        must.push(Condition::Filter(EdgeFilter {
            should: Some(any_kind),
            ..EdgeFilter::new()
        }));
    }
    if let Some(range) = filter.time {
        must.push(Condition::Field(FieldCondition::new_range(
            path(TIME_FIELD),
            Range {
                gte: range.from.map(|from| OrderedFloat(from as f64)),
                lte: range.to.map(|to| OrderedFloat(to as f64)),
                lt: None,
                gt: None,
            },
        )));
    }
    (!must.is_empty()).then(|| EdgeFilter {
        must: Some(must),
        ..EdgeFilter::new()
    })
}

/// The edge path of payload key `key`, one of this crate's field names.
pub(super) fn path(key: &str) -> JsonPath {
    // Our keys are plain identifiers, which always parse; only `$`, `.` or `[` could fail.
    key.parse().unwrap_or_else(|_| panic!("`{key}` is a valid payload key"))
}

/// `key` equals `value`.
fn keyword(key: &str, value: &str) -> Condition {
    Condition::Field(FieldCondition::new_match(
        path(key),
        Match::new_value(ValueVariants::String(value.to_string())),
    ))
}

/// The edge point for `point`.
pub(super) fn point(point: Point) -> Result<PointStruct, StoreError> {
    let sparse = Vector::new_sparse(point.sparse.indices, point.sparse.values)
        .map_err(|e| StoreError::Invalid(format!("bad BM25 vector for {}: {e}", point.id)))?;
    let vectors = Vectors::new_named([(DENSE, Vector::new_dense(point.dense)), (SPARSE, sparse)]);
    let payload = serde_json::to_value(&point.payload)
        .map_err(|e| StoreError::Invalid(format!("payload of {} does not serialise: {e}", point.id)))?;
    Ok(PointStruct::new(PointId::Uuid(point.id), vectors, payload))
}

/// A nearest-neighbour query on the dense vector.
pub(super) fn dense_query(vector: Vec<f32>) -> QueryEnum {
    QueryEnum::Nearest(NamedQuery::new(VectorInternal::Dense(vector), DENSE))
}

/// A nearest-neighbour (dot product, IDF-weighted) query on the BM25 vector.
pub(super) fn sparse_query(vector: SparseVector) -> Result<QueryEnum, StoreError> {
    let Vector(sparse) = Vector::new_sparse(vector.indices, vector.values)
        .map_err(|e| StoreError::Invalid(format!("bad BM25 query vector: {e}")))?;
    Ok(QueryEnum::Nearest(NamedQuery::new(sparse, SPARSE)))
}

/// Our id for an edge id; every point this crate writes has a UUID.
pub(super) fn id(id: PointId) -> Result<Uuid, StoreError> {
    match id {
        PointId::Uuid(uuid) => Ok(uuid),
        PointId::NumId(n) => Err(StoreError::Engine(format!(
            "point {n} has a numeric id; this index was not written by Steward"
        ))),
    }
}

/// Our payload from a stored one.
pub(super) fn payload(id: Uuid, payload: Option<EdgePayload>) -> Result<Payload, StoreError> {
    let map = payload.map(|EdgePayload(map)| map).unwrap_or_default();
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| StoreError::Engine(format!("point {id} has an unreadable payload: {e}")))
}

/// A search result as a [`Hit`].
pub(super) fn hit(scored: ScoredPoint) -> Result<Hit, StoreError> {
    let id = id(scored.id)?;
    Ok(Hit {
        id,
        score: scored.score,
        payload: payload(id, scored.payload)?,
    })
}
