//! The QA reports beside the worker (hygiene, compare): opening their views starts them on a
//! connection of their own, so they never hold up a preview; their text is the CLI's.

use crate::library::{Status, measure};
use crate::tui::action::{Effect, Report};
use crate::tui::jobs::{JobKind, JobSpec};
use crate::tui::state::*;

/// F8: the hygiene view; the report runs the first time, and again on F5.
pub(super) fn toggle_hygiene(state: &mut AppState) -> Vec<Effect> {
    state.view = if state.view == View::Hygiene { View::Explore } else { View::Hygiene };
    if state.view == View::Hygiene && state.hygiene.text.is_none() && !state.measuring(JobKind::Report(Report::Hygiene))
    {
        return start_hygiene(state);
    }
    Vec::new()
}

/// The latest approved segments of the library (not suppressions' status aside), compiled: the
/// report says what share of the base they cannot judge.
pub(super) fn start_hygiene(state: &mut AppState) -> Vec<Effect> {
    let approved = state
        .library
        .templates
        .iter()
        .filter(|t| t.status == Status::Approved && (t.table.is_empty() || t.table == state.dataset.table))
        .filter_map(|t| {
            measure::compile(t, &Default::default(), &state.library.features).ok().map(|c| (t.reference(), c))
        })
        .collect();
    state.hygiene = ReportState { subject: state.dataset.table.clone(), text: None, scroll: 0 };
    super::start_job(state, JobSpec::Hygiene { approved })
}

/// F9: the edited filter against the segment selected in the library.
pub(super) fn toggle_compare(state: &mut AppState) -> Vec<Effect> {
    if state.view == View::Compare {
        state.view = View::Explore;
        return Vec::new();
    }
    let effects = start_compare(state);
    if !effects.is_empty() || state.compare.text.is_some() {
        state.view = View::Compare;
    }
    effects
}

pub(super) fn start_compare(state: &mut AppState) -> Vec<Effect> {
    let Some(a) = state.compiled.clone() else {
        state.status = Some((Level::Info, "no valid filter to compare: write one in the editor first".into()));
        return Vec::new();
    };
    let Some(t) = state.library.selected_template().cloned() else {
        state.status = Some((Level::Info, "select a library segment (F4) to compare the edited filter with".into()));
        return Vec::new();
    };
    let b = match measure::compile(&t, &Default::default(), &state.library.features) {
        Ok(b) => b,
        Err(e) => {
            state.status = Some((Level::Error, format!("cannot compare with {}: {e}", t.reference())));
            return Vec::new();
        }
    };
    let a_name = state.document.name.clone().map_or("(editing)".to_string(), |n| format!("{n} (editing)"));
    state.compare = ReportState { subject: format!("{a_name} vs {}", t.reference()), text: None, scroll: 0 };
    super::start_job(state, JobSpec::Compare(Box::new([(a_name, a), (t.reference(), b)])))
}

pub(super) fn report_done(state: &mut AppState, which: Report, result: Result<String, String>) {
    let r = match which {
        Report::Hygiene => &mut state.hygiene,
        Report::Compare => &mut state.compare,
    };
    r.text = Some(result);
}

/// ↑↓ PgUp PgDn in a report: scroll, no further than its last line.
pub(super) fn scroll(state: &mut AppState, delta: i64) {
    let r = if state.view == View::Hygiene { &mut state.hygiene } else { &mut state.compare };
    let lines = match &r.text {
        Some(Ok(t)) => t.lines().count(),
        _ => 0,
    };
    r.scroll = (i64::from(r.scroll) + delta).clamp(0, lines.saturating_sub(1) as i64) as u16;
}
