//! Filter text + typed `{{params}}` + features → one checked SQL boolean expression, with a map
//! from every byte of the result back to the text the user wrote (so DuckDB's error positions point
//! at the user's line and column, not at seglens' expansion).

use std::collections::{BTreeMap, BTreeSet};

use super::expand::Expander;
use super::features::{BrokenFeature, FeatureSet};
pub use super::lexer::check_fragment;
use super::lexer::{self, Token, TokenKind, check_balanced};
use super::params::{ParamDecls, ParamValue};
use crate::engine::conn::error::{FilterError, Pos};

/// A filter ready for the engine: `sql` is one parenthesis-balanced boolean expression with
/// parameters rendered as literals and features expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// What the user wrote.
    pub source: String,
    /// The expanded, self-contained SQL expression.
    pub sql: String,
    /// Lower-cased bare words of the expanded SQL; the engine intersects them with the table's
    /// columns to know which columns the filter reads.
    pub words: BTreeSet<String>,
    pub features_used: BTreeSet<String>,
    pub params_used: Vec<String>,
    /// (offset in `sql`, offset in `source`, maps byte-for-byte?) segments, by `sql` offset.
    map: Vec<(usize, usize, bool)>,
}

impl Compiled {
    /// Maps an offset in `sql` back to a position in `source`.
    pub fn source_pos(&self, sql_offset: usize) -> Pos {
        let idx = self.map.partition_point(|&(out, _, _)| out <= sql_offset);
        let offset = match idx.checked_sub(1).map(|i| self.map[i]) {
            Some((out, src, true)) => src + (sql_offset - out),
            Some((_, src, false)) => src,
            None => 0,
        };
        Pos::of(&self.source, offset)
    }

    /// A compiled filter from SQL that needs no expansion (e.g. the engine's own `TRUE`).
    pub fn raw(sql: &str) -> Result<Compiled, FilterError> {
        compile(sql, &ParamDecls::new(), &BTreeMap::new(), &FeatureSet::default())
    }

    /// `self AND NOT other...`: members of `self` in none of `others` (a NULL result counts as
    /// not a member). Error positions map into `self`'s text.
    pub fn and_not(&self, others: &[&Compiled]) -> Compiled {
        if others.is_empty() {
            return self.clone();
        }
        let mut c = self.wrapped();
        for o in others {
            c.sql.push_str(&format!(" AND NOT coalesce((\n{}\n), false)", o.sql));
            c.words.extend(o.words.iter().cloned());
            c.features_used.extend(o.features_used.iter().cloned());
        }
        c
    }

    /// `self AND extra`, `extra` being SQL seglens wrote (a split cell's values).
    pub fn and(&self, extra: &str) -> Compiled {
        let mut c = self.wrapped();
        c.sql.push_str(&format!(" AND ({extra})"));
        c
    }

    /// `(\n self \n)`, error positions still mapping into the user's text.
    fn wrapped(&self) -> Compiled {
        let mut c = self.clone();
        c.sql = format!("(\n{}\n)", self.sql);
        c.map = std::iter::once((0, 0, false)).chain(self.map.iter().map(|&(o, s, e)| (o + 2, s, e))).collect();
        let end = c.sql.len();
        c.map.push((end, self.source.len(), false));
        c
    }

    /// The top-level AND clauses of the expanded SQL (one element when there is no top-level AND).
    pub fn clauses(&self) -> Vec<&str> {
        match lexer::tokenize(&self.sql) {
            Ok(t) => lexer::top_level_and_clauses(&self.sql, &t).into_iter().map(|(s, e)| &self.sql[s..e]).collect(),
            Err(_) => vec![self.sql.as_str()],
        }
    }
}

/// The placeholder names in `text`, in order of first appearance. Text that does not tokenize
/// yields the names found before the error (the editor shows params while the user types).
pub fn placeholders(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let tokens = lexer::tokenize(text).unwrap_or_else(|_| partial_tokens(text));
    for t in tokens.iter().filter(|t| t.kind == TokenKind::Placeholder) {
        let n = lexer::placeholder_name(t.text(text)).to_string();
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names
}

fn partial_tokens(text: &str) -> Vec<Token> {
    // Tokenize the longest prefix that tokenizes; good enough for listing placeholders mid-edit.
    let mut end = text.len();
    while end > 0 {
        end -= 1;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if let Ok(t) = lexer::tokenize(&text[..end]) {
            return t;
        }
    }
    Vec::new()
}

/// Binds raw `name=value` texts to the placeholders of `text`: declared params are parsed by their
/// type and checked against min/max; undeclared ones get a guessed type; declared defaults fill the
/// rest. A value for a name the filter does not use is an error naming it.
pub fn bind_params(
    text: &str,
    decls: &ParamDecls,
    raw: &[(String, String)],
) -> Result<BTreeMap<String, ParamValue>, FilterError> {
    let used = placeholders(text);
    let mut values = BTreeMap::new();
    for (name, value) in raw {
        if !used.contains(name) {
            let known = if used.is_empty() { "none".to_string() } else { used.join(", ") };
            return Err(FilterError::new(format!(
                "unknown parameter {name}: the filter has no {{{{{name}}}}} (its parameters: {known})"
            )));
        }
        let v = match decls.get(name) {
            Some(d) => {
                let v =
                    ParamValue::parse(d.ty, value).map_err(|e| FilterError::new(format!("parameter {name}: {e}")))?;
                d.check(name, &v).map_err(FilterError::new)?;
                v
            }
            None => ParamValue::guess(value),
        };
        values.insert(name.clone(), v);
    }
    Ok(values)
}

/// Every parameter `text` uses with the value it is compiled with: the given one, else the
/// declared default (what a manifest records).
pub fn bound_params(
    text: &str,
    decls: &ParamDecls,
    values: &BTreeMap<String, ParamValue>,
) -> BTreeMap<String, ParamValue> {
    placeholders(text)
        .into_iter()
        .filter_map(|n| {
            let v = values.get(&n).cloned().or_else(|| decls.get(&n).and_then(|d| d.default.clone()))?;
            Some((n, v))
        })
        .collect()
}

/// Compiles filter `text`: renders each `{{param}}` from `values` (else its declared default),
/// expands features, and checks that the result is exactly one balanced expression.
pub fn compile(
    text: &str,
    decls: &ParamDecls,
    values: &BTreeMap<String, ParamValue>,
    features: &FeatureSet,
) -> Result<Compiled, FilterError> {
    if text.trim().is_empty() {
        return Err(FilterError::new(
            "the filter is empty: write a condition, e.g. orders_count > 0 (TRUE selects everyone)",
        ));
    }
    if let Some(i) = text.find(|c: char| c.is_control() && !matches!(c, '\n' | '\t' | '\r')) {
        return Err(FilterError::at(text, i, "the filter contains a control character; remove it"));
    }
    let tokens = lexer::tokenize(text)?;
    if tokens.iter().all(Token::is_trivia) {
        return Err(FilterError::new("the filter has only comments: write a condition, e.g. orders_count > 0"));
    }
    check_balanced(text, &tokens)?;
    let x = Expander::new(text, features, values, decls).run(text, &tokens)?;
    let sql = x.out.text;
    let words = lexer::tokenize(&sql)
        .unwrap_or_default()
        .iter()
        .filter(|t| t.kind == TokenKind::Word)
        .map(|t| t.text(&sql).to_ascii_lowercase())
        .collect();
    Ok(Compiled {
        source: text.to_string(),
        sql,
        words,
        features_used: x.features_used,
        params_used: x.params_used,
        map: x.out.map,
    })
}

/// Expands feature calls in `text` that has no placeholders; used to validate features at load.
pub(crate) fn expand_features_only(text: &str, features: &FeatureSet) -> Result<String, FilterError> {
    let tokens = lexer::tokenize(text)?;
    let values = BTreeMap::new();
    let decls = ParamDecls::new();
    Ok(Expander::new(text, features, &values, &decls).run(text, &tokens)?.out.text)
}

/// Feature sets as loaded: parsed by `features.rs`, then every feature expanded once here.
impl FeatureSet {
    /// Parses a `features.toml` text. A TOML syntax error fails the whole file (with its line);
    /// a feature that is malformed, has a bad body, a wrong call or a cycle is listed in `broken`.
    pub fn from_toml(text: &str) -> Result<FeatureSet, toml::de::Error> {
        let mut set = FeatureSet::parse_toml(text)?;
        set.validate();
        Ok(set)
    }

    pub fn from_map(map: &BTreeMap<String, super::features::Feature>) -> FeatureSet {
        let mut set = FeatureSet::collect_map(map);
        set.validate();
        set
    }

    /// Expands every feature once with its own parameter names as arguments, so cycles and wrong
    /// calls inside bodies are reported at load time, naming the feature. Every feature is checked
    /// against the full set before any is removed (so each member of a cycle is reported, not just
    /// the first one found); then a feature calling a broken one is broken too, since its call
    /// would otherwise reach DuckDB as an unknown function.
    fn validate(&mut self) {
        let mut failed = Vec::new();
        for (key, (f, _)) in &self.features {
            let call = format!("{}({})", f.name, f.params.join(", "));
            if let Err(e) = expand_features_only(&call, self) {
                failed.push((key.clone(), e.message));
            }
        }
        for (key, reason) in failed {
            if let Some((f, _)) = self.features.remove(&key) {
                self.broken.push(BrokenFeature { name: f.name, reason });
            }
        }
        loop {
            let broken: BTreeSet<String> = self.broken.iter().map(|b| b.name.to_ascii_lowercase()).collect();
            let dependent = self.features.iter().find_map(|(key, (f, tokens))| {
                calls(&f.sql, tokens)
                    .into_iter()
                    .find(|c| broken.contains(&c.to_ascii_lowercase()))
                    .map(|c| (key.clone(), c.to_string()))
            });
            let Some((key, callee)) = dependent else { break };
            if let Some((f, _)) = self.features.remove(&key) {
                self.broken.push(BrokenFeature { name: f.name, reason: format!("uses the broken feature {callee}") });
            }
        }
    }
}

/// Names called in `src` (a word before `(`, not after a `.`).
fn calls<'a>(src: &'a str, tokens: &[Token]) -> Vec<&'a str> {
    let solid: Vec<&Token> = tokens.iter().filter(|t| !t.is_trivia()).collect();
    solid
        .windows(2)
        .enumerate()
        .filter(|(i, w)| {
            w[0].kind == TokenKind::Word
                && w[1].kind == TokenKind::OpenParen
                && (*i == 0 || solid[i - 1].text(src) != ".")
        })
        .map(|(_, w)| w[0].text(src))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::text::params::{ParamDecl, ParamType};

    fn features() -> FeatureSet {
        FeatureSet::from_toml(
            r#"
            [lapsed]
            params = ["days"]
            sql = "last_order_date < current_date - to_days(days)"
            [high_value]
            params = ["min"]
            sql = "lifetime_spend > min"
            [lhv]
            params = ["d", "m"]
            sql = "lapsed(d) AND high_value(m) AND note = 'days'"
            [loop_a]
            sql = "loop_b()"
            [loop_b]
            sql = "loop_a()"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn expands_features_and_params() {
        let mut decls = ParamDecls::new();
        let mut d = ParamDecl::new(ParamType::Int);
        d.default = Some(ParamValue::Int(90));
        decls.insert("days".into(), d);
        let c = compile("LHV({{days}}, 5000) AND x = '{{days}}'", &decls, &BTreeMap::new(), &features()).unwrap();
        assert_eq!(
            c.sql,
            "((last_order_date < current_date - to_days(90)) AND (lifetime_spend > 5000) AND note = 'days') AND x = '{{days}}'"
        );
        assert!(c.features_used.contains("lapsed") && c.features_used.contains("lhv"));
        assert_eq!(c.params_used, vec!["days"]);
    }

    #[test]
    fn cycles_and_arity_are_named() {
        let f = features();
        assert!(f.broken.iter().any(|b| b.name == "loop_a" && b.reason.contains("cycle")));
        let e = compile("lapsed(1, 2)", &ParamDecls::new(), &BTreeMap::new(), &f).unwrap_err();
        assert!(e.message.contains("lapsed takes 1 argument"), "{e}");
    }

    #[test]
    fn rejects_statements_and_unbalanced() {
        let none = FeatureSet::default();
        for (bad, what) in
            [("1=1; DROP TABLE x", "';'"), ("a > (1", "unclosed"), ("a) OR (1=1", "unbalanced"), ("", "empty")]
        {
            let e = compile(bad, &ParamDecls::new(), &BTreeMap::new(), &none).unwrap_err();
            assert!(e.message.contains(what), "{bad}: {e}");
        }
        let e = compile("x = {{nope}}", &ParamDecls::new(), &BTreeMap::new(), &none).unwrap_err();
        assert!(e.message.contains("{{nope}}"));
    }

    #[test]
    fn maps_positions_back() {
        let none = FeatureSet::default();
        let mut v = BTreeMap::new();
        v.insert("n".to_string(), ParamValue::String("a long value".into()));
        let c = compile("a = {{n}}\n  AND bogus > 1", &ParamDecls::new(), &v, &none).unwrap();
        let at = c.sql.find("bogus").unwrap();
        let p = c.source_pos(at);
        assert_eq!((p.line, p.col), (2, 7));
    }
}
