//! Rows and records: the columns the queries select, a session read from its row, its
//! CSRF state as statement parameters, and [`SessionKey`] as an SQL value.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::Row;

use crate::crypto::{SessionKey, CSRF_NONCE_BYTES};
use crate::store::{CsrfState, PreviousNonce, SessionRecord};
use crate::time::Timestamp;

/// The columns of `sessions`, in the order [`record_from_row`] reads them.
pub(super) const SESSION_COLUMNS: &str = "key, public_id, created_at, idle_expires_at, \
    absolute_expires_at, csrf_nonce, prev_csrf_nonce, prev_csrf_valid_until";

/// A session key is stored as its 32 bytes (a BLOB).
impl ToSql for SessionKey {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Blob(&self.0)))
    }
}

impl FromSql for SessionKey {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let bytes = value.as_blob()?;
        bytes
            .try_into()
            .map(SessionKey)
            .map_err(|_| FromSqlError::InvalidBlobSize {
                expected_size: 32,
                blob_size: bytes.len(),
            })
    }
}

fn nonce_from(bytes: Vec<u8>, column: usize) -> rusqlite::Result<[u8; CSRF_NONCE_BYTES]> {
    bytes.try_into().map_err(|bytes: Vec<u8>| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            rusqlite::types::Type::Blob,
            format!("nonce of {} bytes", bytes.len()).into(),
        )
    })
}

pub(super) fn record_from_row(row: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    let previous_nonce: Option<Vec<u8>> = row.get(6)?;
    let previous_until: Option<i64> = row.get(7)?;
    let previous = match (previous_nonce, previous_until) {
        (Some(nonce), Some(until)) => Some(PreviousNonce {
            nonce: nonce_from(nonce, 6)?,
            valid_until: Timestamp::from_millis(until),
        }),
        _ => None,
    };
    Ok(SessionRecord {
        key: row.get(0)?,
        public_id: row.get(1)?,
        created_at: Timestamp::from_millis(row.get(2)?),
        idle_expires_at: Timestamp::from_millis(row.get(3)?),
        absolute_expires_at: Timestamp::from_millis(row.get(4)?),
        csrf: CsrfState {
            current: nonce_from(row.get(5)?, 5)?,
            previous,
        },
    })
}

pub(super) fn previous_columns(csrf: &CsrfState) -> (Option<Vec<u8>>, Option<i64>) {
    match csrf.previous {
        Some(previous) => (
            Some(previous.nonce.to_vec()),
            Some(previous.valid_until.as_millis()),
        ),
        None => (None, None),
    }
}
