//! An instance's tenant secrets as native Swarm secrets, so that the values never appear
//! in the service's spec, its tasks' env or `docker inspect`.
//!
//! Each secret becomes one Swarm secret named after the service, the variable and the
//! value's fingerprint ([`swarm_name`]): Swarm secrets cannot change, so a changed value is
//! a new secret and a new spec, which Swarm rolls out (and back) like any other change.
//! The app reads the value from the file `/run/secrets/NAME`, and gets `NAME_FILE` set to
//! that path (the `_FILE` convention many images follow). Secrets hoist made for a
//! service carry the label `dev.hoist.service`; once a roll-out verifies, those that
//! neither the service's spec nor its previous spec (Swarm's way back) use are removed.

use std::collections::{BTreeSet, HashMap};

use base64::Engine as _;
use bollard::Docker;
use bollard::models::{
    SecretSpec, ServiceSpec, TaskSpecContainerSpecFile, TaskSpecContainerSpecSecrets,
};
use bollard::query_parameters::ListSecretsOptions;
use hoist_core::backend::BackendError;
use hoist_core::{InstanceSpec, labels};
use hoist_engine::message;
use sha2::{Digest, Sha256};

/// The label naming the service a secret was made for.
pub const SERVICE_LABEL: &str = "dev.hoist.service";

/// Where Swarm mounts secret `NAME` in the task: `/run/secrets/NAME`.
pub fn mount_path(name: &str) -> String {
    format!("/run/secrets/{name}")
}

/// The env a service gets for its secrets: `NAME_FILE=/run/secrets/NAME` each. Never a
/// value.
pub fn file_env(instance: &InstanceSpec) -> Vec<String> {
    instance
        .secrets
        .iter()
        .map(|(name, _)| format!("{name}_FILE={}", mount_path(name)))
        .collect()
}

/// The Swarm secret's name for secret `name` of `service` with `fingerprint`:
/// `SERVICE_NAME_FINGERPRINT`, or, past Swarm's 64 characters, a hash of service and name
/// in their place.
pub fn swarm_name(service: &str, name: &str, fingerprint: &str) -> String {
    let full = format!("{service}_{name}_{fingerprint}");
    if full.len() <= 64 {
        return full;
    }
    let digest = Sha256::digest(format!("{service}\0{name}").as_bytes());
    format!("hoist_{}_{fingerprint}", &hex::encode(digest)[..16])
}

/// Adds `references` to the spec's container.
pub fn attach(spec: &mut ServiceSpec, references: Vec<TaskSpecContainerSpecSecrets>) {
    if references.is_empty() {
        return;
    }
    if let Some(container) = spec
        .task_template
        .as_mut()
        .and_then(|t| t.container_spec.as_mut())
    {
        container.secrets = Some(references);
    }
}

fn error(what: &str, name: &str, e: &bollard::errors::Error) -> BackendError {
    BackendError::new(format!("cannot {what} Swarm secret {name}: {}", message(e)))
}

/// Makes sure every secret of `instance` exists as a Swarm secret, and returns the
/// references to attach to its service.
pub async fn ensure(
    docker: &Docker,
    instance: &InstanceSpec,
) -> Result<Vec<TaskSpecContainerSpecSecrets>, BackendError> {
    let mut references = Vec::new();
    for (name, secret) in instance.secrets.iter() {
        let swarm = swarm_name(&instance.name, name, secret.fingerprint());
        let options = ListSecretsOptions {
            filters: Some(HashMap::from([("name".to_string(), vec![swarm.clone()])])),
        };
        let existing = docker
            .list_secrets(Some(options))
            .await
            .map_err(|e| error("look up", &swarm, &e))?
            .into_iter()
            .find(|s| s.spec.as_ref().and_then(|s| s.name.as_deref()) == Some(swarm.as_str()))
            .and_then(|s| s.id);
        let id = match existing {
            Some(id) => id,
            None => {
                let spec = SecretSpec {
                    name: Some(swarm.clone()),
                    labels: Some(HashMap::from([
                        (labels::APP.to_string(), instance.app.clone()),
                        (
                            labels::ENVIRONMENT.to_string(),
                            instance.environment.clone(),
                        ),
                        (labels::TENANT.to_string(), instance.tenant.clone()),
                        (SERVICE_LABEL.to_string(), instance.name.clone()),
                        (
                            format!("{}{name}", labels::SECRET_PREFIX),
                            secret.fingerprint().to_string(),
                        ),
                    ])),
                    data: Some(base64::engine::general_purpose::STANDARD.encode(secret.expose())),
                    ..Default::default()
                };
                docker
                    .create_secret(spec)
                    .await
                    .map_err(|e| error("create", &swarm, &e))?
                    .id
            }
        };
        references.push(TaskSpecContainerSpecSecrets {
            file: Some(TaskSpecContainerSpecFile {
                name: Some(name.to_string()),
                uid: Some("0".into()),
                gid: Some("0".into()),
                // Readable by an app that does not run as root.
                mode: Some(0o444),
            }),
            secret_id: Some(id),
            secret_name: Some(swarm),
        });
    }
    Ok(references)
}

/// The ids of the secrets `spec` attaches.
fn used_by(spec: &ServiceSpec) -> impl Iterator<Item = String> + '_ {
    spec.task_template
        .iter()
        .filter_map(|t| t.container_spec.as_ref())
        .filter_map(|c| c.secrets.as_ref())
        .flatten()
        .filter_map(|r| r.secret_id.clone())
}

/// Removes the secrets hoist made for service `service` that none of `specs` uses.
/// Returns what could not be removed (a warning each: it is retried next time).
pub async fn prune(docker: &Docker, service: &str, specs: &[&ServiceSpec]) -> Vec<String> {
    let used: BTreeSet<String> = specs.iter().flat_map(|s| used_by(s)).collect();
    let options = ListSecretsOptions {
        filters: Some(HashMap::from([(
            "label".to_string(),
            vec![format!("{SERVICE_LABEL}={service}")],
        )])),
    };
    let listed = match docker.list_secrets(Some(options)).await {
        Ok(listed) => listed,
        Err(e) => return vec![error("list the", service, &e).message],
    };
    let mut warnings = Vec::new();
    for secret in listed {
        let Some(id) = secret.id else { continue };
        if used.contains(&id) {
            continue;
        }
        let name = secret
            .spec
            .and_then(|s| s.name)
            .unwrap_or_else(|| id.clone());
        if let Err(e) = docker.delete_secret(&id).await {
            warnings.push(error("remove the unused", &name, &e).message);
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_swarm_and_change_with_the_value() {
        let short = swarm_name("clinic-prod-north", "DB_PASSWORD", "0123abcd");
        assert_eq!(short, "clinic-prod-north_DB_PASSWORD_0123abcd");
        assert_ne!(
            short,
            swarm_name("clinic-prod-north", "DB_PASSWORD", "99999999")
        );
        let long = swarm_name(&"s".repeat(60), "DB_PASSWORD", "0123abcd");
        assert!(long.len() <= 64, "{long}");
        assert!(long.ends_with("_0123abcd"), "{long}");
    }
}
