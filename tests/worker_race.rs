//! Issue 15: typing never waits for an old query. Hundreds of edits land at random moments during
//! an expensive EXISTS preview on a generated database of another schema, through the real worker
//! as the explorer drives it (bump the generation, cancel, send the new preview). Asserted for
//! every edit: the new filter's size arrives within `BOUND` of the cancel, while the old query,
//! let run, takes more than five times that (checked first): an interrupt lost anywhere, between
//! two statements, while one was planned or in the middle of one, fails. Also: no statement of an
//! older generation went to DuckDB after that edit's cancel, and the first size answered for the
//! new generation is the new filter's, equal to plain SQL.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::foreign::{Foreign, foreign_db};
use seglens::engine::{Engine, EngineError};
use seglens::library::Library;
use seglens::tui::worker::{Part, PreviewRequest, Reply, Request, Response, WorkerHandle};

const EDITS: u64 = 200;

/// From an edit's cancel to the new filter's size on a loaded 2-core machine: the interrupt
/// (DuckDB looks between pipeline tasks, tens of ms in this join) and a count over 900,000 rows.
const BOUND: Duration = Duration::from_secs(1);

/// The old preview: each shopper's purchases joined with every purchase of the same day (about
/// 10⁹ pairs), a sum no pair reaches, so nothing ends it early; `n` makes each one new to caches.
fn old_filter(n: u64) -> String {
    format!(
        "EXISTS (SELECT 1 FROM purchase_records p, purchase_records q WHERE p.shopper_ref = shoppers.shopper_ref \
         AND q.bought_on = p.bought_on AND p.amount + q.amount > {})",
        1000 + n
    )
}

/// xorshift: random moments, the same on every run.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % (max + 1)
    }
}

fn preview(text: &str) -> Box<PreviewRequest> {
    Box::new(PreviewRequest {
        filter: Some(common::compile(text)),
        dimension: None,
        columns: vec!["shopper_ref".into()],
        rows: 1,
        overlap: None,
        funnel: false,
        split: None,
    })
}

fn next(rx: &Receiver<Response>) -> Response {
    rx.recv_timeout(Duration::from_secs(120)).expect("the worker answers")
}

#[test]
fn an_edit_during_an_exists_preview_never_waits_for_the_old_query() {
    let sandbox = common::Sandbox::new();
    // 900,000 shoppers (keys run to S900000): alone, the old query took ~3 s at 300,000 and ~10 s
    // at 600,000 on a quiet 2-core machine (pairs grow with the square of the rows per day), so
    // the 5 s check below holds with room on a faster machine.
    let db = foreign_db(sandbox.path(), Foreign::Shop, 900_000);
    let plain = common::plain(&db);
    let engine = Engine::open(&db, &Default::default()).unwrap();
    // The old query, let run, outlasts the bound many times over: waiting for it would fail.
    let canceller = engine.canceller();
    let started = Instant::now();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(5 * BOUND);
        canceller.cancel();
    });
    let r = engine.size(&common::compile(&old_filter(EDITS)));
    assert!(matches!(r, Err(EngineError::Cancelled)), "the old query ended in {:?}: {r:?}", started.elapsed());
    stopper.join().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = WorkerHandle::start(engine, Library::open(sandbox.path().join("lib")), move |r| {
        let _ = tx.send(r);
    });
    let mut moments = Moments(0x5eed_1234_abcd_9876);
    let mut late_old_answers = 0;
    let mut slowest = Duration::ZERO;
    for i in 0..EDITS {
        // An expensive preview, different each time so nothing is cached.
        let old = 2 * i + 1;
        let threshold = 10 * i;
        let expected =
            common::q_i64(&plain, &format!("SELECT count(*) FROM shoppers WHERE total_spent > {threshold}")) as u64;
        worker.cancel(old);
        worker.send(Request::Preview { generation: old, preview: preview(&old_filter(i)) });
        std::thread::sleep(Duration::from_millis(moments.next_ms(40)));
        // The edit: as `update` does it, the generation moves on and the old preview is cancelled.
        let new = old + 1;
        let cancelled_at = Instant::now();
        worker.cancel(new);
        worker.send(Request::Preview { generation: new, preview: preview(&format!("total_spent > {threshold}")) });
        loop {
            let r = next(&rx);
            if r.reply != Reply::Preview {
                continue;
            }
            if r.generation < new {
                if r.result.is_ok() {
                    let began = r.began.expect("an answer from a statement says when it began");
                    assert!(
                        began < cancelled_at,
                        "edit {i}: a statement of generation {} began {:?} after its cancel",
                        r.generation,
                        began - cancelled_at
                    );
                    late_old_answers += 1;
                }
                continue;
            }
            match r.result {
                Ok(Part::Size(s)) => {
                    let took = cancelled_at.elapsed();
                    assert!(took <= BOUND, "edit {i}: the new size came {took:?} after the cancel");
                    slowest = slowest.max(took);
                    assert_eq!(s.size, expected, "edit {i}: the first size is the new filter's");
                    break;
                }
                Ok(other) => panic!("edit {i}: {other:?} came before the size"),
                Err(e) => panic!("edit {i}: the new preview failed: {e}"),
            }
        }
    }
    // Informational: old answers that finished just as their cancel came (their statement began
    // before it, which is allowed).
    eprintln!("{late_old_answers} old answers finished before their cancel took effect");
    eprintln!("slowest edit, cancel to size: {slowest:?}");
}
