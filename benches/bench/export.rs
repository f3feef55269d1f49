//! Measurement 4: the export against DuckDB's COPY TO, and the two files compared cell by cell
//! (issue 29): an export only beats COPY if it writes what COPY writes. Both files are parsed as
//! CSV (RFC 4180) and compared value by value, column by column, quoting and line ends noted; a
//! value that differs fails the benchmark, as a wrong count does.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use duckdb::Connection;

use super::measure::Db;
use super::report::{Target, Unit};
use super::{PLAIN, clock, open_raw};
use seglens::engine::literal;
use seglens::engine::text::filter;
use seglens::engine::{Compiled, Engine, FeatureSet, OpenOptions, ident};
use seglens::export::{ExportRequest, ExportSegment};
use seglens::format::count as thousands;

impl Db {
    /// Measurement 4: export of a segment to CSV against DuckDB's COPY TO, with a breakdown of where the
    /// time goes (streaming the rows, formatting CSV, the export's own checks), then the files compared.
    pub(super) fn export(&mut self) -> Result<()> {
        let f = self.compile(PLAIN)?;
        let dir = tempfile::tempdir().context("creating a temporary directory for the export")?;
        let ours_path = dir.path().join("segment.csv");
        let copy_path = dir.path().join("copy.csv");
        let plain_path = dir.path().join("plain.csv");
        let copy_sql = copy_members(&self.engine, &f, &copy_path)?;
        let req = export_request("engaged-push", &f, ours_path.clone());
        let (engine, raw) = (&self.engine, &self.raw);
        let (mut ours, mut theirs, mut streamed) = (0, 0, 0);
        let m = self.t.sides(&mut [
            &mut |_| {
                clock(|| {
                    ours = seglens::export::export(engine, &req, &mut |_| true)?.iter().map(|x| x.rows).sum();
                    Ok(())
                })
            },
            &mut |_| {
                clock(|| {
                    theirs = raw.execute(&copy_sql, [])? as u64;
                    Ok(())
                })
            },
            &mut |_| {
                clock(|| {
                    streamed = engine.for_each_member(&f, &[], |_| Ok(()))?.1;
                    Ok(())
                })
            },
            &mut |_| {
                clock(|| {
                    let file = std::fs::File::create(&plain_path)?;
                    let mut w = csv::WriterBuilder::new().buffer_capacity(1 << 20).from_writer(file);
                    engine.for_each_member(&f, &[], |fields| {
                        w.write_record(fields.iter().map(|x| x.unwrap_or(""))).map_err(std::io::Error::from)
                    })?;
                    w.flush()?;
                    Ok(())
                })
            },
        ])?;
        if ours != theirs || streamed != theirs {
            bail!("export: seglens wrote {ours} rows (streamed {streamed}), DuckDB's COPY {theirs}");
        }
        let sample = compare_csv(&ours_path, &copy_path).context("comparing the export with COPY's file")?;
        let awkward = awkward_values().context("comparing the export with COPY on awkward values")?;
        let what =
            format!("export {} rows × {} columns to CSV vs COPY TO", thousands(ours), self.engine.columns().len());
        self.push("4", what, Unit::Ms, m[0], Some(m[1]), Target::Ratio(1.5, 0.0));
        self.push(
            "4a",
            "↳ of which: stream the members (no-op callback)".into(),
            Unit::Ms,
            m[2],
            Some(m[1]),
            Target::None,
        );
        self.push(
            "4b",
            "↳ of which: stream + csv writer (no hash, no fsync, no count check)".into(),
            Unit::Ms,
            m[3],
            Some(m[1]),
            Target::None,
        );
        let what = format!("↳ the two files of row 4 parsed as CSV and compared cell by cell: {sample}");
        self.push("4c", what, Unit::Ms, f64::NAN, None, Target::None);
        let what = format!("↳ the same comparison on a table of awkward values ({AWKWARD_KINDS}): {awkward}");
        self.push("4d", what, Unit::Ms, f64::NAN, None, Target::None);
        Ok(())
    }
}

/// An export of the segment `name` (`f`) alone to the CSV file `out`, every column, as the CLI
/// exports it by default.
pub(super) fn export_request(name: &str, f: &Compiled, out: PathBuf) -> ExportRequest {
    ExportRequest {
        segments: vec![ExportSegment {
            name: name.into(),
            version: 1,
            filter: f.clone(),
            params: BTreeMap::new(),
            arms: None,
            cell: None,
        }],
        suppressions: Vec::new(),
        exclusive: false,
        columns: Vec::new(),
        out,
        force: true,
        excel_safe: false,
        protected: Vec::new(),
    }
}

/// DuckDB's COPY of the query the export streams (`members_sql`) to `to`, with a header. The
/// columns are renamed to the table's own names: the query's are the casts' text
/// (`CAST(email AS VARCHAR)`), which COPY would write as the header. Renaming costs nothing (a
/// projection of the same vectors).
pub(super) fn copy_members(engine: &Engine, f: &Compiled, to: &Path) -> Result<String> {
    let names: Vec<String> = engine.columns().iter().map(|c| ident(&c.name)).collect();
    Ok(format!(
        "COPY (SELECT * FROM ({}) AS members({})) TO {} (HEADER)",
        engine.members_sql(f, &[])?,
        names.join(", "),
        literal(&to.to_string_lossy())
    ))
}

// ---------------------------------------------------------------------------------------------
// The files compared
// ---------------------------------------------------------------------------------------------

/// One field of a CSV record as written: its value, and whether it was in quotes.
struct Field {
    value: Vec<u8>,
    quoted: bool,
}

/// `line`'s fields (its line end left out), or None while a quoted field is still open (the
/// record goes on past a line break). RFC 4180: a field in double quotes may hold commas, line
/// breaks and doubled quotes.
fn split(line: &[u8]) -> Option<Vec<Field>> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let new = || Field { value: Vec::new(), quoted: false };
    let (mut fields, mut f, mut in_quotes) = (Vec::new(), new(), false);
    let mut bytes = body.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        match b {
            b'"' if in_quotes && bytes.peek() == Some(&b'"') => {
                f.value.push(b'"');
                bytes.next();
            }
            b'"' if in_quotes => in_quotes = false,
            b'"' if f.value.is_empty() && !f.quoted => (in_quotes, f.quoted) = (true, true),
            b',' if !in_quotes => fields.push(std::mem::replace(&mut f, new())),
            _ => f.value.push(b),
        }
    }
    if in_quotes {
        return None;
    }
    fields.push(f);
    Some(fields)
}

/// The records of a CSV file one by one, counting how its lines end.
struct Records<R> {
    r: R,
    raw: Vec<u8>,
    crlf: u64,
    lf: u64,
}

impl<R: BufRead> Records<R> {
    fn new(r: R) -> Records<R> {
        Records { r, raw: Vec::new(), crlf: 0, lf: 0 }
    }

    fn next(&mut self) -> Result<Option<Vec<Field>>> {
        self.raw.clear();
        loop {
            if self.r.read_until(b'\n', &mut self.raw)? == 0 {
                if self.raw.is_empty() {
                    return Ok(None);
                }
                bail!("the file ends inside a quoted field");
            }
            if let Some(fields) = split(&self.raw) {
                if self.raw.ends_with(b"\r\n") {
                    self.crlf += 1;
                } else if self.raw.ends_with(b"\n") {
                    self.lf += 1;
                }
                return Ok(Some(fields));
            }
        }
    }

    fn line_ends(&self) -> &'static str {
        match (self.crlf, self.lf) {
            (0, 0) => "none",
            (_, 0) => "CRLF",
            (0, _) => "LF",
            _ => "mixed CRLF and LF",
        }
    }
}

/// How seglens' CSV differs from DuckDB's COPY of the same rows.
#[derive(Default)]
pub(super) struct CsvDiff {
    rows: u64,
    columns: usize,
    /// Per column: '' cells that COPY writes as `""` and seglens as an empty field, which is how
    /// both write NULL (in seglens' file '' and NULL cannot be told apart).
    empty_as_null: BTreeMap<String, u64>,
    /// Per column: empty cells in quotes in seglens' file only.
    empty_quoted: BTreeMap<String, u64>,
    /// Per column: the same value, in quotes in one file only.
    quoting: BTreeMap<String, u64>,
    line_ends: (&'static str, &'static str),
}

impl std::fmt::Display for CsvDiff {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |m: &BTreeMap<String, u64>| {
            let n: u64 = m.values().sum();
            let cols = m.iter().map(|(c, k)| format!("{c} {k}")).collect::<Vec<_>>().join(", ");
            (n, cols)
        };
        write!(out, "the same values in all {} rows × {} columns", thousands(self.rows), self.columns)?;
        let cells = |n: u64| if n == 1 { "1 cell".to_string() } else { format!("{} cells", thousands(n)) };
        if !self.empty_as_null.is_empty() {
            let (n, cols) = list(&self.empty_as_null);
            write!(
                out,
                "; but '' and NULL differ: {} holding '' that COPY writes as `\"\"` and seglens as an empty field, \
as both write NULL, so seglens' file cannot tell '' from NULL ({cols})",
                cells(n)
            )?;
        }
        if !self.empty_quoted.is_empty() {
            let (n, cols) = list(&self.empty_quoted);
            write!(out, "; {} empty in both and quoted by seglens only ({cols})", cells(n))?;
        }
        match list(&self.quoting) {
            (0, _) => write!(out, "; quoted alike")?,
            (n, cols) => write!(out, "; the same value quoted in one file only: {} ({cols})", cells(n))?,
        }
        let (ours, theirs) = self.line_ends;
        if ours == theirs {
            write!(out, "; lines end in {ours} in both")
        } else {
            write!(out, "; lines end in {ours} (seglens) and {theirs} (COPY)")
        }
    }
}

/// Compares seglens' export `ours` (a `segment` column first) with DuckDB's COPY file `theirs`
/// of the same rows, cell by cell. A header, a row count or a value that differs is an error;
/// what is left ('' against NULL, quoting, line ends) is described.
pub(super) fn compare_csv(ours: &Path, theirs: &Path) -> Result<CsvDiff> {
    let open = |p: &Path| -> Result<Records<std::io::BufReader<std::fs::File>>> {
        let f = std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
        Ok(Records::new(std::io::BufReader::with_capacity(1 << 20, f)))
    };
    let (mut a, mut b) = (open(ours)?, open(theirs)?);
    let text = |f: &Field| String::from_utf8_lossy(&f.value).into_owned();
    let (Some(ha), Some(hb)) = (a.next()?, b.next()?) else { bail!("a file has no header") };
    let names: Vec<String> = hb.iter().map(text).collect();
    let lead = ["segment"];
    let ours_names: Vec<String> = ha.iter().map(text).collect();
    if ours_names.len() != lead.len() + names.len()
        || ours_names[..lead.len()] != lead
        || ours_names[lead.len()..] != names[..]
    {
        bail!("the headers differ: seglens {ours_names:?}, COPY {names:?}");
    }
    let mut d = CsvDiff { columns: names.len(), ..CsvDiff::default() };
    loop {
        let (ra, rb) = match (a.next()?, b.next()?) {
            (None, None) => break,
            (Some(ra), Some(rb)) => (ra, rb),
            _ => bail!("the files hold different numbers of rows (the same up to row {})", d.rows),
        };
        d.rows += 1;
        if ra.len() != lead.len() + rb.len() {
            bail!("row {}: seglens wrote {} fields, COPY {}", d.rows, ra.len(), rb.len());
        }
        for ((x, y), name) in ra[lead.len()..].iter().zip(&rb).zip(&names) {
            if x.value != y.value {
                bail!("row {}, column {name}: seglens wrote {:?}, COPY {:?}", d.rows, text(x), text(y));
            }
            if x.quoted != y.quoted {
                let which = match (x.value.is_empty(), y.quoted) {
                    (true, true) => &mut d.empty_as_null,
                    (true, false) => &mut d.empty_quoted,
                    (false, _) => &mut d.quoting,
                };
                *which.entry(name.clone()).or_default() += 1;
            }
        }
    }
    d.line_ends = (a.line_ends(), b.line_ends());
    Ok(d)
}

/// What the awkward table holds, for the row's text.
const AWKWARD_KINDS: &str = "commas, quotes, line breaks, a carriage return, a tab, padding, '' and NULL, \
a formula, `#`, non-ASCII, NaN, ±inf, -0.0, 1e300, DECIMAL, dates, timestamps, an interval, lists, \
a BLOB, a column name with a comma";

/// The export and COPY of every row of a small table of awkward values (a DuckDB file of its own),
/// compared as `compare_csv` does.
fn awkward_values() -> Result<CsvDiff> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("awkward.duckdb");
    let conn = Connection::open(&db)?;
    conn.execute_batch(
        "CREATE TABLE awkward AS SELECT * FROM (VALUES
           (1, 'a,b', 'x\"y', 'line1' || chr(10) || 'line2', ' pad ', '', NULL, '=1+1', 'ü€', 'cr' || chr(13) || 'x',
            [1, 2], 0.1::DOUBLE, '-0.0'::DOUBLE, 'nan'::DOUBLE, 'inf'::DOUBLE, 1e300::DOUBLE, -12.345::DECIMAL(18, 3),
            DATE '2024-02-29', TIMESTAMP '2024-01-01 10:20:30.123456', true, INTERVAL 3 DAY, '\\x00\\xff'::BLOB,
            '#hash', 'tab' || chr(9), ['x,y', NULL]),
           (2, NULL, NULL, NULL, NULL, NULL, 'z', NULL, NULL, NULL, NULL, NULL, NULL, NULL, '-inf'::DOUBLE, NULL,
            NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
           (3, '\"', '\"\"', chr(13) || chr(10), ' ', '', '', '', '', '', [], -1e-300, 0, 1, 2, 3, 0, DATE '1970-01-01',
            TIMESTAMP '1970-01-01', false, INTERVAL 0 DAY, ''::BLOB, '', '', [])
         ) AS v(k, \"Display, Name\", quote, breaks, padded, empty, nulls, formula, unicode, cr, list, d1, d2, d3,
                d4, d5, money, day, moment, flag, span, bytes, hash, tab, texts)",
    )?;
    drop(conn);
    let opts = OpenOptions { table: Some("awkward".into()), key: Some("k".into()), ..OpenOptions::default() };
    let engine = Engine::open(&db, &opts)?;
    let f = filter::compile("k > 0", &BTreeMap::new(), &BTreeMap::new(), &FeatureSet::default())
        .map_err(|e| anyhow!("compiling the awkward table's filter: {e}"))?;
    let (ours, theirs) = (dir.path().join("awkward.csv"), dir.path().join("copy.csv"));
    seglens::export::export(&engine, &export_request("awkward", &f, ours.clone()), &mut |_| true)?;
    open_raw(&db)?.execute(&copy_members(&engine, &f, &theirs)?, [])?;
    compare_csv(&ours, &theirs)
}
