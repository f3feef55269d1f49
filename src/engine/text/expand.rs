//! The expansion of a filter's text: each `{{param}}` rendered as a literal, each feature call
//! replaced by its body with the arguments bound, and a map from every byte of the result back to
//! the text the user wrote. Bounded in depth and size (a doubling chain of features would
//! otherwise grow exponentially).

use std::collections::{BTreeMap, BTreeSet};

use super::features::{Feature, FeatureSet};
use super::lexer::{self, Token, TokenKind};
use super::params::{ParamDecls, ParamValue};
use crate::engine::conn::error::FilterError;

/// Feature calls nest at most this deep: real definitions use a handful of levels, and the depth
/// bounds the recursion of the expander.
pub const MAX_FEATURE_DEPTH: usize = 32;

/// The expanded SQL may be at most this large (or four times the text, for a filter that is large
/// itself): features calling each other twice per level (a doubling chain) would otherwise grow
/// exponentially and exhaust memory when the features file loads.
pub const MAX_EXPANDED_BYTES: usize = 4 << 20;

fn expansion_limit(text: &str) -> usize {
    MAX_EXPANDED_BYTES.max(text.len().saturating_mul(4))
}

#[derive(Default)]
pub(super) struct Out {
    pub(super) text: String,
    pub(super) map: Vec<(usize, usize, bool)>,
}

impl Out {
    fn push(&mut self, s: &str, origin: usize, exact: bool) {
        self.map.push((self.text.len(), origin, exact));
        self.text.push_str(s);
    }
}

/// A feature call being expanded: the feature, its tokenized body, the caller's text and the
/// tokens of each argument, and where the call sits in the user's text.
struct Call<'s> {
    feature: &'s Feature,
    body: &'s [Token],
    src: &'s str,
    args: Vec<&'s [Token]>,
    here: usize,
}

pub(super) struct Expander<'a> {
    features: &'a FeatureSet,
    values: &'a BTreeMap<String, ParamValue>,
    decls: &'a ParamDecls,
    pub(super) out: Out,
    pub(super) features_used: BTreeSet<String>,
    pub(super) params_used: Vec<String>,
    /// Bytes the expansion may reach (see `MAX_EXPANDED_BYTES`).
    limit: usize,
}

impl<'a> Expander<'a> {
    /// An expander of `text` (which sets the size limit) with these features and values.
    pub(super) fn new(
        text: &str,
        features: &'a FeatureSet,
        values: &'a BTreeMap<String, ParamValue>,
        decls: &'a ParamDecls,
    ) -> Expander<'a> {
        Expander {
            features,
            values,
            decls,
            out: Out::default(),
            features_used: BTreeSet::new(),
            params_used: Vec::new(),
            limit: expansion_limit(text),
        }
    }

    /// Expands the user's own `text` (its `tokens`) into `self.out`.
    pub(super) fn run(mut self, text: &str, tokens: &[Token]) -> Result<Expander<'a>, FilterError> {
        self.expand(text, tokens, None, &mut Vec::new(), None)?;
        Ok(self)
    }

    /// Refuses an expansion past the size limit, naming the feature call it happened in.
    fn check_size(&self, stack: &[String]) -> Result<(), FilterError> {
        if self.out.text.len() <= self.limit {
            return Ok(());
        }
        let chain = match stack {
            [] => String::new(),
            [one] => format!(" in feature {one}"),
            [first, .., last] => format!(" in feature {first} (through {last})"),
        };
        Err(FilterError::new(format!(
            "the expansion grows past {} MB{chain}: features call each other too often (a feature \
             that calls another twice per level doubles at every level); simplify the features file",
            self.limit >> 20
        )))
    }

    /// Pushes substituted text, with a space on a side where it would otherwise fuse with its
    /// neighbour into one token (`E{{s}}` an escape string, `a{{n}}` another column, `{{n}}x$$`
    /// a dollar string): a rendered value stays one literal.
    fn push_apart(&mut self, text: &str, origin: usize, rest: &str) {
        let fuses = |c: char| c.is_alphanumeric() || matches!(c, '_' | '$' | '\'' | '"' | '.' | '{' | '}');
        if self.out.text.ends_with(fuses) && text.starts_with(fuses) {
            self.out.push(" ", origin, false);
        }
        self.out.push(text, origin, false);
        if text.ends_with(fuses) && rest.starts_with(fuses) {
            self.out.push(" ", origin, false);
        }
    }

    /// Expands `tokens` of `src` into `self.out`. `origin` is None for the user's own text (mapped
    /// byte for byte) and the call's position inside expansions. `bindings` maps a feature body's
    /// parameter names (lower case) to the argument SQL.
    fn expand(
        &mut self,
        src: &str,
        tokens: &[Token],
        origin: Option<usize>,
        stack: &mut Vec<String>,
        bindings: Option<&BTreeMap<String, String>>,
    ) -> Result<(), FilterError> {
        // A copy of the shared reference, so looked-up features do not borrow `self`.
        let features: &FeatureSet = self.features;
        let err_at = |pos: usize, msg: String| match origin {
            None => FilterError::at(src, pos, msg),
            Some(_) => FilterError::new(msg),
        };
        let mut i = 0;
        while i < tokens.len() {
            self.check_size(stack)?;
            let t = tokens[i];
            let here = origin.unwrap_or(t.start);
            let text = t.text(src);
            let prev_is_dot = tokens[..i].iter().rev().find(|p| !p.is_trivia()).is_some_and(|p| p.text(src) == ".");
            let next_open = tokens[i + 1..]
                .iter()
                .position(|n| !n.is_trivia())
                .map(|k| i + 1 + k)
                .filter(|&k| tokens[k].kind == TokenKind::OpenParen);
            match t.kind {
                TokenKind::Placeholder => {
                    let err = |m: String| err_at(t.start, m);
                    self.placeholder(lexer::placeholder_name(text), here, &src[t.end..], &err)?;
                }
                TokenKind::Word if !prev_is_dot && next_open.is_some() && features.get(text).is_some() => {
                    let open = next_open.unwrap_or(i);
                    let close = matching_paren(tokens, open);
                    let (feature, body) = features.get(text).ok_or_else(|| FilterError::new("feature vanished"))?;
                    let args = split_args(tokens, open, close).into_iter().map(|(a, b)| &tokens[a..b]).collect();
                    let err = |m: String| err_at(t.start, m);
                    self.call(&Call { feature, body, src, args, here }, stack, bindings, &err)?;
                    i = close + 1;
                    continue;
                }
                TokenKind::Word
                    if !prev_is_dot
                        && next_open.is_none()
                        && bindings.is_some_and(|b| b.contains_key(&text.to_ascii_lowercase())) =>
                {
                    let arg = bindings.and_then(|b| b.get(&text.to_ascii_lowercase())).cloned().unwrap_or_default();
                    let arg = if is_atomic(&arg) { arg } else { format!("({arg})") };
                    self.push_apart(&arg, here, &src[t.end..]);
                }
                // Inside an argument or a feature body a `--` comment would swallow the closing
                // parentheses the expansion adds after it (its newline is trimmed or absent).
                TokenKind::Comment if origin.is_some() => self.out.push(" ", here, false),
                _ => self.out.push(text, here, origin.is_none()),
            }
            i += 1;
        }
        Ok(())
    }

    /// Renders `{{name}}` from its value (else its declared default), checked against the
    /// declaration's bounds.
    fn placeholder(
        &mut self,
        name: &str,
        here: usize,
        rest: &str,
        err: &dyn Fn(String) -> FilterError,
    ) -> Result<(), FilterError> {
        let value =
            self.values.get(name).or_else(|| self.decls.get(name).and_then(|d| d.default.as_ref())).ok_or_else(
                || err(format!("no value for {{{{{name}}}}}: declare it with a default or pass --param {name}=VALUE")),
            )?;
        if let Some(d) = self.decls.get(name) {
            d.check(name, value).map_err(err)?;
        }
        if !self.params_used.iter().any(|p| p == name) {
            self.params_used.push(name.to_string());
        }
        self.push_apart(&value.to_sql(), here, rest);
        Ok(())
    }

    /// Expands a feature call: its arguments in the caller's context (they may hold params or
    /// features), then its body in parentheses with the arguments bound. Refuses a chain too
    /// deep, a cycle and a wrong number of arguments.
    fn call(
        &mut self,
        c: &Call<'_>,
        stack: &mut Vec<String>,
        bindings: Option<&BTreeMap<String, String>>,
        err: &dyn Fn(String) -> FilterError,
    ) -> Result<(), FilterError> {
        let (feature, here) = (c.feature, c.here);
        let fname = feature.name.clone();
        if stack.len() >= MAX_FEATURE_DEPTH {
            return Err(err(format!(
                "feature {} calls features more than {MAX_FEATURE_DEPTH} levels deep (at {fname}); flatten the chain",
                stack.first().map_or(fname.as_str(), String::as_str)
            )));
        }
        if stack.iter().any(|s| s.eq_ignore_ascii_case(&fname)) {
            let cycle: Vec<&str> = stack.iter().map(String::as_str).chain([fname.as_str()]).collect();
            return Err(err(format!("feature cycle: {}", cycle.join(" → "))));
        }
        if c.args.len() != feature.params.len() {
            return Err(err(format!(
                "feature {fname} takes {} argument{} ({}), got {}",
                feature.params.len(),
                if feature.params.len() == 1 { "" } else { "s" },
                feature.params.join(", "),
                c.args.len()
            )));
        }
        let mut bound = BTreeMap::new();
        for (p, arg_tokens) in feature.params.iter().zip(&c.args) {
            let saved = std::mem::take(&mut self.out);
            self.expand(c.src, arg_tokens, Some(here), stack, bindings)?;
            let arg = std::mem::replace(&mut self.out, saved);
            if arg.text.len() > self.limit {
                let mut chain = stack.clone();
                chain.push(fname.clone());
                self.out = arg;
                return self.check_size(&chain);
            }
            bound.insert(p.to_ascii_lowercase(), arg.text.trim().to_string());
        }
        self.features_used.insert(fname.clone());
        stack.push(fname);
        self.out.push("(", here, false);
        self.expand(&feature.sql, c.body, Some(here), stack, Some(&bound))?;
        self.out.push(")", here, false);
        stack.pop();
        Ok(())
    }
}

/// An argument that needs no parentheses to keep its meaning inside an expression: one token,
/// or one parenthesised group.
fn is_atomic(arg: &str) -> bool {
    let Ok(tokens) = lexer::tokenize(arg) else { return false };
    let t: Vec<Token> = tokens.into_iter().filter(|t| !t.is_trivia()).collect();
    match t.as_slice() {
        [one] => one.kind != TokenKind::Symbol,
        [first, .., last] if first.kind == TokenKind::OpenParen => {
            matching_paren(&t, 0) == t.len() - 1 && last.kind == TokenKind::CloseParen
        }
        _ => false,
    }
}

fn matching_paren(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0;
    for (k, t) in tokens.iter().enumerate().skip(open) {
        match t.kind {
            TokenKind::OpenParen => depth += 1,
            TokenKind::CloseParen => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    tokens.len() - 1
}

/// Token ranges of the comma-separated arguments between `open` and `close` (none for `f()`).
fn split_args(tokens: &[Token], open: usize, close: usize) -> Vec<(usize, usize)> {
    let inner = &tokens[open + 1..close];
    if inner.iter().all(Token::is_trivia) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = open + 1;
    for (k, t) in inner.iter().enumerate() {
        let k = open + 1 + k;
        match t.kind {
            TokenKind::OpenParen => depth += 1,
            TokenKind::CloseParen => depth -= 1,
            TokenKind::Comma if depth == 0 => {
                out.push((start, k));
                start = k + 1;
            }
            _ => {}
        }
    }
    out.push((start, close));
    out
}
