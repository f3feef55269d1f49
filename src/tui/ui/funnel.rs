//! The funnel view: each top-level clause of the edited filter (each branch of a top-level OR)
//! with its running count as a bar, what it removes (or adds), the size without it, the rows it
//! cannot judge (NULL), and a flag when it removes nothing or everything. Clauses switched off
//! for a what-if are dimmed and the size shows what the filter would give without them.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{bar, fit, panel};
use crate::engine::query::funnel::{ClauseFlag, Join};
use crate::format::{count, percent};
use crate::tui::state::{AppState, WorkerState};
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let pending = state.preview_due.is_some() || matches!(state.worker, WorkerState::Running { .. });
    let current = state.funnel.generation == state.generation && state.editor.error.is_none();
    let when = match (current || state.funnel.shown.is_none(), pending) {
        (true, _) => "",
        (false, true) => " · updating…",
        (false, false) => " · out of date",
    };
    let block = panel(format!(" Funnel{when} (Space: clause off/on · ↑↓ · F7/Esc: back) "), true, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(f) = &state.funnel.shown else {
        let msg = if state.compiled.is_none() {
            "No valid filter: write one in the editor (F7 returns there)."
        } else {
            "measuring…"
        };
        frame.render_widget(Paragraph::new(Line::styled(msg, theme.muted())), inner);
        return;
    };
    let w = inner.width as usize;
    let mut lines = vec![headline(f, state, theme)];
    lines.extend(clause_lines(f, state.funnel.selected, w, theme));
    lines.push(Line::raw(""));
    let why = match f.join {
        Join::And => {
            "running: passes this clause and all before it · without: the filter with this clause off · NULL: the clause cannot judge these rows"
        }
        Join::Or => {
            "running: in this branch or one before it · adds: rows this branch brings first · without: the filter without this branch"
        }
    };
    lines.push(Line::styled(fit(why, w), theme.muted()));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The size (with what the clauses switched off change) and whether the segment is empty.
fn headline<'a>(f: &crate::engine::query::funnel::Funnel, state: &AppState, theme: &Theme) -> Line<'a> {
    let measured = state.funnel.measured.as_ref().map_or(f.size, |m| m.size);
    let off = f.clauses.iter().filter(|c| !c.enabled).count();
    let share = |n: u64| n as f64 / f.base.max(1) as f64;
    let mut head = vec![Span::styled(
        format!("{} of {} customers  {}", count(f.size), count(f.base), percent(share(f.size))),
        theme.accent(),
    )];
    if off > 0 {
        let sign = if f.size >= measured { '+' } else { '-' };
        head.push(Span::styled(
            format!(
                "   what-if: {off} clause{} off ({sign}{} against {})",
                if off == 1 { "" } else { "s" },
                count(f.size.abs_diff(measured)),
                count(measured)
            ),
            theme.warn(),
        ));
    }
    if f.size == 0 && f.base > 0 {
        head.push(Span::styled("   ⚠ empty: no customer matches", theme.error()));
    }
    Line::from(head)
}

/// The column heads, then one line a clause (and its flag, if any).
fn clause_lines<'a>(
    f: &crate::engine::query::funnel::Funnel,
    selected: usize,
    w: usize,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let share = |n: u64| n as f64 / f.base.max(1) as f64;
    let mut lines = Vec::new();
    let (verb, join) = match f.join {
        Join::And => ("removes", "AND"),
        Join::Or => ("adds", "OR"),
    };
    let figures = 4 * 11;
    let bar_w = 16usize;
    let text_w = w.saturating_sub(figures + bar_w + 8).max(10);
    lines.push(Line::styled(
        format!(
            "{:<4}{:<text_w$} {:<bar_w$} {:>10} {:>10} {:>10} {:>10}",
            "#", "clause", "", "running", verb, "without", "NULL"
        ),
        theme.muted(),
    ));
    for (i, c) in f.clauses.iter().enumerate() {
        let selected = i == selected;
        let text = c.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let prefix = if i == 0 { String::new() } else { format!("{join} ") };
        let style = match (selected, c.enabled) {
            (true, _) => theme.selection(),
            (false, true) => theme.text(),
            (false, false) => theme.muted(),
        };
        let mark = if c.enabled { "●" } else { "○" };
        lines.push(Line::from(vec![
            Span::styled(format!("{:<2}{mark} ", i + 1), style),
            Span::styled(format!("{:<text_w$}", fit(&format!("{prefix}{text}"), text_w)), style),
            Span::styled(format!(" {}", bar(share(c.running), bar_w)), theme.bar_segment()),
            Span::styled(
                format!(
                    " {:>10} {:>10} {:>10} {:>10}",
                    count(c.running),
                    if c.enabled { count(c.step) } else { "off".into() },
                    count(c.without),
                    count(c.unknown)
                ),
                if c.enabled { theme.text() } else { theme.muted() },
            ),
        ]));
        let flag = match c.flag {
            Some(ClauseFlag::RemovesNothing) => Some("⚠ removes nothing: the other clauses give the same segment"),
            Some(ClauseFlag::RemovesEverything) => Some("⚠ removes everything: an AND where an OR was meant?"),
            Some(ClauseFlag::AddsNothing) => Some("⚠ adds nothing: every row it brings, another branch brings"),
            Some(ClauseFlag::MatchesNobody) => Some("⚠ matches nobody"),
            None => None,
        };
        if let Some(flag) = flag {
            lines.push(Line::styled(format!("      {}", fit(flag, w.saturating_sub(6))), theme.warn()));
        }
    }
    lines
}
