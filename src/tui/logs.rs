//! The log view's state and its background scans.
//!
//! Invariants: the view never holds more than the visible page of a log (plus the positions of
//! hits, errors and filtered lines, 8 bytes each), so ten million lines cost what ten do;
//! search, filter and the error/warning index each run in a thread with their own read-only
//! store connection, report in batches and stop as soon as a newer scan of the same kind
//! starts (the generation counter), so input is never blocked while they work.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kiln::engine::store::{LogLevel, LogLineRef, LogStream, Store, StoreConfig, StoredLogLine};
use regex::{Regex, RegexBuilder};

/// Lines between progress reports of a scan.
const REPORT_EVERY: i64 = 100_000;

/// What a scan looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanKind {
    Search,
    Filter,
    /// Errors and warnings, for e/E, w/W and the scrollbar.
    Marks,
}

/// The result of a scan so far.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Scan {
    pub(crate) query: String,
    /// Positions (seq) that matched, ascending.
    pub(crate) hits: Vec<i64>,
    /// Lines scanned up to (exclusive).
    pub(crate) scanned: i64,
    pub(crate) done: bool,
}

/// Which lines the view shows: a pattern (with `!` inverted) and stage, stream, level limits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct FilterSpec {
    pub(crate) pattern: Option<String>,
    pub(crate) inverse: bool,
    pub(crate) stage: Option<(i64, String)>,
    pub(crate) stream: Option<LogStream>,
    /// Show lines at this level or more severe.
    pub(crate) level: Option<LogLevel>,
}

impl FilterSpec {
    pub(crate) fn is_active(&self) -> bool {
        self.pattern.is_some()
            || self.stage.is_some()
            || self.stream.is_some()
            || self.level.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct LogState {
    pub(crate) run: Option<i64>,
    pub(crate) title: String,
    /// Lines stored for the run.
    pub(crate) total: i64,
    /// First visible row, and the selected row (rows are lines, or filtered lines).
    pub(crate) top: i64,
    pub(crate) cursor: i64,
    pub(crate) follow: bool,
    pub(crate) wrap: bool,
    /// Where a selection (`v`) started: a row; it runs to the cursor.
    pub(crate) anchor: Option<i64>,
    /// Rows the viewport shows (set from the terminal size).
    pub(crate) height: usize,
    /// The lines of rows `top..top + height`.
    pub(crate) page: Vec<StoredLogLine>,
    pub(crate) search: Option<Scan>,
    pub(crate) filter: FilterSpec,
    /// Lines passing the filter (when it is active).
    pub(crate) matches: Option<Scan>,
    pub(crate) errors: Scan,
    pub(crate) warnings: Vec<i64>,
    /// The run's stages, for the stage filter.
    pub(crate) stages: Vec<(i64, String)>,
}

impl LogState {
    pub(crate) fn rows(&self) -> i64 {
        match &self.matches {
            Some(m) if self.filter.is_active() => m.hits.len() as i64,
            _ => self.total,
        }
    }

    /// Lines hidden by the filter (so far).
    pub(crate) fn hidden(&self) -> i64 {
        match &self.matches {
            Some(m) if self.filter.is_active() => m.scanned - m.hits.len() as i64,
            _ => 0,
        }
    }

    pub(crate) fn seq_of_row(&self, row: i64) -> Option<i64> {
        if row < 0 || row >= self.rows() {
            return None;
        }
        match &self.matches {
            Some(m) if self.filter.is_active() => m.hits.get(row as usize).copied(),
            _ => Some(row),
        }
    }

    /// The row showing `seq`, or the first row after it.
    pub(crate) fn row_of_seq(&self, seq: i64) -> i64 {
        match &self.matches {
            Some(m) if self.filter.is_active() => m.hits.partition_point(|&s| s < seq) as i64,
            _ => seq,
        }
    }

    /// The selected rows (anchor to cursor, in order), when a selection is on.
    pub(crate) fn selection(&self) -> Option<(i64, i64)> {
        self.anchor
            .map(|a| (a.min(self.cursor), a.max(self.cursor)))
    }

    pub(crate) fn is_searching(&self) -> bool {
        self.search.as_ref().is_some_and(|s| !s.done)
            || self.matches.as_ref().is_some_and(|s| !s.done)
    }

    /// Moves the cursor to `row` (clamped) and scrolls it into view.
    pub(crate) fn goto_row(&mut self, row: i64) {
        let last = (self.rows() - 1).max(0);
        self.cursor = row.clamp(0, last);
        let h = self.height.max(1) as i64;
        if self.cursor < self.top {
            self.top = self.cursor;
        } else if self.cursor >= self.top + h {
            self.top = self.cursor - h + 1;
        }
        self.top = self.top.clamp(0, (self.rows() - h).max(0));
        self.follow = self.cursor == last && self.rows() > 0 && self.follow;
    }

    /// Shows the end of the log (follow mode).
    pub(crate) fn show_end(&mut self) {
        let h = self.height.max(1) as i64;
        self.cursor = (self.rows() - 1).max(0);
        self.top = (self.rows() - h).max(0);
    }

    /// The next (`forward`) or previous position in `marks` from the cursor's line.
    pub(crate) fn jump(&mut self, marks: &[i64], forward: bool) -> bool {
        let here = self.seq_of_row(self.cursor).unwrap_or(0);
        let target = if forward {
            marks.get(marks.partition_point(|&s| s <= here)).copied()
        } else {
            marks[..marks.partition_point(|&s| s < here)]
                .last()
                .copied()
        };
        match target {
            Some(seq) => {
                self.follow = false;
                self.goto_row(self.row_of_seq(seq));
                true
            }
            None => false,
        }
    }
}

/// Compiles a query: a regex, or the literal text when it is not one; smart case (ignores case
/// unless the query has a capital).
#[allow(
    clippy::expect_used,
    reason = "an escaped literal is always a valid regex"
)]
pub(crate) fn compile(query: &str) -> Regex {
    let ignore_case = !query.chars().any(char::is_uppercase);
    RegexBuilder::new(query)
        .case_insensitive(ignore_case)
        .size_limit(1 << 20)
        .build()
        .or_else(|_| {
            RegexBuilder::new(&regex::escape(query))
                .case_insensitive(ignore_case)
                .build()
        })
        .expect("an escaped literal is always a valid regex")
}

/// Text that means itself as a regex and is stored verbatim in a chunk's JSON.
fn is_plain_literal(query: &str) -> bool {
    // `-`, `#`, `&` and `~` are special only inside classes or verbose mode: plain here.
    !query.is_empty()
        && !query.chars().any(|c| {
            matches!(
                c,
                '\\' | '.'
                    | '+'
                    | '*'
                    | '?'
                    | '('
                    | ')'
                    | '|'
                    | '['
                    | ']'
                    | '{'
                    | '}'
                    | '^'
                    | '$'
                    | '"'
            ) || c.is_control()
        })
}

/// A line that passes `spec`.
fn passes(spec: &FilterSpec, pattern: Option<&Regex>, line: &LogLineRef<'_>) -> bool {
    if spec
        .stage
        .as_ref()
        .is_some_and(|(id, _)| line.stage_id != Some(*id))
        || spec.stream.is_some_and(|s| s != line.stream)
        || spec.level.is_some_and(|l| line.level > l)
    {
        return false;
    }
    pattern.is_none_or(|re| re.is_match(line.text) != spec.inverse)
}

#[allow(
    clippy::expect_used,
    reason = "a fixed pattern, valid (the tests compile it)"
)]
fn error_pattern() -> Regex {
    Regex::new(r"(?i)\b(error|failed|failure|panicked|traceback)\b").expect("a fixed valid regex")
}

#[allow(
    clippy::expect_used,
    reason = "a fixed pattern, valid (the tests compile it)"
)]
fn warn_pattern() -> Regex {
    Regex::new(r"(?i)\bwarn(ing)?\b").expect("a fixed valid regex")
}

/// Whether a chunk's JSON can hold an error or a warning: its level strings (`"error"`,
/// `"warn"`) and any text the two patterns above match show in it verbatim, unless an escape
/// (`\n` before a word) hides a word boundary, so chunks with a backslash are always decoded.
#[allow(
    clippy::expect_used,
    reason = "a fixed pattern, valid (the tests compile it)"
)]
fn marks_prefilter() -> Regex {
    Regex::new(r"(?i)\b(error|failed|failure|panicked|traceback|warn|warning)\b|\\")
        .expect("a fixed valid regex")
}

/// A batch of scan results for the app's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanUpdate {
    pub(crate) kind: ScanKind,
    pub(crate) generation: u64,
    pub(crate) run: i64,
    pub(crate) hits: Vec<i64>,
    /// Warnings (only for `Marks`).
    pub(crate) warnings: Vec<i64>,
    pub(crate) scanned: i64,
    pub(crate) done: bool,
}

/// Starts scans in threads; each kind's generation counter cancels the older scan.
#[derive(Debug, Clone)]
pub(crate) struct Scanner {
    db: PathBuf,
    config: StoreConfig,
    generations: Arc<[AtomicU64; 3]>,
}

/// What a scan is asked.
#[derive(Debug, Clone)]
pub(crate) struct ScanRequest {
    pub(crate) kind: ScanKind,
    pub(crate) run: i64,
    pub(crate) from_seq: i64,
    pub(crate) query: String,
    pub(crate) spec: FilterSpec,
}

impl Scanner {
    pub(crate) fn new(db: PathBuf, config: StoreConfig) -> Self {
        Self {
            db,
            config,
            generations: Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]),
        }
    }

    fn slot(kind: ScanKind) -> usize {
        match kind {
            ScanKind::Search => 0,
            ScanKind::Filter => 1,
            ScanKind::Marks => 2,
        }
    }

    /// The generation a new scan of `kind` gets (older ones stop).
    pub(crate) fn next_generation(&self, kind: ScanKind) -> u64 {
        self.generations[Self::slot(kind)].fetch_add(1, Ordering::SeqCst) + 1
    }

    pub(crate) fn current(&self, kind: ScanKind) -> u64 {
        self.generations[Self::slot(kind)].load(Ordering::SeqCst)
    }

    /// Stops every scan of `kind`.
    pub(crate) fn cancel(&self, kind: ScanKind) {
        self.next_generation(kind);
    }

    /// Scans in a new thread, sending batches to `send` (which returns false once the app is
    /// gone). `generation` comes from [`Scanner::next_generation`], or the current one to
    /// continue a finished scan over newly arrived lines.
    pub(crate) fn spawn(
        &self,
        request: ScanRequest,
        generation: u64,
        send: impl Fn(ScanUpdate) -> bool + Send + 'static,
    ) {
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("kiln-tui-scan".into())
            .spawn(move || this.scan(&request, generation, &send));
        if let Err(e) = spawned {
            tracing::error!("cannot start a log scan: {e}");
        }
    }

    /// The scan itself (public to the crate so tests and benchmarks can run it inline).
    pub(crate) fn scan(
        &self,
        request: &ScanRequest,
        generation: u64,
        send: &dyn Fn(ScanUpdate) -> bool,
    ) {
        let store = match Store::open_read_only(&self.db, &self.config) {
            Ok(store) => store,
            Err(e) => {
                tracing::error!("log scan cannot open the store: {e}");
                return;
            }
        };
        let slot = &self.generations[Self::slot(request.kind)];
        let query = (!request.query.is_empty()).then(|| compile(&request.query));
        let pattern = request.spec.pattern.as_deref().map(compile);
        let (errors, warns) = (error_pattern(), warn_pattern());
        let mut update = ScanUpdate {
            kind: request.kind,
            generation,
            run: request.run,
            hits: Vec::new(),
            warnings: Vec::new(),
            scanned: request.from_seq,
            done: false,
        };
        let mut since_report = 0;
        let mut alive = true;
        // A literal can rule out a whole chunk from its stored text (see `scan_log_where`).
        let literal = match request.kind {
            ScanKind::Search => Some(request.query.as_str()),
            ScanKind::Filter if !request.spec.inverse => request.spec.pattern.as_deref(),
            _ => None,
        }
        .filter(|q| is_plain_literal(q))
        .map(compile)
        .or_else(|| (request.kind == ScanKind::Marks).then(marks_prefilter));
        let may_match = |json: &str| literal.as_ref().is_none_or(|re| re.is_match(json));
        let result = store.scan_log_refs(request.run, request.from_seq, may_match, |line| {
            let hit = match request.kind {
                ScanKind::Search => query.as_ref().is_some_and(|q| q.is_match(line.text)),
                ScanKind::Filter => passes(&request.spec, pattern.as_ref(), line),
                ScanKind::Marks => {
                    if line.level == LogLevel::Warn
                        || (line.level > LogLevel::Warn && warns.is_match(line.text))
                    {
                        update.warnings.push(line.seq);
                    }
                    line.level == LogLevel::Error
                        || (line.level > LogLevel::Warn && errors.is_match(line.text))
                }
            };
            if hit {
                update.hits.push(line.seq);
            }
            update.scanned = line.seq + 1;
            since_report += 1;
            if since_report >= REPORT_EVERY {
                since_report = 0;
                if slot.load(Ordering::SeqCst) != generation {
                    alive = false;
                    return ControlFlow::Break(());
                }
                let batch = ScanUpdate {
                    hits: std::mem::take(&mut update.hits),
                    warnings: std::mem::take(&mut update.warnings),
                    ..update.clone()
                };
                if !send(batch) {
                    alive = false;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        match result {
            Ok(next) => update.scanned = update.scanned.max(next),
            Err(e) => tracing::error!("log scan failed: {e}"),
        }
        if alive && slot.load(Ordering::SeqCst) == generation {
            update.done = true;
            send(update);
        }
    }
}

/// Applies a scan batch to the state; stale generations are ignored.
pub(crate) fn apply(state: &mut LogState, update: ScanUpdate, current: u64) {
    if update.generation != current || state.run != Some(update.run) {
        return;
    }
    let scan = match update.kind {
        ScanKind::Search => state.search.get_or_insert_with(Scan::default),
        ScanKind::Filter => state.matches.get_or_insert_with(Scan::default),
        ScanKind::Marks => {
            state.warnings.extend(update.warnings);
            &mut state.errors
        }
    };
    scan.hits.extend(update.hits);
    scan.scanned = update.scanned;
    scan.done = update.done;
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn line(seq: i64, stream: LogStream, level: LogLevel, text: &str) -> LogLineRef<'_> {
        LogLineRef {
            seq,
            stage_id: Some(1),
            ts: 0,
            stream,
            level,
            text,
        }
    }

    #[test]
    fn filter_spec_combines_pattern_inverse_stream_and_level() {
        let l = line(0, LogStream::Stderr, LogLevel::Warn, "disk almost full");
        let mut spec = FilterSpec {
            pattern: Some("disk".into()),
            ..FilterSpec::default()
        };
        let re = compile("disk");
        assert!(passes(&spec, Some(&re), &l));
        spec.inverse = true;
        assert!(!passes(&spec, Some(&re), &l));
        let spec = FilterSpec {
            stream: Some(LogStream::Stdout),
            ..FilterSpec::default()
        };
        assert!(!passes(&spec, None, &l));
        let spec = FilterSpec {
            level: Some(LogLevel::Error),
            ..FilterSpec::default()
        };
        assert!(!passes(&spec, None, &l));
        let spec = FilterSpec {
            stage: Some((2, "tests".into())),
            ..FilterSpec::default()
        };
        assert!(!passes(&spec, None, &l));
    }

    #[test]
    fn the_marks_prefilter_keeps_every_chunk_that_can_hold_a_mark() {
        let re = marks_prefilter();
        assert!(!re.is_match(r#"[[1,"stdout","info","compiling module m1 ok"]]"#));
        assert!(re.is_match(r#"[[1,"stderr","warn","disk almost full"]]"#));
        assert!(re.is_match(r#"[[1,"stderr","error","boom"]]"#));
        assert!(re.is_match(r#"[[1,"stdout","info","Test FAILED: x"]]"#));
        // An escape can hide a word boundary ("\nerror" decodes to a line starting "error").
        assert!(re.is_match(r#"[[1,"stdout","info","x\nerror"]]"#));
        assert!(!re.is_match(r#"[[1,"stdout","info","errors are fine"]]"#));
    }

    #[test]
    fn only_plain_literals_rule_out_chunks() {
        assert!(is_plain_literal("needle-last"));
        assert!(!is_plain_literal("a.b"));
        assert!(!is_plain_literal("^start"));
        assert!(!is_plain_literal("say \"hi\""));
        assert!(!is_plain_literal(""));
    }

    #[test]
    fn queries_are_smart_case_and_fall_back_to_literal() {
        assert!(compile("error").is_match("ERROR here"));
        assert!(!compile("Error").is_match("ERROR here"));
        assert!(compile("a(b").is_match("xa(by"));
    }

    #[test]
    fn rows_map_through_the_filter_and_jumps_find_marks() {
        let mut s = LogState {
            total: 100,
            height: 10,
            ..LogState::default()
        };
        assert_eq!(s.seq_of_row(5), Some(5));
        assert!(s.jump(&[3, 50, 90], true));
        assert_eq!((s.cursor, s.top), (3, 0));
        assert!(s.jump(&[3, 50, 90], true));
        assert_eq!((s.cursor, s.top), (50, 41));
        assert!(s.jump(&[3, 50, 90], false));
        assert_eq!(s.cursor, 3);
        assert!(!s.jump(&[3, 50, 90], false));
        s.filter.pattern = Some("x".into());
        s.matches = Some(Scan {
            hits: vec![10, 20, 30],
            scanned: 100,
            done: true,
            ..Scan::default()
        });
        assert_eq!(s.rows(), 3);
        assert_eq!(s.hidden(), 97);
        assert_eq!(s.seq_of_row(1), Some(20));
        assert_eq!(s.row_of_seq(25), 2);
    }
}
