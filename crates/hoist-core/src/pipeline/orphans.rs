//! Orphans: workloads labelled with this app and environment that no configured instance
//! accounts for (a tenant removed from `hoist.toml`, an instance renamed). hoist never
//! removes them by itself: `plan`, `status` and `deploy` name them, and `hoist retire`
//! removes one tenant's, under the environment's lock and policy, audited.

use std::collections::BTreeSet;
use std::sync::Arc;

use hoist_policy::{GitRef, Request};
use serde::Serialize;

use super::{Deployer, LockWait, Override, PipelineError};
use crate::InstanceSpec;
use crate::events::EventKind;
use crate::runtime::{Runtime, Workload};

/// The workloads among `found` that no instance in `configured` accounts for: a workload
/// belongs to an instance when its tenant and instance name are the instance's (Docker's
/// `--prev`/`--next` leftovers belong to their instance, and the next deploy undoes them).
pub fn orphans_among(configured: &[InstanceSpec], found: Vec<Workload>) -> Vec<Workload> {
    let known: BTreeSet<(&str, &str)> = configured
        .iter()
        .map(|i| (i.tenant.as_str(), i.name.as_str()))
        .collect();
    let mut orphans: Vec<Workload> = found
        .into_iter()
        .filter(|w| !known.contains(&(w.tenant.as_str(), w.instance.as_str())))
        .collect();
    orphans.sort_by(|a, b| (&a.tenant, &a.name).cmp(&(&b.tenant, &b.name)));
    orphans
}

/// How `hoist retire` should run.
#[derive(Debug, Clone)]
pub struct RetireOptions {
    /// Say what would be removed; take no lock, change nothing.
    pub dry_run: bool,
    pub wait: LockWait,
    pub overrides: Override,
}

/// What `hoist retire` removed (or, with `dry_run`, would remove).
#[derive(Debug, Clone, Serialize)]
pub struct RetireReport {
    pub environment: String,
    pub tenant: String,
    pub dry_run: bool,
    pub workloads: Vec<Workload>,
}

impl Deployer {
    /// The engines `environment`'s instances name, each once.
    fn hosts(instances: &[InstanceSpec]) -> Vec<String> {
        let hosts: BTreeSet<&str> = instances.iter().map(|i| i.host.as_str()).collect();
        hosts.into_iter().map(str::to_string).collect()
    }

    /// Workloads of this app in `environment` that the config does not name.
    pub async fn orphans(&self, environment: &str) -> Result<Vec<Workload>, PipelineError> {
        Ok(self
            .orphans_with_runtime(environment)
            .await?
            .into_iter()
            .map(|(_, w)| w)
            .collect())
    }

    /// [`Deployer::orphans`], each with the runtime that found it (an environment may
    /// hold instances of several kinds).
    async fn orphans_with_runtime(
        &self,
        environment: &str,
    ) -> Result<Vec<(Arc<dyn Runtime>, Workload)>, PipelineError> {
        let instances = self.instances(environment)?;
        let mut all = Vec::new();
        for (runtime, on_it) in self.runtimes_of(environment, &instances)? {
            // Each runtime looks where its own instances are (another kind's `host` is no
            // engine); the environment's runtime with none of them has nowhere to look.
            if on_it.is_empty() {
                continue;
            }
            let found = runtime
                .list(self.app_name(), environment, &Self::hosts(&on_it))
                .await?;
            for workload in orphans_among(&instances, found) {
                if !all.iter().any(|(_, w): &(_, Workload)| w == &workload) {
                    all.push((runtime.clone(), workload));
                }
            }
        }
        Ok(all)
    }

    /// After a rollout: every orphan, as an event (a warning on the terminal). A listing
    /// that fails is a warning too; it never fails the deploy.
    pub(super) async fn warn_orphans(&self, environment: &str) -> Vec<Workload> {
        match self.orphans(environment).await {
            Ok(orphans) => {
                for w in &orphans {
                    self.note(EventKind::OrphanFound {
                        tenant: w.tenant.clone(),
                        name: w.name.clone(),
                        host: w.host.clone(),
                        release: w.release.clone(),
                    });
                }
                orphans
            }
            Err(e) => {
                self.events
                    .warning(format!("could not look for orphaned instances: {e}"));
                Vec::new()
            }
        }
    }

    /// `hoist retire ENV TENANT`: stops and removes what runs for a tenant the config no
    /// longer names (its live workload and any rollout leftovers).
    pub async fn retire(
        &self,
        environment: &str,
        tenant: &str,
        options: &RetireOptions,
    ) -> Result<RetireReport, PipelineError> {
        self.scoped(environment)
            .retire_here(environment, tenant, options)
            .await
    }

    async fn retire_here(
        &self,
        environment: &str,
        tenant: &str,
        options: &RetireOptions,
    ) -> Result<RetireReport, PipelineError> {
        let instances = self.instances(environment)?;
        let of_tenant = |orphans: Vec<Workload>| -> Vec<Workload> {
            orphans.into_iter().filter(|w| w.tenant == tenant).collect()
        };
        let found = of_tenant(self.orphans(environment).await?);
        if found.is_empty() {
            return Err(self
                .nothing_to_retire(environment, tenant, &instances)
                .await);
        }
        let mut report = RetireReport {
            environment: environment.to_string(),
            tenant: tenant.to_string(),
            dry_run: options.dry_run,
            workloads: found,
        };
        if options.dry_run {
            return Ok(report);
        }
        let release = report.workloads.iter().find_map(|w| w.release.clone());
        let subject = release.clone().unwrap_or_else(|| "-".to_string());
        self.authorize_retire(environment, tenant, &subject, &options.overrides)
            .await?;
        let _lock = self
            .lock_or_refuse(environment, &subject, options.wait)
            .await?;
        // Under the lock, what runs now: a deploy may have finished meanwhile.
        let found: Vec<(Arc<dyn Runtime>, Workload)> = self
            .orphans_with_runtime(environment)
            .await?
            .into_iter()
            .filter(|(_, w)| w.tenant == tenant)
            .collect();
        report.workloads = found.iter().map(|(_, w)| w.clone()).collect();
        let mut removed = Vec::new();
        let mut failure = None;
        for (runtime, w) in &found {
            match runtime.retire(w).await {
                Ok(()) => removed.push(w.name.clone()),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        self.note(EventKind::Retired {
            tenant: tenant.to_string(),
            release,
            workloads: removed,
            error: failure.as_ref().map(ToString::to_string),
        });
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(report),
        }
    }

    /// Why there is nothing to retire for `tenant`: it is still configured, or nothing of
    /// this app runs for it here.
    async fn nothing_to_retire(
        &self,
        environment: &str,
        tenant: &str,
        instances: &[InstanceSpec],
    ) -> PipelineError {
        let config = self.config.path.display();
        if instances.iter().any(|i| i.tenant == tenant) {
            return PipelineError::Retire(format!(
                "tenant {tenant} is still configured in {environment} ({config}); hoist retires only \
                 what the config no longer names: remove its instance from \
                 [environments.{environment}] first, then run `hoist retire {environment} {tenant}`"
            ));
        }
        let others = match self.orphans(environment).await {
            Ok(orphans) if !orphans.is_empty() => {
                let tenants: BTreeSet<&str> = orphans.iter().map(|w| w.tenant.as_str()).collect();
                format!(
                    "orphaned tenants there: {}",
                    tenants.into_iter().collect::<Vec<_>>().join(", ")
                )
            }
            _ => "nothing orphaned runs there".to_string(),
        };
        PipelineError::Retire(format!(
            "nothing of {} runs for tenant {tenant} in {environment}; {others}",
            self.app_name()
        ))
    }

    /// The environment's policy for a retire: its `deployers` and its deploy windows (with
    /// `--override-window`), as for a deploy; `release_tags_only` does not apply, since a
    /// retire ships no ref.
    async fn authorize_retire(
        &self,
        environment: &str,
        tenant: &str,
        subject: &str,
        overrides: &Override,
    ) -> Result<(), PipelineError> {
        let settings = self.release_settings()?;
        let Some(policy) = settings.policies.get(environment) else {
            return Ok(());
        };
        let mut policy = policy.clone();
        policy.release_tags_only = false;
        let decision = hoist_policy::decide(
            &policy,
            &Request {
                actor: self.actor.clone(),
                git_ref: GitRef::branch(&format!("retire {tenant}")),
                now: jiff::Timestamp::now(),
                override_window: overrides.window,
                reason: overrides.reason.clone(),
            },
        );
        self.note(EventKind::PolicyDecided {
            action: "retire".to_string(),
            version: subject.to_string(),
            allowed: decision.allowed,
            overridden: decision.overridden,
            decision: serde_json::to_value(&decision).unwrap_or_default(),
        });
        if decision.allowed {
            return Ok(());
        }
        self.refused("retire", environment, subject, decision.reasons)
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn instance(tenant: &str) -> InstanceSpec {
        InstanceSpec {
            app: "clinic".into(),
            environment: "staging".into(),
            tenant: tenant.into(),
            host: "unix:///var/run/docker.sock".into(),
            name: format!("clinic-staging-{tenant}"),
            port: 8080,
            container_port: 8000,
            env: BTreeMap::new(),
            health_path: "/health".into(),
            version_path: None,
            secrets: Default::default(),
            volumes: Vec::new(),
        }
    }

    fn workload(tenant: &str, name: &str, instance: &str) -> Workload {
        Workload {
            tenant: tenant.into(),
            name: name.into(),
            instance: instance.into(),
            host: "unix:///var/run/docker.sock".into(),
            release: Some("v1".into()),
            state: "running".into(),
        }
    }

    #[test]
    fn a_removed_tenant_and_its_leftovers_are_orphans() {
        let configured = [instance("north")];
        let found = vec![
            workload("north", "clinic-staging-north", "clinic-staging-north"),
            workload(
                "north",
                "clinic-staging-north--prev",
                "clinic-staging-north",
            ),
            workload(
                "delta",
                "clinic-staging-delta--next",
                "clinic-staging-delta",
            ),
            workload("delta", "clinic-staging-delta", "clinic-staging-delta"),
        ];
        let names: Vec<String> = orphans_among(&configured, found)
            .into_iter()
            .map(|w| w.name)
            .collect();
        assert_eq!(
            names,
            ["clinic-staging-delta", "clinic-staging-delta--next"]
        );
    }

    #[test]
    fn a_renamed_instance_leaves_its_old_workload_orphaned() {
        let configured = [instance("north")];
        let found = vec![workload("north", "old-north", "old-north")];
        assert_eq!(orphans_among(&configured, found).len(), 1);
    }
}
