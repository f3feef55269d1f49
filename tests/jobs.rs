//! One mechanism for background work (issue 26 §1): each defect of the three mechanisms it
//! replaced, reproduced. Answers without an id (the older could win), scans never cancelled, and a
//! quit that did not wait for its threads (a `.partial` file left, DuckDB still running).

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::Sandbox;
use common::foreign::{Foreign, foreign_db};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use seglens::engine::Engine;
use seglens::library::{Library, Status, Template};
use seglens::tui::action::{Action, Effect, LibrarySnapshot, Report};
use seglens::tui::jobs::{JobDone, JobError, JobId, JobKind, JobOutput, JobRunner};
use seglens::tui::state::{AppState, Dialog};
use seglens::tui::update::update;

const WAIT: Duration = Duration::from_secs(60);

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

/// A state for another schema (a VARCHAR key) with one approved segment, `loyal`, in the library.
fn state() -> AppState {
    let cols = vec![
        seglens::engine::Column { name: "shopper_ref".into(), ty: "VARCHAR".into() },
        seglens::engine::Column { name: "total_spent".into(), ty: "DECIMAL(12,2)".into() },
    ];
    let mut s = AppState::new("shop.duckdb".into(), "shoppers".into(), "shopper_ref".into(), 1000, cols, "dark".into());
    update(&mut s, Action::Resize(120, 30), Instant::now());
    let mut t = Template::new("loyal", "total_spent > 1000");
    t.version = 1;
    t.status = Status::Approved;
    update(
        &mut s,
        Action::LibraryLoaded(LibrarySnapshot { dir: "lib".into(), templates: vec![t], ..Default::default() }),
        Instant::now(),
    );
    s
}

/// The jobs `effects` start, in order.
fn started(effects: &[Effect]) -> Vec<(JobId, JobKind)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Start { id, spec } => Some((*id, spec.kind())),
            _ => None,
        })
        .collect()
}

fn cancelled(effects: &[Effect]) -> Vec<JobId> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::CancelJob(id) => Some(*id),
            _ => None,
        })
        .collect()
}

fn done(id: JobId, kind: JobKind, output: JobOutput) -> Action {
    Action::Job(JobDone { id, kind, result: Ok(output) })
}

/// F5 twice in the hygiene view: the second scan cancels the first, and the first scan's answer,
/// arriving last, does not replace the second's. (Each F5 used to start another full scan with
/// no cancel, and whichever answer arrived last was shown.)
#[test]
fn f5_twice_in_hygiene_cancels_the_first_scan_and_shows_the_second() {
    let mut s = state();
    let hygiene = JobKind::Report(Report::Hygiene);
    let fx = update(&mut s, key(KeyCode::F(8)), Instant::now());
    let [(first, kind)] = started(&fx)[..] else { panic!("F8 starts the report: {fx:?}") };
    assert_eq!(kind, hygiene);
    let fx = update(&mut s, key(KeyCode::F(5)), Instant::now());
    let [(second, _)] = started(&fx)[..] else { panic!("F5 starts it again: {fx:?}") };
    assert_ne!(first, second);
    assert_eq!(cancelled(&fx), vec![first], "the first scan is cancelled: {fx:?}");

    update(&mut s, done(second, hygiene, JobOutput::Report("the second scan".into())), Instant::now());
    update(&mut s, done(first, hygiene, JobOutput::Report("the first scan".into())), Instant::now());
    assert_eq!(s.hygiene.text, Some(Ok("the second scan".into())));
    assert!(!s.measuring(hygiene));

    // In the other order too: the first's answer is dropped while the second still runs.
    let fx = update(&mut s, key(KeyCode::F(5)), Instant::now());
    let [(third, _)] = started(&fx)[..] else { panic!("{fx:?}") };
    assert!(cancelled(&fx).is_empty(), "nothing ran to cancel: {fx:?}");
    let fx = update(&mut s, key(KeyCode::F(5)), Instant::now());
    let [(fourth, _)] = started(&fx)[..] else { panic!("{fx:?}") };
    update(&mut s, done(third, hygiene, JobOutput::Report("old".into())), Instant::now());
    assert!(s.measuring(hygiene) && s.hygiene.text.is_none(), "an old scan's answer is not shown");
    update(&mut s, done(fourth, hygiene, JobOutput::Report("new".into())), Instant::now());
    assert_eq!(s.hygiene.text, Some(Ok("new".into())));
}

/// Toggling exclusivity in the export dialog asks for its counts again: the answer for the
/// earlier setting, arriving after the later one, must not show.
#[test]
fn the_export_dialogs_counts_follow_the_latest_toggle() {
    let mut s = state();
    s.dialog = Some(common::export_dialog("loyal", "loyal.csv", true));
    let fx = update(&mut s, ctrl('x'), Instant::now());
    let [(exclusive, kind)] = started(&fx)[..] else { panic!("{fx:?}") };
    assert_eq!(kind, JobKind::ExportChanges);
    let fx = update(&mut s, ctrl('x'), Instant::now());
    let [(not_exclusive, _)] = started(&fx)[..] else { panic!("{fx:?}") };
    assert_eq!(cancelled(&fx), vec![exclusive]);

    let lines = |l: &str| JobOutput::Changes(vec![l.to_string()]);
    update(&mut s, done(not_exclusive, kind, lines("loyal: +5 / −1 (not exclusive)")), Instant::now());
    update(&mut s, done(exclusive, kind, lines("loyal: +2 / −1 (exclusive)")), Instant::now());
    match &s.dialog {
        Some(Dialog::Export { changes: Some(Ok(l)), exclusive: false, .. }) => {
            assert_eq!(l, &vec!["loyal: +5 / −1 (not exclusive)".to_string()])
        }
        other => panic!("{other:?}"),
    }
}

/// Runs jobs on a real database of another schema.
fn runner(sb: &Sandbox, rows: u64) -> (JobRunner, Receiver<Action>) {
    let db = foreign_db(sb.path(), Foreign::Club, rows);
    let (tx, rx) = channel();
    (JobRunner::new(Engine::open(&db, &Default::default()).unwrap(), tx), rx)
}

fn next_done(rx: &Receiver<Action>) -> JobDone {
    loop {
        match rx.recv_timeout(WAIT).expect("a job ends") {
            Action::Job(d) => return d,
            _ => continue,
        }
    }
}

/// A cancel reaches the job's own connection: a scan that would run for minutes ends cancelled,
/// and the one `JobDone` says so (typed: a cancel is not a failure).
#[test]
fn a_cancelled_job_stops_its_statement_and_says_it_was_cancelled() {
    let sb = Sandbox::new();
    let (mut jobs, rx) = runner(&sb, 1_000);
    // A filter that scans 10^12 rows for every member: minutes, unless interrupted.
    let slow = common::compile("EXISTS (SELECT 1 FROM range(1000000000000) r(i) WHERE i = -1)");
    let (tx, began) = channel();
    jobs.start(JobId(1), JobKind::Report(Report::Compare), move |ctx| {
        tx.send(()).unwrap();
        let n = ctx.engine.size(&slow)?;
        Ok(JobOutput::Report(format!("{}", n.size)))
    });
    began.recv_timeout(WAIT).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    jobs.cancel(JobId(1));
    let d = next_done(&rx);
    assert_eq!((d.id, d.kind), (JobId(1), JobKind::Report(Report::Compare)));
    assert!(matches!(d.result, Err(JobError::Cancelled)), "{:?}", d.result);
    assert!(jobs.shutdown(WAIT), "its thread has ended");
}

/// Quitting waits for background work, with a bound: a job that ignores its cancel does not
/// hold the quit (the join used to have no bound), and one that heeds it is waited for.
#[test]
fn shutdown_waits_for_jobs_but_not_past_its_bound() {
    let sb = Sandbox::new();
    let (mut jobs, _rx) = runner(&sb, 100);
    jobs.start(JobId(1), JobKind::Movement, |_| {
        std::thread::sleep(Duration::from_secs(40));
        Err(JobError::Failed("slept".into()))
    });
    jobs.start(JobId(2), JobKind::Export, |ctx| {
        while !ctx.stopped() {
            std::thread::sleep(Duration::from_millis(5));
        }
        Err(JobError::Cancelled)
    });
    assert_eq!(jobs.running(), 2);
    let t = Instant::now();
    assert!(!jobs.shutdown(Duration::from_millis(300)), "a job that ignores its cancel is reported");
    assert!(t.elapsed() < Duration::from_secs(20), "the quit waited for the sleeper: {:?}", t.elapsed());
    assert_eq!(jobs.running(), 0, "nothing is tracked after the shutdown");
}

/// Ctrl-Q while an export writes: the quit cancels the export and waits for its thread, so the
/// temporary `.partial` file is gone when the explorer's loop ends and nothing is left under the
/// final name. (The quit used to return at once, the export thread still writing.)
#[test]
fn quitting_during_an_export_waits_for_it_and_leaves_no_partial_file() {
    let sb = Sandbox::new();
    let db = foreign_db(sb.path(), Foreign::Shop, 1_000_000);
    let engine = Engine::open(&db, &Default::default()).unwrap();
    let lib_dir = sb.path().join("lib");
    let lib = Library::open(&lib_dir);
    common::save_measured(&engine, &lib, Template::new("everyone", "TRUE"));
    lib.set_status("everyone", None, Status::Approved, None, "qa").unwrap();
    let (mut rt, mut st) = common::explorer(engine, &lib_dir, &sb.path().join("exports.jsonl"));
    let out_dir = sb.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("everyone.csv");
    st.dialog = Some(common::export_dialog("everyone", out.to_str().unwrap(), false));
    rt.apply(&mut st, key(KeyCode::Enter));
    let partial = || {
        std::fs::read_dir(&out_dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
            .count()
    };
    // Rows are being written: the temporary file exists.
    assert!(rt.pump_until(&mut st, WAIT, |s| matches!(
        &s.dialog,
        Some(Dialog::Export { progress: Some((_, written, _)), .. }) if *written > 0
    )));
    assert_eq!(partial(), 1, "the export writes to a temporary file");
    rt.apply(&mut st, ctrl('q'));
    assert!(st.quit);
    assert_eq!(rt.jobs_running(), 0, "the quit returned with the export still running");
    assert_eq!(partial(), 0, "a .partial file was left behind");
    assert!(!out.exists(), "a cancelled export leaves nothing under the final name");
}
