//! User text to SQL: the only folder that reads what a user wrote (filters, `{{params}}`,
//! features, metric fragments) and turns it into SQL. Everything else embeds a `Compiled`
//! filter or renders values with `ident`/`literal`; tests/structure.rs keeps it so.

mod expand;
pub mod features;
pub mod filter;
pub mod lexer;
pub mod params;
pub mod tokens;
