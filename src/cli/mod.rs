//! The command line: clap definitions, one small function per subcommand, and the `--json`
//! shapes. Every command goes through the same engine and library the TUI uses.

mod data;
mod over_time;
mod qa;
mod segments;
pub mod starter;
mod warehouse;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};

use crate::engine::{
    Compiled, Engine, EngineError, FeatureSet, MetricSet, MetricSource, OpenOptions, ParamValue, filter,
};
use crate::library::{Library, Template, TemplateRef, measure};
use crate::workspace::Workspace;

pub use crate::error::{UserError, error_line, exit_code};

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

#[derive(Parser, Debug)]
#[command(
    name = "seglens",
    version,
    about = "Explore, measure, version and export customer segments in a DuckDB database",
    long_about = "seglens opens a DuckDB file (read-only) of customer data. With no command it starts the \
interactive explorer; the commands below do the same work headless, for scripts and schedules.\n\
With no --db, a sample database (100,000 customers) in the user data directory is used, created on first use.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Database for the interactive explorer (same as --db).
    #[arg(value_name = "DB")]
    pub db_path: Option<PathBuf>,
    #[command(flatten)]
    pub global: Global,
}

#[derive(Args, Debug, Clone, Default)]
pub struct Global {
    /// DuckDB file (opened read-only), or a .csv / .parquet file
    #[arg(long, global = true, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// The table with one row per customer (default: detected)
    #[arg(long, global = true)]
    pub table: Option<String>,
    /// Its unique key column (default: detected)
    #[arg(long, global = true)]
    pub key: Option<String>,
    /// Value for a {{param}} placeholder (repeatable)
    #[arg(long = "param", short = 'p', global = true, value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Print data as JSON
    #[arg(long, global = true)]
    pub json: bool,
    /// Template library directory (default: $SEGLENS_LIBRARY, ./segments, or the user data dir)
    #[arg(long, global = true, value_name = "DIR")]
    pub library: Option<PathBuf>,
    /// Give up on a query after this many seconds
    #[arg(long, global = true, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<f64>,
    /// DuckDB memory limit (e.g. 8GB; default: 80% of RAM, spilling to disk beyond it)
    #[arg(long, global = true, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// DuckDB worker threads (default: all cores)
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// Profile metrics file (TOML, [[metric]] name/label/sql/format)
    #[arg(long, global = true, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
    /// Colour theme for the explorer (dark, light, high-contrast, solarized, or a user theme)
    #[arg(long, global = true)]
    pub theme: Option<String>,
    /// The date current_date means, YYYY-MM-DD (default: today, moving on at midnight)
    #[arg(long, global = true, value_name = "YYYY-MM-DD")]
    pub as_of: Option<String>,
    /// Mark segments under this share of the base as small (default 0.05; an empty one is always a warning)
    #[arg(long, global = true, value_name = "SHARE")]
    pub small_share: Option<f64>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a deterministic sample CRM database
    Sample(SampleArgs),
    /// Tables, columns, types, null shares, distinct counts and top values
    Schema,
    /// Size of a segment: FILTER is an expression, a template NAME[@V], or - for stdin
    Size { filter: String },
    /// Engagement profile of a segment beside the base, optionally broken down by a column
    Profile {
        filter: String,
        /// Break the segment down by this column
        #[arg(long)]
        by: Option<String>,
        /// How many values the breakdown shows
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// Some members of a segment, for a look
    Rows {
        filter: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Columns to show (comma-separated; default all)
        #[arg(long, value_delimiter = ',')]
        columns: Vec<String>,
    },
    /// Overlap of segments, in priority order: sizes, pairs, exclusive counts, none, combinations
    Overlap {
        /// NAME=EXPR, or a template NAME[@V] (repeatable; first = highest priority)
        #[arg(long = "segment", short = 's', value_name = "NAME=EXPR|TEMPLATE")]
        segments: Vec<String>,
        /// A suppression: NAME=EXPR or a template (repeatable)
        #[arg(long = "suppress", value_name = "NAME=EXPR|TEMPLATE")]
        suppressions: Vec<String>,
    },
    /// The feature library: reusable named filter parts
    Features,
    /// The SQL a segment runs, features expanded, params and current_date bound; --dialect for a warehouse
    Sql(warehouse::SqlArgs),
    /// Save the next version of a segment template, measured against the database
    Save(SaveArgs),
    /// Segments in the library
    List,
    /// One template version in full
    Show { reference: String },
    /// Every version of a segment with its size and note
    History { name: String },
    /// Compare two versions of a segment
    Diff { name: String, v1: u32, v2: u32 },
    /// Approve a version (writes a new version with status approved)
    Approve {
        reference: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Retire a segment (writes a new version with status retired)
    Retire {
        name: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Measure every current template against the database: compiles, runs, drift
    Check {
        /// Flag drift past this share of the saved size
        #[arg(long, default_value_t = 0.2)]
        threshold: f64,
    },
    /// What each top-level clause of a filter does: running count, size without it, NULLs
    Funnel { filter: String },
    /// Data hygiene: duplicate identities, spelling variants, NULL shares, what approved segments cannot judge
    Hygiene,
    /// Segment A against segment B and the base: overlap, every metric, standardised differences
    Compare {
        /// A template NAME[@V] or an expression
        a: String,
        /// A template NAME[@V] or an expression
        b: String,
    },
    /// Export approved segments to CSV with an audit manifest
    Export(ExportArgs),
    /// Who joined and left a segment since its latest export (or --since MANIFEST)
    Changes {
        name: String,
        /// Compare with this export's manifest (default: the latest export of NAME from this library)
        #[arg(long, value_name = "MANIFEST")]
        since: Option<PathBuf>,
        /// How many example keys of each side to list
        #[arg(long, default_value_t = 10)]
        examples: usize,
        /// Do not subtract the approved suppression segments from the segment now
        #[arg(long)]
        no_suppress: bool,
    },
    /// Where the members of an export's segments are now (or in a later export): a transition matrix
    Movement {
        /// The earlier export's manifest
        #[arg(long, value_name = "MANIFEST")]
        from: PathBuf,
        /// A later export's manifest (default: the same segments now)
        #[arg(long, value_name = "MANIFEST")]
        to: Option<PathBuf>,
        /// Do not subtract the approved suppression segments now
        #[arg(long)]
        no_suppress: bool,
    },
    /// Each arm's exact size and profile metrics, with a balance check (a template with arms, or --arms/--salt)
    Arms {
        filter: String,
        /// NAME=SHARE,... (default: the template's arms)
        #[arg(long, value_name = "NAME=SHARE,...", requires = "salt")]
        arms: Option<String>,
        #[arg(long, requires = "arms")]
        salt: Option<String>,
        /// Print the SQL that assigns the arms on this engine (spark, postgres, trino, bigquery,
        /// snowflake, duckdb) and a statement that checks its hash, instead of the sizes
        #[arg(long, value_parser = warehouse::parse_dialect)]
        dialect: Option<crate::dialect::Dialect>,
    },
    /// A segment split by columns: each combination's size, share and metrics, from one scan
    Split {
        filter: String,
        /// Columns to split by (comma-separated)
        #[arg(long, value_delimiter = ',', required = true)]
        by: Vec<String>,
        /// Flag cells under this share of the segment as small
        #[arg(long, default_value_t = 0.05)]
        min_share: f64,
        /// Save every cell as a draft segment of its own that records its parent and version (FILTER must name a saved segment)
        #[arg(long)]
        save: bool,
        /// Refuse a split of more cells than this (each cell is a line, and with --save a segment)
        #[arg(long, default_value_t = crate::engine::split::MAX_CELLS)]
        max_cells: usize,
    },
    /// The profile metrics in use (inferred from the schema or read from a file); --init writes them out to edit
    Metrics {
        /// Write the metrics to an editable file (default: the workspace's metrics.toml, else
        /// ./metrics.toml plus a ./seglens.toml naming the database), never replacing one
        #[arg(long)]
        init: bool,
        /// Where --init writes the metrics file
        #[arg(long, value_name = "FILE", requires = "init")]
        out: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct SampleArgs {
    #[arg(long, default_value_t = crate::sample::DEFAULT_CUSTOMERS)]
    pub customers: u64,
    #[arg(long, default_value_t = crate::sample::DEFAULT_SEED)]
    pub seed: u64,
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing file
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    pub name: String,
    #[arg(long, conflicts_with = "filter_file")]
    pub filter: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub filter_file: Option<PathBuf>,
    /// Declare a parameter: name:type=default (types: int, float, string, date, bool, string_list)
    #[arg(long = "param-def", value_name = "NAME:TYPE=DEFAULT")]
    pub param_defs: Vec<String>,
    #[arg(long)]
    pub intent: Option<String>,
    #[arg(long)]
    pub owner: Option<String>,
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    #[arg(long)]
    pub note: Option<String>,
    #[arg(long, value_parser = ["segment", "suppression"])]
    pub kind: Option<String>,
    #[arg(long)]
    pub priority: Option<i64>,
    /// Holdout / A/B arms: NAME=SHARE,... in bucket order (e.g. control=0.1,treatment=0.9); needs --salt
    #[arg(long, value_name = "NAME=SHARE,...", requires = "salt")]
    pub arms: Option<String>,
    /// The salt of the arms' hash (e.g. the campaign's name): the same salt keeps every customer in their arm
    #[arg(long, requires = "arms")]
    pub salt: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
    /// A .csv file (one file, with a segment column) or an existing directory (one file per segment)
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Each customer goes to their highest-priority segment only
    #[arg(long)]
    pub exclusive: bool,
    /// Do not subtract the approved suppression segments
    #[arg(long)]
    pub no_suppress: bool,
    /// Export the latest version even if it is not approved
    #[arg(long)]
    pub allow_draft: bool,
    #[arg(long)]
    pub force: bool,
    /// Prefix cells beginning with = + - @ TAB or CR with ' so spreadsheets show them as text (default: values exactly as stored)
    #[arg(long)]
    pub excel_safe: bool,
    /// Export the cells of one segment split by these columns (region,language) to one file, with a cell column
    #[arg(long, value_delimiter = ',')]
    pub split_by: Vec<String>,
}

/// `--timeout`: a positive, finite number of seconds (`nan`, `inf` and negatives are refused, not
/// read as zero; a value too large for a timer means no timeout).
fn parse_timeout(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(_) => Err(format!("{s:?} is not a positive number of seconds (e.g. 30 or 0.5)")),
        Err(_) => Err(format!("{s:?} is not a number of seconds (e.g. 30 or 0.5)")),
    }
}

/// Parses the command line. `--help` and `--version` print as usual (exit 0); any other parse
/// error is one line, like every other user error (clap's own output is several lines of usage).
fn parse_args() -> Result<Option<Cli>> {
    match Cli::try_parse() {
        Ok(cli) => Ok(Some(cli)),
        Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) => {
            e.print()?;
            Ok(None)
        }
        Err(e) => {
            // The first paragraph holds the message (and, for a missing argument, its name);
            // the tip and usage after it are left to --help.
            let text = e.to_string();
            let first: Vec<&str> =
                text.lines().map(str::trim).skip_while(|l| l.is_empty()).take_while(|l| !l.is_empty()).collect();
            let first = first.join(" ");
            let first = first.strip_prefix("error:").unwrap_or(&first).trim();
            let first = if first.is_empty() { "invalid arguments" } else { first };
            Err(user(format!("{first} (seglens --help lists the commands and options)")))
        }
    }
}

pub fn run() -> Result<()> {
    let Some(cli) = parse_args()? else { return Ok(()) };
    let mut g = cli.global.clone();
    match cli.command {
        None => {
            g.db = cli.db_path.or(g.db);
            let ctx = Ctx::new(g)?;
            crate::tui::run(crate::tui::TuiOptions {
                db: ctx.db_path()?,
                open: ctx.open_options()?,
                library: ctx.library.dir().to_path_buf(),
                theme: ctx.g.theme.clone(),
                small_share: qa::small_share(&ctx)?,
            })
        }
        Some(Command::Sample(a)) => data::sample(&g, a),
        Some(cmd) => {
            let ctx = Ctx::new(g)?;
            match cmd {
                Command::Schema => data::schema(&ctx),
                Command::Size { filter } => data::size(&ctx, &filter),
                Command::Profile { filter, by, top } => data::profile(&ctx, &filter, by.as_deref(), top),
                Command::Rows { filter, limit, columns } => data::rows(&ctx, &filter, limit, &columns),
                Command::Overlap { segments, suppressions } => data::overlap(&ctx, &segments, &suppressions),
                Command::Features => segments::features(&ctx),
                Command::Sql(a) => warehouse::sql(&ctx, a),
                Command::Save(a) => segments::save(&ctx, a),
                Command::List => segments::list(&ctx),
                Command::Show { reference } => segments::show(&ctx, &reference),
                Command::History { name } => segments::history(&ctx, &name),
                Command::Diff { name, v1, v2 } => segments::diff(&ctx, &name, v1, v2),
                Command::Approve { reference, note } => segments::approve(&ctx, &reference, note),
                Command::Retire { name, note } => segments::retire(&ctx, &name, note),
                Command::Check { threshold } => segments::check(&ctx, threshold),
                Command::Export(a) => segments::export(&ctx, a),
                Command::Changes { name, since, examples, no_suppress } => {
                    over_time::changes(&ctx, &name, since.as_deref(), examples, !no_suppress)
                }
                Command::Movement { from, to, no_suppress } => {
                    over_time::movement(&ctx, &from, to.as_deref(), !no_suppress)
                }
                Command::Split { filter, by, min_share, save, max_cells } => {
                    over_time::split(&ctx, &filter, &by, min_share, save, max_cells)
                }
                Command::Arms { filter, arms, salt, dialect } => {
                    over_time::arms(&ctx, &filter, arms.as_deref(), salt.as_deref(), dialect)
                }
                Command::Metrics { init, out } => data::metrics(&ctx, init, out.as_deref()),
                Command::Funnel { filter } => qa::funnel(&ctx, &filter),
                Command::Hygiene => qa::hygiene(&ctx),
                Command::Compare { a, b } => qa::compare(&ctx, &a, &b),
                Command::Sample(_) => unreachable!("handled above"),
            }
        }
    }
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
                crate::engine::source::regular_file(&p)?;
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| UserError(format!("reading metrics file {}: {e}", p.display())))?;
                let file = crate::engine::profile::parse_metrics(&text)
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
        opts.progress = csv_progress(&path);
        let engine = Engine::open(&path, &opts)?;
        engine.verify_key()?;
        let cancel = engine.canceller();
        let c = cancel.clone();
        // A second Ctrl-C (or one arriving when nothing runs) still ends the process.
        let armed = Arc::new(AtomicBool::new(false));
        let (flag, flag2) = (self.cancelled.clone(), self.cancelled.clone());
        let _ = ctrlc::set_handler(move || {
            if armed.swap(true, Ordering::SeqCst) {
                exit_now(130);
            }
            flag.store(true, Ordering::SeqCst);
            c.cancel();
            exit_if_still_running("interrupted");
        });
        // A timeout too large for a Duration (1e300 seconds) is as good as none.
        if let Some(limit) = self.g.timeout.and_then(|s| std::time::Duration::try_from_secs_f64(s).ok()) {
            std::thread::spawn(move || {
                std::thread::sleep(limit);
                flag2.store(true, Ordering::SeqCst);
                cancel.cancel();
                exit_if_still_running("--timeout");
            });
        }
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

/// DuckDB checks for an interrupt while it executes a query, not while it plans one: a filter
/// whose planning alone takes minutes (a 1 MB OR chain) ignores the cancel. A command that has not
/// ended this long after its cancel is ended here, so Ctrl-C and --timeout always bound the wait.
/// README promises 3 s; the half second left is for this thread to wake on a loaded machine (at
/// 3 s exactly, the exit came 3.1-3.2 s after the cancel).
const CANCEL_GRACE: std::time::Duration = std::time::Duration::from_millis(2500);

fn exit_if_still_running(why: &str) {
    let why = why.to_string();
    std::thread::spawn(move || {
        std::thread::sleep(CANCEL_GRACE);
        eprintln!("seglens: query cancelled ({why}); DuckDB did not stop within {} s", CANCEL_GRACE.as_secs_f64());
        exit_now(130);
    });
}

/// Ends the process at once while DuckDB's threads may still run. `std::process::exit` would run
/// C++ static destructors under them (a segfault, exit 139, seen in the reliability tests);
/// `_exit` skips them. stderr is unbuffered, and a cancelled command has no data left to print.
fn exit_now(code: i32) -> ! {
    unsafe extern "C" {
        fn _exit(status: i32) -> !;
    }
    // SAFETY: `_exit` takes no pointers and is async-signal-safe; it never returns.
    unsafe { _exit(code) }
}

pub struct Resolved {
    pub label: String,
    pub compiled: Compiled,
    pub values: BTreeMap<String, ParamValue>,
    pub template: Option<Template>,
}

/// One line on stderr that the command goes on despite (stdout stays data).
pub(crate) fn warning(text: &str) {
    eprintln!("seglens: warning: {text}");
}

pub(crate) fn user(msg: impl Into<String>) -> anyhow::Error {
    anyhow!(UserError(msg.into()))
}

pub(crate) fn fail<T>(msg: impl Into<String>) -> Result<T> {
    bail!(UserError(msg.into()))
}

/// Builds the related tables' rollups before a command that reads them, with a progress bar on
/// stderr (hidden when stderr is not a terminal): at 100M events the GROUP BY takes seconds.
pub(crate) fn rollups(engine: &Engine) -> Result<()> {
    if engine.rollups().is_empty() {
        return Ok(());
    }
    let bar = indicatif::ProgressBar::new(1000);
    bar.set_style(
        indicatif::ProgressStyle::with_template("computing {msg} [{bar:30}] {percent}%")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let shown = bar.clone();
    engine.kept_rollups(&move |table, percent| {
        shown.set_message(format!("the {table} rollup"));
        if let Some(p) = percent {
            shown.set_position((p * 10.0) as u64);
        }
    })?;
    bar.finish_and_clear();
    Ok(())
}

/// A progress bar on stderr while a big CSV loads into memory (hidden when stderr is not a
/// terminal); a Parquet source is read in place and a DuckDB file opened, with nothing to load.
fn csv_progress(path: &Path) -> Option<crate::engine::Progress> {
    if crate::engine::source::kind_of(path) != crate::engine::SourceKind::Csv {
        return None;
    }
    let total = std::fs::metadata(path).ok()?.len();
    if total < 32 << 20 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("loading {msg} [{bar:30}] {bytes}/{total_bytes} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    Some(crate::engine::Progress(Arc::new(move |done, total| {
        bar.set_length(total);
        bar.set_position(done);
        if done >= total {
            bar.finish_and_clear();
        }
    })))
}
