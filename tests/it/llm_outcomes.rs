//! How a model call ends and what it says on the way, against the real local test server: the
//! finish reason of every call (a reply cut at `max_tokens` is visible), retries as events, the
//! bounds on a call that gets no answer, and error messages that name the right things once.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crate::llm_engine::{chat, request, setup, stream_failure};
use crate::support::llm_server::{Fault, Reply};
use kiln::engine::llm::{
    CachePolicy, CallEvent, Error, FinishReason, Llm, RetryReason, StreamFailure,
};

#[tokio::test]
async fn every_call_records_why_it_ended_and_a_cut_reply_says_so() {
    let s = setup().await;
    for name in ["oa", "an"] {
        for non_streaming in [false, true] {
            let how = format!("{name}, non_streaming {non_streaming}");
            s.server.push([Reply {
                non_streaming,
                ..Reply::text("cut sho").truncated()
            }]);
            let done = s.ask(name, "hi").await.0.unwrap();
            assert_eq!(done.finish_reason, Some(FinishReason::Length), "{how}");
            assert!(done.is_truncated(), "{how}");
            assert_eq!(done.text, "cut sho");
            let row = s.store().generation(done.generation_id.unwrap()).unwrap();
            assert_eq!(row.finish_reason.as_deref(), Some("length"), "{how}");

            s.server.push([Reply {
                non_streaming,
                ..Reply::text("all of it")
            }]);
            let done = s.ask(name, "hi").await.0.unwrap();
            assert_eq!(done.finish_reason, Some(FinishReason::Stop), "{how}");
            assert!(!done.is_truncated(), "{how}");
            let row = s.store().generation(done.generation_id.unwrap()).unwrap();
            assert_eq!(row.finish_reason.as_deref(), Some("stop"), "{how}");
        }
    }
    // Failed and cancelled calls say how they ended too (8 calls so far).
    s.server.push([Reply::text("half ").fault(Fault::Cut)]);
    assert!(s.ask("oa", "hi").await.0.is_err());
    let row = s.store().generation(9).unwrap();
    assert_eq!(
        (row.status.as_str(), row.finish_reason.as_deref()),
        ("error", Some("error"))
    );
    // A cut reply served again from the cache is still cut.
    let model = s.model("oa").await;
    s.server.push([Reply::text("cached but cut").truncated()]);
    let first = chat(&s.llm, &model, request("cache me", CachePolicy::Auto))
        .await
        .unwrap();
    let again = chat(&s.llm, &model, request("cache me", CachePolicy::Auto))
        .await
        .unwrap();
    assert!(!first.cache_hit && again.cache_hit);
    assert!(again.is_truncated(), "{again:?}");
    let row = s.store().generation(again.generation_id.unwrap()).unwrap();
    assert_eq!(row.finish_reason.as_deref(), Some("length"));
}

#[tokio::test]
async fn retries_are_announced_as_events_while_the_call_waits() {
    let s = setup().await;
    s.server.push([
        Reply::status(429).retry_after("0.2"),
        Reply::status(503),
        Reply::text("recovered"),
    ]);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let model = s.model("oa").await;
    let mut req = request("hi", CachePolicy::Bypass);
    req.events = Some(tx);
    let done = chat(&s.llm, &model, req).await.unwrap();
    assert_eq!((done.text.as_str(), done.attempts), ("recovered", 3));
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    assert_eq!(events.len(), 2, "{events:?}");
    match &events[0] {
        CallEvent::Retrying {
            model,
            attempt,
            max,
            delay,
            reason,
        } => {
            assert_eq!((model.as_str(), *attempt, *max), ("oa", 1, 3));
            assert_eq!(
                *delay,
                Duration::from_millis(200),
                "Retry-After is the delay"
            );
            assert_eq!(reason, &RetryReason::Status(429));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        events[0].to_string(),
        "429 from oa, retrying in 0.2 s (1/3)"
    );
    assert!(
        matches!(
            &events[1],
            CallEvent::Retrying {
                attempt: 2,
                reason: RetryReason::Status(503),
                ..
            }
        ),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_costs_two_header_timeouts_not_one_per_retry() {
    let s = setup().await; // timeout_ms 2000, max_retries 3
    s.server
        .push(vec![Reply::text("late").first_byte_delay(30_000); 4]);
    let started = Instant::now();
    let err = s.ask("oa", "hi").await.0.unwrap_err();
    println!("two header timeouts took {:?}", started.elapsed());
    assert!(matches!(err, Error::NoResponse { .. }), "{err}");
    assert_eq!(
        s.server.requests().len(),
        2,
        "retried once, not three times"
    );
    let text = err.to_string();
    assert!(text.contains("retried once"), "{text}");
    assert!(text.contains("models.named.oa.timeout_ms"), "{text}");
}

#[tokio::test]
async fn call_timeout_bounds_the_whole_call_and_keeps_the_partial_text() {
    let s = setup().await;
    let mut config = s.llm.config().clone();
    config.call_timeout_ms = 1_000;
    let llm = Llm::new(config, s.llm.env().clone(), None).unwrap();
    let model = llm.resolve(Some("oa")).await.unwrap();
    // A stream that would take 50 s ends at the deadline with what arrived.
    s.server.push([Reply {
        chunks_n: Some(1_000),
        chunk_delay_ms: 50,
        ..Reply::default()
    }]);
    let started = Instant::now();
    let err = chat(&llm, &model, request("hi", CachePolicy::Bypass))
        .await
        .unwrap_err();
    println!("the bounded call took {:?}", started.elapsed());
    assert!(matches!(err, Error::CallTimeout { .. }), "{err}");
    assert!(err.partial().unwrap().starts_with("w0 w1 "), "{err:?}");
    assert!(err.to_string().contains("models.call_timeout_ms"), "{err}");
    // Retries count against the same bound.
    s.server.push([
        Reply::status(503).retry_after("0.6"),
        Reply::status(503).retry_after("0.6"),
        Reply::text("too late"),
    ]);
    let err = chat(&llm, &model, request("hi", CachePolicy::Bypass))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CallTimeout { .. }), "{err}");
    assert_eq!(err.partial(), Some(""));
}

#[tokio::test]
async fn messages_name_the_model_once_and_say_what_happened() {
    let s = setup().await;
    // A stall names the real model's timeout key.
    s.server.push([Reply::text("stalled ").fault(Fault::Stall)]);
    let err = s.ask("an", "hi").await.0.unwrap_err();
    assert!(matches!(
        stream_failure(&err),
        Some(StreamFailure::ReadTimeout(_))
    ));
    let text = err.to_string();
    assert!(text.contains("models.named.an.timeout_ms"), "{text}");
    assert!(!text.contains("<name>"), "{text}");
    assert_eq!(text.matches("'an'").count(), 1, "{text}");
    // A cut stream says so in plain words, not the HTTP library's.
    for name in ["oa", "an"] {
        s.server.push([Reply::text("half ").fault(Fault::Cut)]);
        let text = s.ask(name, "hi").await.0.unwrap_err().to_string();
        assert!(
            text.contains("the connection closed before the reply finished"),
            "{text}"
        );
        assert!(!text.contains("EOF") && !text.contains("chunk"), "{text}");
    }
    // One attempt is one attempt.
    let mut config = s.llm.config().clone();
    config.retry.max_retries = 0;
    let llm = Llm::new(config, s.llm.env().clone(), None).unwrap();
    let model = llm.resolve(Some("oa")).await.unwrap();
    s.server.push([Reply::status(500)]);
    let text = chat(&llm, &model, request("hi", CachePolicy::Bypass))
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("gave up after 1 attempt:"), "{text}");
}
