//! Where templates meet the engine: compiling a template with its recorded features, and
//! measuring the snapshot a saved version carries.

use std::collections::BTreeMap;

use super::template::{Snapshot, Template};
use crate::engine::text::filter;
use crate::engine::{Compiled, Engine, EngineError, FeatureSet, Fingerprint, ParamValue};

/// The features a template compiles with: those it recorded at save time, then the library's for
/// any it did not record (a draft being edited).
pub fn features_for(t: &Template, library: &FeatureSet) -> FeatureSet {
    let mut map = library.to_map();
    map.extend(t.features.clone());
    FeatureSet::from_map(&map)
}

/// Compiles `t` with `values` over its declared defaults.
pub fn compile(
    t: &Template,
    values: &BTreeMap<String, ParamValue>,
    library: &FeatureSet,
) -> Result<Compiled, EngineError> {
    Ok(filter::compile(&t.filter, &t.params, values, &features_for(t, library))?)
}

/// Records in `t` the features its filter uses, as they are now in `library`.
pub fn record_features(t: &mut Template, compiled: &Compiled, library: &FeatureSet) {
    let all = features_for(t, library).to_map();
    t.features = compiled.features_used.iter().filter_map(|n| all.get(n).map(|f| (n.clone(), f.clone()))).collect();
}

/// Measures size and profile of `compiled` for a template snapshot.
pub fn measure(engine: &Engine, compiled: &Compiled) -> Result<Snapshot, EngineError> {
    let profile = engine.profile(compiled)?;
    let size = crate::engine::query::size::Size::new(profile.size, profile.base);
    Ok(Snapshot {
        size: size.size,
        base: size.base,
        share: size.share,
        measured_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        fingerprint: engine.fingerprint().clone(),
        profile: profile.metrics.iter().filter_map(|m| m.segment.map(|v| (m.name.clone(), v))).collect(),
    })
}

/// Features whose current definition differs from the one the template recorded.
pub fn feature_drift(t: &Template, library: &FeatureSet) -> Vec<String> {
    t.features
        .iter()
        .filter(|(name, f)| library.get(name).is_none_or(|(cur, _)| cur.sql != f.sql || cur.params != f.params))
        .map(|(n, _)| n.clone())
        .collect()
}

/// A template measured on the open data: its size, or why it is not for this data (a column or
/// table it reads is missing: written for another database, not an error), or its failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fit {
    Size(u64),
    /// What the data lacks, e.g. "column churn_risk".
    NotForThisData(String),
    Failed(String),
}

impl Fit {
    /// Sorts a measuring error: cancels stay errors (the caller stops), a missing column or table
    /// means "not for this data", anything else is a failure.
    pub fn from_error(e: EngineError) -> Result<Fit, EngineError> {
        match e {
            EngineError::Cancelled => Err(EngineError::Cancelled),
            e => Ok(match not_for_this_data(&e) {
                Some(missing) => Fit::NotForThisData(missing),
                None => Fit::Failed(e.to_string()),
            }),
        }
    }

    /// A template written for this very data that no longer finds a column has failed: the data
    /// changed under it, which `check` must catch. Only one written elsewhere is "not for this data".
    pub fn for_template(self, t: &Template, data: &Fingerprint) -> Fit {
        match self {
            Fit::NotForThisData(missing) if !written_elsewhere(t, data) => {
                Fit::Failed(format!("{} lacks {missing}, which this segment reads", data.table))
            }
            fit => fit,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Fit::Size(n) => n.to_string(),
            Fit::NotForThisData(m) => format!("not for this data (missing {m})"),
            Fit::Failed(e) => format!("failed: {e}"),
        }
    }
}

/// Whether `t` was written for other data: measured on another database file, or (never measured)
/// saved for another table.
pub fn written_elsewhere(t: &Template, data: &Fingerprint) -> bool {
    match &t.snapshot {
        Some(s) => s.fingerprint.path != data.path,
        None => !t.table.is_empty() && t.table != data.table,
    }
}

/// The column or table `e` says the open data lacks.
pub fn not_for_this_data(e: &EngineError) -> Option<String> {
    match e {
        EngineError::Filter(f) => crate::engine::conn::error::missing_name(&f.message),
        EngineError::Db(d) => crate::engine::conn::error::DuckMessage::parse(d).missing_name(),
        _ => None,
    }
}
