//! The errors of market data: unreadable files, bad rows (named by file, line, column and value),
//! unsupported settings.

use std::path::PathBuf;

/// What is wrong with one row of a CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowProblem {
    /// The row does not have the six columns `timestamp,open,high,low,close,volume`.
    ColumnCount {
        /// How many columns the row has.
        found: usize,
    },
    /// The timestamp is neither ISO-8601 nor epoch seconds or milliseconds.
    BadTimestamp,
    /// The field is not a decimal number.
    BadNumber,
    /// A price that is zero or negative, or a negative volume.
    OutOfRange,
    /// The high is below the low, the open or the close, or the low is above the open or close.
    Inconsistent,
    /// The row's time is not after the previous row's.
    NotAfterPrevious {
        /// The previous row's time, as written in the file's format.
        previous: String,
    },
}

/// A bad row: where it is, which column, the value, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: column {column} `{value}`: {message}", path.display())]
pub struct RowError {
    /// The file (or `<input>` for a reader without a name).
    pub path: PathBuf,
    /// The 1-based line number.
    pub line: u64,
    /// The column's name (`timestamp`, `open`, …, or `row` for the column count).
    pub column: &'static str,
    /// The offending text, shortened.
    pub value: String,
    /// What is wrong, in words.
    pub message: String,
    /// What is wrong, for code.
    pub problem: RowProblem,
}

/// Everything that can go wrong while reading, caching or streaming market data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A row of a CSV file is bad.
    #[error(transparent)]
    Row(Box<RowError>),
    /// A bar cache whose checksum matched held an invalid bar after some were already read; it
    /// was removed.
    #[error("{}: the bar cache holds an invalid bar although its checksum matches; it was removed: run again to read the CSV file", path.display())]
    InvalidCache {
        /// The cache.
        path: PathBuf,
    },
    /// A setting that cannot work, such as aggregating 5m bars into 7m bars.
    #[error("{what} `{value}`: expected {expected}")]
    Unsupported {
        /// The setting.
        what: &'static str,
        /// Its value.
        value: String,
        /// What would work.
        expected: &'static str,
    },
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// The bad row, when this error is one.
    #[must_use]
    pub fn row(&self) -> Option<&RowError> {
        match self {
            Self::Row(row) => Some(row),
            _ => None,
        }
    }
}

impl From<RowError> for DataError {
    fn from(row: RowError) -> Self {
        Self::Row(Box::new(row))
    }
}
