//! Versioned segment templates on disk: one folder per segment, one immutable TOML file per
//! version (`segments/<name>/v0003.toml`), plus the team's `features.toml`. Knows nothing about
//! terminals.

pub mod diff;
pub mod error;
pub mod measure;
pub mod store;
pub mod template;

pub use error::LibraryError;

/// Who writes a version or a status change: `$SEGLENS_AUTHOR`, else `$USER`. Read once by each
/// front end at start, so the CLI and the explorer record the same name.
pub fn author() -> String {
    std::env::var("SEGLENS_AUTHOR").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "unknown".into())
}
pub use store::{Library, LoadReport, SaveOutcome};
pub use template::{Kind, Snapshot, Status, Template, TemplateRef};
