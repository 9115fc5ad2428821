//! Interoperable image import over HTTP (`/stage`, `/import`), the
//! `/v2/info/*` documents and the tasks that record imports, on SQLite and
//! PostgreSQL.

mod common;

use axum::http::{Method, StatusCode};
use common::{Backend, Env, Who};
use serde_json::{json, Value};

fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn sha512_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha512};
    Sha512::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

async fn stage(env: &Env, id: &str, who: &Who, data: &[u8]) -> common::Response {
    env.raw(
        Method::PUT,
        &format!("/image/v2/images/{id}/stage"),
        Some(who),
        &[("content-type", "application/octet-stream")],
        data.to_vec(),
    )
    .await
}

async fn import(env: &Env, id: &str, who: &Who, body: Value) -> common::Response {
    env.raw(
        Method::POST,
        &format!("/image/v2/images/{id}/import"),
        Some(who),
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await
}

fn direct() -> Value {
    json!({"method": {"name": "glance-direct"}})
}

async fn discovery(backend: Backend) {
    let env = Env::new(backend).await;
    let (s, v) = env.get("/image/v2/info/import", &env.rita).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v,
        json!({"import-methods": {"description": "Import methods available.", "type": "array", "value": ["glance-direct"]}})
    );
    let (s, v) = env.get("/image/v2/info/stores", &env.rita).await;
    assert_eq!(s, StatusCode::OK);
    let stores = v["stores"].as_array().unwrap();
    assert_eq!(stores.len(), 1, "{v}");
    assert_eq!(stores[0]["id"], "file");
    assert_eq!(stores[0]["default"], "true");
    let (s, v) = env.get("/image/v2/info/stores/detail", &env.rita).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "details are for admins: {v}");
    let (s, v) = env.get("/image/v2/info/stores/detail", &env.admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let d = &v["stores"][0];
    assert_eq!((d["id"].as_str(), d["type"].as_str(), d["weight"].as_i64()), (Some("file"), Some("file"), Some(0)));
    assert!(d["properties"]["data_dir"].as_str().is_some_and(|p| p.ends_with('/')), "{v}");
    assert_eq!(d["properties"]["thin_provisioning"], false);
    let (s, v) = env.get("/image/v2/info/usage", &env.alice).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"usage": {}})));
    let r = env.raw(Method::GET, "/image/v2/info/import", None, &[], vec![]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}
both_engines!(discovery);

async fn glance_direct_import(backend: Backend) {
    let env = Env::new(backend).await;
    // Creating an image names the import methods and stores (clients read
    // them before they stage and import).
    let r = env
        .raw(
            Method::POST,
            "/image/v2/images",
            Some(&env.alice),
            &[("content-type", "application/json")],
            json!({"name": "imp", "disk_format": "qcow2", "container_format": "bare"}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("openstack-image-import-methods").as_deref(), Some("glance-direct"));
    assert_eq!(r.header("openstack-image-store-ids").as_deref(), Some("file"));
    let img = r.json();
    let id = img["id"].as_str().unwrap().to_string();

    // Importing before staging: 409 with Glance's message.
    let r = import(&env, &id, &env.alice, direct()).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["message"], "Image needs to be staged before 'glance-direct' method can be used");

    // Stage: 204, the image is uploading with the staged size, no hashes.
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let r = stage(&env, &id, &env.alice, &data).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", String::from_utf8_lossy(&r.bytes));
    let (_, shown) = env.show(&id, &env.alice).await;
    assert_eq!(shown["status"], "uploading");
    assert_eq!(shown["size"], json!(data.len()));
    assert_eq!(shown["checksum"], Value::Null);
    // Nothing to download yet.
    let r = env.raw(Method::GET, &format!("/image/v2/images/{id}/file"), Some(&env.alice), &[], vec![]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // Staging twice, or uploading data to a staged image: 409.
    let r = stage(&env, &id, &env.alice, b"again").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["message"], "Image status transition from uploading to uploading is not allowed");
    assert_eq!(env.upload(&id, &env.alice, b"x").await.status, StatusCode::CONFLICT);

    // Bad import requests: 400 with Glance's messages, nothing changes.
    for (body, message) in [
        (json!({}), "Import request requires a 'method' field."),
        (json!({"method": {}}), "Import request requires a 'name' field."),
        (
            json!({"method": {"name": "web-download", "uri": "http://example.com/x"}}),
            "Unknown import method name 'web-download'.",
        ),
        (json!({"method": {"name": "copy-image"}}), "Unknown import method name 'copy-image'."),
        (json!({"method": {"name": "glance-direct"}, "all_stores": "yes"}), "'all_stores' must be boolean value only"),
        (
            json!({"method": {"name": "glance-direct"}, "all_stores_must_succeed": 1}),
            "'all_stores_must_succeed' must be boolean value only",
        ),
    ] {
        let r = import(&env, &id, &env.alice, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.json()["message"], message, "{body}");
    }
    let r = import(&env, &id, &env.alice, json!({"method": {"name": "glance-direct"}, "stores": ["ceph"]})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["message"], "Unknown scheme 'ceph' found in URI");
    // A reader of the project may not import; another project does not see
    // the image.
    assert_eq!(import(&env, &id, &env.rita, direct()).await.status, StatusCode::FORBIDDEN);
    assert_eq!(import(&env, &id, &env.bob, direct()).await.status, StatusCode::NOT_FOUND);
    assert_eq!(env.show(&id, &env.alice).await.1["status"], "uploading");

    // Import: 202, then active with the data's hashes.
    let r = import(&env, &id, &env.alice, json!({"method": {"name": "glance-direct"}, "stores": ["file"]})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&r.bytes));
    assert!(r.bytes.is_empty());
    let request_id = r.header(berth_http::X_REQUEST_ID_HEADER).unwrap();
    let (_, shown) = env.show(&id, &env.alice).await;
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["size"], json!(data.len()));
    assert_eq!(shown["checksum"], md5_hex(&data));
    assert_eq!(shown["os_hash_algo"], "sha512");
    assert_eq!(shown["os_hash_value"], sha512_hex(&data));
    let r = env.raw(Method::GET, &format!("/image/v2/images/{id}/file"), Some(&env.alice), &[], vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.bytes, data);
    // The staging area is empty again.
    let staged: Vec<_> = std::fs::read_dir(env.data_dir.join("staging")).unwrap().collect();
    assert!(staged.is_empty(), "{staged:?}");
    // An active image is no import target.
    let r = import(&env, &id, &env.alice, direct()).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["message"], "Image with status active cannot be target for import");

    // The import is recorded as a task: on the image for whoever sees it,
    // in /v2/tasks for an administrator only (tasks_api_access).
    let (s, v) = env.get(&format!("/image/v2/images/{id}/tasks"), &env.rita).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let tasks = v["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{v}");
    let task = &tasks[0];
    assert_eq!(task["type"], "api_image_import");
    assert_eq!(task["status"], "success");
    assert_eq!(task["image_id"], id.as_str());
    assert_eq!(task["owner"], "pa");
    assert_eq!(task["user_id"], "alice");
    assert_eq!(task["request_id"], request_id.as_str());
    assert_eq!(task["input"]["import_req"]["method"]["name"], "glance-direct");
    assert_eq!(task["result"], json!({"image_id": id}));
    assert!(task["expires_at"].as_str().unwrap().ends_with('Z'));
    let task_id = task["id"].as_str().unwrap().to_string();
    let (s, _) = env.get("/image/v2/tasks", &env.alice).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = env.get(&format!("/image/v2/tasks/{task_id}"), &env.alice).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = env.get("/image/v2/tasks", &env.admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["first"], "/v2/tasks");
    assert_eq!(v["schema"], "/v2/schemas/tasks");
    assert_eq!(v["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(v["tasks"][0]["id"], task_id.as_str());
    assert_eq!(v["tasks"][0]["self"], format!("/v2/tasks/{task_id}"));
    assert!(v["tasks"][0].get("input").is_none(), "list entries are stubs: {v}");
    let (s, v) = env.get(&format!("/image/v2/tasks/{task_id}"), &env.admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, *task);
    let (s, v) = env.get("/image/v2/tasks?status=failure", &env.admin).await;
    assert_eq!((s, v["tasks"].clone()), (StatusCode::OK, json!([])));
    let (s, _) = env.get("/image/v2/tasks?status=bogus", &env.admin).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = env.get("/image/v2/tasks/00000000-0000-0000-0000-000000000000", &env.admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = env.get(&format!("/image/v2/images/{id}/tasks"), &env.bob).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Deleting a staged image removes its staged data.
    let img = env.create(&env.alice, json!({"name": "gone", "disk_format": "raw", "container_format": "bare"})).await;
    let gone = img["id"].as_str().unwrap().to_string();
    assert_eq!(stage(&env, &gone, &env.alice, b"abc").await.status, StatusCode::NO_CONTENT);
    assert_eq!(std::fs::read_dir(env.data_dir.join("staging")).unwrap().count(), 1);
    assert_eq!(env.delete(&format!("/image/v2/images/{gone}"), &env.alice).await, StatusCode::NO_CONTENT);
    assert_eq!(std::fs::read_dir(env.data_dir.join("staging")).unwrap().count(), 0);
}
both_engines!(glance_direct_import);

async fn import_preconditions(backend: Backend) {
    let env = Env::new(backend).await;
    // No formats: staging works, importing answers 409 and names the field.
    let img = env.create(&env.alice, json!({"name": "bare"})).await;
    let id = img["id"].as_str().unwrap().to_string();
    assert_eq!(stage(&env, &id, &env.alice, b"data").await.status, StatusCode::NO_CONTENT);
    let r = import(&env, &id, &env.alice, direct()).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["message"], "'container_format' needs to be set before import");
    let (s, v) = env
        .patch(
            &format!("/image/v2/images/{id}"),
            &env.alice,
            json!([{"op": "add", "path": "/container_format", "value": "bare"}]),
        )
        .await;
    // Glance lets formats change only while queued.
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");

    // Staging checks the upload headers as uploads do.
    let img = env.create(&env.alice, json!({"name": "hdr", "disk_format": "raw", "container_format": "bare"})).await;
    let id = img["id"].as_str().unwrap().to_string();
    let r = env
        .raw(
            Method::PUT,
            &format!("/image/v2/images/{id}/stage"),
            Some(&env.alice),
            &[("content-type", "text/plain")],
            b"x".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = env
        .raw(
            Method::PUT,
            &format!("/image/v2/images/{id}/stage"),
            Some(&env.alice),
            &[("content-type", "application/octet-stream"), ("x-openstack-image-size", "99")],
            b"abc".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // A failed stage leaves the image queued without a size, nothing staged.
    let (_, shown) = env.show(&id, &env.alice).await;
    assert_eq!((shown["status"].clone(), shown["size"].clone()), (json!("queued"), Value::Null));
    assert_eq!(std::fs::read_dir(env.data_dir.join("staging")).unwrap().count(), 1, "the first image's data only");
    // Staging needs modify_image: a reader may not, another project sees
    // nothing.
    assert_eq!(stage(&env, &id, &env.rita, b"x").await.status, StatusCode::FORBIDDEN);
    assert_eq!(stage(&env, &id, &env.bob, b"x").await.status, StatusCode::NOT_FOUND);
    // An image with data is not staged again.
    assert_eq!(env.upload(&id, &env.alice, b"data").await.status, StatusCode::NO_CONTENT);
    let r = stage(&env, &id, &env.alice, b"x").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["message"], "Image status transition from active to uploading is not allowed");
    // Unknown images: 404.
    let r = stage(&env, "00000000-0000-0000-0000-000000000000", &env.alice, b"x").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = import(&env, "00000000-0000-0000-0000-000000000000", &env.alice, direct()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
both_engines!(import_preconditions);
