use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{fit, focused, panel};
use crate::tui::state::{AppState, Focus};
use crate::tui::theme::Theme;

/// Rows for parameters: an error line takes the last.
pub fn list_height(state: &AppState, inner_height: u16) -> usize {
    inner_height.saturating_sub(u16::from(state.params.error.is_some())) as usize
}

pub fn render(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let is_focused = focused(state, Focus::Params);
    let block = panel(" Parameters ", is_focused, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let p = &state.params;
    let mut lines: Vec<Line> = Vec::new();
    if p.items.is_empty() {
        lines.push(Line::styled("no {{params}} — write {{days}} in the filter to add one", theme.muted()));
    }
    let name_w = p.items.iter().map(|i| i.name.chars().count()).max().unwrap_or(4).min(18);
    let visible = list_height(state, inner.height);
    let skip = super::list_offset(p.selected, visible);
    for (i, item) in p.items.iter().enumerate().skip(skip).take(visible) {
        let selected = i == p.selected && is_focused;
        let value = match (&p.input, selected) {
            (Some(input), true) => format!("{input}▏"),
            _ => item.value.as_ref().map_or("(no value: Enter)".to_string(), |v| v.to_input()),
        };
        let ty = if item.declared { item.decl.ty.name().to_string() } else { format!("{}?", item.decl.ty.name()) };
        let bounds = match (&item.decl.min, &item.decl.max) {
            (None, None) => String::new(),
            (a, b) => format!(
                " [{}..{}]",
                a.as_ref().map_or(String::new(), |v| v.to_input()),
                b.as_ref().map_or(String::new(), |v| v.to_input())
            ),
        };
        let row_style = if selected { theme.selection() } else { theme.text() };
        let mut spans = vec![
            Span::styled(
                format!("{:<name_w$} ", fit(&item.name, name_w)),
                if selected { row_style } else { theme.title(true) },
            ),
            Span::styled(format!("{ty:<12} "), if selected { row_style } else { theme.muted() }),
            Span::styled(value, row_style),
            Span::styled(bounds, theme.muted()),
        ];
        if !item.decl.description.is_empty() {
            spans.push(Span::styled(format!("  {}", item.decl.description), theme.muted()));
        }
        lines.push(Line::from(spans));
    }
    if let Some(e) = &p.error {
        lines.push(Line::styled(format!("✗ {e}"), theme.error()));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
