//! Bind types shared by the two backends, so that a statement written once
//! (with `$1…` placeholders, which sqlx binds on SQLite too) is bound and
//! read the same way on both.
//!
//! JSON needs no type of its own: [`sqlx::types::Json`] is `jsonb` on
//! PostgreSQL and text on SQLite.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};
use time::OffsetDateTime;

use super::sqlite::{from_micros, micros};

/// A time as each backend stores it: `timestamptz` on PostgreSQL,
/// microseconds since the Unix epoch in an INTEGER column on SQLite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Time(pub OffsetDateTime);

impl Type<Postgres> for Time {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Time {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Time {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        <OffsetDateTime as Decode<Postgres>>::decode(value).map(Self)
    }
}

impl Type<Sqlite> for Time {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Time {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(micros(self.0), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Time {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let us = <i64 as Decode<Sqlite>>::decode(value)?;
        Ok(Self(from_micros(us)?))
    }
}
