//! The usage snippets of the READMEs are the crates' doc tests, which run:
//! a README that drifts from the code it shows fails here.
//!
//! For each crate, the first Rust example of its crate docs (`src/lib.rs`,
//! without the lines rustdoc hides) must appear verbatim in the workspace
//! README, and in the crate's own README when it has one.

use std::path::{Path, PathBuf};

const CRATES: &[&str] = &[
    "kafka-producer-tokio",
    "kafka-producer-blocking",
    "kafka-producer-smol",
    "kafka-producer-proto",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the conformance crate lives in the workspace")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The first example of the `//!` docs whose fence is Rust (not `text`),
/// as a reader sees it: rustdoc's hidden `# ` lines removed.
fn doc_example(lib_rs: &str) -> Option<String> {
    let mut lines = lib_rs
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| l.strip_prefix("//! ").unwrap_or(&l[3..]));
    loop {
        let fence = lines.find(|l| l.starts_with("```"))?;
        let rust = matches!(fence.trim(), "```" | "```rust");
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        if rust {
            let shown: Vec<&str> = body
                .into_iter()
                .filter(|l| !(l.starts_with("# ") || *l == "#"))
                .collect();
            return Some(shown.join("\n"));
        }
    }
}

/// The bodies of every ```rust block of a Markdown file.
fn rust_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines();
    while lines.any(|l| l.trim() == "```rust") {
        let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        blocks.push(body.join("\n"));
    }
    blocks
}

#[test]
fn every_crate_example_is_shown_in_the_readmes_as_it_runs() {
    let root = workspace();
    let workspace_readme = rust_blocks(&read(&root.join("README.md")));
    let mut drift = Vec::new();
    for krate in CRATES {
        let dir = root.join(krate);
        let example = doc_example(&read(&dir.join("src/lib.rs")))
            .unwrap_or_else(|| panic!("{krate}: no Rust example in the crate docs"));
        assert!(
            example.lines().count() >= 5,
            "{krate}: the crate example is too short to show the API:\n{example}"
        );
        if !workspace_readme.contains(&example) {
            drift.push(format!("README.md does not show {krate}'s example"));
        }
        let own = dir.join("README.md");
        if own.exists() && !rust_blocks(&read(&own)).contains(&example) {
            drift.push(format!("{krate}/README.md does not show its crate example"));
        }
    }
    assert!(
        drift.is_empty(),
        "READMEs out of date with the doc tests (copy the example of src/lib.rs, \
         hidden `# ` lines left out):\n{}",
        drift.join("\n")
    );
}

#[test]
fn the_extraction_drops_hidden_lines_and_skips_text_blocks() {
    let lib = "//! Intro\n//!\n//! ```text\n//! not this\n//! ```\n//!\n//! ```\n\
               //! # fn main() {\n//! let a = 1;\n//!\n//! let b = a;\n//! # }\n//! ```\n\
               fn x() {}\n";
    assert_eq!(
        doc_example(lib).as_deref(),
        Some("let a = 1;\n\nlet b = a;")
    );
    let md = "# T\n```sh\nno\n```\n```rust\nlet a = 1;\n```\n";
    assert_eq!(rust_blocks(md), vec!["let a = 1;".to_string()]);
}
