//! Resolving an operation's [`ProjectRef`] to a project id, through the store writer.

use std::path::Path;

use super::op::ProjectRef;
use crate::engine::context::OpContext;
use crate::engine::ids::ProjectId;
use crate::engine::store::WriteError;

/// The project `reference` names, if any.
pub(super) async fn resolve(
    ctx: &OpContext,
    reference: Option<&ProjectRef>,
) -> Result<Option<ProjectId>, WriteError> {
    let Some(reference) = reference.cloned() else {
        return Ok(None);
    };
    ctx.write(move |s| {
        Ok(match reference {
            ProjectRef::Id(id) => Some(s.project_by_id(id.get())?.id.into()),
            ProjectRef::Name(name) => Some(s.project_by_name(&name)?.id.into()),
            ProjectRef::Containing(dir) => {
                s.project_containing(Path::new(&dir))?.map(|p| p.id.into())
            }
        })
    })
    .await
}
