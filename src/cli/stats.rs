//! `kiln stats`: model calls, tokens and cost by model and by day.

use std::process::ExitCode;

use kiln::engine::store::{Store, UsageRow, now_micros};
use serde::Serialize;

use super::{Context, Format, output};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Only the last N days (0: everything)
    #[arg(long, default_value_t = 30)]
    days: u32,
}

#[derive(Serialize, Default)]
struct Totals {
    calls: i64,
    errors: i64,
    cache_hits: i64,
    /// Replies cut at `max_tokens`.
    truncated: i64,
    tokens_in: i64,
    tokens_out: i64,
    cost_usd: f64,
}

#[derive(Serialize)]
struct ModelTotals {
    /// `provider/model`.
    model: String,
    #[serde(flatten)]
    totals: Totals,
}

#[derive(Serialize)]
struct Report {
    days: Vec<UsageRow>,
    by_model: Vec<ModelTotals>,
    total: Totals,
}

pub(crate) fn run(ctx: &Context, args: &Args) -> anyhow::Result<ExitCode> {
    let rows = if ctx.paths.db.exists() {
        let store = Store::open_read_only(&ctx.paths.db, &ctx.config.config.store)?;
        let since = if args.days == 0 {
            0
        } else {
            now_micros() - i64::from(args.days) * 86_400 * 1_000_000
        };
        store.stats_by_model_and_day(since)?
    } else {
        Vec::new()
    };
    let mut by_model: Vec<(String, Totals)> = Vec::new();
    let mut total = Totals::default();
    for r in &rows {
        let key = format!("{}/{}", r.provider, r.model);
        let i = by_model
            .iter()
            .position(|(k, _)| *k == key)
            .unwrap_or_else(|| {
                by_model.push((key, Totals::default()));
                by_model.len() - 1
            });
        for t in [&mut by_model[i].1, &mut total] {
            t.calls += r.calls;
            t.errors += r.errors;
            t.cache_hits += r.cache_hits;
            t.truncated += r.truncated;
            t.tokens_in += r.tokens_in;
            t.tokens_out += r.tokens_out;
            t.cost_usd += r.cost_usd;
        }
    }
    by_model.sort_by(|a, b| a.0.cmp(&b.0));
    let report = Report {
        days: rows,
        by_model: by_model
            .into_iter()
            .map(|(model, totals)| ModelTotals { model, totals })
            .collect(),
        total,
    };
    match ctx.format {
        Format::Json => output::print_json(&report)?,
        Format::Human if report.days.is_empty() => println!("no model calls recorded yet"),
        Format::Human => {
            let line = |first: String, second: String, t: &Totals| {
                vec![
                    first,
                    second,
                    t.calls.to_string(),
                    t.cache_hits.to_string(),
                    t.errors.to_string(),
                    t.truncated.to_string(),
                    t.tokens_in.to_string(),
                    t.tokens_out.to_string(),
                    format!("${:.4}", t.cost_usd),
                ]
            };
            let header = [
                "DAY", "MODEL", "CALLS", "CACHED", "ERRORS", "CUT", "IN", "OUT", "COST",
            ];
            let mut table: Vec<Vec<String>> = report
                .days
                .iter()
                .map(|r| {
                    let t = Totals {
                        calls: r.calls,
                        errors: r.errors,
                        cache_hits: r.cache_hits,
                        truncated: r.truncated,
                        tokens_in: r.tokens_in,
                        tokens_out: r.tokens_out,
                        cost_usd: r.cost_usd,
                    };
                    line(r.day.clone(), format!("{}/{}", r.provider, r.model), &t)
                })
                .collect();
            for m in &report.by_model {
                table.push(line("all".into(), m.model.clone(), &m.totals));
            }
            table.push(line("all".into(), "total".into(), &report.total));
            output::print_table(&header, &table);
        }
    }
    Ok(ExitCode::SUCCESS)
}
