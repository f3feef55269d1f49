//! The movement view (where the customers of an earlier export are now: a heat-shaded matrix,
//! each row shaded by its own total, and the largest flows in words) and the split view (the
//! edited segment's cells with size, share and a bar; marked cells for s and e).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{bar, fit, panel};
use crate::format::{count, percent};
use crate::report::{flow, place};
use crate::tui::state::{AppState, WorkerState};
use crate::tui::theme::Theme;

pub fn render_movement(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let m = &state.movement;
    let status = if state.measuring(crate::tui::jobs::JobKind::Movement) { " · measuring…" } else { "" };
    let title =
        format!(" Movement: {} → now{status} (←/→ earlier/later export · F5 again · F10/Esc: back) ", m.subject());
    let block = panel(title, true, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mv = match &m.result {
        None => {
            let msg = "measuring on a connection of its own; the explorer stays live (F10 goes back)";
            frame.render_widget(Paragraph::new(Line::styled(msg, theme.muted())), inner);
            return;
        }
        Some(Err(e)) => {
            frame.render_widget(Paragraph::new(Line::styled(format!("✗ {e}"), theme.error())), inner);
            return;
        }
        Some(Ok(mv)) => mv,
    };
    let flows = mv.largest_flows(6);
    let (from, to) = (mv.rows(), mv.columns());
    let name_w = from.iter().map(|&p| place(p).chars().count()).max().unwrap_or(12).clamp(12, 24);
    let cell_w = to.iter().map(|&p| place(p).chars().count()).max().unwrap_or(9).clamp(9, 14);
    let cols = ((inner.width as usize).saturating_sub(name_w + 12) / (cell_w + 1)).min(to.len());
    // The flows right under the matrix: its header, rows, the note, and a line when columns are hidden.
    let matrix_h = from.len() as u16 + 2 + u16::from(cols < to.len());
    let [matrix_area, flows_area, _] = Layout::vertical([
        Constraint::Length(matrix_h),
        Constraint::Length(flows.len() as u16 + 1),
        Constraint::Min(0),
    ])
    .areas(inner);
    let mut lines = Vec::new();
    let mut head = vec![Span::styled(format!("{:<name_w$}", "was \\ is now"), theme.muted())];
    for &t in &to[..cols] {
        head.push(Span::styled(format!("{:>cell_w$} ", fit(place(t), cell_w)), theme.muted()));
    }
    head.push(Span::styled(format!("{:>10}", "total"), theme.muted()));
    lines.push(Line::from(head));
    for &f in &from {
        let total: u64 = to.iter().filter_map(|&t| mv.count(f, t)).sum();
        let mut row = vec![Span::styled(format!("{:<name_w$}", fit(place(f), name_w)), theme.text())];
        for &t in &to[..cols] {
            match mv.count(f, t) {
                // Shaded by the row's own total: where the customers of that place went.
                Some(n) => {
                    let ratio = if total == 0 { 0.0 } else { n as f64 / total as f64 };
                    row.push(Span::styled(format!("{:>cell_w$}", count(n)), theme.heat(ratio)));
                }
                None => row.push(Span::styled(format!("{:>cell_w$}", "—"), theme.muted())),
            }
            row.push(Span::raw(" "));
        }
        row.push(Span::styled(format!("{:>10}", count(total)), theme.text()));
        lines.push(Line::from(row));
    }
    if cols < to.len() {
        lines.push(Line::styled(
            format!("({} columns do not fit; widen the terminal, or use seglens movement)", to.len() - cols),
            theme.muted(),
        ));
    }
    lines.push(Line::styled(
        "rows: where customers were at that export; columns: where they are now (each counted once, by priority)",
        theme.muted(),
    ));
    frame.render_widget(Paragraph::new(lines), matrix_area);
    let mut out = vec![Line::styled("largest flows", theme.muted())];
    let max = flows.first().map_or(1, |c| c.count).max(1);
    for c in flows {
        out.push(Line::from(vec![
            Span::styled(bar(c.count as f64 / max as f64, 16), theme.bar_segment()),
            Span::styled(format!("  {}", flow(c)), theme.text()),
        ]));
    }
    frame.render_widget(Paragraph::new(out), flows_area);
}

pub fn render_split(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let sp = &state.split;
    let pending = state.preview_due.is_some() || matches!(state.worker, WorkerState::Running { .. });
    let current = sp.generation == state.generation && state.editor.error.is_none();
    let when = match (current || sp.measured.is_none(), pending) {
        (true, _) => "",
        (false, true) => " · updating…",
        (false, false) => " · out of date",
    };
    let title = format!(
        " Split by {}{when} (←/→ column · +/- columns · Space mark · s save cells · e export · Ctrl-T/Esc: back) ",
        sp.by.join(" × ")
    );
    let block = panel(title, true, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(s) = &sp.measured else {
        let msg = if state.compiled.is_none() || state.editor.error.is_some() {
            "No valid filter: write one in the editor (Ctrl-T returns there)."
        } else {
            "measuring…"
        };
        frame.render_widget(Paragraph::new(Line::styled(msg, theme.muted())), inner);
        return;
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{} customers in {} cells", count(s.size), count(s.cells.len() as u64 + s.more_cells)),
            theme.accent(),
        ),
        Span::styled(format!("   cells under {} of the segment are marked small", percent(s.min_share)), theme.muted()),
    ])];
    let labels: Vec<String> = s.cells.iter().map(|c| c.label(&s.by)).collect();
    let label_w = labels.iter().map(|l| l.chars().count()).max().unwrap_or(8).clamp(8, 40);
    // The selected cell stays in view: the list scrolls under it.
    let rows = inner.height.saturating_sub(3) as usize;
    let offset = sp.selected.saturating_sub(rows.saturating_sub(1));
    let max = s.cells.first().map_or(1, |c| c.size).max(1);
    for (i, (c, l)) in s.cells.iter().zip(&labels).enumerate().skip(offset).take(rows) {
        let marked = sp.marked.contains(&c.values_in(&s.by));
        let style = if i == sp.selected { theme.selection() } else { theme.text() };
        lines.push(Line::from(vec![
            Span::styled(format!("{} {:<label_w$}", if marked { "●" } else { " " }, fit(l, label_w)), style),
            Span::styled(format!(" {:>10} {:>7} ", count(c.size), percent(c.share_of_segment)), theme.text()),
            Span::styled(bar(c.size as f64 / max as f64, 20), theme.bar_segment()),
            Span::styled(if c.small { "  ▫ small" } else { "" }, theme.warn()),
        ]));
    }
    if s.more_cells > 0 {
        lines.push(Line::styled(
            format!(
                "({} more cells, holding {} customers: split by coarser columns to list them)",
                count(s.more_cells),
                count(s.more_size)
            ),
            theme.muted(),
        ));
    }
    let marked = sp.marked.len();
    let hint = if marked == 0 {
        "s saves the selected cell as a child segment; e exports every cell to one file".to_string()
    } else {
        format!("{marked} marked: s saves them as child segments, e exports them to one file")
    };
    lines.push(Line::styled(hint, theme.muted()));
    frame.render_widget(Paragraph::new(lines), inner);
}
