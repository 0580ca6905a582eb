//! The dashboard end to end: the real `kiln` binary in a tmux pane (a real pseudo-terminal), in
//! a temp HOME. First-run screen, add the directory as a project, a run created by another
//! process (rows written through the store API, and `kiln sandbox run` from a second process)
//! appearing live with its stages and logs, search, quit with the terminal restored, and
//! hostile program output (OSC 52, title, cursor moves, alternate screen) shown inert.

#![allow(clippy::print_stderr)] // prints how long each screen took

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use kiln::engine::store::{
    LogLevel, LogLine, LogStream, NewRun, RunKind, StageKind, Status, Store, StoreConfig,
};

use crate::support::kiln::Kiln;
use crate::support::require;

struct Pane {
    name: String,
}

impl Pane {
    fn start(kiln: &Kiln, args: &str) -> Self {
        Self::start_with(kiln, "", args)
    }

    /// With `extra` (`NAME='value' ...`) added to the environment.
    fn start_with(kiln: &Kiln, extra: &str, args: &str) -> Self {
        // Unique per test: tests of one binary run in parallel in one process.
        let name = format!(
            "kiln-tui-{}",
            kiln.home().file_name().unwrap().to_string_lossy()
        );
        let mut env = String::from("env -i");
        for (k, v) in kiln.vars() {
            let _ = write!(env, " {k}='{v}'");
        }
        env.push_str(" LANG=C.UTF-8 TERM=xterm-256color ");
        env.push_str(extra);
        let bin = env!("CARGO_BIN_EXE_kiln");
        let script = format!(
            "cd '{}' && {env} '{bin}' {args}; echo KILN-EXIT=$?; sleep 600",
            kiln.home().display()
        );
        let status = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                "120",
                "-y",
                "36",
                &script,
            ])
            .status()
            .expect("start tmux");
        assert!(status.success());
        Self { name }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("capture");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn display(&self, format: &str) -> String {
        let out = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.name, format])
            .output()
            .expect("display");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let status = Command::new("tmux")
                .args(["send-keys", "-t", &self.name, k])
                .status()
                .expect("send-keys");
            assert!(status.success());
        }
    }

    fn literal(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-l", "-t", &self.name, text])
            .status()
            .expect("send-keys");
        assert!(status.success());
    }

    /// Waits (generously: CI is loaded) until the screen contains `text`; prints how long it took.
    #[track_caller]
    fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                eprintln!("tui: '{text}' after {:?}", start.elapsed());
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "'{text}' never appeared; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

fn have_tmux() -> bool {
    require(
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success()),
        "tui end to end",
        "tmux is not installed (tests/setup/tui.sh installs it)",
    )
}

#[test]
fn first_run_add_project_live_run_search_quit() {
    if !have_tmux() {
        return;
    }
    let kiln = Kiln::new();
    let pane = Pane::start(&kiln, "");
    pane.wait_for("No projects or runs yet");
    pane.keys(&["a"]);
    let home_name = kiln
        .home()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    pane.wait_for(&format!("┌ {home_name}"));
    pane.wait_for("0 runs");

    // Another process writes a pipeline run: it appears live, with stages and logs.
    let store = Store::open(&kiln.db(), &StoreConfig::default()).unwrap();
    let project = store.projects().unwrap()[0].id;
    let run = store
        .start_run(&NewRun {
            project_id: Some(project),
            request_id: None,
            kind: RunKind::Pipeline,
        })
        .unwrap()
        .id;
    pane.wait_for("1 running");
    pane.keys(&["Enter"]);
    pane.wait_for("pipeline");
    pane.keys(&["Enter"]);
    let stage = store.start_stage(run, StageKind::Generate).unwrap();
    pane.wait_for("generate");
    let lines: Vec<LogLine> = (0..2000)
        .map(|i| {
            LogLine::now(
                Some(stage.id),
                LogStream::Stdout,
                LogLevel::Info,
                format!("compiling unit {i}"),
            )
        })
        .collect();
    store.append_logs(run, &lines).unwrap();
    store
        .append_logs(
            run,
            &[LogLine::now(
                Some(stage.id),
                LogStream::Stderr,
                LogLevel::Error,
                "needle: the one error",
            )],
        )
        .unwrap();
    store
        .finish_stage(stage.id, Status::Succeeded, None)
        .unwrap();
    pane.keys(&["4"]);
    pane.wait_for("2001 lines");
    pane.literal("/needle");
    pane.keys(&["Enter"]);
    pane.wait_for("1 hits");
    pane.keys(&["g", "n"]);
    pane.wait_for("needle: the one error");
    store.finish_run(run, Status::Succeeded, None).unwrap();
    pane.keys(&["1"]);
    pane.wait_for("succeeded");

    // Quit: the alternate screen is left and the shell's screen is back.
    pane.keys(&["q"]);
    let screen = pane.wait_for("KILN-EXIT=0");
    assert!(
        !screen.contains("Projects"),
        "dashboard still on screen:\n{screen}"
    );
    assert_eq!(pane.display("#{alternate_on}"), "0");
}

#[test]
fn a_sandbox_run_from_the_cli_appears_live_and_its_hostile_output_is_inert() {
    if !have_tmux() {
        return;
    }
    let kiln = Kiln::new();
    let pane = Pane::start(&kiln, "");
    pane.wait_for("No projects or runs yet");
    let hostile = r"printf 'start\n\033]52;c;aGFja2Vk\007\033]0;pwned\007\033[2J\033[H\033[?1049h\033[5Amoved\n\033[31mred\033[0m end\n'";
    let out = kiln.run(&["sandbox", "run", "--", "/bin/sh", "-c", hostile]);
    if !require(
        out.code == 0,
        "tui hostile output",
        &format!("kiln sandbox run cannot run here: {}", out.stderr),
    ) {
        return;
    }
    pane.wait_for("other runs");
    pane.keys(&["Enter"]);
    pane.wait_for("sandbox");
    pane.keys(&["Enter", "4"]);
    let screen = pane.wait_for("end");
    assert!(
        screen.contains("␛]52;c;aGFja2Vk␇␛]0;pwned␇␛[2J␛[H␛[?1049h␛[5Amoved"),
        "{screen}"
    );
    assert!(
        screen.contains("red end"),
        "SGR kept as colour, not shown: {screen}"
    );
    assert_ne!(pane.display("#{pane_title}"), "pwned");
    assert_eq!(
        pane.display("#{alternate_on}"),
        "1",
        "still kiln's own alternate screen"
    );
    pane.keys(&["q"]);
    pane.wait_for("KILN-EXIT=0");
}

#[test]
fn the_editor_gets_the_terminal_and_the_dashboard_comes_back() {
    if !have_tmux() {
        return;
    }
    let kiln = Kiln::new();
    // The "editor" records what it was asked to open, and that it had the terminal.
    let editor = kiln.home().join("editor.sh");
    let record = kiln.home().join("edited");
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n[ -t 0 ] && [ -t 1 ] && echo tty >> '{}'\n",
            record.display(),
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(kiln.db().parent().unwrap()).unwrap();
    let store = Store::open(&kiln.db(), &StoreConfig::default()).unwrap();
    let project = store
        .add_project(&kiln::engine::store::NewProject {
            name: "edited".into(),
            root: kiln.home().join("proj"),
            language: None,
            description: String::new(),
        })
        .unwrap();
    let run = store
        .start_run(&NewRun {
            project_id: Some(project.id),
            request_id: None,
            kind: RunKind::Pipeline,
        })
        .unwrap()
        .id;
    store
        .put_artifact(&kiln::engine::store::NewArtifact {
            run_id: run,
            stage_id: None,
            path: "conv.py",
            content: b"def c(x):\n    return x\n",
        })
        .unwrap();
    store.finish_run(run, Status::Succeeded, None).unwrap();
    let pane = Pane::start_with(&kiln, &format!("EDITOR='{}'", editor.display()), "");
    pane.wait_for("┌ edited");
    pane.keys(&["Enter"]);
    pane.wait_for("pipeline");
    pane.keys(&["Enter", "5"]);
    pane.wait_for("conv.py");
    pane.keys(&["o"]);
    let start = Instant::now();
    while !std::fs::read_to_string(&record).is_ok_and(|s| s.contains("tty")) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the editor never ran with the terminal; the screen:\n{}",
            pane.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let args = std::fs::read_to_string(&record).unwrap();
    assert!(
        args.contains(&kiln.home().join("proj/conv.py").display().to_string()),
        "{args}"
    );
    // Back: the dashboard redraws on the alternate screen and still takes keys.
    pane.wait_for("conv.py");
    assert_eq!(pane.display("#{alternate_on}"), "1");
    pane.keys(&["q"]);
    pane.wait_for("KILN-EXIT=0");
}
