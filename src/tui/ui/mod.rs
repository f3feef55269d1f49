//! Screen layout and overlays; one render function per panel in the sibling modules. Rendering
//! reads state and decides nothing.

mod dialog;
mod editor;
mod funnel;
mod help;
mod library;
mod over_time;
mod overlap;
mod params;
mod preview;
mod report;
mod schema;
mod status;

pub use help::{MODES as HELP_MODES, lines as help_lines, max_scroll as help_max_scroll};

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::state::{AppState, Focus, MIN_HEIGHT, MIN_WIDTH, SideTab, View};
use super::theme::Theme;

/// Where each panel sits; a pure function of the terminal size, so mouse clicks map to panels
/// without reading anything back from rendering.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Areas {
    pub editor: Rect,
    pub params: Rect,
    pub side: Rect,
    pub size: Rect,
    pub profile: Rect,
    pub breakdown: Rect,
    pub members: Rect,
    /// The whole screen above the status line, for the views that take it all (overlap, funnel,
    /// reports, movement, split).
    pub full: Rect,
    pub status: Rect,
}

pub fn layout(area: Rect, view: View) -> Areas {
    let [main, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(area);
    let mut a = Areas { status, ..Areas::default() };
    // Every view but the explorer takes the whole screen, in the same place.
    if view != View::Explore {
        a.full = main;
        return a;
    }
    let [left, right] = Layout::horizontal([Constraint::Percentage(48), Constraint::Percentage(52)]).areas(main);
    let editor_h = (main.height * 3 / 10).max(6);
    let [editor, params, side] =
        Layout::vertical([Constraint::Length(editor_h), Constraint::Length(6), Constraint::Min(3)]).areas(left);
    // Eight metrics and about ten breakdown values fit at 40 rows; the members table takes the rest.
    let rest = main.height.saturating_sub(5);
    let profile_h = (rest * 2 / 7).clamp(4, 10);
    let breakdown_h = (rest * 2 / 7).clamp(4, 12);
    let [size, profile, breakdown, members] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Length(profile_h),
        Constraint::Length(breakdown_h),
        Constraint::Min(3),
    ])
    .areas(right);
    a.editor = editor;
    a.params = params;
    a.side = side;
    a.size = size;
    a.profile = profile;
    a.breakdown = breakdown;
    a.members = members;
    a
}

pub fn render(frame: &mut Frame, state: &AppState, theme: &Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "terminal too small: {}x{}\nseglens needs at least {MIN_WIDTH}x{MIN_HEIGHT}\n(Ctrl-Q quits)",
            area.width, area.height
        );
        frame.render_widget(
            Paragraph::new(msg).alignment(Alignment::Center).wrap(Wrap { trim: true }).style(theme.warn()),
            area,
        );
        return;
    }
    let a = layout(area, state.view);
    if state.view == View::Overlap {
        overlap::render(frame, a.full, state, theme);
    } else if state.view == View::Funnel {
        funnel::render(frame, a.full, state, theme);
    } else if matches!(state.view, View::Hygiene | View::Compare) {
        report::render(frame, a.full, state, theme);
    } else if state.view == View::Movement {
        over_time::render_movement(frame, a.full, state, theme);
    } else if state.view == View::Split {
        over_time::render_split(frame, a.full, state, theme);
    } else {
        editor::render(frame, a.editor, state, theme);
        params::render(frame, a.params, state, theme);
        match state.side {
            SideTab::Library => library::render(frame, a.side, state, theme),
            SideTab::Schema => schema::render(frame, a.side, state, theme),
            SideTab::Features => schema::render_features(frame, a.side, state, theme),
        }
        preview::render_size(frame, a.size, state, theme);
        preview::render_profile(frame, a.profile, state, theme);
        preview::render_breakdown(frame, a.breakdown, state, theme);
        preview::render_members(frame, a.members, state, theme);
    }
    status::render(frame, a.status, state, theme);
    if let Some(d) = &state.dialog {
        dialog::render(frame, area, d, state, theme);
    }
    if state.help {
        help::render(frame, area, state, theme);
    }
}

/// A bordered panel whose title shows focus.
pub(crate) fn panel<'a>(title: impl Into<Line<'a>>, focused: bool, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .title(title.into())
        .border_style(theme.title(focused))
        .title_style(theme.title(focused))
}

pub(crate) fn focused(state: &AppState, f: Focus) -> bool {
    state.focus == f && state.dialog.is_none() && !state.help
}

/// A rectangle of at most `w` x `h` centred in `area`, cleared.
pub(crate) fn popup(frame: &mut Frame, area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    let r = Rect::new(area.x + (area.width - w) / 2, area.y + (area.height - h) / 2, w, h);
    frame.render_widget(Clear, r);
    r
}

/// The first item a list shows: the selected one stays in view, on the last row once the list
/// has scrolled. Rendering and mouse clicks both use it, so a click picks the row it hits.
pub fn list_offset(selected: usize, height: usize) -> usize {
    selected.saturating_sub(height.saturating_sub(1))
}

/// Inside a panel's border.
pub fn inner(area: Rect) -> Rect {
    Block::default().borders(Borders::ALL).inner(area)
}

/// Where a list panel's rows are, for the panel at `area`: its top row and how many rows it has.
/// The same numbers the panel renders with.
pub fn list_rows(state: &AppState, focus: Focus, area: Rect) -> (u16, usize) {
    let inner = inner(area);
    let height = match (focus, state.side) {
        (Focus::Params, _) => params::list_height(state, inner.height),
        (Focus::Side, SideTab::Library) => library::list_height(state, inner.height),
        (Focus::Side, SideTab::Schema) => schema::list_height(inner.height),
        _ => 0,
    };
    (inner.y, height)
}

/// A horizontal bar of `width` cells for `ratio` in 0..1, with eighth-block resolution.
pub(crate) fn bar(ratio: f64, width: usize) -> String {
    const PARTS: [char; 8] = ['▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'];
    let eighths = (ratio.clamp(0.0, 1.0) * width as f64 * 8.0).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push(PARTS[eighths % 8 - 1]);
    }
    let used = s.chars().count();
    s.push_str(&" ".repeat(width.saturating_sub(used)));
    s
}

/// Truncates to `w` characters with an ellipsis.
pub(crate) fn fit(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_string()
    } else if w == 0 {
        String::new()
    } else {
        let mut t: String = s.chars().take(w - 1).collect();
        t.push('…');
        t
    }
}
