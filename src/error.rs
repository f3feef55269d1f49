//! The user-error type and what every front end does with an error: one line for the user, and
//! an exit code (README "Exit codes"). Shared by the command line, the explorer and the benchmark.

use crate::engine::EngineError;
use crate::library::LibraryError;

/// An error worth exit code 2 that has no typed error of its own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

/// 0 ok, 2 user error, 1 internal error; 130 when cancelled by Ctrl-C (or the explorer by a signal).
pub fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(e) = cause.downcast_ref::<EngineError>() {
            return match e {
                EngineError::Cancelled => 130,
                e if e.is_user_error() => 2,
                _ => 1,
            };
        }
        if let Some(e) = cause.downcast_ref::<crate::export::ExportError>() {
            return match e {
                crate::export::ExportError::Engine(EngineError::Db(_)) => 1,
                // Ctrl-C or --timeout during an export: 130, as README says, like any cancel.
                crate::export::ExportError::Cancelled | crate::export::ExportError::Engine(EngineError::Cancelled) => {
                    130
                }
                _ => 2,
            };
        }
        if cause.is::<crate::tui::EndedBySignal>() {
            return 130;
        }
        if cause.is::<LibraryError>() || cause.is::<UserError>() || cause.is::<crate::engine::FilterError>() {
            return 2;
        }
        if let Some(e) = cause.downcast_ref::<crate::sample::SampleError>() {
            return if matches!(e, crate::sample::SampleError::Db(_)) { 1 } else { 2 };
        }
    }
    1
}

/// One line for stderr: the error and its causes, each said once (a typed error often repeats
/// its source's text).
pub fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(text.trim()) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(text.trim());
        }
    }
    line.replace('\n', " ")
}
