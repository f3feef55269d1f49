//! A session with the real worker, driven as the terminal loop drives it; the RSS probe.

use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::measure::templates;
use super::server::peak_kb;
use super::{BACKGROUND_TIMEOUT, EXISTS_30, FEATURE, NUDGE, PLAIN, SEGMENTS, STARTER_FEATURES, WORKER_TIMEOUT};
use seglens::engine::query::rollup::RollupStatus;
use seglens::engine::{Engine, FeatureSet, OpenOptions};
use seglens::library::Library;
use seglens::library::template::Template;
use seglens::tui::action::{Action, Effect, LibrarySnapshot};
use seglens::tui::state::{AppState, WorkerState};
use seglens::tui::theme::Theme;
use seglens::tui::worker::{Part, Reply, Response, WorkerHandle};
use seglens::tui::{self, update};

/// AppState + the real worker thread, with keys, ticks and responses fed through `update` exactly
/// as `tui::Runtime` does, but with the clock read at each step.
pub(super) struct Session {
    pub(super) state: AppState,
    pub(super) worker: WorkerHandle,
    pub(super) rx: Receiver<Response>,
    pub(super) library_dir: tempfile::TempDir,
    /// The worker's own time for the latest size of the current generation.
    pub(super) size_elapsed: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seen {
    Size,
    Profile,
    Done,
    Other,
}

pub(super) struct Superseded {
    /// The edit's first key → the new size in state.
    pub(super) number: Duration,
    /// The edit's first key → the worker starting the new query (the new size's own time, the
    /// worker's `Response::elapsed`, subtracted): the old statement stopping, without the pause.
    pub(super) waited: Duration,
    /// The slowest key of the edit (handled while the old statement runs).
    pub(super) worst_key: Duration,
    /// The edit's first key → its last key handled (all typed at once, as a fast typist never does).
    pub(super) typed: Duration,
    /// How many keys the edit took.
    pub(super) keys: usize,
}

pub(super) struct PreviewTimes {
    pub(super) debounce: Duration,
    pub(super) number: Duration,
    pub(super) profile: Duration,
    pub(super) full: Duration,
}

impl Session {
    pub(super) fn start(path: &Path, features: &FeatureSet) -> Result<Session> {
        Session::start_with(path, &super::sample_options(), features, templates())
    }

    /// A session on `path` opened with `opts`, its library holding `templates`.
    pub(super) fn start_with(
        path: &Path,
        opts: &OpenOptions,
        features: &FeatureSet,
        templates: Vec<Template>,
    ) -> Result<Session> {
        let engine = Engine::open(path, opts)?;
        let theme = Theme::default_theme();
        let state = tui::initial_state(&engine, "bench".into(), &theme);
        let dir = tempfile::tempdir()?;
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = WorkerHandle::start(engine, Library::open(dir.path()), move |r| {
            let _ = tx.send(r);
        });
        let mut s = Session { state, worker, rx, library_dir: dir, size_elapsed: Duration::ZERO };
        s.apply(Action::Resize(200, 60));
        let snapshot = LibrarySnapshot {
            dir: s.library_dir.path().display().to_string(),
            templates,
            features: features.clone(),
            ..LibrarySnapshot::default()
        };
        s.apply(Action::LibraryLoaded(snapshot));
        // The worker starts with the schema (the breakdown dimensions come with it).
        let deadline = Instant::now() + BACKGROUND_TIMEOUT;
        while s.state.schema.schema.is_none() {
            s.recv(deadline)?;
        }
        Ok(s)
    }

    /// Waits until the worker's rollup build has ended (its failure is an error).
    pub(super) fn wait_for_rollups(&mut self) -> Result<()> {
        let deadline = Instant::now() + BACKGROUND_TIMEOUT;
        while self.state.preview.rollups != Some(RollupStatus::Ready) {
            self.recv(deadline)?;
        }
        Ok(())
    }

    pub(super) fn apply(&mut self, a: Action) {
        for e in update::update(&mut self.state, a, Instant::now()) {
            match e {
                Effect::Send(r) => self.worker.send(r),
                Effect::Cancel(g) => self.worker.cancel(g),
                _ => {}
            }
        }
    }

    pub(super) fn key(&mut self, code: KeyCode) {
        self.apply(Action::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }

    /// The keys that replace the editor's text with `text` (the cursor is at the end).
    pub(super) fn retype_keys(&self, text: &str) -> Vec<KeyCode> {
        let n = self.state.editor.text().chars().count();
        std::iter::repeat_n(KeyCode::Backspace, n).chain(text.chars().map(KeyCode::Char)).collect()
    }

    pub(super) fn handle(&mut self, resp: Response) -> Result<Seen> {
        let current = resp.generation == self.state.generation;
        let seen = match &resp.result {
            Ok(Part::Size(_)) => {
                if current {
                    self.size_elapsed = resp.elapsed;
                }
                Seen::Size
            }
            Ok(Part::Profile(_)) => Seen::Profile,
            Ok(Part::Done) => Seen::Done,
            Ok(_) => Seen::Other,
            Err(e) if current || resp.reply != Reply::Preview => bail!("the worker failed: {e}"),
            Err(_) => Seen::Other,
        };
        self.apply(Action::Worker(resp));
        Ok(if current { seen } else { Seen::Other })
    }

    pub(super) fn recv(&mut self, deadline: Instant) -> Result<Seen> {
        match self.rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(resp) => self.handle(resp),
            Err(RecvTimeoutError::Timeout) => bail!("the worker gave no answer before its deadline"),
            Err(RecvTimeoutError::Disconnected) => bail!("the worker stopped"),
        }
    }

    /// Waits (handling responses) until the preview is due, then ticks; returns the tick's time.
    pub(super) fn tick_when_due(&mut self) -> Result<Instant> {
        let deadline = Instant::now() + WORKER_TIMEOUT;
        loop {
            let Some(due) = self.state.preview_due else {
                bail!(
                    "no preview is due: {}",
                    self.state.editor.error.as_ref().map_or("the filter did not compile".into(), |e| e.to_string())
                );
            };
            let now = Instant::now();
            if now >= due {
                self.apply(Action::Tick(now));
                return Ok(now);
            }
            match self.rx.recv_timeout(due - now) {
                Ok(resp) => {
                    self.handle(resp)?;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => bail!("the worker stopped"),
            }
            if Instant::now() > deadline {
                bail!("the preview never became due");
            }
        }
    }

    pub(super) fn wait_for(&mut self, what: Seen) -> Result<Instant> {
        let deadline = Instant::now() + WORKER_TIMEOUT;
        while self.recv(deadline)? != what {}
        Ok(Instant::now())
    }

    /// Types `text` as the filter and times the preview, from the tick that sends it.
    pub(super) fn preview(&mut self, text: &str) -> Result<PreviewTimes> {
        for k in self.retype_keys(text) {
            self.key(k);
        }
        let last_key = Instant::now();
        let t0 = self.tick_when_due()?;
        let number = self.wait_for(Seen::Size)? - t0;
        if self.state.preview.size.is_none() {
            bail!("the size is not in state after its response");
        }
        let profile = self.wait_for(Seen::Profile)? - t0;
        let full = self.wait_for(Seen::Done)? - t0;
        if self.state.worker != WorkerState::Idle {
            bail!("the worker is not idle after the whole preview: {:?}", self.state.worker);
        }
        Ok(PreviewTimes { debounce: t0 - last_key, number, profile, full })
    }

    /// Previews `expensive` and waits for its size: the worker has then gone on to the profile,
    /// whose statement evaluates the same filter (for an EXISTS, the same semi join over the
    /// events). `into` after that answer, with nothing more of the preview answered (so the
    /// profile's statement is still running), the edit to `cheap` is typed, and the time runs
    /// from its first key (which cancels the old preview) to the new size in state: what the user
    /// waits, the idle pause included. With `pause` false a tick at the due time follows the keys
    /// at once (the idle pause skipped): what is left is the interrupt and the new query. None
    /// when the profile answered before the edit (that attempt does not count).
    pub(super) fn superseded(
        &mut self,
        expensive: &str,
        cheap: &str,
        into: Duration,
        pause: bool,
    ) -> Result<Option<Superseded>> {
        for k in self.retype_keys(expensive) {
            self.key(k);
        }
        self.tick_when_due()?;
        self.wait_for(Seen::Size)?;
        std::thread::sleep(into);
        let old = self.state.generation;
        let mut ended = false;
        while let Ok(resp) = self.rx.try_recv() {
            ended |= resp.generation == old && resp.reply == Reply::Preview;
            self.handle(resp)?;
        }
        if ended {
            if self.state.worker != WorkerState::Idle {
                self.wait_for(Seen::Done)?;
            }
            return Ok(None);
        }
        let keys = self.retype_keys(cheap);
        let first_key = Instant::now();
        let mut worst = Duration::ZERO;
        for &k in &keys {
            let start = Instant::now();
            self.key(k);
            worst = worst.max(start.elapsed());
        }
        let typed = first_key.elapsed();
        if self.state.generation == old {
            bail!("the edit did not supersede the running preview");
        }
        if pause {
            self.tick_when_due()?;
        } else {
            let due = self.state.preview_due.ok_or_else(|| anyhow!("the edit made no preview due"))?;
            self.apply(Action::Tick(due));
        }
        let number = self.wait_for(Seen::Size)? - first_key;
        let waited = number.saturating_sub(self.size_elapsed);
        self.wait_for(Seen::Done)?;
        Ok(Some(Superseded { number, waited, worst_key: worst, typed, keys: keys.len() }))
    }
}

/// The child process of measurement 7: a session on `db` (previews with the 16-segment overlap,
/// an EXISTS filter, the clause cache), then the peak resident set size in kB.
pub(super) fn rss_probe(db: &Path) -> Result<u64> {
    let features = FeatureSet::from_toml(STARTER_FEATURES)?;
    let mut s = Session::start(db, &features)?;
    s.state.library.working = SEGMENTS.iter().map(|(n, _)| n.to_string()).collect();
    s.preview(PLAIN)?;
    s.preview(FEATURE)?;
    // A Parquet file of the customers alone has no events table to look into.
    if db.extension().is_none_or(|e| e != "parquet") {
        s.preview(EXISTS_30)?;
        s.preview(&NUDGE.replace("{{n}}", "50"))?;
        s.preview(&NUDGE.replace("{{n}}", "51"))?;
    }
    peak_kb()
}
