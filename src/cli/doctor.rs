//! `kiln doctor`: one line per check of the database, config files, and (as they land) the
//! sandbox and models. Exit 1 when any check fails.

use std::process::ExitCode;

use kiln::engine::config::Trust;
use kiln::engine::doctor::{Check, CheckStatus};
use kiln::engine::store::{SCHEMA_VERSION, Store};

use super::{Context, Format, output};

pub(crate) fn run(ctx: &Context) -> anyhow::Result<ExitCode> {
    let mut checks = vec![config_check(ctx), database_check(ctx)];
    checks.extend(kiln::engine::sandbox::doctor_checks());
    checks.extend(kiln::engine::llm::doctor_checks(
        &ctx.config.config.models,
        &ctx.env,
    ));
    checks.push(match &ctx.log.file {
        Some(file) => Check::new("log file", CheckStatus::Ok, file.display().to_string()),
        None => Check::new(
            "log file",
            CheckStatus::Warn,
            format!(
                "cannot write under '{}'; set KILN_STATE_HOME to a writable directory",
                ctx.paths.state_dir.display()
            ),
        ),
    });
    match ctx.format {
        Format::Json => output::print_json(&checks)?,
        Format::Human => {
            let rows: Vec<Vec<String>> = checks
                .iter()
                .map(|c| {
                    let status = match c.status {
                        CheckStatus::Ok => "ok",
                        CheckStatus::Warn => "warn",
                        CheckStatus::Fail => "FAIL",
                    };
                    vec![status.to_owned(), c.name.clone(), c.detail.clone()]
                })
                .collect();
            output::print_table(&["STATUS", "CHECK", "DETAIL"], &rows);
        }
    }
    let failed = checks.iter().any(|c| c.status == CheckStatus::Fail);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn config_check(ctx: &Context) -> Check {
    let mut files = vec![];
    let user = ctx.paths.user_config();
    files.push(if user.exists() {
        format!("user {}", user.display())
    } else {
        format!("user {} (absent)", user.display())
    });
    let mut status = CheckStatus::Ok;
    if let Some(file) = &ctx.config.project {
        let path = kiln::engine::untrusted::inert(&file.path.to_string_lossy()).into_owned();
        files.push(match &file.trust {
            Trust::NotNeeded => format!("project {path}"),
            Trust::Trusted { .. } => format!("project {path} (trusted)"),
            Trust::Untrusted { keys } => {
                status = CheckStatus::Warn;
                format!(
                    "project {path} ({} settings ignored until you run `kiln trust`)",
                    keys.len()
                )
            }
            Trust::Foreign { owner, .. } => {
                status = CheckStatus::Warn;
                format!("project {path} (not read: it belongs to uid {owner})")
            }
        });
    }
    // Loading already validated every layer: reaching here means they all parsed.
    Check::new("config", status, files.join(", "))
}

fn database_check(ctx: &Context) -> Check {
    let path = &ctx.paths.db;
    if !path.exists() {
        return Check::new(
            "database",
            CheckStatus::Ok,
            format!(
                "{} (not created yet; the first command that records anything creates it)",
                path.display()
            ),
        );
    }
    match Store::open_read_only(path, &ctx.config.config.store) {
        Ok(store) => match store.sizes() {
            Ok(sizes) => Check::new(
                "database",
                CheckStatus::Ok,
                format!(
                    "{} (schema {SCHEMA_VERSION}, {}); run `kiln db check` for a full integrity check",
                    path.display(),
                    super::db::bytes(sizes.file_bytes)
                ),
            ),
            Err(e) => Check::new("database", CheckStatus::Fail, e.to_string()),
        },
        Err(e) => Check::new("database", CheckStatus::Fail, e.to_string()),
    }
}
