use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// A file that does not parse or validate, with the line of the problem when known.
    #[error("{}{}: {message}", path.display(), line.map_or(String::new(), |l| format!(":{l}")))]
    Invalid { path: PathBuf, line: Option<usize>, message: String },
    #[error("no segment {0:?} in the library (seglens list shows them)")]
    NotFound(String),
    #[error("segment {name:?} has no version {version} (latest is {latest})")]
    NoVersion { name: String, version: u32, latest: u32 },
    #[error("{0:?} is not a valid segment name: use lowercase letters, digits and '-' (e.g. lapsed-high-value)")]
    BadName(String),
    #[error("{0:?} is not NAME or NAME@VERSION")]
    BadRef(String),
    #[error("segment {0:?} already exists")]
    Exists(String),
    /// A split cell whose name is taken by another cell or segment (`Template::takes_cell`).
    #[error("{0}")]
    CellTaken(String),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl LibraryError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LibraryError {
        let path = path.into();
        move |source| LibraryError::Io { path, source }
    }

    /// From a toml error, with the 1-based line of its span.
    pub fn from_toml(path: PathBuf, text: &str, e: &toml::de::Error) -> LibraryError {
        let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        LibraryError::Invalid { path, line, message: e.message().trim().to_string() }
    }
}
