//! Questions about SQL text and rewrites of it, read token by token so that nothing inside a
//! string, a quoted name or a comment is ever taken for code: the top-level parts of a filter
//! (the funnel), the expression a whole-metric average takes (compare), and `current_date`
//! pinned to a date (exports and warehouse models).

use chrono::NaiveDate;

use super::lexer::{Token, TokenKind, tokenize, top_level_and_clauses, top_level_or_branches};

/// A filter's top-level parts by byte range.
pub enum TopLevel {
    /// The branches of a top-level OR (two or more).
    Or(Vec<(usize, usize)>),
    /// The clauses of a top-level AND (one part when there is neither an AND nor an OR, or when
    /// the text does not tokenize).
    And(Vec<(usize, usize)>),
}

/// The top-level parts of `sql` and how they join: the OR branches when there is a top-level OR,
/// else the AND clauses.
pub fn top_level_parts(sql: &str) -> TopLevel {
    let Ok(tokens) = tokenize(sql) else {
        return TopLevel::And(vec![(0, sql.len())]);
    };
    let branches = top_level_or_branches(sql, &tokens);
    if branches.len() > 1 {
        return TopLevel::Or(branches);
    }
    TopLevel::And(top_level_and_clauses(sql, &tokens))
}

/// The expression inside `avg(…)`, `mean(…)` or `median(…)` when that is the whole metric: its
/// standard deviation makes the standardised difference.
pub fn averaged_expr(sql: &str) -> Option<String> {
    let sql = sql.trim();
    let tokens: Vec<Token> = tokenize(sql).ok()?.into_iter().filter(|t| !t.is_trivia()).collect();
    let [name, open, .., close] = tokens.as_slice() else { return None };
    let known = ["avg", "mean", "median"].iter().any(|f| name.text(sql).eq_ignore_ascii_case(f));
    if !known || open.kind != TokenKind::OpenParen || close.kind != TokenKind::CloseParen {
        return None;
    }
    // The first parenthesis must close at the end: `avg(x) / avg(y)` is not one average.
    let mut depth = 0;
    for (i, t) in tokens.iter().enumerate().skip(1) {
        match t.kind {
            TokenKind::OpenParen => depth += 1,
            TokenKind::CloseParen => {
                depth -= 1;
                if depth == 0 && i != tokens.len() - 1 {
                    return None;
                }
            }
            TokenKind::Comma if depth == 1 => return None,
            _ => {}
        }
    }
    let inner = sql[open.end..close.start].trim();
    (!inner.is_empty() && !inner.to_ascii_lowercase().starts_with("distinct")).then(|| inner.to_string())
}

/// DuckDB text with `current_date`, `current_date()` and `today()` replaced by the as-of date as a
/// literal, so the SQL selects the same customers whenever it runs. Strings, comments and quoted
/// names are left alone (the lexer knows them).
pub fn pin_current_date(sql: &str, as_of: NaiveDate) -> String {
    let Ok(tokens) = tokenize(sql) else { return sql.to_string() };
    let lit = format!("DATE '{}'", as_of.format("%Y-%m-%d"));
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let word = (t.kind == TokenKind::Word).then(|| t.text(sql).to_ascii_lowercase());
        let after_dot = tokens[..i].iter().rev().find(|t| !t.is_trivia()).is_some_and(|p| p.text(sql) == ".");
        if let Some(w) = word.filter(|w| (w == "current_date" || w == "today") && !after_dot) {
            // An empty argument list after it, if any: `today()`, `current_date()`.
            let solid: Vec<usize> = (i + 1..tokens.len()).filter(|&j| !tokens[j].is_trivia()).take(2).collect();
            let call = solid.len() == 2
                && tokens[solid[0]].kind == TokenKind::OpenParen
                && tokens[solid[1]].kind == TokenKind::CloseParen;
            if call || w == "current_date" {
                out.push_str(&sql[last..t.start]);
                out.push_str(&lit);
                let end = if call { tokens[solid[1]].end } else { t.end };
                last = end;
                i = if call { solid[1] + 1 } else { i + 1 };
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&sql[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn finds_the_averaged_expression() {
        assert_eq!(averaged_expr("avg(lifetime_spend)").as_deref(), Some("lifetime_spend"));
        assert_eq!(averaged_expr(" median(current_date - d) ").as_deref(), Some("current_date - d"));
        assert_eq!(averaged_expr("avg(x) / avg(y)"), None);
        assert_eq!(averaged_expr("sum(a) / nullif(sum(b), 0)"), None);
        assert_eq!(
            averaged_expr("avg(CASE WHEN a THEN 1 ELSE 0 END)").as_deref(),
            Some("CASE WHEN a THEN 1 ELSE 0 END")
        );
    }

    #[test]
    fn current_date_is_pinned_outside_strings_and_names() {
        let sql = "a < current_date - to_days(3) AND b = today() AND c = 'current_date' AND \"current_date\" > CURRENT_DATE()";
        assert_eq!(
            pin_current_date(sql, d("2026-03-01")),
            "a < DATE '2026-03-01' - to_days(3) AND b = DATE '2026-03-01' AND c = 'current_date' AND \"current_date\" > DATE '2026-03-01'"
        );
    }
}
