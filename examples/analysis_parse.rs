//! The throughput floor of `kiln check`: walk the same paths the same way (respecting
//! .gitignore), read each source file and parse it with tree-sitter on the same number of
//! threads, with no rules, no findings and no report. bench/analysis.sh times it next to kiln
//! and ruff, so "kiln / bare parse" shows what the analysis framework costs on top of parsing.
//!
//! Usage: cargo run --release --example analysis_parse -- [--threads N] PATH...

#![allow(clippy::print_stdout)]
// A benchmark tool: a failed set-up step ends it with its message.
#![allow(clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use kiln::engine::analysis::Language;

fn main() -> anyhow::Result<()> {
    let mut threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut roots = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--threads" {
            threads = args
                .next()
                .ok_or_else(|| anyhow::anyhow!("--threads needs a number"))?
                .parse()?;
        } else {
            roots.push(PathBuf::from(a));
        }
    }
    let mut files: Vec<(PathBuf, Language)> = Vec::new();
    for root in &roots {
        let walker = ignore::WalkBuilder::new(root)
            .follow_links(true)
            .require_git(false)
            .build();
        for entry in walker.flatten() {
            if entry.file_type().is_some_and(|t| t.is_file()) {
                let p = entry.into_path();
                if let Some(l) = p
                    .extension()
                    .and_then(|x| x.to_str())
                    .and_then(Language::from_extension)
                {
                    files.push((p, l));
                }
            }
        }
    }
    let next = AtomicUsize::new(0);
    let nodes = AtomicUsize::new(0);
    let bytes = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.min(files.len().max(1)) {
            s.spawn(|| {
                let mut parsers: HashMap<Language, tree_sitter::Parser> = HashMap::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((path, lang)) = files.get(i) else {
                        break;
                    };
                    let Ok(data) = std::fs::read(path) else {
                        continue;
                    };
                    let text = String::from_utf8_lossy(&data);
                    let parser = parsers.entry(*lang).or_insert_with(|| {
                        let mut p = tree_sitter::Parser::new();
                        p.set_language(&lang.grammar())
                            .expect("kiln's grammars load");
                        p
                    });
                    if let Some(tree) = parser.parse(text.as_bytes(), None) {
                        nodes.fetch_add(tree.root_node().descendant_count(), Ordering::Relaxed);
                    }
                    bytes.fetch_add(data.len(), Ordering::Relaxed);
                }
            });
        }
    });
    println!(
        "parsed {} files, {} bytes, {} nodes on {threads} threads",
        files.len(),
        bytes.into_inner(),
        nodes.into_inner()
    );
    Ok(())
}
