//! Progress bars on stderr for the slow steps before a command's answer: building rollups and
//! loading a large CSV (hidden when stderr is not a terminal).

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;

use crate::engine::Engine;

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
pub(super) fn csv_progress(path: &Path) -> Option<crate::engine::Progress> {
    if crate::engine::conn::source::kind_of(path) != crate::engine::SourceKind::Csv {
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
