//! The command line: clap definitions, one small function per subcommand, and the `--json`
//! shapes. Every command goes through the same engine and library the TUI uses.

mod data;
pub mod format;
mod qa;
mod segments;
pub mod starter;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};

use crate::engine::{Compiled, Engine, EngineError, FeatureSet, OpenOptions, ParamValue, filter};
use crate::library::{Library, LibraryError, Template, TemplateRef, measure};

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
    #[arg(long, global = true, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// DuckDB memory limit (e.g. 512MB)
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
    /// The portable SQL of a template (or expression) with features expanded and params bound
    Sql { filter: String },
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
    /// Benchmarks against DuckDB running the same SQL (writes BENCHMARKS.md)
    Bench(crate::bench::BenchArgs),
}

#[derive(Args, Debug)]
pub struct SampleArgs {
    #[arg(long, default_value_t = crate::sample::DEFAULT_CUSTOMERS)]
    pub customers: u64,
    #[arg(long, default_value_t = crate::sample::DEFAULT_SEED)]
    pub seed: u64,
    /// Lay dates out relative to this day (default: today)
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<String>,
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
}

/// An error worth exit code 2 that has no typed error of its own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

/// 0 ok, 2 user error, 1 internal error; 130 when cancelled by Ctrl-C.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(e) = cause.downcast_ref::<EngineError>() {
            return match e {
                EngineError::Cancelled => 130,
                e if e.is_user_error() => 2,
                _ => 1,
            };
        }
        if let Some(e) = cause.downcast_ref::<crate::export::ExportError>() {
            return match e {
                crate::export::ExportError::Engine(EngineError::Db(_)) => 1,
                crate::export::ExportError::Cancelled => 130,
                _ => 2,
            };
        }
        if cause.is::<LibraryError>() || cause.is::<UserError>() || cause.is::<crate::engine::FilterError>() {
            return 2;
        }
        if let Some(e) = cause.downcast_ref::<crate::sample::SampleError>() {
            return if matches!(e, crate::sample::SampleError::Db(_)) { 1 } else { 2 };
        }
    }
    1
}

/// One line for stderr: the error and its causes, each said once (a typed error often repeats
/// its source's text).
pub fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(text.trim()) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(text.trim());
        }
    }
    line.replace('\n', " ")
}

pub fn run() -> Result<()> {
    let cli = Cli::parse();
    let g = cli.global.clone();
    match cli.command {
        None => {
            let db = cli.db_path.or(g.db.clone());
            crate::tui::run(Ctx::new(g), db)
        }
        Some(Command::Sample(a)) => data::sample(&g, a),
        Some(Command::Bench(a)) => crate::bench::run(a),
        Some(cmd) => {
            let ctx = Ctx::new(g);
            match cmd {
                Command::Schema => data::schema(&ctx),
                Command::Size { filter } => data::size(&ctx, &filter),
                Command::Profile { filter, by, top } => data::profile(&ctx, &filter, by.as_deref(), top),
                Command::Rows { filter, limit, columns } => data::rows(&ctx, &filter, limit, &columns),
                Command::Overlap { segments, suppressions } => data::overlap(&ctx, &segments, &suppressions),
                Command::Features => segments::features(&ctx),
                Command::Sql { filter } => segments::sql(&ctx, &filter),
                Command::Save(a) => segments::save(&ctx, a),
                Command::List => segments::list(&ctx),
                Command::Show { reference } => segments::show(&ctx, &reference),
                Command::History { name } => segments::history(&ctx, &name),
                Command::Diff { name, v1, v2 } => segments::diff(&ctx, &name, v1, v2),
                Command::Approve { reference, note } => segments::approve(&ctx, &reference, note),
                Command::Retire { name, note } => segments::retire(&ctx, &name, note),
                Command::Check { threshold } => segments::check(&ctx, threshold),
                Command::Export(a) => segments::export(&ctx, a),
                Command::Funnel { filter } => qa::funnel(&ctx, &filter),
                Command::Hygiene => qa::hygiene(&ctx),
                Command::Compare { a, b } => qa::compare(&ctx, &a, &b),
                Command::Sample(_) | Command::Bench(_) => unreachable!("handled above"),
            }
        }
    }
}

/// What every command needs: the options, and lazily the library and engine.
pub struct Ctx {
    pub g: Global,
    pub library: Library,
}

impl Ctx {
    pub fn new(g: Global) -> Ctx {
        let library = Library::open(Library::resolve_dir(g.library.as_deref()));
        Ctx { g, library }
    }

    pub fn open_options(&self) -> Result<OpenOptions> {
        let metrics = match &self.g.metrics {
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).with_context(|| format!("reading metrics file {}", p.display()))?;
                Some(
                    crate::engine::profile::parse_metrics(&text)
                        .map_err(|e| UserError(format!("{}: {}", p.display(), e.message())))?,
                )
            }
            None => None,
        };
        Ok(OpenOptions {
            table: self.g.table.clone(),
            key: self.g.key.clone(),
            threads: self.g.threads,
            memory_limit: self.g.memory_limit.clone(),
            metrics,
        })
    }

    /// The database to open: `db` if given, else the sample database (created on first use).
    pub fn db_path(&self, db: Option<&Path>) -> Result<PathBuf> {
        match db.or(self.g.db.as_deref()) {
            Some(p) => Ok(p.to_path_buf()),
            None => starter::ensure_sample(&self.library),
        }
    }

    /// Opens the database read-only and verifies the key; arms --timeout and Ctrl-C to cancel.
    pub fn engine(&self) -> Result<Engine> {
        let path = self.db_path(None)?;
        let engine = Engine::open(&path, &self.open_options()?)?;
        engine.verify_key()?;
        let cancel = engine.canceller();
        let c = cancel.clone();
        // A second Ctrl-C (or one arriving when nothing runs) still ends the process.
        let armed = Arc::new(AtomicBool::new(false));
        let _ = ctrlc::set_handler(move || {
            if armed.swap(true, Ordering::SeqCst) {
                exit_now(130);
            }
            c.cancel();
            exit_if_still_running("interrupted");
        });
        if let Some(secs) = self.g.timeout {
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_secs_f64(secs.max(0.0)));
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
        if arg == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| UserError(format!("reading the filter from stdin: {e} (a filter is UTF-8 text)")))?;
            return self.resolve_expr(&text, features, raw);
        }
        if let Some(r) = TemplateRef::parse(arg)
            && self.library.versions(&r.name).is_ok_and(|v| !v.is_empty())
        {
            let t = self.library.load(&r.name, r.version)?;
            let values = filter::bind_params(&t.filter, &t.params, raw)?;
            let compiled = measure::compile(&t, &values, features)?;
            return Ok(Resolved { label: t.reference(), compiled, values, template: Some(t) });
        }
        self.resolve_expr(arg, features, raw)
    }

    fn resolve_expr(&self, text: &str, features: &FeatureSet, raw: &[(String, String)]) -> Result<Resolved> {
        let decls = BTreeMap::new();
        let values = filter::bind_params(text, &decls, raw)?;
        let compiled = filter::compile(text, &decls, &values, features).map_err(EngineError::from)?;
        Ok(Resolved { label: text.trim().to_string(), compiled, values, template: None })
    }

    pub fn print_json(&self, v: &impl serde::Serialize) -> Result<()> {
        println!("{}", serde_json::to_string_pretty(v)?);
        Ok(())
    }
}

/// DuckDB checks for an interrupt while it executes a query, not while it plans one: a filter
/// whose planning alone takes minutes (a 1 MB OR chain) ignores the cancel. A command that has not
/// ended this long after its cancel is ended here, so Ctrl-C and --timeout always bound the wait.
const CANCEL_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

fn exit_if_still_running(why: &str) {
    let why = why.to_string();
    std::thread::spawn(move || {
        std::thread::sleep(CANCEL_GRACE);
        eprintln!("seglens: query cancelled ({why}); DuckDB did not stop within {} s", CANCEL_GRACE.as_secs());
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

pub(crate) fn user(msg: impl Into<String>) -> anyhow::Error {
    anyhow!(UserError(msg.into()))
}

pub(crate) fn fail<T>(msg: impl Into<String>) -> Result<T> {
    bail!(UserError(msg.into()))
}
