//! `kiln ask [--model M] "prompt"`: streams a reply to stdout and records the call.
//!
//! A front-end of the engine API: it submits `Op::Ask` and renders the events; the engine
//! chooses the model, calls it and records the request, the run and the generation.
//!
//! With `--format json` nothing streams; one JSON document with the reply and its accounting is
//! printed at the end (the benchmark reads `ttft_us` from it). Ctrl-C submits `Op::CancelRun`;
//! the partial reply is kept in the database and the run is recorded cancelled.
//!
//! Piped, the reply goes to stdout byte for byte, nothing added. On a terminal the model's text
//! is untrusted: control sequences are shown inert (SGR colours kept) and a final newline is
//! added when the reply lacks one. Retries and a reply cut at `max_tokens` are said on stderr.

use std::io::{IsTerminal as _, Read, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use kiln::engine::EngineHandle;
use kiln::engine::api::{AskParams, Event, Events, Op, Origin, ProjectRef};
use kiln::engine::ids::{OpId, RunId};
use kiln::engine::llm::{CachePolicy, FinishReason, Message, ModelSource};
use kiln::engine::untrusted;
use serde::Serialize;

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

/// The model the engine chose ([`Event::ModelChosen`]).
#[derive(Debug, Serialize)]
struct Chosen {
    model: String,
    provider: String,
    model_id: String,
    source: ModelSource,
    #[serde(skip)]
    max_tokens: u32,
}

/// The finished call ([`Event::AskFinished`]).
#[derive(Debug)]
struct Done {
    text: String,
    tokens_in: Option<u64>,
    tokens_out: Option<u64>,
    latency_us: u64,
    ttft_us: Option<u64>,
    cost_usd: Option<f64>,
    cache_hit: bool,
    attempts: u32,
    chunks: u64,
    generation_id: Option<i64>,
    finish_reason: Option<FinishReason>,
    truncated: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    model: &'a Chosen,
    text: &'a str,
    tokens_in: Option<u64>,
    tokens_out: Option<u64>,
    latency_ms: u64,
    latency_us: u64,
    ttft_ms: Option<u64>,
    ttft_us: Option<u64>,
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
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(Message::system(system.clone()));
    }
    messages.push(Message::user(prompt));
    // The engine records the ask as a run of kind `ask` in the project containing the cwd.
    let params = AskParams {
        model: args.model.clone(),
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
        project: Some(ProjectRef::Containing(ctx.cwd.clone())),
        origin: Origin::Cli,
    };
    runtime()?.block_on(async {
        let engine = ctx.start_engine()?;
        let mut events = engine.subscribe();
        let op = engine.submit(Op::Ask(params));
        let result = follow(ctx, &engine, &mut events, op).await;
        // Close the database before exiting, whatever the outcome.
        engine.shutdown().await;
        let (chosen, done) = result?;
        if let Some(warning) = cut_warning(&chosen, &done)
            && ctx.verbosity >= 0
        {
            eprintln!("kiln: {warning}");
        }
        match ctx.format {
            Format::Json => output::print_json(&report(&chosen, &done))?,
            Format::Human => {
                if ctx.verbosity >= 0 {
                    eprintln!("{}", summary(&chosen, &done));
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Renders the events of the ask `op` until it ends: the reply streamed to stdout, retries and
/// the detected model said on stderr. Ctrl-C cancels the run (the engine keeps the partial
/// reply and records the run cancelled).
async fn follow(
    ctx: &Context,
    engine: &EngineHandle,
    events: &mut Events,
    op: OpId,
) -> anyhow::Result<(Chosen, Done)> {
    let streaming = ctx.format == Format::Human;
    let quiet = ctx.verbosity < 0;
    let mut out = Reply::new(streaming);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut listening = true;
    let mut interrupted = false;
    let mut run: Option<RunId> = None;
    let mut chosen = None;
    let mut done = None;
    loop {
        let envelope = tokio::select! {
            envelope = events.next() => envelope,
            signal = &mut ctrl_c, if listening => {
                listening = false;
                interrupted = signal.is_ok();
                if let Some(run) = run.filter(|_| interrupted) {
                    engine.submit(Op::CancelRun { run });
                }
                continue;
            }
        };
        let Some(envelope) = envelope else {
            out.finish();
            anyhow::bail!("the engine stopped before the ask finished");
        };
        if envelope.op != Some(op) {
            continue;
        }
        match envelope.event {
            Event::RunCreated { .. } => {
                run = envelope.run;
                if let Some(run) = run.filter(|_| interrupted) {
                    engine.submit(Op::CancelRun { run });
                }
            }
            Event::ModelChosen {
                model,
                provider,
                model_id,
                source,
                max_tokens,
            } => {
                let model = Chosen {
                    model,
                    provider,
                    model_id,
                    source,
                    max_tokens,
                };
                announce(ctx, &model);
                chosen = Some(model);
            }
            Event::ModelRetrying { reason, .. } if !quiet => eprintln!("kiln: {reason}"),
            Event::ModelDelta { text, .. } => out.push(&text),
            Event::AskFinished {
                generation,
                text,
                tokens_in,
                tokens_out,
                cost_usd,
                cache_hit,
                latency_us,
                ttft_us,
                attempts,
                chunks,
                finish_reason,
                truncated,
            } => {
                done = Some(Done {
                    text,
                    tokens_in,
                    tokens_out,
                    latency_us,
                    ttft_us,
                    cost_usd,
                    cache_hit,
                    attempts,
                    chunks,
                    generation_id: generation.map(kiln::engine::ids::GenerationId::get),
                    finish_reason,
                    truncated,
                });
            }
            Event::OpFailed { error, .. } => {
                out.finish();
                // The error names the model already.
                anyhow::bail!(error);
            }
            Event::OpDone => {
                out.finish();
                return match (chosen, done) {
                    (Some(chosen), Some(done)) => Ok((chosen, done)),
                    _ => anyhow::bail!("the engine ended the ask without its result"),
                };
            }
            _ => {}
        }
    }
}

/// The reply on stdout: byte for byte when piped; made safe, with a final newline, on a
/// terminal. Nothing is written unless `streaming`.
struct Reply {
    streaming: bool,
    out: std::io::Stdout,
    terminal: Option<TerminalText>,
    wrote_newline: bool,
}

impl Reply {
    fn new(streaming: bool) -> Self {
        let stdout = std::io::stdout();
        let terminal = stdout.is_terminal().then(TerminalText::default);
        Self {
            streaming,
            out: stdout,
            terminal,
            wrote_newline: true,
        }
    }

    fn push(&mut self, text: &str) {
        if !self.streaming || text.is_empty() {
            return;
        }
        // A closed stdout (e.g. `| head`) must not abort the call: it is still recorded.
        let _ = match &mut self.terminal {
            Some(t) => self.out.write_all(t.push(text).as_bytes()),
            None => self.out.write_all(text.as_bytes()),
        };
        let _ = self.out.flush();
        self.wrote_newline = text.ends_with('\n');
    }

    /// What a terminal still holds, and the final newline.
    fn finish(&mut self) {
        if let Some(t) = &mut self.terminal {
            let _ = self.out.write_all(t.finish().as_bytes());
            if self.streaming && !self.wrote_newline {
                let _ = self.out.write_all(b"\n");
            }
            let _ = self.out.flush();
        }
    }
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
fn announce(ctx: &Context, model: &Chosen) {
    if model.source != ModelSource::Configured && ctx.verbosity >= 0 {
        eprintln!(
            "kiln: no model configured; using {} '{}' ({}). Configure [models.named.<name>] to choose.",
            model.provider, model.model_id, model.source
        );
    }
}

fn report<'a>(model: &'a Chosen, done: &'a Done) -> Report<'a> {
    Report {
        model,
        text: &done.text,
        tokens_in: done.tokens_in,
        tokens_out: done.tokens_out,
        latency_ms: done.latency_us / 1000,
        latency_us: done.latency_us,
        ttft_ms: done.ttft_us.map(|t| t / 1000),
        ttft_us: done.ttft_us,
        cost_usd: done.cost_usd,
        cache_hit: done.cache_hit,
        attempts: done.attempts,
        chunks: done.chunks,
        generation_id: done.generation_id,
        finish_reason: done.finish_reason.as_ref().map(FinishReason::as_str),
        truncated: done.truncated,
    }
}

/// What to tell the user when the provider did not finish the reply on its own terms.
fn cut_warning(model: &Chosen, done: &Done) -> Option<String> {
    match done.finish_reason.as_ref()? {
        FinishReason::Length => Some(format!(
            "the reply was cut at the max_tokens limit ({}) and is incomplete; raise it with --max-tokens or models.named.{}.max_tokens",
            model.max_tokens, model.model
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

fn summary(model: &Chosen, done: &Done) -> String {
    let tokens = |t: Option<u64>| t.map_or_else(|| "?".to_owned(), |t| t.to_string());
    let mut parts = vec![
        model.model.clone(),
        format!(
            "{} in / {} out",
            tokens(done.tokens_in),
            tokens(done.tokens_out)
        ),
    ];
    if let Some(cost) = done.cost_usd {
        parts.push(format!("${cost:.6}"));
    }
    parts.push(format!(
        "{:.2}s",
        std::time::Duration::from_micros(done.latency_us).as_secs_f64()
    ));
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
