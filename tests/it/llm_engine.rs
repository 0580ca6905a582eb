//! The model layer against the real local test server: both wire formats stream, fail and
//! recover as the issue describes, and every call lands in `generations`.
#![allow(clippy::unwrap_used, clippy::many_single_char_names)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::llm_server::{Fault, LlmServer, Reply};
use kiln::engine::env::Env;
use kiln::engine::llm::{
    CachePolicy, ChatRequest, Completion, Error, Llm, Message, Model, ModelsConfig, ProviderKind,
    Recorder, Stage, StreamFailure,
};
use kiln::engine::store::{Store, StoreConfig};
use tokio_util::sync::CancellationToken;

pub(crate) const KEY: &str = "sk-test-PLANTED-0123456789abcdef";

pub(crate) struct Setup {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    pub(crate) llm: Arc<Llm>,
    pub(crate) server: LlmServer,
}

pub(crate) fn config(server: &LlmServer, extra: &str) -> ModelsConfig {
    let text = format!(
        r#"
detect_ollama = false
[retry]
max_retries = 3
initial_backoff_ms = 20
max_backoff_ms = 100
max_retry_after_ms = 5000
[named.oa]
provider = "openai"
base_url = "{url}"
model = "test-model"
api_key_env = "TEST_OPENAI_KEY"
price_in_per_mtok = 1.0
price_out_per_mtok = 2.0
timeout_ms = 2000
[named.an]
provider = "anthropic"
base_url = "{url}"
model = "test-model"
api_key_env = "TEST_ANTHROPIC_KEY"
timeout_ms = 2000
{extra}
"#,
        url = server.base_url()
    );
    toml::from_str(&text).unwrap()
}

pub(crate) async fn setup_with(extra: &str) -> Setup {
    let server = LlmServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kiln.db");
    let recorder = Recorder::open(&db, &StoreConfig::default()).unwrap();
    let env = Env::from_pairs([("TEST_OPENAI_KEY", KEY), ("TEST_ANTHROPIC_KEY", KEY)]);
    let llm = Llm::new(config(&server, extra), env, Some(recorder)).unwrap();
    Setup {
        _dir: dir,
        db,
        llm: Arc::new(llm),
        server,
    }
}

pub(crate) async fn setup() -> Setup {
    setup_with("").await
}

impl Setup {
    pub(crate) async fn model(&self, name: &str) -> Model {
        self.llm.resolve(Some(name)).await.unwrap()
    }

    pub(crate) async fn ask(
        &self,
        name: &str,
        prompt: &str,
    ) -> (Result<Completion, Error>, String) {
        let model = self.model(name).await;
        let mut seen = String::new();
        let result = self
            .llm
            .chat(
                &model,
                request(prompt, CachePolicy::Bypass),
                &mut |t| seen.push_str(t),
                &CancellationToken::new(),
            )
            .await;
        (result, seen)
    }

    pub(crate) fn store(&self) -> Store {
        Store::open(&self.db, &StoreConfig::default()).unwrap()
    }
}

/// One call that ignores the streamed text and is never cancelled.
pub(crate) async fn chat(
    llm: &Llm,
    model: &Model,
    request: ChatRequest,
) -> Result<Completion, Error> {
    llm.chat(model, request, &mut |_| {}, &CancellationToken::new())
        .await
}

/// How a stream failed, if the error is a stream failure.
pub(crate) fn stream_failure(err: &Error) -> Option<&StreamFailure> {
    match err {
        Error::Stream { reason, .. } => Some(reason),
        _ => None,
    }
}

pub(crate) fn request(prompt: &str, cache: CachePolicy) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::system("be brief"), Message::user(prompt)],
        cache,
        ..ChatRequest::default()
    }
}

#[tokio::test]
async fn both_providers_stream_and_record_usage_cost_and_timing() {
    let s = setup().await;
    for name in ["oa", "an"] {
        s.server
            .push([Reply::text("hello from the model").usage(1_000, 500)]);
        let (result, seen) = s.ask(name, "hi").await;
        let done = result.unwrap();
        assert_eq!(done.text, "hello from the model");
        assert_eq!(seen, done.text, "deltas reach the callback as they arrive");
        assert_eq!(done.chunks, 4);
        assert_eq!(done.usage.tokens_in, Some(1_000));
        assert_eq!(done.usage.tokens_out, Some(500));
        assert!(done.ttft.unwrap() <= done.latency);
        let row = s.store().generation(done.generation_id.unwrap()).unwrap();
        assert_eq!(row.status, "ok");
        assert_eq!(row.response.as_deref(), Some("hello from the model"));
        assert_eq!(
            row.provider,
            if name == "oa" { "openai" } else { "anthropic" }
        );
        assert_eq!((row.tokens_in, row.tokens_out), (Some(1_000), Some(500)));
        assert!(row.latency_ms.is_some() && row.ttft_ms.is_some());
        assert!(row.messages_json.contains("be brief"));
        if name == "oa" {
            // 1000 * $1/M + 500 * $2/M
            assert!((row.cost_usd.unwrap() - 0.002).abs() < 1e-12);
        }
    }
    // Request bodies and headers in each wire format.
    let reqs = s.server.requests();
    let oa = &reqs[0];
    assert_eq!(oa.path, "/v1/chat/completions");
    assert_eq!(
        oa.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(oa.body["stream"], true);
    assert_eq!(oa.body["stream_options"]["include_usage"], true);
    assert_eq!(oa.body["messages"][0]["role"], "system");
    assert_eq!(oa.body["model"], "test-model");
    let an = &reqs[1];
    assert_eq!(an.path, "/v1/messages");
    assert_eq!(an.header("x-api-key"), Some(KEY));
    assert_eq!(an.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(an.body["system"], "be brief");
    assert_eq!(an.body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(an.body["max_tokens"], 4096);
    // The client's Debug output (e.g. in a log line) leaves the environment out.
    assert!(!format!("{:?}", s.llm).contains(KEY));
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_honouring_retry_after() {
    let s = setup().await;
    for name in ["oa", "an"] {
        s.server.push([
            Reply::status(429).retry_after("0.3"),
            Reply::status(500),
            Reply::status(503),
            Reply::text("recovered"),
        ]);
        let started = Instant::now();
        let (result, _) = s.ask(name, "hi").await;
        let done = result.unwrap();
        assert_eq!(done.text, "recovered");
        assert_eq!(done.attempts, 4);
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "Retry-After was honoured"
        );
    }
}

#[tokio::test]
async fn retries_give_up_with_the_last_failure() {
    let s = setup().await;
    s.server.push(vec![Reply::status(500); 4]);
    let (result, _) = s.ask("oa", "hi").await;
    let err = result.unwrap_err();
    assert!(matches!(err, Error::GaveUp { attempts: 4, .. }), "{err}");
    assert!(err.to_string().contains("500"), "{err}");
    // A Retry-After beyond the ceiling ends the call instead of sleeping.
    s.server.push([Reply::status(429).retry_after("3600")]);
    let (result, _) = s.ask("oa", "hi").await;
    assert!(matches!(result, Err(Error::RetryAfterTooLong { .. })));
}

#[tokio::test]
async fn client_errors_are_not_retried_and_say_what_to_fix() {
    let s = setup().await;
    for (status, needle) in [
        (400, "models.named.oa"),
        (401, "TEST_OPENAI_KEY"),
        (403, "TEST_OPENAI_KEY"),
        (404, "base_url"),
    ] {
        let before = s.server.requests().len();
        s.server.push([Reply::status(status), Reply::text("never")]);
        let (result, _) = s.ask("oa", "hi").await;
        let err = result.unwrap_err();
        assert!(
            matches!(err, Error::Rejected { status: st, .. } if st == status),
            "{err}"
        );
        assert!(err.to_string().contains(needle), "{status}: {err}");
        assert_eq!(
            s.server.requests().len(),
            before + 1,
            "no retry on {status}"
        );
        let _ = s.ask("oa", "drain the unused reply").await;
    }
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let env = Env::from_pairs([("K", KEY)]);
    let config: ModelsConfig = toml::from_str(&format!(
        "detect_ollama = false\n[retry]\nmax_retries = 2\ninitial_backoff_ms = 10\n[named.dead]\nbase_url = \"http://127.0.0.1:{port}/v1\"\nmodel = \"m\"\napi_key_env = \"K\"\n"
    ))
    .unwrap();
    let llm = Llm::new(config, env, None).unwrap();
    let model = llm.resolve(None).await.unwrap();
    let err = chat(&llm, &model, request("hi", CachePolicy::Bypass))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::GaveUp { attempts: 3, .. }), "{err}");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
}

#[tokio::test]
async fn slow_first_byte_times_out_and_is_retried() {
    let s = setup_with("").await;
    // timeout_ms is 2000 for these models: a 2.5 s first byte times out, the retry succeeds.
    s.server.push([
        Reply::text("late").first_byte_delay(2_500),
        Reply::text("fast"),
    ]);
    let (result, _) = s.ask("oa", "hi").await;
    let done = result.unwrap();
    assert_eq!((done.text.as_str(), done.attempts), ("fast", 2));
}

#[tokio::test]
async fn a_cut_stream_is_an_error_that_keeps_the_partial_text() {
    let s = setup().await;
    for name in ["oa", "an"] {
        s.server
            .push([Reply::text("partial answer here").fault(Fault::Cut)]);
        let (result, seen) = s.ask(name, "hi").await;
        let err = result.unwrap_err();
        assert!(
            matches!(stream_failure(&err), Some(StreamFailure::Cut(_))),
            "{name}: {err}"
        );
        assert_eq!(err.partial(), Some("partial answer here"));
        assert_eq!(seen, "partial answer here");
    }
    // Recorded as errors with the partial text.
    let store = s.store();
    let stats = store.stats_by_model_and_day(0).unwrap();
    assert_eq!(stats.iter().map(|r| r.errors).sum::<i64>(), 2);
    let row = store.generation(1).unwrap();
    assert_eq!(row.status, "error");
    assert_eq!(row.response.as_deref(), Some("partial answer here"));
    assert!(
        row.error
            .unwrap()
            .contains("the connection closed before the reply finished")
    );
}

#[tokio::test]
async fn invalid_json_chunks_and_error_events_fail_the_stream() {
    let s = setup().await;
    for name in ["oa", "an"] {
        s.server
            .push([Reply::text("so far").fault(Fault::InvalidJson)]);
        let (result, _) = s.ask(name, "hi").await;
        let err = result.unwrap_err();
        assert!(
            matches!(stream_failure(&err), Some(StreamFailure::BadChunk(_))),
            "{name}: {err}"
        );
        assert_eq!(err.partial(), Some("so far"));

        // A provider error echoing the key has it scrubbed.
        s.server
            .push([Reply::text("so far").fault(Fault::ErrorEvent(format!("bad key {KEY}")))]);
        let (result, _) = s.ask(name, "hi").await;
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("bad key [redacted]") && !err.contains(KEY),
            "{err}"
        );

        s.server
            .push([Reply::text("so far").fault(Fault::ErrorEvent("Overloaded".into()))]);
        let (result, _) = s.ask(name, "hi").await;
        let err = result.unwrap_err();
        assert!(
            matches!(stream_failure(&err), Some(StreamFailure::Provider(m)) if m == "Overloaded"),
            "{name}: {err}"
        );
        assert_eq!(err.partial(), Some("so far"));
    }
}

#[tokio::test]
async fn a_stalled_stream_hits_the_read_timeout() {
    let s = setup().await;
    s.server.push([Reply::text("stalled ").fault(Fault::Stall)]);
    let (result, _) = s.ask("an", "hi").await;
    let err = result.unwrap_err();
    assert!(
        matches!(stream_failure(&err), Some(StreamFailure::ReadTimeout(_))),
        "{err}"
    );
    assert_eq!(err.partial(), Some("stalled "));
}

#[tokio::test]
async fn a_ten_megabyte_reply_streams_whole() {
    let s = setup().await;
    let bytes = 10 * 1024 * 1024;
    s.server.push([Reply {
        huge_bytes: Some(bytes),
        ..Reply::default()
    }]);
    let (result, _) = s.ask("oa", "big").await;
    let done = result.unwrap();
    assert_eq!(done.text.len() as u64, bytes);
    let row = s.store().generation(done.generation_id.unwrap()).unwrap();
    assert_eq!(row.response.unwrap().len() as u64, bytes);
}

#[tokio::test]
async fn cancellation_drops_the_stream_at_once_and_is_recorded() {
    let s = setup().await;
    s.server.push([Reply {
        chunks_n: Some(1_000),
        chunk_delay_ms: 20,
        ..Reply::default()
    }]);
    let model = s.model("oa").await;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let mut count = 0;
    let started = Instant::now();
    let err = s
        .llm
        .chat(
            &model,
            request("long", CachePolicy::Bypass),
            &mut |_| {
                count += 1;
                if count == 3 {
                    trigger.cancel();
                }
            },
            &cancel,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // Deltas that arrived in the same read as the third may be delivered too.
    assert!(err.partial().unwrap().starts_with("w0 w1 w2 "), "{err:?}");
    assert!(count < 10, "the stream stopped at once ({count} deltas)");
    // The server sees the connection go away: nothing is left in flight shortly after.
    let row = s.store().generation(1).unwrap();
    assert_eq!(row.status, "cancelled");

    // Cancelling during a backoff wait returns at once too.
    s.server.push([Reply::status(429).retry_after("4")]);
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        c2.cancel();
    });
    let started = Instant::now();
    let err = s
        .llm
        .chat(
            &model,
            request("x", CachePolicy::Bypass),
            &mut |_| {},
            &cancel,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn concurrency_is_limited_per_provider_endpoint() {
    let s = setup_with("").await;
    let mut config = s.llm.config().clone();
    config.named.get_mut("oa").unwrap().max_concurrent = 2;
    // A second model on the same OpenAI-compatible server shares the limit.
    let mut twin = config.named["oa"].clone();
    twin.model = "test-model-large".into();
    twin.max_concurrent = 3;
    config.named.insert("oa-large".into(), twin);
    let llm = Arc::new(Llm::new(config, s.llm.env().clone(), None).unwrap());
    let small = llm.resolve(Some("oa")).await.unwrap();
    let large = llm.resolve(Some("oa-large")).await.unwrap();
    let slow = Reply {
        chunks: vec!["a".into(), "b".into(), "c".into()],
        chunk_delay_ms: 100,
        ..Reply::default()
    };
    s.server.push(vec![slow; 6]);
    let mut tasks = Vec::new();
    for i in 0..6 {
        let llm = llm.clone();
        let model = if i % 2 == 0 {
            small.clone()
        } else {
            large.clone()
        };
        tasks.push(tokio::spawn(async move {
            chat(&llm, &model, request("x", CachePolicy::Bypass)).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().text, "abc");
    }
    assert_eq!(s.server.max_in_flight(), 2);
}

#[tokio::test]
async fn cache_serves_temperature_zero_repeats_and_bypass_skips_it() {
    let s = setup().await;
    let model = s.model("oa").await;
    let ask = |policy| {
        let llm = s.llm.clone();
        let model = model.clone();
        async move {
            chat(&llm, &model, request("same question", policy))
                .await
                .unwrap()
        }
    };
    s.server.push([Reply::text("first").usage(10, 3)]);
    let a = ask(CachePolicy::Auto).await;
    assert!(!a.cache_hit);
    let b = ask(CachePolicy::Auto).await;
    assert!(b.cache_hit);
    assert_eq!(b.text, "first");
    assert_eq!(b.cost_usd, Some(0.0));
    assert_eq!(s.server.requests().len(), 1, "the cache answered");
    s.server.push([Reply::text("second")]);
    let c = ask(CachePolicy::Bypass).await;
    assert!(!c.cache_hit);
    assert_eq!(c.text, "second");
    assert_eq!(s.server.requests().len(), 2);
    // A non-zero temperature is not cached unless asked for.
    let mut req = request("warm", CachePolicy::Auto);
    req.temperature = Some(0.7);
    s.server.push([Reply::text("t1"), Reply::text("t2")]);
    for expected in ["t1", "t2"] {
        let r = chat(&s.llm, &model, req.clone()).await.unwrap();
        assert_eq!(r.text, expected);
    }
    req.cache = CachePolicy::Always;
    let r = chat(&s.llm, &model, req).await.unwrap();
    assert!(r.cache_hit && r.text == "t2");
    let row = s.store().generation(b.generation_id.unwrap()).unwrap();
    assert!(row.cache_hit);
}

#[tokio::test]
async fn a_missing_key_variable_is_named_in_the_error() {
    let s = setup().await;
    let llm = Llm::new(s.llm.config().clone(), Env::default(), None).unwrap();
    let model = llm.resolve(Some("an")).await.unwrap();
    let err = chat(&llm, &model, request("x", CachePolicy::Bypass))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("TEST_ANTHROPIC_KEY"), "{err}");
    assert_eq!(s.server.requests().len(), 0);
}

#[tokio::test]
async fn detection_order_and_no_model_message() {
    let server = LlmServer::start().await;
    let detect = |env: Env, ollama: bool| {
        let config = ModelsConfig {
            ollama_url: server.root_url(),
            detect_ollama: ollama,
            ..ModelsConfig::default()
        };
        Llm::new(config, env, None).unwrap()
    };
    let both = Env::from_pairs([("OPENAI_API_KEY", "a"), ("ANTHROPIC_API_KEY", "b")]);
    let m = detect(both, true).resolve(None).await.unwrap();
    assert_eq!(m.config.provider, ProviderKind::Openai);
    let m = detect(Env::from_pairs([("ANTHROPIC_API_KEY", "b")]), true)
        .resolve(None)
        .await
        .unwrap();
    assert_eq!(m.config.provider, ProviderKind::Anthropic);
    let m = detect(Env::default(), true).resolve(None).await.unwrap();
    assert_eq!(m.name, "ollama");
    assert_eq!(m.config.model, "test-model");
    assert_eq!(m.config.base_url(), server.base_url());
    let err = detect(Env::default(), false)
        .resolve(None)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::NoModel));
    for way in ["OPENAI_API_KEY", "Ollama", "[models.named"] {
        assert!(text.contains(way), "{text}");
    }
}

#[tokio::test]
async fn each_stage_can_name_its_own_model() {
    let s = setup_with("[stages]\nreview = \"an\"\ngenerate = \"oa\"\n").await;
    let review = s.llm.resolve_for_stage(Stage::Review).await.unwrap();
    assert_eq!(review.name, "an");
    let generate = s.llm.resolve_for_stage(Stage::Generate).await.unwrap();
    assert_eq!(generate.name, "oa");
    // Unnamed stages use the default: here the first named model.
    let docs = s.llm.resolve_for_stage(Stage::Docs).await.unwrap();
    assert_eq!(docs.name, "an");
    let checks = kiln::engine::llm::doctor_checks(s.llm.config(), s.llm.env());
    assert!(
        checks
            .iter()
            .all(|c| c.status == kiln::engine::doctor::CheckStatus::Ok),
        "{checks:?}"
    );
}

#[tokio::test]
async fn the_connect_timeout_applies() {
    // A listener that never accepts, its accept queue filled until connecting hangs, as with an
    // unreachable host.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    let full = tokio::task::spawn_blocking(move || {
        for _ in 0..2_000 {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(s) => fillers.push(s),
                Err(_) => return Some(fillers),
            }
        }
        None
    })
    .await
    .unwrap();
    let _fillers = full.expect("the accept queue never filled up");
    let config: ModelsConfig = toml::from_str(&format!(
        "detect_ollama = false\nconnect_timeout_ms = 300\n[retry]\nmax_retries = 1\ninitial_backoff_ms = 10\n[named.m]\nbase_url = \"http://{addr}/v1\"\nmodel = \"m\"\ntimeout_ms = 20000\n"
    ))
    .unwrap();
    let llm = Llm::new(config, Env::default(), None).unwrap();
    let model = llm.resolve(None).await.unwrap();
    let started = Instant::now();
    let err = chat(&llm, &model, request("hi", CachePolicy::Bypass))
        .await
        .unwrap_err();
    drop(listener);
    assert!(matches!(err, Error::GaveUp { attempts: 2, .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("connect_timeout_ms"), "{err}");
}

#[tokio::test]
async fn a_server_that_ignores_stream_true_is_read_whole() {
    let s = setup().await;
    for name in ["oa", "an"] {
        s.server.push([Reply {
            non_streaming: true,
            ..Reply::text("all at once").usage(7, 3)
        }]);
        let (result, seen) = s.ask(name, "hi").await;
        let done = result.unwrap();
        assert_eq!(
            (done.text.as_str(), seen.as_str()),
            ("all at once", "all at once")
        );
        assert_eq!(
            (done.usage.tokens_in, done.usage.tokens_out),
            (Some(7), Some(3))
        );
    }
}

#[tokio::test]
async fn a_database_failure_does_not_lose_the_reply() {
    let server = LlmServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::open(&dir.path().join("k.db"), &StoreConfig::default()).unwrap();
    let env = Env::from_pairs([("TEST_OPENAI_KEY", KEY), ("TEST_ANTHROPIC_KEY", KEY)]);
    let llm = Llm::new(config(&server, ""), env, Some(recorder.clone())).unwrap();
    recorder.close(); // every later write fails
    let model = llm.resolve(Some("oa")).await.unwrap();
    server.push([Reply::text("still here")]);
    let done = chat(&llm, &model, request("hi", CachePolicy::Auto))
        .await
        .unwrap();
    assert_eq!(done.text, "still here");
    assert_eq!(done.generation_id, None);
}
