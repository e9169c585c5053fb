//! Storage on a real database: idempotent writes, rollups, retention, range queries. SQLite
//! by default; PostgreSQL, a fresh database per test, when `STEWARD_TEST_POSTGRES_URL` names a
//! superuser's connection (`scripts/test-postgres.sh`, which `make test` runs), so the rollup
//! and retention SQL is checked on both.

use std::collections::BTreeMap;

use super::*;
use crate::db;
use crate::telemetry::SeriesKey;

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = match std::env::var("STEWARD_TEST_POSTGRES_URL") {
        Ok(admin) => {
            use sea_orm::ConnectionTrait;
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let name = format!(
                "steward_unit_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            );
            let c = sea_orm::Database::connect(&admin).await.unwrap();
            c.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
                .await
                .unwrap();
            c.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
            let (base, _) = admin.rsplit_once('/').expect("a postgres://…/database URL");
            format!("{base}/{name}")
        }
        Err(_) => db::sqlite_url(dir.path()),
    };
    // Series belong to hosts; the rows need not exist for these tests (no foreign keys).
    (dir, db::connect(&url).await.unwrap())
}

fn key(name: &str, mount: &str) -> SeriesKey {
    SeriesKey {
        name: name.into(),
        labels: BTreeMap::from([("mount".to_string(), mount.to_string())]),
    }
}

fn samples(k: &SeriesKey, points: &[(i64, f64)]) -> Vec<Sample> {
    points
        .iter()
        .map(|(at_ms, value)| Sample {
            series: k.id(),
            at_ms: *at_ms,
            value: *value,
        })
        .collect()
}

const T0: i64 = 1_800_000_000_000 / 3_600_000 * 3_600_000; // an hour boundary

#[tokio::test]
async fn a_batch_written_twice_is_stored_once() {
    let (_d, s) = store().await;
    let mut ids = SeriesIds::default();
    let k = key("disk_used_pct", "/");
    let batch = vec![(1, samples(&k, &[(T0, 1.0), (T0 + 5000, 2.0)]))];
    assert_eq!(write(&s, &mut ids, &batch).await.unwrap(), 2);
    // A fresh cache (a restarted server) finds the series instead of duplicating it.
    let mut fresh = SeriesIds::default();
    assert_eq!(write(&s, &mut fresh, &batch).await.unwrap(), 0);
    let (series, truncated) = range(s.read(), 1, "disk_used_pct", T0, T0 + 60_000, Tier::Raw, 100)
        .await
        .unwrap();
    assert!(!truncated);
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].points, [(T0, 1.0), (T0 + 5000, 2.0)]);
    assert_eq!(series[0].labels["mount"], "/");
}

#[tokio::test]
async fn downsampling_keeps_min_max_and_average_per_minute_and_hour() {
    let (_d, s) = store().await;
    let mut ids = SeriesIds::default();
    let k = key("disk_used_pct", "/var");
    // Two hours of samples every 10 s: value = minute index, plus 0..5 within the minute.
    let points: Vec<(i64, f64)> = (0..720)
        .map(|i| {
            let at = T0 + i * 10_000;
            (at, (i / 6) as f64 + (i % 6) as f64)
        })
        .collect();
    write(&s, &mut ids, &[(1, samples(&k, &points))]).await.unwrap();
    rollup(&s, T0, T0 + 2 * 3_600_000).await.unwrap();
    let (m, _) = range(
        s.read(),
        1,
        "disk_used_pct",
        T0,
        T0 + 2 * 3_600_000,
        Tier::Rollup(MINUTE),
        1000,
    )
    .await
    .unwrap();
    assert_eq!(m[0].points.len(), 120);
    // Minute 7: values 7..12, average 9.5.
    assert_eq!(m[0].points[7], (T0 + 7 * 60_000, 9.5));
    assert_eq!(m[0].range[7], (T0 + 7 * 60_000, 7.0, 12.0));
    let (h, _) = range(
        s.read(),
        1,
        "disk_used_pct",
        T0,
        T0 + 2 * 3_600_000,
        Tier::Rollup(HOUR),
        10,
    )
    .await
    .unwrap();
    // Hour 0: minutes 0..59, each averaging minute + 2.5; min 0, max 59 + 5.
    assert_eq!(h[0].points.len(), 2);
    assert!((h[0].points[0].1 - (29.5 + 2.5)).abs() < 1e-9, "{:?}", h[0].points);
    assert_eq!(h[0].range[0], (T0, 0.0, 64.0));
    assert_eq!(h[0].range[1], (T0 + 3_600_000, 60.0, 124.0));
    // A late sample for minute 7 is counted when its minute is rolled up again.
    write(&s, &mut ids, &[(1, samples(&k, &[(T0 + 7 * 60_000 + 1, 100.0)]))])
        .await
        .unwrap();
    rollup(&s, T0 + 7 * 60_000, T0 + 2 * 3_600_000).await.unwrap();
    let (m, _) = range(
        s.read(),
        1,
        "disk_used_pct",
        T0 + 7 * 60_000,
        T0 + 8 * 60_000,
        Tier::Rollup(MINUTE),
        10,
    )
    .await
    .unwrap();
    assert_eq!(m[0].range[0].2, 100.0);
    assert_eq!(rolled_up_to(s.read()).await.unwrap(), Some(T0 + 2 * 3_600_000));
}

#[tokio::test]
async fn retention_keeps_each_tier_for_its_window_and_raw_until_rolled_up() {
    let (_d, s) = store().await;
    let mut ids = SeriesIds::default();
    let k = key("disk_used_pct", "/");
    let day = 24 * 3_600_000;
    // One sample a minute for three days.
    let points: Vec<(i64, f64)> = (0..3 * 24 * 60).map(|i| (T0 + i * 60_000, 50.0)).collect();
    write(&s, &mut ids, &[(1, samples(&k, &points))]).await.unwrap();
    let now = T0 + 3 * day;
    let r = Retention {
        raw_ms: day,
        minute_ms: 2 * day,
        hour_ms: 3 * day,
    };
    // Nothing rolled up yet: raw samples are kept whatever their age.
    let deleted = retain(&s, r, now, T0).await.unwrap();
    assert_eq!(deleted, [0, 0, 0]);
    rollup(&s, T0, now).await.unwrap();
    let deleted = retain(&s, r, now, now).await.unwrap();
    assert_eq!(deleted[0], 2 * 24 * 60, "raw older than a day");
    assert_eq!(deleted[1], 24 * 60, "minutes older than two days");
    assert_eq!(deleted[2], 0, "hours are kept for three days");
    let count = |tier| {
        let s = &s;
        async move {
            range(s.read(), 1, "disk_used_pct", 0, i64::MAX, tier, 1_000_000)
                .await
                .unwrap()
                .0
                .first()
                .map_or(0, |x| x.points.len())
        }
    };
    assert_eq!(count(Tier::Raw).await, 24 * 60);
    assert_eq!(count(Tier::Rollup(MINUTE)).await, 2 * 24 * 60);
    assert_eq!(count(Tier::Rollup(HOUR)).await, 72);
    // Later, the oldest hour goes too.
    let deleted = retain(&s, r, now + 3_600_000, now).await.unwrap();
    assert_eq!(deleted[2], 1);
}
