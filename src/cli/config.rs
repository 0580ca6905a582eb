//! `kiln config show`: the effective configuration and where each value came from. A value of
//! the project file is marked applied, or ignored until the file is trusted (`kiln trust`).

use std::process::ExitCode;

use kiln::engine::config::{Origin, Status, Trust};
use kiln::engine::untrusted::inert;

use super::{Context, Format, output};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Print every setting, its value and the layer that set it
    Show,
}

#[derive(serde::Serialize)]
struct Entry {
    key: String,
    value: toml::Value,
    origin: String,
    /// applied | ignored_until_trusted
    status: Status,
}

/// Values wider than this are not padded: one long value must not push every comment away.
const ALIGN_MAX: usize = 60;

pub(crate) fn run(ctx: &Context, cmd: &Command) -> anyhow::Result<ExitCode> {
    let Command::Show = cmd;
    let trusted = ctx
        .config
        .project
        .as_ref()
        .is_some_and(|p| matches!(p.trust, Trust::Trusted { .. }));
    let listing = ctx.config.listing();
    let entries: Vec<Entry> = listing
        .into_iter()
        .map(|e| {
            let origin = match (&e.origin, e.status) {
                (Origin::Project(_), Status::IgnoredUntilTrusted) => {
                    format!("{}: ignored until trusted", e.origin)
                }
                (Origin::Project(_), Status::Applied) if trusted => {
                    format!("{}: applied (trusted)", e.origin)
                }
                (Origin::Project(_), Status::Applied) => format!("{}: applied", e.origin),
                _ => e.origin.to_string(),
            };
            Entry {
                key: e.key,
                value: e.value,
                origin,
                status: e.status,
            }
        })
        .collect();
    match ctx.format {
        Format::Json => output::print_json(&entries)?,
        Format::Human => {
            let lines: Vec<(String, &Entry)> = entries
                .iter()
                .map(|e| (format!("{} = {}", e.key, e.value), e))
                .collect();
            let width = lines
                .iter()
                .map(|(a, _)| a.chars().count())
                .filter(|w| *w <= ALIGN_MAX)
                .max()
                .unwrap_or(0);
            for (assignment, e) in &lines {
                println!(
                    "{}  # {}",
                    inert(&output::pad(assignment, width)),
                    inert(&e.origin)
                );
            }
            match &ctx.config.project {
                Some(file) if !file.ignored().is_empty() => println!(
                    "# to apply the ignored values, review the file and run: kiln trust '{}'",
                    inert(&file.path.to_string_lossy())
                ),
                Some(
                    file @ kiln::engine::config::ProjectFile {
                        trust: Trust::Foreign { owner, .. },
                        ..
                    },
                ) => println!(
                    "# project config '{}' not read: it belongs to uid {owner}",
                    inert(&file.path.to_string_lossy())
                ),
                _ => {}
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
