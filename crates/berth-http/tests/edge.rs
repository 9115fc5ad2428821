//! The edge holds every API to the same standard: these tests drive a small
//! API behind it.

use axum::body::{Body, Bytes};
use axum::response::Response;
use axum::Router;
use berth_http::{
    json_error, Access, AuthStrategy, Edge, ErrorFormat, Fault, FaultContext, Microversions, RouteCheck, RouteTable,
    Version,
};
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

struct TestFormat;

impl ErrorFormat for TestFormat {
    fn render(&self, f: &Fault, cx: &FaultContext) -> Response {
        json_error(
            f.status,
            &json!({"fault": {"code": f.status.as_u16(), "message": f.message, "request_id": cx.request_id,
                    "version": cx.version.map(|v| v.to_string())}}),
        )
    }
}

async fn checked(check: RouteCheck) -> String {
    check.mark_checked();
    check.rule().unwrap_or("-").to_string()
}

async fn forgets(_: RouteCheck) -> &'static str {
    "answered without a policy check"
}

async fn boom() -> &'static str {
    panic!("kaboom in a handler")
}

async fn echo(check: RouteCheck, body: Bytes) -> String {
    check.mark_checked();
    body.len().to_string()
}

async fn fails() -> Fault {
    Fault::new(StatusCode::CONFLICT, "already there")
}

fn app() -> Router {
    let table = RouteTable::new()
        .route("/", Method::GET, Access::Public, || async { "versions" })
        .route("/things", Method::GET, Access::Rule("things:list"), checked)
        .route("/things", Method::POST, Access::Rule("things:create"), echo)
        .route("/things/{id}", Method::GET, Access::Rule("things:show"), checked)
        .route("/things/{id}", Method::PUT, Access::Authenticated, fails)
        .route("/forgets", Method::GET, Access::Rule("things:forgotten"), forgets)
        .route("/boom", Method::GET, Access::Authenticated, boom)
        .route("/upload/{id}", Method::PUT, Access::Rule("things:upload"), echo);
    Edge::new("test", TestFormat)
        .auth(AuthStrategy::NoAuth2)
        .request_id_header("x-test-request-id")
        .body_limit(1024, |_, p| p.starts_with("/upload"))
        .microversions(Microversions {
            service: "test",
            min: Version::new(1, 0),
            max: Version::new(1, 5),
            legacy_header: Some("x-openstack-test-api-version"),
            vary: "OpenStack-API-Version, X-OpenStack-Test-API-Version",
            exempt: |p| p == "/",
            invalid_message: |s| format!("bad version {s}"),
            unacceptable_message: |s, min, max| format!("{s} not in {min}..{max}"),
        })
        .wrap(table)
}

async fn call(method: &str, uri: &str, headers: &[(&str, &str)], body: Body) -> (StatusCode, http::HeaderMap, Value) {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = app().oneshot(b.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    let v = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, headers, v)
}

const TOKEN: (&str, &str) = ("x-auth-token", "user:project");

fn rid(h: &http::HeaderMap) -> String {
    let id = h.get("x-openstack-request-id").expect("request id header").to_str().unwrap().to_string();
    assert!(id.starts_with("req-"), "{id}");
    assert_eq!(h.get("x-test-request-id").unwrap().to_str().unwrap(), id);
    id
}

#[tokio::test]
async fn every_answer_carries_the_request_id_and_errors_the_api_body() {
    let (s, h, v) = call("GET", "/", &[], Body::empty()).await;
    assert_eq!((s, v), (StatusCode::OK, json!("versions")));
    rid(&h);

    let (s, h, v) = call("GET", "/things", &[], Body::empty()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["fault"]["code"], 401);
    assert_eq!(v["fault"]["request_id"], rid(&h));

    let (s, h, v) = call("GET", "/nothing/here", &[TOKEN], Body::empty()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["fault"]["message"], "The resource could not be found.");
    assert_eq!(v["fault"]["request_id"], rid(&h));

    let (s, h, v) = call("DELETE", "/things", &[TOKEN], Body::empty()).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    let allow = h.get("allow").unwrap().to_str().unwrap().to_string();
    assert!(allow.contains("GET") && allow.contains("POST") && !allow.contains("DELETE"), "{allow}");
    assert_eq!(v["fault"]["code"], 405);

    let (s, h, v) = call("PUT", "/things/1", &[TOKEN], Body::empty()).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["fault"]["message"], "already there");
    assert_eq!(v["fault"]["version"], "1.0");
    rid(&h);
}

#[tokio::test]
async fn a_panic_is_a_500_in_the_api_format_not_a_dropped_connection() {
    let (s, h, v) = call("GET", "/boom", &[TOKEN], Body::empty()).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(v["fault"]["request_id"], rid(&h));
    let msg = v["fault"]["message"].as_str().unwrap();
    assert!(!msg.contains("kaboom"), "panic text must not reach the client: {msg}");
}

#[tokio::test]
async fn a_route_that_never_checks_its_rule_fails_in_debug_builds() {
    let (s, _, _) = call("GET", "/forgets", &[TOKEN], Body::empty()).await;
    assert_eq!(s, if cfg!(debug_assertions) { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK });
    let (s, _, v) = call("GET", "/things/7", &[TOKEN], Body::empty()).await;
    assert_eq!((s, v), (StatusCode::OK, json!("things:show")));
}

#[tokio::test]
async fn nul_and_non_utf8_paths_name_nothing_and_queries_are_refused() {
    for p in ["/things/%00", "/things/a%00b", "/things/%FF", "/things/%C3"] {
        let (s, _, v) = call("GET", p, &[TOKEN], Body::empty()).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{p}");
        assert_eq!(v["fault"]["code"], 404);
        // Authentication comes first.
        let (s, _, _) = call("GET", p, &[], Body::empty()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{p}");
    }
    for q in ["/things?name=%00", "/things?name=a%FFb", "/things?%00=1"] {
        let (s, _, v) = call("GET", q, &[TOKEN], Body::empty()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(v["fault"]["code"], 400);
    }
    let (s, _, _) = call("GET", "/things?name=caf%C3%A9", &[TOKEN], Body::empty()).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn bodies_are_limited() {
    let (s, _, v) =
        call("POST", "/things", &[TOKEN, ("content-type", "text/plain")], Body::from(vec![b'x'; 1024])).await;
    assert_eq!((s, v), (StatusCode::OK, json!(1024)));
    let (s, _, v) = call("POST", "/things", &[TOKEN], Body::from(vec![b'x'; 1025])).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(v["fault"]["code"], 413);
    // No Content-Length: the limit applies while reading.
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..4).map(|_| Ok(Bytes::from(vec![b'y'; 512]))).collect();
    let (s, _, v) = call("POST", "/things", &[TOKEN], Body::from_stream(futures_util::stream::iter(chunks))).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    // Exempt routes take large bodies.
    let (s, _, v) = call("PUT", "/upload/1", &[TOKEN], Body::from(vec![b'z'; 100_000])).await;
    assert_eq!((s, v), (StatusCode::OK, json!(100_000)));
    let (s, _, _) = call("POST", "/things", &[TOKEN, ("content-length", "hi mom")], Body::empty()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn microversions_are_negotiated_and_stamped() {
    let (s, h, _) = call("GET", "/things", &[TOKEN, ("openstack-api-version", "test 1.3")], Body::empty()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h.get("openstack-api-version").unwrap(), "test 1.3");
    assert_eq!(h.get("x-openstack-test-api-version").unwrap(), "1.3");
    assert!(h.get("vary").unwrap().to_str().unwrap().contains("OpenStack-API-Version"));
    let (_, h, _) = call("GET", "/things", &[TOKEN, ("x-openstack-test-api-version", "1.2")], Body::empty()).await;
    assert_eq!(h.get("openstack-api-version").unwrap(), "test 1.2");
    let (_, h, _) = call("GET", "/things", &[TOKEN, ("openstack-api-version", "test latest")], Body::empty()).await;
    assert_eq!(h.get("openstack-api-version").unwrap(), "test 1.5");
    let (_, h, _) = call("GET", "/things", &[TOKEN, ("openstack-api-version", "other 9.9")], Body::empty()).await;
    assert_eq!(h.get("openstack-api-version").unwrap(), "test 1.0");
    let (s, h, v) = call("GET", "/things", &[TOKEN, ("openstack-api-version", "test 1.9")], Body::empty()).await;
    assert_eq!(s, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(v["fault"]["message"], "1.9 not in 1.0..1.5");
    rid(&h);
    for bad in ["test 1.x", "test 1.2.3", "test 99999999.1"] {
        let (s, _, v) = call("GET", "/things", &[TOKEN, ("openstack-api-version", bad)], Body::empty()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert!(v["fault"]["message"].as_str().unwrap().starts_with("bad version"));
    }
    // The version document is not negotiated.
    let (s, h, _) = call("GET", "/", &[("openstack-api-version", "test 9.9")], Body::empty()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h.get("openstack-api-version").is_none());
}

/// Send `head` and then `body_len` bytes over a real connection, then read
/// the answer: an edge that answered early without reading the body would
/// close the connection under the client (a reset, and no answer).
async fn early_answer_over_tcp(head: String, body_len: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app()).await });
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'q'; 64 * 1024];
    let mut sent = 0;
    while sent < body_len {
        let n = chunk.len().min(body_len - sent);
        stream.write_all(&chunk[..n]).await.expect("the server reset the connection while the body was sent");
        sent += n;
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                    break;
                }
            }
            Ok(Err(e)) => panic!("reading the answer failed: {e}"),
            Err(_) => break,
        }
    }
    server.abort();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn early_answers_reach_a_client_sending_a_large_body() {
    let len = 8 * 1024 * 1024;
    let head =
        format!("PUT /upload-nowhere/1 HTTP/1.1\r\nhost: t\r\nx-auth-token: u:p\r\ncontent-length: {len}\r\n\r\n");
    let answer = early_answer_over_tcp(head, len).await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    let head = format!("POST /things HTTP/1.1\r\nhost: t\r\nx-auth-token: u:p\r\ncontent-length: {len}\r\n\r\n");
    let answer = early_answer_over_tcp(head, len).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let head = format!("PUT /upload/1 HTTP/1.1\r\nhost: t\r\ncontent-length: {len}\r\n\r\n");
    let answer = early_answer_over_tcp(head, len).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}
