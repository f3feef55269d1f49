use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::preview::worker_text;
use crate::format::count;
use crate::tui::keymap;
use crate::tui::state::{AppState, Level};
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let (worker, failed) = worker_text(state);
    let mut top = vec![
        Span::styled(format!(" {} ", state.dataset.label), theme.accent()),
        Span::styled(
            format!("· {} by {} · {} customers · ", state.dataset.table, state.dataset.key, count(state.dataset.base)),
            theme.muted(),
        ),
    ];
    // What the user's last action did comes before the timings, whose length varies, and the
    // context gives way when the two do not fit: the message is never cut off.
    if let Some((level, msg)) = &state.status {
        let style = match level {
            Level::Info => theme.ok(),
            Level::Warn => theme.warn(),
            Level::Error => theme.error(),
        };
        top.push(Span::styled(msg.clone(), style));
        top.push(Span::raw("  "));
        if top.iter().map(Span::width).sum::<usize>() > area.width as usize {
            top.remove(1);
        }
    }
    top.push(Span::styled(worker, if failed { theme.error() } else { theme.text() }));
    let mut hints = vec![Span::raw(" ")];
    for (key, what) in keymap::hints(state.panel_mode()) {
        hints.push(Span::styled(key, theme.accent()));
        hints.push(Span::styled(format!(" {what}  "), theme.muted()));
    }
    frame.render_widget(Paragraph::new(vec![Line::from(top), Line::from(hints)]), area);
}
