//! Where seglens keeps its files (from `directories`), overridable for tests and teams:
//! `SEGLENS_DATA_DIR` (sample database, default library), `SEGLENS_CONFIG_DIR` (themes) and
//! `SEGLENS_CACHE_DIR` (checks remembered per database file; safe to delete).

use std::path::PathBuf;

fn project() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "seglens")
}

pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SEGLENS_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    project().map_or_else(|| PathBuf::from(".seglens"), |p| p.data_dir().to_path_buf())
}

pub fn config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SEGLENS_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    project().map_or_else(|| PathBuf::from(".seglens"), |p| p.config_dir().to_path_buf())
}

pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SEGLENS_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    project().map_or_else(|| PathBuf::from(".seglens"), |p| p.cache_dir().to_path_buf())
}

/// The sample database used when no database is given.
pub fn default_sample_path() -> PathBuf {
    data_dir().join("sample.duckdb")
}
