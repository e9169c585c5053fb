//! Scenarios every backend must pass, run by `edge_store.rs` against the embedded index and by
//! `qdrant_server.rs` against a Qdrant server; and small helpers to make points.
#![allow(dead_code)] // each test binary uses its own subset

use steward_vector::{content_hash, Filter, Kind, Payload, Point, Query, SearchMode, TimeRange, VectorStore};

/// The dense dimension of the test points.
pub const DIM: usize = 32;

/// A stand-in embedding: hashed bag of lower-cased words, unit length. Enough to make the
/// dense ranking depend on the text without loading a model.
pub fn embed(text: &str) -> Vec<f32> {
    let mut vector = [0.0f32; DIM];
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let hash = word.to_lowercase().bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        vector[(hash % DIM as u64) as usize] += 1.0;
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    vector.iter().map(|x| x / norm).collect()
}

/// A job-log chunk of `cluster` on `host` at `time`.
pub fn job_log(cluster: &str, host: &str, source: &str, time: i64, text: &str) -> Point {
    Point::new(
        Payload {
            kind: Kind::JobLog,
            cluster: Some(cluster.into()),
            service: Some("kafka".into()),
            component: Some("kafka_broker".into()),
            host: Some(host.into()),
            job_id: Some(source.trim_start_matches("job:").into()),
            time: Some(time),
            title: format!("{source} on {host}"),
            source: source.into(),
            text: text.into(),
            content_hash: content_hash(text),
        },
        embed(text),
    )
}

/// A documentation chunk of `service` (no cluster, no time).
pub fn doc(service: &str, source: &str, title: &str, text: &str) -> Point {
    Point::new(
        Payload {
            kind: Kind::Doc,
            cluster: None,
            service: Some(service.into()),
            component: None,
            host: None,
            job_id: None,
            time: None,
            title: title.into(),
            source: source.into(),
            text: text.into(),
            content_hash: content_hash(text),
        },
        embed(text),
    )
}

/// A query in `mode` under `filter`.
pub fn query(text: &str, mode: SearchMode, filter: Filter, limit: usize) -> Query {
    Query {
        text: text.into(),
        dense: Some(embed(text)),
        mode,
        filter,
        limit,
    }
}

/// Two clusters' job logs and one shared doc.
pub fn two_clusters() -> Vec<Point> {
    vec![
        job_log(
            "analytics",
            "an-1",
            "job:1",
            1_000,
            "kafka broker failed to start: ZooKeeper session expired",
        ),
        job_log(
            "analytics",
            "an-3",
            "job:2",
            2_000,
            "kafka broker started after ZooKeeper reconnect",
        ),
        job_log(
            "web",
            "web-1",
            "job:3",
            3_000,
            "kafka broker failed to start: ZooKeeper session expired on web",
        ),
        job_log("web", "web-2", "job:4", 4_000, "nginx reload finished"),
        doc(
            "kafka",
            "doc:kafka#restart",
            "Restarting Kafka",
            "Restart kafka brokers one at a time after ZooKeeper is up",
        ),
    ]
}

/// Filters keep clusters, hosts, kinds and time ranges apart in every mode, in search, count
/// and delete.
pub async fn filters_isolate_clusters(store: &dyn VectorStore) {
    store.upsert(two_clusters()).await.unwrap();
    store.optimize().await.unwrap();

    for mode in [SearchMode::Hybrid, SearchMode::Dense, SearchMode::Sparse] {
        let hits = store
            .search(&query(
                "kafka failed zookeeper session",
                mode,
                Filter::cluster("analytics"),
                10,
            ))
            .await
            .unwrap();
        assert_eq!(hits.len(), 2, "{mode:?}: {hits:?}");
        assert!(
            hits.iter()
                .all(|hit| hit.payload.cluster.as_deref() == Some("analytics")),
            "{mode:?}"
        );

        let on_web_1 = Filter {
            host: Some("web-1".into()),
            ..Filter::cluster("web")
        };
        let hits = store.search(&query("kafka", mode, on_web_1, 10)).await.unwrap();
        assert_eq!(hits.len(), 1, "{mode:?}");
        assert_eq!(hits[0].payload.source, "job:3");
    }

    let docs = Filter {
        kinds: vec![Kind::Doc],
        ..Filter::all()
    };
    let hits = store
        .search(&query("restart kafka", SearchMode::Hybrid, docs, 10))
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].payload.kind, Kind::Doc);

    let window = Filter {
        time: Some(TimeRange {
            from: Some(2_000),
            to: Some(3_000),
        }),
        ..Filter::all()
    };
    let mut sources: Vec<String> = store
        .search(&query("kafka broker", SearchMode::Hybrid, window.clone(), 10))
        .await
        .unwrap()
        .into_iter()
        .map(|hit| hit.payload.source)
        .collect();
    sources.sort();
    assert_eq!(sources, vec!["job:2", "job:3"]);
    assert_eq!(store.count(&window).await.unwrap(), 2);

    assert_eq!(store.count(&Filter::all()).await.unwrap(), 5);
    assert_eq!(store.count(&Filter::cluster("web")).await.unwrap(), 2);
    store.delete(&Filter::cluster("web")).await.unwrap();
    assert_eq!(store.count(&Filter::cluster("web")).await.unwrap(), 0);
    assert_eq!(store.count(&Filter::cluster("analytics")).await.unwrap(), 2);
    assert_eq!(
        store.count(&Filter::all()).await.unwrap(),
        3,
        "the doc has no cluster and stays"
    );
}

/// Content hashes are listed per source; re-upserting the same chunk keeps one point; a
/// source's stale chunks go by id and a whole source by filter.
pub async fn content_hashes_drive_incremental_ingestion(store: &dyn VectorStore) {
    let first = doc(
        "hdfs",
        "doc:hdfs#safemode",
        "Safe mode",
        "The NameNode leaves safe mode when blocks report",
    );
    let second = doc(
        "hdfs",
        "doc:hdfs#safemode",
        "Safe mode",
        "Force it out with hdfs dfsadmin -safemode leave",
    );
    let other = doc(
        "hdfs",
        "doc:hdfs#balancer",
        "Balancer",
        "Run the balancer after adding DataNodes",
    );
    store
        .upsert(vec![first.clone(), second.clone(), other.clone()])
        .await
        .unwrap();
    store.upsert(vec![first.clone()]).await.unwrap();

    let hashes = store.content_hashes("doc:hdfs#safemode").await.unwrap();
    let expected: std::collections::BTreeSet<String> =
        [first.payload.content_hash.clone(), second.payload.content_hash.clone()].into();
    assert_eq!(hashes, expected);
    assert_eq!(store.count(&Filter::source("doc:hdfs#safemode")).await.unwrap(), 2);
    assert!(store.content_hashes("doc:nothing").await.unwrap().is_empty());

    store.delete_points(&[second.id]).await.unwrap();
    let hashes = store.content_hashes("doc:hdfs#safemode").await.unwrap();
    assert_eq!(hashes, [first.payload.content_hash.clone()].into());

    store.delete(&Filter::source("doc:hdfs#safemode")).await.unwrap();
    assert_eq!(store.count(&Filter::all()).await.unwrap(), 1);
    assert!(
        store.delete(&Filter::all()).await.is_err(),
        "an empty filter is refused"
    );
    store.clear().await.unwrap();
    assert_eq!(store.count(&Filter::all()).await.unwrap(), 0);
}

/// Exact names (hosts, error codes) are found by BM25, and the hybrid keeps them on top.
pub async fn identifiers_are_found_by_words(store: &dyn VectorStore) {
    store.upsert(two_clusters()).await.unwrap();
    let hits = store
        .search(&query("nginx reload", SearchMode::Sparse, Filter::all(), 3))
        .await
        .unwrap();
    assert_eq!(hits[0].payload.source, "job:4");
    let hits = store
        .search(&query("nginx reload", SearchMode::Hybrid, Filter::all(), 3))
        .await
        .unwrap();
    assert_eq!(hits[0].payload.source, "job:4");
    assert!(hits.len() <= 3);
    // A query of stop words only has no BM25 terms: sparse finds nothing, hybrid still ranks.
    let hits = store
        .search(&query("the of", SearchMode::Sparse, Filter::all(), 3))
        .await
        .unwrap();
    assert!(hits.is_empty());
    let hits = store
        .search(&query("the of", SearchMode::Hybrid, Filter::all(), 3))
        .await
        .unwrap();
    assert_eq!(hits.len(), 3);
}
