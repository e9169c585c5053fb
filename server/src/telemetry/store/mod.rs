//! Samples in the database: series, raw samples, and the 1-minute and 1-hour rollups.
//!
//! Raw samples are keyed by (series, time) and inserted with `ON CONFLICT DO NOTHING`, so a
//! batch an agent sends twice is stored once. Samples go in multi-row INSERTs of a few fixed
//! sizes with bound values, so the driver's prepared-statement cache holds four statements,
//! not one per batch. Rollups, retention and range queries are built from numbers only.

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{Alias, Expr, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr, Statement};

use super::ingest::Sample;
use crate::db::Store;

/// A rollup tier: its step in seconds.
pub const MINUTE: i64 = 60;
/// The hourly tier.
pub const HOUR: i64 = 3600;

/// Series ids per host, by `SeriesKey::id`, cached after first use.
#[derive(Default)]
pub struct SeriesIds {
    ids: HashMap<i64, HashMap<String, i64>>,
}

impl SeriesIds {
    /// The ids of every series in `batches`, creating the missing ones inside `txn`.
    async fn resolve(&mut self, txn: &impl ConnectionTrait, batches: &[(i64, Vec<Sample>)]) -> Result<(), DbErr> {
        let mut seen: HashSet<(i64, &str)> = HashSet::new();
        let mut missing: Vec<(i64, &Sample)> = vec![];
        for (host, samples) in batches {
            let known = self.ids.get(host);
            for s in samples {
                if known.is_none_or(|k| !k.contains_key(&s.series)) && seen.insert((*host, &s.series)) {
                    missing.push((*host, s));
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let backend = txn.get_database_backend();
        for chunk in missing.chunks(500) {
            let mut q = Query::insert();
            q.into_table(Alias::new("metric_series"))
                .columns([Alias::new("host_id"), Alias::new("name"), Alias::new("labels")])
                .on_conflict(OnConflict::new().do_nothing().to_owned());
            for (h, s) in chunk {
                q.values_panic([(*h).into(), s.name().into(), s.labels_json().into()]);
            }
            txn.execute(backend.build(&q)).await?;
        }
        let mut hosts: Vec<i64> = missing.iter().map(|m| m.0).collect();
        hosts.sort_unstable();
        hosts.dedup();
        let q = Query::select()
            .columns([
                Alias::new("id"),
                Alias::new("host_id"),
                Alias::new("name"),
                Alias::new("labels"),
            ])
            .from(Alias::new("metric_series"))
            .and_where(Expr::col(Alias::new("host_id")).is_in(hosts))
            .to_owned();
        for row in txn.query_all(backend.build(&q)).await? {
            let id: i64 = row.try_get("", "id")?;
            let host: i64 = row.try_get("", "host_id")?;
            let name: String = row.try_get("", "name")?;
            let labels: String = row.try_get("", "labels")?;
            self.ids
                .entry(host)
                .or_default()
                .insert(format!("{name}\u{1f}{labels}"), id);
        }
        Ok(())
    }

    fn get(&self, host: i64, series: &str) -> Option<i64> {
        self.ids.get(&host).and_then(|m| m.get(series)).copied()
    }
}

/// Stores every sample of `batches` in one transaction; returns how many were new.
pub async fn write(store: &Store, series: &mut SeriesIds, batches: &[(i64, Vec<Sample>)]) -> Result<u64, DbErr> {
    let txn = store.begin_write().await?;
    series.resolve(&*txn, batches).await?;
    let backend = txn.get_database_backend();
    let rows: Vec<(i64, i64, f64)> = batches
        .iter()
        .flat_map(|(host, samples)| {
            samples
                .iter()
                .filter_map(|s| series.get(*host, &s.series).map(|id| (id, s.at_ms, s.value)))
        })
        .collect();
    let mut inserted = 0;
    let mut rest = &rows[..];
    while !rest.is_empty() {
        // Statements of a few fixed sizes, so the prepared-statement cache holds a handful of
        // them rather than one per batch size.
        let n = *SHAPES.iter().find(|n| **n <= rest.len()).unwrap_or(&1);
        let (chunk, tail) = rest.split_at(n);
        let values: Vec<sea_orm::Value> = chunk
            .iter()
            .flat_map(|(id, at, v)| [(*id).into(), (*at).into(), (*v).into()])
            .collect();
        let sql = insert_sql(backend, n);
        inserted += txn
            .execute(Statement::from_sql_and_values(backend, sql, values))
            .await?
            .rows_affected();
        rest = tail;
    }
    txn.commit().await?;
    Ok(inserted)
}

/// Rows per sample INSERT, largest first (at most 3 × 1000 bound values: under every
/// backend's limit).
const SHAPES: [usize; 4] = [1000, 100, 10, 1];

/// `INSERT … VALUES (?, ?, ?), … ON CONFLICT DO NOTHING` for `rows` rows.
fn insert_sql(backend: sea_orm::DbBackend, rows: usize) -> String {
    let mut sql = String::from("INSERT INTO metric_samples (series_id, at_ms, value) VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        if backend == sea_orm::DbBackend::Postgres {
            let i = r * 3;
            sql.push_str(&format!("(${},${},${})", i + 1, i + 2, i + 3));
        } else {
            sql.push_str("(?,?,?)");
        }
    }
    sql.push_str(" ON CONFLICT DO NOTHING");
    sql
}

/// Which data a range query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Raw samples.
    Raw,
    /// Rollups of this many seconds.
    Rollup(i64),
}

/// One series' points in a range: `[at_ms, value]`, and for rollups also min and max.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SeriesPoints {
    /// Metric name.
    pub name: String,
    /// Labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// `[at_ms, value]` (the average for rollups), oldest first.
    #[schema(value_type = Vec<Vec<f64>>)]
    pub points: Vec<(i64, f64)>,
    /// For rollups: `[at_ms, min, max]` of each point.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Vec<f64>>)]
    pub range: Vec<(i64, f64, f64)>,
}

/// The series of `name` on `host_id` in `[from_ms, to_ms)`, at most `limit` points in all.
pub async fn range(
    db: &impl ConnectionTrait,
    host_id: i64,
    name: &str,
    from_ms: i64,
    to_ms: i64,
    tier: Tier,
    limit: u64,
) -> Result<(Vec<SeriesPoints>, bool), DbErr> {
    let backend = db.get_database_backend();
    let q = Query::select()
        .columns([Alias::new("id"), Alias::new("labels")])
        .from(Alias::new("metric_series"))
        .and_where(Expr::col(Alias::new("host_id")).eq(host_id))
        .and_where(Expr::col(Alias::new("name")).eq(name))
        .to_owned();
    let mut series: HashMap<i64, SeriesPoints> = HashMap::new();
    for row in db.query_all(backend.build(&q)).await? {
        let id: i64 = row.try_get("", "id")?;
        let labels: String = row.try_get("", "labels")?;
        series.insert(
            id,
            SeriesPoints {
                name: name.to_owned(),
                labels: serde_json::from_str(&labels).unwrap_or_default(),
                points: vec![],
                range: vec![],
            },
        );
    }
    if series.is_empty() {
        return Ok((vec![], false));
    }
    let ids: Vec<String> = series.keys().map(i64::to_string).collect();
    let ids = ids.join(",");
    let sql = match tier {
        Tier::Raw => format!(
            "SELECT series_id, at_ms, value, value AS lo, value AS hi FROM metric_samples \
             WHERE series_id IN ({ids}) AND at_ms >= {from_ms} AND at_ms < {to_ms} ORDER BY at_ms LIMIT {}",
            limit + 1
        ),
        Tier::Rollup(step) => format!(
            "SELECT series_id, at_ms, avg AS value, min AS lo, max AS hi FROM metric_rollups \
             WHERE step_secs = {step} AND series_id IN ({ids}) AND at_ms >= {from_ms} AND at_ms < {to_ms} ORDER BY at_ms LIMIT {}",
            limit + 1
        ),
    };
    let rows = db.query_all(Statement::from_string(backend, sql)).await?;
    let truncated = rows.len() as u64 > limit;
    for row in rows.into_iter().take(limit as usize) {
        let id: i64 = row.try_get("", "series_id")?;
        let at: i64 = row.try_get("", "at_ms")?;
        let v: f64 = row.try_get("", "value")?;
        if let Some(s) = series.get_mut(&id) {
            s.points.push((at, v));
            if tier != Tier::Raw {
                s.range.push((at, row.try_get("", "lo")?, row.try_get("", "hi")?));
            }
        }
    }
    let mut out: Vec<SeriesPoints> = series.into_values().collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok((out, truncated))
}

/// A stored series of a host: its id, metric name and canonical labels JSON.
pub struct StoredSeries {
    /// Row id.
    pub id: i64,
    /// Metric name.
    pub name: String,
    /// Labels as canonical JSON.
    pub labels: String,
}

/// Every series `host_id` has stored.
pub async fn series_of(db: &impl ConnectionTrait, host_id: i64) -> Result<Vec<StoredSeries>, DbErr> {
    let backend = db.get_database_backend();
    let q = Query::select()
        .columns([Alias::new("id"), Alias::new("name"), Alias::new("labels")])
        .from(Alias::new("metric_series"))
        .and_where(Expr::col(Alias::new("host_id")).eq(host_id))
        .to_owned();
    db.query_all(backend.build(&q))
        .await?
        .into_iter()
        .map(|row| {
            Ok(StoredSeries {
                id: row.try_get("", "id")?,
                name: row.try_get("", "name")?,
                labels: row.try_get("", "labels")?,
            })
        })
        .collect()
}

/// The newest raw sample of each series in `ids` that has one: `(at_ms, value)` by series.
pub async fn last_samples(db: &impl ConnectionTrait, ids: &[i64]) -> Result<HashMap<i64, (i64, f64)>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let backend = db.get_database_backend();
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    // (series_id, at_ms) is the key: each inner MAX is one index probe.
    let sql = format!(
        "SELECT s.series_id, s.at_ms, s.value FROM metric_samples s \
         WHERE s.series_id IN ({ids}) AND s.at_ms = \
         (SELECT MAX(l.at_ms) FROM metric_samples l WHERE l.series_id = s.series_id)",
        ids = ids.join(",")
    );
    let mut out = HashMap::new();
    for row in db.query_all(Statement::from_string(backend, sql)).await? {
        out.insert(
            row.try_get::<i64>("", "series_id")?,
            (row.try_get("", "at_ms")?, row.try_get("", "value")?),
        );
    }
    Ok(out)
}

/// Computes the 1-minute rollups of every complete minute from `from_ms` up to `now_ms`, and
/// the 1-hour rollups of the hours those minutes fall in (recomputed, so late samples count).
pub async fn rollup(store: &Store, from_ms: i64, now_ms: i64) -> Result<(), DbErr> {
    let m = MINUTE * 1000;
    let h = HOUR * 1000;
    let from_m = from_ms.div_euclid(m) * m;
    let to_m = now_ms.div_euclid(m) * m;
    if to_m <= from_m {
        return Ok(());
    }
    let from_h = from_m.div_euclid(h) * h;
    let txn = store.begin_write().await?;
    let backend = txn.get_database_backend();
    let minute = format!(
        "INSERT INTO metric_rollups (series_id, step_secs, at_ms, min, max, avg, count) \
         SELECT series_id, {MINUTE}, (at_ms / {m}) * {m}, MIN(value), MAX(value), AVG(value), COUNT(*) \
         FROM metric_samples WHERE at_ms >= {from_m} AND at_ms < {to_m} GROUP BY series_id, (at_ms / {m}) * {m} \
         ON CONFLICT (series_id, step_secs, at_ms) DO UPDATE SET min = excluded.min, max = excluded.max, \
         avg = excluded.avg, count = excluded.count"
    );
    txn.execute(Statement::from_string(backend, minute)).await?;
    let hour = format!(
        "INSERT INTO metric_rollups (series_id, step_secs, at_ms, min, max, avg, count) \
         SELECT series_id, {HOUR}, (at_ms / {h}) * {h}, MIN(min), MAX(max), SUM(avg * count) / SUM(count), SUM(count) \
         FROM metric_rollups WHERE step_secs = {MINUTE} AND at_ms >= {from_h} AND at_ms < {to_m} \
         GROUP BY series_id, (at_ms / {h}) * {h} \
         ON CONFLICT (series_id, step_secs, at_ms) DO UPDATE SET min = excluded.min, max = excluded.max, \
         avg = excluded.avg, count = excluded.count"
    );
    txn.execute(Statement::from_string(backend, hour)).await?;
    txn.commit().await
}

/// How long each tier keeps its rows, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Raw samples.
    pub raw_ms: i64,
    /// 1-minute rollups.
    pub minute_ms: i64,
    /// 1-hour rollups.
    pub hour_ms: i64,
}

/// Deletes what each tier no longer keeps at `now_ms`; raw samples not yet rolled up
/// (at or after `rolled_up_to_ms`) stay whatever their age. Returns rows deleted per tier.
pub async fn retain(store: &Store, r: Retention, now_ms: i64, rolled_up_to_ms: i64) -> Result<[u64; 3], DbErr> {
    let txn = store.begin_write().await?;
    let backend = txn.get_database_backend();
    let raw_cut = (now_ms - r.raw_ms).min(rolled_up_to_ms);
    let mut out = [0; 3];
    for (i, sql) in [
        format!("DELETE FROM metric_samples WHERE at_ms < {raw_cut}"),
        format!(
            "DELETE FROM metric_rollups WHERE step_secs = {MINUTE} AND at_ms < {}",
            now_ms - r.minute_ms
        ),
        format!(
            "DELETE FROM metric_rollups WHERE step_secs = {HOUR} AND at_ms < {}",
            now_ms - r.hour_ms
        ),
    ]
    .into_iter()
    .enumerate()
    {
        out[i] = txn.execute(Statement::from_string(backend, sql)).await?.rows_affected();
    }
    txn.commit().await?;
    Ok(out)
}

/// Where the 1-minute rollups end (the start of the minute after the last rolled-up one).
pub async fn rolled_up_to(db: &impl ConnectionTrait) -> Result<Option<i64>, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!("SELECT MAX(at_ms) AS at FROM metric_rollups WHERE step_secs = {MINUTE}");
    let row = db.query_one(Statement::from_string(backend, sql)).await?;
    Ok(row
        .and_then(|r| r.try_get::<Option<i64>>("", "at").ok().flatten())
        .map(|at| at + MINUTE * 1000))
}

#[cfg(test)]
mod tests;
