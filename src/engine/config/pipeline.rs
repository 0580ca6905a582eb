//! The `[pipeline]` section of the config (user `config.toml` or the project's `kiln.toml`):
//! which stages run, the gates, the loop bounds, budgets, concurrency limits and the project's
//! own model stages.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[pipeline]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Stage names in order; empty means the built-in pipeline. Custom stages are named here too.
    pub stages: Vec<String>,
    /// Improve rounds before a run whose gates still fail ends failed.
    pub max_iterations: u32,
    /// Whole-stage retries of a model stage whose call failed in transit.
    pub stage_retries: u32,
    /// Runs at once in one process; more wait queued.
    pub max_concurrent_runs: usize,
    /// Model calls at once across every run of one process.
    pub max_concurrent_model_calls: usize,
    pub gates: GatesConfig,
    pub budget: BudgetConfig,
    /// Reuse the result of an earlier stage with identical inputs.
    pub cache: bool,
    /// The project's own model stages.
    pub custom: Vec<CustomStage>,
    /// The optional smoke stage (off by default).
    pub smoke: SmokeConfig,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            stages: Vec::new(),
            max_iterations: 3,
            stage_retries: 2,
            max_concurrent_runs: 4,
            max_concurrent_model_calls: 8,
            gates: GatesConfig::default(),
            budget: BudgetConfig::default(),
            cache: true,
            custom: Vec::new(),
            smoke: SmokeConfig::default(),
        }
    }
}

/// `[pipeline.gates]`: what must hold before a run's code is done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatesConfig {
    /// No syntax errors in the generated files.
    pub syntax: bool,
    /// Every test passes (and at least one ran).
    pub tests: bool,
    /// No analysis finding at or above this severity (`error`, `warning`, `info`, `hint`,
    /// or `off`).
    pub findings: String,
    /// The review's score is at least this (0 turns the gate off).
    pub review_score: u8,
    /// The acceptance tests were not weakened (deleted, renamed, skipped, emptied,
    /// special-cased).
    pub integrity: bool,
}

impl Default for GatesConfig {
    fn default() -> Self {
        Self {
            syntax: true,
            tests: true,
            findings: "error".into(),
            review_score: 7,
            integrity: true,
        }
    }
}

/// `[pipeline.budget]`: dollars; 0 means no limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetConfig {
    pub per_run_usd: f64,
    pub per_day_usd: f64,
}

/// `[[pipeline.custom]]`: a model stage of the project's own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CustomStage {
    pub name: String,
    /// A prompt template (same format as `prompts/*.md`), relative to the project root.
    pub prompt: PathBuf,
    /// A model name; the default model when empty.
    pub model: String,
    /// Artifacts the template may use: `request`, `spec`, `code`, `tests`, `review`,
    /// `language`, or another custom stage's name.
    pub reads: Vec<String>,
    /// What the reply becomes: `spec` (replaces it), `code` (files), or a note under the
    /// stage's own name that later stages can read.
    pub writes: String,
    /// Run just before this built-in stage when `stages` is not set (default `generate`).
    pub before: String,
}

/// `[pipeline.smoke]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmokeConfig {
    /// Run the stage after `test_run` in every round of the loop.
    pub enabled: bool,
    /// The start command, run by `sh -c` ($PORT and $HOST are set); empty: inferred like
    /// `kiln serve` (a Flask or FastAPI app, `npm start`, a static site).
    pub cmd: String,
    /// Where the app listens inside the sandbox (its `PORT`).
    pub app_port: u16,
    /// HTTP path whose 2xx/3xx answer means "up"; empty: a TCP connect.
    pub health: String,
    /// Seconds the service may take to come up.
    pub health_timeout_secs: u64,
    /// Host paths bound read-only into the service (a venv, a toolchain).
    pub ro: Vec<PathBuf>,
    /// Checks of the project's own, run before those the spec or the tests give.
    pub checks: Vec<Check>,
}

impl Default for SmokeConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            cmd: String::new(),
            app_port: 8000,
            health: String::new(),
            health_timeout_secs: 30,
            ro: Vec::new(),
            checks: Vec::new(),
        }
    }
}

/// One HTTP check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Check {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// A substring the body must contain (empty: any body).
    pub body: String,
    /// The request body, sent as is (`Content-Type: application/json` when it parses as JSON).
    pub data: String,
}

impl Default for Check {
    fn default() -> Self {
        Self {
            method: "GET".into(),
            path: "/".into(),
            status: 200,
            body: String::new(),
            data: String::new(),
        }
    }
}

impl Check {
    /// `GET / → 200`, the name of its test result.
    pub fn name(&self) -> String {
        let n = format!("smoke: {} {} → {}", self.method, self.path, self.status);
        if self.body.is_empty() {
            n
        } else {
            format!("{n} containing {:?}", self.body)
        }
    }
}
