//! kiln's integration tests: one test binary with a module per area, so the 2-core CI machine
//! links one executable instead of one per file. Every test that starts `kiln` goes through
//! [`support::kiln::Kiln`] (a temp HOME/XDG world); skips go through [`support::require`].

mod support;

mod analysis_check_integrity;
mod analysis_document;
mod analysis_fix;
mod analysis_pre_commit;
mod analysis_rules;
mod analysis_scale;
mod analysis_stdin;
mod check_cli;
mod cli_basics;
mod llm_cli;
mod llm_engine;
mod sandbox_engine;
mod sandbox_isolation;
mod sandbox_limits;
mod sandbox_toolchains;
mod store_api;
mod store_bad_input;
mod store_migrate;
mod store_processes;
