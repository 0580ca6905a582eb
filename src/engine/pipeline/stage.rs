//! The pipeline's stage type. There is one: [`Stage`] is the store's `StageKind` (what the
//! `stages.kind` column holds), so the pipeline, the store and the front-ends name stages the
//! same way; the model layer's `llm::Stage` (which prompt and which `[models.stages]` entry) is
//! reached through [`Stage::model_stage`] at the edge where a model is called.

use crate::engine::llm;
pub use crate::engine::store::StageKind as Stage;

/// The built-in pipeline, in order (the improve loop and docs are placed by the runner).
pub const BUILTIN: [Stage; 9] = [
    Stage::Spec,
    Stage::Generate,
    Stage::Tests,
    Stage::Check,
    Stage::TestRun,
    Stage::Review,
    Stage::Improve,
    Stage::Docs,
    Stage::Export,
];

impl Stage {
    /// The model layer's stage, for stages that call a model.
    pub fn model_stage(self) -> Option<llm::Stage> {
        Some(match self {
            Self::Spec => llm::Stage::Spec,
            Self::Generate => llm::Stage::Generate,
            Self::Tests => llm::Stage::Tests,
            Self::Review => llm::Stage::Review,
            Self::Improve => llm::Stage::Improve,
            Self::Docs => llm::Stage::Docs,
            Self::Check | Self::TestRun | Self::Export | Self::Custom | Self::Smoke => return None,
        })
    }

    /// Whether the stage calls a model (custom stages always do).
    pub fn is_model_stage(self) -> bool {
        self == Self::Custom || self.model_stage().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_model_stages_map() {
        for s in BUILTIN {
            assert_eq!(s.as_str().parse::<Stage>().unwrap(), s);
            if let Some(m) = s.model_stage() {
                assert_eq!(m.as_str(), s.as_str());
            }
        }
        assert!(Stage::Custom.is_model_stage());
        assert!(!Stage::TestRun.is_model_stage());
    }
}
