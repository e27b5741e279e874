//! Connecting to the ticket database (configured URL or embedded cluster)
//! and applying the migrations embedded in the binary.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::embedded::{EmbeddedCluster, EmbeddedError};

/// The migrations, compiled in: `hotline migrate` and every start apply
/// what is missing; applying twice changes nothing.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/tickets/migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error("HL-DB-URL: database.url is not a PostgreSQL URL ({0}); e.g. postgres://user:pass@127.0.0.1/hotline")]
    BadUrl(String),
    #[error("HL-DB-MIGRATE: applying migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The embedded cluster in use, and whether this process started it.
pub type EmbeddedInUse = Option<(EmbeddedCluster, bool)>;

/// Where the tickets live, and the embedded cluster if we run one.
pub struct Database {
    pub pool: PgPool,
    pub target: String,
    /// Set when the embedded cluster is used; `started` if we started it
    /// (and so stop it on shutdown).
    pub embedded: EmbeddedInUse,
}

/// Options for `url`, or for the embedded cluster under `data_dir` (which
/// is started if needed) when `url` is empty.
pub fn options(
    url: &str,
    data_dir: &Path,
) -> Result<(PgConnectOptions, String, EmbeddedInUse), DbError> {
    if url.is_empty() {
        let cluster = EmbeddedCluster::new(data_dir)?;
        let started = cluster.start()?;
        let target = cluster.url();
        Ok((cluster.connect_options(), target, Some((cluster, started))))
    } else {
        let opts = PgConnectOptions::from_str(url).map_err(|e| DbError::BadUrl(e.to_string()))?;
        Ok((opts, redact(url), None))
    }
}

/// Open a pool. `connect_timeout` bounds how long a write waits for a
/// connection before the store falls back to the journal.
pub fn open(
    url: &str,
    data_dir: &Path,
    pool_size: u32,
    connect_timeout: Duration,
) -> Result<Database, DbError> {
    open_bounded(
        url,
        data_dir,
        pool_size,
        connect_timeout,
        DEFAULT_STATEMENT_TIMEOUT,
    )
}

/// `database.statement_timeout`'s default.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// [`open`], with the server-side bound on every statement
/// (`statement_timeout`, sent in each connection's startup packet, so it
/// holds from the first statement; a pooler that strips startup options
/// leaves the store's client-side bound, which covers a silent server too).
pub fn open_bounded(
    url: &str,
    data_dir: &Path,
    pool_size: u32,
    connect_timeout: Duration,
    statement_timeout: Duration,
) -> Result<Database, DbError> {
    let (opts, target, embedded) = options(url, data_dir)?;
    let opts = opts.options([(
        "statement_timeout",
        format!("{}ms", statement_timeout.as_millis().max(1)),
    )]);
    // Lazy: the daemon must start (and journal tickets) even while the
    // database is down; the first query tells whether it is there.
    let pool = PgPoolOptions::new()
        .max_connections(pool_size)
        .acquire_timeout(connect_timeout)
        .connect_lazy_with(opts);
    Ok(Database {
        pool,
        target,
        embedded,
    })
}

/// Apply pending migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// [`migrate`] within `limit`: a database that accepts and never answers
/// reads as unreachable (the daemon starts and journals) instead of
/// holding the start forever.
pub async fn migrate_within(pool: &PgPool, limit: Duration) -> Result<(), DbError> {
    match tokio::time::timeout(limit, migrate(pool)).await {
        Ok(r) => r,
        Err(_) => Err(DbError::Migrate(sqlx::migrate::MigrateError::Execute(
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the database did not answer within {limit:?}"),
            )),
        ))),
    }
}

/// A URL fit for a log line: the password replaced.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Database {
    /// Close the pool and stop the embedded cluster if we started it.
    pub async fn close(self) {
        // A hung server must not hold the exit: closing waits for the
        // connections to say goodbye, so bound it.
        if tokio::time::timeout(Duration::from_secs(2), self.pool.close())
            .await
            .is_err()
        {
            tracing::warn!("database connections did not close within 2 s; leaving them");
        }
        if let Some((cluster, true)) = self.embedded {
            if let Err(e) = cluster.stop() {
                tracing::error!(error = %e, "embedded PostgreSQL did not stop cleanly");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("postgres://h/db"), "postgres://h/db");
    }
}
