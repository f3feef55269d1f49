//! Clicks and the wheel: focus a panel, pick a row, scroll.

use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::{mode, move_selection};
use crate::tui::action::Effect;
use crate::tui::state::*;

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
                // A click on a list row picks it (rows start below the border).
                let row = m.row.saturating_sub(match f {
                    Focus::Side => areas.side.y + 1,
                    Focus::Params => areas.params.y + 1,
                    _ => u16::MAX,
                }) as usize;
                match f {
                    Focus::Side if state.side == SideTab::Library => {
                        state.library.selected = row.min(state.library.visible().len().saturating_sub(1))
                    }
                    Focus::Side if state.side == SideTab::Schema => {
                        state.schema.selected = row.min(state.columns.len().saturating_sub(1))
                    }
                    Focus::Params => state.params.selected = row.min(state.params.items.len().saturating_sub(1)),
                    _ => {}
                }
            }
        }
        MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
            if let Some(f) = target {
                state.focus = f;
                let m2 = mode(state);
                move_selection(state, m2, if m.kind == MouseEventKind::ScrollDown { 3 } else { -3 });
            }
        }
        _ => {}
    }
    Vec::new()
}
