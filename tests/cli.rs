//! The real `seglens` binary, driven as a script would: JSON shapes and figures against plain SQL,
//! exit codes (0 ok, 2 user error with one line on stderr, 130 cancelled) and the database file's
//! bytes unchanged after every command.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A filter whose scalar subquery is a 3000³ cross product: minutes of work.
const SLOW: &str = "(SELECT count(*) FROM customers a, customers b, customers c \
                    WHERE (a.customer_id * 7 + b.customer_id * 13 + c.customer_id) % 1009 = 3) > 0";

fn content_hash(db: &Path) -> String {
    let c = plain(db);
    let mut out = String::new();
    for t in ["customers", "events"] {
        let h = q_str(
            &c,
            &format!(
                "SELECT count(*)::VARCHAR || ':' || md5(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY CAST(t AS VARCHAR))) FROM {t} t"
            ),
        );
        out.push_str(&format!("{t}={} ", h.unwrap()));
    }
    out
}

#[test]
fn sample_is_deterministic_and_never_overwrites_without_force() {
    let sb = Sandbox::new();
    let a = sb.path().join("a.duckdb");
    let b = sb.path().join("b.duckdb");
    let other = sb.path().join("other.duckdb");
    let generation = |out: &Path, seed: &str, extra: &[&str]| {
        let mut args = vec!["sample", "--customers", "400", "--seed", seed, "--as-of", "2026-03-01", "--out", s(out)];
        args.extend_from_slice(extra);
        sb.seglens(&args)
    };
    let o = generation(&a, "3", &["--json"]).ok();
    let j = o.json();
    assert_eq!(
        (j["customers"].as_u64(), j["seed"].as_u64(), j["as_of"].as_str()),
        (Some(400), Some(3), Some("2026-03-01"))
    );
    generation(&b, "3", &[]).ok();
    generation(&other, "4", &[]).ok();
    let ha = content_hash(&a);
    assert!(ha.starts_with("customers=400:"), "{ha}");
    assert_eq!(ha, content_hash(&b), "same seed and as-of, different data");
    assert_ne!(ha, content_hash(&other), "a different seed gave the same data");
    // Dates are laid out before the as-of day.
    let c = plain(&a);
    assert_eq!(
        q_str(&c, "SELECT max(signup_date)::VARCHAR FROM customers").map(|d| d.as_str() < "2026-03-01"),
        Some(true)
    );
    assert_eq!(q_i64(&c, "SELECT count(*) FROM customers WHERE last_login_date >= DATE '2026-03-01'"), 0);
    drop(c);

    // No overwrite without --force: exit 2, one line, the file untouched.
    let bytes = sha256_file(&a);
    generation(&a, "4", &[]).user_error(&["exists", "--force"]);
    assert_eq!(sha256_file(&a), bytes);
    generation(&a, "3", &["--force"]).ok();
    assert_eq!(content_hash(&a), ha);
    generation(&a, "4", &["--force"]).ok();
    assert_eq!(content_hash(&a), content_hash(&other));
    // Bad arguments.
    sb.seglens(&["sample", "--customers", "10", "--as-of", "2026-02-30", "--out", s(&sb.path().join("z.duckdb"))])
        .user_error(&["2026-02-30"]);
    sb.seglens(&["sample", "--customers", "0", "--out", s(&sb.path().join("z.duckdb"))]).user_error(&["customers"]);
    let leftovers: Vec<String> = std::fs::read_dir(sb.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".seglens-sample"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn size_json_matches_plain_sql() {
    let db = shared_db();
    let c = plain(db);
    let sb = Sandbox::new();
    for f in ["region = 'West India' AND orders_count > 1", "TRUE", "engagement_score > 70"] {
        let o = sb.seglens(&["size", "--db", s(db), "--json", f]).ok();
        let j = o.json();
        let mut keys: Vec<&String> = j.as_object().expect("object").keys().collect();
        keys.sort();
        assert_eq!(keys, ["base", "share", "size"], "{}", o.stdout);
        let want = count_where(&c, f);
        assert_eq!(j["size"].as_u64(), Some(want), "{f}");
        assert_eq!(j["base"].as_u64(), Some(CUSTOMERS));
        assert!((j["share"].as_f64().unwrap() - want as f64 / CUSTOMERS as f64).abs() < 1e-12);
    }
    // Human output: the figures with separators.
    let want = count_where(&c, "orders_count > 0");
    let o = sb.seglens(&["size", "--db", s(db), "orders_count > 0"]).ok();
    let human = |n: u64| {
        let s = n.to_string();
        if s.len() > 3 { format!("{},{}", &s[..s.len() - 3], &s[s.len() - 3..]) } else { s }
    };
    assert!(o.stdout.contains(&human(want)) && o.stdout.contains("3,000"), "{}", o.stdout);
    // The filter from stdin, several lines with a comment.
    let text = "region = 'South India'\n  -- only buyers\n  AND orders_count > 0\n";
    let o = sb.seglens_stdin(&["size", "--db", s(db), "--json", "-"], text).ok();
    assert_eq!(o.json()["size"].as_u64(), Some(count_where(&c, "region = 'South India' AND orders_count > 0")));
    // A large filter on stdin (beyond a command-line argument's 128 KiB).
    let big = format!("customer_id IN ({})", (1..=30_000).map(|i| i.to_string()).collect::<Vec<_>>().join(", "));
    assert!(big.len() > 128 * 1024);
    let o = sb.seglens_stdin(&["size", "--db", s(db), "--json", "-"], &big).ok();
    assert_eq!(o.json()["size"].as_u64(), Some(CUSTOMERS));
}

#[test]
fn params_on_the_command_line() {
    let db = shared_db();
    let c = plain(db);
    let sb = Sandbox::new();
    let size = |args: &[&str]| -> u64 {
        let mut all = vec!["size", "--db", s(db), "--json"];
        all.extend_from_slice(args);
        sb.seglens(&all).ok().json()["size"].as_u64().unwrap()
    };
    assert_eq!(size(&["--param", "min=5", "orders_count >= {{min}}"]), count_where(&c, "orders_count >= 5"));
    assert_eq!(size(&["-p", "r=West India", "region = {{r}}"]), count_where(&c, "region = 'West India'"));
    assert_eq!(size(&["-p", "r=O'Brien", "region = {{r}}"]), 0);
    assert_eq!(size(&["-p", "r=x' OR '1'='1", "region = {{ r }}"]), 0);
    assert_eq!(
        size(&["-p", "langs=mr,gu", "language IN (SELECT unnest({{langs}}))"]),
        count_where(&c, "language IN ('mr', 'gu')")
    );
    assert_eq!(
        size(&["-p", "d=2025-12-01", "signup_date >= {{d}}"]),
        count_where(&c, "signup_date >= DATE '2025-12-01'")
    );
    assert_eq!(size(&["-p", "n=-5", "customer_id -{{n}} = 12"]), 1);
    assert_eq!(
        size(&["-p", "x=0.5", "-p", "n=2", "churn_risk > {{x}} AND orders_count > {{n}}"]),
        count_where(&c, "churn_risk > 0.5 AND orders_count > 2")
    );
    // Unknown and missing placeholders: exit 2, one line naming them.
    let o = sb.seglens(&["size", "--db", s(db), "--param", "nope=1", "orders_count > 1"]);
    o.user_error(&["nope"]);
    let o = sb.seglens(&["size", "--db", s(db), "orders_count > {{min}}"]);
    o.user_error(&["{{min}}", "--param min="]);
    let o = sb.seglens(&["size", "--db", s(db), "--param", "novalue", "orders_count > {{novalue}}"]);
    o.user_error(&["NAME=VALUE"]);
}

#[test]
fn profile_by_region_json() {
    let db = shared_db();
    let c = plain(db);
    let f = "orders_count > 0 AND engagement_score > 40";
    let o = Sandbox::new().seglens(&["profile", "--db", s(db), "--by", "region", "--top", "4", "--json", f]).ok();
    let j = o.json();
    let size = count_where(&c, f);
    assert_eq!(j["size"].as_u64(), Some(size));
    assert_eq!(j["base"].as_u64(), Some(CUSTOMERS));
    assert!((j["share"].as_f64().unwrap() - size as f64 / CUSTOMERS as f64).abs() < 1e-12);
    let metrics = j["metrics"].as_array().expect("metrics");
    // No workspace names this database: the metrics are inferred from its schema, and say so.
    assert_eq!(j["metrics_source"]["kind"], "inferred", "{j}");
    let open = metrics.iter().find(|m| m["name"] == "email_opens_90d_rate").expect("email_opens_90d_rate");
    let want =
        q_f64(&c, &format!("SELECT sum(email_opens_90d)::DOUBLE / sum(email_sends_90d) FROM customers WHERE {f}"))
            .unwrap();
    assert!((open["segment"].as_f64().unwrap() - want).abs() < 1e-12, "{open}");
    let base = q_f64(&c, "SELECT sum(email_opens_90d)::DOUBLE / sum(email_sends_90d) FROM customers").unwrap();
    assert!((open["base"].as_f64().unwrap() - base).abs() < 1e-12);
    assert!((open["lift"].as_f64().unwrap() - want / base).abs() < 1e-9);
    for m in metrics {
        for k in ["name", "label", "format", "segment", "base", "lift"] {
            assert!(m.get(k).is_some(), "metric lacks {k}: {m}");
        }
    }
    let b = &j["breakdown"];
    assert_eq!(b["column"], "region");
    let rows = b["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let want = q_rows(
        &c,
        &format!(
            "SELECT region, count(*)::VARCHAR FROM customers WHERE {f} GROUP BY 1 ORDER BY count(*) DESC, region LIMIT 4"
        ),
    );
    for (r, w) in rows.iter().zip(&want) {
        assert_eq!(r["value"].as_str(), w[0].as_deref());
        assert_eq!(r["count"].as_u64().map(|n| n.to_string()), w[1].clone());
    }
    let shown: u64 = rows.iter().map(|r| r["count"].as_u64().unwrap()).sum();
    assert_eq!(b["other_count"].as_u64(), Some(size - shown));
    assert_eq!(b["other_values"].as_u64(), Some(9 - 4));
    let u = &j["unsegmentable"];
    assert_eq!(u["count"].as_u64(), Some(count_where(&c, "orders_count IS NULL OR engagement_score IS NULL")));
    // Human output carries the same numbers.
    let o = Sandbox::new().seglens(&["profile", "--db", s(db), "--by", "region", f]).ok();
    assert!(o.stdout.contains("Email opens 90d rate") && o.stdout.contains("by region"), "{}", o.stdout);
    assert!(o.stdout.contains("metrics inferred from the schema"), "{}", o.stdout);
    // An unknown --by column: exit 2 naming it.
    Sandbox::new().seglens(&["profile", "--db", s(db), "--by", "nope", f]).user_error(&["nope"]);
}

#[test]
fn rows_limit() {
    let db = shared_db();
    let c = plain(db);
    let f = "language = 'mr'";
    let sb = Sandbox::new();
    let o = sb.seglens(&["rows", "--db", s(db), "--limit", "5", "--columns", "customer_id,email,city", f]).ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 2 + 5, "header, rule, 5 rows: {}", o.stdout);
    assert!(lines[0].starts_with("customer_id") && lines[0].contains("email") && lines[0].contains("city"));
    assert!(lines[1].starts_with("---"));
    let want = q_rows(
        &c,
        &format!(
            "SELECT customer_id::VARCHAR, email, coalesce(city, 'NULL') FROM customers WHERE {f} ORDER BY customer_id LIMIT 5"
        ),
    );
    for (line, w) in lines[2..].iter().zip(&want) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[0], w[0].as_deref().unwrap(), "{line}");
        assert_eq!(cells[1], w[1].as_deref().unwrap(), "{line}");
        assert!(line.trim_end().ends_with(w[2].as_deref().unwrap()), "{line}");
    }
    let o = sb.seglens(&["rows", "--db", s(db), "--limit", "5", "--json", f]).ok();
    let j = o.json();
    assert_eq!(j["rows"].as_array().unwrap().len(), 5);
    let cols: Vec<&str> = j["columns"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let ncols = q_i64(&c, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'customers'");
    assert_eq!(cols.len() as i64, ncols, "{cols:?}");
    assert_eq!(cols[0], "customer_id");
    // Typed: the BIGINT key is a JSON number.
    let ids: Vec<String> = j["rows"].as_array().unwrap().iter().map(|r| r[0].as_i64().unwrap().to_string()).collect();
    let want_ids: Vec<String> = want.iter().map(|r| r[0].clone().unwrap()).collect();
    assert_eq!(ids, want_ids);
    sb.seglens(&["rows", "--db", s(db), "--columns", "nope", f]).user_error(&["nope"]);
}

#[test]
fn overlap_json_shape_and_figures() {
    let db = shared_db();
    let c = plain(db);
    let segs =
        [("west", "region = 'West India'"), ("buyers", "orders_count >= 2"), ("engaged", "engagement_score > 60")];
    let mut args = vec!["overlap".to_string(), "--db".into(), s(db).into(), "--json".into()];
    for (n, f) in segs {
        args.push("--segment".into());
        args.push(format!("{n}={f}"));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let j = Sandbox::new().seglens(&argv).ok().json();
    let m = |f: &str| format!("coalesce(({f}), false)");
    let entries = j["segments"].as_array().expect("segments");
    assert_eq!(entries.len(), 3);
    for (i, (e, (n, f))) in entries.iter().zip(segs).enumerate() {
        assert_eq!(e["name"], n, "priority order");
        assert_eq!(e["size"].as_u64(), Some(count_where(&c, f)));
        let higher: Vec<String> = segs[..i].iter().map(|(_, h)| m(h)).collect();
        let excl = if higher.is_empty() { m(f) } else { format!("{} AND NOT ({})", m(f), higher.join(" OR ")) };
        assert_eq!(e["exclusive"].as_u64(), Some(count_where(&c, &excl)), "exclusive {n}");
    }
    let pairs = j["pairs"].as_array().expect("pairs");
    assert_eq!(pairs.len(), 3);
    for p in pairs {
        let find = |name: &str| segs.iter().find(|(n, _)| *n == name).unwrap().1;
        let (a, b) = (p["a"].as_str().unwrap(), p["b"].as_str().unwrap());
        let inter = count_where(&c, &format!("({}) AND ({})", find(a), find(b)));
        assert_eq!(p["intersection"].as_u64(), Some(inter), "{a} ∩ {b}");
        let union = count_where(&c, &format!("{} OR {}", m(find(a)), m(find(b))));
        assert!((p["jaccard"].as_f64().unwrap() - inter as f64 / union as f64).abs() < 1e-12);
    }
    assert_eq!(
        j["none"].as_u64(),
        Some(count_where(&c, &format!("NOT ({})", segs.iter().map(|(_, f)| m(f)).collect::<Vec<_>>().join(" OR "))))
    );
    // No segments, or a bad one: exit 2.
    Sandbox::new().seglens(&["overlap", "--db", s(db)]).user_error(&["--segment"]);
    Sandbox::new().seglens(&["overlap", "--db", s(db), "--segment", "not-a-template"]).user_error(&["not-a-template"]);
}

#[test]
fn schema_json() {
    let db = shared_db();
    let c = plain(db);
    let j = Sandbox::new().seglens(&["schema", "--db", s(db), "--json"]).ok().json();
    assert_eq!((j["table"].as_str(), j["key"].as_str()), (Some("customers"), Some("customer_id")));
    let tables = j["tables"].as_array().unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["customers", "events"]);
    assert_eq!(tables[0]["rows"].as_u64(), Some(CUSTOMERS));
    assert_eq!(tables[0]["is_entity"], true);
    assert_eq!(tables[1]["rows"].as_i64(), Some(q_i64(&c, "SELECT count(*) FROM events")));
    let cols = tables[0]["columns"].as_array().unwrap();
    let city = cols.iter().find(|c| c["name"] == "city").unwrap();
    let share = count_where(&c, "city IS NULL") as f64 / CUSTOMERS as f64;
    assert!((city["null_share"].as_f64().unwrap() - share).abs() < 1e-12);
    assert_eq!(city["ty"], "VARCHAR");
    // Human output lists both tables.
    let o = Sandbox::new().seglens(&["schema", "--db", s(db)]).ok();
    assert!(
        o.stdout.contains("customers") && o.stdout.contains("events") && o.stdout.contains("entity table"),
        "{}",
        o.stdout
    );
}

#[test]
fn open_errors_have_exit_2_and_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::new();
    let missing = dir.path().join("missing.duckdb");
    sb.seglens(&["size", "--db", s(&missing), "TRUE"]).user_error(&["missing.duckdb", "no such file"]);
    assert!(!missing.exists());
    let text = dir.path().join("notes.duckdb");
    std::fs::write(&text, "this is not a database\n").unwrap();
    sb.seglens(&["size", "--db", s(&text), "TRUE"]).user_error(&["notes.duckdb", "not a DuckDB database"]);
    assert_eq!(std::fs::read_to_string(&text).unwrap(), "this is not a database\n");
    sb.seglens(&["schema", "--db", s(dir.path())]).user_error(&["directory"]);
    // No table to segment.
    let empty = dir.path().join("empty.duckdb");
    duckdb::Connection::open(&empty).unwrap().execute_batch("CREATE TABLE t AS SELECT 1 AS x").unwrap();
    sb.seglens(&["size", "--db", s(&empty), "TRUE"]).user_error(&["--table"]);
    // A key that is not unique.
    let dups = dir.path().join("dups.duckdb");
    duckdb::Connection::open(&dups)
        .unwrap()
        .execute_batch("CREATE TABLE customers AS SELECT * FROM (VALUES (1), (1), (2)) t(customer_id)")
        .unwrap();
    sb.seglens(&["size", "--db", s(&dups), "TRUE"]).user_error(&["not unique", "--key"]);
    // --table / --key override the detection, and are checked.
    sb.seglens(&["size", "--db", s(shared_db()), "--table", "events", "--key", "customer_id", "TRUE"])
        .user_error(&["not unique"]);
    let two = dir.path().join("two.duckdb");
    duckdb::Connection::open(&two)
        .unwrap()
        .execute_batch(
            "CREATE TABLE customers AS SELECT range AS customer_id, range % 2 = 0 AS even FROM range(10);
             CREATE TABLE people AS SELECT range AS pid, range % 5 = 0 AS fifth FROM range(25);",
        )
        .unwrap();
    let o = sb.seglens(&["size", "--db", s(&two), "--json", "even"]).ok().json();
    assert_eq!((o["size"].as_u64(), o["base"].as_u64()), (Some(5), Some(10)));
    let o = sb.seglens(&["size", "--db", s(&two), "--table", "people", "--key", "pid", "--json", "fifth"]).ok().json();
    assert_eq!((o["size"].as_u64(), o["base"].as_u64()), (Some(5), Some(25)));
    sb.seglens(&["size", "--db", s(&two), "--table", "nope", "TRUE"]).user_error(&["nope", "people"]);
    sb.seglens(&["size", "--db", s(&two), "--table", "people", "--key", "nope", "TRUE"]).user_error(&["nope", "--key"]);
}

#[test]
fn bad_filters_exit_2_with_the_position() {
    let db = shared_db();
    let sb = Sandbox::new();
    sb.seglens(&["size", "--db", s(db), "orders_count > 0\n  AND no_such_col = 1"])
        .user_error(&["no_such_col", "line 2"]);
    sb.seglens(&["size", "--db", s(db), "1=1; DROP TABLE customers"]).user_error(&["';'"]);
    sb.seglens(&["size", "--db", s(db), "region = 'West"]).user_error(&["unterminated"]);
    sb.seglens(&["size", "--db", s(db), "1=1) OR (1=1"]).user_error(&["unbalanced"]);
    sb.seglens(&["size", "--db", s(db), "   "]).user_error(&["empty"]);
    sb.seglens(&["size", "--db", s(db), "EXISTS (SELECT 1 FROM read_text('/etc/hostname'))"]).user_error(&[]);
    sb.seglens(&["size", "--db", s(db), "EXISTS (SELECT 1 FROM glob('/etc/*'))"]).user_error(&[]);
    sb.seglens(&["size", "--db", s(db), "region + 1 > 'x'"]).user_error(&[]);
}

/// The database locked by a writer in another process: exit 2, "locked", and a copy suggested.
/// The writer is this test binary re-run in holder mode (plain duckdb crate, no seglens code),
/// and also Python's duckdb when it is installed.
#[test]
fn a_locked_database_is_reported() {
    if LockHolder::hold_if_asked() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = private_db(dir.path());
    let mut holders: Vec<(&str, Command)> = Vec::new();
    holders.push(("rust child", LockHolder::this_test("a_locked_database_is_reported", &db)));
    let python = Command::new("python3").args(["-c", "import duckdb"]).stderr(Stdio::null()).status();
    if python.is_ok_and(|s| s.success()) {
        let mut py = Command::new("python3");
        py.args([
            "-c",
            "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(60)",
            s(&db),
        ]);
        holders.push(("python", py));
    }
    let sb = Sandbox::new();
    for (who, cmd) in holders {
        let holder = LockHolder::spawn(cmd);
        let started = Instant::now();
        let o = sb.seglens(&["size", "--db", s(&db), "TRUE"]);
        assert!(started.elapsed() < Duration::from_secs(20), "{who}: waited on the lock");
        o.user_error(&["locked", "copy"]);
        drop(holder);
        // Released: the same command now works.
        let o = sb.seglens(&["size", "--db", s(&db), "--json", "TRUE"]).ok();
        assert_eq!(o.json()["size"].as_u64(), Some(CUSTOMERS), "{who}");
    }
}

#[test]
fn timeout_cancels_a_slow_filter() {
    let db = shared_db();
    let sb = Sandbox::new();
    let (child, fired) = spawn_timed(sb.command(&["size", "--db", s(db), "--timeout", "0.2", SLOW]), b"", 0.2);
    let (o, _) = ended_after_cancel(child, fired, "--timeout 0.2");
    assert_eq!(o.code, 130, "{o:?}");
    assert!(o.stderr.contains("cancelled"), "{}", o.stderr);
    // A quick query is not affected by a generous timeout.
    let o = sb.seglens(&["size", "--db", s(db), "--timeout", "30", "--json", "orders_count > 0"]).ok();
    assert_eq!(o.json()["size"].as_u64(), Some(count_where(&plain(db), "orders_count > 0")));
}

/// Every command, hostile ones included, leaves the database's bytes as they were and adds no
/// file beside it; so do the explorer's background views (hygiene, compare, movement). The
/// commands are those clap knows: a subcommand with no run listed here fails the test.
#[test]
fn database_bytes_unchanged_after_every_command() {
    use clap::CommandFactory;
    let dir = tempfile::tempdir().unwrap();
    let db = private_db(dir.path());
    let d = s(&db).to_string();
    let sb = Sandbox::new();
    let at = |name: &str| s(&sb.path().join(name)).to_string();
    let (out, cells, manifest, sample, metrics, dbt) =
        (at("export.csv"), at("cells.csv"), at("export.manifest.json"), at("sample.duckdb"), at("m.toml"), at("dbt"));
    let before = sha256_file(&db);
    let template = sb.path().join("filter.sql");
    std::fs::write(&template, "region = 'West India'\n  AND orders_count > {{n}} AND frequent(2)\n").unwrap();
    std::fs::create_dir_all(sb.library()).unwrap();
    std::fs::write(sb.library().join("features.toml"), "[frequent]\nparams = [\"n\"]\nsql = \"orders_count >= n\"\n")
        .unwrap();
    let t = s(&template).to_string();
    let save_west = ["save", "west", "--db", &d, "--filter-file", &t, "--param-def", "n:int=1", "--priority", "5"];
    let save_arms = [
        "save",
        "armed",
        "--db",
        &d,
        "--filter",
        "orders_count > 0",
        "--arms",
        "control=0.2,treatment=0.8",
        "--salt",
        "s1",
    ];
    let runs: Vec<(Vec<&str>, i32)> = vec![
        (vec!["sample", "--customers", "50", "--as-of", "2026-03-01", "--out", &sample], 0),
        (vec!["schema", "--db", &d], 0),
        (vec!["schema", "--db", &d, "--json"], 0),
        (vec!["size", "--db", &d, "TRUE"], 0),
        (vec!["size", "--db", &d, "--json", "-p", "r=West India", "region = {{r}}"], 0),
        (vec!["profile", "--db", &d, "--by", "language", "orders_count > 0"], 0),
        (vec!["rows", "--db", &d, "--limit", "3", "churn_risk > 0.5"], 0),
        (
            vec![
                "overlap",
                "--db",
                &d,
                "-s",
                "a=orders_count > 1",
                "-s",
                "b=sms_opt_in",
                "--suppress",
                "u=unsubscribed",
            ],
            0,
        ),
        (vec!["features", "--db", &d], 0),
        (vec!["sql", "--db", &d, "orders_count > 1"], 0),
        (vec!["sql", "--db", &d, "--dialect", "postgres", "frequent(3)"], 0),
        (save_west.to_vec(), 0),
        (vec!["save", "west", "--db", &d, "--filter", "region = 'West India' AND frequent(2)", "--priority", "5"], 0),
        (vec!["approve", "west"], 0),
        (save_arms.to_vec(), 0),
        (vec!["approve", "armed"], 0),
        (vec!["list", "--db", &d], 0),
        (vec!["show", "west@1"], 0),
        (vec!["history", "west", "--db", &d], 0),
        (vec!["diff", "west", "1", "2"], 0),
        (vec!["size", "--db", &d, "west"], 0),
        (vec!["check", "--db", &d], 0),
        (vec!["funnel", "--db", &d, "region = 'West India' AND orders_count > 1 AND sms_opt_in"], 0),
        (vec!["hygiene", "--db", &d, "--as-of", "2026-03-01"], 0),
        (vec!["compare", "--db", &d, "west", "orders_count > 3"], 0),
        (vec!["split", "--db", &d, "west", "--by", "language"], 0),
        (vec!["split", "--db", &d, "west", "--by", "language", "--save"], 0),
        (vec!["arms", "--db", &d, "armed"], 0),
        (vec!["metrics", "--db", &d], 0),
        (vec!["metrics", "--db", &d, "--init", "--out", &metrics], 0),
        (vec!["sql", "--db", &d, "--all-approved", "--dialect", "postgres", "--out", &dbt], 0),
        (vec!["export", "west", "armed", "--db", &d, "--out", &out], 0),
        (vec!["export", "west", "--db", &d, "--split-by", "language", "--out", &cells], 0),
        (vec!["changes", "west", "--db", &d, "--since", &manifest], 0),
        (vec!["movement", "--db", &d, "--from", &manifest], 0),
        (vec!["retire", "armed"], 0),
        (vec!["help", "export"], 0),
        (vec!["size", "--db", &d, "1=1; DROP TABLE customers"], 2),
        (vec!["size", "--db", &d, "COPY customers TO '/tmp/seglens-copy.csv'"], 2),
        (vec!["size", "--db", &d, "ATTACH '/tmp/x.duckdb' AS x"], 2),
        (vec!["size", "--db", &d, "INSTALL httpfs"], 2),
        (vec!["size", "--db", &d, "PRAGMA enable_checkpoint_on_shutdown"], 2),
        (vec!["size", "--db", &d, "1=1) ; SET enable_external_access = true; SELECT (1"], 2),
        (vec!["size", "--db", &d, "(SELECT 1 FROM (DELETE FROM customers RETURNING *)) = 1"], 2),
        (vec!["size", "--db", &d, "EXISTS (SELECT 1 FROM read_csv('/etc/passwd'))"], 2),
        (vec!["size", "--db", &d, "-p", "r=x'); DROP TABLE customers; --", "region = {{r}}"], 0),
        (vec!["size", "--db", &d, "nextval('seq') > 0"], 2),
        (vec!["size", "--db", &d, "--timeout", "0.2", SLOW], 130),
    ];
    // Every subcommand clap knows (its `help` too) has a run above, and no run names another.
    let mut cli = seglens::cli::Cli::command();
    cli.build();
    let known: std::collections::BTreeSet<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
    let ran: std::collections::BTreeSet<&str> = runs.iter().map(|(args, _)| args[0]).collect();
    assert_eq!(
        known.difference(&ran).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "subcommands this test never runs: add a run of each"
    );
    assert!(ran.is_subset(&known), "runs of unknown subcommands: {:?}", ran.difference(&known).collect::<Vec<_>>());
    assert!(known.len() >= 25, "{known:?}");
    let unchanged = |after: &str| {
        assert_eq!(sha256_file(&db), before, "the database changed after {after}");
        let beside: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "crm.duckdb")
            .collect();
        assert!(beside.is_empty(), "after {after}: {beside:?}");
    };
    for (args, code) in &runs {
        let o = sb.seglens(args);
        assert_eq!(o.code, *code, "{args:?}: {o:?}");
        unchanged(&format!("{args:?}"));
    }
    assert!(Path::new(&manifest).is_file() && Path::new(&dbt).join("models").is_dir());
    assert!(!Path::new("/tmp/seglens-copy.csv").exists());

    // The explorer (no subcommand) and the views that run on connections of their own.
    explorer_views(&db, &sb);
    unchanged("the explorer's F8, F9 and F10 views");
    assert_eq!(content_hash(&db), content_hash(shared_db()));
}

/// The explorer on `db` with the sandbox's library and export log: F8 (hygiene), F9 (the typed
/// filter against the selected segment) and F10 (movement since the export), each waited for.
fn explorer_views(db: &Path, sb: &Sandbox) {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use seglens::tui::action::Action;
    use seglens::tui::state::{View, WorkerState};
    let key = |code| Action::Key(KeyEvent::new(code, KeyModifiers::NONE));
    let opts = seglens::engine::OpenOptions { as_of: Some(as_of()), ..Default::default() };
    let engine = seglens::engine::Engine::open(db, &opts).unwrap();
    let (mut rt, mut st) = explorer(engine, &sb.library(), &sb.data_dir().join("exports.jsonl"));
    let wait = Duration::from_secs(120);
    rt.apply(&mut st, key(KeyCode::F(8)));
    assert_eq!(st.view, View::Hygiene);
    assert!(rt.pump_until(&mut st, wait, |s| s.hygiene.text.is_some()), "the hygiene report arrives");
    assert!(st.hygiene.text.as_ref().unwrap().is_ok(), "{:?}", st.hygiene.text);
    rt.apply(&mut st, key(KeyCode::F(8)));
    for c in "orders_count > 2".chars() {
        rt.apply(&mut st, key(KeyCode::Char(c)));
    }
    assert!(rt.pump_until(&mut st, wait, |s| s.preview.size.is_some() && s.worker == WorkerState::Idle));
    rt.apply(&mut st, key(KeyCode::F(9)));
    assert_eq!(st.view, View::Compare, "{:?}", st.status);
    assert!(rt.pump_until(&mut st, wait, |s| s.compare.text.is_some()), "the comparison arrives");
    assert!(st.compare.text.as_ref().unwrap().is_ok(), "{:?}", st.compare.text);
    rt.apply(&mut st, key(KeyCode::Esc));
    rt.apply(&mut st, key(KeyCode::F(10)));
    assert_eq!(st.view, View::Movement, "{:?}", st.status);
    assert!(rt.pump_until(&mut st, wait, |s| s.movement.result.is_some()), "the movement arrives");
    assert!(st.movement.result.as_ref().unwrap().is_ok(), "{:?}", st.movement.result);
}
