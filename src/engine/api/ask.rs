//! `Op::Ask`: one streamed model call, recorded as a run of kind `ask`.
//!
//! Events, in order: `RunCreated` (the request and run rows are committed), `ModelChosen`,
//! `ModelDelta`s and `ModelRetrying`s, `AskFinished` (the generation row is committed; a
//! failed or cancelled call sends none), `RunFinished` (status succeeded, failed or cancelled,
//! with the error's whole message), then `OpDone` or `OpFailed`. A cancelled call keeps its
//! partial reply in the generation row.

use super::op::AskParams;
use crate::engine::context::{Event, OpContext};
use crate::engine::ids::RunId;
use crate::engine::llm::{ChatRequest, error_chain};
use crate::engine::store::{NewRun, RunKind, Status};

pub(crate) async fn ask(ctx: OpContext, params: AskParams) -> Result<(), crate::engine::Error> {
    let project = super::project::resolve(&ctx, params.project.as_ref()).await?;
    let prompt = params
        .messages
        .iter()
        .rev()
        .find(|m| m.role == crate::engine::llm::Role::User)
        .map(|m| m.content.clone())
        .unwrap_or_default();
    let origin = params.origin.as_str();
    let project_id = project.map(crate::engine::ids::ProjectId::get);
    let text = prompt.clone();
    let run = ctx
        .write(move |s| {
            let request_id = s.add_request(project_id, &text, origin)?;
            s.start_run(&NewRun {
                project_id,
                request_id: Some(request_id),
                kind: RunKind::Ask,
            })
        })
        .await?;
    let run_id = RunId(run.id);
    ctx.claim_run(run_id);
    ctx.emit(
        Some(run_id),
        Event::RunCreated {
            project,
            kind: RunKind::Ask,
            request: Some(prompt),
        },
    );

    let result = call(&ctx, run_id, params).await;
    // The run keeps the whole message, causes included, as the operation's failure says it.
    let (status, error) = match &result {
        Ok(()) => (Status::Succeeded, None),
        Err(e) if ctx.cancel.is_cancelled() => (Status::Cancelled, Some(error_chain(e))),
        Err(e) => (Status::Failed, Some(error_chain(e))),
    };
    let stored_error = error.clone();
    ctx.write(move |s| s.finish_run(run_id.get(), status, stored_error.as_deref()))
        .await?;
    ctx.emit(Some(run_id), Event::RunFinished { status, error });
    result
}

async fn call(ctx: &OpContext, run: RunId, params: AskParams) -> Result<(), crate::engine::Error> {
    let llm = ctx.llm()?;
    let model = llm.resolve(params.model.as_deref()).await?;
    ctx.emit(
        Some(run),
        Event::ModelChosen {
            model: model.name.clone(),
            provider: model.config.provider.as_str().to_owned(),
            model_id: model.config.model.clone(),
            source: model.source.clone(),
            max_tokens: params.max_tokens.unwrap_or(model.config.max_tokens),
        },
    );
    let request = ChatRequest {
        messages: params.messages,
        max_tokens: params.max_tokens,
        temperature: params.temperature,
        cache: params.cache,
        run_id: Some(run.get()),
        events: Some(ctx.call_events(run, None)),
        ..ChatRequest::default()
    };
    let emitter = ctx.clone();
    let mut on_text = move |text: &str| {
        emitter.emit(
            Some(run),
            Event::ModelDelta {
                stage: None,
                text: text.to_owned(),
            },
        );
    };
    let done = llm.chat(&model, request, &mut on_text, &ctx.cancel).await?;
    ctx.emit(
        Some(run),
        Event::AskFinished {
            generation: done.generation_id.map(Into::into),
            truncated: done.is_truncated(),
            tokens_in: done.usage.tokens_in,
            tokens_out: done.usage.tokens_out,
            cost_usd: done.cost_usd,
            cache_hit: done.cache_hit,
            latency_us: micros(done.latency),
            ttft_us: done.ttft.map(micros),
            attempts: done.attempts,
            chunks: done.chunks,
            finish_reason: done.finish_reason,
            text: done.text,
        },
    );
    Ok(())
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
