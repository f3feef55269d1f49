//! The member cache against plain SQL over small in-memory tables: budgets, eviction, the
//! tally's cells, and the scalar functions never reading a NULL row's slot.

use super::*;

/// A table of 10,000 rows in memory, and a filter of two expensive clauses and a cheap one.
fn table() -> (Connection, Compiled) {
    let conn = Connection::new(duckdb::Connection::open_in_memory().unwrap());
    conn.setup()
        .execute_batch(
            "CREATE TABLE t AS SELECT i AS id, i % 10 AS d FROM range(10000) r(i);
         CREATE TABLE e AS SELECT i AS id FROM range(0, 10000, 3) r(i);",
        )
        .unwrap();
    let text =
        "EXISTS (SELECT 1 FROM e WHERE e.id = t.id) AND d < 5 AND EXISTS (SELECT 1 FROM e WHERE e.id = t.id + 1)";
    let f = crate::engine::text::filter::compile(text, &Default::default(), &Default::default(), &Default::default())
        .unwrap();
    (conn, f)
}

fn count(conn: &Connection, filter: &str) -> i64 {
    conn.query_row(&format!("SELECT count(*) FROM t WHERE {filter}"), [], |r| r.get(0)).unwrap()
}

#[test]
fn a_filters_clauses_all_stay_while_it_runs_even_beyond_the_budget() {
    let (conn, f) = table();
    let mut c = MemberCache::default();
    c.budget = 1500; // less than one bitmap of 10,000 bits
    let rewritten = c
        .rewrite(&conn, &crate::engine::Canceller::new(conn.interrupt_handle()), "t", &f)
        .unwrap()
        .expect("two expensive clauses are cached");
    assert_eq!(rewritten.matches("__seglens_clause_").count(), 2, "{rewritten}");
    assert_eq!(count(&conn, &rewritten), count(&conn, &f.sql));
    // The next filter's clauses push them out.
    let (_, g) = table();
    let g = crate::engine::text::filter::compile(
        &g.sql.replace("t.id + 1", "t.id + 2"),
        &Default::default(),
        &Default::default(),
        &Default::default(),
    )
    .unwrap();
    let rewritten =
        c.rewrite(&conn, &crate::engine::Canceller::new(conn.interrupt_handle()), "t", &g).unwrap().unwrap();
    assert_eq!(count(&conn, &rewritten), count(&conn, &g.sql));
    assert_eq!(c.entries.len(), 2, "{}", c.summary());
}

#[test]
fn the_tally_counts_every_combination_of_outcomes_with_nulls() {
    let conn = Connection::new(duckdb::Connection::open_in_memory().unwrap());
    conn.setup()
        .execute_batch(
            "CREATE TABLE t AS SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE i % 3 END AS d FROM range(10000) r(i)",
        )
        .unwrap();
    let tally = Tallier::register(&conn).expect("registers");
    let args = ["CAST(d = 1 AS BOOLEAN)".to_string(), "CAST(i < 2500 AS BOOLEAN)".to_string()];
    let sql = tally.select("rowid", &args, "t");
    let words = 10_000 / 64 + 1;
    let sources = || vec![Source::Argument { record: true }, Source::Argument { record: false }];
    let counted = tally
        .run(sources(), words, || Ok(conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap()))
        .unwrap()
        .expect("the cells add up to the count");
    // The first clause's outcome, recorded by row id (row ids of this table are 0..10000).
    let (yes, null) = counted.recorded[0].clone().expect("recorded and checked");
    assert!(counted.recorded[1].is_none(), "not asked for");
    let rows = |bits: &[u64]| (0..10_000usize).filter(|&r| bits[r / 64] >> (r % 64) & 1 == 1).collect::<Vec<_>>();
    let ids = |filter: &str| -> Vec<usize> {
        let mut s = conn.prepare(&format!("SELECT rowid FROM t WHERE {filter} ORDER BY rowid")).unwrap();
        s.query_map([], |r| r.get::<_, i64>(0)).unwrap().map(|r| r.unwrap() as usize).collect()
    };
    assert_eq!(rows(&yes), ids("d = 1"));
    assert_eq!(rows(&null), ids("d IS NULL"));
    // The same counts without recording (a view has no row ids: any constant in its place).
    let plain = tally.select("0", &args, "t");
    let again = tally
        .run(vec![Source::Argument { record: false }, Source::Argument { record: false }], 0, || {
            Ok(conn.query_row(&plain, [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap())
        })
        .unwrap()
        .expect("adds up");
    assert_eq!(again.cells, counted.cells);
    let cells = counted.cells;
    for (cell, &n) in cells.iter().enumerate() {
        let cond = |state: usize, expr: &str| match state {
            0 => format!("({expr}) = false"),
            1 => format!("({expr}) = true"),
            _ => format!("({expr}) IS NULL"),
        };
        let want = count(&conn, &format!("{} AND {}", cond(cell % 3, "d = 1"), cond(cell / 3, "i < 2500")));
        assert_eq!(n as i64, want, "cell {cell}");
    }
    assert!(cells.iter().filter(|&&n| n > 0).count() >= 5, "{cells:?}");
}

/// NULL slots of DuckDB's vectors may hold anything (nothing writes them): the functions read
/// a value only where the validity mask says the row is not NULL, and refuse a NULL row id
/// rather than use whatever its slot holds. (A NULL constant never reaches them: DuckDB
/// answers NULL for a function of a constant NULL without calling it.)
#[test]
fn the_functions_read_no_slot_of_a_null_row() {
    let conn = Connection::new(duckdb::Connection::open_in_memory().unwrap());
    conn.setup()
        .execute_batch(
            "CREATE TABLE t AS SELECT i, CASE WHEN i % 3 = 0 THEN NULL ELSE i * 7 END AS k FROM range(5000) r(i)",
        )
        .unwrap();
    let query = |sql: &str| Ok(conn.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap());
    // The tally: two clauses NULL on different rows, both recorded.
    let tally = Tallier::register(&conn).expect("registers");
    let clauses =
        ["CASE WHEN i % 2 = 0 THEN NULL ELSE i % 3 = 1 END", "CASE WHEN i % 5 = 0 THEN NULL ELSE i < 2500 END"];
    let args: Vec<String> = clauses.iter().map(|c| c.to_string()).collect();
    let sql = tally.select("rowid", &args, "t");
    let words = 5000 / 64 + 1;
    let sources = || vec![Source::Argument { record: true }, Source::Argument { record: true }];
    let counted = tally.run(sources(), words, || query(&sql)).unwrap().expect("adds up");
    let states = [("= false", 0), ("= true", 1), ("IS NULL", 2)];
    for (a, i) in states {
        for (b, j) in states {
            let want = count(&conn, &format!("({}) {a} AND ({}) {b}", clauses[0], clauses[1]));
            assert_eq!(counted.cells[i + 3 * j] as i64, want, "{a}, {b}");
        }
    }
    for (c, recorded) in clauses.iter().zip(&counted.recorded) {
        let (yes, null) = recorded.clone().expect("recorded");
        let ones = |bits: &[u64]| bits.iter().map(|w| i64::from(w.count_ones())).sum::<i64>();
        assert_eq!(ones(&yes), count(&conn, c), "{c}");
        assert_eq!(ones(&null), count(&conn, &format!("({c}) IS NULL")), "{c}");
    }
    // A NULL row id is refused, not read.
    let sql = tally.select("CASE WHEN i = 7 THEN NULL ELSE rowid END", &args, "t");
    let err = tally
        .run(sources(), words, || {
            conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?))).map_err(crate::engine::plain_error)
        })
        .err()
        .expect("a NULL row id fails the query");
    assert!(err.to_string().contains("NULL row id"), "{err}");
    // The per-chunk scan: NULL keys arrive as not valid, every other key as it is.
    let eacher = Eacher::register(&conn).expect("registers");
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let into = seen.clone();
    let work: EachChunk = Arc::new(move |rows, keys, valid| {
        let mut seen = into.lock().unwrap();
        seen.extend(rows.iter().zip(keys).zip(valid).map(|((&r, &k), &ok)| (r, ok.then_some(k))));
    });
    assert!(eacher.run(work, || query(&eacher.select("k", "t"))).unwrap(), "every row");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 5000);
    assert_eq!(seen.iter().filter(|(_, k)| k.is_none()).count(), 5000 / 3 + 1);
    for &(r, k) in seen.iter().filter(|(r, _)| r % 3 != 0) {
        assert_eq!(k, Some(r * 7), "row {r}");
    }
}

#[test]
fn recorded_outcomes_read_back_give_the_same_cells_also_over_row_ids_with_gaps() {
    let conn = Connection::new(duckdb::Connection::open_in_memory().unwrap());
    // Deleted rows leave gaps in the row ids a scan hands over (the per-row path), the rest
    // run on by one (the shifted-words path).
    conn.setup()
        .execute_batch(
            "CREATE TABLE t AS SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE i % 3 END AS d FROM range(10000) r(i);
             DELETE FROM t WHERE i % 5 = 1 OR i BETWEEN 3000 AND 3100;",
        )
        .unwrap();
    let tally = Tallier::register(&conn).expect("registers");
    let args = ["CAST(d = 1 AS BOOLEAN)".to_string(), "CAST(i < 2500 AS BOOLEAN)".to_string()];
    let words = 10_000 / 64 + 1;
    let run = |sources: Vec<Source>, args: &[String]| {
        let sql = tally.select("rowid", args, "t");
        tally
            .run(sources, words, || Ok(conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap()))
            .unwrap()
            .expect("adds up")
    };
    let evaluated = run(vec![Source::Argument { record: true }, Source::Argument { record: true }], &args);
    assert_eq!(evaluated.cells.iter().sum::<u64>(), 10_000 - 2_000 - 81, "{:?}", evaluated.cells);
    let recorded = |i: usize| {
        let (yes, null) = evaluated.recorded[i].clone().expect("recorded");
        Source::Recorded { yes: Arc::new(yes), null: Arc::new(null) }
    };
    let one_read = run(vec![recorded(0), Source::Argument { record: false }], &args[1..]);
    assert_eq!(one_read.cells, evaluated.cells);
    let both_read = run(vec![recorded(0), recorded(1)], &[]);
    assert_eq!(both_read.cells, evaluated.cells);
}

#[test]
fn a_rowid_column_that_is_not_a_row_id_turns_caching_off() {
    let conn = Connection::new(duckdb::Connection::open_in_memory().unwrap());
    conn.setup().execute_batch("CREATE TABLE t AS SELECT i AS id, i * 1000003 AS rowid FROM range(1000) r(i)").unwrap();
    let mut c = MemberCache::default();
    assert!(
        c.marker(&conn, &Canceller::new(conn.interrupt_handle()), "t").unwrap().is_none(),
        "rowid up to 10^9 for 1,000 rows"
    );
    // Duplicates within bounds: the first bitmap disagrees with the count.
    conn.setup().execute_batch("CREATE TABLE u AS SELECT i AS id, i % 10 AS rowid FROM range(1000) r(i)").unwrap();
    let mut c = MemberCache::default();
    let m = c.marker(&conn, &Canceller::new(conn.interrupt_handle()), "u").unwrap().expect("bounds look like row ids");
    let sql = format!("{} id < 500", m.select("u"));
    let filled = m.fill(|| Ok(conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap())).unwrap();
    assert!(filled.is_none(), "500 rows but 10 bits: not cached");
}

#[test]
fn dropping_the_cache_frees_bitmaps_its_lookup_functions_hold() {
    let (conn, f) = table();
    let mut c = MemberCache::default();
    c.rewrite(&conn, &crate::engine::Canceller::new(conn.interrupt_handle()), "t", &f).unwrap().unwrap();
    let lookups = c.lookups.clone();
    assert_eq!(lookups.read().unwrap().len(), 2);
    drop(c);
    assert!(lookups.read().unwrap().is_empty());
}

#[test]
fn evicts_the_least_recently_used_beyond_the_budget() {
    let words = BUDGET / 8 / 4; // four bitmaps fill the budget
    let mut c = MemberCache::default();
    for name in ["a", "b", "c", "d"] {
        c.insert(name, vec![0; words], 0);
    }
    assert_eq!(c.entries.len(), 4);
    let held = c.get("a").unwrap();
    c.insert("e", vec![0; words], 0);
    let kept: Vec<&str> = c.entries.iter().map(|e| e.expr.as_str()).collect();
    assert_eq!(kept, ["a", "c", "d", "e"], "b was the least recently used");
    c.insert("f", vec![0; 3 * words], 0);
    assert!(c.get("a").is_none() && c.get("e").is_some() && c.get("f").is_some(), "{}", c.summary());
    assert_eq!(held.len(), words, "a caller's bitmap outlives its eviction");
    assert!(c.bytes() <= BUDGET);
}

#[test]
fn bitmaps_cached_after_an_overlap_ends_count_against_the_budget() {
    let words = 16;
    let mut c = MemberCache::default();
    c.budget = 4 * words * 8; // four bitmaps
    c.begin_overlap();
    for name in ["s1", "s2", "s3", "s4", "s5", "s6"] {
        c.insert(name, vec![0; words], 0);
    }
    c.end_overlap();
    assert_eq!(c.entries.len(), 6, "the overlap's six stay, beyond the budget: {}", c.summary());
    // Then the library is measured: a hundred more bitmaps, one at a time.
    for i in 0..100 {
        c.insert(&format!("m{i}"), vec![0; words], 0);
    }
    let kept: Vec<&str> = c.entries.iter().map(|e| e.expr.as_str()).collect();
    assert_eq!(kept, ["s1", "s2", "s3", "s4", "s5", "s6", "m99"], "only the one in use beside the overlap's");
    // The next overlap uses two of them: the other four may go, and what follows it too.
    c.begin_overlap();
    c.get("s1");
    c.get("s2");
    c.end_overlap();
    for i in 0..10 {
        c.insert(&format!("n{i}"), vec![0; words], 0);
    }
    let kept: Vec<&str> = c.entries.iter().map(|e| e.expr.as_str()).collect();
    assert_eq!(kept, ["s1", "s2", "n8", "n9"]);
    assert!(c.bytes() <= c.budget, "{}", c.summary());
}

#[test]
fn the_latest_overlaps_bitmaps_stay_beyond_the_budget() {
    let words = BUDGET / 8 / 4;
    let mut c = MemberCache::default();
    c.insert("old", vec![0; words], 0);
    c.begin_overlap();
    for name in ["s1", "s2", "s3", "s4", "s5", "s6"] {
        c.insert(name, vec![0; words], 0);
    }
    assert!(c.get("old").is_none(), "older entries go first");
    assert_eq!(c.entries.len(), 6, "six segments of one overlap, 1.5x the budget: {}", c.summary());
    // The next overlap uses three of them: the other three may go.
    c.begin_overlap();
    for name in ["s1", "s2", "s3"] {
        c.get(name);
    }
    c.insert("s7", vec![0; words], 0);
    let kept: Vec<&str> = c.entries.iter().map(|e| e.expr.as_str()).collect();
    assert_eq!(kept, ["s1", "s2", "s3", "s7"]);
}
