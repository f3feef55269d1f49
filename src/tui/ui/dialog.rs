//! Dialogs: save, export (with progress), name a new segment, confirm quit, history and diff.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{bar, fit, panel, popup};
use crate::format::count;
use crate::tui::state::{AppState, Dialog, Field, NamePurpose};
use crate::tui::theme::Theme;

fn field_lines<'a>(fields: &'a [Field], focused: usize, theme: &Theme, width: usize) -> Vec<Line<'a>> {
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let cursor = if i == focused { "▏" } else { "" };
            let style = if i == focused { theme.selection() } else { theme.text() };
            Line::from(vec![
                Span::styled(format!("{:>20}: ", f.label), theme.muted()),
                Span::styled(format!("{}{cursor}", fit(&f.value, width.saturating_sub(24))), style),
            ])
        })
        .collect()
}

pub fn render(frame: &mut Frame, area: Rect, d: &Dialog, state: &AppState, theme: &Theme) {
    let (title, lines, h): (String, Vec<Line>, u16) = match d {
        Dialog::Save { fields, focused, error } => {
            let mut l = vec![
                Line::styled(
                    format!("Saves the filter and its parameters as the next version of {}.", state.title()),
                    theme.muted(),
                ),
                Line::raw(""),
            ];
            l.extend(field_lines(fields, *focused, theme, 70));
            l.push(Line::raw(""));
            if let Some(e) = error {
                l.push(Line::styled(format!("✗ {e}"), theme.error()));
            }
            l.push(Line::styled("Tab/↓ next field · Enter on the last field saves · Esc cancels", theme.muted()));
            (" Save version ".into(), l, 12)
        }
        Dialog::Export { .. } => (" Export to CSV ".into(), export_lines(d, theme), 14),
        Dialog::Name { purpose, input, error } => {
            let what = match purpose {
                NamePurpose::New => "Name of the new segment (starts an empty filter):",
                NamePurpose::Duplicate => "Save the current definition under a new name:",
            };
            let mut l = vec![Line::styled(what, theme.text()), Line::styled(format!("{input}▏"), theme.selection())];
            if let Some(e) = error {
                l.push(Line::styled(format!("✗ {e}"), theme.error()));
            }
            l.push(Line::styled("Enter confirms · Esc cancels", theme.muted()));
            (" Name ".into(), l, 7)
        }
        Dialog::ConfirmQuit => (
            " Unsaved edits ".into(),
            vec![
                Line::styled("The filter has unsaved edits.", theme.warn()),
                Line::styled("y: quit and drop them · s: save first · any other key: stay", theme.text()),
            ],
            5,
        ),
        Dialog::History { selected } => {
            (" History ".into(), history_lines(state, *selected, theme), area.height.saturating_sub(6).min(24))
        }
        Dialog::Diff { name, text } => {
            let l = text
                .lines()
                .map(|t| {
                    let style = if t.starts_with('+') {
                        theme.ok()
                    } else if t.starts_with('-') {
                        theme.error()
                    } else {
                        theme.text()
                    };
                    Line::styled(t.to_string(), style)
                })
                .collect();
            (format!(" Diff: {name} (Esc closes) "), l, area.height.saturating_sub(6).min(24))
        }
        Dialog::Message { title, text } => {
            (format!(" {title} "), text.lines().map(|t| Line::styled(t.to_string(), theme.text())).collect(), 10)
        }
    };
    let r = popup(frame, area, 96, h);
    let block = panel(title, true, theme);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// The export dialog: its fields and toggles, then the counts since the last export, the
/// progress, or how it ended.
fn export_lines<'a>(d: &'a Dialog, theme: &Theme) -> Vec<Line<'a>> {
    let Dialog::Export { fields, focused, exclusive, suppress, progress, result, changes, .. } = d else {
        return Vec::new();
    };
    let mut l = field_lines(fields, *focused, theme, 70);
    let flag = |on: bool| if on { "[x]" } else { "[ ]" };
    l.push(Line::from(vec![
        Span::styled(format!("{} exclusive (Ctrl-X)   ", flag(*exclusive)), theme.text()),
        Span::styled(format!("{} subtract approved suppressions (Ctrl-U)", flag(*suppress)), theme.text()),
    ]));
    l.push(Line::raw(""));
    match (progress, result) {
        (_, Some(Ok(text))) => {
            l.push(Line::styled("✓ exported", theme.ok()));
            l.extend(text.lines().map(|t| Line::styled(t.to_string(), theme.text())));
            l.push(Line::styled("any key closes", theme.muted()));
        }
        (_, Some(Err(e))) => {
            l.push(Line::styled(format!("✗ {e}"), theme.error()));
            l.push(Line::styled("nothing was written under the final name · any key closes", theme.muted()));
        }
        (Some((seg, written, expected)), None) => {
            let ratio = if *expected == 0 { 0.0 } else { *written as f64 / *expected as f64 };
            l.push(Line::from(vec![
                Span::styled(bar(ratio, 30), theme.bar_segment()),
                Span::styled(format!(" {seg} {} / {}", count(*written), count(*expected)), theme.text()),
            ]));
        }
        (None, None) => {
            match changes {
                None => l.push(Line::styled("measuring who joined and left since the last export…", theme.muted())),
                Some(Err(e)) => l.push(Line::styled(format!("adds and drops: {e}"), theme.warn())),
                Some(Ok(lines)) => l.extend(lines.iter().map(|t| Line::styled(t.clone(), theme.text()))),
            }
            l.push(Line::styled(
                "Exports the latest approved version of each segment, with a manifest beside the CSV. Enter starts.",
                theme.muted(),
            ));
        }
    }
    l
}

/// The versions of `state.library.history`, the one under the cursor highlighted.
fn history_lines<'a>(state: &'a AppState, selected: usize, theme: &Theme) -> Vec<Line<'a>> {
    let mut l = Vec::new();
    if let Some((name, versions)) = &state.library.history {
        l.push(Line::styled(
            format!("{name}: {} versions · ↑↓ select · d: diff with the previous · Esc closes", versions.len()),
            theme.muted(),
        ));
        for (i, t) in versions.iter().enumerate() {
            let sel = i == selected.min(versions.len().saturating_sub(1));
            l.push(Line::styled(
                format!(
                    "v{:<4} {:<9} {:<21} {:>10}  {}",
                    t.version,
                    t.status.name(),
                    fit(&t.created_at, 21),
                    t.snapshot.as_ref().map_or("—".into(), |s| count(s.size)),
                    t.note.clone().unwrap_or_default()
                ),
                if sel { theme.selection() } else { theme.text() },
            ));
        }
    }
    l
}
