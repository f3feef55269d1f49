//! Helpers shared by the integration tests: a small generated database (one per test binary), a
//! plain DuckDB connection to compute expected figures with SQL of the test's own, a runner for the
//! real `seglens` binary in a sandbox (its data dir and library in a temp dir, never the user's),
//! and a SHA-256 of a file.
//!
//! POSIX lock pitfall (STYLE.md): closing any descriptor of a file drops every lock this process
//! holds on it, so hash a database only when no engine or connection of this process has it open.

#![allow(dead_code)]

pub mod foreign;
pub mod tmux;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use chrono::NaiveDate;
use seglens::engine::text::filter;
use seglens::engine::{Compiled, FeatureSet, ParamDecls, ParamValue};
use seglens::sample::{SampleSpec, generate};
use sha2::Digest;
use tempfile::TempDir;

/// The sample workspace's metrics, as `seglens` uses them on the sample (tests of the sample
/// schema's profile open with these; with none, metrics are inferred from the schema).
pub fn sample_metrics() -> seglens::engine::MetricSet {
    seglens::engine::MetricSet {
        file: seglens::engine::MetricsFile {
            rollup: Vec::new(),
            metric: seglens::engine::query::profile::sample_metrics(),
        },
        source: seglens::engine::MetricSource::File("sample metrics.toml".into()),
    }
}

/// Open options with the sample's metrics and `current_date` pinned to `as_of()`: figures that
/// do not depend on the day the tests run.
pub fn pinned_sample_options() -> seglens::engine::OpenOptions {
    seglens::engine::OpenOptions { metrics: Some(sample_metrics()), as_of: Some(as_of()), ..Default::default() }
}

/// Customers in the shared test database.
pub const CUSTOMERS: u64 = 3000;

pub fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 1).expect("valid date")
}

pub fn spec() -> SampleSpec {
    SampleSpec { customers: CUSTOMERS, seed: 7, as_of: as_of() }
}

struct Shared {
    _dir: TempDir,
    db: PathBuf,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

/// The database every read-only test of this binary shares (generated once, in well under a
/// second). Never hash it or open it writable: tests that need that make their own with `private_db`.
pub fn shared_db() -> &'static Path {
    &SHARED
        .get_or_init(|| {
            // A static is never dropped, so the directory lives under cargo's own temp dir (not
            // /tmp); directories left by earlier runs are removed once they are a few hours old.
            let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
            remove_stale(root, "seglens-shared-");
            let dir = tempfile::Builder::new().prefix("seglens-shared-").tempdir_in(root).expect("temp dir");
            let db = dir.path().join("crm.duckdb");
            generate(&db, &spec(), false).expect("generate the shared test database");
            Shared { _dir: dir, db }
        })
        .db
}

fn remove_stale(root: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(6 * 3600));
        if old && e.file_name().to_string_lossy().starts_with(prefix) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A database of the same spec as the shared one, generated in `dir` (for tests that hash the
/// file, lock it, or must not share it).
pub fn private_db(dir: &Path) -> PathBuf {
    private_db_with(dir, "crm.duckdb", CUSTOMERS)
}

pub fn private_db_with(dir: &Path, name: &str, customers: u64) -> PathBuf {
    let db = dir.join(name);
    generate(&db, &SampleSpec { customers, ..spec() }, false).expect("generate a test database");
    db
}

/// A plain DuckDB connection, read-only, with none of seglens' settings: the tests' own SQL.
/// The bundled DuckDB has no ICU, where `current_date` lives: the test defines it as today's local
/// date (a temp macro, nothing written to the file), as the engine promises to.
pub fn plain(db: &Path) -> duckdb::Connection {
    // No extension autoloading: DuckDB would otherwise try to download ICU.
    let cfg = duckdb::Config::default()
        .access_mode(duckdb::AccessMode::ReadOnly)
        .and_then(|c| c.enable_autoload_extension(false))
        .expect("config");
    let conn = duckdb::Connection::open_with_flags(db, cfg).expect("open plain connection");
    let today = chrono::Local::now().date_naive().format("%Y-%m-%d");
    conn.execute_batch(&format!("CREATE TEMP MACRO current_date() AS DATE '{today}'")).expect("current_date");
    conn
}

pub fn q_i64(conn: &duckdb::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

pub fn q_f64(conn: &duckdb::Connection, sql: &str) -> Option<f64> {
    conn.query_row(sql, [], |r| r.get::<_, Option<f64>>(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

pub fn q_str(conn: &duckdb::Connection, sql: &str) -> Option<String> {
    conn.query_row(sql, [], |r| r.get::<_, Option<String>>(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Rows of a query, every value cast to text by the caller's SQL (None for NULL).
pub fn q_rows(conn: &duckdb::Connection, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut s = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut rows = s.query([]).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Vec::new();
    while let Some(r) = rows.next().expect("row") {
        let n = r.as_ref().column_count();
        out.push((0..n).map(|i| r.get::<_, Option<String>>(i).expect("text value")).collect());
    }
    out
}

/// `SELECT count(*) FROM customers WHERE <cond>` in plain SQL.
pub fn count_where(conn: &duckdb::Connection, cond: &str) -> u64 {
    q_i64(conn, &format!("SELECT count(*) FROM customers WHERE {cond}")) as u64
}

/// Compiles a filter with no params and no features.
pub fn compile(text: &str) -> Compiled {
    filter::compile(text, &ParamDecls::new(), &BTreeMap::new(), &FeatureSet::default())
        .unwrap_or_else(|e| panic!("compile {text:?}: {e}"))
}

pub fn compile_with(text: &str, values: &[(&str, ParamValue)], features: &FeatureSet) -> Compiled {
    let values: BTreeMap<String, ParamValue> = values.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    filter::compile(text, &ParamDecls::new(), &values, features).unwrap_or_else(|e| panic!("compile {text:?}: {e}"))
}

/// The starter features shipped for the sample data.
pub fn sample_features() -> FeatureSet {
    let set = FeatureSet::from_toml(include_str!("../../sample-data/features.toml")).expect("features.toml parses");
    assert!(set.broken.is_empty(), "starter features broken: {:?}", set.broken);
    set
}

/// Hex SHA-256 of a file's bytes. Only when no engine/connection of this process has it open.
pub fn sha256_file(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Every file under `dir` (recursively) with its bytes, and every folder (with none), sorted: to
/// show that nothing there changed.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("listing {}: {e}", d.display())).flatten() {
            let p = e.path();
            if p.is_dir() {
                out.push((p.clone(), Vec::new()));
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

/// What a run of the binary gave back.
#[derive(Debug, Clone, Default)]
pub struct Out {
    /// The exit code; 128 + signal when killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// Asserts exit 0 and returns self.
    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(self.code, 0, "expected success: {self:?}");
        self
    }

    /// Asserts a user error: exit 2 and exactly one line on stderr containing each of `needles`.
    #[track_caller]
    pub fn user_error(self, needles: &[&str]) -> Out {
        assert_eq!(self.code, 2, "expected exit 2: {self:?}");
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "expected one line on stderr: {:?}", self.stderr);
        for n in needles {
            assert!(self.stderr.contains(n), "stderr lacks {n:?}: {:?}", self.stderr);
        }
        self
    }
}

/// A temp dir that holds seglens' data dir, config dir and library for one test, and is the
/// working directory of every run (so a `./segments` elsewhere is never picked up).
pub struct Sandbox {
    pub dir: TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox { dir: tempfile::Builder::new().prefix("seglens-sandbox-").tempdir().expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn library(&self) -> PathBuf {
        self.dir.path().join("library")
    }

    /// The command, ready to spawn (for runs in parallel).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_seglens"));
        c.args(args);
        self.configure(&mut c);
        c
    }

    /// `sh -c SCRIPT` with the binary as `$0` and `args` as `"$@"`, in the sandbox's environment
    /// (e.g. to set a resource limit before `exec "$0" "$@"`).
    pub fn shell(&self, script: &str, args: &[&str]) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script).arg(env!("CARGO_BIN_EXE_seglens")).args(args);
        self.configure(&mut c);
        c
    }

    fn configure(&self, c: &mut Command) {
        c.current_dir(self.dir.path())
            .env("SEGLENS_DATA_DIR", self.data_dir())
            .env("SEGLENS_LIBRARY", self.library())
            .env("SEGLENS_CONFIG_DIR", self.dir.path().join("config"))
            .env("SEGLENS_CACHE_DIR", self.dir.path().join("cache"))
            .env("SEGLENS_AUTHOR", "test-author")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    }

    pub fn seglens(&self, args: &[&str]) -> Out {
        self.seglens_stdin(args, "")
    }

    pub fn seglens_stdin(&self, args: &[&str], stdin: &str) -> Out {
        run(self.command(args), stdin)
    }
}

/// Runs the command with `stdin` (any bytes), collecting its output (code 128 + signal when killed).
pub fn run(mut cmd: Command, stdin: impl AsRef<[u8]>) -> Out {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn seglens");
    let mut input = child.stdin.take().expect("stdin");
    let text = stdin.as_ref().to_vec();
    // A writer thread, so a large input cannot deadlock against a full stdout pipe; a process
    // that never reads stdin makes the write fail, which is fine.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&text);
    });
    let out = child.wait_with_output().expect("wait for seglens");
    let _ = writer.join();
    Out {
        code: out.status.code().unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0)),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `seglens ARGS` in a fresh sandbox, with empty stdin: (exit code, stdout, stderr).
pub fn seglens(args: &[&str]) -> (i32, String, String) {
    let sb = Sandbox::new();
    let o = sb.seglens(args);
    (o.code, o.stdout, o.stderr)
}

/// Reads a whole file as text.
pub fn read(path: &Path) -> String {
    let mut s = String::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut s))
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    s
}

/// The path as &str (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Holds a write connection (and so DuckDB's lock) on a database from a child process.
pub struct LockHolder(pub std::process::Child);

impl LockHolder {
    pub fn spawn(mut cmd: Command) -> LockHolder {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn lock holder");
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut line = String::new();
        while !line.contains("ready") {
            line.clear();
            if std::io::BufRead::read_line(&mut out, &mut line).unwrap_or(0) == 0
                || std::time::Instant::now() > deadline
            {
                let _ = child.kill();
                panic!("the lock holder never became ready");
            }
        }
        LockHolder(child)
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const HOLD_LOCK_ENV: &str = "SEGLENS_TEST_HOLD_LOCK";

impl LockHolder {
    /// Holder mode: in a copy of this test binary started by `this_test`, keeps a write connection
    /// (plain duckdb crate, no seglens code) open until killed and returns true; the test then
    /// returns at once. False in the normal run.
    pub fn hold_if_asked() -> bool {
        let Some(path) = std::env::var_os(HOLD_LOCK_ENV) else { return false };
        let conn = duckdb::Connection::open(PathBuf::from(path)).expect("holder opens for writing");
        conn.execute_batch("CREATE TEMP TABLE held AS SELECT 1").unwrap();
        println!("ready");
        std::thread::sleep(Duration::from_secs(60));
        true
    }

    /// This test binary re-run as a holder of `db`'s write lock, running only `test`.
    pub fn this_test(test: &str, db: &Path) -> Command {
        let mut me = Command::new(std::env::current_exe().unwrap());
        me.args([test, "--exact", "--nocapture", "--test-threads=1"]).env(HOLD_LOCK_ENV, db);
        me
    }
}

/// Total CPU time (user + system, in clock ticks) of a process, from /proc.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Whether the process has a thread of this name (ctrlc names its handler thread "ctrl-c").
pub fn has_thread(pid: u32, name: &str) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|rd| {
        rd.filter_map(|e| e.ok())
            .any(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
    })
}

/// Waits until the CLI child has armed its Ctrl-C handler (set right before the query runs) and
/// has then burnt some CPU: the query is running.
pub fn wait_until_querying(child: &mut std::process::Child) {
    wait_until_armed(child, std::time::Instant::now());
    let pid = child.id();
    let armed_at = cpu_ticks(pid).unwrap_or(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while cpu_ticks(pid).unwrap_or(0) < armed_at + 30 {
        assert!(child.try_wait().expect("try_wait").is_none(), "the child ended before its query ran");
        assert!(std::time::Instant::now() < deadline, "the child's query never started");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the CLI child (spawned after `spawned`) has armed Ctrl-C and `--timeout`:
/// `Ctx::engine` sets the Ctrl-C handler (a thread named "ctrl-c") and then starts the timer.
/// Returns the last moment the child was seen without that thread: the timer started after it.
pub fn wait_until_armed(child: &mut std::process::Child, spawned: std::time::Instant) -> std::time::Instant {
    let pid = child.id();
    let deadline = spawned + Duration::from_secs(60);
    let mut unarmed = spawned;
    loop {
        let now = std::time::Instant::now();
        if has_thread(pid, "ctrl-c") {
            return unarmed;
        }
        unarmed = now;
        assert!(child.try_wait().expect("try_wait").is_none(), "the child ended before it armed its cancel");
        assert!(now < deadline, "the child never armed its cancel");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// README Guarantee 11: a cancelled command ends, exit 130, within this long of the cancel.
pub const CANCEL_BOUND: Duration = Duration::from_secs(3);

/// Spawns `cmd`, a command given `--timeout secs`, with `stdin`; returns it with the earliest
/// moment its timer can fire (the timer starts after the moment `wait_until_armed` returns).
pub fn spawn_timed(mut cmd: Command, stdin: &[u8], secs: f64) -> (std::process::Child, std::time::Instant) {
    let spawned = std::time::Instant::now();
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    let text = stdin.to_vec();
    // A process that never reads stdin makes the write fail, which is fine.
    std::thread::spawn(move || {
        let _ = input.write_all(&text);
    });
    let armed = wait_until_armed(&mut child, spawned);
    (child, armed + Duration::from_secs_f64(secs))
}

/// Sends SIGINT to `child`, as Ctrl-C does; returns the moment just before it was sent.
pub fn ctrl_c(child: &std::process::Child) -> std::time::Instant {
    send_signal(child, "INT")
}

/// Sends `signal` (`INT`, `TERM`) to `child`; returns the moment just before it was sent.
pub fn send_signal(child: &std::process::Child, signal: &str) -> std::time::Instant {
    let sent = std::time::Instant::now();
    let ok =
        Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().expect("kill").success();
    assert!(ok, "kill -{signal} {}", child.id());
    sent
}

/// Waits for `child` to end, at most `CANCEL_BOUND` after `cancel` (a moment no later than the
/// cancel); kills it and panics if it is seen running past that. Returns its output and when it
/// was seen ended, after `cancel`.
pub fn ended_after_cancel(mut child: std::process::Child, cancel: std::time::Instant, what: &str) -> (Out, Duration) {
    let status = loop {
        // Taken before the look: a child found running was running at this moment.
        let looked = cancel.elapsed();
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if looked > CANCEL_BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running {looked:?} after the cancel");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = cancel.elapsed();
    let mut out = Out { code: status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)), ..Out::default() };
    let _ = child.stdout.take().map(|mut o| o.read_to_string(&mut out.stdout));
    let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut out.stderr));
    (out, took)
}

/// The explorer's screen at its current size, drawn through ratatui's TestBackend, one string a row.
pub fn screen(s: &seglens::tui::state::AppState) -> Vec<String> {
    let mut t =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(s.size.0, s.size.1)).expect("a test terminal");
    let theme = seglens::tui::theme::Theme::default_theme();
    t.draw(|f| seglens::tui::ui::render(f, s, &theme)).expect("drawing the screen");
    let buf = t.backend().buffer().clone();
    (0..buf.area.height)
        .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol().to_string()).collect::<String>())
        .collect()
}

/// Saves `t` as the next version in `lib` for `engine`'s table and key, its size measured as
/// `seglens save` measures it.
pub fn save_measured(
    engine: &seglens::engine::Engine,
    lib: &seglens::library::Library,
    mut t: seglens::library::Template,
) -> seglens::library::SaveOutcome {
    t.table = engine.table().into();
    t.key = engine.key().into();
    t.snapshot = Some(seglens::library::measure::measure(engine, &compile(&t.filter)).expect("measuring the template"));
    lib.save(t).expect("saving the template")
}

/// The explorer on `engine` with the library in `lib_dir` and its export log at `log`, on a
/// 140×40 screen, once the library has loaded.
pub fn explorer(
    engine: seglens::engine::Engine,
    lib_dir: &Path,
    log: &Path,
) -> (seglens::tui::Runtime, seglens::tui::state::AppState) {
    use seglens::tui::action::Action;
    let library = seglens::library::Library::open(lib_dir);
    let theme = seglens::tui::theme::Theme::default_theme();
    let (mut rt, mut st) = seglens::tui::Runtime::start(engine, library, theme, "test".into()).expect("the explorer");
    rt.set_export_log(seglens::export::over_time::ExportLog {
        path: log.to_path_buf(),
        library: lib_dir.to_path_buf(),
    });
    rt.apply(&mut st, Action::Resize(140, 40));
    assert!(rt.pump_until(&mut st, Duration::from_secs(60), |s| !s.library.templates.is_empty()), "the library loads");
    (rt, st)
}

/// The export dialog as the explorer opens it, for `segments` (comma-separated) to `path`, with
/// approved suppressions subtracted or not; nothing measured or started yet.
pub fn export_dialog(segments: &str, path: &str, suppress: bool) -> seglens::tui::state::Dialog {
    use seglens::tui::state::{Dialog, Field};
    let field = |label: &'static str, value: &str| Field { label, value: value.into() };
    Dialog::Export {
        fields: vec![field("Segments", segments), field("Path", path), field("Columns (blank: all)", "")],
        focused: 1,
        exclusive: false,
        suppress,
        progress: None,
        result: None,
        changes: None,
        cells: None,
    }
}
