//! A paste. The terminal hands pasted text over whole (bracketed paste), so it goes whole into
//! the text input that has focus and is never read as keys: a pasted `a` does not approve, a
//! newline does not submit a dialog, a Tab does not complete. Where no text input has focus it
//! is dropped, and the status line says so.

use std::time::Instant;

use super::edit::on_edit;
use crate::tui::action::Effect;
use crate::tui::keymap::Mode;
use crate::tui::state::*;

pub(super) fn on_paste(state: &mut AppState, text: &str, now: Instant) -> Vec<Effect> {
    // Terminals send a pasted line break as CR (as the Enter key does).
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    match state.mode() {
        Mode::Editor => {
            state.editor.completion = None;
            // Line breaks and tabs are the filter's own; other control characters (a stray
            // escape) are not text.
            let text: String = text.chars().filter(|c| !c.is_control() || matches!(c, '\n' | '\t')).collect();
            let before = state.editor.text();
            state.editor.textarea.insert_str(&text);
            if state.editor.text() != before {
                on_edit(state, now);
            }
        }
        Mode::Search => {
            state.library.query.push_str(&one_line(&text).to_lowercase());
            state.library.selected = 0;
        }
        Mode::ParamInput => {
            if let Some(input) = state.params.input.as_mut() {
                input.push_str(&one_line(&text));
            }
        }
        Mode::Name => {
            if let Some(Dialog::Name { input, error, .. }) = &mut state.dialog {
                input.push_str(&one_line(&text));
                *error = None;
            }
        }
        Mode::Save => {
            if let Some(Dialog::Save { fields, focused, error }) = &mut state.dialog
                && let Some(f) = fields.get_mut(*focused)
            {
                f.value.push_str(&one_line(&text));
                *error = None;
            }
        }
        // While an export runs, or once it reports, the dialog takes no text.
        Mode::Export if matches!(&state.dialog, Some(Dialog::Export { progress: None, result: None, .. })) => {
            if let Some(Dialog::Export { fields, focused, .. }) = &mut state.dialog
                && let Some(f) = fields.get_mut(*focused)
            {
                f.value.push_str(&one_line(&text));
            }
        }
        _ => {
            state.status = Some((
                Level::Warn,
                "paste ignored: no text input has focus (paste into the editor, a dialog field or the search)".into(),
            ));
        }
    }
    Vec::new()
}

/// Pasted text for a one-line input: a trailing line break dropped (copying a line takes it
/// along), inner ones and tabs as spaces, other control characters left out.
fn one_line(text: &str) -> String {
    text.trim_end_matches('\n')
        .chars()
        .filter_map(|c| match c {
            '\n' | '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}
