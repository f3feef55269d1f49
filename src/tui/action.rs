//! What the user or the worker means (`Action`), and what `update` asks the loop to do (`Effect`).

use std::time::Instant;

use ratatui::crossterm::event::{KeyEvent, MouseEvent};

use super::worker::{Request, Response};
use crate::export::{ExportedFile, Progress};

#[derive(Debug)]
pub enum Action {
    /// A key; `update` maps it through the keymap, and the editor takes what the keymap does not.
    Key(KeyEvent),
    /// Pasted text, whole (bracketed paste): text for the input that has focus, never commands.
    Paste(String),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// Time passes: due previews are sent.
    Tick(Instant),
    Worker(Response),
    ExportProgress(Progress),
    ExportDone(Result<Vec<ExportedFile>, String>),
    /// A message for the status line (from work the loop did).
    Notice(super::state::Level, String),
    /// The library was (re)loaded from disk.
    LibraryLoaded(LibrarySnapshot),
    /// The export dialog's adds and drops since the last export, one line a segment.
    ExportChanges(Result<Vec<String>, String>),
    /// A QA report finished on its own connection: its text, or why not.
    ReportDone(Report, Result<String, String>),
    /// A movement finished on its own connection: the library's exports (newest first), which
    /// one it moved from, and the matrix or why not.
    MovementDone {
        exports: Vec<crate::export::over_time::LoggedExport>,
        chosen: usize,
        result: Result<crate::engine::movement::Movement, String>,
    },
    /// SIGTERM, SIGHUP or a SIGINT sent from outside (Ctrl-C is a key here): quit at once.
    Signal,
}

/// The QA reports the explorer computes beside the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Hygiene,
    Compare,
}

/// What the loop read from the library directory.
#[derive(Debug, Clone, Default)]
pub struct LibrarySnapshot {
    pub dir: String,
    pub templates: Vec<crate::library::Template>,
    pub errors: Vec<String>,
    pub features: crate::engine::FeatureSet,
    pub feature_error: Option<String>,
    /// History of one segment, when asked for.
    pub history: Option<(String, Vec<crate::library::Template>)>,
}

#[derive(Debug)]
pub enum Effect {
    Send(Request),
    /// Bump to this generation and interrupt what runs.
    Cancel(u64),
    /// Re-read the library (and the history of a segment when named).
    ReloadLibrary {
        history: Option<String>,
    },
    /// Write a status change as a new version.
    SetStatus {
        name: String,
        version: u32,
        status: crate::library::Status,
        author: String,
    },
    Export(Box<super::update::ExportPlan>),
    /// The hygiene report, judged against these approved segments.
    Hygiene {
        approved: Vec<(String, crate::engine::Compiled)>,
    },
    /// A against B (and the base).
    Compare {
        a: (String, crate::engine::Compiled),
        b: (String, crate::engine::Compiled),
    },
    /// Measure what the export dialog would add and drop, before anything is written.
    ExportChanges {
        names: Vec<String>,
        exclusive: bool,
        suppress: bool,
    },
    /// Where the customers of an export (None: the latest of this library) are now.
    Movement {
        manifest: Option<std::path::PathBuf>,
    },
    /// Stop the running export (its files are written atomically, so nothing is left).
    CancelExport,
    CycleTheme,
    Quit,
}
