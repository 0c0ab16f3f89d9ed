//! `hoist prune` and the prune after each successful deploy: on the build host and every
//! engine the environments' instances use, the plan of [`crate::prune::plan_engine`] (what
//! the engine holds against what the store remembers), carried out by the wired
//! [`EnginePruner`]. A prune never fails a deploy: after a deploy, every problem is a
//! warning.

use std::collections::BTreeSet;
use std::sync::Arc;

use hoist_config::RuntimeConfig;
use serde::Serialize;

use super::{Deployer, EnvLock, LockWait, PipelineError};
use crate::Release;
use crate::events::EventKind;
use crate::prune::{
    ContainerInfo, EnginePlan, EnginePruner, History, KeepCounts, PruneDecision, PruneItem,
    PruneScope, RegistryTagSource, TagRepository, plan_engine, plan_registry_tags,
};

/// How `hoist prune` runs.
#[derive(Debug, Clone, Copy)]
pub struct PruneOptions {
    /// Say what would go; remove nothing, take no lock.
    pub dry_run: bool,
    pub wait: LockWait,
}

/// What a prune removed (or, dry, would remove), engine by engine. Its JSON is the
/// documented `hoist prune --json` output (docs/pruning.md).
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    pub dry_run: bool,
    /// The environments pruned.
    pub environments: Vec<String>,
    pub keep: KeepCounts,
    pub engines: Vec<EngineReport>,
    /// The sum of the removed images' sizes over every engine.
    pub bytes: u64,
    /// Always true: layers shared with kept images stay, so `bytes` is an upper bound.
    pub bytes_upper_bound: bool,
    /// Whether `[prune] registry_tags` asked for the registry's tags too, and what came of
    /// it (`null` when off).
    pub registry_tags: Option<String>,
    /// With `[prune] registry_tags`, one report per registry repository (the release and
    /// the base repository; `engine` is the repository, items are `tag`s).
    pub registries: Vec<EngineReport>,
}

impl PruneReport {
    /// Whether every planned removal was done (and every engine could be read).
    pub fn complete(&self) -> bool {
        self.engines
            .iter()
            .chain(&self.registries)
            .all(|e| e.error.is_none() && e.failed.is_empty())
    }
}

/// One engine's plan and what came of it.
#[derive(Debug, Clone, Serialize)]
pub struct EngineReport {
    pub engine: String,
    /// What goes (with `dry_run`, what would), containers before images.
    pub remove: Vec<PruneDecision>,
    /// What this app has there that stays, and why.
    pub keep: Vec<PruneDecision>,
    pub bytes: u64,
    /// Removals the engine refused, by item name, with its reason.
    pub failed: Vec<FailedRemoval>,
    /// The engine could not be read: nothing was planned there.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailedRemoval {
    pub name: String,
    pub error: String,
}

impl Deployer {
    /// `hoist prune [ENV]`: every environment of the config when `environment` is `None`.
    /// Takes each environment's lock (in name order) unless `dry_run`, so that no deploy
    /// of them runs meanwhile.
    pub async fn prune(
        &self,
        environment: Option<&str>,
        options: PruneOptions,
    ) -> Result<PruneReport, PipelineError> {
        let environments: Vec<String> = match environment {
            Some(name) => {
                self.environment(name)?;
                vec![name.to_string()]
            }
            None => self.config.environments.keys().cloned().collect(),
        };
        let mut locks: Vec<EnvLock> = Vec::new();
        if !options.dry_run {
            for name in &environments {
                locks.push(
                    self.scoped(name)
                        .lock_or_refuse(name, "prune", options.wait)
                        .await?,
                );
            }
        }
        let scoped = match environment {
            Some(name) => self.scoped(name),
            None => self.clone(),
        };
        let report = scoped
            .prune_environments(&environments, None, options.dry_run)
            .await;
        drop(locks);
        report
    }

    /// After a successful rollout, with the environment's lock still held: prunes as
    /// `[prune]` says, keeping `release` whatever the history. Never fails; problems are
    /// warnings.
    pub(super) async fn prune_after_deploy(&self, environment: &str, release: &Release) {
        // Components put together without a pruner (tests, embedders) prune nothing.
        if !self.config.prune.after_deploy || self.runtimes.pruner().is_none() {
            return;
        }
        match self
            .prune_environments(&[environment.to_string()], Some(release), false)
            .await
        {
            Ok(report) => {
                for engine in report.engines.iter().filter(|e| e.error.is_some()) {
                    self.events.warning(format!(
                        "prune after deploy: {}",
                        engine.error.as_deref().unwrap_or_default()
                    ));
                }
            }
            Err(e) => self
                .events
                .warning(format!("prune after deploy did not run: {e}")),
        }
    }

    async fn prune_environments(
        &self,
        environments: &[String],
        current: Option<&Release>,
        dry_run: bool,
    ) -> Result<PruneReport, PipelineError> {
        let Some((pruner, build_host)) = self.runtimes.pruner() else {
            return Err(PipelineError::Config(
                "pruning is not set up in this build (no engine pruner is wired)".into(),
            ));
        };
        let settings = self.config.prune;
        let keep = KeepCounts {
            releases: settings.keep,
            bases: settings.keep_bases,
        };
        let app = self.app_name();
        let history = History {
            deployments: self.store.deployment_summaries(app)?,
            releases: self.store.releases(app)?,
        };
        let mut images_only = BTreeSet::new();
        // The build host first (where a CI runner's disk fills), then each engine the
        // environments' instances name (a Swarm environment's manager).
        let mut engines: Vec<String> = build_host.into_iter().collect();
        for name in environments {
            let env = self.environment(name)?;
            if matches!(env.runtime, RuntimeConfig::Swarm(_)) {
                images_only.insert(name.clone());
            }
            for instance in &env.instances {
                // A cluster or a platform is no engine hoist prunes.
                let on_engine = matches!(
                    env.runtime_of(instance),
                    RuntimeConfig::Docker(_) | RuntimeConfig::Swarm(_)
                );
                if on_engine && !engines.contains(&instance.host) {
                    engines.push(instance.host.clone());
                }
            }
        }
        let scope = PruneScope {
            app: app.to_string(),
            environments: environments.iter().cloned().collect(),
            images_only,
            current: current.cloned(),
            keep,
        };
        let mut reports = Vec::new();
        let mut running = Vec::new();
        for engine in &engines {
            reports.push(
                self.prune_engine(
                    pruner.as_ref(),
                    engine,
                    &history,
                    &scope,
                    dry_run,
                    &mut running,
                )
                .await,
            );
        }
        let bytes = reports.iter().map(|r| r.bytes).sum();
        let (registries, registry_tags) = match (
            settings.registry_tags,
            self.runtimes.registry_tags(),
        ) {
            (false, _) => (Vec::new(), None),
            (true, None) => (
                Vec::new(),
                Some("not pruned: hoist.toml has no [registry]".to_string()),
            ),
            (true, Some(wiring)) => {
                // The registry serves every environment: each keeps its last N there,
                // whichever is pruned now.
                let registry_scope = PruneScope {
                    environments: self.config.environments.keys().cloned().collect(),
                    ..scope.clone()
                };
                let mut registries = Vec::new();
                for (repository, kind) in [
                    (&wiring.releases, TagRepository::Releases),
                    (&wiring.bases, TagRepository::Bases),
                ] {
                    registries.push(
                        self.prune_registry(
                            wiring.source.as_ref(),
                            repository,
                            kind,
                            &running,
                            &history,
                            &registry_scope,
                            dry_run,
                        )
                        .await,
                    );
                }
                let deleted: usize = registries.iter().map(|r| r.remove.len()).sum();
                let note = format!(
                    "{} {deleted} manifest(s) in {} and {}; the registry's garbage collection frees their bytes",
                    if dry_run { "would delete" } else { "deleted" },
                    wiring.releases,
                    wiring.bases
                );
                (registries, Some(note))
            }
        };
        Ok(PruneReport {
            dry_run,
            environments: environments.to_vec(),
            keep,
            engines: reports,
            bytes,
            bytes_upper_bound: true,
            registry_tags,
            registries,
        })
    }

    /// One registry repository's tags: listed, planned by [`plan_registry_tags`], and
    /// (unless `dry_run`) each manifest that goes deleted.
    #[allow(clippy::too_many_arguments)]
    async fn prune_registry(
        &self,
        source: &dyn RegistryTagSource,
        repository: &str,
        kind: TagRepository,
        running: &[ContainerInfo],
        history: &History,
        scope: &PruneScope,
        dry_run: bool,
    ) -> EngineReport {
        let tags = match source.list_tags(repository).await {
            Ok(tags) => tags,
            Err(e) => {
                return EngineReport {
                    engine: repository.to_string(),
                    remove: Vec::new(),
                    keep: Vec::new(),
                    bytes: 0,
                    failed: Vec::new(),
                    error: Some(format!("cannot list the tags of {repository}: {e}")),
                };
            }
        };
        let EnginePlan { remove, keep, .. } =
            plan_registry_tags(repository, kind, &tags, running, history, scope);
        let mut failed = Vec::new();
        if !dry_run {
            for decision in &remove {
                if let PruneItem::Tag { digest, .. } = &decision.item
                    && let Err(e) = source.delete_manifest(repository, digest).await
                {
                    failed.push(FailedRemoval {
                        name: decision.item.name(),
                        error: e.to_string(),
                    });
                }
            }
        }
        self.note(EventKind::Pruned {
            engine: repository.to_string(),
            dry_run,
            removed: remove
                .iter()
                .map(|d| d.item.name())
                .filter(|n| !failed.iter().any(|f| &f.name == n))
                .collect(),
            kept: keep.len(),
            bytes: 0,
            failed: failed
                .iter()
                .map(|f| format!("{}: {}", f.name, f.error))
                .collect(),
        });
        EngineReport {
            engine: repository.to_string(),
            remove,
            keep,
            bytes: 0,
            failed,
            error: None,
        }
    }

    async fn prune_engine(
        &self,
        pruner: &dyn EnginePruner,
        engine: &str,
        history: &History,
        scope: &PruneScope,
        dry_run: bool,
        running: &mut Vec<ContainerInfo>,
    ) -> EngineReport {
        let inventory = match pruner.inventory(engine, &scope.app).await {
            Ok(inventory) => {
                running.extend(
                    inventory
                        .containers
                        .iter()
                        .filter(|c| c.is_running())
                        .cloned(),
                );
                inventory
            }
            Err(e) => {
                return EngineReport {
                    engine: engine.to_string(),
                    remove: Vec::new(),
                    keep: Vec::new(),
                    bytes: 0,
                    failed: Vec::new(),
                    error: Some(format!("cannot read {engine}: {e}")),
                };
            }
        };
        let EnginePlan {
            remove,
            keep,
            bytes,
            ..
        } = plan_engine(&inventory, history, scope);
        let mut failed = Vec::new();
        if !dry_run {
            for decision in &remove {
                if let Err(e) = pruner.remove(engine, &decision.item).await {
                    failed.push(FailedRemoval {
                        name: decision.item.name(),
                        error: e.to_string(),
                    });
                }
            }
        }
        let removed: Vec<String> = remove
            .iter()
            .map(|d| d.item.name())
            .filter(|n| !failed.iter().any(|f| &f.name == n))
            .collect();
        let failed_bytes: u64 = remove
            .iter()
            .filter(|d| failed.iter().any(|f| f.name == d.item.name()))
            .map(|d| match &d.item {
                PruneItem::Image { size, .. } => *size,
                PruneItem::Container { .. } | PruneItem::Tag { .. } => 0,
            })
            .sum();
        let bytes = bytes.saturating_sub(failed_bytes);
        self.note(EventKind::Pruned {
            engine: engine.to_string(),
            dry_run,
            removed,
            kept: keep.len(),
            bytes,
            failed: failed
                .iter()
                .map(|f| format!("{}: {}", f.name, f.error))
                .collect(),
        });
        EngineReport {
            engine: engine.to_string(),
            remove,
            keep,
            bytes,
            failed,
            error: None,
        }
    }
}

/// A registry's tags as a prune source: the source and the app's two repositories.
#[derive(Clone)]
pub struct RegistryTagWiring {
    pub source: Arc<dyn RegistryTagSource>,
    /// `[registry] image`: release tags.
    pub releases: String,
    /// `<image>-base`: base tags.
    pub bases: String,
}

/// What the wiring hands the pipeline for pruning: the engine side, and the engine images
/// are built on (pruned first, with every environment's engines).
#[derive(Clone)]
pub struct PruneWiring {
    pub pruner: Arc<dyn EnginePruner>,
    pub build_host: Option<String>,
}
