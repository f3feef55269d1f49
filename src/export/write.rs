//! Staging one output file of an export: the CSV streamed and hashed as it is written (with the
//! arm of each row and the keys of each segment collected on the way), each segment compared
//! with its latest earlier export, the members file encoded, and the manifest built; every file
//! written to a temporary name beside its target, synced, for `export_with` to rename into place.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::members_file::{self, MemberList, members_path};
use super::over_time::{MembersRef, SegmentChanges, StoredExport};
use super::{ExportError, ExportRequest, ExportSegment, ExportedFile, Plan, Progress, guard, manifest_path};
use crate::engine::keys::{Keys, diff};
use crate::engine::query::arms;
use crate::engine::{Compiled, Engine, EngineError};

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

/// A plan written to temporary files, checked, ready to be renamed into place.
pub(super) struct Staged {
    pub(super) csv: tempfile::NamedTempFile,
    pub(super) manifest: tempfile::NamedTempFile,
    pub(super) members: tempfile::NamedTempFile,
    pub(super) file: ExportedFile,
    pub(super) created_at: String,
    pub(super) segments: Vec<String>,
}

/// The columns of a plan's CSV and how each row is read: the selected columns, the key streamed
/// beside them when they leave it out (the members file needs every key, and a second scan to
/// fetch them would double the export's cost), and the leading `segment`, `cell` and `arm`
/// columns a plan may need.
struct Layout {
    columns: Vec<String>,
    streamed: Vec<String>,
    key_at: usize,
    int_key: bool,
    with_segment: bool,
    with_cell: bool,
    with_arm: bool,
    /// `--excel-safe`: cells that would run as a formula are prefixed with `'`.
    excel_safe: bool,
}

impl Layout {
    fn of(engine: &Engine, req: &ExportRequest, plan: &Plan) -> Result<Layout, ExportError> {
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
        let any = |has: fn(&ExportSegment) -> bool| plan.parts.iter().any(|(i, _)| has(&req.segments[*i]));
        Ok(Layout {
            columns,
            streamed,
            key_at,
            int_key: engine.key_is_integer(),
            with_segment: plan.with_segment_column,
            with_cell: any(|s| s.cell.is_some()),
            with_arm: any(|s| s.arms.is_some()),
            excel_safe: req.excel_safe,
        })
    }

    fn header(&self) -> Vec<&str> {
        let lead = [(self.with_segment, "segment"), (self.with_cell, "cell"), (self.with_arm, "arm")];
        let lead = lead.into_iter().filter_map(|(on, name)| on.then_some(name));
        lead.chain(self.columns.iter().map(String::as_str)).collect()
    }
}

/// A segment as written: its rows, its arms (one unnamed arm without any) and the keys of each.
struct Written {
    rows: u64,
    bounds: Vec<(String, u32, u32)>,
    arm_keys: Vec<Keys>,
}

impl Written {
    /// Every key of the segment, whatever its arm.
    fn keys(&self) -> Keys {
        match self.arm_keys.as_slice() {
            [one] => one.clone(),
            many => Keys::union(&many.iter().collect::<Vec<_>>()),
        }
    }

    /// The segment's arms in the manifest: salt, hash, declared shares and the counts written.
    fn arms_entry(&self, seg: &ExportSegment) -> Option<ManifestArms> {
        seg.arms.as_ref().map(|a| ManifestArms {
            salt: a.salt.clone(),
            hash: arms::HASH,
            shares: a.arm.iter().map(|x| (x.name.clone(), x.share)).collect(),
            counts: self
                .bounds
                .iter()
                .zip(&self.arm_keys)
                .map(|((name, _, _), k)| (name.clone(), k.len() as u64))
                .collect(),
        })
    }

    /// The members file's lists of the segment: one per arm, labelled by cell and arm.
    fn member_lists(self, seg: &ExportSegment) -> impl Iterator<Item = MemberList> + '_ {
        self.bounds.into_iter().zip(self.arm_keys).map(move |((arm, _, _), keys)| {
            let label = match (&seg.cell, arm.is_empty()) {
                (Some(cell), true) => cell.clone(),
                (Some(cell), false) => format!("{cell} · {arm}"),
                (None, _) => arm,
            };
            MemberList { segment: seg.name.clone(), label, keys }
        })
    }
}

/// Writes `plan` to temporary files beside its targets (CSV, members file, manifest), each
/// checked and synced, for the caller to rename into place.
pub(super) fn write_plan(
    engine: &Engine,
    req: &ExportRequest,
    plan: &Plan,
    previous: &BTreeMap<String, StoredExport>,
    progress: &mut dyn FnMut(&Progress) -> bool,
) -> Result<Staged, ExportError> {
    let io = |source| ExportError::Io { path: plan.csv.clone(), source };
    let layout = Layout::of(engine, req, plan)?;
    let tmp = temp_beside(&plan.csv)?;
    let file = tmp.reopen().map_err(io)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, HashingWriter { inner: file, hash: Sha256::new() });
    guard::record(&mut w, layout.header().into_iter().map(|h| Some(guard::cell(h, req.excel_safe)))).map_err(io)?;
    let (mut total, mut entries, mut lists, mut changes) = (0, Vec::new(), Vec::new(), Vec::new());
    for (i, filter) in &plan.parts {
        let seg = &req.segments[*i];
        let written = write_segment(engine, &layout, seg, filter, &mut w, progress, &plan.csv)?;
        changes.extend(changes_since(previous, seg, &written));
        entries.push(ManifestSegment {
            name: seg.name.clone(),
            version: seg.version,
            filter: seg.filter.source.clone(),
            sql: crate::engine::text::tokens::pin_current_date(&engine.select_sql(filter), engine.today()),
            params: seg.params.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
            rows: written.rows,
            arms: written.arms_entry(seg),
            cell: seg.cell.clone(),
        });
        total += written.rows;
        lists.extend(written.member_lists(seg));
    }
    let sha256 = finish_csv(w).map_err(io)?;
    let (members_tmp, members) = stage_members(engine, &plan.csv, &lists)?;
    let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let manifest = Manifest {
        file: plan.csv.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        rows: total,
        sha256: sha256.clone(),
        columns: layout.columns,
        segments: entries,
        suppressions: suppression_entries(engine, req, plan)?,
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
    let (manifest_tmp, manifest_path) = stage_manifest(&plan.csv, &manifest)?;
    Ok(Staged {
        csv: tmp,
        manifest: manifest_tmp,
        members: members_tmp,
        file: ExportedFile {
            csv: plan.csv.clone(),
            manifest: manifest_path,
            rows: total,
            sha256,
            members: members_path(&plan.csv),
            changes,
            warning: None,
        },
        created_at,
        segments: plan.parts.iter().map(|(i, _)| req.segments[*i].name.clone()).collect(),
    })
}

/// Streams the members of `seg` (its effective `filter`) into the CSV: each row with its
/// segment, cell and arm fields, its key kept in its arm's list. Checks the rows written against
/// the segment's size; `progress` returning false cancels.
fn write_segment(
    engine: &Engine,
    layout: &Layout,
    seg: &ExportSegment,
    filter: &Compiled,
    w: &mut impl Write,
    progress: &mut dyn FnMut(&Progress) -> bool,
    csv: &Path,
) -> Result<Written, ExportError> {
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
        None => vec![(String::new(), 0, arms::BUCKETS)],
    };
    let mut ints: Vec<Vec<i64>> = vec![Vec::new(); bounds.len()];
    let mut texts: Vec<Vec<String>> = vec![Vec::new(); bounds.len()];
    let segment_field = layout.with_segment.then_some(seg.name.as_str());
    let cell_field = layout.with_cell.then(|| seg.cell.as_deref().unwrap_or(""));
    let n = layout.columns.len();
    let result = engine.for_each_member(filter, &layout.streamed, |fields| {
        // The arm: a pure function of (salt, key as text), the same as its SQL (query/arms.rs).
        let arm = match (&seg.arms, fields[layout.key_at]) {
            (Some(a), Some(k)) => {
                let b = arms::bucket(&a.salt, k);
                bounds.iter().position(|(_, from, to)| (*from..*to).contains(&b)).unwrap_or(0)
            }
            _ => 0,
        };
        let arm_field = layout.with_arm.then(|| if seg.arms.is_some() { bounds[arm].0.as_str() } else { "" });
        // A NULL key is no one to remember (a key column is unique, but may hold one NULL).
        if let Some(k) = fields[layout.key_at] {
            if !layout.int_key {
                texts[arm].push(k.to_string());
            } else if let Ok(v) = k.parse::<i64>() {
                ints[arm].push(v);
            } else {
                bad_key = Some(k.to_string());
                return Err(std::io::Error::other("bad key"));
            }
        }
        // NULL is written as an empty field and '' as "", as DuckDB's COPY does.
        let fields =
            segment_field.into_iter().chain(cell_field).chain(arm_field).map(Some).chain(fields[..n].iter().copied());
        guard::record(w, fields.map(|f| f.map(|v| guard::cell(v, layout.excel_safe))))?;
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
        let why = format!("key {k:?} of {} does not read as an integer", engine.key());
        return Err(ExportError::Engine(EngineError::Config(why)));
    }
    match result {
        Ok(_) => {}
        Err(EngineError::Output(e)) => return Err(ExportError::Io { path: csv.to_path_buf(), source: e }),
        Err(e) => return Err(e.into()),
    }
    progress(&Progress::Rows { written, expected });
    if written != expected {
        return Err(ExportError::CountMismatch { segment: seg.name.clone(), written, expected });
    }
    let arm_keys = ints
        .into_iter()
        .zip(texts)
        .map(|(i, t)| if layout.int_key { Keys::from_ints(i) } else { Keys::from_texts(t) })
        .collect();
    Ok(Written { rows: written, bounds, arm_keys })
}

/// Added, dropped and kept since the segment's latest earlier export, when there is one. A cell
/// is compared with nothing: the segment's earlier export holds all of its cells.
fn changes_since(
    previous: &BTreeMap<String, StoredExport>,
    seg: &ExportSegment,
    written: &Written,
) -> Option<SegmentChanges> {
    if seg.cell.is_some() {
        return None;
    }
    let before = previous.get(&seg.name)?;
    let d = diff(&written.keys(), &before.keys_of(&seg.name)?, 0);
    Some(SegmentChanges {
        segment: seg.name.clone(),
        since: before.since(&seg.name),
        added: d.added,
        dropped: d.dropped,
        kept: d.kept,
    })
}

/// Flushes and syncs the CSV; its SHA-256, hashed as it was written.
fn finish_csv(w: std::io::BufWriter<HashingWriter<std::fs::File>>) -> std::io::Result<String> {
    let mut hashing = w.into_inner().map_err(|e| e.into_error())?;
    hashing.flush()?;
    hashing.inner.sync_all()?;
    Ok(hashing.hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The members file beside `csv`, encoded in memory (a few bytes a key), hashed and synced in a
/// temporary file; and the manifest's reference to it.
fn stage_members(
    engine: &Engine,
    csv: &Path,
    lists: &[MemberList],
) -> Result<(tempfile::NamedTempFile, MembersRef), ExportError> {
    let path = members_path(csv);
    let io = |source| ExportError::Io { path: path.clone(), source };
    let bytes = members_file::encode(lists).map_err(|e| io(std::io::Error::other(e)))?;
    let mut tmp = temp_beside(&path)?;
    tmp.write_all(&bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    let members = MembersRef {
        file: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        sha256: Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect(),
        format: members_file::FORMAT.to_string(),
        key: engine.key().to_string(),
    };
    Ok((tmp, members))
}

/// The manifest's entry of each suppression: its SQL and how many of the plan's members it removed.
fn suppression_entries(engine: &Engine, req: &ExportRequest, plan: &Plan) -> Result<Vec<ManifestSegment>, ExportError> {
    req.suppressions
        .iter()
        .map(|s| {
            Ok(ManifestSegment {
                name: s.name.clone(),
                version: s.version,
                filter: s.filter.source.clone(),
                sql: crate::engine::text::tokens::pin_current_date(&engine.select_sql(&s.filter), engine.today()),
                params: s.params.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
                rows: removed_by(engine, req, plan, s)?,
                arms: None,
                cell: None,
            })
        })
        .collect()
}

/// Members of the plan's segments (before suppressions) that suppression `s` removes.
fn removed_by(engine: &Engine, req: &ExportRequest, plan: &Plan, s: &ExportSegment) -> Result<u64, ExportError> {
    let union: Vec<String> =
        plan.parts.iter().map(|(i, _)| format!("coalesce((\n{}\n), false)", req.segments[*i].filter.sql)).collect();
    let sql = format!("({}) AND coalesce((\n{}\n), false)", union.join(" OR "), s.filter.sql);
    let both = Compiled::raw(&sql).map_err(EngineError::from)?;
    Ok(engine.size(&both)?.size)
}

/// The manifest beside `csv`, written and synced in a temporary file; and its final path.
fn stage_manifest(csv: &Path, manifest: &Manifest<'_>) -> Result<(tempfile::NamedTempFile, PathBuf), ExportError> {
    let path = manifest_path(csv);
    let mut tmp = temp_beside(&path)?;
    let io = |source| ExportError::Io { path: path.clone(), source };
    serde_json::to_writer_pretty(&mut tmp, manifest).map_err(|e| io(e.into()))?;
    tmp.write_all(b"\n").map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    Ok((tmp, path))
}

pub(super) fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile, ExportError> {
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
