//! The README and the guide (docs/guide) as a reader meets them: no rustdoc-hidden lines in
//! their code, every code listing compiled somewhere, every relative link and anchor alive,
//! and the README a landing page whose first two commands are the ones CI runs.
//!
//! How the guide's code is compiled: a `rust` block is a doctest (tests/src/lib.rs includes
//! each chapter that has one), and an `rs` block holds only mdbook `{{#include}}`s of files
//! the workspace (or docs/guide/migrations/before) builds, by anchor. The link check stands in for mdbook-linkcheck: it
//! reads the markdown sources, so it needs no HTML build.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Where the repository is published: links to its files from the guide use this prefix (a
/// book served on its own has no `../..`), and are checked against the working tree.
const REPOSITORY: &str = "https://github.com/tower-refresh-auth/tower-refresh-auth";

/// The info string of the guide's blocks that include compiled files by anchor: Rust to
/// GitHub's and mdbook's highlighters, no language to rustdoc, so not a doctest (which a
/// `{{#include}}` line is not).
const INCLUDES: &str = "rs";

/// The README is a landing page, not a manual.
const README_LIMIT: usize = 10 * 1024;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// README.md, the adapters' READMEs and every chapter of the guide.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![
        root().join("README.md"),
        root().join("adapters/axum/README.md"),
        root().join("adapters/poem/README.md"),
    ];
    let mut dirs = vec![root().join("docs/guide/src")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A fenced code block: its info string, its lines, and the line of its opening fence.
struct Block {
    info: String,
    lines: Vec<String>,
    line: usize,
}

impl Block {
    /// Whether rustdoc compiles this block as Rust (no language, or a `rust`-ish one).
    fn is_rust(&self) -> bool {
        let first = self.info.split([',', ' ']).next().unwrap_or("");
        first.is_empty()
            || first == "rust"
            || [
                "no_run",
                "ignore",
                "should_panic",
                "compile_fail",
                "edition",
            ]
            .iter()
            .any(|attr| first.starts_with(attr))
    }

    fn is_ignored(&self) -> bool {
        self.info.split([',', ' ']).any(|attr| attr == "ignore")
    }
}

/// The fenced blocks of a markdown text, and the text outside them (line by line, with its
/// line number).
fn split(text: &str) -> (Vec<Block>, Vec<(usize, String)>) {
    let mut blocks = Vec::new();
    let mut prose = Vec::new();
    let mut open: Option<(String, Block)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            Some((fence, block)) => {
                if trimmed.starts_with(fence.as_str()) && trimmed.trim_end() == fence.as_str() {
                    blocks.push(open.take().expect("open").1);
                } else {
                    block.lines.push(line.to_owned());
                }
            }
            None => {
                let ticks = trimmed.len() - trimmed.trim_start_matches('`').len();
                if ticks >= 3 {
                    let fence = "`".repeat(ticks);
                    let info = trimmed[ticks..].trim().to_owned();
                    open = Some((
                        fence,
                        Block {
                            info,
                            lines: Vec::new(),
                            line: n + 1,
                        },
                    ));
                } else {
                    prose.push((n + 1, line.to_owned()));
                }
            }
        }
    }
    assert!(open.is_none(), "a code block is never closed");
    (blocks, prose)
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A line rustdoc would hide: `#` alone or `# ` followed by code (`#[…]` and `#!` are code).
fn is_hidden(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed == "#" || trimmed.starts_with("# ")
}

#[test]
fn no_code_block_has_rustdoc_hidden_lines() {
    let mut found = Vec::new();
    for path in documents() {
        let (blocks, _) = split(&read(&path));
        for block in blocks.iter().filter(|b| b.is_rust()) {
            for (i, line) in block.lines.iter().enumerate() {
                if is_hidden(line) {
                    found.push(format!(
                        "{}:{}: {line}",
                        relative(&path),
                        block.line + 1 + i
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "hidden `# ` lines render as code on GitHub and in the book:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_readme_is_a_landing_page_whose_commands_ci_runs() {
    let readme = read(&root().join("README.md"));
    assert!(
        readme.len() < README_LIMIT,
        "README.md is {} bytes, over {README_LIMIT}",
        readme.len()
    );
    let (blocks, _) = split(&readme);
    let commands = blocks
        .iter()
        .find(|b| b.info == "sh")
        .expect("a sh block in README.md");
    let first: Vec<&str> = commands
        .lines
        .iter()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .collect();
    assert_eq!(
        first.get(..2),
        Some(&["cargo run -p axum-dashboard", "cargo test --workspace"][..]),
        "the README's first two commands changed: .ci/run checks the first and runs the second",
    );
    let ci = read(&root().join(".ci/run"));
    assert!(
        ci.contains("cargo run -q -p axum-dashboard"),
        ".ci/run no longer runs the README's first command"
    );
    assert!(
        ci.contains("cargo test --workspace -- --include-ignored"),
        ".ci/run no longer runs the README's test command"
    );
}

/// `{{#include path:anchor}}` (or without an anchor) in a line, as mdbook reads it.
fn include(line: &str) -> Option<(&str, Option<&str>)> {
    let inner = line
        .trim()
        .strip_prefix("{{#include ")?
        .strip_suffix("}}")?
        .trim();
    Some(match inner.rsplit_once(':') {
        Some((file, anchor)) if !anchor.contains('/') => (file, Some(anchor)),
        _ => (inner, None),
    })
}

#[test]
fn every_guide_listing_is_compiled() {
    let lib = read(&root().join("tests/src/lib.rs"));
    let mut problems = Vec::new();
    for path in documents()
        .into_iter()
        .filter(|p| p.starts_with(root().join("docs")))
    {
        let (blocks, _) = split(&read(&path));
        let mut doctests = false;
        for block in &blocks {
            let at = format!("{}:{}", relative(&path), block.line);
            let includes: Vec<_> = block.lines.iter().filter_map(|l| include(l)).collect();
            if block.info == INCLUDES {
                let lines = block.lines.iter().filter(|l| !l.trim().is_empty()).count();
                if includes.is_empty() || includes.len() != lines {
                    problems.push(format!(
                        "{at}: an `{INCLUDES}` block holds only {{{{#include}}}}s of compiled files"
                    ));
                }
                for (file, anchor) in includes {
                    let target = path.parent().expect("a chapter's directory").join(file);
                    let Ok(source) = fs::read_to_string(&target) else {
                        problems.push(format!("{at}: {file} does not exist"));
                        continue;
                    };
                    for marker in anchor
                        .into_iter()
                        .flat_map(|a| [format!("ANCHOR: {a}"), format!("ANCHOR_END: {a}")])
                    {
                        if !source.lines().any(|l| l.trim() == format!("// {marker}")) {
                            problems.push(format!("{at}: {file} has no `// {marker}`"));
                        }
                    }
                }
            } else if block.is_rust() {
                doctests = true;
                if block.is_ignored() {
                    problems.push(format!(
                        "{at}: an ignored block is compiled nowhere: include a compiled file in an `{INCLUDES}` block"
                    ));
                }
                if !includes.is_empty() {
                    problems.push(format!(
                        "{at}: an {{{{#include}}}} in a doctest block (make it an `{INCLUDES}` block)"
                    ));
                }
            } else if !includes.is_empty() {
                problems.push(format!(
                    "{at}: an {{{{#include}}}} outside an `{INCLUDES}` block"
                ));
            }
        }
        let chapter = path.strip_prefix(root()).expect("inside the repository");
        let included = lib.contains(&format!("include_str!(\"../../{}\")", chapter.display()));
        if doctests && !included {
            problems.push(format!(
                "{}: has rust blocks, but tests/src/lib.rs does not doctest it",
                relative(&path)
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The anchor GitHub and mdbook give a heading: lower case, letters, digits, `-` and `_`
/// kept, spaces made `-`, the rest dropped.
fn slug(heading: &str) -> String {
    let mut text = String::new();
    // `[text](url)` counts as its text.
    let mut rest = heading;
    while let Some(start) = rest.find('[') {
        text.push_str(&rest[..start]);
        match rest[start..].find("](").zip(rest[start..].find(')')) {
            Some((mid, end)) if mid < end => {
                text.push_str(&rest[start + 1..start + mid]);
                rest = &rest[start + end + 1..];
            }
            _ => {
                text.push('[');
                rest = &rest[start + 1..];
            }
        }
    }
    text.push_str(rest);
    text.chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    let (_, prose) = split(markdown);
    prose
        .iter()
        .filter_map(|(_, line)| line.strip_prefix('#'))
        .map(|heading| slug(heading.trim_start_matches('#').trim()))
        .collect()
}

/// The link targets of a line of prose, inline code left out.
fn links(line: &str) -> Vec<String> {
    let mut prose = String::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 0 {
            prose.push_str(part);
        }
    }
    let mut found = Vec::new();
    let mut rest = prose.as_str();
    while let Some(at) = rest.find("](") {
        let tail = &rest[at + 2..];
        let end = tail.find(')').unwrap_or(tail.len());
        let target = tail[..end].split_whitespace().next().unwrap_or("");
        found.push(target.to_owned());
        rest = &tail[end..];
    }
    found
}

/// `a/b/../c` as `a/c`, without touching the file system.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut broken = Vec::new();
    for path in documents() {
        let (_, prose) = split(&read(&path));
        for (n, line) in &prose {
            for target in links(line) {
                let (address, anchor) = match target.split_once('#') {
                    Some((address, anchor)) => (address, Some(anchor)),
                    None => (target.as_str(), None),
                };
                let file = if let Some(tail) = address.strip_prefix(REPOSITORY) {
                    let in_tree = tail
                        .strip_prefix("/blob/main/")
                        .or_else(|| tail.strip_prefix("/tree/main/"));
                    match in_tree {
                        Some(file) => root().join(file),
                        None if tail.is_empty() => continue,
                        None => {
                            broken.push(format!(
                                "{}:{n}: {target}: link to /blob/main/ or /tree/main/",
                                relative(&path)
                            ));
                            continue;
                        }
                    }
                } else if address.contains("://") || address.starts_with("mailto:") {
                    continue;
                } else if address.is_empty() {
                    path.clone()
                } else {
                    normalise(&path.parent().expect("a directory").join(address))
                };
                if !file.exists() {
                    broken.push(format!("{}:{n}: {target}: no such file", relative(&path)));
                } else if let Some(anchor) = anchor
                    && file.extension().is_some_and(|e| e == "md")
                    && !anchors(&read(&file)).contains(anchor)
                {
                    broken.push(format!(
                        "{}:{n}: {target}: no heading with that anchor",
                        relative(&path)
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn slugs_are_githubs() {
    assert_eq!(slug("§1b gRPC calls"), "1b-grpc-calls");
    assert_eq!(
        slug("§7 Published keys — `GET /.well-known/jwks.json`"),
        "7-published-keys--get-well-knownjwksjson"
    );
    assert_eq!(
        slug("Rotation, grace, roll forward, reuse"),
        "rotation-grace-roll-forward-reuse"
    );
    assert_eq!(
        links("see [a](b.md#c) and `[x](y)` and ![p](q.svg)"),
        ["b.md#c", "q.svg"]
    );
    assert_eq!(
        include("{{#include ../x.rs:app}}"),
        Some(("../x.rs", Some("app")))
    );
    assert!(is_hidden("# fn main() {") && is_hidden("#") && !is_hidden("#[derive(Debug)]"));
}
