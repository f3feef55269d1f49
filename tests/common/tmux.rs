//! Drives the real binary in tmux: send-keys to type, capture-pane to read, polling waits.

use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_seglens");
use std::time::{Duration, Instant};

/// tmux driving the real binary, one socket per test.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(name: &str, env: &[(&str, &Path)], args: &[&str], w: u16, h: u16) -> Tmux {
        Tmux::start_then(name, env, args, w, h, "")
    }

    /// Like `start`, with a shell command run in the pane after the binary exits (`cat -v` to
    /// see what the terminal sends once the explorer has restored it).
    pub fn start_then(name: &str, env: &[(&str, &Path)], args: &[&str], w: u16, h: u16, then: &str) -> Tmux {
        Tmux::start_around(name, env, args, w, h, "", then)
    }

    /// Like `start_then`, with a shell command run in the pane before the binary starts too.
    pub fn start_around(
        name: &str,
        env: &[(&str, &Path)],
        args: &[&str],
        w: u16,
        h: u16,
        before: &str,
        then: &str,
    ) -> Tmux {
        let ok = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
        assert!(ok, "tmux is required for the end-to-end tests (apt-get install tmux)");
        let socket = format!("seglens-e2e-{name}-{}", std::process::id());
        let mut cmd = if before.is_empty() { String::new() } else { format!("{before}; ") };
        cmd.push_str("env TERM=xterm-256color NO_COLOR=1");
        for (k, v) in env {
            cmd.push_str(&format!(" {k}='{}'", v.display()));
        }
        cmd.push_str(&format!(" '{BIN}'"));
        for a in args {
            cmd.push_str(&format!(" '{a}'"));
        }
        if !then.is_empty() {
            cmd.push_str(&format!("; {then}"));
        }
        let status = Command::new("tmux")
            .args(["-L", &socket, "new-session", "-d", "-x", &w.to_string(), "-y", &h.to_string(), &cmd])
            .status()
            .unwrap();
        assert!(status.success());
        Tmux { socket }
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["-L", &self.socket, "send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        assert!(Command::new("tmux").args(&args).status().unwrap().success());
    }

    pub fn text(&self, text: &str) {
        assert!(
            Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", "-t", "0", "-l", text])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Pastes `text` as a terminal does: wrapped in bracketed-paste codes when the program in
    /// the pane asked for them (`paste-buffer -p`), as keystrokes otherwise.
    pub fn paste(&self, text: &str) {
        let tmux = |args: &[&str]| {
            let mut all = vec!["-L", &self.socket];
            all.extend_from_slice(args);
            assert!(Command::new("tmux").args(&all).status().unwrap().success(), "tmux {args:?}");
        };
        tmux(&["set-buffer", "-b", "seglens-paste", "--", text]);
        tmux(&["paste-buffer", "-p", "-d", "-b", "seglens-paste", "-t", "0"]);
    }

    /// Deletes `n` characters before the cursor.
    pub fn backspace(&self, n: usize) {
        let keys = vec!["BSpace"; n];
        for chunk in keys.chunks(100) {
            self.keys(chunk);
        }
    }

    /// The process running in the pane's shell (the binary, once `env` has exec'd it).
    pub fn child_pid(&self) -> Option<u32> {
        let out =
            Command::new("tmux").args(["-L", &self.socket, "display", "-p", "-t", "0", "#{pane_pid}"]).output().ok()?;
        let shell = String::from_utf8_lossy(&out.stdout).trim().to_string();
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // The fields after the command's closing parenthesis: state, then the parent's pid.
            let ppid = stat[stat.rfind(')')? + 2..].split_whitespace().nth(1)?;
            (ppid == shell).then(|| e.file_name().to_str()?.parse().ok()).flatten()
        })
    }

    pub fn resize(&self, w: u16, h: u16) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "resize-window", "-t", "0", "-x", &w.to_string(), "-y", &h.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux").args(["-L", &self.socket, "capture-pane", "-p", "-t", "0"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `pred` (never a fixed sleep); panics with the screen.
    pub fn wait(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
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

    pub fn wait_for(&self, text: &str) -> String {
        self.wait(text, |s| s.contains(text))
    }

    /// Ctrl-Q, confirming the unsaved-edits question, and waits for the explorer to leave.
    pub fn quit(&self) {
        self.keys(&["C-q"]);
        self.wait_for("Unsaved edits");
        self.keys(&["y"]);
        self.wait("the explorer to exit", |s| !s.contains("customers"));
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).stderr(Stdio::null()).status();
    }
}

/// The size line of the preview: "N of M customers".
pub fn size_on_screen(screen: &str) -> Option<u64> {
    let line = screen.lines().find(|l| l.contains(" customers  ") && l.contains(" of "))?;
    let after = line.split('│').find(|part| part.contains(" of ") && part.contains("customers"))?;
    after.split_whitespace().next()?.replace(',', "").parse().ok()
}

/// Whether `text` shows `n` as a number of its own, grouped as the explorer groups counts: not
/// inside a longer number (`12` in `1,120`), a decimal (`12.5`) or a percentage (`12%`).
pub fn shows(text: &str, n: u64) -> bool {
    let want = seglens::format::count(n);
    let number = |c: char| c.is_ascii_digit() || c == ',' || c == '.';
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() || (i > 0 && number(chars[i - 1])) {
            i += 1;
            continue;
        }
        let end = (i..chars.len()).find(|&j| !number(chars[j])).unwrap_or(chars.len());
        let token: String = chars[i..end].iter().collect();
        if chars.get(end) != Some(&'%') && token.trim_end_matches([',', '.']) == want {
            return true;
        }
        i = end;
    }
    false
}
