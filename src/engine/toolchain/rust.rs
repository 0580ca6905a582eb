//! Rust: `cargo test --offline` with the toolchain and `CARGO_HOME` bound read-only. The
//! toolchain is the one rustup would pick for the project (`rustc --print sysroot` in the
//! project, with auto-install off: asking rustup runs no project code), else `cargo` on PATH.
//! Builds go to the scratch copy's `target/`, never the registry.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    Error, Found, PlanRequest, Report, TestLanguage, default_minimum, in_base_root, on_path,
};

const INSTALL: &str = "Install Rust with rustup (https://rustup.rs) or 'apt install cargo', fetch the dependencies once with 'cargo fetch' (tests run offline), or set [languages.rust] test = [...] in kiln.toml";

pub(super) async fn find(req: &PlanRequest) -> Result<Found, Error> {
    let not_found = |tried: String| Error::NotFound {
        language: TestLanguage::Rust,
        root: req.root.clone(),
        tried,
        install: INSTALL.to_owned(),
    };
    let cargos = on_path(&req.env, "cargo");
    let Some(cargo) = cargos.first() else {
        return Err(not_found("no cargo on PATH".into()));
    };
    let sysroot = sysroot(req).await;
    let (cargo, bin) = match &sysroot {
        Some(root) if root.join("bin/cargo").exists() => (root.join("bin/cargo"), root.join("bin")),
        _ => {
            let real = std::fs::canonicalize(cargo).map_err(Error::io("resolve cargo"))?;
            let bin = real
                .parent()
                .map_or_else(|| PathBuf::from("/usr/bin"), Path::to_path_buf);
            (real, bin)
        }
    };
    if cargo.file_name().is_some_and(|n| n == "rustup") {
        return Err(not_found(format!(
            "'{}' is rustup's proxy and rustup names no toolchain for the project",
            cargo.display()
        )));
    }
    let mut ro = Vec::new();
    if let Some(prefix) = bin.parent()
        && !in_base_root(prefix)
    {
        ro.push(prefix.to_path_buf());
    }
    let cargo_home = req
        .env
        .get("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| req.env.get("HOME").map(|h| Path::new(h).join(".cargo")));
    let mut env = vec![
        ("CARGO_NET_OFFLINE".to_owned(), "true".to_owned()),
        ("CARGO_TERM_COLOR".to_owned(), "never".to_owned()),
        (
            "PATH".to_owned(),
            format!("{}:/usr/bin:/bin", bin.display()),
        ),
    ];
    if bin.join("rustc").exists() {
        env.push(("RUSTC".into(), bin.join("rustc").display().to_string()));
    }
    if let Some(home) = cargo_home.and_then(|h| std::fs::canonicalize(h).ok()) {
        env.push(("CARGO_HOME".into(), home.display().to_string()));
        if !ro.iter().any(|r| home.starts_with(r)) {
            ro.push(home);
        }
    }
    Ok(Found {
        description: format!("cargo '{}'", cargo.display()),
        argv: vec![
            cargo.display().to_string(),
            "test".into(),
            "--offline".into(),
            "--no-fail-fast".into(),
        ],
        ro,
        env,
        report: Report::Cargo,
        minimum: default_minimum(TestLanguage::Rust),
        links: Vec::new(),
    })
}

/// The sysroot rustup picks for the project, if rustup is there and answers quickly.
async fn sysroot(req: &PlanRequest) -> Option<PathBuf> {
    let rustc = on_path(&req.env, "rustc").into_iter().next()?;
    let mut cmd = tokio::process::Command::new(rustc);
    cmd.args(["--print", "sysroot"])
        .current_dir(&req.root)
        .env_clear()
        .env("RUSTUP_AUTO_INSTALL", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for name in [
        "PATH",
        "HOME",
        "RUSTUP_HOME",
        "CARGO_HOME",
        "RUSTUP_TOOLCHAIN",
    ] {
        if let Some(v) = req.env.get(name) {
            cmd.env(name, v);
        }
    }
    let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .ok()?
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let root = PathBuf::from(text.trim());
    root.is_dir().then_some(root)
}
