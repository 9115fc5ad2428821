//! Strict row decoding: a column that fails to decode is a
//! [`DbErrorKind::Decode`](crate::DbErrorKind::Decode) error, never a silent
//! default.
//!
//! Decode rows into typed structs with `#[derive(sqlx::FromRow)]` and
//! [`from_row`], or by hand with [`RowExt::col`] in a function returning
//! [`DbResult`]; both turn a bad column into an error.

use sqlx::any::AnyRow;
use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::{DbError, DbResult};

/// Typed column access that returns [`DbError`].
pub trait RowExt {
    /// Column `idx` (position or name) as `T`. `Option<T>` accepts NULL;
    /// any other type refuses it.
    fn col<'r, T, I>(&'r self, idx: I) -> DbResult<T>
    where
        T: Decode<'r, sqlx::Any> + Type<sqlx::Any>,
        I: ColumnIndex<AnyRow> + std::fmt::Debug;

    /// A TEXT column holding a UUID.
    fn uuid<I>(&self, idx: I) -> DbResult<uuid::Uuid>
    where
        I: ColumnIndex<AnyRow> + std::fmt::Debug + Copy;

    /// A nullable TEXT column holding a UUID.
    fn opt_uuid<I>(&self, idx: I) -> DbResult<Option<uuid::Uuid>>
    where
        I: ColumnIndex<AnyRow> + std::fmt::Debug + Copy;

    /// An integer column holding a boolean (0 or 1; anything else refused).
    fn flag<I>(&self, idx: I) -> DbResult<bool>
    where
        I: ColumnIndex<AnyRow> + std::fmt::Debug + Copy;
}

fn parse_uuid(s: &str, idx: &dyn std::fmt::Debug) -> DbResult<uuid::Uuid> {
    uuid::Uuid::parse_str(s).map_err(|e| DbError::decode(format!("column {idx:?}: {s:?} is not a UUID: {e}")))
}

impl RowExt for AnyRow {
    fn col<'r, T, I>(&'r self, idx: I) -> DbResult<T>
    where
        T: Decode<'r, sqlx::Any> + Type<sqlx::Any>,
        I: ColumnIndex<AnyRow> + std::fmt::Debug,
    {
        Ok(self.try_get::<T, I>(idx)?)
    }

    fn uuid<I>(&self, idx: I) -> DbResult<uuid::Uuid>
    where
        I: ColumnIndex<AnyRow> + std::fmt::Debug + Copy,
    {
        let s: String = self.col(idx)?;
        parse_uuid(&s, &idx)
    }

    fn opt_uuid<I>(&self, idx: I) -> DbResult<Option<uuid::Uuid>>
    where
        I: ColumnIndex<AnyRow> + std::fmt::Debug + Copy,
    {
        match self.col::<Option<String>, I>(idx)? {
            Some(s) => parse_uuid(&s, &idx).map(Some),
            None => Ok(None),
        }
    }

    fn flag<I>(&self, idx: I) -> DbResult<bool>
    where
        I: ColumnIndex<AnyRow> + std::fmt::Debug + Copy,
    {
        match self.col::<i64, I>(idx)? {
            0 => Ok(false),
            1 => Ok(true),
            n => Err(DbError::decode(format!("column {idx:?}: {n} is not a boolean (0 or 1)"))),
        }
    }
}

/// Decode a row into a `#[derive(sqlx::FromRow)]` struct, mapping a failed
/// column to [`DbErrorKind::Decode`](crate::DbErrorKind::Decode).
pub fn from_row<T>(row: &AnyRow) -> DbResult<T>
where
    T: for<'r> sqlx::FromRow<'r, AnyRow>,
{
    Ok(T::from_row(row)?)
}

/// Decode every row with `f`, stopping at the first failure.
pub fn decode_all<T>(rows: &[AnyRow], f: impl Fn(&AnyRow) -> DbResult<T>) -> DbResult<Vec<T>> {
    rows.iter().map(f).collect()
}
