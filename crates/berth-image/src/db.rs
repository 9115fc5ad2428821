//! The image tables on berth's storage core ([`berth_db::Db`]): opening and
//! migrating. Transactions, the SQLite writer lock and error kinds are
//! `berth-db`'s; [`crate::error::map_db`] turns a database error into an
//! [`ImageError`](crate::error::ImageError).

pub(crate) use berth_db::Db;
pub use berth_db::{redact, Engine};

use crate::error::{map_db, ImageError, Result};

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Open the database at `url` and apply the image migrations.
pub(crate) async fn open(url: &str, max_connections: u32) -> Result<Db> {
    let db = Db::connect(url, max_connections).await.map_err(ImageError::internal)?;
    db.migrate(&SQLITE_MIGRATOR, &POSTGRES_MIGRATOR).await.map_err(map_db)?;
    Ok(db)
}
