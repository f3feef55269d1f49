//! What every export remembers, read back for work over time: the manifest's members file
//! (members_file.rs) and a log of exports, so `seglens changes NAME` finds the latest export of a
//! segment without being told; and from them the changes and movement since an export.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ExportError;
use super::members_file::{MemberList, decode};
use crate::engine::keys::Keys;

/// What a manifest says about its members file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MembersRef {
    pub file: String,
    pub sha256: String,
    pub format: String,
    /// The key column the keys come from.
    pub key: String,
}

/// Adds and drops of a segment since an earlier export of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Since {
    pub manifest: String,
    pub created_at: String,
    pub version: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentChanges {
    pub segment: String,
    pub since: Since,
    pub added: u64,
    pub dropped: u64,
    pub kept: u64,
}

/// The parts of a manifest that changes and movement read.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestInfo {
    pub file: String,
    pub created_at: String,
    #[serde(default)]
    pub exclusive: bool,
    #[serde(default)]
    pub as_of: String,
    pub segments: Vec<ManifestSegmentInfo>,
    #[serde(default)]
    pub members: Option<MembersRef>,
    /// The database the export was of (absent in manifests written before it was recorded).
    #[serde(default)]
    pub database: Option<ManifestDatabase>,
}

/// The parts of a manifest's `database` fingerprint that say which data it was.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestDatabase {
    pub path: String,
    pub table: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ManifestSegmentInfo {
    pub name: String,
    pub version: u32,
    pub rows: u64,
}

/// An earlier export, read back: its manifest and the keys of each segment (priority order).
#[derive(Debug, Clone)]
pub struct StoredExport {
    pub manifest_path: PathBuf,
    pub info: ManifestInfo,
    pub lists: Vec<MemberList>,
}

impl StoredExport {
    /// Reads a manifest and its members file, checking the file's SHA-256 against the manifest.
    pub fn open(manifest: &Path) -> Result<StoredExport, ExportError> {
        let bad = |why: String| ExportError::EarlierExport { path: manifest.to_path_buf(), why };
        crate::engine::conn::source::regular_file(manifest)?;
        let text = std::fs::read_to_string(manifest).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let info: ManifestInfo =
            serde_json::from_str(&text).map_err(|e| bad(format!("not a seglens export manifest: {e}")))?;
        let members = info.members.clone().ok_or_else(|| {
            bad("this export has no members file (written by a seglens before export history)".into())
        })?;
        let dir = manifest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let path = dir.join(&members.file);
        crate::engine::conn::source::regular_file(&path)?;
        let bytes = std::fs::read(&path).map_err(|e| bad(format!("its members file {}: {e}", path.display())))?;
        let sha: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        if sha != members.sha256 {
            return Err(bad(format!("its members file {} does not match the SHA-256 it records", path.display())));
        }
        let lists = decode(&bytes).map_err(|e| bad(format!("its members file {}: {e}", path.display())))?;
        Ok(StoredExport { manifest_path: manifest.to_path_buf(), info, lists })
    }

    /// The keys of `segment` (all its arms or cells together), if the export holds it.
    pub fn keys_of(&self, segment: &str) -> Option<Keys> {
        let parts: Vec<&Keys> = self.lists.iter().filter(|l| l.segment == segment).map(|l| &l.keys).collect();
        match parts.as_slice() {
            [] => None,
            [one] => Some((*one).clone()),
            many => Some(Keys::union(many)),
        }
    }

    pub fn since(&self, segment: &str) -> Since {
        Since {
            manifest: self.manifest_path.display().to_string(),
            created_at: self.info.created_at.clone(),
            version: self.info.segments.iter().find(|s| s.name == segment).map_or(0, |s| s.version),
        }
    }

    /// Segment names in the export's priority order, each once (an export of a split's cells
    /// lists its segment once per cell). Linear: a manifest may list millions.
    pub fn segment_names(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.info.segments.iter().filter(|s| seen.insert(s.name.as_str())).map(|s| s.name.clone()).collect()
    }

    /// Each segment's keys (all its arms or cells together), in priority order: `keys_of` for
    /// every segment, from one pass over the lists.
    pub fn segment_keys(&self) -> Vec<(String, Keys)> {
        let mut parts: std::collections::HashMap<&str, Vec<&Keys>> = std::collections::HashMap::new();
        for l in &self.lists {
            parts.entry(l.segment.as_str()).or_default().push(&l.keys);
        }
        self.segment_names()
            .into_iter()
            .filter_map(|n| {
                let keys = match parts.get(n.as_str())?.as_slice() {
                    [one] => (*one).clone(),
                    many => Keys::union(many),
                };
                Some((n, keys))
            })
            .collect()
    }

    /// Whether the members were stored as integers (else as text): the members file's key kind.
    pub fn integer_keys(&self) -> bool {
        self.lists.first().is_none_or(|l| matches!(l.keys, Keys::Int(_)))
    }

    /// Refuses an export whose key is not this data's (another column, or integers against text):
    /// its members would be compared with keys of another kind and read as everyone moved.
    pub fn check_key(&self, engine: &crate::engine::Engine) -> Result<(), ExportError> {
        let Some(members) = &self.info.members else { return Ok(()) };
        let kind = |int: bool| if int { "integer" } else { "text" };
        let (theirs, ours) = (kind(self.integer_keys()), kind(engine.key_is_integer()));
        // DuckDB's identifiers are case-insensitive.
        if !members.key.eq_ignore_ascii_case(engine.key()) || theirs != ours {
            return Err(ExportError::EarlierExport {
                path: self.manifest_path.clone(),
                why: format!(
                    "its members are keyed by {} ({theirs}), this data by {} ({ours}): it is an export of other data; compare an export only with the data it came from",
                    members.key,
                    engine.key(),
                ),
            });
        }
        Ok(())
    }

    /// What to warn about comparing this export with `engine`'s data: it was of another database
    /// or table; or none of its keys is in the data now (`presence`, when counted).
    pub fn warnings(&self, engine: &crate::engine::Engine, presence: Option<Presence>) -> Vec<String> {
        let mut out = Vec::new();
        let name = self.manifest_path.display();
        let fp = engine.fingerprint();
        if let Some(db) = &self.info.database
            && (db.path != fp.path || db.table != fp.table)
        {
            out.push(format!(
                "{name} is an export of {} (table {}), not of {} (table {}): its members may be other customers",
                db.path, db.table, fp.path, fp.table
            ));
        }
        if let Some(p) = presence
            && p.stored > 0
            && p.present == 0
        {
            out.push(format!(
                "none of the {} customers in {name} is in {} now: it is an export of other data, or all of them were deleted",
                crate::format::count(p.stored),
                fp.table
            ));
        }
        out
    }

    /// How many of this export's customers are in `engine`'s table now: one scan of the key
    /// column, asked for only when a comparison found none of them in a segment now (none being
    /// in the data implies that, so the warning is never missed).
    pub fn presence(&self, engine: &crate::engine::Engine) -> Result<Presence, ExportError> {
        let all = Keys::union(&self.lists.iter().map(|l| &l.keys).collect::<Vec<_>>());
        let everyone = crate::engine::Compiled::raw("TRUE").map_err(crate::engine::EngineError::from)?;
        Ok(Presence { stored: all.len() as u64, present: engine.changes(&everyone, &all, 0)?.kept })
    }
}

/// An export's customers (its distinct keys) and how many of them the data holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presence {
    pub stored: u64,
    pub present: u64,
}

/// Where the export log lives, and for which library it records.
#[derive(Debug, Clone)]
pub struct ExportLog {
    /// A JSON-lines file, one export a line (appended after the manifest is in place).
    pub path: PathBuf,
    /// The library the exported templates came from: lookups only see its exports.
    pub library: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LogLine {
    manifest: String,
    created_at: String,
    library: String,
    segments: Vec<String>,
}

fn canonical(p: &Path) -> String {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string()
}

impl ExportLog {
    /// The default log: `exports.jsonl` in seglens' data directory.
    pub fn default_for(library: &Path) -> ExportLog {
        ExportLog { path: crate::config::data_dir().join("exports.jsonl"), library: library.to_path_buf() }
    }

    /// Records an export whose manifest is in place. One `write` of one line in append mode, so
    /// two exports finishing at once never interleave their lines.
    pub fn record(&self, manifest: &Path, created_at: &str, segments: &[String]) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let line = LogLine {
            manifest: canonical(manifest),
            created_at: created_at.to_string(),
            library: canonical(&self.library),
            segments: segments.to_vec(),
        };
        let mut text = serde_json::to_string(&line).map_err(std::io::Error::other)?;
        text.push('\n');
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        f.write_all(text.as_bytes())
    }

    /// The manifest of the latest export of `segment` from this library that is still in place.
    pub fn latest(&self, segment: &str) -> Option<PathBuf> {
        self.in_place().find(|e| e.segments.iter().any(|s| s == segment)).map(|e| e.manifest)
    }

    /// The exports from this library whose manifests are still in place, newest first.
    pub fn exports(&self) -> Vec<LoggedExport> {
        self.in_place().collect()
    }

    /// This library's exports, newest first, each manifest looked for only when reached.
    fn in_place(&self) -> impl Iterator<Item = LoggedExport> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let library = canonical(&self.library);
        let lines: Vec<LogLine> = text.lines().rev().filter_map(|l| serde_json::from_str::<LogLine>(l).ok()).collect();
        lines.into_iter().filter(move |l| l.library == library && Path::new(&l.manifest).is_file()).map(|l| {
            LoggedExport { manifest: PathBuf::from(l.manifest), created_at: l.created_at, segments: l.segments }
        })
    }

    /// The latest earlier export of each of `segments` that reads back (a missing or damaged one
    /// is skipped: the next export is not blocked by an old file someone moved).
    pub fn previous(&self, segments: &[&str]) -> BTreeMap<String, StoredExport> {
        let mut out = BTreeMap::new();
        for s in segments {
            if let Some(stored) = self.latest(s).and_then(|m| StoredExport::open(&m).ok()) {
                out.insert(s.to_string(), stored);
            }
        }
        out
    }
}

/// One export in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedExport {
    pub manifest: PathBuf,
    pub created_at: String,
    pub segments: Vec<String>,
}

/// The filters `names` would export with now (latest approved versions, approved suppressions
/// subtracted unless `suppress` is false), in priority order.
pub fn filters_now(
    library: &crate::library::Library,
    features: &crate::engine::FeatureSet,
    names: &[String],
    suppress: bool,
    exclusive: bool,
    raw: &[(String, String)],
) -> Result<Vec<(String, crate::engine::Compiled)>, ExportError> {
    let (segments, suppressions) = super::resolve(library, features, names, false, suppress, raw)?;
    let effective = super::effective(&segments, &suppressions, exclusive);
    Ok(segments.iter().map(|s| s.name.clone()).zip(effective).collect())
}

/// The second side of a movement: a later export, or the segments as they would export now.
pub enum To<'a> {
    Export(&'a StoredExport),
    Now(&'a [(String, crate::engine::Compiled)]),
}

/// Where the members of export `from` went (`seglens movement`, the explorer's movement view).
pub fn movement(
    engine: &crate::engine::Engine,
    from: &StoredExport,
    to: To<'_>,
) -> Result<crate::engine::movement::Movement, ExportError> {
    use crate::engine::movement::Side;
    from.check_key(engine)?;
    if let To::Export(e) = &to {
        e.check_key(engine)?;
    }
    let lists = StoredExport::segment_keys;
    let a = lists(from);
    let from_side = Side::Stored(a.iter().map(|(n, k)| (n.clone(), k)).collect());
    let b = match &to {
        To::Export(e) => lists(e),
        To::Now(_) => Vec::new(),
    };
    let to_side = match to {
        To::Export(_) => Side::Stored(b.iter().map(|(n, k)| (n.clone(), k)).collect()),
        To::Now(filters) => Side::Now(filters.iter().map(|(n, f)| (n.clone(), f)).collect()),
    };
    Ok(engine.movement(&from_side, &to_side)?)
}

/// What an export about to run would add and drop per segment, against each segment's latest
/// export in `log` (None for a segment never exported): what the export dialog shows before
/// anything is written. One scan per segment that has an earlier export.
pub fn changes_before_export(
    engine: &crate::engine::Engine,
    segments: &[super::ExportSegment],
    suppressions: &[super::ExportSegment],
    exclusive: bool,
    log: &ExportLog,
) -> Result<Vec<(String, Option<SegmentChanges>)>, ExportError> {
    let names: Vec<&str> = segments.iter().map(|s| s.name.as_str()).collect();
    let previous = log.previous(&names);
    let effective = super::effective(segments, suppressions, exclusive);
    let mut out = Vec::new();
    for (s, f) in segments.iter().zip(&effective) {
        let c = match previous.get(&s.name).and_then(|p| p.keys_of(&s.name).map(|k| (p, k))) {
            Some((p, before)) => {
                let d = engine.changes(f, &before, 0)?;
                Some(SegmentChanges {
                    segment: s.name.clone(),
                    since: p.since(&s.name),
                    added: d.added,
                    dropped: d.dropped,
                    kept: d.kept,
                })
            }
            None => None,
        };
        out.push((s.name.clone(), c));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(segments: &[&str], lists: Vec<MemberList>) -> StoredExport {
        let segments =
            segments.iter().map(|n| ManifestSegmentInfo { name: n.to_string(), version: 1, rows: 0 }).collect();
        let info = ManifestInfo {
            file: "x.csv".into(),
            created_at: String::new(),
            exclusive: false,
            as_of: String::new(),
            segments,
            members: None,
            database: None,
        };
        StoredExport { manifest_path: PathBuf::from("x.manifest.json"), info, lists }
    }

    fn list(segment: &str, label: &str, keys: Vec<i64>) -> MemberList {
        MemberList { segment: segment.into(), label: label.into(), keys: Keys::Int(keys) }
    }

    #[test]
    fn segments_keep_priority_order_with_their_cells_together() {
        // A split's export lists its segment once per cell.
        let e =
            stored(&["b", "a", "b"], vec![list("b", "n", vec![1, 3]), list("a", "", vec![2]), list("b", "s", vec![4])]);
        assert_eq!(e.segment_names(), ["b", "a"]);
        assert_eq!(
            e.segment_keys(),
            [("b".to_string(), Keys::Int(vec![1, 3, 4])), ("a".to_string(), Keys::Int(vec![2]))]
        );
        // A segment the manifest lists without a members list has no keys to compare.
        let e = stored(&["a", "z"], vec![list("a", "", vec![2])]);
        assert_eq!(e.segment_names(), ["a", "z"]);
        assert_eq!(e.segment_keys(), [("a".to_string(), Keys::Int(vec![2]))]);
    }
}
