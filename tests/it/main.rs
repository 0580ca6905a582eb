//! kiln's integration tests: one test binary with a module per area, so the 2-core CI machine
//! links one executable instead of one per file. Every test that starts `kiln` goes through
//! [`support::kiln::Kiln`] (a temp HOME/XDG world); skips go through [`support::require`].

// Tests may read the real environment (PATH, CARGO_HOME, KILN_TEST_BIN) but never change it:
// `std::env::set_var` is `unsafe` in edition 2024 and `unsafe_code` is denied here.
#![allow(clippy::disallowed_methods)]
// Helpers outside #[test] functions may unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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
mod cli_ports;
mod engine_api;
mod llm_ask_output;
mod llm_cli;
mod llm_engine;
mod llm_outcomes;
mod pipeline_api;
mod pipeline_bad_input;
mod pipeline_e2e;
mod pipeline_resume;
mod pipeline_smoke;
mod runner_engine;
mod runner_export;
mod runner_run;
mod sandbox_bytes;
mod sandbox_engine;
mod sandbox_isolation;
mod sandbox_limits;
mod sandbox_ownership;
mod sandbox_recording;
mod sandbox_toolchains;
mod serve_app;
mod serve_forwarder;
mod serve_run;
mod store_api;
mod store_bad_input;
mod store_full_disk;
mod store_migrate;
mod store_orphans;
mod store_processes;
mod trust_config;
mod tui_tmux;
