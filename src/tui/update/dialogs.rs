//! The dialogs: quit, name, save, export, history and diff, and what their answers do.

use std::time::Instant;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::edit::{features_for_document, on_edit, recompile};
use crate::export::Progress;
use crate::library::SaveOutcome;
use crate::library::measure;
use crate::library::template::{Status, Template, is_slug};
use crate::tui::action::Effect;
use crate::tui::jobs::{ExportPlan, JobKind, JobSpec};
use crate::tui::keymap::Cmd;
use crate::tui::state::*;
use crate::tui::worker::{Part, Request, Response, Task};

pub fn quit(state: &mut AppState) -> Vec<Effect> {
    if state.unsaved() {
        state.dialog = Some(Dialog::ConfirmQuit);
        Vec::new()
    } else {
        state.quit = true;
        vec![Effect::Quit]
    }
}

pub(super) fn field(label: &'static str, value: impl Into<String>) -> Field {
    Field { label, value: value.into() }
}

pub fn open_save(state: &mut AppState) {
    if state.editor.text().trim().is_empty() {
        state.status = Some((Level::Warn, "nothing to save: write a filter first".into()));
        return;
    }
    let origin = state.document.origin.as_ref();
    let first_time = origin.is_none();
    let mut fields = vec![field("Name", state.document.name.clone().unwrap_or_default())];
    if first_time || origin.is_some_and(|t| t.intent.is_empty()) {
        fields.push(field("Intent", origin.map(|t| t.intent.clone()).unwrap_or_default()));
    }
    if first_time || origin.is_some_and(|t| t.owner.is_empty()) {
        fields.push(field("Owner", origin.map(|t| t.owner.clone()).unwrap_or_else(|| state.author.clone())));
    }
    fields.push(field("Change note", ""));
    let focused = if state.document.name.is_some() { fields.len() - 1 } else { 0 };
    state.dialog = Some(Dialog::Save { fields, focused, error: None });
}

pub fn open_export(state: &mut AppState) -> Vec<Effect> {
    let names = export_names(state);
    if names.is_empty() {
        state.status = Some((
            Level::Warn,
            "nothing to export: open a saved, approved segment or add segments to the working set".into(),
        ));
        return Vec::new();
    }
    let date = chrono::Local::now().format("%Y%m%d");
    let default = if names.len() == 1 { format!("{}-{date}.csv", names[0]) } else { format!("segments-{date}.csv") };
    state.dialog = Some(Dialog::Export {
        fields: vec![field("Segments", names.join(", ")), field("Path", default), field("Columns (blank: all)", "")],
        focused: 1,
        exclusive: false,
        suppress: true,
        progress: None,
        result: None,
        changes: None,
        cells: None,
    });
    super::start_job(state, JobSpec::ExportChanges { names, exclusive: false, suppress: true })
}

/// The export dialog for cells of a split of `name` (its latest approved version).
pub(super) fn open_export_cells(state: &mut AppState, name: &str, cells: Cells) -> Vec<Effect> {
    let date = chrono::Local::now().format("%Y%m%d");
    let what = format!("{name}: {} cells by {}", cells.values.len(), cells.by.join(" × "));
    state.dialog = Some(Dialog::Export {
        fields: vec![
            field("Segments", name.to_string()),
            field("Path", format!("{name}-cells-{date}.csv")),
            field("Columns (blank: all)", ""),
        ],
        focused: 1,
        exclusive: false,
        suppress: true,
        progress: None,
        result: None,
        // A cell has no earlier export of its own to compare with.
        changes: Some(Ok(vec![what])),
        cells: Some(cells),
    });
    Vec::new()
}

/// The adds and drops since the last export of each segment, measured before anything is written.
pub fn export_changes(state: &mut AppState, lines: Result<Vec<String>, String>) {
    if let Some(Dialog::Export { changes, progress: None, .. }) = &mut state.dialog {
        *changes = Some(lines);
    }
}

fn list(s: &str) -> Vec<String> {
    s.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// The working set's segments (suppressions excluded: they are applied), else the edited one.
pub(super) fn export_names(state: &AppState) -> Vec<String> {
    let suppression = |n: &String| {
        state.library.templates.iter().any(|t| &t.name == n && t.kind == crate::library::Kind::Suppression)
    };
    let set: Vec<String> = state.library.working.iter().filter(|n| !suppression(n)).cloned().collect();
    if !set.is_empty() {
        return set;
    }
    state.document.name.iter().filter(|n| state.library.templates.iter().any(|t| &t.name == *n)).cloned().collect()
}

/// Letters and Backspace edit a one-line input (dialog fields, the parameter value, the library
/// search); true when the text changed.
pub(super) fn edit_line(text: &mut String, key: &KeyEvent) -> bool {
    match key.code {
        KeyCode::Backspace => text.pop().is_some(),
        KeyCode::Char(c) if !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) => {
            text.push(c);
            true
        }
        _ => false,
    }
}

/// A key in a dialog: `cmd` is what the dialog's key table says it means (None: text, or for the
/// quit question "stay"). The dialog is taken out of the state and put back unless the key closes it.
pub fn dialog_key(state: &mut AppState, cmd: Option<Cmd>, key: KeyEvent, now: Instant) -> Vec<Effect> {
    let Some(dialog) = state.dialog.take() else {
        return Vec::new();
    };
    match dialog {
        Dialog::ConfirmQuit => match cmd {
            Some(Cmd::Quit) => {
                state.quit = true;
                vec![Effect::Quit]
            }
            Some(Cmd::SaveFirst) => {
                open_save(state);
                Vec::new()
            }
            _ => Vec::new(),
        },
        d @ (Dialog::Message { .. } | Dialog::Diff { .. }) => {
            if cmd != Some(Cmd::Close) {
                state.dialog = Some(d);
            }
            Vec::new()
        }
        d @ Dialog::History { .. } => {
            history_key(state, cmd, d);
            Vec::new()
        }
        d @ Dialog::Name { .. } => {
            name_key(state, cmd, &key, d, now);
            Vec::new()
        }
        d @ Dialog::Save { .. } => save_key(state, cmd, &key, d),
        d @ Dialog::Export { .. } => export_key(state, cmd, &key, d),
    }
}

/// The history: ↑↓ move the cursor, d shows what that version changed.
fn history_key(state: &mut AppState, cmd: Option<Cmd>, mut dialog: Dialog) {
    let Dialog::History { selected } = &mut dialog else { return };
    match cmd {
        Some(Cmd::Close) => {}
        Some(Cmd::Diff) => state.dialog = Some(history_diff(state, *selected).unwrap_or(dialog)),
        Some(c @ (Cmd::Up | Cmd::Down)) => {
            let n = state.library.history.as_ref().map_or(0, |(_, v)| v.len());
            *selected =
                if c == Cmd::Up { selected.saturating_sub(1) } else { (*selected + 1).min(n.saturating_sub(1)) };
            state.dialog = Some(dialog);
        }
        _ => state.dialog = Some(dialog),
    }
}

/// The name of a new segment or a duplicate: a slug no other segment has.
fn name_key(state: &mut AppState, cmd: Option<Cmd>, key: &KeyEvent, mut dialog: Dialog, now: Instant) {
    let Dialog::Name { purpose, input, error } = &mut dialog else { return };
    match cmd {
        Some(Cmd::Close) => {}
        Some(Cmd::Submit) => {
            let problem = if !is_slug(input) {
                Some("use lowercase letters, digits and '-'")
            } else if state.library.templates.iter().any(|t| t.name == *input) {
                Some("a segment with that name exists")
            } else {
                None
            };
            match problem {
                Some(p) => {
                    *error = Some(p.into());
                    state.dialog = Some(dialog);
                }
                None => {
                    let (purpose, name) = (*purpose, std::mem::take(input));
                    start_named(state, purpose, name, now);
                }
            }
        }
        _ => {
            if edit_line(input, key) {
                *error = None;
            }
            state.dialog = Some(dialog);
        }
    }
}

/// The save dialog: Tab and Enter move through the fields, Enter on the last (or Ctrl-S) saves.
fn save_key(state: &mut AppState, cmd: Option<Cmd>, key: &KeyEvent, mut dialog: Dialog) -> Vec<Effect> {
    let Dialog::Save { fields, focused, error } = &mut dialog else { return Vec::new() };
    match cmd {
        Some(Cmd::Close) => {}
        Some(Cmd::NextField) | Some(Cmd::Submit) if cmd == Some(Cmd::NextField) || *focused + 1 < fields.len() => {
            *focused = (*focused + 1) % fields.len();
            *error = None;
            state.dialog = Some(dialog);
        }
        Some(Cmd::PrevField) => {
            *focused = (*focused + fields.len() - 1) % fields.len();
            *error = None;
            state.dialog = Some(dialog);
        }
        Some(Cmd::Submit) | Some(Cmd::SubmitNow) => {
            let (fields, focused) = (std::mem::take(fields), *focused);
            return submit_save(state, fields, focused);
        }
        _ => {
            edit_line(&mut fields[*focused].value, key);
            *error = None;
            state.dialog = Some(dialog);
        }
    }
    Vec::new()
}

/// The export dialog: fields, the exclusive and suppression toggles (which measure its counts
/// again), Enter to export; while the export runs only Esc (cancel) and Ctrl-Q do anything.
fn export_key(state: &mut AppState, cmd: Option<Cmd>, key: &KeyEvent, mut dialog: Dialog) -> Vec<Effect> {
    let Dialog::Export { fields, focused, exclusive, suppress, progress, result, changes, cells } = &mut dialog else {
        return Vec::new();
    };
    let running = progress.is_some() && result.is_none();
    match cmd {
        // A running export stops on Esc; nothing is left under the final name.
        Some(Cmd::Close) if running => {
            state.status = Some((Level::Info, "cancelling the export…".into()));
            state.dialog = Some(dialog);
            return state.jobs.running(JobKind::Export).map(Effect::CancelJob).into_iter().collect();
        }
        Some(Cmd::Quit) => {
            let cancel = state.jobs.running(JobKind::Export).filter(|_| running).map(Effect::CancelJob);
            return cancel.into_iter().chain(quit(state)).collect();
        }
        _ if running => state.dialog = Some(dialog),
        // A finished export: any key closes its report.
        _ if result.is_some() => {}
        Some(Cmd::Close) => {}
        Some(Cmd::NextField) => {
            *focused = (*focused + 1) % fields.len();
            state.dialog = Some(dialog);
        }
        Some(Cmd::PrevField) => {
            *focused = (*focused + fields.len() - 1) % fields.len();
            state.dialog = Some(dialog);
        }
        Some(c @ (Cmd::ToggleExclusive | Cmd::ToggleSuppress)) => {
            if c == Cmd::ToggleExclusive {
                *exclusive = !*exclusive;
            } else {
                *suppress = !*suppress;
            }
            // Exclusivity and suppressions change who is exported: measure again.
            if cells.is_some() {
                state.dialog = Some(dialog);
                return Vec::new();
            }
            *changes = None;
            let spec =
                JobSpec::ExportChanges { names: list(&fields[0].value), exclusive: *exclusive, suppress: *suppress };
            state.dialog = Some(dialog);
            return super::start_job(state, spec);
        }
        Some(Cmd::Submit) => {
            let plan = ExportPlan {
                names: list(&fields[0].value),
                columns: list(&fields[2].value),
                out: std::path::PathBuf::from(fields[1].value.trim()),
                exclusive: *exclusive,
                suppress: *suppress,
                cells: cells.clone(),
            };
            *progress = Some((String::new(), 0, 0));
            state.dialog = Some(dialog);
            return super::start_job(state, JobSpec::Export(Box::new(plan)));
        }
        _ => {
            edit_line(&mut fields[*focused].value, key);
            state.dialog = Some(dialog);
        }
    }
    Vec::new()
}

/// A confirmed name: a new, empty segment, or the current definition under that name.
fn start_named(state: &mut AppState, purpose: NamePurpose, name: String, now: Instant) {
    if purpose == NamePurpose::New {
        state.editor.textarea = ratatui_textarea::TextArea::default();
        state.params.items.clear();
        state.preview = PreviewState {
            dimensions: state.preview.dimensions.clone(),
            dimension: state.preview.dimension,
            ..Default::default()
        };
    }
    state.document =
        Document { origin: None, name: Some(name), saved_text: String::new(), saved_params: Default::default() };
    state.focus = Focus::Editor;
    on_edit(state, now);
}

pub(super) fn submit_save(state: &mut AppState, fields: Vec<Field>, focused: usize) -> Vec<Effect> {
    let get = |label: &str| fields.iter().find(|f| f.label == label).map(|f| f.value.trim().to_string());
    let name = get("Name").unwrap_or_default();
    let fail = |state: &mut AppState, msg: String| {
        state.dialog = Some(Dialog::Save { fields: fields.clone(), focused, error: Some(msg) });
        Vec::new()
    };
    if !is_slug(&name) {
        return fail(state, "name: lowercase letters, digits and '-' (e.g. lapsed-high-value)".into());
    }
    recompile(state);
    let Some(compiled) = state.compiled.clone() else {
        let why = state.editor.error.as_ref().map_or("the filter is not valid".to_string(), |e| e.to_string());
        return fail(state, format!("cannot save: {why}"));
    };
    // Saving under the name of another segment continues that segment's history.
    let base = match &state.document.origin {
        Some(t) if t.name == name => Some(t.clone()),
        _ => state.library.templates.iter().find(|t| t.name == name).cloned(),
    };
    let mut t = base.clone().unwrap_or_else(|| Template::new(&name, ""));
    t.name = name.clone();
    t.filter = state.editor.text();
    t.params = state.param_decls();
    if let Some(v) = get("Intent") {
        t.intent = v;
    }
    if let Some(v) = get("Owner") {
        t.owner = v;
    }
    let note = get("Change note").filter(|n| !n.is_empty());
    t.note = note;
    t.table = state.dataset.table.clone();
    t.key = state.dataset.key.clone();
    let features = features_for_document(state);
    measure::record_features(&mut t, &compiled, &features);
    t.status = match &base {
        // An approval carries over only if it is intact (not a hand-edited approved file).
        Some(b) if b.same_definition(&Template { status: b.status, ..t.clone() }) && b.verify_approval().is_ok() => {
            b.status
        }
        _ => Status::Draft,
    };
    t.parent_version = base.as_ref().map(|b| b.version);
    t.author = state.author.clone();
    t.created_at.clear();
    t.snapshot = None;
    state.document.name = Some(name.clone());
    state.status = Some((Level::Info, format!("saving {name}…")));
    vec![Effect::Send(Request::Task {
        generation: state.generation,
        task: Task::Save { template: Box::new(t), filter: compiled },
    })]
}

pub fn saved(state: &mut AppState, resp: Response) -> Vec<Effect> {
    if let Ok(Part::Saved(outcome, name)) = resp.result {
        if state.document.name.as_deref() != Some(name.as_str()) {
            // A cell of a split saved as a child segment: the edited document is unchanged.
            let what = match outcome {
                SaveOutcome::Saved { version, .. } => format!("saved {name}@{version} (a cell, as a draft)"),
                SaveOutcome::Unchanged { version } => format!("unchanged: {name}@{version} already holds that cell"),
            };
            state.status = Some((Level::Info, what));
            return vec![Effect::ReloadLibrary { history: None }];
        }
        match outcome {
            SaveOutcome::Saved { version, .. } => {
                state.status = Some((Level::Info, format!("saved {name}@{version}")));
                state.document.saved_text = state.editor.text();
                state.document.saved_params = state.param_decls();
                // The library reload makes the new version the document's origin.
                state.document.origin =
                    state.document.origin.take().filter(|t| t.name == name).or(Some(Template::new(&name, "")));
                if let Some(o) = state.document.origin.as_mut() {
                    o.version = 0;
                }
            }
            SaveOutcome::Unchanged { version } => {
                state.status =
                    Some((Level::Info, format!("unchanged: identical to {name}@{version}, nothing written")));
                state.document.saved_text = state.editor.text();
                state.document.saved_params = state.param_decls();
            }
        }
        return vec![Effect::ReloadLibrary { history: None }];
    }
    Vec::new()
}

pub(super) fn history_diff(state: &AppState, selected: usize) -> Option<Dialog> {
    let (name, versions) = state.library.history.as_ref()?;
    let i = selected.min(versions.len().saturating_sub(1));
    let (a, b) = (versions.get(i.checked_sub(1)?)?, versions.get(i)?);
    Some(Dialog::Diff { name: name.clone(), text: crate::library::diff::VersionDiff::new(a, b).text() })
}

pub fn export_progress(state: &mut AppState, p: Progress) {
    if let Some(Dialog::Export { progress, .. }) = &mut state.dialog {
        let (seg, written, expected) = progress.get_or_insert((String::new(), 0, 0));
        match p {
            Progress::Segment { name, expected: e } => {
                *seg = name;
                *written = 0;
                *expected = e;
            }
            Progress::Rows { written: w, expected: e } => {
                *written = w;
                *expected = e;
            }
        }
    }
}

pub fn export_done(state: &mut AppState, r: Result<Vec<crate::export::ExportedFile>, String>) {
    let text = match &r {
        Ok(files) => Ok(files
            .iter()
            .map(|f| {
                format!(
                    "{} rows → {}\nmanifest {}",
                    crate::format::count(f.rows),
                    f.csv.display(),
                    f.manifest.display()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")),
        Err(e) => Err(e.clone()),
    };
    state.status = Some(match &text {
        Ok(_) => (Level::Info, "export finished".to_string()),
        Err(e) => (Level::Error, format!("export failed: {e}")),
    });
    match &mut state.dialog {
        Some(Dialog::Export { result, .. }) => *result = Some(text),
        _ => {
            state.dialog = Some(Dialog::Message {
                title: "Export".into(),
                text: match text {
                    Ok(t) => t,
                    Err(e) => e,
                },
            })
        }
    }
}
