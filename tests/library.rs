//! The template library: files round-trip every field, saved versions are never rewritten, two
//! processes saving at once both get a version, broken files are reported with path and line while
//! the rest loads, and the commands over the library behave as documented.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Child;

use common::*;
use seglens::engine::{Feature, Fingerprint, ParamDecl, ParamType, ParamValue};
use seglens::library::{Kind, Library, LibraryError, SaveOutcome, Snapshot, Status, Template};

fn decl(ty: ParamType, default: &str, min: Option<&str>, max: Option<&str>, description: &str) -> ParamDecl {
    let mut d = ParamDecl::new(ty);
    d.default = Some(ParamValue::parse(ty, default).unwrap());
    d.min = min.map(|m| ParamValue::parse(ty, m).unwrap());
    d.max = max.map(|m| ParamValue::parse(ty, m).unwrap());
    d.description = description.into();
    d
}

/// A template with every field set, values chosen to be awkward in TOML.
fn full_template(name: &str) -> Template {
    let mut t = Template::new(
        name,
        "lapsed({{days}})\n  AND region = {{region}} -- \"quoted\" ''' \"\"\" \\ \n  AND churn_risk > {{ratio}}\n  AND signup_date >= {{since}}\n  AND sms_opt_in = {{flag}}\n  AND language IN (SELECT unnest({{langs}}))\n",
    );
    t.created_at = "2026-02-27T10:11:12Z".into();
    t.author = "Priya Natarajan".into();
    t.intent = "win back lapsed high-value customers before Holi — ₹ offers, \"quotes\" and 'apostrophes'".into();
    t.owner = "crm-team@example.com".into();
    t.tags = vec!["holi".into(), "win back".into(), "मराठी".into()];
    t.status = Status::Approved;
    t.kind = Kind::Suppression;
    t.priority = -3;
    t.table = "customers".into();
    t.key = "customer_id".into();
    t.note = Some("first line\nsecond line with a tab\there".into());
    let mut days = decl(ParamType::Int, "90", Some("1"), Some("3650"), "Days since the last order");
    days.step = Some(5.0);
    t.params.insert("days".into(), days);
    t.params.insert("ratio".into(), decl(ParamType::Float, "0.25", Some("0"), Some("1"), "churn"));
    t.params.insert("region".into(), decl(ParamType::String, "West India", None, None, ""));
    t.params.insert("since".into(), decl(ParamType::Date, "2025-01-31", Some("2020-01-01"), None, "signup after"));
    t.params.insert("flag".into(), decl(ParamType::Bool, "true", None, None, "sms"));
    t.params.insert("langs".into(), decl(ParamType::StringList, "mr,gu,it's", None, None, "languages"));
    t.features.insert(
        "lapsed".into(),
        Feature {
            name: "lapsed".into(),
            params: vec!["days".into()],
            sql: "(last_order_date IS NULL OR last_order_date < current_date - to_days(days))".into(),
            description: "No order in `days` days".into(),
        },
    );
    t.snapshot = Some(Snapshot {
        size: 1234,
        base: 100_000,
        share: 0.012_34,
        measured_at: "2026-02-27T10:11:13Z".into(),
        fingerprint: Fingerprint {
            path: "/data/crm \"prod\".duckdb".into(),
            bytes: 987_654_321,
            modified: "2026-02-26T23:59:59.123456789+00:00".into(),
            table: "customers".into(),
            rows: 100_000,
        },
        profile: BTreeMap::from([
            ("open_rate".into(), 1.0 / 3.0),
            ("avg_spend".into(), 4321.5),
            ("conversion".into(), 0.1),
        ]),
    });
    t
}

#[test]
fn a_template_round_trips_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let lib = Library::open(dir.path().join("segments"));
    let t = full_template("holi-winback");
    let out = lib.save(t.clone()).expect("save");
    let SaveOutcome::Saved { version: 1, path } = out else { panic!("{out:?}") };
    assert_eq!(path, dir.path().join("segments/holi-winback/v0001.toml"));
    let back = lib.load("holi-winback", Some(1)).expect("load");
    // Saved as approved, it carries the hash of what was approved.
    assert_eq!(back, Template { version: 1, approval_sha256: Some(t.content_hash()), ..t.clone() });
    // A second version, with a parent.
    let mut t2 = t.clone();
    t2.filter.push_str("  AND TRUE\n");
    t2.parent_version = Some(1);
    t2.status = Status::Draft;
    t2.kind = Kind::Segment;
    t2.note = None;
    t2.snapshot = None;
    assert_eq!(lib.save(t2.clone()).expect("save v2").version(), 2);
    assert_eq!(lib.load("holi-winback", None).expect("latest"), Template { version: 2, ..t2 });
    // And through the text form alone.
    let parsed: Template = toml::from_str(&t.to_toml()).expect("parse own TOML");
    assert_eq!(parsed, t);
}

#[test]
fn a_second_save_makes_v2_and_v1_bytes_never_change() {
    let dir = tempfile::tempdir().unwrap();
    let lib = Library::open(dir.path());
    let mut t = Template::new("west", "region = 'West India'");
    t.intent = "regional".into();
    assert_eq!(lib.save(t.clone()).unwrap(), SaveOutcome::Saved { version: 1, path: lib.path_of("west", 1) });
    let v1 = std::fs::read(lib.path_of("west", 1)).unwrap();
    t.filter = "region = 'West India' AND language = 'mr'".into();
    assert_eq!(lib.save(t.clone()).unwrap().version(), 2);
    let v2 = lib.load("west", Some(2)).unwrap();
    assert_eq!(v2.parent_version, Some(1));
    assert_eq!(std::fs::read(lib.path_of("west", 1)).unwrap(), v1, "v1 was rewritten");
    // Status changes are versions too, and leave the older files alone.
    let v2_bytes = std::fs::read(lib.path_of("west", 2)).unwrap();
    let out = lib.set_status("west", None, Status::Approved, Some("ok for Holi".into()), "lead").unwrap();
    assert_eq!(out.version(), 3);
    let v3 = lib.load("west", None).unwrap();
    assert_eq!(
        (v3.status, v3.parent_version, v3.note.as_deref(), v3.author.as_str()),
        (Status::Approved, Some(2), Some("ok for Holi"), "lead")
    );
    assert_eq!(v3.filter, t.filter);
    assert_eq!(std::fs::read(lib.path_of("west", 1)).unwrap(), v1);
    assert_eq!(std::fs::read(lib.path_of("west", 2)).unwrap(), v2_bytes);
    assert_eq!(lib.latest_approved("west").unwrap().map(|t| t.version), Some(3));
    // Approving what is approved writes nothing.
    assert_eq!(
        lib.set_status("west", None, Status::Approved, None, "lead").unwrap(),
        SaveOutcome::Unchanged { version: 3 }
    );
    // Retired: no approved version to export any more.
    assert_eq!(lib.set_status("west", None, Status::Retired, None, "lead").unwrap().version(), 4);
    assert_eq!(lib.latest_approved("west").unwrap(), None);
    assert_eq!(lib.versions("west").unwrap(), [1, 2, 3, 4]);
    // No temp files are left in the folder.
    let names: BTreeSet<String> = std::fs::read_dir(dir.path().join("west"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, BTreeSet::from(["v0001.toml", "v0002.toml", "v0003.toml", "v0004.toml"].map(String::from)));
}

#[test]
fn an_identical_save_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lib = Library::open(dir.path());
    // With features recorded, as `seglens save` records them.
    let t = full_template("same");
    assert_eq!(lib.save(t.clone()).unwrap().version(), 1);
    let bytes = std::fs::read(lib.path_of("same", 1)).unwrap();
    // Same definition; only bookkeeping, note and snapshot differ.
    let mut again = t.clone();
    again.created_at = String::new();
    again.note = Some("re-measured".into());
    again.author = "someone else".into();
    again.snapshot.as_mut().unwrap().size = 99;
    again.filter.push_str("\n\n");
    assert_eq!(lib.save(again).unwrap(), SaveOutcome::Unchanged { version: 1 });
    assert_eq!(lib.versions("same").unwrap(), [1]);
    assert_eq!(std::fs::read(lib.path_of("same", 1)).unwrap(), bytes);
    // Any change of definition is a new version.
    let changes: [fn(&mut Template); 4] = [
        |t: &mut Template| t.priority += 1,
        |t: &mut Template| t.tags.push("new".into()),
        |t: &mut Template| t.params.get_mut("days").unwrap().max = None,
        |t: &mut Template| t.features.get_mut("lapsed").unwrap().sql.push_str(" AND TRUE"),
    ];
    for change in changes {
        let mut t2 = lib.load("same", None).unwrap();
        change(&mut t2);
        let before = lib.versions("same").unwrap().len();
        assert!(matches!(lib.save(t2).unwrap(), SaveOutcome::Saved { .. }));
        assert_eq!(lib.versions("same").unwrap().len(), before + 1);
    }
}

#[test]
fn two_processes_saving_at_once_both_get_consecutive_versions() {
    let db = shared_db();
    let sb = Sandbox::new();
    const ROUNDS: usize = 8;
    let mut reported = Vec::new();
    for round in 0..ROUNDS {
        let spawn = |k: usize| -> Child {
            let filter = format!("customer_id % 1000 <> {k}");
            sb.command(&["save", "conc", "--filter", &filter, "--db", s(db), "--json"]).spawn().expect("spawn save")
        };
        let (a, b) = (spawn(2 * round), spawn(2 * round + 1));
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "round {round}: {stdout} {}", String::from_utf8_lossy(&out.stderr));
            let j: serde_json::Value = serde_json::from_str(&stdout).expect("json");
            assert_eq!(j["saved"], true, "{j}");
            reported.push(j["version"].as_u64().unwrap() as u32);
        }
    }
    let lib = Library::open(sb.library());
    let versions = lib.versions("conc").unwrap();
    let want: Vec<u32> = (1..=2 * ROUNDS as u32).collect();
    assert_eq!(versions, want, "versions on disk");
    reported.sort_unstable();
    assert_eq!(reported, want, "versions the processes reported");
    let filters: BTreeSet<String> =
        versions.iter().map(|&v| lib.read("conc", v).expect("every version loads").filter).collect();
    let want_filters: BTreeSet<String> = (0..2 * ROUNDS).map(|k| format!("customer_id % 1000 <> {k}")).collect();
    assert_eq!(filters, want_filters, "a save was lost");
    // Each version names the version its process started from (a race shows as a fork, never a
    // lost write): always an earlier one.
    for &v in &versions[1..] {
        let parent = lib.read("conc", v).unwrap().parent_version.expect("a parent");
        assert!(parent < v, "v{v} has parent {parent}");
    }

    let stray: Vec<String> = std::fs::read_dir(sb.library().join("conc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('v'))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn broken_files_are_reported_with_path_and_line_and_the_rest_loads() {
    let sb = Sandbox::new();
    let lib = Library::open(sb.library());
    lib.save(Template::new("good", "orders_count > 0")).unwrap();
    let mut two = Template::new("older-stands-in", "sms_opt_in");
    lib.save(two.clone()).unwrap();
    two.filter = "push_opt_in".into();
    lib.save(two).unwrap();
    // v2 of older-stands-in broken by hand: v1 stands in.
    let broken_v2 = lib.path_of("older-stands-in", 2);
    write(
        &broken_v2,
        "name = \"older-stands-in\"\nversion = 2\ncreated_at = \"2026-01-01T00:00:00Z\"\nfilter = [unclosed\n",
    );
    // A syntax error on line 4.
    let syntax = sb.library().join("broken/v0001.toml");
    write(
        &syntax,
        "name = \"broken\"\nversion = 1\ncreated_at = \"2026-01-01T00:00:00Z\"\nfilter = \"unterminated\nstatus = \"draft\"\n",
    );
    // An unknown field on line 4.
    let unknown = sb.library().join("extra/v0001.toml");
    write(
        &unknown,
        "name = \"extra\"\nversion = 1\ncreated_at = \"2026-01-01T00:00:00Z\"\ncolour = \"red\"\nfilter = \"TRUE\"\n",
    );
    // A name that does not match its folder (line 1), and an undeclared placeholder (line 4).
    let misnamed = sb.library().join("misnamed/v0001.toml");
    write(&misnamed, "name = \"other\"\nversion = 1\ncreated_at = \"2026-01-01T00:00:00Z\"\nfilter = \"TRUE\"\n");
    let undeclared = sb.library().join("undeclared/v0001.toml");
    write(
        &undeclared,
        "name = \"undeclared\"\nversion = 1\ncreated_at = \"2026-01-01T00:00:00Z\"\nfilter = \"orders_count > {{n}}\"\n",
    );
    // A bad status value on line 5.
    let status = sb.library().join("bad-status/v0001.toml");
    write(
        &status,
        "name = \"bad-status\"\nversion = 1\ncreated_at = \"2026-01-01T00:00:00Z\"\nfilter = \"TRUE\"\nstatus = \"published\"\n",
    );

    let report = lib.load_all();
    let loaded: Vec<(String, u32)> = report.templates.iter().map(|t| (t.name.clone(), t.version)).collect();
    assert_eq!(loaded, [("good".to_string(), 1), ("older-stands-in".to_string(), 1)]);
    let expect = [
        (&broken_v2, 4, ""),
        (&syntax, 4, ""),
        (&unknown, 4, "colour"),
        (&misnamed, 1, "other"),
        (&undeclared, 4, "{{n}}"),
        (&status, 5, "published"),
    ];
    assert_eq!(report.errors.len(), expect.len(), "{:?}", report.errors);
    for (path, line, word) in expect {
        let e = report
            .errors
            .iter()
            .find(|e| matches!(e, LibraryError::Invalid { path: p, .. } if p == path))
            .unwrap_or_else(|| panic!("no error for {}: {:?}", path.display(), report.errors));
        let LibraryError::Invalid { line: got, .. } = e else { unreachable!() };
        assert_eq!(*got, Some(line), "{e}");
        let text = e.to_string();
        assert!(text.contains(&format!("{}:{line}", path.display())), "{text}");
        assert!(text.contains(word), "{text}");
    }
    // The command line: exit 0, the good ones listed, one warning per broken file.
    let o = sb.seglens(&["list", "--db", s(shared_db())]).ok();
    assert!(o.stdout.contains("good") && o.stdout.contains("older-stands-in"), "{}", o.stdout);
    assert!(!o.stdout.contains("extra"), "{}", o.stdout);
    for (path, line, _) in expect {
        assert!(
            o.stderr.contains(&format!("{}:{line}", path.display())),
            "stderr lacks {}:{line}: {}",
            path.display(),
            o.stderr
        );
    }
    assert_eq!(o.stderr.lines().filter(|l| l.contains("warning")).count(), expect.len(), "{}", o.stderr);
    let j = sb.seglens(&["list", "--json", "--db", s(shared_db())]).ok().json();
    assert_eq!(j["segments"].as_array().unwrap().len(), 2);
    assert_eq!(j["errors"].as_array().unwrap().len(), expect.len());
    // Loading the broken one directly is an error naming the file and line (exit 2).
    sb.seglens(&["show", "extra"]).user_error(&["v0001.toml:4", "colour"]);
}

#[test]
fn broken_features_and_cycles_are_listed_and_the_rest_load() {
    let sb = Sandbox::new();
    write(
        &sb.library().join("features.toml"),
        r#"
[good]
sql = "orders_count > 0"

[uses_good]
params = ["n"]
sql = "good() AND engagement_score > n"

[bad_body]
sql = "region = 'unterminated"

[uses_bad]
sql = "bad_body() AND TRUE"

[cycle_a]
sql = "cycle_b() AND TRUE"

[cycle_b]
sql = "cycle_a() OR FALSE"

[wrong_arity]
sql = "uses_good(1, 2)"

[with_placeholder]
sql = "orders_count > {{n}}"

[unknown_field]
sql = "TRUE"
colour = "red"
"#,
    );
    let lib = Library::open(sb.library());
    let (set, err) = lib.features();
    assert!(err.is_none(), "{err:?}");
    let good: BTreeSet<&str> = set.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(good, BTreeSet::from(["good", "uses_good"]));
    let broken: BTreeMap<&str, &str> = set.broken.iter().map(|b| (b.name.as_str(), b.reason.as_str())).collect();
    assert_eq!(
        broken.keys().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([
            "bad_body",
            "uses_bad",
            "cycle_a",
            "cycle_b",
            "wrong_arity",
            "with_placeholder",
            "unknown_field"
        ]),
        "{broken:?}"
    );
    assert!(broken["cycle_a"].contains("cycle"), "{}", broken["cycle_a"]);
    assert!(broken["cycle_b"].contains("cycle"), "{}", broken["cycle_b"]);
    assert!(broken["wrong_arity"].contains("uses_good"), "{}", broken["wrong_arity"]);
    assert!(broken["unknown_field"].contains("colour"), "{}", broken["unknown_field"]);
    assert!(broken["uses_bad"].contains("bad_body"), "{}", broken["uses_bad"]);

    let o = sb.seglens(&["features", "--json"]).ok();
    let j = o.json();
    let names: BTreeSet<&str> = j["features"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, good);
    let listed: BTreeSet<&str> = j["broken"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(listed, broken.keys().copied().collect());
    assert!(j["broken"].as_array().unwrap().iter().all(|b| !b["error"].as_str().unwrap().is_empty()));
    assert!(o.stderr.contains("cycle_a"), "{}", o.stderr);
    // This was the first use of the sample (no --db): the starter templates were installed even
    // though the library's own features.toml lacks the features they call, and they run.
    let lib = Library::open(sb.library());
    assert_eq!(lib.names().unwrap().len(), 8, "{}", o.stderr);
    assert!(read(&sb.library().join("features.toml")).contains("[uses_bad]"), "the team's features file was replaced");
    let j = sb.seglens(&["size", "lapsed-high-value", "--json"]).ok().json();
    assert_eq!(j["size"].as_u64(), lib.load("lapsed-high-value", None).unwrap().snapshot.map(|s| s.size));
    // The good features work in a filter.
    let db = shared_db();
    let o = sb.seglens(&["size", "--db", s(db), "--json", "uses_good(50)"]).ok();
    assert_eq!(o.json()["size"].as_u64(), Some(count_where(&plain(db), "orders_count > 0 AND engagement_score > 50")));
    // A features.toml that is not TOML: reported with its line, and the commands go on.
    write(&sb.library().join("features.toml"), "[good]\nsql = \"TRUE\"\n[bad\n");
    let o = sb.seglens(&["features", "--json", "--db", s(db)]).ok();
    assert!(o.stderr.contains("features.toml:3"), "{}", o.stderr);
    assert_eq!(o.json()["features"].as_array().map(Vec::len), Some(0));
}

#[test]
fn save_show_history_diff_approve_retire_through_the_binary() {
    let db = shared_db();
    let c = plain(db);
    let sb = Sandbox::new();
    let d = s(db);
    let o = sb
        .seglens(&[
            "save",
            "buyers",
            "--db",
            d,
            "--filter",
            "orders_count > {{n}}",
            "--param-def",
            "n:int=2",
            "--intent",
            "repeat buyers",
            "--note",
            "first",
            "--tag",
            "a",
            "--tag",
            "b",
        ])
        .ok();
    assert!(o.stdout.contains("saved buyers@1"), "{}", o.stdout);
    let o =
        sb.seglens(&["save", "buyers", "--db", d, "--filter", "orders_count > {{n}}", "--param-def", "n:int=2"]).ok();
    assert!(o.stdout.contains("unchanged"), "{}", o.stdout);
    sb.seglens(&[
        "save",
        "buyers",
        "--db",
        d,
        "--filter",
        "orders_count > {{n}}\n  AND sms_opt_in",
        "--note",
        "sms only",
    ])
    .ok();
    let lib = Library::open(sb.library());
    assert_eq!(lib.versions("buyers").unwrap(), [1, 2]);

    let j = sb.seglens(&["show", "buyers@1", "--json"]).ok().json();
    assert_eq!(j["filter"], "orders_count > {{n}}");
    assert_eq!(j["intent"], "repeat buyers");
    assert_eq!(j["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(j["params"]["n"]["default"], 2);
    assert_eq!(j["author"], "test-author");
    assert_eq!(j["snapshot"]["size"].as_u64(), Some(count_where(&c, "orders_count > 2")));
    assert_eq!(j["snapshot"]["base"].as_u64(), Some(CUSTOMERS));
    assert_eq!(j["snapshot"]["fingerprint"]["rows"].as_u64(), Some(CUSTOMERS));
    let o = sb.seglens(&["show", "buyers"]).ok();
    let shown: Template = toml::from_str(&o.stdout).expect("show prints the TOML");
    assert_eq!(shown.version, 2);

    let j = sb.seglens(&["history", "buyers", "--json"]).ok().json();
    let h = j.as_array().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[1]["snapshot"]["size"].as_u64(), Some(count_where(&c, "orders_count > 2 AND sms_opt_in")));
    assert_eq!((h[0]["note"].as_str(), h[1]["note"].as_str()), (Some("first"), Some("sms only")));
    let o = sb.seglens(&["history", "buyers"]).ok();
    assert!(o.stdout.contains("v1") && o.stdout.contains("v2") && o.stdout.contains("sms only"), "{}", o.stdout);

    let o = sb.seglens(&["diff", "buyers", "1", "2"]).ok();
    assert!(o.stdout.contains("+  AND sms_opt_in"), "{}", o.stdout);
    assert!(o.stdout.contains("size at save"), "{}", o.stdout);
    let j = sb.seglens(&["diff", "buyers", "1", "2", "--json"]).ok().json();
    assert_eq!(j["size"][0].as_u64(), Some(count_where(&c, "orders_count > 2")));
    assert_eq!(j["size"][1].as_u64(), Some(count_where(&c, "orders_count > 2 AND sms_opt_in")));

    let o = sb.seglens(&["approve", "buyers", "--note", "go"]).ok();
    assert!(o.stdout.contains("approved buyers@3"), "{}", o.stdout);
    let o = sb.seglens(&["approve", "buyers"]).ok();
    assert!(o.stdout.contains("already approved"), "{}", o.stdout);
    assert_eq!(lib.versions("buyers").unwrap(), [1, 2, 3]);
    // Re-saving the approved definition unchanged keeps it approved and writes nothing.
    let o = sb.seglens(&["save", "buyers", "--db", d]).ok();
    assert!(o.stdout.contains("unchanged"), "{}", o.stdout);
    assert_eq!(lib.load("buyers", None).unwrap().status, Status::Approved);
    // Changing it makes a new draft.
    sb.seglens(&["save", "buyers", "--db", d, "--priority", "7"]).ok();
    let v4 = lib.load("buyers", None).unwrap();
    assert_eq!((v4.version, v4.status, v4.priority), (4, Status::Draft, 7));
    assert_eq!(lib.latest_approved("buyers").unwrap().map(|t| t.version), Some(3));
    sb.seglens(&["retire", "buyers", "--note", "campaign over"]).ok();
    let v5 = lib.load("buyers", None).unwrap();
    assert_eq!((v5.version, v5.status, v5.note.as_deref()), (5, Status::Retired, Some("campaign over")));
    assert_eq!(lib.latest_approved("buyers").unwrap(), None);

    // Errors: exit 2 with one line.
    sb.seglens(&["show", "buyers@9"]).user_error(&["no version 9"]);
    sb.seglens(&["show", "nobody"]).user_error(&["nobody"]);
    sb.seglens(&["save", "Bad Name", "--db", d, "--filter", "TRUE"]).user_error(&["Bad Name"]);
    sb.seglens(&["save", "fresh", "--db", d]).user_error(&["--filter"]);
    sb.seglens(&["save", "p", "--db", d, "--filter", "orders_count > {{n}}"]).user_error(&["{{n}}", "--param-def"]);
    sb.seglens(&["save", "q", "--db", d, "--filter", "no_such_col > 1"]).user_error(&["no_such_col"]);
    assert!(lib.versions("q").unwrap().is_empty(), "a filter that fails was saved");
}

#[test]
fn check_fails_on_a_broken_template_and_reports_drift() {
    let sb = Sandbox::new();
    let small = private_db_with(sb.path(), "small.duckdb", 300);
    let db = shared_db();
    write(&sb.library().join("features.toml"), "[big]\nparams = [\"m\"]\nsql = \"lifetime_spend > m\"\n");
    // Measured on a 300-customer database, checked against 3000: its size drifts ~10x.
    sb.seglens(&["save", "west", "--db", s(&small), "--filter", "region = 'West India'"]).ok();
    sb.seglens(&["save", "spenders", "--db", s(db), "--filter", "big(1000)"]).ok();
    // Everything compiles: exit 0, drift flagged for the one measured elsewhere.
    let o = sb.seglens(&["check", "--db", s(db), "--json"]).ok();
    let j = o.json();
    let rows = j["templates"].as_array().unwrap();
    let west = rows.iter().find(|r| r["segment"] == "west").unwrap();
    assert_eq!(west["drift_flagged"], true, "{west}");
    assert_eq!(west["size"].as_u64(), Some(count_where(&plain(db), "region = 'West India'")));
    let spenders = rows.iter().find(|r| r["segment"] == "spenders").unwrap();
    assert_eq!(
        (spenders["drift_flagged"].as_bool(), spenders["drift"].as_f64()),
        (Some(false), Some(0.0)),
        "{spenders}"
    );
    // A later edit of a feature shows up as drift of the feature, not a silent change of size.
    write(&sb.library().join("features.toml"), "[big]\nparams = [\"m\"]\nsql = \"lifetime_spend > m * 10\"\n");
    let j = sb.seglens(&["check", "--db", s(db), "--json"]).ok().json();
    let spenders = j["templates"].as_array().unwrap().iter().find(|r| r["segment"] == "spenders").unwrap().clone();
    assert_eq!(spenders["features_changed"], serde_json::json!(["big"]), "{spenders}");
    assert_eq!(spenders["size"].as_u64(), Some(count_where(&plain(db), "lifetime_spend > 1000")));
    // A template written by hand whose filter reads a missing column: non-zero exit.
    write(
        &sb.library().join("ghost/v0001.toml"),
        "name = \"ghost\"\nversion = 1\ncreated_at = \"2026-01-01T00:00:00Z\"\nfilter = \"\"\"\nloyalty_points > 100\n\"\"\"\n",
    );
    let o = sb.seglens(&["check", "--db", s(db), "--json"]);
    assert_eq!(o.code, 2, "{o:?}");
    let j = o.json();
    let ghost = j["templates"].as_array().unwrap().iter().find(|r| r["segment"] == "ghost").unwrap().clone();
    assert_eq!(ghost["ok"], false);
    assert!(ghost["error"].as_str().unwrap().contains("loyalty_points"), "{ghost}");
    assert_eq!(j["failed"].as_u64(), Some(1));
    assert!(o.stderr.contains("1 template(s) failed"), "{}", o.stderr);
    let o = sb.seglens(&["check", "--db", s(db)]);
    assert_eq!(o.code, 2);
    assert!(o.stdout.contains("FAILED") && o.stdout.contains("DRIFT"), "{}", o.stdout);
    // Retired templates are not checked.
    sb.seglens(&["retire", "ghost"]).ok();
    sb.seglens(&["check", "--db", s(db)]).ok();
}

/// First use with no database: the sample is created and the starter templates installed.
#[test]
fn starter_templates_install_on_first_use_of_the_sample() {
    let sb = Sandbox::new();
    assert!(!sb.data_dir().exists());
    let o = sb.seglens(&["list"]).ok();
    assert!(sb.data_dir().join("sample.duckdb").exists(), "no sample database: {o:?}");
    assert!(o.stderr.contains("sample"), "{}", o.stderr);
    let names = [
        "at-risk",
        "holi-colour-buyers",
        "inactive-14-days",
        "lapsed-high-value",
        "loyal-advocates",
        "new-onboarded",
        "unsubscribed",
        "west-india-marathi",
    ];
    for n in names {
        assert!(o.stdout.contains(n), "{n} not listed: {}", o.stdout);
    }
    let j = sb.seglens(&["list", "--json"]).ok().json();
    let listed: Vec<&str> = j["segments"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(listed, names);
    let kinds: BTreeMap<&str, &str> = j["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds["unsubscribed"], "suppression");
    assert_eq!(kinds["inactive-14-days"], "suppression");
    assert_eq!(kinds["lapsed-high-value"], "segment");
    assert!(j["segments"].as_array().unwrap().iter().all(|t| !t["intent"].as_str().unwrap().is_empty()));
    // Every starter compiles and runs against the sample, with no drift.
    let j = sb.seglens(&["check", "--json"]).ok().json();
    for t in j["templates"].as_array().unwrap() {
        assert_eq!((t["ok"].as_bool(), t["drift"].as_f64()), (Some(true), Some(0.0)), "{t}");
    }
    // Re-saving a starter unchanged writes nothing and keeps it approved.
    let o = sb.seglens(&["save", "lapsed-high-value"]).ok();
    assert!(o.stdout.contains("unchanged"), "{}", o.stdout);
    let lib = Library::open(sb.library());
    assert_eq!(lib.versions("lapsed-high-value").unwrap(), [1]);
    // A second run creates nothing new.
    let o = sb.seglens(&["list"]).ok();
    assert!(!o.stderr.contains("creating"), "{}", o.stderr);
    // The size of a starter by name equals the snapshot taken at install.
    let snap = lib.load("west-india-marathi", None).unwrap().snapshot.unwrap();
    let j = sb.seglens(&["size", "west-india-marathi", "--json"]).ok().json();
    assert_eq!(j["size"].as_u64(), Some(snap.size));
    assert_eq!(j["base"].as_u64(), Some(100_000));
}
