//! `kiln models`: configured and detected models, each checked with one model-list request.
//! Detected models are listed even when config names others, marked by their source; `*` marks
//! the one a command without `--model` uses.

use std::process::ExitCode;

use kiln::engine::llm::{Llm, Model, ModelSource, configured_models, detected_from_env};
use serde::Serialize;

use super::{Context, Format, output};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// List without contacting any server
    #[arg(long)]
    no_check: bool,
}

#[derive(Serialize)]
struct Row {
    name: String,
    provider: &'static str,
    model: String,
    base_url: String,
    source: ModelSource,
    /// `ok`, `unchecked` or `error`.
    status: &'static str,
    detail: String,
    default: bool,
}

pub(crate) fn run(ctx: &Context, args: &Args) -> anyhow::Result<ExitCode> {
    let config = ctx.config.config.models.clone();
    let llm = Llm::new(config.clone(), ctx.env.clone(), None)?;
    let runtime = super::ask::runtime()?;
    let rows = runtime.block_on(async {
        let mut models = configured_models(&config);
        models.extend(if args.no_check {
            detected_from_env(&ctx.env)
        } else {
            llm.detect().await
        });
        let default = llm.resolve(None).await.ok().map(|m| m.name);
        let checks = models.iter().map(|m| check(&llm, m, args.no_check));
        let results = futures::future::join_all(checks).await;
        models
            .into_iter()
            .zip(results)
            .map(|(m, (status, detail))| Row {
                default: default.as_deref() == Some(m.name.as_str()),
                name: m.name,
                provider: m.config.provider.as_str(),
                base_url: m.config.base_url().to_owned(),
                model: m.config.model,
                source: m.source,
                status,
                detail,
            })
            .collect::<Vec<_>>()
    });
    match ctx.format {
        Format::Json => output::print_json(&rows)?,
        Format::Human if rows.is_empty() => {
            println!("no model configured: {}", kiln::engine::llm::NO_MODEL_HELP);
        }
        Format::Human => {
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        if r.default {
                            format!("{} *", r.name)
                        } else {
                            r.name.clone()
                        },
                        r.provider.to_owned(),
                        r.model.clone(),
                        r.base_url.clone(),
                        r.source.to_string(),
                        if r.detail.is_empty() {
                            r.status.to_owned()
                        } else {
                            format!("{}: {}", r.status, r.detail)
                        },
                    ]
                })
                .collect();
            output::print_table(
                &["NAME", "PROVIDER", "MODEL", "BASE URL", "SOURCE", "STATUS"],
                &table,
            );
        }
    }
    let failed = rows.is_empty() || rows.iter().any(|r| r.status == "error");
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn check(llm: &Llm, model: &Model, skip: bool) -> (&'static str, String) {
    if skip {
        return ("unchecked", String::new());
    }
    match llm.list_models(model).await {
        Ok(ids) if ids.is_empty() || ids.contains(&model.config.model) => {
            ("ok", format!("reachable, {} models served", ids.len()))
        }
        Ok(ids) => (
            "ok",
            format!(
                "reachable, but '{}' is not among the {} models it lists",
                model.config.model,
                ids.len()
            ),
        ),
        Err(e) => {
            // The row names the model already; the engine's message starts with it too.
            let text = e.to_string();
            let prefix = format!("model '{}': ", model.name);
            (
                "error",
                text.strip_prefix(&prefix).unwrap_or(&text).to_owned(),
            )
        }
    }
}
