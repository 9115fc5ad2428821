//! A development server for trying the image API with real clients
//! (python-openstackclient, openstacksdk): identity and image on one
//! listener, tokens validated in-process.
//!
//! ```text
//! cargo run -p berth-image --example image_dev_server -- sqlite:///tmp/img.db 127.0.0.1:5001 secret /tmp/img-data
//! openstack --os-auth-url http://127.0.0.1:5001/identity/v3 --os-username admin --os-password secret \
//!     --os-project-name admin --os-user-domain-id default --os-project-domain-id default image list
//! ```

use std::sync::Arc;

use berth_http::AuthStrategy;
use berth_identity::{bootstrap, Identity, IdentityConfig, IdentityValidator};
use berth_image::{ImageConfig, ImageService};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "sqlite:///tmp/berth-image-dev.db".into());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5001".into());
    let password = args.next().unwrap_or_else(|| "secret".into());
    let data = args.next().unwrap_or_else(|| "/tmp/berth-image-dev-data".into());
    let identity = Arc::new(Identity::open(IdentityConfig::new(url.clone())).await.expect("open identity"));
    let report = bootstrap(&identity, &password).await.expect("bootstrap");
    let auth = AuthStrategy::Keystone(Arc::new(IdentityValidator(identity.clone())));
    let images = Arc::new(ImageService::open(ImageConfig::new(data), &url, auth).await.expect("open images"));
    let id = images
        .ensure_default_image("berth-default", b"berth default image\n", &report.admin_project_id)
        .await
        .expect("default image");
    println!("default image {id}");
    let app = axum::Router::new()
        .nest("/identity", berth_identity::router(identity))
        .nest("/image", berth_image::router(images));
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("listening on http://{addr}");
    axum::serve(listener, app).await.expect("serve");
}
