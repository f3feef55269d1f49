//! The explorer's state machine without terminal, thread or database: keys go through the keymap
//! into `update`, ticks are fed by hand, worker responses are built here.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

use std::time::{Duration, Instant};

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use seglens::engine::query::size::Size;
use seglens::engine::{Column, EngineError};
use seglens::tui::action::{Action, Effect};
use seglens::tui::state::{AppState, DEBOUNCE, Focus, WorkerState};
use seglens::tui::update::update;
use seglens::tui::worker::{Part, Request, Response};

fn state() -> AppState {
    let cols = ["customer_id", "engagement_score", "region", "lifetime_spend"]
        .iter()
        .map(|n| Column { name: n.to_string(), ty: if *n == "region" { "VARCHAR".into() } else { "BIGINT".into() } })
        .collect();
    AppState::new("test.duckdb".into(), "customers".into(), "customer_id".into(), 1000, cols, "dark".into())
}

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn type_text(s: &mut AppState, text: &str, now: Instant) -> Vec<Effect> {
    let mut effects = Vec::new();
    for c in text.chars() {
        effects.extend(update(s, key(KeyCode::Char(c)), now));
    }
    effects
}

fn sent_gen(effects: &[Effect]) -> Option<u64> {
    effects.iter().find_map(|e| match e {
        Effect::Send(Request::Preview { generation, .. }) => Some(*generation),
        _ => None,
    })
}

fn size_response(generation: u64, size: u64) -> Action {
    Action::Worker(Response::preview(generation, Duration::from_millis(3), Ok(Part::Size(Size::new(size, 1000)))))
}

#[test]
fn typing_schedules_one_preview_after_the_idle_pause() {
    let mut s = state();
    let t0 = Instant::now();
    assert!(type_text(&mut s, "engagement_score > 50", t0).is_empty(), "typing itself sends nothing");
    assert_eq!(s.editor.text(), "engagement_score > 50");
    assert!(s.compiled.is_some());
    assert_eq!(s.preview_due, Some(t0 + DEBOUNCE));
    assert!(update(&mut s, Action::Tick(t0 + DEBOUNCE / 2), t0 + DEBOUNCE / 2).is_empty(), "not before the pause");
    let fx = update(&mut s, Action::Tick(t0 + DEBOUNCE), t0 + DEBOUNCE);
    assert_eq!(sent_gen(&fx), Some(1));
    assert!(matches!(s.worker, WorkerState::Running { generation: 1, .. }));
    assert_eq!(s.preview_due, None);
}

#[test]
fn a_bad_filter_shows_its_error_and_keeps_the_last_preview() {
    let mut s = state();
    let t0 = Instant::now();
    type_text(&mut s, "engagement_score > 50", t0);
    update(&mut s, Action::Tick(t0 + DEBOUNCE), t0 + DEBOUNCE);
    update(&mut s, size_response(1, 420), t0);
    assert_eq!(s.preview.size.map(|x| x.size), Some(420));
    assert!(!s.preview.stale);
    // An unbalanced parenthesis: seglens' own check.
    type_text(&mut s, ")", t0);
    let err = s.editor.error.clone().expect("an error under the editor");
    assert!(err.message.contains("unbalanced"), "{err}");
    assert_eq!(err.pos.map(|p| (p.line, p.col)), Some((1, 22)));
    assert_eq!(s.preview.size.map(|x| x.size), Some(420), "the last valid figure stays");
    assert!(s.preview.stale, "shown dimmed");
    assert!(
        update(&mut s, Action::Tick(t0 + DEBOUNCE * 3), t0 + DEBOUNCE * 3).is_empty(),
        "no query for an invalid filter"
    );
    // DuckDB's error (an unknown column) arrives from the worker and is shown the same way.
    update(&mut s, key(KeyCode::Backspace), t0);
    type_text(&mut s, " AND nope = 1", t0);
    let fx = update(&mut s, Action::Tick(t0 + DEBOUNCE * 10), t0 + DEBOUNCE * 10);
    let generation = sent_gen(&fx).expect("a preview");
    let fe =
        seglens::engine::FilterError::at(&s.editor.text(), 26, "Binder error: Referenced column \"nope\" not found");
    update(
        &mut s,
        Action::Worker(Response::preview(generation, Duration::ZERO, Err(EngineError::Filter(fe).into()))),
        t0,
    );
    assert!(s.editor.error.as_ref().is_some_and(|e| e.message.contains("nope")));
    assert_eq!(s.preview.size.map(|x| x.size), Some(420));
    assert_eq!(s.worker, WorkerState::Idle, "a filter error is not a worker failure");
}

#[test]
fn stale_results_are_dropped_by_generation() {
    let mut s = state();
    let t0 = Instant::now();
    type_text(&mut s, "region = 'West India'", t0);
    let g1 = sent_gen(&update(&mut s, Action::Tick(t0 + DEBOUNCE), t0)).unwrap();
    // The edit interrupts the running query at once, so DuckDB stops it during the idle pause.
    let edit = type_text(&mut s, " OR TRUE", t0);
    assert!(edit.iter().any(|e| matches!(e, Effect::Cancel(g) if *g > g1)), "the running query is interrupted");
    assert_eq!(s.worker, WorkerState::Idle);
    let fx = update(&mut s, Action::Tick(t0 + DEBOUNCE * 2), t0 + DEBOUNCE * 2);
    let g2 = sent_gen(&fx).unwrap();
    assert!(g2 > g1);
    update(&mut s, size_response(g1, 111), t0);
    assert_eq!(s.preview.size, None, "an old generation's answer is ignored");
    update(&mut s, size_response(g2, 999), t0);
    assert_eq!(s.preview.size.map(|x| x.size), Some(999));
}

#[test]
fn esc_cancels_the_running_query_with_a_new_generation() {
    let mut s = state();
    let t0 = Instant::now();
    type_text(&mut s, "engagement_score > 1", t0);
    let g = sent_gen(&update(&mut s, Action::Tick(t0 + DEBOUNCE), t0)).unwrap();
    let fx = update(&mut s, key(KeyCode::Esc), t0);
    assert!(fx.iter().any(|e| matches!(e, Effect::Cancel(n) if *n == g + 1)));
    assert_eq!(s.worker, WorkerState::Idle);
    update(&mut s, size_response(g, 5), t0);
    assert_eq!(s.preview.size, None, "the cancelled query's answer is dropped");
}

#[test]
fn parameters_are_typed_and_nudged() {
    let mut s = state();
    let t0 = Instant::now();
    type_text(&mut s, "engagement_score > {{score}}", t0);
    assert_eq!(s.params.items.len(), 1);
    assert!(s.compiled.is_none(), "no value yet");
    assert!(s.editor.error.as_ref().is_some_and(|e| e.message.contains("{{score}}")));
    update(&mut s, Action::Key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)), t0);
    assert_eq!(s.focus, Focus::Params);
    update(&mut s, key(KeyCode::Enter), t0);
    for c in "50".chars() {
        update(&mut s, key(KeyCode::Char(c)), t0);
    }
    update(&mut s, key(KeyCode::Enter), t0);
    let v = s.params.items[0].value.clone();
    assert_eq!(v, Some(seglens::engine::ParamValue::Int(50)), "undeclared: type guessed from the first value");
    assert!(s.compiled.as_ref().is_some_and(|c| c.sql.contains("> 50")));
    update(&mut s, key(KeyCode::Char('+')), t0);
    assert_eq!(s.params.items[0].value, Some(seglens::engine::ParamValue::Int(55)));
    // Ten steps of 5 (the step for a value in the tens) down from 55.
    update(&mut s, key(KeyCode::Char('[')), t0);
    assert_eq!(s.params.items[0].value, Some(seglens::engine::ParamValue::Int(5)));
    assert!(s.compiled.as_ref().is_some_and(|c| c.sql.contains("> 5")));
    assert_eq!(s.preview_due, Some(t0 + DEBOUNCE), "a nudge schedules a preview");
    // `t` declares the guessed type; a typed value that does not parse is refused, the old one kept.
    update(&mut s, key(KeyCode::Char('t')), t0);
    assert!(s.params.items[0].declared);
    update(&mut s, key(KeyCode::Enter), t0);
    assert_eq!(s.params.input.as_deref(), Some("5"), "the input starts from the current value");
    update(&mut s, key(KeyCode::Backspace), t0);
    type_text(&mut s, "abc", t0);
    update(&mut s, key(KeyCode::Enter), t0);
    assert!(s.params.error.as_ref().is_some_and(|e| e.contains("not a whole number")), "{:?}", s.params.error);
    assert_eq!(s.params.items[0].value, Some(seglens::engine::ParamValue::Int(5)));
}

#[test]
fn quit_asks_before_dropping_unsaved_edits() {
    let mut s = state();
    let t0 = Instant::now();
    type_text(&mut s, "region IS NULL", t0);
    let fx = update(&mut s, Action::Key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::CONTROL)), t0);
    assert!(fx.is_empty() && !s.quit, "asks first");
    assert!(s.dialog.is_some());
    update(&mut s, key(KeyCode::Char('n')), t0);
    assert!(s.dialog.is_none() && !s.quit);
    update(&mut s, Action::Key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::CONTROL)), t0);
    let fx = update(&mut s, key(KeyCode::Char('y')), t0);
    assert!(s.quit && fx.iter().any(|e| matches!(e, Effect::Quit)));
}

#[test]
fn help_lists_every_key_of_the_keymap() {
    use seglens::tui::keymap::{self, key_name};
    let theme = seglens::tui::theme::Theme::default_theme();
    let text: String = seglens::tui::ui::help_lines(&theme).iter().map(|l| l.to_string() + "\n").collect();
    for mode in seglens::tui::ui::HELP_MODES {
        for b in keymap::table(mode) {
            assert!(text.contains(&key_name(b)) && text.contains(b.help), "{} missing from help", b.help);
        }
    }
}

#[test]
fn tab_completes_column_names() {
    let mut s = state();
    let t0 = Instant::now();
    type_text(&mut s, "engagement_sc", t0);
    update(&mut s, key(KeyCode::Tab), t0);
    assert_eq!(s.editor.text(), "engagement_score");
    type_text(&mut s, " > 1 AND regi", t0);
    update(&mut s, key(KeyCode::Tab), t0);
    assert_eq!(s.editor.text(), "engagement_score > 1 AND region");
}

/// The engine, library, export and sample code know nothing about terminals (STYLE.md), and
/// neither front end writes SQL of its own: only the engine builds statements.
#[test]
fn layers_keep_their_boundaries() {
    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut core = Vec::new();
    for d in ["engine", "library"] {
        files(&root.join(d), &mut core);
    }
    core.push(root.join("export.rs"));
    core.push(root.join("sample.rs"));
    for f in &core {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(!text.contains("ratatui") && !text.contains("crossterm"), "{} uses the terminal", f.display());
    }
    // Dependencies run one way: engine ← library ← export ← {cli, tui} (STYLE.md). The explorer
    // takes plain options, so it never names the command line, and no layer names a front end.
    let mut tui = Vec::new();
    files(&root.join("tui"), &mut tui);
    for f in &tui {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(!text.contains("crate::cli"), "{} names the command line", f.display());
    }
    let mut lower = core.clone();
    files(&root.join("export"), &mut lower);
    for f in &lower {
        let text = std::fs::read_to_string(f).unwrap();
        for front in ["crate::cli", "crate::tui", "crate::bench"] {
            assert!(!text.contains(front), "{} names a front end ({front})", f.display());
        }
    }
    let engine_files: Vec<_> = core.iter().filter(|f| f.starts_with(root.join("engine"))).collect();
    for f in engine_files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(!text.contains("crate::library"), "{} reaches up into the library", f.display());
    }
    let mut front = tui;
    files(&root.join("cli"), &mut front);
    for f in &front {
        let text = std::fs::read_to_string(f).unwrap();
        for needle in ["SELECT ", "prepare(", "execute_batch(", "query_row("] {
            assert!(!text.contains(needle), "{} writes SQL ({needle})", f.display());
        }
    }
}

#[test]
fn an_error_typed_while_a_preview_runs_is_not_hidden_by_its_late_answer() {
    let mut s = state();
    let t0 = Instant::now();
    type_text(&mut s, "engagement_score > 50", t0);
    let g1 = sent_gen(&update(&mut s, Action::Tick(t0 + DEBOUNCE), t0 + DEBOUNCE)).unwrap();
    let fx = type_text(&mut s, ")", t0 + DEBOUNCE);
    assert!(fx.iter().any(|e| matches!(e, Effect::Cancel(g) if *g > g1)), "the running preview is superseded");
    update(&mut s, size_response(g1, 420), t0 + DEBOUNCE);
    assert!(s.editor.error.is_some(), "the old text's size does not clear the new error");
    assert_eq!(s.preview.size, None);
}

#[test]
fn emptying_the_working_set_drops_its_overlap_even_while_one_is_measured() {
    use seglens::engine::query::overlap::Overlap;
    use seglens::library::Template;
    let mut s = state();
    let t0 = Instant::now();
    s.library.templates.push(Template::new("a", "engagement_score > 1"));
    s.library.working.push("a".into());
    s.preview_due = Some(t0);
    let g1 = sent_gen(&update(&mut s, Action::Tick(t0), t0)).expect("the working set's overlap, without a filter");
    // The last segment leaves (as `x` does) before the answer arrives.
    s.library.working.clear();
    s.preview_due = Some(t0);
    let fx = update(&mut s, Action::Tick(t0), t0);
    assert!(fx.iter().any(|e| matches!(e, Effect::Cancel(g) if *g > g1)), "{fx:?}");
    assert_eq!(s.worker, WorkerState::Idle);
    let late = Overlap { base: 1000, segments: vec![], pairs: vec![], none: 0, combinations: vec![] };
    let answer = |part| Action::Worker(Response::preview(g1, Duration::ZERO, Ok(part)));
    update(&mut s, answer(Part::Overlap(late)), t0);
    assert!(s.overlap.result.is_none(), "the old working set's overlap is not shown");
}
