//! The command line: `run` dispatches each subcommand (clap's definitions in `args.rs`) to one
//! small function in a file named for its family (data, segments, over_time, qa, warehouse);
//! `ctx.rs` resolves the workspace, library and filter every command needs. Every command goes
//! through the same engine and library the TUI uses.

mod args;
mod ctx;
mod data;
mod over_time;
mod progress;
mod qa;
mod segments;
mod signal;
pub mod starter;
mod warehouse;

use anyhow::{Result, anyhow, bail};

pub use crate::error::{UserError, error_line, exit_code};
use args::parse_args;
pub use args::{Cli, Command, ExportArgs, Global, SampleArgs, SaveArgs};
pub use ctx::{Ctx, Resolved};
pub(crate) use progress::rollups;

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
