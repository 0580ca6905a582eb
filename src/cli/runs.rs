//! `kiln runs`: the newest runs, read from the store (read-only). A run of kind `service` shows
//! its URL and the service's status (`starting`, `up`, `stopped`, `failed`; `gone` when the
//! kiln that owned it died without recording the end) in place of a request.

use std::process::ExitCode;

use kiln::engine::store::{RunKind, Store};
use kiln::engine::untrusted::inert;

use super::{Context, Format, output};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// How many runs to list
    #[arg(long, short = 'n', default_value_t = 20)]
    limit: usize,
}

pub(crate) fn run(ctx: &Context, args: &Args) -> anyhow::Result<ExitCode> {
    if !ctx.paths.db.exists() {
        if ctx.format == Format::Json {
            output::print_json(&serde_json::json!([]))?;
        } else {
            println!("no runs yet; start one with: kiln new \"what the code should do\"");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let store = Store::open_read_only(&ctx.paths.db, &ctx.config.config.store)?;
    let runs = store.latest_runs(None, args.limit)?;
    let request = |r: &kiln::engine::store::Run| {
        r.request_id
            .and_then(|id| store.request_text(id).ok())
            .unwrap_or_default()
    };
    let service = |r: &kiln::engine::store::Run| {
        (r.kind == RunKind::Service)
            .then(|| store.service_of_run(r.id).ok().flatten())
            .flatten()
            .map(|s| {
                let alive = kiln::engine::serve::process_start(s.pid)
                    .is_some_and(|t| s.pid_start.is_none_or(|r| r == t));
                let status = if matches!(s.status.as_str(), "starting" | "up") && !alive {
                    "gone".to_owned()
                } else {
                    s.status.clone()
                };
                (s, status)
            })
    };
    if ctx.format == Format::Json {
        let rows: Vec<serde_json::Value> = runs
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                v["request"] = serde_json::Value::String(request(r));
                if let Some((s, status)) = service(r) {
                    v["service"] = serde_json::json!({
                        "id": s.id, "url": s.url, "status": status, "dir": s.dir,
                    });
                }
                v
            })
            .collect();
        output::print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let text = service(r)
                .map_or_else(|| request(r), |(s, status)| format!("{} ({status})", s.url));
            let short: String = text.lines().next().unwrap_or("").chars().take(50).collect();
            vec![
                r.id.to_string(),
                r.kind.to_string(),
                r.status.to_string(),
                output::time(r.created_at),
                inert(&short).into_owned(),
            ]
        })
        .collect();
    output::print_table(&["RUN", "KIND", "STATUS", "CREATED", "REQUEST"], &rows);
    Ok(ExitCode::SUCCESS)
}
