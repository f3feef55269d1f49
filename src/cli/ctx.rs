//! What every command needs (`Ctx`): the options, the workspace and the library in force, the
//! engine opened on demand (with Ctrl-C and `--timeout` armed), and a FILTER argument resolved
//! to a compiled filter: stdin, a template of the library, or an expression.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Result;

use super::{Global, progress, signal, starter, user, warning};
use crate::engine::text::filter;
use crate::engine::{Compiled, Engine, EngineError, FeatureSet, MetricSet, MetricSource, OpenOptions, ParamValue};
use crate::error::UserError;
use crate::library::{Library, Template, TemplateRef, measure};
use crate::workspace::Workspace;

/// The library: `--library`, `$SEGLENS_LIBRARY`, a workspace file's, `./segments` when it exists,
/// the sample's (no database given), else one per database in the user data directory, so a
/// database never shows segments written for another.
fn library_dir(g: &Global, found: Option<&Workspace>, workspace: Option<&Workspace>) -> PathBuf {
    if let Some(d) = &g.library {
        return d.clone();
    }
    if let Some(d) = std::env::var_os("SEGLENS_LIBRARY").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(w) = found {
        return w.library.clone();
    }
    if Path::new("segments").is_dir() {
        return PathBuf::from("segments");
    }
    match (workspace, &g.db) {
        (Some(w), _) => w.library.clone(),
        (None, Some(db)) => crate::config::data_dir().join("libraries").join(library_name(db)),
        (None, None) => crate::config::data_dir().join("segments"),
    }
}

/// `<file stem>-<8 hex of the canonical path>`: readable, and distinct for two files of one name.
fn library_name(db: &Path) -> String {
    use sha2::Digest;
    let canonical = std::fs::canonicalize(db).unwrap_or_else(|_| db.to_path_buf());
    let digest = sha2::Sha256::digest(canonical.to_string_lossy().as_bytes());
    let stem: String = db
        .file_stem()
        .map(|s| s.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect())
        .unwrap_or_default();
    format!("{stem}-{}", digest.iter().take(4).map(|b| format!("{b:02x}")).collect::<String>())
}

/// What every command needs: the options, the workspace, the library, and lazily the engine.
pub struct Ctx {
    pub g: Global,
    /// The workspace in force (README "Workspaces"); the sample's own when no database is given.
    pub workspace: Option<Workspace>,
    pub library: Library,
    /// Set by Ctrl-C and --timeout: work between queries (an export's next segment) stops too,
    /// where DuckDB's interrupt has nothing running to stop.
    pub cancelled: Arc<AtomicBool>,
}

impl Ctx {
    pub fn new(g: Global) -> Result<Ctx> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let crate::workspace::Found { workspace: found, warnings } =
            Workspace::find(&cwd, g.db.as_deref()).map_err(|e| UserError(e.to_string()))?;
        let workspace = found.clone().or_else(|| g.db.is_none().then(starter::sample_workspace));
        let library = Library::open(library_dir(&g, found.as_ref(), workspace.as_ref()));
        let ctx = Ctx { g, workspace, library, cancelled: Arc::new(AtomicBool::new(false)) };
        // The workspace's own paths in use that lie outside it (README "Workspaces").
        let outside = ctx.workspace.as_ref().map_or_else(Vec::new, |w| {
            let library = (ctx.library.dir() == w.library).then(|| w.outside("library", &w.library));
            // Read from there, or written there by `metrics --init`, unless --metrics names another.
            let metrics = ctx.g.metrics.is_none().then(|| w.outside("metrics", &w.metrics));
            library.into_iter().chain(metrics).flatten().collect()
        });
        for w in warnings.iter().chain(&outside) {
            warning(w);
        }
        Ok(ctx)
    }

    /// `--as-of`, checked.
    pub fn as_of(&self) -> Result<Option<chrono::NaiveDate>> {
        self.g
            .as_of
            .as_deref()
            .map(|d| match ParamValue::parse(crate::engine::ParamType::Date, d) {
                Ok(ParamValue::Date(d)) => Ok(d),
                _ => Err(user(format!("--as-of {d:?}: expected a date YYYY-MM-DD"))),
            })
            .transpose()
    }

    /// The metrics file in force: `--metrics`, else the workspace's when it exists.
    pub fn metrics_path(&self) -> Option<PathBuf> {
        self.g.metrics.clone().or_else(|| self.workspace.as_ref().map(|w| w.metrics.clone()).filter(|p| p.is_file()))
    }

    pub fn open_options(&self) -> Result<OpenOptions> {
        let metrics = match self.metrics_path() {
            Some(p) => {
                crate::engine::conn::source::regular_file(&p)?;
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| UserError(format!("reading metrics file {}: {e}", p.display())))?;
                let file = crate::engine::query::profile::parse_metrics(&text)
                    .map_err(|e| UserError(format!("{}: {}", p.display(), e.message())))?;
                Some(MetricSet { file, source: MetricSource::File(p.display().to_string()) })
            }
            None => None,
        };
        let ws = self.workspace.as_ref();
        Ok(OpenOptions {
            table: self.g.table.clone().or_else(|| ws.and_then(|w| w.table.clone())),
            key: self.g.key.clone().or_else(|| ws.and_then(|w| w.key.clone())),
            threads: self.g.threads,
            memory_limit: self.g.memory_limit.clone(),
            metrics,
            as_of: self.as_of()?,
            checks_dir: Some(crate::config::cache_dir().join("checks")),
            progress: None,
        })
    }

    /// The database to open: `--db`, else the workspace's, else the sample database (created on
    /// first use).
    pub fn db_path(&self) -> Result<PathBuf> {
        if let Some(p) = &self.g.db {
            return Ok(p.clone());
        }
        match &self.workspace {
            Some(w) if w.path != starter::sample_workspace().path => Ok(w.database.clone()),
            _ => starter::ensure_sample(&self.library),
        }
    }

    /// Opens the database read-only and verifies the key; arms --timeout and Ctrl-C to cancel.
    pub fn engine(&self) -> Result<Engine> {
        let path = self.db_path()?;
        let mut opts = self.open_options()?;
        opts.progress = progress::csv_progress(&path);
        let engine = Engine::open(&path, &opts)?;
        engine.verify_key()?;
        signal::arm(&self.cancelled, engine.canceller(), self.g.timeout);
        Ok(engine)
    }

    pub fn features(&self) -> FeatureSet {
        let (set, err) = self.library.features();
        if let Some(e) = err {
            eprintln!("seglens: warning: {e} (features not loaded)");
        }
        for b in &set.broken {
            eprintln!("seglens: warning: feature {} not loaded: {}", b.name, b.reason);
        }
        set
    }

    /// `--param name=value` pairs.
    pub fn raw_params(&self) -> Result<Vec<(String, String)>> {
        self.g
            .params
            .iter()
            .map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                    .ok_or_else(|| UserError(format!("--param {p:?}: expected NAME=VALUE")).into())
            })
            .collect()
    }

    /// Resolves a FILTER argument: `-` reads stdin; a template NAME[@V] in the library loads that
    /// template; anything else is an expression.
    pub fn resolve(&self, arg: &str) -> Result<Resolved> {
        let features = self.features();
        let raw = self.raw_params()?;
        self.resolve_with(arg, &features, &raw)
    }

    pub fn resolve_with(&self, arg: &str, features: &FeatureSet, raw: &[(String, String)]) -> Result<Resolved> {
        self.resolve_params(arg, features, raw, false)
    }

    /// `resolve_with`; with `some`, the `--param`s this filter does not use are left for other
    /// filters of the same command (an overlap, an export) instead of being an error.
    pub fn resolve_params(
        &self,
        arg: &str,
        features: &FeatureSet,
        raw: &[(String, String)],
        some: bool,
    ) -> Result<Resolved> {
        let mine = |text: &str| -> Vec<(String, String)> {
            if !some {
                return raw.to_vec();
            }
            let used = filter::placeholders(text);
            raw.iter().filter(|(k, _)| used.contains(k)).cloned().collect()
        };
        if arg == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| UserError(format!("reading the filter from stdin: {e} (a filter is UTF-8 text)")))?;
            return self.resolve_expr(&text, features, &mine(&text));
        }
        if let Some(r) = TemplateRef::parse(arg)
            && self.library.versions(&r.name).is_ok_and(|v| !v.is_empty())
        {
            let t = self.library.load(&r.name, r.version)?;
            let values = filter::bind_params(&t.filter, &t.params, &mine(&t.filter))?;
            let compiled = measure::compile(&t, &values, features)?;
            return Ok(Resolved { label: t.reference(), compiled, values, template: Some(t) });
        }
        self.resolve_expr(arg, features, &mine(arg))
    }

    fn resolve_expr(&self, text: &str, features: &FeatureSet, raw: &[(String, String)]) -> Result<Resolved> {
        let decls = BTreeMap::new();
        let values = filter::bind_params(text, &decls, raw)?;
        let compiled = filter::compile(text, &decls, &values, features).map_err(EngineError::from)?;
        Ok(Resolved { label: text.trim().to_string(), compiled, values, template: None })
    }

    /// Written as it is serialized: a large answer (a split of many cells) is never held twice,
    /// once as data and once as text.
    pub fn print_json(&self, v: &impl serde::Serialize) -> Result<()> {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        serde_json::to_writer_pretty(&mut out, v)?;
        writeln!(out)?;
        out.flush()?;
        Ok(())
    }
}

pub struct Resolved {
    pub label: String,
    pub compiled: Compiled,
    pub values: BTreeMap<String, ParamValue>,
    pub template: Option<Template>,
}
