//! The worker's own tests: the order of its atomics, which no test through the runtime can
//! hit deterministically.

use super::*;
use std::sync::Mutex;

/// A worker on its own small data (a CSV file: a text key with a space in its name), with
/// library segments to measure. (A CSV, so that this front-end file writes no SQL.)
fn worker(dir: &std::path::Path) -> (Worker, Arc<Mutex<Vec<Response>>>, Vec<OverlapMember>) {
    let csv = dir.join("shoppers.csv");
    let rows: String = (0..5000).map(|i| format!("S-{i},{}\n", i % 7)).collect();
    std::fs::write(&csv, format!("Shopper Id,band\n{rows}")).unwrap();
    let engine = Engine::open(&csv, &Default::default()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = Arc::clone(&seen);
    let (_tx, rx) = std::sync::mpsc::channel();
    let members = ["band < 3", "band = 6"]
        .iter()
        .map(|f| OverlapMember {
            name: f.to_string(),
            filter: measure::compile(&Template::new("t", f), &Default::default(), &Default::default()).unwrap(),
            suppression: false,
        })
        .collect();
    let w = Worker {
        engine,
        library: Library::open(dir.join("lib")),
        latest: Arc::new(AtomicU64::new(0)),
        in_background: Arc::new(AtomicBool::new(false)),
        in_task: Arc::new(AtomicBool::new(false)),
        previews_sent: Arc::new(AtomicU64::new(0)),
        previews_received: 0,
        rx,
        out: Arc::new(move |r| out.lock().unwrap().push(r)),
        rollups_building: Arc::new(AtomicBool::new(false)),
        tasks: VecDeque::new(),
        background: VecDeque::new(),
    };
    (w, seen, members)
}

/// The race of issue 26 §1: the worker drained the channel (no preview yet) and is about to
/// start the library measurement; the loop sends a preview and reads `in_background` while it
/// is still down, so it does not interrupt. The measurement must then yield to the preview
/// instead of running whole with the preview waiting behind it.
#[test]
fn background_work_yields_to_a_preview_sent_in_the_window_before_it_began() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, seen, members) = worker(dir.path());
    let job = Background::MeasureLibrary(1, members);
    // The preview is in the channel, counted, not yet received.
    w.previews_sent.fetch_add(1, Ordering::SeqCst);
    w.in_background.store(true, Ordering::SeqCst);
    assert!(!w.background_job(&job), "the library measurement ran with a preview waiting");
    assert!(seen.lock().unwrap().is_empty(), "it answered: {:?}", seen.lock().unwrap());
    // Once the worker has taken the preview, the measurement runs and answers.
    w.previews_received = 1;
    assert!(w.background_job(&job));
    let answers = seen.lock().unwrap();
    match answers.as_slice() {
        [Response { result: Ok(Part::LibrarySizes { id: 1, sizes }), .. }] => {
            assert_eq!(sizes["band < 3"], measure::Fit::Size(2144));
            assert_eq!(sizes["band = 6"], measure::Fit::Size(714));
        }
        other => panic!("{other:?}"),
    }
}
