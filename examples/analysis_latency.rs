//! Per-edit latency of the incremental analysis API (what the LSP calls on every keystroke):
//! one-character inserts and deletes at random places of FILE, each followed by the rules;
//! prints p50/p90/p99/max, and the cost of a full re-parse + re-analysis for comparison.
//!
//! Usage: cargo run --release --example analysis_latency -- FILE [EDITS] [eol|any]

#![allow(clippy::print_stdout, clippy::print_stderr)]

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
    println!(
        "file={path} mode={mode} lines={} edits={edits} open_ms={:.2} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} max_ms={:.3} mean_units_reanalysed={:.2} full_reanalysis_ms={:.2} findings={}",
        text.lines().count(),
        open.as_secs_f64() * 1000.0,
        percentile(&times, 0.5),
        percentile(&times, 0.9),
        percentile(&times, 0.99),
        percentile(&times, 1.0),
        units as f64 / edits as f64,
        full.as_secs_f64() * 1000.0,
        doc.findings().count(),
    );
    Ok(())
}
