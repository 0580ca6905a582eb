//! Run ownership: every running run records the process that owns it (pid, start time in clock
//! ticks after boot from `/proc/PID/stat` field 22, and the boot and pid namespace it ran in), so
//! a run whose process died without finishing it (kill -9, a crash, a power cut) is found and
//! marked `interrupted` instead of staying `running` forever.
//!
//! Invariants: a run is only declared orphaned when its owner is provably gone: the machine has
//! rebooted since, or (same boot and pid namespace) no process has that pid, or the process with
//! that pid started at another time (the pid was reused) or is a zombie. An owner in another pid
//! namespace of the same boot is never judged; without /proc only the pid's existence is.
//! A `running` run with no owner recorded comes from
//! a kiln before schema version 2 (every later kiln records one) and is orphaned. The pipeline's
//! resume builds on [`Store::mark_orphaned_runs`]; its retry and resume take a run over with
//! [`Store::own_run`] after checking [`Store::live_owner`].

use std::sync::OnceLock;

use rusqlite::params;

use super::{Result, Store, now_micros};

/// The process owning a run, as recorded in `runs.owner_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Owner {
    pub(super) pid: i64,
    pub(super) start: i64,
    /// `<boot id>/<pid namespace>`, e.g. `0c9d…/pid:[4026531836]`.
    pub(super) ns: String,
}

impl Owner {
    /// This process (read once; `None` without a readable /proc).
    pub(super) fn current() -> Option<&'static Self> {
        static CURRENT: OnceLock<Option<Owner>> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let pid = std::process::id();
                Some(Self {
                    pid: i64::from(pid),
                    start: stat(&format!("/proc/{pid}/stat"))?.1,
                    ns: namespace()?,
                })
            })
            .as_ref()
    }
}

/// (state, start time) from a `/proc/PID/stat` file.
fn stat(path: &str) -> Option<(char, i64)> {
    let text = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or ')': split after the
    // last ')'. What follows starts with field 3 (state); field 22 is 19 fields further on.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

fn namespace() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let pidns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}/{}", boot.trim(), pidns.display()))
}

/// Whether the owner recorded as (`pid`, `start`, `ns`) is provably gone.
fn is_gone(pid: Option<i64>, start: Option<i64>, ns: Option<&str>) -> bool {
    let Some(pid) = pid else {
        return true; // recorded by a kiln that did not record owners
    };
    let (Some(start), Some(me)) = (start, Owner::current()) else {
        // Without /proc (then or now) only the pid can be checked: gone if nothing has it.
        return i32::try_from(pid).is_ok_and(|pid| {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                == Err(nix::errno::Errno::ESRCH)
        });
    };
    if let Some(ns) = ns
        && ns != me.ns
    {
        let boot = |s: &str| s.split('/').next().unwrap_or_default().to_owned();
        return boot(ns) != boot(&me.ns); // rebooted since: gone; another namespace: cannot tell
    }
    match stat(&format!("/proc/{pid}/stat")) {
        None => !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        Some((state, started)) => started != start || matches!(state, 'Z' | 'X'),
    }
}

const ORPHAN_ERROR: &str = "interrupted: the kiln process running it ended without finishing it";

impl Store {
    /// Runs still `running` whose owning process is gone (read-only: `kiln db check`).
    pub fn orphaned_runs(&self) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, owner_pid, owner_start, owner_ns FROM runs WHERE status = 'running' ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
            .map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .filter(|(_, pid, start, ns)| is_gone(*pid, *start, ns.as_deref()))
            .map(|(id, ..)| id)
            .collect())
    }

    /// Marks every orphaned run (see [`Store::orphaned_runs`]) `interrupted`, with its
    /// `running` stages and processes; returns their ids. A run whose owner finished it or
    /// recorded a new owner meanwhile is left alone.
    pub fn mark_orphaned_runs(&self) -> Result<Vec<i64>> {
        let candidates = self.orphaned_runs()?;
        if candidates.is_empty() {
            return Ok(candidates);
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        let result = (|| -> rusqlite::Result<Vec<i64>> {
            let now = now_micros();
            let mut marked = Vec::new();
            for id in candidates {
                // Re-checked under the write lock: only a run that is still running with the
                // same (dead) owner is marked.
                let owner: (Option<i64>, Option<i64>, Option<String>, String) =
                    self.conn.query_row(
                        "SELECT owner_pid, owner_start, owner_ns, status FROM runs WHERE id = ?1",
                        [id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )?;
                if owner.3 != "running" || !is_gone(owner.0, owner.1, owner.2.as_deref()) {
                    continue;
                }
                self.conn.execute(
                    "UPDATE runs SET status = 'interrupted', finished_at = ?2,
                        error = coalesce(error, ?3), owner_pid = NULL, owner_start = NULL, owner_ns = NULL
                     WHERE id = ?1",
                    params![id, now, ORPHAN_ERROR],
                )?;
                self.conn.execute(
                    "UPDATE stages SET status = 'interrupted', finished_at = ?2
                     WHERE run_id = ?1 AND status IN ('queued', 'running')",
                    params![id, now],
                )?;
                self.conn.execute(
                    "UPDATE processes SET status = 'interrupted', finished_at = ?2
                     WHERE run_id = ?1 AND status = 'running'",
                    params![id, now],
                )?;
                marked.push(id);
            }
            Ok(marked)
        })();
        match result {
            Ok(marked) => {
                self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))?;
                if !marked.is_empty() {
                    tracing::warn!(runs = ?marked, "marked runs interrupted: their kiln process is gone");
                }
                Ok(marked)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(self.err(e))
            }
        }
    }

    /// The pid of the process that owns run `id`, unless that process is provably gone (see
    /// the module docs); `None` when no owner is recorded.
    pub fn live_owner(&self, id: i64) -> Result<Option<i64>> {
        let (pid, start, ns) = self
            .conn
            .query_row(
                "SELECT owner_pid, owner_start, owner_ns FROM runs WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, Option<i64>>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                },
            )
            .map_err(|e| self.err(e))?;
        Ok(pid.filter(|_| !is_gone(pid, start, ns.as_deref())))
    }

    /// Records this process as the owner of run `id` (without /proc, by its pid alone).
    /// Finishing the run clears it.
    pub fn own_run(&self, id: i64) -> Result<()> {
        let me = Owner::current();
        self.conn
            .execute(
                "UPDATE runs SET owner_pid = ?2, owner_start = ?3, owner_ns = ?4 WHERE id = ?1",
                params![
                    id,
                    i64::from(std::process::id()),
                    me.map(|o| o.start),
                    me.map(|o| &o.ns)
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::store::{NewRun, RunKind, Status, StoreConfig};

    #[test]
    fn this_process_is_alive_a_reused_or_missing_pid_is_gone() {
        let me = Owner::current().expect("/proc is readable in tests");
        assert!(!is_gone(Some(me.pid), Some(me.start), Some(&me.ns)));
        assert!(is_gone(Some(me.pid), Some(me.start + 1), Some(&me.ns)));
        assert!(is_gone(Some(i64::from(i32::MAX)), Some(1), Some(&me.ns)));
        assert!(is_gone(None, None, None));
        // A pid alone (recorded without /proc): alive while something has it.
        assert!(!is_gone(Some(me.pid), None, None));
        assert!(is_gone(Some(i64::from(i32::MAX)), None, None));
        let other_boot = format!("another-boot/{}", me.ns.split('/').nth(1).unwrap());
        assert!(is_gone(Some(me.pid), Some(me.start), Some(&other_boot)));
        let other_ns = format!("{}/pid:[1]", me.ns.split('/').next().unwrap());
        assert!(!is_gone(Some(1), Some(0), Some(&other_ns)), "cannot judge");
    }

    #[test]
    fn stat_parses_names_with_spaces_and_parentheses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stat");
        let fields: Vec<String> = (4..=52).map(|n| n.to_string()).collect();
        std::fs::write(&path, format!("42 (a b) c)) S {}", fields.join(" "))).unwrap();
        assert_eq!(stat(path.to_str().unwrap()), Some(('S', 22)));
    }

    #[test]
    fn orphans_are_marked_once_with_their_stages_and_processes_then_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k.db"), &StoreConfig::default()).unwrap();
        let new = NewRun {
            project_id: None,
            request_id: None,
            kind: RunKind::Sandbox,
        };
        let mine = store.start_run(&new).unwrap();
        let dead = store.start_run(&new).unwrap();
        let stage = store
            .start_stage(dead.id, crate::engine::store::StageKind::TestRun)
            .unwrap();
        let argv = ["sleep".to_owned()];
        let process = store
            .insert_process(&crate::engine::store::NewProcess {
                run_id: Some(dead.id),
                stage_id: None,
                argv: &argv,
                workdir: None,
                limits: serde_json::json!({}),
                isolation: serde_json::json!({}),
            })
            .unwrap();
        store
            .conn
            .execute(
                "UPDATE runs SET owner_pid = ?2 WHERE id = ?1",
                params![dead.id, i64::from(i32::MAX)],
            )
            .unwrap();
        assert_eq!(store.orphaned_runs().unwrap(), [dead.id]);
        assert_eq!(store.live_owner(dead.id).unwrap(), None);
        assert_eq!(
            store.live_owner(mine.id).unwrap(),
            Some(i64::from(std::process::id()))
        );
        assert_eq!(store.mark_orphaned_runs().unwrap(), [dead.id]);
        assert_eq!(store.mark_orphaned_runs().unwrap(), Vec::<i64>::new());
        assert_eq!(store.run(dead.id).unwrap().status, Status::Interrupted);
        assert_eq!(store.run(mine.id).unwrap().status, Status::Running);
        assert_eq!(store.stage(stage.id).unwrap().status, Status::Interrupted);
        assert_eq!(
            store.get_process(process).unwrap().unwrap().status,
            crate::engine::store::ProcessStatus::Interrupted
        );
        // Finishing clears the owner; prune treats interrupted runs as finished.
        store.finish_run(mine.id, Status::Succeeded, None).unwrap();
        let owner: Option<i64> = store
            .conn
            .query_row("SELECT owner_pid FROM runs WHERE id = ?1", [mine.id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(owner, None);
        let config = StoreConfig {
            max_db_size_mb: 0,
            ..StoreConfig::default()
        };
        let pruner = Store::open(&dir.path().join("k.db"), &config).unwrap();
        assert_eq!(pruner.prune(false).unwrap().runs_deleted, 2);
    }
}
