//! The machinery of `tests/dialects.rs`: the databases written out for the engines (with keys
//! planted where engines may disagree, and one template with arms each), a Spark runner (one
//! pyspark session per test); `postgres.rs` has the PostgreSQL cluster.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::common::foreign::{Foreign, foreign_db};
use super::common::{self, Sandbox, s};
use super::{AS_OF, Case, club_cases, sample_cases, shop_cases};
use seglens::cli::starter::install_starters;
use seglens::engine::Engine;
use seglens::library::Library;

/// (table, [(column, DuckDB type)], parquet file, csv file)
type Table = (String, Vec<(String, String)>, PathBuf, PathBuf);

/// One database: its file, its tables as written out for the engines, its cases and its
/// template with arms.
pub struct Db {
    pub path: PathBuf,
    pub tables: Vec<Table>,
    pub cases: Vec<Case>,
    pub arms: ArmTemplate,
}

/// A template with arms, saved in the fixture's library for one database (the sample's approved,
/// so that `--all-approved` writes it with an arm column and a test per arm).
pub struct ArmTemplate {
    pub name: &'static str,
    pub filter: &'static str,
    pub spec: &'static str,
    /// With a quote, a backslash or non-ASCII text: each dialect escapes its literal.
    pub salt: &'static str,
    /// Keys planted in the database (as SQL literals) where engines could disagree: non-ASCII
    /// text, quotes and separators, negative and extreme integers. Each is a copy of a member's
    /// row, so each is a member too.
    pub planted: &'static [&'static str],
}

/// The three databases' templates with arms: the sample (BIGINT key), `Foreign::Shop` (VARCHAR
/// key) and `Foreign::Club` (BIGINT key, a table named with a space).
pub fn arm_templates() -> [ArmTemplate; 3] {
    [
        ArmTemplate {
            name: "arms-sample",
            filter: "orders_count > 2",
            spec: "holdout=0.2,offer-a=0.4,offer_b=0.4",
            salt: r#"it's "spring" \ ü-26"#,
            planted: &["-7", "-1000000", "9223372036854775807"],
        },
        ArmTemplate {
            name: "arms-shop",
            filter: Foreign::Shop.filter(),
            spec: "control=0.3,treatment=0.7",
            salt: "o'neil",
            planted: &["'ключ-7'", "'Zoë 😀'", "'O''Brien'", r"'back\slash'", "'日本-1'", "'a,b\"c'", "'trailing '"],
        },
        ArmTemplate {
            name: "arms-club",
            filter: Foreign::Club.filter(),
            spec: "control=0.5,test-b=0.25,test_c=0.25",
            salt: "ключ'26",
            planted: &["-1", "-42", "-9223372036854775808", "9223372036854775807"],
        },
    ]
}

pub struct Fixture {
    pub sb: Sandbox,
    pub dbs: Vec<Db>,
}

impl Fixture {
    pub fn new() -> Fixture {
        let sb = Sandbox::new();
        let dir = sb.path().join("dbs");
        std::fs::create_dir_all(&dir).unwrap();
        // The fixture's files are read by the PostgreSQL server's user too.
        set_mode(sb.path(), 0o755);
        set_mode(&dir, 0o755);
        let [sample_arms, shop_arms, club_arms] = arm_templates();
        let sample = common::private_db(&dir);
        plant(&sample, "customers", "customer_id", &sample_arms);
        {
            let engine = Engine::open(&sample, &common::pinned_sample_options()).expect("open the sample");
            install_starters(&Library::open(sb.library()), &engine).expect("install the starters");
        }
        let shop = foreign_db(&dir, Foreign::Shop, 400);
        plant(&shop, Foreign::Shop.table_sql(), Foreign::Shop.key(), &shop_arms);
        let club = foreign_db(&dir, Foreign::Club, 400);
        plant(&club, Foreign::Club.table_sql(), Foreign::Club.key(), &club_arms);
        let dbs: Vec<Db> =
            [(sample, sample_cases(), sample_arms), (shop, shop_cases(), shop_arms), (club, club_cases(), club_arms)]
                .into_iter()
                .enumerate()
                .map(|(i, (path, cases, arms))| Db { tables: write_out(&path, &dir, i), path, cases, arms })
                .collect();
        for db in &dbs {
            let a = &db.arms;
            sb.seglens(&[
                "save",
                a.name,
                "--db",
                s(&db.path),
                "--as-of",
                AS_OF,
                "--filter",
                a.filter,
                "--arms",
                a.spec,
                "--salt",
                a.salt,
            ])
            .ok();
        }
        sb.seglens(&["approve", dbs[0].arms.name]).ok();
        Fixture { sb, dbs }
    }

    /// `seglens size` on the DuckDB file: the count every engine must reproduce.
    pub fn size(&self, db: &Db, c: &Case) -> u64 {
        let mut args = vec!["size", "--db", s(&db.path), "--as-of", AS_OF, "--json", c.filter.as_str()];
        for p in &c.params {
            args.extend(["-p", p.as_str()]);
        }
        let o = self.sb.seglens(&args);
        assert_eq!(o.code, 0, "{}: seglens size failed: {o:?}", c.label);
        o.json()["size"].as_u64().unwrap_or_else(|| panic!("{}: no size in {o:?}", c.label))
    }

    pub fn sql(&self, db: &Db, c: &Case, dialect: &str) -> String {
        let mut args =
            vec!["sql", "--db", s(&db.path), "--as-of", AS_OF, "--json", "--dialect", dialect, c.filter.as_str()];
        for p in &c.params {
            args.extend(["-p", p.as_str()]);
        }
        let o = self.sb.seglens(&args);
        assert_eq!(o.code, 0, "{}: seglens sql --dialect {dialect} failed: {o:?}", c.label);
        o.json()["sql"].as_str().expect("sql").to_string()
    }

    /// (label, expected count, translated SQL) of every case of `db`. Each count is checked to
    /// select part of the table: a case that selects nobody or everybody proves little.
    pub fn expectations(&self, db: &Db, dialect: &str) -> Vec<(String, u64, String)> {
        let base = common::q_i64(&common::plain(&db.path), &format!("SELECT count(*) FROM \"{}\"", db.tables[0].0));
        // A few processes at a time: each is mostly start-up.
        let chunk = db.cases.len().div_ceil(4);
        let out: Vec<(String, u64, String)> = std::thread::scope(|scope| {
            let workers: Vec<_> = db
                .cases
                .chunks(chunk)
                .map(|cases| {
                    scope.spawn(move || {
                        cases
                            .iter()
                            .map(|c| (c.label.clone(), self.size(db, c), self.sql(db, c, dialect)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().expect("a case panicked")).collect()
        });
        let trivial: Vec<String> = out
            .iter()
            .filter(|(_, n, _)| *n == 0 || *n as i64 >= base)
            .map(|(l, n, _)| format!("{l}: {n} of {base}"))
            .collect();
        assert!(trivial.is_empty(), "cases that select nobody or everybody: {trivial:?}");
        out
    }
}

impl Fixture {
    /// `seglens sql --all-approved --json` on the sample, written to `models-<dialect>`.
    pub fn all_approved(&self, dialect: &str) -> Value {
        let db = &self.dbs[0];
        let out = self.sb.path().join(format!("models-{dialect}"));
        let args = [
            "sql",
            "--db",
            s(&db.path),
            "--as-of",
            AS_OF,
            "--dialect",
            dialect,
            "--all-approved",
            "--out",
            s(&out),
            "--force",
            "--json",
        ];
        self.sb.seglens(&args).ok().json()
    }

    /// The models `seglens sql --all-approved` writes for the sample (suppressions subtracted in
    /// the `__net` ones): (label, the count in the header, the file as written, comments included).
    pub fn models(&self, dialect: &str) -> Vec<(String, u64, String)> {
        let j = self.all_approved(dialect);
        let models: Vec<_> = j["segments"]
            .as_array()
            .expect("segments")
            .iter()
            .map(|m| {
                let file = std::fs::read_to_string(m["model"].as_str().unwrap()).unwrap();
                (format!("model {}", m["model_name"].as_str().unwrap()), m["count"].as_u64().unwrap(), file)
            })
            .collect();
        assert!(models.iter().any(|(l, ..)| l.ends_with("__net")), "no net models: {j}");
        models
    }
}

/// Adds a copy of the first member of `a.filter` (by key) under each of `a.planted` keys.
fn plant(db: &Path, table: &str, key: &str, a: &ArmTemplate) {
    let conn = duckdb::Connection::open(db).expect("open the database to plant keys");
    for k in a.planted {
        let k_ = format!("\"{key}\"");
        conn.execute_batch(&format!(
            "INSERT INTO {table} SELECT * REPLACE ({k} AS {k_}) FROM {table} WHERE {} ORDER BY {k_} LIMIT 1",
            a.filter
        ))
        .unwrap_or_else(|e| panic!("planting {k} in {table}: {e}"));
    }
    conn.execute_batch("CHECKPOINT").expect("checkpoint");
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Writes every table of `db` to Parquet (for Spark) and CSV (for PostgreSQL's COPY), through a
/// read-only connection; the entity table first.
fn write_out(db: &Path, dir: &Path, n: usize) -> Vec<Table> {
    let conn = common::plain(db);
    let tables: Vec<String> = {
        let mut st = conn
            .prepare("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY table_name")
            .unwrap();
        st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let entity = ["customers", "shoppers", "Club Members"];
    let mut out = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        let mut st = conn
            .prepare("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position")
            .unwrap();
        let cols: Vec<(String, String)> =
            st.query_map([t], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
        let parquet = dir.join(format!("db{n}_t{i}.parquet"));
        let csv = dir.join(format!("db{n}_t{i}.csv"));
        let q = format!("\"{}\"", t.replace('"', "\"\""));
        conn.execute_batch(&format!("COPY {q} TO '{}' (FORMAT parquet)", parquet.display())).expect("write parquet");
        conn.execute_batch(&format!("COPY {q} TO '{}' (FORMAT csv, HEADER false)", csv.display())).expect("write csv");
        set_mode(&csv, 0o644);
        out.push((t.clone(), cols, parquet, csv));
    }
    out.sort_by_key(|(t, ..)| !entity.contains(&t.as_str()));
    out
}

pub fn assert_counts(engine: &str, expected: &[(String, u64, String)], got: &BTreeMap<String, Result<u64, String>>) {
    let mut failures = Vec::new();
    for (label, n, sql) in expected {
        match got.get(label) {
            Some(Ok(m)) if m == n => {}
            Some(Ok(m)) => failures.push(format!("{label}: {engine} counted {m}, seglens {n}\n{sql}")),
            Some(Err(e)) => failures.push(format!("{label}: {engine} failed: {e}\n{sql}")),
            None => failures.push(format!("{label}: no answer from {engine}")),
        }
    }
    assert!(failures.is_empty(), "{} of {} differ:\n{}", failures.len(), expected.len(), failures.join("\n\n"));
}

const SPARK_RUNNER: &str = r#"
import json, sys
from pyspark.sql import SparkSession

spec = json.load(open(sys.argv[1]))
spark = (SparkSession.builder.master("local[2]").appName("seglens-dialects")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.sql.ansi.enabled", "true")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "4")
         .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")

def quote(name):
    return "`" + name.replace("`", "``") + "`"

out = []
for db in spec:
    for name, path in db["tables"]:
        spark.read.parquet(path).createOrReplaceTempView(quote(name))
    for label, sql in db["queries"]:
        try:
            n = spark.sql("SELECT count(*) FROM (\n" + sql + "\n) AS q").collect()[0][0]
            out.append({"label": label, "count": n})
        except Exception as e:
            out.append({"label": label, "error": str(e)[:1500]})
    # Every row, each value as text (str() of an integer is its decimal form).
    for label, sql in db["rows"]:
        try:
            rows = spark.sql(sql).collect()
            out.append({"label": label, "rows": [[None if v is None else str(v) for v in r] for r in rows]})
        except Exception as e:
            out.append({"label": label, "error": str(e)[:1500]})
    for name, _ in db["tables"]:
        spark.sql("DROP VIEW IF EXISTS " + quote(name))
print("SEGLENS-RESULTS " + json.dumps(out))
spark.stop()
"#;

/// One database for the Spark runner: its tables as views, the queries whose rows it counts and
/// the queries whose rows it returns.
pub fn spark_db(db: &Db, counts: &[(String, u64, String)], rows: &[(String, String)]) -> Value {
    let tables: Vec<_> = db.tables.iter().map(|(t, _, p, _)| serde_json::json!([t, p])).collect();
    let queries: Vec<_> = counts.iter().map(|(l, _, sql)| serde_json::json!([l, sql])).collect();
    serde_json::json!({"tables": tables, "queries": queries, "rows": rows})
}

/// Runs every query of `spec` in one Spark session (it takes ~20 s to start): a result per query,
/// `{"label", "count" | "rows" | "error"}`.
pub fn run_spark(dir: &Path, spec: &[Value]) -> Vec<Value> {
    std::fs::write(dir.join("spark_runner.py"), SPARK_RUNNER).unwrap();
    std::fs::write(dir.join("spark_spec.json"), serde_json::to_string(&spec).unwrap()).unwrap();
    let out = Command::new("python3")
        .arg(dir.join("spark_runner.py"))
        .arg(dir.join("spark_spec.json"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("python3 must be installed (.ci/run checks)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'pyspark'"),
        "pyspark is missing: `pip install pyspark` (.ci/run installs it); Spark is required, not optional"
    );
    let line = stdout.lines().find_map(|l| l.strip_prefix("SEGLENS-RESULTS ")).unwrap_or_else(|| {
        panic!("Spark gave no results (exit {:?}):\n{stdout}\n{}", out.status.code(), tail(&stderr, 4000))
    });
    serde_json::from_str(line).unwrap()
}

fn spark_error(r: &Value) -> String {
    r["error"].as_str().unwrap_or("?").to_string()
}

pub fn spark_counts(results: &[Value]) -> BTreeMap<String, Result<u64, String>> {
    results
        .iter()
        .filter(|r| r.get("rows").is_none())
        .map(|r| (r["label"].as_str().unwrap().to_string(), r["count"].as_u64().ok_or_else(|| spark_error(r))))
        .collect()
}

/// Rows of text (None for NULL), by label.
pub type Rows = Vec<Vec<Option<String>>>;

pub fn spark_rows(results: &[Value]) -> BTreeMap<String, Result<Rows, String>> {
    results
        .iter()
        .filter(|r| r.get("count").is_none())
        .map(|r| {
            let rows = r.get("rows").map(|v| serde_json::from_value(v.clone()).unwrap()).ok_or_else(|| spark_error(r));
            (r["label"].as_str().unwrap().to_string(), rows)
        })
        .collect()
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}
