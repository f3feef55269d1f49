//! The hygiene report and the compare view: the text `seglens hygiene` / `seglens compare` print,
//! scrolled, with flagged lines (⚠, ⚑) in the warning colour.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::panel;
use crate::tui::action::Report;
use crate::tui::jobs::JobKind;
use crate::tui::state::{AppState, ReportState, View};
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let (name, key, r, which): (&str, &str, &ReportState, Report) = match state.view {
        View::Compare => ("Compare", "F9", &state.compare, Report::Compare),
        _ => ("Data hygiene", "F8", &state.hygiene, Report::Hygiene),
    };
    let status = if state.measuring(JobKind::Report(which)) { " · measuring…" } else { "" };
    let title = format!(" {name}: {}{status} (↑↓ PgUp PgDn · F5 again · {key}/Esc: back) ", r.subject);
    let block = panel(title, true, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines: Vec<Line> = match &r.text {
        None => vec![Line::styled(
            "measuring on a connection of its own; the explorer stays live (F8/F9 goes back)",
            theme.muted(),
        )],
        Some(Err(e)) => vec![Line::styled(format!("✗ {e}"), theme.error())],
        Some(Ok(text)) => text
            .lines()
            .map(|l| {
                let style = if l.contains('⚠') || l.contains('⚑') { theme.warn() } else { theme.text() };
                Line::styled(l.to_string(), style)
            })
            .collect(),
    };
    frame.render_widget(Paragraph::new(lines).scroll((r.scroll, 0)), inner);
}
