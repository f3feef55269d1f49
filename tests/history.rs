//! Segments over time (issue 17), through the binary, on the sample and on data that is not ours
//! (`Foreign::Shop`, VARCHAR key; `Foreign::Club`, a quoted table and a BIGINT key): every export
//! remembers its members; added and dropped against plain SQL set differences over two generated
//! databases (a customer changed, one deleted, one added); movement matrices against plain SQL set
//! intersections; splits against GROUP BY counts; kill -9 during an export with history.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::foreign::{Foreign, foreign_db};
use common::*;
use seglens::engine::keys::Keys;
use seglens::export::over_time::StoredExport;

/// One dataset of the tests: where it is, its table, key and a segment filter with the SET clause
/// that takes a member out of it.
struct Case {
    db: PathBuf,
    table: String,
    key: String,
    filter: String,
    /// Makes a member no longer match `filter`.
    unset: String,
    /// A key no row has, as a SQL literal.
    new_key: String,
}

fn cases(dir: &Path) -> Vec<Case> {
    let sample = private_db_with(dir, "sample.duckdb", 3000);
    let mut v = vec![Case {
        db: sample,
        table: "customers".into(),
        key: "customer_id".into(),
        filter: "lifetime_spend > 5000".into(),
        unset: "lifetime_spend = 0".into(),
        new_key: "99999999".into(),
    }];
    for kind in Foreign::ALL {
        let sub = dir.join(format!("{kind:?}"));
        std::fs::create_dir_all(&sub).unwrap();
        v.push(Case {
            db: foreign_db(&sub, kind, 2000),
            table: kind.table_sql().into(),
            key: kind.key().into(),
            filter: kind.filter().into(),
            unset: match kind {
                Foreign::Shop => "total_spent = 0".into(),
                Foreign::Club => "\"Revenue\" = 0".into(),
            },
            new_key: match kind {
                Foreign::Shop => "'S9999999'".into(),
                Foreign::Club => "99999999".into(),
            },
        });
    }
    v
}

/// A copy of `c.db` beside it in which one member no longer matches, one member is deleted and a
/// new customer (a copy of a third member under a new key) is added.
fn changed_copy(c: &Case) -> PathBuf {
    let db2 = c.db.with_file_name(format!("changed-{}", c.db.file_name().unwrap().to_string_lossy()));
    std::fs::copy(&c.db, &db2).unwrap();
    let conn = duckdb::Connection::open(&db2).unwrap();
    let k = |i: usize| -> String {
        let sql = format!(
            "SELECT CAST({key} AS VARCHAR) FROM {t} WHERE {f} ORDER BY {key} LIMIT 1 OFFSET {i}",
            key = c.key,
            t = c.table,
            f = c.filter
        );
        let v: String = conn.query_row(&sql, [], |r| r.get(0)).unwrap();
        format!("'{v}'")
    };
    let (changed, deleted, copied) = (k(0), k(1), k(2));
    let key = &c.key;
    let t = &c.table;
    conn.execute_batch(&format!(
        "UPDATE {t} SET {} WHERE CAST({key} AS VARCHAR) = {changed};
         DELETE FROM {t} WHERE CAST({key} AS VARCHAR) = {deleted};
         INSERT INTO {t} SELECT * REPLACE ({} AS {key}) FROM {t} WHERE CAST({key} AS VARCHAR) = {copied};
         CHECKPOINT;",
        c.unset, c.new_key
    ))
    .unwrap();
    drop(conn);
    db2
}

/// An in-memory connection with `a` and `b` attached read-only.
fn two(a: &Path, b: &Path) -> duckdb::Connection {
    let cfg = duckdb::Config::default().enable_autoload_extension(false).unwrap();
    let conn = duckdb::Connection::open_in_memory_with_flags(cfg).unwrap();
    conn.execute_batch(&format!("ATTACH '{}' AS a (READ_ONLY); ATTACH '{}' AS b (READ_ONLY);", s(a), s(b))).unwrap();
    conn
}

fn keys_json(conn: &duckdb::Connection, sql: &str, int: bool) -> Vec<serde_json::Value> {
    q_rows(conn, sql)
        .into_iter()
        .map(|r| {
            let v = r[0].clone().unwrap();
            if int { serde_json::json!(v.parse::<i64>().unwrap()) } else { serde_json::json!(v) }
        })
        .collect()
}

#[test]
fn adds_and_drops_match_plain_sql_set_differences_over_two_databases() {
    let sb = Sandbox::new();
    for c in cases(sb.path()) {
        let name = format!("seg-{}", c.db.file_stem().unwrap().to_string_lossy().to_lowercase());
        let d = s(&c.db);
        sb.seglens(&["save", &name, "--db", d, "--filter", &c.filter]).ok();
        sb.seglens(&["approve", &name, "--db", d]).ok();
        let out = sb.path().join(format!("{name}.csv"));
        sb.seglens(&["export", &name, "--db", d, "--out", s(&out), "--as-of", "2026-03-01"]).ok();
        let manifest = out.with_extension("manifest.json");
        // The members file holds exactly the keys plain SQL selects.
        let stored = StoredExport::open(&manifest).expect("the export reads back");
        let plain_keys =
            q_rows(&plain(&c.db), &format!("SELECT CAST({} AS VARCHAR) FROM {} WHERE {} ", c.key, c.table, c.filter));
        let mut want: Vec<String> = plain_keys.into_iter().map(|r| r[0].clone().unwrap()).collect();
        want.sort();
        assert_eq!(stored.keys_of(&name).unwrap().to_text(), want, "{name}");
        let int = matches!(stored.keys_of(&name).unwrap(), Keys::Int(_));
        assert_eq!(int, c.key != "shopper_ref", "integer keys stored as integers");

        let db2 = changed_copy(&c);
        let conn = two(&c.db, &db2);
        let set = |db: &str| format!("SELECT {} AS k FROM {db}.{} WHERE {}", c.key, c.table, c.filter);
        let (a, b) = (set("a"), set("b"));
        let n = |sql: String| q_i64(&conn, &format!("SELECT count(*) FROM ({sql})")) as u64;
        let added = n(format!("{b} EXCEPT {a}"));
        let dropped = n(format!("{a} EXCEPT {b}"));
        let kept = n(format!("{a} INTERSECT {b}"));
        assert!(added >= 1 && dropped >= 2, "{name}: the change adds one and drops two: +{added} -{dropped}");
        let first =
            |sql: String| keys_json(&conn, &format!("SELECT CAST(k AS VARCHAR) FROM ({sql}) ORDER BY k LIMIT 3"), int);
        // A CSV named like a members file is refused (it would be its own members file).
        let clash = sb.path().join(format!("{name}.members"));
        sb.seglens(&["export", &name, "--db", d, "--out", s(&clash)]).user_error(&["members"]);
        StoredExport::open(&manifest).expect("the export's own members file is untouched");
        // With --since, and without (the export log finds the latest export of the segment).
        for args in [vec!["--since", s(&manifest)], vec![]] {
            let mut all = vec!["changes", name.as_str(), "--db", s(&db2), "--json", "--examples", "3"];
            all.extend(args.iter().copied());
            let j = sb.seglens(&all).ok().json();
            assert_eq!(j["segment"], name.as_str());
            assert_eq!(
                (j["added"].as_u64(), j["dropped"].as_u64(), j["kept"].as_u64()),
                (Some(added), Some(dropped), Some(kept)),
                "{name} {args:?}: {j}"
            );
            assert_eq!(j["examples"]["added"].as_array().unwrap(), &first(format!("{b} EXCEPT {a}")), "{name}");
            assert_eq!(j["examples"]["dropped"].as_array().unwrap(), &first(format!("{a} EXCEPT {b}")), "{name}");
            assert_eq!(j["since"]["version"], 2);
            assert!(j["since"]["manifest"].as_str().unwrap().ends_with(".manifest.json"), "{j}");
            assert!(j["since"]["created_at"].as_str().unwrap().starts_with("20"), "{j}");
        }
        // What the export dialog shows before anything is written: the same counts.
        let log =
            seglens::export::over_time::ExportLog { path: sb.data_dir().join("exports.jsonl"), library: sb.library() };
        let lib = seglens::library::Library::open(sb.library());
        let (segs, supps) =
            seglens::export::resolve(&lib, &Default::default(), std::slice::from_ref(&name), false, true, &[]).unwrap();
        let engine = seglens::engine::Engine::open(&db2, &Default::default()).unwrap();
        let planned = seglens::export::over_time::changes_before_export(&engine, &segs, &supps, false, &log).unwrap();
        let p = planned[0].1.as_ref().expect("an earlier export");
        assert_eq!((p.added, p.dropped, p.kept), (added, dropped, kept), "{name}");
        drop(engine);
        // The next export, on the changed data, records the same counts in its manifest.
        let out2 = sb.path().join(format!("{name}-2.csv"));
        sb.seglens(&["export", &name, "--db", s(&db2), "--out", s(&out2)]).ok();
        let m2: serde_json::Value = serde_json::from_str(&read(&out2.with_extension("manifest.json"))).unwrap();
        let ch = &m2["changes"][0];
        assert_eq!(ch["segment"], name.as_str());
        assert_eq!((ch["added"].as_u64(), ch["dropped"].as_u64()), (Some(added), Some(dropped)), "{m2}");
        assert_eq!(
            ch["since"]["manifest"].as_str().unwrap(),
            std::fs::canonicalize(&manifest).unwrap().to_str().unwrap()
        );
    }
}

/// Plain SQL: customers by their first matching segment (`fs` in priority order) on db `d`.
fn first_match(key: &str, table: &str, fs: &[&str], d: &str, i: Option<usize>) -> String {
    let any = fs.iter().map(|f| format!("coalesce(({f}), false)")).collect::<Vec<_>>().join(" OR ");
    let cond = match i {
        Some(i) => {
            let earlier: Vec<String> = fs[..i].iter().map(|f| format!("NOT coalesce(({f}), false)")).collect();
            let mut all = earlier;
            all.push(format!("coalesce(({}), false)", fs[i]));
            all.join(" AND ")
        }
        None => format!("NOT ({any})"),
    };
    format!("SELECT {key} AS k FROM {d}.{table} WHERE {cond}")
}

#[test]
fn movement_matches_plain_sql_set_intersections() {
    let sb = Sandbox::new();
    let dir = sb.path();
    let runs: Vec<(Case, [&str; 2])> = cases(dir)
        .into_iter()
        .zip([
            ["lifetime_spend > 5000", "engagement_score > 60"],
            ["total_spent > 1000 AND home_country IN ('IN', 'UK')", "loyalty_score > 40"],
            ["\"Revenue\" >= 600 AND tier <> 'Bronze'", "visits > 12"],
        ])
        .collect();
    for (c, fs) in runs {
        let tag = c.db.file_stem().unwrap().to_string_lossy().to_lowercase();
        let names = [format!("a-{tag}"), format!("b-{tag}")];
        let d = s(&c.db);
        for (i, (n, f)) in names.iter().zip(fs).enumerate() {
            let prio = (10 * (i + 1)).to_string();
            sb.seglens(&["save", n, "--db", d, "--filter", f, "--priority", &prio]).ok();
            sb.seglens(&["approve", n, "--db", d]).ok();
        }
        let out1 = dir.join(format!("{tag}-1.csv"));
        sb.seglens(&["export", &names[0], &names[1], "--db", d, "--out", s(&out1)]).ok();
        let m1 = out1.with_extension("manifest.json");
        let db2 = changed_copy(&c);
        // Movement to now, on the changed database.
        let j = sb.seglens(&["movement", "--from", s(&m1), "--db", s(&db2), "--json"]).ok().json();
        assert_eq!(j["segments"], serde_json::json!(names));
        let conn = two(&c.db, &db2);
        let side = |d: &str, i: Option<usize>| first_match(&c.key, &c.table, &fs, d, i);
        let n = |sql: String| q_i64(&conn, &format!("SELECT count(*) FROM ({sql})")) as u64;
        let any = |d: &str| format!("({}) UNION ({})", side(d, Some(0)), side(d, Some(1)));
        let all_b = format!("SELECT {} AS k FROM b.{}", c.key, c.table);
        let want = |from: Option<usize>, to: Option<usize>| -> u64 {
            match (from, to) {
                (Some(i), Some(j)) => n(format!("({}) INTERSECT ({})", side("a", Some(i)), side("b", Some(j)))),
                (Some(i), None) => n(format!("({}) EXCEPT ({})", side("a", Some(i)), any("b"))),
                (None, Some(j)) => n(format!("({}) EXCEPT ({})", side("b", Some(j)), any("a"))),
                (None, None) => n(format!("({all_b}) EXCEPT ({}) EXCEPT ({})", any("a"), any("b"))),
            }
        };
        let cells = j["cells"].as_array().unwrap();
        assert_eq!(cells.len(), 9, "3 x 3 with the none row and column: {j}");
        let idx = |v: &serde_json::Value| v.as_str().map(|s| names.iter().position(|n| n == s).unwrap());
        let mut moved = 0;
        for cell in cells {
            let (f, t) = (idx(&cell["from"]), idx(&cell["to"]));
            assert_eq!(cell["count"].as_u64().unwrap(), want(f, t), "{tag} {f:?} → {t:?}");
            if f != t {
                moved += cell["count"].as_u64().unwrap();
            }
        }
        assert!(moved >= 3, "{tag}: the changes move someone");
        let total: u64 = cells.iter().map(|c| c["count"].as_u64().unwrap()).sum();
        let deleted_members = n(format!("({}) EXCEPT ({all_b})", any("a")));
        assert_eq!(total, n(all_b.clone()) + deleted_members, "{tag}: everyone now, and the members since deleted");
        // Between two exports: the same cells, without none → none (who was in neither is unknown).
        let out2 = dir.join(format!("{tag}-2.csv"));
        sb.seglens(&["export", &names[0], &names[1], "--db", s(&db2), "--out", s(&out2)]).ok();
        let m2 = out2.with_extension("manifest.json");
        let k = sb.seglens(&["movement", "--from", s(&m1), "--to", s(&m2), "--db", s(&db2), "--json"]).ok().json();
        let stored_cells = k["cells"].as_array().unwrap();
        assert_eq!(stored_cells.len(), 8, "{k}");
        for cell in stored_cells {
            let now = cells.iter().find(|c| c["from"] == cell["from"] && c["to"] == cell["to"]).unwrap();
            assert_eq!(cell["count"], now["count"], "{tag}: {cell}");
        }
        // Text: the matrix and the largest flow in words.
        let text = sb.seglens(&["movement", "--from", s(&m1), "--db", s(&db2)]).ok().stdout;
        assert!(text.contains("from \\ to") && text.contains(" → "), "{text}");
    }
}

#[test]
fn splits_equal_group_by_counts_with_a_null_cell() {
    let sb = Sandbox::new();
    for (c, by) in cases(sb.path()).into_iter().zip([
        "region,loyalty_tier",
        "segment_label,home_country",
        "tier,\"Signup Channel\"",
    ]) {
        let by_cols: Vec<&str> = by.split(',').collect();
        let plain_by = by_cols.iter().map(|b| format!("CAST({b} AS VARCHAR)")).collect::<Vec<_>>().join(", ");
        let bare: Vec<String> = by_cols.iter().map(|b| b.trim_matches('"').to_string()).collect();
        let by_arg = bare.join(",");
        let j = sb
            .seglens(&["split", &c.filter, "--by", &by_arg, "--db", s(&c.db), "--json", "--min-share", "0.05"])
            .ok()
            .json();
        let conn = plain(&c.db);
        let rows = q_rows(
            &conn,
            &format!("SELECT {plain_by}, count(*)::VARCHAR FROM {} WHERE {} GROUP BY ALL", c.table, c.filter),
        );
        let cells = j["cells"].as_array().unwrap();
        assert_eq!(cells.len(), rows.len(), "{by}: one cell per combination");
        let size: u64 = rows.iter().map(|r| r[2].as_ref().unwrap().parse::<u64>().unwrap()).sum();
        assert_eq!(j["size"].as_u64(), Some(size));
        assert_eq!(j["by"], serde_json::json!(bare));
        for r in &rows {
            let cell = cells
                .iter()
                .find(|cell| bare.iter().zip(r).all(|(b, v)| cell["values"][b].as_str().map(str::to_string) == *v))
                .unwrap_or_else(|| panic!("{by}: no cell for {r:?}"));
            let n: u64 = r[2].as_ref().unwrap().parse().unwrap();
            assert_eq!(cell["size"].as_u64(), Some(n), "{by} {r:?}");
            let share = n as f64 / size as f64;
            assert!((cell["share_of_segment"].as_f64().unwrap() - share).abs() < 1e-12);
            assert_eq!(cell["small"].as_bool(), Some(share < 0.05));
            assert!(cell["metrics"].as_object().is_some_and(|m| !m.is_empty()), "{cell}");
        }
        if by.contains("segment_label") || by.contains("Signup") {
            assert!(cells.iter().any(|cell| bare.iter().any(|b| cell["values"][b].is_null())), "{by}: a NULL cell");
        }
    }
}

fn final_files(dir: &Path) -> (bool, bool, bool) {
    let p = |n: &str| dir.join(n).exists();
    (p("all.csv"), p("all.manifest.json"), p("all.members"))
}

/// SIGKILL at many moments of an export with history: the manifest (the commit point) is there
/// only with its CSV and a members file matching its hash, and without it there is neither.
#[test]
fn kill_9_during_an_export_with_history_leaves_both_files_or_neither() {
    let sb = Sandbox::new();
    let db = sb.path().join("big.duckdb");
    sb.seglens(&["sample", "--customers", "300000", "--seed", "3", "--as-of", "2026-03-01", "--out", s(&db)]).ok();
    sb.seglens(&["save", "everyone", "--db", s(&db), "--filter", "TRUE"]).ok();
    sb.seglens(&["approve", "everyone", "--db", s(&db)]).ok();
    let dir = sb.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    let out = dir.join("all.csv");
    let args = ["export", "everyone", "--db", s(&db), "--out", s(&out), "--force"];
    // How long a whole export takes here, to kill at moments spread over it.
    let started = Instant::now();
    sb.seglens(&args).ok();
    let whole = started.elapsed();
    let mut outcomes = Vec::new();
    for step in 0..12u32 {
        for f in ["all.csv", "all.manifest.json", "all.members"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        let mut child = sb.command(&args).spawn().unwrap();
        std::thread::sleep(whole.mul_f64(0.3 + 0.07 * f64::from(step)));
        let killed = child.try_wait().unwrap().is_none();
        if killed {
            child.kill().unwrap();
        }
        let status = child.wait().unwrap();
        let (csv, manifest, members) = final_files(&dir);
        if manifest {
            assert!(csv && members, "step {step}: a manifest without its files");
            let stored = StoredExport::open(&dir.join("all.manifest.json")).expect("the members file matches its hash");
            assert_eq!(stored.keys_of("everyone").unwrap().len(), 300_000);
        } else {
            assert!(!csv && !members, "step {step} ({status}): files under final names without a manifest");
        }
        outcomes.push((killed && status.signal() == Some(9), manifest));
    }
    assert!(outcomes.iter().any(|&(k, m)| k && !m), "some kill landed mid-export: {outcomes:?}");
    // Leftover temporary files never block the next export, which completes.
    sb.seglens(&args).ok();
    assert_eq!(final_files(&dir), (true, true, true));
    let _ = Duration::ZERO;
}

/// Arm counts of every customer under salt `holi26`, control = 0.1 and treatment = 0.9, computed
/// independently with Python's hashlib over the foreign databases' 2,000 keys (Club: 1..2000;
/// Shop: S000001..S002000); with control = 0.2, 220 more Club members are control, and no one else moves.
const CLUB_CONTROL: u64 = 172;
const SHOP_CONTROL: u64 = 211;
const CLUB_MOVED_AT_0_2: u64 = 220;

#[test]
fn arms_are_stable_across_runs_and_connections_and_equal_the_independent_counts() {
    let sb = Sandbox::new();
    for (kind, control) in [(Foreign::Club, CLUB_CONTROL), (Foreign::Shop, SHOP_CONTROL)] {
        let sub = sb.path().join(format!("{kind:?}"));
        std::fs::create_dir_all(&sub).unwrap();
        let db = foreign_db(&sub, kind, 2000);
        let args =
            ["arms", "TRUE", "--arms", "control=0.1,treatment=0.9", "--salt", "holi26", "--db", s(&db), "--json"];
        let first = sb.seglens(&args).ok().json();
        let second = sb.seglens(&args).ok().json();
        assert_eq!(first, second, "{kind:?}: two runs");
        assert_eq!(first["arms"][0]["name"], "control");
        assert_eq!(first["arms"][0]["size"].as_u64(), Some(control), "{kind:?}: {first}");
        assert_eq!(first["arms"][1]["size"].as_u64(), Some(2000 - control), "{kind:?}");
        assert_eq!(first["ratio_flagged"], false, "{first}");
        // Two connections in this process agree with the binary.
        let compiled = compile("TRUE");
        let arms = seglens::engine::query::arms::Arms::parse("control=0.1,treatment=0.9", "holi26").unwrap();
        for _ in 0..2 {
            let engine = seglens::engine::Engine::open(&db, &Default::default()).unwrap();
            let r = engine.arms(&compiled, &arms).unwrap();
            assert_eq!(r.arms[0].size, control);
        }
        if kind == Foreign::Club {
            // Changing the shares moves only the customers whose bucket changes arm.
            let wider = sb
                .seglens(&[
                    "arms",
                    "TRUE",
                    "--arms",
                    "control=0.2,treatment=0.8",
                    "--salt",
                    "holi26",
                    "--db",
                    s(&db),
                    "--json",
                ])
                .ok()
                .json();
            assert_eq!(wider["arms"][0]["size"].as_u64(), Some(CLUB_CONTROL + CLUB_MOVED_AT_0_2));
            let a1 = seglens::engine::query::arms::Arms::parse("control=0.1,treatment=0.9", "holi26").unwrap();
            let a2 = seglens::engine::query::arms::Arms::parse("control=0.2,treatment=0.8", "holi26").unwrap();
            let moved: Vec<u64> =
                (1..=2000u64).filter(|k| a1.arm_of(&k.to_string()) != a2.arm_of(&k.to_string())).collect();
            assert_eq!(moved.len() as u64, CLUB_MOVED_AT_0_2);
            assert!(
                moved.iter().all(|k| a1.arm_of(&k.to_string()).as_deref() == Some("treatment")),
                "only treatment → control"
            );
        }
        // A template with arms exports an arm column that plain DuckDB running `seglens sql`'s SELECT agrees with.
        let name = format!("holdout-{}", format!("{kind:?}").to_lowercase());
        sb.seglens(&[
            "save",
            &name,
            "--db",
            s(&db),
            "--filter",
            kind.filter(),
            "--arms",
            "control=0.1,treatment=0.9",
            "--salt",
            "holi26",
        ])
        .ok();
        sb.seglens(&["approve", &name, "--db", s(&db)]).ok();
        let out = sub.join("arms.csv");
        sb.seglens(&["export", &name, "--db", s(&db), "--out", s(&out), "--columns", kind.key()]).ok();
        let sql =
            sb.seglens(&["sql", &name, "--db", s(&db), "--json"]).ok().json()["sql"].as_str().unwrap().to_string();
        let mut want: Vec<Vec<String>> =
            q_rows(&plain(&db), &format!("SELECT CAST(\"{}\" AS VARCHAR), arm FROM ({sql})", kind.key()))
                .into_iter()
                .map(|r| vec![name.clone(), r[1].clone().unwrap(), r[0].clone().unwrap()])
                .collect();
        want.sort();
        let mut rdr = csv::Reader::from_path(&out).unwrap();
        assert_eq!(rdr.headers().unwrap().iter().collect::<Vec<_>>(), vec!["segment", "arm", kind.key()]);
        let mut got: Vec<Vec<String>> =
            rdr.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
        got.sort();
        assert_eq!(got, want, "{kind:?}: the export's arms are the SQL's");
        let m: serde_json::Value = serde_json::from_str(&read(&out.with_extension("manifest.json"))).unwrap();
        let counts = &m["segments"][0]["arms"]["counts"];
        let control_rows = want.iter().filter(|r| r[1] == "control").count() as u64;
        assert_eq!(counts["control"].as_u64(), Some(control_rows), "{m}");
        assert_eq!(m["segments"][0]["arms"]["salt"], "holi26");
        let stored = StoredExport::open(&out.with_extension("manifest.json")).unwrap();
        let labels: Vec<&str> = stored.lists.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["control", "treatment"]);
        assert_eq!(stored.keys_of(&name).unwrap().len(), want.len());
    }
}

/// The two ways to movement now (member bitmaps over row ids; a join for an entity without row
/// ids, a view) give the same matrix.
#[test]
fn movement_over_a_view_equals_movement_over_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.duckdb");
    let conn = duckdb::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE t AS SELECT i AS id, i % 7 AS a, i % 5 AS b FROM range(1, 5001) r(i);
         CREATE VIEW v AS SELECT * FROM t;",
    )
    .unwrap();
    drop(conn);
    let stored: Vec<Keys> =
        [(1..5001).filter(|i| i % 7 < 2).collect::<Vec<i64>>(), (1..6001).filter(|i| i % 3 == 0).collect()]
            .into_iter()
            .map(Keys::from_ints)
            .collect();
    let (fa, fb) = (compile("a < 3"), compile("b = 0"));
    let mut results = Vec::new();
    for table in ["t", "v"] {
        let opts =
            seglens::engine::OpenOptions { table: Some(table.into()), key: Some("id".into()), ..Default::default() };
        let engine = seglens::engine::Engine::open(&db, &opts).unwrap();
        let from = seglens::engine::movement::Side::Stored(vec![("a".into(), &stored[0]), ("b".into(), &stored[1])]);
        let to = seglens::engine::movement::Side::Now(vec![("a".into(), &fa), ("b".into(), &fb)]);
        results.push(engine.movement(&from, &to).unwrap());
    }
    assert_eq!(results[0], results[1]);
    // Stored keys 5001..6000 of b no row has: moved to none.
    assert!(results[0].count(Some("b"), None).unwrap() >= 333, "{:?}", results[0]);
}
