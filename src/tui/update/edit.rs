//! Editing the filter and its parameters: every change recompiles and schedules a preview.

use std::time::Instant;

use ratatui::crossterm::event::KeyEvent;

use super::dialogs::edit_line;
use crate::engine::text::filter;
use crate::engine::{FeatureSet, ParamType, ParamValue, literal};
use crate::library::measure;
use crate::tui::action::Effect;
use crate::tui::keymap::Cmd;
use crate::tui::state::*;

pub(super) fn editor_input(state: &mut AppState, key: KeyEvent, now: Instant) {
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
pub(super) fn sync_params(state: &mut AppState) {
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

pub(super) fn nudge(state: &mut AppState, steps: i64, now: Instant) {
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

pub(super) fn param_input(state: &mut AppState, cmd: Option<Cmd>, key: &KeyEvent, now: Instant) -> Vec<Effect> {
    let Some(input) = state.params.input.as_mut() else {
        return Vec::new();
    };
    match cmd {
        Some(Cmd::Close) => state.params.input = None,
        Some(Cmd::Submit) => {
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
        _ => {
            edit_line(input, key);
        }
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
pub(super) fn cycle_type(state: &mut AppState, now: Instant) {
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

pub(super) fn insert_from_side(state: &mut AppState, value: bool, now: Instant) {
    let text = match state.side {
        SideTab::Schema => {
            let Some(col) = state.dataset.columns.get(state.schema.selected) else {
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
                    Some((v, _)) if col.ty.contains("VARCHAR") => literal(v),
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

pub(super) fn toggle_column(state: &mut AppState, now: Instant) {
    let Some(col) = state.dataset.columns.get(state.schema.selected).map(|c| c.name.clone()) else {
        return;
    };
    let mut cols = state.shown_columns();
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
