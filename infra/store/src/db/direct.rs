//! Statements run in place on a SQLite connection of its own (rusqlite), for
//! the transactions that hold the embedded writer: the whole transaction
//! runs on one blocking thread, where sqlx would cross to its connection's
//! thread and back for each statement and hold the writer through every
//! crossing.
//!
//! Statements keep sqlx's `$1`, `$2`, … placeholders, bound by name, so the
//! SQL written once for both databases serves here too. Errors become
//! [`sqlx::Error::Database`] with SQLite's extended code, so that they are
//! classified as every other database error is.

use std::borrow::Cow;
use std::fmt;

use rusqlite::types::FromSql;
use rusqlite::{Connection, Row, Statement, ToSql};
use sqlx::error::{DatabaseError, ErrorKind};

use crate::error::StoreError;

/// The placeholders statements may use, in order.
const PLACEHOLDERS: [&str; 24] = [
    "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13", "$14", "$15",
    "$16", "$17", "$18", "$19", "$20", "$21", "$22", "$23", "$24",
];

/// Binds `params` to the placeholders `$1`, `$2`, … of `statement`: by
/// name, as sqlx does, so a placeholder may be used twice or out of order.
fn bind(statement: &mut Statement<'_>, params: &[&dyn ToSql]) -> Result<(), StoreError> {
    if params.len() > PLACEHOLDERS.len() {
        return Err(StoreError::Invalid("too many statement parameters"));
    }
    for (name, value) in PLACEHOLDERS.iter().zip(params) {
        if let Some(index) = statement.parameter_index(name)? {
            statement.raw_bind_parameter(index, value)?;
        }
    }
    Ok(())
}

/// Runs a statement that returns no rows; the number of rows it changed.
pub fn execute(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> Result<usize, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    bind(&mut statement, params)?;
    Ok(statement.raw_execute()?)
}

/// Every row `sql` returns, as `map` reads it.
pub fn rows<T>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
    mut map: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    bind(&mut statement, params)?;
    let mut rows = statement.raw_query();
    let mut values = Vec::new();
    while let Some(row) = rows.next()? {
        values.push(map(row)?);
    }
    Ok(values)
}

/// The first row `sql` returns, if it returns one, as `map` reads it.
pub fn first_row<T>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
    map: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    bind(&mut statement, params)?;
    let mut rows = statement.raw_query();
    rows.next()?.map(map).transpose()
}

/// The first column of every row `sql` returns.
pub fn column<T: FromSql>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
) -> Result<Vec<T>, StoreError> {
    rows(conn, sql, params, |row| Ok(row.get(0)?))
}

/// The first column of the first row `sql` returns, if it returns one.
pub fn optional<T: FromSql>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
) -> Result<Option<T>, StoreError> {
    first_row(conn, sql, params, |row| Ok(row.get(0)?))
}

/// The first column of the one row `sql` always returns.
pub fn one<T: FromSql>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
) -> Result<T, StoreError> {
    optional(conn, sql, params)?.ok_or_else(|| StoreError::corrupt("a statement returned no row"))
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match err {
            rusqlite::Error::SqliteFailure(failure, message) => {
                Self::Database(sqlx::Error::Database(Box::new(SqliteFailure {
                    code: failure.extended_code,
                    message: message.unwrap_or_else(|| failure.to_string()),
                })))
            }
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::Utf8Error(_) => Self::corrupt(err),
            other => Self::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

/// A statement SQLite refused, as sqlx reports it.
#[derive(Debug)]
struct SqliteFailure {
    /// SQLite's extended result code.
    code: i32,
    message: String,
}

impl fmt::Display for SqliteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqliteFailure {}

impl DatabaseError for SqliteFailure {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        use rusqlite::ffi;
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Result<Connection, StoreError> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT UNIQUE)")?;
        Ok(conn)
    }

    #[test]
    fn placeholders_are_bound_by_name() -> Result<(), StoreError> {
        let conn = table()?;
        execute(
            &conn,
            "INSERT INTO t (b, a) VALUES ($2, $1)",
            &[&7, &"seven"],
        )?;
        let b: String = one(&conn, "SELECT b FROM t WHERE a = $1 AND $1 = 7", &[&7])?;
        assert_eq!(b, "seven");
        let none: Vec<i64> = column(&conn, "SELECT a FROM t WHERE b = $1", &[&"six"])?;
        assert!(none.is_empty());
        Ok(())
    }

    #[test]
    fn a_unique_violation_is_told_as_sqlx_tells_it() -> Result<(), StoreError> {
        let conn = table()?;
        execute(&conn, "INSERT INTO t (b) VALUES ($1)", &[&"x"])?;
        let Err(err) = execute(&conn, "INSERT INTO t (b) VALUES ($1)", &[&"x"]) else {
            panic!("a second x was inserted")
        };
        let StoreError::Database(sqlx::Error::Database(db)) = &err else {
            panic!("{err:?}")
        };
        assert!(db.is_unique_violation());
        assert!(db.message().contains("t.b"), "{}", db.message());
        assert!(err.is_about_data());
        assert!(!err.is_unavailable());
        Ok(())
    }
}
