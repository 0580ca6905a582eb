//! The runner: drives one pipeline run through its stages on tokio.
//!
//! Invariants: each stage's row is committed (through the store writer) before
//! `StageStarted` is sent and its end before `StageFinished`; its output is stored with it, so
//! the run's state can always be rebuilt from the store ([`super::state`]). Stages already
//! finished in an earlier attempt of the same run (resume, retry) are replayed from their
//! stored output, never run again. A model stage whose call failed in transit is retried as a
//! whole, at most `stage_retries` times; a parse failure is not retried (the same model would
//! likely answer the same), it fails the run, which stays retryable. Cancellation (the op's
//! token, or a request another process stored) ends the current model stream or sandboxed
//! process at once.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::config::{CustomStage, PipelineConfig};
use super::gates::{self, Verdict};
use super::language::Lang;
use super::stage::Stage;
use super::state::{FindingBrief, RunState, StageOutput};
use super::{Error, output, testing};
use crate::engine::analysis::Finding;
use crate::engine::context::{Event, LogEntry, OpContext};
use crate::engine::ids::{ArtifactId, ProcessId, RunId, StageId};
use crate::engine::llm::{self, ChatRequest, Message, Model, prompts};
use crate::engine::store::{
    LogLevel, LogLine, LogStream, NewArtifact, NewGate, NewStage, StageRow, Status,
};
use crate::engine::toolchain::{self, PlanRequest};

/// What a pipeline run was asked, stored as `runs.options` so retry and resume continue it
/// exactly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunOptions {
    pub request: String,
    pub language: Lang,
    /// Where export writes; `None` means export is refused.
    pub root: Option<PathBuf>,
    /// Context files, read when the run started (path relative to the root, content).
    pub files: BTreeMap<String, String>,
    /// Stage names to run instead of the configured pipeline.
    pub stages: Option<Vec<String>>,
    /// Stage name to model name.
    pub models: BTreeMap<String, String>,
    /// Export when every gate passes.
    pub export: bool,
    /// Sandbox limits over `[sandbox]` for this run's processes.
    pub sandbox: super::SandboxLimits,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Builtin(Stage),
    Custom(CustomStage),
}

impl Step {
    fn name(&self) -> &str {
        match self {
            Self::Builtin(s) => s.as_str(),
            Self::Custom(c) => &c.name,
        }
    }

    fn kind(&self) -> Stage {
        match self {
            Self::Builtin(s) => *s,
            Self::Custom(_) => Stage::Custom,
        }
    }
}

/// The stages to run, in order, from the options, the config and the custom stages.
fn plan(config: &PipelineConfig, opts: &RunOptions) -> Result<Vec<Step>, Error> {
    let named = opts
        .stages
        .clone()
        .or_else(|| (!config.stages.is_empty()).then(|| config.stages.clone()));
    let lookup = |name: &str| -> Result<Step, Error> {
        if let Some(c) = config.custom.iter().find(|c| c.name == name) {
            return Ok(Step::Custom(c.clone()));
        }
        match name.parse::<Stage>() {
            Ok(Stage::Custom) | Err(_) => Err(Error::UnknownStage {
                name: name.to_owned(),
                known: super::stage::BUILTIN
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .chain(config.custom.iter().map(|c| c.name.clone()))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
            Ok(s) => Ok(Step::Builtin(s)),
        }
    };
    if let Some(names) = named {
        return names.iter().map(|n| lookup(n)).collect();
    }
    let mut out = Vec::new();
    for s in super::stage::BUILTIN {
        for c in &config.custom {
            let before = if c.before.is_empty() {
                "generate"
            } else {
                &c.before
            };
            if before == s.as_str() {
                out.push(Step::Custom(c.clone()));
            }
        }
        out.push(Step::Builtin(s));
    }
    Ok(out)
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub status: Status,
    pub error: Option<String>,
}

/// Drives run `run` to its end. `replay` holds finished stages of earlier attempts of this run,
/// reused by (name, iteration) instead of running again.
pub(crate) async fn drive(
    ctx: &OpContext,
    run: RunId,
    opts: RunOptions,
    replay: Vec<StageRow>,
) -> Ended {
    let config = ctx.shared.config.pipeline.clone();
    let mut runner = Runner {
        ctx: ctx.clone(),
        run,
        state: RunState {
            request: opts.request.clone(),
            language: opts.language,
            context: opts.files.clone(),
            ..RunState::default()
        },
        replay: replay
            .into_iter()
            .filter_map(|r| {
                let output: StageOutput = serde_json::from_str(r.output.as_deref()?).ok()?;
                Some(((r.name, r.iteration), output))
            })
            .collect(),
        opts,
        config,
        skipped: None,
    };
    let result = runner.all().await;
    let cancelled = ctx.cancel.is_cancelled() || matches!(result, Err(Error::Cancelled));
    match result {
        Ok(()) if runner.skipped.is_some() => Ended {
            status: Status::Skipped,
            error: runner.skipped.take(),
        },
        Ok(()) => Ended {
            status: Status::Succeeded,
            error: None,
        },
        Err(_) if cancelled => Ended {
            status: Status::Cancelled,
            error: Some("cancelled".into()),
        },
        Err(e) => Ended {
            status: Status::Failed,
            error: Some(e.to_string()),
        },
    }
}

struct Runner {
    ctx: OpContext,
    run: RunId,
    opts: RunOptions,
    config: PipelineConfig,
    state: RunState,
    replay: HashMap<(String, i64), StageOutput>,
    /// Why model stages were skipped (no model), if they were.
    skipped: Option<String>,
}

/// A stage's result before it is recorded.
struct Done {
    output: StageOutput,
    status: Status,
    error: Option<String>,
    cached: bool,
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(store_err)`
fn store_err(e: crate::engine::store::WriteError) -> Error {
    Error::Stage {
        stage: "store".into(),
        message: e.to_string(),
    }
}

impl Runner {
    async fn all(&mut self) -> Result<(), Error> {
        let steps = plan(&self.config, &self.opts)?;
        let mut present: Vec<Stage> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Builtin(k) => Some(*k),
                Step::Custom(_) => None,
            })
            .collect();
        if self.config.smoke.enabled && !present.contains(&Stage::Smoke) {
            present.push(Stage::Smoke);
        }
        let has = |s: Stage| present.contains(&s);
        let loop_stages = [
            Stage::Check,
            Stage::TestRun,
            Stage::Smoke,
            Stage::Review,
            Stage::Improve,
        ];
        let post = [Stage::Docs, Stage::Export];
        for step in steps.iter().filter(
            |s| !matches!(s, Step::Builtin(k) if loop_stages.contains(k) || post.contains(k)),
        ) {
            self.step(step, 0).await?;
        }
        let in_loop = [Stage::Check, Stage::TestRun, Stage::Smoke, Stage::Review]
            .into_iter()
            .any(&has);
        if in_loop && self.skipped.is_none() {
            self.improve_loop(&present).await?;
        }
        if self.skipped.is_none() {
            if has(Stage::Docs) {
                self.step(&Step::Builtin(Stage::Docs), 0).await?;
            }
            if has(Stage::Export) {
                self.step(&Step::Builtin(Stage::Export), 0).await?;
            }
        }
        Ok(())
    }

    async fn improve_loop(&mut self, present: &[Stage]) -> Result<(), Error> {
        let has = |s: Stage| present.contains(&s);
        let mut iteration: i64 = 0;
        let mut last: Option<String> = None;
        loop {
            for s in [Stage::Check, Stage::TestRun, Stage::Smoke, Stage::Review] {
                if has(s)
                    && (s != Stage::Review || iteration == 0 || self.config.gates.review_score > 0)
                {
                    self.step(&Step::Builtin(s), iteration).await?;
                }
            }
            let verdicts = gates::evaluate(&self.config.gates, &self.state);
            self.record_gates(iteration, &verdicts).await?;
            let failing: Vec<&Verdict> = verdicts.iter().filter(|v| !v.passed).collect();
            if failing.is_empty() {
                return Ok(());
            }
            let why = failing
                .iter()
                .map(|v| format!("{}: {}", v.gate, v.detail))
                .collect::<Vec<_>>()
                .join("; ");
            if !has(Stage::Improve) {
                return Err(Error::Stage {
                    stage: "gates".into(),
                    message: format!("gates failed and the pipeline has no improve stage: {why}"),
                });
            }
            let signature = gates::signature(&self.state, &verdicts);
            if iteration > 0 && last.as_deref() == Some(signature.as_str()) {
                return Err(Error::Stage {
                    stage: "gates".into(),
                    message: format!(
                        "stuck: iteration {iteration} failed exactly as the one before ({why}); every attempt is kept, see `kiln show RUN`"
                    ),
                });
            }
            if iteration >= i64::from(self.config.max_iterations) {
                return Err(Error::Stage {
                    stage: "gates".into(),
                    message: format!(
                        "gates still failing after {} improve round(s) (pipeline.max_iterations): {why}; every attempt is kept, see `kiln show RUN`",
                        self.config.max_iterations
                    ),
                });
            }
            last = Some(signature);
            iteration += 1;
            self.step(&Step::Builtin(Stage::Improve), iteration).await?;
        }
    }

    async fn record_gates(&self, iteration: i64, verdicts: &[Verdict]) -> Result<(), Error> {
        let run = self.run.get();
        let rows = verdicts.to_vec();
        self.ctx
            .write(move |s| {
                for v in &rows {
                    s.insert_gate(&NewGate {
                        run_id: run,
                        stage_id: None,
                        iteration,
                        gate: &v.gate,
                        passed: v.passed,
                        detail: &v.detail,
                    })?;
                }
                Ok(())
            })
            .await
            .map_err(store_err)?;
        for v in verdicts {
            self.ctx.emit(
                Some(self.run),
                Event::GateEvaluated {
                    gate: v.gate.clone(),
                    passed: v.passed,
                    detail: v.detail.clone(),
                    iteration: iteration as u32,
                },
            );
        }
        Ok(())
    }

    fn check_cancel(&self) -> Result<(), Error> {
        if self.ctx.cancel.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Runs (or replays) one stage and folds its output into the state.
    async fn step(&mut self, step: &Step, iteration: i64) -> Result<(), Error> {
        self.check_cancel()?;
        let name = step.name().to_owned();
        if let Some(output) = self.replay.get(&(name.clone(), iteration)).cloned() {
            tracing::debug!(run = %self.run, stage = %name, iteration, "replayed from the store");
            self.state.apply(&name, &output);
            if let StageOutput::Skipped { reason } = &output
                && step.kind().is_model_stage()
            {
                self.skipped = Some(reason.clone());
            }
            return Ok(());
        }
        let retries = if step.kind().is_model_stage() {
            self.config.stage_retries
        } else {
            0
        };
        let mut tries = 0;
        loop {
            let (row, done) = self.attempt(step, iteration).await?;
            match done {
                Ok(done) => {
                    let output = done.output.clone();
                    self.finish(&row, &done).await?;
                    self.state.apply(&name, &output);
                    if let StageOutput::Skipped { reason } = &output
                        && step.kind().is_model_stage()
                    {
                        self.skipped = Some(reason.clone());
                    }
                    return Ok(());
                }
                Err(e) => {
                    let cancelled = self.ctx.cancel.is_cancelled() || matches!(e, Error::Cancelled);
                    let transit = !cancelled && is_transit(&e);
                    let status = if cancelled {
                        Status::Cancelled
                    } else {
                        Status::Failed
                    };
                    let message = e.to_string();
                    self.log(Some(row.id), LogLevel::Error, format!("{name}: {message}"))
                        .await;
                    self.finish(
                        &row,
                        &Done {
                            output: StageOutput::Skipped {
                                reason: message.clone(),
                            },
                            status,
                            error: Some(message),
                            cached: false,
                        },
                    )
                    .await?;
                    if transit && tries < retries {
                        tries += 1;
                        self.log(
                            Some(row.id),
                            LogLevel::Warn,
                            format!("{name}: the model call failed in transit; retrying the stage ({tries} of {retries})"),
                        )
                        .await;
                        continue;
                    }
                    return Err(if cancelled { Error::Cancelled } else { e });
                }
            }
        }
    }

    /// Starts a stage row and runs the stage once.
    async fn attempt(
        &mut self,
        step: &Step,
        iteration: i64,
    ) -> Result<(StageRow, Result<Done, Error>), Error> {
        let prepared = match step.kind() {
            k if k.is_model_stage() => Some(self.prepare_model(step).await),
            _ => None,
        };
        let hash = match &prepared {
            Some(Ok(Some(call))) if self.config.cache => Some(call.hash.clone()),
            _ => None,
        };
        let row = self.start(step, iteration, hash.as_deref()).await?;
        let done = match prepared {
            Some(Err(e)) => Err(e),
            Some(Ok(None)) => Ok(Done {
                output: StageOutput::Skipped {
                    reason: Self::no_model_reason(),
                },
                status: Status::Skipped,
                error: Some(Self::no_model_reason()),
                cached: false,
            }),
            Some(Ok(Some(call))) => self.model_stage(step, &row, call).await,
            None => self.local_stage(step.kind(), &row).await,
        };
        Ok((row, done))
    }

    fn no_model_reason() -> String {
        format!("skipped: no model configured; {}", llm::NO_MODEL_HELP)
    }

    async fn start(
        &self,
        step: &Step,
        iteration: i64,
        hash: Option<&str>,
    ) -> Result<StageRow, Error> {
        let run = self.run.get();
        let kind = step.kind();
        let name = step.name().to_owned();
        let hash = hash.map(str::to_owned);
        let row = self
            .ctx
            .write(move |s| {
                s.start_pipeline_stage(&NewStage {
                    run_id: run,
                    kind,
                    name: &name,
                    iteration,
                    input_hash: hash.as_deref(),
                })
            })
            .await
            .map_err(store_err)?;
        self.ctx.emit(
            Some(self.run),
            Event::StageStarted {
                stage: StageId(row.id),
                name: row.name.clone(),
                attempt: row.attempt as u32,
                iteration: iteration as u32,
            },
        );
        Ok(row)
    }

    async fn finish(&self, row: &StageRow, done: &Done) -> Result<(), Error> {
        let id = row.id;
        let status = done.status;
        let error = done.error.clone();
        let output = serde_json::to_string(&done.output).ok();
        self.ctx
            .write(move |s| {
                s.finish_pipeline_stage(id, status, error.as_deref(), output.as_deref())
            })
            .await
            .map_err(store_err)?;
        self.ctx.emit(
            Some(self.run),
            Event::StageFinished {
                stage: StageId(row.id),
                name: row.name.clone(),
                status,
                error: done.error.clone(),
                attempt: row.attempt as u32,
                cached: done.cached,
            },
        );
        Ok(())
    }

    /// Appends one kiln line to the run's log, then announces it.
    async fn log(&self, stage: Option<i64>, level: LogLevel, text: String) {
        let run = self.run.get();
        let line = LogLine::now(stage, LogStream::Kiln, level, text);
        let entry = LogEntry {
            ts: line.ts,
            stream: line.stream,
            level: line.level,
            text: line.text.clone(),
        };
        if self
            .ctx
            .write(move |s| s.append_logs(run, &[line]))
            .await
            .is_ok()
        {
            self.ctx.emit(
                Some(self.run),
                Event::LogLines {
                    stage: stage.map(StageId),
                    lines: vec![entry],
                },
            );
        }
    }
}

/// A model failure worth running the stage again for.
fn is_transit(e: &Error) -> bool {
    matches!(
        e,
        Error::Llm(llm::Error::Stream { .. } | llm::Error::GaveUp { .. })
    )
}

/// A model call ready to make.
struct Call {
    model: Model,
    messages: Vec<Message>,
    hash: String,
}

fn hash_of(name: &str, model: &Model, messages: &[Message]) -> String {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0]);
    h.update(model.config.base_url().as_bytes());
    h.update([0]);
    h.update(model.config.model.as_bytes());
    h.update([0]);
    h.update(
        serde_json::to_string(messages)
            .unwrap_or_default()
            .as_bytes(),
    );
    hex::encode(h.finalize())
}

impl Runner {
    /// The model stage's model and prompt; `Ok(None)` when no model is configured.
    async fn prepare_model(&self, step: &Step) -> Result<Option<Call>, Error> {
        let llm = self.ctx.llm()?;
        let name = step.name();
        let wanted = self.opts.models.get(name).cloned().or_else(|| match step {
            Step::Custom(c) if !c.model.is_empty() => Some(c.model.clone()),
            Step::Builtin(s) => s
                .model_stage()
                .and_then(|m| llm.config().stages.get(m).map(str::to_owned)),
            Step::Custom(_) => None,
        });
        let model = match llm.resolve(wanted.as_deref()).await {
            Ok(m) => m,
            Err(llm::Error::NoModel) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let messages = match step {
            Step::Builtin(s) => {
                let stage = s.model_stage().ok_or_else(|| Error::Stage {
                    stage: name.to_owned(),
                    message: "not a model stage".into(),
                })?;
                let template = prompts::load(&self.ctx.shared.paths.config_dir, stage)?;
                let vars = self.vars(*s);
                let vars: BTreeMap<&str, &str> =
                    vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
                template.render(&vars)?
            }
            Step::Custom(c) => self.custom_messages(c)?,
        };
        let hash = hash_of(name, &model, &messages);
        Ok(Some(Call {
            model,
            messages,
            hash,
        }))
    }

    /// The variables of the built-in templates.
    fn vars(&self, stage: Stage) -> BTreeMap<&'static str, String> {
        let st = &self.state;
        let mut spec = st.spec.clone();
        for (name, note) in &st.notes {
            let _ = write!(spec, "\n\n## {name}\n{note}");
        }
        let code = match stage {
            Stage::Improve => RunState::render_files(&{
                let mut all = st.code.clone();
                all.extend(st.tests.clone());
                all
            }),
            _ => RunState::render_files(&st.code),
        };
        let review = st.review.as_ref().map_or_else(String::new, |r| {
            let mut out = format!(
                "score: {}\n",
                r.score.map_or_else(|| "none".to_owned(), |s| s.to_string())
            );
            for i in &r.issues {
                let _ = writeln!(out, "- {i}");
            }
            for s in &r.suggestions {
                let _ = writeln!(out, "- suggestion: {s}");
            }
            out
        });
        let mut tests = st.render_results();
        if stage == Stage::Tests {
            tests.clear();
        }
        if stage == Stage::Improve {
            let verdicts = gates::evaluate(&self.config.gates, st);
            for v in verdicts.iter().filter(|v| !v.passed) {
                let _ = writeln!(tests, "\nGate '{}' failed: {}", v.gate, v.detail);
            }
            tests.push_str("\nDo not delete, rename, skip or weaken the tests; fix the code.\n");
        }
        [
            ("request", st.request.clone()),
            ("language", st.language.as_str().to_owned()),
            ("spec", spec),
            ("code", code),
            ("tests", tests),
            ("review", review),
            ("files", RunState::render_files(&st.context)),
        ]
        .into_iter()
        .collect()
    }

    fn custom_messages(&self, c: &CustomStage) -> Result<Vec<Message>, Error> {
        let root = self.opts.root.clone().unwrap_or_default();
        let path = root.join(&c.prompt);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Stage {
            stage: c.name.clone(),
            message: format!("cannot read its prompt template '{}': {e}", path.display()),
        })?;
        let template = prompts::Template {
            stage: llm::Stage::Spec,
            origin: prompts::Origin::User(path),
            text,
        };
        let all = self.vars(Stage::Generate);
        let mut vars: BTreeMap<&str, String> = BTreeMap::new();
        for read in &c.reads {
            if let Some((k, v)) = all.iter().find(|(k, _)| **k == read.as_str()) {
                vars.insert(k, v.clone());
            } else if let Some(note) = self.state.notes.get(read) {
                vars.insert(read.as_str(), note.clone());
            } else {
                return Err(Error::Stage {
                    stage: c.name.clone(),
                    message: format!(
                        "reads '{read}', which is neither a built-in artifact (request, spec, code, tests, review, language, files) nor an earlier custom stage"
                    ),
                });
            }
        }
        let vars: BTreeMap<&str, &str> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Ok(template.render(&vars)?)
    }

    /// Checks the budgets against an estimate of the call's cost.
    async fn check_budget(&self, call: &Call) -> Result<(), Error> {
        let budget = self.config.budget.clone();
        if budget.per_run_usd <= 0.0 && budget.per_day_usd <= 0.0 {
            return Ok(());
        }
        let chars: usize = call.messages.iter().map(|m| m.content.len()).sum();
        let c = &call.model.config;
        let estimate = (chars as f64 / 4.0) * c.price_in_per_mtok / 1e6
            + f64::from(c.max_tokens) * c.price_out_per_mtok / 1e6;
        let run = self.run.get();
        let day_start = {
            let now = crate::engine::store::now_micros();
            now - now.rem_euclid(86_400_000_000)
        };
        let (spent_run, spent_day) = self
            .ctx
            .write(move |s| Ok((s.cost_of_run(run)?, s.cost_since(day_start)?)))
            .await
            .map_err(store_err)?;
        if budget.per_run_usd > 0.0 && spent_run + estimate > budget.per_run_usd {
            return Err(Error::Budget(format!(
                "run {run} has spent ${spent_run:.4}; the next call (about ${estimate:.4}) would pass the per-run budget of ${:.4} (pipeline.budget.per_run_usd)",
                budget.per_run_usd
            )));
        }
        if budget.per_day_usd > 0.0 && spent_day + estimate > budget.per_day_usd {
            return Err(Error::Budget(format!(
                "today's model calls cost ${spent_day:.4}; the next call (about ${estimate:.4}) would pass the daily budget of ${:.4} (pipeline.budget.per_day_usd)",
                budget.per_day_usd
            )));
        }
        Ok(())
    }

    async fn model_stage(
        &mut self,
        step: &Step,
        row: &StageRow,
        call: Call,
    ) -> Result<Done, Error> {
        let name = step.name().to_owned();
        if let Some(hash) = row.input_hash.clone() {
            let lookup = name.clone();
            let cached = self
                .ctx
                .write(move |s| s.cached_stage(&lookup, &hash))
                .await
                .map_err(store_err)?;
            if let Some(hit) = cached
                && let Some(output) = hit
                    .output
                    .as_deref()
                    .and_then(|o| serde_json::from_str::<StageOutput>(o).ok())
            {
                self.log(
                    Some(row.id),
                    LogLevel::Info,
                    format!(
                        "{name}: reused the result of run {} stage {} (same inputs)",
                        hit.run_id, hit.id
                    ),
                )
                .await;
                self.store_artifacts(row, &output).await?;
                return Ok(Done {
                    output,
                    status: Status::Succeeded,
                    error: None,
                    cached: true,
                });
            }
        }
        self.check_budget(&call).await?;
        let llm = self.ctx.llm()?;
        let _permit = self
            .ctx
            .shared
            .pipeline
            .calls
            .acquire()
            .await
            .map_err(|_| Error::Cancelled)?;
        let request = ChatRequest {
            messages: call.messages,
            run_id: Some(self.run.get()),
            stage_id: Some(row.id),
            // The stage cache reuses only replies that parsed; the model layer's cache would
            // hand a retried stage the same bad reply again.
            cache: llm::CachePolicy::Bypass,
            ..ChatRequest::default()
        };
        let emitter = self.ctx.clone();
        let run = self.run;
        let stage = StageId(row.id);
        let mut on_text = move |text: &str| {
            emitter.emit(
                Some(run),
                Event::ModelDelta {
                    stage: Some(stage),
                    text: text.to_owned(),
                },
            );
        };
        let done = llm
            .chat(&call.model, request, &mut on_text, &self.ctx.cancel)
            .await?;
        if let Some(out) = done.usage.tokens_out
            && out >= u64::from(call.model.config.max_tokens)
        {
            return Err(Error::Truncated {
                stage: name,
                tokens: out,
            });
        }
        let output = self.parse_reply(step, &done.text)?;
        self.store_artifacts(row, &output).await?;
        Ok(Done {
            output,
            status: Status::Succeeded,
            error: None,
            cached: false,
        })
    }

    fn parse_reply(&self, step: &Step, text: &str) -> Result<StageOutput, Error> {
        let root = self.parse_root();
        let name = step.name().to_owned();
        let parse = |e| Error::Parse {
            stage: name.clone(),
            source: e,
        };
        Ok(match step {
            Step::Builtin(Stage::Spec) => {
                if text.trim().is_empty() {
                    return Err(parse(llm::parse::Error::Unparseable {
                        what: "specification",
                        raw: text.to_owned(),
                    }));
                }
                StageOutput::Spec {
                    text: text.trim().to_owned(),
                }
            }
            Step::Builtin(Stage::Generate | Stage::Docs) => StageOutput::Files {
                files: output::files(text, &root).map_err(parse)?,
            },
            Step::Builtin(Stage::Tests) => StageOutput::Tests {
                files: output::files(text, &root).map_err(parse)?,
            },
            Step::Builtin(Stage::Review) => StageOutput::Review {
                review: output::review(text).map_err(parse)?,
            },
            Step::Builtin(Stage::Improve) => {
                let mut current = self.state.code.clone();
                current.extend(self.state.tests.clone());
                StageOutput::Files {
                    files: output::improve(text, &current, &root).map_err(parse)?,
                }
            }
            Step::Custom(c) => match c.writes.as_str() {
                "spec" => StageOutput::Spec {
                    text: text.trim().to_owned(),
                },
                "code" => StageOutput::Files {
                    files: output::files(text, &root).map_err(parse)?,
                },
                _ => StageOutput::Note {
                    name: c.name.clone(),
                    text: text.trim().to_owned(),
                },
            },
            Step::Builtin(other) => {
                return Err(Error::Stage {
                    stage: other.as_str().into(),
                    message: "not a model stage".into(),
                });
            }
        })
    }

    /// The root paths are checked against (symlinks in it that lead out are refused).
    fn parse_root(&self) -> PathBuf {
        self.opts
            .root
            .clone()
            .unwrap_or_else(|| PathBuf::from("/nonexistent-kiln-root"))
    }

    /// Stores the files of an output as the next versions of their artifacts.
    async fn store_artifacts(&self, row: &StageRow, output: &StageOutput) -> Result<(), Error> {
        let files = match output {
            StageOutput::Files { files } | StageOutput::Tests { files } => files.clone(),
            StageOutput::Spec { text } => [("SPEC.md".to_owned(), text.clone())].into(),
            _ => return Ok(()),
        };
        let run = self.run.get();
        let stage = row.id;
        let stored = self
            .ctx
            .write(move |s| {
                files
                    .iter()
                    .map(|(path, content)| {
                        s.put_artifact(&NewArtifact {
                            run_id: run,
                            stage_id: Some(stage),
                            path,
                            content: content.as_bytes(),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
            .map_err(store_err)?;
        for a in stored {
            self.ctx.emit(
                Some(self.run),
                Event::ArtifactStored {
                    artifact: ArtifactId(a.id),
                    stage: Some(StageId(stage)),
                    path: a.path,
                    version: a.version as u32,
                },
            );
        }
        Ok(())
    }
}

/// What the check stage found: per finding for the state, per file for the findings table.
type Analysed = (Vec<FindingBrief>, Vec<(String, Vec<Finding>)>);

impl Runner {
    async fn local_stage(&mut self, kind: Stage, row: &StageRow) -> Result<Done, Error> {
        let output = match kind {
            Stage::Check => self.check(row).await?,
            Stage::TestRun => self.test_run(row).await?,
            Stage::Export => self.export(row).await?,
            Stage::Smoke => super::smoke::stage(
                &self.ctx,
                self.run,
                row,
                &self.state.spec,
                self.state.all_files(),
                &self.config.smoke,
            )
            .await?
            .map_or_else(
                || StageOutput::Skipped {
                    reason: "no smoke checks: add a ```smoke block to the spec or [[pipeline.smoke.checks]]".into(),
                },
                |report| StageOutput::Smoke { report },
            ),
            other => {
                return Err(Error::Stage {
                    stage: other.as_str().into(),
                    message: "not a local stage".into(),
                });
            }
        };
        let status = if matches!(output, StageOutput::Skipped { .. }) {
            Status::Skipped
        } else {
            Status::Succeeded
        };
        let error = match &output {
            StageOutput::Skipped { reason } => Some(reason.clone()),
            _ => None,
        };
        Ok(Done {
            output,
            status,
            error,
            cached: false,
        })
    }

    /// The analysis engine on the generated files (syntax errors included).
    async fn check(&self, row: &StageRow) -> Result<StageOutput, Error> {
        let mut files = self.state.code.clone();
        files.extend(self.state.tests.clone());
        if files.is_empty() {
            return Ok(StageOutput::Skipped {
                reason: "no generated files to check".into(),
            });
        }
        let analysis = self.ctx.shared.config.analysis.clone();
        let (findings, raw) = tokio::task::spawn_blocking(move || -> Result<Analysed, String> {
            use crate::engine::analysis::{FileKind, RuleSet, analyze_source};
            let rules = RuleSet::new(&analysis).map_err(|e| e.to_string())?;
            let mut briefs = Vec::new();
            let mut raw = Vec::new();
            for (path, text) in &files {
                let Some(lang) = Lang::analysis_language(path) else {
                    continue;
                };
                let kind = FileKind::of_path(std::path::Path::new(path), &rules);
                let found = analyze_source(text, lang, kind, &rules).map_err(|e| e.to_string())?;
                briefs.extend(found.iter().map(|f| FindingBrief {
                    file: path.clone(),
                    line: f.range.start.line + 1,
                    rule: f.rule.clone(),
                    severity: f.severity.as_str().to_owned(),
                    message: f.message.clone(),
                }));
                raw.push((path.clone(), found));
            }
            Ok((briefs, raw))
        })
        .await
        .map_err(|e| Error::Stage {
            stage: "check".into(),
            message: e.to_string(),
        })?
        .map_err(|message| Error::Stage {
            stage: "check".into(),
            message,
        })?;
        let run = self.run.get();
        let stage = row.id;
        self.ctx
            .write(move |s| {
                for (file, found) in &raw {
                    s.record_findings(run, Some(stage), file, found)?;
                }
                Ok(())
            })
            .await
            .map_err(store_err)?;
        let errors = findings.iter().filter(|f| f.severity == "error").count() as u32;
        let warnings = findings.iter().filter(|f| f.severity == "warning").count() as u32;
        self.log(
            Some(row.id),
            LogLevel::Info,
            format!(
                "check: {} finding(s), {errors} error(s), {warnings} warning(s)",
                findings.len()
            ),
        )
        .await;
        self.ctx.emit(
            Some(self.run),
            Event::FindingsReady {
                stage: Some(StageId(row.id)),
                errors,
                warnings,
                total: findings.len() as u32,
            },
        );
        Ok(StageOutput::Findings { findings })
    }

    /// The tests in the sandbox, through the runner module: the toolchain found as for
    /// `kiln run` (`engine::toolchain`), the project's files copied with the run's laid over
    /// them, the output streamed into the run's log, the results parsed (JUnit, libtest, TAP)
    /// into `test_results`.
    async fn test_run(&self, row: &StageRow) -> Result<StageOutput, Error> {
        if self.state.tests.is_empty() {
            return Ok(StageOutput::Skipped {
                reason: "no tests to run".into(),
            });
        }
        let shared = self.ctx.shared.clone();
        let stage_err = |message: String| Error::Stage {
            stage: "test_run".into(),
            message,
        };
        let tmp = PathBuf::from(shared.env.get("TMPDIR").unwrap_or("/tmp"));
        // Without a project directory the run's files are all there is: an empty base.
        let empty;
        let root = if let Some(root) = self.opts.root.as_ref().filter(|r| r.is_dir()) {
            root.clone()
        } else {
            empty = tempfile::Builder::new()
                .prefix("kiln-empty-")
                .tempdir_in(&tmp)
                .map_err(|e| stage_err(format!("cannot create a scratch directory: {e}")))?;
            empty.path().to_path_buf()
        };
        let request = PlanRequest {
            root,
            language: Some(testing::test_language(self.state.language)),
            overlay: self
                .state
                .all_files()
                .into_iter()
                .map(|(path, content)| (path, content.into_bytes()))
                .collect(),
            languages: shared.config.languages.clone(),
            sandbox: self.opts.sandbox.apply(&shared.config.sandbox),
            env: shared.env.clone(),
            scratch_parent: tmp,
        };
        let plan = toolchain::plan(&shared.sandbox, &request)
            .await
            .map_err(|e| stage_err(e.to_string()))?;
        self.log(
            Some(row.id),
            LogLevel::Info,
            format!("test_run: {}", plan.spec.argv.join(" ")),
        )
        .await;
        let stage = StageId(row.id);
        let emitter = self.ctx.clone();
        let run = self.run;
        let mut tail: VecDeque<String> = VecDeque::new();
        // The scratch copy's path changes every run; the prompt must not (the stage cache).
        let scratch = plan
            .spec
            .workdir
            .as_ref()
            .map(|w| w.display().to_string())
            .filter(|w| !w.is_empty());
        let mut on_lines = |lines: &[LogLine]| {
            for l in lines.iter().filter(|l| l.stream != LogStream::Kiln) {
                if tail.len() == testing::TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(match &scratch {
                    Some(dir) => l.text.replace(dir.as_str(), "."),
                    None => l.text.clone(),
                });
            }
            emitter.emit(Some(run), Event::log_lines(Some(stage), lines));
        };
        let target = crate::engine::testing::Target {
            run_id: run.get(),
            stage_id: Some(row.id),
        };
        let report = crate::engine::testing::run_recorded(
            &shared.sandbox,
            &plan,
            &shared.writer,
            target,
            &self.ctx.cancel,
            &mut on_lines,
        )
        .await
        .map_err(|e| stage_err(e.to_string()))?;
        drop(plan);
        let process = report.process_id.map(ProcessId);
        if let Some(process) = process {
            self.ctx.emit(
                Some(self.run),
                Event::ProcessFinished {
                    process,
                    stage: Some(stage),
                    exit_code: report.exit_code,
                    limit: None,
                },
            );
        }
        if report.cancelled || self.ctx.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let tail: Vec<String> = tail.into();
        let report = testing::from_report(&report, &tail);
        self.ctx.emit(
            Some(self.run),
            Event::TestResults {
                stage: Some(stage),
                process,
                passed: report.passed,
                failed: report.failed,
                skipped: report.skipped,
                errors: report.errors,
            },
        );
        Ok(StageOutput::TestRun { report })
    }

    /// Writes the final files into the root when every gate passed and export was asked.
    async fn export(&self, row: &StageRow) -> Result<StageOutput, Error> {
        if !self.opts.export {
            return Ok(StageOutput::Skipped {
                reason: "not asked to export; run `kiln export RUN` to write the files".into(),
            });
        }
        let Some(root) = self.opts.root.clone() else {
            return Ok(StageOutput::Skipped {
                reason: "the run has no project root to export into".into(),
            });
        };
        let mut files = self.state.code.clone();
        files.extend(self.state.tests.clone());
        files.extend(self.state.docs.clone());
        let read = self.state.context.clone();
        let written =
            tokio::task::spawn_blocking(move || super::export::write(&root, &files, &read))
                .await
                .map_err(|e| Error::Stage {
                    stage: "export".into(),
                    message: e.to_string(),
                })??;
        self.log(
            Some(row.id),
            LogLevel::Info,
            format!("export: wrote {}", written.join(", ")),
        )
        .await;
        self.ctx.emit(
            Some(self.run),
            Event::Exported {
                files: written.clone(),
                branch: None,
                zip: None,
            },
        );
        Ok(StageOutput::Exported { files: written })
    }
}

/// Checks a run's options against the config before the run is created (unknown stage names).
pub fn validate(config: &PipelineConfig, opts: &RunOptions) -> Result<(), Error> {
    plan(config, opts).map(drop)
}
