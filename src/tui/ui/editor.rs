//! The filter editor: the textarea's text drawn with SQL highlighting from seglens' own lexer (so
//! what is coloured as a string is what seglens parses as one), the cursor, and the filter's
//! error right under it.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{fit, focused, panel};
use crate::engine::text::lexer::{self, TokenKind};
use crate::tui::state::{AppState, Focus};
use crate::tui::theme::Theme;

const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "is",
    "null",
    "between",
    "like",
    "ilike",
    "exists",
    "select",
    "from",
    "where",
    "case",
    "when",
    "then",
    "else",
    "end",
    "true",
    "false",
    "interval",
    "as",
    "distinct",
    "any",
    "all",
    "group",
    "by",
    "having",
    "order",
    "limit",
    "join",
    "on",
    "using",
    "cast",
    "date",
    "timestamp",
    "similar",
    "to",
    "escape",
    "glob",
];

/// Style per byte range of `text`: (start, end, style).
fn highlight(text: &str, state: &AppState, theme: &Theme) -> Vec<(usize, usize, Style)> {
    let (tokens, tail) = match lexer::tokenize(text) {
        Ok(t) => (t, None),
        Err(e) => {
            let at = e.pos.map_or(text.len(), |p| p.offset);
            (lexer::tokenize(&text[..at]).unwrap_or_default(), Some(at))
        }
    };
    let is_col = |w: &str| state.dataset.columns.iter().any(|c| c.name.eq_ignore_ascii_case(w));
    let is_feature = |w: &str| state.library.features.get(w).is_some();
    let mut out: Vec<(usize, usize, Style)> = tokens
        .iter()
        .map(|t| {
            let w = t.text(text);
            let style = match t.kind {
                TokenKind::Comment => theme.muted(),
                TokenKind::String => theme.ok(),
                TokenKind::Number => theme.text().add_modifier(Modifier::BOLD),
                TokenKind::Placeholder => theme.title(true),
                TokenKind::Word if KEYWORDS.contains(&w.to_ascii_lowercase().as_str()) => theme.accent(),
                TokenKind::Word if is_feature(w) => theme.warn(),
                TokenKind::Word if is_col(w) => theme.ok().add_modifier(Modifier::ITALIC),
                TokenKind::QuotedIdent => theme.ok().add_modifier(Modifier::ITALIC),
                _ => theme.text(),
            };
            (t.start, t.end, style)
        })
        .collect();
    if let Some(at) = tail {
        out.push((at, text.len(), theme.error()));
    }
    out
}

pub fn render(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let is_focused = focused(state, Focus::Editor);
    let modified = if state.unsaved() { " ●" } else { "" };
    let block = panel(format!(" Filter — {}{modified} ", state.title()), is_focused, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let lines = state.editor.textarea.lines();
    let text = lines.join("\n");
    // Reserve lines under the text for the error (or the completion list).
    let note_lines: Vec<Line> = if let Some(c) = &state.editor.completion {
        let mut spans = vec![Span::styled("Tab ▸ ", theme.muted())];
        for (i, cand) in c.candidates.iter().enumerate().take(12) {
            let style = if i == c.selected { theme.selection() } else { theme.text() };
            spans.push(Span::styled(cand.clone(), style));
            spans.push(Span::raw("  "));
        }
        vec![Line::from(spans)]
    } else if let Some(e) = &state.editor.error {
        let at = e.pos.map_or(String::new(), |p| format!(" (line {}, col {})", p.line, p.col));
        let msg = format!("✗ {}{at}", e.message);
        let w = inner.width as usize;
        let chars: Vec<char> = msg.chars().collect();
        chars.chunks(w.max(1)).take(3).map(|c| Line::styled(c.iter().collect::<String>(), theme.error())).collect()
    } else {
        Vec::new()
    };
    let text_h = inner.height.saturating_sub(note_lines.len() as u16).max(1);
    let cursor = state.editor.textarea.cursor();
    let (crow, ccol) = (cursor.0, cursor.1);
    let top = crow.saturating_sub(text_h as usize - 1);
    // Scroll sideways only while editing; otherwise show the start of every line.
    let left = if is_focused { ccol.saturating_sub(inner.width as usize - 1) } else { 0 };
    let styles = highlight(&text, state, theme);
    let mut offset = 0;
    let mut rendered: Vec<Line> = Vec::new();
    for (row, line) in lines.iter().enumerate() {
        let start = offset;
        offset += line.len() + 1;
        if row < top || row >= top + text_h as usize {
            continue;
        }
        let mut spans = Vec::new();
        for (i, (b, ch)) in line.char_indices().enumerate() {
            if i < left {
                continue;
            }
            let pos = start + b;
            let mut style = styles.iter().find(|(s, e, _)| pos >= *s && pos < *e).map_or(theme.text(), |x| x.2);
            if e_marks(state, row, i) {
                style = style.add_modifier(Modifier::UNDERLINED);
            }
            spans.push(Span::styled(ch.to_string(), style));
        }
        rendered.push(Line::from(spans));
    }
    if text.is_empty() {
        rendered =
            vec![Line::styled(fit(state.editor.textarea.placeholder_text(), inner.width as usize), theme.muted())];
    }
    let text_area = Rect { height: text_h, ..inner };
    frame.render_widget(Paragraph::new(rendered), text_area);
    if is_focused {
        let x = inner.x + (ccol - left) as u16;
        let y = inner.y + (crow - top) as u16;
        if x < inner.right() && y < inner.bottom() {
            frame.set_cursor_position(Position::new(x, y));
            if let Some(cell) = frame.buffer_mut().cell_mut(Position::new(x, y)) {
                cell.set_style(Style::default().add_modifier(Modifier::REVERSED));
            }
        }
    }
    if !note_lines.is_empty() {
        let n = note_lines.len() as u16;
        let note_area = Rect { y: inner.bottom().saturating_sub(n), height: n, ..inner };
        frame.render_widget(Paragraph::new(note_lines), note_area);
    }
}

/// The character DuckDB's error points at.
fn e_marks(state: &AppState, row: usize, col: usize) -> bool {
    state.editor.error.as_ref().and_then(|e| e.pos).is_some_and(|p| p.line == row + 1 && p.col == col + 1)
}
