//! Exports segments to CSV (RFC 4180, UTF-8) with an audit manifest beside each file. Files are
//! written to a temporary name, their row count checked against the segment's size, and only
//! then renamed into place: a failed or interrupted export leaves nothing under the final name.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::engine::movement::Keys;
use crate::engine::{Compiled, Engine, EngineError, FeatureSet, ParamValue, filter};
use crate::library::template::{Kind, Status, Template, TemplateRef};
use crate::library::{Library, LibraryError, measure};

mod guard;
pub mod over_time;

use over_time::{ExportLog, MemberList, MembersRef, SegmentChanges, StoredExport, members_path};

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
    let mut chosen: Vec<Template> = Vec::new();
    for name in names {
        let r = TemplateRef::parse(name).ok_or_else(|| LibraryError::BadRef(name.clone()))?;
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
        chosen.push(t);
    }
    // Priority order: a lower number first; ties keep the order given.
    chosen.sort_by_key(|t| t.priority);
    let compile = |t: &Template, raw: &[(String, String)]| -> Result<ExportSegment, ExportError> {
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
    };
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

/// The cells of `parent` split by the columns `by`, as the segments of one export: each is the
/// parent's filter AND the cell's values (`cells`, in the order of `by`; None: NULL), written
/// with a `cell` column that reads `North × hi`.
pub fn cells(parent: &ExportSegment, by: &[String], cells: &[Vec<Option<String>>]) -> Vec<ExportSegment> {
    cells
        .iter()
        .map(|values| ExportSegment {
            filter: parent.filter.and(&crate::engine::split::cell_filter(by, values)),
            cell: Some(crate::engine::split::cell_label(values)),
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
    pub arms: Option<crate::engine::arms::Arms>,
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
    /// The keys written per segment (`over_time.rs`), beside the manifest.
    pub members: PathBuf,
    /// Added and dropped per segment since its latest earlier export (when a log was given and
    /// one was found).
    pub changes: Vec<SegmentChanges>,
    /// Something the caller should tell the user (the export itself succeeded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct ManifestSegment {
    name: String,
    version: u32,
    filter: String,
    sql: String,
    /// Every parameter with the value bound, defaults included.
    params: BTreeMap<String, serde_json::Value>,
    /// Rows written for a segment; for a suppression, the members of this file's segments it
    /// removed (before any other suppression: two suppressions may remove the same customer).
    rows: u64,
    /// The salt, the hash and each arm's count, when the segment declares arms.
    #[serde(skip_serializing_if = "Option::is_none")]
    arms: Option<ManifestArms>,
    /// The split cell this entry is (`North × hi`): the export holds the segment's cells.
    #[serde(skip_serializing_if = "Option::is_none")]
    cell: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct ManifestArms {
    salt: String,
    hash: &'static str,
    shares: BTreeMap<String, f64>,
    counts: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
struct Manifest<'a> {
    file: String,
    rows: u64,
    sha256: String,
    columns: Vec<String>,
    segments: Vec<ManifestSegment>,
    suppressions: Vec<ManifestSegment>,
    exclusive: bool,
    /// The date `current_date` meant in the SQL above (YYYY-MM-DD).
    as_of: String,
    /// Cells beginning with = + - @ TAB or CR were prefixed with `'` (`--excel-safe`).
    excel_safe: bool,
    database: &'a crate::engine::Fingerprint,
    duckdb_version: String,
    seglens_version: &'static str,
    created_at: String,
    /// The keys written per segment, in a file beside this manifest, and its SHA-256.
    members: MembersRef,
    /// Per segment, added/dropped/kept since its latest earlier export (none the first time).
    changes: Vec<SegmentChanges>,
}

/// Streams into a file while hashing what passes, so the manifest's SHA-256 needs no second read.
struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
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
    let effective = effective(&req.segments, &req.suppressions, req.exclusive);
    let per_file = req.out.is_dir();
    if per_file && req.segments.iter().any(|s| s.cell.is_some()) {
        return Err(ExportError::CellsToDirectory(req.out.clone()));
    }
    let plans: Vec<Plan> = if per_file {
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
    };
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
        staged.push(write_plan(engine, req, plan, &previous, progress)?);
    }
    // Everything is complete and checked: now move the files into place, all or nothing. If a
    // rename fails (a directory in the way, a file appearing meanwhile), the files already moved
    // are removed again and the remaining temporary files are deleted as they drop. The manifest
    // goes last: it is what `changes` and movement read, and it names the members file it found
    // in place.
    let mut out = Vec::new();
    let mut logged = Vec::new();
    let mut placed: Vec<PathBuf> = Vec::new();
    for staged in staged {
        let file = staged.file;
        logged.push((staged.created_at, staged.segments));
        for (tmp, path) in [(staged.members, &file.members), (staged.csv, &file.csv), (staged.manifest, &file.manifest)]
        {
            if let Err(e) = persist(tmp, path, req.force) {
                for p in &placed {
                    let _ = std::fs::remove_file(p);
                }
                return Err(e);
            }
            placed.push(path.clone());
        }
        out.push(file);
    }
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

/// A plan written to temporary files, checked, ready to be renamed into place.
struct Staged {
    csv: tempfile::NamedTempFile,
    manifest: tempfile::NamedTempFile,
    members: tempfile::NamedTempFile,
    file: ExportedFile,
    created_at: String,
    segments: Vec<String>,
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

fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile, ExportError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = format!(".{name}.");
    // This target's temp files (".NAME.XXXXXX.partial") that no live export holds locked.
    let abandoned = |n: &str| {
        let random = n.strip_prefix(&prefix).and_then(|r| r.strip_suffix(".partial"));
        random.is_some_and(|r| r.len() == 6 && r.chars().all(|c| c.is_ascii_alphanumeric()))
            && std::fs::File::open(dir.join(n)).is_ok_and(|f| f.try_lock().is_ok())
    };
    crate::library::store::remove_abandoned(&dir, abandoned);
    let tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".partial")
        // The finished file is read by other tools and people (tempfile's default is owner-only).
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(&dir)
        .map_err(|source| ExportError::Io { path: path.to_path_buf(), source })?;
    // Held while this export lives, so that another one never takes the file for abandoned.
    tmp.as_file().lock().map_err(|source| ExportError::Io { path: path.to_path_buf(), source })?;
    Ok(tmp)
}

/// Members of the plan's segments (before suppressions) that suppression `s` removes.
fn removed_by(engine: &Engine, req: &ExportRequest, plan: &Plan, s: &ExportSegment) -> Result<u64, ExportError> {
    let union: Vec<String> =
        plan.parts.iter().map(|(i, _)| format!("coalesce((\n{}\n), false)", req.segments[*i].filter.sql)).collect();
    let sql = format!("({}) AND coalesce((\n{}\n), false)", union.join(" OR "), s.filter.sql);
    let both = Compiled::raw(&sql).map_err(EngineError::from)?;
    Ok(engine.size(&both)?.size)
}

fn write_plan(
    engine: &Engine,
    req: &ExportRequest,
    plan: &Plan,
    previous: &BTreeMap<String, StoredExport>,
    progress: &mut dyn FnMut(&Progress) -> bool,
) -> Result<Staged, ExportError> {
    let io = |source| ExportError::Io { path: plan.csv.clone(), source };
    let tmp = temp_beside(&plan.csv)?;
    let file = tmp.reopen().map_err(io)?;
    let hashing = HashingWriter { inner: file, hash: Sha256::new() };
    let mut w = std::io::BufWriter::with_capacity(1 << 20, hashing);
    let mut total = 0u64;
    let mut seg_meta = Vec::new();
    let mut lists = Vec::new();
    let mut changes = Vec::new();
    // The CSV's columns, and the key streamed beside them when they leave it out: the members
    // file needs every key, and a second scan to fetch them would double the export's cost.
    let first = plan.parts.first().map(|(_, f)| f).ok_or(ExportError::Empty)?;
    let columns = engine.rows(first, &req.columns, 0)?.columns;
    let mut streamed = columns.clone();
    let key_at = match columns.iter().position(|c| c == engine.key()) {
        Some(i) => i,
        None => {
            streamed.push(engine.key().to_string());
            columns.len()
        }
    };
    let int_key = engine.key_is_integer();
    let with_arm = plan.parts.iter().any(|(i, _)| req.segments[*i].arms.is_some());
    let mut header: Vec<&str> = Vec::new();
    if plan.with_segment_column {
        header.push("segment");
    }
    let with_cell = plan.parts.iter().any(|(i, _)| req.segments[*i].cell.is_some());
    if with_cell {
        header.push("cell");
    }
    if with_arm {
        header.push("arm");
    }
    header.extend(columns.iter().map(String::as_str));
    guard::record(&mut w, header.into_iter().map(|h| Some(guard::cell(h, req.excel_safe)))).map_err(io)?;
    for (i, filter) in &plan.parts {
        let seg = &req.segments[*i];
        let expected = engine.size(filter)?.size;
        if !progress(&Progress::Segment { name: seg.name.clone(), expected }) {
            return Err(ExportError::Cancelled);
        }
        let mut written = 0u64;
        let mut cancelled = false;
        let mut bad_key: Option<String> = None;
        // Keys per arm (one list without arms), in the order the arms are declared.
        let bounds = match &seg.arms {
            Some(a) => a.bounds().map_err(|e| ExportError::NotApproved(format!("{}: {e}", seg.name)))?,
            None => vec![(String::new(), 0, crate::engine::arms::BUCKETS)],
        };
        let mut ints: Vec<Vec<i64>> = vec![Vec::new(); bounds.len()];
        let mut texts: Vec<Vec<String>> = vec![Vec::new(); bounds.len()];
        let segment_field = plan.with_segment_column.then_some(seg.name.as_str());
        let cell_field = with_cell.then(|| seg.cell.as_deref().unwrap_or(""));
        let n = columns.len();
        let result = engine.for_each_member(filter, &streamed, |fields| {
            // The arm: a pure function of (salt, key as text), the same as its SQL (engine/arms.rs).
            let arm = match (&seg.arms, fields[key_at]) {
                (Some(a), Some(k)) => {
                    let b = crate::engine::arms::bucket(&a.salt, k);
                    bounds.iter().position(|(_, from, to)| (*from..*to).contains(&b)).unwrap_or(0)
                }
                _ => 0,
            };
            let arm_field = with_arm.then(|| if seg.arms.is_some() { bounds[arm].0.as_str() } else { "" });
            // A NULL key is no one to remember (a key column is unique, but may hold one NULL).
            if let Some(k) = fields[key_at] {
                if int_key {
                    match k.parse::<i64>() {
                        Ok(v) => ints[arm].push(v),
                        Err(_) => {
                            bad_key = Some(k.to_string());
                            return Err(std::io::Error::other("bad key"));
                        }
                    }
                } else {
                    texts[arm].push(k.to_string());
                }
            }
            // NULL is written as an empty field and '' as "", as DuckDB's COPY does.
            let fields = segment_field
                .into_iter()
                .chain(cell_field)
                .chain(arm_field)
                .map(Some)
                .chain(fields[..n].iter().copied());
            guard::record(&mut w, fields.map(|f| f.map(|v| guard::cell(v, req.excel_safe))))?;
            written += 1;
            if written.is_multiple_of(65_536) && !progress(&Progress::Rows { written, expected }) {
                cancelled = true;
                return Err(std::io::Error::other("cancelled"));
            }
            Ok(())
        });
        if cancelled {
            return Err(ExportError::Cancelled);
        }
        if let Some(k) = bad_key {
            return Err(ExportError::Engine(EngineError::Config(format!(
                "key {k:?} of {} does not read as an integer",
                engine.key()
            ))));
        }
        match result {
            Ok(_) => {}
            Err(EngineError::Output(e)) => return Err(io(e)),
            Err(e) => return Err(e.into()),
        }
        progress(&Progress::Rows { written, expected });
        if written != expected {
            return Err(ExportError::CountMismatch { segment: seg.name.clone(), written, expected });
        }
        let arm_keys: Vec<Keys> = ints
            .into_iter()
            .zip(texts)
            .map(|(i, t)| if int_key { Keys::from_ints(i) } else { Keys::from_texts(t) })
            .collect();
        let keys =
            if arm_keys.len() == 1 { arm_keys[0].clone() } else { Keys::union(&arm_keys.iter().collect::<Vec<_>>()) };
        // A cell is compared with nothing: the segment's earlier export holds all of its cells.
        if seg.cell.is_none()
            && let Some(before) = previous.get(&seg.name)
            && let Some(old) = before.keys_of(&seg.name)
        {
            let d = crate::engine::movement::diff(&keys, &old, 0);
            changes.push(SegmentChanges {
                segment: seg.name.clone(),
                since: before.since(&seg.name),
                added: d.added,
                dropped: d.dropped,
                kept: d.kept,
            });
        }
        let arms_meta = seg.arms.as_ref().map(|a| ManifestArms {
            salt: a.salt.clone(),
            hash: crate::engine::arms::HASH,
            shares: a.arm.iter().map(|x| (x.name.clone(), x.share)).collect(),
            counts: bounds.iter().zip(&arm_keys).map(|((name, _, _), k)| (name.clone(), k.len() as u64)).collect(),
        });
        for ((arm, _, _), k) in bounds.into_iter().zip(arm_keys) {
            let label = match (&seg.cell, arm.is_empty()) {
                (Some(cell), true) => cell.clone(),
                (Some(cell), false) => format!("{cell} · {arm}"),
                (None, _) => arm,
            };
            lists.push(MemberList { segment: seg.name.clone(), label, keys: k });
        }
        total += written;
        seg_meta.push(ManifestSegment {
            name: seg.name.clone(),
            version: seg.version,
            filter: seg.filter.source.clone(),
            sql: crate::dialect::pin_current_date(&engine.select_sql(filter), engine.today()),
            params: seg.params.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
            rows: written,
            arms: arms_meta,
            cell: seg.cell.clone(),
        });
    }
    let mut hashing = w.into_inner().map_err(|e| io(e.into_error()))?;
    hashing.flush().map_err(io)?;
    hashing.inner.sync_all().map_err(io)?;
    let sha256: String = hashing.hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    // The members file: encoded in memory (a few bytes a key), hashed, synced.
    let mpath_members = members_path(&plan.csv);
    let members_io = |source| ExportError::Io { path: mpath_members.clone(), source };
    let bytes = over_time::encode(&lists).map_err(|e| members_io(std::io::Error::other(e)))?;
    let mut members_tmp = temp_beside(&mpath_members)?;
    members_tmp.write_all(&bytes).map_err(members_io)?;
    members_tmp.as_file().sync_all().map_err(members_io)?;
    let members = MembersRef {
        file: mpath_members.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        sha256: Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect(),
        format: over_time::FORMAT.to_string(),
        key: engine.key().to_string(),
    };
    let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let manifest = Manifest {
        file: plan.csv.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        rows: total,
        sha256: sha256.clone(),
        columns,
        segments: seg_meta,
        suppressions: req
            .suppressions
            .iter()
            .map(|s| {
                Ok(ManifestSegment {
                    name: s.name.clone(),
                    version: s.version,
                    filter: s.filter.source.clone(),
                    sql: crate::dialect::pin_current_date(&engine.select_sql(&s.filter), engine.today()),
                    params: s.params.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
                    rows: removed_by(engine, req, plan, s)?,
                    arms: None,
                    cell: None,
                })
            })
            .collect::<Result<_, ExportError>>()?,
        exclusive: req.exclusive,
        as_of: engine.today().to_string(),
        excel_safe: req.excel_safe,
        database: engine.fingerprint(),
        duckdb_version: engine.duckdb_version().unwrap_or_default(),
        seglens_version: env!("CARGO_PKG_VERSION"),
        created_at: created_at.clone(),
        members,
        changes: changes.clone(),
    };
    let mpath = manifest_path(&plan.csv);
    let mut mtmp = temp_beside(&mpath)?;
    let mio = |source| ExportError::Io { path: mpath.clone(), source };
    serde_json::to_writer_pretty(&mut mtmp, &manifest).map_err(|e| mio(e.into()))?;
    mtmp.write_all(b"\n").map_err(mio)?;
    mtmp.as_file().sync_all().map_err(mio)?;
    let segments = plan.parts.iter().map(|(i, _)| req.segments[*i].name.clone()).collect();
    Ok(Staged {
        csv: tmp,
        manifest: mtmp,
        members: members_tmp,
        file: ExportedFile {
            csv: plan.csv.clone(),
            manifest: mpath.clone(),
            rows: total,
            sha256,
            members: mpath_members.clone(),
            changes,
            warning: None,
        },
        created_at,
        segments,
    })
}
