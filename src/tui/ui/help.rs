//! The `?` / F1 overlay: every key of every mode, read from the same tables dispatch uses.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{panel, popup};
use crate::tui::keymap::{self, Mode};
use crate::tui::state::AppState;
use crate::tui::theme::Theme;

pub const MODES: [Mode; 9] = [
    Mode::Global,
    Mode::Editor,
    Mode::Params,
    Mode::Library,
    Mode::Schema,
    Mode::Features,
    Mode::Members,
    Mode::Overlap,
    Mode::Funnel,
];

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
        out.push(Line::raw(""));
    }
    out.push(Line::styled(
        "In the parameters, Enter types a value; in the library, / filters the list.",
        theme.muted(),
    ));
    out.push(Line::styled(
        "Library: size at save, size now (⚠ drifted); narrow: ✓ approved ✎ draft ✗ retired ⊘ suppression.",
        theme.muted(),
    ));
    out
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
        let max = all.len().saturating_sub(inner_h) as u16;
        frame.render_widget(
            Paragraph::new(all).wrap(Wrap { trim: false }).scroll((state.help_scroll.min(max), 0)),
            inner,
        );
    }
}
