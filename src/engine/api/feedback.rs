//! `Op::AddFeedback`: stores the user's verdict on a run, a model call or a finding, after
//! checking the run or model call exists (a verdict on nothing is an error, not a row).

use super::op::FeedbackParams;
use crate::engine::context::{Event, OpContext};
use crate::engine::ids::RunId;
use crate::engine::store::FeedbackTarget;

pub(crate) async fn add_feedback(
    ctx: OpContext,
    params: FeedbackParams,
) -> crate::engine::Result<()> {
    let FeedbackParams {
        target,
        verdict,
        comment,
    } = params;
    let (id, run) = ctx
        .write(move |s| {
            let run = match target {
                FeedbackTarget::Run(id) => Some(s.run(id)?.id),
                FeedbackTarget::Generation(id) => {
                    s.generation(id)?;
                    None
                }
                FeedbackTarget::Finding(_) => None,
            };
            Ok((s.add_feedback(target, verdict, &comment)?, run))
        })
        .await?;
    ctx.emit(run.map(RunId), Event::FeedbackAdded { feedback: id });
    Ok(())
}
