//! Stage prompts: Markdown templates shipped inside the binary (`prompts/*.md`), each overridable
//! by a file of the same name in `$XDG_CONFIG_HOME/kiln/prompts/`.
//!
//! A template is the system message, a line `<!-- user -->`, then the user message. `{{name}}`
//! is replaced by the variable `name`; a template that uses a variable the caller does not
//! provide is an error naming the file, so a typo in a user's override never reaches a model.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::message::Message;

/// The pipeline stages that talk to a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Spec,
    Generate,
    Tests,
    Review,
    Improve,
    Docs,
}

impl Stage {
    pub const ALL: [Self; 6] = [
        Self::Spec,
        Self::Generate,
        Self::Tests,
        Self::Review,
        Self::Improve,
        Self::Docs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spec => "spec",
            Self::Generate => "generate",
            Self::Tests => "tests",
            Self::Review => "review",
            Self::Improve => "improve",
            Self::Docs => "docs",
        }
    }

    fn builtin(self) -> &'static str {
        match self {
            Self::Spec => include_str!("../../../prompts/spec.md"),
            Self::Generate => include_str!("../../../prompts/generate.md"),
            Self::Tests => include_str!("../../../prompts/tests.md"),
            Self::Review => include_str!("../../../prompts/review.md"),
            Self::Improve => include_str!("../../../prompts/improve.md"),
            Self::Docs => include_str!("../../../prompts/docs.md"),
        }
    }
}

/// Errors of prompt loading and rendering.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read prompt template '{}': {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "prompt template '{origin}' uses '{{{{{name}}}}}', which the {stage} stage does not provide; available: {available}"
    )]
    UnknownVariable {
        origin: String,
        stage: &'static str,
        name: String,
        available: String,
    },
    #[error("prompt template '{origin}' has an unclosed '{{{{'")]
    Unclosed { origin: String },
}

/// Where a template came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Builtin,
    User(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Builtin => f.write_str("built-in"),
            Self::User(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A loaded template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub stage: Stage,
    pub origin: Origin,
    pub text: String,
}

const USER_MARKER: &str = "<!-- user -->";

/// The user's override in `config_dir/prompts/<stage>.md` if present, else the built-in one.
pub fn load(config_dir: &Path, stage: Stage) -> Result<Template, Error> {
    let path = config_dir
        .join("prompts")
        .join(format!("{}.md", stage.as_str()));
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Template {
            stage,
            origin: Origin::User(path),
            text,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(builtin(stage)),
        Err(source) => Err(Error::Read { path, source }),
    }
}

/// The template shipped with kiln.
pub fn builtin(stage: Stage) -> Template {
    Template {
        stage,
        origin: Origin::Builtin,
        text: stage.builtin().to_owned(),
    }
}

impl Template {
    /// The system and user messages with every `{{name}}` replaced.
    pub fn render(&self, vars: &BTreeMap<&str, &str>) -> Result<Vec<Message>, Error> {
        let (system, user) = match self.text.split_once(USER_MARKER) {
            Some((s, u)) => (s.trim(), u.trim()),
            None => ("", self.text.trim()),
        };
        let mut out = Vec::new();
        if !system.is_empty() {
            out.push(Message::system(self.fill(system, vars)?));
        }
        out.push(Message::user(self.fill(user, vars)?));
        Ok(out)
    }

    fn fill(&self, text: &str, vars: &BTreeMap<&str, &str>) -> Result<String, Error> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(|| Error::Unclosed {
                origin: self.origin.to_string(),
            })?;
            let name = after[..end].trim();
            let value = vars.get(name).ok_or_else(|| Error::UnknownVariable {
                origin: self.origin.to_string(),
                stage: self.stage.as_str(),
                name: name.to_owned(),
                available: vars.keys().copied().collect::<Vec<_>>().join(", "),
            })?;
            out.push_str(value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::llm::Role;

    fn all_vars() -> BTreeMap<&'static str, &'static str> {
        [
            "request", "language", "spec", "code", "tests", "review", "files",
        ]
        .into_iter()
        .map(|k| (k, "VALUE"))
        .collect()
    }

    #[test]
    fn every_builtin_template_renders_into_system_and_user() {
        for stage in Stage::ALL {
            let messages = builtin(stage).render(&all_vars()).unwrap();
            assert_eq!(messages.len(), 2, "{stage:?}");
            assert_eq!(messages[0].role, Role::System);
            assert!(messages[1].content.contains("VALUE"), "{stage:?}");
            assert!(!messages[1].content.contains("{{"), "{stage:?}");
        }
    }

    #[test]
    fn a_user_file_overrides_and_unknown_variables_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("prompts")).unwrap();
        std::fs::write(dir.path().join("prompts/review.md"), "Rate {{ code }}.").unwrap();
        let t = load(dir.path(), Stage::Review).unwrap();
        assert!(matches!(t.origin, Origin::User(_)));
        let m = t.render(&all_vars()).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].content, "Rate VALUE.");
        assert_eq!(
            load(dir.path(), Stage::Spec).unwrap().origin,
            Origin::Builtin
        );

        std::fs::write(dir.path().join("prompts/docs.md"), "{{cod}}").unwrap();
        let err = load(dir.path(), Stage::Docs)
            .unwrap()
            .render(&all_vars())
            .unwrap_err()
            .to_string();
        assert!(err.contains("{{cod}}") && err.contains("docs.md"), "{err}");
    }
}
