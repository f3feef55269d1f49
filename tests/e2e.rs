//! End to end: the real binary in tmux, driven with send-keys and read with capture-pane, its
//! figures compared with the headless commands on the same files.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_seglens");

struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(env: &[(&str, &Path)], args: &[&str], w: u16, h: u16) -> Tmux {
        let ok = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
        assert!(ok, "tmux is required for the end-to-end tests (apt-get install tmux)");
        let socket = format!("seglens-e2e-{}-{}", std::process::id(), args.len());
        let mut cmd = String::from("env TERM=xterm-256color");
        for (k, v) in env {
            cmd.push_str(&format!(" {k}='{}'", v.display()));
        }
        cmd.push_str(&format!(" '{BIN}'"));
        for a in args {
            cmd.push_str(&format!(" '{a}'"));
        }
        let status = Command::new("tmux")
            .args(["-L", &socket, "new-session", "-d", "-x", &w.to_string(), "-y", &h.to_string(), &cmd])
            .status()
            .unwrap();
        assert!(status.success());
        Tmux { socket }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["-L", &self.socket, "send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        assert!(Command::new("tmux").args(&args).status().unwrap().success());
    }

    fn text(&self, text: &str) {
        assert!(
            Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", "-t", "0", "-l", text])
                .status()
                .unwrap()
                .success()
        );
    }

    fn resize(&self, w: u16, h: u16) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "resize-window", "-t", "0", "-x", &w.to_string(), "-y", &h.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux").args(["-L", &self.socket, "capture-pane", "-p", "-t", "0"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `pred` (never a fixed sleep); panics with the screen.
    fn wait(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}; screen:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_for(&self, text: &str) -> String {
        self.wait(text, |s| s.contains(text))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).status();
    }
}

fn seglens(env: &[(&str, &Path)], args: &[&str]) -> serde_json::Value {
    let mut c = Command::new(BIN);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.args(args).output().unwrap();
    assert!(out.status.success(), "seglens {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn count(n: u64) -> String {
    seglens::cli::format::count(n)
}

/// The size line of the preview: "N of M customers".
fn size_on_screen(screen: &str) -> Option<u64> {
    let line = screen.lines().find(|l| l.contains(" customers  ") && l.contains(" of "))?;
    let after = line.split('│').find(|part| part.contains(" of ") && part.contains("customers"))?;
    after.split_whitespace().next()?.replace(',', "").parse().ok()
}

#[test]
fn typed_filter_size_on_screen_equals_seglens_size() {
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("crm.duckdb");
    let data = dir.path().join("data");
    let lib = dir.path().join("segments");
    let env = [("SEGLENS_DATA_DIR", data.as_path()), ("SEGLENS_LIBRARY", lib.as_path())];
    seglens(&env, &["sample", "--customers", "5000", "--seed", "5", "--out", db.to_str().unwrap(), "--json"]);
    let before = std::fs::read(&db).unwrap();
    let t = Tmux::start(&env, &[db.to_str().unwrap()], 120, 40);
    t.wait_for("customers");
    let filter = "engagement_score > 60 AND region = 'West India'";
    t.text(filter);
    let expected = seglens(&env, &["size", filter, "--db", db.to_str().unwrap(), "--json"])["size"].as_u64().unwrap();
    let screen =
        t.wait("the size of the typed filter", |s| size_on_screen(s) == Some(expected) && s.contains("preview"));
    assert!(screen.contains(&format!("{} of 5,000 customers", count(expected))), "{screen}");
    // A bad filter: DuckDB's message under the editor, the app keeps running.
    t.text(" AND bogus_col = 1");
    t.wait_for("bogus_col\" not found");
    for _ in 0.." AND bogus_col = 1".len() {
        t.keys(&["BSpace"]);
    }
    t.wait("the valid filter again", |s| !s.contains("not found") && size_on_screen(s) == Some(expected));
    // Resize to 1x1 and back: no crash, "too small" in between.
    t.resize(1, 1);
    t.resize(50, 12);
    t.wait_for("too small");
    t.resize(120, 40);
    t.wait("the explorer back", |s| size_on_screen(s) == Some(expected));
    t.keys(&["C-q"]);
    t.wait_for("Unsaved edits");
    t.keys(&["y"]);
    t.wait("the explorer to exit", |s| !s.contains("customers"));
    drop(t);
    assert_eq!(std::fs::read(&db).unwrap(), before, "the database is unchanged");
}

fn overlap_row<'a>(screen: &'a str, name: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(name) && l.trim_start_matches(['│', ' ']).starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or("")
}

#[test]
fn whole_flow_open_nudge_save_approve_overlap_export() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let lib = dir.path().join("segments");
    let out = dir.path().join("out.csv");
    let env = [("SEGLENS_DATA_DIR", data.as_path()), ("SEGLENS_LIBRARY", lib.as_path())];
    // First run: creates the sample database and installs the starter templates.
    let list = seglens(&env, &["list", "--json"]);
    assert_eq!(list["segments"].as_array().unwrap().len(), 8);
    let db: PathBuf = data.join("sample.duckdb");
    let t = Tmux::start(&env, &[], 120, 40);
    t.wait_for("Library (8)");
    // Open the starter "lapsed high value" from the library.
    t.keys(&["BTab", "BTab"]);
    t.text("/lapsed");
    t.keys(&["Enter", "Enter"]);
    t.wait_for("opened lapsed-high-value@1");
    let v1 = seglens(&env, &["size", "lapsed-high-value", "--json"])["size"].as_u64().unwrap();
    t.wait("the starter's size", |s| size_on_screen(s) == Some(v1));
    // Nudge days 90 → 85.
    t.keys(&["BTab", "-"]);
    let nudged =
        seglens(&env, &["size", "lapsed-high-value", "--param", "days=85", "--json"])["size"].as_u64().unwrap();
    t.wait("the nudged size", |s| size_on_screen(s) == Some(nudged));
    // Save v2.
    t.keys(&["C-s"]);
    t.wait_for("Save version");
    t.text("e2e nudge");
    t.keys(&["Enter"]);
    t.wait_for("saved lapsed-high-value@2");
    // Approve it from the library and add it and another segment to the working set.
    t.keys(&["BTab"]);
    t.text("/lapsed");
    t.keys(&["Enter", "a"]);
    t.wait_for("approved lapsed-high-value@3");
    t.keys(&[" "]);
    t.text("/holi");
    t.keys(&["Enter", " "]);
    t.keys(&["F3"]);
    let screen = t.wait_for("in none of the segments");
    let o = seglens(&env, &["overlap", "-s", "lapsed-high-value", "-s", "holi-colour-buyers", "--json"]);
    let inter = o["pairs"][0]["intersection"].as_u64().unwrap();
    let row = overlap_row(&screen, "lapsed-high-value");
    assert!(row.contains(&count(inter)), "intersection {inter} in {row:?}\n{screen}");
    for seg in o["segments"].as_array().unwrap() {
        let r = overlap_row(&screen, seg["name"].as_str().unwrap());
        assert!(r.contains(&count(seg["size"].as_u64().unwrap())), "{seg} in {r:?}");
        assert!(r.contains(&count(seg["exclusive"].as_u64().unwrap())), "{seg} in {r:?}");
    }
    assert!(screen.contains(&count(o["none"].as_u64().unwrap())));
    // Export both, without suppressions, and check the rows against `seglens size`.
    t.keys(&["F3", "C-e"]);
    t.wait_for("Export to CSV");
    for _ in 0..40 {
        t.keys(&["BSpace"]);
    }
    t.text(out.to_str().unwrap());
    t.keys(&["C-u", "Enter"]);
    t.wait_for("✓ exported");
    let csv = std::fs::read_to_string(&out).unwrap();
    let rows = csv.lines().count() as u64 - 1;
    let holi = seglens(&env, &["size", "holi-colour-buyers", "--json"])["size"].as_u64().unwrap();
    assert_eq!(rows, nudged + holi);
    assert!(out.with_extension("manifest.json").exists());
    // Esc alone (a key right after it would read as Alt+key), then quit.
    t.keys(&["Escape"]);
    t.wait("the dialog to close", |s| !s.contains("Export to CSV"));
    t.keys(&["C-q"]);
    t.wait("exit", |s| !s.contains("customers"));
    assert!(db.exists());
}
