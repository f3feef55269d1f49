//! Cancelling the connection's statements from another thread: DuckDB's interrupt, made sticky
//! between statements and spent once it stopped one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Cancels whatever the engine's connection runs or is about to run, from another thread.
///
/// DuckDB's interrupt is per connection and not sticky: it clears the flag when the next statement
/// begins (measured on DuckDB 2.0, `client_context.cpp`), so an interrupt that lands between two
/// statements, or while one is being planned, is lost and the statement after it runs to the end.
/// The request is therefore also kept here, and the engine checks it before every statement and
/// between planning and running one. The query worker clears it when it starts work for a new
/// generation (bump the generation first, then cancel, so the worker can tell a deliberate cancel
/// from a stray one). A cancel stops one statement, DuckDB's way: it is spent once it did.
#[derive(Clone)]
pub struct Canceller {
    handle: Arc<duckdb::InterruptHandle>,
    requested: Arc<AtomicBool>,
}

impl Canceller {
    pub(crate) fn new(handle: Arc<duckdb::InterruptHandle>) -> Canceller {
        Canceller { handle, requested: Arc::new(AtomicBool::new(false)) }
    }

    pub fn cancel(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.handle.interrupt();
    }

    /// Forgets a cancel: what runs next runs.
    pub fn clear(&self) {
        self.requested.store(false, Ordering::SeqCst);
    }

    /// A cancel is asked for and not yet spent (looked at without spending it).
    pub(crate) fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Err(Cancelled) once a cancel was asked for and not cleared. The cancel is then spent, as
    /// DuckDB's interrupt is once it stopped a statement: the engine answers the next call.
    pub fn check(&self) -> Result<(), crate::engine::EngineError> {
        if self.requested.swap(false, Ordering::SeqCst) { Err(crate::engine::EngineError::Cancelled) } else { Ok(()) }
    }
}
