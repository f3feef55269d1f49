//! Versioned segment templates on disk: one folder per segment, one immutable TOML file per
//! version (`segments/<name>/v0003.toml`), plus the team's `features.toml`. Knows nothing about
//! terminals.

pub mod error;
pub mod measure;
pub mod store;
pub mod template;

pub use error::LibraryError;
pub use store::{Library, LoadReport, SaveOutcome};
pub use template::{Kind, Snapshot, Status, Template, TemplateRef};
