//! Opening the on-disk index: create it in an empty place, load it where one exists, and call
//! anything else — damaged files, a foreign directory, an unreadable one — [`StoreError::Corrupt`].
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use qdrant_edge::{
    CreateIndex, Distance, EdgeConfig, EdgeConfigBuilder, EdgeShard, EdgeSparseVectorParams, EdgeVectorParams,
    FieldIndexOperations, Modifier, PayloadFieldSchema, PayloadSchemaType, UpdateOperation,
};

use super::convert;
use crate::{StoreError, DENSE, KEYWORD_FIELDS, SPARSE, TIME_FIELD};

/// The file qdrant-edge writes first in a new index; its presence marks an index directory.
const CONFIG_FILE: &str = "edge_config.json";
/// qdrant-edge's segment directory.
const SEGMENTS_DIR: &str = "segments";

/// The shard at `path` for `dimension`-long dense vectors: a new one when `path` is missing or
/// an empty directory, else the one stored there, which must be sound and of that dimension.
pub(super) fn open_shard(path: &Path, dimension: usize) -> Result<EdgeShard, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return create(path, dimension),
        Err(error) => return Err(corrupt(format!("cannot read it: {error}"))),
        Ok(meta) if !meta.is_dir() => return Err(corrupt("it is not a directory".into())),
        Ok(_) => {}
    }
    let mut entries = std::fs::read_dir(path).map_err(|e| corrupt(format!("cannot list it: {e}")))?;
    if entries.next().is_none() {
        return create(path, dimension);
    }
    if !path.join(CONFIG_FILE).exists() && !path.join(SEGMENTS_DIR).exists() {
        return Err(corrupt(format!(
            "it holds files but no {CONFIG_FILE} or {SEGMENTS_DIR}/, so it is not a vector index"
        )));
    }
    // The engine panics on some malformed files rather than returning an error; either way
    // the directory is unusable as it is.
    let shard = match catch_unwind(AssertUnwindSafe(|| EdgeShard::load(path, None))) {
        Ok(Ok(shard)) => shard,
        Ok(Err(error)) => return Err(corrupt(error.to_string())),
        Err(panic) => {
            return Err(corrupt(format!(
                "the engine panicked loading it: {}",
                panic_text(&panic)
            )))
        }
    };
    check_schema(path, &shard.config(), dimension)?;
    // Indexes missing from an index made by an older Steward are added; existing ones stay.
    create_payload_indexes(&shard).map_err(|e| corrupt(format!("cannot add payload indexes: {e}")))?;
    Ok(shard)
}

/// A new, empty shard at `path`.
fn create(path: &Path, dimension: usize) -> Result<EdgeShard, StoreError> {
    std::fs::create_dir_all(path).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let shard = EdgeShard::new(path, config(dimension)).map_err(|e| StoreError::Engine(e.to_string()))?;
    create_payload_indexes(&shard).map_err(|e| StoreError::Engine(e.to_string()))?;
    Ok(shard)
}

/// A dense vector compared by cosine and a BM25 vector scored with IDF.
fn config(dimension: usize) -> EdgeConfig {
    EdgeConfigBuilder::new()
        .vector(DENSE, EdgeVectorParams::builder(dimension, Distance::Cosine).build())
        .sparse_vector(
            SPARSE,
            EdgeSparseVectorParams::builder().modifier(Modifier::Idf).build(),
        )
        .build()
}

/// Refuses a stored index whose vectors do not fit this crate's schema or `dimension`.
fn check_schema(path: &Path, config: &EdgeConfig, dimension: usize) -> Result<(), StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let dense = config
        .vectors
        .get(DENSE)
        .ok_or_else(|| corrupt(format!("it has no `{DENSE}` vector")))?;
    if !config.sparse_vectors.contains_key(SPARSE) {
        return Err(corrupt(format!("it has no `{SPARSE}` sparse vector")));
    }
    if dense.size != dimension {
        return Err(StoreError::DimensionMismatch {
            location: path.display().to_string(),
            expected: dimension,
            found: dense.size,
        });
    }
    Ok(())
}

/// Keyword indexes on the exactly-matched fields and an integer index on `time`: without
/// them every filtered search reads every payload.
fn create_payload_indexes(shard: &EdgeShard) -> qdrant_edge::OperationResult<()> {
    let existing = shard.info().payload_schema;
    let wanted = KEYWORD_FIELDS
        .iter()
        .map(|field| (*field, PayloadSchemaType::Keyword))
        .chain([(TIME_FIELD, PayloadSchemaType::Integer)]);
    for (field, schema) in wanted {
        let field_name = convert::path(field);
        if existing.contains_key(&field_name) {
            continue;
        }
        shard.update(UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(
            CreateIndex {
                field_name,
                field_schema: Some(PayloadFieldSchema::FieldType(schema)),
            },
        )))?;
    }
    Ok(())
}

/// The message of a caught panic.
fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
        .unwrap_or_else(|| "no message".into())
}
