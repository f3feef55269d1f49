//! The `?` / F1 overlay: every key of every mode, read from the same tables dispatch uses.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{panel, popup};
use crate::tui::keymap::{self, Mode};
use crate::tui::state::AppState;
use crate::tui::theme::Theme;

pub const MODES: [Mode; 22] = Mode::ALL;

pub fn lines(theme: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for m in MODES {
        out.push(Line::styled(m.title().to_string(), theme.accent()));
        let table = keymap::table(m);
        let list: Vec<&keymap::Binding> =
            if m == Mode::Global { table.iter().chain(keymap::PANEL.iter()).collect() } else { table.iter().collect() };
        for b in list {
            out.push(Line::from(vec![
                Span::styled(format!("  {:<10}", keymap::key_name(b)), theme.title(true)),
                Span::styled(b.help, theme.text()),
            ]));
        }
        if let Some(other) = m.other_keys() {
            out.push(Line::styled(format!("  {other}"), theme.muted()));
        }
        out.push(Line::raw(""));
    }
    out.push(Line::styled(
        "Library: size at save, size now (⚠ drifted, ▫ small, ∅ empty); narrow: ✓ approved ✎ draft ✗ retired ⊘ suppression.",
        theme.muted(),
    ));
    out
}

/// The overlay's inner size on a terminal of `width` × `height`.
fn inner_size(width: u16, height: u16) -> (u16, usize) {
    let (w, h) = (80.min(width), height.saturating_sub(2).min(height));
    (w, h.saturating_sub(2) as usize)
}

/// How far the overlay can scroll on a terminal of this size (0 when everything fits), counting
/// wrapped lines as drawn. `update` stops the scroll here, so ↑ answers at once after scrolling
/// past the end.
pub fn max_scroll(width: u16, height: u16) -> u16 {
    // The theme only colours the lines.
    let all = lines(&Theme::default_theme());
    let (w, inner_h) = inner_size(width, height);
    if w >= 78 && all.len().div_ceil(2) <= inner_h {
        return 0;
    }
    let drawn = Paragraph::new(all).wrap(Wrap { trim: false }).line_count(w.saturating_sub(2));
    drawn.saturating_sub(inner_h) as u16
}

pub fn render(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let r = popup(frame, area, 80, area.height.saturating_sub(2));
    let all = lines(theme);
    let half = all.len().div_ceil(2);
    let inner_h = r.height.saturating_sub(2) as usize;
    // Two columns when everything fits that way; otherwise one column that scrolls.
    let two = r.width >= 78 && half <= inner_h;
    let scrolls = !two && all.len() > inner_h;
    let title = if scrolls { " Keys (↑↓ PgUp PgDn scroll · Esc closes) " } else { " Keys (Esc closes) " };
    let block = panel(title, true, theme);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    if two {
        let left = Rect { width: inner.width / 2, ..inner };
        let right = Rect { x: inner.x + inner.width / 2, width: inner.width - inner.width / 2, ..inner };
        frame.render_widget(Paragraph::new(all[..half].to_vec()), left);
        frame.render_widget(Paragraph::new(all[half..].to_vec()), right);
    } else {
        let max = max_scroll(area.width, area.height);
        frame.render_widget(
            Paragraph::new(all).wrap(Wrap { trim: false }).scroll((state.help_scroll.min(max), 0)),
            inner,
        );
    }
}
