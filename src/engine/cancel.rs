use std::sync::Arc;

/// Interrupts whatever the engine's connection is running, from another thread. DuckDB's interrupt
/// is per connection, not per query: bump the generation first, then interrupt, so the worker can
/// tell a deliberate cancel from a stray one.
#[derive(Clone)]
pub struct Canceller(Arc<duckdb::InterruptHandle>);

impl Canceller {
    pub(crate) fn new(handle: Arc<duckdb::InterruptHandle>) -> Canceller {
        Canceller(handle)
    }

    pub fn cancel(&self) {
        self.0.interrupt();
    }
}
