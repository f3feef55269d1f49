//! The library panel: loading, search, opening a segment, approve/retire, the working set.

use std::time::Instant;

use ratatui::crossterm::event::KeyEvent;

use super::dialogs::edit_line;
use super::edit::{on_edit, recompile};
use crate::library::measure;
use crate::library::template::Status;
use crate::tui::action::{Effect, LibrarySnapshot};
use crate::tui::keymap::Cmd;
use crate::tui::keymap::Mode;
use crate::tui::state::*;
use crate::tui::worker::{OverlapMember, Request};

/// The library as read from disk (start, save, approve, retire, history): shown, and measured again.
pub(super) fn on_library(state: &mut AppState, snap: LibrarySnapshot, now: Instant) -> Vec<Effect> {
    let LibrarySnapshot { templates, errors, features, feature_error, history, dir } = snap;
    state.library.templates = templates;
    state.library.errors = errors;
    state.library.features = features;
    state.library.feature_error = feature_error;
    state.library.dir = dir;
    let n = state.library.visible().len();
    state.library.selected = state.library.selected.min(n.saturating_sub(1));
    state.library.working.retain(|w| state.library.templates.iter().any(|t| &t.name == w));
    // The edited segment follows the library: after a save its origin is the new version.
    if let Some(name) = &state.document.name
        && let Some(t) = state.library.templates.iter().find(|t| &t.name == name)
        && state.document.origin.as_ref().is_some_and(|o| o.version < t.version)
        && !state.unsaved()
    {
        state.document.origin = Some(t.clone());
    }
    if let Some((name, versions)) = history {
        // The cursor starts on the newest version (d: what it changed), whatever was open before.
        let selected = versions.len().saturating_sub(1);
        state.library.history = Some((name, versions));
        state.dialog = Some(Dialog::History { selected });
    }
    recompile(state);
    if state.compiled.is_some() && state.preview.size.is_none() {
        state.preview_due = Some(now);
    }
    measure_library(state)
}

/// The size now of every library segment that is not retired, measured on the worker when it is
/// idle; a newer measurement's id makes an older one's answer stale.
fn measure_library(state: &mut AppState) -> Vec<Effect> {
    let members: Vec<OverlapMember> = state
        .library
        .templates
        .iter()
        .filter(|t| t.status != Status::Retired)
        .filter_map(|t| {
            measure::compile(t, &Default::default(), &state.library.features).ok().map(|c| OverlapMember {
                name: t.name.clone(),
                filter: c,
                suppression: false,
            })
        })
        .collect();
    if members.is_empty() {
        return Vec::new();
    }
    state.library.measuring = true;
    state.library.measure_id += 1;
    vec![Effect::Send(Request::MeasureLibrary { id: state.library.measure_id, members })]
}

pub(super) fn library_search_input(state: &mut AppState, cmd: Option<Cmd>, key: &KeyEvent) {
    match cmd {
        Some(Cmd::Close) => {
            state.library.typing = false;
            state.library.query.clear();
        }
        Some(_) => state.library.typing = false,
        None => {
            let mut query = std::mem::take(&mut state.library.query);
            edit_line(&mut query, key);
            state.library.query = query.to_lowercase();
        }
    }
    state.library.selected = 0;
}

pub fn set_status(state: &mut AppState, approve: bool) -> Vec<Effect> {
    let Some(t) = state.library.selected_template() else {
        return Vec::new();
    };
    let status = if approve { Status::Approved } else { Status::Retired };
    if t.status == status {
        state.status = Some((Level::Info, format!("{} is already {}", t.reference(), status.name())));
        return Vec::new();
    }
    vec![Effect::SetStatus { name: t.name.clone(), version: t.version, status, author: state.author.clone() }]
}

pub fn open_selected(state: &mut AppState, now: Instant) {
    let Some(t) = state.library.selected_template().cloned() else {
        return;
    };
    if state.unsaved() {
        state.status = Some((
            Level::Warn,
            "unsaved edits: save them (Ctrl-S) or clear the filter before opening another segment".into(),
        ));
        return;
    }
    state.editor.textarea = ratatui_textarea::TextArea::new(t.filter.trim_end().lines().map(str::to_string).collect());
    // The cursor goes to the end, where a tweak usually starts.
    state.editor.textarea.move_cursor(ratatui_textarea::CursorMove::Bottom);
    state.editor.textarea.move_cursor(ratatui_textarea::CursorMove::End);
    state.params.items = t
        .params
        .iter()
        .map(|(n, d)| ParamItem { name: n.clone(), decl: d.clone(), value: d.default.clone(), declared: true })
        .collect();
    state.params.selected = 0;
    state.document = Document {
        origin: Some(t.clone()),
        name: Some(t.name.clone()),
        saved_text: t.filter.clone(),
        saved_params: t.params.clone(),
    };
    state.focus = Focus::Editor;
    state.status = Some((Level::Info, format!("opened {}", t.reference())));
    on_edit(state, now);
    state.preview_due = Some(now);
}

pub fn toggle_working(state: &mut AppState, now: Instant) {
    let Some(name) = state.library.selected_template().map(|t| t.name.clone()) else {
        return;
    };
    let w = &mut state.library.working;
    let sign = match w.iter().position(|n| *n == name) {
        Some(i) => {
            w.remove(i);
            "−"
        }
        None if w.len() >= crate::engine::query::overlap::MAX_SEGMENTS - 1 => {
            state.status = Some((Level::Warn, "the working set holds at most 63 segments".into()));
            return;
        }
        None => {
            w.push(name.clone());
            "+"
        }
    };
    let n = w.len();
    state.status = Some((Level::Info, format!("{sign} {name}: {n} in the working set (F3: overlap)")));
    state.preview_due = Some(now);
}

pub fn move_working(state: &mut AppState, m: Mode, up: bool, now: Instant) {
    let name = match m {
        Mode::Overlap => {
            state.overlap.result.as_ref().and_then(|o| o.segments.get(state.overlap.selected)).map(|s| s.name.clone())
        }
        _ => state.library.selected_template().map(|t| t.name.clone()),
    };
    let Some(name) = name else { return };
    let w = &mut state.library.working;
    let Some(i) = w.iter().position(|n| *n == name) else {
        return;
    };
    let j = if up { i.checked_sub(1) } else { (i + 1 < w.len()).then_some(i + 1) };
    if let Some(j) = j {
        w.swap(i, j);
        if m == Mode::Overlap {
            let offset = state
                .overlap
                .result
                .as_ref()
                .map_or(0, |o| o.segments.iter().position(|s| s.name == name).unwrap_or(0) as i64 - i as i64);
            state.overlap.selected = (j as i64 + offset).max(0) as usize;
        }
        state.preview_due = Some(now);
    }
}

pub fn remove_working(state: &mut AppState, now: Instant) {
    let Some(name) =
        state.overlap.result.as_ref().and_then(|o| o.segments.get(state.overlap.selected)).map(|s| s.name.clone())
    else {
        return;
    };
    if name.ends_with("(editing)") {
        let msg = "the edited filter is shown beside the working set, not in it (save it, then Space in the library)";
        state.status = Some((Level::Info, msg.into()));
        return;
    }
    if !state.library.working.contains(&name) {
        // The figures on screen predate an earlier removal: measure them again.
        state.status = Some((Level::Info, format!("{name} is already out of the working set; updating…")));
        state.preview_due = Some(now);
        return;
    }
    state.library.working.retain(|n| *n != name);
    state.preview_due = Some(now);
}
