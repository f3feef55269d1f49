//! `update`: the only place `AppState` changes. It does no I/O: what needs doing outside (queries,
//! files, quitting) comes back as `Effect`s for the loop. Time is an argument, so tests feed it.

use std::time::Instant;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::action::{Action, Effect, LibrarySnapshot};
use super::flows;
use super::keymap::{self, Cmd, Mode};
use super::state::*;
use std::collections::BTreeMap;

use super::worker::{OverlapMember, Part, PreviewRequest, Request, Response};
use crate::engine::{FeatureSet, ParamType, ParamValue, filter};
use crate::library::measure;
use crate::library::measure::Fit;

pub fn update(state: &mut AppState, action: Action, now: Instant) -> Vec<Effect> {
    state.clock = now;
    let due_before = state.preview_due;
    let mut effects = dispatch(state, action, now);
    // An edit supersedes the running preview now, not when the idle pause ends: DuckDB notices an
    // interrupt only between pipeline tasks (17-32 ms inside an EXISTS hash join at 10M), and that
    // wait then passes during the pause instead of after it.
    if state.preview_due != due_before
        && state.preview_due.is_some_and(|d| d > now)
        && matches!(state.worker, WorkerState::Running { .. })
    {
        state.generation += 1;
        state.worker = WorkerState::Idle;
        state.preview.stale = true;
        effects.push(Effect::Cancel(state.generation));
    }
    effects
}

fn dispatch(state: &mut AppState, action: Action, now: Instant) -> Vec<Effect> {
    match action {
        Action::Key(key) => on_key(state, key, now),
        Action::Mouse(m) => on_mouse(state, m),
        Action::Resize(w, h) => {
            state.size = (w, h);
            Vec::new()
        }
        Action::Tick(now) => on_tick(state, now),
        Action::Worker(resp) => on_response(state, resp, now),
        Action::ExportProgress(p) => {
            flows::export_progress(state, p);
            Vec::new()
        }
        Action::ExportDone(r) => {
            flows::export_done(state, r);
            Vec::new()
        }
        Action::Notice(level, msg) => {
            state.status = Some((level, msg));
            Vec::new()
        }
        Action::LibraryLoaded(snap) => {
            on_library(state, snap, now);
            Vec::new()
        }
    }
}

/// The key table that applies now.
pub fn mode(state: &AppState) -> Mode {
    if state.view == View::Overlap {
        return Mode::Overlap;
    }
    if state.view == View::Funnel {
        return Mode::Funnel;
    }
    match state.focus {
        Focus::Editor => Mode::Editor,
        Focus::Params => Mode::Params,
        Focus::Members => Mode::Members,
        Focus::Side => match state.side {
            SideTab::Library => Mode::Library,
            SideTab::Schema => Mode::Schema,
            SideTab::Features => Mode::Features,
        },
    }
}

fn on_key(state: &mut AppState, key: KeyEvent, now: Instant) -> Vec<Effect> {
    if state.help {
        match key.code {
            KeyCode::Esc | KeyCode::F(1) | KeyCode::Char('?') | KeyCode::Char('q') | KeyCode::Enter => {
                state.help = false
            }
            KeyCode::Up => state.help_scroll = state.help_scroll.saturating_sub(1),
            KeyCode::Down => state.help_scroll = state.help_scroll.saturating_add(1),
            KeyCode::PageUp => state.help_scroll = state.help_scroll.saturating_sub(10),
            KeyCode::PageDown => state.help_scroll = state.help_scroll.saturating_add(10),
            _ => {}
        }
        return Vec::new();
    }
    if state.dialog.is_some() {
        return flows::dialog_key(state, key, now);
    }
    if state.params.input.is_some() && state.focus == Focus::Params {
        return param_input(state, key, now);
    }
    if state.library.typing && state.focus == Focus::Side && state.side == SideTab::Library {
        library_search_input(state, key);
        return Vec::new();
    }
    if key.code != KeyCode::Tab {
        state.editor.completion = None;
    }
    let m = mode(state);
    match keymap::lookup(m, &key) {
        Some(cmd) => command(state, cmd, now),
        None if m == Mode::Editor => {
            editor_input(state, key, now);
            Vec::new()
        }
        None => Vec::new(),
    }
}

fn command(state: &mut AppState, cmd: Cmd, now: Instant) -> Vec<Effect> {
    let m = mode(state);
    match cmd {
        Cmd::Quit => return flows::quit(state),
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
        Cmd::Save => flows::open_save(state),
        Cmd::Export => flows::open_export(state),
        Cmd::New => state.dialog = Some(Dialog::Name { purpose: NamePurpose::New, input: String::new(), error: None }),
        Cmd::Duplicate => {
            // In the library, duplicate the selected segment: open it, then name the copy.
            if m == Mode::Library && state.library.selected_template().is_some() {
                flows::open_selected(state, now);
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
            state.view = if state.view == View::Funnel { View::Explore } else { View::Funnel };
            if state.view == View::Funnel && state.compiled.is_none() {
                state.status = Some((Level::Info, "no valid filter to split: write one in the editor first".into()));
            }
            state.preview_due = Some(now);
        }
        Cmd::ToggleClause => state.funnel.toggle(),
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
        Cmd::Open => flows::open_selected(state, now),
        Cmd::ToggleWorking => flows::toggle_working(state, now),
        Cmd::Search => {
            state.library.typing = true;
            state.library.query.clear();
            state.library.selected = 0;
        }
        Cmd::Approve | Cmd::Retire => return flows::set_status(state, cmd == Cmd::Approve),
        Cmd::History => {
            if let Some(t) = state.library.selected_template() {
                return vec![Effect::ReloadLibrary { history: Some(t.name.clone()) }];
            }
        }
        Cmd::MoveUp | Cmd::MoveDown => flows::move_working(state, m, cmd == Cmd::MoveUp, now),
        Cmd::Remove => flows::remove_working(state, now),
        Cmd::Insert | Cmd::InsertValue => insert_from_side(state, cmd == Cmd::InsertValue, now),
        Cmd::ToggleColumn => toggle_column(state, now),
        Cmd::ToggleJaccard => state.overlap.jaccard = !state.overlap.jaccard,
    }
    Vec::new()
}

/// Esc: supersede whatever runs with a generation that asks for nothing.
fn cancel(state: &mut AppState) -> Vec<Effect> {
    state.preview_due = None;
    if let WorkerState::Running { .. } = state.worker {
        state.generation += 1;
        state.worker = WorkerState::Idle;
        state.preview.stale = true;
        state.status = Some((Level::Info, "cancelled".into()));
        return vec![Effect::Cancel(state.generation)];
    }
    if state.view != View::Explore {
        state.view = View::Explore;
    }
    Vec::new()
}

fn editor_input(state: &mut AppState, key: KeyEvent, now: Instant) {
    let before = state.editor.text();
    state.editor.textarea.input(key);
    if state.editor.text() != before {
        on_edit(state, now);
    }
}

/// After any change of filter text or parameters: recompile, and schedule a preview.
pub fn on_edit(state: &mut AppState, now: Instant) {
    sync_params(state);
    recompile(state);
    // A preview follows even without a valid filter: the working set's overlap is measured, and a
    // preview still running for the old text is superseded (its late size would hide the error).
    state.preview_due = Some(now + DEBOUNCE);
    if state.compiled.is_none() {
        state.preview.stale = true;
    }
}

/// Keeps one parameter item per placeholder, in order, remembering values of names that stay.
fn sync_params(state: &mut AppState) {
    let names = filter::placeholders(&state.editor.text());
    let old = std::mem::take(&mut state.params.items);
    state.params.items = names
        .into_iter()
        .map(|name| {
            old.iter().find(|p| p.name == name).cloned().unwrap_or_else(|| {
                // A declaration the document had (reopened text) wins over a fresh guess.
                match state.document.saved_params.get(&name) {
                    Some(d) => ParamItem { name, decl: d.clone(), value: d.default.clone(), declared: true },
                    None => ParamItem {
                        name,
                        decl: crate::engine::ParamDecl::new(ParamType::Int),
                        value: None,
                        declared: false,
                    },
                }
            })
        })
        .collect();
    state.params.selected = state.params.selected.min(state.params.items.len().saturating_sub(1));
}

pub fn recompile(state: &mut AppState) {
    let text = state.editor.text();
    if text.trim().is_empty() {
        state.compiled = None;
        state.editor.error = None;
        return;
    }
    if let Some(p) = state.params.items.iter().find(|p| p.value.is_none()) {
        state.compiled = None;
        state.editor.error = Some(crate::engine::FilterError::new(format!(
            "{{{{{}}}}} has no value yet: select it in Parameters (Shift-Tab) and press Enter to type one",
            p.name
        )));
        return;
    }
    let features = features_for_document(state);
    match filter::compile(&text, &state.param_decls(), &state.param_values(), &features) {
        Ok(c) => {
            state.compiled = Some(c);
            state.editor.error = None;
        }
        Err(e) => {
            state.compiled = None;
            state.editor.error = Some(e);
        }
    }
}

/// Features for the edited segment: the library's, with those its origin recorded at save time.
pub fn features_for_document(state: &AppState) -> FeatureSet {
    match &state.document.origin {
        Some(t) => measure::features_for(t, &state.library.features),
        None => state.library.features.clone(),
    }
}

fn on_tick(state: &mut AppState, now: Instant) -> Vec<Effect> {
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
    out.truncate(crate::engine::overlap::MAX_SEGMENTS);
    out
}

pub fn default_columns(state: &AppState) -> Vec<String> {
    if !state.preview.columns.is_empty() {
        return state.preview.columns.clone();
    }
    let preferred =
        ["email", "region", "language", "lifetime_spend", "orders_count", "last_order_date", "engagement_score"];
    let mut cols = vec![state.key.clone()];
    for p in preferred {
        if state.columns.iter().any(|c| c.name == p) {
            cols.push(p.to_string());
        }
    }
    if cols.len() == 1 {
        cols.extend(state.columns.iter().filter(|c| c.name != state.key).take(6).map(|c| c.name.clone()));
    }
    cols
}

fn request_preview(state: &mut AppState, now: Instant) -> Vec<Effect> {
    let working = overlap_members(state);
    let mut effects = Vec::new();
    state.generation += 1;
    if let WorkerState::Running { .. } = state.worker {
        effects.push(Effect::Cancel(state.generation));
    }
    if working.is_empty() {
        state.overlap.result = None;
        if state.compiled.is_none() {
            // Nothing to measure; whatever still runs is superseded all the same.
            state.worker = WorkerState::Idle;
            return effects;
        }
    }
    let preview = PreviewRequest {
        filter: state.compiled.clone(),
        dimension: state.preview.dimension_name().map(str::to_string),
        columns: default_columns(state),
        rows: state.member_rows,
        overlap: (!working.is_empty()).then_some(working),
        funnel: state.view == View::Funnel,
    };
    state.worker = WorkerState::Running { generation: state.generation, since: now };
    state.preview.stale = true;
    effects.push(Effect::Send(Request::Preview { generation: state.generation, preview: Box::new(preview) }));
    effects
}

fn on_response(state: &mut AppState, resp: Response, now: Instant) -> Vec<Effect> {
    // Schema and saves are not previews: they are never stale.
    match &resp.result {
        Ok(Part::Schema(schema, dims)) => {
            state.schema.schema = Some(schema.clone());
            let current = state.preview.dimension_name().map(str::to_string);
            state.preview.dimensions = dims.clone();
            let preferred = current.or_else(|| {
                ["region", "language"].iter().find(|d| dims.iter().any(|x| x == *d)).map(|d| d.to_string())
            });
            state.preview.dimension = preferred.and_then(|p| dims.iter().position(|d| *d == p)).unwrap_or(0);
            if state.compiled.is_some() {
                state.preview_due = Some(now);
            }
            return Vec::new();
        }
        Ok(Part::Saved(..)) => return flows::saved(state, resp),
        Ok(Part::LibrarySizes { id, sizes }) => {
            // An older measurement's answer: a newer one is on its way.
            if *id == state.library.measure_id {
                state.library.measuring = false;
                // Missing columns mean "not for this data" only for templates written elsewhere.
                let sizes: BTreeMap<String, Fit> = sizes
                    .iter()
                    .map(|(n, f)| {
                        let t = state.library.templates.iter().find(|t| &t.name == n);
                        let fit = match (t, &state.data) {
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
            return Vec::new();
        }
        _ => {}
    }
    if resp.generation == 0
        && let Err(msg) = &resp.result
    {
        // Background work (key uniqueness, schema) is not a preview.
        state.status = Some((Level::Error, msg.clone()));
        return Vec::new();
    }
    if resp.generation != state.generation {
        return Vec::new();
    }
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
            Part::Breakdown(b) => state.preview.breakdown = Some(b),
            Part::Unsegmentable(u) => state.preview.unsegmentable = Some(u),
            Part::Rows(r) => state.preview.rows = Some(r),
            Part::Overlap(o) => {
                state.overlap.result = Some(o);
                state.overlap.generation = resp.generation;
            }
            Part::Funnel(f) => state.funnel.set(f, resp.generation),
            Part::Done => {
                state.preview.total_ms = Some(ms);
                state.worker = WorkerState::Idle;
            }
            Part::Schema(..) | Part::Saved(..) | Part::LibrarySizes { .. } => {}
        },
        Err(msg) => {
            state.worker = WorkerState::Idle;
            match resp.filter_error {
                Some(fe) => {
                    state.editor.error = Some(fe);
                    state.preview.stale = true;
                }
                None => state.worker = WorkerState::Failed(msg),
            }
        }
    }
    Vec::new()
}

fn on_library(state: &mut AppState, snap: LibrarySnapshot, now: Instant) {
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
        state.library.history = Some((name, versions));
        state.dialog = Some(Dialog::History);
    }
    recompile(state);
    if state.compiled.is_some() && state.preview.size.is_none() {
        state.preview_due = Some(now);
    }
}

fn move_selection(state: &mut AppState, m: Mode, delta: i64) {
    let step = |sel: usize, len: usize| -> usize {
        if len == 0 { 0 } else { (sel as i64 + delta).clamp(0, len as i64 - 1) as usize }
    };
    match m {
        Mode::Params => state.params.selected = step(state.params.selected, state.params.items.len()),
        Mode::Library => state.library.selected = step(state.library.selected, state.library.visible().len()),
        Mode::Features => {
            state.library.feature_selected = step(state.library.feature_selected, state.library.features.len())
        }
        Mode::Schema => state.schema.selected = step(state.schema.selected, state.columns.len()),
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
        Mode::Editor | Mode::Global => {}
    }
}

fn nudge(state: &mut AppState, steps: i64, now: Instant) {
    let Some(p) = state.params.items.get_mut(state.params.selected) else {
        return;
    };
    let Some(v) = &p.value else {
        state.params.error = Some(format!("{} has no value yet: press Enter to type one", p.name));
        return;
    };
    let next = p.decl.nudge(v, steps);
    if &next == v {
        state.params.error = Some(match v.ty() {
            ParamType::String | ParamType::StringList => {
                "text values have no step: press Enter to type one".to_string()
            }
            _ => format!("{} is at its limit", p.name),
        });
        return;
    }
    p.value = Some(next);
    state.params.error = None;
    on_edit(state, now);
}

fn param_input(state: &mut AppState, key: KeyEvent, now: Instant) -> Vec<Effect> {
    let Some(input) = state.params.input.as_mut() else {
        return Vec::new();
    };
    match key.code {
        KeyCode::Esc => state.params.input = None,
        KeyCode::Backspace => {
            input.pop();
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => input.push(c),
        KeyCode::Enter => {
            let text = input.clone();
            let idx = state.params.selected;
            let Some(p) = state.params.items.get_mut(idx) else {
                return Vec::new();
            };
            let parsed = if p.declared { ParamValue::parse(p.decl.ty, &text) } else { Ok(ParamValue::guess(&text)) };
            match parsed.and_then(|v| p.decl_check(&v).map(|_| v)) {
                Ok(v) => {
                    if !p.declared {
                        p.decl.ty = v.ty();
                    }
                    p.value = Some(v);
                    state.params.input = None;
                    state.params.error = None;
                    on_edit(state, now);
                }
                Err(e) => state.params.error = Some(e),
            }
        }
        _ => {}
    }
    Vec::new()
}

impl ParamItem {
    fn decl_check(&self, v: &ParamValue) -> Result<(), String> {
        if self.declared { self.decl.check(&self.name, v) } else { Ok(()) }
    }
}

/// `t`: an undeclared parameter becomes declared with its guessed type; a declared one moves to
/// the next type its current value parses as.
fn cycle_type(state: &mut AppState, now: Instant) {
    let Some(p) = state.params.items.get_mut(state.params.selected) else {
        return;
    };
    if !p.declared {
        p.declared = true;
        if let Some(v) = &p.value {
            p.decl.ty = v.ty();
        }
    } else {
        let text = p.value.as_ref().map(ParamValue::to_input).unwrap_or_default();
        let all = ParamType::ALL;
        let i = all.iter().position(|t| *t == p.decl.ty).unwrap_or(0);
        for k in 1..=all.len() {
            let ty = all[(i + k) % all.len()];
            if let Ok(v) = ParamValue::parse(ty, &text) {
                p.decl = crate::engine::ParamDecl::new(ty);
                p.value = Some(v);
                break;
            }
        }
    }
    on_edit(state, now);
}

fn library_search_input(state: &mut AppState, key: KeyEvent) {
    match key.code {
        KeyCode::Esc => {
            state.library.typing = false;
            state.library.query.clear();
        }
        KeyCode::Enter => state.library.typing = false,
        KeyCode::Backspace => {
            state.library.query.pop();
        }
        KeyCode::Char(c) => state.library.query.push(c.to_ascii_lowercase()),
        KeyCode::Up | KeyCode::Down => {
            state.library.typing = false;
        }
        _ => {}
    }
    state.library.selected = 0;
}

/// Tab in the editor: complete the word before the cursor from columns, tables, features and
/// common DuckDB functions; a second Tab cycles through the candidates.
fn complete(state: &mut AppState, now: Instant) {
    let cursor = state.editor.textarea.cursor();
    let (row, col) = (cursor.0, cursor.1);
    let line: Vec<char> = state.editor.textarea.lines().get(row).map(|l| l.chars().collect()).unwrap_or_default();
    if let Some(c) = state.editor.completion.as_mut() {
        // Cycle: replace the previous candidate with the next.
        let prev = c.candidates[c.selected].chars().count();
        c.selected = (c.selected + 1) % c.candidates.len();
        let next = c.candidates[c.selected].clone();
        let typed = col.saturating_sub(c.start_col).min(prev);
        for _ in 0..typed {
            state.editor.textarea.delete_char();
        }
        state.editor.textarea.insert_str(&next);
        on_edit(state, now);
        return;
    }
    let start = (0..col)
        .rev()
        .take_while(|&i| line.get(i).is_some_and(|c| c.is_alphanumeric() || *c == '_'))
        .last()
        .unwrap_or(col);
    let prefix: String = line[start..col].iter().collect();
    if prefix.is_empty() {
        return;
    }
    let candidates = completion_candidates(state, &prefix);
    match candidates.len() {
        0 => state.status = Some((Level::Info, format!("no completion for {prefix:?}"))),
        1 => {
            let rest: String = candidates[0].chars().skip(prefix.chars().count()).collect();
            state.editor.textarea.insert_str(&rest);
            on_edit(state, now);
        }
        _ => {
            let common = common_prefix(&candidates);
            if common.chars().count() > prefix.chars().count() {
                let rest: String = common.chars().skip(prefix.chars().count()).collect();
                state.editor.textarea.insert_str(&rest);
                on_edit(state, now);
            }
            let selected = candidates.len() - 1;
            state.editor.completion = Some(Completion { prefix, start_col: start, candidates, selected });
        }
    }
}

const FUNCTIONS: &[&str] = &[
    "current_date",
    "to_days",
    "date_diff",
    "date_trunc",
    "coalesce",
    "list_contains",
    "lower",
    "upper",
    "length",
    "strftime",
    "extract",
    "greatest",
    "least",
    "abs",
    "round",
    "regexp_matches",
    "starts_with",
    "contains",
    "nullif",
    "EXISTS",
    "BETWEEN",
    "IS NULL",
    "IS NOT NULL",
    "INTERVAL",
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
];

fn completion_candidates(state: &AppState, prefix: &str) -> Vec<String> {
    let p = prefix.to_ascii_lowercase();
    let mut out: Vec<String> = Vec::new();
    let tables = state
        .schema
        .schema
        .as_ref()
        .map(|s| s.tables.iter().map(|t| t.name.clone()).collect::<Vec<_>>())
        .unwrap_or_default();
    let features = state.library.features.iter().map(|f| format!("{}(", f.name));
    for c in state
        .columns
        .iter()
        .map(|c| c.name.clone())
        .chain(tables)
        .chain(features)
        .chain(FUNCTIONS.iter().map(|f| f.to_string()))
    {
        if c.to_ascii_lowercase().starts_with(&p) && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

fn common_prefix(words: &[String]) -> String {
    let first: Vec<char> = words[0].chars().collect();
    let mut n = first.len();
    for w in &words[1..] {
        n = n.min(first.iter().zip(w.chars()).take_while(|(a, b)| a.eq_ignore_ascii_case(b)).count());
    }
    first[..n].iter().collect()
}

fn insert_from_side(state: &mut AppState, value: bool, now: Instant) {
    let text = match state.side {
        SideTab::Schema => {
            let Some(col) = state.columns.get(state.schema.selected) else {
                return;
            };
            if value {
                let stats = state
                    .schema
                    .schema
                    .as_ref()
                    .and_then(|s| s.entity())
                    .and_then(|t| t.columns.iter().find(|c| c.name == col.name));
                match stats.and_then(|s| s.top.first()) {
                    Some((v, _)) if col.ty.contains("VARCHAR") => {
                        format!("'{}'", v.replace('\'', "''"))
                    }
                    Some((v, _)) => v.clone(),
                    None => return,
                }
            } else {
                col.name.clone()
            }
        }
        SideTab::Features => {
            let Some(f) = state.library.features.iter().nth(state.library.feature_selected) else {
                return;
            };
            format!("{}({})", f.name, f.params.join(", "))
        }
        SideTab::Library => return,
    };
    state.editor.textarea.insert_str(&text);
    state.focus = Focus::Editor;
    on_edit(state, now);
}

fn toggle_column(state: &mut AppState, now: Instant) {
    let Some(col) = state.columns.get(state.schema.selected).map(|c| c.name.clone()) else {
        return;
    };
    let mut cols = default_columns(state);
    if let Some(i) = cols.iter().position(|c| *c == col) {
        if cols.len() > 1 {
            cols.remove(i);
        }
    } else {
        cols.push(col);
    }
    state.preview.columns = cols;
    state.preview_due = Some(now);
}

fn on_mouse(state: &mut AppState, m: MouseEvent) -> Vec<Effect> {
    if state.dialog.is_some() || state.help {
        return Vec::new();
    }
    let areas = super::ui::layout(Rect::new(0, 0, state.size.0, state.size.1), state.view);
    let at = Position::new(m.column, m.row);
    let hit = |r: Rect| r.contains(at);
    let target = if hit(areas.editor) {
        Some(Focus::Editor)
    } else if hit(areas.params) {
        Some(Focus::Params)
    } else if hit(areas.side) {
        Some(Focus::Side)
    } else if hit(areas.members) {
        Some(Focus::Members)
    } else {
        None
    };
    match m.kind {
        MouseEventKind::Down(MouseButton::Left) => {
            if let Some(f) = target {
                state.focus = f;
                // A click on a list row picks it (rows start below the border).
                let row = m.row.saturating_sub(match f {
                    Focus::Side => areas.side.y + 1,
                    Focus::Params => areas.params.y + 1,
                    _ => u16::MAX,
                }) as usize;
                match f {
                    Focus::Side if state.side == SideTab::Library => {
                        state.library.selected = row.min(state.library.visible().len().saturating_sub(1))
                    }
                    Focus::Side if state.side == SideTab::Schema => {
                        state.schema.selected = row.min(state.columns.len().saturating_sub(1))
                    }
                    Focus::Params => state.params.selected = row.min(state.params.items.len().saturating_sub(1)),
                    _ => {}
                }
            }
        }
        MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
            if let Some(f) = target {
                state.focus = f;
                let m2 = mode(state);
                move_selection(state, m2, if m.kind == MouseEventKind::ScrollDown { 3 } else { -3 });
            }
        }
        _ => {}
    }
    Vec::new()
}
