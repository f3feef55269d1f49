//! Background work beside the worker: exports, QA reports, movement and the export dialog's
//! counts. Each job runs on a thread and a DuckDB connection of its own, so previews never wait
//! behind it. One mechanism for all of them:
//! - `update` hands out the job ids (`JobBook`, in the state), so it knows a job's id before the job
//!   starts; it keeps the latest id per kind and drops the answers of older ones, as it does for
//!   previews by generation. Starting a job supersedes the running one of its kind (`Effect::CancelJob`).
//! - The runtime's `JobRunner` starts the thread, keeps a cancel handle per job and sends back one
//!   `JobDone { id, kind, result }` whatever happens, with a typed error (a cancel is not a failure).
//! - Quitting cancels every job and waits for it, with a bound: an export removes its temporary
//!   file on the way out, and no DuckDB statement outlives the explorer's connections.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::action::{Action, Report};
use super::state::Cells;
use crate::engine::{Canceller, Compiled, Engine, EngineError};
use crate::export::over_time::LoggedExport;
use crate::export::{ExportError, ExportedFile};

/// How long quitting waits for background work to stop after its cancel (DuckDB notices an
/// interrupt between pipeline tasks: milliseconds, unless the machine is starved).
pub const QUIT_BOUND: Duration = Duration::from_secs(5);

/// A job's id, handed out by `JobBook` in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

/// What kind of work a job is: `update` keeps one current job per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    Export,
    /// The export dialog's adds and drops since the last export.
    ExportChanges,
    Report(Report),
    Movement,
}

/// What the export dialog asks the runtime to export.
#[derive(Debug, Clone)]
pub struct ExportPlan {
    pub names: Vec<String>,
    pub columns: Vec<String>,
    pub out: std::path::PathBuf,
    pub exclusive: bool,
    pub suppress: bool,
    /// Export these cells of the one segment, to one file with a cell column.
    pub cells: Option<Cells>,
}

/// What a job is asked to do.
#[derive(Debug)]
pub enum JobSpec {
    Export(Box<ExportPlan>),
    /// Measure what the export dialog would add and drop, before anything is written.
    ExportChanges {
        names: Vec<String>,
        exclusive: bool,
        suppress: bool,
    },
    /// The hygiene report, judged against these approved segments.
    Hygiene {
        approved: Vec<(String, Compiled)>,
    },
    /// A against B (and the base).
    Compare {
        a: (String, Compiled),
        b: (String, Compiled),
    },
    /// Where the customers of an export (None: the latest of this library) are now.
    Movement {
        manifest: Option<std::path::PathBuf>,
    },
}

impl JobSpec {
    pub fn kind(&self) -> JobKind {
        match self {
            JobSpec::Export(_) => JobKind::Export,
            JobSpec::ExportChanges { .. } => JobKind::ExportChanges,
            JobSpec::Hygiene { .. } => JobKind::Report(Report::Hygiene),
            JobSpec::Compare { .. } => JobKind::Report(Report::Compare),
            JobSpec::Movement { .. } => JobKind::Movement,
        }
    }
}

/// What a job found.
#[derive(Debug)]
pub enum JobOutput {
    Exported(Vec<ExportedFile>),
    /// One line a segment: "+N / −M since DATE".
    Changes(Vec<String>),
    /// A QA report's text (the CLI's).
    Report(String),
    /// The library's exports (newest first), which one the movement is from, and the movement
    /// or why not (the list is worth showing either way: the user picks another export from it).
    Movement {
        exports: Vec<LoggedExport>,
        chosen: usize,
        movement: Result<crate::engine::movement::Movement, String>,
    },
}

/// Why a job has no output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Cancelled: superseded, Esc, or quitting.
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Failed(String),
}

impl From<EngineError> for JobError {
    fn from(e: EngineError) -> JobError {
        match e {
            EngineError::Cancelled => JobError::Cancelled,
            e => JobError::Failed(e.to_string()),
        }
    }
}

impl From<ExportError> for JobError {
    fn from(e: ExportError) -> JobError {
        match e {
            ExportError::Cancelled | ExportError::Engine(EngineError::Cancelled) => JobError::Cancelled,
            e => JobError::Failed(e.to_string()),
        }
    }
}

/// The one message a job sends when it ends.
#[derive(Debug)]
pub struct JobDone {
    pub id: JobId,
    pub kind: JobKind,
    pub result: Result<JobOutput, JobError>,
}

/// `update`'s side: hands out ids and remembers the latest job of each kind and whether it runs.
#[derive(Debug, Clone, Default)]
pub struct JobBook {
    next: u64,
    latest: HashMap<JobKind, (JobId, bool)>,
}

impl JobBook {
    /// A new job of `kind`: its id, and the id of the running job of that kind it supersedes.
    pub fn start(&mut self, kind: JobKind) -> (JobId, Option<JobId>) {
        self.next += 1;
        let id = JobId(self.next);
        let superseded = self.running(kind);
        self.latest.insert(kind, (id, true));
        (id, superseded)
    }

    /// The job of `kind` that runs now, if any.
    pub fn running(&self, kind: JobKind) -> Option<JobId> {
        self.latest.get(&kind).filter(|(_, running)| *running).map(|(id, _)| *id)
    }

    /// Takes in `done`'s end: true when it is the latest of its kind (its answer is shown), false
    /// for a superseded job's (dropped).
    pub fn finish(&mut self, done: &JobDone) -> bool {
        match self.latest.get_mut(&done.kind) {
            Some((id, running)) if *id == done.id => {
                *running = false;
                true
            }
            _ => false,
        }
    }
}

/// What a job's work gets: its own connection, its cancel flag (for work that checks between
/// rows), and the channel for progress.
pub struct JobCtx<'a> {
    pub id: JobId,
    pub engine: &'a Engine,
    pub stop: &'a AtomicBool,
    pub tx: &'a Sender<Action>,
}

impl JobCtx<'_> {
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

struct Running {
    stop: Arc<AtomicBool>,
    canceller: Canceller,
    thread: JoinHandle<()>,
}

impl Running {
    fn cancel(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.canceller.cancel();
    }
}

/// The runtime's side: runs jobs on threads with cloned connections and cancels them.
pub struct JobRunner {
    engine: Engine,
    tx: Sender<Action>,
    running: HashMap<JobId, Running>,
}

impl JobRunner {
    /// Jobs run on clones of `engine`; their ends arrive on `tx` as `Action::Job`.
    pub fn new(engine: Engine, tx: Sender<Action>) -> JobRunner {
        JobRunner { engine, tx, running: HashMap::new() }
    }

    /// Runs `work` on a thread and a connection of its own; exactly one `JobDone` follows.
    pub fn start(
        &mut self,
        id: JobId,
        kind: JobKind,
        work: impl FnOnce(&JobCtx) -> Result<JobOutput, JobError> + Send + 'static,
    ) {
        self.running.retain(|_, r| !r.thread.is_finished());
        let engine = match self.engine.try_clone() {
            Ok(e) => e,
            Err(e) => {
                let _ = self.tx.send(Action::Job(JobDone { id, kind, result: Err(JobError::Failed(e.to_string())) }));
                return;
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let canceller = engine.canceller();
        let (tx, flag) = (self.tx.clone(), Arc::clone(&stop));
        let spawned = std::thread::Builder::new().name(format!("seglens-job-{}", id.0)).spawn(move || {
            // The clone started from the explorer's first day: a session past midnight moves on.
            let result = engine
                .refresh_today()
                .map_err(JobError::from)
                .and_then(|_| work(&JobCtx { id, engine: &engine, stop: &flag, tx: &tx }));
            let _ = tx.send(Action::Job(JobDone { id, kind, result }));
        });
        match spawned {
            Ok(thread) => {
                self.running.insert(id, Running { stop, canceller, thread });
            }
            Err(e) => {
                let _ = self.tx.send(Action::Job(JobDone { id, kind, result: Err(JobError::Failed(e.to_string())) }));
            }
        }
    }

    /// Asks job `id` to stop (its `JobDone` still comes, as cancelled unless it had finished).
    pub fn cancel(&self, id: JobId) {
        if let Some(r) = self.running.get(&id) {
            r.cancel();
        }
    }

    /// Jobs whose threads have not ended.
    pub fn running(&self) -> usize {
        self.running.values().filter(|r| !r.thread.is_finished()).count()
    }

    /// Cancels every job and waits for their threads, until `bound` has passed; true when all
    /// ended in time (a thread still running then is left to the process's exit).
    pub fn shutdown(&mut self, bound: Duration) -> bool {
        for r in self.running.values() {
            r.cancel();
        }
        let deadline = Instant::now() + bound;
        self.running.drain().map(|(_, r)| join_by(r.thread, deadline)).fold(true, |all, ended| all && ended)
    }
}

impl Drop for JobRunner {
    fn drop(&mut self) {
        self.shutdown(QUIT_BOUND);
    }
}

/// Joins `thread` if it ends before `deadline`; false (and the thread left running) if not.
/// (`JoinHandle` has no timed join: a thread that never ends must not hang the quit.)
pub fn join_by(thread: JoinHandle<()>, deadline: Instant) -> bool {
    while !thread.is_finished() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = thread.join();
    true
}
