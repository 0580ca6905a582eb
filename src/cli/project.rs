//! `kiln project add|list|rename|rm`. A new project's language is detected from its files.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use kiln::engine::project;
use kiln::engine::store::NewProject;
use kiln::engine::untrusted::inert;

use super::{Context, Format, output};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Register a directory as a project
    Add {
        /// The project root [default: the current directory]
        path: Option<PathBuf>,
        /// Project name [default: the directory's name]
        #[arg(long)]
        name: Option<String>,
        /// Main language [default: detected from the files]
        #[arg(long)]
        language: Option<String>,
        /// A line about what the project is
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List projects
    #[command(alias = "ls")]
    List,
    /// Rename a project (its runs and files stay as they are)
    #[command(alias = "mv")]
    Rename { name: String, new_name: String },
    /// Remove a project and everything recorded for it (its files are not touched)
    Rm {
        name: String,
        /// Do not ask for confirmation
        #[arg(long, short)]
        yes: bool,
    },
}

pub(crate) fn run(ctx: &Context, cmd: Command) -> anyhow::Result<ExitCode> {
    let store = ctx.open_store()?;
    match cmd {
        Command::Add {
            path,
            name,
            language,
            description,
        } => {
            let root = path.map_or_else(|| ctx.cwd.clone(), |p| ctx.cwd.join(p));
            let root = root
                .canonicalize()
                .with_context(|| format!("cannot add '{}' as a project", root.display()))?;
            if !root.is_dir() {
                bail!(
                    "'{}' is not a directory; a project is a directory",
                    root.display()
                );
            }
            let name = match name {
                Some(n) => n,
                None => root
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .context("the root directory has no name; pass --name")?,
            };
            let language = language.or_else(|| project::detect_language(&root));
            let project = store.add_project(&NewProject {
                name,
                root,
                language,
                description,
            })?;
            match ctx.format {
                Format::Json => output::print_json(&project)?,
                Format::Human => println!(
                    "added project '{}' at {} ({})",
                    inert(&project.name),
                    inert(&project.root.to_string_lossy()),
                    project
                        .language
                        .as_deref()
                        .map_or("language unknown", |l| l)
                ),
            }
        }
        Command::List => {
            let projects = store.projects()?;
            match ctx.format {
                Format::Json => output::print_json(&projects)?,
                Format::Human if projects.is_empty() => {
                    println!("no projects yet; add one with `kiln project add PATH`");
                }
                Format::Human => {
                    let rows: Vec<Vec<String>> = projects
                        .iter()
                        .map(|p| {
                            vec![
                                inert(&p.name).into_owned(),
                                p.language.clone().unwrap_or_else(|| "-".into()),
                                p.runs.to_string(),
                                inert(&p.root.to_string_lossy()).into_owned(),
                            ]
                        })
                        .collect();
                    output::print_table(&["NAME", "LANGUAGE", "RUNS", "ROOT"], &rows);
                }
            }
        }
        Command::Rename { name, new_name } => {
            let project = store.rename_project(&name, &new_name)?;
            match ctx.format {
                Format::Json => output::print_json(&project)?,
                Format::Human => println!("renamed project '{name}' to '{}'", project.name),
            }
        }
        Command::Rm { name, yes } => {
            let project = store.project_by_name(&name)?;
            if !yes
                && !confirm(&format!(
                    "Remove project '{}' and its {} recorded runs? Files under {} are not touched. [y/N] ",
                    project.name,
                    project.runs,
                    project.root.display()
                ))?
            {
                eprintln!("kept project '{name}'");
                return Ok(ExitCode::from(1));
            }
            let removed = store.remove_project(&name)?;
            match ctx.format {
                Format::Json => output::print_json(&removed)?,
                Format::Human => println!("removed project '{}'", removed.name),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal; without one, refuses rather than guessing.
fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to remove without confirmation: stdin is not a terminal; pass --yes");
    }
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
