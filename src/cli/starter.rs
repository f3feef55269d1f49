//! The sample database used when no database is given, and the starter templates and features
//! installed into the library the first time it is created.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::engine::text::filter;
use crate::engine::{Engine, FeatureSet, MetricSet, MetricSource, MetricsFile, OpenOptions, ParamDecl};
use crate::error::UserError;
use crate::library::template::{Kind, Status, Template};
use crate::library::{Library, measure};
use crate::sample::{DEFAULT_CUSTOMERS, SampleSpec, generate};
use crate::workspace::{Workspace, WorkspaceFile};

pub const STARTER_FEATURES: &str = include_str!("../../sample-data/features.toml");

/// (file name, text) of every starter template.
pub const STARTER_TEMPLATES: &[(&str, &str)] = &[
    ("lapsed-high-value", include_str!("../../sample-data/templates/lapsed-high-value.toml")),
    ("holi-colour-buyers", include_str!("../../sample-data/templates/holi-colour-buyers.toml")),
    ("west-india-marathi", include_str!("../../sample-data/templates/west-india-marathi.toml")),
    ("new-onboarded", include_str!("../../sample-data/templates/new-onboarded.toml")),
    ("at-risk", include_str!("../../sample-data/templates/at-risk.toml")),
    ("loyal-advocates", include_str!("../../sample-data/templates/loyal-advocates.toml")),
    ("inactive-14-days", include_str!("../../sample-data/templates/inactive-14-days.toml")),
    ("unsubscribed", include_str!("../../sample-data/templates/unsubscribed.toml")),
];

/// The shape of a starter file: a template without version bookkeeping or snapshot.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Starter {
    name: String,
    intent: String,
    owner: String,
    #[serde(default)]
    tags: Vec<String>,
    status: Status,
    kind: Kind,
    priority: i64,
    filter: String,
    #[serde(default)]
    params: std::collections::BTreeMap<String, ParamDecl>,
}

/// The sample's workspace, in the user data directory: its database, library and metrics.
pub fn sample_workspace() -> Workspace {
    let dir = crate::config::data_dir();
    Workspace {
        path: dir.join(crate::workspace::FILE),
        database: crate::config::default_sample_path(),
        table: None,
        key: None,
        library: dir.join("segments"),
        metrics: dir.join("metrics.toml"),
    }
}

/// Writes the sample workspace's files that are missing (an install from before workspaces
/// has the database and library but no workspace or metrics file). Never replaces a file.
fn ensure_sample_workspace() -> Result<()> {
    let ws = sample_workspace();
    if !ws.metrics.exists() {
        let file = MetricsFile { rollup: Vec::new(), metric: crate::engine::query::profile::sample_metrics() };
        let text = format!("# The sample's engagement metrics; edit freely (README: Metrics).\n{}", file.to_toml());
        crate::workspace::write_new(&ws.metrics, &text).map_err(|e| UserError(e.to_string()))?;
    }
    if !ws.path.exists() {
        let file = WorkspaceFile {
            database: PathBuf::from("sample.duckdb"),
            library: Some(PathBuf::from("segments")),
            metrics: Some(PathBuf::from("metrics.toml")),
            ..Default::default()
        };
        Workspace::create(&ws.path, &file).map_err(|e| UserError(e.to_string()))?;
    }
    Ok(())
}

/// The sample database path, creating it (and installing the starters) on first use.
pub fn ensure_sample(library: &Library) -> Result<PathBuf> {
    let path = crate::config::default_sample_path();
    if path.exists() {
        // Racing first runs may both write; the loser's AlreadyExists is fine.
        let _ = ensure_sample_workspace();
        return Ok(path);
    }
    eprintln!(
        "seglens: no database given; creating the sample database ({} customers) at {} (first run only)",
        crate::format::count(DEFAULT_CUSTOMERS),
        path.display()
    );
    generate(&path, &SampleSpec::new(DEFAULT_CUSTOMERS), false)?;
    let _ = ensure_sample_workspace();
    let metrics = MetricSet {
        file: MetricsFile { rollup: Vec::new(), metric: crate::engine::query::profile::sample_metrics() },
        source: MetricSource::Inferred,
    };
    let engine = Engine::open(&path, &OpenOptions { metrics: Some(metrics), ..Default::default() })?;
    let installed = install_starters(library, &engine)?;
    if installed > 0 {
        eprintln!("seglens: installed {installed} starter templates and features into {}", library.dir().display());
    }
    Ok(path)
}

/// Writes the starter features (unless the library has a features file) and every starter
/// template the library does not have yet, measured on `engine`. Returns how many were written.
pub fn install_starters(library: &Library, engine: &Engine) -> Result<usize> {
    let dir = library.dir();
    std::fs::create_dir_all(dir).with_context(|| format!("creating the library {}", dir.display()))?;
    let fpath = dir.join(crate::library::store::FEATURES_FILE);
    if !fpath.exists() {
        std::fs::write(&fpath, STARTER_FEATURES).with_context(|| format!("writing {}", fpath.display()))?;
    }
    // The starters are written against the starter features. A library with a features file of its
    // own may lack or redefine them, so the starters compile with (and record) the starter
    // definitions over the library's: first use must not fail on a team's features.toml.
    let (own, _) = library.features();
    let mut map = own.to_map();
    map.extend(FeatureSet::from_toml(STARTER_FEATURES).map(|s| s.to_map()).unwrap_or_default());
    let features = FeatureSet::from_map(&map);
    let mut n = 0;
    for (name, text) in STARTER_TEMPLATES {
        if library.versions(name).is_ok_and(|v| !v.is_empty()) {
            continue;
        }
        let s: Starter = toml::from_str(text).with_context(|| format!("starter template {name}"))?;
        let mut t = Template::new(&s.name, &s.filter);
        t.intent = s.intent;
        t.owner = s.owner;
        t.tags = s.tags;
        t.status = s.status;
        t.kind = s.kind;
        t.priority = s.priority;
        t.params = s.params;
        t.author = "seglens starter".into();
        t.table = engine.table().to_string();
        t.key = engine.key().to_string();
        t.note = Some("starter template".into());
        let compiled = filter::compile(&t.filter, &t.params, &Default::default(), &features)
            .map_err(crate::engine::EngineError::from)
            .with_context(|| format!("starter template {name}"))?;
        measure::record_features(&mut t, &compiled, &features);
        t.snapshot = Some(measure::measure(engine, &compiled)?);
        library.save(t)?;
        n += 1;
    }
    Ok(n)
}
