//! The core's modules depend on each other one way only: no cycle among `crate::…` paths, and
//! no pair of modules that call each other.
//!
//! A reader should be able to read the crate top to bottom (the authority's methods, the
//! tower face, the decision, the routes, the components — sessions, DPoP, access tokens —
//! configuration, stores, leaves). This test reads every source file, collects the top-level
//! modules each one names with `crate::…` outside comments and unit tests, and fails on any
//! cycle, printing it.
//!
//! An import graph does not see a call through a shared value (`shared.sessions.refresh(…)`
//! names no module), so the test also collects, per module, the crate-internal functions it
//! defines (`pub(crate)` and `pub(super)`) and the names it calls: a call to a name exactly
//! one module defines is a use of that module, and two modules that use each other — by
//! import or by call — fail the test.
//!
//! The files a refresh reads are written down in `src/sessions/mod.rs` ("a refresh reads:
//! a → b → …"); the test holds the code to that line: at most five files, each called from
//! one before it, none calling back into one before it, and nothing else among the
//! components (routes, sessions, tokens, DPoP) reached from the route but the branches
//! the docs name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Names also used for methods of the standard library and of dependencies: a call to one says
/// nothing about which module it reaches.
const AMBIGUOUS: &[&str] = &[
    "len", "is_empty", "store", "load", "get", "insert", "remove", // collections, arc-swap
    "first", "check", "status", "open", "seal", "spawn",
    "ms", // slices, tokio, aead, durations
];

/// What the source files say, per top-level module.
#[derive(Default)]
struct Sources {
    /// The top-level modules each one names with `crate::…`.
    imports: BTreeMap<String, BTreeSet<String>>,
    /// The crate-internal functions each one defines.
    defines: BTreeMap<String, BTreeSet<String>>,
    /// Every function each one defines, methods of trait implementations too.
    all: BTreeMap<String, BTreeSet<String>>,
    /// The names each one calls.
    calls: BTreeMap<String, BTreeSet<String>>,
}

/// `code` without comments and attributes, and with string literals emptied.
fn code_only(text: &str) -> String {
    // Unit tests may use anything.
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = String::new();
    for line in code.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") || trimmed.starts_with("#[") {
            continue;
        }
        let mut in_string = false;
        let mut escaped = false;
        for c in line.chars() {
            match (in_string, escaped, c) {
                (true, false, '\\') => escaped = true,
                (true, false, '"') => in_string = false,
                (true, _, _) => escaped = false,
                (false, _, '"') => in_string = true,
                (false, _, c) => out.push(c),
            }
        }
        out.push('\n');
    }
    out
}

/// The identifiers in `code` directly followed by `(` (or by a turbofish and `(`).
fn called(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = code.as_bytes();
    let ident = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if !ident(bytes[i]) || (i > 0 && (ident(bytes[i - 1]) || bytes[i - 1].is_ascii_uppercase()))
        {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && ident(bytes[i]) {
            i += 1;
        }
        let rest = &code[i..];
        let rest = match rest.strip_prefix("::<") {
            Some(generic) => generic.find('>').map_or("", |end| &generic[end + 1..]),
            None => rest,
        };
        if rest.starts_with('(') {
            names.insert(code[start..i].to_owned());
        }
    }
    names
}

/// The functions `code` defines for the rest of the crate.
fn defined(code: &str) -> BTreeSet<String> {
    defined_with(code, &["pub(crate) ", "pub(super) "])
}

/// The functions `code` defines, whatever their visibility.
fn defined_any(code: &str) -> BTreeSet<String> {
    defined_with(code, &[""])
}

fn defined_with(code: &str, visibilities: &[&str]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for visibility in visibilities {
        for (i, _) in code.match_indices(visibility) {
            let rest = code[i + visibility.len()..]
                .trim_start_matches("const ")
                .trim_start_matches("async ");
            let at_word = code[..i].ends_with(|c: char| !c.is_ascii_alphanumeric() && c != '_');
            if let Some(rest) = rest.strip_prefix("fn ").filter(|_| i == 0 || at_word) {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                names.insert(name);
            }
        }
    }
    names
}

/// A unit-test file (`tests.rs`, included under `#[cfg(test)]`): test code may import and
/// call anything, as the part of a file after `#[cfg(test)]` may.
fn is_unit_test(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name == "tests.rs")
}

fn collect_sources(dir: &Path, root: &Path, sources: &mut Sources) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect_sources(&path, root, sources);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs")
            || path.ends_with("lib.rs")
            || is_unit_test(&path)
        {
            continue;
        }
        let relative = path.strip_prefix(root).expect("under src");
        let first = relative
            .components()
            .next()
            .expect("a path component")
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        let code = code_only(&std::fs::read_to_string(&path).expect("a UTF-8 source file"));
        sources
            .defines
            .entry(module.clone())
            .or_default()
            .extend(defined(&code));
        sources
            .all
            .entry(module.clone())
            .or_default()
            .extend(defined_any(&code));
        sources
            .calls
            .entry(module.clone())
            .or_default()
            .extend(called(&code));
    }
    collect(dir, root, &mut sources.imports);
}

/// Module `a` uses module `b` when it imports it, or calls a crate-internal function of `b`
/// whose name no other module defines (a trait's method, implemented in many, is no
/// evidence).
fn uses(sources: &Sources) -> BTreeMap<String, BTreeSet<String>> {
    let mut owners: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (module, names) in &sources.all {
        for name in names {
            owners.entry(name).or_default().insert(module);
        }
    }
    let mut graph = sources.imports.clone();
    for (module, names) in &sources.calls {
        for name in names {
            if AMBIGUOUS.contains(&name.as_str()) {
                continue;
            }
            if let Some(owner) = owners.get(name.as_str())
                && let [owner] = owner.iter().copied().collect::<Vec<_>>()[..]
                && owner != module
                && sources.defines.get(owner).is_some_and(|d| d.contains(name))
            {
                graph
                    .entry(module.clone())
                    .or_default()
                    .insert(owner.to_owned());
            }
        }
    }
    graph
}

/// Every pair of modules that use each other.
fn mutual(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for (a, used) in graph {
        for b in used {
            if a < b && graph.get(b).is_some_and(|back| back.contains(a)) {
                pairs.push((a.clone(), b.clone()));
            }
        }
    }
    pairs
}

fn collect(dir: &Path, root: &Path, graph: &mut BTreeMap<String, BTreeSet<String>>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(&path, root, graph);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs")
            || path.ends_with("lib.rs")
            || is_unit_test(&path)
        {
            continue;
        }
        let relative = path.strip_prefix(root).expect("under src");
        let first = relative
            .components()
            .next()
            .expect("a path component")
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        let text = std::fs::read_to_string(&path).expect("a UTF-8 source file");
        // Unit tests may import anything.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let deps = graph.entry(module.clone()).or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let name: String = line[i + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    deps.insert(name);
                }
            }
        }
    }
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, bool>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), false);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if !graph.contains_key(next) {
                continue;
            }
            match state.get(next) {
                Some(false) => {
                    let start = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(true) => {}
                None => {
                    if let Some(cycle) = visit(next, graph, state, stack) {
                        return Some(cycle);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_owned(), true);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node)
            && let Some(cycle) = visit(node, graph, &mut state, &mut Vec::new())
        {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn the_core_modules_import_each_other_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    collect(&src, &src, &mut graph);
    assert!(graph.len() > 10, "found only {:?}", graph.keys());
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "import cycle among the core's modules: {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn no_two_core_modules_call_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = Sources::default();
    collect_sources(&src, &src, &mut sources);
    let graph = uses(&sources);
    // `check_session` is called through `Shared`, never imported.
    assert!(
        graph
            .get("verification")
            .is_some_and(|used| used.contains("sessions")),
        "the call graph misses calls: {graph:?}"
    );
    let pairs = mutual(&graph);
    assert!(pairs.is_empty(), "modules that use each other: {pairs:?}");
}

#[test]
fn a_pair_that_calls_each_other_is_found() {
    let code = |text: &str| code_only(text);
    let mut sources = Sources::default();
    for (module, text) in [
        ("a", "pub(crate) async fn start() {}"),
        ("b", "pub(crate) fn finish() {}"),
    ] {
        sources.defines.insert(module.into(), defined(&code(text)));
        sources.all.insert(module.into(), defined_any(&code(text)));
    }
    sources
        .calls
        .insert("a".into(), called(&code("shared.finish();")));
    sources
        .calls
        .insert("b".into(), called(&code("x.start().await; // end()")));
    assert_eq!(mutual(&uses(&sources)), [("a".to_owned(), "b".to_owned())]);
    // A name in a string or a comment is no call, nor is an ambiguous one.
    sources
        .calls
        .insert("b".into(), called(&code("let s = \"start()\"; v.len();")));
    assert_eq!(mutual(&uses(&sources)), []);
    // Nor is a call to a name another module defines too (a trait's method, say).
    sources
        .calls
        .insert("b".into(), called(&code("x.start().await;")));
    sources
        .all
        .insert("c".into(), defined_any(&code("fn start(&self) {}")));
    assert_eq!(mutual(&uses(&sources)), []);
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    graph.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(find_cycle(&graph).map(|c| c.len()), Some(4));
    graph.insert("c".to_owned(), BTreeSet::new());
    assert_eq!(find_cycle(&graph), None);
}

/// What one source file defines and calls, by its path under `src`.
#[derive(Default)]
struct File {
    /// Its crate-internal functions (`pub(crate)`, `pub(super)`).
    defines: BTreeSet<String>,
    /// Every function it defines.
    all: BTreeSet<String>,
    /// The names it calls.
    calls: BTreeSet<String>,
}

fn files(dir: &Path, root: &Path, out: &mut BTreeMap<String, File>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files(&path, root, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(root).expect("under src");
        let name = relative.to_string_lossy().replace('\\', "/");
        let code = code_only(&std::fs::read_to_string(&path).expect("a UTF-8 source file"));
        out.insert(
            name,
            File {
                defines: defined(&code),
                all: defined_any(&code),
                calls: called(&code),
            },
        );
    }
}

/// The files `path` written down in `doc` after `label` ("a refresh reads: a → b → c").
fn documented(doc: &str, label: &str) -> Vec<String> {
    let line = doc
        .lines()
        .map(|l| l.trim_start_matches("//!").trim())
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no line `{label} …` in the docs"));
    line.split('→').map(|f| f.trim().to_owned()).collect()
}

/// The file that defines `name` for the rest of the crate, when exactly one file defines a
/// function of that name at all (a method many types have is no evidence).
fn owner<'a>(all: &'a BTreeMap<String, File>, name: &str) -> Option<&'a str> {
    if AMBIGUOUS.contains(&name) {
        return None;
    }
    let mut owners = all.iter().filter(|(_, f)| f.all.contains(name));
    match (owners.next(), owners.next()) {
        (Some((file, f)), None) if f.defines.contains(name) => Some(file),
        _ => None,
    }
}

/// The components a request's path is judged among: the routes, sessions, tokens and DPoP.
/// The leaves every component uses (the store's trait, telemetry, errors, the clock, the
/// request-body reader, the cookie transport) are not steps of a path.
fn is_component(file: &str) -> bool {
    ["routes/", "sessions/", "token/", "dpop/"]
        .iter()
        .any(|dir| file.starts_with(dir))
        && file != "routes/request.rs"
}

/// The branches a refresh takes besides its path, as `src/sessions/mod.rs` names them: the
/// DPoP binding (with DPoP on) and the revocation of a reuse.
const REFRESH_BRANCHES: &[&str] = &[
    "sessions/binding.rs",
    "dpop/policy.rs",
    "sessions/revoking.rs",
];

#[test]
fn a_refresh_reads_at_most_five_files_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = BTreeMap::new();
    files(&src, &src, &mut all);
    let doc = std::fs::read_to_string(src.join("sessions/mod.rs")).expect("sessions/mod.rs");
    let path = documented(&doc, "a refresh reads:");
    assert!(
        path.len() <= 5,
        "a refresh reads {} files: {path:?}",
        path.len()
    );
    for branch in REFRESH_BRANCHES {
        assert!(
            doc.contains(branch),
            "the docs do not name the branch {branch}"
        );
    }
    let file = |name: &str| {
        all.get(name)
            .unwrap_or_else(|| panic!("{name}, on the refresh's path, does not exist"))
    };
    for (i, later) in path.iter().enumerate().skip(1) {
        // Each file is called from one before it…
        let defines = &file(later).defines;
        assert!(
            path[..i]
                .iter()
                .any(|earlier| file(earlier).calls.iter().any(|c| defines.contains(c))),
            "nothing before {later} on the refresh's path calls it: {path:?}"
        );
        // …and calls back into none of them.
        for earlier in &path[..i] {
            let back: Vec<&String> = file(later)
                .calls
                .iter()
                .filter(|c| owner(&all, c) == Some(earlier.as_str()))
                .collect();
            assert!(
                back.is_empty(),
                "{later} calls back into {earlier}: {back:?}"
            );
        }
    }
    // Every component file the route reaches is on the path or one of the named branches.
    // The last file is where the path ends: what else it does (verifying, the cache) is
    // not the refresh's.
    let route = &path[1];
    let end = &path[path.len() - 1];
    let mut reached = BTreeSet::from([route.clone()]);
    let mut todo = vec![route.clone()];
    while let Some(at) = todo.pop() {
        if at == *end || REFRESH_BRANCHES.contains(&at.as_str()) {
            continue;
        }
        for name in &file(&at).calls {
            if let Some(next) = owner(&all, name).filter(|f| is_component(f) && *f != at)
                && reached.insert(next.to_owned())
            {
                todo.push(next.to_owned());
            }
        }
    }
    let stray: Vec<&String> = reached
        .iter()
        .filter(|f| !path.contains(f) && !REFRESH_BRANCHES.contains(&f.as_str()))
        .collect();
    assert!(
        stray.is_empty(),
        "the refresh reaches {stray:?}, neither on its documented path {path:?} nor a branch"
    );
    // The path is real: the route reaches every file on it.
    for step in &path[1..] {
        assert!(
            reached.contains(step),
            "the route never reaches {step}: {reached:?}"
        );
    }
}
