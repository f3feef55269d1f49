//! Ctrl-C and `--timeout`: cancel DuckDB's statement, and end the process if DuckDB does not
//! stop in time (it checks for an interrupt while it executes, not while it plans). The
//! process-ending `_exit` is the command line's one `unsafe` block.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::engine::Canceller;

/// Arms Ctrl-C and `--timeout` (seconds) to cancel `cancel`'s statements and set `cancelled`,
/// with the process ended if DuckDB has not stopped `CANCEL_GRACE` later.
pub(super) fn arm(cancelled: &Arc<AtomicBool>, cancel: Canceller, timeout: Option<f64>) {
    let c = cancel.clone();
    // A second Ctrl-C (or one arriving when nothing runs) still ends the process.
    let armed = Arc::new(AtomicBool::new(false));
    let (flag, flag2) = (cancelled.clone(), cancelled.clone());
    let _ = ctrlc::set_handler(move || {
        if armed.swap(true, Ordering::SeqCst) {
            exit_now(130);
        }
        flag.store(true, Ordering::SeqCst);
        c.cancel();
        exit_if_still_running("interrupted");
    });
    // A timeout too large for a Duration (1e300 seconds) is as good as none.
    if let Some(limit) = timeout.and_then(|s| std::time::Duration::try_from_secs_f64(s).ok()) {
        std::thread::spawn(move || {
            std::thread::sleep(limit);
            flag2.store(true, Ordering::SeqCst);
            cancel.cancel();
            exit_if_still_running("--timeout");
        });
    }
}

/// DuckDB checks for an interrupt while it executes a query, not while it plans one: a filter
/// whose planning alone takes minutes (a 1 MB OR chain) ignores the cancel. A command that has not
/// ended this long after its cancel is ended here, so Ctrl-C and --timeout always bound the wait.
/// README promises 3 s; the half second left is for this thread to wake on a loaded machine (at
/// 3 s exactly, the exit came 3.1-3.2 s after the cancel).
const CANCEL_GRACE: std::time::Duration = std::time::Duration::from_millis(2500);

fn exit_if_still_running(why: &str) {
    let why = why.to_string();
    std::thread::spawn(move || {
        std::thread::sleep(CANCEL_GRACE);
        eprintln!("seglens: query cancelled ({why}); DuckDB did not stop within {} s", CANCEL_GRACE.as_secs_f64());
        exit_now(130);
    });
}

/// Ends the process at once while DuckDB's threads may still run. `std::process::exit` would run
/// C++ static destructors under them (a segfault, exit 139, seen in the reliability tests);
/// `_exit` skips them. stderr is unbuffered, and a cancelled command has no data left to print.
fn exit_now(code: i32) -> ! {
    unsafe extern "C" {
        fn _exit(status: i32) -> !;
    }
    // SAFETY: `_exit` takes no pointers and is async-signal-safe; it never returns.
    unsafe { _exit(code) }
}
