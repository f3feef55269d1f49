//! Mechanisms that were written more than once and are now one (issue 26 §2, §3), each on data
//! that is not ours: what the copies did differently is what these tests check.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::time::Duration;

use common::foreign::{Foreign, foreign_db};
use common::*;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use seglens::engine::Engine;
use seglens::library::{Library, Status, Template};
use seglens::tui::action::Action;
use seglens::tui::state::{Focus, SideTab};

const WAIT: Duration = Duration::from_secs(30);

/// Approving or retiring reloads the library the one way every other reload does, measuring it
/// again: a retired segment loses its size now, and one approved back gets it again. (The status
/// change used to reload without measuring, so the sizes shown were those from before it.)
#[test]
fn approving_or_retiring_measures_the_library_again() {
    let sb = Sandbox::new();
    let db = foreign_db(sb.path(), Foreign::Club, 2_000);
    let lib_dir = sb.path().join("lib");
    let lib = Library::open(&lib_dir);
    let want = {
        let engine = Engine::open(&db, &Default::default()).unwrap();
        save_measured(&engine, &lib, Template::new("loyal", Foreign::Club.filter()));
        save_measured(&engine, &lib, Template::new("gold", "tier = 'Gold'"));
        engine.size(&compile(Foreign::Club.filter())).unwrap().size
    };
    let (mut rt, mut st) =
        explorer(Engine::open(&db, &Default::default()).unwrap(), &lib_dir, &sb.path().join("exports.jsonl"));
    assert!(rt.pump_until(&mut st, WAIT, |s| !s.library.measuring && s.library.size_now.len() == 2));
    assert_eq!(st.library.size_now["loyal"], want);

    st.focus = Focus::Side;
    st.side = SideTab::Library;
    st.library.selected = st.library.visible().iter().position(|t| t.name == "loyal").unwrap();
    rt.apply(&mut st, Action::Key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::NONE)));
    let retired = |s: &seglens::tui::state::AppState| {
        s.library.templates.iter().any(|t| t.name == "loyal" && t.status == Status::Retired)
    };
    assert!(
        rt.pump_until(&mut st, WAIT, |s| retired(s)
            && !s.library.measuring
            && !s.library.size_now.contains_key("loyal")),
        "the retired segment still shows its size now: {:?}",
        st.library.size_now
    );
    assert!(st.library.size_now.contains_key("gold"), "the others are measured again");

    st.library.selected = st.library.visible().iter().position(|t| t.name == "loyal").unwrap();
    rt.apply(&mut st, Action::Key(KeyEvent::new(KeyCode::Char('a'), KeyModifiers::NONE)));
    assert!(
        rt.pump_until(&mut st, WAIT, |s| !s.library.measuring && s.library.size_now.get("loyal") == Some(&want)),
        "the segment approved back has no size now: {:?}",
        st.library.size_now
    );
}

/// Every statement goes through `Engine::run`, so a cancel is spent once it stopped one: the
/// funnel's own statements (the tally, and the GROUP BY of a funnel too long for it) used to
/// leave it pending, and the next statement, asked for after the cancel, was cancelled too.
#[test]
fn a_cancel_that_stopped_a_funnel_does_not_cancel_the_next_statement() {
    let sb = Sandbox::new();
    let db = foreign_db(sb.path(), Foreign::Club, 2_000);
    let e = Engine::open(&db, &Default::default()).unwrap();
    // A clause that runs until it is stopped (10^13 rows to count), after cheap ones.
    let slow = "(SELECT count(*) FROM range(10000000000000)) > 0";
    let short = format!("{} AND {slow}", Foreign::Club.filter());
    let long = format!(
        "{} AND tier <> 'Gold' AND visits > 1 AND visits < 900 AND member_id > 3 AND {slow}",
        Foreign::Club.filter()
    );
    let want = e.size(&compile(Foreign::Club.filter())).unwrap().size;
    for text in [short, long] {
        let canceller = e.canceller();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = {
            let done = done.clone();
            std::thread::spawn(move || {
                // Once, well after the statement began; again only should that one be lost.
                for _ in 0..20 {
                    std::thread::sleep(Duration::from_millis(1500));
                    if done.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    canceller.cancel();
                }
            })
        };
        let funnel = e.funnel(&compile(&text));
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        stop.join().unwrap();
        assert!(matches!(funnel, Err(seglens::engine::EngineError::Cancelled)), "{text}: {:?}", funnel.map(|f| f.size));
        // The cancel stopped the funnel: it is spent, and what is asked next runs.
        assert_eq!(e.size(&compile(Foreign::Club.filter())).unwrap().size, want, "{text}");
    }
}
