//! The same segments on other engines, run for real: the sample's tables (and two foreign
//! schemas) are copied out of DuckDB, every starter template and a set of user-style filters are
//! translated with `seglens sql --dialect`, run on Apache Spark (pyspark, local mode, one session)
//! and PostgreSQL (a throwaway cluster on a local socket), and each count must equal
//! `seglens size` on the DuckDB file. A missing engine is a failure, never a skip: `.ci/run`
//! installs both.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::foreign::{Foreign, foreign_db};
use common::{Sandbox, s};
use seglens::cli::starter::{STARTER_TEMPLATES, install_starters};
use seglens::engine::Engine;
use seglens::library::Library;

const AS_OF: &str = "2026-03-01";

/// A filter to run: a label, the FILTER argument, and `--param`s.
struct Case {
    label: String,
    filter: String,
    params: Vec<String>,
}

fn case(label: &str, filter: &str, params: &[&str]) -> Case {
    Case { label: label.into(), filter: filter.into(), params: params.iter().map(|p| p.to_string()).collect() }
}

/// User-style filters on the sample: dates, IN lists, LIKE/ILIKE, CASE, NULL logic, EXISTS on
/// events, parameters of every type, and the escapes that differ between engines.
fn sample_cases() -> Vec<Case> {
    let mut v: Vec<Case> = STARTER_TEMPLATES.iter().map(|(name, _)| case(name, name, &[])).collect();
    v.extend([
        case("starter with params", "lapsed-high-value", &["days=45", "min_spend=2500.5", "min_score=20"]),
        case("string_list param", "west-india-marathi", &["langs=mr,gu,hi"]),
        case("date literal range", "signup_date BETWEEN DATE '2024-01-01' AND DATE '2025-06-30'", &[]),
        case("date param", "last_order_date >= {{since}}", &["since=2025-11-15"]),
        case("days since, on a column", "current_date - last_order_date > {{gap}}", &["gap=120"]),
        case("date plus days, on a column", "last_login_date + 30 < current_date", &[]),
        case("date minus interval, on a column", "signup_date - INTERVAL 7 DAY > DATE '2025-06-01'", &[]),
        case("interval text", "last_order_date >= current_date - INTERVAL '2 months'", &[]),
        case("IN lists", "region IN ('West India', 'South India') AND language NOT IN ('hi', 'ta')", &[]),
        case("LIKE", "email LIKE 'c1%' AND email NOT LIKE '%0@%'", &[]),
        case("ILIKE", "city ILIKE 'MUM%' OR city ILIKE '%pur'", &[]),
        // DuckDB has no default LIKE escape: `\.` is a backslash and a dot, which no email holds.
        // Spark and PostgreSQL read it as an escaped dot unless told otherwise (and select nobody).
        case("backslash in a LIKE pattern", r"email NOT LIKE '%\.com' AND loyalty_tier = 'gold'", &[]),
        case("quote in a string param", "city <> {{c}} AND loyalty_tier = 'gold'", &["c=O'Hare\\x"]),
        case(
            "CASE",
            "CASE WHEN loyalty_tier = 'gold' THEN lifetime_spend > 10000 WHEN loyalty_tier = 'silver' THEN lifetime_spend > 5000 ELSE orders_count > {{n}} END",
            &["n=3"],
        ),
        case("NULL logic", "engagement_score IS NULL OR NOT (engagement_score > 50)", &[]),
        case("IS NOT TRUE", "(engagement_score > 50) IS NOT TRUE AND last_login_date IS NOT NULL", &[]),
        case("coalesce", "coalesce(engagement_score, 0) < 20", &[]),
        case("IS DISTINCT FROM", "last_login_date IS DISTINCT FROM last_order_date", &[]),
        case(
            "EXISTS on events",
            "EXISTS (SELECT 1 FROM events e WHERE e.customer_id = customers.customer_id AND e.event_type = 'purchase' AND e.event_time >= current_date - INTERVAL 30 DAY)",
            &[],
        ),
        case(
            "NOT EXISTS",
            "NOT EXISTS (SELECT 1 FROM events e WHERE e.customer_id = customers.customer_id AND e.event_type = {{t}})",
            &["t=email_open"],
        ),
        case(
            "scalar subquery",
            "(SELECT count(*) FROM events e WHERE e.customer_id = customers.customer_id AND e.event_time >= current_date - 60) >= {{n}}",
            &["n=3"],
        ),
        case("IN subquery", "customer_id IN (SELECT customer_id FROM events WHERE amount > 2000)", &[]),
        case("float param", "churn_risk > {{risk}}", &["risk=0.35"]),
        case("bool param", "app_installed = {{app}} AND NOT unsubscribed", &["app=true"]),
        case("string param", "loyalty_tier = {{tier}}", &["tier=silver"]),
        // DuckDB divides integers as floating point; PostgreSQL would give 0 here.
        case("integer division", "email_opens_90d / nullif(email_sends_90d, 0) > 0.3", &[]),
        case("decimal division", "lifetime_spend / nullif(orders_count, 0) > 1500", &[]),
        case("year and month", "year(signup_date) = 2024 AND month(last_order_date) IN (10, 11, 12)", &[]),
        case("text functions", "lower(city) = 'pune' OR length(email) > 24 OR starts_with(email, 'z')", &[]),
        case("contains", "contains(email, '99')", &[]),
        case("features with EXISTS", "lapsed(60) AND purchased_within(150)", &[]),
        case("feature with CASE", "reachable('email') AND NOT reachable('sms')", &[]),
        case("greatest", "greatest(email_opens_90d, email_clicks_90d * 3) > 5", &[]),
        case("quote in a literal", "city = 'it''s' OR region = 'Diaspora UK'", &[]),
    ]);
    v
}

fn shop_cases() -> Vec<Case> {
    vec![
        case("shop: plain", Foreign::Shop.filter(), &[]),
        case("shop: quoted column", "\"Full Name\" IS NULL OR \"Full Name\" LIKE 'Shopper 1%'", &[]),
        case(
            "shop: EXISTS purchases",
            "EXISTS (SELECT 1 FROM purchase_records p WHERE p.shopper_ref = shoppers.shopper_ref AND p.bought_on >= current_date - 60 AND p.amount > 100)",
            &[],
        ),
        case("shop: interval", "last_visit < current_date - INTERVAL 90 DAY AND segment_label IS NOT NULL", &[]),
        case(
            "shop: varchar key list",
            "list_contains({{refs}}, shopper_ref)",
            &["refs=S000001,S000010,S000100,S000200"],
        ),
        case("shop: division", "newsletter_opens / newsletter_sends >= 0.5", &[]),
    ]
}

fn club_cases() -> Vec<Case> {
    vec![
        case("club: plain", Foreign::Club.filter(), &[]),
        case("club: quoted column param", "\"Signup Channel\" = {{ch}}", &["ch=referral"]),
        case("club: timestamp vs date", "last_active >= current_date - INTERVAL 30 DAY", &[]),
        case("club: timestamp plus interval", "last_active + INTERVAL 2 DAY >= current_date", &[]),
        case(
            "club: EXISTS on a spaced table",
            "EXISTS (SELECT 1 FROM activity a WHERE a.member_id = \"Club Members\".member_id AND a.kind = 'redeem' AND a.happened_at >= current_date - 14)",
            &[],
        ),
        case("club: trimmed text", "lower(trim(city)) = 'pune'", &[]),
        case("club: between", "churn_score BETWEEN 0.2 AND 0.5 AND opted_in", &[]),
    ]
}

/// (table, [(column, DuckDB type)], parquet file, csv file)
type Table = (String, Vec<(String, String)>, PathBuf, PathBuf);

/// One database: its file, its tables as written out for the engines, and its cases.
struct Db {
    path: PathBuf,
    tables: Vec<Table>,
    cases: Vec<Case>,
}

struct Fixture {
    sb: Sandbox,
    dbs: Vec<Db>,
}

impl Fixture {
    fn new() -> Fixture {
        let sb = Sandbox::new();
        let dir = sb.path().join("dbs");
        std::fs::create_dir_all(&dir).unwrap();
        // The fixture's files are read by the PostgreSQL server's user too.
        set_mode(sb.path(), 0o755);
        set_mode(&dir, 0o755);
        let sample = common::private_db(&dir);
        {
            let engine = Engine::open(&sample, &common::pinned_sample_options()).expect("open the sample");
            install_starters(&Library::open(sb.library()), &engine).expect("install the starters");
        }
        let shop = foreign_db(&dir, Foreign::Shop, 400);
        let club = foreign_db(&dir, Foreign::Club, 400);
        let dbs = [(sample, sample_cases()), (shop, shop_cases()), (club, club_cases())]
            .into_iter()
            .enumerate()
            .map(|(i, (path, cases))| Db { tables: write_out(&path, &dir, i), path, cases })
            .collect();
        Fixture { sb, dbs }
    }

    /// `seglens size` on the DuckDB file: the count every engine must reproduce.
    fn size(&self, db: &Db, c: &Case) -> u64 {
        let mut args = vec!["size", "--db", s(&db.path), "--as-of", AS_OF, "--json", c.filter.as_str()];
        for p in &c.params {
            args.extend(["-p", p.as_str()]);
        }
        let o = self.sb.seglens(&args);
        assert_eq!(o.code, 0, "{}: seglens size failed: {o:?}", c.label);
        o.json()["size"].as_u64().unwrap_or_else(|| panic!("{}: no size in {o:?}", c.label))
    }

    fn sql(&self, db: &Db, c: &Case, dialect: &str) -> String {
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
    fn expectations(&self, db: &Db, dialect: &str) -> Vec<(String, u64, String)> {
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
    /// The models `seglens sql --all-approved` writes for the sample (suppressions subtracted in
    /// the `__net` ones): (label, the count in the header, the file as written, comments included).
    fn models(&self, dialect: &str) -> Vec<(String, u64, String)> {
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
            "--json",
        ];
        let j = self.sb.seglens(&args).ok().json();
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

fn set_mode(path: &Path, mode: u32) {
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

fn assert_counts(engine: &str, expected: &[(String, u64, String)], got: &BTreeMap<String, Result<u64, String>>) {
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
    for name, _ in db["tables"]:
        spark.sql("DROP VIEW IF EXISTS " + quote(name))
print("SEGLENS-RESULTS " + json.dumps(out))
spark.stop()
"#;

#[test]
fn every_segment_counts_the_same_on_apache_spark() {
    let fx = Fixture::new();
    let mut spec = Vec::new();
    let mut expected = Vec::new();
    for (i, db) in fx.dbs.iter().enumerate() {
        let mut e = fx.expectations(db, "spark");
        if i == 0 {
            e.extend(fx.models("spark"));
        }
        let tables: Vec<_> = db.tables.iter().map(|(t, _, p, _)| serde_json::json!([t, p])).collect();
        let queries: Vec<_> = e.iter().map(|(l, _, sql)| serde_json::json!([l, sql])).collect();
        spec.push(serde_json::json!({"tables": tables, "queries": queries}));
        expected.extend(e);
    }
    let dir = fx.sb.path();
    std::fs::write(dir.join("spark_runner.py"), SPARK_RUNNER).unwrap();
    std::fs::write(dir.join("spark_spec.json"), serde_json::to_string(&spec).unwrap()).unwrap();
    // One Spark session for every query of the run (it takes ~20 s to start).
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
    let results: Vec<serde_json::Value> = serde_json::from_str(line).unwrap();
    let got: BTreeMap<String, Result<u64, String>> = results
        .iter()
        .map(|r| {
            let label = r["label"].as_str().unwrap().to_string();
            let v = r["count"].as_u64().ok_or_else(|| r["error"].as_str().unwrap_or("?").to_string());
            (label, v)
        })
        .collect();
    assert_counts("Spark", &expected, &got);
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// A throwaway PostgreSQL cluster on a Unix socket in a temp dir, stopped when dropped. Run as
/// the `postgres` user when the tests run as root (initdb refuses root).
struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    socket: PathBuf,
    as_user: Option<String>,
    _dir: tempfile::TempDir,
}

impl Postgres {
    fn start() -> Postgres {
        let bin = postgres_bin().expect(
            "PostgreSQL is missing (no initdb on PATH or in /usr/lib/postgresql/*/bin): .ci/run installs it; it is required, not optional",
        );
        let dir = tempfile::Builder::new().prefix("seglens-pg-").tempdir().expect("temp dir");
        set_mode(dir.path(), 0o755);
        let data = dir.path().join("data");
        let socket = dir.path().join("socket");
        std::fs::create_dir_all(&socket).unwrap();
        let root = nix_uid() == 0;
        let as_user = root.then(|| "postgres".to_string());
        if root {
            // The server's files belong to the user it runs as.
            let st = Command::new("chown").args(["postgres", s(&socket)]).status().expect("chown");
            assert!(st.success(), "chown postgres {}: is there a postgres user?", socket.display());
            let st = Command::new("chown").args(["postgres", s(dir.path())]).status().expect("chown");
            assert!(st.success());
        }
        let pg = Postgres { bin, data, socket, as_user, _dir: dir };
        pg.run_tool(
            "initdb",
            &["-D", s(&pg.data), "--username=seglens", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
        );
        let opts = format!("-k {} -c listen_addresses='' -c fsync=off", pg.socket.display());
        let log = pg.data.join("server.log");
        pg.run_tool("pg_ctl", &["-D", s(&pg.data), "-o", &opts, "-l", s(&log), "-w", "start"]);
        pg
    }

    fn run_tool(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.as_user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd.args(args).current_dir("/").stdin(Stdio::null()).output().expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// psql with `sql` as one command and `stdin` as its input (COPY FROM STDIN): stdout, or stderr.
    fn psql(&self, sql: &str, stdin: &[u8]) -> Result<String, String> {
        let mut child = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                s(&self.socket),
                "-U",
                "seglens",
                "-d",
                "postgres",
            ])
            .args(["-c", sql])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run psql");
        let mut input = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let _ = input.write_all(&data);
        });
        let out = child.wait_with_output().expect("psql");
        let _ = writer.join();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let exe = self.bin.join("pg_ctl");
        let args = ["-D", s(&self.data), "-m", "immediate", "-w", "stop"];
        let _ = match &self.as_user {
            Some(u) => Command::new("runuser").args(["-u", u, "--"]).arg(&exe).args(args).output(),
            None => Command::new(&exe).args(args).output(),
        };
    }
}

fn nix_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to this process's user.
    std::fs::metadata("/proc/self").expect("/proc/self").uid()
}

/// The directory of initdb/pg_ctl/psql: PATH first, else Debian's /usr/lib/postgresql/N/bin (newest).
fn postgres_bin() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    if let Some(dir) = on_path.into_iter().find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file()) {
        // Debian links initdb into /usr/local/bin or ships wrappers; psql may live elsewhere.
        let real = std::fs::canonicalize(dir.join("initdb")).ok()?;
        return real.parent().map(Path::to_path_buf);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, b): &(u32, PathBuf)| b.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

/// A DuckDB column type as PostgreSQL's.
fn pg_type(duck: &str) -> String {
    let t = duck.to_ascii_uppercase();
    match t.as_str() {
        "BIGINT" => "bigint".into(),
        "INTEGER" => "integer".into(),
        "SMALLINT" | "TINYINT" => "smallint".into(),
        "DOUBLE" => "double precision".into(),
        "FLOAT" | "REAL" => "real".into(),
        "VARCHAR" => "text".into(),
        "BOOLEAN" => "boolean".into(),
        "DATE" => "date".into(),
        "TIMESTAMP" => "timestamp".into(),
        _ if t.starts_with("DECIMAL") => t.replace("DECIMAL", "numeric"),
        other => panic!("no PostgreSQL type for DuckDB's {other} in this test"),
    }
}

fn pg_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

#[test]
fn every_segment_counts_the_same_on_postgresql() {
    let fx = Fixture::new();
    let pg = Postgres::start();
    let mut expected = Vec::new();
    let mut got = BTreeMap::new();
    for (i, db) in fx.dbs.iter().enumerate() {
        // One schema per database, first on the search path: the SQL names tables unqualified.
        let schema = format!("db{i}");
        pg.psql(&format!("CREATE SCHEMA {schema}"), b"").expect("create schema");
        for (t, cols, _, csv) in &db.tables {
            let name = format!("{schema}.{}", pg_ident(t));
            let cols: Vec<String> = cols.iter().map(|(c, ty)| format!("{} {}", pg_ident(c), pg_type(ty))).collect();
            pg.psql(&format!("CREATE TABLE {name} ({})", cols.join(", ")), b"").expect("create table");
            let data = std::fs::read(csv).unwrap();
            pg.psql(&format!("COPY {name} FROM STDIN WITH (FORMAT csv)"), &data)
                .unwrap_or_else(|e| panic!("loading {t}: {e}"));
        }
        let mut e = fx.expectations(db, "postgres");
        if i == 0 {
            e.extend(fx.models("postgres"));
        }
        for (label, n, sql) in e {
            let q = format!("SET search_path TO {schema}; SELECT count(*) FROM (\n{sql}\n) AS q");
            let r = pg.psql(&q, b"").and_then(|out| out.parse::<u64>().map_err(|e| format!("{e}: {out:?}")));
            got.insert(label.clone(), r);
            expected.push((label, n, sql));
        }
    }
    assert_counts("PostgreSQL", &expected, &got);
}

/// What cannot be translated faithfully is refused, naming the construct, with exit 2; DuckDB's
/// own SQL binds current_date as the as-of date and still counts what `size` counts.
#[test]
fn untranslatable_sql_is_refused_and_duckdb_sql_is_pinned() {
    let sb = Sandbox::new();
    let db = common::shared_db();
    for (dialect, filter, needle) in [
        ("spark", "hash(customer_id) % 10 = 0", "hash()"),
        ("postgres", "regexp_matches(email, '^a')", "regexp_matches()"),
        ("trino", "greatest(orders_count, 1) > 2", "greatest()"),
        ("bigquery", r"email LIKE '%\_%'", "pattern"),
        ("spark", "signup_date + INTERVAL 1 MONTH < last_order_date", "month arithmetic"),
        ("postgres", "CAST(churn_risk * 10 AS INTEGER) = 3", "rounds"),
        ("snowflake", "now() > signup_date", "now()"),
    ] {
        sb.seglens(&["sql", "--db", s(db), "--dialect", dialect, filter]).user_error(&[needle, dialect]);
    }
    sb.seglens(&["sql", "--db", s(db), "--dialect", "oracle", "TRUE"]).user_error(&["oracle"]);

    let filter = "last_order_date < current_date - to_days(30) AND signup_date < today()";
    let o = sb.seglens(&["sql", "--db", s(db), "--as-of", AS_OF, "--json", filter]).ok();
    let sql = o.json()["sql"].as_str().unwrap().to_string();
    assert!(!sql.contains("current_date") && !sql.contains("today()"), "{sql}");
    assert!(sql.contains("DATE '2026-03-01'"), "{sql}");
    let size = sb.seglens(&["size", "--db", s(db), "--as-of", AS_OF, "--json", filter]).ok().json()["size"].as_i64();
    let conn = common::plain(db);
    let n = common::q_i64(&conn, &format!("SELECT count(*) FROM ({sql})"));
    assert_eq!(Some(n), size);
    // The same date every day: the translated SQL does not depend on when it is printed.
    let spark = sb.seglens(&["sql", "--db", s(db), "--as-of", AS_OF, "--dialect", "spark", filter]).ok().stdout;
    assert!(spark.contains("DATE '2026-01-30'") && spark.contains("`signup_date` < DATE '2026-03-01'"), "{spark}");
}

/// `--all-approved --out DIR` writes one model per approved segment with a header holding the
/// template, version, params, as-of date and the exact local count, and a dbt test of that count.
#[test]
fn all_approved_writes_models_with_their_counts() {
    let sb = Sandbox::new();
    let dir = sb.path().join("dbs");
    std::fs::create_dir_all(&dir).unwrap();
    let db = common::private_db(&dir);
    {
        let engine = Engine::open(&db, &common::pinned_sample_options()).unwrap();
        install_starters(&Library::open(sb.library()), &engine).unwrap();
    }
    let out = sb.path().join("warehouse");
    let j = sb
        .seglens(&[
            "sql",
            "--db",
            s(&db),
            "--as-of",
            AS_OF,
            "--dialect",
            "spark",
            "--all-approved",
            "--out",
            s(&out),
            "--json",
        ])
        .ok()
        .json();
    let segs = j["segments"].as_array().unwrap();
    // Every starter but the draft (loyal-advocates), and a net model of each approved segment.
    let plain: Vec<_> = segs.iter().filter(|m| m["suppressed"].as_array().unwrap().is_empty()).collect();
    assert_eq!(plain.len(), STARTER_TEMPLATES.len() - 1, "{j}");
    let conn = common::plain(&db);
    for seg in plain {
        let name = seg["name"].as_str().unwrap();
        let model = std::fs::read_to_string(seg["model"].as_str().unwrap()).unwrap();
        let count = seg["count"].as_u64().unwrap();
        let size = sb.seglens(&["size", name, "--db", s(&db), "--as-of", AS_OF, "--json"]).ok().json()["size"].as_u64();
        assert_eq!(Some(count), size, "{name}");
        for needle in [
            format!("seglens segment {name}@"),
            format!("template: {name}  version: "),
            "-- params: ".to_string(),
            format!("-- as of: {AS_OF}"),
            format!("-- expected count: {count} of 3000"),
            "SELECT `customer_id` FROM `customers`".to_string(),
        ] {
            assert!(model.contains(&needle), "{name}: {needle:?} missing from\n{model}");
        }
        let test = std::fs::read_to_string(seg["test"].as_str().unwrap()).unwrap();
        assert!(test.contains(&format!("HAVING count(*) <> {count}")), "{test}");
        // The count in the header is the count of the DuckDB SQL of the same segment.
        let duck = sb.seglens(&["sql", name, "--db", s(&db), "--as-of", AS_OF, "--json"]).ok().json();
        let n = common::q_i64(&conn, &format!("SELECT count(*) FROM ({})", duck["sql"].as_str().unwrap()));
        assert_eq!(n as u64, count, "{name}");
    }
    // A __net model counts what `seglens export` writes: the approved suppressions subtracted.
    let net: Vec<_> = segs.iter().filter(|m| !m["suppressed"].as_array().unwrap().is_empty()).collect();
    assert_eq!(net.len(), 5, "one per approved segment (not per suppression): {j}");
    for m in net {
        let name = m["name"].as_str().unwrap();
        let csv = sb.path().join(format!("{name}.csv"));
        sb.seglens(&["export", name, "--db", s(&db), "--as-of", AS_OF, "--out", s(&csv)]).ok();
        let rows = std::fs::read_to_string(&csv).unwrap().lines().count() - 1;
        assert_eq!(m["count"].as_u64(), Some(rows as u64), "{name}");
        assert!(m["model_name"].as_str().unwrap().ends_with("__net"));
    }
    // Never into the library.
    sb.seglens(&["sql", "--db", s(&db), "--all-approved", "--out", s(&sb.library().join("x"))])
        .user_error(&["library"]);
}

#[test]
fn features_say_which_dialects_they_run_on() {
    let sb = Sandbox::new();
    let dir = sb.path().join("dbs");
    std::fs::create_dir_all(&dir).unwrap();
    let db = common::private_db(&dir);
    {
        let engine = Engine::open(&db, &common::pinned_sample_options()).unwrap();
        install_starters(&Library::open(sb.library()), &engine).unwrap();
    }
    let mut features = std::fs::read_to_string(sb.library().join("features.toml")).unwrap();
    features.push_str("\n[bucket]\nparams = []\nsql = \"hash(customer_id) % 10 = 0\"\n");
    features.push_str("\n[max_opens]\nparams = [\"n\"]\nsql = \"greatest(email_opens_90d, email_clicks_90d) > n\"\n");
    std::fs::write(sb.library().join("features.toml"), features).unwrap();
    let j = sb.seglens(&["features", "--db", s(&db), "--json"]).ok().json();
    let by_name: BTreeMap<&str, &serde_json::Value> =
        j["features"].as_array().unwrap().iter().map(|f| (f["name"].as_str().unwrap(), f)).collect();
    let all = ["duckdb", "spark", "trino", "bigquery", "snowflake", "postgres"];
    for name in ["lapsed", "purchased_within", "reachable", "lapsed_high_value"] {
        assert_eq!(by_name[name]["dialects"], serde_json::json!(all), "{name}");
    }
    assert_eq!(by_name["bucket"]["dialects"], serde_json::json!(["duckdb"]));
    assert!(by_name["bucket"]["not_on"]["spark"].as_str().unwrap().contains("hash()"));
    assert_eq!(by_name["max_opens"]["dialects"], serde_json::json!(["duckdb", "spark", "postgres"]));
    let text = sb.seglens(&["features", "--db", s(&db)]).ok().stdout;
    assert!(text.contains("runs on: duckdb, spark, trino, bigquery, snowflake, postgres"), "{text}");
    assert!(text.contains("not on trino: greatest()"), "{text}");
}
