//! `kiln trust [PATH]`, `kiln trust --list`, `kiln untrust [PATH]`: consent for a project's
//! `kiln.toml` to set what a cloned repository must not (model endpoints and key variables,
//! sandbox env, read-only binds and higher limits). Trust is recorded in the database with the
//! file's SHA-256, so editing the file withdraws it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use kiln::engine::config::{self, Trust};
use kiln::engine::untrusted::inert;

use super::{Context, Format, output};

#[derive(Debug, clap::Args)]
pub(crate) struct TrustArgs {
    /// The kiln.toml to trust, or its directory [default: the one kiln finds from here]
    path: Option<PathBuf>,
    /// List the trusted files and whether each still has the content that was trusted
    #[arg(long, conflicts_with = "path")]
    list: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct UntrustArgs {
    /// The kiln.toml to stop trusting, or its directory [default: the one kiln finds from here]
    path: Option<PathBuf>,
}

pub(crate) fn trust(ctx: &Context, args: &TrustArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        return list(ctx);
    }
    let path = target(ctx, args.path.as_deref())?;
    let Some(file) = ctx.inspect_project_file(&path)? else {
        bail!(
            "'{}' does not exist; pass the path of a kiln.toml",
            path.display()
        );
    };
    if let Trust::Foreign { owner, user } = file.trust {
        bail!(
            "not trusting '{}': it belongs to uid {owner}, not to you (uid {user}) or root; kiln never reads another user's kiln.toml. Take ownership first if you trust it",
            inert(&file.path.to_string_lossy())
        );
    }
    let store = ctx.open_store()?;
    let record = store.trust_config(&file.canonical, &file.sha256)?;
    let keys = match &file.trust {
        Trust::Untrusted { keys } | Trust::Trusted { keys } => keys.clone(),
        Trust::NotNeeded | Trust::Foreign { .. } => Vec::new(),
    };
    match ctx.format {
        Format::Json => output::print_json(&serde_json::json!({
            "path": record.path,
            "sha256": record.sha256,
            "trusted_at": record.trusted_at,
            "now_applied": keys,
        }))?,
        Format::Human => {
            println!(
                "trusted '{}' (sha256 {}); editing it withdraws the trust",
                inert(&record.path.to_string_lossy()),
                &record.sha256[..12.min(record.sha256.len())]
            );
            if keys.is_empty() {
                println!("it sets nothing that needs trust");
            } else {
                println!("now applied:");
                for k in &keys {
                    println!("  {} = {}  # {}", k.key, inert(&k.value), k.reason);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn untrust(ctx: &Context, args: &UntrustArgs) -> anyhow::Result<ExitCode> {
    let path = target(ctx, args.path.as_deref())?;
    let canonical = std::fs::canonicalize(&path).unwrap_or(path);
    let store = ctx.open_store()?;
    let shown = inert(&canonical.to_string_lossy()).into_owned();
    if store.untrust_config(&canonical)? {
        match ctx.format {
            Format::Json => output::print_json(&serde_json::json!({"untrusted": canonical}))?,
            Format::Human => println!("no longer trusted: '{shown}'"),
        }
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("'{shown}' was not trusted; `kiln trust --list` shows the trusted files");
        Ok(ExitCode::from(1))
    }
}

/// The file named on the command line (a directory means its kiln.toml), else the project
/// file in effect here.
fn target(ctx: &Context, path: Option<&Path>) -> anyhow::Result<PathBuf> {
    match path {
        Some(p) => {
            let p = ctx.cwd.join(p);
            Ok(if p.is_dir() { p.join("kiln.toml") } else { p })
        }
        None => ctx.project_file.clone().context(
            "no kiln.toml in this directory or a parent; pass the path of the file to trust",
        ),
    }
}

#[derive(serde::Serialize)]
struct Listed {
    path: PathBuf,
    sha256: String,
    trusted_at: i64,
    /// matches | changed | missing
    state: &'static str,
}

fn list(ctx: &Context) -> anyhow::Result<ExitCode> {
    let store = ctx.open_store()?;
    let listed: Vec<Listed> = store
        .trusted_configs()?
        .into_iter()
        .map(|t| Listed {
            state: match std::fs::read(&t.path) {
                Ok(bytes) if config::trust::sha256(&bytes) == t.sha256 => "matches",
                Ok(_) => "changed",
                Err(_) => "missing",
            },
            path: t.path,
            sha256: t.sha256,
            trusted_at: t.trusted_at,
        })
        .collect();
    match ctx.format {
        Format::Json => output::print_json(&listed)?,
        Format::Human if listed.is_empty() => {
            println!("no trusted project configs; trust one with `kiln trust PATH`");
        }
        Format::Human => {
            let rows: Vec<Vec<String>> = listed
                .iter()
                .map(|l| {
                    vec![
                        l.state.to_owned(),
                        output::time(l.trusted_at),
                        inert(&l.path.to_string_lossy()).into_owned(),
                    ]
                })
                .collect();
            output::print_table(&["STATE", "TRUSTED AT (UTC)", "PATH"], &rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}
