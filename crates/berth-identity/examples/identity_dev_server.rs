//! A development server for trying the identity API with real clients:
//!
//! ```text
//! cargo run -p berth-identity --example identity_dev_server -- sqlite:///tmp/ident.db 127.0.0.1:5000 secret
//! ```
//!
//! serves `/identity` on the given address with `admin` / `secret`.

use std::sync::Arc;

use berth_identity::{bootstrap, router, Identity, IdentityConfig};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "sqlite:///tmp/berth-identity-dev.db".into());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".into());
    let password = args.next().unwrap_or_else(|| "secret".into());
    let identity = Arc::new(Identity::open(IdentityConfig::new(url)).await.expect("open"));
    let report = bootstrap(&identity, &password).await.expect("bootstrap");
    println!("bootstrap: {report:?}");
    let app = axum::Router::new().nest("/identity", router(identity));
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("listening on http://{addr}/identity");
    axum::serve(listener, app).await.expect("serve");
}
