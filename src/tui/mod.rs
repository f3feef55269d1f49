//! The interactive explorer. `run` sets the terminal up (and restores it on every path), starts the
//! query worker and an input thread, and runs one loop: wait on one channel until a message or the
//! next deadline, `update` state with each message, carry out the effects, draw.

pub mod action;
pub mod jobs;
pub mod keymap;
pub mod state;
pub mod theme;
pub mod ui;
pub mod update;
pub mod worker;

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ratatui::crossterm::event::{
    self, DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, Event, KeyEventKind,
};
use ratatui::crossterm::execute;

use action::{Action, Effect, LibrarySnapshot};
use jobs::{ExportPlan, JobCtx, JobError, JobId, JobOutput, JobRunner, JobSpec};
use state::{AppState, Level, WorkerState};
use theme::Theme;
use worker::WorkerHandle;

use crate::engine::{Engine, OpenOptions};
use crate::error::UserError;
use crate::export::over_time::{StoredExport, To};
use crate::library::{Library, Status};

/// Restores the terminal when dropped, so every exit path (errors included) leaves it usable;
/// `leave_modes` in a panic hook covers panics (ratatui's own hook restores the rest).
struct TerminalGuard;

impl TerminalGuard {
    /// Turns on mouse reports and bracketed paste (a paste arrives whole, not as keys), and
    /// installs the panic hook that turns them off.
    fn enter() -> TerminalGuard {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            leave_modes();
            previous(info);
        }));
        let _ = execute!(std::io::stdout(), EnableMouseCapture, EnableBracketedPaste);
        TerminalGuard
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        leave_modes();
        ratatui::restore();
    }
}

/// Off again what `TerminalGuard::enter` turned on: a shell left with bracketed paste on wraps
/// every later paste in escape codes.
fn leave_modes() {
    let _ = execute!(std::io::stdout(), DisableBracketedPaste, DisableMouseCapture);
}

/// What the explorer needs, resolved by the front end that starts it (`main` through the CLI's
/// options): the explorer never reads command-line options itself.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    pub db: std::path::PathBuf,
    pub open: OpenOptions,
    pub library: std::path::PathBuf,
    /// A theme name (default: dark).
    pub theme: Option<String>,
    /// Segments under this share of the base are marked small.
    pub small_share: f64,
}

pub fn run(opts: TuiOptions) -> Result<()> {
    let path = opts.db;
    if std::env::var("TERM").is_ok_and(|t| t == "dumb") {
        return Err(UserError(
            "TERM=dumb: this terminal cannot show the explorer; use the commands instead (seglens --help)".into(),
        )
        .into());
    }
    // Open before the screen changes, so a bad database gets a plain message.
    let engine = Engine::open(&path, &opts.open).with_context(|| format!("opening {}", path.display()))?;
    let theme_name = opts.theme.unwrap_or_else(|| "dark".into());
    let theme = Theme::load(&theme_name).map_err(UserError)?;
    let label = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    // Checked after the database opened, so a bad file gets its own message first.
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return Err(UserError(
            "the explorer needs a terminal and standard output is not one; use the commands instead (seglens --help)"
                .into(),
        )
        .into());
    }
    let (mut rt, mut state) = Runtime::start(engine, Library::open(&opts.library), theme, label)?;
    state.small_share = opts.small_share;
    // A signal's default action would end the process with the terminal still raw (no echo, no
    // line editing, mouse reports on): the loop quits instead, and the guard restores it.
    let signalled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (flag, tx) = (signalled.clone(), rt.tx.clone());
    let _ = ctrlc::set_handler(move || {
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = tx.send(Action::Signal);
    });
    let mut terminal = ratatui::try_init().map_err(|e| {
        UserError(format!(
            "cannot start the explorer ({e}): it needs a terminal; use the commands instead (seglens --help)"
        ))
    })?;
    let guard = TerminalGuard::enter();
    if let Ok(size) = terminal.size() {
        rt.pending.push(Action::Resize(size.width, size.height));
    }
    spawn_input(rt.tx.clone());
    let result = rt.run(&mut terminal, &mut state);
    drop(guard);
    if signalled.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(EndedBySignal.into());
    }
    result
}

/// The explorer was ended by SIGTERM, SIGHUP or a SIGINT from outside: exit 130, as a cancel.
#[derive(Debug, thiserror::Error)]
#[error("the explorer was ended by a signal (unsaved edits were not kept)")]
pub struct EndedBySignal;

/// A fresh state for `engine`'s data (before any library or worker message).
pub fn initial_state(engine: &Engine, label: String, theme: &Theme) -> AppState {
    let mut state = AppState::new(
        label,
        engine.table().into(),
        engine.key().into(),
        engine.base_size(),
        engine.columns().to_vec(),
        theme.name.clone(),
    );
    state.dataset.fingerprint = Some(engine.fingerprint().clone());
    state.author = crate::library::author();
    if let Some(note) = engine.metric_notes().first() {
        state.status = Some((Level::Warn, note.clone()));
    }
    state
}

fn spawn_input(tx: Sender<Action>) {
    std::thread::Builder::new()
        .name("seglens-input".into())
        .spawn(move || {
            while let Ok(ev) = event::read() {
                let action = match ev {
                    Event::Key(k) if k.kind != KeyEventKind::Release => Action::Key(k),
                    Event::Mouse(m) => Action::Mouse(m),
                    Event::Resize(w, h) => Action::Resize(w, h),
                    Event::Paste(text) => Action::Paste(text),
                    _ => continue,
                };
                if tx.send(action).is_err() {
                    return;
                }
            }
        })
        .ok();
}

/// Reads the library directory: latest templates, load errors, features, and one history.
pub fn load_library(library: &Library, history: Option<&str>) -> LibrarySnapshot {
    let report = library.load_all();
    let (features, ferr) = library.features();
    LibrarySnapshot {
        dir: library.dir().display().to_string(),
        templates: report.templates,
        errors: report.errors.iter().map(|e| e.to_string()).collect(),
        features,
        feature_error: ferr.map(|e| e.to_string()),
        history: history.and_then(|h| library.history(h).ok().map(|(v, _)| (h.to_string(), v))),
    }
}

/// Carries out effects: owns the worker handle, the library and the background jobs. The
/// terminal loop and the tests drive the same runtime; only `update` writes the state.
pub struct Runtime {
    library: Library,
    worker: WorkerHandle,
    /// Exports, reports, movement and the export dialog's counts, each on a connection of its
    /// own, so that previews never wait behind them.
    jobs: JobRunner,
    tx: Sender<Action>,
    rx: Receiver<Action>,
    theme: Theme,
    pending: Vec<Action>,
    /// Where exports are logged, so the next export dialog and `seglens changes` find them.
    export_log: crate::export::over_time::ExportLog,
}

impl Runtime {
    /// Starts the worker on `engine` and reads the library; returns the runtime and the first state.
    pub fn start(engine: Engine, library: Library, theme: Theme, label: String) -> Result<(Runtime, AppState)> {
        let state = initial_state(&engine, label, &theme);
        let (tx, rx) = std::sync::mpsc::channel::<Action>();
        let jobs = JobRunner::new(engine.try_clone()?, tx.clone());
        let worker_tx = tx.clone();
        let worker = WorkerHandle::start(engine, Library::open(library.dir()), move |r| {
            let _ = worker_tx.send(Action::Worker(r));
        });
        let export_log = crate::export::over_time::ExportLog::default_for(library.dir());
        let mut rt = Runtime { library, worker, jobs, tx, rx, theme, pending: Vec::new(), export_log };
        rt.reload_library(None);
        Ok((rt, state))
    }

    pub fn theme(&self) -> &Theme {
        &self.theme
    }

    /// Logs exports elsewhere than the user data directory (tests).
    pub fn set_export_log(&mut self, log: crate::export::over_time::ExportLog) {
        self.export_log = log;
    }

    /// Background jobs whose threads have not ended (tests: quitting leaves none).
    pub fn jobs_running(&self) -> usize {
        self.jobs.running()
    }

    /// Applies `action` and everything it leads to that is already known (not waiting on a thread).
    pub fn apply(&mut self, state: &mut AppState, action: Action) {
        self.pending.push(action);
        while !self.pending.is_empty() {
            let batch: Vec<Action> = std::mem::take(&mut self.pending);
            for a in batch {
                for effect in update::update(state, a, Instant::now()) {
                    self.effect(effect);
                }
            }
        }
    }

    /// Feeds ticks and messages from the worker and export threads until `done(state)` or the
    /// timeout; returns whether `done` became true. For tests and benchmarks.
    pub fn pump_until(&mut self, state: &mut AppState, timeout: Duration, done: impl Fn(&AppState) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            self.apply(state, Action::Tick(Instant::now()));
            if done(state) {
                return true;
            }
            let now = Instant::now();
            if now >= end {
                return false;
            }
            let wait = state.preview_due.map_or(end - now, |d| d.saturating_duration_since(now).min(end - now));
            if let Ok(a) = self.rx.recv_timeout(wait) {
                self.apply(state, a);
            }
        }
    }

    fn run(&mut self, terminal: &mut ratatui::DefaultTerminal, state: &mut AppState) -> Result<()> {
        loop {
            self.apply(state, Action::Tick(Instant::now()));
            if state.quit {
                return Ok(());
            }
            terminal.draw(|f| ui::render(f, state, &self.theme))?;
            // Sleep until a message, the preview deadline, or (while a query runs) the next spinner frame.
            let now = Instant::now();
            let mut wait = state.preview_due.map(|d| d.saturating_duration_since(now));
            if matches!(state.worker, WorkerState::Running { .. }) {
                wait = Some(wait.map_or(Duration::from_millis(120), |w| w.min(Duration::from_millis(120))));
            }
            let first = match wait {
                Some(w) => match self.rx.recv_timeout(w) {
                    Ok(a) => Some(a),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                },
                None => match self.rx.recv() {
                    Ok(a) => Some(a),
                    Err(_) => return Ok(()),
                },
            };
            let mut batch: Vec<Action> = first.into_iter().collect();
            batch.extend(self.rx.try_iter());
            for a in batch {
                self.apply(state, a);
            }
            if state.quit {
                return Ok(());
            }
        }
    }

    fn effect(&mut self, effect: Effect) {
        match effect {
            Effect::Send(req) => self.worker.send(req),
            Effect::Cancel(generation) => self.worker.cancel(generation),
            Effect::Quit => {
                self.jobs.shutdown(jobs::QUIT_BOUND);
            }
            Effect::ReloadLibrary { history } => self.reload_library(history.as_deref()),
            Effect::SetStatus { name, version, status, author } => {
                let msg = match self.library.set_status(&name, Some(version), status, None, &author) {
                    Ok(o) => (Level::Info, format!("{} {name}@{}", status.name(), o.version())),
                    Err(e) => (
                        Level::Error,
                        format!(
                            "could not {} {name}: {e}",
                            if status == Status::Approved { "approve" } else { "retire" }
                        ),
                    ),
                };
                self.pending.push(Action::Notice(msg.0, msg.1));
                self.reload_library(None);
            }
            Effect::Start { id, spec } => self.start_job(id, spec),
            Effect::CancelJob(id) => self.jobs.cancel(id),
            Effect::CycleTheme => {
                let names = Theme::names();
                let i = names.iter().position(|n| *n == self.theme.name).unwrap_or(0);
                let next = names[(i + 1) % names.len()].clone();
                let loaded = Theme::load(&next).map(|t| self.theme = t).map(|_| next);
                self.pending.push(Action::Themed(loaded));
            }
        }
    }

    /// Reads the library again (with `history`'s versions when given); `update` then has it
    /// measured: the one way to reload, so that a segment approved, retired or saved gets its
    /// size now again.
    fn reload_library(&mut self, history: Option<&str>) {
        let snap = load_library(&self.library, history);
        self.pending.push(Action::LibraryLoaded(snap));
    }

    /// Starts job `id`. What needs the library (resolving names, the export log) is read here;
    /// the rest runs on the job's own connection.
    fn start_job(&mut self, id: JobId, spec: JobSpec) {
        let kind = spec.kind();
        match spec {
            JobSpec::Export(plan) => {
                let work = self.export(*plan);
                self.jobs.start(id, kind, work);
            }
            JobSpec::ExportChanges { names, exclusive, suppress } => {
                let work = self.export_changes(names, exclusive, suppress);
                self.jobs.start(id, kind, work);
            }
            JobSpec::Hygiene { approved } => self.jobs.start(id, kind, move |ctx| {
                let refs: Vec<(String, &crate::engine::Compiled)> =
                    approved.iter().map(|(n, c)| (n.clone(), c)).collect();
                Ok(JobOutput::Report(crate::report::hygiene(&ctx.engine.hygiene(&refs)?)))
            }),
            JobSpec::Compare(pair) => self.jobs.start(id, kind, move |ctx| {
                let [a, b] = &*pair;
                Ok(JobOutput::Report(crate::report::compare(&ctx.engine.compare((&a.0, &a.1), (&b.0, &b.1))?)))
            }),
            JobSpec::Movement { manifest } => {
                let work = self.movement(manifest);
                self.jobs.start(id, kind, work);
            }
        }
    }

    /// The export dialog's "+N / −M since DATE" per segment.
    fn export_changes(&self, names: Vec<String>, exclusive: bool, suppress: bool) -> impl JobWork {
        let (features, _) = self.library.features();
        let resolved = crate::export::resolve(&self.library, &features, &names, false, suppress, &[]);
        let log = self.export_log.clone();
        move |ctx: &JobCtx| {
            let (segments, suppressions) = resolved.map_err(|e| JobError::Failed(e.to_string()))?;
            let changes =
                crate::export::over_time::changes_before_export(ctx.engine, &segments, &suppressions, exclusive, &log)?;
            Ok(JobOutput::Changes(
                changes
                    .iter()
                    .map(|(name, c)| match c {
                        Some(c) => format!(
                            "{name}: +{} / −{} since {} (v{})",
                            crate::format::count(c.added),
                            crate::format::count(c.dropped),
                            c.since.created_at.get(..10).unwrap_or(&c.since.created_at),
                            c.since.version
                        ),
                        None => format!("{name}: first export from this library"),
                    })
                    .collect(),
            ))
        }
    }

    /// The movement from an export of this library (None: the latest) to now: the same segments,
    /// as they would export now (approved suppressions applied).
    fn movement(&self, manifest: Option<std::path::PathBuf>) -> impl JobWork {
        let exports = self.export_log.exports();
        let chosen = manifest.and_then(|m| exports.iter().position(|e| e.manifest == m)).unwrap_or(0);
        let from = exports.get(chosen).map(|e| e.manifest.clone());
        let (features, _) = self.library.features();
        let library = Library::open(self.library.dir());
        move |ctx: &JobCtx| {
            let movement = match &from {
                None => Err(
                    "no export of this library yet: export a segment (Ctrl-E), and come back after the data changed"
                        .to_string(),
                ),
                Some(from) => movement_now(ctx.engine, from, &library, &features).map_err(|e| e.to_string()),
            };
            if ctx.stopped() {
                return Err(JobError::Cancelled);
            }
            Ok(JobOutput::Movement { exports, chosen, movement })
        }
    }

    /// An export; typing never supersedes it (it is not a preview), Esc and quitting cancel it.
    fn export(&self, plan: ExportPlan) -> impl JobWork {
        let (features, _) = self.library.features();
        let resolved = crate::export::resolve(&self.library, &features, &plan.names, false, plan.suppress, &[]);
        // Logged like the CLI's exports, so `seglens changes` and the next dialog find it.
        let log = self.export_log.clone();
        let protected = vec![self.library.dir().to_path_buf()];
        move |ctx: &JobCtx| {
            let (mut segments, suppressions) = resolved.map_err(|e| JobError::Failed(e.to_string()))?;
            if let Some(cells) = &plan.cells {
                let [parent] = segments.as_slice() else {
                    return Err(JobError::Failed("the cells of a split come from one segment".into()));
                };
                segments = crate::export::cells(parent, &cells.by, &cells.values);
            }
            let req = crate::export::ExportRequest {
                segments,
                suppressions,
                exclusive: plan.exclusive,
                columns: plan.columns,
                out: plan.out,
                force: false,
                excel_safe: false,
                protected,
            };
            let files = crate::export::export_with(ctx.engine, &req, Some(&log), &mut |p| {
                !ctx.stopped() && ctx.tx.send(Action::ExportProgress(ctx.id, p.clone())).is_ok()
            })?;
            Ok(JobOutput::Exported(files))
        }
    }
}

/// Where the customers of the export at `manifest` are now: its segments as they would export now
/// (approved suppressions applied).
fn movement_now(
    engine: &Engine,
    manifest: &std::path::Path,
    library: &Library,
    features: &crate::engine::FeatureSet,
) -> Result<crate::engine::movement::Movement, crate::export::ExportError> {
    let from = StoredExport::open(manifest)?;
    let now = crate::export::over_time::filters_now(library, features, &from.segment_names(), true, false, &[])?;
    crate::export::over_time::movement(engine, &from, To::Now(&now))
}

/// A job's work, as `JobRunner::start` takes it.
trait JobWork: FnOnce(&JobCtx) -> Result<JobOutput, JobError> + Send + 'static {}
impl<F: FnOnce(&JobCtx) -> Result<JobOutput, JobError> + Send + 'static> JobWork for F {}
