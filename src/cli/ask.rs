//! `kiln ask [--model M] "prompt"`: streams a reply to stdout and records the call.
//!
//! With `--format json` nothing streams; one JSON document with the reply and its accounting is
//! printed at the end (the benchmark reads `ttft_us` from it). Ctrl-C cancels the call; the
//! partial reply is kept in the database.

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use kiln::engine::llm::{
    CachePolicy, ChatRequest, Completion, Llm, Message, Model, ModelSource, Recorder,
};
use kiln::engine::store::{NewRun, RunKind, Status};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{Context, Format, output};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The question; `-` reads it from stdin
    prompt: String,
    /// A model named in [models.named] (or `openai`, `anthropic`, `ollama` when detected)
    #[arg(long, short)]
    model: Option<String>,
    /// A system message sent before the prompt
    #[arg(long)]
    system: Option<String>,
    /// Override the model's temperature
    #[arg(long)]
    temperature: Option<f64>,
    /// Override the model's max_tokens
    #[arg(long)]
    max_tokens: Option<u32>,
    /// Do not answer from the response cache
    #[arg(long, conflicts_with = "cache")]
    no_cache: bool,
    /// Answer from the cache even when the temperature is not 0
    #[arg(long)]
    cache: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    model: &'a str,
    provider: &'a str,
    model_id: &'a str,
    source: &'a ModelSource,
    text: &'a str,
    tokens_in: Option<u64>,
    tokens_out: Option<u64>,
    latency_ms: u128,
    latency_us: u128,
    ttft_ms: Option<u128>,
    ttft_us: Option<u128>,
    cost_usd: Option<f64>,
    cache_hit: bool,
    attempts: u32,
    chunks: u64,
    generation_id: Option<i64>,
}

pub(crate) fn run(ctx: &Context, args: &Args) -> anyhow::Result<ExitCode> {
    let prompt = if args.prompt == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the prompt from stdin")?;
        text
    } else {
        args.prompt.clone()
    };
    // Each ask is a run of kind `ask`, so dashboards list it and its generation links to it.
    let runs = ctx.open_store()?;
    let project_id = runs.project_containing(&ctx.cwd)?.map(|p| p.id);
    let request_id = runs.add_request(project_id, &prompt, "cli")?;
    let run = runs.start_run(&NewRun {
        project_id,
        request_id: Some(request_id),
        kind: RunKind::Ask,
    })?;
    let recorder = Recorder::from_store(ctx.open_store()?)?;
    let llm = Llm::new(
        ctx.config.config.models.clone(),
        ctx.env.clone(),
        Some(recorder.clone()),
    )?;
    let runtime = runtime()?;
    let result: anyhow::Result<ExitCode> = runtime.block_on(async {
        let model = llm.resolve(args.model.as_deref()).await?;
        announce(ctx, &model);
        let mut messages = Vec::new();
        if let Some(system) = &args.system {
            messages.push(Message::system(system.clone()));
        }
        messages.push(Message::user(prompt));
        let request = ChatRequest {
            messages,
            max_tokens: args.max_tokens,
            temperature: args.temperature,
            cache: if args.no_cache {
                CachePolicy::Bypass
            } else if args.cache {
                CachePolicy::Always
            } else {
                CachePolicy::Auto
            },
            run_id: Some(run.id),
            ..ChatRequest::default()
        };
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
            }
        });
        let streaming = ctx.format == Format::Human;
        let mut stdout = std::io::stdout();
        let mut wrote_newline = true;
        let mut on_text = |text: &str| {
            if streaming {
                // A closed stdout (e.g. `| head`) must not abort the call: it is still recorded.
                let _ = stdout.write_all(text.as_bytes());
                let _ = stdout.flush();
                wrote_newline = text.ends_with('\n');
            }
        };
        let result = llm.chat(&model, request, &mut on_text, &cancel).await;
        if streaming && !wrote_newline {
            println!();
        }
        let done = result.with_context(|| format!("asking model '{}'", model.name))?;
        match ctx.format {
            Format::Json => output::print_json(&report(&model, &done))?,
            Format::Human => {
                if ctx.verbosity >= 0 {
                    eprintln!("{}", summary(&model, &done));
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    });
    // Close the database before exiting, whatever the outcome.
    recorder.close();
    let (status, error) = match &result {
        Ok(_) => (Status::Succeeded, None),
        Err(e) if is_cancelled(e) => (Status::Cancelled, Some(format!("{e:#}"))),
        Err(e) => (Status::Failed, Some(format!("{e:#}"))),
    };
    runs.finish_run(run.id, status, error.as_deref())?;
    result
}

fn is_cancelled(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<kiln::engine::llm::Error>(),
            Some(kiln::engine::llm::Error::Cancelled { .. })
        )
    })
}

/// A runtime for one command. Single-threaded: a stream's chunks then pass from the connection
/// task to the parser without waking another thread, which is most of the cost of a fast stream.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Says which model detection picked, so the choice is never silent.
pub(crate) fn announce(ctx: &Context, model: &Model) {
    if model.source != ModelSource::Configured && ctx.verbosity >= 0 {
        eprintln!(
            "kiln: no model configured; using {} '{}' ({}). Configure [models.named.<name>] to choose.",
            model.config.provider.as_str(),
            model.config.model,
            model.source
        );
    }
}

fn report<'a>(model: &'a Model, done: &'a Completion) -> Report<'a> {
    Report {
        model: &model.name,
        provider: model.config.provider.as_str(),
        model_id: &model.config.model,
        source: &model.source,
        text: &done.text,
        tokens_in: done.usage.tokens_in,
        tokens_out: done.usage.tokens_out,
        latency_ms: done.latency.as_millis(),
        latency_us: done.latency.as_micros(),
        ttft_ms: done.ttft.map(|t| t.as_millis()),
        ttft_us: done.ttft.map(|t| t.as_micros()),
        cost_usd: done.cost_usd,
        cache_hit: done.cache_hit,
        attempts: done.attempts,
        chunks: done.chunks,
        generation_id: done.generation_id,
    }
}

fn summary(model: &Model, done: &Completion) -> String {
    let tokens = |t: Option<u64>| t.map_or_else(|| "?".to_owned(), |t| t.to_string());
    let mut parts = vec![
        model.name.clone(),
        format!(
            "{} in / {} out",
            tokens(done.usage.tokens_in),
            tokens(done.usage.tokens_out)
        ),
    ];
    if let Some(cost) = done.cost_usd {
        parts.push(format!("${cost:.6}"));
    }
    parts.push(format!("{:.2}s", done.latency.as_secs_f64()));
    if done.cache_hit {
        parts.push("cached".into());
    }
    format!("[{}]", parts.join(" · "))
}
