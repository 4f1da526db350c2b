//! The OpenAI scorer against a fake OpenAI-compatible server on 127.0.0.1 (CONTRACT §6 "Scoring"): the request
//! it sends, how it reads answers, and its timeout and retry behaviour.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use talqo_server::scoring::{OfferForScoring, OpenAiScorer, OpenAiSettings, Score, Scorer, ScoringError};

const API_KEY: &str = "sk-test-0123456789abcdef";
const MODEL: &str = "test-model";

/// What the fake answers to its n-th request (counted from 1).
struct Reply {
    status: StatusCode,
    body: String,
    retry_after: Option<&'static str>,
    delay: Duration,
}

impl Reply {
    fn new(status: StatusCode, body: impl Into<String>) -> Self {
        Self { status, body: body.into(), retry_after: None, delay: Duration::ZERO }
    }

    /// A 200 chat completion whose message content is `content`.
    fn completion(content: &str) -> Self {
        let body = json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        });
        Self::new(StatusCode::OK, body.to_string())
    }
}

struct RecordedRequest {
    authorization: Option<String>,
    body: Value,
}

struct FakeOpenAi {
    hits: AtomicU32,
    requests: Mutex<Vec<RecordedRequest>>,
    reply: Box<dyn Fn(u32) -> Reply + Send + Sync>,
}

impl FakeOpenAi {
    fn hits(&self) -> u32 {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn chat_completions(
    State(fake): State<Arc<FakeOpenAi>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let hit = fake.hits.fetch_add(1, Ordering::SeqCst) + 1;
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    fake.requests.lock().unwrap().push(RecordedRequest { authorization, body });
    let reply = (fake.reply)(hit);
    tokio::time::sleep(reply.delay).await;
    let mut response = (reply.status, [(header::CONTENT_TYPE, "application/json")], reply.body).into_response();
    if let Some(seconds) = reply.retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, seconds.parse().unwrap());
    }
    response
}

/// Starts the fake on a free port; returns its base URL (with a trailing slash, which the scorer must strip).
async fn start_fake(reply: impl Fn(u32) -> Reply + Send + Sync + 'static) -> (String, Arc<FakeOpenAi>) {
    let fake =
        Arc::new(FakeOpenAi { hits: AtomicU32::new(0), requests: Mutex::new(Vec::new()), reply: Box::new(reply) });
    let app = axum::Router::new().route("/v1/chat/completions", post(chat_completions)).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/v1/"), fake)
}

fn scorer(base_url: &str, max_attempts: u32, timeout: Duration) -> OpenAiScorer {
    OpenAiScorer::new(OpenAiSettings {
        base_url: base_url.to_owned(),
        api_key: API_KEY.to_owned(),
        model: MODEL.to_owned(),
        timeout,
        max_attempts,
        initial_backoff: Duration::from_millis(10),
    })
    .unwrap()
}

fn offer() -> OfferForScoring {
    OfferForScoring { title: "Senior Backend Engineer".into(), description: "Rust, PostgreSQL and Kubernetes.".into() }
}

const CV: &str = "Jane Roe\nBackend engineer, 6 years of Rust and PostgreSQL.";
const GOOD_CONTENT: &str = r#"{"rating": 81, "ai_resume_summary": "Backend engineer with 6 years of Rust.", "first_impression_text": "Strong Rust fit; no Kubernetes."}"#;

#[tokio::test]
async fn a_good_answer_is_parsed_and_the_request_follows_the_contract() {
    let (base_url, fake) = start_fake(|_| Reply::completion(GOOD_CONTENT)).await;
    let score = scorer(&base_url, 3, Duration::from_secs(5)).score(&offer(), CV).await.unwrap();

    assert_eq!(
        score,
        Score {
            rating: 81,
            ai_resume_summary: "Backend engineer with 6 years of Rust.".into(),
            first_impression_text: "Strong Rust fit; no Kubernetes.".into(),
        }
    );
    assert_eq!(fake.hits(), 1);
    let requests = fake.requests.lock().unwrap();
    let request = &requests[0];
    assert_eq!(request.authorization.as_deref(), Some(format!("Bearer {API_KEY}").as_str()));
    assert_eq!(request.body["model"], MODEL);
    assert_eq!(request.body["response_format"], json!({"type": "json_object"}));
    assert_eq!(request.body["temperature"], 0);
    assert_eq!(request.body["messages"][0]["role"], "system");
    let user_message = request.body["messages"][1]["content"].as_str().unwrap();
    for expected in ["Senior Backend Engineer", "Kubernetes", "6 years of Rust"] {
        assert!(user_message.contains(expected), "{expected} missing from {user_message}");
    }
}

#[tokio::test]
async fn a_long_cv_is_truncated_before_it_is_sent() {
    let (base_url, fake) = start_fake(|_| Reply::completion(GOOD_CONTENT)).await;
    let long_cv = format!("{}END-OF-CV-MARKER", "Rust engineer. ".repeat(10_000));
    scorer(&base_url, 1, Duration::from_secs(5)).score(&offer(), &long_cv).await.unwrap();

    let requests = fake.requests.lock().unwrap();
    let user_message = requests[0].body["messages"][1]["content"].as_str().unwrap();
    assert!(!user_message.contains("END-OF-CV-MARKER"));
    assert!(user_message.chars().count() < 30_000, "{} chars", user_message.chars().count());
}

#[tokio::test]
async fn malformed_answers_are_errors_and_are_not_retried() {
    let cases = [
        "I think this candidate is great!",
        r#"{"rating": 70, "ai_resume_summary": "Backend engineer."}"#,
        r#"{"rating": 150, "ai_resume_summary": "a", "first_impression_text": "b"}"#,
        r#"{"rating": "high", "ai_resume_summary": "a", "first_impression_text": "b"}"#,
    ];
    for content in cases {
        let (base_url, fake) = start_fake(move |_| Reply::completion(content)).await;
        let result = scorer(&base_url, 3, Duration::from_secs(5)).score(&offer(), CV).await;
        assert!(matches!(result, Err(ScoringError::InvalidAnswer(_))), "{content}: {result:?}");
        assert_eq!(fake.hits(), 1, "{content}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_a_chat_completion_is_an_error() {
    let (base_url, _fake) = start_fake(|_| Reply::new(StatusCode::OK, "<html>proxy page</html>")).await;
    let result = scorer(&base_url, 3, Duration::from_secs(5)).score(&offer(), CV).await;
    assert!(matches!(result, Err(ScoringError::InvalidAnswer(_))), "{result:?}");
}

#[tokio::test]
async fn a_short_outage_is_ridden_out_by_retries() {
    let (base_url, fake) = start_fake(|hit| match hit {
        1 | 2 => Reply::new(StatusCode::SERVICE_UNAVAILABLE, r#"{"error": {"type": "server_error"}}"#),
        _ => Reply::completion(GOOD_CONTENT),
    })
    .await;
    let score = scorer(&base_url, 3, Duration::from_secs(5)).score(&offer(), CV).await.unwrap();
    assert_eq!(score.rating, 81);
    assert_eq!(fake.hits(), 3);
}

#[tokio::test]
async fn a_rate_limit_is_retried_after_the_servers_retry_after() {
    let (base_url, fake) = start_fake(|hit| match hit {
        1 => Reply { retry_after: Some("1"), ..Reply::new(StatusCode::TOO_MANY_REQUESTS, "{}") },
        _ => Reply::completion(GOOD_CONTENT),
    })
    .await;
    let started = Instant::now();
    let score = scorer(&base_url, 2, Duration::from_secs(5)).score(&offer(), CV).await.unwrap();
    assert_eq!(score.rating, 81);
    assert_eq!(fake.hits(), 2);
    // The backoff is 10 ms: only the header can explain a wait of a second.
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_slow_answer_times_out_and_the_retry_succeeds() {
    let (base_url, fake) = start_fake(|hit| match hit {
        1 => Reply { delay: Duration::from_secs(5), ..Reply::completion(GOOD_CONTENT) },
        _ => Reply::completion(GOOD_CONTENT),
    })
    .await;
    let score = scorer(&base_url, 2, Duration::from_millis(300)).score(&offer(), CV).await.unwrap();
    assert_eq!(score.rating, 81);
    assert_eq!(fake.hits(), 2);
}

#[tokio::test]
async fn a_permanent_outage_fails_after_max_attempts_without_hanging() {
    let (base_url, fake) = start_fake(|_| Reply::new(StatusCode::INTERNAL_SERVER_ERROR, "oops")).await;
    let started = Instant::now();
    let result = scorer(&base_url, 4, Duration::from_secs(5)).score(&offer(), CV).await;
    assert!(matches!(result, Err(ScoringError::HttpStatus { status: 500, attempts: 4, .. })), "{result:?}");
    assert_eq!(fake.hits(), 4);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_closed_port_fails_after_max_attempts_without_hanging() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let started = Instant::now();
    let result = scorer(&format!("http://{address}/v1"), 3, Duration::from_secs(5)).score(&offer(), CV).await;
    let error = result.unwrap_err();
    assert!(matches!(error, ScoringError::Unreachable { attempts: 3, .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_rejected_key_fails_at_once_and_the_error_text_holds_no_secret() {
    let (base_url, fake) = start_fake(|_| {
        let body = json!({"error": {
            "message": format!("Incorrect API key provided: {API_KEY}."),
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }});
        Reply::new(StatusCode::UNAUTHORIZED, body.to_string())
    })
    .await;
    let error = scorer(&base_url, 5, Duration::from_secs(5)).score(&offer(), CV).await.unwrap_err();
    assert!(matches!(error, ScoringError::HttpStatus { status: 401, attempts: 1, .. }), "{error:?}");
    assert_eq!(fake.hits(), 1);
    let shown = format!("AI scoring failed: {error}");
    assert_eq!(shown, "AI scoring failed: the AI service answered HTTP 401 (invalid_api_key) after 1 attempt(s)");
    assert!(!format!("{error:?}").contains(API_KEY));
}

#[tokio::test]
async fn empty_cv_text_is_refused_without_a_request() {
    let (base_url, fake) = start_fake(|_| Reply::completion(GOOD_CONTENT)).await;
    let result = scorer(&base_url, 3, Duration::from_secs(5)).score(&offer(), " \n ").await;
    assert!(matches!(result, Err(ScoringError::EmptyCv)), "{result:?}");
    assert_eq!(fake.hits(), 0);
}

#[test]
fn unusable_settings_are_refused() {
    let valid = || OpenAiSettings {
        base_url: "https://api.openai.com/v1".into(),
        api_key: API_KEY.into(),
        model: MODEL.into(),
        timeout: Duration::from_secs(30),
        max_attempts: 3,
        initial_backoff: Duration::from_millis(500),
    };
    assert!(OpenAiScorer::new(valid()).is_ok());
    let broken = [
        OpenAiSettings { base_url: "api.openai.com/v1".into(), ..valid() },
        OpenAiSettings { model: " ".into(), ..valid() },
        OpenAiSettings { max_attempts: 0, ..valid() },
        OpenAiSettings { timeout: Duration::ZERO, ..valid() },
    ];
    for settings in broken {
        let error = OpenAiScorer::new(settings).unwrap_err();
        assert!(matches!(error, ScoringError::InvalidSettings(_)), "{error:?}");
        assert!(!error.to_string().contains(API_KEY));
    }
}
