//! The warehouse (issue 27): what `seglens sql --all-approved --out DIR` writes is run by dbt,
//! which renders every model and test as Jinja before any SQL is sent, comments and string
//! literals included. Templates anyone can write must not run there: one test builds the emitted
//! project with real dbt (dbt-duckdb, on a throwaway copy of the data) and checks that nothing a
//! template said was executed while every model built and every count test passed. A missing
//! dbt is a failure, never a skip: `.ci/run` installs it.
//!
//! The others: model names that collide, `--out` aimed at the library (through `..` or a link),
//! at a file, or at existing models, and arms whose shares do not add up, all refused with one
//! line and exit 2 before anything is written.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::foreign::{Foreign, foreign_db};
use common::{Sandbox, plain, q_i64, s};

fn as_of() -> String {
    common::as_of().format("%Y-%m-%d").to_string()
}

/// Saves `name` on `db` with `extra` arguments and approves it.
fn approved(sb: &Sandbox, db: &Path, name: &str, filter: &str, extra: &[&str]) {
    let as_of = as_of();
    let mut args = vec!["save", name, "--db", s(db), "--as-of", &as_of, "--filter", filter];
    args.extend_from_slice(extra);
    sb.seglens(&args).ok();
    sb.seglens(&["approve", name]).ok();
}

/// `seglens sql --all-approved --out OUT` on `db`, with `extra` arguments.
fn emit(sb: &Sandbox, db: &Path, out: &Path, extra: &[&str]) -> common::Out {
    let as_of = as_of();
    let mut args = vec!["sql", "--db", s(db), "--as-of", &as_of, "--all-approved", "--out", s(out)];
    args.extend_from_slice(extra);
    sb.seglens(&args)
}

/// The Shop database (not ours: VARCHAR key, NULLs, a quoted column) in a fresh sandbox.
fn shop() -> (Sandbox, PathBuf) {
    let sb = Sandbox::new();
    let dir = sb.path().join("dbs");
    std::fs::create_dir_all(&dir).unwrap();
    let db = foreign_db(&dir, Foreign::Shop, 400);
    (sb, db)
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Runs `dbt ARGS` (dbt-core with the DuckDB adapter, through the `python3` that `.ci/run`
/// installs it into) on the project in `project`: logs, target and profile stay inside it, no
/// usage statistics are sent and no version check asks the network.
fn dbt(project: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("python3")
        .args(["-c", "import sys; from dbt.cli.main import cli; sys.exit(cli())"])
        .args(args)
        .args(["--project-dir", s(project), "--profiles-dir", s(project)])
        .current_dir(project)
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env("DBT_VERSION_CHECK", "false")
        .env("DBT_USE_COLORS", "false")
        .env("DBT_PARTIAL_PARSE", "false")
        .env("DBT_LOG_PATH", project.join("logs"))
        .env("DBT_TARGET_PATH", project.join("target"))
        .env("DBT_PROFILES_DIR", project)
        .output()
        .expect("python3 must be installed (.ci/run checks)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'dbt"),
        "dbt-duckdb is missing: `pip install dbt-core dbt-duckdb` (.ci/run installs it); dbt is required, not optional\n{stderr}"
    );
    out
}

/// `dbt build` of the project in `out` (what `--all-approved` wrote) against the DuckDB file
/// `warehouse`, which must succeed: its log and `run_results.json`.
fn dbt_build(out: &Path, warehouse: &Path) -> (String, serde_json::Value) {
    std::fs::write(
        out.join("dbt_project.yml"),
        "name: seglens_models\nversion: \"1.0\"\nconfig-version: 2\nprofile: seglens_models\n\
         model-paths: [\"models\"]\ntest-paths: [\"tests\"]\nflags:\n  send_anonymous_usage_stats: false\n",
    )
    .unwrap();
    std::fs::write(
        out.join("profiles.yml"),
        format!(
            "seglens_models:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n      path: '{}'\n      threads: 1\n",
            s(warehouse)
        ),
    )
    .unwrap();
    let run = dbt(out, &["build"]);
    let log = format!("{}\n{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "dbt build failed:\n{log}");
    let results = std::fs::read_to_string(out.join("target/run_results.json")).unwrap();
    (log, serde_json::from_str(&results).unwrap())
}

/// Hostile template text reaches every place of a model and its test: the intent (`{% do %}`,
/// `{{ }}`, `{# #}`), a string default (in the header and, bound, in the SQL), a `{{param}}` in the
/// filter, a string literal of a suppression's filter (in every net model), a default holding a
/// line break. Real dbt then builds the project on a copy of the data: every model builds, every
/// count test passes (the warehouse counts what seglens counted), and no `run_query` ran: no
/// canary table exists and the table one would have dropped is whole.
#[test]
fn dbt_runs_nothing_a_template_says_and_every_model_builds_with_its_count() {
    let (sb, db) = shop();
    // The warehouse: a copy, so the user's database is never touched by dbt.
    let warehouse = sb.path().join("warehouse.duckdb");
    std::fs::copy(&db, &warehouse).unwrap();
    let purchases = q_i64(&plain(&warehouse), "SELECT count(*) FROM purchase_records");
    assert!(purchases > 0);

    let intent = r#"{% do run_query("CREATE TABLE canary_intent AS SELECT 1 AS x") %} {{ run_query("DROP TABLE purchase_records") }} {# hidden #}"#;
    approved(&sb, &db, "hostile-intent", Foreign::Shop.filter(), &["--intent", intent]);
    let default = r#"label:string={{ run_query("CREATE TABLE canary_default AS SELECT 1 AS x") }}"#;
    approved(
        &sb,
        &db,
        "hostile-default",
        "segment_label <> {{label}} AND total_spent > 500",
        &["--param-def", default],
    );
    approved(
        &sb,
        &db,
        "newline-default",
        "home_country = {{home}} OR purchase_count = 0",
        &["--param-def", "home:string=UK\nAND FALSE"],
    );
    let literal =
        r#""Full Name" = '{{ run_query("CREATE TABLE canary_literal AS SELECT 1 AS x") }}' OR newsletter_opens = 0"#;
    approved(&sb, &db, "opt-outs", literal, &["--kind", "suppression"]);

    let out = sb.path().join("project");
    let j = emit(&sb, &db, &out, &["--json"]).ok().json();
    let segs = j["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 7, "three segments, their net models and the suppression: {j}");

    // Each header line is a comment, the line break of the default included.
    let newline = std::fs::read_to_string(out.join("models/newline_default.sql")).unwrap();
    let header: Vec<&str> = newline.lines().take_while(|l| !l.starts_with("SELECT")).collect();
    assert!(header.iter().all(|l| l.starts_with("-- ")), "{newline}");
    assert!(header.iter().any(|l| l.contains("home=UK AND FALSE")), "{newline}");

    let (log, results) = dbt_build(&out, &warehouse);

    // Every model built and every count test ran and passed.
    let status = |kind: &str, want: &str| {
        results["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["unique_id"].as_str().unwrap().starts_with(kind) && r["status"] == want)
            .count()
    };
    assert_eq!(status("model.", "success"), 7, "{log}");
    assert_eq!(status("test.", "pass"), 7, "{log}");

    // Nothing a template said ran on the warehouse.
    let conn = plain(&warehouse);
    let canaries = q_i64(&conn, "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'canary%'");
    assert_eq!(canaries, 0, "a run_query from a template ran:\n{log}");
    assert_eq!(q_i64(&conn, "SELECT count(*) FROM purchase_records"), purchases);

    // dbt read the template text as text: the compiled SQL holds it as written.
    let compiled = |model: &str| {
        std::fs::read_to_string(out.join(format!("target/compiled/seglens_models/models/{model}.sql"))).unwrap()
    };
    assert!(compiled("hostile_intent").contains(&format!("-- intent: {intent}")));
    assert!(
        compiled("hostile_default").contains(r#"'{{ run_query("CREATE TABLE canary_default AS SELECT 1 AS x") }}'"#)
    );
    assert!(compiled("hostile_default").contains("-- filter: segment_label <> {{label}} AND total_spent > 500"));
    assert!(compiled("hostile_default__net").contains(r#"'{{ run_query("CREATE TABLE canary_literal"#));
}

/// `a-b` and `a_b` are both model `a_b`; a segment `x--net` is the net model of `x`; arms `p-q`
/// and `p_q` both test `p_q`. Refused before anything is written, naming both.
#[test]
fn colliding_model_names_are_refused_before_anything_is_written() {
    let (sb, db) = shop();
    approved(&sb, &db, "a-b", Foreign::Shop.filter(), &[]);
    approved(&sb, &db, "a_b", "purchase_count > 3", &[]);
    let out = sb.path().join("out");
    emit(&sb, &db, &out, &[]).user_error(&["a-b", "a_b", "models/a_b.sql"]);
    assert!(!out.exists(), "nothing is written");

    sb.seglens(&["retire", "a_b"]).ok();
    approved(&sb, &db, "x", "purchase_count > 3", &[]);
    approved(&sb, &db, "x--net", "purchase_count > 5", &[]);
    approved(&sb, &db, "gone", "newsletter_opens = 0", &["--kind", "suppression"]);
    emit(&sb, &db, &out, &[]).user_error(&["x--net", "x (its net model)", "models/x__net.sql"]);
    assert!(!out.exists(), "nothing is written");

    // Arms `p-q` and `p_q` of one segment would share a test file.
    sb.seglens(&["retire", "x--net"]).ok();
    approved(&sb, &db, "split", "purchase_count > 1", &["--arms", "p-q=0.5,p_q=0.5", "--salt", "s"]);
    emit(&sb, &db, &out, &[]).user_error(&["arm p-q of split", "arm p_q of split", "tests/split__arm_p_q_count.sql"]);
    assert!(!out.exists(), "nothing is written");

    // Apart, each writes its own model.
    sb.seglens(&["retire", "split"]).ok();
    emit(&sb, &db, &out, &[]).ok();
    assert!(out.join("models/a_b.sql").exists() && out.join("models/x__net.sql").exists());
}

/// `--out` never reaches the library (through `..` past a folder that does not exist yet, a link
/// to it, or a link inside --out), is a directory, and replaces existing models only with --force.
#[test]
fn out_is_checked_where_it_resolves_and_never_replaces_without_force() {
    let (sb, db) = shop();
    approved(&sb, &db, "big-spenders", Foreign::Shop.filter(), &[]);
    let library_before = files_under(&sb.library());

    // Relative to the sandbox, the working directory of every run.
    emit(&sb, &db, Path::new("nothere/../library/x"), &[]).user_error(&["library"]);
    assert!(!sb.path().join("nothere").exists());
    std::os::unix::fs::symlink(sb.library(), sb.path().join("lib-link")).unwrap();
    emit(&sb, &db, &sb.path().join("lib-link"), &[]).user_error(&["library"]);
    emit(&sb, &db, &sb.path().join("lib-link/sub"), &[]).user_error(&["library"]);
    let sneaky = sb.path().join("sneaky");
    std::fs::create_dir(&sneaky).unwrap();
    std::os::unix::fs::symlink(sb.library(), sneaky.join("models")).unwrap();
    emit(&sb, &db, &sneaky, &[]).user_error(&["library"]);
    assert_eq!(files_under(&sb.library()), library_before, "nothing written into the library");

    let file = sb.path().join("notes.txt");
    std::fs::write(&file, "mine").unwrap();
    emit(&sb, &db, &file, &[]).user_error(&["notes.txt", "not a directory"]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");

    // An existing model of the same name is the user's until --force.
    let out = sb.path().join("dbt");
    std::fs::create_dir_all(out.join("models")).unwrap();
    let model = out.join("models/big_spenders.sql");
    std::fs::write(&model, "-- hand-tuned\nSELECT 1\n").unwrap();
    emit(&sb, &db, &out, &[]).user_error(&["big_spenders.sql", "--force"]);
    assert_eq!(std::fs::read_to_string(&model).unwrap(), "-- hand-tuned\nSELECT 1\n");
    assert!(!out.join("tests").exists(), "nothing is written");
    emit(&sb, &db, &out, &["--force"]).ok();
    assert!(std::fs::read_to_string(&model).unwrap().contains("seglens segment big-spenders@"));
}

/// Arms edited by hand to 0.5 + 0.6: `sql` refuses them as `arms` does, never printing a CASE
/// that places no customer.
#[test]
fn sql_refuses_arms_whose_shares_do_not_add_up() {
    let (sb, db) = shop();
    let as_of = as_of();
    sb.seglens(&[
        "save",
        "holdout",
        "--db",
        s(&db),
        "--as-of",
        &as_of,
        "--filter",
        Foreign::Shop.filter(),
        "--arms",
        "control=0.5,treatment=0.5",
        "--salt",
        "spring",
    ])
    .ok();
    let ok = sb.seglens(&["sql", "holdout", "--db", s(&db), "--as-of", &as_of]).ok().stdout;
    assert!(ok.contains("THEN 'treatment' END AS arm"), "{ok}");

    let file = sb.library().join("holdout/v0001.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let at = text.rfind("share = 0.5").expect("the treatment's share");
    std::fs::write(&file, format!("{}share = 0.6{}", &text[..at], &text[at + "share = 0.5".len()..])).unwrap();

    for dialect in ["duckdb", "spark", "postgres"] {
        let o = sb
            .seglens(&["sql", "holdout", "--db", s(&db), "--as-of", &as_of, "--dialect", dialect])
            .user_error(&["holdout", "add up to 1.1"]);
        assert!(o.stdout.is_empty(), "{o:?}");
        sb.seglens(&["arms", "holdout", "--db", s(&db), "--as-of", &as_of, "--dialect", dialect])
            .user_error(&["add up to 1.1"]);
    }
    sb.seglens(&["arms", "holdout", "--db", s(&db), "--as-of", &as_of]).user_error(&["add up to 1.1"]);
}

/// A key that is neither an integer nor text (here a UUID) prints differently from engine to
/// engine, so its hash would too: arms on it are refused for other engines with one line, and
/// still given for DuckDB, whose text of it seglens hashes.
#[test]
fn arms_on_a_key_whose_text_differs_between_engines_are_refused_for_other_engines() {
    let sb = Sandbox::new();
    let db = sb.path().join("accounts.duckdb");
    let conn = duckdb::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE accounts AS SELECT ('00000000-0000-4000-8000-' || lpad(i::VARCHAR, 12, '0'))::UUID AS account_id, \
         i % 7 AS score FROM range(1, 301) t(i)",
    )
    .unwrap();
    drop(conn);
    let as_of = as_of();
    let base = ["--db", s(&db), "--key", "account_id", "--as-of", &as_of];
    let save = ["save", "uuid-holdout", "--filter", "score > 1", "--arms", "control=0.5,treatment=0.5", "--salt", "s"];
    sb.seglens(&[&save[..], &base[..]].concat()).ok();
    for dialect in ["spark", "postgres", "snowflake"] {
        for cmd in ["sql", "arms"] {
            let o = sb.seglens(&[&[cmd, "uuid-holdout", "--dialect", dialect][..], &base[..]].concat()).user_error(&[
                "arms on the key account_id",
                "neither an integer nor text",
                dialect,
            ]);
            assert!(o.stdout.is_empty(), "{o:?}");
        }
    }
    let duck = sb.seglens(&[&["sql", "uuid-holdout"][..], &base[..]].concat()).ok().stdout;
    assert!(duck.contains("CAST(\"account_id\" AS VARCHAR)") && duck.contains("AS arm FROM"), "{duck}");
}

/// A template with arms on the warehouse through real dbt: its model (and net model) carries the
/// arm column, and each arm's test passes, so dbt-duckdb puts in every arm the number of customers
/// seglens counted. The salt holds Jinja and a quote: dbt renders it back as written (no canary
/// table), so the arms it computes are the ones seglens computed with that salt.
#[test]
fn dbt_builds_each_arm_with_the_count_seglens_measured() {
    let (sb, db) = shop();
    let warehouse = sb.path().join("warehouse.duckdb");
    std::fs::copy(&db, &warehouse).unwrap();
    let salt = r#"o'neil {{ run_query("CREATE TABLE canary_salt AS SELECT 1 AS x") }}"#;
    approved(
        &sb,
        &db,
        "spring-holdout",
        Foreign::Shop.filter(),
        &["--arms", "control=0.2,offer-a=0.3,offer_b=0.5", "--salt", salt],
    );
    approved(&sb, &db, "opt-outs", "newsletter_opens = 0", &["--kind", "suppression"]);
    let out = sb.path().join("project");
    let j = emit(&sb, &db, &out, &["--json"]).ok().json();
    let as_of = as_of();
    for seg in j["segments"].as_array().unwrap().iter().filter(|m| m["name"] == "spring-holdout") {
        let arms = seg["arms"].as_array().unwrap();
        let names: Vec<&str> = arms.iter().map(|a| a["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["control", "offer-a", "offer_b"], "{j}");
        let total: u64 = arms.iter().map(|a| a["count"].as_u64().unwrap()).sum();
        assert_eq!(Some(total), seg["count"].as_u64(), "{j}");
        assert!(arms.iter().all(|a| a["count"].as_u64() > Some(0)), "{j}");
        let model = std::fs::read_to_string(seg["model"].as_str().unwrap()).unwrap();
        assert!(model.contains(" AS arm FROM ") && model.contains("-- expected per arm: control "), "{model}");
        if seg["suppressed"].as_array().unwrap().is_empty() {
            // The counts are the ones `seglens arms` gives.
            let report =
                sb.seglens(&["arms", "spring-holdout", "--db", s(&db), "--as-of", &as_of, "--json"]).ok().json();
            let sizes: Vec<u64> =
                report["arms"].as_array().unwrap().iter().map(|a| a["size"].as_u64().unwrap()).collect();
            assert_eq!(sizes, arms.iter().map(|a| a["count"].as_u64().unwrap()).collect::<Vec<_>>());
        }
    }
    let (log, results) = dbt_build(&out, &warehouse);
    let passed: Vec<&str> = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "pass")
        .map(|r| r["unique_id"].as_str().unwrap())
        .collect();
    // Two models of the segment (plain and net), three arms each, and a count test per model.
    assert_eq!(passed.iter().filter(|t| t.contains("__arm_")).count(), 6, "{log}");
    assert_eq!(passed.len(), 6 + 3, "{log}");
    let canaries =
        q_i64(&plain(&warehouse), "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'canary%'");
    assert_eq!(canaries, 0, "a run_query from the salt ran:\n{log}");
}
