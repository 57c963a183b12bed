//! The converter's tables beside the session layer's `sessions`: jobs and download
//! grants, created when the store opens, deleted with their session.

use rusqlite::{params, Connection};
use trustyconvert_session::store::sqlite::SqliteTables;
use trustyconvert_session::{SessionKey, Timestamp};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    session_key       BLOB NOT NULL,
    job_id            BLOB NOT NULL,
    task_id           BLOB,
    status            TEXT NOT NULL,
    original_filename TEXT NOT NULL,
    source_format     TEXT NOT NULL,
    target_format     TEXT,
    file_size         INTEGER NOT NULL,
    output_size       INTEGER,
    progress          INTEGER NOT NULL,
    error             TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    completed_at      INTEGER,
    conversion_time   REAL,
    options           TEXT,
    output_format     TEXT,
    PRIMARY KEY (session_key, job_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
CREATE TABLE IF NOT EXISTS download_grants (
    token_hash  BLOB PRIMARY KEY NOT NULL,
    session_key BLOB NOT NULL,
    job_id      BLOB NOT NULL,
    expires_at  INTEGER NOT NULL,
    archive     TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS download_grants_job ON download_grants (session_key, job_id);
CREATE INDEX IF NOT EXISTS download_grants_expiry ON download_grants (expires_at);
";

/// Columns added after a table's first release, as (table, column), each empty (NULL)
/// in the rows already there: a job's conversion options and output format, the jobs
/// of a zip's download grant.
const ADDED_COLUMNS: [(&str, &str); 3] = [
    ("jobs", "options"),
    ("jobs", "output_format"),
    ("download_grants", "archive"),
];

/// Brings tables made by an earlier release up to date.
fn add_missing_columns(connection: &Connection) -> rusqlite::Result<()> {
    for (table, column) in ADDED_COLUMNS {
        let present = connection
            .prepare_cached("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")?
            .exists([table, column])?;
        if !present {
            connection.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} TEXT"))?;
        }
    }
    Ok(())
}

/// Jobs and download grants, kept with their sessions.
pub(super) struct ConverterTables;

impl SqliteTables for ConverterTables {
    fn create(&self, connection: &Connection) -> rusqlite::Result<()> {
        connection.execute_batch(SCHEMA)?;
        add_missing_columns(connection)
    }

    /// A deleted session's jobs and download grants (its files are removed by the
    /// session hooks once this has committed).
    fn forget_session(&self, connection: &Connection, key: &SessionKey) -> rusqlite::Result<()> {
        connection
            .prepare_cached("DELETE FROM jobs WHERE session_key = ?1")?
            .execute(params![key])?;
        connection
            .prepare_cached("DELETE FROM download_grants WHERE session_key = ?1")?
            .execute(params![key])?;
        Ok(())
    }

    /// Download grants past their expiry.
    fn sweep(&self, connection: &Connection, now: Timestamp) -> rusqlite::Result<()> {
        connection
            .prepare_cached("DELETE FROM download_grants WHERE expires_at <= ?1")?
            .execute(params![now.as_millis()])
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::codec::{grant_from_row, job_from_row, GRANT_COLUMNS, JOB_COLUMNS};

    /// The `jobs` table as it was before conversion options.
    const JOBS_WITHOUT_OPTIONS: &str = "CREATE TABLE jobs (
        session_key BLOB NOT NULL, job_id BLOB NOT NULL, task_id BLOB, status TEXT NOT NULL,
        original_filename TEXT NOT NULL, source_format TEXT NOT NULL, target_format TEXT,
        file_size INTEGER NOT NULL, output_size INTEGER, progress INTEGER NOT NULL,
        error TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        completed_at INTEGER, conversion_time REAL,
        PRIMARY KEY (session_key, job_id)) WITHOUT ROWID";

    #[test]
    fn a_database_from_before_options_gains_the_columns_and_keeps_its_jobs() {
        let connection = Connection::open_in_memory().unwrap();
        connection.execute_batch(JOBS_WITHOUT_OPTIONS).unwrap();
        connection
            .execute(
                "INSERT INTO jobs VALUES (?1, ?2, NULL, 'completed', 'a.png', 'png', 'jpeg', \
                 10, 5, 100, NULL, 1, 2, 3, 0.5)",
                params![
                    [7u8; 32].as_slice(),
                    uuid::Uuid::new_v4().as_bytes().as_slice()
                ],
            )
            .unwrap();
        // Opening twice: the second time finds the column there.
        ConverterTables.create(&connection).unwrap();
        ConverterTables.create(&connection).unwrap();
        let job = connection
            .query_row(&format!("SELECT {JOB_COLUMNS} FROM jobs"), [], job_from_row)
            .unwrap();
        assert_eq!(job.original_filename, "a.png");
        assert!(job.options.is_empty());
        assert_eq!(job.output_format, None);
        assert_eq!(
            job.delivered_format(),
            Some(trustyconvert_protocol::Format::Jpeg)
        );
    }

    /// The `download_grants` table as it was before zips.
    const GRANTS_WITHOUT_ARCHIVES: &str = "CREATE TABLE download_grants (
        token_hash BLOB PRIMARY KEY NOT NULL, session_key BLOB NOT NULL,
        job_id BLOB NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID";

    #[test]
    fn a_database_from_before_zips_gains_the_column_and_keeps_its_grants() {
        let connection = Connection::open_in_memory().unwrap();
        connection.execute_batch(GRANTS_WITHOUT_ARCHIVES).unwrap();
        let job_id = uuid::Uuid::new_v4();
        connection
            .execute(
                "INSERT INTO download_grants VALUES (?1, ?2, ?3, 99)",
                params![
                    [1u8; 32].as_slice(),
                    [7u8; 32].as_slice(),
                    job_id.as_bytes().as_slice()
                ],
            )
            .unwrap();
        ConverterTables.create(&connection).unwrap();
        ConverterTables.create(&connection).unwrap();
        let grant = connection
            .query_row(
                &format!("SELECT {GRANT_COLUMNS} FROM download_grants"),
                [],
                grant_from_row,
            )
            .unwrap();
        assert_eq!(grant.job_id, job_id);
        assert!(grant.archive.is_empty());
    }
}
