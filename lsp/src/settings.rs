//! The client's settings for kiln, from `initializationOptions`, `didChangeConfiguration` and
//! `workspace/configuration` (section `kiln`). Unknown keys are ignored (editors add their own);
//! a value of the wrong type is an error shown to the user, and the old settings stay.

use std::collections::BTreeMap;

use kiln::engine::pipeline::SandboxLimits;
use serde::Deserialize;

/// kiln's editor settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Settings {
    /// Rule ids or prefixes to run (overrides `[analysis] select` when set).
    pub select: Option<Vec<String>>,
    /// Rule ids or prefixes never to run (added to `[analysis] ignore`).
    pub ignore: Vec<String>,
    /// Model per action (`generate`, `improve`, `generateTests`): a named model from config.
    pub models: BTreeMap<String, String>,
    /// Code lenses above tests and generated functions.
    pub code_lens: bool,
    /// Run the project's tests on save.
    pub run_tests_on_save: bool,
    /// Sandbox limits passed to the engine (`memoryMb`, `timeoutSecs`).
    pub sandbox: SandboxSettings,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct SandboxSettings {
    pub memory_mb: Option<u64>,
    pub timeout_secs: Option<u64>,
}

impl SandboxSettings {
    /// The limits the engine applies over `[sandbox]` to the runs this server starts.
    pub(crate) fn limits(&self) -> SandboxLimits {
        SandboxLimits {
            memory_mb: self.memory_mb,
            timeout_secs: self.timeout_secs,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            select: None,
            ignore: Vec::new(),
            models: BTreeMap::new(),
            code_lens: true,
            run_tests_on_save: false,
            sandbox: SandboxSettings::default(),
        }
    }
}

impl Settings {
    /// Reads settings from a JSON value: either `{ "kiln": {...} }` or the section itself.
    /// `null` means defaults.
    pub(crate) fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let section = value.get("kiln").unwrap_or(value);
        if section.is_null() {
            return Ok(Self::default());
        }
        Self::deserialize(section).map_err(|e| format!("invalid kiln settings: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_flat_and_wrong() {
        let s = Settings::from_json(
            &serde_json::json!({"kiln": {"ignore": ["PY1"], "codeLens": false}}),
        )
        .unwrap();
        assert_eq!(s.ignore, ["PY1"]);
        assert!(!s.code_lens);
        let s =
            Settings::from_json(&serde_json::json!({"select": ["RS"], "editorThing": 1})).unwrap();
        assert_eq!(s.select, Some(vec!["RS".to_owned()]));
        assert!(Settings::from_json(&serde_json::json!({"ignore": 3})).is_err());
        assert_eq!(
            Settings::from_json(&serde_json::Value::Null).unwrap(),
            Settings::default()
        );
    }

    /// What editors/vscode sends (its `serverSettings`; see src/test/settings.test.ts).
    #[test]
    fn the_vscode_extension_shape() {
        let s = Settings::from_json(&serde_json::json!({"kiln": {
            "select": null, "ignore": ["PY109"], "models": {"generate": "fast"},
            "codeLens": true, "runTestsOnSave": false,
            "sandbox": {"memoryMb": 256, "timeoutSecs": null}
        }}))
        .unwrap();
        assert_eq!(s.select, None);
        assert_eq!(s.models["generate"], "fast");
        assert_eq!(
            s.sandbox.limits(),
            SandboxLimits {
                memory_mb: Some(256),
                timeout_secs: None
            }
        );
    }
}
