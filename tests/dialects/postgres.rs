//! A throwaway PostgreSQL cluster for `tests/dialects.rs`: the databases' tables loaded into a
//! schema each, counts and rows read back.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::common::s;
use super::harness::{Db, Rows, set_mode};

/// A throwaway PostgreSQL cluster on a Unix socket in a temp dir, stopped when dropped. Run as
/// the `postgres` user when the tests run as root (initdb refuses root).
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    socket: PathBuf,
    as_user: Option<String>,
    _dir: tempfile::TempDir,
}

impl Postgres {
    pub fn start() -> Postgres {
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

    /// Loads the tables of `db` (the `i`th) into a schema of their own, `db<i>`, which it returns:
    /// the SQL names tables unqualified, so each query puts it first on the search path.
    pub fn load(&self, i: usize, db: &Db) -> String {
        let schema = format!("db{i}");
        self.psql(&format!("CREATE SCHEMA {schema}"), b"").expect("create schema");
        for (t, cols, _, csv) in &db.tables {
            let name = format!("{schema}.{}", pg_ident(t));
            let cols: Vec<String> = cols.iter().map(|(c, ty)| format!("{} {}", pg_ident(c), pg_type(ty))).collect();
            self.psql(&format!("CREATE TABLE {name} ({})", cols.join(", ")), b"").expect("create table");
            let data = std::fs::read(csv).unwrap();
            self.psql(&format!("COPY {name} FROM STDIN WITH (FORMAT csv)"), &data)
                .unwrap_or_else(|e| panic!("loading {t}: {e}"));
        }
        schema
    }

    /// The number of rows `sql` returns in `schema`.
    pub fn count(&self, schema: &str, sql: &str) -> Result<u64, String> {
        let q = format!("SET search_path TO {schema}; SELECT count(*) FROM (\n{sql}\n) AS q");
        self.psql(&q, b"").and_then(|out| out.parse::<u64>().map_err(|e| format!("{e}: {out:?}")))
    }

    /// Every row of `sql` (`columns` of them) in `schema`, each value as text: through JSON, so
    /// that no key (a `|`, a line break) is mistaken for a separator.
    pub fn rows(&self, schema: &str, sql: &str, columns: usize) -> Result<Rows, String> {
        let names: Vec<String> = (0..columns).map(|i| format!("c{i}")).collect();
        let values: Vec<String> = names.iter().map(|c| format!("CAST({c} AS text)")).collect();
        let q = format!(
            "SET search_path TO {schema}; SELECT coalesce(json_agg(json_build_array({})), '[]') FROM (\n{sql}\n) AS q({})",
            values.join(", "),
            names.join(", ")
        );
        let out = self.psql(&q, b"")?;
        serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))
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
