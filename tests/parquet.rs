//! Parquet read in place (issue 19): a file, a folder of several files, a glob, a hive-partitioned
//! dataset and a folder of one dataset per table, on data that is not the sample (`foreign.rs`'s
//! shop). Counts are compared with DuckDB's own over `read_parquet`, computed by the test; nothing
//! is written beside the data or in the current directory; DuckDB's temp directory is seglens'
//! cache; and no entry point (filter, feature, metric, template, param) can write into the files
//! DuckDB is allowed to read.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::path::{Path, PathBuf};

use common::foreign::{Foreign, foreign_db};
use common::{Sandbox, q_i64, s, snapshot};

const AS_OF: &str = "2026-03-01";
const ROWS: u64 = 4000;
const RELATED: &str =
    "EXISTS (SELECT 1 FROM purchase_records p WHERE p.shopper_ref = shoppers.shopper_ref AND p.amount > 250)";

/// The shop data as a DuckDB file and as Parquet in every layout seglens reads.
struct Layouts {
    _dir: tempfile::TempDir,
    db: PathBuf,
    data: PathBuf,
}

impl Layouts {
    fn new() -> Layouts {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        let db = foreign_db(&dir.path().join("src"), Foreign::Shop, ROWS);
        let data = dir.path().join("data");
        for sub in ["folder", "parts", "crm"] {
            std::fs::create_dir_all(data.join(sub)).unwrap();
        }
        let d = data.display();
        let c = duckdb::Connection::open(&db).unwrap();
        let mut sql = format!(
            "COPY shoppers TO '{d}/shoppers.parquet' (FORMAT parquet);
             COPY shoppers TO '{d}/hive' (FORMAT parquet, PARTITION_BY (home_country));
             COPY shoppers TO '{d}/crm/shoppers' (FORMAT parquet, PARTITION_BY (home_country));
             COPY purchase_records TO '{d}/crm/purchase_records.parquet' (FORMAT parquet);
             COPY (SELECT * FROM shoppers LIMIT 7) TO '{d}/parts/old-0.parquet' (FORMAT parquet);"
        );
        for k in 0..4 {
            sql.push_str(&format!(
                "COPY (SELECT * FROM shoppers WHERE hash(shopper_ref) % 4 = {k}) TO '{d}/folder/part-{k}.parquet' (FORMAT parquet);
                 COPY (SELECT * FROM shoppers WHERE hash(shopper_ref) % 4 = {k}) TO '{d}/parts/shoppers-{k}.parquet' (FORMAT parquet);"
            ));
        }
        c.execute_batch(&sql).unwrap();
        drop(c);
        Layouts { _dir: dir, db, data }
    }

    /// (what `--db` is given, what DuckDB's read_parquet reads for the same table).
    fn single_tables(&self) -> Vec<(String, String)> {
        let d = self.data.display();
        vec![
            (format!("{d}/shoppers.parquet"), format!("read_parquet('{d}/shoppers.parquet')")),
            (format!("{d}/folder"), format!("read_parquet('{d}/folder/*.parquet')")),
            (format!("{d}/parts/shoppers-*.parquet"), format!("read_parquet('{d}/parts/shoppers-*.parquet')")),
            (format!("{d}/hive"), format!("read_parquet('{d}/hive/*/*.parquet', hive_partitioning = true)")),
            (format!("{d}/crm"), format!("read_parquet('{d}/crm/shoppers/*/*.parquet', hive_partitioning = true)")),
        ]
    }
}

fn size(sb: &Sandbox, db: &str, filter: &str) -> (u64, u64) {
    let j = sb.seglens(&["size", "--db", db, "--as-of", AS_OF, "--json", "--", filter]).ok().json();
    (j["size"].as_u64().unwrap(), j["base"].as_u64().unwrap())
}

/// A file, a folder of four files, a glob (that leaves a decoy out), a hive dataset and a folder of
/// tables: sizes and bases equal DuckDB's own counts over read_parquet, and the DuckDB file's.
#[test]
fn every_layout_counts_what_duckdb_counts_over_read_parquet() {
    let l = Layouts::new();
    let sb = Sandbox::new();
    let filter = Foreign::Shop.filter();
    let c = duckdb::Connection::open_in_memory().unwrap();
    let from_db = {
        let d = common::plain(&l.db);
        (q_i64(&d, &format!("SELECT count(*) FROM shoppers WHERE {filter}")) as u64, ROWS)
    };
    assert!(from_db.0 > 100 && from_db.0 < ROWS / 2, "the filter selects part of the table: {from_db:?}");
    for (db, read) in l.single_tables() {
        let want = (
            q_i64(&c, &format!("SELECT count(*) FROM {read} WHERE {filter}")) as u64,
            q_i64(&c, &format!("SELECT count(*) FROM {read}")) as u64,
        );
        assert_eq!(want, from_db, "{read}");
        assert_eq!(size(&sb, &db, filter), want, "{db}");
    }
    // The decoy beside the glob's files is not read.
    let d = l.data.display();
    assert_eq!(size(&sb, &format!("{d}/parts/old-*.parquet"), "TRUE"), (7, 7));
}

/// A folder with one subfolder or file per table: the related table answers EXISTS filters and
/// the inferred metrics roll it up; the key is detected as in a DuckDB file.
#[test]
fn a_folder_of_tables_has_related_tables_like_a_duckdb_file() {
    let l = Layouts::new();
    let sb = Sandbox::new();
    let crm = l.data.join("crm");
    let want = q_i64(&common::plain(&l.db), &format!("SELECT count(*) FROM shoppers WHERE {RELATED}")) as u64;
    assert!(want > 0 && want < ROWS, "{want}");
    assert_eq!(size(&sb, s(&crm), RELATED), (want, ROWS));
    let j = sb.seglens(&["schema", "--db", s(&crm), "--json"]).ok().json();
    assert_eq!(j["table"], "shoppers", "{j}");
    assert_eq!(j["key"], "shopper_ref", "{j}");
    let tables: Vec<&str> = j["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tables, ["purchase_records", "shoppers"]);
    let j = sb.seglens(&["metrics", "--db", s(&crm), "--json"]).ok().json();
    assert!(j.to_string().contains("purchase_records"), "a rollup of the related table is proposed: {j}");
    let p = sb.seglens(&["profile", "--db", s(&crm), "--as-of", AS_OF, "--json", "--", RELATED]).ok().json();
    assert_eq!(p["size"].as_u64(), Some(want), "{p}");
}

/// The data folder and the current directory are read-only and nothing in them changes, whatever
/// the command; DuckDB's temp directory is this session's folder in seglens' cache, for every
/// kind of source; a killed session's folder there is removed and a finished session leaves none.
#[test]
fn nothing_is_written_beside_the_data_or_in_the_current_directory() {
    use std::os::unix::fs::PermissionsExt;
    let l = Layouts::new();
    let sb = Sandbox::new();
    let cwd = sb.path().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let csv = l.data.join("shoppers.csv");
    duckdb::Connection::open_in_memory()
        .unwrap()
        .execute_batch(&format!("COPY (FROM '{}') TO '{}'", l.data.join("shoppers.parquet").display(), csv.display()))
        .unwrap();
    let cache = sb.path().join("cache").join("tmp");
    let dead = cache.join("4194303-0");
    std::fs::create_dir_all(dead.join("duckdb")).unwrap();
    std::fs::write(dead.join("lock"), "").unwrap();
    std::fs::write(dead.join("duckdb").join("duckdb_temp_storage-0.tmp"), "customer data").unwrap();
    let set_mode = |dir: &Path, mode: u32| {
        for (p, _) in snapshot(dir) {
            if p.is_dir() {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            }
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    set_mode(&l.data, 0o555);
    set_mode(&cwd, 0o555);
    let (before, before_cwd) = (snapshot(&l.data), snapshot(&cwd));
    let mut sources: Vec<String> = l.single_tables().into_iter().map(|(db, _)| db).collect();
    sources.push(s(&csv).to_string());
    sources.push(s(&l.db).to_string());
    let temp = cache.canonicalize().unwrap_or(cache.clone());
    for db in &sources {
        for args in [
            vec!["size", "--db", db, "--as-of", AS_OF, "--json", "home_country = 'IN'"],
            vec!["profile", "--db", db, "--as-of", AS_OF, "--json", "home_country = 'IN'"],
            vec!["rows", "--db", db, "--as-of", AS_OF, "--json", "--limit", "3", "TRUE"],
            vec!["hygiene", "--db", db, "--json"],
            vec!["schema", "--db", db, "--json"],
        ] {
            let mut cmd = sb.command(&args);
            cmd.current_dir(&cwd);
            common::run(cmd, "").ok();
        }
        // DuckDB's temp directory, as DuckDB reports it to a filter.
        let filter = format!("current_setting('temp_directory') LIKE '{}/%/duckdb'", temp.display());
        let (n, base) = size(&sb, db, &filter);
        assert_eq!(n, base, "{db}: temp_directory is not under {}", temp.display());
    }
    set_mode(&l.data, 0o755);
    set_mode(&cwd, 0o755);
    assert_eq!(snapshot(&l.data), before, "something beside the data changed");
    assert_eq!(snapshot(&cwd), before_cwd, "something was written in the current directory");
    assert!(!dead.exists(), "a killed session's temp folder is removed");
    let left: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "finished sessions leave their temp folders: {left:?}");
}

/// Errors: an empty folder, a glob matching nothing, a file that is not Parquet: one line, exit 2.
#[test]
fn folders_and_globs_without_parquet_are_clear_errors() {
    let sb = Sandbox::new();
    let empty = sb.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    sb.seglens(&["size", "--db", s(&empty), "TRUE"]).user_error(&["directory without Parquet"]);
    let glob = format!("{}/*.parquet", empty.display());
    sb.seglens(&["size", "--db", &glob, "TRUE"]).user_error(&["matches no Parquet"]);
    let fake = empty.join("fake.parquet");
    std::fs::write(&fake, "not parquet").unwrap();
    sb.seglens(&["size", "--db", s(&fake), "TRUE"]).user_error(&["cannot read it as Parquet"]);
    assert_eq!(std::fs::read(&fake).unwrap(), b"not parquet");
}

/// DuckDB lets the files it may read be written too (measured: `COPY ... TO` an allowed path
/// overwrites it). Every entry point tries it, with a statement DuckDB would run if it got there:
/// a filter, a feature, a metric, a template written by hand, a parameter value. Each is refused
/// or harmless, and no file of the dataset (nor its folder) changes.
#[test]
fn no_entry_point_writes_into_the_files_duckdb_may_read() {
    let l = Layouts::new();
    let sb = Sandbox::new();
    let hive = l.data.join("hive");
    let file = snapshot(&hive).into_iter().find(|(p, b)| !b.is_empty() && p.is_file()).unwrap().0;
    let f = file.display().to_string();
    let part_dir = file.parent().unwrap().display().to_string();
    let before = snapshot(&l.data);
    let copy = |target: &str| format!("COPY (SELECT 1 AS x) TO ''{target}'' (FORMAT parquet, USE_TMP_FILE false)");
    let writes = [
        format!("EXISTS (SELECT * FROM query('{}'))", copy(&f)),
        format!("EXISTS (SELECT * FROM query('{}'))", copy(&format!("{part_dir}/evil.parquet"))),
        format!("EXISTS (SELECT * FROM query_table('{f}'))"),
        format!("(SELECT count(*) FROM enable_profiling(save_location := '{f}')) >= 0"),
        format!("(SELECT count(*) FROM enable_logging(storage := 'file', storage_path := '{part_dir}')) >= 0"),
        format!("TRUE; COPY (SELECT 1) TO '{f}' (FORMAT parquet)"),
        format!("$$ ; COPY (SELECT 1) TO '{f}' (FORMAT parquet); $$ = 'x'"),
        format!("TRUE /* ; */ ; COPY (SELECT 1) TO '{f}'"),
        format!("E'\\' ; COPY (SELECT 1) TO '{f}' ; ' = 'x'"),
    ];
    let db = s(&hive);
    for w in &writes {
        let o = sb.seglens(&["size", "--db", db, "--as-of", AS_OF, "--json", "--", w]);
        // Refused (exit 2), or harmless: a string compared (`$$...$$ = 'x'`), the allowed file read
        // (query_table), matching no one or everyone, never an error of another kind.
        if o.code != 0 {
            assert_eq!(o.code, 2, "{w}: {o:?}");
        } else {
            let n = o.json()["size"].as_u64().unwrap();
            assert!(n == 0 || n == ROWS, "{w}: {o:?}");
        }
        assert_eq!(snapshot(&l.data), before, "{w} changed a file of the dataset or its folders");
    }
    for (w, refused) in [(&writes[0], "single SELECT"), (&writes[3], "locked"), (&writes[5], "';'")] {
        sb.seglens(&["size", "--db", db, "--as-of", AS_OF, "--", w]).user_error(&[refused]);
    }
    // A feature, a metric and a hand-written template carrying the same statements.
    std::fs::create_dir_all(sb.library()).unwrap();
    std::fs::write(sb.library().join("features.toml"), format!("[evil]\nsql = '''{}'''\n", writes[0])).unwrap();
    sb.seglens(&["size", "--db", db, "--as-of", AS_OF, "evil()"]).user_error(&["single SELECT"]);
    let metrics = sb.path().join("metrics.toml");
    std::fs::write(
        &metrics,
        format!(
            "[[metric]]\nname = \"evil\"\nlabel = \"Evil\"\nsql = '''(SELECT count(*) FROM query('{}'))'''\nformat = \"number\"\n\n[[metric]]\nname = \"n\"\nlabel = \"N\"\nsql = \"count(*)\"\nformat = \"number\"\n",
            copy(&f)
        ),
    )
    .unwrap();
    let j =
        sb.seglens(&["profile", "--db", db, "--as-of", AS_OF, "--metrics", s(&metrics), "--json", "TRUE"]).ok().json();
    assert_eq!(j["metrics"].as_array().map(Vec::len), Some(1), "{j}");
    assert!(j["notes"].to_string().contains("metric evil left out: Parser error: Expected a single SELECT"), "{j}");
    let dir = sb.library().join("evil-template");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("v0001.toml"),
        format!(
            "name = \"evil-template\"\nversion = 1\ncreated_at = \"2026-02-27T10:11:12Z\"\nstatus = \"draft\"\npriority = 0\nfilter = '''{}'''\n",
            writes[0]
        ),
    )
    .unwrap();
    sb.seglens(&["size", "--db", db, "--as-of", AS_OF, "evil-template"]).user_error(&["single SELECT"]);
    // `check` runs every template: this one fails, named, with DuckDB's refusal.
    let o = sb.seglens(&["check", "--db", db, "--as-of", AS_OF, "--json"]).user_error(&["1 template(s) failed"]);
    let t = &o.json()["templates"][0];
    assert_eq!((t["segment"].as_str(), t["ok"].as_bool()), (Some("evil-template"), Some(false)), "{o:?}");
    assert!(t["error"].to_string().contains("single SELECT"), "{o:?}");
    assert_eq!(snapshot(&l.data), before, "check changed a file of the dataset or its folders");
    // A parameter value that would close the string: bound as an escaped literal, so it matches
    // no shopper and writes nothing.
    // (No comma in it: a value with commas would be guessed a list.)
    let value = format!("x') OR EXISTS (SELECT * FROM query('COPY (SELECT 1) TO ''{f}''')) OR ('");
    let j = sb
        .seglens(&[
            "size",
            "--db",
            db,
            "--as-of",
            AS_OF,
            "--json",
            "--param",
            &format!("label={value}"),
            "segment_label = {{label}}",
        ])
        .ok()
        .json();
    assert_eq!(j["size"].as_u64(), Some(0), "{j}");
    assert_eq!(snapshot(&l.data), before, "a file of the dataset or its folders changed");
}

/// What a SELECT can do is what its functions do. The table functions of the bundled DuckDB,
/// reviewed for effects beyond reading (issue 19): `checkpoint`/`force_checkpoint` (the database
/// seglens opens is read-only or in memory), `enable_profiling`/`enable_logging`/
/// `disable_*`/`truncate_duckdb_logs` (refused: the configuration is locked),
/// `*_external_resource*` (run table functions, which are reads, on an internal connection of the
/// same locked database), `query`/`query_table` (one SELECT, parsed by DuckDB). Everything else
/// reads. A DuckDB upgrade that adds a table function fails here until it is reviewed.
#[test]
fn every_table_function_of_the_bundled_duckdb_was_reviewed() {
    const REVIEWED: &[&str] = &[
        "arrow_scan",
        "arrow_scan_dumb",
        "checkpoint",
        "create_external_resource",
        "deregister_external_resource",
        "destroy_external_resource",
        "disable_logging",
        "disable_profiling",
        "duckdb_approx_database_count",
        "duckdb_available_metrics",
        "duckdb_columns",
        "duckdb_connection_count",
        "duckdb_constraints",
        "duckdb_coordinate_systems",
        "duckdb_databases",
        "duckdb_dependencies",
        "duckdb_dialects",
        "duckdb_eviction_queues",
        "duckdb_extension_repositories",
        "duckdb_extensions",
        "duckdb_external_file_cache",
        "duckdb_external_resource_types",
        "duckdb_external_resources",
        "duckdb_functions",
        "duckdb_grammar_extensions",
        "duckdb_indexes",
        "duckdb_keywords",
        "duckdb_log_contexts",
        "duckdb_logs",
        "duckdb_memory",
        "duckdb_optimizers",
        "duckdb_prepared_statements",
        "duckdb_schemas",
        "duckdb_secret_type_parameters",
        "duckdb_secret_types",
        "duckdb_secrets",
        "duckdb_sequences",
        "duckdb_settings",
        "duckdb_table_sample",
        "duckdb_tables",
        "duckdb_temporary_files",
        "duckdb_triggers",
        "duckdb_types",
        "duckdb_variables",
        "duckdb_views",
        "enable_logging",
        "enable_profiling",
        "force_checkpoint",
        "generate_series",
        "glob",
        "parquet_bloom_probe",
        "parquet_file_metadata",
        "parquet_full_metadata",
        "parquet_kv_metadata",
        "parquet_metadata",
        "parquet_scan",
        "parquet_schema",
        "pragma_collations",
        "pragma_database_size",
        "pragma_metadata_info",
        "pragma_platform",
        "pragma_show",
        "pragma_storage_info",
        "pragma_table_info",
        "pragma_user_agent",
        "pragma_version",
        "query",
        "query_table",
        "range",
        "read_blob",
        "read_csv",
        "read_csv_auto",
        "read_duckdb",
        "read_parquet",
        "read_single_csv_file",
        "read_single_parquet_file",
        "read_text",
        "register_external_resource",
        "register_external_resource_type",
        "repeat",
        "repeat_row",
        "seq_scan",
        "sniff_csv",
        "summary",
        "test_all_types",
        "test_vector_types",
        "truncate_duckdb_logs",
        "unnest",
        "which_secret",
    ];
    let c = duckdb::Connection::open_in_memory().unwrap();
    let mut s = c
        .prepare("SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type = 'table' ORDER BY 1")
        .unwrap();
    let names: Vec<String> = s.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
    let new: Vec<&String> = names.iter().filter(|n| !REVIEWED.contains(&n.as_str())).collect();
    assert!(new.is_empty(), "table functions not reviewed: {new:?}");
}

/// An export aimed at a file of a hive dataset (one of the files DuckDB may read) is refused, with
/// and without --force, and the file is unchanged.
#[test]
fn an_export_never_writes_onto_a_file_of_the_dataset() {
    let l = Layouts::new();
    let sb = Sandbox::new();
    let hive = l.data.join("hive");
    let db = s(&hive);
    sb.seglens(&["save", "in-india", "--db", db, "--filter", "home_country = 'IN'"]).ok();
    sb.seglens(&["approve", "in-india"]).ok();
    let before = snapshot(&l.data);
    let target = hive.join("home_country=IN").join("data_0.parquet");
    assert!(target.is_file(), "{}", target.display());
    for force in [false, true] {
        let mut args = vec!["export", "in-india", "--db", db, "--as-of", AS_OF, "--out", s(&target)];
        if force {
            args.push("--force");
        }
        sb.seglens(&args).user_error(&["a file of the data seglens reads"]);
    }
    assert_eq!(snapshot(&l.data), before);
    // Beside it, elsewhere, the export works and holds the segment.
    let out = sb.path().join("in.csv");
    sb.seglens(&["export", "in-india", "--db", db, "--as-of", AS_OF, "--out", s(&out)]).ok();
    let want = q_i64(&common::plain(&l.db), "SELECT count(*) FROM shoppers WHERE home_country = 'IN'") as usize;
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), want + 1);
}

/// The sandbox holds by construction: after open, the engine reaches DuckDB only through
/// `sandbox::ReadOnly` (every statement as `SELECT * FROM query(...)`); the raw connection is
/// named only where the sandbox is built (conn/open.rs, conn/source.rs, conn/sandbox.rs) and where
/// the date macros are defined (conn/today.rs), and `setup()` (the date macros, no outside text)
/// only in conn/open.rs and conn/today.rs, and in the cache's tests (cache/tests.rs).
#[test]
fn the_engine_reaches_duckdb_only_through_the_read_only_wrapper() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
    let mut raw_users = Vec::new();
    let mut setup_users = Vec::new();
    let files = snapshot(&dir).into_iter().filter(|(p, _)| p.extension().is_some_and(|e| e == "rs"));
    for (path, bytes) in files {
        let name = path.strip_prefix(&dir).unwrap().to_string_lossy().replace('\\', "/");
        if path.file_name().is_some_and(|f| f == "tests.rs") {
            continue; // a module's tests, in a file of their own
        }
        let text = String::from_utf8(bytes).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let raw =
            |l: &str| l.contains("duckdb::Connection") || (l.starts_with("use duckdb::") && l.contains("Connection"));
        if code.lines().any(raw) {
            raw_users.push(name.clone());
        }
        if code.contains(".setup()") {
            setup_users.push(name);
        }
    }
    raw_users.sort();
    assert_eq!(
        raw_users,
        ["conn/open.rs", "conn/sandbox.rs", "conn/source.rs", "conn/today.rs"],
        "a raw DuckDB connection outside the sandbox's making"
    );
    setup_users.sort();
    assert_eq!(setup_users, ["conn/open.rs", "conn/today.rs"]);
    let module = std::fs::read_to_string(dir.join("mod.rs")).unwrap();
    assert!(module.contains("    conn: sandbox::ReadOnly,"), "the engine's connection is the wrapper");
    let count = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap().matches(".setup()").count();
    assert_eq!(
        count("conn/open.rs"),
        3,
        "open (the engine's and the rollup build's connections) and try_clone define the date macros"
    );
    assert_eq!(count("conn/today.rs"), 1, "set_today moves them on");
}

/// A CSV is loaded into memory with its progress reported, ending at its size; the counts are
/// DuckDB's over the same CSV.
#[test]
fn a_csv_load_reports_its_progress() {
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("people.csv");
    let c = duckdb::Connection::open_in_memory().unwrap();
    c.execute_batch(&format!(
        "COPY (SELECT range AS person_id, 'name ' || range AS name, range % 97 AS score FROM range(400000)) TO '{}'",
        csv.display()
    ))
    .unwrap();
    let total = std::fs::metadata(&csv).unwrap().len();
    let calls: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let seen = calls.clone();
    let opts = seglens::engine::OpenOptions {
        progress: Some(seglens::engine::Progress(Arc::new(move |d, t| seen.lock().unwrap().push((d, t))))),
        ..Default::default()
    };
    let e = seglens::engine::Engine::open(&csv, &opts).unwrap();
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.last(), Some(&(total, total)), "{calls:?}");
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0 && w[1].1 == total), "{calls:?}");
    let want = q_i64(&c, &format!("SELECT count(*) FROM '{}' WHERE score > 50", csv.display())) as u64;
    assert_eq!(e.size(&common::compile("score > 50")).unwrap().size, want);
    assert_eq!(e.base_size(), 400000);
}
