//! The event loop. One queue carries key presses (an input thread), engine events (a tokio
//! task) and scan batches (scan threads). The loop blocks on it (no CPU when idle), wakes every
//! 100 ms only while something runs (the spinner), drains everything queued, applies the
//! effects (loads deduplicated), and draws at most once per 16 ms.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyEventKind};
use kiln::engine::api::{EngineHandle, Envelope};
use kiln::engine::env::Env;
use kiln::engine::store::{Store, now_micros};

use super::effect::{Effect, Load};
use super::keymap::Keymap;
use super::load::load;
use super::logs::{self, ScanUpdate, Scanner};
use super::render::{self, Look};
use super::sink::OpSink;
use super::state::UiState;
use super::symbols::Symbols;
use super::terminal::{self, Term};
use super::theme::Theme;
use super::update::{on_event, on_key, on_mouse, reload_all};

const FRAME: Duration = Duration::from_millis(16);
const TICK: Duration = Duration::from_millis(100);

pub(crate) enum Msg {
    Input(TermEvent),
    Engine(Envelope),
    Scan(ScanUpdate),
    /// A `kiln` child finished: (ok, message).
    KilnDone(bool, String),
}

pub(crate) struct App {
    pub(crate) state: UiState,
    pub(crate) keymap: Keymap,
    pub(crate) theme: Theme,
    pub(crate) symbols: Symbols,
    pub(crate) store: Store,
    pub(crate) scanner: Scanner,
    pub(crate) engine: EngineHandle,
    pub(crate) env: Env,
    pub(crate) db: PathBuf,
    pub(crate) mouse: bool,
    pub(crate) bench: super::bench::BenchLog,
}

impl App {
    pub(crate) fn run(
        mut self,
        term: &mut Term,
        tx: &mpsc::Sender<Msg>,
        rx: &mpsc::Receiver<Msg>,
    ) -> anyhow::Result<()> {
        let paused = Arc::new(AtomicBool::new(false));
        spawn_input(tx.clone(), paused.clone());
        let size = term.size()?;
        self.resize(size.width, size.height);
        self.state.now = now_micros();
        // Everything again (the first frame showed only the home tiles), now with the engine.
        let mut effects = reload_all(&self.state);
        self.apply(effects, term, tx, &paused)?;
        self.draw(term)?;
        self.bench.phase("loaded");
        let mut last_draw = Some(Instant::now());
        loop {
            let first = if self.state.is_busy() {
                match rx.recv_timeout(TICK) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => break,
                }
            };
            effects = Vec::new();
            self.state.now = now_micros();
            match first {
                Some(m) => effects.extend(self.handle(m)),
                None => self.state.tick = self.state.tick.wrapping_add(1),
            }
            // Hold the frame until the interval passed, collecting what arrives meanwhile.
            if let Some(at) = last_draw {
                let wait = FRAME.saturating_sub(at.elapsed());
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
            }
            while let Ok(m) = rx.try_recv() {
                effects.extend(self.handle(m));
            }
            self.apply(effects, term, tx, &paused)?;
            if self.state.quit {
                break;
            }
            self.draw(term)?;
            last_draw = Some(Instant::now());
        }
        Ok(())
    }

    fn draw(&self, term: &mut Term) -> anyhow::Result<()> {
        let look = Look {
            theme: &self.theme,
            symbols: &self.symbols,
            keymap: &self.keymap,
            now: self.state.now,
        };
        let started = Instant::now();
        term.draw(|f| render::render(&self.state, &look, f))?;
        if self.bench.enabled() {
            self.bench.frame(started.elapsed().as_micros());
        }
        Ok(())
    }

    fn resize(&mut self, w: u16, h: u16) {
        resize(&mut self.state, w, h);
    }

    fn handle(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Input(TermEvent::Key(key)) if key.kind != KeyEventKind::Release => {
                on_key(&mut self.state, &self.keymap, &key)
            }
            Msg::Input(TermEvent::Resize(w, h)) => {
                self.resize(w, h);
                vec![Effect::Load(Load::Page)]
            }
            Msg::Input(TermEvent::Mouse(m)) => on_mouse(&mut self.state, m),
            Msg::Input(_) => Vec::new(),
            Msg::Engine(envelope) => {
                if let Some(op) = envelope.op
                    && matches!(
                        envelope.event,
                        kiln::engine::api::Event::OpDone
                            | kiln::engine::api::Event::OpFailed { .. }
                    )
                {
                    self.state.pending_ops.retain(|(id, _)| *id != op.0);
                }
                on_event(&mut self.state, &envelope)
            }
            Msg::Scan(update) => {
                let current = self.scanner.current(update.kind);
                logs::apply(&mut self.state.logs, update, current);
                vec![Effect::Load(Load::Page)]
            }
            Msg::KilnDone(ok, message) => {
                self.state.notify(!ok, message);
                vec![Effect::Load(Load::Home)]
            }
        }
    }

    fn apply(
        &mut self,
        effects: Vec<Effect>,
        term: &mut Term,
        tx: &mpsc::Sender<Msg>,
        paused: &Arc<AtomicBool>,
    ) -> anyhow::Result<()> {
        let mut loaded = HashSet::new();
        let mut queue = std::collections::VecDeque::from(effects);
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Op(op) => {
                    let name = op.name();
                    let id = OpSink::submit(&mut self.engine, op);
                    self.state.pending_ops.push((id, name));
                }
                Effect::Load(what) => {
                    // Page loads follow every other load (a Logs load includes one).
                    if loaded.insert(what)
                        && let Err(e) = load(&mut self.state, &self.store, what)
                    {
                        self.state
                            .notify(true, format!("cannot read the database: {e:#}"));
                    }
                }
                Effect::Scan(request, continued) => {
                    let generation = match continued {
                        Some(_) => self.scanner.current(request.kind),
                        None => self.scanner.next_generation(request.kind),
                    };
                    let tx = tx.clone();
                    self.scanner
                        .spawn(request, generation, move |u| tx.send(Msg::Scan(u)).is_ok());
                }
                Effect::CancelScan(kind) => self.scanner.cancel(kind),
                Effect::Copy(text) => terminal::copy(&text),
                Effect::CopyLines(run, seqs) => {
                    match super::load::copy_text(&self.store, run, &seqs) {
                        Ok(text) => terminal::copy(&text),
                        Err(e) => self
                            .state
                            .notify(true, format!("cannot read the lines to copy: {e:#}")),
                    }
                }
                Effect::Editor(path, line) => self.edit(term, paused, &path, line)?,
                Effect::Kiln(args) => self.kiln(args, tx.clone()),
            }
        }
        Ok(())
    }

    fn edit(
        &mut self,
        term: &mut Term,
        paused: &Arc<AtomicBool>,
        path: &std::path::Path,
        line: Option<usize>,
    ) -> anyhow::Result<()> {
        let editor = self
            .env
            .get("VISUAL")
            .or_else(|| self.env.get("EDITOR"))
            .unwrap_or("vi")
            .to_string();
        let mut parts = editor.split_whitespace();
        let program = parts.next().unwrap_or("vi");
        let mut cmd = std::process::Command::new(program);
        cmd.args(parts);
        if let Some(line) = line {
            cmd.arg(format!("+{line}"));
        }
        cmd.arg(path);
        paused.store(true, Ordering::SeqCst);
        // The input thread polls with a short timeout; give it time to stop reading.
        std::thread::sleep(Duration::from_millis(300));
        terminal::suspend(self.mouse);
        let status = cmd.status();
        terminal::resume(term, self.mouse)?;
        paused.store(false, Ordering::SeqCst);
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => self.state.notify(true, format!("{editor} exited with {s}")),
            Err(e) => self
                .state
                .notify(true, format!("cannot start '{editor}': {e}; set $EDITOR")),
        }
        Ok(())
    }

    /// Runs `kiln ARGS` in the background, without the terminal.
    fn kiln(&self, args: Vec<String>, tx: mpsc::Sender<Msg>) {
        let db = self.db.clone();
        std::thread::spawn(move || {
            let exe = std::env::current_exe().unwrap_or_else(|_| "kiln".into());
            let out = std::process::Command::new(exe)
                .arg("--db")
                .arg(&db)
                .args(&args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .output();
            let msg = match out {
                Ok(o) if o.status.success() => (true, format!("kiln {}: done", args.join(" "))),
                Ok(o) => (
                    false,
                    kiln::engine::untrusted::inert(String::from_utf8_lossy(&o.stderr).trim())
                        .into_owned(),
                ),
                Err(e) => (false, format!("cannot run kiln: {e}")),
            };
            let _ = tx.send(Msg::KilnDone(msg.0, msg.1));
        });
    }
}

fn resize(state: &mut UiState, w: u16, h: u16) {
    state.size = (w, h);
    state.logs.height = render::log_rows(h);
}

/// The first frame, before the engine starts: the home tiles straight from the store.
pub(crate) fn first_frame(
    term: &mut Term,
    state: &mut UiState,
    store: &Store,
    theme: &Theme,
    symbols: &Symbols,
    keymap: &Keymap,
    bench: &super::bench::BenchLog,
) -> anyhow::Result<()> {
    let size = term.size()?;
    resize(state, size.width, size.height);
    state.now = now_micros();
    match store.project_tiles_first(state.now, Some(render::home_window(state.size))) {
        Ok(tiles) => state.home.tiles = tiles,
        Err(e) => state.notify(true, format!("cannot read the database: {e:#}")),
    }
    bench.phase("home_loaded");
    let look = Look {
        theme,
        symbols,
        keymap,
        now: state.now,
    };
    term.draw(|f| render::render(state, &look, f))?;
    Ok(())
}

#[allow(
    clippy::expect_used,
    reason = "a thread can be started at startup; without one the dashboard cannot run"
)]
fn spawn_input(tx: mpsc::Sender<Msg>, paused: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("kiln-tui-input".into())
        .spawn(move || {
            loop {
                if paused.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                // A bounded poll (not a bare read) so the editor can take the terminal.
                match crossterm::event::poll(Duration::from_millis(250)) {
                    Ok(true) => match crossterm::event::read() {
                        Ok(e) => {
                            if tx.send(Msg::Input(e)).is_err() {
                                return;
                            }
                        }
                        Err(_) => return,
                    },
                    Ok(false) => {}
                    Err(_) => return,
                }
            }
        })
        .expect("the input thread starts (the OS has threads to spare at startup)");
}
