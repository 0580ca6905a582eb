//! The runs owner: one task that owns the engine handle and every run this server started.
//!
//! Commands arrive as [`RunMsg`]s (enqueued by handlers before their first `.await`) and are
//! answered at once with the operation's id; the work goes on in the engine. Engine events are
//! matched to their operation here: stages become `$/progress` reports on the run's one token
//! (when the client supports progress; cancelling it cancels the run), the run's artifacts
//! become one `workspace/applyEdit` (or a message naming the run when the client cannot apply
//! edits), and a test run's failures become their own diagnostics collection. `kiln.runTests`
//! coalesces: a new request cancels the running one and at most one more run follows.
//! The engine starts on the first command, so opening files costs no database.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kiln::engine::api::{
    CheckParams, Engine, EngineHandle, EngineOptions, Envelope, Event, Events, Op, Origin,
    ProjectRef, StartRunParams,
};
use kiln::engine::config;
use kiln::engine::env::Env;
use kiln::engine::ids::{OpId, RunId};
use kiln::engine::paths::Paths;
use kiln::engine::store::{Status as RunStatus, Store};
use tokio::sync::{mpsc, oneshot};
use tower_lsp_server::Client;
use tower_lsp_server::ls_types::{
    CodeLens, Command, Diagnostic, DiagnosticSeverity, MessageType, NumberOrString, Position,
    ProgressToken, Range, ShowDocumentParams, Uri, WorkspaceEdit,
};

use crate::caps::ClientCaps;
use crate::commands::{self, Args};
use crate::convert;
use crate::documents::{Documents, Msg, Out};
use crate::functions::{at_line, functions};
use crate::settings::Settings;
use crate::status::Status;

/// The source of test-run diagnostics (their own collection).
pub(crate) const TEST_SOURCE: &str = "kiln tests";

/// What the process gives the runs owner, resolved once in `main`.
#[derive(Debug, Clone)]
pub(crate) struct Process {
    pub env: Env,
    pub paths: Option<Paths>,
    /// This binary: the sandbox init of its engine.
    pub init_program: PathBuf,
}

pub(crate) enum RunMsg {
    Init {
        caps: ClientCaps,
        root: Option<PathBuf>,
        settings: Settings,
    },
    Settings(Settings),
    Saved {
        uri: Uri,
    },
    CancelToken(ProgressToken),
    CancelAll,
    Execute {
        command: String,
        args: Args,
        reply: oneshot::Sender<Result<serde_json::Value, String>>,
    },
    Lenses {
        uri: Uri,
        reply: oneshot::Sender<Vec<CodeLens>>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Runs {
    tx: mpsc::UnboundedSender<RunMsg>,
}

impl Runs {
    pub(crate) fn start(
        client: Client,
        docs: Documents,
        out: mpsc::UnboundedSender<Out>,
        process: Process,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let owner = Owner {
            client,
            docs,
            out,
            process,
            caps: ClientCaps::default(),
            root: None,
            settings: Settings::default(),
            engine: None,
            events: None,
            inflight: HashMap::new(),
            last_run: None,
            tests_op: None,
            tests_pending: None,
            lenses: HashMap::new(),
            waiting: HashMap::new(),
        };
        tokio::spawn(owner.run(rx));
        Self { tx }
    }

    pub(crate) fn send(&self, msg: RunMsg) {
        let _ = self.tx.send(msg);
    }

    /// Queues a command at once; the future resolves to its immediate answer.
    pub(crate) fn execute(
        &self,
        command: String,
        args: Args,
    ) -> impl Future<Output = Option<Result<serde_json::Value, String>>> + use<> {
        let (reply, answer) = oneshot::channel();
        self.send(RunMsg::Execute {
            command,
            args,
            reply,
        });
        async move { answer.await.ok() }
    }

    pub(crate) fn lenses(&self, uri: Uri) -> impl Future<Output = Option<Vec<CodeLens>>> + use<> {
        let (reply, answer) = oneshot::channel();
        self.send(RunMsg::Lenses { uri, reply });
        async move { answer.await.ok() }
    }

    /// Cancels every run and stops the engine; resolves when it has.
    pub(crate) async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        self.send(RunMsg::Shutdown { done });
        let _ = wait.await;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Generate,
    Improve,
    GenerateTests,
    RunTests,
}

impl Kind {
    fn title(self) -> &'static str {
        match self {
            Self::Generate => "kiln: generating",
            Self::Improve => "kiln: improving",
            Self::GenerateTests => "kiln: generating tests",
            Self::RunTests => "kiln: running tests",
        }
    }
}

enum Report {
    Message(String),
    End(String),
}

struct InFlight {
    kind: Kind,
    uri: Option<Uri>,
    line: Option<u32>,
    run: Option<RunId>,
    cancel_requested: bool,
    token: ProgressToken,
    progress: Option<mpsc::UnboundedSender<Report>>,
    finished: Option<(RunStatus, Option<String>)>,
    artifacts: bool,
}

struct Owner {
    client: Client,
    docs: Documents,
    out: mpsc::UnboundedSender<Out>,
    process: Process,
    caps: ClientCaps,
    root: Option<PathBuf>,
    settings: Settings,
    engine: Option<EngineHandle>,
    events: Option<Events>,
    inflight: HashMap<OpId, InFlight>,
    last_run: Option<RunId>,
    tests_op: Option<OpId>,
    /// A test run asked for while one was running: started when it ends.
    tests_pending: Option<Args>,
    /// The last result per generated function: uri → (line, summary).
    lenses: HashMap<String, Vec<(u32, String)>>,
    /// Commands sent with `wait`: answered when their operation ends.
    waiting: HashMap<OpId, oneshot::Sender<Result<serde_json::Value, String>>>,
}

async fn next_event(events: &mut Option<Events>) -> Option<Envelope> {
    match events {
        Some(e) => e.next().await,
        None => std::future::pending().await,
    }
}

impl Owner {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<RunMsg>) {
        loop {
            tokio::select! {
                msg = rx.recv() => {
                    let Some(msg) = msg else { break };
                    if let RunMsg::Shutdown { done } = msg {
                        self.stop().await;
                        let _ = done.send(());
                        break;
                    }
                    self.apply(msg).await;
                }
                event = next_event(&mut self.events) => match event {
                    Some(e) => self.on_event(e).await,
                    None => self.events = None,
                },
            }
        }
    }

    async fn apply(&mut self, msg: RunMsg) {
        match msg {
            RunMsg::Init {
                caps,
                root,
                settings,
            } => {
                self.caps = caps;
                self.root = root;
                self.settings = settings;
            }
            RunMsg::Settings(s) => self.settings = s,
            RunMsg::Saved { uri } => {
                if self.settings.run_tests_on_save {
                    let args = Args {
                        uri: Some(uri.as_str().to_owned()),
                        ..Args::default()
                    };
                    if let Err(e) = self.run_tests(args) {
                        self.message(MessageType::WARNING, e);
                    }
                }
            }
            RunMsg::CancelToken(token) => {
                let ops: Vec<OpId> = self
                    .inflight
                    .iter()
                    .filter(|(_, f)| f.token == token)
                    .map(|(op, _)| *op)
                    .collect();
                for op in ops {
                    self.cancel(op);
                }
            }
            RunMsg::CancelAll => {
                let ops: Vec<OpId> = self.inflight.keys().copied().collect();
                for op in ops {
                    self.cancel(op);
                }
            }
            RunMsg::Execute {
                command,
                args,
                reply,
            } => {
                let wait = args.wait;
                let answer = self.execute(&command, args).await;
                let started = answer
                    .as_ref()
                    .ok()
                    .and_then(|v| v["op"].as_u64())
                    .and_then(|op| self.inflight.keys().copied().find(|o| o.get() == op));
                match started {
                    // The answer waits for the run's end (see `Args::wait`).
                    Some(op) if wait => {
                        self.waiting.insert(op, reply);
                    }
                    _ => {
                        let _ = reply.send(answer);
                    }
                }
            }
            RunMsg::Lenses { uri, reply } => {
                let lenses = if self.settings.code_lens {
                    self.lenses
                        .get(uri.as_str())
                        .map(|v| {
                            v.iter()
                                .map(|(line, summary)| CodeLens {
                                    range: Range::new(
                                        Position::new(*line, 0),
                                        Position::new(*line, 0),
                                    ),
                                    command: Some(Command {
                                        title: summary.clone(),
                                        command: commands::SHOW_RUN.into(),
                                        arguments: None,
                                    }),
                                    data: None,
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                let _ = reply.send(lenses);
            }
            RunMsg::Shutdown { .. } => {}
        }
    }

    fn message(&self, kind: MessageType, text: String) {
        let _ = self.out.send(Out::Message(kind, text));
    }

    fn status(&self) {
        let busy = !self.inflight.is_empty();
        let mut s = Status::ok();
        s.busy = busy;
        if busy {
            s.message = format!("kiln: {} run(s) in progress", self.inflight.len());
        }
        let _ = self.out.send(Out::Status(s));
    }

    /// The engine, started on first use.
    fn engine(&mut self) -> Result<EngineHandle, String> {
        if let Some(e) = &self.engine {
            return Ok(e.clone());
        }
        let paths = self.process.paths.clone().ok_or_else(|| {
            "kiln cannot find a home directory: set HOME or the XDG directories for kiln-lsp"
                .to_owned()
        })?;
        if paths.db == paths.data_dir.join("kiln.db") {
            std::fs::create_dir_all(&paths.data_dir).map_err(|e| {
                format!(
                    "cannot create the data directory '{}': {e}",
                    paths.data_dir.display()
                )
            })?;
        }
        let sources = config::Sources {
            user_file: Some(paths.user_config()),
            project_file: self.root.as_deref().and_then(config::find_project_file),
            env: self.process.env.clone(),
            flags: Vec::new(),
            // A kiln.toml another user owns is never read (see engine::config::trust).
            uid: Some(nix::unistd::geteuid().as_raw()),
        };
        let loaded = config::load(&sources)
            .map_err(|e| format!("kiln: the configuration has an error: {e}"))?;
        let handle = Engine::start(EngineOptions {
            paths,
            config: loaded.config,
            env: self.process.env.clone(),
            init_program: self.process.init_program.clone(),
        })
        .map_err(|e| format!("kiln: cannot start the engine: {e}"))?;
        self.events = Some(handle.subscribe());
        self.engine = Some(handle.clone());
        Ok(handle)
    }

    async fn execute(&mut self, command: &str, args: Args) -> Result<serde_json::Value, String> {
        match command {
            commands::GENERATE => self.start_model_run(Kind::Generate, args).await,
            commands::IMPROVE => self.start_model_run(Kind::Improve, args).await,
            commands::GENERATE_TESTS => self.start_model_run(Kind::GenerateTests, args).await,
            commands::RUN_TESTS => self.run_tests(args),
            commands::SHOW_RUN => self.show_run(&args).await,
            commands::CANCEL => {
                let ops: Vec<OpId> = self
                    .inflight
                    .iter()
                    .filter(|(_, f)| args.run.is_none_or(|r| f.run == Some(RunId(r))))
                    .map(|(op, _)| *op)
                    .collect();
                for op in &ops {
                    self.cancel(*op);
                }
                Ok(serde_json::json!({ "cancelled": ops.len() }))
            }
            commands::NOT_A_PROBLEM => {
                let paths = self.process.paths.clone().ok_or(
                    "kiln cannot find a home directory: set HOME or the XDG directories for kiln-lsp",
                )?;
                let root = self.root.clone();
                tokio::task::spawn_blocking(move || {
                    crate::feedback::not_a_problem(&paths, root.as_deref(), &args)
                })
                .await
                .map_err(|e| format!("kiln: recording the verdict failed: {e}"))?
            }
            other => Err(format!("unknown command '{other}'")),
        }
    }

    fn project(&self) -> Option<ProjectRef> {
        self.root.clone().map(ProjectRef::Containing)
    }

    async fn start_model_run(
        &mut self,
        kind: Kind,
        args: Args,
    ) -> Result<serde_json::Value, String> {
        let uri_text = args
            .uri
            .clone()
            .ok_or("the command needs a document 'uri'")?;
        let uri: Uri = uri_text
            .parse()
            .map_err(|_| format!("invalid uri '{uri_text}'"))?;
        let line = args.line.unwrap_or(0);
        let range = args.range;
        let snapshot = self
            .docs
            .read(uri.clone(), move |v| {
                let doc = v.doc?;
                let fns = functions(doc.text(), doc.language());
                let f = at_line(&fns, line).cloned();
                let lines: Vec<&str> = doc.text().lines().collect();
                let (s, e) = match (&range, &f) {
                    (Some(r), _) => (r.start.line as usize, r.end.line as usize),
                    (None, Some(f)) => (f.start_line as usize, f.end_line as usize),
                    (None, None) => (0, lines.len().saturating_sub(1)),
                };
                let code = lines
                    .get(s..=e.min(lines.len().saturating_sub(1)))
                    .map(|l| l.join("\n"))
                    .unwrap_or_default();
                Some((
                    doc.path.clone(),
                    doc.language(),
                    f.map(|f| f.name),
                    code,
                    doc.text().to_owned(),
                ))
            })
            .await
            .flatten()
            .ok_or_else(|| format!("'{uri_text}' is not open in kiln-lsp"))?;
        let (path, lang, name, code, text) = snapshot;
        // The buffer as the editor has it (maybe unsaved, maybe never saved) is the context.
        let context_name = path.as_deref().map_or_else(
            || "untitled".into(),
            |p| {
                self.root
                    .as_deref()
                    .and_then(|r| p.strip_prefix(r).ok())
                    .unwrap_or_else(|| p.file_name().map_or(p, std::path::Path::new))
                    .to_string_lossy()
                    .into_owned()
            },
        );
        let name = args
            .function
            .clone()
            .or(name)
            .unwrap_or_else(|| "this code".into());
        let file = path
            .as_deref()
            .map_or_else(|| uri_text.clone(), |p| p.display().to_string());
        let request = match kind {
            Kind::Generate => {
                format!("Implement the function `{name}` in {file}. Its stub:\n\n{code}")
            }
            Kind::Improve => format!(
                "Improve `{name}` in {file}{}:\n\n{code}",
                args.instruction
                    .as_deref()
                    .filter(|i| !i.is_empty())
                    .map(|i| format!(" ({i})"))
                    .unwrap_or_default()
            ),
            Kind::GenerateTests => {
                format!("Write tests for the function `{name}` in {file}:\n\n{code}")
            }
            Kind::RunTests => String::new(),
        };
        let engine = self.engine()?;
        let params = StartRunParams {
            request,
            project: self.project(),
            root: self.root.clone(),
            language: Some(lang.name().to_owned()),
            files: Vec::new(),
            context: std::iter::once((context_name, text)).collect(),
            stages: None,
            models: self.settings.models.clone(),
            origin: Origin::Lsp,
            sandbox: self.settings.sandbox.limits(),
            ..StartRunParams::default()
        };
        let op = engine.submit(Op::StartRun(params));
        self.track(op, kind, Some(uri), Some(line));
        Ok(serde_json::json!({ "op": op.get() }))
    }

    fn run_tests(&mut self, args: Args) -> Result<serde_json::Value, String> {
        if let Some(op) = self.tests_op {
            // Coalesce: cancel the running one; one more run follows it.
            self.cancel(op);
            self.tests_pending = Some(args);
            return Ok(serde_json::json!({ "coalesced": true }));
        }
        let root = self
            .root
            .clone()
            .ok_or("kiln.runTests needs a workspace folder")?;
        let engine = self.engine()?;
        let op = engine.submit(Op::CheckProject(CheckParams {
            root,
            paths: Vec::new(),
            project: self.project(),
            run_tests: true,
            origin: Origin::Lsp,
            sandbox: self.settings.sandbox.limits(),
        }));
        self.tests_op = Some(op);
        let uri = args.uri.and_then(|u| u.parse().ok());
        self.track(op, Kind::RunTests, uri, None);
        Ok(serde_json::json!({ "op": op.get() }))
    }

    async fn show_run(&mut self, args: &Args) -> Result<serde_json::Value, String> {
        let run = args
            .run
            .map(RunId)
            .or(self.last_run)
            .ok_or("no run yet in this session")?;
        if self.caps.show_document
            && let Some(paths) = &self.process.paths
        {
            // The run's report, written where the dashboard and `kiln show` find runs.
            let report = paths.state_dir.join("runs").join(format!("{run}.md"));
            if report.is_file()
                && let Some(uri) = Uri::from_file_path(&report)
            {
                let _ = self
                    .client
                    .show_document(ShowDocumentParams {
                        uri,
                        external: None,
                        take_focus: Some(true),
                        selection: None,
                    })
                    .await;
            }
        }
        self.message(
            MessageType::INFO,
            format!("kiln: run {run} (`kiln show {run}` prints it)"),
        );
        Ok(serde_json::json!({ "run": run.get() }))
    }

    fn track(&mut self, op: OpId, kind: Kind, uri: Option<Uri>, line: Option<u32>) {
        let token = ProgressToken::String(format!("kiln/op/{op}"));
        let progress = self.caps.progress.then(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(report_progress(
                self.client.clone(),
                token.clone(),
                kind.title(),
                rx,
            ));
            tx
        });
        self.inflight.insert(
            op,
            InFlight {
                kind,
                uri,
                line,
                run: None,
                cancel_requested: false,
                token,
                progress,
                finished: None,
                artifacts: false,
            },
        );
        self.status();
    }

    fn cancel(&mut self, op: OpId) {
        let Some(f) = self.inflight.get_mut(&op) else {
            return;
        };
        f.cancel_requested = true;
        if let (Some(run), Some(engine)) = (f.run, &self.engine) {
            engine.submit(Op::CancelRun { run });
        }
    }

    fn report(&self, op: OpId, text: String) {
        if let Some(p) = self.inflight.get(&op).and_then(|f| f.progress.as_ref()) {
            let _ = p.send(Report::Message(text));
        }
    }

    async fn on_event(&mut self, e: Envelope) {
        let Some(op) = e.op else { return };
        if !self.inflight.contains_key(&op) {
            return;
        }
        match e.event {
            Event::RunCreated { .. } => {
                if let Some(run) = e.run {
                    self.last_run = Some(run);
                    let cancel = self.inflight.get_mut(&op).map(|f| {
                        f.run = Some(run);
                        f.cancel_requested
                    });
                    if cancel == Some(true)
                        && let Some(engine) = &self.engine
                    {
                        engine.submit(Op::CancelRun { run });
                    }
                }
            }
            Event::StageStarted {
                name, iteration, ..
            } => {
                let text = if iteration > 0 {
                    format!("{name} (iteration {iteration})")
                } else {
                    name
                };
                self.report(op, text);
            }
            Event::ArtifactStored { path, .. } => {
                if let Some(f) = self.inflight.get_mut(&op) {
                    f.artifacts = true;
                }
                self.report(op, format!("wrote {path}"));
            }
            Event::TestResults {
                passed,
                failed,
                errors,
                ..
            } => {
                self.report(
                    op,
                    format!("tests: {passed} passed, {} failed", failed + errors),
                );
            }
            Event::RunFinished { status, error } => {
                if let Some(f) = self.inflight.get_mut(&op) {
                    f.finished = Some((status, error));
                }
            }
            Event::OpDone => self.finish(op, None).await,
            Event::OpFailed { error, .. } => self.finish(op, Some(error)).await,
            _ => {}
        }
    }

    async fn finish(&mut self, op: OpId, error: Option<String>) {
        let Some(f) = self.inflight.remove(&op) else {
            return;
        };
        let end = match (&error, &f.finished) {
            (Some(e), _) => format!("failed: {e}"),
            (None, Some((s, _))) => s.as_str().to_owned(),
            (None, None) => "done".to_owned(),
        };
        if let Some(p) = &f.progress {
            let _ = p.send(Report::End(end.clone()));
        }
        let what = f.kind.title().trim_start_matches("kiln: ");
        match (&error, &f.finished) {
            (Some(e), _) => self.message(MessageType::ERROR, format!("kiln: {what} failed: {e}")),
            // A run that ended without its result (skipped, failed, cancelled) says why: the
            // progress end alone is easy to miss.
            (None, Some((status, why))) if *status != RunStatus::Succeeded => {
                let run = f.run.map(|r| format!(" (run {r})")).unwrap_or_default();
                let why = why.as_deref().map(|w| format!(": {w}")).unwrap_or_default();
                self.message(
                    MessageType::WARNING,
                    format!("kiln: {what} ended {}{run}{why}", status.as_str()),
                );
            }
            _ => {}
        }
        if f.kind == Kind::RunTests {
            self.tests_op = None;
            if let Some(run) = f.run
                && error.is_none()
            {
                self.publish_test_failures(run).await;
            }
            if let Some(args) = self.tests_pending.take()
                && let Err(e) = self.run_tests(args)
            {
                self.message(MessageType::WARNING, e);
            }
        } else if let Some(run) = f.run
            && error.is_none()
        {
            if let (Some(uri), Some(line)) = (&f.uri, f.line) {
                let mark = if matches!(f.finished, Some((RunStatus::Succeeded, _))) {
                    "✔"
                } else {
                    "✘"
                };
                self.lenses
                    .entry(uri.as_str().to_owned())
                    .or_default()
                    .push((line, format!("last run {mark} {end} · run {run}")));
            }
            if f.artifacts {
                self.apply_artifacts(run, f.kind, f.uri.as_ref()).await;
            }
        }
        if let Some(reply) = self.waiting.remove(&op) {
            let _ = reply.send(Ok(serde_json::json!({
                "op": op.get(),
                "run": f.run.map(RunId::get),
                "status": end,
            })));
        }
        self.status();
    }

    /// One `workspace/applyEdit` of what the action is for: the document's new code
    /// (generate, improve) or the test files (generate tests). The run's other files (spec,
    /// docs) stay in the run for `kiln export`; editors prompt before edits of unopened files.
    async fn apply_artifacts(&mut self, run: RunId, kind: Kind, uri: Option<&Uri>) {
        let Some(paths) = self.process.paths.clone() else {
            return;
        };
        let Some(root) = self.root.clone() else {
            return;
        };
        let artifacts = tokio::task::spawn_blocking(move || {
            let store =
                Store::open_read_only(&paths.db, &kiln::engine::store::StoreConfig::default())?;
            store.latest_artifacts(run.get())
        })
        .await;
        let artifacts = match artifacts {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                self.message(
                    MessageType::ERROR,
                    format!("kiln: cannot read run {run}'s files: {e}"),
                );
                return;
            }
            Err(_) => return,
        };
        let mut changes = HashMap::new();
        let enc = self.caps.enc;
        for a in artifacts {
            let target = root.join(&a.path);
            let Some(target_uri) = Uri::from_file_path(&target) else {
                continue;
            };
            let wanted = match kind {
                Kind::GenerateTests => is_test_file(&a.path),
                _ => uri.is_none_or(|u| *u == target_uri),
            };
            if !wanted {
                continue;
            }
            let Ok(new) = String::from_utf8(a.content) else {
                continue;
            };
            let old = self
                .docs
                .read(target_uri.clone(), |v| v.doc.map(|d| d.text().to_owned()))
                .await
                .flatten()
                .or_else(|| std::fs::read_to_string(&target).ok())
                .unwrap_or_default();
            if let Some(edit) = convert::diff_edit(&old, &new, enc) {
                changes.insert(target_uri, vec![edit]);
            }
        }
        if changes.is_empty() {
            return;
        }
        let edit = WorkspaceEdit {
            changes: Some(changes),
            ..WorkspaceEdit::default()
        };
        if self.caps.apply_edit {
            match self.client.apply_edit(edit).await {
                Ok(r) if r.applied => {}
                Ok(r) => self.message(
                    MessageType::WARNING,
                    format!(
                        "kiln: the editor did not apply run {run}'s edit{}; `kiln export {run}` writes it",
                        r.failure_reason.map(|f| format!(" ({f})")).unwrap_or_default()
                    ),
                ),
                Err(e) => tracing::warn!("workspace/applyEdit failed: {e}"),
            }
        } else {
            self.message(
                MessageType::INFO,
                format!("kiln: run {run} finished; `kiln export {run} --apply` writes its files"),
            );
        }
    }

    /// Failed tests of `run` as diagnostics on their definitions.
    async fn publish_test_failures(&mut self, run: RunId) {
        let (Some(paths), Some(root)) = (self.process.paths.clone(), self.root.clone()) else {
            return;
        };
        let rows = tokio::task::spawn_blocking(move || failed_tests(&paths.db, run))
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        let rows = match rows {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("cannot read the test results of run {run}: {e}");
                return;
            }
        };
        let mut by_file: HashMap<Uri, Vec<Diagnostic>> = HashMap::new();
        for (name, message) in rows {
            if let Some((uri, line)) = locate_test(&root, &name) {
                by_file.entry(uri).or_default().push(Diagnostic {
                    range: Range::new(Position::new(line, 0), Position::new(line, u32::MAX / 2)),
                    severity: Some(DiagnosticSeverity::ERROR),
                    code: Some(NumberOrString::String("test-failed".into())),
                    source: Some(TEST_SOURCE.into()),
                    message: format!("{name} failed: {}", message.trim()),
                    ..Diagnostic::default()
                });
            }
        }
        self.docs.send(Msg::TestDiagnostics(by_file));
    }

    async fn stop(&mut self) {
        let ops: Vec<OpId> = self.inflight.keys().copied().collect();
        for op in ops {
            self.cancel(op);
        }
        if let Some(engine) = self.engine.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_millis(700), engine.shutdown())
                .await;
        }
    }
}

async fn report_progress(
    client: Client,
    token: ProgressToken,
    title: &'static str,
    mut rx: mpsc::UnboundedReceiver<Report>,
) {
    if client
        .create_work_done_progress(token.clone())
        .await
        .is_err()
    {
        // The client refused the token: drain silently.
        while rx.recv().await.is_some() {}
        return;
    }
    let p = client
        .progress(token, title)
        .with_cancel_button()
        .begin()
        .await;
    while let Some(r) = rx.recv().await {
        match r {
            Report::Message(m) => p.report_with_message(m, None).await,
            Report::End(m) => {
                p.finish_with_message(m).await;
                return;
            }
        }
    }
    p.finish().await;
}

/// A test file by its name: `test_*.py`, `*_test.py`, `*.test.js`/`.spec.js`, `tests/…`.
fn is_test_file(path: &str) -> bool {
    let p = Path::new(path);
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    name.starts_with("test_")
        || name.contains("_test.")
        || name.contains(".test.")
        || name.contains(".spec.")
        || p.components()
            .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "test")
}

/// `(name, message)` of the failed or errored tests of a run.
fn failed_tests(db: &Path, run: RunId) -> Result<Vec<(String, String)>, String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| e.to_string())?;
    let mut stmt = conn
        .prepare("SELECT name, COALESCE(message, '') FROM test_results WHERE run_id = ?1 AND outcome IN ('failed', 'error') ORDER BY id")
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([run.get()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(|e| e.to_string())?;
    rows.collect::<Result<_, _>>().map_err(|e| e.to_string())
}

/// Where a test is defined: `path::name` (pytest), `path::Class::name`, or a Rust path
/// `module::tests::name`; the definition line is searched in the file.
pub(crate) fn locate_test(root: &Path, name: &str) -> Option<(Uri, u32)> {
    let parts: Vec<&str> = name.split("::").collect();
    let func = parts.last()?.split('[').next()?.trim();
    let file = parts
        .first()
        .filter(|p| parts.len() > 1 && (p.contains('/') || p.contains('.')))
        .map(|p| root.join(p));
    let path = file.filter(|f| f.is_file())?;
    let text = std::fs::read_to_string(&path).ok()?;
    let line = text
        .lines()
        .position(|line| {
            let t = line.trim_start();
            t.starts_with(&format!("def {func}("))
                || t.starts_with(&format!("async def {func}("))
                || t.starts_with(&format!("fn {func}("))
                || t.contains(&format!("('{func}'"))
                || t.contains(&format!("(\"{func}\""))
        })
        .unwrap_or(0);
    Some((Uri::from_file_path(&path)?, line as u32))
}
