//! Export of approved segments to CSV through the binary: contents row by row against plain SQL
//! (suppressions, exclusive assignment, quoting, NULLs), the manifest and its hash, no overwrite
//! without --force, and no partial file left behind when writing fails.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;

const COLUMNS: &str = "customer_id,email,region,city,lifetime_spend,last_order_date,engagement_score";
const SEG_A: &str = "region = 'West India'";
const SEG_B: &str = "orders_count > 3";
const SUPP: &str = "unsubscribed";

/// seg-a (priority 10), seg-b (priority 20) and the suppression supp, all approved.
fn library_with_segments(sb: &Sandbox, db: &Path) {
    let d = s(db);
    sb.seglens(&["save", "seg-a", "--db", d, "--filter", SEG_A, "--priority", "10"]).ok();
    sb.seglens(&["save", "seg-b", "--db", d, "--filter", SEG_B, "--priority", "20"]).ok();
    sb.seglens(&["save", "supp", "--db", d, "--filter", SUPP, "--kind", "suppression", "--priority", "0"]).ok();
    for n in ["seg-a", "seg-b", "supp"] {
        sb.seglens(&["approve", n]).ok();
    }
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r.records().map(|rec| rec.unwrap().iter().map(String::from).collect()).collect();
    (header, rows)
}

/// The expected rows for `cond` in plain SQL: the columns as text, NULL as an empty field.
fn expected(conn: &duckdb::Connection, cond: &str, segment: Option<&str>) -> Vec<Vec<String>> {
    let list = COLUMNS.split(',').map(|c| format!("CAST({c} AS VARCHAR)")).collect::<Vec<_>>().join(", ");
    q_rows(conn, &format!("SELECT {list} FROM customers WHERE {cond} ORDER BY customer_id"))
        .into_iter()
        .map(|r| segment.map(String::from).into_iter().chain(r.into_iter().map(Option::unwrap_or_default)).collect())
        .collect()
}

fn header(segment_column: bool) -> Vec<String> {
    segment_column.then(|| "segment".to_string()).into_iter().chain(COLUMNS.split(',').map(String::from)).collect()
}

fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn one_csv_with_suppressions_applied_and_duplicates_kept() {
    let db = shared_db();
    let c = plain(db);
    let sb = Sandbox::new();
    library_with_segments(&sb, db);
    let out = sb.path().join("holi.csv");
    // Named in the opposite order of priority: the file still follows priority.
    let o = sb.seglens(&["export", "seg-b", "seg-a", "--db", s(db), "--out", s(&out), "--columns", COLUMNS]).ok();
    assert!(o.stdout.contains("suppressed: supp@2"), "{}", o.stdout);
    let (h, rows) = read_csv(&out);
    assert_eq!(h, header(true));
    let not_supp = format!("NOT coalesce(({SUPP}), false)");
    let mut want = expected(&c, &format!("({SEG_A}) AND {not_supp}"), Some("seg-a"));
    want.extend(expected(&c, &format!("({SEG_B}) AND {not_supp}"), Some("seg-b")));
    assert_eq!(rows.len(), want.len());
    for (i, (got, w)) in rows.iter().zip(&want).enumerate() {
        assert_eq!(got, w, "row {i}");
    }
    // Suppressed customers are absent; customers in both segments appear twice.
    let unsub: BTreeSet<String> = q_rows(&c, &format!("SELECT customer_id::VARCHAR FROM customers WHERE {SUPP}"))
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    assert!(!unsub.is_empty());
    assert!(rows.iter().all(|r| !unsub.contains(&r[1])), "a suppressed customer was exported");
    let both = count_where(&c, &format!("({SEG_A}) AND ({SEG_B}) AND {not_supp}"));
    assert!(both > 0);
    let ids: Vec<&String> = rows.iter().map(|r| &r[1]).collect();
    let distinct: BTreeSet<&String> = ids.iter().copied().collect();
    assert_eq!((ids.len() - distinct.len()) as u64, both, "duplicates across segments");

    // --no-suppress keeps the unsubscribed.
    let out2 = sb.path().join("all.csv");
    sb.seglens(&["export", "seg-a", "--db", s(db), "--out", s(&out2), "--columns", COLUMNS, "--no-suppress"]).ok();
    let (_, rows) = read_csv(&out2);
    assert_eq!(rows, expected(&c, SEG_A, Some("seg-a")));
}

#[test]
fn exclusive_assigns_each_customer_to_the_highest_priority_segment() {
    let db = shared_db();
    let c = plain(db);
    let sb = Sandbox::new();
    library_with_segments(&sb, db);
    let out = sb.path().join("exclusive.csv");
    sb.seglens(&["export", "seg-b", "seg-a", "--exclusive", "--db", s(db), "--out", s(&out), "--columns", COLUMNS])
        .ok();
    let (h, rows) = read_csv(&out);
    assert_eq!(h, header(true));
    let not_supp = format!("NOT coalesce(({SUPP}), false)");
    let mut want = expected(&c, &format!("({SEG_A}) AND {not_supp}"), Some("seg-a"));
    want.extend(expected(&c, &format!("({SEG_B}) AND NOT coalesce(({SEG_A}), false) AND {not_supp}"), Some("seg-b")));
    assert_eq!(rows, want);
    let ids: Vec<&String> = rows.iter().map(|r| &r[1]).collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "a customer exported twice");
    // The same figures as the engine's overlap, exclusive counts.
    let j = sb
        .seglens(&["overlap", "--db", s(db), "--json", "-s", "seg-a", "-s", "seg-b", "--suppress", "supp"])
        .ok()
        .json();
    let seg_b_rows = rows.iter().filter(|r| r[0] == "seg-b").count() as u64;
    assert_eq!(j["segments"][1]["exclusive"].as_u64(), Some(seg_b_rows));
}

#[test]
fn one_file_per_segment_when_out_is_a_directory() {
    let db = shared_db();
    let c = plain(db);
    let sb = Sandbox::new();
    library_with_segments(&sb, db);
    let dir = sb.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    let j = sb
        .seglens(&["export", "seg-a", "seg-b", "--db", s(db), "--out", s(&dir), "--columns", COLUMNS, "--json"])
        .ok()
        .json();
    assert_eq!(j["files"].as_array().unwrap().len(), 2);
    assert_eq!(
        files_in(&dir),
        BTreeSet::from(
            ["seg-a.csv", "seg-a.manifest.json", "seg-a.members", "seg-b.csv", "seg-b.manifest.json", "seg-b.members"]
                .map(String::from)
        )
    );
    let not_supp = format!("NOT coalesce(({SUPP}), false)");
    for (name, f) in [("seg-a", SEG_A), ("seg-b", SEG_B)] {
        let (h, rows) = read_csv(&dir.join(format!("{name}.csv")));
        assert_eq!(h, header(false), "{name}: no segment column");
        assert_eq!(rows, expected(&c, &format!("({f}) AND {not_supp}"), None), "{name}");
    }
}

#[test]
fn commas_quotes_newlines_and_nulls_are_quoted_and_read_back() {
    let sb = Sandbox::new();
    let data = sb.path().join("people.csv");
    let values = [
        (1, Some("plain")),
        (2, Some("comma, inside")),
        (3, Some("quote \" inside")),
        (4, Some("new\nline")),
        (5, None),
        (6, Some("crlf\r\nx")),
        (7, Some("unicode ✓ मराठी")),
        (8, Some("\"")),
        (9, Some(" leading and trailing ")),
        (10, Some("semi;colon,\"all\"\nof it")),
    ];
    {
        let conn = duckdb::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE p (customer_id INTEGER, note VARCHAR)").unwrap();
        for (id, v) in &values {
            conn.execute("INSERT INTO p VALUES (?, ?)", duckdb::params![id, v]).unwrap();
        }
        conn.execute_batch(&format!("COPY p TO '{}' (HEADER)", s(&data))).unwrap();
    }
    // What DuckDB reads back from that file is the data seglens segments.
    let reader = duckdb::Connection::open_in_memory().unwrap();
    let want: Vec<(String, Option<String>)> = q_rows(
        &reader,
        &format!("SELECT customer_id::VARCHAR, note FROM read_csv('{}') ORDER BY customer_id", s(&data)),
    )
    .into_iter()
    .map(|r| (r[0].clone().unwrap(), r[1].clone()))
    .collect();
    for (id, v) in &values {
        let got = &want[*id as usize - 1];
        assert_eq!((got.0.as_str(), got.1.as_deref()), (id.to_string().as_str(), *v), "DuckDB's own round trip");
    }
    let d = s(&data);
    sb.seglens(&["save", "everyone", "--db", d, "--filter", "TRUE"]).ok();
    sb.seglens(&["approve", "everyone"]).ok();
    let out = sb.path().join("people-export.csv");
    sb.seglens(&["export", "everyone", "--db", d, "--out", s(&out)]).ok();
    let (h, rows) = read_csv(&out);
    assert_eq!(h, ["segment", "customer_id", "note"]);
    let got: Vec<(String, String)> = rows.iter().map(|r| (r[1].clone(), r[2].clone())).collect();
    let want: Vec<(String, String)> = want.into_iter().map(|(id, v)| (id, v.unwrap_or_default())).collect();
    assert_eq!(got, want);
    assert!(rows.iter().all(|r| r.len() == 3 && r[0] == "everyone"));
    // RFC 4180 on the wire: a quote is doubled inside a quoted field; the NULL is an empty field.
    let text = read(&out);
    assert!(text.contains("\"quote \"\" inside\""), "{text}");
    assert!(text.contains("\"comma, inside\""), "{text}");
    assert!(text.contains("everyone,5,\n"), "{text}");
}

/// NULL and the empty string stay apart in the CSV, as DuckDB's COPY writes them: NULL an empty
/// field, '' a quoted empty field. Read back by DuckDB (quoted values never NULL), each is itself.
#[test]
fn null_and_the_empty_string_stay_apart_in_the_csv() {
    let sb = Sandbox::new();
    let db = sb.path().join("notes.duckdb");
    {
        let c = duckdb::Connection::open(&db).unwrap();
        c.execute_batch(
            r#"CREATE TABLE "Pen Pals" (pal_ref VARCHAR PRIMARY KEY, "Nick Name" VARCHAR, score INTEGER);
               INSERT INTO "Pen Pals" VALUES ('p-1', NULL, 1), ('p-2', '', 2), ('p-3', ' ', 3), ('p-4', 'x', NULL), ('p-5', '""', 5);"#,
        )
        .unwrap();
    }
    let d = s(&db);
    sb.seglens(&["save", "all-pals", "--db", d, "--filter", "TRUE"]).ok();
    sb.seglens(&["approve", "all-pals"]).ok();
    let out = sb.path().join("pals.csv");
    sb.seglens(&["export", "all-pals", "--db", d, "--out", s(&out)]).ok();
    let text = read(&out);
    assert!(text.contains("all-pals,p-1,,1\n"), "{text}");
    assert!(text.contains("all-pals,p-2,\"\",2\n"), "{text}");
    assert!(text.contains("all-pals,p-4,x,\n"), "{text}");
    let c = duckdb::Connection::open_in_memory().unwrap();
    let got = q_rows(
        &c,
        &format!(
            r#"SELECT pal_ref, "Nick Name", score::VARCHAR FROM read_csv('{}', allow_quoted_nulls = false, all_varchar = true) ORDER BY 1"#,
            s(&out)
        ),
    );
    let source = duckdb::Connection::open(&db).unwrap();
    let want = q_rows(&source, r#"SELECT pal_ref, "Nick Name", score::VARCHAR FROM "Pen Pals" ORDER BY 1"#);
    assert_eq!(got, want);
}

#[test]
fn manifest_records_the_export_and_the_files_hash() {
    let db = shared_db();
    let c = plain(db);
    let sb = Sandbox::new();
    library_with_segments(&sb, db);
    let out = sb.path().join("campaign.csv");
    let j = sb.seglens(&["export", "seg-a", "seg-b", "--db", s(db), "--out", s(&out), "--json"]).ok().json();
    let manifest_path = sb.path().join("campaign.manifest.json");
    let m: serde_json::Value = serde_json::from_str(&read(&manifest_path)).expect("manifest JSON");
    let sha = sha256_file(&out);
    assert_eq!(m["sha256"].as_str(), Some(sha.as_str()));
    assert_eq!(j["files"][0]["sha256"].as_str(), Some(sha.as_str()));
    assert_eq!(m["file"], "campaign.csv");
    let (h, rows) = read_csv(&out);
    assert_eq!(m["rows"].as_u64(), Some(rows.len() as u64));
    let cols: Vec<&str> = m["columns"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(cols, h[1..].iter().map(String::as_str).collect::<Vec<_>>());
    let segs = m["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 2);
    let not_supp = format!("NOT coalesce(({SUPP}), false)");
    for (seg, (name, f)) in segs.iter().zip([("seg-a", SEG_A), ("seg-b", SEG_B)]) {
        assert_eq!(seg["name"], name);
        assert_eq!(seg["version"], 2, "the approved version");
        assert_eq!(seg["filter"], f);
        assert!(seg["sql"].as_str().unwrap().contains(f), "{seg}");
        assert_eq!(seg["rows"].as_u64(), Some(count_where(&c, &format!("({f}) AND {not_supp}"))));
        assert!(seg["params"].is_object());
    }
    let supp = m["suppressions"].as_array().unwrap();
    assert_eq!(supp.len(), 1);
    assert_eq!(
        (supp[0]["name"].as_str(), supp[0]["version"].as_u64(), supp[0]["filter"].as_str()),
        (Some("supp"), Some(2), Some(SUPP))
    );
    assert_eq!(m["exclusive"], false);
    let fp = &m["database"];
    assert_eq!(fp["rows"].as_u64(), Some(CUSTOMERS));
    assert_eq!(fp["table"], "customers");
    assert_eq!(fp["bytes"].as_u64(), Some(std::fs::metadata(db).unwrap().len()));
    assert_eq!(fp["path"].as_str(), Some(s(&std::fs::canonicalize(db).unwrap())));
    for k in ["duckdb_version", "seglens_version", "created_at"] {
        assert!(!m[k].as_str().unwrap_or("").is_empty(), "manifest lacks {k}: {m}");
    }
    assert!(chrono::DateTime::parse_from_rfc3339(m["created_at"].as_str().unwrap()).is_ok());
    // In directory mode every file has its own manifest with its own hash.
    let dir = sb.path().join("per-segment");
    std::fs::create_dir(&dir).unwrap();
    sb.seglens(&["export", "seg-a", "seg-b", "--db", s(db), "--out", s(&dir)]).ok();
    for name in ["seg-a", "seg-b"] {
        let m: serde_json::Value = serde_json::from_str(&read(&dir.join(format!("{name}.manifest.json")))).unwrap();
        assert_eq!(m["sha256"].as_str(), Some(sha256_file(&dir.join(format!("{name}.csv"))).as_str()), "{name}");
        assert_eq!(m["segments"][0]["name"], name);
    }
}

#[test]
fn an_export_never_overwrites_without_force() {
    let db = shared_db();
    let sb = Sandbox::new();
    library_with_segments(&sb, db);
    let out = sb.path().join("x.csv");
    sb.seglens(&["export", "seg-a", "--db", s(db), "--out", s(&out)]).ok();
    let before = sha256_file(&out);
    let manifest = sb.path().join("x.manifest.json");
    let manifest_before = read(&manifest);
    sb.seglens(&["export", "seg-b", "--db", s(db), "--out", s(&out)]).user_error(&["x.csv", "--force"]);
    assert_eq!(sha256_file(&out), before);
    assert_eq!(read(&manifest), manifest_before);
    // A manifest in the way blocks too.
    let out2 = sb.path().join("y.csv");
    std::fs::write(sb.path().join("y.manifest.json"), "keep me").unwrap();
    sb.seglens(&["export", "seg-b", "--db", s(db), "--out", s(&out2)]).user_error(&["y.manifest.json", "--force"]);
    assert!(!out2.exists());
    assert_eq!(read(&sb.path().join("y.manifest.json")), "keep me");
    // --force replaces both.
    sb.seglens(&["export", "seg-b", "--db", s(db), "--out", s(&out), "--force"]).ok();
    assert_ne!(sha256_file(&out), before);
    let (_, rows) = read_csv(&out);
    assert!(rows.iter().all(|r| r[0] == "seg-b"));
    let leftovers: Vec<String> = files_in(sb.path()).into_iter().filter(|n| n.ends_with(".partial")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The names in `dir` that belong to an export to `target` (final or temporary).
fn export_leftovers(dir: &Path, target: &str) -> Vec<String> {
    let stem = target.trim_end_matches(".csv");
    files_in(dir).into_iter().filter(|n| n.contains(stem) || n.ends_with(".partial")).collect()
}

/// A write that fails half way (the file size limit, which binds root too; SIGXFSZ ignored so
/// the write returns EFBIG): an error, and nothing under the final name nor a temp file left.
#[test]
fn a_failed_export_leaves_no_partial_file() {
    let db = shared_db();
    let sb = Sandbox::new();
    library_with_segments(&sb, db);
    let dir = sb.path().join("limited");
    std::fs::create_dir(&dir).unwrap();
    let out = dir.join("big.csv");
    let args = ["export", "seg-a", "seg-b", "--no-suppress", "--db", s(db), "--out", s(&out)];
    let limited = sb.shell("trap '' XFSZ; ulimit -f 40; exec \"$0\" \"$@\"", &args);
    let o = run(limited, "");
    assert_ne!(o.code, 0, "the export should have failed: {o:?}");
    assert!(o.code == 2 || o.code == 1, "{o:?}");
    assert!(o.stderr.to_lowercase().contains("too large"), "{}", o.stderr);
    assert!(export_leftovers(&dir, "big.csv").is_empty(), "left behind: {:?}", files_in(&dir));
    assert!(files_in(&dir).is_empty(), "{:?}", files_in(&dir));
    // The same export without the limit works (so the limit was the cause).
    sb.seglens(&args).ok();
    assert!(out.exists());

    // A directory that is not there: an error, nothing created.
    let nowhere = sb.path().join("no/such/dir/x.csv");
    let o = sb.seglens(&["export", "seg-a", "--db", s(db), "--out", s(&nowhere)]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(!sb.path().join("no").exists());

    // A read-only directory, where permissions bind (not for root): the same guarantee.
    let ro = sb.path().join("read-only");
    std::fs::create_dir(&ro).unwrap();
    set_mode(&ro, 0o555);
    let probe = ro.join("probe");
    let enforced = std::fs::write(&probe, "x").is_err();
    let _ = std::fs::remove_file(&probe);
    if enforced {
        let o = sb.seglens(&["export", "seg-a", "--db", s(db), "--out", s(&ro.join("x.csv"))]);
        assert_eq!(o.code, 2, "{o:?}");
        assert!(files_in(&ro).is_empty(), "{:?}", files_in(&ro));
    } else {
        eprintln!(
            "note: running as root, a read-only directory does not stop writes; the file size limit above is the failure tested"
        );
    }
    set_mode(&ro, 0o755);
}

/// The row count check (the count, then the rows, each a statement of its own) catches a filter
/// that answers differently each time it runs: `random()`, here in four segments so that the
/// chance of every count matching by luck is about 10⁻⁸. Exit 2, the line says so, and nothing is
/// left: no CSV, manifest or members file, no temporary file.
#[test]
fn rows_that_do_not_match_the_count_are_refused_and_nothing_is_written() {
    let db = shared_db();
    let sb = Sandbox::new();
    let names = ["coin-1", "coin-2", "coin-3", "coin-4"];
    for n in names {
        sb.seglens(&["save", n, "--db", s(db), "--filter", "random() < 0.5"]).ok();
    }
    let dir = sb.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    let mut args = vec!["export", "--allow-draft", "--db", s(db)];
    args.extend(names);
    for out in [dir.join("coins.csv"), dir.clone()] {
        let mut args = args.clone();
        args.extend(["--out", s(&out)]);
        sb.seglens(&args).user_error(&["rows but the segment has", "answered differently", "nothing was written"]);
        assert!(files_in(&dir).is_empty(), "{:?}", files_in(&dir));
    }
    // A deterministic filter of the same shape exports.
    sb.seglens(&["save", "half", "--db", s(db), "--filter", "hash(customer_id) % 2 = 0"]).ok();
    sb.seglens(&["export", "half", "--allow-draft", "--db", s(db), "--out", s(&dir.join("half.csv"))]).ok();
    assert_eq!(files_in(&dir), ["half.csv", "half.manifest.json", "half.members"].map(String::from).into());
}

/// Temp files of an export that was killed (kill -9 is tested in tests/reliability.rs) are removed
/// by the next export to the same file once nothing has written to them for an hour and no live
/// export holds them locked; other files stay.
#[test]
fn an_abandoned_partial_file_is_removed_by_the_next_export() {
    let db = shared_db();
    let sb = Sandbox::new();
    library_with_segments(&sb, db);
    let at = |n: &str| sb.path().join(n);
    let abandoned = at(".x.csv.AbCd12.partial");
    let fresh = at(".x.csv.XyZ789.partial");
    let held = at(".x.csv.Held01.partial");
    let other_target = at(".y.csv.Q1w2e3.partial");
    let not_ours = at(".x.csv.notours12.partial");
    let all = [&abandoned, &fresh, &held, &other_target, &not_ours];
    for p in all {
        std::fs::write(p, "customer_id\n1\n").unwrap();
    }
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    for p in all.iter().filter(|p| **p != &fresh) {
        std::fs::File::options().write(true).open(p).unwrap().set_modified(two_hours_ago).unwrap();
    }
    // A long export still writing elsewhere holds its finished temp file locked.
    let lock = std::fs::File::open(&held).unwrap();
    lock.lock().unwrap();
    sb.seglens(&["export", "seg-a", "--db", s(db), "--out", s(&at("x.csv"))]).ok();
    assert!(!abandoned.exists(), "{:?}", files_in(sb.path()));
    assert!(fresh.exists(), "written to a minute ago: may be a running export's");
    assert!(held.exists(), "locked by a live export");
    assert!(other_target.exists() && not_ours.exists(), "not this export's temp files");
    drop(lock);
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_draft_is_not_exported_without_allow_draft() {
    let db = shared_db();
    let c = plain(db);
    let sb = Sandbox::new();
    let d = s(db);
    sb.seglens(&["save", "draft-seg", "--db", d, "--filter", "sms_opt_in"]).ok();
    let out = sb.path().join("d.csv");
    sb.seglens(&["export", "draft-seg", "--db", d, "--out", s(&out)]).user_error(&["draft-seg", "no approved version"]);
    sb.seglens(&["export", "draft-seg@1", "--db", d, "--out", s(&out)]).user_error(&["draft-seg@1", "not approved"]);
    assert!(!out.exists());
    assert!(files_in(sb.path()).iter().all(|n| !n.starts_with("d.") && !n.ends_with(".partial")));
    sb.seglens(&["export", "draft-seg", "--db", d, "--out", s(&out), "--allow-draft"]).ok();
    let (_, rows) = read_csv(&out);
    assert_eq!(rows.len() as u64, count_where(&c, "sms_opt_in"));
    // Approved, then changed (a new draft): the approved version is what goes out.
    sb.seglens(&["approve", "draft-seg"]).ok();
    sb.seglens(&["save", "draft-seg", "--db", d, "--filter", "sms_opt_in AND push_opt_in"]).ok();
    let out2 = sb.path().join("approved.csv");
    sb.seglens(&["export", "draft-seg", "--db", d, "--out", s(&out2)]).ok();
    let (_, rows) = read_csv(&out2);
    assert_eq!(rows.len() as u64, count_where(&c, "sms_opt_in"));
    let m: serde_json::Value = serde_json::from_str(&read(&sb.path().join("approved.manifest.json"))).unwrap();
    assert_eq!(m["segments"][0]["version"], 2);
    // Unknown segment: exit 2.
    sb.seglens(&["export", "nobody", "--db", d, "--out", s(&sb.path().join("n.csv"))]).user_error(&["nobody"]);
}
