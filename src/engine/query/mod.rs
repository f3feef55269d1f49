//! The query families: each file one `impl Engine` block that answers one kind of question with
//! plain data (counts, shares, rows), never text to print.

pub mod arms;
pub mod breakdown;
pub mod compare;
pub mod funnel;
pub mod hygiene;
pub mod infer;
pub mod members;
pub mod overlap;
pub mod profile;
pub mod rollup;
pub mod schema;
pub mod size;
pub mod split;
