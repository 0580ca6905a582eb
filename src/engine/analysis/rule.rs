//! A rule: its documentation and the hooks the walker calls for the node kinds it registers.

use serde::Serialize;
use tree_sitter::Node;

use super::context::{Ctx, FinishCtx, RawFinding};
use super::finding::{Category, Severity};
use super::language::Family;

/// Called when the walker enters (or leaves) a node of a registered kind.
pub(crate) type Hook = for<'t> fn(&mut Ctx<'_>, Node<'t>);
/// Called once per file with the facts every unit collected.
pub(crate) type Finish = fn(&FinishCtx<'_>, &mut Vec<RawFinding>);

/// Whether a rule offers a quick fix, and how safe it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FixAvailability {
    None,
    /// Keeps behaviour: applied by `kiln check --fix`.
    Safe,
    /// May change behaviour: offered in the editor, applied only with `--unsafe-fixes`.
    Unsafe,
}

/// One rule. `internal` rules keep shared state (scopes, imports) and are never listed.
#[derive(Clone, Copy)]
pub struct Rule {
    pub id: &'static str,
    pub name: &'static str,
    pub family: Family,
    pub category: Category,
    pub severity: Severity,
    /// One line: what is wrong.
    pub summary: &'static str,
    /// Why it matters and what to do instead.
    pub explanation: &'static str,
    pub bad: &'static str,
    pub good: &'static str,
    pub fix: FixAvailability,
    pub(crate) internal: bool,
    pub(crate) enter: &'static [&'static str],
    pub(crate) on_enter: Option<Hook>,
    pub(crate) leave: &'static [&'static str],
    pub(crate) on_leave: Option<Hook>,
    pub(crate) finish: Option<Finish>,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Rule {
    /// A rule skeleton; the per-language tables fill in the hooks with struct update syntax.
    pub(crate) const fn new(
        id: &'static str,
        name: &'static str,
        family: Family,
        category: Category,
        severity: Severity,
    ) -> Self {
        Self {
            id,
            name,
            family,
            category,
            severity,
            summary: "",
            explanation: "",
            bad: "",
            good: "",
            fix: FixAvailability::None,
            internal: false,
            enter: &[],
            on_enter: None,
            leave: &[],
            on_leave: None,
            finish: None,
        }
    }

    /// The markdown shown by `kiln rules explain` and LSP hover.
    pub fn explain(&self) -> String {
        let lang = match self.family {
            Family::Python => "python",
            Family::Rust => "rust",
            Family::JavaScript | Family::TypeScript => "typescript",
        };
        let fix = match self.fix {
            FixAvailability::None => "no",
            FixAvailability::Safe => "safe",
            FixAvailability::Unsafe => "unsafe",
        };
        format!(
            "# {} {}\n\n{}\n\nLanguage: {} · category: {} · default severity: {} · fix: {}\n\n{}\n\n## Bad\n\n```{lang}\n{}\n```\n\n## Good\n\n```{lang}\n{}\n```\n",
            self.id,
            self.name,
            self.summary,
            self.family.name(),
            self.category.as_str(),
            self.severity,
            fix,
            self.explanation,
            self.bad.trim_end(),
            self.good.trim_end(),
        )
    }
}
