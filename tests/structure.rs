//! The shape of the source tree, checked by reading it (README "Layout"): rules a reviewer would
//! otherwise have to remember. Each failure names the file and line that breaks the rule.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, as (path relative to src/ with `/` separators, text), sorted.
fn rust_files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let name = p.strip_prefix(src()).unwrap().to_string_lossy().replace('\\', "/");
                out.push((name, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The folder that turns user text into SQL.
const TEXT_DIR: &str = "engine/text/";

/// What only `engine/text/` may do, each as the text that does it, and why:
const SPLICES: &[(&str, &str)] = &[
    ("lexer::", "tokenizes text (the lexer reads what the user wrote)"),
    (".to_sql()", "renders a parameter value as SQL (outside text/, quote with `literal`/`ident`)"),
    ("Compiled {", "builds a compiled filter by hand (only `filter::compile` and `Compiled`'s own methods may)"),
];

/// Files outside `engine/text/` allowed one of the above, and why it builds no SQL there.
const READERS: &[(&str, &str, &str)] =
    &[("tui/ui/editor.rs", "lexer::", "colours the editor's tokens; the text goes to SQL only through compile")];

/// The breaches of the rule in `files` (path relative to src/, text): `file:line: what`.
fn splices_outside_text(files: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (name, text) in files.iter().filter(|(n, _)| !n.starts_with(TEXT_DIR)) {
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for (needle, why) in SPLICES {
                let allowed = READERS.iter().any(|(f, n, _)| f == name && n == needle);
                if code.contains(needle) && !allowed {
                    found.push(format!("src/{name}:{}: `{needle}` {why}", i + 1));
                }
            }
        }
    }
    found
}

/// Only `src/engine/text/` turns user text into SQL (README "Boundaries"): nowhere else is text
/// tokenized with the lexer, a parameter value rendered as SQL, or a compiled filter built by
/// hand. The rest of the code embeds a `Compiled` (`SqlBuilder::filter`) or quotes its own names
/// and values with `ident`/`literal`.
#[test]
fn only_the_text_folder_turns_user_text_into_sql() {
    let files = rust_files(&src());
    // The rule names real things: the lexer, the rendering and the compiled filter live in text/.
    let text: String = files.iter().filter(|(n, _)| n.starts_with(TEXT_DIR)).map(|(_, t)| t.as_str()).collect();
    for defined in ["pub fn tokenize(", "pub fn to_sql(&self)", "pub struct Compiled {", "pub fn compile("] {
        assert!(text.contains(defined), "src/{TEXT_DIR} no longer defines `{defined}`: update this test's rule");
    }
    for (file, needle, why) in READERS {
        let (_, t) = files.iter().find(|(n, _)| n == file).unwrap_or_else(|| panic!("src/{file} is gone"));
        assert!(t.contains(needle), "src/{file} no longer uses `{needle}` ({why}): drop it from READERS");
    }
    let found = splices_outside_text(&files);
    assert!(found.is_empty(), "user text turned into SQL outside src/{TEXT_DIR}:\n{}", found.join("\n"));
}

/// The rule above can fail: a query family that renders a value itself, or tokenizes a filter,
/// is named with its line.
#[test]
fn the_text_rule_names_a_breach_by_file_and_line() {
    let breach = "fn f(v: ParamValue) -> String {\n    // v.to_sql() in a comment is fine\n    format!(\"x = {}\", v.to_sql())\n}\n";
    let files = vec![
        ("engine/query/size.rs".to_string(), breach.to_string()),
        ("engine/text/params.rs".to_string(), breach.to_string()),
        ("dialect/mod.rs".to_string(), "let t = lexer::tokenize(sql);".to_string()),
    ];
    assert_eq!(
        splices_outside_text(&files),
        [
            "src/engine/query/size.rs:3: `.to_sql()` renders a parameter value as SQL (outside text/, quote with `literal`/`ident`)",
            "src/dialect/mod.rs:1: `lexer::` tokenizes text (the lexer reads what the user wrote)",
        ]
    );
}

/// No source file over 600 lines (README "Layout": a file past ~500 lines is usually two).
#[test]
fn no_source_file_is_over_600_lines() {
    const MAX: usize = 600;
    let long: Vec<String> = rust_files(&src())
        .into_iter()
        .map(|(name, text)| (name, text.lines().count()))
        .filter(|(_, n)| *n > MAX)
        .map(|(name, n)| format!("src/{name}:{}: {n} lines", MAX + 1))
        .collect();
    assert!(long.is_empty(), "files over {MAX} lines (split them by concern):\n{}", long.join("\n"));
}
