//! Tab in the editor: completion from columns, tables, features and common functions.

use std::time::Instant;

use super::edit::on_edit;
use crate::tui::state::*;

/// Tab in the editor: complete the word before the cursor from columns, tables, features and
/// common DuckDB functions; a second Tab cycles through the candidates.
pub(super) fn complete(state: &mut AppState, now: Instant) {
    let cursor = state.editor.textarea.cursor();
    let (row, col) = (cursor.0, cursor.1);
    let line: Vec<char> = state.editor.textarea.lines().get(row).map(|l| l.chars().collect()).unwrap_or_default();
    if let Some(c) = state.editor.completion.as_mut() {
        // Cycle: replace the previous candidate with the next.
        let prev = c.candidates[c.selected].chars().count();
        c.selected = (c.selected + 1) % c.candidates.len();
        let next = c.candidates[c.selected].clone();
        let typed = col.saturating_sub(c.start_col).min(prev);
        for _ in 0..typed {
            state.editor.textarea.delete_char();
        }
        state.editor.textarea.insert_str(&next);
        on_edit(state, now);
        return;
    }
    let start = (0..col)
        .rev()
        .take_while(|&i| line.get(i).is_some_and(|c| c.is_alphanumeric() || *c == '_'))
        .last()
        .unwrap_or(col);
    let prefix: String = line[start..col].iter().collect();
    if prefix.is_empty() {
        return;
    }
    let candidates = completion_candidates(state, &prefix);
    match candidates.len() {
        0 => state.status = Some((Level::Info, format!("no completion for {prefix:?}"))),
        1 => {
            let rest: String = candidates[0].chars().skip(prefix.chars().count()).collect();
            state.editor.textarea.insert_str(&rest);
            on_edit(state, now);
        }
        _ => {
            let common = common_prefix(&candidates);
            if common.chars().count() > prefix.chars().count() {
                let rest: String = common.chars().skip(prefix.chars().count()).collect();
                state.editor.textarea.insert_str(&rest);
                on_edit(state, now);
            }
            let selected = candidates.len() - 1;
            state.editor.completion = Some(Completion { prefix, start_col: start, candidates, selected });
        }
    }
}

pub(super) const FUNCTIONS: &[&str] = &[
    "current_date",
    "to_days",
    "date_diff",
    "date_trunc",
    "coalesce",
    "list_contains",
    "lower",
    "upper",
    "length",
    "strftime",
    "extract",
    "greatest",
    "least",
    "abs",
    "round",
    "regexp_matches",
    "starts_with",
    "contains",
    "nullif",
    "EXISTS",
    "BETWEEN",
    "IS NULL",
    "IS NOT NULL",
    "INTERVAL",
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
];

pub(super) fn completion_candidates(state: &AppState, prefix: &str) -> Vec<String> {
    let p = prefix.to_ascii_lowercase();
    let mut out: Vec<String> = Vec::new();
    let tables = state
        .schema
        .schema
        .as_ref()
        .map(|s| s.tables.iter().map(|t| t.name.clone()).collect::<Vec<_>>())
        .unwrap_or_default();
    let features = state.library.features.iter().map(|f| format!("{}(", f.name));
    for c in state
        .dataset
        .columns
        .iter()
        .map(|c| c.name.clone())
        .chain(tables)
        .chain(features)
        .chain(FUNCTIONS.iter().map(|f| f.to_string()))
    {
        if c.to_ascii_lowercase().starts_with(&p) && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

pub(super) fn common_prefix(words: &[String]) -> String {
    let first: Vec<char> = words[0].chars().collect();
    let mut n = first.len();
    for w in &words[1..] {
        n = n.min(first.iter().zip(w.chars()).take_while(|(a, b)| a.eq_ignore_ascii_case(b)).count());
    }
    first[..n].iter().collect()
}
