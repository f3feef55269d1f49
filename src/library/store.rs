//! The library directory: list, load and save-next-version. A saved version is never rewritten:
//! each save writes a temporary file and links it to the next free `vNNNN.toml` with create-new
//! semantics, so two processes saving at once both succeed as consecutive versions.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::LibraryError;
use super::template::{Status, Template, is_slug};
use crate::engine::FeatureSet;

pub const FEATURES_FILE: &str = "features.toml";

pub struct Library {
    dir: PathBuf,
}

/// The latest version of every segment that loads, and every file that does not.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub templates: Vec<Template>,
    pub errors: Vec<LibraryError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    Saved {
        version: u32,
        path: PathBuf,
    },
    /// The definition equals the latest version; nothing was written.
    Unchanged {
        version: u32,
    },
}

impl SaveOutcome {
    pub fn version(&self) -> u32 {
        match self {
            SaveOutcome::Saved { version, .. } | SaveOutcome::Unchanged { version } => *version,
        }
    }
}

fn version_file(v: u32) -> String {
    format!("v{v:04}.toml")
}

fn parse_version_file(name: &str) -> Option<u32> {
    name.strip_prefix('v')?.strip_suffix(".toml")?.parse().ok()
}

impl Library {
    pub fn open(dir: impl Into<PathBuf>) -> Library {
        Library { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Segment names (folders holding at least one version file), sorted.
    pub fn names(&self) -> Result<Vec<String>, LibraryError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(LibraryError::io(&self.dir)(e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| is_slug(n))
            .collect();
        names.retain(|n| {
            self.versions(n).is_ok_and(|v| !v.is_empty()) || self.stray_version_files(n).is_ok_and(|s| !s.is_empty())
        });
        names.sort();
        Ok(names)
    }

    /// The version numbers saved for `name`, ascending.
    pub fn versions(&self, name: &str) -> Result<Vec<u32>, LibraryError> {
        let dir = self.dir.join(name);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(LibraryError::io(&dir)(e)),
        };
        // Only the names seglens writes: `v1.toml` and `v01.toml` also parse as version 1, but
        // reading them as such would list one version several times (and never read the others).
        let mut v: Vec<u32> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name();
                let name = name.to_str()?;
                parse_version_file(name).filter(|&v| version_file(v) == name)
            })
            .collect();
        v.sort_unstable();
        Ok(v)
    }

    /// Files in `name`'s folder that look like version files but are not named as seglens names
    /// them (`v1.toml`, `v01.toml` beside `v0001.toml`): never read, each reported once as an error.
    pub fn stray_version_files(&self, name: &str) -> Result<Vec<LibraryError>, LibraryError> {
        let dir = self.dir.join(name);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(LibraryError::io(&dir)(e)),
        };
        let mut stray: Vec<(String, u32)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let file = e.file_name().to_str()?.to_string();
                let v = parse_version_file(&file)?;
                (version_file(v) != file).then_some((file, v))
            })
            .collect();
        stray.sort();
        Ok(stray
            .into_iter()
            .map(|(file, v)| {
                let canonical = version_file(v);
                let what = if dir.join(&canonical).exists() {
                    format!("a duplicate of version {v}, which seglens reads from {canonical}")
                } else {
                    format!("version {v} is read from {canonical} only")
                };
                LibraryError::Invalid {
                    path: dir.join(file),
                    line: None,
                    message: format!("not a version file name seglens reads ({what}): remove or rename it"),
                }
            })
            .collect())
    }

    pub fn path_of(&self, name: &str, version: u32) -> PathBuf {
        self.dir.join(name).join(version_file(version))
    }

    /// Reads and validates one version file.
    pub fn read(&self, name: &str, version: u32) -> Result<Template, LibraryError> {
        read_file(&self.path_of(name, version), Some((name, version)))
    }

    /// `name` at `version`, or its latest version.
    pub fn load(&self, name: &str, version: Option<u32>) -> Result<Template, LibraryError> {
        if !is_slug(name) {
            return Err(LibraryError::BadName(name.to_string()));
        }
        let versions = self.versions(name)?;
        let latest = *versions.last().ok_or_else(|| LibraryError::NotFound(name.to_string()))?;
        match version {
            None => self.read(name, latest),
            Some(v) if versions.contains(&v) => self.read(name, v),
            Some(v) => Err(LibraryError::NoVersion { name: name.to_string(), version: v, latest }),
        }
    }

    /// The newest approved version, unless the segment has since been retired.
    pub fn latest_approved(&self, name: &str) -> Result<Option<Template>, LibraryError> {
        let history = self.history(name)?.0;
        if history.last().is_some_and(|t| t.status == Status::Retired) {
            return Ok(None);
        }
        Ok(history.into_iter().rev().find(|t| t.status == Status::Approved))
    }

    /// Every version of `name` that loads (oldest first), and the files that do not.
    pub fn history(&self, name: &str) -> Result<(Vec<Template>, Vec<LibraryError>), LibraryError> {
        let versions = self.versions(name)?;
        let mut errors = self.stray_version_files(name)?;
        if versions.is_empty() && errors.is_empty() {
            return Err(LibraryError::NotFound(name.to_string()));
        }
        let mut ok = Vec::new();
        for v in versions {
            match self.read(name, v) {
                Ok(t) => ok.push(t),
                Err(e) => errors.push(e),
            }
        }
        Ok((ok, errors))
    }

    /// The latest version of every segment; a broken file is reported and, where an older version
    /// loads, that one stands in so the segment is not lost from view.
    pub fn load_all(&self) -> LoadReport {
        let mut report = LoadReport::default();
        let names = match self.names() {
            Ok(n) => n,
            Err(e) => {
                report.errors.push(e);
                return report;
            }
        };
        for name in names {
            match self.history(&name) {
                Ok((mut ok, errors)) => {
                    report.errors.extend(errors);
                    if let Some(t) = ok.pop() {
                        report.templates.push(t);
                    }
                }
                Err(e) => report.errors.push(e),
            }
        }
        report
    }

    /// The team's features (`features.toml` in the library); a missing file is an empty set.
    /// Broken features are listed in the set's `broken`; a file that does not parse is an error
    /// (with its line) and an empty set.
    pub fn features(&self) -> (FeatureSet, Option<LibraryError>) {
        let path = self.dir.join(FEATURES_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => match FeatureSet::from_toml(&text) {
                Ok(set) => (set, None),
                Err(e) => (FeatureSet::default(), Some(LibraryError::from_toml(path, &text, &e))),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (FeatureSet::default(), None),
            Err(e) => (FeatureSet::default(), Some(LibraryError::io(path)(e))),
        }
    }

    /// Saves `t` as the next version of `t.name` (version, parent and created_at are set here).
    /// A definition identical to the latest version writes nothing.
    pub fn save(&self, mut t: Template) -> Result<SaveOutcome, LibraryError> {
        if !is_slug(&t.name) {
            return Err(LibraryError::BadName(t.name));
        }
        let dir = self.dir.join(&t.name);
        std::fs::create_dir_all(&dir).map_err(LibraryError::io(&dir))?;
        remove_stale_temps(&dir);
        if t.created_at.is_empty() {
            t.created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        }
        // An approved version carries the hash of what was approved; any other status none. The
        // callers write Approved only when approving (or keeping an approval whose hash matched).
        t.approval_sha256 = (t.status == Status::Approved).then(|| t.content_hash());
        self.check_cell(&t)?;
        // Another process may take a number between our look and our link: then take the next.
        for _ in 0..1000 {
            let versions = self.versions(&t.name)?;
            let latest = versions.last().copied();
            if let Some(v) = latest
                && let Ok(prev) = self.read(&t.name, v)
                && prev.same_definition(&t)
                && prev.approval_sha256 == t.approval_sha256
            {
                return Ok(SaveOutcome::Unchanged { version: v });
            }
            // A hand-made `v4294967295.toml` leaves no number after it: an error, not an overflow.
            let Some(next) = latest.unwrap_or(0).checked_add(1) else {
                return Err(LibraryError::Invalid {
                    path: dir.join(version_file(u32::MAX)),
                    line: None,
                    message: format!(
                        "version {} is the largest version number there is, so no later version can be saved: \
                         save under a new name (or rename the file if seglens did not write it)",
                        u32::MAX
                    ),
                });
            };
            t.version = next;
            if t.parent_version.is_none_or(|p| p >= next) {
                t.parent_version = latest;
            }
            let path = dir.join(version_file(next));
            match write_new(&dir, &path, t.to_toml().as_bytes()) {
                Ok(()) => {
                    return Ok(SaveOutcome::Saved { version: next, path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(LibraryError::io(path)(e)),
            }
        }
        Err(LibraryError::Io { path: dir, source: std::io::Error::other("could not find a free version number") })
    }

    /// Ok unless `t` is a split cell whose name the latest version of another cell or segment
    /// holds: saving it would make it a newer version of that one (`Template::takes_cell`).
    pub fn check_cell(&self, t: &Template) -> Result<(), LibraryError> {
        if t.split_of.is_none() {
            return Ok(());
        }
        match self.versions(&t.name)?.last() {
            Some(&v) => self.read(&t.name, v)?.takes_cell(t).map_err(LibraryError::CellTaken),
            None => Ok(()),
        }
    }

    /// Writes a new version of `name` (from `version`, or the latest) with the status changed.
    pub fn set_status(
        &self,
        name: &str,
        version: Option<u32>,
        status: Status,
        note: Option<String>,
        author: &str,
    ) -> Result<SaveOutcome, LibraryError> {
        let mut t = self.load(name, version)?;
        if t.status == status && version.is_none() {
            return Ok(SaveOutcome::Unchanged { version: t.version });
        }
        t.parent_version = Some(t.version);
        t.status = status;
        t.note = Some(note.unwrap_or_else(|| format!("{} v{}", status.name(), t.version)));
        t.author = author.to_string();
        t.created_at.clear();
        self.save(t)
    }
}

/// Writes `bytes` to a temporary file in `dir`, syncs it, then links it to `path` only if `path`
/// does not exist yet (AlreadyExists otherwise). Readers never see a partial version file.
/// Temporary files a killed save left behind (an hour old or more: no save takes that long).
fn remove_stale_temps(dir: &Path) {
    remove_abandoned(dir, |name| name.starts_with(".tmp-"));
}

/// Removes the files in `dir` whose name passes `is_temp` and that nothing has written to for an
/// hour: temporary files of a process that was killed (a live writer keeps its file's mtime fresh).
pub(crate) fn remove_abandoned(dir: &Path, is_temp: impl Fn(&str) -> bool) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        // Regular files only (the entry's own metadata: a symlink is not followed).
        let stale = e
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 3600);
        if stale && is_temp(&e.file_name().to_string_lossy()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn write_new(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // Readable by the team like any file in the library (tempfile's default is owner-only).
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .suffix(".toml")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(path).map_err(|e| e.error)?;
    Ok(())
}

fn read_file(path: &Path, expect: Option<(&str, u32)>) -> Result<Template, LibraryError> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => {
            LibraryError::Invalid { path: path.to_path_buf(), line: None, message: "not UTF-8 text".into() }
        }
        _ => LibraryError::io(path)(e),
    })?;
    let t: Template = toml::from_str(&text).map_err(|e| LibraryError::from_toml(path.to_path_buf(), &text, &e))?;
    let invalid = |message: String, key: &str| {
        let line = text.lines().position(|l| l.trim_start().starts_with(key)).map(|i| i + 1);
        LibraryError::Invalid { path: path.to_path_buf(), line, message }
    };
    if let Some((name, version)) = expect {
        if t.name != name {
            return Err(invalid(format!("name {:?} does not match its folder {name:?}", t.name), "name"));
        }
        if t.version != version {
            return Err(invalid(
                format!("version {} does not match its file name (v{version:04})", t.version),
                "version",
            ));
        }
    }
    for p in crate::engine::text::filter::placeholders(&t.filter) {
        if !t.params.contains_key(&p) {
            return Err(invalid(format!("the filter uses {{{{{p}}}}} but [params.{p}] is not declared"), "filter"));
        }
    }
    Ok(t)
}
