//! The command line as clap reads it: `Cli`, the global options, one `Command` per subcommand,
//! and the parse that turns clap's errors into one line like every other user error.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use super::{user, warehouse};

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
        #[arg(long, default_value_t = crate::engine::query::split::MAX_CELLS)]
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
pub(super) fn parse_args() -> Result<Option<Cli>> {
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
