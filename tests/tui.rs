//! The explorer with its real parts: a generated DuckDB file, starter templates on disk, the real
//! query worker, and screens drawn through ratatui's TestBackend (insta snapshots).

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use seglens::engine::query::overlap::OverlapInput;
use seglens::engine::{Engine, ParamValue};
use seglens::library::{Library, Status, measure};
use seglens::sample::{SampleSpec, generate};
use seglens::tui::action::Action;
use seglens::tui::state::{AppState, Dialog, Focus, SideTab, View, WorkerState};
use seglens::tui::theme::Theme;
use seglens::tui::{Runtime, ui};
use tempfile::TempDir;

const WAIT: Duration = Duration::from_secs(30);

struct Setup {
    dir: TempDir,
    db: PathBuf,
    rt: Runtime,
    state: AppState,
}

fn setup() -> Setup {
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("crm.duckdb");
    // Dates are laid out relative to a fixed day, and current_date is pinned to it: the figures
    // (and the snapshots) are the same whatever day the tests run.
    let spec = SampleSpec { customers: 2000, seed: 11, as_of: common::as_of() };
    generate(&db, &spec, false).unwrap();
    let library = Library::open(dir.path().join("segments"));
    {
        let engine = engine(&db);
        assert_eq!(seglens::cli::starter::install_starters(&library, &engine).unwrap(), 8);
    }
    let engine = engine(&db);
    let library_dir = library.dir().to_path_buf();
    let (mut rt, mut state) = Runtime::start(engine, library, Theme::default_theme(), "crm.duckdb".into()).unwrap();
    // Exports are logged beside the test's files, not in the user's data directory.
    rt.set_export_log(seglens::export::over_time::ExportLog {
        path: dir.path().join("exports.jsonl"),
        library: library_dir,
    });
    rt.apply(&mut state, Action::Resize(120, 40));
    assert!(rt.pump_until(&mut state, WAIT, |s| s.schema.schema.is_some()
        && s.library.templates.len() == 8
        && s.library.size_now.len() == 8));
    Setup { dir, db, rt, state }
}

fn press(su: &mut Setup, code: KeyCode, mods: KeyModifiers) {
    su.rt.apply(&mut su.state, Action::Key(KeyEvent::new(code, mods)));
}

fn key(su: &mut Setup, code: KeyCode) {
    press(su, code, KeyModifiers::NONE);
}

fn type_text(su: &mut Setup, text: &str) {
    for c in text.chars() {
        key(su, KeyCode::Char(c));
    }
}

/// The preview is done and the library's sizes are measured: nothing on screen will change.
fn idle(s: &AppState) -> bool {
    s.worker == WorkerState::Idle
        && s.preview_due.is_none()
        && s.preview.size.is_some()
        && !s.preview.stale
        && !s.library.measuring
}

fn select_in_library(su: &mut Setup, name: &str) {
    su.state.focus = Focus::Side;
    su.state.side = SideTab::Library;
    let i = su.state.library.visible().iter().position(|t| t.name == name).expect("in the library");
    su.state.library.selected = i;
}

fn open(su: &mut Setup, name: &str) {
    select_in_library(su, name);
    key(su, KeyCode::Enter);
    assert!(su.rt.pump_until(&mut su.state, WAIT, idle), "preview of {name}");
}

fn engine(db: &Path) -> Engine {
    Engine::open(db, &common::pinned_sample_options()).unwrap()
}

fn size_of(db: &Path, library: &Library, name: &str, values: &[(&str, ParamValue)]) -> u64 {
    let t = library.load(name, None).unwrap();
    let (features, _) = library.features();
    let values = values.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    engine(db).size(&measure::compile(&t, &values, &features).unwrap()).unwrap().size
}

fn draw(state: &AppState, theme: &Theme, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::render(f, state, theme)).unwrap();
    t
}

macro_rules! snap {
    ($name:expr, $term:expr) => {
        insta::with_settings!({filters => vec![
            (r"(size|preview|running) \d+( ms)?", "$1 [ms]"),
            // How many digits the timings have moves where the status line is cut: what follows
            // them is asserted by the tests that wait for it, not by the snapshots.
            (r#"(?m)· preview( \[ms\])?( [^"]*)?"$"#, "· preview [ms] …\""),
            // Under an overlay, what shows of the status line depends on the same digits.
            (r#"(?m)^(" crm\.duckdb · custom└─+┘).*"$"#, "$1…\""),
            (r"\d+ ms", "[ms]"),
            // Timings change the padding that follows them.
            (r#"(?m) +"$"#, "\""),
            (r"/tmp/\.tmp[A-Za-z0-9]+", "[tmp]"),
            (r"\d{4}-\d{2}-\d{2}(T[0-9:]+Z)?", "[date]"),
            (r"[◐◓◑◒] running", "[spin] running"),
        ]}, {
            insta::assert_snapshot!($name, $term.backend());
        });
    };
}

#[test]
fn open_nudge_and_the_screen_follow_the_engine() {
    let mut su = setup();
    let lib = Library::open(su.dir.path().join("segments"));
    open(&mut su, "lapsed-high-value");
    let expected = size_of(&su.db, &lib, "lapsed-high-value", &[]);
    assert_eq!(su.state.preview.size.map(|s| s.size), Some(expected));
    assert!(
        su.state.preview.profile.is_some() && su.state.preview.breakdown.is_some() && su.state.preview.rows.is_some()
    );
    // Nudge `days` down one step (90 → 85) and watch the size follow.
    su.state.focus = Focus::Params;
    su.state.params.selected = su.state.params.items.iter().position(|p| p.name == "days").unwrap();
    key(&mut su, KeyCode::Char('-'));
    assert!(su.rt.pump_until(&mut su.state, WAIT, idle));
    let nudged = size_of(&su.db, &lib, "lapsed-high-value", &[("days", ParamValue::Int(85))]);
    assert_eq!(su.state.preview.size.map(|s| s.size), Some(nudged));
    assert!(su.state.unsaved(), "a nudged parameter is an unsaved edit");
    let theme = Theme::default_theme();
    su.state.focus = Focus::Params;
    snap!("explore_120x40", draw(&su.state, &theme, 120, 40));
    snap!("explore_80x24", draw(&su.state, &theme, 80, 24));
    // The message of the last action is never cut off by the context before it (slow previews
    // have longer timings): at 80 columns the table, key and base count give way.
    let before = (su.state.status.clone(), su.state.preview.total_ms);
    su.state.status = Some((seglens::tui::state::Level::Info, "approved lapsed-high-value@3".into()));
    su.state.preview.total_ms = Some(1234);
    let t = draw(&su.state, &theme, 80, 24);
    let line: String = (0..80).map(|x| t.backend().buffer()[(x, 22)].symbol().to_string()).collect();
    assert!(line.contains("approved lapsed-high-value@3"), "{line}");
    assert!(line.contains("preview 1234 ms"), "{line}");
    (su.state.status, su.state.preview.total_ms) = before;
    // The side panel's other tabs.
    su.state.side = SideTab::Schema;
    snap!("schema_120x40", draw(&su.state, &theme, 120, 40));
    su.state.side = SideTab::Features;
    snap!("features_120x40", draw(&su.state, &theme, 120, 40));
    su.state.help = true;
    snap!("help_120x40", draw(&su.state, &theme, 120, 40));
    snap!("help_80x24", draw(&su.state, &theme, 80, 24));
    // At 80x24 the help scrolls: every section can be reached.
    su.rt.apply(&mut su.state, Action::Resize(80, 24));
    for _ in 0..40 {
        key(&mut su, KeyCode::PageDown);
    }
    let scrolled = draw(&su.state, &theme, 80, 24);
    let text = format!("{:?}", scrolled.backend());
    assert!(text.contains("Export dialog") && text.contains("Library:"), "the end of the help is reachable");
    snap!("help_80x24_scrolled", scrolled);
    su.state.help = false;
    snap!("too_small", draw(&su.state, &theme, 50, 12));
}

#[test]
fn a_bad_filter_keeps_the_dimmed_preview_and_the_app_goes_on() {
    let mut su = setup();
    open(&mut su, "holi-colour-buyers");
    let before = su.state.preview.size;
    su.state.focus = Focus::Editor;
    type_text(&mut su, " AND no_such_column > 1");
    assert!(su.rt.pump_until(&mut su.state, WAIT, |s| s.editor.error.is_some() && s.worker == WorkerState::Idle));
    let err = su.state.editor.error.clone().unwrap();
    assert!(err.message.contains("no_such_column"), "{err}");
    assert!(err.pos.is_some(), "DuckDB's position is mapped to the text");
    assert_eq!(su.state.preview.size, before, "the last valid preview stays");
    assert!(su.state.preview.stale);
    let theme = Theme::default_theme();
    snap!("filter_error_120x40", draw(&su.state, &theme, 120, 40));
    // A file-reading function is refused by DuckDB's disabled external access, shown the same way.
    for _ in 0.." AND no_such_column > 1".len() {
        key(&mut su, KeyCode::Backspace);
    }
    type_text(&mut su, " AND length(read_text('/etc/hostname')) > 0");
    assert!(su.rt.pump_until(&mut su.state, WAIT, |s| s.editor.error.is_some() && s.worker == WorkerState::Idle));
    for _ in 0.." AND length(read_text('/etc/hostname')) > 0".len() {
        key(&mut su, KeyCode::Backspace);
    }
    assert!(su.rt.pump_until(&mut su.state, WAIT, idle), "valid again");
    assert_eq!(su.state.preview.size, before);
}

#[test]
fn save_approve_overlap_and_export_without_leaving_the_screen() {
    let mut su = setup();
    let lib_dir = su.dir.path().join("segments");
    let lib = Library::open(&lib_dir);
    let v1 = std::fs::read(lib.path_of("lapsed-high-value", 1)).unwrap();
    open(&mut su, "lapsed-high-value");
    su.state.focus = Focus::Params;
    su.state.params.selected = su.state.params.items.iter().position(|p| p.name == "days").unwrap();
    key(&mut su, KeyCode::Char('-'));
    assert!(su.rt.pump_until(&mut su.state, WAIT, idle));
    // Save v2 with a change note.
    press(&mut su, KeyCode::Char('s'), KeyModifiers::CONTROL);
    let theme = Theme::default_theme();
    snap!("dialog_save", draw(&su.state, &theme, 120, 40));
    type_text(&mut su, "days 85");
    key(&mut su, KeyCode::Enter);
    assert!(su.rt.pump_until(&mut su.state, WAIT, |s| {
        s.library.templates.iter().any(|t| t.name == "lapsed-high-value" && t.version == 2)
    }));
    let v2 = lib.load("lapsed-high-value", Some(2)).unwrap();
    assert_eq!(v2.status, Status::Draft, "a changed definition is a new draft");
    assert_eq!(v2.note.as_deref(), Some("days 85"));
    assert_eq!(v2.params["days"].default, Some(ParamValue::Int(85)));
    assert_eq!(v2.snapshot.as_ref().map(|s| s.size), su.state.preview.size.map(|s| s.size));
    assert_eq!(std::fs::read(lib.path_of("lapsed-high-value", 1)).unwrap(), v1, "v1 is never rewritten");
    assert!(!su.state.unsaved());
    // Approve it from the library: a new version.
    select_in_library(&mut su, "lapsed-high-value");
    key(&mut su, KeyCode::Char('a'));
    assert!(su.rt.pump_until(&mut su.state, WAIT, |s| {
        s.library.templates.iter().any(|t| t.name == "lapsed-high-value" && t.version == 3)
    }));
    assert_eq!(lib.load("lapsed-high-value", None).unwrap().status, Status::Approved);
    // History with a diff.
    assert!(su.rt.pump_until(&mut su.state, WAIT, idle));
    key(&mut su, KeyCode::Char('h'));
    assert!(matches!(su.state.dialog, Some(Dialog::History { .. })));
    snap!("dialog_history", draw(&su.state, &theme, 120, 40));
    // From the newest version (the approval) up to v2, whose parameters changed.
    key(&mut su, KeyCode::Up);
    key(&mut su, KeyCode::Char('d'));
    match &su.state.dialog {
        Some(Dialog::Diff { text, .. }) => assert!(text.contains("param "), "{text}"),
        other => panic!("expected a diff, got {other:?}"),
    }
    key(&mut su, KeyCode::Esc);
    // The working set: two segments and a suppression; the overlap view reads the engine's overlap.
    for name in ["lapsed-high-value", "holi-colour-buyers", "inactive-14-days"] {
        select_in_library(&mut su, name);
        key(&mut su, KeyCode::Char(' '));
    }
    key(&mut su, KeyCode::F(3));
    assert_eq!(su.state.view, View::Overlap);
    assert!(su.rt.pump_until(&mut su.state, WAIT, |s| {
        idle(s) && s.overlap.result.as_ref().is_some_and(|o| o.segments.len() == 3)
    }));
    let (features, _) = lib.features();
    let compiled: Vec<_> = ["lapsed-high-value", "holi-colour-buyers", "inactive-14-days"]
        .iter()
        .map(|n| measure::compile(&lib.load(n, None).unwrap(), &Default::default(), &features).unwrap())
        .collect();
    let inputs: Vec<OverlapInput> = ["lapsed-high-value", "holi-colour-buyers", "inactive-14-days"]
        .iter()
        .zip(&compiled)
        .map(|(n, c)| OverlapInput { name: n.to_string(), filter: c, suppression: *n == "inactive-14-days" })
        .collect();
    let expected = engine(&su.db).overlap(&inputs).unwrap();
    let shown = su.state.overlap.result.clone().unwrap();
    assert_eq!(shown.segments, expected.segments);
    assert_eq!(shown.pairs, expected.pairs);
    assert_eq!(shown.none, expected.none);
    snap!("overlap_120x40", draw(&su.state, &theme, 120, 40));
    snap!("overlap_80x24", draw(&su.state, &theme, 80, 24));
    su.state.overlap.jaccard = true;
    snap!("overlap_jaccard_120x40", draw(&su.state, &theme, 120, 40));
    su.state.overlap.jaccard = false;
    // Removing a segment measures again; until the new figures arrive the old ones are marked.
    su.state.overlap.selected = 2;
    key(&mut su, KeyCode::Char('x'));
    assert_eq!(su.state.library.working, ["lapsed-high-value", "holi-colour-buyers"]);
    let title = |su: &Setup| {
        let screen = format!("{:?}", draw(&su.state, &theme, 120, 40).backend());
        screen.lines().find(|l| l.contains("Overlap —")).unwrap_or_default().to_string()
    };
    assert!(title(&su).contains("updating…"), "{}", title(&su));
    assert!(su.rt.pump_until(&mut su.state, WAIT, |s| {
        idle(s) && s.overlap.result.as_ref().is_some_and(|o| o.segments.len() == 2)
    }));
    assert!(!title(&su).contains("updating…"), "{}", title(&su));
    key(&mut su, KeyCode::F(3));
    select_in_library(&mut su, "inactive-14-days");
    key(&mut su, KeyCode::Char(' '));
    key(&mut su, KeyCode::F(3));
    assert_eq!(su.state.view, View::Overlap);
    assert!(su.rt.pump_until(&mut su.state, WAIT, |s| {
        idle(s) && s.overlap.result.as_ref().is_some_and(|o| o.segments.len() == 3)
    }));
    assert_eq!(su.state.overlap.result.as_ref().unwrap().segments, expected.segments);
    // Export the working set's approved segments (the suppression is subtracted).
    key(&mut su, KeyCode::F(3));
    press(&mut su, KeyCode::Char('e'), KeyModifiers::CONTROL);
    let out = su.dir.path().join("holi.csv");
    if let Some(Dialog::Export { fields, .. }) = &mut su.state.dialog {
        fields[1].value = out.display().to_string();
    } else {
        panic!("export dialog");
    }
    // The dialog measures who joined and left since the last export before anything is written.
    assert!(su.rt.pump_until(&mut su.state, WAIT, |s| idle(s)
        && matches!(&s.dialog, Some(Dialog::Export { changes: Some(_), .. }))));
    snap!("dialog_export", draw(&su.state, &theme, 120, 40));
    key(&mut su, KeyCode::Enter);
    assert!(
        su.rt.pump_until(&mut su.state, WAIT, |s| matches!(&s.dialog, Some(Dialog::Export { result: Some(_), .. })))
    );
    match &su.state.dialog {
        Some(Dialog::Export { result: Some(Ok(text)), .. }) => assert!(text.contains("manifest"), "{text}"),
        other => panic!("export failed: {other:?}"),
    }
    let csv = std::fs::read_to_string(&out).unwrap();
    let rows = csv.lines().count() - 1;
    // Every approved suppression is subtracted: inactive-14-days and unsubscribed.
    let unsub = measure::compile(&lib.load("unsubscribed", None).unwrap(), &Default::default(), &features).unwrap();
    let supp = [&compiled[2], &unsub];
    let e = engine(&su.db);
    let want = e.size(&compiled[0].and_not(&supp)).unwrap().size + e.size(&compiled[1].and_not(&supp)).unwrap().size;
    assert_eq!(rows as u64, want, "rows = each approved segment minus the suppressions");
    assert!(out.with_extension("manifest.json").exists());
    key(&mut su, KeyCode::Esc);
    // A failing export says why and leaves nothing.
    press(&mut su, KeyCode::Char('e'), KeyModifiers::CONTROL);
    let bad = su.dir.path().join("no-such-dir").join("x.csv");
    if let Some(Dialog::Export { fields, .. }) = &mut su.state.dialog {
        fields[1].value = bad.display().to_string();
    }
    key(&mut su, KeyCode::Enter);
    assert!(
        su.rt.pump_until(&mut su.state, WAIT, |s| matches!(
            &s.dialog,
            Some(Dialog::Export { result: Some(Err(_)), .. })
        ))
    );
    assert!(!bad.exists());
}

/// The overlap view measures the working set when the editor is empty too, and the figures are the
/// engine's; emptying the working set clears them.
#[test]
fn the_overlap_of_the_working_set_needs_no_filter_in_the_editor() {
    let mut su = setup();
    assert!(su.state.compiled.is_none(), "a new filter is empty");
    for name in ["at-risk", "holi-colour-buyers"] {
        select_in_library(&mut su, name);
        key(&mut su, KeyCode::Char(' '));
    }
    key(&mut su, KeyCode::F(3));
    assert_eq!(su.state.view, View::Overlap);
    let measured = |s: &AppState| {
        s.worker == WorkerState::Idle
            && s.preview_due.is_none()
            && s.overlap.result.as_ref().is_some_and(|o| o.segments.len() == 2)
    };
    assert!(su.rt.pump_until(&mut su.state, WAIT, measured), "the overlap of two library segments");
    let lib = Library::open(su.dir.path().join("segments"));
    let (features, _) = lib.features();
    let compiled: Vec<_> = ["at-risk", "holi-colour-buyers"]
        .iter()
        .map(|n| measure::compile(&lib.load(n, None).unwrap(), &Default::default(), &features).unwrap())
        .collect();
    let inputs: Vec<OverlapInput> = ["at-risk", "holi-colour-buyers"]
        .iter()
        .zip(&compiled)
        .map(|(n, c)| OverlapInput { name: n.to_string(), filter: c, suppression: false })
        .collect();
    let expected = engine(&su.db).overlap(&inputs).unwrap();
    assert_eq!(su.state.overlap.result.as_ref().unwrap().pairs, expected.pairs);
    assert_eq!(su.state.overlap.result.as_ref().unwrap().none, expected.none);
    assert!(su.state.preview.size.is_none(), "no size without a filter");
    // Removing both empties the working set: no figures are left on screen.
    key(&mut su, KeyCode::Char('x'));
    key(&mut su, KeyCode::Char('x'));
    assert_eq!(su.state.library.working, ["holi-colour-buyers"], "the second x met the figures not yet updated");
    assert!(su.state.status.as_ref().is_some_and(|(_, m)| m.contains("already out")), "{:?}", su.state.status);
    assert!(su.rt.pump_until(&mut su.state, WAIT, |s| {
        s.preview_due.is_none() && s.overlap.result.as_ref().is_some_and(|o| o.segments.len() == 1)
    }));
    key(&mut su, KeyCode::Char('x'));
    assert!(su.state.library.working.is_empty());
    assert!(su.rt.pump_until(&mut su.state, WAIT, |s| s.preview_due.is_none() && s.overlap.result.is_none()));
}

/// A library larger than one overlap (64 segments) gets a size now for every segment.
#[test]
fn every_library_segment_gets_its_size_beyond_64() {
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("crm.duckdb");
    let spec = SampleSpec { customers: 500, seed: 3, as_of: common::as_of() };
    generate(&db, &spec, false).unwrap();
    let library = Library::open(dir.path().join("segments"));
    let filter = |i: usize| format!("customer_id % 70 = {i} OR orders_count > {}", i % 7);
    for i in 0..70 {
        library.save(seglens::library::Template::new(&format!("seg-{i:02}"), &filter(i))).unwrap();
    }
    let (mut rt, mut state) =
        Runtime::start(engine(&db), library, Theme::default_theme(), "crm.duckdb".into()).unwrap();
    assert!(rt.pump_until(&mut state, WAIT, |s| s.library.templates.len() == 70 && !s.library.measuring));
    assert_eq!(state.library.size_now.len(), 70);
    let e = engine(&db);
    for i in [0, 63, 64, 69] {
        let want = e.size(&common_compile(&filter(i))).unwrap().size;
        assert_eq!(state.library.size_now[&format!("seg-{i:02}")], want, "seg-{i:02}");
    }
}

fn common_compile(text: &str) -> seglens::engine::Compiled {
    seglens::engine::text::filter::compile(text, &Default::default(), &Default::default(), &Default::default()).unwrap()
}

#[test]
fn themes_colour_roles_not_text() {
    let mut su = setup();
    open(&mut su, "at-risk");
    for name in ["dark", "light"] {
        let theme = Theme::load(name).unwrap();
        let t = draw(&su.state, &theme, 120, 40);
        // The focused panel's border (the editor after opening) is drawn in the theme's focus colour.
        let cell = &t.backend().buffer()[(0, 0)];
        assert_eq!(cell.fg, theme.focus, "{name}: focused border");
        snap!(format!("explore_{name}"), t);
    }
}
