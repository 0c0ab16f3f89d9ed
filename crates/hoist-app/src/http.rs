//! The config's `kind = "http"` table as the HTTP runtime's settings.

use hoist_config::HttpConfig;
use hoist_runtime_http::{
    Credential, HttpRuntime, HttpSettings, RequestSpec, RetryPolicy, StatusFields, TaskRequests,
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
        task: config.task.as_ref().map(|t| TaskRequests {
            start: request(&t.start),
            id: t.id.clone(),
            instance: t.instance.clone(),
            wait: t.wait.as_ref().map(request),
            status: request(&t.status),
            state: t.state.clone(),
            done: t.done.clone(),
            exit_code: t.exit_code.clone(),
            logs: t.logs.as_ref().map(request),
            lines: t.lines.clone(),
            stop: t.stop.as_ref().map(request),
            remove: t.remove.as_ref().map(request),
            output_hint: t.output_hint.clone(),
        }),
    })
}
