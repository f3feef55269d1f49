//! The six explorer defects found by reading the code (issue 14), each reproduced first: a save
//! lost to typing, clicks in scrolled lists, the history's cursor, an export that could not be
//! stopped, approvals without `SEGLENS_AUTHOR`, and the help overlay's endless scroll.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::time::{Duration, Instant};

use common::screen;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use seglens::engine::{Column, Engine};
use seglens::library::{Library, SaveOutcome, Status, Template};
use seglens::tui::action::{Action, Effect, LibrarySnapshot};
use seglens::tui::jobs::JobId;
use seglens::tui::state::{AppState, Dialog, Focus, SideTab};
use seglens::tui::theme::Theme;
use seglens::tui::update::update;
use seglens::tui::worker::{Part, Reply, Request, Response, Task, WorkerError, WorkerHandle};

fn state(columns: usize) -> AppState {
    let cols = (0..columns)
        .map(|i| Column { name: format!("col_{i:02}"), ty: "BIGINT".into() })
        .chain([Column { name: "member_ref".into(), ty: "VARCHAR".into() }])
        .collect();
    let mut s = AppState::new("shop.duckdb".into(), "shoppers".into(), "member_ref".into(), 1000, cols, "dark".into());
    update(&mut s, Action::Resize(120, 30), Instant::now());
    s
}

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn library(templates: Vec<Template>) -> Action {
    Action::LibraryLoaded(LibrarySnapshot { dir: "lib".into(), templates, ..LibrarySnapshot::default() })
}

fn templates(n: usize) -> Vec<Template> {
    (0..n).map(|i| Template::new(&format!("seg-{i:02}"), "member_ref IS NOT NULL")).collect()
}

/// The screen as text rows.
fn click(s: &mut AppState, column: u16, row: u16) {
    let m = MouseEvent { kind: MouseEventKind::Down(MouseButton::Left), column, row, modifiers: KeyModifiers::NONE };
    update(s, Action::Mouse(m), Instant::now());
}

/// Where `text` is drawn in the left half (the side panel and parameters are there).
fn find_left(rows: &[String], text: &str) -> (u16, u16) {
    for (y, row) in rows.iter().enumerate() {
        let left: String = row.chars().take(58).collect();
        if let Some(x) = left.find(text) {
            return (left[..x].chars().count() as u16, y as u16);
        }
    }
    panic!("{text} is not on screen:\n{}", rows.join("\n"));
}

#[test]
fn a_click_in_a_scrolled_list_picks_the_row_drawn_under_it() {
    // Library: scroll to the bottom of 40 segments, then click a row near the top of the list.
    let mut s = state(4);
    update(&mut s, library(templates(40)), Instant::now());
    s.focus = Focus::Side;
    s.side = SideTab::Library;
    for _ in 0..39 {
        update(&mut s, key(KeyCode::Down), Instant::now());
    }
    assert_eq!(s.library.selected, 39);
    let rows = screen(&s);
    let name = (0..40).map(|i| format!("seg-{i:02}")).find(|n| rows.iter().any(|r| r.contains(n.as_str()))).unwrap();
    assert_ne!(name, "seg-00", "the list has scrolled");
    let (x, y) = find_left(&rows, &name);
    click(&mut s, x, y);
    assert_eq!(s.library.selected_template().map(|t| t.name.clone()), Some(name.clone()), "clicked {name}");

    // Schema: 60 columns, the last selected, click the first row shown.
    let mut s = state(60);
    s.focus = Focus::Side;
    s.side = SideTab::Schema;
    for _ in 0..60 {
        update(&mut s, key(KeyCode::Down), Instant::now());
    }
    let rows = screen(&s);
    let col = (0..60).map(|i| format!("col_{i:02}")).find(|n| rows.iter().any(|r| r.contains(n.as_str()))).unwrap();
    assert_ne!(col, "col_00");
    let (x, y) = find_left(&rows, &col);
    click(&mut s, x, y);
    assert_eq!(s.dataset.columns[s.schema.selected].name, col);

    // Parameters: eight placeholders in a panel of four rows.
    let mut s = state(4);
    s.focus = Focus::Editor;
    for c in "{{p1}}+{{p2}}+{{p3}}+{{p4}}+{{p5}}+{{p6}}+{{p7}}+{{p8}} > 0".chars() {
        update(&mut s, key(KeyCode::Char(c)), Instant::now());
    }
    s.focus = Focus::Params;
    for _ in 0..7 {
        update(&mut s, key(KeyCode::Down), Instant::now());
    }
    let rows = screen(&s);
    let (x, y) = find_left(&rows, "p5 ");
    click(&mut s, x, y);
    assert_eq!(s.params.items[s.params.selected].name, "p5");
}

#[test]
fn the_history_has_its_own_cursor_starting_on_the_newest_version() {
    let mut s = state(4);
    let mut versions = Vec::new();
    for v in 1..=3u32 {
        let mut t = Template::new("seg-a", &format!("col_00 > {v}"));
        t.version = v;
        versions.push(t);
    }
    update(&mut s, library(vec![versions[2].clone()]), Instant::now());
    // The overlap view's cursor was far down before the history opened.
    s.overlap.selected = 7;
    update(
        &mut s,
        Action::LibraryLoaded(LibrarySnapshot {
            dir: "lib".into(),
            templates: vec![versions[2].clone()],
            history: Some(("seg-a".into(), versions.clone())),
            ..LibrarySnapshot::default()
        }),
        Instant::now(),
    );
    assert!(matches!(s.dialog, Some(Dialog::History { selected: 2 })), "{:?}", s.dialog);
    update(&mut s, key(KeyCode::Up), Instant::now());
    assert_eq!(s.overlap.selected, 7, "the overlap view's cursor is its own");
    update(&mut s, key(KeyCode::Char('d')), Instant::now());
    match &s.dialog {
        Some(Dialog::Diff { text, .. }) => {
            assert!(text.contains("seg-a@1") && text.contains("seg-a@2"), "v2 against v1:\n{text}");
            assert!(text.contains("-col_00 > 1") && text.contains("+col_00 > 2"), "{text}");
        }
        other => panic!("expected the diff, got {other:?}"),
    }
}

/// An export started from the dialog (Enter), still running: its job id is the one to cancel.
fn running_export(s: &mut AppState) -> JobId {
    s.dialog = Some(common::export_dialog("seg-a", "seg-a.csv", true));
    let fx = update(s, key(KeyCode::Enter), Instant::now());
    fx.iter()
        .find_map(|e| match e {
            Effect::Start { id, .. } => Some(*id),
            _ => None,
        })
        .expect("Enter starts the export")
}

#[test]
fn a_running_export_stops_on_esc_and_ctrl_q_quits() {
    let mut s = state(4);
    let id = running_export(&mut s);
    let fx = update(&mut s, key(KeyCode::Esc), Instant::now());
    assert!(fx.iter().any(|e| matches!(e, Effect::CancelJob(c) if *c == id)), "{fx:?}");
    assert!(s.dialog.is_some(), "the dialog stays to report how the export ended");
    let fx = update(&mut s, key(KeyCode::Char('x')), Instant::now());
    assert!(fx.is_empty() && s.dialog.is_some(), "other keys wait while it runs");

    let mut s = state(4);
    let id = running_export(&mut s);
    let fx = update(&mut s, ctrl('q'), Instant::now());
    assert!(fx.iter().any(|e| matches!(e, Effect::CancelJob(c) if *c == id)), "{fx:?}");
    assert!(fx.iter().any(|e| matches!(e, Effect::Quit)) && s.quit, "nothing unsaved: quits");

    // The runtime interrupts the export's own connection: a real export on a generated
    // database of another schema ends cancelled, leaving no file under the final name.
    let sandbox = common::Sandbox::new();
    let db = common::foreign::foreign_db(sandbox.path(), common::foreign::Foreign::Shop, 50_000);
    let engine = Engine::open(&db, &Default::default()).unwrap();
    let lib_dir = sandbox.path().join("lib");
    let lib = Library::open(&lib_dir);
    let saved = common::save_measured(&engine, &lib, Template::new("everyone", "TRUE"));
    assert!(matches!(saved, SaveOutcome::Saved { .. }));
    lib.set_status("everyone", None, Status::Approved, None, "qa").unwrap();
    let (mut rt, mut st) =
        seglens::tui::Runtime::start(engine, Library::open(&lib_dir), Theme::default_theme(), "shop".into()).unwrap();
    let out = sandbox.path().join("everyone.csv");
    st.dialog = Some(common::export_dialog("everyone", out.to_str().unwrap(), false));
    // Esc right after Enter: the export thread meets the stop at its first progress report.
    rt.apply(&mut st, key(KeyCode::Enter));
    rt.apply(&mut st, key(KeyCode::Esc));
    assert!(rt.pump_until(&mut st, Duration::from_secs(60), |s| matches!(
        &s.dialog,
        Some(Dialog::Export { result: Some(_), .. })
    )));
    match &st.dialog {
        Some(Dialog::Export { result: Some(Err(e)), .. }) => assert!(e.contains("cancel"), "{e}"),
        other => panic!("the export should end cancelled: {other:?}"),
    }
    assert!(!out.exists(), "nothing under the final name");
}

#[test]
fn approvals_and_saves_record_the_author_the_explorer_started_with() {
    let mut s = state(4);
    s.author = "qa-bot".into();
    let mut t = Template::new("seg-a", "col_00 > 1");
    t.version = 1;
    update(&mut s, library(vec![t]), Instant::now());
    s.focus = Focus::Side;
    s.side = SideTab::Library;
    let fx = update(&mut s, key(KeyCode::Char('a')), Instant::now());
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::SetStatus { author, status: Status::Approved, .. } if author == "qa-bot")),
        "{fx:?}"
    );
    // A save of a new segment carries the same author.
    s.focus = Focus::Editor;
    for c in "col_01 > 3".chars() {
        update(&mut s, key(KeyCode::Char(c)), Instant::now());
    }
    update(&mut s, ctrl('s'), Instant::now());
    for c in "seg-b".chars() {
        update(&mut s, key(KeyCode::Char(c)), Instant::now());
    }
    let fx = update(&mut s, ctrl('s'), Instant::now());
    let saved = fx.iter().find_map(|e| match e {
        Effect::Send(Request::Task { task: Task::Save { template, .. }, .. }) => Some(template.author.clone()),
        _ => None,
    });
    assert_eq!(saved.as_deref(), Some("qa-bot"), "{fx:?}");
}

#[test]
fn the_help_scroll_stops_at_its_last_page() {
    let mut s = state(4);
    update(&mut s, Action::Resize(60, 20), Instant::now());
    update(&mut s, Action::Key(KeyEvent::new(KeyCode::F(1), KeyModifiers::NONE)), Instant::now());
    for _ in 0..500 {
        update(&mut s, key(KeyCode::Down), Instant::now());
    }
    let bottom = screen(&s);
    update(&mut s, key(KeyCode::Down), Instant::now());
    assert_eq!(screen(&s), bottom, "past the end nothing moves");
    update(&mut s, key(KeyCode::Up), Instant::now());
    assert_ne!(screen(&s), bottom, "one ↑ after scrolling past the end moves the text");
}

/// A save whose measurement is hit by the cancels of typing still lands, and a save that fails
/// says so however far the generation moved.
#[test]
fn a_save_is_never_lost_to_typing() {
    let sandbox = common::Sandbox::new();
    let db = common::foreign::foreign_db(sandbox.path(), common::foreign::Foreign::Shop, 50_000);
    let engine = Engine::open(&db, &Default::default()).unwrap();
    let filter = "EXISTS (SELECT 1 FROM purchase_records p, purchase_records q \
WHERE p.shopper_ref = shoppers.shopper_ref AND q.shopper_ref = p.shopper_ref)";
    let compiled = common::compile(filter);
    let mut t = Template::new("heavy", filter);
    t.table = engine.table().into();
    t.key = engine.key().into();
    let lib_dir = sandbox.path().join("lib");
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = WorkerHandle::start(engine, Library::open(&lib_dir), move |r| {
        let _ = tx.send(r);
    });
    worker.send(Request::Task { generation: 1, task: Task::Save { template: Box::new(t), filter: compiled } });
    // Typing: a new generation and an interrupt every millisecond while the save runs.
    let start = Instant::now();
    let mut generation = 1;
    let saved = loop {
        generation += 1;
        worker.cancel(generation);
        if let Ok(r) = rx.recv_timeout(Duration::from_millis(1))
            && r.reply == Reply::Task
        {
            break r;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "no answer to the save");
    };
    match saved.result {
        Ok(Part::Saved(SaveOutcome::Saved { version, .. }, name)) => assert_eq!((name.as_str(), version), ("heavy", 1)),
        other => panic!("the save was lost: {other:?}"),
    }
    assert!(Library::open(&lib_dir).load("heavy", Some(1)).is_ok());

    // A failed save's answer is shown even though the generation has moved on.
    let mut s = state(4);
    s.generation = 9;
    let err = WorkerError::Library(seglens::library::LibraryError::NotFound("heavy".into()));
    update(
        &mut s,
        Action::Worker(Response {
            reply: Reply::Task,
            generation: 3,
            elapsed: Duration::ZERO,
            result: Err(err),
            began: None,
        }),
        Instant::now(),
    );
    let (_, msg) = s.status.clone().expect("a status");
    assert!(msg.contains("could not save"), "{msg}");
}

/// Issue 17 in the explorer: the export dialog says who joined and left since the segment's
/// last export before anything is written, and its own exports are logged so the next one knows.
#[test]
fn the_export_dialog_shows_adds_and_drops_since_the_last_export() {
    let sandbox = common::Sandbox::new();
    let db = common::foreign::foreign_db(sandbox.path(), common::foreign::Foreign::Shop, 5_000);
    let engine = Engine::open(&db, &Default::default()).unwrap();
    let lib_dir = sandbox.path().join("lib");
    let lib = Library::open(&lib_dir);
    common::save_measured(&engine, &lib, Template::new("spenders", "total_spent > 2000"));
    lib.set_status("spenders", None, Status::Approved, None, "qa").unwrap();
    let (mut rt, mut st) = common::explorer(engine, &lib_dir, &sandbox.path().join("exports.jsonl"));
    st.library.working = vec!["spenders".into()];
    let changes = |s: &AppState| match &s.dialog {
        Some(Dialog::Export { changes: Some(c), .. }) => Some(c.clone()),
        _ => None,
    };
    rt.apply(&mut st, ctrl('e'));
    assert!(rt.pump_until(&mut st, Duration::from_secs(60), |s| changes(s).is_some()));
    let first = changes(&st).unwrap().unwrap();
    assert_eq!(first, vec!["spenders: first export from this library".to_string()]);
    // Export it from the dialog, to a path in the sandbox.
    let out = sandbox.path().join("spenders.csv");
    if let Some(Dialog::Export { fields, .. }) = &mut st.dialog {
        fields[1].value = out.to_str().unwrap().into();
    }
    rt.apply(&mut st, key(KeyCode::Enter));
    assert!(rt.pump_until(&mut st, Duration::from_secs(60), |s| matches!(
        &s.dialog,
        Some(Dialog::Export { result: Some(_), .. })
    )));
    assert!(matches!(&st.dialog, Some(Dialog::Export { result: Some(Ok(_)), .. })), "{:?}", st.dialog);
    rt.apply(&mut st, key(KeyCode::Esc));
    // The next dialog compares with that export: the same members, so nothing joined or left.
    rt.apply(&mut st, ctrl('e'));
    assert!(rt.pump_until(&mut st, Duration::from_secs(60), |s| changes(s).is_some()));
    let again = changes(&st).unwrap().unwrap();
    assert_eq!(again.len(), 1);
    assert!(again[0].starts_with("spenders: +0 / −0 since "), "{again:?}");
    let screen = screen(&st).join("\n");
    assert!(screen.contains("spenders: +0 / −0 since"), "{screen}");
}
