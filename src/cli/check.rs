//! `kiln check [PATH...]`: analyse files and report findings (human, json or sarif); `--fix`
//! applies safe fixes; `--record` stores the findings as a check run in the database (through
//! the engine API, in the project containing the working directory).
//!
//! Exit codes: 0 no finding at or above `--fail-on` (or `--exit-zero`), 1 findings, 2 errors.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use kiln::engine::analysis::report::{Role, Styled};
use kiln::engine::analysis::{self, CheckOptions, FixMode, Language, NoteKind, RuleSet, Severity};
use kiln::engine::api::{Event, Op, Origin, ProjectRef, RecordCheckParams};
use kiln::engine::untrusted;

use super::session::Session;
use super::{Context, Format};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OutputFormat {
    /// Findings with code frames
    Human,
    /// One JSON document
    Json,
    /// SARIF 2.1.0
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FailOn {
    Error,
    Warning,
    Info,
    Hint,
}

#[derive(Debug, clap::Args)]
#[allow(clippy::struct_excessive_bools)] // clap flags
pub(crate) struct Args {
    /// Files or directories to check (directories respect .gitignore), or `-` for stdin
    /// [default: .]
    pub(crate) paths: Vec<PathBuf>,
    /// Read the source from stdin and name it PATH (language, test/script rules, reports); with
    /// --fix the fixed source goes to stdout and the report to stderr
    #[arg(long, value_name = "PATH")]
    pub(crate) stdin_filename: Option<PathBuf>,
    /// Report format; overrides --format (sarif is only available here)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) output_format: Option<OutputFormat>,
    /// Only run these rules (ids or prefixes, comma-separated: PY1,RS101)
    #[arg(long, value_delimiter = ',', value_name = "RULES")]
    pub(crate) select: Vec<String>,
    /// Never run these rules (ids or prefixes, comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "RULES")]
    pub(crate) ignore: Vec<String>,
    /// Apply safe fixes in place (atomic writes)
    #[arg(long)]
    pub(crate) fix: bool,
    /// With --fix, also apply fixes marked unsafe
    #[arg(long, requires = "fix")]
    pub(crate) unsafe_fixes: bool,
    /// Exit 0 even when there are findings
    #[arg(long)]
    pub(crate) exit_zero: bool,
    /// Exit 1 when a finding is at least this severe
    #[arg(long, value_enum, default_value_t = FailOn::Warning)]
    pub(crate) fail_on: FailOn,
    /// Store the findings as a check run in the database
    #[arg(long)]
    pub(crate) record: bool,
    /// Analyse every file, ignoring and not updating the findings cache
    #[arg(long)]
    pub(crate) no_cache: bool,
    /// Worker threads [default: one per core]
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<usize>,
    /// Parse files as this language instead of detecting it (python, rust, javascript, typescript, tsx)
    #[arg(long, value_name = "LANG")]
    pub(crate) language: Option<String>,
}

pub(crate) fn run(ctx: &Context, args: &Args) -> anyhow::Result<ExitCode> {
    let config = &ctx.config.config.analysis;
    let rules = RuleSet::with_selection(config, &args.select, &args.ignore)?;
    let language = args
        .language
        .as_deref()
        .map(|l| {
            Language::from_name(l).with_context(|| {
                format!("unknown language '{l}'; use python, rust, javascript, typescript or tsx")
            })
        })
        .transpose()?;
    let format = args.output_format.unwrap_or(match ctx.format {
        Format::Human => OutputFormat::Human,
        Format::Json => OutputFormat::Json,
    });
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let cache_file = (!args.no_cache).then(|| {
        ctx.paths
            .state_dir
            .join("analysis-cache")
            .join(cache_name(&ctx.cwd))
    });
    let opts = CheckOptions {
        paths,
        threads: args.threads.unwrap_or(0),
        language,
        fix: args.fix.then_some(if args.unsafe_fixes {
            FixMode::IncludeUnsafe
        } else {
            FixMode::SafeOnly
        }),
        cache_file,
        keep_source: format == OutputFormat::Human,
    };
    let stdin = args.stdin_filename.is_some() && args.paths.is_empty()
        || args.paths.iter().any(|p| p.as_os_str() == "-");
    if stdin && args.paths.len() > 1 {
        anyhow::bail!("'-' (stdin) cannot be combined with other paths");
    }
    let started = std::time::Instant::now();
    let mut fixed_source = None;
    let outcome = if stdin {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("cannot read the source from stdin")?;
        let name = args
            .stdin_filename
            .clone()
            .unwrap_or_else(|| PathBuf::from("-"));
        let checked = analysis::check_source(&name, &bytes, &opts, &rules);
        fixed_source = checked.fixed;
        checked.outcome
    } else {
        analysis::check_paths(&opts, &rules)
    };
    tracing::info!(
        files = outcome.files_checked,
        cache_hits = outcome.cache_hits,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "check finished"
    );
    let text = match format {
        OutputFormat::Human => {
            let tty = if fixed_source.is_some() {
                std::io::stderr().is_terminal()
            } else {
                std::io::stdout().is_terminal()
            };
            let color = tty && ctx.env.get("NO_COLOR").is_none_or(str::is_empty);
            paint(&analysis::report::human(&outcome), color)
        }
        OutputFormat::Json => analysis::report::json(&outcome),
        OutputFormat::Sarif => analysis::report::sarif(&outcome),
    };
    // With fixes from stdin, stdout carries the fixed source (as formatters do) and the report
    // moves to stderr.
    let mut out: Box<dyn Write> = if let Some(fixed) = &fixed_source {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(fixed)
            .context("cannot write the fixed source")?;
        stdout.flush().context("cannot write the fixed source")?;
        Box::new(std::io::stderr().lock())
    } else {
        Box::new(std::io::stdout().lock())
    };
    out.write_all(text.as_bytes())
        .context("cannot write the report")?;
    if !text.ends_with('\n') {
        writeln!(out).context("cannot write the report")?;
    }
    drop(out);
    // After the report: a database that cannot take the findings must not hide them.
    let mut failed = false;
    if args.record
        && let Err(e) = record(ctx, &outcome)
    {
        eprintln!(
            "error: {}; the findings above were not recorded",
            chain_once(&e)
        );
        failed = true;
    }
    failed |= input_errors(&outcome);
    if outcome.unwritten > 0 {
        eprintln!(
            "error: {} fixes could not be written (see the notes); the files keep their content",
            outcome.unwritten
        );
        failed = true;
    }
    if failed {
        return Ok(ExitCode::from(2));
    }
    let threshold = match args.fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
        FailOn::Info => Severity::Info,
        FailOn::Hint => Severity::Hint,
    };
    let failing = outcome.findings().any(|(_, f)| f.severity >= threshold);
    Ok(if failing && !args.exit_zero {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The human report for a terminal: colours by role (when `color`), and every span that came
/// from the analysed files or the file system made inert, so a file cannot drive the terminal.
/// Inert in pipes too: the human format is for people; `json` and `sarif` stay byte-exact.
fn paint(report: &Styled, color: bool) -> String {
    let mut out = String::with_capacity(report.text.len() + report.spans.len() * 8);
    for (text, role) in report.pieces() {
        let Some(role) = role else {
            out.push_str(text);
            continue;
        };
        let text = if role.is_untrusted() {
            untrusted::inert(text)
        } else {
            text.into()
        };
        let code = match role {
            Role::Path | Role::Rule => "1",
            Role::Severity(Severity::Error) | Role::Marker => "1;31",
            Role::Severity(Severity::Warning) => "1;33",
            Role::Severity(Severity::Info) => "1;36",
            Role::Severity(Severity::Hint) | Role::Gutter | Role::NoteLabel => "2",
            _ => "",
        };
        if color && !code.is_empty() {
            out.push_str("\x1b[");
            out.push_str(code);
            out.push('m');
            out.push_str(&text);
            out.push_str("\x1b[0m");
        } else {
            out.push_str(&text);
        }
    }
    out
}

/// Says why the input itself failed: a named path that does not exist (a mistyped path must
/// not pass CI), or nothing at all could be read. Returns whether it did.
fn input_errors(outcome: &analysis::CheckOutcome) -> bool {
    let missing: Vec<String> = outcome
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::NotFound)
        .map(|n| format!("'{}'", untrusted::inert(&n.path.to_string_lossy())))
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "error: {} does not exist; check the path",
            missing.join(", ")
        );
        return true;
    }
    let unreadable = outcome.notes.iter().any(|n| {
        matches!(
            n.kind,
            NoteKind::Unreadable | NoteKind::Walk | NoteKind::UnknownLanguage
        )
    });
    if outcome.files_checked == 0 && unreadable {
        eprintln!("error: no file could be read (see the notes above)");
        return true;
    }
    false
}

/// An error and its causes, each cause left out when the message before already says it
/// (SQLite's messages repeat through the layers: "disk I/O error: disk I/O error").
fn chain_once(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        let short = text.split(": ").last().unwrap_or(&text);
        if !out.is_empty() && out.contains(short) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// One cache file per working directory.
fn cache_name(cwd: &std::path::Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(cwd.to_string_lossy().as_bytes());
    format!("{}.json", hex::encode(&digest[..8]))
}

/// Stores the findings as a check run through the engine (`Op::RecordCheck`), in the project
/// containing the working directory.
fn record(ctx: &Context, outcome: &analysis::CheckOutcome) -> anyhow::Result<()> {
    let analysed = outcome
        .files
        .iter()
        .map(|file| {
            (
                analysis::report::display_path(&file.path),
                file.findings.clone(),
            )
        })
        .collect();
    let params = RecordCheckParams {
        root: ctx.cwd.clone(),
        project: Some(ProjectRef::Containing(ctx.cwd.clone())),
        findings: analysed,
        origin: Origin::Cli,
    };
    let mut session = Session::start(ctx)?;
    let finished = session.run(Op::RecordCheck(params), |_| {});
    session.finish();
    let finished = finished?;
    if let Some(error) = finished.failed {
        anyhow::bail!(error);
    }
    let total = finished
        .events
        .iter()
        .find_map(|e| match e.event {
            Event::FindingsReady { total, .. } => Some(total),
            _ => None,
        })
        .unwrap_or(0);
    let run = finished
        .run
        .context("the engine recorded no run for the findings")?;
    eprintln!("recorded {total} findings as run {run}");
    Ok(())
}
