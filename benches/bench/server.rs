//! DuckDB in a process of its own, for measurement 14: one long-lived process per database and
//! DuckDB build, answering one JSON request a line with its own in-process time. Two builds speak
//! the same protocol (described in `wheel.py`): DuckDB as released, the Python wheel of the same
//! version (`python3 -c wheel.py`), and the bundled crate's DuckDB (this bench binary run again
//! with `--duckdb-serve`). Out of the bench's process, each DuckDB's peak resident memory is its
//! own, and so is seglens' (the bench process holds only seglens).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use duckdb::{AccessMode, Config, Connection};
use serde::{Deserialize, Serialize};
use serde_json::Value;

const WHEEL_PY: &str = include_str!("wheel.py");

/// How a server opens its database.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ServeConfig {
    pub db: PathBuf,
    pub threads: usize,
    /// None: DuckDB's own default (80% of RAM), as seglens'.
    pub memory_limit: Option<String>,
    /// The date `current_date` and `today()` answer.
    pub as_of: String,
    /// Read-write (to generate the database); read-only otherwise.
    #[serde(default)]
    pub write: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct Request {
    pub sql: Vec<String>,
    /// A fresh connection before the clock starts.
    pub reopen: bool,
    /// A fresh connection inside the timed span.
    pub timed_open: bool,
}

impl Request {
    pub fn sql(sql: Vec<String>) -> Request {
        Request { sql, ..Default::default() }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Reply {
    ms: Option<f64>,
    #[serde(default)]
    each_ms: Vec<f64>,
    #[serde(default)]
    results: Vec<Vec<Vec<Value>>>,
    peak_kb: Option<u64>,
    error: Option<String>,
}

/// A server's answer: its own time, each statement's rows, its peak resident set during the request.
#[derive(Debug, Clone, Default)]
pub(super) struct Answer {
    pub time: Duration,
    /// Each statement's own time.
    pub each: Vec<Duration>,
    pub results: Vec<Vec<Vec<Value>>>,
    pub peak_kb: u64,
}

impl Answer {
    /// The rows of statement `i`.
    pub fn rows(&self, i: usize) -> &[Vec<Value>] {
        self.results.get(i).map_or(&[], |r| r.as_slice())
    }

    /// The first value of statement `i` as a count.
    pub fn count(&self, i: usize) -> Result<u64> {
        self.rows(i)
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_u64)
            .ok_or_else(|| anyhow!("statement {} answered no count: {:?}", i + 1, self.rows(i).first()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Build {
    /// The Python wheel: DuckDB as released.
    Wheel,
    /// The duckdb crate's bundled DuckDB (compiled from source with seglens).
    Crate,
}

/// A DuckDB process answering requests.
pub(super) struct Server {
    pub build: Build,
    pub version: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Server {
    pub fn start(build: Build, cfg: &ServeConfig) -> Result<Server> {
        let json = serde_json::to_string(cfg)?;
        let mut cmd = match build {
            Build::Wheel => {
                let mut c = Command::new("python3");
                c.arg("-c").arg(WHEEL_PY).arg(&json);
                c
            }
            Build::Crate => {
                let mut c = Command::new(super::measure::this_binary()?);
                c.arg("--duckdb-serve").arg(&json);
                c
            }
        };
        // Its errors (a missing wheel's ImportError) go straight to the bench's stderr.
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().with_context(|| format!("starting {}", build.describe()))?;
        let stdin = child.stdin.take().context("the server's stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("the server's stdout")?);
        let mut s = Server { build, version: String::new(), child, stdin: Some(stdin), stdout };
        let ready = s.read_line().with_context(|| match build {
            Build::Wheel => "DuckDB as released stopped before it was ready (see above): it needs python3 with the \
duckdb wheel of the bundled version (`python3 -m pip install duckdb==2.0.0`)"
                .to_string(),
            Build::Crate => "the bundled DuckDB's server stopped before it was ready (see above)".to_string(),
        })?;
        let ready: Value = serde_json::from_str(&ready).with_context(|| format!("the server said {ready:?}"))?;
        s.version = ready["version"].as_str().unwrap_or_default().to_string();
        Ok(s)
    }

    fn read_line(&mut self) -> Result<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            let status = self.child.wait().ok();
            bail!("{} exited ({})", self.build.describe(), status.map_or("?".into(), |s| s.to_string()));
        }
        Ok(line)
    }

    /// Sends `req` and waits for the answer; a failed statement is an error.
    pub fn ask(&mut self, req: &Request) -> Result<Answer> {
        let stdin = self.stdin.as_mut().context("the server's stdin is closed")?;
        writeln!(stdin, "{}", serde_json::to_string(req)?)?;
        stdin.flush()?;
        let line = self.read_line()?;
        let reply: Reply = serde_json::from_str(&line).with_context(|| format!("the server answered {line:?}"))?;
        if let Some(e) = reply.error {
            bail!("{}: {e}\nin: {}", self.build.describe(), req.sql.join(";\n"));
        }
        let time = |ms: f64| Duration::from_secs_f64(ms.max(0.0) / 1e3);
        Ok(Answer {
            time: time(reply.ms.unwrap_or(0.0)),
            each: reply.each_ms.into_iter().map(time).collect(),
            results: reply.results,
            peak_kb: reply.peak_kb.unwrap_or(0),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // End of input ends the server.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

impl Build {
    pub fn describe(self) -> &'static str {
        match self {
            Build::Wheel => "DuckDB as released (the Python wheel)",
            Build::Crate => "the bundled crate's DuckDB",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Peak resident memory
// ---------------------------------------------------------------------------------------------

/// Resets this process's peak resident set size (VmHWM) to its current size (Linux 4.0+).
pub(super) fn reset_peak() -> Result<()> {
    std::fs::write("/proc/self/clear_refs", "5").context("resetting the peak RSS (/proc/self/clear_refs)")
}

/// This process's peak resident set size in kB (VmHWM).
pub(super) fn peak_kb() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmHWM in /proc/self/status"))
}

// ---------------------------------------------------------------------------------------------
// The bundled DuckDB's server (`--duckdb-serve CONFIG`)
// ---------------------------------------------------------------------------------------------

/// Opens the database as `wheel.py` does, with the bundled DuckDB.
fn connect(cfg: &ServeConfig) -> Result<Connection> {
    let mut config = Config::default()
        .threads(cfg.threads as i64)?
        .with("autoinstall_known_extensions", "false")?
        .enable_autoload_extension(false)?;
    if let Some(m) = &cfg.memory_limit {
        config = config.max_memory(m)?;
    }
    if !cfg.write {
        config = config.access_mode(AccessMode::ReadOnly)?;
    }
    let conn = Connection::open_with_flags(&cfg.db, config).with_context(|| format!("opening {}", cfg.db.display()))?;
    // Where seglens keeps its rollups (engine/query/rollup.rs), so `profile_sql` runs here as it is.
    conn.execute_batch("ATTACH ':memory:' AS __seglens_kept (READ_WRITE); SET enable_progress_bar = false")?;
    for name in ["current_date", "today"] {
        conn.execute_batch(&format!("CREATE OR REPLACE TEMP MACRO {name}() AS DATE '{}'", cfg.as_of))?;
    }
    Ok(conn)
}

/// Runs `sql` and returns its rows as JSON values (text for what JSON cannot hold).
fn rows(conn: &Connection, sql: &str) -> Result<Vec<Vec<Value>>> {
    use duckdb::types::Value as V;
    let mut st = conn.prepare(sql)?;
    let mut rows = st.query([])?;
    let n = rows.as_ref().map_or(0, |s| s.column_count());
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let row = (0..n)
            .map(|i| {
                Ok(match r.get::<_, V>(i)? {
                    V::Null => Value::Null,
                    V::Boolean(b) => Value::from(b),
                    V::TinyInt(x) => Value::from(x),
                    V::SmallInt(x) => Value::from(x),
                    V::Int(x) => Value::from(x),
                    V::BigInt(x) => Value::from(x),
                    V::UTinyInt(x) => Value::from(x),
                    V::USmallInt(x) => Value::from(x),
                    V::UInt(x) => Value::from(x),
                    V::UBigInt(x) => Value::from(x),
                    V::HugeInt(x) => i64::try_from(x).map_or_else(|_| Value::from(x.to_string()), Value::from),
                    V::Float(x) if x.is_finite() => Value::from(x),
                    V::Double(x) if x.is_finite() => Value::from(x),
                    V::Text(t) => Value::from(t),
                    V::Decimal(d) => Value::from(d.to_string()),
                    other => Value::from(format!("{other:?}")),
                })
            })
            .collect::<Result<Vec<_>, duckdb::Error>>()?;
        out.push(row);
    }
    Ok(out)
}

/// The server loop of the bundled DuckDB: the protocol of `wheel.py`, in this process.
pub(super) fn serve(config: &str) -> Result<()> {
    let cfg: ServeConfig = serde_json::from_str(config).context("--duckdb-serve takes a JSON configuration")?;
    let mut conn = Some(connect(&cfg)?);
    let version: String = conn.as_ref().context("no connection")?.query_row("SELECT version()", [], |r| r.get(0))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::json!({"ready": true, "version": version}))?;
    out.flush()?;
    #[derive(Deserialize)]
    struct In {
        #[serde(default)]
        sql: Vec<String>,
        #[serde(default)]
        reopen: bool,
        #[serde(default)]
        timed_open: bool,
    }
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let req: In = serde_json::from_str(&line)?;
        let mut answer = || -> Result<Value> {
            if req.reopen || req.timed_open {
                conn = None;
            }
            if req.reopen {
                conn = Some(connect(&cfg)?);
            }
            reset_peak()?;
            let start = Instant::now();
            if req.timed_open {
                conn = Some(connect(&cfg)?);
            }
            let c = conn.as_ref().context("no connection")?;
            let (mut results, mut each) = (Vec::new(), Vec::new());
            for sql in &req.sql {
                let began = Instant::now();
                results.push(rows(c, sql)?);
                each.push(began.elapsed().as_secs_f64() * 1e3);
            }
            let ms = start.elapsed().as_secs_f64() * 1e3;
            Ok(serde_json::json!({"ms": ms, "each_ms": each, "results": results, "peak_kb": peak_kb()?}))
        };
        let reply = answer().unwrap_or_else(|e| serde_json::json!({"error": format!("{e:#}")}));
        writeln!(out, "{reply}")?;
        out.flush()?;
    }
    Ok(())
}
