//! Where templates meet the engine: compiling a template with its recorded features, and
//! measuring the snapshot a saved version carries.

use std::collections::BTreeMap;

use super::template::{Snapshot, Template};
use crate::engine::{Compiled, Engine, EngineError, FeatureSet, ParamValue, filter};

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
    let size = crate::engine::size::Size::new(profile.size, profile.base);
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
