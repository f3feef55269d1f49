//! The one query thread. It owns the `Engine` (and so the connection); the loop sends it
//! `Request`s and gets `Response`s back over a channel. Previews are "latest wins": on waking the
//! worker keeps only the newest, answers it in parts (size first, so the number the user watches
//! updates soonest) and checks before each part whether a newer generation exists. Tasks (save,
//! library refresh) are queued and never dropped.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::engine::breakdown::Breakdown;
use crate::engine::members::RowSet;
use crate::engine::overlap::{Overlap, OverlapInput};
use crate::engine::profile::{Profile, Unsegmentable};
use crate::engine::schema::Schema;
use crate::engine::size::Size;
use crate::engine::{Canceller, Compiled, Engine, EngineError};
use crate::library::{Library, SaveOutcome, Template, measure};

/// A segment in the overlap working set.
#[derive(Debug, Clone)]
pub struct OverlapMember {
    pub name: String,
    pub filter: Compiled,
    pub suppression: bool,
}

#[derive(Debug, Clone)]
pub struct PreviewRequest {
    pub filter: Compiled,
    pub dimension: Option<String>,
    pub columns: Vec<String>,
    pub rows: usize,
    /// The working set including the edited segment; None when the overlap view is not shown.
    pub overlap: Option<Vec<OverlapMember>>,
}

#[derive(Debug, Clone)]
pub enum Task {
    /// Measure and save the next version of a template.
    Save { template: Box<Template>, filter: Compiled },
    /// Current sizes of library segments, in one overlap scan.
    MeasureLibrary(Vec<OverlapMember>),
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
    /// Every part of this generation has been answered.
    Done,
    Schema(Schema, Vec<String>),
    Saved(SaveOutcome, String),
    LibrarySizes(Overlap),
}

#[derive(Debug)]
pub struct Response {
    pub generation: u64,
    pub elapsed: Duration,
    pub result: Result<Part, String>,
    /// Set when the failure was a filter error (shown under the editor, not as a worker failure).
    pub filter_error: Option<crate::engine::FilterError>,
}

/// The loop's side: send requests, bump generations, interrupt.
pub struct WorkerHandle {
    tx: Sender<Request>,
    latest: Arc<AtomicU64>,
    cancel: Canceller,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WorkerHandle {
    /// Starts the worker on `engine`; responses arrive through `on_response`.
    pub fn start(engine: Engine, library: Library, on_response: impl Fn(Response) + Send + 'static) -> WorkerHandle {
        let (tx, rx) = std::sync::mpsc::channel();
        let latest = Arc::new(AtomicU64::new(0));
        let cancel = engine.canceller();
        let l = latest.clone();
        let thread = std::thread::Builder::new()
            .name("seglens-worker".into())
            .spawn(move || {
                Worker { engine, library, latest: l, rx, out: Box::new(on_response), tasks: VecDeque::new() }.run()
            })
            .ok();
        WorkerHandle { tx, latest, cancel, thread }
    }

    pub fn send(&self, req: Request) {
        if let Request::Preview { generation, .. } | Request::Task { generation, .. } = &req {
            self.latest.fetch_max(*generation, Ordering::SeqCst);
        }
        let _ = self.tx.send(req);
    }

    /// Supersedes whatever runs: the generation moves on first, then DuckDB is interrupted, so the
    /// worker can tell this deliberate cancel from a stray one.
    pub fn cancel(&self, new_gen: u64) {
        self.latest.fetch_max(new_gen, Ordering::SeqCst);
        self.cancel.cancel();
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        let _ = self.tx.send(Request::Shutdown);
        self.cancel.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    engine: Engine,
    library: Library,
    latest: Arc<AtomicU64>,
    rx: Receiver<Request>,
    out: Box<dyn Fn(Response) + Send>,
    tasks: VecDeque<(u64, Task)>,
}

impl Worker {
    fn run(mut self) {
        // The schema (for the browser, completion and breakdown dimensions) first, at low cost.
        let start = Instant::now();
        if let Err(e) = self.engine.verify_key() {
            (self.out)(respond(0, start, Err(e)));
        }
        let schema = self.engine.schema().and_then(|s| Ok((s, self.engine.dimensions()?)));
        (self.out)(respond(0, start, schema.map(|(s, d)| Part::Schema(s, d))));
        let mut preview: Option<(u64, Box<PreviewRequest>)> = None;
        loop {
            // Block for work when idle; otherwise just drain what is queued.
            let first = if preview.is_none() && self.tasks.is_empty() {
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
                    Request::Preview { generation, preview: p } => preview = Some((generation, p)),
                    Request::Task { generation, task } => self.tasks.push_back((generation, task)),
                    Request::Shutdown => return,
                }
            }
            if let Some((generation, task)) = self.tasks.pop_front() {
                self.task(generation, task);
                continue;
            }
            if let Some((generation, p)) = preview.take() {
                self.preview(generation, &p);
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
        let send = |r: Result<Part, EngineError>| (self.out)(respond(generation, start, r));
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
        part!(|e| e.size(&p.filter), Part::Size);
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
        part!(|e| e.profile(&p.filter), Part::Profile);
        if let Some(d) = &p.dimension {
            part!(|e| e.breakdown(&p.filter, d, 12), Part::Breakdown);
        }
        part!(|e| e.unsegmentable(&p.filter), Part::Unsegmentable);
        part!(|e| e.rows(&p.filter, &p.columns, p.rows), Part::Rows);
        send(Ok(Part::Done));
    }

    fn task(&self, generation: u64, task: Task) {
        let start = Instant::now();
        match task {
            Task::Save { template, filter } => {
                let result = (|| {
                    let mut t = *template;
                    t.snapshot = Some(measure::measure(&self.engine, &filter)?);
                    let name = t.name.clone();
                    self.library.save(t).map(|o| Part::Saved(o, name)).map_err(|e| EngineError::Config(e.to_string()))
                })();
                (self.out)(respond(generation, start, result));
            }
            Task::MeasureLibrary(members) => {
                let inputs: Vec<OverlapInput<'_>> = members
                    .iter()
                    .map(|m| OverlapInput { name: m.name.clone(), filter: &m.filter, suppression: false })
                    .collect();
                let result = self.engine.overlap(&inputs).map(Part::LibrarySizes);
                (self.out)(respond(generation, start, result));
            }
        }
    }
}

fn respond(generation: u64, start: Instant, r: Result<Part, EngineError>) -> Response {
    let elapsed = start.elapsed();
    match r {
        Ok(p) => Response { generation, elapsed, result: Ok(p), filter_error: None },
        Err(EngineError::Filter(fe)) => {
            Response { generation, elapsed, result: Err(fe.to_string()), filter_error: Some(fe) }
        }
        Err(e) => Response { generation, elapsed, result: Err(e.to_string()), filter_error: None },
    }
}
