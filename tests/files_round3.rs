//! The user's files and folders (issue 27): a named pipe wherever seglens reads a file, an export
//! aimed into the Parquet dataset it reads, damaged and disagreeing Parquet files in a folder, an
//! empty CSV, workspaces that are broken or point outside themselves, a manifest of other data
//! given to `movement`/`changes`, and a manifest of very many segments. Every run goes through the
//! real binary; data is generated here with other table and key names than the sample's.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::foreign::{Foreign, foreign_db};
use common::{Out, Sandbox, q_i64, s, shared_db, snapshot};

const AS_OF: &str = "2026-03-01";

/// Runs the command, killing it after `limit`: a run that blocks fails the test instead of hanging it.
fn run_within(mut cmd: std::process::Command, limit: Duration) -> Out {
    use std::io::Read;
    let mut child = cmd.spawn().expect("spawn seglens");
    drop(child.stdin.take());
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("still running after {limit:?} (blocked): {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let code = child.wait().unwrap().code().unwrap_or(-1);
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    Out { code, stdout, stderr }
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

/// A DuckDB file with one table `people` keyed by `person_id` BIGINT, ids `from..from+n`, a score.
fn people_db(path: &Path, from: i64, n: i64) -> PathBuf {
    let conn = duckdb::Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE people (person_id BIGINT PRIMARY KEY, score INTEGER, \"Home Town\" VARCHAR);
         INSERT INTO people SELECT i, (i * 37) % 100, CASE WHEN i % 3 = 0 THEN NULL ELSE 'T' || (i % 5) END
         FROM range({from}, {from} + {n}) t(i);
         CHECKPOINT;"
    ))
    .unwrap();
    path.to_path_buf()
}

/// Saves and approves `name` with `filter` on `db` in the sandbox's library.
fn approved(sb: &Sandbox, db: &Path, name: &str, filter: &str) {
    sb.seglens(&["save", name, "--db", s(db), "--filter", filter]).ok();
    sb.seglens(&["approve", name]).ok();
}

/// The shop's shoppers as a Parquet dataset of four files in `dir`.
fn shop_dataset(root: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(root).unwrap();
    let db = foreign_db(root, Foreign::Shop, 800);
    std::fs::create_dir_all(dir).unwrap();
    let conn = duckdb::Connection::open(&db).unwrap();
    for k in 0..4 {
        conn.execute_batch(&format!(
            "COPY (SELECT * FROM shoppers WHERE hash(shopper_ref) % 4 = {k}) TO '{}' (FORMAT parquet)",
            dir.join(format!("part-{k}.parquet")).display()
        ))
        .unwrap();
    }
    db
}

// ----------------------------------------------------------------------------------------------
// A named pipe where a file is read

/// A named pipe at every place seglens reads a file the user named (`--db` as a DuckDB, CSV and
/// Parquet name, a FIFO inside a Parquet folder, the workspace's database, `--metrics`,
/// `--filter-file`, `movement --from`, `changes --since`, the members file beside a manifest) is
/// refused at once: one line naming it, exit 2. Today each blocked for good, `--timeout 5` or not.
#[test]
fn a_named_pipe_where_a_file_is_read_is_refused_at_once() {
    let sb = Sandbox::new();
    let db = shared_db();
    let p = sb.path();
    let fifo = |name: &str| {
        let path = p.join(name);
        mkfifo(&path);
        path
    };
    approved(&sb, db, "buyers", "orders_count > 2");
    let out = p.join("buyers.csv");
    sb.seglens(&["export", "buyers", "--db", s(db), "--out", s(&out), "--as-of", AS_OF]).ok();
    let manifest = p.join("buyers.manifest.json");
    // A copy of the export whose members file is a pipe.
    let piped = p.join("piped");
    std::fs::create_dir_all(&piped).unwrap();
    std::fs::copy(&manifest, piped.join("buyers.manifest.json")).unwrap();
    mkfifo(&piped.join("buyers.members"));
    let piped_manifest = piped.join("buyers.manifest.json");
    let dataset = p.join("dataset");
    shop_dataset(&p.join("shop"), &dataset);
    mkfifo(&dataset.join("part-9.parquet"));
    let ws = p.join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    mkfifo(&ws.join("crm.duckdb"));
    std::fs::write(ws.join("seglens.toml"), "database = \"crm.duckdb\"\n").unwrap();

    let (fdb, fcsv, fpq) = (fifo("crm.duckdb"), fifo("people.csv"), fifo("people.parquet"));
    let (fmetrics, ffilter, fmanifest) = (fifo("metrics.toml"), fifo("filter.sql"), fifo("pipe.manifest.json"));
    let cases: Vec<(Vec<&str>, &Path)> = vec![
        (vec!["size", "--db", s(&fdb), "TRUE"], &fdb),
        (vec!["size", "--db", s(&fcsv), "TRUE"], &fcsv),
        (vec!["size", "--db", s(&fpq), "TRUE"], &fpq),
        (vec!["size", "--db", s(&dataset), "TRUE"], &dataset),
        (vec!["size", "--metrics", s(&fmetrics), "--db", s(db), "TRUE"], &fmetrics),
        (vec!["save", "x", "--db", s(db), "--filter-file", s(&ffilter)], &ffilter),
        (vec!["movement", "--from", s(&fmanifest), "--db", s(db)], &fmanifest),
        (vec!["changes", "buyers", "--since", s(&fmanifest), "--db", s(db)], &fmanifest),
        (vec!["movement", "--from", s(&piped_manifest), "--db", s(db)], &piped),
    ];
    for (args, named) in cases {
        let mut args = args.clone();
        args.extend(["--timeout", "5", "--as-of", AS_OF]);
        let o = run_within(sb.command(&args), Duration::from_secs(30));
        let o = o.user_error(&["named pipe (FIFO), not a regular file"]);
        assert!(o.stderr.contains(&*named.to_string_lossy()), "{args:?} does not name {}: {o:?}", named.display());
    }
    // The workspace's database (no --db: the workspace in the current directory names it).
    let mut cmd = sb.command(&["size", "TRUE", "--timeout", "5"]);
    cmd.current_dir(&ws);
    run_within(cmd, Duration::from_secs(30)).user_error(&["crm.duckdb: a named pipe (FIFO)"]);
}

// ----------------------------------------------------------------------------------------------
// Exports inside the dataset

/// `export --out ds/new.parquet` (a CSV under a Parquet name in the dataset being read), `--out
/// ds` (its CSV, manifest and members file into the dataset) and a file in it through a symbolic
/// link are refused, with and without --force, for the folder and for a glob over it; nothing in the dataset changes and it still
/// opens. Beside it, the same export works.
#[test]
fn an_export_into_the_dataset_it_reads_is_refused_and_the_dataset_still_opens() {
    let sb = Sandbox::new();
    let ds = sb.path().join("ds");
    let shop = shop_dataset(&sb.path().join("shop"), &ds);
    let want = q_i64(&common::plain(&shop), &format!("SELECT count(*) FROM shoppers WHERE {}", Foreign::Shop.filter()));
    approved(&sb, &ds, "picked", Foreign::Shop.filter());
    let before = snapshot(&ds);
    let glob = format!("{}/*.parquet", ds.display());
    // The dataset through a symbolic link is the dataset.
    let link = sb.path().join("link");
    std::os::unix::fs::symlink(&ds, &link).unwrap();
    for db in [s(&ds), glob.as_str()] {
        for target in [ds.join("new.parquet"), ds.clone(), link.join("x.csv")] {
            for force in [false, true] {
                let mut args = vec!["export", "picked", "--db", db, "--as-of", AS_OF, "--out", s(&target)];
                if force {
                    args.push("--force");
                }
                sb.seglens(&args).user_error(&["a folder seglens reads as the data", "never writes there"]);
                assert_eq!(snapshot(&ds), before, "{args:?} changed the dataset");
            }
        }
    }
    let j = sb.seglens(&["size", "--db", s(&ds), "--as-of", AS_OF, "--json", Foreign::Shop.filter()]).ok().json();
    assert_eq!(j["size"].as_i64(), Some(want), "{j}");
    let out = sb.path().join("picked.csv");
    sb.seglens(&["export", "picked", "--db", s(&ds), "--as-of", AS_OF, "--out", s(&out)]).ok();
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count() as i64, want + 1);
}

// ----------------------------------------------------------------------------------------------
// Damaged and disagreeing Parquet files

/// A damaged file in a folder (a truncated copy of a good one, and a 0-byte one) is one line,
/// exit 2, naming that file; it was exit 1 with DuckDB's "Footer length error" and no name.
#[test]
fn a_damaged_parquet_file_in_a_folder_is_named_with_exit_2() {
    let sb = Sandbox::new();
    let ds = sb.path().join("ds");
    shop_dataset(&sb.path().join("shop"), &ds);
    let good = std::fs::read(ds.join("part-0.parquet")).unwrap();
    // Not the first file: DuckDB binds a dataset by its first file and read the others only later.
    let bad = ds.join("part-2.parquet");
    std::fs::write(&bad, &good[..good.len() - 100]).unwrap();
    let o = sb.seglens(&["size", "--db", s(&ds), "--as-of", AS_OF, "home_country = 'IN'"]);
    o.user_error(&["part-2.parquet", "cannot read it as Parquet"]);
    std::fs::write(&bad, b"").unwrap();
    let o = sb.seglens(&["size", "--db", s(&ds), "--as-of", AS_OF, "home_country = 'IN'"]);
    o.user_error(&["part-2.parquet", "cannot read it as Parquet"]);
}

/// The rule (README): the files of one table must have the same columns, names and Parquet types, in any
/// order. A folder with a file that has a column more, or one less, or one of another type, is
/// refused naming the file and the column; the same columns in another order open and count what
/// DuckDB counts.
#[test]
fn a_folder_whose_files_have_different_columns_is_refused_naming_the_file() {
    let sb = Sandbox::new();
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let make = |dir: &str, second: &str| -> PathBuf {
        let d = sb.path().join(dir);
        std::fs::create_dir_all(&d).unwrap();
        conn.execute_batch(&format!(
            "COPY (SELECT i AS member_ref, i % 7 AS visits, 'c' || i AS \"City Name\" FROM range(0, 50) t(i))
               TO '{}' (FORMAT parquet);
             COPY ({second}) TO '{}' (FORMAT parquet);",
            d.join("a.parquet").display(),
            d.join("b.parquet").display()
        ))
        .unwrap();
        d
    };
    let rows = "FROM range(50, 80) t(i)";
    let extra = make(
        "extra",
        &format!("SELECT i AS member_ref, i % 7 AS visits, 'c' || i AS \"City Name\", 1 AS churned {rows}"),
    );
    let fewer = make("fewer", &format!("SELECT i AS member_ref, 'c' || i AS \"City Name\" {rows}"));
    let retyped = make(
        "retyped",
        &format!("SELECT i AS member_ref, (i % 7)::VARCHAR AS visits, 'c' || i AS \"City Name\" {rows}"),
    );
    let reordered =
        make("reordered", &format!("SELECT 'c' || i AS \"City Name\", i AS member_ref, i % 7 AS visits {rows}"));
    for (dir, column) in [(&extra, "churned"), (&fewer, "visits"), (&retyped, "visits BYTE_ARRAY")] {
        let o = sb.seglens(&["size", "--db", s(dir), "--key", "member_ref", "TRUE"]);
        o.user_error(&["b.parquet", "columns differ from those of", "a.parquet", column]);
    }
    let j = sb.seglens(&["size", "--db", s(&reordered), "--key", "member_ref", "--json", "visits > 3"]).ok().json();
    let want = q_i64(
        &conn,
        &format!("SELECT count(*) FROM read_parquet('{}/*.parquet') WHERE visits > 3", reordered.display()),
    );
    assert_eq!((j["size"].as_i64(), j["base"].as_i64()), (Some(want), Some(80)), "{j}");
}

/// A 0-byte CSV (and a 0-byte DuckDB file) says the file is empty, not "no customer table found".
#[test]
fn an_empty_file_says_it_is_empty() {
    let sb = Sandbox::new();
    for name in ["zero.csv", "zero.duckdb"] {
        let f = sb.path().join(name);
        std::fs::write(&f, b"").unwrap();
        sb.seglens(&["size", "--db", s(&f), "TRUE"]).user_error(&[name, "the file is empty (0 bytes)"]);
        assert_eq!(std::fs::read(&f).unwrap(), b"", "{name} was written to");
    }
}

// ----------------------------------------------------------------------------------------------
// Workspaces

/// A malformed `seglens.toml` two folders up does not stop a command that names another database
/// with --db (it is named in a warning, passed over); with no --db it is still the error it was.
#[test]
fn a_broken_workspace_up_the_tree_does_not_stop_a_command_naming_another_database() {
    let sb = Sandbox::new();
    let top = sb.path().join("team");
    let deep = top.join("a").join("b");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(top.join("seglens.toml"), "database = [not toml\n").unwrap();
    let other = people_db(&sb.path().join("people.duckdb"), 1, 300);
    let mut cmd = sb.command(&["size", "--db", s(&other), "--json", "score > 50"]);
    cmd.current_dir(&deep);
    let o = common::run(cmd, "").ok();
    let want = (1..=300).filter(|i| (i * 37) % 100 > 50).count() as u64;
    assert_eq!(o.json()["size"].as_u64(), Some(want), "{o:?}");
    assert!(o.stderr.contains("warning") && o.stderr.contains(&*top.join("seglens.toml").to_string_lossy()), "{o:?}");
    let mut cmd = sb.command(&["size", "score > 50"]);
    cmd.current_dir(&deep);
    common::run(cmd, "").user_error(&["seglens.toml", "fix the file"]);
}

/// A workspace's library that resolves outside its folder (`../../outside-lib`) is named in a
/// warning on every command that uses it, and saves go there as written; a library inside the
/// folder, or one named with --library, gives no warning; a metrics file whose path leads out
/// through a symbolic link is named too.
#[test]
fn a_workspace_library_outside_its_folder_is_named_in_a_warning() {
    let sb = Sandbox::new();
    let ws = sb.path().join("projects").join("crm");
    std::fs::create_dir_all(&ws).unwrap();
    people_db(&ws.join("people.duckdb"), 1, 300);
    std::fs::write(ws.join("seglens.toml"), "database = \"people.duckdb\"\nlibrary = \"../../outside-lib\"\n").unwrap();
    let outside = sb.path().join("outside-lib");
    let run = |args: &[&str]| {
        let mut cmd = sb.command(args);
        cmd.current_dir(&ws).env_remove("SEGLENS_LIBRARY");
        common::run(cmd, "")
    };
    let o = run(&["save", "high", "--filter", "score > 50"]).ok();
    let real = std::fs::canonicalize(&outside).unwrap();
    assert!(
        o.stderr.contains("warning")
            && o.stderr.contains("outside the workspace folder")
            && o.stderr.contains(&*real.to_string_lossy()),
        "{o:?}"
    );
    assert!(outside.join("high").is_dir(), "the save went to the library named");
    let o = run(&["list", "--json"]).ok();
    assert!(o.stderr.contains("outside the workspace folder"), "{o:?}");
    // Named with --library: the workspace's is not used, nothing to warn about.
    let lib = sb.path().join("lib2");
    let o = run(&["list", "--library", s(&lib)]).ok();
    assert!(!o.stderr.contains("warning"), "{o:?}");
    // Inside the folder: no warning.
    std::fs::write(ws.join("seglens.toml"), "database = \"people.duckdb\"\nlibrary = \"segments\"\n").unwrap();
    let o = run(&["save", "high", "--filter", "score > 50"]).ok();
    assert!(!o.stderr.contains("warning"), "{o:?}");
    assert!(ws.join("segments").join("high").is_dir());
    // A metrics file reached through a symbolic link that leads out of the folder is named too.
    std::fs::create_dir_all(sb.path().join("shared")).unwrap();
    std::os::unix::fs::symlink(sb.path().join("shared"), ws.join("shared")).unwrap();
    std::fs::write(ws.join("seglens.toml"), "database = \"people.duckdb\"\nmetrics = \"shared/metrics.toml\"\n")
        .unwrap();
    let o = run(&["list"]).ok();
    assert!(o.stderr.contains("metrics") && o.stderr.contains("outside the workspace folder"), "{o:?}");
}

// ----------------------------------------------------------------------------------------------
// A manifest of other data

/// An export keyed by text `shopper_ref`, given to `movement --from` or `changes --since` on data
/// keyed by integer `customer_id`, is refused: one line naming both keys, exit 2. It printed a
/// movement of everyone with exit 0 (every stored key read as gone, every customer as new).
#[test]
fn a_manifest_keyed_by_another_column_is_refused() {
    let sb = Sandbox::new();
    let shop = foreign_db(sb.path(), Foreign::Shop, 300);
    // Everyone: a filter both databases can run, so only the keys tell the data apart.
    approved(&sb, &shop, "seg", "TRUE");
    let out = sb.path().join("shop.csv");
    sb.seglens(&["export", "seg", "--db", s(&shop), "--as-of", AS_OF, "--out", s(&out)]).ok();
    let manifest = sb.path().join("shop.manifest.json");
    let db = shared_db();
    for args in [
        vec!["movement", "--from", s(&manifest), "--db", s(db), "--as-of", AS_OF],
        vec!["changes", "seg", "--since", s(&manifest), "--db", s(db), "--as-of", AS_OF],
    ] {
        sb.seglens(&args).user_error(&["shopper_ref (text)", "customer_id (integer)", "shop.manifest.json"]);
    }
    // The same key name with another type is refused too: shopper_ref as integers.
    let ints = sb.path().join("ints.duckdb");
    let conn = duckdb::Connection::open(&ints).unwrap();
    conn.execute_batch(
        "CREATE TABLE shoppers (shopper_ref BIGINT PRIMARY KEY, total_spent DOUBLE, home_country VARCHAR);
         INSERT INTO shoppers SELECT i, i * 10.0, 'IN' FROM range(1, 100) t(i); CHECKPOINT;",
    )
    .unwrap();
    drop(conn);
    sb.seglens(&["movement", "--from", s(&manifest), "--db", s(&ints), "--as-of", AS_OF])
        .user_error(&["shopper_ref (text)", "shopper_ref (integer)"]);
}

/// An export of another database of the same shape (ids 5001..5300, none of them in this data)
/// gives its movement and changes with two warnings, on stderr and in --json's `warnings`: it is
/// an export of another file, and none of its customers is here. The export of this very data
/// gives none (`warnings` empty).
#[test]
fn a_manifest_of_other_data_of_the_same_shape_is_warned_about() {
    let sb = Sandbox::new();
    let here = people_db(&sb.path().join("here.duckdb"), 1, 300);
    let there = people_db(&sb.path().join("there.duckdb"), 5001, 300);
    approved(&sb, &here, "high", "score > 50");
    let export = |db: &Path, name: &str| {
        let out = sb.path().join(format!("{name}.csv"));
        sb.seglens(&["export", "high", "--db", s(db), "--as-of", AS_OF, "--out", s(&out)]).ok();
        sb.path().join(format!("{name}.manifest.json"))
    };
    let (theirs, ours) = (export(&there, "there"), export(&here, "here"));
    for args in [
        vec!["movement", "--from", s(&theirs), "--db", s(&here), "--as-of", AS_OF, "--json"],
        vec!["changes", "high", "--since", s(&theirs), "--db", s(&here), "--as-of", AS_OF, "--json"],
    ] {
        let o = sb.seglens(&args).ok();
        let w: Vec<String> =
            o.json()["warnings"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        assert_eq!(w.len(), 2, "{args:?}: {o:?}");
        assert!(w[0].contains("there.duckdb") && w[0].contains("here.duckdb"), "{w:?}");
        assert!(w[1].contains("none of the") && w[1].contains("is in people now"), "{w:?}");
        for line in &w {
            assert!(o.stderr.contains(line.as_str()), "{line} not on stderr: {o:?}");
        }
    }
    for args in [
        vec!["movement", "--from", s(&ours), "--db", s(&here), "--as-of", AS_OF, "--json"],
        vec!["changes", "high", "--since", s(&ours), "--db", s(&here), "--as-of", AS_OF, "--json"],
    ] {
        let o = sb.seglens(&args).ok();
        assert_eq!(o.json()["warnings"], serde_json::json!([]), "{o:?}");
        assert!(!o.stderr.contains("warning"), "{o:?}");
    }
}

// ----------------------------------------------------------------------------------------------
// Scale

/// `movement --from` a manifest of 400,000 distinct segments answers (here: none of them is in the
/// library, exit 2 naming the first) instead of running for minutes: removing duplicate names was
/// quadratic (8·10¹⁰ comparisons here). The limit only stops a run that hangs; speed is measured
/// in benches.
#[test]
fn movement_from_a_manifest_of_many_segments_answers_quickly() {
    use seglens::engine::keys::Keys;
    use seglens::export::members_file::{MemberList, encode};
    use sha2::Digest;
    let sb = Sandbox::new();
    let n = 400_000;
    let lists: Vec<MemberList> = (0..n)
        .map(|i| MemberList { segment: format!("seg-{i}"), label: String::new(), keys: Keys::Int(vec![i as i64 + 1]) })
        .collect();
    let bytes = encode(&lists).unwrap();
    std::fs::write(sb.path().join("big.members"), &bytes).unwrap();
    let sha: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    let segments: Vec<serde_json::Value> =
        (0..n).map(|i| serde_json::json!({"name": format!("seg-{i}"), "version": 1, "rows": 1})).collect();
    let manifest = serde_json::json!({
        "file": "big.csv", "created_at": "2026-02-01T00:00:00Z", "segments": segments,
        "members": {"file": "big.members", "sha256": sha, "format": "seglens-members-1", "key": "customer_id"},
    });
    let path = sb.path().join("big.manifest.json");
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let o = run_within(
        sb.command(&["movement", "--from", s(&path), "--db", s(shared_db()), "--as-of", AS_OF]),
        Duration::from_secs(60),
    );
    o.user_error(&["no segment \"seg-0\""]);
}
