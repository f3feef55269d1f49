//! Asking the worker for previews when they are due, and reading its answers by generation.

use std::collections::BTreeMap;
use std::time::Instant;

use super::dialogs::saved;
use crate::engine::query::rollup::RollupStatus;
use crate::library::measure::{self, Fit};
use crate::tui::action::Effect;
use crate::tui::state::*;
use crate::tui::worker::{OverlapMember, Part, PreviewRequest, Reply, Request, Response};

pub(super) fn on_tick(state: &mut AppState, now: Instant) -> Vec<Effect> {
    match state.preview_due {
        Some(due) if due <= now => {
            state.preview_due = None;
            request_preview(state, now)
        }
        _ => Vec::new(),
    }
}

/// The working set as overlap members: saved definitions, but the edited one as it is now.
pub fn overlap_members(state: &AppState) -> Vec<OverlapMember> {
    let mut out = Vec::new();
    let editing = state.document.name.clone();
    let mut included_current = false;
    for name in &state.library.working {
        if Some(name) == editing.as_ref()
            && let Some(c) = &state.compiled
        {
            let suppression =
                state.document.origin.as_ref().is_some_and(|t| t.kind == crate::library::Kind::Suppression);
            out.push(OverlapMember { name: name.clone(), filter: c.clone(), suppression });
            included_current = true;
            continue;
        }
        if let Some(t) = state.library.templates.iter().find(|t| &t.name == name)
            && let Ok(c) = measure::compile(t, &Default::default(), &state.library.features)
        {
            out.push(OverlapMember {
                name: name.clone(),
                filter: c,
                suppression: t.kind == crate::library::Kind::Suppression,
            });
        }
    }
    if !included_current
        && !out.is_empty()
        && let Some(c) = &state.compiled
    {
        let name = editing.map_or("(editing)".to_string(), |n| format!("{n} (editing)"));
        out.insert(0, OverlapMember { name, filter: c.clone(), suppression: false });
    }
    out.truncate(crate::engine::query::overlap::MAX_SEGMENTS);
    out
}

pub(super) fn request_preview(state: &mut AppState, now: Instant) -> Vec<Effect> {
    let working = overlap_members(state);
    // The new generation supersedes whatever still runs, even with nothing new to measure.
    let superseded = super::supersede(state);
    if superseded.is_none() {
        state.generation += 1;
    }
    let mut effects: Vec<Effect> = superseded.into_iter().collect();
    if working.is_empty() {
        state.overlap.result = None;
        if state.compiled.is_none() {
            return effects;
        }
    }
    let preview = PreviewRequest {
        filter: state.compiled.clone(),
        dimension: state.preview.dimension_name().map(str::to_string),
        columns: state.shown_columns(),
        rows: state.member_rows,
        overlap: (!working.is_empty()).then_some(working),
        funnel: state.view == View::Funnel,
        split: (state.view == View::Split && !state.split.by.is_empty())
            .then(|| (state.split.by.clone(), state.small_share)),
    };
    state.worker = WorkerState::Running { generation: state.generation, since: now };
    state.preview.stale = true;
    effects.push(Effect::Send(Request::Preview { generation: state.generation, preview: Box::new(preview) }));
    effects
}

pub(super) fn on_response(state: &mut AppState, resp: Response, now: Instant) -> Vec<Effect> {
    // Schema, saves, rollups and library sizes are not previews: they are never stale.
    match &resp.result {
        Ok(Part::Schema(schema, dims)) => on_schema(state, schema, dims, now),
        Ok(Part::Saved(..)) => return saved(state, resp),
        Ok(Part::Rollups(status)) => {
            // The profile waited for them: measure it now.
            if *status == RollupStatus::Ready && state.preview.waits_for_rollups() && state.compiled.is_some() {
                state.preview_due = Some(now);
            }
            state.preview.rollups = Some(status.clone());
        }
        // An older measurement's answer is dropped: a newer one is on its way.
        Ok(Part::LibrarySizes { id, sizes }) if *id == state.library.measure_id => on_library_sizes(state, sizes),
        Ok(Part::LibrarySizes { .. }) => {}
        _ => match (resp.reply, &resp.result) {
            // A save that failed says so, however far the generation has moved since.
            (Reply::Task, Err(e)) => state.status = Some((Level::Error, format!("could not save: {e}"))),
            // Background work (key uniqueness, schema) is not a preview.
            (Reply::Background, Err(e)) => state.status = Some((Level::Error, e.to_string())),
            (Reply::Task | Reply::Background, Ok(_)) => {}
            (Reply::Preview, _) if resp.generation == state.generation => on_preview_part(state, resp, now),
            (Reply::Preview, _) => {}
        },
    }
    Vec::new()
}

/// The schema and the breakdown's dimensions: region or language first when the data has them.
fn on_schema(state: &mut AppState, schema: &crate::engine::query::schema::Schema, dims: &[String], now: Instant) {
    state.schema.schema = Some(schema.clone());
    let current = state.preview.dimension_name().map(str::to_string);
    state.preview.dimensions = dims.to_vec();
    let preferred =
        current.or_else(|| ["region", "language"].iter().find(|d| dims.iter().any(|x| x == *d)).map(|d| d.to_string()));
    state.preview.dimension = preferred.and_then(|p| dims.iter().position(|d| *d == p)).unwrap_or(0);
    if state.compiled.is_some() {
        state.preview_due = Some(now);
    }
}

/// The library's sizes now; a segment written for other data is "not for this data", not a failure.
fn on_library_sizes(state: &mut AppState, sizes: &BTreeMap<String, Fit>) {
    state.library.measuring = false;
    // Missing columns mean "not for this data" only for templates written elsewhere.
    let sizes: BTreeMap<String, Fit> = sizes
        .iter()
        .map(|(n, f)| {
            let t = state.library.templates.iter().find(|t| &t.name == n);
            let fit = match (t, &state.dataset.fingerprint) {
                (Some(t), Some(data)) => f.clone().for_template(t, data),
                _ => f.clone(),
            };
            (n.clone(), fit)
        })
        .collect();
    state.library.set_fits(&sizes);
    let failed: Vec<String> = sizes
        .iter()
        .filter(|(_, f)| matches!(f, Fit::Failed(_)))
        .map(|(n, f)| format!("{n}: {}", f.describe()))
        .collect();
    if let Some(first) = failed.first() {
        state.status = Some((Level::Error, format!("measuring the library: {first}")));
    }
}

/// A part of the current generation's preview.
fn on_preview_part(state: &mut AppState, resp: Response, now: Instant) {
    let ms = resp.elapsed.as_millis();
    match resp.result {
        Ok(part) => match part {
            Part::Size(s) => {
                state.preview.size = Some(s);
                state.preview.size_ms = Some(ms);
                state.preview.stale = false;
                state.editor.error = None;
            }
            Part::Profile(p) => state.preview.profile = Some(p),
            Part::ProfileWaits(status) => {
                state.preview.profile = None;
                // The build ended after the worker looked: measure again rather than wait.
                if state.preview.rollups == Some(RollupStatus::Ready) {
                    state.preview_due = Some(now);
                } else {
                    state.preview.rollups = Some(status);
                }
            }
            Part::Breakdown(b) => state.preview.breakdown = Some(b),
            Part::Unsegmentable(u) => state.preview.unsegmentable = Some(u),
            Part::Rows(r) => state.preview.rows = Some(r),
            Part::Overlap(o) => {
                state.overlap.result = Some(o);
                state.overlap.generation = resp.generation;
            }
            Part::Funnel(f) => state.funnel.set(f, resp.generation),
            Part::Split(s) => {
                state.split.selected = state.split.selected.min(s.cells.len().saturating_sub(1));
                state.split.measured = Some(s);
                state.split.generation = resp.generation;
            }
            Part::Done => {
                state.preview.total_ms = Some(ms);
                state.worker = WorkerState::Idle;
            }
            Part::Schema(..) | Part::Saved(..) | Part::LibrarySizes { .. } | Part::Rollups(_) => {}
        },
        Err(e) => {
            state.worker = WorkerState::Idle;
            match e.filter_error() {
                Some(fe) => {
                    state.editor.error = Some(fe.clone());
                    state.preview.stale = true;
                }
                None => state.worker = WorkerState::Failed(e.to_string()),
            }
        }
    }
}
