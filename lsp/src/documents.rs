//! The one owner of the open documents: a dedicated thread that applies every document message
//! in the order the handlers enqueued them.
//!
//! Handlers never touch documents: they send a [`Msg`] (unbounded, before their first `.await`)
//! and, for a read, await the reply. The owner drains everything queued before it analyses, so
//! a burst of edits costs one analysis per document, for its newest version only; results go
//! to the [`Out`] queue in version order, so a stale publish can never follow a newer one.
//! Analysis diagnostics and test-run diagnostics are separate collections, merged when
//! published: an analysis update keeps the test failures and a test run keeps the findings.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use kiln::engine::analysis::{
    AnalysisConfig, Document, FileKind, Finding, Language, LineIndex, RuleSet, TextChange,
};
use kiln::engine::config;
use kiln::engine::env::Env;
use tokio::sync::mpsc::UnboundedSender;
use tower_lsp_server::ls_types::{Diagnostic, MessageType, TextDocumentContentChangeEvent, Uri};

use crate::convert::{self, Encoding};
use crate::settings::Settings;
use crate::status::Status;

/// What a read request sees.
pub(crate) struct View<'a> {
    pub doc: Option<&'a OpenDoc>,
    pub enc: Encoding,
    pub settings: &'a Settings,
    /// The latest test run's diagnostics for this document.
    pub tests: Option<&'a [Diagnostic]>,
    /// Analyses run since start (for tests and benchmarks).
    pub analysis_runs: u64,
}

/// A read of one document's newest state; it runs on the owner thread and must only read.
pub(crate) type Read = Box<dyn FnOnce(View<'_>) + Send>;

/// What handlers ask the owner to do.
pub(crate) enum Msg {
    Init {
        enc: Encoding,
        pull: bool,
        root: Option<PathBuf>,
        settings: Settings,
    },
    Open {
        uri: Uri,
        language_id: String,
        version: i32,
        text: String,
    },
    Change {
        uri: Uri,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
    },
    Close {
        uri: Uri,
    },
    Settings(Settings),
    /// `kiln.toml` (or the user config) changed: reload and re-analyse.
    ReloadConfig,
    /// The diagnostics of the latest test run, per file (replacing the previous run's).
    TestDiagnostics(HashMap<Uri, Vec<Diagnostic>>),
    Read(Uri, Read),
    Stop,
}

/// What the owner sends to the client, in order.
#[derive(Debug)]
pub(crate) enum Out {
    Publish {
        uri: Uri,
        version: Option<i32>,
        diagnostics: Vec<Diagnostic>,
    },
    /// Ask a pull-mode client to pull again (configuration changed).
    Refresh,
    Message(MessageType, String),
    Status(Status),
    /// The client sent `initialized`: notifications may flow (they are held until then).
    Ready,
}

/// An open document of a language kiln analyses.
pub(crate) struct OpenDoc {
    pub version: i32,
    pub path: Option<PathBuf>,
    pub doc: Document,
    pending: Vec<TextChange>,
    /// With UTF-8 positions: the text as the pending changes leave it, to convert each change's
    /// positions against the text it applies to.
    shadow: Option<(String, LineIndex)>,
    /// The analysis diagnostics of `version`.
    pub diagnostics: Vec<Diagnostic>,
    pub findings: Vec<Finding>,
}

impl OpenDoc {
    pub(crate) fn text(&self) -> &str {
        self.doc.text()
    }

    pub(crate) fn language(&self) -> Language {
        self.doc.language()
    }
}

/// The handle handlers use.
#[derive(Debug, Clone)]
pub(crate) struct Documents {
    tx: mpsc::Sender<Msg>,
}

impl Documents {
    /// Starts the owner thread.
    pub(crate) fn start(env: Env, user_config: Option<PathBuf>, out: UnboundedSender<Out>) -> Self {
        let (tx, rx) = mpsc::channel();
        let owner = Owner {
            enc: Encoding::Utf16,
            pull: false,
            root: None,
            settings: Settings::default(),
            analysis: AnalysisConfig::default(),
            rules: RuleSet::default(),
            docs: HashMap::new(),
            tests: HashMap::new(),
            out,
            env,
            user_config,
            analysis_runs: 0,
        };
        #[allow(
            clippy::expect_used,
            reason = "a thread can be started at startup; without one the server cannot run"
        )]
        std::thread::Builder::new()
            .name("kiln-lsp-documents".into())
            .spawn(move || owner.run(&rx))
            .expect("spawning a thread at startup succeeds");
        Self { tx }
    }

    /// Enqueues a message; never blocks. A stopped owner drops it (the server is exiting).
    pub(crate) fn send(&self, msg: Msg) {
        let _ = self.tx.send(msg);
    }

    /// Runs `f` on the newest state of `uri` and returns its answer. The message is sent at
    /// once, when this is called, not when the future is first polled.
    pub(crate) fn read<T: Send + 'static, F>(
        &self,
        uri: Uri,
        f: F,
    ) -> impl Future<Output = Option<T>> + use<T, F>
    where
        F: FnOnce(View<'_>) -> T + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Msg::Read(
            uri,
            Box::new(move |view| {
                let _ = reply.send(f(view));
            }),
        ));
        async move { answer.await.ok() }
    }
}

struct Owner {
    enc: Encoding,
    pull: bool,
    root: Option<PathBuf>,
    settings: Settings,
    analysis: AnalysisConfig,
    rules: RuleSet,
    docs: HashMap<Uri, OpenDoc>,
    tests: HashMap<Uri, Vec<Diagnostic>>,
    out: UnboundedSender<Out>,
    env: Env,
    user_config: Option<PathBuf>,
    analysis_runs: u64,
}

/// The language of a document, from the client's language id, else the file name.
fn language_of(language_id: &str, path: Option<&Path>) -> Option<Language> {
    match language_id {
        "python" => Some(Language::Python),
        "rust" => Some(Language::Rust),
        "javascript" | "javascriptreact" => Some(Language::JavaScript),
        "typescript" => Some(Language::TypeScript),
        "typescriptreact" => Some(Language::Tsx),
        _ => path
            .and_then(|p| p.extension())
            .and_then(|e| e.to_str())
            .and_then(Language::from_extension),
    }
}

impl Owner {
    fn run(mut self, rx: &mpsc::Receiver<Msg>) {
        while let Ok(first) = rx.recv() {
            let mut dirty = BTreeSet::new();
            let mut next = Some(first);
            while let Some(msg) = next.take().or_else(|| rx.try_recv().ok()) {
                if matches!(msg, Msg::Stop) {
                    return;
                }
                self.apply(msg, &mut dirty);
            }
            for uri in dirty {
                self.flush(&uri);
                self.publish(&uri);
            }
        }
    }

    fn apply(&mut self, msg: Msg, dirty: &mut BTreeSet<String>) {
        match msg {
            Msg::Init {
                enc,
                pull,
                root,
                settings,
            } => {
                self.enc = enc;
                self.pull = pull;
                self.root = root;
                self.settings = settings;
                self.reload_config(false);
            }
            Msg::Open {
                uri,
                language_id,
                version,
                text,
            } => {
                let path = uri.to_file_path().map(std::borrow::Cow::into_owned);
                let Some(lang) = language_of(&language_id, path.as_deref()) else {
                    tracing::debug!(
                        uri = uri.as_str(),
                        language_id,
                        "not a language kiln analyses"
                    );
                    return;
                };
                let kind = path
                    .as_deref()
                    .map(|p| FileKind::of_path(p, &self.rules))
                    .unwrap_or_default();
                match Document::new(text, lang, kind, &self.rules) {
                    Ok(doc) => {
                        self.analysis_runs += 1;
                        let mut open = OpenDoc {
                            version,
                            path,
                            doc,
                            pending: Vec::new(),
                            shadow: None,
                            diagnostics: Vec::new(),
                            findings: Vec::new(),
                        };
                        self.refresh_findings(&mut open);
                        dirty.insert(uri.as_str().to_owned());
                        self.docs.insert(uri, open);
                    }
                    Err(e) => tracing::warn!(uri = uri.as_str(), "cannot analyse: {e}"),
                }
            }
            Msg::Change {
                uri,
                version,
                changes,
            } => {
                let enc = self.enc;
                let Some(open) = self.docs.get_mut(&uri) else {
                    return;
                };
                open.version = version;
                for change in changes {
                    let c = to_text_change(open, change, enc);
                    open.pending.push(c);
                }
                dirty.insert(uri.as_str().to_owned());
            }
            Msg::Close { uri } => {
                self.docs.remove(&uri);
                dirty.remove(uri.as_str());
                if !self.pull {
                    let _ = self.out.send(Out::Publish {
                        uri,
                        version: None,
                        diagnostics: Vec::new(),
                    });
                }
            }
            Msg::Settings(settings) => {
                if settings != self.settings {
                    self.settings = settings;
                    self.reload_config(true);
                    dirty.extend(self.docs.keys().map(|u| u.as_str().to_owned()));
                }
            }
            Msg::ReloadConfig => {
                self.reload_config(true);
                dirty.extend(self.docs.keys().map(|u| u.as_str().to_owned()));
            }
            Msg::TestDiagnostics(by_file) => {
                let old: Vec<Uri> = self.tests.keys().cloned().collect();
                self.tests = by_file;
                for uri in old.iter().chain(self.tests.keys()) {
                    dirty.insert(uri.as_str().to_owned());
                }
                if self.pull {
                    let _ = self.out.send(Out::Refresh);
                }
            }
            Msg::Read(uri, read) => {
                self.flush(uri.as_str());
                read(View {
                    doc: self.docs.get(&uri),
                    enc: self.enc,
                    settings: &self.settings,
                    tests: self.tests.get(&uri).map(Vec::as_slice),
                    analysis_runs: self.analysis_runs,
                });
            }
            Msg::Stop => {}
        }
    }

    /// Loads the config layers for the workspace root and rebuilds the rule set; `refresh`
    /// re-analyses the open documents with it.
    fn reload_config(&mut self, refresh: bool) {
        let sources = config::Sources {
            user_file: self.user_config.clone(),
            project_file: self.root.as_deref().and_then(config::find_project_file),
            env: self.env.clone(),
            flags: Vec::new(),
            // A kiln.toml another user owns is never read (see engine::config::trust).
            uid: Some(nix::unistd::geteuid().as_raw()),
        };
        let mut status = Status::ok();
        match config::load(&sources) {
            Ok(loaded) => {
                self.analysis = loaded.config.analysis;
                if loaded.config.models.named.is_empty() && loaded.config.models.default.is_none() {
                    status = Status::warning(
                        "no model configured: diagnostics work, generate and improve need a model",
                        Some("kiln.openConfig"),
                    );
                }
            }
            Err(e) => {
                let message = format!("kiln: the configuration has an error, using defaults: {e}");
                let _ = self
                    .out
                    .send(Out::Message(MessageType::ERROR, message.clone()));
                status = Status::error(&message, Some("kiln.openConfig"));
            }
        }
        let mut analysis = self.analysis.clone();
        if let Some(select) = &self.settings.select {
            analysis.select.clone_from(select);
        }
        analysis.ignore.extend(self.settings.ignore.iter().cloned());
        match RuleSet::new(&analysis) {
            Ok(rules) => self.rules = rules,
            Err(e) => {
                let message = format!("kiln: {e}; keeping the previous rules");
                let _ = self
                    .out
                    .send(Out::Message(MessageType::WARNING, message.clone()));
                status = Status::warning(&message, None);
            }
        }
        let _ = self.out.send(Out::Status(status));
        if refresh {
            for open in self.docs.values_mut() {
                open.doc.refresh(&self.rules);
                self.analysis_runs += 1;
                open.findings = open.doc.sorted_findings();
                open.diagnostics = diagnostics_of(open, self.enc);
            }
            if self.pull {
                let _ = self.out.send(Out::Refresh);
            }
        }
    }

    /// Applies a document's pending changes and re-analyses it once.
    fn flush(&mut self, uri: &str) {
        let Some((_, open)) = self.docs.iter_mut().find(|(u, _)| u.as_str() == uri) else {
            return;
        };
        if open.pending.is_empty() {
            return;
        }
        let changes = std::mem::take(&mut open.pending);
        let shadow = open.shadow.take();
        if let Err(e) = open.doc.apply_changes(&changes, &self.rules) {
            tracing::warn!(uri, "an edit did not apply ({e}); re-reading the document");
            let text = shadow.map_or_else(|| open.doc.text().to_owned(), |(t, _)| t);
            let kind = open
                .path
                .as_deref()
                .map(|p| FileKind::of_path(p, &self.rules))
                .unwrap_or_default();
            match Document::new(text, open.doc.language(), kind, &self.rules) {
                Ok(doc) => open.doc = doc,
                Err(e) => tracing::warn!(uri, "cannot analyse: {e}"),
            }
        }
        self.analysis_runs += 1;
        let enc = self.enc;
        open.findings = open.doc.sorted_findings();
        open.diagnostics = diagnostics_of(open, enc);
    }

    fn refresh_findings(&self, open: &mut OpenDoc) {
        open.findings = open.doc.sorted_findings();
        open.diagnostics = diagnostics_of(open, self.enc);
    }

    fn publish(&self, uri: &str) {
        if self.pull {
            return;
        }
        let test_diags = self.tests.iter().find(|(u, _)| u.as_str() == uri);
        let open = self.docs.iter().find(|(u, _)| u.as_str() == uri);
        let Some(target) = open.map(|(u, _)| u).or(test_diags.map(|(u, _)| u)) else {
            return;
        };
        let mut diagnostics = open.map(|(_, d)| d.diagnostics.clone()).unwrap_or_default();
        diagnostics.extend(
            test_diags
                .map(|(_, d)| d.iter().cloned())
                .into_iter()
                .flatten(),
        );
        let _ = self.out.send(Out::Publish {
            uri: target.clone(),
            version: open.map(|(_, d)| d.version),
            diagnostics,
        });
    }
}

/// The diagnostics a pull returns: analysis plus test failures.
pub(crate) fn all_diagnostics(open: &OpenDoc, tests: Option<&[Diagnostic]>) -> Vec<Diagnostic> {
    let mut v = open.diagnostics.clone();
    v.extend(tests.unwrap_or_default().iter().cloned());
    v
}

fn diagnostics_of(open: &OpenDoc, enc: Encoding) -> Vec<Diagnostic> {
    open.findings
        .iter()
        .map(|f| convert::diagnostic(open.text(), f, enc))
        .collect()
}

/// An LSP change as the document's UTF-16 change, converting UTF-8 positions against the text
/// the earlier pending changes leave.
fn to_text_change(
    open: &mut OpenDoc,
    change: TextDocumentContentChangeEvent,
    enc: Encoding,
) -> TextChange {
    let Some(range) = change.range else {
        if enc == Encoding::Utf8 {
            open.shadow = Some((change.text.clone(), LineIndex::new(&change.text)));
        }
        return TextChange {
            range: None,
            text: change.text,
        };
    };
    if enc == Encoding::Utf16 {
        return TextChange {
            range: Some(kiln::engine::analysis::Range {
                start: kiln::engine::analysis::Position {
                    line: range.start.line,
                    character: range.start.character,
                },
                end: kiln::engine::analysis::Position {
                    line: range.end.line,
                    character: range.end.character,
                },
            }),
            text: change.text,
        };
    }
    let (text, lines) = open.shadow.get_or_insert_with(|| {
        let t = open.doc.text().to_owned();
        let l = LineIndex::new(&t);
        (t, l)
    });
    let start = convert::to_utf16(text, lines, range.start, enc);
    let end = convert::to_utf16(text, lines, range.end, enc);
    let s = lines.offset(text, start).unwrap_or(text.len());
    let e = lines.offset(text, end).unwrap_or(text.len()).max(s);
    text.replace_range(s..e, &change.text);
    let len = text.len();
    lines.edit(s, e, &change.text, len);
    TextChange {
        range: Some(kiln::engine::analysis::Range { start, end }),
        text: change.text,
    }
}
