//! The segment library: status, version, size at save and now (drift marked), working-set marks,
//! and the selected segment's owner and intent.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{fit, focused, panel};
use crate::engine::query::size::SizeMark;
use crate::format::count;
use crate::library::{Kind, Status};
use crate::tui::state::{AppState, Focus};
use crate::tui::theme::Theme;

/// Drift past this share of the size at save is marked.
pub const DRIFT: f64 = 0.2;

fn detail_height(inner_height: u16) -> u16 {
    if inner_height >= 10 { 3 } else { 0 }
}

/// Rows for segments: what the details below and the load errors leave.
pub fn list_height(state: &AppState, inner_height: u16) -> usize {
    let err_h = state.library.errors.len().min(2) as u16;
    inner_height.saturating_sub(detail_height(inner_height) + err_h) as usize
}

pub fn render(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let is_focused = focused(state, Focus::Side);
    let lib = &state.library;
    let title = title(lib);
    let block = panel(title, is_focused, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let visible = lib.visible();
    let detail_h = detail_height(inner.height);
    let list_h = list_height(state, inner.height);
    let mut lines: Vec<Line> = Vec::new();
    if visible.is_empty() {
        lines.push(Line::styled(
            if lib.templates.is_empty() {
                format!("no segments in {} — Ctrl-S saves one", lib.dir)
            } else {
                "no match".into()
            },
            theme.muted(),
        ));
    }
    let skip = super::list_offset(lib.selected, list_h);
    // Below 50 columns a row keeps the name, version, status and size now, with symbols for the
    // status and the kind, and drops the size at save (its drift still shows as ⚠).
    let compact = inner.width < 50;
    let name_w = (inner.width as usize).saturating_sub(if compact { 22 } else { 43 }).clamp(6, 28);
    for (i, t) in visible.iter().enumerate().skip(skip).take(list_h) {
        let selected = i == lib.selected;
        let in_set = lib.working.iter().position(|w| *w == t.name);
        let mark = in_set.map_or("   ".to_string(), |p| format!("{:>2}▸", p + 1));
        let status_style = match t.status {
            Status::Approved => theme.ok(),
            Status::Draft => theme.warn(),
            Status::Retired => theme.muted(),
        };
        let saved = t.snapshot.as_ref().map(|s| s.size);
        let now = lib.size_now.get(&t.name).copied();
        let drift = match (saved, now) {
            (Some(s), Some(n)) if s > 0 && ((n as f64 - s as f64) / s as f64).abs() > DRIFT => "⚠",
            _ => " ",
        };
        let base = if selected && is_focused { theme.selection() } else { theme.text() };
        let supp = t.kind == Kind::Suppression;
        let mut row = vec![
            Span::styled(mark, theme.accent()),
            Span::styled(format!("{:<name_w$} ", fit(&t.name, name_w)), base),
            Span::styled(format!("v{:<3}", t.version), theme.muted()),
        ];
        if let Some(missing) = lib.not_for_data.get(&t.name) {
            // Written for another database: said once, dimmed, never as an error.
            let w = (inner.width as usize).saturating_sub(name_w + 8);
            row.push(Span::styled(fit(&format!("not for this data (no {missing})"), w), theme.muted()));
            lines.push(Line::from(row));
            continue;
        }
        if compact {
            let symbol = match t.status {
                Status::Approved => "✓",
                Status::Draft => "✎",
                Status::Retired => "✗",
            };
            row.push(Span::styled(format!("{symbol}{}", if supp { "⊘" } else { " " }), status_style));
        } else {
            row.push(Span::styled(format!("{:<9}", t.status.name()), status_style));
            row.push(Span::styled(if supp { "supp " } else { "     " }, theme.warn()));
            row.push(Span::styled(format!("{:>9}", saved.map_or("—".into(), count)), theme.muted()));
        }
        row.push(Span::styled(format!(" {:>9}", now.map_or(String::new(), count)), theme.text()));
        row.push(Span::styled(drift, theme.warn()));
        // Empty is a warning everywhere; small (under --small-share of the base) is a mark.
        row.push(match now.and_then(|n| SizeMark::of(n, state.dataset.base, state.small_share)) {
            Some(SizeMark::Empty) => Span::styled("∅", theme.error()),
            Some(SizeMark::Small) => Span::styled("▫", theme.warn()),
            None => Span::raw(" "),
        });
        lines.push(Line::from(row));
    }
    for e in lib.errors.iter().take(2) {
        lines.push(Line::styled(fit(&format!("✗ {e}"), inner.width as usize), theme.error()));
    }
    frame.render_widget(Paragraph::new(lines), Rect { height: inner.height - detail_h, ..inner });
    if detail_h > 0
        && let Some(t) = lib.selected_template()
    {
        let r = Rect { y: inner.bottom() - detail_h, height: detail_h, ..inner };
        frame.render_widget(Paragraph::new(details(lib, t, theme)).wrap(Wrap { trim: true }), r);
    }
}

/// The panel's title: the search being typed, or the count and whether it is being measured.
fn title(lib: &crate::tui::state::LibraryState) -> String {
    if lib.typing || !lib.query.is_empty() {
        format!(" Library /{}{} ", lib.query, if lib.typing { "▏" } else { "" })
    } else {
        let measuring = if lib.measuring { " · measuring…" } else { "" };
        let other = match lib.not_for_data.len() {
            0 => String::new(),
            n => format!(", {n} for other data"),
        };
        format!(" Library ({}{other}){measuring} · F4: schema ", lib.templates.len())
    }
}

/// The selected segment's owner, priority and intent (or why it is not for this data).
fn details<'a>(lib: &crate::tui::state::LibraryState, t: &crate::library::Template, theme: &Theme) -> Vec<Line<'a>> {
    vec![
        Line::from(vec![
            Span::styled("owner ", theme.muted()),
            Span::styled(t.owner.clone(), theme.text()),
            Span::styled(format!("  priority {}", t.priority), theme.muted()),
        ]),
        match lib.not_for_data.get(&t.name) {
            Some(missing) => {
                Line::styled(format!("not for this data: it reads {missing}, which this database lacks"), theme.muted())
            }
            None => Line::styled(t.intent.clone(), theme.text()),
        },
    ]
}
