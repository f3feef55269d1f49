//! What an export may write, and how a cell is written: the targets it must never replace (the
//! user's database and its WAL, the source file, the template library, other exports), and the
//! `--excel-safe` escaping of cells a spreadsheet would run as formulas.

use std::path::{Path, PathBuf};

use super::{ExportError, manifest_path};

/// `path` with symbolic links and `..` resolved; for a path that does not exist yet, its parent
/// resolved and the file name appended (so `out/../crm.duckdb` is recognised as `crm.duckdb`).
fn canonical(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(parent), path.file_name()) {
        (Ok(p), Some(name)) => p.join(name),
        _ => path.to_path_buf(),
    }
}

/// Same file by device and inode (a hard link): `stat` only, never opened, so DuckDB's lock on
/// the database is not disturbed (STYLE.md, POSIX lock pitfall).
fn same_inode(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// The `file` a seglens manifest describes, if `path` is one (a small JSON file with our fields).
fn manifest_file_of(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 16 << 20 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    if v.get("seglens_version").is_none() || v.get("sha256").is_none() {
        return None;
    }
    v.get("file")?.as_str().map(str::to_string)
}

/// Refuses, before anything is written, a target that is the open database, its WAL, the source
/// file, a file inside a folder read as the data (`source::data_folders`) or inside the template
/// library, another export's manifest, or a file another export's manifest lists. Paths are
/// compared resolved, so a symlink or `..` does not get around it.
pub(super) fn check_targets<'a>(
    db: &Path,
    sources: &[PathBuf],
    protected: &[PathBuf],
    csvs: impl Iterator<Item = &'a Path>,
) -> Result<(), ExportError> {
    let mut wal = db.as_os_str().to_os_string();
    wal.push(".wal");
    let wal = PathBuf::from(wal);
    let mut files: Vec<(&Path, &str)> =
        vec![(db, "the database (or source file) seglens reads"), (&wal, "the database's write-ahead log")];
    // Each file of a Parquet dataset (a folder or a glob).
    files.extend(sources.iter().map(|p| (p.as_path(), "a file of the data seglens reads")));
    let files: Vec<(PathBuf, &Path, &str)> = files.iter().map(|(p, why)| (canonical(p), *p, *why)).collect();
    let data = crate::engine::conn::source::data_folders(db);
    let dirs: Vec<(PathBuf, String)> = protected
        .iter()
        .map(|d| (canonical(d), format!("this is inside the template library {}", d.display())))
        .chain(data.iter().map(|d| {
            let why = format!(
                "this is inside {}, a folder seglens reads as the data (the next session would read the file as part of it)",
                d.display()
            );
            (canonical(d), why)
        }))
        .collect();
    let refuse = |path: &Path, why: String| Err(ExportError::Protected { path: path.to_path_buf(), why });
    for csv in csvs {
        let manifest = manifest_path(csv);
        let members = super::members_file::members_path(csv);
        // `x.members` as the CSV would be its own members file (and `x.manifest.json` another
        // export's manifest, refused below).
        if members == csv {
            return refuse(csv, "a .members file is where an export keeps its members: name the CSV .csv".into());
        }
        for target in [csv, manifest.as_path(), members.as_path()] {
            let canon = canonical(target);
            for (c, original, why) in &files {
                if canon == *c || same_inode(target, original) {
                    return refuse(target, format!("this is {why}"));
                }
            }
            for (c, why) in &dirs {
                if canon.starts_with(c) {
                    return refuse(target, why.clone());
                }
            }
        }
        let csv_name = csv.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if manifest_file_of(csv).is_some() {
            return refuse(csv, "this is another export's manifest".into());
        }
        if let Some(f) = manifest_file_of(&manifest)
            && f != csv_name
        {
            return refuse(&manifest, format!("this is the manifest of another export (of {f})"));
        }
        if csv.exists()
            && let Some(other) = listed_elsewhere(csv, &csv_name, &manifest)
        {
            return refuse(csv, format!("this file belongs to another export (its manifest is {})", other.display()));
        }
    }
    Ok(())
}

/// A manifest beside `csv`, other than `own`, that lists `csv` as its file.
fn listed_elsewhere(csv: &Path, csv_name: &str, own: &Path) -> Option<PathBuf> {
    let dir = match csv.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::read_dir(dir).ok()?.filter_map(|e| e.ok()).map(|e| e.path()).find(|p| {
        p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".manifest.json"))
            && p.file_name() != own.file_name()
            && manifest_file_of(p).as_deref() == Some(csv_name)
    })
}

/// The cell as written: with `excel_safe`, one that a spreadsheet would read as a formula gets a
/// leading `'` (OWASP's CSV-injection advice).
/// Writes one CSV record (RFC 4180, `\n`-terminated) where NULL and the empty string differ: NULL
/// is an empty field and `''` is `""`, as DuckDB's `COPY TO` writes them. (The csv crate writes
/// both as an empty field, and a field cannot ask it to be quoted.) A field is quoted when empty
/// or holding a delimiter, a quote or a line break; a quote inside is doubled.
pub(super) fn record<T: AsRef<[u8]>>(
    out: &mut impl std::io::Write,
    fields: impl Iterator<Item = Option<T>>,
) -> std::io::Result<()> {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        let Some(v) = field else { continue };
        let v = v.as_ref();
        if v.is_empty() || v.iter().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
            out.write_all(b"\"")?;
            for (j, part) in v.split(|b| *b == b'"').enumerate() {
                if j > 0 {
                    out.write_all(b"\"\"")?;
                }
                out.write_all(part)?;
            }
            out.write_all(b"\"")?;
        } else {
            out.write_all(v)?;
        }
    }
    out.write_all(b"\n")
}

pub(super) fn cell(value: &str, excel_safe: bool) -> std::borrow::Cow<'_, [u8]> {
    if excel_safe && value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{value}").into_bytes())
    } else {
        std::borrow::Cow::Borrowed(value.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::{cell, record};

    #[test]
    fn a_record_tells_null_from_the_empty_string_and_quotes_as_rfc_4180() {
        let mut out = Vec::new();
        let fields: [Option<&[u8]>; 7] =
            [Some(b"plain"), None, Some(b""), Some(b"a,b"), Some(b"say \"hi\""), Some(b"two\nlines"), Some(b"\"")];
        record(&mut out, fields.into_iter()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "plain,,\"\",\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"\"\"\"\n");
        let mut out = Vec::new();
        record(&mut out, [None::<&[u8]>].into_iter()).unwrap();
        assert_eq!(out, b"\n");
    }

    #[test]
    fn excel_safe_prefixes_every_formula_start_and_nothing_else() {
        for v in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(cell(v, true).as_ref(), format!("'{v}").as_bytes(), "{v:?}");
            assert_eq!(cell(v, false).as_ref(), v.as_bytes(), "{v:?}");
        }
        for v in ["plain", "a=b", "", " =1", "'quoted"] {
            assert_eq!(cell(v, true).as_ref(), v.as_bytes(), "{v:?}");
        }
    }
}
