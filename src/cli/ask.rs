//! `kiln ask [--model M] "prompt"`: streams a reply to stdout and records the call.
//!
//! With `--format json` nothing streams; one JSON document with the reply and its accounting is
//! printed at the end (the benchmark reads `ttft_us` from it). Ctrl-C cancels the call; the
//! partial reply is kept in the database.
//!
//! Piped, the reply goes to stdout byte for byte, nothing added. On a terminal the model's text
//! is untrusted: control sequences are shown inert (SGR colours kept) and a final newline is
//! added when the reply lacks one. Retries and a reply cut at `max_tokens` are said on stderr.

use std::io::{IsTerminal as _, Read, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use kiln::engine::llm::{
    CachePolicy, CallEvent, ChatRequest, Completion, FinishReason, Llm, Message, Model,
    ModelSource, Recorder,
};
use kiln::engine::store::{NewRun, RunKind, Status};
use kiln::engine::untrusted;
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
    /// `stop`, `length` (cut at max_tokens), ...; null when the provider did not say.
    finish_reason: Option<&'a str>,
    truncated: bool,
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
        let (events, mut progress) = tokio::sync::mpsc::unbounded_channel::<CallEvent>();
        let quiet = ctx.verbosity < 0;
        let printer = tokio::spawn(async move {
            while let Some(event) = progress.recv().await {
                if !quiet {
                    eprintln!("kiln: {event}");
                }
            }
        });
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
            events: Some(events),
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
        let mut terminal = stdout.is_terminal().then(TerminalText::default);
        let mut wrote_newline = true;
        let mut on_text = |text: &str| {
            if !streaming || text.is_empty() {
                return;
            }
            // A closed stdout (e.g. `| head`) must not abort the call: it is still recorded.
            let _ = match &mut terminal {
                Some(t) => stdout.write_all(t.push(text).as_bytes()),
                None => stdout.write_all(text.as_bytes()),
            };
            let _ = stdout.flush();
            wrote_newline = text.ends_with('\n');
        };
        let result = llm.chat(&model, request, &mut on_text, &cancel).await;
        // The request (and its sender) is gone with the call: the printer ends once drained.
        let _ = printer.await;
        if let Some(t) = &mut terminal {
            let mut stdout = std::io::stdout();
            let _ = stdout.write_all(t.finish().as_bytes());
            if streaming && !wrote_newline {
                let _ = stdout.write_all(b"\n");
            }
            let _ = stdout.flush();
        }
        // The error names the model already.
        let done = result?;
        if let Some(warning) = cut_warning(&model, args.max_tokens, &done)
            && ctx.verbosity >= 0
        {
            eprintln!("kiln: {warning}");
        }
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
        finish_reason: done.finish_reason.as_ref().map(FinishReason::as_str),
        truncated: done.is_truncated(),
    }
}

/// What to tell the user when the provider did not finish the reply on its own terms.
fn cut_warning(model: &Model, max_tokens: Option<u32>, done: &Completion) -> Option<String> {
    match done.finish_reason.as_ref()? {
        FinishReason::Length => Some(format!(
            "the reply was cut at the max_tokens limit ({}) and is incomplete; raise it with --max-tokens or models.named.{}.max_tokens",
            max_tokens.unwrap_or(model.config.max_tokens),
            model.name
        )),
        FinishReason::ContentFilter => {
            Some("the provider withheld the rest of the reply (content filter)".into())
        }
        _ => None,
    }
}

/// Model text for a terminal, delta by delta: control sequences shown inert, SGR colours kept
/// (`untrusted::keep_sgr`). A colour sequence split across two deltas is held back until it
/// completes, so it is neither broken nor let through half-checked.
#[derive(Debug, Default)]
struct TerminalText {
    pending: String,
}

impl TerminalText {
    fn push(&mut self, text: &str) -> String {
        self.pending.push_str(text);
        let hold = unfinished_sgr(&self.pending);
        let ready: String = self.pending.drain(..hold).collect();
        untrusted::keep_sgr(&ready).into_owned()
    }

    /// What is still held, made safe (an unfinished sequence is shown inert).
    fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        untrusted::keep_sgr(&rest).into_owned()
    }
}

/// Where an escape sequence that may still become an SGR starts in `text` (its last ESC
/// followed by nothing, or by `[` and up to 64 parameter bytes), else `text.len()`.
fn unfinished_sgr(text: &str) -> usize {
    let Some(at) = text.rfind('\x1b') else {
        return text.len();
    };
    let tail = &text[at + 1..];
    let open = tail.is_empty()
        || tail.strip_prefix('[').is_some_and(|params| {
            params.len() <= 64
                && params
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b';' || b == b':')
        });
    if open { at } else { text.len() }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_colour_sequences_survive_and_others_turn_inert() {
        let mut t = TerminalText::default();
        let mut out = t.push("red: \x1b[3");
        out += &t.push("1mR\x1b[0m osc: \x1b");
        out += &t.push("]52;c;eA==\x07");
        out += &t.finish();
        assert_eq!(out, "red: \x1b[31mR\x1b[0m osc: ␛]52;c;eA==␇");
        let mut t = TerminalText::default();
        assert_eq!(t.push("end \x1b["), "end ");
        assert_eq!(t.finish(), "␛[");
    }
}
