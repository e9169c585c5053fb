//! The embedded index (`EdgeStore`) on a temporary directory.
mod common;

use std::path::Path;
use steward_vector::testing::scribble_over;

use common::{doc, embed, query, two_clusters, DIM};
use steward_vector::{EdgeStore, Filter, SearchMode, StoreError, VectorStore};

async fn fresh() -> (tempfile::TempDir, EdgeStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = EdgeStore::open(dir.path().join("index"), DIM).await.unwrap();
    (dir, store)
}

#[tokio::test]
async fn filters_isolate_clusters() {
    let (_dir, store) = fresh().await;
    common::filters_isolate_clusters(&store).await;
}

#[tokio::test]
async fn content_hashes_drive_incremental_ingestion() {
    let (_dir, store) = fresh().await;
    common::content_hashes_drive_incremental_ingestion(&store).await;
}

#[tokio::test]
async fn identifiers_are_found_by_words() {
    let (_dir, store) = fresh().await;
    common::identifiers_are_found_by_words(&store).await;
}

#[tokio::test]
async fn a_reopened_index_keeps_its_points_and_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    let before = {
        let store = EdgeStore::open(&path, DIM).await.unwrap();
        store.upsert(two_clusters()).await.unwrap();
        store.optimize().await.unwrap();
        // Points written after the last optimize live only in the write-ahead log and the
        // appendable segment until the next one; they must survive too.
        store
            .upsert(vec![doc(
                "zookeeper",
                "doc:zk#4lw",
                "Four-letter words",
                "echo ruok | nc zk-1 2181",
            )])
            .await
            .unwrap();
        store
            .search(&query("zookeeper session", SearchMode::Hybrid, Filter::all(), 6))
            .await
            .unwrap()
    };

    let store = EdgeStore::open(&path, DIM).await.unwrap();

    assert_eq!(store.count(&Filter::all()).await.unwrap(), 6);
    assert_eq!(store.count(&Filter::cluster("analytics")).await.unwrap(), 2);
    assert_eq!(store.content_hashes("doc:zk#4lw").await.unwrap().len(), 1);
    let after = store
        .search(&query("zookeeper session", SearchMode::Hybrid, Filter::all(), 6))
        .await
        .unwrap();
    let ids = |hits: &[steward_vector::Hit]| hits.iter().map(|hit| hit.id).collect::<Vec<_>>();
    assert_eq!(ids(&after), ids(&before));
}

#[tokio::test]
async fn an_index_for_another_dimension_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    drop(EdgeStore::open(&path, DIM).await.unwrap());

    let error = EdgeStore::open(&path, 384)
        .await
        .err()
        .expect("another dimension is refused");

    assert!(
        matches!(
            error,
            StoreError::DimensionMismatch {
                expected: 384,
                found: 32,
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn bad_requests_are_refused_before_the_engine() {
    let (_dir, store) = fresh().await;
    let mut wrong = doc("kafka", "doc:k", "t", "text");
    wrong.dense = vec![1.0; DIM + 1];
    assert!(matches!(store.upsert(vec![wrong]).await, Err(StoreError::Invalid(_))));
    let mut no_vector = query("kafka", SearchMode::Dense, Filter::all(), 3);
    no_vector.dense = None;
    assert!(matches!(store.search(&no_vector).await, Err(StoreError::Invalid(_))));
    let mut short = query("kafka", SearchMode::Hybrid, Filter::all(), 3);
    short.dense = Some(embed("kafka")[..4].to_vec());
    assert!(matches!(store.search(&short).await, Err(StoreError::Invalid(_))));
    assert!(matches!(
        store.delete(&Filter::all()).await,
        Err(StoreError::Invalid(_))
    ));
}

/// Asserts that opening `path` fails as corrupt, naming the path.
async fn assert_corrupt(path: &Path) {
    match EdgeStore::open(path, DIM).await {
        Err(StoreError::Corrupt { path: reported, reason }) => {
            assert_eq!(reported, path);
            assert!(!reason.is_empty());
        }
        Err(other) => panic!("expected Corrupt for {}, got {other}", path.display()),
        Ok(_) => panic!("{} opened although it is damaged", path.display()),
    }
}

/// An index with data, closed, for the corruption tests.
async fn closed_index(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("index");
    let store = EdgeStore::open(&path, DIM).await.unwrap();
    store.upsert(two_clusters()).await.unwrap();
    store.optimize().await.unwrap();
    drop(store);
    path
}

#[tokio::test]
async fn garbage_in_every_file_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_index(&dir).await;
    scribble_over(&path);
    assert_corrupt(&path).await;
}

#[tokio::test]
async fn a_garbled_configuration_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_index(&dir).await;
    std::fs::write(path.join("edge_config.json"), b"{ not json").unwrap();
    assert_corrupt(&path).await;
}

#[tokio::test]
async fn garbage_segments_are_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_index(&dir).await;
    scribble_over(&path.join("segments"));
    assert_corrupt(&path).await;
}

#[tokio::test]
async fn a_foreign_directory_or_a_file_is_not_taken_for_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), b"someone else's files").unwrap();
    assert_corrupt(&foreign).await;
    assert_eq!(
        std::fs::read(foreign.join("notes.txt")).unwrap(),
        b"someone else's files"
    );

    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    assert_corrupt(&file).await;
}

#[tokio::test]
async fn a_corrupt_index_moved_aside_is_rebuilt_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_index(&dir).await;
    scribble_over(&path);
    assert_corrupt(&path).await;

    // What the server does: move it aside, open afresh, re-ingest.
    std::fs::rename(&path, dir.path().join("index.corrupt")).unwrap();
    let store = EdgeStore::open(&path, DIM).await.unwrap();
    assert_eq!(store.count(&Filter::all()).await.unwrap(), 0);
    store.upsert(two_clusters()).await.unwrap();
    assert_eq!(store.count(&Filter::all()).await.unwrap(), 5);
}
