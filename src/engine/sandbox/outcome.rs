//! What a run produces: output lines tagged by stream, the limit that stopped it, how the
//! program ended and the run's accounting ([`Outcome`]). Plain data shared by the engine side of
//! a run, the recording and the front-ends.

use std::path::PathBuf;

use serde::Serialize;

use super::run::Isolation;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One line of output (without its newline; invalid UTF-8 replaced), or a piece of a longer
/// line (newline-free output comes in pieces: then `newline` is false).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputLine {
    pub stream: Stream,
    /// Microseconds since the Unix epoch, when kiln read it.
    pub ts_us: i64,
    pub text: String,
    /// Whether a newline ended it (false for a piece of a long or newline-free output, and for
    /// an unterminated last line).
    #[serde(skip)]
    pub newline: bool,
    /// The exact bytes (with the newline, if any) when they are not valid UTF-8; `text` is then
    /// their lossy form.
    #[serde(skip)]
    pub raw: Option<Vec<u8>>,
}

impl OutputLine {
    /// The line from the bytes read (with the newline when `newline`).
    pub(super) fn from_bytes(
        stream: Stream,
        ts_us: i64,
        mut bytes: Vec<u8>,
        newline: bool,
    ) -> Self {
        if newline {
            bytes.pop();
        }
        let (text, raw) = match String::from_utf8(bytes) {
            Ok(text) => (text, None),
            Err(e) => {
                let mut raw = e.into_bytes();
                let text = String::from_utf8_lossy(&raw).into_owned();
                if newline {
                    raw.push(b'\n');
                }
                (text, Some(raw))
            }
        };
        Self {
            stream,
            ts_us,
            text,
            newline,
            raw,
        }
    }

    /// Whether the program wrote exactly `text` and a newline (a plain text line).
    pub fn is_text_line(&self) -> bool {
        self.newline && self.raw.is_none()
    }

    /// The exact bytes the program wrote (with the newline, if one ended them).
    pub fn exact_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        match &self.raw {
            Some(raw) => std::borrow::Cow::Borrowed(raw),
            None if self.newline => {
                let mut b = Vec::with_capacity(self.text.len() + 1);
                b.extend_from_slice(self.text.as_bytes());
                b.push(b'\n');
                std::borrow::Cow::Owned(b)
            }
            None => std::borrow::Cow::Borrowed(self.text.as_bytes()),
        }
    }

    /// [`OutputLine::exact_bytes`], taking the line.
    pub fn into_exact_bytes(self) -> Vec<u8> {
        if let Some(raw) = self.raw {
            return raw;
        }
        let mut b = self.text.into_bytes();
        if self.newline {
            b.push(b'\n');
        }
        b
    }
}

/// A limit that stopped the run (or, for pids and disk, was reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    Timeout,
    Cpu,
    Memory,
    Output,
    Pids,
    Disk,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Timeout => "timeout",
            Limit::Cpu => "cpu",
            Limit::Memory => "memory",
            Limit::Output => "output",
            Limit::Pids => "pids",
            Limit::Disk => "disk",
        }
    }

    /// Whether hitting this limit kills the run (pids and disk only make calls fail).
    pub fn kills(self) -> bool {
        matches!(
            self,
            Limit::Timeout | Limit::Cpu | Limit::Memory | Limit::Output
        )
    }

    /// The documented `kiln sandbox run` exit code for a run this limit killed.
    pub fn exit_code(self) -> Option<u8> {
        match self {
            Limit::Timeout => Some(201),
            Limit::Cpu => Some(202),
            Limit::Memory => Some(203),
            Limit::Output => Some(204),
            Limit::Pids | Limit::Disk => None,
        }
    }
}

/// How the program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Termination {
    Exited(i32),
    Signaled(i32),
}

/// How the memory (and pids) limit was enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryEnforcement {
    CgroupV1,
    CgroupV2,
    Rlimit,
}

/// Where the time of a run went, in microseconds (`--format json` prints it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Phases {
    /// Path checks, run directory, cgroup and spec, before the init is spawned.
    pub prepare_us: u64,
    /// Spawning the init program (fork + exec of kiln).
    pub spawn_us: u64,
    /// From the init's start to the program's `execve` (namespaces, new root), per pid 1.
    pub setup_us: u64,
    /// From the init's spawn until it exited (setup, the program and its clean-up).
    pub sandbox_us: u64,
    /// After the init exited: draining the readers, the report, removing the cgroup.
    pub teardown_us: u64,
}

/// Everything known about a finished run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub termination: Termination,
    pub limit: Option<Limit>,
    pub cancelled: bool,
    pub wall_ms: u64,
    pub user_ms: u64,
    pub sys_ms: u64,
    pub setup_ms: u64,
    pub max_rss_kb: u64,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    pub lines: u64,
    pub bytes_dropped: u64,
    pub memory_enforcement: MemoryEnforcement,
    pub pids_enforcement: MemoryEnforcement,
    pub isolation: Isolation,
    pub landlock: String,
    pub workdir: PathBuf,
    pub phases: Phases,
}

impl Outcome {
    /// The documented CLI exit code: the program's code, 128+signal, 201-204 for a limit kill,
    /// 130 when cancelled.
    pub fn exit_code(&self) -> u8 {
        if let Some(code) = self.limit.and_then(Limit::exit_code) {
            return code;
        }
        if self.cancelled {
            return 130;
        }
        match self.termination {
            Termination::Exited(c) => c as u8,
            Termination::Signaled(s) => 128 + s as u8,
        }
    }
}
