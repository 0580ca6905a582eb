//! `kiln rules`: list every analysis rule, or `kiln rules explain ID` for one rule's docs.

use std::process::ExitCode;

use kiln::engine::analysis::{FixAvailability, all_rules, rule_by_id};
use serde::Serialize;

use super::{Context, Format, output};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Show a rule's explanation with a bad and a good example
    Explain {
        /// Rule id, e.g. PY101
        id: String,
    },
}

#[derive(Serialize)]
struct RuleRow {
    id: &'static str,
    name: &'static str,
    language: &'static str,
    category: &'static str,
    severity: &'static str,
    fix: FixAvailability,
    summary: &'static str,
}

pub(crate) fn run(ctx: &Context, args: &Args) -> anyhow::Result<ExitCode> {
    if let Some(Command::Explain { id }) = &args.command {
        let Some(rule) = rule_by_id(id) else {
            anyhow::bail!("unknown rule '{id}'; `kiln rules` lists them");
        };
        match ctx.format {
            Format::Json => output::print_json(&serde_json::json!({
                "id": rule.id, "name": rule.name, "language": rule.family.name(),
                "category": rule.category.as_str(), "severity": rule.severity.as_str(),
                "fix": rule.fix, "summary": rule.summary, "explanation": rule.explanation,
                "bad": rule.bad, "good": rule.good,
            }))?,
            Format::Human => print!("{}", rule.explain()),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<RuleRow> = all_rules()
        .into_iter()
        .map(|r| RuleRow {
            id: r.id,
            name: r.name,
            language: r.family.name(),
            category: r.category.as_str(),
            severity: r.severity.as_str(),
            fix: r.fix,
            summary: r.summary,
        })
        .collect();
    match ctx.format {
        Format::Json => output::print_json(&rows)?,
        Format::Human => {
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let fix = match r.fix {
                        FixAvailability::None => "",
                        FixAvailability::Safe => "safe",
                        FixAvailability::Unsafe => "unsafe",
                    };
                    vec![
                        r.id.to_owned(),
                        r.name.to_owned(),
                        r.language.to_owned(),
                        r.category.to_owned(),
                        r.severity.to_owned(),
                        fix.to_owned(),
                    ]
                })
                .collect();
            output::print_table(
                &["ID", "NAME", "LANGUAGE", "CATEGORY", "SEVERITY", "FIX"],
                &table,
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
