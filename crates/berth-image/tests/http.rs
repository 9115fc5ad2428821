//! End-to-end tests of the image API over the router, on SQLite and
//! PostgreSQL.

mod common;

use axum::http::{Method, StatusCode};
use common::{Auth, Backend, Env};
use serde_json::json;

fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn sha512_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha512};
    Sha512::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

async fn versions(backend: Backend) {
    let env = Env::new(backend).await;
    let r = env.raw(Method::GET, "/image", None, &[], vec![]).await;
    assert_eq!(r.status, StatusCode::MULTIPLE_CHOICES);
    let v = r.json();
    let values = v["versions"].as_array().unwrap();
    let current: Vec<_> = values.iter().filter(|x| x["status"] == "CURRENT").collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], "v2.17");
    assert_eq!(current[0]["links"][0]["href"], "http://berth.test:8778/image/v2/");
    assert!(values.iter().any(|x| x["id"] == "v2.0"));
    let r = env.raw(Method::GET, "/image/v2", None, &[], vec![]).await;
    assert_eq!(r.status, StatusCode::MULTIPLE_CHOICES);
    assert_eq!(r.json()["versions"][0]["links"][0]["href"], "http://berth.test:8778/image/v2/");
    let r = env.raw(Method::GET, "/image/versions", None, &[("x-forwarded-proto", "https")], vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["versions"][0]["links"][0]["href"], "https://berth.test:8778/image/v2/");

    // A configured public URL wins over the Host header.
    let env = Env::build(backend, Auth::NoAuth2, |c| c.public_url = Some("https://cloud.example/image/".into())).await;
    let r = env.raw(Method::GET, "/image/versions", None, &[], vec![]).await;
    assert_eq!(r.json()["versions"][0]["links"][0]["href"], "https://cloud.example/image/v2/");
}
both_engines!(versions);

async fn authentication(backend: Backend) {
    for auth in [Auth::NoAuth2, Auth::Keystone] {
        let env = Env::build(backend, auth, |_| {}).await;
        let r = env.raw(Method::GET, "/image/v2/images", None, &[], vec![]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.header("www-authenticate").is_some());
        let (s, v) = env.get("/image/v2/images", &env.alice).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["images"], json!([]));
        assert_eq!(v["first"], "/v2/images");
        assert_eq!(v["schema"], "/v2/schemas/images");
        let (s, _) = env.get("/image/v2/schemas/image", &env.alice).await;
        assert_eq!(s, StatusCode::OK);
    }
    let env = Env::build(backend, Auth::Keystone, |_| {}).await;
    let bogus = common::Who { token: "nope".into(), roles: None };
    let (s, _) = env.get("/image/v2/images", &bogus).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let r = env.raw(Method::GET, "/image/v2/schemas/images", None, &[], vec![]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The Keystone validator's roles are what policy sees: a reader can list
    // but not create.
    let (s, _) = env.get("/image/v2/images", &env.rita).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = env.post("/image/v2/images", &env.rita, json!({"name": "x"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
both_engines!(authentication);

async fn upload_download_round_trip(backend: Backend) {
    let env = Env::build(backend, Auth::Keystone, |_| {}).await;
    let r = env
        .raw(
            Method::POST,
            "/image/v2/images",
            Some(&env.alice),
            &[("content-type", "application/json")],
            json!({"name": "cirros", "disk_format": "qcow2", "container_format": "bare", "min_ram": 64,
                   "tags": ["t1"], "hw_disk_bus": "virtio"})
            .to_string()
            .into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let img = r.json();
    let id = img["id"].as_str().unwrap().to_string();
    assert_eq!(r.header("location").unwrap(), format!("http://berth.test:8778/image/v2/images/{id}"));
    assert_eq!(img["status"], "queued");
    assert_eq!(img["visibility"], "shared");
    assert_eq!(img["owner"], "pa");
    assert_eq!(img["protected"], false);
    assert_eq!(img["os_hidden"], false);
    assert_eq!(img["size"], json!(null));
    assert_eq!(img["checksum"], json!(null));
    assert_eq!(img["min_ram"], 64);
    assert_eq!(img["min_disk"], 0);
    assert_eq!(img["tags"], json!(["t1"]));
    assert_eq!(img["hw_disk_bus"], "virtio");
    assert_eq!(img["self"], format!("/v2/images/{id}"));
    assert_eq!(img["file"], format!("/v2/images/{id}/file"));
    assert_eq!(img["schema"], "/v2/schemas/image");
    assert!(img["created_at"].as_str().unwrap().ends_with('Z'));

    // No data yet: 204.
    let r = env.raw(Method::GET, &format!("/image/v2/images/{id}/file"), Some(&env.alice), &[], vec![]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // Wrong media type, then a size mismatch: both refused, image still queued.
    let r = env
        .raw(
            Method::PUT,
            &format!("/image/v2/images/{id}/file"),
            Some(&env.alice),
            &[("content-type", "text/plain")],
            b"x".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = env
        .raw(
            Method::PUT,
            &format!("/image/v2/images/{id}/file"),
            Some(&env.alice),
            &[("content-type", "application/octet-stream"), ("x-openstack-image-size", "99")],
            b"abc".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = env
        .raw(
            Method::PUT,
            &format!("/image/v2/images/{id}/file"),
            Some(&env.alice),
            &[("content-type", "application/octet-stream"), ("x-openstack-image-size", "lots")],
            b"abc".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(env.show(&id, &env.alice).await.1["status"], "queued");

    // A reader of the owning project may not upload.
    assert_eq!(env.upload(&id, &env.rita, b"nope").await.status, StatusCode::FORBIDDEN);

    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let r = env
        .raw(
            Method::PUT,
            &format!("/image/v2/images/{id}/file"),
            Some(&env.alice),
            &[("content-type", "application/octet-stream"), ("x-openstack-image-size", &data.len().to_string())],
            data.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let (s, img) = env.show(&id, &env.alice).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(img["status"], "active");
    assert_eq!(img["size"], data.len());
    assert_eq!(img["checksum"], md5_hex(&data));
    assert_eq!(img["os_hash_algo"], "sha512");
    assert_eq!(img["os_hash_value"], sha512_hex(&data));

    let r = env.raw(Method::GET, &format!("/image/v2/images/{id}/file"), Some(&env.alice), &[], vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type").unwrap(), "application/octet-stream");
    assert_eq!(r.header("content-md5").unwrap(), md5_hex(&data));
    assert_eq!(r.header("content-length").unwrap(), data.len().to_string());
    assert_eq!(r.bytes, data);

    // Data can only be uploaded once.
    assert_eq!(env.upload(&id, &env.alice, b"again").await.status, StatusCode::CONFLICT);
    // Formats cannot change on an active image.
    let (s, _) = env
        .patch(
            &format!("/image/v2/images/{id}"),
            &env.alice,
            json!([{"op": "replace", "path": "/disk_format", "value": "raw"}]),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Upload needs both formats.
    let bare = env.create(&env.alice, json!({"name": "noformat"})).await;
    let r = env.upload(bare["id"].as_str().unwrap(), &env.alice, b"x").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Deleting removes the data file.
    assert_eq!(env.delete(&format!("/image/v2/images/{id}"), &env.alice).await, StatusCode::NO_CONTENT);
    assert_eq!(env.show(&id, &env.alice).await.0, StatusCode::NOT_FOUND);
    let files: Vec<_> = std::fs::read_dir(&env.data_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(files.is_empty(), "{files:?}");
}
both_engines!(upload_download_round_trip);

async fn size_limit(backend: Backend) {
    let env = Env::build(backend, Auth::NoAuth2, |c| c.max_image_size = 1000).await;
    let img = env.create(&env.alice, json!({"name": "big", "disk_format": "raw", "container_format": "bare"})).await;
    let id = img["id"].as_str().unwrap();
    let r = env.upload(id, &env.alice, &vec![7u8; 1001]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let (_, v) = env.show(id, &env.alice).await;
    assert_eq!(v["status"], "queued");
    assert_eq!(v["size"], json!(null));
    // Declared too large: refused before reading.
    let r = env
        .raw(
            Method::PUT,
            &format!("/image/v2/images/{id}/file"),
            Some(&env.alice),
            &[("content-type", "application/octet-stream"), ("x-openstack-image-size", "5000")],
            vec![1u8; 10],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Exactly at the limit is fine.
    assert_eq!(env.upload(id, &env.alice, &vec![7u8; 1000]).await.status, StatusCode::NO_CONTENT);
    let files: Vec<_> = std::fs::read_dir(&env.data_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 1, "no temporary files remain: {files:?}");
}
both_engines!(size_limit);

/// What the shared edge adds: a request id on every answer, Glance's body
/// for the body limit's 413, and image data uploads exempt from that limit.
async fn edge_behaviour(backend: Backend) {
    let env = Env::new(backend).await;
    let r = env.raw(Method::GET, "/image/versions", None, &[], vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    let ok_id = r.header("x-openstack-request-id").expect("request id on a success");
    assert!(ok_id.starts_with("req-"), "{ok_id}");
    let r = env.raw(Method::GET, "/image/v2/images/nope", Some(&env.alice), &[], vec![]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let err_id = r.header("x-openstack-request-id").expect("request id on an error");
    assert!(err_id.starts_with("req-") && err_id != ok_id, "{err_id}");

    // A JSON body over the limit: 413 in Glance's body.
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(berth_image::MAX_BODY));
    let r = env
        .raw(Method::POST, "/image/v2/images", Some(&env.alice), &[("content-type", "application/json")], big.into())
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["title"], "Request Entity Too Large");
    // Without a declared length the limit holds while reading.
    let body = vec![b' '; berth_image::MAX_BODY + 1];
    let req = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/image/v2/images")
        .header("host", common::HOST)
        .header("x-auth-token", env.alice.token.as_str())
        .header("x-roles", env.alice.roles.as_deref().unwrap())
        .header("content-type", "application/json")
        .body(axum::body::Body::from_stream(futures_util::stream::iter([Ok::<_, std::io::Error>(
            axum::body::Bytes::from(body),
        )])))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(env.app.clone(), req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Image data is not bound by the body limit.
    let img = env.create(&env.alice, json!({"name": "large", "disk_format": "raw", "container_format": "bare"})).await;
    let id = img["id"].as_str().unwrap();
    let data = vec![5u8; berth_image::MAX_BODY * 2 + 17];
    assert_eq!(env.upload(id, &env.alice, &data).await.status, StatusCode::NO_CONTENT);
    let (_, v) = env.show(id, &env.alice).await;
    assert_eq!(v["size"], json!(data.len()));
}
both_engines!(edge_behaviour);

async fn list_filters_and_pagination(backend: Backend) {
    let env = Env::new(backend).await;
    let mut ids = Vec::new();
    for (i, name) in ["delta", "alpha", "echo", "charlie", "bravo"].iter().enumerate() {
        let mut body = json!({"name": name, "disk_format": "raw", "container_format": "bare", "visibility": "private"});
        if i % 2 == 0 {
            body["tags"] = json!(["even"]);
            body["os_distro"] = json!("cirros");
        }
        if *name == "echo" {
            body["os_hidden"] = json!(true);
        }
        ids.push(env.create(&env.alice, body).await["id"].as_str().unwrap().to_string());
    }
    assert_eq!(env.upload(&ids[0], &env.alice, b"0123456789").await.status, StatusCode::NO_CONTENT);

    // Default: newest first, hidden images left out.
    assert_eq!(env.names("", &env.alice).await, vec!["bravo", "charlie", "alpha", "delta"]);
    assert_eq!(env.names("?os_hidden=true", &env.alice).await, vec!["echo"]);
    assert_eq!(env.names("?sort=name:asc", &env.alice).await, vec!["alpha", "bravo", "charlie", "delta"]);
    assert_eq!(env.names("?sort_key=name&sort_dir=desc", &env.alice).await, vec!["delta", "charlie", "bravo", "alpha"]);
    assert_eq!(env.names("?name=alpha", &env.alice).await, vec!["alpha"]);
    assert_eq!(env.names("?name=in:alpha,%22bravo%22&sort=name:asc", &env.alice).await, vec!["alpha", "bravo"]);
    assert_eq!(env.names("?tag=even&sort=name:asc", &env.alice).await, vec!["bravo", "delta"]);
    assert_eq!(env.names("?tag=even&tag=odd", &env.alice).await, Vec::<String>::new());
    assert_eq!(env.names("?os_distro=cirros&sort=name:asc", &env.alice).await, vec!["bravo", "delta"]);
    assert_eq!(env.names("?status=active", &env.alice).await, vec!["delta"]);
    assert_eq!(env.names("?size_min=5", &env.alice).await, vec!["delta"]);
    assert_eq!(env.names("?size_max=5", &env.alice).await, Vec::<String>::new());
    assert_eq!(env.names("?owner=pa&visibility=private&sort=name", &env.alice).await.len(), 4);
    assert_eq!(env.names("?protected=false", &env.alice).await.len(), 4);
    assert_eq!(env.names("?created_at=gte:2000-01-01T00:00:00Z", &env.alice).await.len(), 4);
    assert_eq!(env.names("?created_at=lt:2000-01-01T00:00:00Z", &env.alice).await.len(), 0);

    // Pagination by marker and the `next` link.
    let (s, page) = env.get("/image/v2/images?limit=2&sort=name:asc", &env.alice).await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<_> = page["images"].as_array().unwrap().iter().map(|i| i["name"].clone()).collect();
    assert_eq!(names, vec![json!("alpha"), json!("bravo")]);
    assert_eq!(page["first"], "/v2/images?limit=2&sort=name%3Aasc");
    let next = page["next"].as_str().unwrap().to_string();
    assert!(next.starts_with("/v2/images?limit=2&sort=name%3Aasc&marker="), "{next}");
    let (_, page2) = env.get(&format!("/image{next}"), &env.alice).await;
    let names: Vec<_> = page2["images"].as_array().unwrap().iter().map(|i| i["name"].clone()).collect();
    assert_eq!(names, vec![json!("charlie"), json!("delta")]);
    let next = page2["next"].as_str().unwrap().to_string();
    let (_, page3) = env.get(&format!("/image{next}"), &env.alice).await;
    assert_eq!(page3["images"], json!([]));
    assert!(page3.get("next").is_none());
    // Marker with the default (newest first) order.
    let marker = &ids[3]; // charlie
    assert_eq!(env.names(&format!("?marker={marker}"), &env.alice).await, vec!["alpha", "delta"]);

    // Bad parameters: 400.
    for q in [
        "?limit=x",
        "?limit=-1",
        "?sort_key=pony",
        "?sort=name:sideways",
        "?sort=name&sort_key=name",
        "?visibility=everyone",
        "?member_status=maybe",
        "?os_hidden=perhaps",
        "?protected=2",
        "?size_min=big",
        "?created_at=gt:yesterday",
        // Once a panic (a byte slice inside a multi-byte character) that
        // dropped the connection.
        "?created_at=2015-11-06%2Ba%C3%A9b",
        "?updated_at=2015-11-06%2Ba%C3%A9b",
        "?updated_at=gte:2015-11-06T10:00:00.%C3%A9%C3%A9",
        "?name=gt:a",
        "?changes-since=2020-01-01",
        "?marker=00000000-0000-0000-0000-000000000000",
    ] {
        let (s, v) = env.get(&format!("/image/v2/images{q}"), &env.alice).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {v}");
    }
    // Another project's image is not a valid marker.
    let other = env.create(&env.bob, json!({"name": "bobs", "visibility": "private"})).await;
    let (s, _) = env.get(&format!("/image/v2/images?marker={}", other["id"].as_str().unwrap()), &env.alice).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
both_engines!(list_filters_and_pagination);

async fn patch_operations(backend: Backend) {
    let env = Env::new(backend).await;
    let img = env
        .create(&env.alice, json!({"name": "p", "disk_format": "raw", "container_format": "bare", "foo": "1"}))
        .await;
    let id = img["id"].as_str().unwrap().to_string();
    let url = format!("/image/v2/images/{id}");

    let (s, v) = env
        .patch(
            &url,
            &env.alice,
            json!([
                {"op": "replace", "path": "/name", "value": "renamed"},
                {"op": "add", "path": "/bar", "value": "2"},
                {"op": "replace", "path": "/foo", "value": "one"},
                {"op": "add", "path": "/owner_specified.openstack.md5", "value": ""},
                {"op": "add", "path": "/a~1b", "value": "slash"},
                {"op": "replace", "path": "/min_disk", "value": 2},
                {"op": "replace", "path": "/protected", "value": true},
                {"op": "replace", "path": "/tags", "value": ["x", "y", "x"]},
                {"op": "add", "path": "/tags/-", "value": "z"},
                {"op": "replace", "path": "/visibility", "value": "private"},
                {"op": "replace", "path": "/disk_format", "value": "qcow2"}
            ]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["name"], "renamed");
    assert_eq!(v["bar"], "2");
    assert_eq!(v["foo"], "one");
    assert_eq!(v["a/b"], "slash");
    assert_eq!(v["owner_specified.openstack.md5"], "");
    assert_eq!(v["min_disk"], 2);
    assert_eq!(v["protected"], true);
    assert_eq!(v["tags"], json!(["x", "y", "z"]));
    assert_eq!(v["visibility"], "private");
    assert_eq!(v["disk_format"], "qcow2");
    let (_, shown) = env.show(&id, &env.alice).await;
    assert_eq!(shown, v);

    // Element operations on tags (as jsonpatch diffs produce them).
    let (s, v) = env
        .patch(
            &url,
            &env.alice,
            json!([{"op": "remove", "path": "/tags/1"}, {"op": "replace", "path": "/tags/0", "value": "w"}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["tags"], json!(["w", "z"]));

    let (s, v) = env
        .patch(
            &url,
            &env.alice,
            json!([{"op": "remove", "path": "/bar"}, {"op": "replace", "path": "/name", "value": null}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.get("bar").is_none());
    assert_eq!(v["name"], json!(null));

    // The older v2.0 dialect.
    let r = env
        .raw(
            Method::PATCH,
            &url,
            Some(&env.alice),
            &[("content-type", "application/openstack-images-v2.0-json-patch")],
            json!([{"replace": "/name", "value": "old-style"}, {"add": "/baz", "value": "3"}]).to_string().into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["name"], "old-style");
    assert_eq!(r.json()["baz"], "3");

    // Conflicts, forbidden attributes, malformed patches.
    let cases = [
        (json!([{"op": "remove", "path": "/nothere"}]), StatusCode::CONFLICT),
        (json!([{"op": "replace", "path": "/nothere", "value": "x"}]), StatusCode::CONFLICT),
        (json!([{"op": "remove", "path": "/tags/7"}]), StatusCode::CONFLICT),
        (json!([{"op": "remove", "path": "/name"}]), StatusCode::FORBIDDEN),
        (json!([{"op": "replace", "path": "/status", "value": "active"}]), StatusCode::FORBIDDEN),
        (json!([{"op": "replace", "path": "/id", "value": "x"}]), StatusCode::FORBIDDEN),
        (json!([{"op": "replace", "path": "/checksum", "value": "x"}]), StatusCode::FORBIDDEN),
        (json!([{"op": "add", "path": "/os_glance_thing", "value": "x"}]), StatusCode::FORBIDDEN),
        (json!([{"op": "add", "path": "/deleted", "value": "x"}]), StatusCode::FORBIDDEN),
        (json!([{"op": "replace", "path": "/locations", "value": []}]), StatusCode::FORBIDDEN),
        (json!([{"op": "replace", "path": "/owner", "value": "pb"}]), StatusCode::FORBIDDEN),
        (json!([{"op": "replace", "path": "/visibility", "value": "public"}]), StatusCode::FORBIDDEN),
        (json!([{"op": "replace", "path": "/visibility", "value": "galactic"}]), StatusCode::BAD_REQUEST),
        (json!([{"op": "replace", "path": "/min_ram", "value": "lots"}]), StatusCode::BAD_REQUEST),
        (json!([{"op": "replace", "path": "/min_ram", "value": -5}]), StatusCode::BAD_REQUEST),
        (json!([{"op": "replace", "path": "/protected", "value": "yes"}]), StatusCode::BAD_REQUEST),
        (json!([{"op": "add", "path": "/prop", "value": 5}]), StatusCode::BAD_REQUEST),
        (json!([{"op": "add", "path": "/tags", "value": "notalist"}]), StatusCode::BAD_REQUEST),
        (json!([{"op": "move", "path": "/name", "value": "x"}]), StatusCode::BAD_REQUEST),
        (json!([{"path": "/name", "value": "x"}]), StatusCode::BAD_REQUEST),
        (json!([{"op": "add", "path": "/name"}]), StatusCode::BAD_REQUEST),
        (json!([{"op": "add", "path": "name", "value": "x"}]), StatusCode::BAD_REQUEST),
        (json!([{"op": "add", "path": "/a/b", "value": "x"}]), StatusCode::BAD_REQUEST),
        (json!([{"op": "add", "path": "/a~x", "value": "x"}]), StatusCode::BAD_REQUEST),
        (json!({"op": "add", "path": "/a", "value": "x"}), StatusCode::BAD_REQUEST),
        (json!(["add"]), StatusCode::BAD_REQUEST),
    ];
    for (ops, want) in cases {
        let (s, v) = env.patch(&url, &env.alice, ops.clone()).await;
        assert_eq!(s, want, "{ops}: {v}");
    }
    // Nothing above changed the image.
    let (_, after) = env.show(&id, &env.alice).await;
    assert_eq!(after["name"], "old-style");

    let r =
        env.raw(Method::PATCH, &url, Some(&env.alice), &[("content-type", PATCH_TYPE)], b"{not json".to_vec()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r =
        env.raw(Method::PATCH, &url, Some(&env.alice), &[("content-type", "application/json")], b"[]".to_vec()).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(r.header("accept-patch").unwrap().contains("openstack-images-v2.1-json-patch"));

    // Administrators may publicize and change owners.
    let (s, v) = env
        .patch(&url, &env.admin, json!([{"op": "replace", "path": "/visibility", "value": "public"}, {"op": "replace", "path": "/owner", "value": "pb"}]))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["visibility"], "public");
    assert_eq!(v["owner"], "pb");
    // Community is allowed to owners.
    let (s, v) =
        env.patch(&url, &env.bob, json!([{"op": "replace", "path": "/visibility", "value": "community"}])).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Tag sub-resource.
    let tag_url = format!("{url}/tags/new-tag");
    assert_eq!(env.raw(Method::PUT, &tag_url, Some(&env.bob), &[], vec![]).await.status, StatusCode::NO_CONTENT);
    assert!(env.show(&id, &env.bob).await.1["tags"].as_array().unwrap().contains(&json!("new-tag")));
    assert_eq!(env.delete(&tag_url, &env.bob).await, StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&tag_url, &env.bob).await, StatusCode::NOT_FOUND);
    // Not the owner any more: alice sees the community image but may not modify it.
    assert_eq!(env.raw(Method::PUT, &tag_url, Some(&env.alice), &[], vec![]).await.status, StatusCode::FORBIDDEN);
}
const PATCH_TYPE: &str = common::PATCH;
both_engines!(patch_operations);

async fn visibility_between_projects(backend: Backend) {
    let env = Env::new(backend).await;
    let mk = |name: &str, vis: &str| json!({"name": name, "visibility": vis, "disk_format": "raw", "container_format": "bare"});
    let private = env.create(&env.alice, mk("a-private", "private")).await["id"].as_str().unwrap().to_string();
    let shared = env.create(&env.alice, mk("a-shared", "shared")).await["id"].as_str().unwrap().to_string();
    let community = env.create(&env.alice, mk("a-community", "community")).await["id"].as_str().unwrap().to_string();
    // Only administrators may create public images.
    let (s, _) = env.post("/image/v2/images", &env.alice, mk("a-public", "public")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let public = env.create(&env.admin, mk("admin-public", "public")).await["id"].as_str().unwrap().to_string();
    // Nobody but administrators creates images for other projects.
    let (s, v) = env.post("/image/v2/images", &env.alice, json!({"name": "x", "owner": "pb"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(v["message"].as_str().unwrap().contains("owned by 'pb'"));
    let (s, v) = env
        .post("/image/v2/images", &env.admin, json!({"name": "for-b", "owner": "pb", "visibility": "private"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(sorted(env.names("", &env.alice).await), vec!["a-community", "a-private", "a-shared", "admin-public"]);
    assert_eq!(sorted(env.names("", &env.bob).await), vec!["admin-public", "for-b"]);
    assert_eq!(env.names("?visibility=community", &env.bob).await, vec!["a-community"]);
    assert_eq!(env.names("?visibility=private", &env.bob).await, vec!["for-b"]);
    // Admins see every project's images (community only their own or on request).
    assert_eq!(sorted(env.names("", &env.admin).await), vec!["a-private", "a-shared", "admin-public", "for-b"]);
    assert_eq!(env.names("?visibility=all", &env.admin).await.len(), 5);

    // By id: public and community yes; private and unshared no (404).
    assert_eq!(env.show(&public, &env.bob).await.0, StatusCode::OK);
    assert_eq!(env.show(&community, &env.bob).await.0, StatusCode::OK);
    assert_eq!(env.show(&private, &env.bob).await.0, StatusCode::NOT_FOUND);
    assert_eq!(env.show(&shared, &env.bob).await.0, StatusCode::NOT_FOUND);
    assert_eq!(env.show(&private, &env.admin).await.0, StatusCode::OK);
    // Hidden images are also 404 for writes.
    assert_eq!(env.delete(&format!("/image/v2/images/{private}"), &env.bob).await, StatusCode::NOT_FOUND);
    let (s, _) = env
        .patch(
            &format!("/image/v2/images/{private}"),
            &env.bob,
            json!([{"op": "replace", "path": "/name", "value": "x"}]),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(env.upload(&private, &env.bob, b"x").await.status, StatusCode::NOT_FOUND);
    // Visible but not theirs: 403.
    assert_eq!(env.delete(&format!("/image/v2/images/{community}"), &env.bob).await, StatusCode::FORBIDDEN);
    assert_eq!(env.upload(&community, &env.bob, b"x").await.status, StatusCode::FORBIDDEN);

    // Sharing.
    let members = format!("/image/v2/images/{shared}/members");
    let (s, m) = env.post(&members, &env.alice, json!({"member": "pb"})).await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["status"], "pending");
    assert_eq!(m["member_id"], "pb");
    assert_eq!(m["image_id"], shared);
    assert_eq!(m["schema"], "/v2/schemas/member");
    let (s, _) = env.post(&members, &env.alice, json!({"member": "pb"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = env.post(&members, &env.alice, json!({"member": 5})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = env.post(&format!("/image/v2/images/{private}/members"), &env.alice, json!({"member": "pb"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A reader of the owning project cannot share.
    let (s, _) = env.post(&members, &env.rita, json!({"member": "pc"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Pending: visible by id, listed only with member_status=pending.
    assert_eq!(env.show(&shared, &env.bob).await.0, StatusCode::OK);
    assert!(!env.names("", &env.bob).await.contains(&"a-shared".to_string()));
    // (member_status only narrows shared images; own and public ones stay.)
    assert_eq!(sorted(env.names("?member_status=pending", &env.bob).await), vec!["a-shared", "admin-public", "for-b"]);
    assert!(!env.names("?member_status=rejected", &env.bob).await.contains(&"a-shared".to_string()));
    assert!(env.names("?member_status=all", &env.bob).await.contains(&"a-shared".to_string()));

    // The owner cannot accept for the member; the member can.
    let (s, _) = env.put_json(&format!("{members}/pb"), &env.alice, json!({"status": "accepted"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = env.put_json(&format!("{members}/pb"), &env.bob, json!({"status": "maybe"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, m) = env.put_json(&format!("{members}/pb"), &env.bob, json!({"status": "accepted"})).await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["status"], "accepted");
    assert!(env.names("", &env.bob).await.contains(&"a-shared".to_string()));
    assert_eq!(env.names("?visibility=shared", &env.bob).await, vec!["a-shared"]);

    // Member lists: the owner sees all, a member only itself.
    let (s, _) = env.post(&members, &env.alice, json!({"member": "pc"})).await;
    assert_eq!(s, StatusCode::OK);
    let (_, l) = env.get(&members, &env.alice).await;
    assert_eq!(l["members"].as_array().unwrap().len(), 2);
    assert_eq!(l["schema"], "/v2/schemas/members");
    let (_, l) = env.get(&members, &env.bob).await;
    assert_eq!(l["members"].as_array().unwrap().len(), 1);
    assert_eq!(l["members"][0]["member_id"], "pb");
    assert_eq!(env.get(&format!("{members}/pc"), &env.bob).await.0, StatusCode::NOT_FOUND);
    assert_eq!(env.get(&format!("{members}/pb"), &env.bob).await.0, StatusCode::OK);
    assert_eq!(env.get(&format!("{members}/zz"), &env.alice).await.0, StatusCode::NOT_FOUND);

    // The member may use but not modify or delete the image.
    assert_eq!(env.delete(&format!("/image/v2/images/{shared}"), &env.bob).await, StatusCode::FORBIDDEN);
    let (s, _) = env
        .patch(
            &format!("/image/v2/images/{shared}"),
            &env.bob,
            json!([{"op": "replace", "path": "/name", "value": "x"}]),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(env.upload(&shared, &env.alice, b"shared data").await.status, StatusCode::NO_CONTENT);
    let r = env.raw(Method::GET, &format!("/image/v2/images/{shared}/file"), Some(&env.bob), &[], vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.bytes, b"shared data");

    // Properties named like policy target keys grant nothing.
    let sneaky = env.create(&env.alice, json!({"name": "sneaky", "member_id": "pb", "project_id": "pb"})).await;
    let sneaky = sneaky["id"].as_str().unwrap();
    assert_eq!(env.show(sneaky, &env.bob).await.0, StatusCode::NOT_FOUND);
    assert_eq!(env.get(&format!("/image/v2/images/{sneaky}/members"), &env.bob).await.0, StatusCode::NOT_FOUND);
    // Readers may look but not touch; an empty patch is a read.
    let (s, _) = env.patch(&format!("/image/v2/images/{shared}"), &env.rita, json!([])).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = env
        .patch(&format!("/image/v2/images/{shared}"), &env.rita, json!([{"op": "add", "path": "/k", "value": "v"}]))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = env
        .patch(
            &format!("/image/v2/images/{shared}"),
            &env.alice,
            json!([{"op": "add", "path": "/stores", "value": "v"}]),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Removing the membership hides the image again; only the owner may.
    assert_eq!(env.delete(&format!("{members}/pb"), &env.bob).await, StatusCode::FORBIDDEN);
    assert_eq!(env.delete(&format!("{members}/pb"), &env.alice).await, StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&format!("{members}/pb"), &env.alice).await, StatusCode::NOT_FOUND);
    assert_eq!(env.show(&shared, &env.bob).await.0, StatusCode::NOT_FOUND);
}
both_engines!(visibility_between_projects);

async fn protected_and_actions(backend: Backend) {
    let env = Env::new(backend).await;
    let img = env.create(&env.alice, json!({"name": "keep", "protected": true, "disk_format": "raw", "container_format": "bare", "visibility": "community"})).await;
    let id = img["id"].as_str().unwrap().to_string();
    let url = format!("/image/v2/images/{id}");
    let (s, v) = env.raw(Method::DELETE, &url, Some(&env.alice), &[], vec![]).await.status_and_json();
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(v["message"].as_str().unwrap().contains("protected"));
    assert_eq!(env.delete(&url, &env.admin).await, StatusCode::FORBIDDEN);

    // Actions: only from the right status.
    let deact = format!("{url}/actions/deactivate");
    let react = format!("{url}/actions/reactivate");
    assert_eq!(env.raw(Method::POST, &deact, Some(&env.alice), &[], vec![]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(env.upload(&id, &env.alice, b"bytes").await.status, StatusCode::NO_CONTENT);
    assert_eq!(env.raw(Method::POST, &deact, Some(&env.bob), &[], vec![]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(env.raw(Method::POST, &deact, Some(&env.alice), &[], vec![]).await.status, StatusCode::NO_CONTENT);
    assert_eq!(env.show(&id, &env.alice).await.1["status"], "deactivated");
    let file = format!("{url}/file");
    assert_eq!(env.raw(Method::GET, &file, Some(&env.alice), &[], vec![]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(env.raw(Method::GET, &file, Some(&env.admin), &[], vec![]).await.status, StatusCode::OK);
    assert_eq!(env.raw(Method::POST, &react, Some(&env.alice), &[], vec![]).await.status, StatusCode::NO_CONTENT);
    assert_eq!(env.raw(Method::POST, &react, Some(&env.alice), &[], vec![]).await.status, StatusCode::NO_CONTENT);
    let r = env.raw(Method::GET, &file, Some(&env.bob), &[], vec![]).await;
    assert_eq!((r.status, r.bytes.as_slice()), (StatusCode::OK, b"bytes".as_slice()));

    let (s, _) = env.patch(&url, &env.alice, json!([{"op": "replace", "path": "/protected", "value": false}])).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(env.delete(&url, &env.alice).await, StatusCode::NO_CONTENT);
    assert_eq!(env.delete(&url, &env.alice).await, StatusCode::NOT_FOUND);
}
both_engines!(protected_and_actions);

trait StatusJson {
    fn status_and_json(self) -> (StatusCode, serde_json::Value);
}
impl StatusJson for common::Response {
    fn status_and_json(self) -> (StatusCode, serde_json::Value) {
        (self.status, self.json())
    }
}

async fn bad_inputs(backend: Backend) {
    let env = Env::new(backend).await;
    let raw_create = |body: &'static [u8]| {
        let env = &env;
        async move {
            env.raw(
                Method::POST,
                "/image/v2/images",
                Some(&env.alice),
                &[("content-type", "application/json")],
                body.to_vec(),
            )
            .await
            .status
        }
    };
    assert_eq!(raw_create(b"").await, StatusCode::BAD_REQUEST);
    assert_eq!(raw_create(b"{nope").await, StatusCode::BAD_REQUEST);
    assert_eq!(raw_create(b"[1, 2]").await, StatusCode::BAD_REQUEST);
    let cases = [
        (json!({"id": "not-a-uuid"}), StatusCode::BAD_REQUEST),
        (json!({"id": 7}), StatusCode::BAD_REQUEST),
        (json!({"name": 5}), StatusCode::BAD_REQUEST),
        (json!({"name": "x".repeat(256)}), StatusCode::BAD_REQUEST),
        (json!({"disk_format": "floppy"}), StatusCode::BAD_REQUEST),
        (json!({"container_format": "crate"}), StatusCode::BAD_REQUEST),
        (json!({"visibility": "everyone"}), StatusCode::BAD_REQUEST),
        (json!({"protected": "yes"}), StatusCode::BAD_REQUEST),
        (json!({"min_disk": -1}), StatusCode::BAD_REQUEST),
        (json!({"min_ram": 1.5}), StatusCode::BAD_REQUEST),
        (json!({"tags": "a"}), StatusCode::BAD_REQUEST),
        (json!({"tags": [1]}), StatusCode::BAD_REQUEST),
        (json!({"hw_disk_bus": 1}), StatusCode::BAD_REQUEST),
        (json!({"k".repeat(256): "v"}), StatusCode::BAD_REQUEST),
        (json!({"status": "active"}), StatusCode::FORBIDDEN),
        (json!({"checksum": "abc"}), StatusCode::FORBIDDEN),
        (json!({"size": 5}), StatusCode::FORBIDDEN),
        (json!({"self": "x"}), StatusCode::FORBIDDEN),
        (json!({"file": "x"}), StatusCode::FORBIDDEN),
        (json!({"locations": []}), StatusCode::FORBIDDEN),
        (json!({"deleted": "x"}), StatusCode::FORBIDDEN),
        (json!({"os_glance_import_task": "x"}), StatusCode::FORBIDDEN),
    ];
    for (body, want) in cases {
        let (s, v) = env.post("/image/v2/images", &env.alice, body.clone()).await;
        assert_eq!(s, want, "{body}: {v}");
    }
    // Explicit ids; duplicates conflict.
    let id = "0b5c7b4e-6c6f-4f5e-9a34-1d2e3f4a5b6c";
    let img = env.create(&env.alice, json!({"id": id, "name": "fixed"})).await;
    assert_eq!(img["id"], id);
    let (s, _) = env.post("/image/v2/images", &env.alice, json!({"id": id})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Too many tags: 413.
    let tags: Vec<String> = (0..129).map(|i| format!("t{i}")).collect();
    let (s, _) = env.post("/image/v2/images", &env.alice, json!({"tags": tags})).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);

    // Unknown paths and methods answer in Glance's format.
    assert_eq!(env.get("/image/v2/nothing", &env.alice).await.0, StatusCode::NOT_FOUND);
    assert_eq!(env.get("/image/v2/images/nope", &env.alice).await.0, StatusCode::NOT_FOUND);
    assert_eq!(env.get("/image/v2/images/nope/file", &env.alice).await.0, StatusCode::NOT_FOUND);
    let r = env.raw(Method::POST, &format!("/image/v2/images/{id}"), Some(&env.alice), &[], vec![]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = env.raw(Method::DELETE, "/image/v2/images", Some(&env.alice), &[], vec![]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let (s, _) = env.put_json(&format!("/image/v2/images/{id}/members/pb"), &env.alice, json!("x")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let r =
        env.raw(Method::POST, &format!("/image/v2/images/{id}/members"), Some(&env.alice), &[], b"{bad".to_vec()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Odd path segments are just unknown images.
    assert_eq!(env.get("/image/v2/images/..%2F..%2Fetc", &env.alice).await.0, StatusCode::NOT_FOUND);
    let r = env.upload("..%2Fescape", &env.alice, b"x").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
both_engines!(bad_inputs);

async fn default_image(backend: Backend) {
    let env = Env::new(backend).await;
    let blob = b"QFI\xfb\x00\x00\x00\x03tiny qcow2-ish blob".to_vec();
    let id1 = env.service.ensure_default_image("cirros-0.6.2-x86_64-disk", &blob, "admin").await.unwrap();
    let id2 = env.service.ensure_default_image("cirros-0.6.2-x86_64-disk", &blob, "admin").await.unwrap();
    assert_eq!(id1, id2);
    let (s, img) = env.show(&id1, &env.bob).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(img["status"], "active");
    assert_eq!(img["visibility"], "public");
    assert_eq!(img["disk_format"], "qcow2");
    assert_eq!(img["container_format"], "bare");
    assert_eq!(img["owner"], "admin");
    assert_eq!(img["checksum"], md5_hex(&blob));
    assert_eq!(env.names("", &env.bob).await, vec!["cirros-0.6.2-x86_64-disk"]);
    let r = env.raw(Method::GET, &format!("/image/v2/images/{id1}/file"), Some(&env.bob), &[], vec![]).await;
    assert_eq!(r.bytes, blob);
    let raw = env.service.ensure_default_image("berth-default", b"raw bytes", "admin").await.unwrap();
    assert_eq!(env.show(&raw, &env.alice).await.1["disk_format"], "raw");
}
both_engines!(default_image);

async fn abandoned_uploads(backend: Backend) {
    use axum::body::{Body, Bytes};
    use tower::ServiceExt;
    let env = Env::new(backend).await;
    let img = env.create(&env.alice, json!({"name": "u", "disk_format": "raw", "container_format": "bare"})).await;
    let id = img["id"].as_str().unwrap().to_string();
    let request = |body: Body| {
        axum::http::Request::builder()
            .method(Method::PUT)
            .uri(format!("/image/v2/images/{id}/file"))
            .header("host", common::HOST)
            .header("x-auth-token", env.alice.token.as_str())
            .header("x-roles", "member,reader")
            .header("content-type", "application/octet-stream")
            .body(body)
            .unwrap()
    };

    // A body that fails midway: 400, back to queued.
    let failing = futures_util::stream::iter(vec![
        Ok::<Bytes, std::io::Error>(Bytes::from_static(b"part")),
        Err(std::io::Error::other("connection reset")),
    ]);
    let resp = env.app.clone().oneshot(request(Body::from_stream(failing))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(env.show(&id, &env.alice).await.1["status"], "queued");

    // A client that goes away: the request future is dropped while saving.
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<Bytes, std::io::Error>(b), rx))
    });
    let app = env.app.clone();
    let req = request(Body::from_stream(stream));
    let task = tokio::spawn(async move { app.oneshot(req).await });
    tx.send(Bytes::from_static(b"first chunk")).await.unwrap();
    let mut saw_saving = false;
    for _ in 0..200 {
        if env.show(&id, &env.alice).await.1["status"] == "saving" {
            saw_saving = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(saw_saving);
    // Another upload meanwhile conflicts.
    assert_eq!(env.upload(&id, &env.alice, b"x").await.status, StatusCode::CONFLICT);
    task.abort();
    let _ = task.await;
    drop(tx);
    let mut back = false;
    for _ in 0..200 {
        if env.show(&id, &env.alice).await.1["status"] == "queued" {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(back, "abandoned upload returns the image to queued");
    assert_eq!(env.upload(&id, &env.alice, b"complete").await.status, StatusCode::NO_CONTENT);
    let files: Vec<_> = std::fs::read_dir(&env.data_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 1, "no temporary files remain: {files:?}");
}
both_engines!(abandoned_uploads);

/// Compute's boot lookup (`ImageService::lookup_for`, cached per image)
/// follows every write of this process at once: status changes, sharing,
/// visibility and deletion.
async fn boot_lookups_follow_writes(backend: Backend) {
    let env = Env::new(backend).await;
    let img = env.create(&env.alice, json!({"name": "boot", "disk_format": "raw", "container_format": "bare", "visibility": "shared", "min_ram": 64})).await;
    let id = img["id"].as_str().unwrap().to_string();
    let url = format!("/image/v2/images/{id}");
    let alice = common::ctx("alice", "pa", &["member", "reader"]);
    let bob = common::ctx("bob", "pb", &["member", "reader"]);
    let look = |who: &berth_http::RequestContext| {
        let (svc, who, id) = (env.service.clone(), who.clone(), id.clone());
        async move { svc.lookup_for(&id, &who).await.expect("lookup") }
    };
    assert_eq!(look(&alice).await.expect("owner sees it").status, "queued");
    assert!(look(&bob).await.is_none(), "not shared with pb yet");
    assert_eq!(env.upload(&id, &env.alice, b"bytes").await.status, StatusCode::NO_CONTENT);
    assert_eq!(look(&alice).await.unwrap().status, "active", "the upload is seen at once");
    // Shared with pb: a member sees it (pending or accepted, as Glance
    // shows an image by id to a member).
    let (s, _) = env.post(&format!("{url}/members"), &env.alice, json!({"member": "pb"})).await;
    assert_eq!(s, StatusCode::OK);
    assert!(look(&bob).await.is_some(), "a member of a shared image sees it");
    let deact = format!("{url}/actions/deactivate");
    assert_eq!(env.raw(Method::POST, &deact, Some(&env.alice), &[], vec![]).await.status, StatusCode::NO_CONTENT);
    assert_eq!(look(&bob).await.unwrap().status, "deactivated", "deactivation is seen at once");
    let (s, _) = env.patch(&url, &env.alice, json!([{"op": "replace", "path": "/min_ram", "value": 512}])).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(look(&alice).await.unwrap().min_ram, 512);
    let (s, _) =
        env.patch(&url, &env.alice, json!([{"op": "replace", "path": "/visibility", "value": "private"}])).await;
    assert_eq!(s, StatusCode::OK);
    assert!(look(&bob).await.is_none(), "made private: the member no longer sees it");
    assert!(look(&alice).await.is_some());
    assert_eq!(env.delete(&url, &env.alice).await, StatusCode::NO_CONTENT);
    assert!(look(&alice).await.is_none(), "deleted");
}
both_engines!(boot_lookups_follow_writes);
