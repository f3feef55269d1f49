//! The connection and its sandbox: opening a data source read-only, which table holds the
//! customers, the one path every statement takes to DuckDB (`sql.rs`: `Engine::run`, cancel
//! checks, errors located in the user's text), the date `current_date` answers, and the errors.

pub mod cancel;
pub mod entity;
pub mod error;
pub(super) mod open;
pub mod sandbox;
pub mod source;
pub(super) mod sql;
pub(super) mod today;
