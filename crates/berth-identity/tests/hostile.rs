//! Hostile input: every case answers its documented 4xx (or, where Keystone
//! documents acceptance, success) in Keystone's error body, never a 5xx,
//! every answer carries `x-openstack-request-id`, and no answer carries
//! database error text. Runs on SQLite and
//! PostgreSQL; on PostgreSQL a NUL in text would reach the database and
//! fail there if identity let it through.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use berth_testkit::{both_engines, TestDb};
use common::{assert_keystone_error, request_id, Env, ADMIN_PW, HOST};

#[derive(Clone, Copy)]
enum Caller {
    Anonymous,
    Admin,
}

struct Case {
    name: &'static str,
    method: Method,
    /// `{user}` is replaced by an existing user's id.
    path: &'static str,
    caller: Caller,
    /// `None`: `application/json` when there is a body.
    content_type: Option<&'static str>,
    body: Vec<u8>,
    expect: StatusCode,
}

fn case(name: &'static str, method: Method, path: &'static str, caller: Caller, body: &str, expect: u16) -> Case {
    Case {
        name,
        method,
        path,
        caller,
        content_type: None,
        body: body.as_bytes().to_vec(),
        expect: StatusCode::from_u16(expect).unwrap(),
    }
}

fn auth_body(user: Value, password: &str) -> String {
    json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "password": password, "domain": {"name": "Default"}, "name": user}}}}})
    .to_string()
}

fn cases() -> Vec<Case> {
    use Caller::{Admin, Anonymous};
    let get = Method::GET;
    let post = Method::POST;
    let patch = Method::PATCH;
    let ten_mb = "x".repeat(10 * 1024 * 1024);
    let deep_arrays = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let mut v = vec![
        // NUL and invalid UTF-8 in paths.
        case("user id %00", get.clone(), "/identity/v3/users/%00", Admin, "", 404),
        case("user id a%00b", get.clone(), "/identity/v3/users/a%00b", Admin, "", 404),
        case("project id %00", get.clone(), "/identity/v3/projects/%00", Admin, "", 404),
        case("domain id %00", get.clone(), "/identity/v3/domains/%00", Admin, "", 404),
        case("role id %00", get.clone(), "/identity/v3/roles/%00", Admin, "", 404),
        case("delete user %00", Method::DELETE, "/identity/v3/users/%00", Admin, "", 404),
        case("delete project %00", Method::DELETE, "/identity/v3/projects/%00", Admin, "", 404),
        case("delete role %00", Method::DELETE, "/identity/v3/roles/%00", Admin, "", 404),
        case("user projects %00", get.clone(), "/identity/v3/users/%00/projects", Admin, "", 404),
        case("grant on project %00", Method::PUT, "/identity/v3/projects/%00/users/{user}/roles/%00", Admin, "", 404),
        case("system grant role %00", Method::PUT, "/identity/v3/system/users/{user}/roles/%00", Admin, "", 404),
        case("implied role %00", Method::PUT, "/identity/v3/roles/%00/implies/%00", Admin, "", 404),
        case("delete implied %00", Method::DELETE, "/identity/v3/roles/%00/implies/%00", Admin, "", 404),
        case("region %00", get.clone(), "/identity/v3/regions/%00", Admin, "", 404),
        // A path that is not UTF-8 once decoded names nothing: the edge's 404.
        case("user id %FF", get.clone(), "/identity/v3/users/%FF", Admin, "", 404),
        case("project id %FF", get.clone(), "/identity/v3/projects/%C3%28", Admin, "", 404),
        // NUL and invalid UTF-8 in queries.
        case("users name=%00", get.clone(), "/identity/v3/users?name=a%00b", Admin, "", 400),
        case("projects domain_id=%00", get.clone(), "/identity/v3/projects?domain_id=%00", Admin, "", 400),
        case("assignments user.id=%00", get.clone(), "/identity/v3/role_assignments?user.id=%00", Admin, "", 400),
        case("roles name=%00", get.clone(), "/identity/v3/roles?name=%00", Admin, "", 400),
        case("NUL in a query key", get.clone(), "/identity/v3/users?na%00me=x", Admin, "", 400),
        case("domains name=%FF", get.clone(), "/identity/v3/domains?name=%FF", Admin, "", 400),
        case("users name=%C3%28", get.clone(), "/identity/v3/users?name=a%C3%28", Admin, "", 400),
        case("projects name ends in %C3", get.clone(), "/identity/v3/projects?name=%C3", Admin, "", 400),
        case("users name non-ASCII", get.clone(), "/identity/v3/users?name=%C3%A9t%C3%A9", Admin, "", 200),
        case("users name with a lone %", get.clone(), "/identity/v3/users?name=100%", Admin, "", 200),
        // Dates and times in filters.
        case("expiry non-ASCII", get.clone(), "/identity/v3/users?password_expires_at=lt:2016-12-08T22:02:00%C3%A9", Admin, "", 400),
        case("expiry inside a character", get.clone(), "/identity/v3/users?password_expires_at=2023-11-14T22:13:20.%C3%A9%C3%A9", Admin, "", 400),
        case("expiry malformed", get.clone(), "/identity/v3/users?password_expires_at=gt:2016-13-45T99:99:99Z", Admin, "", 400),
        case("expiry unknown operator", get.clone(), "/identity/v3/users?password_expires_at=lol:2016-12-08T22:02:00Z", Admin, "", 400),
        case("expiry empty", get.clone(), "/identity/v3/users?password_expires_at=", Admin, "", 400),
        case("expiry huge year", get.clone(), "/identity/v3/users?password_expires_at=lt:99999999-01-01", Admin, "", 400),
        case("expiry valid", get.clone(), "/identity/v3/users?password_expires_at=lt:2016-12-08T22:02:00Z", Admin, "", 200),
        // NUL inside JSON strings.
        case("user name NUL", post.clone(), "/identity/v3/users", Admin, r#"{"user": {"name": "a\u0000b"}}"#, 400),
        case("user password NUL", post.clone(), "/identity/v3/users", Admin, r#"{"user": {"name": "nulpw", "password": "a\u0000b", "description": "d"}}"#, 201),
        case("user description NUL", post.clone(), "/identity/v3/users", Admin, r#"{"user": {"name": "nuld", "description": "a\u0000b"}}"#, 400),
        case("user email NUL", post.clone(), "/identity/v3/users", Admin, r#"{"user": {"name": "nule", "email": "a\u0000b"}}"#, 400),
        case("user domain_id NUL", post.clone(), "/identity/v3/users", Admin, r#"{"user": {"name": "nuldom", "domain_id": "a\u0000b"}}"#, 404),
        case("user default_project_id NUL", post.clone(), "/identity/v3/users", Admin, r#"{"user": {"name": "nulp", "default_project_id": "\u0000"}}"#, 404),
        case("user rename NUL", patch.clone(), "/identity/v3/users/{user}", Admin, r#"{"user": {"name": "\u0000"}}"#, 400),
        case("project name NUL", post.clone(), "/identity/v3/projects", Admin, r#"{"project": {"name": "a\u0000b"}}"#, 400),
        case("project tag NUL", post.clone(), "/identity/v3/projects", Admin, r#"{"project": {"name": "tagged", "tags": ["a\u0000b"]}}"#, 400),
        case("project parent NUL", post.clone(), "/identity/v3/projects", Admin, r#"{"project": {"name": "orphan", "parent_id": "\u0000"}}"#, 404),
        case("domain name NUL", post.clone(), "/identity/v3/domains", Admin, r#"{"domain": {"name": "a\u0000b"}}"#, 400),
        case("role name NUL", post.clone(), "/identity/v3/roles", Admin, r#"{"role": {"name": "a\u0000b"}}"#, 400),
        case("auth user name NUL", post.clone(), "/identity/v3/auth/tokens", Anonymous, &auth_body(json!("a\u{0}b"), "pw"), 401),
        case("auth admin name NUL", post.clone(), "/identity/v3/auth/tokens", Anonymous, &auth_body(json!("admin\u{0}"), ADMIN_PW), 401),
        case("auth password NUL", post.clone(), "/identity/v3/auth/tokens", Anonymous, &auth_body(json!("admin"), "a\u{0}b"), 401),
        case(
            "auth user id NUL",
            post.clone(),
            "/identity/v3/auth/tokens",
            Anonymous,
            &json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "\u{0}", "password": "x"}}}}}).to_string(),
            401,
        ),
        case(
            "auth domain name NUL",
            post.clone(),
            "/identity/v3/auth/tokens",
            Anonymous,
            &json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"name": "De\u{0}fault"}, "password": ADMIN_PW}}}}}).to_string(),
            401,
        ),
        case(
            "auth project scope NUL",
            post.clone(),
            "/identity/v3/auth/tokens",
            Anonymous,
            &json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": ADMIN_PW}}},
                "scope": {"project": {"id": "p\u{0}"}}}}).to_string(),
            401,
        ),
        case(
            "auth token id NUL",
            post.clone(),
            "/identity/v3/auth/tokens",
            Anonymous,
            &json!({"auth": {"identity": {"methods": ["token"], "token": {"id": "a\u{0}b"}}}}).to_string(),
            401,
        ),
        case(
            "change password NUL user",
            post.clone(),
            "/identity/v3/users/%00/password",
            Anonymous,
            r#"{"user": {"original_password": "a", "password": "b"}}"#,
            // A NUL in the path names no user: the edge's 404.
            404,
        ),
        // Integers of 2^63 and more where strings or booleans belong.
        case("name 2^63", post.clone(), "/identity/v3/users", Admin, r#"{"user": {"name": 9223372036854775808}}"#, 400),
        case("enabled 2^64", post.clone(), "/identity/v3/projects", Admin, r#"{"project": {"name": "big", "enabled": 18446744073709551616}}"#, 400),
        case("huge exponent", post.clone(), "/identity/v3/roles", Admin, r#"{"role": {"name": 1e999999}}"#, 400),
        case("methods 2^63", post.clone(), "/identity/v3/auth/tokens", Anonymous, r#"{"auth": {"identity": {"methods": [9223372036854775808]}}}"#, 400),
        // Deep nesting.
        case("10,000 nested arrays", post.clone(), "/identity/v3/users", Admin, &deep_arrays, 400),
        case("10,000 nested objects", post.clone(), "/identity/v3/auth/tokens", Anonymous, &deep_objects, 400),
        // Lone surrogates and invalid UTF-8 in bodies.
        case("lone surrogate name", post.clone(), "/identity/v3/users", Admin, r#"{"user": {"name": "\ud800"}}"#, 400),
        case("lone low surrogate", post.clone(), "/identity/v3/auth/tokens", Anonymous, r#"{"auth": {"identity": {"methods": ["\udc00"]}}}"#, 400),
        // Sizes.
        case("10 MB user name", post.clone(), "/identity/v3/users", Admin, &format!(r#"{{"user": {{"name": "{ten_mb}"}}}}"#), 413),
        case("256-character user name", post.clone(), "/identity/v3/users", Admin, &format!(r#"{{"user": {{"name": "{}"}}}}"#, "n".repeat(256)), 400),
        case("empty body", post.clone(), "/identity/v3/users", Admin, "", 400),
        case("body is not an object", post.clone(), "/identity/v3/users", Admin, "[]", 400),
        // Groups, membership and group or inherited grants.
        case("group id %00", get.clone(), "/identity/v3/groups/%00", Admin, "", 404),
        case("group name NUL", post.clone(), "/identity/v3/groups", Admin, r#"{"group": {"name": "a\u0000b"}}"#, 400),
        case("group description NUL", post.clone(), "/identity/v3/groups", Admin, r#"{"group": {"name": "g1", "description": "\u0000"}}"#, 400),
        case("group name 2^63", post.clone(), "/identity/v3/groups", Admin, r#"{"group": {"name": 9223372036854775808}}"#, 400),
        case("group domain NUL", post.clone(), "/identity/v3/groups", Admin, r#"{"group": {"name": "g2", "domain_id": "\u0000"}}"#, 404),
        case("groups name=%00", get.clone(), "/identity/v3/groups?name=%00", Admin, "", 400),
        case("add to unknown group", Method::PUT, "/identity/v3/groups/nope/users/{user}", Admin, "", 404),
        case("group grant unknown group", Method::PUT, "/identity/v3/projects/nope/groups/nope/roles/nope", Admin, "", 404),
        case("inherited grant %00", Method::PUT, "/identity/v3/OS-INHERIT/domains/default/users/{user}/roles/%00/inherited_to_projects", Admin, "", 404),
        case("assignments inherited_to=bogus", get.clone(), "/identity/v3/role_assignments?scope.OS-INHERIT:inherited_to=domains", Admin, "", 400),
        case("assignments group.id=%00", get.clone(), "/identity/v3/role_assignments?group.id=%00", Admin, "", 400),
        case("assignments user and group", get.clone(), "/identity/v3/role_assignments?user.id=a&group.id=b", Admin, "", 400),
        // The catalog.
        case("region id NUL", post.clone(), "/identity/v3/regions", Admin, r#"{"region": {"id": "r\u0000"}}"#, 400),
        case("region id 2^64", post.clone(), "/identity/v3/regions", Admin, r#"{"region": {"id": 18446744073709551616}}"#, 400),
        case("region parent NUL", post.clone(), "/identity/v3/regions", Admin, r#"{"region": {"id": "r1", "parent_region_id": "\u0000"}}"#, 404),
        case("service type NUL", post.clone(), "/identity/v3/services", Admin, r#"{"service": {"type": "t\u0000"}}"#, 400),
        case("service type empty", post.clone(), "/identity/v3/services", Admin, r#"{"service": {"type": ""}}"#, 400),
        case("service enabled string", post.clone(), "/identity/v3/services", Admin, r#"{"service": {"type": "t", "enabled": "yes"}}"#, 400),
        case("service %00", Method::DELETE, "/identity/v3/services/%00", Admin, "", 404),
        case("endpoint url NUL", post.clone(), "/identity/v3/endpoints", Admin, r#"{"endpoint": {"service_id": "s", "interface": "public", "url": "http://a\u0000b"}}"#, 400),
        case("endpoint interface number", post.clone(), "/identity/v3/endpoints", Admin, r#"{"endpoint": {"service_id": "s", "interface": 1e999, "url": "http://a"}}"#, 400),
        case("endpoint service NUL", post.clone(), "/identity/v3/endpoints", Admin, r#"{"endpoint": {"service_id": "\u0000", "interface": "public", "url": "http://a"}}"#, 400),
        case("endpoint %00", get.clone(), "/identity/v3/endpoints/%00", Admin, "", 404),
        // Credentials.
        case("credential blob NUL", post.clone(), "/identity/v3/credentials", Admin, r#"{"credential": {"user_id": "{user}", "type": "totp", "blob": "a\u0000b"}}"#, 400),
        case("credential type array", post.clone(), "/identity/v3/credentials", Admin, r#"{"credential": {"user_id": "{user}", "type": [], "blob": "x"}}"#, 400),
        case("credential unknown user", post.clone(), "/identity/v3/credentials", Admin, r#"{"credential": {"user_id": "nope", "type": "totp", "blob": "x"}}"#, 404),
        case("credential ec2 blob not JSON", post.clone(), "/identity/v3/credentials", Admin, r#"{"credential": {"user_id": "{user}", "project_id": "p", "type": "ec2", "blob": "{"}}"#, 400),
        case("credential %00", get.clone(), "/identity/v3/credentials/%00", Admin, "", 404),
        // Application credentials and authenticating with them.
        case("app cred name NUL", post.clone(), "/identity/v3/users/{admin}/application_credentials", Admin, r#"{"application_credential": {"name": "a\u0000b"}}"#, 400),
        case("app cred secret NUL", post.clone(), "/identity/v3/users/{admin}/application_credentials", Admin, r#"{"application_credential": {"name": "nulsecret", "secret": "a\u0000b"}}"#, 201),
        case("app cred expiry 2^63", post.clone(), "/identity/v3/users/{admin}/application_credentials", Admin, r#"{"application_credential": {"name": "e1", "expires_at": 9223372036854775808}}"#, 400),
        case("app cred expiry year 99999", post.clone(), "/identity/v3/users/{admin}/application_credentials", Admin, r#"{"application_credential": {"name": "e2", "expires_at": "99999-01-01T00:00:00Z"}}"#, 400),
        case("app cred roles object", post.clone(), "/identity/v3/users/{admin}/application_credentials", Admin, r#"{"application_credential": {"name": "e3", "roles": {"id": "x"}}}"#, 400),
        case("app cred role NUL", post.clone(), "/identity/v3/users/{admin}/application_credentials", Admin, r#"{"application_credential": {"name": "e4", "roles": [{"id": "\u0000"}]}}"#, 404),
        case("app cred rule path NUL", post.clone(), "/identity/v3/users/{admin}/application_credentials", Admin, r#"{"application_credential": {"name": "e5", "access_rules": [{"service": "compute", "path": "/a\u0000", "method": "GET"}]}}"#, 400),
        case("app cred %00", get.clone(), "/identity/v3/users/{admin}/application_credentials/%00", Admin, "", 404),
        case(
            "auth app cred id NUL",
            post.clone(),
            "/identity/v3/auth/tokens",
            Anonymous,
            r#"{"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": "\u0000", "secret": "x"}}}}"#,
            401,
        ),
        case(
            "auth app cred secret 2^63",
            post.clone(),
            "/identity/v3/auth/tokens",
            Anonymous,
            r#"{"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": "x", "secret": 9223372036854775808}}}}"#,
            400,
        ),
        // Project tags.
        case("tags of %00", get.clone(), "/identity/v3/projects/%00/tags", Admin, "", 404),
        case("tags body not a list", Method::PUT, "/identity/v3/projects/nope/tags", Admin, r#"{"tags": "a"}"#, 400),
        case("project list tags=%00", get.clone(), "/identity/v3/projects?tags=%00", Admin, "", 400),
        // Unknown fields: Keystone's schemas accept extra attributes.
        case("extra attribute with NUL", post.clone(), "/identity/v3/users", Admin, r#"{"user": {"name": "extranul", "note": "a\u0000b"}}"#, 201),
        case("unknown user field", post.clone(), "/identity/v3/users", Admin, r#"{"user": {"name": "extra", "bogus": {"x": 1}}}"#, 201),
        case("unknown top-level field", post.clone(), "/identity/v3/roles", Admin, r#"{"role": {"name": "extra"}, "bogus": 1}"#, 201),
    ];
    for (name, ct, expect) in [
        ("text/plain body", "text/plain", 400),
        ("form body", "application/x-www-form-urlencoded", 400),
        ("non-ASCII content type", "application/\u{e9}json", 400),
        ("JSON with charset", "application/json; charset=utf-8", 201),
    ] {
        let mut c = case(name, post.clone(), "/identity/v3/roles", Admin, "", expect);
        c.body = json!({"role": {"name": format!("ct-{}", name.len())}}).to_string().into_bytes();
        c.content_type = Some(ct);
        v.push(c);
    }
    let mut c = case("auth as text/plain", post, "/identity/v3/auth/tokens", Anonymous, "", 400);
    c.body = auth_body(json!("admin"), ADMIN_PW).into_bytes();
    c.content_type = Some("text/plain");
    v.push(c);
    v
}

async fn hostile_inputs(b: TestDb) {
    let backend = b.backend;
    let env = Env::new(b).await;
    let admin = env.admin_token().await;
    let (s, u) = env.post("/identity/v3/users", &admin, json!({"user": {"name": "target-user"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{u}");
    let user = u["user"]["id"].as_str().unwrap().to_string();
    let mut failures = Vec::new();
    for c in cases() {
        let path = c.path.replace("{user}", &user).replace("{admin}", &env.boot.admin_user_id);
        let body: Vec<u8> = String::from_utf8(c.body.clone())
            .map(|b| b.replace("{user}", &user).into_bytes())
            .unwrap_or_else(|_| c.body.clone());
        let mut req = Request::builder().method(c.method.clone()).uri(&path).header("host", HOST);
        if let Caller::Admin = c.caller {
            req = req.header("x-auth-token", &admin);
        }
        if !c.body.is_empty() {
            let ct = c.content_type.unwrap_or("application/json");
            req = req.header("content-type", axum::http::HeaderValue::from_bytes(ct.as_bytes()).unwrap());
        }
        let resp = env.app.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        request_id(&headers);
        for leak in ["database", "sqlx", "sqlstate", "postgres", "sqlite", "syntax error", "constraint"] {
            assert!(!text.contains(leak), "{}: answer mentions {leak:?}: {text}", c.name);
        }
        if status != c.expect {
            failures
                .push(format!("{} ({} {path:.80}): {status}, expected {}: {text:.300}", c.name, c.method, c.expect));
            continue;
        }
        if status.is_client_error() {
            let v: Value =
                serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("{}: not JSON: {text:.300}", c.name));
            assert_keystone_error(&v, status);
        }
    }
    assert!(failures.is_empty(), "{} case(s) failed on {backend:?}:\n{}", failures.len(), failures.join("\n"));
    // The NUL cases created nothing, except the extra attribute: a JSON
    // value, kept as given on both engines.
    let (_, users) = env.get("/identity/v3/users", &admin).await;
    for u in users["users"].as_array().unwrap() {
        if u["name"] == "extranul" {
            assert_eq!(u["note"], "a\u{0}b", "{u}");
        } else {
            assert!(!u.to_string().contains("\\u0000"), "{u}");
        }
    }
}

both_engines!(hostile_inputs);
