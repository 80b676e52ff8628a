//! The core's parts form a DAG, and only `producer/` sees `Producer`.
//!
//! Reads the crate's `src/` as text and builds the graph of its top-level
//! modules (`src/x.rs` or `src/x/`): an edge `a -> b` for every path
//! `crate::b...` in a file of `a`, every name in a `use crate::{b, ...}`
//! group, every `super::` chain that climbs from `a` to the crate root and
//! names `b`, and every `crate::Name` that `lib.rs` re-exports from `b`.
//! Comments are ignored; test modules are not (a test may not close a
//! circle either). The test fails, printing each circle with the files that
//! make its edges, when two modules import each other however indirectly;
//! when `wire` imports anything but `kafka_code` (the error table, which
//! imports nothing); and when a file outside
//! `producer/` and `sim/` (and the crate root, which re-exports it) names
//! `Producer`. Run with `--nocapture` to see the graph.
//!
//! The scan is lexical: a path built by a macro would escape it. None is.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Modules allowed to name `Producer`: the one that composes the parts, and
/// the simulator, which drives it.
const SEES_PRODUCER: &[&str] = &["producer", "sim"];

/// The codec: imports nothing above it.
const BOTTOM: &str = "wire";

/// What the codec may import: Kafka's error table (generated), which itself
/// imports nothing.
const BENEATH_BOTTOM: &[&str] = &["kafka_code"];

/// One source file: its path relative to `src/`, and its text.
struct Source {
    path: String,
    text: String,
}

/// `a -> b -> files that make the edge`.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn sources(src: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        for entry in entries {
            let path: PathBuf = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(src)
                    .expect("under src")
                    .to_string_lossy()
                    .replace('\\', "/");
                let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
                out.push(Source { path: rel, text });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The top-level module a file belongs to (`None` for the crate root).
fn top_module(path: &str) -> Option<String> {
    let first = path.split('/').next()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// How many `super::` reach the crate root from a file's own module.
fn depth(path: &str) -> usize {
    let parts: Vec<&str> = path.split('/').collect();
    let last = parts.last().copied().unwrap_or("");
    if last == "mod.rs" {
        parts.len() - 1
    } else {
        parts.len()
    }
}

/// The text without comments (`//` to the end of the line, `/* */`), string
/// literals kept: a path in a string is not an import, but none of ours
/// looks like one.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifier at the start of `s`.
fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
    &s[..end]
}

/// Whether `word` occurs in `code` as a whole identifier.
fn names(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// The first names of the top-level items in a `{...}` group starting
/// right after its `{`.
fn group_heads(s: &str) -> Vec<&str> {
    let mut heads = Vec::new();
    let mut level = 0usize;
    let mut expect_head = true;
    for (i, c) in s.char_indices() {
        match c {
            '{' => level += 1,
            '}' if level == 0 => break,
            '}' => level -= 1,
            ',' if level == 0 => expect_head = true,
            c if expect_head && level == 0 && is_ident(c) => {
                heads.push(ident(&s[i..]));
                expect_head = false;
            }
            c if expect_head && !c.is_whitespace() => expect_head = false,
            _ => {}
        }
    }
    heads
}

/// Names `lib.rs` re-exports, and the module each comes from.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for stmt in lib.split(';') {
        let stmt = stmt.trim();
        let Some(rest) = stmt
            .rsplit("pub use ")
            .next()
            .filter(|_| stmt.contains("pub use "))
        else {
            continue;
        };
        let module = ident(rest);
        let after = &rest[module.len()..];
        let Some(items) = after.strip_prefix("::") else {
            continue;
        };
        let items = items.trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let name = item.trim().rsplit(" as ").next().unwrap_or("").trim();
            if !name.is_empty() {
                map.insert(name.to_string(), module.to_string());
            }
        }
    }
    map
}

/// The module graph of these sources.
fn graph(files: &[Source]) -> Graph {
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(&f.path)).collect();
    let root_names = files
        .iter()
        .find(|f| f.path == "lib.rs")
        .map(|f| reexports(&code_of(&f.text)))
        .unwrap_or_default();
    let mut g = Graph::new();
    for f in files {
        let Some(from) = top_module(&f.path) else {
            continue;
        };
        let edges = g.entry(from.clone()).or_default();
        let code = code_of(&f.text);
        let mut add = |to: &str| {
            let to = root_names.get(to).map_or(to, String::as_str);
            if to != from && modules.contains(to) {
                edges
                    .entry(to.to_string())
                    .or_default()
                    .insert(f.path.clone());
            }
        };
        for (at, _) in code.match_indices("crate::") {
            if code[..at].chars().next_back().is_some_and(is_ident) {
                continue;
            }
            let rest = &code[at + "crate::".len()..];
            match rest.strip_prefix('{') {
                Some(group) => group_heads(group).into_iter().for_each(&mut add),
                None => add(ident(rest)),
            }
        }
        let climb = depth(&f.path);
        for (at, _) in code.match_indices("super::") {
            if code[..at]
                .chars()
                .next_back()
                .is_some_and(|c| is_ident(c) || c == ':')
            {
                continue;
            }
            let mut rest = &code[at..];
            let mut ups = 0;
            while let Some(r) = rest.strip_prefix("super::") {
                ups += 1;
                rest = r;
            }
            if ups >= climb {
                match rest.strip_prefix('{') {
                    Some(group) => group_heads(group).into_iter().for_each(&mut add),
                    None => add(ident(rest)),
                }
            }
        }
    }
    g
}

/// Every circle: the strongly connected components with more than one
/// module (Tarjan), each with one cycle through it spelled out.
fn circles(g: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on.insert(v);
            for w in self.g.get(v).into_iter().flat_map(|e| e.keys()) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let l = self.low[v].min(self.low[w]);
                    self.low.insert(v, l);
                } else if self.on.contains(w) {
                    let l = self.low[v].min(self.index[w]);
                    self.low.insert(v, l);
                }
            }
            if self.low[v] == self.index[v] {
                let mut scc = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on.remove(w);
                    scc.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    scc.sort();
                    self.out.push(scc);
                }
            }
        }
    }
    let mut t = Tarjan {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out
}

/// One cycle inside `scc`, from its first module back to it.
fn cycle_in(g: &Graph, scc: &[String]) -> Vec<String> {
    let members: BTreeSet<&str> = scc.iter().map(String::as_str).collect();
    let start = scc[0].as_str();
    // Breadth-first from the start's successors back to the start.
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for w in g
            .get(v)
            .into_iter()
            .flat_map(|e| e.keys())
            .map(String::as_str)
        {
            if !members.contains(w) || came_from.contains_key(w) {
                continue;
            }
            came_from.insert(w, v);
            if w == start {
                let mut path = vec![start.to_string()];
                let mut at = v;
                while at != start {
                    path.push(at.to_string());
                    at = came_from[at];
                }
                path.push(start.to_string());
                path.reverse();
                return path;
            }
            queue.push_back(w);
        }
    }
    scc.to_vec()
}

/// A circle: the modules that reach each other, and one cycle through
/// them, each edge with the files that make it.
fn describe(g: &Graph, scc: &[String]) -> String {
    let cycle = cycle_in(g, scc);
    let mut s = format!(
        "circle among {}\n  for one: {}\n",
        scc.join(" "),
        cycle.join(" -> ")
    );
    for pair in cycle.windows(2) {
        let files = g[&pair[0]][&pair[1]]
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        s += &format!("    {} -> {}: {}\n", pair[0], pair[1], files);
    }
    s
}

/// Files outside the allowed modules whose code names `Producer`.
fn producer_outside(files: &[Source]) -> Vec<String> {
    files
        .iter()
        .filter(|f| top_module(&f.path).is_some_and(|m| !SEES_PRODUCER.contains(&m.as_str())))
        .filter_map(|f| {
            let code = code_of(&f.text);
            let lines: Vec<usize> = code
                .lines()
                .enumerate()
                .filter(|(_, l)| names(l, "Producer"))
                .map(|(i, _)| i + 1)
                .collect();
            (!lines.is_empty()).then(|| format!("{} (lines {lines:?})", f.path))
        })
        .collect()
}

/// The graph in layers: each module after everything it imports.
fn layers(g: &Graph) -> Vec<Vec<String>> {
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    while placed.len() < g.len() {
        let layer: Vec<&str> = g
            .iter()
            .filter(|(m, deps)| {
                !placed.contains(m.as_str()) && deps.keys().all(|d| placed.contains(d.as_str()))
            })
            .map(|(m, _)| m.as_str())
            .collect();
        if layer.is_empty() {
            break; // a circle: reported elsewhere
        }
        placed.extend(layer.iter().copied());
        out.push(layer.into_iter().map(String::from).collect());
    }
    out
}

/// Everything wrong with the sources' module graph, one line or circle
/// each; empty when the graph is as designed.
fn problems(files: &[Source], g: &Graph) -> String {
    let mut problems = String::new();
    for scc in circles(g) {
        problems += &describe(g, &scc);
    }
    let allowed = |m: &str, to: &str| m == BOTTOM && BENEATH_BOTTOM.contains(&to);
    for m in BENEATH_BOTTOM.iter().chain([&BOTTOM]) {
        for (to, files) in g.get(*m).into_iter().flatten() {
            if !allowed(m, to) {
                let files: Vec<&str> = files.iter().map(String::as_str).collect();
                problems += &format!("{m} imports {to} ({})\n", files.join(", "));
            }
        }
    }
    for f in producer_outside(files) {
        problems += &format!("names Producer outside {SEES_PRODUCER:?}: {f}\n");
    }
    problems
}

#[test]
fn the_core_modules_form_a_dag_and_only_producer_sees_producer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = sources(&src);
    let g = graph(&files);
    assert!(
        g.len() > 10,
        "found only {} top-level modules in {}",
        g.len(),
        src.display()
    );

    for (i, layer) in layers(&g).iter().enumerate() {
        let line: Vec<String> = layer
            .iter()
            .map(|m| {
                let deps: Vec<&str> = g[m].keys().map(String::as_str).collect();
                if deps.is_empty() {
                    m.clone()
                } else {
                    format!("{m} <- {}", deps.join(" "))
                }
            })
            .collect();
        println!("layer {i}: {}", line.join("; "));
    }

    let problems = problems(&files, &g);
    assert!(
        problems.is_empty(),
        "the core's module graph is not as designed:\n{problems}"
    );
}

/// The checker itself: it must see the circles and names the real test is
/// there to catch, or a pass would mean nothing.
#[test]
fn the_checker_finds_circles_producer_and_wire_imports() {
    let file = |path: &str, text: &str| Source {
        path: path.to_string(),
        text: text.to_string(),
    };
    let files = vec![
        file("lib.rs", "mod a;\npub use c::Thing;\n"),
        // a -> b by a path, b -> c by a `use` group, c -> a by `super::`
        // from a nested file, and a -> c through a root re-export.
        file("a.rs", "use crate::b::X;\nfn f(_: crate::Thing) {}\n"),
        file(
            "b/mod.rs",
            "use crate::{c::{Y, Z}, wire};\n// crate::d in a comment is no import\n",
        ),
        file("c/inner.rs", "use super::super::a;\nstruct Producer;\n"),
        file("d.rs", "/* crate::a */ const S: &str = \"x\";\n"),
        file("wire/mod.rs", "use crate::d::S;\n"),
        file("producer/mod.rs", "pub struct Producer;\n"),
    ];
    let g = graph(&files);
    let edges = |m: &str| g[m].keys().cloned().collect::<Vec<_>>();
    assert_eq!(edges("a"), ["b", "c"]);
    assert_eq!(edges("b"), ["c", "wire"]);
    assert_eq!(edges("c"), ["a"]);
    assert!(edges("d").is_empty(), "comments import nothing");
    assert_eq!(edges("wire"), ["d"]);

    let found = circles(&g);
    assert_eq!(found, [vec!["a".to_string(), "b".into(), "c".into()]]);
    let text = describe(&g, &found[0]);
    assert!(
        text.starts_with("circle among a b c\n  for one: a -> "),
        "{text}"
    );
    assert!(text.contains("c -> a: c/inner.rs"), "{text}");

    let outside = producer_outside(&files);
    assert_eq!(outside.len(), 1, "{outside:?}");
    assert!(outside[0].starts_with("c/inner.rs"), "{outside:?}");

    let all = problems(&files, &g);
    assert!(all.contains("circle among a b c"), "{all}");
    assert!(all.contains("wire imports d (wire/mod.rs)"), "{all}");
    assert!(all.contains("names Producer outside"), "{all}");

    // Without the circle, the wire import and the stray name: no problem.
    let fixed = vec![
        file(
            "lib.rs",
            "pub use c::Thing;\npub use kafka_code::KafkaCode;\n",
        ),
        file("a.rs", "use crate::b::X;\nfn f(_: crate::Thing) {}\n"),
        file("b/mod.rs", "use crate::{c::{Y, Z}, wire};\n"),
        file("c/inner.rs", "use super::super::wire;\n"),
        file("wire/mod.rs", "use crate::KafkaCode;\n"),
        file("kafka_code.rs", "pub enum KafkaCode {}\n"),
        file("producer/mod.rs", "use crate::a;\npub struct Producer;\n"),
    ];
    let g = graph(&fixed);
    assert_eq!(problems(&fixed, &g), "");
    assert_eq!(
        layers(&g).len(),
        6,
        "kafka_code, wire, c, b, a, then producer"
    );
}
