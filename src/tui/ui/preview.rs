//! The live preview: size with a bar and the change against the saved version, the engagement
//! profile beside the base, a breakdown by one dimension, and sample members. Figures from an older
//! filter stay on screen, dimmed, while the current one is invalid or still running.

use ratatui::Frame;

use crate::engine::MetricSource;
use crate::engine::query::rollup::RollupStatus;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};

use super::{bar, fit, focused, panel};
use crate::engine::query::size::SizeMark;
use crate::format::{count, metric, percent};
use crate::tui::state::{AppState, Focus, WorkerState};
use crate::tui::theme::Theme;

pub fn render_size(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let block = panel(" Size ", false, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let p = &state.preview;
    let stale = p.stale;
    let mut lines = Vec::new();
    match &p.size {
        None => lines.push(Line::styled(
            match (&state.compiled, &state.worker) {
                (None, _) => "write a filter to see its size",
                (Some(_), WorkerState::Running { .. }) => "measuring…",
                (Some(_), _) if state.preview_due.is_some() => "measuring…",
                (Some(_), _) => "not measured (cancelled): F5 runs the preview",
            },
            theme.muted(),
        )),
        Some(s) => {
            let mut head = vec![
                Span::styled(count(s.size), theme.stale(stale, theme.accent())),
                Span::styled(format!(" of {} customers  ", count(s.base)), theme.stale(stale, theme.text())),
                Span::styled(percent(s.share), theme.stale(stale, theme.accent())),
            ];
            match SizeMark::of(s.size, s.base, state.small_share) {
                Some(SizeMark::Empty) => head.push(Span::styled("  ⚠ empty", theme.error())),
                Some(SizeMark::Small) => {
                    head.push(Span::styled(format!("  small (<{})", percent(state.small_share)), theme.warn()))
                }
                None => {}
            }
            lines.push(Line::from(head));
            let w = inner.width.saturating_sub(2) as usize;
            lines.push(Line::from(vec![Span::styled(bar(s.share, w), theme.stale(stale, theme.bar_segment()))]));
            let mut extra = Vec::new();
            if let (Some(saved), Some(t)) = (state.saved_size(), &state.document.origin) {
                let change = if saved == 0 {
                    String::new()
                } else {
                    format!(" ({:+.1}%)", (s.size as f64 - saved as f64) / saved as f64 * 100.0)
                };
                extra.push(Span::styled(format!("v{} saved {}{change}", t.version, count(saved)), theme.muted()));
            }
            if let Some(u) = &p.unsegmentable
                && u.count > 0
            {
                let style = if u.share > 0.2 { theme.warn() } else { theme.muted() };
                let flag = if u.share > 0.2 { "⚠ " } else { "" };
                if !extra.is_empty() {
                    extra.push(Span::raw("  "));
                }
                extra.push(Span::styled(
                    format!("{flag}{} unsegmentable (NULL {})", percent(u.share), u.columns.join(", ")),
                    style,
                ));
            }
            lines.push(Line::from(extra));
        }
    }
    if stale && p.size.is_some() {
        let why = match (&state.editor.error, &state.compiled) {
            (Some(_), _) => "last valid result, dimmed",
            (None, None) => "the editor is empty: last result, dimmed",
            (None, Some(_)) => "updating…",
        };
        lines.push(Line::styled(why, theme.muted()));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

pub fn render_profile(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    // Metrics inferred from the schema say so: they are seglens' proposal, not the user's choice.
    let inferred = state.preview.profile.as_ref().is_some_and(|p| p.source == MetricSource::Inferred);
    let title = if inferred {
        " Engagement (inferred: seglens metrics --init) ▇ vs base ▇ "
    } else {
        " Engagement: segment ▇ vs base ▇ "
    };
    let block = panel(title, false, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(p) = &state.preview.profile else {
        let text = match &state.preview.rollups {
            Some(RollupStatus::Building { table, percent }) if state.preview.waits_for_rollups() => {
                let what = if table.is_empty() { "rollups".to_string() } else { format!("the {table} rollup") };
                match percent {
                    // DuckDB's estimate follows the scan, which ends before the aggregate does.
                    Some(p) if *p >= 99.5 => format!("computing {what} (finishing)"),
                    Some(p) => format!("computing {what} ({p:.0}%)"),
                    None => format!("computing {what}"),
                }
            }
            _ => "—".to_string(),
        };
        frame.render_widget(Paragraph::new(Line::styled(text, theme.muted())), inner);
        return;
    };
    let stale = state.preview.stale;
    // Narrow panels keep the figures and the lift: the label shrinks first, then the bars go.
    let room = inner.width as usize;
    let label_w = p.metrics.iter().map(|m| m.label.chars().count()).max().unwrap_or(8).min(24);
    let label_w = label_w.min(room.saturating_sub(26).max(4));
    let spare = room.saturating_sub(label_w + 26);
    let bar_w = if spare >= 4 { spare.min(24) / 2 } else { 0 };
    let mut lines = Vec::new();
    for m in p.metrics.iter().take(inner.height as usize) {
        let (s, b) = (m.segment.unwrap_or(0.0), m.base.unwrap_or(0.0));
        let max = s.abs().max(b.abs()).max(f64::MIN_POSITIVE);
        let lift = m.lift.map_or("   —".to_string(), |l| format!("{l:>4.2}x"));
        let lift_style = match m.lift {
            Some(l) if l >= 1.1 => theme.ok(),
            Some(l) if l <= 0.9 => theme.warn(),
            _ => theme.muted(),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{:<label_w$} ", fit(&m.label, label_w)), theme.stale(stale, theme.text())),
            Span::styled(format!("{:>8} ", metric(m.segment, m.format)), theme.stale(stale, theme.accent())),
            Span::styled(bar(s / max, bar_w), theme.stale(stale, theme.bar_segment())),
            Span::styled(format!(" {:>8} ", metric(m.base, m.format)), theme.stale(stale, theme.muted())),
            Span::styled(bar(b / max, bar_w), theme.stale(stale, theme.bar_base())),
            Span::styled(format!(" {lift}"), theme.stale(stale, lift_style)),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

pub fn render_breakdown(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let dim = state.preview.dimension_name().unwrap_or("—");
    let binned = state.preview.breakdown.as_ref().is_some_and(|b| b.column == dim && b.bin_width.is_some());
    let block = panel(format!(" By {dim}{} (F2: next) ", if binned { ", binned" } else { "" }), false, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(b) = &state.preview.breakdown else {
        frame.render_widget(Paragraph::new(Line::styled("—", theme.muted())), inner);
        return;
    };
    let stale = state.preview.stale || b.column != dim;
    let room = inner.width as usize;
    let value_w =
        b.rows.iter().map(|r| r.value.as_deref().unwrap_or("(null)").chars().count()).max().unwrap_or(6).min(18);
    let value_w = value_w.min(room.saturating_sub(30).max(4));
    let spare = room.saturating_sub(value_w + 26);
    let bar_w = if spare >= 4 { spare } else { 0 };
    let max = b.rows.iter().map(|r| r.share).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
    let mut lines = Vec::new();
    for r in b.rows.iter().take(inner.height as usize) {
        let lift = match r.base_share {
            Some(bs) if bs > 0.0 => format!("{:>5.2}x", r.share / bs),
            _ => "     ".into(),
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:<value_w$} ", fit(r.value.as_deref().unwrap_or("(null)"), value_w)),
                theme.stale(stale, theme.text()),
            ),
            Span::styled(bar(r.share / max, bar_w), theme.stale(stale, theme.bar_segment())),
            Span::styled(format!(" {:>9} {:>6} ", count(r.count), percent(r.share)), theme.stale(stale, theme.text())),
            Span::styled(lift, theme.stale(stale, theme.muted())),
        ]));
    }
    if b.other_values > 0 && lines.len() < inner.height as usize {
        lines.push(Line::styled(
            format!("+{} more values: {}", count(b.other_values), count(b.other_count)),
            theme.muted(),
        ));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

pub fn render_members(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let is_focused = focused(state, Focus::Members);
    let n = state.preview.rows.as_ref().map_or(0, |r| r.rows.len());
    let block = panel(format!(" Members (first {n} by key) "), is_focused, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(rs) = &state.preview.rows else {
        return;
    };
    let stale = state.preview.stale;
    // Natural widths, in order, as many columns as fit: a squeezed column shows nothing useful.
    let mut widths: Vec<Constraint> = Vec::new();
    let mut used = 0usize;
    for (i, c) in rs.columns.iter().enumerate() {
        let longest = rs.rows.iter().map(|r| r[i].as_deref().map_or(4, |v| v.chars().count())).max().unwrap_or(4);
        let w = longest.max(c.chars().count()).min(28);
        if used + w > inner.width as usize && !widths.is_empty() {
            break;
        }
        used += w + 1;
        widths.push(Constraint::Length(w as u16));
    }
    let shown = widths.len();
    let header = Row::new(rs.columns.iter().take(shown).cloned()).style(theme.title(true));
    let rows = rs.rows.iter().skip(state.preview.members_offset).map(|r| {
        Row::new(r.iter().take(shown).map(|v| v.clone().unwrap_or_else(|| "NULL".into())))
            .style(theme.stale(stale, theme.text()))
    });
    frame.render_widget(Table::new(rows, widths).header(header).column_spacing(1), inner);
}

/// The worker part of the status line: a spinner while running, else the last timings.
pub fn worker_text(state: &AppState) -> (String, bool) {
    const SPIN: [char; 4] = ['◐', '◓', '◑', '◒'];
    match &state.worker {
        WorkerState::Running { since, .. } => {
            let ms = state.clock.saturating_duration_since(*since).as_millis();
            (format!("{} running {ms} ms (Esc cancels)", SPIN[(ms / 120) as usize % 4]), false)
        }
        WorkerState::Failed(msg) => (format!("✗ {msg}"), true),
        WorkerState::Idle => match (state.preview.size_ms, state.preview.total_ms) {
            (Some(s), Some(t)) => (format!("size {s} ms · preview {t} ms"), false),
            (Some(s), None) => (format!("size {s} ms"), false),
            _ => ("idle".into(), false),
        },
    }
}
