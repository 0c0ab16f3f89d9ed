//! The store's answer to `hoist prune`: every deployment of an app, in every environment,
//! newest first, with the image and digest each rolled out.

use hoist_core::Release;
use hoist_core::store::{DeploymentKind, DeploymentOutcome, DeploymentRecord, Store};
use hoist_store::SqliteStore;

fn release(app: &str, version: &str, image_id: &str) -> Release {
    Release {
        app: app.into(),
        version: version.into(),
        commit: "abc".into(),
        image: format!("{app}:{version}"),
        image_id: image_id.into(),
        digest: None,
        fingerprint: "fp".into(),
        base_image: format!("{app}-base:fp-1"),
        created_by: "ada".into(),
        created_at: "2026-11-23T10:00:00Z".into(),
    }
}

fn deploy(store: &SqliteStore, env: &str, r: &Release, outcome: Option<DeploymentOutcome>) {
    let id = store
        .begin_deployment(&DeploymentRecord {
            id: 0,
            app: r.app.clone(),
            environment: env.into(),
            kind: DeploymentKind::Deploy,
            version: r.version.clone(),
            image_id: r.image_id.clone(),
            actor: "ada".into(),
            started_at: jiff::Timestamp::now().to_string(),
            finished_at: None,
            duration_ms: None,
            outcome: DeploymentOutcome::Running,
            message: String::new(),
            instances: vec![],
            subset: vec![],
        })
        .unwrap();
    if let Some(outcome) = outcome {
        store.finish_deployment(id, outcome, "done").unwrap();
    }
}

#[test]
fn deployment_summaries_list_every_environment_newest_first_for_one_app() {
    let store = SqliteStore::in_memory().unwrap();
    let mut v1 = release("clinic", "v1", "sha256:one");
    v1.digest = Some("sha256:manifest-one".into());
    let v2 = release("clinic", "v2", "sha256:two");
    let other = release("billing", "v1", "sha256:billing");
    for r in [&v1, &v2, &other] {
        store.save_release(r).unwrap();
    }
    deploy(&store, "staging", &v1, Some(DeploymentOutcome::Succeeded));
    deploy(
        &store,
        "production",
        &v1,
        Some(DeploymentOutcome::Succeeded),
    );
    deploy(
        &store,
        "staging",
        &other,
        Some(DeploymentOutcome::Succeeded),
    );
    deploy(&store, "staging", &v2, Some(DeploymentOutcome::Failed));
    deploy(&store, "production", &v2, None);

    let found = store.deployment_summaries("clinic").unwrap();
    let seen: Vec<(&str, &str, &str, DeploymentOutcome)> = found
        .iter()
        .map(|d| {
            (
                d.environment.as_str(),
                d.version.as_str(),
                d.image_id.as_str(),
                d.outcome,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("production", "v2", "sha256:two", DeploymentOutcome::Running),
            ("staging", "v2", "sha256:two", DeploymentOutcome::Failed),
            (
                "production",
                "v1",
                "sha256:one",
                DeploymentOutcome::Succeeded
            ),
            ("staging", "v1", "sha256:one", DeploymentOutcome::Succeeded),
        ]
    );
    assert_eq!(found[2].digest.as_deref(), Some("sha256:manifest-one"));
    assert_eq!(found[0].digest, None);
    assert!(found.windows(2).all(|w| w[0].id > w[1].id));
}
