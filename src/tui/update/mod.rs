//! `update`: the only place `AppState` changes. It does no I/O: what needs doing outside (queries,
//! files, quitting) comes back as `Effect`s for the loop. Time is an argument, so tests feed it.
//! "What happens on X" lives in a file named X: `edit` (the filter and its parameters), `preview`
//! (asking the worker and reading its answers), `complete` (Tab in the editor), `library` (the
//! side panel's segments and the working set), `dialogs` (save, export, history, quit), `mouse`,
//! `paste`, `reports` (hygiene, compare) and `over_time` (movement, split). Background jobs start
//! and end here too (`start_job`, `on_job_done`): the ids are handed out by the state's `JobBook`.

mod complete;
mod dialogs;
mod edit;
mod library;
mod mouse;
mod over_time;
mod paste;
mod preview;
mod reports;

pub use crate::tui::jobs::ExportPlan;
pub use edit::{features_for_document, on_edit, recompile};
pub use preview::overlap_members;

use std::time::Instant;

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use crate::engine::ParamValue;
use crate::tui::action::{Action, Effect};
use crate::tui::jobs::{JobDone, JobError, JobKind, JobOutput, JobSpec};
use crate::tui::keymap::{self, Cmd, Mode};
use crate::tui::state::*;
use complete::complete;
use dialogs::{dialog_key, export_changes, export_done, export_progress, open_export, open_save, quit};
use edit::{cycle_type, editor_input, insert_from_side, nudge, param_input, toggle_column};
use library::{
    library_search_input, move_working, on_library, open_selected, remove_working, set_status, toggle_working,
};
use mouse::on_mouse;
use preview::{on_response, on_tick};

pub fn update(state: &mut AppState, action: Action, now: Instant) -> Vec<Effect> {
    state.clock = now;
    let due_before = state.preview_due;
    let mut effects = dispatch(state, action, now);
    // An edit supersedes the running preview now, not when the idle pause ends: DuckDB notices an
    // interrupt only between pipeline tasks (17-32 ms inside an EXISTS hash join at 10M), and that
    // wait then passes during the pause instead of after it.
    if state.preview_due != due_before && state.preview_due.is_some_and(|d| d > now) {
        effects.extend(supersede(state));
    }
    effects
}

/// Moves past the preview that runs, if one does: a new generation (its answers are now old),
/// and the interrupt that stops it. The one way a preview is superseded.
pub(super) fn supersede(state: &mut AppState) -> Option<Effect> {
    if !matches!(state.worker, WorkerState::Running { .. }) {
        return None;
    }
    state.generation += 1;
    state.worker = WorkerState::Idle;
    state.preview.stale = true;
    Some(Effect::Cancel(state.generation))
}

/// Starts a background job under a new id; the job of its kind that still runs is cancelled
/// (its answer would be dropped anyway: F5 twice, or the export dialog's counts re-asked).
pub(super) fn start_job(state: &mut AppState, spec: JobSpec) -> Vec<Effect> {
    let (id, superseded) = state.jobs.start(spec.kind());
    superseded.map(Effect::CancelJob).into_iter().chain([Effect::Start { id, spec }]).collect()
}

/// A job ended: shown if it is the latest of its kind, dropped if a newer one superseded it.
fn on_job_done(state: &mut AppState, done: JobDone) {
    if !state.jobs.finish(&done) {
        return;
    }
    let why = |e: JobError| e.to_string();
    match (done.kind, done.result) {
        (_, Ok(JobOutput::Exported(files))) => export_done(state, Ok(files)),
        (JobKind::Export, Err(JobError::Cancelled)) => {
            export_done(state, Err("export cancelled; nothing was written".into()))
        }
        (JobKind::Export, Err(e)) => export_done(state, Err(why(e))),
        (_, Ok(JobOutput::Changes(lines))) => export_changes(state, Ok(lines)),
        (JobKind::ExportChanges, Err(e)) => export_changes(state, Err(why(e))),
        (JobKind::Report(which), result) => reports::report_done(
            state,
            which,
            result.map_err(why).and_then(|o| match o {
                JobOutput::Report(text) => Ok(text),
                other => Err(format!("unexpected answer {other:?}")),
            }),
        ),
        (_, Ok(JobOutput::Report(_))) => {}
        (_, Ok(JobOutput::Movement { exports, chosen, movement })) => {
            over_time::movement_done(state, exports, chosen, movement)
        }
        (JobKind::Movement, Err(e)) => over_time::movement_failed(state, why(e)),
    }
}

pub(super) fn dispatch(state: &mut AppState, action: Action, now: Instant) -> Vec<Effect> {
    match action {
        Action::Key(key) => on_key(state, key, now),
        Action::Paste(text) => paste::on_paste(state, &text, now),
        Action::Mouse(m) => on_mouse(state, m),
        Action::Resize(w, h) => {
            state.size = (w, h);
            Vec::new()
        }
        Action::Tick(now) => on_tick(state, now),
        Action::Worker(resp) => on_response(state, resp, now),
        Action::ExportProgress(id, p) => {
            if state.jobs.running(JobKind::Export) == Some(id) {
                export_progress(state, p);
            }
            Vec::new()
        }
        Action::Job(done) => {
            on_job_done(state, done);
            Vec::new()
        }
        Action::Notice(level, msg) => {
            state.status = Some((level, msg));
            Vec::new()
        }
        Action::LibraryLoaded(snap) => on_library(state, snap, now),
        Action::Themed(loaded) => {
            state.status = Some(match loaded {
                Ok(name) => {
                    state.theme = name.clone();
                    (Level::Info, format!("theme {name}"))
                }
                Err(e) => (Level::Error, e),
            });
            Vec::new()
        }
        Action::Signal => {
            state.quit = true;
            vec![Effect::Quit]
        }
    }
}

pub(super) fn on_key(state: &mut AppState, key: KeyEvent, now: Instant) -> Vec<Effect> {
    let m = state.mode();
    let cmd = keymap::lookup(m, &key);
    match m {
        Mode::Help => help_key(state, cmd),
        Mode::Search => library_search_input(state, cmd, &key),
        Mode::ParamInput => return param_input(state, cmd, &key, now),
        m if m.is_modal() => return dialog_key(state, cmd, key, now),
        _ => {
            if key.code != KeyCode::Tab {
                state.editor.completion = None;
            }
            match cmd {
                Some(cmd) => return command(state, cmd, now),
                None if m == Mode::Editor => editor_input(state, key, now),
                None => {}
            }
        }
    }
    Vec::new()
}

/// The help overlay: close, or scroll no further than its last page.
fn help_key(state: &mut AppState, cmd: Option<Cmd>) {
    let max = crate::tui::ui::help_max_scroll(state.size.0, state.size.1);
    let scroll = &mut state.help_scroll;
    match cmd {
        Some(Cmd::Close) => state.help = false,
        Some(Cmd::Up) => *scroll = scroll.saturating_sub(1),
        Some(Cmd::Down) => *scroll = scroll.saturating_add(1).min(max),
        Some(Cmd::PageUp) => *scroll = scroll.saturating_sub(10),
        Some(Cmd::PageDown) => *scroll = scroll.saturating_add(10).min(max),
        _ => {}
    }
}

pub(super) fn command(state: &mut AppState, cmd: Cmd, now: Instant) -> Vec<Effect> {
    let m = state.mode();
    match cmd {
        Cmd::Quit => return quit(state),
        Cmd::Help => {
            state.help = true;
            state.help_scroll = 0;
        }
        Cmd::Cancel => return cancel(state),
        Cmd::FocusNext => {
            if state.view != View::Explore {
                state.view = View::Explore;
            }
            let i = Focus::ORDER.iter().position(|f| *f == state.focus).unwrap_or(0);
            state.focus = Focus::ORDER[(i + 1) % Focus::ORDER.len()];
        }
        Cmd::FocusPrev => {
            let i = Focus::ORDER.iter().position(|f| *f == state.focus).unwrap_or(0);
            state.focus = Focus::ORDER[(i + Focus::ORDER.len() - 1) % Focus::ORDER.len()];
        }
        Cmd::Save => open_save(state),
        Cmd::Export => return open_export(state),
        Cmd::New => state.dialog = Some(Dialog::Name { purpose: NamePurpose::New, input: String::new(), error: None }),
        Cmd::Duplicate => {
            // In the library, duplicate the selected segment: open it, then name the copy.
            if m == Mode::Library && state.library.selected_template().is_some() {
                open_selected(state, now);
                if state.unsaved() {
                    return Vec::new();
                }
            }
            state.dialog = Some(Dialog::Name { purpose: NamePurpose::Duplicate, input: String::new(), error: None });
        }
        Cmd::CycleDimension => {
            if !state.preview.dimensions.is_empty() {
                state.preview.dimension = (state.preview.dimension + 1) % state.preview.dimensions.len();
                state.preview_due = Some(now);
            }
        }
        Cmd::ToggleOverlap => {
            state.view = if state.view == View::Overlap { View::Explore } else { View::Overlap };
            if state.view == View::Overlap && state.library.working.is_empty() {
                state.status =
                    Some((Level::Info, "the working set is empty: add segments with Space in the library (F4)".into()));
            }
            state.preview_due = Some(now);
        }
        Cmd::ToggleFunnel => {
            // Without a valid filter the funnel panel says so itself: a status line would stay
            // after the filter is fixed.
            state.view = if state.view == View::Funnel { View::Explore } else { View::Funnel };
            state.preview_due = Some(now);
        }
        Cmd::ToggleClause => state.funnel.toggle(),
        Cmd::ToggleHygiene => return reports::toggle_hygiene(state),
        Cmd::ToggleCompare => return reports::toggle_compare(state),
        Cmd::Refresh if m == Mode::Hygiene => return reports::start_hygiene(state),
        Cmd::Refresh if m == Mode::Compare => return reports::start_compare(state),
        Cmd::ToggleMovement => return over_time::toggle_movement(state),
        Cmd::Refresh if m == Mode::Movement => return over_time::start_movement(state, None),
        Cmd::Earlier | Cmd::Later => return over_time::choose_export(state, cmd == Cmd::Earlier),
        Cmd::ToggleSplit => over_time::toggle_split(state, now),
        Cmd::NextDimension | Cmd::PrevDimension => over_time::cycle_dimension(state, cmd == Cmd::NextDimension, now),
        Cmd::AddDimension => over_time::add_dimension(state, now),
        Cmd::DropDimension => over_time::drop_dimension(state, now),
        Cmd::Mark => over_time::mark(state),
        Cmd::SaveCells => return over_time::save_cells(state),
        Cmd::ExportCells => return over_time::export_cells(state),
        Cmd::CycleSide => {
            state.focus = Focus::Side;
            state.side = match state.side {
                SideTab::Library => SideTab::Schema,
                SideTab::Schema => SideTab::Features,
                SideTab::Features => SideTab::Library,
            };
        }
        Cmd::CycleTheme => return vec![Effect::CycleTheme],
        Cmd::Refresh => state.preview_due = Some(now),
        Cmd::Complete => complete(state, now),
        Cmd::Up | Cmd::Down | Cmd::PageUp | Cmd::PageDown => {
            let delta: i64 = match cmd {
                Cmd::Up => -1,
                Cmd::Down => 1,
                Cmd::PageUp => -10,
                _ => 10,
            };
            move_selection(state, m, delta);
        }
        Cmd::Inc | Cmd::Dec | Cmd::IncBig | Cmd::DecBig => {
            let steps = match cmd {
                Cmd::Inc => 1,
                Cmd::Dec => -1,
                Cmd::IncBig => 10,
                _ => -10,
            };
            nudge(state, steps, now);
        }
        Cmd::Edit => {
            if let Some(p) = state.params.items.get(state.params.selected) {
                state.params.input = Some(p.value.as_ref().map(ParamValue::to_input).unwrap_or_default());
                state.params.error = None;
            }
        }
        Cmd::CycleType => cycle_type(state, now),
        Cmd::Open => open_selected(state, now),
        Cmd::ToggleWorking => toggle_working(state, now),
        Cmd::Search => {
            state.library.typing = true;
            state.library.query.clear();
            state.library.selected = 0;
        }
        Cmd::Approve | Cmd::Retire => return set_status(state, cmd == Cmd::Approve),
        Cmd::History => {
            if let Some(t) = state.library.selected_template() {
                return vec![Effect::ReloadLibrary { history: Some(t.name.clone()) }];
            }
        }
        Cmd::MoveUp | Cmd::MoveDown => move_working(state, m, cmd == Cmd::MoveUp, now),
        Cmd::Remove => remove_working(state, now),
        Cmd::Insert | Cmd::InsertValue => insert_from_side(state, cmd == Cmd::InsertValue, now),
        Cmd::ToggleColumn => toggle_column(state, now),
        Cmd::ToggleJaccard => state.overlap.jaccard = !state.overlap.jaccard,
        // Dialog and input commands: their modes are handled before the panels.
        Cmd::Close
        | Cmd::Submit
        | Cmd::SubmitNow
        | Cmd::NextField
        | Cmd::PrevField
        | Cmd::ToggleExclusive
        | Cmd::ToggleSuppress
        | Cmd::SaveFirst
        | Cmd::Diff => {}
    }
    Vec::new()
}

/// Esc: supersede whatever runs with a generation that asks for nothing.
pub(super) fn cancel(state: &mut AppState) -> Vec<Effect> {
    state.preview_due = None;
    if let Some(effect) = supersede(state) {
        state.status = Some((Level::Info, "cancelled".into()));
        return vec![effect];
    }
    if state.view != View::Explore {
        state.view = View::Explore;
    }
    Vec::new()
}

pub(super) fn move_selection(state: &mut AppState, m: Mode, delta: i64) {
    let step = |sel: usize, len: usize| -> usize {
        if len == 0 { 0 } else { (sel as i64 + delta).clamp(0, len as i64 - 1) as usize }
    };
    match m {
        Mode::Params => state.params.selected = step(state.params.selected, state.params.items.len()),
        Mode::Library => state.library.selected = step(state.library.selected, state.library.visible().len()),
        Mode::Features => {
            state.library.feature_selected = step(state.library.feature_selected, state.library.features.len())
        }
        Mode::Schema => state.schema.selected = step(state.schema.selected, state.dataset.columns.len()),
        Mode::Members => {
            let n = state.preview.rows.as_ref().map_or(0, |r| r.rows.len());
            state.preview.members_offset = step(state.preview.members_offset, n);
        }
        Mode::Overlap => {
            let n = state.overlap.result.as_ref().map_or(0, |o| o.segments.len());
            state.overlap.selected = step(state.overlap.selected, n);
        }
        Mode::Funnel => {
            let n = state.funnel.measured.as_ref().map_or(0, |f| f.clauses.len());
            state.funnel.selected = step(state.funnel.selected, n);
        }
        Mode::Hygiene | Mode::Compare => reports::scroll(state, delta),
        Mode::Split => {
            let n = state.split.measured.as_ref().map_or(0, |s| s.cells.len());
            state.split.selected = step(state.split.selected, n);
        }
        _ => {}
    }
}
