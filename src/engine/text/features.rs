//! Named, parameterised filter building blocks (`lapsed(days)`), kept in the library's
//! `features.toml`. DuckDB macros cannot reference table columns, so `filter.rs` expands calls itself.
//! This file parses and checks each feature on its own; `filter.rs`, which expands calls, builds
//! the checked sets (`FeatureSet::from_toml`, `from_map`): a set is valid only if every feature
//! expands, so the check belongs with the expander and dependencies run one way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::lexer::{self, Token, TokenKind};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    #[serde(skip)]
    pub name: String,
    #[serde(default)]
    pub params: Vec<String>,
    pub sql: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// A feature that failed to load, with the reason; the other features still load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenFeature {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeatureSet {
    /// By lower-case name: SQL function names are case-insensitive, and so are feature calls.
    pub(super) features: BTreeMap<String, (Feature, Vec<Token>)>,
    pub broken: Vec<BrokenFeature>,
}

impl FeatureSet {
    /// Parses a `features.toml` text. A TOML syntax error fails the whole file (with its line);
    /// a feature that is malformed, has a bad body, a wrong call or a cycle is listed in `broken`.
    pub(super) fn parse_toml(text: &str) -> Result<FeatureSet, toml::de::Error> {
        let table: BTreeMap<String, toml::Value> = toml::from_str(text)?;
        let mut set = FeatureSet::default();
        for (name, value) in table {
            match Feature::deserialize(value) {
                Ok(mut f) => {
                    f.name = name;
                    if let Err(reason) = set.insert(f.clone()) {
                        set.broken.push(BrokenFeature { name: f.name, reason });
                    }
                }
                Err(e) => set.broken.push(BrokenFeature { name, reason: e.message().to_string() }),
            }
        }
        Ok(set)
    }

    /// Adds a feature after checking its name, parameters and body text.
    pub fn insert(&mut self, f: Feature) -> Result<(), String> {
        if !lexer::is_param_name(&f.name) {
            return Err(format!("feature name {:?} must be letters, digits and _", f.name));
        }
        for p in &f.params {
            if !lexer::is_param_name(p) {
                return Err(format!("parameter name {p:?} must be letters, digits and _"));
            }
        }
        if f.sql.trim().is_empty() {
            return Err("its sql is empty".to_string());
        }
        // A body must be one expression that stays inside the parentheses its call expands into.
        lexer::check_fragment(&f.sql).map_err(|e| format!("in its sql: {e}"))?;
        let tokens = lexer::tokenize(&f.sql).map_err(|e| format!("in its sql: {e}"))?;
        if let Some(t) = tokens.iter().find(|t| t.kind == TokenKind::Placeholder) {
            return Err(format!("{} in its sql: features take arguments, not {{{{placeholders}}}}", t.text(&f.sql)));
        }
        self.features.insert(f.name.to_ascii_lowercase(), (f, tokens));
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<(&Feature, &[Token])> {
        self.features.get(&name.to_ascii_lowercase()).map(|(f, t)| (f, t.as_slice()))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Feature> {
        self.features.values().map(|(f, _)| f)
    }

    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    pub fn len(&self) -> usize {
        self.features.len()
    }

    /// Serializes back to `features.toml` form (used to record features in a template).
    pub fn to_map(&self) -> BTreeMap<String, Feature> {
        self.iter().map(|f| (f.name.clone(), f.clone())).collect()
    }

    pub(super) fn collect_map(map: &BTreeMap<String, Feature>) -> FeatureSet {
        let mut set = FeatureSet::default();
        for (name, f) in map {
            let mut f = f.clone();
            f.name = name.clone();
            if let Err(reason) = set.insert(f) {
                set.broken.push(BrokenFeature { name: name.clone(), reason });
            }
        }
        set
    }
}
