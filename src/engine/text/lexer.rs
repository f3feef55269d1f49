//! A small SQL tokenizer: just enough of DuckDB's lexical rules to find `{{params}}`, feature calls,
//! statement separators and top-level clauses without ever looking inside strings, quoted identifiers
//! or comments. The editor's highlighting reads the same tokens, so what is coloured is what is parsed.

use crate::engine::conn::error::FilterError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Whitespace,
    Comment,
    /// `'...'`, `E'...'`, `$$...$$`
    String,
    /// `"..."`
    QuotedIdent,
    Number,
    /// A bare word: keyword, identifier or function name.
    Word,
    /// `{{name}}`
    Placeholder,
    OpenParen,
    CloseParen,
    Comma,
    Semicolon,
    /// Any other operator or punctuation.
    Symbol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    /// Byte range in the source text.
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.start..self.end]
    }

    pub fn is_trivia(&self) -> bool {
        matches!(self.kind, TokenKind::Whitespace | TokenKind::Comment)
    }
}

/// Tokenizes `src`. Unterminated strings, identifiers, comments and placeholders are errors
/// (they would otherwise swallow the closing parenthesis seglens adds around the filter).
pub fn tokenize(src: &str) -> Result<Vec<Token>, FilterError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let c = b[i];
        let kind = match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0c => {
                while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0c) {
                    i += 1;
                }
                TokenKind::Whitespace
            }
            // As in DuckDB, a line comment ends at a carriage return too: otherwise `--\r) OR (`
            // would look commented out here and close seglens' parentheses in DuckDB.
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
                TokenKind::Comment
            }
            _ if c >= 0x80 && unicode_space_len(src, i).is_some() => {
                while let Some(n) = unicode_space_len(src, i) {
                    i += n;
                }
                TokenKind::Whitespace
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = scan_block_comment(src, i)?;
                TokenKind::Comment
            }
            b'\'' => {
                i = scan_quoted(src, i, b'\'', "unterminated string literal")?;
                TokenKind::String
            }
            b'e' | b'E' if b.get(i + 1) == Some(&b'\'') => {
                i = scan_escape_string(src, i)?;
                TokenKind::String
            }
            b'"' => {
                i = scan_quoted(src, i, b'"', "unterminated quoted identifier")?;
                TokenKind::QuotedIdent
            }
            b'$' if dollar_tag(b, i).is_some() => {
                let tag_end = dollar_tag(b, i).unwrap_or(i + 1);
                let tag = &src[i..tag_end];
                match src[tag_end..].find(tag) {
                    Some(pos) => i = tag_end + pos + tag.len(),
                    None => return Err(FilterError::at(src, start, "unterminated $$ string")),
                }
                TokenKind::String
            }
            b'{' if b.get(i + 1) == Some(&b'{') => {
                i = scan_placeholder(src, i)?;
                TokenKind::Placeholder
            }
            b'0'..=b'9' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                    i += 1;
                }
                TokenKind::Number
            }
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                TokenKind::Number
            }
            b'(' => {
                i += 1;
                TokenKind::OpenParen
            }
            b')' => {
                i += 1;
                TokenKind::CloseParen
            }
            b',' => {
                i += 1;
                TokenKind::Comma
            }
            b';' => {
                i += 1;
                TokenKind::Semicolon
            }
            _ if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 => {
                while i < b.len()
                    && (b[i] == b'_'
                        || b[i] == b'$'
                        || b[i].is_ascii_alphanumeric()
                        || (b[i] >= 0x80 && unicode_space_len(src, i).is_none()))
                {
                    i += 1;
                }
                TokenKind::Word
            }
            _ => {
                // One character of punctuation (operators are split, which is all the callers need).
                i += src[i..].chars().next().map_or(1, char::len_utf8);
                TokenKind::Symbol
            }
        };
        out.push(Token { kind, start, end: i });
    }
    Ok(out)
}

/// The end of the block comment starting at `start` (DuckDB's nest).
fn scan_block_comment(src: &str, start: usize) -> Result<usize, FilterError> {
    let b = src.as_bytes();
    let (mut i, mut depth) = (start, 0usize);
    loop {
        if i + 1 >= b.len() {
            return Err(FilterError::at(src, start, "unterminated /* comment"));
        }
        if b[i] == b'/' && b[i + 1] == b'*' {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Ok(i);
            }
        } else {
            i += 1;
        }
    }
}

/// The end of the escape string (`E'…'`, where `\'` is a quote too) starting at `start`.
fn scan_escape_string(src: &str, start: usize) -> Result<usize, FilterError> {
    let b = src.as_bytes();
    let mut i = start + 2;
    loop {
        match b.get(i) {
            None => return Err(FilterError::at(src, start, "unterminated string literal")),
            Some(b'\\') => i += 2,
            Some(b'\'') if b.get(i + 1) == Some(&b'\'') => i += 2,
            Some(b'\'') => return Ok(i + 1),
            Some(_) => i += 1,
        }
    }
}

/// The end of the `{{placeholder}}` starting at `start`, its name checked.
fn scan_placeholder(src: &str, start: usize) -> Result<usize, FilterError> {
    let Some(pos) = src[start + 2..].find("}}") else {
        return Err(FilterError::at(src, start, "unterminated {{placeholder"));
    };
    let name = src[start + 2..start + 2 + pos].trim();
    if !is_param_name(name) {
        return Err(FilterError::at(
            src,
            start,
            format!("bad placeholder {{{{{name}}}}}: a name is letters, digits and _"),
        ));
    }
    Ok(start + 2 + pos + 2)
}

/// The length of the Unicode space at byte `i` (outside quotes DuckDB reads NBSP, U+2000..U+200B,
/// U+202F, U+205F, U+2060, U+3000 and U+FEFF as plain spaces), or None.
fn unicode_space_len(src: &str, i: usize) -> Option<usize> {
    let c = src.get(i..)?.chars().next()?;
    matches!(c, '\u{a0}' | '\u{2000}'..='\u{200b}' | '\u{202f}' | '\u{205f}' | '\u{2060}' | '\u{3000}' | '\u{feff}')
        .then(|| c.len_utf8())
}

fn scan_quoted(src: &str, start: usize, q: u8, what: &str) -> Result<usize, FilterError> {
    let b = src.as_bytes();
    let mut i = start + 1;
    loop {
        match b.get(i) {
            None => return Err(FilterError::at(src, start, what.to_string())),
            Some(&c) if c == q && b.get(i + 1) == Some(&q) => i += 2,
            Some(&c) if c == q => return Ok(i + 1),
            Some(_) => i += 1,
        }
    }
}

/// `$tag$` or `$$` opening a dollar-quoted string; returns the end of the tag.
fn dollar_tag(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
        j += 1;
    }
    (b.get(j) == Some(&b'$') && (j == i + 1 || !b[i + 1].is_ascii_digit())).then_some(j + 1)
}

pub fn is_param_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// The name inside a placeholder token's text `{{ name }}`.
pub fn placeholder_name(text: &str) -> &str {
    text.trim_start_matches("{{").trim_end_matches("}}").trim()
}

/// Splits a token list at top-level `AND`s (depth 0: outside any parentheses and any
/// `CASE … END`). Returns byte ranges of the clauses, trimmed of trivia; one range when there is no
/// top-level AND. A top-level OR makes the whole expression one clause (AND binds tighter, so
/// splitting would be wrong).
pub fn top_level_and_clauses(src: &str, tokens: &[Token]) -> Vec<(usize, usize)> {
    let (ands, ors) = top_level_joins(src, tokens);
    if !ors.is_empty() {
        return trimmed(tokens, 0, tokens.len()).into_iter().collect();
    }
    split_at(tokens, ands)
}

/// Splits a token list at top-level `OR`s: the branches of a filter that is an OR at its top
/// (each branch may hold ANDs of its own). One range when there is no top-level OR.
pub fn top_level_or_branches(src: &str, tokens: &[Token]) -> Vec<(usize, usize)> {
    split_at(tokens, top_level_joins(src, tokens).1)
}

/// Indexes of the tokens that are a top-level `AND` (not the one of `BETWEEN x AND y`) and a
/// top-level `OR`. `WHEN a AND b` inside a `CASE` is not top level: DuckDB reads it inside the CASE.
fn top_level_joins(src: &str, tokens: &[Token]) -> (Vec<usize>, Vec<usize>) {
    let mut depth = 0i32;
    let mut case_depth = 0i32;
    let (mut ands, mut ors) = (Vec::new(), Vec::new());
    let mut between = false;
    for (idx, t) in tokens.iter().enumerate() {
        match t.kind {
            TokenKind::OpenParen => depth += 1,
            TokenKind::CloseParen => depth -= 1,
            TokenKind::Word if depth == 0 => {
                let w = t.text(src);
                if w.eq_ignore_ascii_case("case") {
                    case_depth += 1;
                } else if w.eq_ignore_ascii_case("end") && case_depth > 0 {
                    case_depth -= 1;
                } else if case_depth > 0 {
                    continue;
                } else if w.eq_ignore_ascii_case("or") {
                    ors.push(idx);
                } else if w.eq_ignore_ascii_case("between") {
                    // BETWEEN x AND y: that AND belongs to BETWEEN.
                    between = true;
                } else if w.eq_ignore_ascii_case("and") {
                    if between {
                        between = false;
                    } else {
                        ands.push(idx);
                    }
                }
            }
            _ => {}
        }
    }
    (ands, ors)
}

fn split_at(tokens: &[Token], cuts: Vec<usize>) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    for cut in cuts.into_iter().chain(std::iter::once(tokens.len())) {
        if let Some(r) = trimmed(tokens, from, cut) {
            out.push(r);
        }
        from = cut + 1;
    }
    out
}

fn trimmed(tokens: &[Token], from: usize, to: usize) -> Option<(usize, usize)> {
    let slice = &tokens[from..to];
    let first = slice.iter().find(|t| !t.is_trivia())?;
    let last = slice.iter().rev().find(|t| !t.is_trivia())?;
    Some((first.start, last.end))
}

/// The one-expression guarantee for SQL read from a file (a metric's `sql`, a feature body, a
/// template's filter), the same one a typed filter gets: no control characters, every string,
/// identifier and comment closed, no `;` outside them, balanced parentheses (so a fragment can
/// never close the parentheses seglens wraps it in, e.g. `1) AS DOUBLE), CAST((2`), and no
/// prepared-statement parameter. DuckDB's `prepare` runs every statement but the last, so a
/// fragment is checked before it is ever given to DuckDB.
pub fn check_fragment(text: &str) -> Result<(), FilterError> {
    if let Some(i) = text.find(|c: char| c.is_control() && !matches!(c, '\n' | '\t' | '\r')) {
        return Err(FilterError::at(text, i, "a control character; remove it"));
    }
    let tokens = tokenize(text)?;
    if tokens.iter().all(Token::is_trivia) {
        return Err(FilterError::new("empty: write an SQL expression"));
    }
    check_balanced(text, &tokens)
}

/// Checks that `tokens` form one balanced expression: no `;`, no unmatched parenthesis, and no
/// prepared-statement parameter (`?`, `$1`, `$name`: DuckDB would wait for a value seglens never
/// binds). Feature bodies are checked the same way when they load.
pub(crate) fn check_balanced(src: &str, tokens: &[Token]) -> Result<(), FilterError> {
    let mut open = Vec::new();
    for t in tokens {
        // Outside strings, a lone `$` or `?` can only start a parameter.
        if t.kind == TokenKind::Symbol && matches!(t.text(src), "?" | "$") {
            return Err(FilterError::at(
                src,
                t.start,
                "prepared-statement parameters (?, $1, $name) are not supported: write a value or a {{placeholder}}",
            ));
        }
        match t.kind {
            TokenKind::OpenParen => open.push(t.start),
            TokenKind::CloseParen if open.pop().is_none() => {
                return Err(FilterError::at(src, t.start, "unbalanced ')': it closes nothing"));
            }
            TokenKind::Semicolon => {
                return Err(FilterError::at(
                    src,
                    t.start,
                    "';' is not allowed: a filter is one SQL expression, not statements",
                ));
            }
            _ => {}
        }
    }
    match open.last() {
        Some(&p) => Err(FilterError::at(src, p, "unclosed '(': add the matching ')'")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(TokenKind, &str)> {
        tokenize(src).unwrap().into_iter().filter(|t| !t.is_trivia()).map(|t| (t.kind, t.text(src))).collect()
    }

    #[test]
    fn strings_comments_and_placeholders_are_single_tokens() {
        let src = "a = 'x;{{y}}' -- c;\n AND \"we;ird\" > {{ days }} /* ; /* nested */ */";
        let k = kinds(src);
        assert_eq!(k[2], (TokenKind::String, "'x;{{y}}'"));
        assert_eq!(k[4], (TokenKind::QuotedIdent, "\"we;ird\""));
        assert_eq!(k[6], (TokenKind::Placeholder, "{{ days }}"));
        assert!(k.iter().all(|(kind, _)| *kind != TokenKind::Semicolon));
    }

    #[test]
    fn unterminated_things_are_errors() {
        for bad in ["'abc", "\"abc", "/* x", "{{days", "$$ x"] {
            assert!(tokenize(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn splits_top_level_and_only() {
        let src = "a > 1 AND (b OR c) AND d BETWEEN 1 AND 2 AND EXISTS (SELECT 1 WHERE x AND y)";
        let t = tokenize(src).unwrap();
        let parts: Vec<&str> = top_level_and_clauses(src, &t).iter().map(|&(s, e)| &src[s..e]).collect();
        assert_eq!(parts, vec!["a > 1", "(b OR c)", "d BETWEEN 1 AND 2", "EXISTS (SELECT 1 WHERE x AND y)"]);
        let src = "a AND b OR c";
        let t = tokenize(src).unwrap();
        assert_eq!(top_level_and_clauses(src, &t).len(), 1);
        let parts: Vec<&str> = top_level_or_branches(src, &t).iter().map(|&(s, e)| &src[s..e]).collect();
        assert_eq!(parts, vec!["a AND b", "c"]);
        // CASE … END is one operand: its WHEN a AND b is not a top-level AND (nor OR).
        let src = "CASE WHEN a AND b OR c THEN 1 ELSE 0 END = 1 AND (d OR e) AND f";
        let t = tokenize(src).unwrap();
        let parts: Vec<&str> = top_level_and_clauses(src, &t).iter().map(|&(s, e)| &src[s..e]).collect();
        assert_eq!(parts, vec!["CASE WHEN a AND b OR c THEN 1 ELSE 0 END = 1", "(d OR e)", "f"]);
        assert_eq!(top_level_or_branches(src, &t).len(), 1);
    }
}
