//! Segments over time in the explorer: the movement view (where an earlier export's customers are
//! now, on a connection of its own) and the split view (the edited segment by dimensions, measured
//! with the preview; its cells saved as child segments or exported to one file).

use std::time::Instant;

use crate::library::{Status, Template, measure};
use crate::tui::action::Effect;
use crate::tui::jobs::{JobKind, JobSpec};
use crate::tui::state::*;
use crate::tui::worker::{Request, Task};

/// F10: the movement view; it measures the first time, from the latest export.
pub(super) fn toggle_movement(state: &mut AppState) -> Vec<Effect> {
    state.view = if state.view == View::Movement { View::Explore } else { View::Movement };
    if state.view == View::Movement && state.movement.result.is_none() && !state.measuring(JobKind::Movement) {
        return start_movement(state, None);
    }
    Vec::new()
}

/// Measures the movement from `manifest` (None: the latest export of this library) to now.
pub(super) fn start_movement(state: &mut AppState, manifest: Option<std::path::PathBuf>) -> Vec<Effect> {
    let manifest = manifest.or_else(|| state.movement.exports.get(state.movement.chosen).map(|e| e.manifest.clone()));
    super::start_job(state, JobSpec::Movement { manifest })
}

/// ← / →: from an earlier (older) or a later export; the list is newest first.
pub(super) fn choose_export(state: &mut AppState, earlier: bool) -> Vec<Effect> {
    let m = &mut state.movement;
    let next = if earlier { m.chosen + 1 } else { m.chosen.wrapping_sub(1) };
    match m.exports.get(next) {
        Some(e) => {
            let manifest = e.manifest.clone();
            m.chosen = next;
            start_movement(state, Some(manifest))
        }
        None => {
            let which = if earlier { "earlier" } else { "later" };
            state.status = Some((Level::Info, format!("no {which} export of this library")));
            Vec::new()
        }
    }
}

pub(super) fn movement_done(
    state: &mut AppState,
    exports: Vec<crate::export::over_time::LoggedExport>,
    chosen: usize,
    result: Result<crate::engine::movement::Movement, String>,
) {
    state.movement = MovementState { exports, chosen, result: Some(result) };
}

/// The movement job ended without an answer (cancelled, or the export log unreadable): the
/// exports listed before stay, to choose another.
pub(super) fn movement_failed(state: &mut AppState, why: String) {
    state.movement.result = Some(Err(why));
}

/// Ctrl-T: the split view, by the breakdown's dimension the first time.
pub(super) fn toggle_split(state: &mut AppState, now: Instant) {
    if state.view == View::Split {
        state.view = View::Explore;
        return;
    }
    if state.split.by.is_empty()
        && let Some(d) = state.preview.dimension_name().or(state.preview.dimensions.first().map(String::as_str))
    {
        state.split.by = vec![d.to_string()];
    }
    if state.split.by.is_empty() {
        state.status = Some((Level::Info, "no column to split by: the table has no categorical column".into()));
        return;
    }
    if state.compiled.is_none() {
        state.status = Some((Level::Info, "no valid filter to split: write one in the editor first".into()));
    }
    state.view = View::Split;
    state.preview_due = Some(now);
}

/// → / ←: the last dimension becomes the next (previous) column not already split by.
pub(super) fn cycle_dimension(state: &mut AppState, forward: bool, now: Instant) {
    let dims = &state.preview.dimensions;
    let Some(last) = state.split.by.last().cloned() else { return };
    let others = &state.split.by[..state.split.by.len() - 1];
    let at = dims.iter().position(|d| *d == last).unwrap_or(0);
    let n = dims.len();
    let next = (1..n)
        .map(|k| if forward { (at + k) % n } else { (at + n - k) % n })
        .map(|i| &dims[i])
        .find(|d| !others.contains(d));
    if let (Some(d), Some(l)) = (next.cloned(), state.split.by.last_mut()) {
        *l = d;
        changed(state, now);
    }
}

/// +: one more dimension (at most three: beyond that cells get too small to act on).
pub(super) fn add_dimension(state: &mut AppState, now: Instant) {
    if state.split.by.len() >= 3 {
        state.status = Some((Level::Info, "a split takes at most 3 columns here (seglens split takes 8)".into()));
        return;
    }
    if let Some(d) = state.preview.dimensions.iter().find(|d| !state.split.by.contains(d)).cloned() {
        state.split.by.push(d);
        changed(state, now);
    }
}

/// -: drop the last dimension (one stays).
pub(super) fn drop_dimension(state: &mut AppState, now: Instant) {
    if state.split.by.len() > 1 {
        state.split.by.pop();
        changed(state, now);
    }
}

fn changed(state: &mut AppState, now: Instant) {
    state.split.marked.clear();
    state.split.selected = 0;
    state.preview_due = Some(now);
}

/// Space: mark or unmark the selected cell.
pub(super) fn mark(state: &mut AppState) {
    let Some(m) = &state.split.measured else { return };
    let Some(cell) = m.cells.get(state.split.selected) else { return };
    let values = cell.values_in(&m.by);
    match state.split.marked.iter().position(|v| *v == values) {
        Some(i) => _ = state.split.marked.remove(i),
        None => state.split.marked.push(values),
    }
    state.split.selected = (state.split.selected + 1).min(m.cells.len().saturating_sub(1));
}

/// The saved version the split's cells descend from: the edited segment, saved and unchanged
/// (a child records its parent's version, which must be the definition on screen).
fn parent(state: &mut AppState) -> Option<Template> {
    let name = state.document.name.clone();
    let saved = name.as_ref().and_then(|n| state.library.templates.iter().find(|t| &t.name == n)).cloned();
    match saved {
        Some(t) if !state.unsaved() && t.filter.trim() == state.editor.text().trim() => Some(t),
        _ => {
            state.status = Some((
                Level::Warn,
                "save the segment first (Ctrl-S): its cells record the version they were cut from".into(),
            ));
            None
        }
    }
}

/// s: the chosen cells as segments of their own, each recording its parent and version. Saved
/// as drafts on the worker, like any save (approval stays a separate step).
pub(super) fn save_cells(state: &mut AppState) -> Vec<Effect> {
    let chosen = state.split.chosen();
    let Some(by) = state.split.measured.as_ref().map(|m| m.by.clone()) else { return Vec::new() };
    if chosen.is_empty() {
        return Vec::new();
    }
    let Some(parent) = parent(state) else { return Vec::new() };
    // Named among all the split's cells, so a cell's name does not depend on which are chosen;
    // checked against the library before any is sent, so a collision saves none.
    let cells = state.split.cells();
    let children = parent.children(&by, &cells).and_then(|all| {
        let chosen: Vec<Template> =
            cells.iter().zip(all).filter(|(values, _)| chosen.contains(values)).map(|(_, t)| t).collect();
        for child in &chosen {
            if let Some(held) = state.library.templates.iter().find(|t| t.name == child.name) {
                held.takes_cell(child)?;
            }
        }
        Ok(chosen)
    });
    let children = match children {
        Ok(c) => c,
        Err(e) => {
            state.status = Some((Level::Error, e));
            return Vec::new();
        }
    };
    let mut effects = Vec::new();
    let mut names = Vec::new();
    for mut child in children {
        child.status = Status::Draft;
        child.author = state.author.clone();
        let compiled = match measure::compile(&child, &Default::default(), &state.library.features) {
            Ok(c) => c,
            Err(e) => {
                state.status = Some((Level::Error, format!("cannot save {}: {e}", child.name)));
                return Vec::new();
            }
        };
        measure::record_features(&mut child, &compiled, &state.library.features);
        names.push(child.name.clone());
        effects.push(Effect::Send(Request::Task {
            generation: state.generation,
            task: Task::Save { template: Box::new(child), filter: compiled },
        }));
    }
    state.split.marked.clear();
    state.status = Some((Level::Info, format!("saving {} as children of {}…", names.join(", "), parent.reference())));
    effects
}

/// e: the marked cells (or every cell) of the saved segment, to one file with a cell column.
pub(super) fn export_cells(state: &mut AppState) -> Vec<Effect> {
    let Some(by) = state.split.measured.as_ref().map(|m| m.by.clone()) else { return Vec::new() };
    let Some(parent) = parent(state) else { return Vec::new() };
    let marked = state.split.marked_cells();
    let more = state.split.measured.as_ref().map_or(0, |m| m.more_cells);
    if marked.is_empty() && more > 0 {
        // "Every cell" would leave out those the view does not list.
        state.status = Some((
            Level::Warn,
            format!(
                "{} cells are not listed: mark the cells to export (Space), or split by coarser columns",
                crate::format::count(more)
            ),
        ));
        return Vec::new();
    }
    let values = if marked.is_empty() { state.split.cells() } else { marked };
    let cells = Cells { by, values };
    super::dialogs::open_export_cells(state, &parent.name, cells)
}
