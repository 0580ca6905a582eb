//! `kiln config show`: the effective configuration and where each value came from.

use std::process::ExitCode;

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
}

pub(crate) fn run(ctx: &Context, cmd: &Command) -> anyhow::Result<ExitCode> {
    let Command::Show = cmd;
    let entries: Vec<Entry> = ctx
        .config
        .entries()
        .into_iter()
        .map(|(key, value, origin)| Entry {
            key,
            value,
            origin: origin.to_string(),
        })
        .collect();
    match ctx.format {
        Format::Json => output::print_json(&entries)?,
        Format::Human => {
            let width = entries
                .iter()
                .map(|e| e.key.len() + e.value.to_string().len())
                .max()
                .unwrap_or(0);
            for e in &entries {
                let assignment = format!("{} = {}", e.key, e.value);
                println!("{assignment:<w$}  # {}", e.origin, w = width + 3);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
