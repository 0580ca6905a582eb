//! Per-edit latency of the incremental analysis API (what the LSP calls on every keystroke):
//! one-character inserts and deletes at random places of FILE, each followed by the rules;
//! prints p50/p90/p99/max, the cost of a full re-parse + re-analysis for comparison, and the
//! floor: the same edits replayed on a bare tree-sitter parser (text edit, `Tree::edit`,
//! incremental re-parse, no rules), which no incremental analysis can beat.
//!
//! Usage: cargo run --release --example analysis_latency -- FILE [EDITS] [eol|any]

#![allow(clippy::print_stdout, clippy::print_stderr)]
// A benchmark tool: a failed set-up step ends it with its message.
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use kiln::engine::analysis::{
    Document, FileKind, Language, LineIndex, Range, RuleSet, TextChange, analyze_source,
};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: analysis_latency FILE [EDITS]"))?;
    let edits: usize = args.next().map_or(Ok(2000), |s| s.parse())?;
    let mode = args.next().unwrap_or_else(|| "eol".to_owned());
    let text = std::fs::read_to_string(&path)?;
    let lang =
        Language::detect(std::path::Path::new(&path), text.as_bytes()).unwrap_or(Language::Python);
    let rules = RuleSet::default();
    let t = Instant::now();
    let mut doc = Document::new(text.clone(), lang, FileKind::default(), &rules)?;
    let open = t.elapsed();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rand = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    let mut times = Vec::with_capacity(edits);
    let mut units = 0;
    // As ../shared/tools/lsp-latency.py: insert a character, remove it on the next edit, so
    // the text is valid every other edit. Mode `eol` adds a space at the end of a random line
    // (what lsp-latency.py does); mode `any` types 'x' at a random byte (often a syntax error).
    let mut pending: Option<Range> = None;
    // (start byte, old end byte, inserted text) of every edit, replayed for the floor.
    let mut replay: Vec<(usize, usize, &'static str)> = Vec::with_capacity(edits);
    for _ in 0..edits {
        let current = doc.text();
        let lines = LineIndex::new(current);
        let change = if let Some(range) = pending.take() {
            TextChange {
                range: Some(range),
                text: String::new(),
            }
        } else {
            let at = if mode == "eol" {
                let line = rand(lines.line_count().saturating_sub(1).max(1));
                lines.line_span(current, line).1
            } else {
                let mut at = rand(current.len());
                while !current.is_char_boundary(at) {
                    at -= 1;
                }
                at
            };
            let pos = lines.position(current, at);
            let text = if mode == "eol" { " " } else { "x" };
            let mut end = pos;
            end.character += 1;
            pending = Some(Range { start: pos, end });
            TextChange {
                range: Some(Range {
                    start: pos,
                    end: pos,
                }),
                text: text.into(),
            }
        };
        let range = change
            .range
            .expect("every generated change is a range edit");
        let start = lines
            .offset(current, range.start)
            .expect("generated inside the text");
        let end = lines
            .offset(current, range.end)
            .expect("generated inside the text");
        replay.push((
            start,
            end,
            if change.text.is_empty() {
                ""
            } else if mode == "eol" {
                " "
            } else {
                "x"
            },
        ));
        let t = Instant::now();
        doc.apply_changes(&[change], &rules)?;
        let n = doc.findings().count();
        times.push(t.elapsed());
        units += doc.last_reanalysed();
        std::hint::black_box(n);
    }
    times.sort();
    let full_runs = 20;
    let t = Instant::now();
    for _ in 0..full_runs {
        std::hint::black_box(analyze_source(doc.text(), lang, FileKind::default(), &rules)?.len());
    }
    let full = t.elapsed() / full_runs;
    let floor = reparse_floor(&text, lang, &replay)?;
    println!(
        "file={path} mode={mode} lines={} edits={edits} open_ms={:.2} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} max_ms={:.3} mean_units_reanalysed={:.2} full_reanalysis_ms={:.2} findings={} floor_p50_ms={:.3} floor_p99_ms={:.3}",
        text.lines().count(),
        open.as_secs_f64() * 1000.0,
        percentile(&times, 0.5),
        percentile(&times, 0.9),
        percentile(&times, 0.99),
        percentile(&times, 1.0),
        units as f64 / edits as f64,
        full.as_secs_f64() * 1000.0,
        doc.findings().count(),
        percentile(&floor, 0.5),
        percentile(&floor, 0.99),
    );
    Ok(())
}

/// Per-edit time of tree-sitter alone: the text edit, `Tree::edit` and the incremental re-parse.
fn reparse_floor(
    text: &str,
    lang: Language,
    edits: &[(usize, usize, &str)],
) -> anyhow::Result<Vec<Duration>> {
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(&lang.grammar())?;
    let mut text = text.to_owned();
    let mut tree = parser
        .parse(&text, None)
        .ok_or_else(|| anyhow::anyhow!("parse failed"))?;
    let point = |t: &str, byte: usize| {
        let before = &t[..byte];
        let row = before.bytes().filter(|&b| b == b'\n').count();
        let column = byte - before.rfind('\n').map_or(0, |i| i + 1);
        tree_sitter::Point { row, column }
    };
    let mut times = Vec::with_capacity(edits.len());
    for &(start, old_end, insert) in edits {
        // Points are computed outside the timed part (the LSP side keeps a line index).
        let start_position = point(&text, start);
        let old_end_position = point(&text, old_end);
        let new_end_position = tree_sitter::Point {
            row: start_position.row,
            column: start_position.column + insert.len(),
        };
        let t = Instant::now();
        text.replace_range(start..old_end, insert);
        tree.edit(&tree_sitter::InputEdit {
            start_byte: start,
            old_end_byte: old_end,
            new_end_byte: start + insert.len(),
            start_position,
            old_end_position,
            new_end_position,
        });
        tree = parser
            .parse(&text, Some(&tree))
            .ok_or_else(|| anyhow::anyhow!("parse failed"))?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times)
}
