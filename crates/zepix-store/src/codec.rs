//! How values become SQLite columns and back: decimals as exact text, times as fixed-width RFC 3339
//! text (so text order is time order), enums by their snake-case names.

use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Row;
use rusqlite::types::ToSqlOutput;
use serde::de::DeserializeOwned;
use zepix_engine::StoreError;

/// The columns every table of positions shares, in this order: symbol, side, lots, entry price,
/// SL, TP, opened at.
pub(crate) fn position_columns(p: &zepix_model::Position) -> [ToSqlOutput<'_>; 7] {
    [
        p.symbol.as_str().into(),
        p.side.as_str().into(),
        p.lots.to_string().into(),
        p.entry_price.to_string().into(),
        nullable(p.sl.map(|v| v.to_string())),
        nullable(p.tp.map(|v| v.to_string())),
        time_text(p.opened_at).into(),
    ]
}

/// A column that may be NULL.
pub(crate) fn nullable<'a, T: Into<ToSqlOutput<'a>>>(value: Option<T>) -> ToSqlOutput<'a> {
    value.map_or(ToSqlOutput::from(rusqlite::types::Null), Into::into)
}

/// A database failure as the port's error.
pub(crate) fn db_err(err: rusqlite::Error) -> StoreError {
    StoreError::Db(err.to_string())
}

/// A time as stored: RFC 3339 in UTC with nanoseconds, always the same width, so comparing the
/// text compares the times.
pub(crate) fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Parses a stored time.
pub(crate) fn parse_time(column: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| bad_column(column, text, &e.to_string()))
}

/// Parses a stored value with its `FromStr`.
pub(crate) fn parse_text<T>(column: &str, text: &str) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    text.parse::<T>().map_err(|e| bad_column(column, text, &e.to_string()))
}

/// Parses an optional stored value.
pub(crate) fn parse_opt<T>(column: &str, text: Option<String>) -> Result<Option<T>, StoreError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    text.map(|t| parse_text(column, &t)).transpose()
}

/// Parses a value stored under its serde name (an enum's snake-case name).
pub(crate) fn parse_named<T: DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|e| bad_column(column, text, &e.to_string()))
}

/// Parses a JSON column.
pub(crate) fn parse_json<T: DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| bad_column(column, text, &e.to_string()))
}

/// A stored id or count as `u64`.
pub(crate) fn to_u64(column: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| bad_column(column, &value.to_string(), "a non-negative integer"))
}

/// A `u64` id as SQLite's signed integer.
pub(crate) fn to_i64(what: &str, value: u64) -> Result<i64, rusqlite::Error> {
    i64::try_from(value).map_err(|_| {
        rusqlite::Error::ToSqlConversionFailure(format!("{what} {value} does not fit a SQLite integer").into())
    })
}

fn bad_column(column: &str, text: &str, why: &str) -> StoreError {
    StoreError::Db(format!("column `{column}` holds `{text}`: {why}"))
}

/// Reads a text column by name.
pub(crate) fn text(row: &Row<'_>, column: &str) -> Result<String, StoreError> {
    row.get::<_, String>(column).map_err(db_err)
}

/// Reads a nullable text column by name.
pub(crate) fn opt_text(row: &Row<'_>, column: &str) -> Result<Option<String>, StoreError> {
    row.get::<_, Option<String>>(column).map_err(db_err)
}

/// Reads an integer column by name as `u64`.
pub(crate) fn uint(row: &Row<'_>, column: &str) -> Result<u64, StoreError> {
    let value = row.get::<_, i64>(column).map_err(db_err)?;
    to_u64(column, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_sort_as_text_and_round_trip() {
        let a = DateTime::from_timestamp(1_700_000_000, 5).unwrap();
        let b = DateTime::from_timestamp(1_700_000_000, 40_000_000).unwrap();
        let c = DateTime::from_timestamp(1_700_000_001, 0).unwrap();
        let (ta, tb, tc) = (time_text(a), time_text(b), time_text(c));
        assert!(ta < tb && tb < tc);
        assert_eq!(ta.len(), tc.len());
        assert_eq!(parse_time("t", &ta).unwrap(), a);
    }
}
