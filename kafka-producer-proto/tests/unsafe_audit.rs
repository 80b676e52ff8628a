//! Keeps `unsafe` confined to the one module whose invariants justify it.
//!
//! The crate root denies `unsafe_code`, but any module can re-allow it with
//! an inner attribute, and a review can miss that. This test makes the
//! boundary mechanical: `unsafe` may appear only in `src/wire/crc32c.rs`,
//! every occurrence there must carry a `// SAFETY:` justification, and the
//! crate-level deny must stay in place.
//!
//! The scan is lexical and deliberately simple: comment lines and trailing
//! `//` comments are ignored, string literals are not. A false positive
//! costs a reword; a false negative would need `unsafe` hidden in a way
//! `#![deny(unsafe_code)]` still catches everywhere but the allowed module.

use std::fs;
use std::path::{Path, PathBuf};

/// The only file allowed to contain `unsafe`, relative to the crate root.
const ALLOWED: &str = "src/wire/crc32c.rs";

/// How many lines above an `unsafe` its `// SAFETY:` comment may start.
const SAFETY_WINDOW: usize = 8;

fn crate_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, recursively, in a stable order.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The code part of a line: nothing for comment lines, the text before a
/// trailing `//` comment otherwise.
fn code_of(line: &str) -> &str {
    if line.trim_start().starts_with("//") {
        return "";
    }
    line.split_once("//").map_or(line, |(code, _)| code)
}

/// Whether `text` contains `word` delimited by non-identifier characters.
fn contains_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// `(1-based line number, line)` of every line whose code uses `unsafe`.
fn unsafe_lines(source: &str) -> Vec<(usize, &str)> {
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| contains_word(code_of(line), "unsafe"))
        .map(|(i, line)| (i + 1, line))
        .collect()
}

fn relative(path: &Path) -> String {
    path.strip_prefix(crate_root())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

#[test]
fn unsafe_only_in_the_crc32c_module() {
    let files = rust_files(&crate_root().join("src"));
    assert!(
        files.iter().any(|f| relative(f) == ALLOWED),
        "{ALLOWED} not found; update this audit if it moved"
    );
    let mut offences = Vec::new();
    for file in &files {
        let name = relative(file);
        if name == ALLOWED {
            continue;
        }
        let source = fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {name}: {e}"));
        for (line_no, line) in unsafe_lines(&source) {
            offences.push(format!("{name}:{line_no}: {}", line.trim()));
        }
    }
    assert!(
        offences.is_empty(),
        "`unsafe` outside {ALLOWED}:\n{}",
        offences.join("\n")
    );
}

#[test]
fn every_unsafe_in_crc32c_has_a_safety_comment() {
    let source = fs::read_to_string(crate_root().join(ALLOWED)).expect("reading crc32c.rs");
    let lines: Vec<&str> = source.lines().collect();
    let mut offences = Vec::new();
    for (line_no, line) in unsafe_lines(&source) {
        let index = line_no - 1;
        let justified = lines[index.saturating_sub(SAFETY_WINDOW)..index]
            .iter()
            .any(|l| l.trim_start().starts_with("// SAFETY:"));
        if !justified {
            offences.push(format!("{ALLOWED}:{line_no}: {}", line.trim()));
        }
    }
    assert!(
        offences.is_empty(),
        "`unsafe` without a `// SAFETY:` comment in the {SAFETY_WINDOW} lines above:\n{}",
        offences.join("\n")
    );
}

#[test]
fn crate_root_denies_unsafe_code() {
    let source = fs::read_to_string(crate_root().join("src/lib.rs")).expect("reading src/lib.rs");
    assert!(
        source
            .lines()
            .any(|line| code_of(line).trim() == "#![deny(unsafe_code)]"),
        "src/lib.rs must keep `#![deny(unsafe_code)]`"
    );
}

#[test]
fn scanner_recognises_unsafe_and_nothing_else() {
    assert_eq!(unsafe_lines("unsafe { f() }").len(), 1);
    assert_eq!(unsafe_lines("    Some(unsafe { g(x) })").len(), 1);
    assert_eq!(unsafe_lines("unsafe fn f() {}").len(), 1);
    assert_eq!(unsafe_lines("x; // unsafe in a trailing comment").len(), 0);
    assert_eq!(unsafe_lines("   // unsafe in a comment line").len(), 0);
    assert_eq!(unsafe_lines("/// unsafe in a doc comment").len(), 0);
    assert_eq!(unsafe_lines("#![allow(unsafe_code)]").len(), 0);
    assert_eq!(unsafe_lines("let not_unsafe = 1;").len(), 0);
    assert_eq!(unsafe_lines("a\nunsafe {}\nb"), vec![(2, "unsafe {}")]);
}
