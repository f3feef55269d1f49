//! Clicks and the wheel: focus a panel, pick a row, scroll.

use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::move_selection;
use crate::tui::action::Effect;
use crate::tui::state::*;
use crate::tui::ui::{list_offset, list_rows};

pub(super) fn on_mouse(state: &mut AppState, m: MouseEvent) -> Vec<Effect> {
    if state.dialog.is_some() || state.help {
        return Vec::new();
    }
    let areas = crate::tui::ui::layout(Rect::new(0, 0, state.size.0, state.size.1), state.view);
    let at = Position::new(m.column, m.row);
    let hit = |r: Rect| r.contains(at);
    let target = if hit(areas.editor) {
        Some(Focus::Editor)
    } else if hit(areas.params) {
        Some(Focus::Params)
    } else if hit(areas.side) {
        Some(Focus::Side)
    } else if hit(areas.members) {
        Some(Focus::Members)
    } else {
        None
    };
    match m.kind {
        MouseEventKind::Down(MouseButton::Left) => {
            if let Some(f) = target {
                state.focus = f;
                pick_row(state, f, if f == Focus::Side { areas.side } else { areas.params }, m.row);
            }
        }
        MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
            if let Some(f) = target {
                state.focus = f;
                let m2 = state.mode();
                move_selection(state, m2, if m.kind == MouseEventKind::ScrollDown { 3 } else { -3 });
            }
        }
        _ => {}
    }
    Vec::new()
}

/// A click on a list row picks the item drawn there: the list's rows and scroll offset are the
/// ones rendering used (`ui::list_rows`, `ui::list_offset`). A click below the last item picks
/// nothing.
fn pick_row(state: &mut AppState, focus: Focus, area: Rect, y: u16) {
    let (top, height) = list_rows(state, focus, area);
    let Some(row) = y.checked_sub(top).map(usize::from).filter(|r| *r < height) else {
        return;
    };
    let (selected, len) = match (focus, state.side) {
        (Focus::Params, _) => (&mut state.params.selected, state.params.items.len()),
        (Focus::Side, SideTab::Library) => {
            let len = state.library.visible().len();
            (&mut state.library.selected, len)
        }
        (Focus::Side, SideTab::Schema) => (&mut state.schema.selected, state.dataset.columns.len()),
        _ => return,
    };
    let i = list_offset(*selected, height) + row;
    if i < len {
        *selected = i;
    }
}
