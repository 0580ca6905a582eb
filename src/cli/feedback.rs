//! `kiln feedback RUN|gen:ID|finding:ID --accept|--reject ["comment"]`: records the user's
//! verdict through the engine (`Op::AddFeedback`). A bare number is a run.

use std::process::ExitCode;

use anyhow::Context as _;
use kiln::engine::api::{FeedbackParams, Op};
use kiln::engine::store::{FeedbackTarget, Verdict};
use kiln::engine::untrusted::inert;

use super::session::Session;
use super::{Context, Format, output};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("verdict").required(true).args(["accept", "reject"])))]
pub(crate) struct Args {
    /// A run id (`12` or `run:12`), a model call (`gen:7`) or a finding (`finding:3`)
    target: String,
    /// The result was good
    #[arg(long)]
    accept: bool,
    /// The result was bad
    #[arg(long)]
    reject: bool,
    /// Why
    comment: Option<String>,
}

fn parse_target(text: &str) -> anyhow::Result<FeedbackTarget> {
    let (kind, id) = text.split_once(':').unwrap_or(("run", text));
    let id: i64 = id.trim_start_matches('#').parse().with_context(|| {
        format!("'{text}' is not a target; use a run id (12), gen:ID or finding:ID")
    })?;
    Ok(match kind {
        "run" => FeedbackTarget::Run(id),
        "gen" | "generation" => FeedbackTarget::Generation(id),
        "finding" => FeedbackTarget::Finding(id),
        other => anyhow::bail!("unknown feedback target '{other}'; use run, gen or finding"),
    })
}

pub(crate) fn run(ctx: &Context, args: &Args) -> anyhow::Result<ExitCode> {
    let target = parse_target(&args.target)?;
    let verdict = if args.accept {
        Verdict::Accept
    } else {
        Verdict::Reject
    };
    let mut session = Session::start(ctx)?;
    let done = session.run(
        Op::AddFeedback(FeedbackParams {
            target,
            verdict,
            comment: args.comment.clone().unwrap_or_default(),
        }),
        |_| {},
    )?;
    session.finish();
    if let Some(e) = done.failed {
        anyhow::bail!("{e}");
    }
    match ctx.format {
        Format::Json => output::print_json(&serde_json::json!({
            "target": target,
            "verdict": verdict,
        }))?,
        Format::Human => println!("recorded: {} {}", verdict, inert(&args.target)),
    }
    Ok(ExitCode::SUCCESS)
}
