//! Storage: the connection (SQLite in WAL mode by default, PostgreSQL by URL) and migrations.
pub mod entities;
mod migration;

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;

pub use sea_orm::DatabaseConnection as Db;

/// Opens the database at `url`, creating a SQLite file if needed, and applies migrations.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .max_connections(if url.starts_with("sqlite") { 4 } else { 16 })
        .min_connections(1);
    if url.starts_with("sqlite") {
        opts.map_sqlx_sqlite_opts(|o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            // WAL lets the API read while the engine writes; NORMAL is durable across process
            // crashes (only an OS crash can lose the last transactions), which is the trade every
            // SQLite-backed server makes for write throughput.
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    }
    let db = Database::connect(opts).await?;
    migration::Migrator::up(&db, None).await?;
    Ok(db)
}

/// The SQLite URL for a database file under `data_dir`.
pub fn sqlite_url(data_dir: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("steward.db").display())
}

/// The database with a writer lock: SQLite allows one writer, and a deferred transaction
/// that reads before it writes fails at once (`SQLITE_BUSY_SNAPSHOT`) when another writer got
/// in first, so every write transaction of this process takes the lock first.
#[derive(Clone, Debug)]
pub struct Store {
    /// The connection pool, for reads.
    pub conn: DatabaseConnection,
    write: std::sync::Arc<tokio::sync::Mutex<()>>,
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
    /// Wraps an open connection.
    pub fn new(conn: DatabaseConnection) -> Self {
        Store {
            conn,
            write: Default::default(),
        }
    }

    /// Starts a write transaction (waits for the writer lock).
    pub async fn begin_write(&self) -> Result<WriteTxn, DbErr> {
        use sea_orm::TransactionTrait;
        let guard = self.write.clone().lock_owned().await;
        let txn = self.conn.begin().await?;
        Ok(WriteTxn { txn, _guard: guard })
    }
}
