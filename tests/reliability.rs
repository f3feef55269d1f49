//! Reliability: each guarantee of README ("Guarantees") under attack. Hostile filters through the
//! engine, the CLI and the explorer (the database's bytes never change); bad input of every kind
//! (one clear line, exit 2); SIGKILL in the middle of an export and of a save, a full disk, two
//! writers at once; a locked, missing, truncated or random database file, a library that is a file
//! or read-only, `TERM=dumb`, a non-UTF-8 path, a 1x1 terminal; and long work cancelled by Ctrl-C,
//! `--timeout` and Esc.
//!
//! Child processes are the real binary (or this test binary re-run in a helper mode); every wait is
//! a polling loop with a deadline. Hashes are taken only while no connection of this process has
//! the database open (STYLE.md, POSIX lock pitfall).

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::tmux::{Tmux, size_on_screen};
use common::{CUSTOMERS, LockHolder, Sandbox, count_where, plain, private_db, read, run, s, sha256_file, shared_db};
use seglens::engine::text::filter;
use seglens::engine::{Engine, EngineError, FeatureSet, OpenOptions, ParamDecls};
use seglens::library::{Library, Template};

/// A cross join no index or range join can shortcut: 3000³ candidate rows, minutes of work.
const SLOW: &str = "(SELECT count(*) FROM customers a, customers b, customers c \
                    WHERE a.customer_id + b.customer_id > c.customer_id) > 0";

/// What a secret file holds; it must never appear in any output.
const SECRET: &str = "seglens-secret-4f1c9a";

// ----------------------------------------------------------------------------------------------
// Helpers

fn file_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// A sandbox whose library holds the approved segment `everyone` (TRUE), measured on `db`.
fn library_with_everyone(sb: &Sandbox, db: &Path) {
    sb.seglens(&["save", "everyone", "--db", s(db), "--filter", "TRUE"]).ok();
    sb.seglens(&["approve", "everyone", "--db", s(db)]).ok();
}

/// A tmpfs mounted for one test, unmounted when dropped. None when this process may not mount.
struct Mounted(PathBuf);

impl Mounted {
    fn tmpfs(dir: &Path, opts: &str) -> Option<Mounted> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mounted(dir.to_path_buf()))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The size of `filter` in SQL written here (the connection closed before the test goes on).
fn sql_size(db: &Path, filter: &str) -> u64 {
    count_where(&plain(db), filter)
}

fn compile_plain(text: &str) -> Result<seglens::engine::Compiled, seglens::engine::FilterError> {
    filter::compile(text, &ParamDecls::new(), &BTreeMap::new(), &FeatureSet::default())
}

// ----------------------------------------------------------------------------------------------
// 1. The database is never modified

enum Want {
    /// Refused; the message contains this fragment.
    Refused(&'static str),
    /// Harmless: answered with the count of this plain-SQL condition.
    Answered(&'static str),
}

/// Hostile filters and what each must give. `dir` holds the secret files and is where any write
/// would land.
fn hostile_inputs(dir: &Path) -> Vec<(String, Want)> {
    use Want::{Answered, Refused};
    let d = dir.display().to_string();
    let secret_txt = format!("{d}/secret.txt");
    let secret_csv = format!("{d}/secret.csv");
    let denied = "file system operations are disabled by configuration";
    let syntax = "syntax error";
    vec![
        // Statements instead of an expression.
        ("1=1; DROP TABLE customers".into(), Refused("';' is not allowed")),
        ("region IN (SELECT region FROM customers) ; SELECT 1".into(), Refused("';' is not allowed")),
        ("1=1); DELETE FROM customers; SELECT (1".into(), Refused("unbalanced ')'")),
        (format!("COPY customers TO '{d}/copied.csv'"), Refused(syntax)),
        (format!("(SELECT 1 FROM (COPY customers TO '{d}/copied2.csv')) = 1"), Refused(syntax)),
        ("(SELECT 1 FROM (DELETE FROM customers RETURNING *)) = 1".into(), Refused(syntax)),
        (format!("ATTACH '{d}/attached.duckdb'"), Refused("ATTACH")),
        ("INSTALL httpfs".into(), Refused(syntax)),
        ("LOAD httpfs".into(), Refused(syntax)),
        ("PRAGMA enable_profiling".into(), Refused(syntax)),
        ("SET threads=1".into(), Refused(syntax)),
        ("CALL pragma_version()".into(), Refused(syntax)),
        // Comment, quote and parenthesis tricks to break out of the parentheses seglens adds.
        ("/* */ 1=1) OR (1=1".into(), Refused("unbalanced ')'")),
        ("1=1) OR (1=1".into(), Refused("unbalanced ')'")),
        ("1=1 --\n) OR (TRUE".into(), Refused("unbalanced ')'")),
        ("customer_id = 1 --\r) OR (TRUE".into(), Refused("unbalanced ')'")),
        ("\u{200b}$1 = 1".into(), Refused("prepared-statement parameters")),
        ("1=1 /* unterminated".into(), Refused("unterminated /* comment")),
        ("region = 'West".into(), Refused("unterminated string")),
        ("region = 'x'') OR (''1'' = ''1".into(), Refused("unterminated string")),
        ("\"unterminated identifier".into(), Refused("unterminated quoted identifier")),
        ("(1=1".into(), Refused("unclosed '('")),
        ("$$ ) OR TRUE".into(), Refused("unterminated")),
        ("region = 'a\u{1b}[2J'".into(), Refused("control character")),
        // Files: read, listed, written; the secret never comes back.
        ("EXISTS (SELECT * FROM read_csv('/etc/passwd'))".into(), Refused(denied)),
        ("(SELECT count(*) FROM read_text('/etc/hostname')) > 0".into(), Refused(denied)),
        (format!("customer_id <= (SELECT length(content) FROM read_text('{secret_txt}'))"), Refused(denied)),
        (format!("(SELECT content FROM read_text('{secret_txt}')) = '{SECRET}'"), Refused(denied)),
        (format!("(SELECT count(*) FROM read_blob('{secret_txt}')) > 0"), Refused(denied)),
        (format!("(SELECT count(*) FROM read_csv('{secret_csv}')) = 1"), Refused(denied)),
        (format!("(SELECT count(*) FROM '{secret_csv}') > 0"), Refused(denied)),
        ("(SELECT count(*) FROM glob('/etc/*')) > 0".into(), Refused(denied)),
        ("(SELECT 1 FROM read_parquet('x.parquet')) = 1".into(), Refused(denied)),
        ("(SELECT count(*) FROM read_json_auto('/etc/passwd')) > 0".into(), Refused("json extension")),
        (format!("(SELECT count(*) FROM sqlite_scan('{d}/x.db', 't')) > 0"), Refused("sqlite_scanner extension")),
        (format!("write_csv(customers, '{d}/written.csv') IS NULL"), Refused("write_csv does not exist")),
        ("(SELECT count(*) FROM duckdb_extensions()) > 0".into(), Refused(denied)),
        // Settings, extensions, environment, sequences, checkpoints.
        ("getenv('HOME') IS NOT NULL".into(), Refused("getenv does not exist")),
        ("set_config('enable_external_access', 'true') IS NULL".into(), Refused("set_config does not exist")),
        ("load_extension('httpfs') IS NULL".into(), Refused("load_extension does not exist")),
        (
            format!("(SELECT count(*) FROM query('ATTACH ''{d}/q.duckdb'' AS q')) >= 0"),
            Refused("Expected a single SELECT statement"),
        ),
        (
            "(SELECT count(*) FROM query('SET enable_external_access = true')) >= 0".into(),
            Refused("Expected a single SELECT statement"),
        ),
        ("nextval('s') > 0".into(), Refused("Sequence with name s does not exist")),
        ("(SELECT count(*) FROM force_checkpoint()) >= 0".into(), Refused("Cannot FORCE CHECKPOINT")),
        // Harmless: answered, and the answer is what plain SQL says.
        ("1=1 --".into(), Answered("TRUE")),
        ("1=1 -- ) OR (1=1".into(), Answered("TRUE")),
        ("region = 'x' OR 1=1 -- '".into(), Answered("TRUE")),
        ("customer_id = 1 /* ) OR (1=1 */".into(), Answered("customer_id = 1")),
        ("region = 'x'') OR (''1'' = ''1'".into(), Answered("FALSE")),
        ("$tag$x$tag$ = 'x'".into(), Answered("TRUE")),
        ("(SELECT count(*) FROM duckdb_settings()) > 0".into(), Answered("TRUE")),
        ("current_setting('enable_external_access') = false".into(), Answered("TRUE")),
        ("current_setting('lock_configuration') = true".into(), Answered("TRUE")),
        ("setseed(0.5) IS NULL".into(), Answered("TRUE")),
        ("(SELECT count(*) FROM checkpoint()) >= 0".into(), Answered("TRUE")),
        ("(SELECT count(*) FROM query('SELECT 1')) = 1".into(), Answered("TRUE")),
        ("(SELECT count(*) FROM duckdb_databases()) > 0".into(), Answered("TRUE")),
    ]
}

/// Every hostile filter through the engine and then the CLI: refused with its message (exit 2) or
/// answered as plain SQL answers; the engine answers a valid question after each; no secret comes
/// back; nothing is written anywhere; the database's bytes never change.
#[test]
fn hostile_filters_are_refused_or_harmless_and_the_database_never_changes() {
    let dir = tempfile::tempdir().unwrap();
    let db = private_db(dir.path());
    std::fs::write(dir.path().join("secret.txt"), format!("{SECRET}\n")).unwrap();
    std::fs::write(dir.path().join("secret.csv"), format!("a,b\n{SECRET},2\n")).unwrap();
    let cases = hostile_inputs(dir.path());
    let refused = cases.iter().filter(|(_, w)| matches!(w, Want::Refused(_))).count();
    assert!(cases.len() >= 30 && refused >= 30, "{} hostile inputs, {refused} refused", cases.len());
    let before = sha256_file(&db);
    let valid = "region = 'East India' AND orders_count > 1";
    // Expected figures from plain SQL; the connection is closed before anything is hashed.
    let (want_valid, answers): (u64, BTreeMap<&str, u64>) = {
        let c = plain(&db);
        let answers = cases
            .iter()
            .filter_map(|(_, w)| match w {
                Want::Answered(cond) => Some((*cond, count_where(&c, cond))),
                Want::Refused(_) => None,
            })
            .collect();
        (count_where(&c, valid), answers)
    };
    {
        let e = Engine::open(&db, &OpenOptions::default()).expect("open");
        let valid_c = compile_plain(valid).unwrap();
        for (text, want) in &cases {
            let got = compile_plain(text).map_err(EngineError::from).and_then(|c| e.size(&c));
            match (want, got) {
                (Want::Refused(fragment), Err(err)) => {
                    let msg = err.to_string();
                    assert!(err.is_user_error(), "{text:?}: an internal error, not a refusal: {err:?}");
                    assert!(msg.contains(fragment), "{text:?}: {msg:?} lacks {fragment:?}");
                    assert!(!msg.contains(SECRET), "{text:?}: the secret leaked: {msg}");
                }
                (Want::Refused(fragment), Ok(size)) => {
                    panic!("{text:?} was answered ({size:?}), not refused ({fragment})")
                }
                (Want::Answered(cond), Ok(size)) => assert_eq!(size.size, answers[cond], "{text:?}"),
                (Want::Answered(_), Err(err)) => panic!("{text:?} is harmless but failed: {err}"),
            }
            let after = e.size(&valid_c).unwrap_or_else(|err| panic!("after {text:?}: {err}"));
            assert_eq!(after.size, want_valid, "after {text:?}");
        }
    }
    assert_eq!(sha256_file(&db), before, "the engine changed the database");
    let sb = Sandbox::new();
    for (text, want) in &cases {
        let o = sb.seglens(&["size", "--db", s(&db), "--json", "--", text]);
        assert!(!o.stdout.contains(SECRET) && !o.stderr.contains(SECRET), "{text:?}: the secret leaked: {o:?}");
        match want {
            Want::Refused(fragment) => {
                o.user_error(&[fragment]);
            }
            Want::Answered(cond) => {
                assert_eq!(o.ok().json()["size"].as_u64(), Some(answers[cond]), "{text:?}");
            }
        }
    }
    assert_eq!(sha256_file(&db), before, "a command changed the database");
    // Nothing was written beside the database: no copy, no attached file, no WAL.
    assert_eq!(file_names(dir.path()), ["crm.duckdb", "secret.csv", "secret.txt"]);
}

/// The same hostile filters on a Parquet file read in place (issue 19), where DuckDB may read,
/// and so could write, the file: refused as on a DuckDB file, with the same messages, or answered
/// as plain SQL answers; the file's bytes never change and
/// nothing appears beside it, through the engine and through the CLI.
#[test]
fn hostile_filters_on_a_parquet_source_are_refused_or_harmless_and_its_file_never_changes() {
    let dir = tempfile::tempdir().unwrap();
    let db = private_db(dir.path());
    std::fs::write(dir.path().join("secret.txt"), format!("{SECRET}\n")).unwrap();
    std::fs::write(dir.path().join("secret.csv"), format!("a,b\n{SECRET},2\n")).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let pq = data.join("customers.parquet");
    let answers_of = |cases: &[(String, Want)]| -> BTreeMap<String, u64> {
        let c = plain(&db);
        c.execute_batch(&format!("COPY customers TO '{}' (FORMAT parquet)", pq.display())).unwrap();
        cases
            .iter()
            .filter_map(|(_, w)| match w {
                Want::Answered(cond) => Some((cond.to_string(), count_where(&c, cond))),
                Want::Refused(_) => None,
            })
            .collect()
    };
    let cases = hostile_inputs(dir.path());
    let answers = answers_of(&cases);
    let before = sha256_file(&pq);
    let check = |text: &str, want: &Want, got: Result<u64, String>| match (want, got) {
        (Want::Refused(fragment), Err(msg)) => {
            assert!(msg.contains(fragment), "{text:?}: {msg:?} lacks {fragment:?}");
            assert!(!msg.contains(SECRET), "{text:?}: the secret leaked: {msg}");
        }
        (Want::Refused(fragment), Ok(n)) => panic!("{text:?} was answered ({n}), not refused ({fragment})"),
        (Want::Answered(cond), Ok(n)) => assert_eq!(n, answers[*cond], "{text:?}"),
        (Want::Answered(_), Err(err)) => panic!("{text:?} is harmless but failed: {err}"),
    };
    {
        let e = Engine::open(&pq, &OpenOptions::default()).expect("open");
        for (text, want) in &cases {
            let got = compile_plain(text).map_err(EngineError::from).and_then(|c| e.size(&c));
            if let Err(err) = &got {
                assert!(err.is_user_error(), "{text:?}: an internal error, not a refusal: {err:?}");
            }
            check(text, want, got.map(|s| s.size).map_err(|e| e.to_string()));
        }
    }
    let sb = Sandbox::new();
    for (text, want) in &cases {
        let o = sb.seglens(&["size", "--db", s(&pq), "--json", "--", text]);
        assert!(!o.stdout.contains(SECRET) && !o.stderr.contains(SECRET), "{text:?}: the secret leaked: {o:?}");
        let got = if o.code == 0 { Ok(o.json()["size"].as_u64().unwrap()) } else { Err(o.stderr.clone()) };
        if o.code != 0 {
            assert_eq!(o.code, 2, "{text:?}: {o:?}");
        }
        check(text, want, got);
    }
    assert_eq!(sha256_file(&pq), before, "the Parquet file changed");
    let mut names: Vec<String> =
        std::fs::read_dir(&data).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["customers.parquet"], "something was written beside the Parquet file");
}

/// A scripted explorer session typing hostile filters: each error is shown, the app stays up and
/// measures a valid filter afterwards, and the database's bytes are unchanged.
#[test]
fn hostile_filters_typed_in_the_explorer_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = private_db(dir.path());
    let before = sha256_file(&db);
    let lib = dir.path().join("segments");
    let data = dir.path().join("data");
    let env = [("SEGLENS_DATA_DIR", data.as_path()), ("SEGLENS_LIBRARY", lib.as_path())];
    let valid = "orders_count > 2 AND region = 'West India'";
    let expected = sql_size(&db, valid);
    let t = Tmux::start("hostile", &env, &[s(&db)], 140, 40);
    t.wait_for("customers");
    let typed = [
        ("1=1; DROP TABLE customers", "';' is not allowed"),
        ("COPY customers TO '/tmp/seglens-rel-copy.csv'", "syntax error"),
        ("ATTACH '/tmp/seglens-rel.duckdb'", "does not exist"),
        ("(SELECT count(*) FROM read_text('/etc/hostname')) > 0", "Permission error"),
        ("1=1) OR (1=1", "unbalanced ')'"),
        ("(SELECT count(*) FROM force_checkpoint()) >= 0", "FORCE CHECKPOINT"),
        ("region = 'West", "unterminated string"),
    ];
    for (text, fragment) in typed {
        t.text(text);
        t.wait(fragment, |s| s.contains(fragment));
        t.backspace(text.chars().count());
        t.wait("the editor to empty", |s| !s.contains(fragment));
    }
    t.text(valid);
    t.wait("the valid filter's size", |s| size_on_screen(s) == Some(expected));
    t.quit();
    drop(t);
    assert_eq!(sha256_file(&db), before, "the explorer changed the database");
    assert!(!Path::new("/tmp/seglens-rel-copy.csv").exists() && !Path::new("/tmp/seglens-rel.duckdb").exists());
    let beside: Vec<String> = file_names(dir.path()).into_iter().filter(|n| n != "data" && n != "segments").collect();
    assert_eq!(beside, ["crm.duckdb"]);
}

// ----------------------------------------------------------------------------------------------
// 2. Bad input gets a clear error

const BOUNDED: &str = r#"name = "bounded"
version = 1
created_at = "2026-03-01T00:00:00Z"
filter = "orders_count > {{days}} AND (last_order_date IS NULL OR last_order_date > {{since}}) AND churn_risk <= {{risk}}"

[params.days]
type = "int"
default = 1
min = 0
max = 100

[params.since]
type = "date"
default = "2025-01-01"

[params.risk]
type = "float"
default = 1.0
min = 0.0
max = 1.0
"#;

/// (arguments after `size --db DB`, stdin, fragments the one stderr line must hold).
type BadCase = (Vec<OsString>, Vec<u8>, Vec<&'static str>);

fn bad(args: &[&str], fragments: &[&'static str]) -> BadCase {
    (args.iter().map(OsString::from).collect(), Vec::new(), fragments.to_vec())
}

fn bad_stdin(stdin: &[u8], fragments: &[&'static str]) -> BadCase {
    (vec![OsString::from("-")], stdin.to_vec(), fragments.to_vec())
}

/// Line and column of the first `needle` in `text`, as seglens reports them (in characters).
fn at(text: &str, needle: &str) -> &'static str {
    let i = text.find(needle).expect("needle");
    let line = text[..i].matches('\n').count() + 1;
    let col = text[..i].rsplit('\n').next().unwrap().chars().count() + 1;
    format!("line {line}, column {col}").leak()
}

#[test]
fn bad_input_gets_one_clear_line_and_exit_2() {
    let db = shared_db();
    let sb = Sandbox::new();
    let tdir = sb.library().join("bounded");
    std::fs::create_dir_all(&tdir).unwrap();
    std::fs::write(tdir.join("v0001.toml"), BOUNDED).unwrap();
    // The template itself is fine.
    sb.seglens(&["size", "--db", s(db), "bounded", "--param", "days=5"]).ok();
    let unknown = "orders_count > 0\n  AND no_such_col = 1";
    let unicode = "city = 'Pune – Süd' AND nope_col > 1";
    let bad_date = "last_order_date > DATE '2026-02-30'";
    let cases: Vec<BadCase> = vec![
        // Bad SQL.
        bad(&["orders_count >"], &["syntax error"]),
        bad(&["orders_count > > 1"], &["syntax error"]),
        bad(&["region = = 'x'"], &["syntax error"]),
        bad(&["no_such_fn(orders_count) > 1"], &["no_such_fn does not exist"]),
        bad(&["--", "-- only a comment"], &["only comments"]),
        bad(&["/* nothing */ \n -- here"], &["only comments"]),
        // Type errors.
        bad(&["region > 5"], &["Cannot compare values of type VARCHAR", "line 1, column 1"]),
        bad(&["orders_count > 'many'"], &["Could not convert string 'many'"]),
        bad(&["last_order_date > 17"], &["Cannot compare values of type DATE"]),
        // Unknown columns, located in the user's text.
        bad(&[unknown], &["no_such_col", at(unknown, "no_such_col")]),
        bad(&[unicode], &["nope_col", at(unicode, "nope_col")]),
        // Params: unknown, ill-typed, out of range, missing.
        bad(&["bounded", "--param", "days=abc"], &["parameter days", "not a whole number"]),
        bad(&["bounded", "--param", "days=1.5"], &["parameter days", "not a whole number"]),
        bad(&["bounded", "--param", "nope=1"], &["unknown parameter nope", "days, since, risk"]),
        bad(&["bounded", "--param", "days=101"], &["days = 101 is above its maximum 100"]),
        bad(&["bounded", "--param", "days=-1"], &["days = -1 is below its minimum 0"]),
        bad(&["bounded", "--param", "risk=1.5"], &["risk = 1.5 is above its maximum"]),
        bad(&["bounded", "--param", "risk=1e400"], &["not a finite number"]),
        bad(&["bounded", "--param", "risk=NaN"], &["not a finite number"]),
        bad(&["bounded", "--param", "days=99999999999999999999"], &["not a whole number"]),
        bad(&["bounded", "--param", "since=2026-02-30"], &["parameter since", "not a valid date"]),
        bad(&["bounded", "--param", "since=yesterday"], &["not a valid date"]),
        bad(&["bounded", "--param", "days"], &["expected NAME=VALUE"]),
        bad(&["bounded@7"], &["no version 7"]),
        bad(&["orders_count > {{n}}"], &["no value for {{n}}"]),
        bad(&["orders_count > {{n}}", "--param", "m=1"], &["unknown parameter m"]),
        bad(&["orders_count > {{n"], &["unterminated"]),
        // Empty.
        bad(&[""], &["the filter is empty"]),
        bad(&[" \n\t "], &["the filter is empty"]),
        bad_stdin(b"", &["the filter is empty"]),
        // Non-UTF-8 and control characters.
        bad_stdin(b"orders_count > 0 AND region = '\xff\xfe'", &["UTF-8"]),
        bad_stdin(b"orders_count > 0\0", &["control character"]),
        bad(&["region = 'a\u{1}b'"], &["control character", "line 1, column 12"]),
        bad(&["region = 'a\u{7f}'"], &["control character"]),
        bad(&["region = 'a'\u{1b}[31m"], &["control character"]),
        // Impossible dates.
        bad(&[bad_date], &["date field value out of range", at(bad_date, "DATE")]),
        bad(&["last_order_date > '2026-13-01'"], &["2026-13-01"]),
        // Too deep for DuckDB's parser: refused, not a stack overflow.
        bad_stdin(format!("{}TRUE{}", "(".repeat(100_000), ")".repeat(100_000)).as_bytes(), &["expression depth"]),
    ];
    let mut n = 0;
    for (args, stdin, fragments) in &cases {
        let mut cmd = sb.command(&["size", "--db", s(db)]);
        cmd.args(args);
        let o = run(cmd, stdin);
        let line = o.stderr.trim().to_string();
        o.user_error(fragments);
        assert!(line.starts_with("seglens: "), "{args:?}: {line:?}");
        n += 1;
    }
    assert!(n >= 35, "{n} bad inputs");
    // Non-UTF-8 bytes in an argument: clap's own usage error, exit 2.
    let mut cmd = sb.command(&["size", "--db", s(db)]);
    cmd.arg(OsStr::from_bytes(b"region = '\xff'"));
    let o = run(cmd, b"");
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("UTF-8"), "{o:?}");
}

/// Huge numbers and odd literals: DuckDB's answer when it has one (as plain SQL gives it), else a
/// clear error; never a crash.
#[test]
fn huge_numbers_are_answered_as_plain_sql_or_refused() {
    let db = shared_db();
    let c = plain(db);
    let sb = Sandbox::new();
    for f in [
        "lifetime_spend > 1e400",
        "lifetime_spend > -1e400",
        "orders_count > 99999999999999999999999",
        "orders_count < -170141183460469231731687303715884105729",
        "orders_count > 9223372036854775807",
        "orders_count * 9223372036854775807 > 0",
        "lifetime_spend / 0 > 1",
        "orders_count // 0 > 1",
        "last_order_date > DATE '9999-12-31'",
        "last_order_date > DATE '0001-01-01'",
        "churn_risk > 1e-400",
    ] {
        let o = sb.seglens(&["size", "--db", s(db), "--json", "--", f]);
        let want = c.query_row(&format!("SELECT count(*) FROM customers WHERE {f}"), [], |r| r.get::<_, i64>(0));
        match want {
            Ok(n) => assert_eq!(o.ok().json()["size"].as_i64(), Some(n), "{f}"),
            Err(e) => {
                o.user_error(&[]);
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

/// A 1 MB filter on stdin (a long OR chain) gets its answer; a 1 MB string literal too.
#[test]
fn a_one_megabyte_filter_on_stdin_is_answered() {
    let db = shared_db();
    let pad = "x".repeat(200);
    let mut terms = Vec::new();
    let mut len = 0;
    let mut i = 0u64;
    while len < 1 << 20 {
        let t = format!("(customer_id = {} AND email <> '{pad}')", i * 7 % 3500);
        len += t.len() + 4;
        terms.push(t);
        i += 1;
    }
    let chain = terms.join(" OR ");
    assert!(chain.len() >= 1 << 20);
    let want = count_where(&plain(db), &format!("({chain})"));
    assert!(want > 0 && want < CUSTOMERS, "{want}");
    let sb = Sandbox::new();
    let o = sb.seglens_stdin(&["size", "--db", s(db), "--json", "-"], &chain).ok();
    assert_eq!(o.json()["size"].as_u64(), Some(want));
    let literal = format!("region = '{}' OR customer_id = 1", "y".repeat(1 << 20));
    let o = sb.seglens_stdin(&["size", "--db", s(db), "--json", "-"], &literal).ok();
    assert_eq!(o.json()["size"].as_u64(), Some(1));
}

// ----------------------------------------------------------------------------------------------
// 4. No lost work

/// Files in `dir` that an interrupted export may leave: `.NAME.*.partial`.
fn partials(dir: &Path, name: &str) -> Vec<(String, u64)> {
    let prefix = format!(".{name}.");
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&prefix) && n.ends_with(".partial")
        })
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().map_or(0, |m| m.len())))
        .collect()
}

/// SIGKILL in the middle of a large export (1M customers, all columns): nothing under a final
/// name (CSV, manifest, members); only temporary `.partial` files remain. The same export then
/// succeeds.
#[test]
fn kill_9_mid_export_leaves_nothing_under_the_final_name() {
    let sb = Sandbox::new();
    let db = sb.path().join("big.duckdb");
    sb.seglens(&["sample", "--customers", "1000000", "--seed", "3", "--as-of", "2026-03-01", "--out", s(&db)]).ok();
    library_with_everyone(&sb, &db);
    let out_dir = sb.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("all.csv");
    // Kill early (first bytes written) and late (tens of MB written).
    for min_bytes in [1u64, 40 << 20] {
        let mut child = sb.command(&["export", "everyone", "--db", s(&db), "--out", s(&out)]).spawn().unwrap();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(120);
        loop {
            if partials(&out_dir, "all.csv").iter().any(|(_, len)| *len >= min_bytes) {
                break;
            }
            if let Some(st) = child.try_wait().unwrap() {
                panic!("the export ended ({st}) before {min_bytes} bytes were written: too fast to test");
            }
            assert!(Instant::now() < deadline, "no partial file appeared");
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let killed_after = started.elapsed();
        assert_eq!(status.signal(), Some(9), "{status}");
        for name in ["all.csv", "all.manifest.json", "all.members"] {
            assert!(!out_dir.join(name).exists(), "{name} under its final name after kill -9 at {killed_after:?}");
        }
        let left = file_names(&out_dir);
        assert!(left.iter().all(|n| n.starts_with(".all.") && n.ends_with(".partial")), "{left:?}");
        eprintln!(
            "killed after {killed_after:?} (>= {min_bytes} bytes written); left: {:?}",
            partials(&out_dir, "all.csv")
        );
    }
    // The leftovers do not block the next export, which completes.
    let o = sb.seglens(&["export", "everyone", "--db", s(&db), "--out", s(&out), "--json"]);
    assert_eq!(o.code, 0, "{o:?}");
    let lines = std::fs::read(&out).unwrap().iter().filter(|&&b| b == b'\n').count();
    assert!(lines > 1_000_000, "{lines} lines");
}

const SAVE_LOOP_ENV: &str = "SEGLENS_TEST_SAVE_LOOP";

fn looped_filter(i: u64, pad: &str) -> String {
    format!("orders_count > {i} OR email = '{pad}' -- end of {i}")
}

/// A child process saving versions in a loop (256 KB each, fsynced) is killed with SIGKILL three
/// times: every version file left is complete and parses, versions are consecutive, and the
/// library still loads.
#[test]
fn kill_9_mid_save_leaves_only_complete_versions() {
    let pad = "p".repeat(256 * 1024);
    if let Some(dir) = std::env::var_os(SAVE_LOOP_ENV) {
        // Helper mode (a child of the test below): save until killed.
        let lib = Library::open(PathBuf::from(dir));
        for i in 1.. {
            lib.save(Template::new("looped", &looped_filter(i, &pad))).expect("save");
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lib = Library::open(dir.path());
    let seg = dir.path().join("looped");
    std::fs::create_dir(&seg).unwrap();
    for round in 1..=3usize {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["kill_9_mid_save_leaves_only_complete_versions", "--exact", "--test-threads=1"])
            .env(SAVE_LOOP_ENV, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill once a few versions exist and a temporary file is being written: mid-save.
        let target = round * 5;
        let deadline = Instant::now() + Duration::from_secs(60);
        let tmp_before = file_names(&seg).into_iter().filter(|n| n.starts_with(".tmp-")).count();
        loop {
            let names = file_names(&seg);
            let versions = names.iter().filter(|n| n.starts_with('v')).count();
            let writing = names.iter().filter(|n| n.starts_with(".tmp-")).count() > tmp_before;
            if versions >= target && writing {
                break;
            }
            assert!(child.try_wait().unwrap().is_none(), "the saving child ended");
            assert!(Instant::now() < deadline, "never caught the saving child mid-write");
            std::thread::yield_now();
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let versions = lib.versions("looped").unwrap();
        let n = versions.len() as u32;
        assert_eq!(versions, (1..=n).collect::<Vec<_>>(), "versions are consecutive");
        let (ok, errors) = lib.history("looped").unwrap();
        assert!(errors.is_empty(), "broken version files after kill -9: {errors:?}");
        for t in &ok {
            // Each child counts from 1 again, so the filter's number is not the version's.
            let i: u64 = t.filter.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            assert!(t.filter == looped_filter(i, &pad), "v{} is incomplete ({} bytes)", t.version, t.filter.len());
        }
        assert!(lib.load_all().errors.is_empty());
        let stray: Vec<String> = file_names(&seg).into_iter().filter(|n| !n.starts_with('v')).collect();
        assert!(stray.iter().all(|n| n.starts_with(".tmp-") && n.ends_with(".toml")), "{stray:?}");
        eprintln!("round {round}: {n} versions, stray temporary files: {stray:?}");
    }
}

/// Two processes saving the same segment at once: both succeed, as consecutive versions.
#[test]
fn two_processes_saving_the_same_segment_get_consecutive_versions() {
    let db = shared_db();
    let sb = Sandbox::new();
    let lib = Library::open(sb.library());
    for round in 0..3u32 {
        let spawn = |k: u32| {
            let f = format!("orders_count > {}", round * 2 + k);
            sb.command(&["save", "twice", "--db", s(db), "--filter", &f]).spawn().unwrap()
        };
        let children = [spawn(0), spawn(1)];
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let (ok, errors) = lib.history("twice").unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        let versions: Vec<u32> = ok.iter().map(|t| t.version).collect();
        assert_eq!(versions, (1..=2 * (round + 1)).collect::<Vec<_>>());
        let mut filters: Vec<&str> = ok[ok.len() - 2..].iter().map(|t| t.filter.as_str()).collect();
        filters.sort();
        assert_eq!(filters, [format!("orders_count > {}", round * 2), format!("orders_count > {}", round * 2 + 1)]);
    }
}

/// A full disk: /dev/full as the export target is refused before anything is written (renaming a
/// finished file over it would replace the device node); on a 64 KB tmpfs (where mounting is
/// allowed) and under a file-size limit (always) the export and a save fail with the system's
/// message and leave nothing behind; a read-only library refuses saves and still lists.
#[test]
fn a_full_disk_gives_an_error_and_no_partial_file() {
    let db = shared_db();
    let sb = Sandbox::new();
    library_with_everyone(&sb, db);
    let dev_before = file_names(Path::new("/dev"));
    for force in [true, false] {
        let mut args = vec!["export", "everyone", "--db", s(db), "--out", "/dev/full"];
        if force {
            args.push("--force");
        }
        let o = sb.seglens(&args);
        if force {
            o.user_error(&["/dev/full", "not a regular file"]);
        } else {
            o.user_error(&["/dev/full"]);
        }
        let meta = std::fs::metadata("/dev/full").unwrap();
        assert!(meta.file_type().is_char_device(), "/dev/full is no longer a device");
        assert_eq!(file_names(Path::new("/dev")), dev_before, "files appeared in /dev");
    }
    let tiny = sb.path().join("tiny");
    let out = tiny.join("out.csv");
    match Mounted::tmpfs(&tiny, "size=64k") {
        Some(_mounted) => {
            let o = sb.seglens(&["export", "everyone", "--db", s(db), "--out", s(&out)]);
            o.user_error(&["out.csv", "No space left on device"]);
            assert_eq!(file_names(&tiny), Vec::<String>::new(), "the failed export left files");
            // A save into a library on the full disk.
            let lib = tiny.join("lib");
            std::fs::create_dir(&lib).unwrap();
            std::fs::create_dir(lib.join("full")).unwrap();
            let mut filler = std::fs::File::create(tiny.join("filler")).unwrap();
            let chunk = vec![b'f'; 4096];
            while filler.write_all(&chunk).and_then(|_| filler.sync_all()).is_ok() {}
            drop(filler);
            let pad = "z".repeat(64 * 1024);
            let f = format!("orders_count > 1 OR email = '{pad}'");
            let o = sb.seglens(&["save", "full", "--db", s(db), "--library", s(&lib), "--filter", &f]);
            o.user_error(&["No space left on device"]);
            assert_eq!(file_names(&lib.join("full")), Vec::<String>::new(), "the failed save left files");
        }
        None => eprintln!("note: no permission to mount a tmpfs; the file-size limit below stands in for a full disk"),
    }
    // Where mounting is not allowed this is the only full-disk case, so it always runs: a
    // file-size limit makes the write fail the same way (EFBIG), for an export and for a save.
    let limited = |args: &[&str]| run(sb.shell("trap '' XFSZ; ulimit -f 64; exec \"$0\" \"$@\"", args), b"");
    let o = limited(&["export", "everyone", "--db", s(db), "--out", s(&sb.path().join("limited.csv"))]);
    o.user_error(&["limited.csv", "too large"]);
    assert!(file_names(sb.path()).iter().all(|n| !n.contains("limited")), "{:?}", file_names(sb.path()));
    let lib = sb.path().join("limited-lib");
    let f = format!("orders_count > 1 OR email = '{}'", "z".repeat(100 * 1024));
    limited(&["save", "big", "--db", s(db), "--library", s(&lib), "--filter", &f]).user_error(&["too large"]);
    assert_eq!(file_names(&lib.join("big")), Vec::<String>::new(), "the failed save left files");
    // The same save without the limit works (so the limit was the cause).
    sb.seglens(&["save", "big", "--db", s(db), "--library", s(&lib), "--filter", &f]).ok();
    assert_eq!(file_names(&lib.join("big")), ["v0001.toml"]);
    // A read-only library: list works, save says why.
    let ro = sb.path().join("ro");
    if let Some(_mounted) = Mounted::tmpfs(&ro, "ro,size=64k") {
        let o = sb.seglens(&["list", "--db", s(db), "--library", s(&ro)]).ok();
        assert!(o.stdout.contains("no segments"), "{o:?}");
        let o = sb.seglens(&["save", "ro-seg", "--db", s(db), "--library", s(&ro), "--filter", "TRUE"]);
        o.user_error(&["Read-only file system"]);
    } else {
        // As root, permissions do not stop a write: without a read-only mount there is no honest
        // stand-in, so say that this case did not run rather than pass quietly.
        eprintln!("note: no permission to mount a read-only tmpfs; the read-only library case did not run");
    }
}

// ----------------------------------------------------------------------------------------------
// 5. Hostile environment

/// A writer in another process holds the database: a clear message naming the lock and a copy,
/// exit 2, for a command and for the explorer; once the writer is gone the same command works.
/// The writer is Python's duckdb when installed, else this test binary re-run as a holder.
#[test]
fn a_database_locked_by_a_writer_is_reported() {
    if LockHolder::hold_if_asked() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = private_db(dir.path());
    let python = Command::new("python3").args(["-c", "import duckdb"]).stderr(Stdio::null()).status();
    let cmd = if python.is_ok_and(|s| s.success()) {
        let mut py = Command::new("python3");
        py.args([
            "-c",
            "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(60)",
            s(&db),
        ]);
        py
    } else {
        LockHolder::this_test("a_database_locked_by_a_writer_is_reported", &db)
    };
    let holder = LockHolder::spawn(cmd);
    let sb = Sandbox::new();
    for args in [vec!["size", "--db", s(&db), "TRUE"], vec![s(&db)]] {
        let mut c = sb.command(&args);
        c.env("TERM", "xterm-256color");
        let started = Instant::now();
        let o = run(c, b"");
        assert!(started.elapsed() < Duration::from_secs(20), "{args:?} waited on the lock");
        o.user_error(&["locked", "copy", s(&db)]);
    }
    drop(holder);
    let o = sb.seglens(&["size", "--db", s(&db), "--json", "TRUE"]).ok();
    assert_eq!(o.json()["size"].as_u64(), Some(CUSTOMERS));
}

/// Missing, truncated, random, empty and directory "databases": one clear line, exit 2, for a
/// command and for the explorer; the file is left exactly as it was and nothing appears beside it.
#[test]
fn missing_truncated_or_foreign_database_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = private_db(dir.path());
    let bytes = std::fs::read(&db).unwrap();
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    let mut files: Vec<(PathBuf, Vec<&str>)> = Vec::new();
    for (name, len) in [("half.duckdb", bytes.len() / 2), ("quarter.duckdb", bytes.len() / 4), ("head.duckdb", 4096)] {
        let p = bad.join(name);
        std::fs::write(&p, &bytes[..len]).unwrap();
        files.push((p, vec![name]));
    }
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let random: Vec<u8> = (0..300_000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    let p = bad.join("random.duckdb");
    std::fs::write(&p, &random).unwrap();
    files.push((p, vec!["random.duckdb", "not a DuckDB database"]));
    let p = bad.join("text.duckdb");
    std::fs::write(&p, "customer_id,region\n1,West\n").unwrap();
    files.push((p, vec!["text.duckdb", "not a DuckDB database"]));
    let p = bad.join("empty.duckdb");
    std::fs::write(&p, "").unwrap();
    files.push((p, vec!["empty.duckdb"]));
    let missing = bad.join("missing.duckdb");
    let sb = Sandbox::new();
    let hashes: Vec<String> = files.iter().map(|(p, _)| sha256_file(p)).collect();
    let mut cases = files.clone();
    cases.push((missing.clone(), vec!["missing.duckdb", "no such file"]));
    // A folder is read as a Parquet dataset (issue 19): one without Parquet files says so.
    cases.push((bad.join("dir.duckdb"), vec!["dir.duckdb", "a directory without Parquet"]));
    std::fs::create_dir(bad.join("dir.duckdb")).unwrap();
    for (path, fragments) in &cases {
        for args in [vec!["size", "--db", s(path), "TRUE"], vec!["schema", "--db", s(path)], vec![s(path)]] {
            let mut c = sb.command(&args);
            c.env("TERM", "xterm-256color");
            let o = run(c, b"");
            assert!(!o.stderr.contains("panicked"), "{args:?}: {o:?}");
            // A truncated file is refused when it is opened ("not a DuckDB database"), or, when
            // its catalog is intact, by the first query that reads a missing block ("truncated or
            // damaged"); the explorer (given no terminal here) then says it needs one instead,
            // and would report the damage where a query meets it.
            let truncated = fragments.len() == 1;
            if truncated && args.len() == 1 && o.stderr.contains("needs a terminal") {
                o.user_error(&["needs a terminal"]);
            } else if truncated {
                assert!(
                    o.stderr.contains("not a DuckDB database")
                        || o.stderr.contains("truncated or damaged")
                        // A 0-byte file says so (issue 27).
                        || o.stderr.contains("the file is empty"),
                    "{args:?}: {o:?}"
                );
                o.user_error(fragments);
            } else {
                o.user_error(fragments);
            }
        }
    }
    for ((p, _), h) in files.iter().zip(&hashes) {
        assert_eq!(&sha256_file(p), h, "{} changed", p.display());
    }
    assert!(!missing.exists(), "opening a missing file created it");
    let mut want: Vec<String> = files.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into()).collect();
    want.push("dir.duckdb".into());
    want.sort();
    assert_eq!(file_names(&bad), want, "files appeared beside the databases");
}

/// The library is a regular file, or missing: `list` still works (and says why), `save` into a
/// file fails with a message naming the path, `save` into a missing directory creates it.
#[test]
fn a_library_that_is_a_file_or_missing() {
    let db = shared_db();
    let sb = Sandbox::new();
    let file = sb.path().join("library-file");
    std::fs::write(&file, "not a directory\n").unwrap();
    let o = sb.seglens(&["list", "--db", s(db), "--library", s(&file)]).ok();
    assert!(o.stdout.contains("no segments"), "{o:?}");
    assert!(o.stderr.contains("Not a directory"), "{o:?}");
    let o = sb.seglens(&["save", "seg", "--db", s(db), "--library", s(&file), "--filter", "TRUE"]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("library-file") && o.stderr.contains("Not a directory"), "{o:?}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a directory\n");
    let missing = sb.path().join("no").join("such").join("library");
    let o = sb.seglens(&["list", "--db", s(db), "--library", s(&missing)]).ok();
    assert!(o.stdout.contains("no segments"), "{o:?}");
    assert!(!missing.exists(), "list created the library");
    let o = sb.seglens(&["save", "seg", "--db", s(db), "--library", s(&missing), "--filter", "TRUE"]).ok();
    assert!(o.stdout.contains("seg@1"), "{o:?}");
    assert!(missing.join("seg").join("v0001.toml").is_file());
}

#[test]
fn term_dumb_or_no_terminal_is_refused_with_a_clear_message() {
    let db = shared_db();
    let sb = Sandbox::new();
    let mut c = sb.command(&[s(db)]);
    c.env("TERM", "dumb");
    run(c, b"").user_error(&["TERM=dumb", "seglens --help"]);
    // No terminal at all (output to a pipe): a message, not a panic.
    let mut c = sb.command(&[s(db)]);
    c.env("TERM", "xterm-256color");
    run(c, b"").user_error(&["needs a terminal", "seglens --help"]);
}

/// A database in a directory whose name is not UTF-8 opens and answers. A file name that is not
/// UTF-8 (DuckDB names the database after it, and fails inside) gets a clear message, exit 2.
#[test]
fn a_database_at_a_non_utf8_path_works() {
    let db = shared_db();
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join(OsStr::from_bytes(b"caf\xe9-\xff\xfe"));
    std::fs::create_dir(&odd).unwrap();
    let copy = odd.join("crm.duckdb");
    std::fs::copy(db, &copy).unwrap();
    let sb = Sandbox::new();
    let want = count_where(&plain(db), "orders_count > 2");
    let mut c = sb.command(&["size", "--json", "--db"]);
    c.arg(&copy).arg("orders_count > 2");
    let o = run(c, b"");
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.json()["size"].as_u64(), Some(want));
    let odd_name = odd.join(OsStr::from_bytes(b"crm-\x80.duckdb"));
    std::fs::copy(db, &odd_name).unwrap();
    let mut c = sb.command(&["size", "--json", "--db"]);
    c.arg(&odd_name).arg("orders_count > 2");
    run(c, b"").user_error(&["crm-", "not UTF-8", "rename"]);
    // An error about a missing file names the path (lossily) on one line.
    let mut c = sb.command(&["size", "--db"]);
    c.arg(odd.join(OsStr::from_bytes(b"gone-\xff.duckdb"))).arg("TRUE");
    run(c, b"").user_error(&["gone-", "no such file"]);
}

/// The terminal is restored on every exit: its settings (`stty -g`, read in the same pane) after
/// the explorer are those before it when it quits (exit 0), when it stops on an error before its
/// screen (an unknown theme, exit 2), and when SIGTERM or a SIGINT sent from outside ends it
/// (exit 130, with a line saying so; a signal's default action used to leave it raw).
#[test]
fn the_terminal_is_restored_after_quit_an_error_and_a_signal() {
    let db = shared_db();
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("segments");
    let data = dir.path().join("data");
    let env = [("SEGLENS_DATA_DIR", data.as_path()), ("SEGLENS_LIBRARY", lib.as_path())];
    for (case, theme, code) in
        [("quit", "dark", 0), ("error", "no-such-theme", 2), ("TERM", "dark", 130), ("INT", "dark", 130)]
    {
        let file = |what: &str| dir.path().join(format!("{case}.{what}"));
        let (before, after) = (file("before"), file("after"));
        let then = format!("echo \"exit $?\"; stty -g > '{}'; echo restored; sleep 60", after.display());
        let before_cmd = format!("stty -g > '{}'", before.display());
        let t =
            Tmux::start_around(&format!("stty-{case}"), &env, &[s(db), "--theme", theme], 120, 40, &before_cmd, &then);
        match case {
            "quit" => {
                t.wait_for("customers");
                t.text("TRUE");
                t.quit();
            }
            "error" => {}
            signal => {
                t.wait_for("customers");
                let pid = t.child_pid().expect("the explorer's pid");
                assert!(
                    Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().unwrap().success()
                );
                t.wait_for("the explorer was ended by a signal");
            }
        }
        let screen = t.wait("the shell after the explorer", |s| s.contains("restored") && s.contains("exit "));
        assert!(screen.contains(&format!("exit {code}\n")), "{case}: {screen}");
        assert_eq!(read(&after), read(&before), "{case}: the terminal's settings changed\n{screen}");
    }
}

/// The explorer resized down to 1x1 (and other tiny sizes) and back: no crash, and the size is
/// shown again.
#[test]
fn the_explorer_survives_1x1_and_back() {
    let db = shared_db();
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("segments");
    let data = dir.path().join("data");
    let env = [("SEGLENS_DATA_DIR", data.as_path()), ("SEGLENS_LIBRARY", lib.as_path())];
    let filter = "orders_count > 3";
    let expected = sql_size(db, filter);
    let t = Tmux::start("tiny", &env, &[s(db)], 120, 40);
    t.wait_for("customers");
    t.text(filter);
    t.wait("the size", |s| size_on_screen(s) == Some(expected));
    for (w, h) in [(1, 1), (2, 1), (1, 2), (30, 8), (1, 1), (59, 17), (1, 1)] {
        t.resize(w, h);
    }
    t.resize(40, 10);
    t.wait_for("too small");
    t.resize(1, 1);
    t.resize(120, 40);
    t.wait("the size again", |s| size_on_screen(s) == Some(expected));
    t.quit();
}

// ----------------------------------------------------------------------------------------------
// 6. Long work is bounded

/// Ctrl-C (SIGINT), or SIGTERM, while the pathological filter runs: exit 130 within 3 s of the
/// signal, by DuckDB's interrupt (not by the process being ended after its grace).
#[test]
fn ctrl_c_cancels_a_pathological_filter() {
    let db = shared_db();
    let sb = Sandbox::new();
    for signal in ["INT", "TERM"] {
        let mut child = sb.command(&["size", "--db", s(db), "--", SLOW]).spawn().unwrap();
        common::wait_until_querying(&mut child);
        let sent = common::send_signal(&child, signal);
        let (o, took) = common::ended_after_cancel(child, sent, signal);
        assert_eq!(o.code, 130, "{signal}: {o:?}");
        assert!(o.stderr.contains("query cancelled") && !o.stderr.contains("did not stop"), "{signal}: {o:?}");
        eprintln!("SIG{signal} to exit: {took:?}");
    }
}

/// `--timeout`: exit 130 within 3 s of the timer, by DuckDB's interrupt.
#[test]
fn timeout_cancels_a_pathological_filter() {
    let db = shared_db();
    let sb = Sandbox::new();
    let (child, fired) =
        common::spawn_timed(sb.command(&["size", "--db", s(db), "--timeout", "0.5", "--", SLOW]), b"", 0.5);
    let (o, took) = common::ended_after_cancel(child, fired, "--timeout 0.5");
    assert_eq!(o.code, 130, "{o:?}");
    assert!(o.stderr.contains("query cancelled") && !o.stderr.contains("did not stop"), "{o:?}");
    eprintln!("timer to exit: {took:?}");
}

/// DuckDB does not look at its interrupt while it plans: a 1 MB chain of 46,000 ORs spends over a
/// minute in the optimizer (after a few seconds of work that a cancel does stop). `--timeout`
/// early on, and Ctrl-C once the child has spent 8 s of CPU (in the optimizer, where only the
/// grace in `cli::exit_if_still_running` ends it), still end the command (exit 130) within 3 s of
/// the cancel.
#[test]
fn timeout_and_ctrl_c_bound_a_filter_duckdb_cannot_interrupt() {
    let db = shared_db();
    let mut terms = Vec::new();
    let mut len = 0;
    while len < 1 << 20 {
        let t = format!("customer_id = {}", terms.len());
        len += t.len() + 4;
        terms.push(t);
    }
    let chain = terms.join(" OR ");
    let sb = Sandbox::new();
    let (child, fired) =
        common::spawn_timed(sb.command(&["size", "--db", s(db), "--timeout", "1", "-"]), chain.as_bytes(), 1.0);
    let (o, took) = common::ended_after_cancel(child, fired, "--timeout 1");
    assert_eq!(o.code, 130, "{o:?}");
    assert!(o.stderr.contains("query cancelled"), "{o:?}");
    eprintln!("timer to exit: {took:?}");
    let mut child = sb.command(&["size", "--db", s(db), "-"]).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(chain.as_bytes()).unwrap();
    drop(stdin);
    common::wait_until_querying(&mut child);
    // CPU time, not wall time: the same point of the work however loaded the machine is.
    let deadline = Instant::now() + Duration::from_secs(120);
    while common::cpu_ticks(child.id()).unwrap_or(0) < 800 {
        assert!(child.try_wait().unwrap().is_none() && Instant::now() < deadline, "the child never got to plan");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = common::ctrl_c(&child);
    let (o, took) = common::ended_after_cancel(child, sent, "SIGINT");
    assert_eq!(o.code, 130, "{o:?}");
    assert!(o.stderr.contains("query cancelled (interrupted); DuckDB did not stop"), "{o:?}");
    eprintln!("SIGINT to exit: {took:?}");
}

/// Esc in the explorer cancels the pathological filter: the status line says so, and a valid
/// filter typed afterwards is measured within 3 s of the Esc. Only Esc interrupts the old query
/// (typing after it supersedes nothing still running), so a lost interrupt keeps the worker on
/// the old query for minutes.
#[test]
fn esc_cancels_a_pathological_filter_in_the_explorer() {
    let db = shared_db();
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("segments");
    let data = dir.path().join("data");
    let env = [("SEGLENS_DATA_DIR", data.as_path()), ("SEGLENS_LIBRARY", lib.as_path())];
    let valid = "engagement_score > 60";
    let expected = sql_size(db, valid);
    let t = Tmux::start("esc", &env, &[s(db)], 140, 40);
    t.wait_for("customers");
    t.text(SLOW);
    t.wait("the slow query to run", |s| s.contains("Esc cancels"));
    let esc = Instant::now();
    t.keys(&["Escape"]);
    t.wait("cancelled on the status line", |s| s.lines().rev().take(3).any(|l| l.contains("cancelled")));
    t.backspace(SLOW.chars().count());
    t.text(valid);
    t.wait("the valid filter's size", |s| size_on_screen(s) == Some(expected));
    let took = esc.elapsed();
    assert!(took <= common::CANCEL_BOUND, "the worker was free {took:?} after Esc");
    eprintln!("Esc to the next size on screen: {took:?}");
    t.quit();
}
