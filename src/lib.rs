//! seglens: a terminal segment explorer for CRM data in DuckDB.
//!
//! `engine` owns DuckDB and answers questions with plain data; `library` keeps versioned segment
//! templates; `export` writes approved segments to CSV; `cli` and `tui` are two front ends over
//! the same engine, and neither writes SQL of its own.

pub mod cli;
pub mod config;
pub mod dialect;
pub mod engine;
pub mod error;
pub mod export;
pub mod format;
pub mod library;
pub mod report;
pub mod sample;
pub mod tui;
pub mod workspace;
