//! berth's identity service as the token validator of the other APIs in the
//! same process (`AuthStrategy::Keystone` of compute, image and Placement).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use berth_http::{RequestContext, TokenValidator};

use crate::service::Identity;

/// Validates tokens with an in-process [`Identity`].
pub struct IdentityValidator(pub Arc<Identity>);

impl std::fmt::Debug for IdentityValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityValidator")
    }
}

impl TokenValidator for IdentityValidator {
    fn validate<'a>(&'a self, token: &'a str) -> Pin<Box<dyn Future<Output = Option<RequestContext>> + Send + 'a>> {
        Box::pin(async move {
            let t = self.0.validate_token(token).await?;
            Some(RequestContext {
                user_id: Some(t.user_id),
                project_id: t.project_id,
                domain_id: t.domain_id,
                roles: t.roles,
                system_scope: t.system_scope.then(|| "all".to_string()),
                access_rules: t.access_rules.map(|rules| {
                    rules
                        .into_iter()
                        .map(|(service, method, path)| berth_http::AccessRule { service, method, path })
                        .collect()
                }),
            })
        })
    }
}
