//! The schema browser (entity columns with type, null share, distinct count and top values; the
//! other tables) and the feature list.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{fit, focused, panel};
use crate::format::{count, percent};
use crate::tui::state::{AppState, Focus};
use crate::tui::theme::Theme;

/// Rows for the entity's columns: the other tables take the last two.
pub fn list_height(inner_height: u16) -> usize {
    inner_height.saturating_sub(2) as usize
}

pub fn render(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let is_focused = focused(state, Focus::Side);
    let block = panel(format!(" Schema: {} · F4: features ", state.dataset.table), is_focused, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let stats = state.schema.schema.as_ref().and_then(|s| s.entity());
    let shown = state.shown_columns();
    let mut lines = Vec::new();
    let h = list_height(inner.height);
    let skip = super::list_offset(state.schema.selected, h);
    let name_w = state.dataset.columns.iter().map(|c| c.name.chars().count()).max().unwrap_or(8).min(22);
    for (i, c) in state.dataset.columns.iter().enumerate().skip(skip).take(h) {
        let st = stats.and_then(|t| t.columns.iter().find(|x| x.name == c.name));
        let selected = i == state.schema.selected && is_focused;
        let mark = if shown.contains(&c.name) { "▪" } else { " " };
        let top =
            st.map_or(String::new(), |s| s.top.iter().take(3).map(|(v, _)| v.clone()).collect::<Vec<_>>().join(", "));
        let null = st.map_or(String::new(), |s| {
            if s.null_share > 0.0 { format!("{} null", percent(s.null_share)) } else { String::new() }
        });
        let distinct = st.map_or(String::new(), |s| format!("~{}", count(s.distinct)));
        lines.push(Line::from(vec![
            Span::styled(mark, theme.accent()),
            Span::styled(
                format!("{:<name_w$} ", fit(&c.name, name_w)),
                if selected { theme.selection() } else { theme.ok() },
            ),
            Span::styled(format!("{:<9}", fit(&c.ty, 9)), theme.muted()),
            Span::styled(format!("{distinct:>9} {null:>10} "), theme.muted()),
            Span::styled(top, theme.text()),
        ]));
    }
    if let Some(s) = &state.schema.schema {
        let others: Vec<String> = s
            .tables
            .iter()
            .filter(|t| !t.is_entity)
            .map(|t| match t.unreadable {
                Some(_) => format!("{} (cannot be read)", t.name),
                None => format!("{} ({} rows)", t.name, count(t.rows)),
            })
            .collect();
        if !others.is_empty() {
            lines.push(Line::styled(format!("also: {}", others.join(", ")), theme.muted()));
        }
    } else {
        lines.push(Line::styled("reading column statistics…", theme.muted()));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

pub fn render_features(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let is_focused = focused(state, Focus::Side);
    let lib = &state.library;
    let block = panel(format!(" Features ({}) · Enter inserts · F4: library ", lib.features.len()), is_focused, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines = Vec::new();
    if let Some(e) = &lib.feature_error {
        lines.push(Line::styled(format!("✗ {e}"), theme.error()));
    }
    for b in &lib.features.broken {
        lines.push(Line::styled(format!("✗ {}: {}", b.name, b.reason), theme.error()));
    }
    let list_h = inner.height.saturating_sub(4) as usize;
    let skip = super::list_offset(lib.feature_selected, list_h);
    for (i, f) in lib.features.iter().enumerate().skip(skip).take(list_h) {
        let selected = i == lib.feature_selected && is_focused;
        lines.push(Line::from(vec![
            Span::styled(
                format!("{}({})", f.name, f.params.join(", ")),
                if selected { theme.selection() } else { theme.warn() },
            ),
            Span::styled(format!("  {}", f.description), theme.muted()),
        ]));
    }
    if let Some(f) = lib.features.iter().nth(lib.feature_selected) {
        lines.push(Line::styled(f.sql.split_whitespace().collect::<Vec<_>>().join(" "), theme.text()));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
}
