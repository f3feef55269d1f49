//! The one query thread. It owns the `Engine` (and so the connection); the loop sends it
//! `Request`s and gets `Response`s back over a channel. Previews are "latest wins": on waking the
//! worker keeps only the newest, answers it in parts (size first, so the number the user watches
//! updates soonest) and checks before each part whether a newer generation exists. Tasks (save,
//! library refresh) are queued and never dropped.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::engine::query::breakdown::Breakdown;
use crate::engine::query::members::RowSet;
use crate::engine::query::overlap::{Overlap, OverlapInput};
use crate::engine::query::profile::{Profile, Unsegmentable};
use crate::engine::query::rollup::RollupStatus;
use crate::engine::query::schema::Schema;
use crate::engine::query::size::Size;
use crate::engine::{Canceller, Compiled, Engine, EngineError};
use crate::library::{Library, LibraryError, SaveOutcome, Template, measure};

/// The most cells the split view lists (largest first); it counts the rest as "(n more)".
pub const SPLIT_CELLS: usize = 1000;

/// A segment in the overlap working set.
#[derive(Debug, Clone)]
pub struct OverlapMember {
    pub name: String,
    pub filter: Compiled,
    pub suppression: bool,
}

#[derive(Debug, Clone)]
pub struct PreviewRequest {
    /// None when the editor holds no valid filter: then only the overlap is measured.
    pub filter: Option<Compiled>,
    pub dimension: Option<String>,
    pub columns: Vec<String>,
    pub rows: usize,
    /// The working set including the edited segment; None when it is empty.
    pub overlap: Option<Vec<OverlapMember>>,
    /// Measure the funnel too (the funnel view is open), right after the size.
    pub funnel: bool,
    /// Split the segment by these columns, cells under this share flagged (the split view is open);
    /// the largest `SPLIT_CELLS` cells are listed, the rest counted.
    pub split: Option<(Vec<String>, f64)>,
}

#[derive(Debug, Clone)]
pub enum Task {
    /// Measure and save the next version of a template.
    Save { template: Box<Template>, filter: Compiled },
}

#[derive(Debug, Clone)]
pub enum Request {
    Preview {
        generation: u64,
        preview: Box<PreviewRequest>,
    },
    Task {
        generation: u64,
        task: Task,
    },
    /// Current sizes of library segments, when nothing else waits; `id` comes back with them.
    MeasureLibrary {
        id: u64,
        members: Vec<OverlapMember>,
    },
    /// Stop the thread.
    Shutdown,
}

#[derive(Debug, Clone)]
pub enum Part {
    Size(Size),
    Profile(Profile),
    Unsegmentable(Unsegmentable),
    Breakdown(Breakdown),
    Rows(RowSet),
    Overlap(Overlap),
    Funnel(crate::engine::query::funnel::Funnel),
    /// The profile waits for the related tables' rollups, which another connection builds.
    ProfileWaits(RollupStatus),
    /// How far the rollup build is (a background reply), or that it is done.
    Rollups(RollupStatus),
    Split(crate::engine::query::split::Split),
    /// Every part of this generation has been answered.
    Done,
    Schema(Schema, Vec<String>),
    Saved(SaveOutcome, String),
    /// The size now of every library segment, by name, for library measurement `id`, or why it
    /// has none (not for this data, or failed).
    LibrarySizes {
        id: u64,
        sizes: BTreeMap<String, crate::library::measure::Fit>,
    },
}

/// What a response answers: a preview of some generation, a task (whatever the generation is by
/// then: a save's outcome is never dropped), or background work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Preview,
    Task,
    Background,
}

/// Why the worker could not answer.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Library(#[from] LibraryError),
}

impl WorkerError {
    /// A filter error is shown under the editor, not as a worker failure.
    pub fn filter_error(&self) -> Option<&crate::engine::FilterError> {
        match self {
            WorkerError::Engine(EngineError::Filter(fe)) => Some(fe),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub struct Response {
    pub reply: Reply,
    /// The generation of the request answered (for previews, what decides whether it is current).
    pub generation: u64,
    pub elapsed: Duration,
    pub result: Result<Part, WorkerError>,
    /// When the part's latest statement went to DuckDB: what ran when, for tests and benchmarks
    /// (an old generation's statement never begins after its cancel).
    pub began: Option<Instant>,
}

impl Response {
    pub fn preview(generation: u64, elapsed: Duration, result: Result<Part, WorkerError>) -> Response {
        Response { reply: Reply::Preview, generation, elapsed, result, began: None }
    }
}

/// The loop's side: send requests, bump generations, interrupt.
pub struct WorkerHandle {
    tx: Sender<Request>,
    latest: Arc<AtomicU64>,
    /// Set while the worker does background work (start-up statistics, library sizes), which a
    /// preview interrupts: the number the user watches comes first.
    in_background: Arc<AtomicBool>,
    /// Set while a task (a save) runs: a preview's cancel must not interrupt its measurement.
    in_task: Arc<AtomicBool>,
    /// Previews sent so far, counted before each is sent: the worker compares it with those it
    /// has received to see a preview still in the channel (`Worker::preview_waiting`).
    previews_sent: Arc<AtomicU64>,
    cancel: Canceller,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The rollup build's own connection and thread (`start_rollups`).
    rollups: Option<(Canceller, std::thread::JoinHandle<()>)>,
}

type OnResponse = Arc<dyn Fn(Response) + Send + Sync>;

/// Builds the kept rollups on a connection of their own, so the size the user watches never
/// waits behind the related tables' GROUP BY; progress and the end arrive as background replies.
/// `building` is set until it ends: the worker's profile waits for it rather than building too.
fn start_rollups(
    engine: &Engine,
    out: OnResponse,
    building: Arc<AtomicBool>,
) -> Option<(Canceller, std::thread::JoinHandle<()>)> {
    let builder = engine.try_clone().ok()?;
    let cancel = builder.canceller();
    building.store(true, Ordering::SeqCst);
    let flag = Arc::clone(&building);
    let thread = std::thread::Builder::new().name("seglens-rollups".into()).spawn(move || {
        let building = flag;
        let start = Instant::now();
        let reply = |r: Result<Part, WorkerError>| out(respond(Reply::Background, 0, start, r, None));
        let progress = |table: &str, percent: Option<f64>| {
            reply(Ok(Part::Rollups(RollupStatus::Building { table: table.to_string(), percent })))
        };
        let result = (!builder.rollups().is_empty()).then(|| builder.kept_rollups(&progress));
        building.store(false, Ordering::SeqCst);
        match result {
            Some(Ok(_)) => reply(Ok(Part::Rollups(RollupStatus::Ready))),
            // Nothing to build, or quitting: nothing to say.
            None | Some(Err(EngineError::Cancelled)) => {}
            Some(Err(e)) => reply(Err(e.into())),
        }
    });
    match thread {
        Ok(t) => Some((cancel, t)),
        Err(_) => {
            building.store(false, Ordering::SeqCst);
            None
        }
    }
}

impl WorkerHandle {
    /// Starts the worker on `engine`; responses arrive through `on_response`.
    pub fn start(
        engine: Engine,
        library: Library,
        on_response: impl Fn(Response) + Send + Sync + 'static,
    ) -> WorkerHandle {
        let out: OnResponse = Arc::new(on_response);
        let rollups_building = Arc::new(AtomicBool::new(false));
        let rollups = start_rollups(&engine, Arc::clone(&out), Arc::clone(&rollups_building));
        let (tx, rx) = std::sync::mpsc::channel();
        let latest = Arc::new(AtomicU64::new(0));
        let in_background = Arc::new(AtomicBool::new(false));
        let in_task = Arc::new(AtomicBool::new(false));
        let previews_sent = Arc::new(AtomicU64::new(0));
        let cancel = engine.canceller();
        let worker = Worker {
            engine,
            library,
            latest: latest.clone(),
            in_background: in_background.clone(),
            in_task: in_task.clone(),
            previews_sent: previews_sent.clone(),
            previews_received: 0,
            rx,
            out,
            rollups_building,
            tasks: VecDeque::new(),
            background: VecDeque::from([Background::VerifyKey, Background::Schema]),
        };
        let thread = std::thread::Builder::new().name("seglens-worker".into()).spawn(move || worker.run()).ok();
        WorkerHandle { tx, latest, in_background, in_task, previews_sent, cancel, thread, rollups }
    }

    pub fn send(&self, req: Request) {
        let preview = matches!(req, Request::Preview { .. });
        if let Request::Preview { generation, .. } | Request::Task { generation, .. } = &req {
            self.latest.fetch_max(*generation, Ordering::SeqCst);
        }
        if preview {
            // Counted before it is sent and before `in_background` is read: either the worker,
            // about to start background work, sees this count, or this side sees the flag it set
            // first and interrupts (`Worker::background_job`).
            self.previews_sent.fetch_add(1, Ordering::SeqCst);
        }
        let _ = self.tx.send(req);
        if preview && self.in_background.load(Ordering::SeqCst) {
            self.cancel.cancel();
        }
    }

    /// Supersedes whatever runs: the generation moves on first, then DuckDB is interrupted, so the
    /// worker can tell this deliberate cancel from a stray one.
    pub fn cancel(&self, new_gen: u64) {
        self.latest.fetch_max(new_gen, Ordering::SeqCst);
        // A save is never superseded; a preview queued behind it is dropped when its turn comes.
        if !self.in_task.load(Ordering::SeqCst) {
            self.cancel.cancel();
        }
    }
}

impl Drop for WorkerHandle {
    /// Stops the worker and the rollup build, and waits for them with a bound (a statement that
    /// ignored its interrupt must not hang the quit).
    fn drop(&mut self) {
        let _ = self.tx.send(Request::Shutdown);
        self.cancel.cancel();
        if let Some((cancel, _)) = &self.rollups {
            cancel.cancel();
        }
        let deadline = Instant::now() + crate::tui::jobs::QUIT_BOUND;
        if let Some(t) = self.thread.take() {
            crate::tui::jobs::join_by(t, deadline);
        }
        if let Some((_, t)) = self.rollups.take() {
            crate::tui::jobs::join_by(t, deadline);
        }
    }
}

/// Work that yields to previews and is picked up again when the worker is idle.
enum Background {
    VerifyKey,
    Schema,
    MeasureLibrary(u64, Vec<OverlapMember>),
}

struct Worker {
    engine: Engine,
    library: Library,
    latest: Arc<AtomicU64>,
    in_background: Arc<AtomicBool>,
    in_task: Arc<AtomicBool>,
    previews_sent: Arc<AtomicU64>,
    /// Previews taken from the channel so far.
    previews_received: u64,
    rx: Receiver<Request>,
    out: OnResponse,
    /// The rollup build runs on its own connection (`start_rollups`).
    rollups_building: Arc<AtomicBool>,
    tasks: VecDeque<(u64, Task)>,
    background: VecDeque<Background>,
}

impl Worker {
    fn run(mut self) {
        let mut preview: Option<(u64, Box<PreviewRequest>)> = None;
        loop {
            // Block for work when idle; otherwise just drain what is queued.
            let idle = preview.is_none() && self.tasks.is_empty() && self.background.is_empty();
            let first = if idle {
                match self.rx.recv() {
                    Ok(r) => Some(r),
                    Err(_) => return,
                }
            } else {
                match self.rx.recv_timeout(Duration::ZERO) {
                    Ok(r) => Some(r),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            };
            for req in first.into_iter().chain(self.rx.try_iter()) {
                match req {
                    Request::Preview { generation, preview: p } => {
                        self.previews_received += 1;
                        preview = Some((generation, p))
                    }
                    Request::MeasureLibrary { id, members: m } => {
                        // Only the newest library matters.
                        self.background.retain(|b| !matches!(b, Background::MeasureLibrary(..)));
                        self.background.push_back(Background::MeasureLibrary(id, m));
                    }
                    Request::Task { generation, task } => self.tasks.push_back((generation, task)),
                    Request::Shutdown => return,
                }
            }
            if let Some((generation, task)) = self.tasks.pop_front() {
                self.in_task.store(true, Ordering::SeqCst);
                self.task(generation, task);
                self.in_task.store(false, Ordering::SeqCst);
            } else if let Some((generation, p)) = preview.take() {
                self.preview(generation, &p);
            } else if let Some(job) = self.background.pop_front() {
                self.in_background.store(true, Ordering::SeqCst);
                let finished = self.background_job(&job);
                self.in_background.store(false, Ordering::SeqCst);
                if !finished {
                    self.background.push_front(job);
                }
            }
        }
    }

    /// A preview was sent that this worker has not taken from the channel yet.
    fn preview_waiting(&self) -> bool {
        self.previews_sent.load(Ordering::SeqCst) > self.previews_received
    }

    /// Runs a background job (`in_background` set); false when a preview interrupted it or
    /// waits (it runs again later).
    fn background_job(&self, job: &Background) -> bool {
        let start = Instant::now();
        self.engine.clear_cancel();
        // A preview sent after the channel was drained, but before `in_background` was set, saw
        // the flag down and did not interrupt: without this look it would wait behind the whole
        // job (a library measurement of many segments).
        if self.preview_waiting() {
            return false;
        }
        let result = self.engine.refresh_today().and_then(|_| match job {
            Background::VerifyKey => self.engine.verify_key().map(|_| None),
            Background::Schema => {
                self.engine.schema().and_then(|s| Ok(Some(Part::Schema(s, self.engine.dimensions()?))))
            }
            Background::MeasureLibrary(id, members) => {
                // From each segment's member set, which a later overlap then finds cached.
                use crate::library::measure::Fit;
                let sizes: Result<BTreeMap<String, Fit>, EngineError> = members
                    .iter()
                    .map(|m| {
                        let fit =
                            self.engine.member_count(&m.filter).map_or_else(Fit::from_error, |n| Ok(Fit::Size(n)))?;
                        Ok((m.name.clone(), fit))
                    })
                    .collect();
                sizes.map(|sizes| Some(Part::LibrarySizes { id: *id, sizes }))
            }
        });
        match result {
            Err(EngineError::Cancelled) => false,
            Ok(None) => true,
            Ok(Some(part)) => {
                (self.out)(respond(Reply::Background, 0, start, Ok(part), self.engine.last_statement_began()));
                true
            }
            Err(e) => {
                (self.out)(respond(Reply::Background, 0, start, Err(e.into()), self.engine.last_statement_began()));
                true
            }
        }
    }

    fn superseded(&self, generation: u64) -> bool {
        self.latest.load(Ordering::SeqCst) > generation
    }

    /// Runs `f`, once more if it was hit by an interrupt meant for an older generation.
    fn attempt<T>(
        &self,
        generation: u64,
        f: impl Fn(&Engine) -> Result<T, EngineError>,
    ) -> Option<Result<T, EngineError>> {
        for _ in 0..2 {
            // Clear, then look at the generation: a cancel that comes after the look is kept by
            // the engine and stops the next statement, even one DuckDB has not begun yet.
            self.engine.clear_cancel();
            if self.superseded(generation) {
                return None;
            }
            match f(&self.engine) {
                Err(EngineError::Cancelled) if !self.superseded(generation) => continue,
                Err(EngineError::Cancelled) => return None,
                other => return Some(other),
            }
        }
        Some(Err(EngineError::Cancelled))
    }

    fn preview(&self, generation: u64, p: &PreviewRequest) {
        let start = Instant::now();
        let send = |r: Result<Part, EngineError>| {
            let began = self.engine.last_statement_began();
            (self.out)(respond(Reply::Preview, generation, start, r.map_err(WorkerError::from), began))
        };
        // A session past midnight: "90 days ago" moves on with the calendar.
        match self.attempt(generation, |e| e.refresh_today()) {
            None => return,
            Some(Err(e)) => {
                send(Err(e));
                return;
            }
            Some(Ok(_)) => {}
        }
        macro_rules! part {
            ($f:expr, $wrap:expr) => {
                match self.attempt(generation, $f) {
                    None => return,
                    Some(Ok(v)) => send(Ok($wrap(v))),
                    Some(Err(e)) => {
                        send(Err(e));
                        return;
                    }
                }
            };
        }
        if let Some(f) = &p.filter {
            part!(|e| e.size(f), Part::Size);
            if p.funnel {
                part!(|e| e.funnel(f), Part::Funnel);
            }
            if let Some((by, min_share)) = &p.split {
                part!(|e| e.split_top(f, by, *min_share, Some(SPLIT_CELLS)), Part::Split);
            }
        }
        if let Some(members) = &p.overlap {
            part!(
                |e| {
                    let inputs: Vec<OverlapInput<'_>> = members
                        .iter()
                        .map(|m| OverlapInput { name: m.name.clone(), filter: &m.filter, suppression: m.suppression })
                        .collect();
                    e.overlap(&inputs)
                },
                Part::Overlap
            );
        }
        if let Some(f) = &p.filter {
            // While the rollups are built elsewhere the panel says how far; the build's end asks
            // for the preview again. (Without a builder, the profile builds them itself.)
            match self.engine.rollup_status() {
                RollupStatus::Ready => part!(|e| e.profile(f), Part::Profile),
                status if self.rollups_building.load(Ordering::SeqCst) => send(Ok(Part::ProfileWaits(status))),
                _ => part!(|e| e.profile(f), Part::Profile),
            }
            if let Some(d) = &p.dimension {
                part!(|e| e.breakdown(f, d, 12), Part::Breakdown);
            }
            part!(|e| e.unsegmentable(f), Part::Unsegmentable);
            part!(|e| e.rows(f, &p.columns, p.rows), Part::Rows);
        }
        send(Ok(Part::Done));
    }

    fn task(&self, generation: u64, task: Task) {
        let start = Instant::now();
        match task {
            Task::Save { template, filter } => {
                let result = (|| -> Result<Part, WorkerError> {
                    let mut t = *template;
                    // A cancel meant for a preview can still land in the moment the save starts:
                    // measure again (a save is never cancelled; previews wait behind it).
                    self.engine.clear_cancel();
                    let mut snapshot = measure::measure(&self.engine, &filter);
                    for _ in 0..3 {
                        if !matches!(snapshot, Err(EngineError::Cancelled)) {
                            break;
                        }
                        self.engine.clear_cancel();
                        snapshot = measure::measure(&self.engine, &filter);
                    }
                    t.snapshot = Some(snapshot?);
                    let name = t.name.clone();
                    Ok(self.library.save(t).map(|o| Part::Saved(o, name))?)
                })();
                (self.out)(respond(Reply::Task, generation, start, result, self.engine.last_statement_began()));
            }
        }
    }
}

fn respond(
    reply: Reply,
    generation: u64,
    start: Instant,
    result: Result<Part, WorkerError>,
    began: Option<Instant>,
) -> Response {
    Response { reply, generation, elapsed: start.elapsed(), result, began }
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
