//! The Qdrant-server backend (`QdrantServerStore`), run only when `STEWARD_TEST_QDRANT_URL`
//! names a server's gRPC endpoint (e.g. `http://127.0.0.1:6334`); otherwise each test says it
//! was skipped (`.config/nextest.toml` shows that line even when the test passes). Each test
//! works in a collection of its own, deleted afterwards.
mod common;

use common::DIM;
use steward_vector::{QdrantServerStore, StoreError};

/// The store on a fresh collection, or `None` (after saying so) when no server is configured.
async fn store(test: &str) -> Option<QdrantServerStore> {
    let Some(url) = std::env::var("STEWARD_TEST_QDRANT_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        eprintln!("SKIPPED {test}: set STEWARD_TEST_QDRANT_URL to a Qdrant server's gRPC URL to run it");
        return None;
    };
    let collection = format!("steward_test_{test}_{}", std::process::id());
    let store = QdrantServerStore::open(&url, None, &collection, DIM).await.unwrap();
    // A collection left behind by an interrupted run starts empty again.
    store.drop_collection().await.unwrap();
    Some(QdrantServerStore::open(&url, None, &collection, DIM).await.unwrap())
}

#[tokio::test]
async fn qdrant_server_filters_isolate_clusters() {
    let Some(store) = store("filters").await else { return };
    common::filters_isolate_clusters(&store).await;
    store.drop_collection().await.unwrap();
}

#[tokio::test]
async fn qdrant_server_content_hashes_drive_incremental_ingestion() {
    let Some(store) = store("hashes").await else { return };
    common::content_hashes_drive_incremental_ingestion(&store).await;
    store.drop_collection().await.unwrap();
}

#[tokio::test]
async fn qdrant_server_identifiers_are_found_by_words() {
    let Some(store) = store("words").await else { return };
    common::identifiers_are_found_by_words(&store).await;
    store.drop_collection().await.unwrap();
}

#[tokio::test]
async fn qdrant_server_refuses_a_collection_of_another_dimension() {
    let Some(store) = store("dimension").await else { return };
    let url = std::env::var("STEWARD_TEST_QDRANT_URL").unwrap_or_default();
    let error = QdrantServerStore::open(&url, None, store.collection(), DIM * 2)
        .await
        .err();
    assert!(matches!(error, Some(StoreError::DimensionMismatch { .. })), "{error:?}");
    store.drop_collection().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_qdrant_server_is_a_server_error() {
    // Needs no server: a port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}");
    let error = QdrantServerStore::open(&url, None, "steward", DIM).await.err();
    assert!(
        matches!(&error, Some(StoreError::Server { url: reported, .. }) if *reported == url),
        "{error:?}"
    );
}
