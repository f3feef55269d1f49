//! The engine's errors: `EngineError`, and `FilterError` with its position in the user's text;
//! DuckDB's messages read into their parts (`DuckMessage`).

use std::fmt;
use std::path::PathBuf;

/// A place in the text the user wrote: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Pos {
    pub offset: usize,
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub fn of(src: &str, offset: usize) -> Pos {
        let offset = floor_char_boundary(src, offset.min(src.len()));
        let before = &src[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Pos { offset, line, col }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.col)
    }
}

/// Something wrong with a filter's text, found before or by DuckDB, located in what the user wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FilterError {
    pub message: String,
    pub pos: Option<Pos>,
}

impl FilterError {
    pub fn new(message: impl Into<String>) -> Self {
        FilterError { message: message.into(), pos: None }
    }

    pub fn at(src: &str, offset: usize, message: impl Into<String>) -> Self {
        FilterError { message: message.into(), pos: Some(Pos::of(src, offset)) }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(f, "{} (at {p})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}: no such file")]
    NotFound(PathBuf),
    #[error("{path}: not a DuckDB database ({detail})")]
    NotADatabase { path: PathBuf, detail: String },
    #[error("{path}: cannot read it as Parquet ({detail})")]
    NotParquet { path: PathBuf, detail: String },
    /// A file of a Parquet table whose columns are not its first file's (`source::same_columns`).
    #[error(
        "{path}: its columns differ from those of {first} ({what}); the files of one table must have the same columns"
    )]
    ColumnsDiffer { path: PathBuf, first: PathBuf, what: String },
    /// A named pipe, socket or device where seglens reads a file (`source::regular_file`).
    #[error("{path}: {what}, not a regular file; seglens reads only regular files")]
    NotRegular { path: PathBuf, what: &'static str },
    #[error("{0}: the file is empty (0 bytes): there is no table in it")]
    EmptyFile(PathBuf),
    #[error(
        "{0}: the database is locked by another process (a writer has it open); close it there, or open a copy: cp {0:?} /tmp/copy.duckdb"
    )]
    Locked(PathBuf),
    #[error("{0}")]
    NoEntityTable(String),
    #[error("table {table:?} has no column {key:?}; name the key with --key (columns: {columns})")]
    KeyNotFound { table: String, key: String, columns: String },
    #[error("key {key:?} is not unique in {table:?} ({duplicates} duplicate values); name a unique key with --key")]
    KeyNotUnique { table: String, key: String, duplicates: u64 },
    #[error("{0}")]
    Filter(#[from] FilterError),
    #[error("{0}")]
    Param(String),
    #[error("writing output: {0}")]
    Output(std::io::Error),
    #[error("query cancelled")]
    Cancelled,
    #[error("{0}")]
    Config(String),
    /// DuckDB could not read the data it opened: a truncated or damaged file (exit 2, not a bug).
    #[error("the database could not be read ({0}); the file looks truncated or damaged: open an intact copy")]
    Damaged(String),
    /// DuckDB could not fit the work in its memory limit, even spilling to disk: the user can
    /// raise the limit (exit 2: a setting, not a bug).
    #[error(
        "DuckDB ran out of memory ({0}); raise the limit with --memory-limit (e.g. --memory-limit 16GB; the default is 80% of RAM) or free memory on this machine"
    )]
    OutOfMemory(String),
    #[error("DuckDB: {}", DuckMessage::parse(.0).headline())]
    Db(duckdb::Error),
}

impl From<duckdb::Error> for EngineError {
    fn from(e: duckdb::Error) -> Self {
        let m = DuckMessage::parse(&e);
        if m.is_interrupt() {
            // Whatever query it was (a background key check, a schema scan), an interrupt is a cancel.
            EngineError::Cancelled
        } else if m.is_damaged_file() {
            EngineError::Damaged(m.headline())
        } else if m.is_out_of_memory() {
            EngineError::OutOfMemory(m.message.lines().next().unwrap_or("").trim().to_string())
        } else {
            EngineError::Db(e)
        }
    }
}

impl EngineError {
    /// Errors caused by what the user typed or pointed at (exit code 2), as opposed to bugs.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, EngineError::Db(_))
    }
}

/// DuckDB's own message, parsed from the JSON it produces with `errors_as_json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuckMessage {
    pub kind: String,
    pub message: String,
    /// Byte offset in the SQL statement DuckDB was given.
    pub position: Option<usize>,
}

impl DuckMessage {
    pub fn parse(err: &duckdb::Error) -> DuckMessage {
        let text = err.to_string();
        let json = text.find('{').and_then(|i| serde_json::from_str::<serde_json::Value>(&text[i..]).ok());
        match json {
            Some(v) => {
                let get = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
                DuckMessage {
                    kind: get("exception_type").unwrap_or_default(),
                    message: get("exception_message").unwrap_or(text.clone()),
                    position: get("position").and_then(|p| p.parse().ok()),
                }
            }
            None => DuckMessage { kind: String::new(), message: text, position: None },
        }
    }

    pub fn is_interrupt(&self) -> bool {
        self.kind.eq_ignore_ascii_case("interrupt") || self.message.contains("Interrupted")
    }

    pub fn is_out_of_memory(&self) -> bool {
        self.kind.eq_ignore_ascii_case("Out of Memory")
    }

    /// Errors that DuckDB raises because of the SQL itself (as opposed to I/O or internal failures).
    pub fn is_user_sql_error(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "Parser"
                | "Binder"
                | "Conversion"
                | "Catalog"
                | "Permission"
                | "Invalid Input"
                | "Out of Range"
                | "Invalid type"
                | "Not implemented"
                | "Syntax"
                | "Mismatch Type"
                | "Constraint"
                | "Dependency"
                | "Invalid"
                | "Sequence"
                | "Decimal"
                | "Divide by Zero"
                // e.g. `force_checkpoint()` in a filter: refused by the read-only transaction.
                | "TransactionContext"
        )
    }

    /// Reading the database file failed: short reads, bad checksums, undecodable blocks.
    pub fn is_damaged_file(&self) -> bool {
        let text = self.message.to_ascii_lowercase();
        matches!(self.kind.as_str(), "Serialization" | "Corruption")
            || (self.kind == "IO" && ["could not read", "checksum", "corrupt"].iter().any(|w| text.contains(w)))
    }

    /// The column or table a Binder/Catalog error says this data lacks, from its message.
    pub fn missing_name(&self) -> Option<String> {
        missing_name(&self.message)
    }

    pub fn headline(&self) -> String {
        let first = self.message.lines().next().unwrap_or("").trim();
        if self.kind.is_empty() { first.to_string() } else { format!("{} error: {first}", self.kind) }
    }
}

/// The name in DuckDB's "not there" messages (`Referenced column "x" not found`, `Table with name
/// x does not exist`, `Referenced table "x" not found`), as "column x" or "table x".
pub fn missing_name(message: &str) -> Option<String> {
    let quoted = |rest: &str| -> Option<String> {
        let rest = rest.trim_start().strip_prefix('"')?;
        rest.find('"').map(|e| rest[..e].to_string())
    };
    if let Some(i) = message.find("Referenced column") {
        return quoted(&message[i + "Referenced column".len()..]).map(|n| format!("column {n}"));
    }
    if let Some(i) = message.find("Referenced table") {
        return quoted(&message[i + "Referenced table".len()..]).map(|n| format!("table {n}"));
    }
    if let Some(i) = message.find("Table with name ") {
        let rest = &message[i + "Table with name ".len()..];
        return rest.split(" does not exist").next().map(|n| format!("table {}", n.trim().trim_matches('"')));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(json: &str) -> duckdb::Error {
        duckdb::Error::DuckDBFailure(duckdb::ffi::Error::new(1), Some(json.into()))
    }

    #[test]
    fn an_interrupt_is_a_cancel_and_other_errors_read_as_sentences() {
        let e = EngineError::from(failure(r#"{"exception_type":"INTERRUPT","exception_message":"Interrupted!"}"#));
        assert!(matches!(e, EngineError::Cancelled), "{e:?}");
        let e = EngineError::from(failure(
            r#"{"exception_type":"Out of Memory","exception_message":"could not allocate"}"#,
        ));
        assert!(matches!(e, EngineError::OutOfMemory(_)) && e.is_user_error(), "{e:?}");
        assert!(e.to_string().contains("--memory-limit") && !e.to_string().contains("Out of Memory error"), "{e}");
    }

    #[test]
    fn missing_names_are_read_from_duckdbs_messages() {
        let m = "Binder Error: Referenced column \"churn_risk\" not found in FROM clause!\nCandidate bindings: \"x\"";
        assert_eq!(missing_name(m).as_deref(), Some("column churn_risk"));
        let m = "Catalog Error: Table with name events does not exist!\nDid you mean \"purchase_records\"?";
        assert_eq!(missing_name(m).as_deref(), Some("table events"));
        assert_eq!(missing_name("Parser Error: syntax error at or near \")\""), None);
    }
}
