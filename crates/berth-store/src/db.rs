use berth_db::{Db, DbError, DbErrorKind, HookFuture, RowExt, WriteTx};
use berth_placement::{codes, standard, Error, ErrorKind, Result};
use sqlx::any::AnyRow;
use uuid::Uuid;

pub use berth_db::{Engine, Tx};

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub url: String,
    pub max_connections: u32,
}

impl StoreConfig {
    pub fn new(url: impl Into<String>) -> Self {
        StoreConfig { url: url.into(), max_connections: 16 }
    }
}

/// Handle on the Placement database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Db,
}

/// The one place a database failure becomes a Placement error. The
/// database's text goes to the log, never into the error detail (which is
/// the HTTP answer's).
pub(crate) fn map_db(e: impl Into<DbError>) -> Error {
    let e = e.into();
    let kind = e.kind();
    match kind {
        DbErrorKind::InvalidText => {
            tracing::debug!(error = %e, "database refused a text value");
            Error::bad_request(kind.public_message())
        }
        DbErrorKind::UniqueViolation => {
            tracing::info!(error = %e, "unique violation");
            Error::conflict(kind.public_message())
        }
        DbErrorKind::SerializationFailure => {
            tracing::info!(error = %e, "serialization failure");
            Error::concurrent_update(kind.public_message())
        }
        DbErrorKind::Busy | DbErrorKind::Unavailable => {
            tracing::warn!(error = %e, "database unavailable");
            Error::new(ErrorKind::Unavailable, codes::DEFAULT, kind.public_message())
        }
        DbErrorKind::Decode | DbErrorKind::Other => {
            tracing::error!(error = %e, "database error");
            Error::internal(kind.public_message())
        }
    }
}

/// Strict column access for Placement's rows: a column that fails to decode
/// is an error (through [`map_db`]), never a default.
pub(crate) trait Cols {
    fn int(&self, i: usize) -> Result<i64>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>>;
    fn real(&self, i: usize) -> Result<f64>;
    fn text(&self, i: usize) -> Result<String>;
    fn opt_text(&self, i: usize) -> Result<Option<String>>;
    fn uuid_at(&self, i: usize) -> Result<Uuid>;
    fn opt_uuid_at(&self, i: usize) -> Result<Option<Uuid>>;
}

impl Cols for AnyRow {
    fn int(&self, i: usize) -> Result<i64> {
        self.col(i).map_err(map_db)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        self.col(i).map_err(map_db)
    }
    fn real(&self, i: usize) -> Result<f64> {
        self.col(i).map_err(map_db)
    }
    fn text(&self, i: usize) -> Result<String> {
        self.col(i).map_err(map_db)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        self.col(i).map_err(map_db)
    }
    fn uuid_at(&self, i: usize) -> Result<Uuid> {
        self.uuid(i).map_err(map_db)
    }
    fn opt_uuid_at(&self, i: usize) -> Result<Option<Uuid>> {
        self.opt_uuid(i).map_err(map_db)
    }
}

/// Tag of a write transaction that changes allocations only (no provider,
/// inventory, trait, aggregate or class): it advances the data version but
/// not the structure version.
pub(crate) const USAGE_ONLY: &str = "placement:usage-only";

/// Advance the versions after every committed write: the structure version
/// unless the write changed allocations only, then the data version. The
/// bumps come after the commit so a reader that sees version V also sees
/// every write that advanced it (a reader may label data with an older
/// version than it holds, which only costs it a reload), and the structure
/// version moves first, so a reader that sees a new data version (read
/// before the structure version) also sees the new structure version. On
/// PostgreSQL the versions are sequences (`nextval` takes no row lock and
/// waits for no WAL flush, so concurrent writers do not queue on them); on
/// SQLite, where writers are serialized anyway, they are columns of the one
/// row of `placement_state`.
fn bump_versions(db: Db, tags: &[&'static str]) -> HookFuture {
    let usage_only = tags.contains(&USAGE_ONLY);
    Box::pin(async move {
        let sqls: &[&str] = match (db.engine(), usage_only) {
            (Engine::Postgres, true) => &["SELECT nextval('placement_data_version')"],
            (Engine::Postgres, false) => {
                &["SELECT nextval('placement_structure_version')", "SELECT nextval('placement_data_version')"]
            }
            (Engine::Sqlite, true) => &["UPDATE placement_state SET version = version + 1 WHERE id = 1"],
            (Engine::Sqlite, false) => &[
                "UPDATE placement_state SET structure_version = structure_version + 1, version = version + 1 WHERE id = 1",
            ],
        };
        for sql in sqls {
            if let Err(e) = sqlx::query(sql).execute(db.write_pool()).await {
                tracing::warn!(error = %DbError::from(e), "could not advance the placement data version");
            }
        }
    })
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Connect, without touching the schema.
    pub async fn connect(config: &StoreConfig) -> Result<Store> {
        let db = Db::connect(&config.url, config.max_connections).await.map_err(Error::internal)?;
        Ok(Store { db: db.with_tagged_commit_hook(bump_versions) })
    }

    /// Connect, apply pending migrations and make sure the standard resource
    /// classes and traits exist.
    pub async fn open(config: &StoreConfig) -> Result<Store> {
        let store = Store::connect(config).await?;
        store.migrate().await?;
        store.sync_standard().await?;
        Ok(store)
    }

    pub fn engine(&self) -> Engine {
        self.db.engine()
    }

    /// Apply pending schema migrations (`berth db sync`). Other berth
    /// services keep their own migrations in the same `_sqlx_migrations` table.
    pub async fn migrate(&self) -> Result<()> {
        self.db.migrate(&SQLITE_MIGRATOR, &POSTGRES_MIGRATOR).await.map_err(|e| {
            tracing::error!(error = %e, "placement database migration failed");
            Error::internal(format!("database migration failed: {}", e.log_text()))
        })
    }

    /// Insert the standard resource classes and traits that are missing.
    pub async fn sync_standard(&self) -> Result<()> {
        let mut w = self.write().await?;
        let ts = berth_time::now();
        let existing: Vec<String> = sqlx::query("SELECT name FROM resource_classes")
            .fetch_all(&mut *w.tx)
            .await
            .map_err(map_db)?
            .iter()
            .map(|r| r.text(0))
            .collect::<Result<_>>()?;
        for name in standard::RESOURCE_CLASSES {
            if !existing.iter().any(|e| e == name) {
                sqlx::query(
                    "INSERT INTO resource_classes (name, created_at, updated_at) VALUES ($1, $2, $2) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(ts)
                .execute(&mut *w.tx)
                .await
                .map_err(map_db)?;
            }
        }
        let existing: std::collections::HashSet<String> = sqlx::query("SELECT name FROM traits")
            .fetch_all(&mut *w.tx)
            .await
            .map_err(map_db)?
            .iter()
            .map(|r| r.text(0))
            .collect::<Result<_>>()?;
        for name in standard::traits() {
            if !existing.contains(name) {
                sqlx::query(
                    "INSERT INTO traits (name, created_at, updated_at) VALUES ($1, $2, $2) ON CONFLICT (name) DO NOTHING",
                )
                    .bind(name)
                    .bind(ts)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(map_db)?;
            }
        }
        w.commit().await.map_err(map_db)
    }

    pub(crate) async fn write(&self) -> Result<WriteTx> {
        self.db.write().await.map_err(map_db)
    }

    pub(crate) async fn read(&self) -> Result<Tx> {
        self.db.read().await.map_err(map_db)
    }

    /// A number that grows whenever committed Placement data changes; caches
    /// of derived data (the allocation-candidates graph) key on it.
    pub async fn data_version(&self) -> Result<i64> {
        let sql = match self.engine() {
            Engine::Postgres => "SELECT last_value FROM placement_data_version",
            Engine::Sqlite => "SELECT version FROM placement_state WHERE id = 1",
        };
        let row = sqlx::query(sql).fetch_one(self.db.pool()).await.map_err(map_db)?;
        row.int(0)
    }

    /// The data version and the structure version (see [`bump_versions`]),
    /// read in that order.
    pub async fn versions(&self) -> Result<(i64, i64)> {
        let sql = match self.engine() {
            Engine::Postgres => {
                "SELECT (SELECT last_value FROM placement_data_version), \
                 (SELECT last_value FROM placement_structure_version)"
            }
            Engine::Sqlite => "SELECT version, structure_version FROM placement_state WHERE id = 1",
        };
        let row = sqlx::query(sql).fetch_one(self.db.pool()).await.map_err(map_db)?;
        Ok((row.int(0)?, row.int(1)?))
    }

    /// Close the pools (waits for connections to be returned).
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// Run a trivial query, for health checks.
    pub async fn ping(&self) -> Result<()> {
        self.db.ping().await.map_err(map_db)
    }
}

/// `$first, $first+1, ...` (`n` placeholders), for `IN (...)` lists and
/// multi-row `VALUES`.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}
