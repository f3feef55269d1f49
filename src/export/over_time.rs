//! What every export remembers: the keys it wrote per segment (and arm), in a compact file beside
//! the manifest (`holi.csv` → `holi.members`), whose SHA-256 the manifest records; and a log of
//! exports, so `seglens changes NAME` finds the latest export of a segment without being told.
//!
//! The members file (format `seglens-members-1`), all integers little-endian:
//!
//! ```text
//! "SEGLENS MEMBERS 1\n"               magic, 18 bytes
//! u8    key kind: b'i' (64-bit signed integers) or b's' (UTF-8 text)
//! u32   number of lists
//! per list:
//!   u16 + bytes   segment name (UTF-8)
//!   u16 + bytes   label: the arm or cell, empty when none
//!   u64           number of keys
//!   keys, strictly ascending (integers by value, text by bytes):
//!     integers: LEB128 varint of the zigzag-encoded difference from the previous key (0 before the first)
//!     text:     varint bytes shared with the previous key, varint length of the rest, the rest
//! ```
//!
//! It is written to a temporary name and renamed into place with the CSV, before the manifest: a
//! manifest (the commit point) names a members file that exists and matches its hash.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ExportError;
use crate::engine::movement::Keys;

pub const FORMAT: &str = "seglens-members-1";
const MAGIC: &[u8; 18] = b"SEGLENS MEMBERS 1\n";

/// The members file beside an export's CSV.
pub fn members_path(csv: &Path) -> PathBuf {
    csv.with_extension("members")
}

/// One list of a members file: a segment's keys (or one arm's or cell's of it).
#[derive(Debug, Clone, PartialEq)]
pub struct MemberList {
    pub segment: String,
    pub label: String,
    pub keys: Keys,
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn short_str(out: &mut Vec<u8>, s: &str) -> Result<(), String> {
    let len = u16::try_from(s.len()).map_err(|_| format!("name too long for a members file: {s:.40}…"))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Encodes lists of one key kind (every list's keys sorted and unique).
pub fn encode(lists: &[MemberList]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(64 + lists.iter().map(|l| l.keys.len() * 3).sum::<usize>());
    out.extend_from_slice(MAGIC);
    let kind = match lists.first().map(|l| &l.keys) {
        Some(Keys::Text(_)) => b's',
        _ => b'i',
    };
    out.push(kind);
    out.extend_from_slice(&(lists.len() as u32).to_le_bytes());
    for l in lists {
        short_str(&mut out, &l.segment)?;
        short_str(&mut out, &l.label)?;
        out.extend_from_slice(&(l.keys.len() as u64).to_le_bytes());
        match (&l.keys, kind) {
            (Keys::Int(v), b'i') => {
                let mut prev = 0i64;
                for &k in v {
                    let d = k.wrapping_sub(prev);
                    varint(&mut out, ((d << 1) ^ (d >> 63)) as u64);
                    prev = k;
                }
            }
            (Keys::Text(v), b's') => {
                let mut prev: &[u8] = &[];
                for k in v {
                    let k = k.as_bytes();
                    let shared = prev.iter().zip(k).take_while(|(a, b)| a == b).count();
                    varint(&mut out, shared as u64);
                    varint(&mut out, (k.len() - shared) as u64);
                    out.extend_from_slice(&k[shared..]);
                    prev = k;
                }
            }
            _ => return Err("a members file holds keys of one kind".into()),
        }
    }
    Ok(out)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or("truncated")?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a number runs past 64 bits".into())
    }
    fn short_str(&mut self) -> Result<String, String> {
        let n = u16::from_le_bytes(self.take(2)?.try_into().map_err(|_| "truncated")?);
        String::from_utf8(self.take(n.into())?.to_vec()).map_err(|_| "a name is not UTF-8".into())
    }
}

/// Decodes a members file (checked: magic, kind, ascending keys, nothing left over).
pub fn decode(bytes: &[u8]) -> Result<Vec<MemberList>, String> {
    let mut r = Reader { b: bytes, at: 0 };
    if r.take(MAGIC.len()).ok() != Some(&MAGIC[..]) {
        return Err("not a seglens members file".into());
    }
    let kind = r.take(1)?[0];
    let n = u32::from_le_bytes(r.take(4)?.try_into().map_err(|_| "truncated")?);
    let mut lists = Vec::new();
    for _ in 0..n {
        let segment = r.short_str()?;
        let label = r.short_str()?;
        let count = u64::from_le_bytes(r.take(8)?.try_into().map_err(|_| "truncated")?);
        // Never trust a count for an allocation: each key takes at least one byte.
        let cap = (count as usize).min(bytes.len() - r.at);
        let keys = match kind {
            b'i' => {
                let mut v = Vec::with_capacity(cap);
                let mut prev = 0i64;
                for _ in 0..count {
                    let z = r.varint()?;
                    let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
                    let k = prev.wrapping_add(d);
                    if !v.is_empty() && k <= prev {
                        return Err("keys out of order".into());
                    }
                    v.push(k);
                    prev = k;
                }
                Keys::Int(v)
            }
            b's' => {
                let mut v: Vec<String> = Vec::with_capacity(cap);
                for _ in 0..count {
                    let shared = r.varint()? as usize;
                    let rest = r.varint()? as usize;
                    let prev = v.last().map_or(&b""[..], |s| s.as_bytes());
                    if shared > prev.len() {
                        return Err("a key shares more than the previous key has".into());
                    }
                    let mut k = prev[..shared].to_vec();
                    k.extend_from_slice(r.take(rest)?);
                    let k = String::from_utf8(k).map_err(|_| "a key is not UTF-8")?;
                    if v.last().is_some_and(|p| p.as_bytes() >= k.as_bytes()) {
                        return Err("keys out of order".into());
                    }
                    v.push(k);
                }
                Keys::Text(v)
            }
            _ => return Err("unknown key kind".into()),
        };
        lists.push(MemberList { segment, label, keys });
    }
    if r.at != bytes.len() {
        return Err("bytes after the last list".into());
    }
    Ok(lists)
}

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
        crate::engine::source::regular_file(manifest)?;
        let text = std::fs::read_to_string(manifest).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let info: ManifestInfo =
            serde_json::from_str(&text).map_err(|e| bad(format!("not a seglens export manifest: {e}")))?;
        let members = info.members.clone().ok_or_else(|| {
            bad("this export has no members file (written by a seglens before export history)".into())
        })?;
        let dir = manifest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let path = dir.join(&members.file);
        crate::engine::source::regular_file(&path)?;
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

    #[test]
    fn lists_round_trip_through_the_format() {
        let ints = vec![
            MemberList { segment: "a".into(), label: String::new(), keys: Keys::Int(vec![-5, 0, 1, 300, i64::MAX]) },
            MemberList { segment: "b".into(), label: "control".into(), keys: Keys::Int(vec![i64::MIN, 7]) },
            MemberList { segment: "c".into(), label: String::new(), keys: Keys::Int(vec![]) },
        ];
        assert_eq!(decode(&encode(&ints).unwrap()).unwrap(), ints);
        let text = vec![MemberList {
            segment: "s".into(),
            label: String::new(),
            keys: Keys::Text(vec!["".into(), "S000001".into(), "S000002".into(), "S00010".into(), "é".into()]),
        }];
        let bytes = encode(&text).unwrap();
        assert_eq!(decode(&bytes).unwrap(), text);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
    }
}
