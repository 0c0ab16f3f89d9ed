//! The config's `kind = "http"` table as the HTTP runtime's settings.

use hoist_config::HttpConfig;
use hoist_runtime_http::{
    Credential, HttpRuntime, HttpSettings, RequestSpec, RetryPolicy, StatusFields,
};

/// The runtime for one platform; nothing is contacted (and no credential read) until it
/// is used.
pub(crate) fn runtime(config: &HttpConfig) -> HttpRuntime {
    let request = |r: &hoist_config::http::HttpRequest| RequestSpec {
        method: r.method.clone(),
        url: r.url.clone(),
        body: r.body.clone(),
    };
    let f = &config.fields;
    HttpRuntime::new(HttpSettings {
        platform: config.platform.clone(),
        deploy: request(&config.deploy),
        status: request(&config.status),
        wait: config.wait.as_ref().map(request),
        rollback: config.rollback.as_ref().map(request),
        headers: config
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        credential: config.token.as_ref().map(|t| Credential {
            source: t.source.clone(),
            header: t.header.clone(),
            scheme: t.scheme.clone(),
        }),
        fields: StatusFields {
            image: f.image.clone(),
            digest: f.digest.clone(),
            release: f.release.clone(),
            image_id: f.image_id.clone(),
            spec: f.spec.clone(),
            state: f.state.clone(),
            running: f.running.clone(),
            failed: f.failed.clone(),
            healthy: f.healthy.clone(),
            failure: f.failure.clone(),
        },
        platform_app: config.platform_app.clone(),
        timeout: config.timeout,
        poll: config.poll,
        retry: RetryPolicy::default(),
    })
}
