//! What the user or the worker means (`Action`), and what `update` asks the loop to do (`Effect`).

use std::time::Instant;

use ratatui::crossterm::event::{KeyEvent, MouseEvent};

use super::jobs::{JobDone, JobId, JobSpec};
use super::worker::{Request, Response};
use crate::export::Progress;

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
    /// How far export job `JobId` is.
    ExportProgress(JobId, Progress),
    /// A background job ended (its output, or why not).
    Job(JobDone),
    /// A message for the status line (from work the loop did).
    Notice(super::state::Level, String),
    /// The library was (re)loaded from disk.
    LibraryLoaded(LibrarySnapshot),
    /// The next theme was loaded (its name), or why not.
    Themed(Result<String, String>),
    /// SIGTERM, SIGHUP or a SIGINT sent from outside (Ctrl-C is a key here): quit at once.
    Signal,
}

/// The QA reports the explorer computes beside the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// Run a background job under this id (`update` handed it out).
    Start {
        id: JobId,
        spec: JobSpec,
    },
    /// Stop a background job (its `JobDone` still comes).
    CancelJob(JobId),
    CycleTheme,
    /// Cancel every job and stop the worker, waiting for them with a bound (`update` has set
    /// `quit`; the loop ends after this).
    Quit,
}
