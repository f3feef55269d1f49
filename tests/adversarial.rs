//! Adversarial, round two (issue 13): the user's files are sacred, every config file is untrusted
//! input, and exits are as documented. Each test is one attack a hostile colleague or a careless
//! user could make: an export aimed at the database, its WAL, the source file, the library or
//! another export; a multi-file export failing halfway; metrics and features files written by an
//! attacker; version files with absurd numbers or duplicate names; approved files edited by hand;
//! Ctrl-C and --timeout during an export; malformed arguments.
//!
//! Every run is the real binary in a `Sandbox`; waits are polling loops with deadlines, never
//! fixed sleeps. Hashes of a database are taken only while no connection of this process has it
//! open (STYLE.md, POSIX lock pitfall).

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use common::foreign::{Foreign, foreign_db};
use common::{
    CUSTOMERS, Sandbox, count_where, plain, private_db, q_f64, read, run, s, sha256_file, shared_db, snapshot,
};
use seglens::engine::{Engine, OpenOptions};
use seglens::library::Library;

/// A cross join no index or range join can shortcut: 3000³ candidate rows, minutes of work.
const SLOW: &str = "(SELECT count(*) FROM customers a, customers b, customers c \
                    WHERE a.customer_id + b.customer_id > c.customer_id) > 0";

fn file_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Saves `name` with `filter` on `db` and approves it.
fn approved(sb: &Sandbox, db: &Path, name: &str, filter: &str, extra: &[&str]) {
    let mut args = vec!["save", name, "--db", s(db), "--filter", filter];
    args.extend_from_slice(extra);
    sb.seglens(&args).ok();
    sb.seglens(&["approve", name]).ok();
}

/// A version file written by hand (not through seglens).
fn hand_written(sb: &Sandbox, name: &str, file: &str, version: u64, status: &str, filter: &str, priority: i64) {
    let dir = sb.library().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let text = format!(
        "name = \"{name}\"\nversion = {version}\ncreated_at = \"2026-02-27T10:11:12Z\"\nstatus = \"{status}\"\n\
         priority = {priority}\nfilter = '''{filter}'''\n"
    );
    std::fs::write(dir.join(file), text).unwrap();
}

// ----------------------------------------------------------------------------------------------
// 1. An export never writes onto the database, its WAL, the source file or the library

/// Aimed at the open database (a foreign schema), its WAL, the same file by a symlink or through
/// `..`, a version file and features.toml of the library: refused with one line and exit 2,
/// with and without --force; the database and the library are byte for byte unchanged.
#[test]
fn an_export_never_writes_onto_the_database_its_wal_or_the_library() {
    let sb = Sandbox::new();
    let db = foreign_db(sb.path(), Foreign::Shop, 500);
    let (table, key) = (Foreign::Shop.table(), Foreign::Shop.key());
    let opts = ["--table", table, "--key", key];
    approved(&sb, &db, "big-spenders", Foreign::Shop.filter(), &opts);
    std::fs::write(sb.library().join("features.toml"), "[rich]\nsql = \"total_spent > 1000\"\n").unwrap();
    let db_hash = sha256_file(&db);
    let library = snapshot(&sb.library());
    let link = sb.path().join("link.csv");
    std::os::unix::fs::symlink(&db, &link).unwrap();
    std::fs::create_dir(sb.path().join("out")).unwrap();
    let dotdot = sb.path().join("out").join("..").join(db.file_name().unwrap());
    let wal = PathBuf::from(format!("{}.wal", db.display()));
    let targets = [
        (db.clone(), "database"),
        (wal.clone(), "write-ahead log"),
        (link, "database"),
        (dotdot, "database"),
        (sb.library().join("big-spenders").join("v0002.toml"), "template library"),
        (sb.library().join("features.toml"), "template library"),
        (sb.library().join("new.csv"), "template library"),
    ];
    for (target, why) in &targets {
        for force in [false, true] {
            let mut args = vec!["export", "big-spenders", "--db", s(&db), "--out", s(target)];
            args.extend_from_slice(&opts);
            if force {
                args.push("--force");
            }
            sb.seglens(&args).user_error(&["never writes there", *why]);
        }
    }
    // A directory --out inside the library (one file per segment) is refused the same way.
    let library_dir = sb.library();
    let mut args = vec!["export", "big-spenders", "--db", s(&db), "--out", s(&library_dir), "--force"];
    args.extend_from_slice(&opts);
    sb.seglens(&args).user_error(&["template library"]);
    assert!(!wal.exists(), "a WAL file was written");
    assert_eq!(snapshot(&sb.library()), library, "the library changed");
    assert_eq!(sha256_file(&db), db_hash, "the database changed");
    // The same export to a legitimate place works.
    let out = sb.path().join("out").join("spenders.csv");
    let mut args = vec!["export", "big-spenders", "--db", s(&db), "--out", s(&out)];
    args.extend_from_slice(&opts);
    sb.seglens(&args).ok();
    assert!(out.exists());
}

/// A CSV or Parquet file opened as the database is the source of the data: never an export target.
#[test]
fn an_export_never_writes_onto_the_source_csv_or_parquet() {
    let sb = Sandbox::new();
    let csv = sb.path().join("people.csv");
    std::fs::write(&csv, "customer_id,name\n1,Asha\n2,Ravi\n3,Meera\n").unwrap();
    let parquet = sb.path().join("people.parquet");
    {
        let conn = duckdb::Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!(
            "COPY (SELECT * FROM read_csv('{}')) TO '{}' (FORMAT parquet)",
            s(&csv),
            s(&parquet)
        ))
        .unwrap();
    }
    for source in [&csv, &parquet] {
        let lib = sb.path().join(format!("lib-{}", source.extension().unwrap().to_string_lossy()));
        let l = s(&lib);
        sb.seglens(&["save", "everyone", "--db", s(source), "--library", l, "--filter", "TRUE"]).ok();
        sb.seglens(&["approve", "everyone", "--library", l]).ok();
        let before = std::fs::read(source).unwrap();
        for force in [false, true] {
            let mut args = vec!["export", "everyone", "--db", s(source), "--library", l, "--out", s(source)];
            if force {
                args.push("--force");
            }
            sb.seglens(&args).user_error(&["never writes there", "source file"]);
        }
        assert_eq!(std::fs::read(source).unwrap(), before, "{} changed", source.display());
    }
}

/// Another export's manifest, and a file another export's manifest lists, are never replaced.
#[test]
fn an_export_never_replaces_another_exports_manifest_or_file() {
    let db = shared_db();
    let sb = Sandbox::new();
    approved(&sb, db, "buyers", "orders_count > 2", &[]);
    let out = sb.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let a = out.join("a.csv");
    sb.seglens(&["export", "buyers", "--db", s(db), "--out", s(&a)]).ok();
    let manifest = out.join("a.manifest.json");
    let before = std::fs::read(&manifest).unwrap();
    for force in [false, true] {
        let flag: &[&str] = if force { &["--force"] } else { &[] };
        // The manifest itself as the CSV target.
        let mut args = vec!["export", "buyers", "--db", s(db), "--out", s(&manifest)];
        args.extend_from_slice(flag);
        sb.seglens(&args).user_error(&["another export's manifest"]);
        // `a.json` would write its manifest to a.manifest.json, which describes a.csv.
        let mut args = vec!["export", "buyers", "--db", s(db), "--out"];
        let other = out.join("a.json");
        args.push(s(&other));
        args.extend_from_slice(flag);
        sb.seglens(&args).user_error(&["manifest of another export", "a.csv"]);
        assert!(!other.exists());
    }
    assert_eq!(std::fs::read(&manifest).unwrap(), before, "the manifest changed");
    // Re-exporting the same file with --force replaces it and its own manifest: allowed.
    sb.seglens(&["export", "buyers", "--db", s(db), "--out", s(&a), "--force"]).ok();
    // An archived manifest still vouches for a.csv: a.csv is then another export's file.
    std::fs::rename(&manifest, out.join("a-march.manifest.json")).unwrap();
    let csv_before = std::fs::read(&a).unwrap();
    sb.seglens(&["export", "buyers", "--db", s(db), "--out", s(&a), "--force"])
        .user_error(&["belongs to another export", "a-march.manifest.json"]);
    assert_eq!(std::fs::read(&a).unwrap(), csv_before);
}

// ----------------------------------------------------------------------------------------------
// 2. A multi-file export is all or nothing

/// One file per segment: the second file cannot be moved into place (a directory is in its way),
/// so the first one, already renamed, is removed again. Nothing under any final name, no temp.
#[test]
fn a_multi_file_export_failing_midway_leaves_nothing_under_final_names() {
    let db = shared_db();
    let sb = Sandbox::new();
    approved(&sb, db, "first", "orders_count > 2", &["--priority", "1"]);
    approved(&sb, db, "second", "orders_count > 4", &["--priority", "2"]);
    let out = sb.path().join("out");
    std::fs::create_dir_all(out.join("second.csv")).unwrap();
    std::fs::write(out.join("second.csv").join("keep"), "not ours").unwrap();
    let o = sb.seglens(&["export", "first", "second", "--db", s(db), "--out", s(&out), "--force"]);
    o.user_error(&["second.csv"]);
    assert_eq!(file_names(&out), vec!["second.csv".to_string()], "files left after a failed export");
    assert_eq!(read(&out.join("second.csv").join("keep")), "not ours");
}

// ----------------------------------------------------------------------------------------------
// 3. SQL fragments from files get the one-expression guarantee

/// A metric with statements after `;` (a temp view shadowing the entity table would make every
/// later count 0) and one that closes seglens' wrapper (shifting every later column): both are
/// left out with a note naming them; counts and the other metrics stay right.
#[test]
fn a_metrics_file_written_by_an_attacker_is_refused_and_counts_stay_right() {
    let db = shared_db();
    let sb = Sandbox::new();
    let metrics = sb.path().join("metrics.toml");
    std::fs::write(
        &metrics,
        r#"
[[metric]]
name = "shadow"
label = "Shadow"
sql = "1) AS DOUBLE) FROM customers LIMIT 0; CREATE TEMP VIEW customers AS SELECT * FROM main.customers WHERE false; SELECT CAST((1"
format = "number"

[[metric]]
name = "shift"
label = "Shift"
sql = "1) AS DOUBLE), CAST((2"
format = "number"

[[metric]]
name = "spend"
label = "Average spend"
sql = "avg(lifetime_spend)"
format = "money"
"#,
    )
    .unwrap();
    let m = s(&metrics);
    let filter = "orders_count > 2";
    let o = sb.seglens(&["profile", "--db", s(db), "--metrics", m, "--json", "--", filter]).ok();
    let j = o.json();
    let conn = plain(db);
    assert_eq!(j["size"].as_u64(), Some(count_where(&conn, filter)), "{j}");
    assert_eq!(j["base"].as_u64(), Some(CUSTOMERS));
    let names: Vec<&str> = j["metrics"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["spend"], "{j}");
    let want = q_f64(&conn, &format!("SELECT avg(lifetime_spend) FROM customers WHERE {filter}")).unwrap();
    let got = j["metrics"][0]["segment"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-6 * want.abs().max(1.0), "spend {got} vs {want}");
    let notes = j["notes"].to_string();
    assert!(notes.contains("metric shadow left out") && notes.contains("metric shift left out"), "{notes}");
    // And `size` in the same process counts everyone (no view was created).
    let j = sb.seglens(&["size", "--db", s(db), "--metrics", m, "--json", "TRUE"]).ok().json();
    assert_eq!(j["size"].as_u64(), Some(CUSTOMERS));
}

/// Features that call each other twice per level (a doubling chain of 40) would expand to 2^40
/// copies when the file loads: the expansion is bounded, the features past the bound are reported
/// broken by name, the rest work. A body with `;` is refused too.
#[test]
fn a_features_file_written_by_an_attacker_is_bounded_and_named() {
    let db = shared_db();
    let sb = Sandbox::new();
    let mut text = String::from("[f0]\nsql = \"orders_count > 0\"\n[evil]\nsql = \"TRUE; DROP TABLE customers\"\n");
    for i in 1..=40 {
        text.push_str(&format!("[f{i}]\nsql = \"f{p}() OR f{p}()\"\n", p = i - 1));
    }
    std::fs::create_dir_all(sb.library()).unwrap();
    std::fs::write(sb.library().join("features.toml"), text).unwrap();
    let j = sb.seglens(&["features", "--db", s(db), "--json"]).ok().json();
    let broken: Vec<(String, String)> = j["broken"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["name"].as_str().unwrap().to_string(), b["error"].as_str().unwrap().to_string()))
        .collect();
    let reason = |n: &str| broken.iter().find(|(b, _)| b == n).map(|(_, r)| r.clone());
    let f40 = reason("f40").expect("f40 is reported broken");
    assert!(f40.contains("f40") && (f40.contains("levels deep") || f40.contains("MB")), "{f40}");
    let f25 = reason("f25").expect("f25 is reported broken");
    assert!(f25.contains("f25") && f25.contains("MB"), "{f25}");
    assert!(reason("evil").is_some_and(|r| r.contains("';'")), "{broken:?}");
    assert!(reason("f5").is_none(), "{broken:?}");
    let j = sb.seglens(&["size", "--db", s(db), "--json", "f5()"]).ok().json();
    assert_eq!(j["size"].as_u64(), Some(count_where(&plain(db), "orders_count > 0")));
}

/// The depth bound on its own: a chain where each feature calls the one before once (a few bytes
/// of SQL, far from the size bound). 32 nested calls expand; the 33rd is reported broken, by
/// name, as too deep.
#[test]
fn a_feature_chain_past_32_calls_deep_is_named_broken_and_the_rest_load() {
    let db = shared_db();
    let sb = Sandbox::new();
    let mut text = String::from("[g0]\nsql = \"orders_count > 3\"\n");
    for i in 1..=40 {
        text.push_str(&format!("[g{i}]\nsql = \"g{}()\"\n", i - 1));
    }
    std::fs::create_dir_all(sb.library()).unwrap();
    std::fs::write(sb.library().join("features.toml"), text).unwrap();
    let j = sb.seglens(&["features", "--db", s(db), "--json"]).ok().json();
    let broken: Vec<String> = j["broken"].as_array().unwrap().iter().map(|b| b["name"].to_string()).collect();
    let reason =
        |n: &str| j["broken"].as_array().unwrap().iter().find(|b| b["name"] == n).map(|b| b["error"].to_string());
    // g31 is 32 calls deep (g31 … g0); g32 is 33.
    assert!(reason("g31").is_none(), "{broken:?}");
    let g32 = reason("g32").expect("g32 is reported broken");
    assert!(g32.contains("g32") && g32.contains("32 levels deep") && !g32.contains("MB"), "{g32}");
    assert_eq!(broken.len(), 9, "g32 to g40: {broken:?}");
    let j = sb.seglens(&["size", "--db", s(db), "--json", "g31()"]).ok().json();
    assert_eq!(j["size"].as_u64(), Some(count_where(&plain(db), "orders_count > 3")));
    // Used anyway: the warning says why it is missing, and DuckDB then knows no such function.
    let o = sb.seglens(&["size", "--db", s(db), "g32()"]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("feature g32 not loaded: feature g32 calls features more than 32 levels deep"), "{o:?}");
}

// ----------------------------------------------------------------------------------------------
// 5. No panics

/// A hand-made version file with the largest version number: save and approve say so (exit 2)
/// instead of overflowing. A large but ordinary number (9999) just goes on to 10000.
#[test]
fn the_largest_version_number_is_an_error_not_an_overflow() {
    let db = shared_db();
    let sb = Sandbox::new();
    hand_written(&sb, "top", &format!("v{}.toml", u32::MAX), u64::from(u32::MAX), "draft", "orders_count > 1", 100);
    sb.seglens(&["save", "top", "--db", s(db), "--filter", "orders_count > 2"]).user_error(&["largest version number"]);
    sb.seglens(&["approve", "top"]).user_error(&["largest version number"]);
    sb.seglens(&["retire", "top"]).user_error(&["largest version number"]);
    hand_written(&sb, "high", "v9999.toml", 9999, "draft", "orders_count > 1", 100);
    let j = sb.seglens(&["save", "high", "--db", s(db), "--filter", "orders_count > 2", "--json"]).ok().json();
    assert_eq!(j["version"], 10000);
    assert!(sb.library().join("high").join("v10000.toml").exists());
}

/// `--timeout` that is not a time (inf, nan, negative, zero, text) is one line and exit 2, not a
/// panic or a silent zero; a value too large for a timer means no timeout.
#[test]
fn timeouts_that_are_not_a_time_are_refused() {
    let db = shared_db();
    let sb = Sandbox::new();
    for v in ["inf", "-inf", "nan", "NaN", "-1", "0", "soon", "infinity"] {
        let arg = format!("--timeout={v}");
        sb.seglens(&["size", "--db", s(db), &arg, "TRUE"]).user_error(&["--timeout"]);
    }
    for v in ["1e300", "18446744073709551616", "3600"] {
        let j = sb.seglens(&["size", "--db", s(db), "--timeout", v, "--json", "TRUE"]).ok().json();
        assert_eq!(j["size"].as_u64(), Some(CUSTOMERS), "--timeout {v}");
    }
}

// ----------------------------------------------------------------------------------------------
// 6. Exit codes as documented

/// Two segments to separate files; the second runs the pathological filter. Hand-written drafts
/// (exported with --allow-draft), since saving would measure the slow one.
fn slow_export_library(sb: &Sandbox) -> PathBuf {
    hand_written(sb, "quick", "v0001.toml", 1, "draft", "orders_count > 1", 1);
    hand_written(sb, "slow", "v0001.toml", 1, "draft", SLOW, 2);
    let out = sb.path().join("out");
    std::fs::create_dir(&out).unwrap();
    out
}

fn no_final_names(out: &Path) {
    let left = file_names(out);
    for segment in ["quick", "slow"] {
        for ext in ["csv", "manifest.json", "members"] {
            let name = format!("{segment}.{ext}");
            assert!(!left.contains(&name), "{name} under its final name: {left:?}");
        }
    }
}

/// `--timeout` during an export: exit 130 within 3 s of the timer, nothing under a final name.
#[test]
fn timeout_during_an_export_exits_130_with_nothing_under_the_final_names() {
    let db = shared_db();
    let sb = Sandbox::new();
    let out = slow_export_library(&sb);
    let args = ["export", "quick", "slow", "--allow-draft", "--db", s(db), "--out", s(&out), "--timeout", "1"];
    let (child, fired) = common::spawn_timed(sb.command(&args), b"", 1.0);
    let (o, _) = common::ended_after_cancel(child, fired, "--timeout 1 during an export");
    assert_eq!(o.code, 130, "{o:?}");
    assert!(o.stderr.contains("cancelled"), "{o:?}");
    no_final_names(&out);
}

/// Ctrl-C during an export: exit 130 within 3 s of the signal, nothing under a final name.
#[test]
fn ctrl_c_during_an_export_exits_130_with_nothing_under_the_final_names() {
    let db = shared_db();
    let sb = Sandbox::new();
    let out = slow_export_library(&sb);
    let mut child =
        sb.command(&["export", "quick", "slow", "--allow-draft", "--db", s(db), "--out", s(&out)]).spawn().unwrap();
    common::wait_until_querying(&mut child);
    let sent = common::ctrl_c(&child);
    let (o, _) = common::ended_after_cancel(child, sent, "SIGINT during an export");
    assert_eq!(o.code, 130, "{o:?}");
    assert!(o.stderr.contains("cancelled"), "{o:?}");
    no_final_names(&out);
}

/// A missing or unreadable --metrics or --filter-file is the user's to fix: exit 2, one line
/// naming the file. (A directory stands in for an unreadable file: tests may run as root.)
#[test]
fn a_missing_or_unreadable_metrics_or_filter_file_is_exit_2() {
    let db = shared_db();
    let sb = Sandbox::new();
    let missing = sb.path().join("missing.toml");
    let dir = sb.path().join("a-directory");
    std::fs::create_dir(&dir).unwrap();
    for p in [&missing, &dir] {
        sb.seglens(&["size", "--db", s(db), "--metrics", s(p), "TRUE"]).user_error(&["metrics file", s(p)]);
        sb.seglens(&["save", "x", "--db", s(db), "--filter-file", s(p)]).user_error(&["filter file", s(p)]);
    }
}

/// Argument errors (an unknown option, a missing argument, a non-UTF-8 argument) are one line,
/// exit 2, like every other user error; --help and --version still print in full, exit 0.
#[test]
fn argument_errors_are_one_line_and_help_still_prints() {
    let sb = Sandbox::new();
    sb.seglens(&["size", "--bogus", "TRUE"]).user_error(&["--bogus"]);
    sb.seglens(&["size"]).user_error(&["FILTER"]);
    sb.seglens(&["schema", "stray"]).user_error(&["unexpected argument", "stray"]);
    let mut c = sb.command(&["size", "--db", s(shared_db())]);
    c.arg(OsStr::from_bytes(b"orders_count > \xff"));
    run(c, "").user_error(&["UTF-8"]);
    let o = sb.seglens(&["--help"]).ok();
    assert!(o.stdout.contains("Usage") && o.stdout.lines().count() > 10, "{o:?}");
    let o = sb.seglens(&["export", "--help"]).ok();
    assert!(o.stdout.contains("--excel-safe"), "{o:?}");
    let o = sb.seglens(&["--version"]).ok();
    assert!(o.stdout.starts_with("seglens "), "{o:?}");
}

// ----------------------------------------------------------------------------------------------
// 7. Approval cannot be edited around

#[test]
fn an_approved_file_edited_afterwards_or_written_by_hand_is_not_exported() {
    let db = shared_db();
    let sb = Sandbox::new();
    approved(&sb, db, "buyers", "orders_count > 2", &[]);
    let v2 = sb.library().join("buyers").join("v0002.toml");
    assert!(read(&v2).contains("approval_sha256"), "{}", read(&v2));
    let out = sb.path().join("buyers.csv");
    sb.seglens(&["export", "buyers", "--db", s(db), "--out", s(&out)]).ok();
    // Edited in place after approval: refused, naming the file.
    let text = read(&v2).replace("orders_count > 2", "orders_count > 0");
    std::fs::write(&v2, text).unwrap();
    sb.seglens(&["export", "buyers", "--db", s(db), "--out", s(&out), "--force"])
        .user_error(&["v0002.toml", "changed after it was approved"]);
    // Saving the edited file unchanged does not launder it into an approved version.
    sb.seglens(&["save", "buyers", "--db", s(db)]).ok();
    let latest = Library::open(sb.library()).load("buyers", None).unwrap();
    assert_eq!(latest.status, seglens::library::Status::Draft, "{latest:?}");
    // Approving it again (a person looked at it) makes it exportable.
    sb.seglens(&["approve", "buyers@2"]).ok();
    sb.seglens(&["export", "buyers", "--db", s(db), "--out", s(&out), "--force"]).ok();
    // A file written by hand that just says approved.
    hand_written(&sb, "forged", "v0001.toml", 1, "approved", "TRUE", 5);
    let forged = sb.path().join("forged.csv");
    sb.seglens(&["export", "forged", "--db", s(db), "--out", s(&forged)])
        .user_error(&["forged/v0001.toml", "no approval hash"]);
    assert!(!forged.exists());
    // A forged approved suppression is refused too (it would silently drop customers).
    let text = read(&sb.library().join("forged").join("v0001.toml")).replace("priority = 5", "kind = \"suppression\"");
    std::fs::write(sb.library().join("forged").join("v0001.toml"), text).unwrap();
    sb.seglens(&["export", "buyers", "--db", s(db), "--out", s(&out), "--force"])
        .user_error(&["forged/v0001.toml", "no approval hash"]);
}

/// Every part the approval hash covers, edited alone in an approved file, is refused by export and
/// by `sql --all-approved`, naming the file: the priority (which segment an exclusive export gives a
/// customer to), the kind (a segment turned suppression drops customers from every other export),
/// a parameter's default and type, and the body and parameters of a feature recorded with it. The
/// file as approved exports before and after each edit.
#[test]
fn an_approved_files_priority_kind_params_and_feature_bodies_are_covered_by_its_approval() {
    let db = shared_db();
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.library()).unwrap();
    std::fs::write(sb.library().join("features.toml"), "[frequent]\nparams = [\"n\"]\nsql = \"orders_count >= n\"\n")
        .unwrap();
    approved(&sb, db, "buyers", "frequent({{n}}) AND churn_risk < 0.5", &["--param-def", "n:int=2", "--priority", "3"]);
    let v2 = sb.library().join("buyers").join("v0002.toml");
    let as_approved = read(&v2);
    let out = sb.path().join("buyers.csv");
    let dbt = sb.path().join("dbt");
    let export = || sb.seglens(&["export", "buyers", "--db", s(db), "--out", s(&out), "--force"]);
    let models = || sb.seglens(&["sql", "--all-approved", "--db", s(db), "--out", s(&dbt), "--force"]);
    let written = || file_names(sb.path()).into_iter().filter(|n| n.starts_with("buyers.")).collect::<Vec<_>>();
    export().ok();
    models().ok();
    let exported = read(&out);
    assert_eq!(written(), ["buyers.csv", "buyers.manifest.json", "buyers.members"]);
    let edits = [
        ("priority = 3", "priority = 4"),
        ("kind = \"segment\"", "kind = \"suppression\""),
        ("default = 2", "default = 3"),
        ("type = \"int\"", "type = \"float\""),
        ("sql = \"orders_count >= n\"", "sql = \"orders_count >= n OR TRUE\""),
        ("params = [\"n\"]\nsql = \"orders_count >= n\"", "params = [\"m\"]\nsql = \"orders_count >= m\""),
    ];
    for (from, to) in edits {
        assert_eq!(as_approved.matches(from).count(), 1, "{from:?} once in:\n{as_approved}");
        std::fs::write(&v2, as_approved.replace(from, to)).unwrap();
        for f in written() {
            std::fs::remove_file(sb.path().join(f)).unwrap();
        }
        export().user_error(&["buyers/v0002.toml", "changed after it was approved"]);
        assert!(written().is_empty(), "{to:?}: an export was written: {:?}", written());
        models().user_error(&["buyers/v0002.toml", "changed after it was approved"]);
        std::fs::write(&v2, &as_approved).unwrap();
        export().ok();
        assert_eq!(read(&out), exported, "{to:?}: restored, the file exports as before");
    }
}

/// A filter approved while a name in it was a DuckDB function (`abs`) expands to a feature once
/// features.toml defines one of that name; the approval recorded no such feature, so export and
/// `sql --all-approved` refuse it, one line, nothing written, until it is approved again.
#[test]
fn a_feature_not_recorded_at_approval_is_refused() {
    let db = shared_db();
    let sb = Sandbox::new();
    approved(&sb, db, "steady", "abs(churn_risk - 0.5) < 0.2", &[]);
    let out = sb.path().join("steady.csv");
    let dbt = sb.path().join("dbt");
    sb.seglens(&["export", "steady", "--db", s(db), "--out", s(&out)]).ok();
    let want = count_where(&plain(db), "abs(churn_risk - 0.5) < 0.2");
    assert_eq!(read(&out).lines().count() as u64, want + 1, "the header and one line a customer");
    std::fs::remove_file(&out).unwrap();
    std::fs::create_dir_all(sb.library()).unwrap();
    std::fs::write(sb.library().join("features.toml"), "[abs]\nparams = [\"x\"]\nsql = \"(x) * 0\"\n").unwrap();
    let advice = ["uses feature abs", "not recorded", "`seglens save steady`", "`seglens approve steady`"];
    sb.seglens(&["export", "steady", "--db", s(db), "--out", s(&out)])
        .user_error(&[&["steady/v0002.toml"][..], &advice].concat());
    assert!(!out.exists());
    sb.seglens(&["sql", "--all-approved", "--db", s(db), "--out", s(&dbt)])
        .user_error(&[&["steady@2"][..], &advice].concat());
    assert!(!dbt.exists(), "models were written");
    // Approving the same version again changes nothing (the same content, still without it).
    sb.seglens(&["approve", "steady@2"]).ok();
    sb.seglens(&["export", "steady", "--db", s(db), "--out", s(&out)]).user_error(&advice);
    // As the message says: saved, the feature is recorded (a draft); approved, it exports as it
    // now reads.
    sb.seglens(&["save", "steady", "--db", s(db)]).ok();
    let t = Library::open(sb.library()).load("steady", None).unwrap();
    assert!(t.features.contains_key("abs") && t.status == seglens::library::Status::Draft, "{t:?}");
    sb.seglens(&["export", "steady", "--db", s(db), "--out", s(&out)]).user_error(&advice);
    sb.seglens(&["approve", "steady"]).ok();
    let again = sb.path().join("steady-again.csv");
    sb.seglens(&["export", "steady", "--db", s(db), "--out", s(&again)]).ok();
    let now = count_where(&plain(db), "(churn_risk - 0.5) * 0 < 0.2");
    assert_ne!(now, want, "the feature changes the segment");
    assert_eq!(read(&again).lines().count() as u64, now + 1, "the segment as it now reads");
}

/// The starter templates, installed through seglens, carry their approval hash and export.
#[test]
fn approved_starter_templates_still_export() {
    let db = shared_db();
    let sb = Sandbox::new();
    let lib = Library::open(sb.library());
    let engine = Engine::open(db, &OpenOptions::default()).unwrap();
    let n = seglens::cli::starter::install_starters(&lib, &engine).unwrap();
    drop(engine);
    assert!(n >= 8, "{n} starters");
    let t = lib.load("lapsed-high-value", None).unwrap();
    assert!(t.verify_approval().is_ok() && t.approval_sha256.is_some(), "{t:?}");
    let out = sb.path().join("lhv.csv");
    let j = sb.seglens(&["export", "lapsed-high-value", "--db", s(db), "--out", s(&out), "--json"]).ok().json();
    assert_eq!(j["suppressions"].as_array().map(Vec::len), Some(2), "{j}");
}

// ----------------------------------------------------------------------------------------------
// 8-11. Duplicate version files, leading zeros, unreadable views, spreadsheet formulas

#[test]
fn duplicate_version_files_are_errors_listed_once() {
    let db = shared_db();
    let sb = Sandbox::new();
    sb.seglens(&["save", "dup", "--db", s(db), "--filter", "orders_count > 2"]).ok();
    let dir = sb.library().join("dup");
    // Each duplicate says something else: were one read, its filter would show.
    let original = read(&dir.join("v0001.toml"));
    for (extra, other) in [("v1.toml", "orders_count > 7"), ("v01.toml", "region = 'North India'")] {
        std::fs::write(dir.join(extra), original.replace("orders_count > 2", other)).unwrap();
    }
    let o = sb.seglens(&["history", "dup", "--json"]).ok();
    assert_eq!(o.json().as_array().map(Vec::len), Some(1), "{o:?}");
    assert_eq!(o.json()[0]["filter"], "orders_count > 2", "{o:?}");
    assert_eq!(sb.seglens(&["show", "dup@1", "--json"]).ok().json()["filter"], "orders_count > 2");
    let size = sb.seglens(&["size", "dup", "--db", s(db), "--json"]).ok().json()["size"].as_u64();
    assert_eq!(size, Some(count_where(&plain(db), "orders_count > 2")));
    for extra in ["v1.toml", "v01.toml"] {
        assert_eq!(o.stderr.matches(&format!("dup/{extra}")).count(), 1, "{extra}: {}", o.stderr);
    }
    assert!(!o.stderr.contains("dup/v0001.toml"), "{}", o.stderr);
    let o = sb.seglens(&["list", "--db", s(db), "--json"]).ok();
    let j = o.json();
    assert_eq!(j["segments"].as_array().map(Vec::len), Some(1), "{j}");
    let errors = j["errors"].to_string();
    for extra in ["v1.toml", "v01.toml"] {
        assert_eq!(errors.matches(&format!("dup/{extra}")).count(), 1, "{errors}");
    }
}

/// An undeclared `{{c}}` given `007` is the text '007' (a leading zero means text), not 7.
#[test]
fn a_leading_zero_means_text() {
    let db = shared_db();
    let sb = Sandbox::new();
    let j = sb.seglens(&["sql", "--db", s(db), "-p", "c=007", "--json", "city = {{c}}"]).ok().json();
    assert!(j["sql"].as_str().unwrap().contains("'007'"), "{j}");
    assert_eq!(j["params"]["c"], "007", "{j}");
    let j = sb.seglens(&["sql", "--db", s(db), "-p", "c=70", "--json", "orders_count = {{c}}"]).ok().json();
    assert_eq!(j["params"]["c"], 70, "{j}");
}

/// A view over an external file (which a read-only seglens may not read): `schema` lists it, says
/// why it cannot be read, and lists everything else.
#[test]
fn schema_lists_a_view_it_cannot_read_and_goes_on() {
    let sb = Sandbox::new();
    let db = private_db(sb.path());
    let csv = sb.path().join("extra.csv");
    std::fs::write(&csv, "customer_id,note\n1,hello\n").unwrap();
    {
        let conn = duckdb::Connection::open(&db).unwrap();
        conn.execute_batch(&format!("CREATE VIEW extra_notes AS SELECT * FROM read_csv('{}'); CHECKPOINT;", s(&csv)))
            .unwrap();
    }
    std::fs::remove_file(&csv).unwrap();
    let o = sb.seglens(&["schema", "--db", s(&db), "--json"]).ok();
    let j = o.json();
    let tables = j["tables"].as_array().unwrap();
    let view = tables.iter().find(|t| t["name"] == "extra_notes").expect("the view is listed");
    assert!(view["unreadable"].as_str().is_some_and(|w| !w.is_empty()), "{view}");
    let customers = tables.iter().find(|t| t["name"] == "customers").expect("customers listed");
    assert_eq!(customers["rows"].as_u64(), Some(CUSTOMERS));
    let o = sb.seglens(&["schema", "--db", s(&db)]).ok();
    assert!(o.stdout.contains("extra_notes — cannot be read"), "{}", o.stdout);
}

/// `--excel-safe` prefixes cells a spreadsheet would run as formulas; the default exports values
/// exactly as stored.
#[test]
fn excel_safe_prefixes_formula_cells_and_the_default_is_exact() {
    let sb = Sandbox::new();
    let csv = sb.path().join("people.csv");
    // TAB and CR lead cells too (OWASP): quoted, since a CR is a line break to CSV.
    std::fs::write(
        &csv,
        "customer_id,name\n1,=HYPERLINK(A1)\n2,+1+1\n3,-2+3\n4,@SUM(A1)\n5,plain\n6,a=b\n7,\"\t=1+1\"\n8,\"\r@SUM(A1)\"\n",
    )
    .unwrap();
    sb.seglens(&["save", "everyone", "--db", s(&csv), "--filter", "TRUE"]).ok();
    sb.seglens(&["approve", "everyone"]).ok();
    let exact = sb.path().join("exact.csv");
    let safe = sb.path().join("safe.csv");
    sb.seglens(&["export", "everyone", "--db", s(&csv), "--out", s(&exact), "--columns", "customer_id,name"]).ok();
    sb.seglens(&[
        "export",
        "everyone",
        "--db",
        s(&csv),
        "--out",
        s(&safe),
        "--columns",
        "customer_id,name",
        "--excel-safe",
    ])
    .ok();
    let cells = |p: &Path| -> Vec<String> {
        let mut r = csv::ReaderBuilder::new().has_headers(true).from_path(p).unwrap();
        r.records().map(|rec| rec.unwrap()[2].to_string()).collect()
    };
    let (exact_cells, safe_cells) = (cells(&exact), cells(&safe));
    assert!(exact_cells.iter().any(|c| c.starts_with("=HYPERLINK")), "{exact_cells:?}");
    assert!(exact_cells.iter().any(|c| c == "+1+1") && exact_cells.iter().any(|c| c == "@SUM(A1)"));
    assert!(
        exact_cells.iter().any(|c| c == "\t=1+1") && exact_cells.iter().any(|c| c == "\r@SUM(A1)"),
        "{exact_cells:?}"
    );
    assert!(
        safe_cells.iter().any(|c| c == "'\t=1+1") && safe_cells.iter().any(|c| c == "'\r@SUM(A1)"),
        "{safe_cells:?}"
    );
    assert_eq!(exact_cells.len(), safe_cells.len());
    let mut prefixed = 0;
    for (e, s) in exact_cells.iter().zip(&safe_cells) {
        if e.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            assert_eq!(*s, format!("'{e}"));
            prefixed += 1;
        } else {
            assert_eq!(s, e);
        }
    }
    assert_eq!(prefixed, 6, "{safe_cells:?}");
    let m: serde_json::Value = serde_json::from_str(&read(&sb.path().join("safe.manifest.json"))).unwrap();
    assert_eq!(m["excel_safe"], true);
}
