//! Exports segments to CSV (RFC 4180, UTF-8) with an audit manifest beside each file. Files are
//! written to a temporary name, their row count checked against the segment's size, and only
//! then renamed into place: a failed or interrupted export leaves nothing under the final name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::engine::text::filter;
use crate::engine::{Compiled, Engine, EngineError, FeatureSet, ParamValue};
use crate::library::template::{Kind, Status, Template, TemplateRef};
use crate::library::{Library, LibraryError, measure};

mod guard;
pub mod members_file;
pub mod over_time;
mod write;

use members_file::members_path;
use over_time::{ExportLog, SegmentChanges};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0} exists; pass --force to replace it")]
    Exists(PathBuf),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "segment {segment}: wrote {written} rows but the segment has {expected} (its filter answered differently twice: \
         random(), or data that changed meanwhile); nothing was written"
    )]
    CountMismatch { segment: String, written: u64, expected: u64 },
    #[error("export cancelled; nothing was written")]
    Cancelled,
    #[error("nothing to export: name at least one segment")]
    Empty,
    #[error("{0} is not a regular file or directory (a device, pipe or socket): export to a file path")]
    NotAFile(PathBuf),
    #[error("{0} is a directory: the cells of a split go to one .csv file, with a cell column")]
    CellsToDirectory(PathBuf),
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Library(#[from] LibraryError),
    #[error("{0}")]
    NotApproved(String),
    /// An approved version whose approval hash is missing or no longer matches its content.
    #[error("{}: {why}", path.display())]
    Approval { path: PathBuf, why: String },
    /// The target is a file an export must never replace, whatever the flags.
    #[error("{}: {why}; an export never writes there, with or without --force: choose another --out", path.display())]
    Protected { path: PathBuf, why: String },
    /// An earlier export that cannot be read back to compare with (missing, damaged or too old a
    /// manifest).
    #[error("{}: {why}", path.display())]
    EarlierExport { path: PathBuf, why: String },
}

/// Picks what `names` export: the latest approved version of each (or the latest at all with
/// `allow_draft`; `NAME@V` picks that version), in priority order, and every approved suppression
/// not among them unless `suppress` is false. `raw` binds `--param` values to the segments that use them.
pub fn resolve(
    library: &Library,
    features: &FeatureSet,
    names: &[String],
    allow_draft: bool,
    suppress: bool,
    raw: &[(String, String)],
) -> Result<(Vec<ExportSegment>, Vec<ExportSegment>), ExportError> {
    let mut chosen = names.iter().map(|name| choose(library, name, allow_draft)).collect::<Result<Vec<_>, _>>()?;
    // Priority order: a lower number first; ties keep the order given.
    chosen.sort_by_key(|t| t.priority);
    let compile = |t: &Template, raw: &[(String, String)]| compile_segment(library, features, t, raw);
    let segments = chosen.iter().map(|t| compile(t, raw)).collect::<Result<Vec<_>, _>>()?;
    let mut suppressions = Vec::new();
    if suppress {
        for name in library.names()? {
            if chosen.iter().any(|t| t.name == name) {
                continue;
            }
            if let Some(t) = library.latest_approved(&name)?
                && t.kind == Kind::Suppression
            {
                check_approval(library, &t)?;
                suppressions.push(compile(&t, &[])?);
            }
        }
    }
    Ok((segments, suppressions))
}

/// The version of `name` (`NAME@V`, else the latest approved, or the latest with
/// `allow_draft`) an export takes, its approval checked.
fn choose(library: &Library, name: &str, allow_draft: bool) -> Result<Template, ExportError> {
    let r = TemplateRef::parse(name).ok_or_else(|| LibraryError::BadRef(name.to_string()))?;
    let t = match r.version {
        Some(v) => library.load(&r.name, Some(v))?,
        None if allow_draft => library.load(&r.name, None)?,
        None => library.latest_approved(&r.name)?.ok_or_else(|| {
            library.load(&r.name, None).err().map_or_else(
                || {
                    ExportError::NotApproved(format!(
                        "{} has no approved version: approve it first (or allow drafts)",
                        r.name
                    ))
                },
                ExportError::Library,
            )
        })?,
    };
    if t.status != Status::Approved && !allow_draft {
        return Err(ExportError::NotApproved(format!(
            "{} is {}, not approved: approve it first (or allow drafts)",
            t.reference(),
            t.status.name()
        )));
    }
    check_approval(library, &t)?;
    Ok(t)
}

/// `t` compiled for export with the `--param` values it uses; an approved version only with the
/// feature bodies recorded when it was approved.
fn compile_segment(
    library: &Library,
    features: &FeatureSet,
    t: &Template,
    raw: &[(String, String)],
) -> Result<ExportSegment, ExportError> {
    let used = filter::placeholders(&t.filter);
    let mine: Vec<(String, String)> = raw.iter().filter(|(k, _)| used.contains(k)).cloned().collect();
    let values = filter::bind_params(&t.filter, &t.params, &mine).map_err(EngineError::from)?;
    let compiled = measure::compile(t, &values, features)?;
    // An approval covers the feature bodies recorded with it: a feature the filter reaches
    // that was not recorded would expand to whatever features.toml says today.
    if t.status == Status::Approved
        && let Some(f) = compiled.features_used.iter().find(|f| !t.features.contains_key(*f))
    {
        return Err(ExportError::Approval {
            path: library.path_of(&t.name, t.version),
            // `approve NAME@V` alone would leave the same content, still without the feature.
            why: format!(
                "uses feature {f}, which was not recorded when it was approved; record it with `seglens save {0}`, \
                 check it, then `seglens approve {0}`",
                t.name
            ),
        });
    }
    let params = filter::bound_params(&t.filter, &t.params, &values);
    Ok(ExportSegment {
        name: t.name.clone(),
        version: t.version,
        filter: compiled,
        params,
        arms: t.arms.clone(),
        cell: None,
    })
}

/// The cells of `parent` split by the columns `by`, as the segments of one export: each is the
/// parent's filter AND the cell's values (`cells`, in the order of `by`; None: NULL), written
/// with a `cell` column that reads `North × hi`.
pub fn cells(parent: &ExportSegment, by: &[String], cells: &[Vec<Option<String>>]) -> Vec<ExportSegment> {
    cells
        .iter()
        .map(|values| ExportSegment {
            filter: parent.filter.and(&crate::engine::query::split::cell_filter(by, values)),
            cell: Some(crate::engine::query::split::cell_label(values)),
            ..parent.clone()
        })
        .collect()
}

/// Refuses an approved version whose approval hash is missing or does not match its content.
fn check_approval(library: &Library, t: &Template) -> Result<(), ExportError> {
    t.verify_approval().map_err(|why| ExportError::Approval { path: library.path_of(&t.name, t.version), why })
}

/// A segment (or suppression) version to export, compiled with the parameter values used.
#[derive(Debug, Clone)]
pub struct ExportSegment {
    pub name: String,
    pub version: u32,
    pub filter: Compiled,
    pub params: BTreeMap<String, ParamValue>,
    /// The template's arms: the export gets an `arm` column and one member list per arm.
    pub arms: Option<crate::engine::query::arms::Arms>,
    /// A cell of a split of this segment (`North × hi`): the export gets a `cell` column.
    pub cell: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// In priority order (first = highest priority).
    pub segments: Vec<ExportSegment>,
    /// Subtracted from every segment.
    pub suppressions: Vec<ExportSegment>,
    /// Each customer goes to their highest-priority segment only.
    pub exclusive: bool,
    /// Columns to write (all when empty); one CSV with a `segment` column first, or one file per
    /// segment when `out` is a directory.
    pub columns: Vec<String>,
    pub out: PathBuf,
    pub force: bool,
    /// Prefix with `'` every cell that begins with `=`, `+`, `-`, `@`, TAB or CR, so that a
    /// spreadsheet shows it as text instead of running it as a formula (OWASP's CSV-injection
    /// advice). Off by default: values are exported exactly as stored.
    pub excel_safe: bool,
    /// Directories an export never writes into (the template library), besides the database, its
    /// WAL and the source file, which are always protected.
    pub protected: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Starting a segment that will write `expected` rows.
    Segment { name: String, expected: u64 },
    /// Rows written so far in the current file, of the expected total.
    Rows { written: u64, expected: u64 },
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedFile {
    pub csv: PathBuf,
    pub manifest: PathBuf,
    pub rows: u64,
    pub sha256: String,
    /// The keys written per segment (`members_file.rs`), beside the manifest.
    pub members: PathBuf,
    /// Added and dropped per segment since its latest earlier export (when a log was given and
    /// one was found).
    pub changes: Vec<SegmentChanges>,
    /// Something the caller should tell the user (the export itself succeeded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// One output file: its final path, the segments it holds and their effective filters.
struct Plan {
    csv: PathBuf,
    parts: Vec<(usize, Compiled)>,
    with_segment_column: bool,
}

fn manifest_path(csv: &Path) -> PathBuf {
    csv.with_extension("manifest.json")
}

/// The filter each segment exports with: minus the suppressions, and minus higher-priority
/// segments when exclusive (`segments` in priority order).
pub fn effective(segments: &[ExportSegment], suppressions: &[ExportSegment], exclusive: bool) -> Vec<Compiled> {
    let supp: Vec<&Compiled> = suppressions.iter().map(|s| &s.filter).collect();
    segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut minus = supp.clone();
            if exclusive {
                minus.extend(segments[..i].iter().map(|h| &h.filter));
            }
            s.filter.and_not(&minus)
        })
        .collect()
}

/// Runs the export; `progress` may return false to cancel. Every export writes its members file;
/// nothing is compared or logged (see `export_with`).
pub fn export(
    engine: &Engine,
    req: &ExportRequest,
    progress: &mut dyn FnMut(&Progress) -> bool,
) -> Result<Vec<ExportedFile>, ExportError> {
    export_with(engine, req, None, progress)
}

/// `export`, with the export log: with a `log`, each segment is compared with its latest
/// earlier export from the log (the counts go into the manifest), and the export is recorded in
/// the log once its manifest is in place.
pub fn export_with(
    engine: &Engine,
    req: &ExportRequest,
    log: Option<&ExportLog>,
    progress: &mut dyn FnMut(&Progress) -> bool,
) -> Result<Vec<ExportedFile>, ExportError> {
    if req.segments.is_empty() {
        return Err(ExportError::Empty);
    }
    // The CSV is renamed into place at the end: over /dev/full or a pipe that would replace the
    // device node itself (as root) instead of writing to it.
    if let Ok(meta) = std::fs::metadata(&req.out)
        && !meta.is_file()
        && !meta.is_dir()
    {
        return Err(ExportError::NotAFile(req.out.clone()));
    }
    let plans = plans(req)?;
    guard::check_targets(engine.path(), engine.source_files(), &req.protected, plans.iter().map(|p| p.csv.as_path()))?;
    if !req.force {
        for p in &plans {
            for path in [p.csv.clone(), manifest_path(&p.csv), members_path(&p.csv)] {
                if path.exists() {
                    return Err(ExportError::Exists(path));
                }
            }
        }
    }
    let names: Vec<&str> = req.segments.iter().map(|s| s.name.as_str()).collect();
    let previous = log.map(|l| l.previous(&names)).unwrap_or_default();
    let mut staged = Vec::new();
    for plan in &plans {
        staged.push(write::write_plan(engine, req, plan, &previous, progress)?);
    }
    // Everything is complete and checked: now move the files into place, all or nothing.
    let (mut out, logged) = place(staged, req.force)?;
    if let Some(log) = log {
        for (f, (created_at, segments)) in out.iter_mut().zip(logged) {
            // The export is complete without its log line; a log that cannot be written only
            // means `changes` must be told `--since` for it.
            if let Err(e) = log.record(&f.manifest, &created_at, &segments) {
                f.warning = Some(format!("{}: {e} (export history not recorded)", log.path.display()));
            }
        }
    }
    Ok(out)
}

/// The files an export writes: one CSV holding every segment (with a `segment` column), or one
/// per segment when `out` is a directory; each segment with its effective filter.
fn plans(req: &ExportRequest) -> Result<Vec<Plan>, ExportError> {
    let effective = effective(&req.segments, &req.suppressions, req.exclusive);
    let per_file = req.out.is_dir();
    if per_file && req.segments.iter().any(|s| s.cell.is_some()) {
        return Err(ExportError::CellsToDirectory(req.out.clone()));
    }
    Ok(if per_file {
        effective
            .into_iter()
            .enumerate()
            .map(|(i, f)| Plan {
                csv: req.out.join(format!("{}.csv", req.segments[i].name)),
                parts: vec![(i, f)],
                with_segment_column: false,
            })
            .collect()
    } else {
        vec![Plan {
            csv: req.out.clone(),
            parts: effective.into_iter().enumerate().collect(),
            with_segment_column: true,
        }]
    })
}

/// What the export log records of a file: when it was created, and its segments.
type Logged = (String, Vec<String>);

/// Renames every staged file into place, all or nothing: if a rename fails (a directory in the
/// way, a file appearing meanwhile), the files already moved are removed again and the remaining
/// temporary files are deleted as they drop. The manifest goes last: it is what `changes` and
/// movement read, and it names the members file it found in place. Returns the files with what
/// the export log records of each (created at, segments).
fn place(staged: Vec<write::Staged>, force: bool) -> Result<(Vec<ExportedFile>, Vec<Logged>), ExportError> {
    let mut out = Vec::new();
    let mut logged = Vec::new();
    let mut placed: Vec<PathBuf> = Vec::new();
    for staged in staged {
        let file = staged.file;
        logged.push((staged.created_at, staged.segments));
        for (tmp, path) in [(staged.members, &file.members), (staged.csv, &file.csv), (staged.manifest, &file.manifest)]
        {
            if let Err(e) = persist(tmp, path, force) {
                for p in &placed {
                    let _ = std::fs::remove_file(p);
                }
                return Err(e);
            }
            placed.push(path.clone());
        }
        out.push(file);
    }
    Ok((out, logged))
}

fn persist(tmp: tempfile::NamedTempFile, path: &Path, force: bool) -> Result<(), ExportError> {
    let r = if force { tmp.persist(path).map(|_| ()) } else { tmp.persist_noclobber(path).map(|_| ()) };
    r.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            ExportError::Exists(path.to_path_buf())
        } else {
            ExportError::Io { path: path.to_path_buf(), source: e.error }
        }
    })
}
