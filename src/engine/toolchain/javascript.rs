//! JavaScript: `node --test` with the TAP reporter. A node outside `/usr` is bound read-only;
//! the project's `node_modules` is bound read-only and linked into the scratch copy (copying it
//! would cost more than the tests).

use std::path::Path;

use super::{
    Error, Found, PlanRequest, Report, TestLanguage, default_minimum, in_base_root, on_path,
};

const INSTALL: &str = "Install Node.js 20 or newer ('apt install nodejs' or https://nodejs.org), or set [languages.javascript] test = [...] in kiln.toml";

pub(super) fn find(req: &PlanRequest) -> Result<Found, Error> {
    let Some(node) = on_path(&req.env, "node").into_iter().next() else {
        return Err(Error::NotFound {
            language: TestLanguage::JavaScript,
            root: req.root.clone(),
            tried: "no node on PATH".into(),
            install: INSTALL.to_owned(),
        });
    };
    let real = std::fs::canonicalize(&node).map_err(Error::io("resolve node"))?;
    let mut ro = Vec::new();
    if let Some(prefix) = real.parent().and_then(Path::parent)
        && !in_base_root(prefix)
        && prefix != Path::new("/")
    {
        ro.push(prefix.to_path_buf());
    }
    let mut links = Vec::new();
    if let Ok(modules) = std::fs::canonicalize(req.root.join("node_modules")) {
        ro.push(modules.clone());
        links.push(("node_modules".to_owned(), modules));
    }
    Ok(Found {
        description: format!("node '{}'", real.display()),
        argv: vec![
            real.display().to_string(),
            "--test".into(),
            "--test-reporter=tap".into(),
        ],
        ro,
        env: vec![("NODE_DISABLE_COLORS".into(), "1".into())],
        report: Report::Tap,
        minimum: default_minimum(TestLanguage::JavaScript),
        links,
    })
}
