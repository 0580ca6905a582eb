//! Sequential sandbox runs through the engine API from one long-lived process, as the pipeline
//! and the language server start them: `cargo run --example sandbox_runs -- [N] [CMD...]`
//! (default 200 runs of `/bin/true`). This binary is its own init program. Prints one JSON line
//! with the median and p90 per run, and the median of each phase (see docs/sandbox.md).

#![allow(clippy::print_stdout, clippy::expect_used)]

use std::time::Instant;

use kiln::engine::env::Env;
use kiln::engine::sandbox::{RunSpec, Sandbox, SandboxConfig, Termination};

fn main() {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == kiln::engine::sandbox::INIT_ARG)
    {
        kiln::engine::sandbox::init_main();
    }
    let mut rest = std::env::args().skip(1);
    let n: usize = rest.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let mut argv: Vec<String> = rest.collect();
    if argv.is_empty() {
        argv.push("/bin/true".into());
    }
    let exe = std::env::current_exe().expect("the running binary has a path");
    let sandbox = Sandbox::new(exe, std::env::temp_dir());
    let env = Env::from_pairs([("PATH", "/usr/bin:/bin")]);
    let spec = RunSpec::new(argv, &SandboxConfig::default(), &env);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime starts");
    let mut times = Vec::with_capacity(n);
    let mut phases: Vec<[u64; 5]> = Vec::with_capacity(n);
    rt.block_on(async {
        for _ in 0..n {
            let t = Instant::now();
            let outcome = sandbox
                .start(&spec)
                .expect("the sandbox starts")
                .wait()
                .await
                .expect("the run completes");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(outcome.termination, Termination::Exited(0), "{outcome:?}");
            let p = outcome.phases;
            phases.push([
                p.prepare_us,
                p.spawn_us,
                p.setup_us,
                p.sandbox_us,
                p.teardown_us,
            ]);
        }
    });
    times.sort_by(f64::total_cmp);
    let median = |v: &[f64]| v[v.len() / 2];
    let phase = |i: usize| {
        let mut v: Vec<u64> = phases.iter().map(|p| p[i]).collect();
        v.sort_unstable();
        v[v.len() / 2]
    };
    println!(
        "{{\"runs\":{n},\"median_ms\":{:.2},\"p90_ms\":{:.2},\"prepare_us\":{},\"spawn_us\":{},\"setup_us\":{},\"sandbox_us\":{},\"teardown_us\":{}}}",
        median(&times),
        times[times.len() * 9 / 10],
        phase(0),
        phase(1),
        phase(2),
        phase(3),
        phase(4)
    );
}
