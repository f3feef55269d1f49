//! The overlap view: the working set (with the edited segment) as a heat-shaded matrix of counts
//! or Jaccard, each segment's size, exclusive count under the priority order and what suppressions
//! remove, the count in none, and the largest exact combinations.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{fit, panel};
use crate::format::{count, percent};
use crate::tui::state::{AppState, WorkerState};
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let mode = if state.overlap.jaccard { "Jaccard" } else { "customers in both" };
    // Figures of an earlier working set or edit stay on screen until the new ones arrive, marked.
    let pending = state.preview_due.is_some() || matches!(state.worker, WorkerState::Running { .. });
    let current = state.overlap.generation == state.generation && !pending && state.editor.error.is_none();
    let when = match (current || state.overlap.result.is_none(), pending) {
        (true, _) => "",
        (false, true) => " · updating…",
        (false, false) => " · out of date",
    };
    let block =
        panel(format!(" Overlap — {mode}{when} (j: toggle · K/J: priority · x: remove · F3/Esc: back) "), true, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(o) = &state.overlap.result else {
        let msg = if state.library.working.is_empty() {
            "The working set is empty: in the library (F4), press Space on segments to add them; F3 returns here."
        } else {
            "measuring…"
        };
        frame.render_widget(Paragraph::new(Line::styled(msg, theme.muted())), inner);
        return;
    };
    let n = o.segments.len();
    let combos_h = (o.combinations.len().min(8) + 2) as u16;
    let [matrix_area, combos_area] = Layout::vertical([Constraint::Min(3), Constraint::Length(combos_h)]).areas(inner);
    let name_w = o.segments.iter().map(|s| s.name.chars().count()).max().unwrap_or(8).clamp(8, 26);
    let cell_w = 9usize;
    let fixed = name_w + 4 + 3 * 10;
    let cols = ((matrix_area.width as usize).saturating_sub(fixed) / (cell_w + 1)).min(n);
    let mut lines = Vec::new();
    let mut head = vec![Span::styled(format!("{:<w$}", "#  segment", w = name_w + 4), theme.muted())];
    for j in 0..cols {
        head.push(Span::styled(format!("{:>cell_w$} ", format!("[{}]", j + 1)), theme.muted()));
    }
    head.push(Span::styled(format!("{:>9} {:>9} {:>9}", "size", "exclusive", "suppr."), theme.muted()));
    lines.push(Line::from(head));
    for (i, s) in o.segments.iter().enumerate() {
        let selected = i == state.overlap.selected;
        let kind = if s.suppression { "⊘" } else { " " };
        let mut row = vec![Span::styled(
            format!("{:<2}{kind} {:<name_w$}", i + 1, fit(&s.name, name_w)),
            if selected { theme.selection() } else { theme.text() },
        )];
        for j in 0..cols {
            let (text, ratio) = cell(o, i, j, state.overlap.jaccard);
            row.push(Span::styled(format!("{text:>cell_w$}"), theme.heat(ratio)));
            row.push(Span::raw(" "));
        }
        row.push(Span::styled(
            format!(
                "{:>9} {:>9} {:>9}",
                count(s.size),
                if s.suppression { "—".into() } else { count(s.exclusive) },
                count(s.suppressed)
            ),
            theme.text(),
        ));
        lines.push(Line::from(row));
    }
    if cols < n {
        let hidden = if n - cols == 1 { "1 column does".to_string() } else { format!("{} columns do", n - cols) };
        lines.push(Line::styled(format!("({hidden} not fit; widen the terminal)"), theme.muted()));
    }
    lines.push(Line::from(vec![
        Span::styled("in none of the segments: ", theme.muted()),
        Span::styled(format!("{} ({})", count(o.none), percent(o.none as f64 / o.base.max(1) as f64)), theme.accent()),
        Span::styled(format!(" of {}", count(o.base)), theme.muted()),
    ]));
    frame.render_widget(Paragraph::new(lines), matrix_area);
    let combos = combinations(o, combos_area.width, theme);
    frame.render_widget(Paragraph::new(combos), combos_area);
}

/// Cell (i, j) of the matrix: its text (count in both, or Jaccard) and its heat (the share of the
/// smaller segment, or the Jaccard index).
fn cell(o: &crate::engine::query::overlap::Overlap, i: usize, j: usize, jaccard: bool) -> (String, f64) {
    if i == j {
        return ("—".to_string(), 0.0);
    }
    let Some(p) = o.pair(i, j) else { return (String::new(), 0.0) };
    if jaccard {
        return (format!("{:.3}", p.jaccard), p.jaccard);
    }
    let smaller = o.segments[i].size.min(o.segments[j].size);
    (count(p.intersection), if smaller == 0 { 0.0 } else { p.intersection as f64 / smaller as f64 })
}

/// The largest exact combinations, as bars.
fn combinations<'a>(o: &crate::engine::query::overlap::Overlap, width: u16, theme: &Theme) -> Vec<Line<'a>> {
    let mut combos = vec![Line::styled("largest combinations (exactly these segments)", theme.muted())];
    let max = o.combinations.first().map_or(1, |c| c.count).max(1);
    for c in o.combinations.iter().take(8) {
        combos.push(Line::from(vec![
            Span::styled(super::bar(c.count as f64 / max as f64, 20), theme.bar_segment()),
            Span::styled(format!(" {:>9}  ", count(c.count)), theme.text()),
            Span::styled(fit(&c.members.join(" ∩ "), width.saturating_sub(34) as usize), theme.text()),
        ]));
    }
    combos
}
