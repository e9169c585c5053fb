//! Storage: the connection (SQLite in WAL mode by default, PostgreSQL by URL) and migrations.
pub mod entities;
mod migration;
pub mod output;

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;

pub use sea_orm::DatabaseConnection as Db;

/// Opens the database at `url` (creating a SQLite file if needed), applies migrations, and
/// returns the store: a writer and a separate pool of read-only connections.
pub async fn connect(url: &str) -> Result<Store, DbErr> {
    let sqlite = url.starts_with("sqlite");
    // SQLite allows one writer at a time; one writer connection makes that explicit instead
    // of leaving pooled connections to collide ("database is locked").
    let writer = open(url, Role::Writer, if sqlite { 1 } else { 8 }).await?;
    migration::Migrator::up(&writer, None).await?;
    let reader = open(url, Role::Reader, if sqlite { 4 } else { 16 }).await?;
    let write: std::sync::Arc<tokio::sync::Mutex<()>> = Default::default();
    let checkpoints = if sqlite {
        Some(std::sync::Arc::new(Checkpoints::start(
            open(url, Role::Checkpointer, 1).await?,
            write.clone(),
        )))
    } else {
        None
    };
    Ok(Store {
        reader,
        writer,
        write,
        _checkpoints: checkpoints,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Writer,
    Reader,
    /// Copies the WAL into the database file in the background (SQLite only).
    Checkpointer,
}

/// How often the background checkpointer runs; the WAL holds at most about this much writing.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The WAL is truncated back to this size after a checkpoint emptied it.
const WAL_SIZE_LIMIT: &str = "67108864";

/// A WAL of at least this many frames (16 MiB) is emptied under the writer lock.
const CATCH_UP_FRAMES: i64 = 4096;

/// SQLite's WAL checkpoints, moved off the writer. By default the commit that takes the WAL
/// past 1,000 pages copies them into the database file and syncs it, inside that commit:
/// measured 5.7 ms added to one dispatch in 40. Here the writer never checkpoints
/// (`wal_autocheckpoint = 0`); a connection of its own does, every [`CHECKPOINT_EVERY`]:
/// first passively, beside the writer and readers. Under a steady stream of writes that pass
/// never reaches the WAL's end, and SQLite starts the WAL over only from a complete
/// checkpoint: measured, the WAL grew by 100 MB/s under telemetry ingest. So once the WAL
/// holds [`CATCH_UP_FRAMES`], a second pass runs holding the store's writer lock; it copies
/// only what came during the first, and the next write starts the WAL over. It lives as long
/// as the store; the last connection to close checkpoints what is left, as SQLite always does.
#[derive(Debug)]
struct Checkpoints(tokio::task::JoinHandle<()>);

impl Checkpoints {
    fn start(conn: DatabaseConnection, write: std::sync::Arc<tokio::sync::Mutex<()>>) -> Checkpoints {
        Checkpoints(tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tick.tick().await;
                let mut pass = checkpoint(&conn).await;
                if pass.as_ref().is_ok_and(|frames| *frames >= CATCH_UP_FRAMES) {
                    let _writer = write.lock().await;
                    pass = checkpoint(&conn).await;
                }
                // A failure is logged once and retried: stopping would let the WAL grow forever.
                match pass {
                    Ok(_) => failing = false,
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "SQLite WAL checkpoint failed; retrying");
                    }
                    Err(_) => {}
                }
            }
        }))
    }
}

/// One passive checkpoint; returns how many frames the WAL holds.
async fn checkpoint(conn: &DatabaseConnection) -> Result<i64, DbErr> {
    use sea_orm::ConnectionTrait;
    let row = conn
        .query_one(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Sqlite,
            "PRAGMA wal_checkpoint(PASSIVE)",
        ))
        .await?;
    // (busy, frames in the WAL, frames checkpointed)
    Ok(row.map(|r| r.try_get_by_index::<i64>(1)).transpose()?.unwrap_or(0))
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn open(url: &str, role: Role, max: u32) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .max_connections(max)
        .min_connections(1);
    if url.starts_with("sqlite") {
        opts.map_sqlx_sqlite_opts(move |o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            // WAL lets the API read while the engine writes; NORMAL is durable across process
            // crashes (only an OS crash can lose the last transactions), which is the trade every
            // SQLite-backed server makes for write throughput.
            let o = o
                .create_if_missing(role == Role::Writer)
                .read_only(role == Role::Reader)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .pragma("journal_size_limit", WAL_SIZE_LIMIT)
                // Statement journals (every multi-row UPDATE inside a transaction has one) stay in
                // memory instead of temporary files: 6 % of the server's CPU in a dispatch burst.
                .pragma("temp_store", "MEMORY");
            match role {
                Role::Writer => o.pragma("wal_autocheckpoint", "0"),
                _ => o,
            }
        });
    } else if role == Role::Reader {
        // The database refuses a write through the read pool, so a write that bypasses the
        // writer fails loudly in every test instead of racing it in production.
        opts.map_sqlx_postgres_opts(|o| o.options([("default_transaction_read_only", "on")]));
    }
    Database::connect(opts).await
}

/// A database URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{user}:***@{}", &url[..s], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// The SQLite URL for a database file under `data_dir`.
pub fn sqlite_url(data_dir: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("steward.db").display())
}

/// The database: one write path and many readers. SQLite allows one writer, and a deferred
/// transaction that reads before it writes fails at once (`SQLITE_BUSY_SNAPSHOT`) when
/// another writer got in first, so every write of this process is a [`WriteTxn`] that holds
/// the writer lock; the read pool's connections are read-only, so a write anywhere else fails.
#[derive(Clone, Debug)]
pub struct Store {
    reader: DatabaseConnection,
    writer: DatabaseConnection,
    write: std::sync::Arc<tokio::sync::Mutex<()>>,
    _checkpoints: Option<std::sync::Arc<Checkpoints>>,
}

/// A write transaction holding the store's writer lock until it ends.
pub struct WriteTxn {
    txn: sea_orm::DatabaseTransaction,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl std::ops::Deref for WriteTxn {
    type Target = sea_orm::DatabaseTransaction;
    fn deref(&self) -> &Self::Target {
        &self.txn
    }
}

impl WriteTxn {
    /// Commits and releases the writer lock.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

impl Store {
    /// The read-only connection pool: every query that does not write.
    pub fn read(&self) -> &DatabaseConnection {
        &self.reader
    }

    /// Starts a write transaction (waits for the writer lock).
    pub async fn begin_write(&self) -> Result<WriteTxn, DbErr> {
        use sea_orm::TransactionTrait;
        let guard = self.write.clone().lock_owned().await;
        let txn = self.writer.begin().await?;
        Ok(WriteTxn { txn, _guard: guard })
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait;

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(super::redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact("sqlite://x.db"), "sqlite://x.db");
    }

    /// The read pool refuses writes, so a write that bypasses the writer fails in every test
    /// that reaches it instead of racing the writer ("database is locked") in production.
    #[tokio::test]
    async fn only_the_writer_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::connect(&super::sqlite_url(dir.path())).await.unwrap();
        let bypass = store
            .read()
            .execute_unprepared("CREATE TABLE scratch (x INTEGER)")
            .await;
        let err = bypass.expect_err("a write through the read pool must fail").to_string();
        assert!(err.contains("readonly"), "{err}");
        let txn = store.begin_write().await.unwrap();
        txn.execute_unprepared("CREATE TABLE scratch (x INTEGER)")
            .await
            .unwrap();
        txn.execute_unprepared("INSERT INTO scratch VALUES (1)").await.unwrap();
        txn.commit().await.unwrap();
        let n = store
            .read()
            .query_one(sea_orm::Statement::from_string(
                store.read().get_database_backend(),
                "SELECT COUNT(*) AS n FROM scratch",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        assert_eq!(n, 1);
    }

    /// The writer never checkpoints in its commits; the background checkpointer copies the
    /// WAL into the database file soon after (the file grows only by checkpoints).
    #[tokio::test]
    async fn the_wal_is_checkpointed_off_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::connect(&super::sqlite_url(dir.path())).await.unwrap();
        let auto = store
            .writer
            .query_one(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Sqlite,
                "PRAGMA wal_autocheckpoint",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        assert_eq!(auto, 0, "the writer must not checkpoint inside commits");
        let db_file = dir.path().join("steward.db");
        let txn = store.begin_write().await.unwrap();
        txn.execute_unprepared("CREATE TABLE scratch (x BLOB)").await.unwrap();
        // About 2,500 pages, well past the 1,000 at which SQLite would checkpoint by itself.
        for _ in 0..40 {
            txn.execute_unprepared("INSERT INTO scratch VALUES (randomblob(250000))")
                .await
                .unwrap();
        }
        txn.commit().await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::metadata(&db_file).unwrap().len() < 10_000_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the WAL was not checkpointed into the database file within 10 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Under a steady stream of writes the WAL still starts over: it stays far smaller than
    /// what was written (a passive checkpoint alone never reaches its end, and it grew without
    /// bound).
    #[tokio::test]
    async fn the_wal_starts_over_under_steady_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::connect(&super::sqlite_url(dir.path())).await.unwrap();
        let wal = dir.path().join("steward.db-wal");
        let txn = store.begin_write().await.unwrap();
        txn.execute_unprepared("CREATE TABLE scratch (x BLOB)").await.unwrap();
        txn.commit().await.unwrap();
        let (mut written, mut largest) = (0u64, 0u64);
        // 128 MiB in 64 KiB transactions, a millisecond apart: at most 64 MB/s, so the WAL
        // holds at most about 16 MiB plus a quarter second of writes when it starts over.
        while written < 128 << 20 {
            let txn = store.begin_write().await.unwrap();
            txn.execute_unprepared("INSERT INTO scratch VALUES (randomblob(65536))")
                .await
                .unwrap();
            txn.commit().await.unwrap();
            written += 65536;
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert!(
            largest < 64 << 20,
            "the WAL reached {largest} bytes while {written} were written"
        );
    }

    /// A fresh database in `dir`, migrated up to just before the migration `name`.
    async fn migrated_before(dir: &std::path::Path, name: &str) -> sea_orm::DatabaseConnection {
        use sea_orm_migration::MigratorTrait;
        let db = super::open(&super::sqlite_url(dir), super::Role::Writer, 1)
            .await
            .unwrap();
        let before = super::migration::Migrator::migrations()
            .iter()
            .position(|m| m.name() == name)
            .unwrap();
        super::migration::Migrator::up(&db, Some(before as u32)).await.unwrap();
        db
    }

    /// A task's env, files and digest move to `task_specs` and back again, unchanged.
    #[tokio::test]
    async fn task_specs_move_out_of_tasks_and_back() {
        use sea_orm_migration::MigratorTrait;
        let dir = tempfile::tempdir().unwrap();
        let db = migrated_before(dir.path(), "m0011_task_specs").await;
        db.execute_unprepared(
            "INSERT INTO tasks (job_id, stage_id, host_id, hostname, state, attempt, env, files, digest, timeout_secs) \
             VALUES (7, 3, 1, 'h1', 'PENDING', 0, '{\"A\":\"1\"}', '[{\"path\":\"a.conf\"}]', 'abc', 30)",
        )
        .await
        .unwrap();
        let read = |sql: &'static str| {
            let db = &db;
            async move {
                let row = db
                    .query_one(sea_orm::Statement::from_string(sea_orm::DatabaseBackend::Sqlite, sql))
                    .await
                    .unwrap()
                    .unwrap();
                (0..4)
                    .map(|i| row.try_get_by_index::<String>(i).unwrap())
                    .collect::<Vec<String>>()
            }
        };
        super::migration::Migrator::up(&db, Some(1)).await.unwrap();
        let spec = read("SELECT CAST(job_id AS TEXT), env, files, digest FROM task_specs WHERE task_id = 1").await;
        assert_eq!(spec, ["7", r#"{"A":"1"}"#, r#"[{"path":"a.conf"}]"#, "abc"]);
        let gone = db
            .execute_unprepared("SELECT env FROM tasks")
            .await
            .expect_err("env is no longer a column of tasks");
        assert!(gone.to_string().contains("no such column"), "{gone}");
        super::migration::Migrator::down(&db, Some(1)).await.unwrap();
        let back = read("SELECT hostname, env, files, digest FROM tasks WHERE id = 1").await;
        assert_eq!(back, ["h1", r#"{"A":"1"}"#, r#"[{"path":"a.conf"}]"#, "abc"]);
    }

    /// Lines stored one per row before output moved in chunks become chunks of consecutive
    /// lines of one stream, every line kept, and the old table goes.
    #[tokio::test]
    async fn stored_lines_move_into_chunks() {
        use sea_orm_migration::MigratorTrait;
        let dir = tempfile::tempdir().unwrap();
        let db = migrated_before(dir.path(), "m0009_task_output").await;
        let rows = [
            (1, 1, "stdout", "one"),
            (1, 2, "stdout", "two"),
            (1, 3, "stderr", "oops"),
            (1, 4, "stdout", "[… output truncated here …]"),
            (1, 9, "stdout", "nine"),
            (2, 1, "stdout", "other task"),
        ];
        for (task, seq, stream, line) in rows {
            db.execute_unprepared(&format!(
                "INSERT INTO task_logs (task_id, seq, stream, line, at) VALUES ({task}, {seq}, '{stream}', '{line}', '2026-12-03T00:00:00+00:00')"
            ))
            .await
            .unwrap();
        }
        super::migration::Migrator::up(&db, None).await.unwrap();
        let chunks: Vec<(i64, i64, i64, String, String)> = db
            .query_all(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT task_id, first_seq, last_seq, stream, data FROM task_output ORDER BY task_id, first_seq",
            ))
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                let data: Vec<u8> = r.try_get("", "data").unwrap();
                (
                    r.try_get("", "task_id").unwrap(),
                    r.try_get("", "first_seq").unwrap(),
                    r.try_get("", "last_seq").unwrap(),
                    r.try_get("", "stream").unwrap(),
                    super::output::decompress(&data).unwrap(),
                )
            })
            .collect();
        let expected = [
            (1, 1, 2, "stdout", "one\ntwo\n"),
            (1, 3, 3, "stderr", "oops\n"),
            (1, 4, 4, "stdout", "[… output truncated here …]\n"),
            (1, 9, 9, "stdout", "nine\n"),
            (2, 1, 1, "stdout", "other task\n"),
        ];
        let got: Vec<(i64, i64, i64, &str, &str)> = chunks
            .iter()
            .map(|(t, f, l, s, d)| (*t, *f, *l, s.as_str(), d.as_str()))
            .collect();
        assert_eq!(got, expected);
        let old = db.execute_unprepared("SELECT 1 FROM task_logs").await;
        assert!(old.is_err(), "task_logs is dropped");
    }

    /// No module opens a transaction or a connection of its own: every write goes through
    /// `Store::begin_write`, the one place that takes the writer lock.
    #[test]
    fn no_module_opens_its_own_write_transaction() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let forbidden = [
            ".begin()",
            ".begin_with_config(",
            ".transaction(",
            "TransactionTrait",
            "Database::connect",
        ];
        let mut found = Vec::new();
        let mut stack = vec![src.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && path != src.join("db/mod.rs")
                    // Test modules may make throw-away databases (a PostgreSQL one per test).
                    && !path.ends_with("tests.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (n, line) in text.lines().enumerate() {
                        if forbidden.iter().any(|f| line.contains(f)) && !line.trim_start().starts_with("//") {
                            found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                        }
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "writes must go through Store::begin_write:\n{}",
            found.join("\n")
        );
    }
}
