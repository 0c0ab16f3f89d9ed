//! Pruning: which of an app's images and stopped containers an engine can lose without
//! losing what runs or what a rollback needs. A pure decision, in the shape of
//! [`crate::verify`]: what an engine holds and what the store remembers go in, a plan
//! (each item removed or kept, with the rule that decided it) comes out. Listing and
//! removing are the engine side's (`hoist-runtime-docker`'s `prune` module); the pipeline
//! (`pipeline/prune.rs`) ties the two together.
//!
//! The rules, in the order they are checked:
//!
//! - Only what carries this app's label (`dev.hoist.app`) is considered; a container also
//!   needs one of the environments being pruned (`dev.hoist.environment`). Other apps and
//!   other environments sharing the engine are never touched.
//! - An image a running container uses (any container, of any app) stays.
//! - The current release stays, and so do the last N successful releases of *every*
//!   environment of the app (a shared build host holds staging's and production's).
//! - A release image the store does not attribute to an environment being pruned stays:
//!   one never deployed (a `hoist build`, a deploy still building) or deployed only to
//!   environments not pruned now.
//! - A base image stays when its fingerprint is among the last M the app's releases used,
//!   when a kept release was built on it (removing it would free nothing: the release
//!   shares its layers), or when the store knows no release of its fingerprint.
//! - A stopped container of a pruned environment goes unless it ran one of that
//!   environment's last N releases or is a rollout's leftover (`--prev`, `--next`), which
//!   the next deploy needs to recover. Swarm environments' containers are their
//!   services' tasks: only images are pruned there.
//! - An image a container that stays still uses stays (the engine would refuse anyway).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::Serialize;

use crate::Release;
use crate::backend::BackendError;
use crate::labels;
use crate::store::DeploymentOutcome;

/// How much pruning keeps (`[prune] keep` and `keep_bases`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeepCounts {
    /// Successful releases kept per environment, newest first (N).
    pub releases: usize,
    /// Base images kept for the newest fingerprints the app's releases used (M).
    pub bases: usize,
}

/// An image as an engine lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// The engine's image id (`sha256:…`).
    pub id: String,
    /// `repository:tag` references.
    pub tags: Vec<String>,
    /// `repository@sha256:…` references (images pulled from, or pushed to, a registry).
    pub digests: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Bytes, shared layers included.
    pub size: u64,
}

/// A container as an engine lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    /// The id of the image it was created from.
    pub image_id: String,
    /// The engine's word: `running`, `exited`, `created`, `paused`, `restarting`, `dead`.
    pub state: String,
    pub labels: BTreeMap<String, String>,
}

impl ContainerInfo {
    /// Whether it runs (or may run again by itself): such a container and its image stay.
    pub fn is_running(&self) -> bool {
        !matches!(self.state.as_str(), "exited" | "created" | "dead")
    }
}

/// What one engine holds: the app's images and every container (of any app, since any
/// running container keeps its image).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineInventory {
    /// The engine's address.
    pub engine: String,
    pub images: Vec<ImageInfo>,
    pub containers: Vec<ContainerInfo>,
}

/// One deployment as prune needs it ([`crate::Store::deployment_summaries`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentSummary {
    pub id: i64,
    pub environment: String,
    pub version: String,
    /// The image it rolled out.
    pub image_id: String,
    /// Its manifest digest, when known.
    pub digest: Option<String>,
    pub outcome: DeploymentOutcome,
}

/// What the store remembers of the app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Every deployment of the app, in every environment, newest first.
    pub deployments: Vec<DeploymentSummary>,
    /// The app's releases, newest first ([`crate::Store::releases`]).
    pub releases: Vec<Release>,
}

/// What is being pruned and how much is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneScope {
    pub app: String,
    /// The environments being pruned: their old images and stopped containers may go.
    pub environments: BTreeSet<String>,
    /// Of those, the ones whose containers belong to their runtime (Swarm tasks): only
    /// their images are pruned.
    pub images_only: BTreeSet<String>,
    /// The release just rolled out (the prune after a deploy), kept whatever the counts.
    pub current: Option<Release>,
    pub keep: KeepCounts,
}

/// Where pruned things live.
///
/// Engines, and with `[prune] registry_tags` (off by default) the registry's release and
/// base repositories, through a [`RegistryTagSource`]: a tag is decided like an image, by
/// its manifest digest ([`plan_registry_tags`]). Deleting a manifest frees nothing by
/// itself: the registry's garbage collection frees the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PruneTarget {
    /// A Docker engine, by address.
    Engine { address: String },
    /// A repository in an OCI registry.
    RegistryTags { repository: String },
}

/// A registry's tags, as a prune source: what the registry client offers for it
/// (`hoist-app` adapts `hoist_registry::Client`); see [`PruneTarget::RegistryTags`].
#[async_trait]
pub trait RegistryTagSource: Send + Sync {
    /// Each tag of `repository` with the digest of the manifest it names.
    async fn list_tags(&self, repository: &str) -> Result<Vec<(String, String)>, BackendError>;
    /// Deletes the manifest `digest` (and so the tags naming it) from `repository`.
    async fn delete_manifest(&self, repository: &str, digest: &str) -> Result<(), BackendError>;
}

/// The engine side of pruning: lists what an engine holds and removes one item of a plan.
/// `hoist-runtime-docker` implements it for Docker engines (Swarm managers included); the
/// wiring hands it to the pipeline with [`crate::pipeline::Runtimes::set_pruner`].
#[async_trait]
pub trait EnginePruner: Send + Sync {
    /// The images labelled with `app`, and every container (of any app).
    async fn inventory(&self, engine: &str, app: &str) -> Result<EngineInventory, BackendError>;
    /// Removes one item the plan says goes: a stopped container, or an image (by each of
    /// its tags, then by id), never forcing, so the engine still refuses to remove what a
    /// container started meanwhile uses. One already gone is no error.
    async fn remove(&self, engine: &str, item: &PruneItem) -> Result<(), BackendError>;
}

/// Something a plan decides about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PruneItem {
    Image {
        id: String,
        tags: Vec<String>,
        /// Bytes, shared layers included.
        size: u64,
        /// Its release version (`org.opencontainers.image.version`); `None` for a base.
        version: Option<String>,
        fingerprint: Option<String>,
    },
    Container {
        id: String,
        name: String,
        image_id: String,
        state: String,
        environment: String,
        release: Option<String>,
    },
    /// A manifest in a registry repository and the tags naming it (deleting the manifest
    /// deletes them all).
    Tag {
        /// The manifest digest (`sha256:…`).
        digest: String,
        /// `repository:tag` references.
        tags: Vec<String>,
        version: Option<String>,
        fingerprint: Option<String>,
    },
}

impl PruneItem {
    /// How the item is named in messages: the container's name, the image's first tag
    /// (else its short id).
    pub fn name(&self) -> String {
        match self {
            PruneItem::Image { id, tags, .. } => tags
                .first()
                .cloned()
                .unwrap_or_else(|| short_id(id).to_string()),
            PruneItem::Container { name, .. } => name.clone(),
            PruneItem::Tag { digest, tags, .. } => tags
                .first()
                .cloned()
                .unwrap_or_else(|| short_id(digest).to_string()),
        }
    }
    /// `image` or `container`.
    pub fn kind(&self) -> &'static str {
        match self {
            PruneItem::Image { .. } => "image",
            PruneItem::Container { .. } => "container",
            PruneItem::Tag { .. } => "tag",
        }
    }
    fn image_size(&self) -> u64 {
        match self {
            PruneItem::Image { size, .. } => *size,
            PruneItem::Container { .. } | PruneItem::Tag { .. } => 0,
        }
    }
}

/// The rule that decided an item. The first group removes, the rest keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum PruneReason {
    /// A release image that nothing runs and no environment's last N releases include.
    OldRelease {
        version: Option<String>,
        /// The environments it was deployed to.
        environments: Vec<String>,
    },
    /// A base image of a fingerprint older than the last M, which no kept release uses.
    OldBase { fingerprint: String },
    /// A stopped container of a release that is not among its environment's last N.
    StoppedContainer { release: Option<String> },

    /// Used by running containers (of any app).
    Running { containers: Vec<String> },
    /// The release just rolled out.
    CurrentRelease { version: String },
    /// One of an environment's last N successful releases (`rank` 1 is the newest).
    RecentRelease {
        environment: String,
        version: String,
        rank: usize,
    },
    /// A deployment of it is still running.
    DeployInProgress {
        environment: String,
        version: String,
    },
    /// Deployed only to environments not pruned now.
    OtherEnvironments { environments: Vec<String> },
    /// No deployment of the app ever used it: a `hoist build`, or a deploy still building.
    NeverDeployed,
    /// A container that stays uses it.
    UsedByContainer { container: String },
    /// Its fingerprint is among the last M the app's releases used (`rank` 1 is newest).
    RecentBase { fingerprint: String, rank: usize },
    /// A kept release was built on it; its layers are the release's, so removing it would
    /// free nothing.
    BaseOfKeptRelease {
        fingerprint: String,
        version: String,
    },
    /// The store knows no release built on this fingerprint (another state database's, or
    /// a base whose release is still building).
    UnknownFingerprint { fingerprint: String },
    /// A `--prev` or `--next` container of an interrupted rollout: the next deploy of its
    /// environment recovers it.
    RolloutLeftover { role: String },
    /// Labelled with the app but neither a release nor a base image hoist built.
    NotHoists,
}

impl PruneReason {
    /// Whether the rule removes the item.
    pub fn removes(&self) -> bool {
        matches!(
            self,
            Self::OldRelease { .. } | Self::OldBase { .. } | Self::StoppedContainer { .. }
        )
    }

    /// The reason in words, for the CLI and warnings.
    pub fn describe(&self) -> String {
        match self {
            Self::OldRelease {
                version,
                environments,
            } => format!(
                "release {} is not among the kept releases of {} and nothing runs it",
                version.as_deref().unwrap_or("(unlabelled)"),
                list_or(environments, "any environment")
            ),
            Self::OldBase { fingerprint } => format!(
                "base of fingerprint {} is older than the kept fingerprints and no kept release uses it",
                short_fp(fingerprint)
            ),
            Self::StoppedContainer { release } => format!(
                "stopped, and its release {} is not among the environment's kept releases",
                release.as_deref().unwrap_or("(unlabelled)")
            ),
            Self::Running { containers } => format!("used by running {}", containers.join(", ")),
            Self::CurrentRelease { version } => format!("the current release {version}"),
            Self::RecentRelease {
                environment,
                version,
                rank,
            } => format!("{version} is {environment}'s release #{rank} (kept for rollback)"),
            Self::DeployInProgress {
                environment,
                version,
            } => format!("a deployment of {version} to {environment} is running"),
            Self::OtherEnvironments { environments } => format!(
                "deployed only to {}, not pruned now",
                environments.join(", ")
            ),
            Self::NeverDeployed => "never deployed (built, or still building)".to_string(),
            Self::UsedByContainer { container } => {
                format!("used by the kept container {container}")
            }
            Self::RecentBase { fingerprint, rank } => format!(
                "base of fingerprint {} (#{rank} newest)",
                short_fp(fingerprint)
            ),
            Self::BaseOfKeptRelease {
                fingerprint,
                version,
            } => format!(
                "base of fingerprint {} under the kept release {version}",
                short_fp(fingerprint)
            ),
            Self::UnknownFingerprint { fingerprint } => format!(
                "no recorded release uses fingerprint {}",
                short_fp(fingerprint)
            ),
            Self::RolloutLeftover { role } => format!(
                "the {role} container of an interrupted rollout; the next deploy recovers it"
            ),
            Self::NotHoists => "not a release or base image hoist built".to_string(),
        }
    }
}

/// One item and what was decided for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneDecision {
    #[serde(flatten)]
    pub item: PruneItem,
    pub reason: PruneReason,
}

/// What prune does on one engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnginePlan {
    pub target: PruneTarget,
    /// In removal order: containers, then release images, then base images.
    pub remove: Vec<PruneDecision>,
    pub keep: Vec<PruneDecision>,
    /// The sum of the removed images' sizes: an upper bound of what is freed, since
    /// layers shared with kept images stay.
    pub bytes: u64,
}

impl EnginePlan {
    pub fn engine(&self) -> &str {
        match &self.target {
            PruneTarget::Engine { address } => address,
            PruneTarget::RegistryTags { repository } => repository,
        }
    }
}

/// What the store's history protects, computed once for every engine.
struct Protection {
    /// By image id and by manifest digest: the reason it stays.
    images: BTreeMap<String, PruneReason>,
    /// Per environment: the versions its containers may keep running.
    versions: BTreeMap<String, BTreeSet<String>>,
    /// Image id → the environments it was deployed to.
    deployed_to: BTreeMap<String, BTreeSet<String>>,
    /// Version → the environments it was deployed to.
    version_deployed_to: BTreeMap<String, BTreeSet<String>>,
    /// Fingerprint → its rank, 0 newest, among the app's releases.
    fingerprint_rank: BTreeMap<String, usize>,
    /// Fingerprint of a kept release → that release's version.
    kept_fingerprints: BTreeMap<String, String>,
}

impl Protection {
    fn of(history: &History, scope: &PruneScope) -> Protection {
        let mut p = Protection {
            images: BTreeMap::new(),
            versions: BTreeMap::new(),
            deployed_to: BTreeMap::new(),
            version_deployed_to: BTreeMap::new(),
            fingerprint_rank: BTreeMap::new(),
            kept_fingerprints: BTreeMap::new(),
        };
        let release_of = |version: &str| history.releases.iter().find(|r| r.version == version);
        if let Some(current) = &scope.current {
            let reason = PruneReason::CurrentRelease {
                version: current.version.clone(),
            };
            p.protect(&current.image_id, current.digest.as_deref(), &reason);
            p.kept_fingerprints
                .insert(current.fingerprint.clone(), current.version.clone());
        }
        // Each environment's last N successful releases, newest first, each version once.
        let mut ranks: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for d in &history.deployments {
            p.deployed_to
                .entry(d.image_id.clone())
                .or_default()
                .insert(d.environment.clone());
            p.version_deployed_to
                .entry(d.version.clone())
                .or_default()
                .insert(d.environment.clone());
            match d.outcome {
                DeploymentOutcome::Running => {
                    let reason = PruneReason::DeployInProgress {
                        environment: d.environment.clone(),
                        version: d.version.clone(),
                    };
                    p.protect(&d.image_id, d.digest.as_deref(), &reason);
                    if let Some(r) = release_of(&d.version) {
                        p.protect(&r.image_id, r.digest.as_deref(), &reason);
                    }
                }
                DeploymentOutcome::Succeeded => {
                    let kept = ranks.entry(&d.environment).or_default();
                    if kept.contains(&d.version.as_str()) {
                        continue;
                    }
                    if kept.len() >= scope.keep.releases {
                        continue;
                    }
                    kept.push(&d.version);
                    let reason = PruneReason::RecentRelease {
                        environment: d.environment.clone(),
                        version: d.version.clone(),
                        rank: kept.len(),
                    };
                    p.protect(&d.image_id, d.digest.as_deref(), &reason);
                    // A rollback names the version; the store's release of it is what a
                    // `--to` rollback starts.
                    if let Some(r) = release_of(&d.version) {
                        p.protect(&r.image_id, r.digest.as_deref(), &reason);
                        p.kept_fingerprints
                            .entry(r.fingerprint.clone())
                            .or_insert_with(|| r.version.clone());
                    }
                }
                DeploymentOutcome::Failed | DeploymentOutcome::Interrupted => {}
            }
        }
        for (environment, versions) in ranks {
            p.versions.insert(
                environment.to_string(),
                versions.into_iter().map(str::to_string).collect(),
            );
        }
        if let Some(current) = &scope.current {
            for environment in &scope.environments {
                p.versions
                    .entry(environment.clone())
                    .or_default()
                    .insert(current.version.clone());
            }
        }
        for r in &history.releases {
            let next = p.fingerprint_rank.len();
            p.fingerprint_rank
                .entry(r.fingerprint.clone())
                .or_insert(next);
        }
        p
    }

    /// Keeps the image by id and digest; the first reason found stays.
    fn protect(&mut self, image_id: &str, digest: Option<&str>, reason: &PruneReason) {
        for key in std::iter::once(image_id).chain(digest) {
            if !key.is_empty() {
                self.images
                    .entry(key.to_string())
                    .or_insert_with(|| reason.clone());
            }
        }
    }

    fn protected(&self, image: &ImageInfo) -> Option<&PruneReason> {
        self.images.get(&image.id).or_else(|| {
            image
                .digests
                .iter()
                .filter_map(|d| d.rsplit_once('@').map(|(_, digest)| digest))
                .find_map(|digest| self.images.get(digest))
        })
    }
}

/// The plan for one engine: what goes, what stays, and why.
pub fn plan_engine(
    inventory: &EngineInventory,
    history: &History,
    scope: &PruneScope,
) -> EnginePlan {
    let protection = Protection::of(history, scope);
    let mut remove = Vec::new();
    let mut keep = Vec::new();

    // Containers first: which stay decides which images a container still needs.
    let mut staying: Vec<&ContainerInfo> = Vec::new();
    for c in &inventory.containers {
        match decide_container(c, scope, &protection) {
            None => staying.push(c),
            Some(decision) => {
                if decision.reason.removes() {
                    remove.push(decision);
                } else {
                    staying.push(c);
                    keep.push(decision);
                }
            }
        }
    }

    for image in &inventory.images {
        if image.labels.get(labels::APP) != Some(&scope.app) {
            continue;
        }
        let reason = decide_image(image, &inventory.containers, &staying, scope, &protection);
        let decision = PruneDecision {
            item: image_item(image),
            reason,
        };
        if decision.reason.removes() {
            remove.push(decision);
        } else {
            keep.push(decision);
        }
    }
    // Containers before the images they use, release images before the bases they may
    // have been built on (an engine refuses to remove an image with dependent children).
    remove.sort_by_key(|d| removal_order(&d.item));
    let bytes = remove.iter().map(|d| d.item.image_size()).sum();
    EnginePlan {
        target: PruneTarget::Engine {
            address: inventory.engine.clone(),
        },
        remove,
        keep,
        bytes,
    }
}

/// Which of the app's registry repositories tags come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagRepository {
    /// `<image>`: release tags (the release's version, as its image tag).
    Releases,
    /// `<image>-base`: `fp-<16 hex>` tags of base images.
    Bases,
}

/// The plan for a registry repository's tags (`tags`: each tag with the manifest digest it
/// names), by the engines' rules: a manifest is a release image or a base image of the
/// app, matched to the store's releases by digest (a release tag also by its version,
/// a base tag by its fingerprint). `running` are the running containers of the engines
/// just read: the release whose image one of them runs keeps its manifest. Anything the
/// store cannot attribute stays (`never_deployed`, `unknown_fingerprint`, `not_hoists`).
///
/// The registry serves every environment, so `scope.environments` should be all of the
/// app's: each keeps its last N releases there whichever environment is pruned.
pub fn plan_registry_tags(
    repository: &str,
    kind: TagRepository,
    tags: &[(String, String)],
    running: &[ContainerInfo],
    history: &History,
    scope: &PruneScope,
) -> EnginePlan {
    let mut by_digest: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (tag, digest) in tags {
        by_digest.entry(digest).or_default().push(tag);
    }
    let images: Vec<ImageInfo> = by_digest
        .into_iter()
        .map(|(digest, tags)| {
            let mut labels = BTreeMap::from([(labels::APP.to_string(), scope.app.clone())]);
            match kind {
                TagRepository::Releases => {
                    let release = history
                        .releases
                        .iter()
                        .find(|r| r.digest.as_deref() == Some(digest))
                        .or_else(|| {
                            history.releases.iter().find(|r| {
                                tags.contains(&crate::version::image_tag(&r.version).as_str())
                            })
                        });
                    let version =
                        release.map_or_else(|| tags[0].to_string(), |r| r.version.clone());
                    labels.insert(labels::VERSION.to_string(), version);
                }
                TagRepository::Bases => {
                    if let Some(prefix) = tags.iter().find_map(|t| t.strip_prefix("fp-")) {
                        let fingerprint = history
                            .releases
                            .iter()
                            .find(|r| r.fingerprint.starts_with(prefix))
                            .map_or_else(|| prefix.to_string(), |r| r.fingerprint.clone());
                        labels.insert(labels::FINGERPRINT.to_string(), fingerprint);
                    }
                }
            }
            ImageInfo {
                id: digest.to_string(),
                tags: tags.iter().map(|t| format!("{repository}:{t}")).collect(),
                digests: vec![format!("{repository}@{digest}")],
                labels,
                size: 0,
            }
        })
        .collect();
    // What engines run, by the digest of the release whose image it is.
    let containers: Vec<ContainerInfo> = running
        .iter()
        .filter(|c| c.is_running())
        .flat_map(|c| {
            history
                .releases
                .iter()
                .filter(|r| r.image_id == c.image_id)
                .filter_map(|r| r.digest.clone())
                .map(|digest| ContainerInfo {
                    image_id: digest,
                    ..c.clone()
                })
        })
        .collect();
    let inventory = EngineInventory {
        engine: repository.to_string(),
        images,
        containers,
    };
    let mut plan = plan_engine(&inventory, history, scope);
    plan.target = PruneTarget::RegistryTags {
        repository: repository.to_string(),
    };
    for decision in plan.remove.iter_mut().chain(plan.keep.iter_mut()) {
        if let PruneItem::Image {
            id,
            tags,
            version,
            fingerprint,
            ..
        } = &decision.item
        {
            decision.item = PruneItem::Tag {
                digest: id.clone(),
                tags: tags.clone(),
                version: version.clone(),
                fingerprint: fingerprint.clone(),
            };
        }
    }
    plan
}

/// `None` for a container prune does not consider at all (another app's or environment's,
/// a running one, a Swarm task, a lock).
fn decide_container(
    c: &ContainerInfo,
    scope: &PruneScope,
    protection: &Protection,
) -> Option<PruneDecision> {
    if c.labels.get(labels::APP) != Some(&scope.app) || c.is_running() {
        return None;
    }
    let environment = c.labels.get(labels::ENVIRONMENT)?;
    if !scope.environments.contains(environment)
        || scope.images_only.contains(environment)
        || c.labels.contains_key("com.docker.swarm.task.id")
        || c.labels.contains_key(crate::target_lock::HOLDER_LABEL)
    {
        return None;
    }
    let release = c.labels.get(labels::RELEASE).cloned();
    let role = c.labels.get(labels::ROLE).map(String::as_str);
    let reason = match role {
        Some(role @ ("previous" | "candidate")) => PruneReason::RolloutLeftover {
            role: role.to_string(),
        },
        _ => match &release {
            Some(version)
                if protection
                    .versions
                    .get(environment)
                    .is_some_and(|kept| kept.contains(version)) =>
            {
                let rank = protection
                    .images
                    .values()
                    .find_map(|r| match r {
                        PruneReason::RecentRelease {
                            environment: e,
                            version: v,
                            rank,
                        } if e == environment && v == version => Some(*rank),
                        _ => None,
                    })
                    .unwrap_or(1);
                match &scope.current {
                    Some(current) if &current.version == version => PruneReason::CurrentRelease {
                        version: version.clone(),
                    },
                    _ => PruneReason::RecentRelease {
                        environment: environment.clone(),
                        version: version.clone(),
                        rank,
                    },
                }
            }
            _ => PruneReason::StoppedContainer {
                release: release.clone(),
            },
        },
    };
    Some(PruneDecision {
        item: PruneItem::Container {
            id: c.id.clone(),
            name: c.name.clone(),
            image_id: c.image_id.clone(),
            state: c.state.clone(),
            environment: environment.clone(),
            release,
        },
        reason,
    })
}

fn decide_image(
    image: &ImageInfo,
    all_containers: &[ContainerInfo],
    staying: &[&ContainerInfo],
    scope: &PruneScope,
    protection: &Protection,
) -> PruneReason {
    let running: Vec<String> = all_containers
        .iter()
        .filter(|c| c.is_running() && c.image_id == image.id)
        .map(|c| c.name.clone())
        .collect();
    if !running.is_empty() {
        return PruneReason::Running {
            containers: running,
        };
    }
    if let Some(reason) = protection.protected(image) {
        return reason.clone();
    }
    let version = image.labels.get(labels::VERSION);
    let fingerprint = image.labels.get(labels::FINGERPRINT);
    let used_by =
        staying
            .iter()
            .find(|c| c.image_id == image.id)
            .map(|c| PruneReason::UsedByContainer {
                container: c.name.clone(),
            });
    match (version, fingerprint) {
        (Some(version), _) => {
            let mut environments: BTreeSet<String> = protection
                .deployed_to
                .get(&image.id)
                .cloned()
                .unwrap_or_default();
            if let Some(by_version) = protection.version_deployed_to.get(version) {
                environments.extend(by_version.iter().cloned());
            }
            if environments.is_empty() {
                return PruneReason::NeverDeployed;
            }
            if environments.is_disjoint(&scope.environments) {
                return PruneReason::OtherEnvironments {
                    environments: environments.into_iter().collect(),
                };
            }
            if let Some(reason) = used_by {
                return reason;
            }
            PruneReason::OldRelease {
                version: Some(version.clone()),
                environments: environments.into_iter().collect(),
            }
        }
        (None, Some(fingerprint)) => {
            let Some(&rank) = protection.fingerprint_rank.get(fingerprint) else {
                return PruneReason::UnknownFingerprint {
                    fingerprint: fingerprint.clone(),
                };
            };
            if rank < scope.keep.bases {
                return PruneReason::RecentBase {
                    fingerprint: fingerprint.clone(),
                    rank: rank + 1,
                };
            }
            if let Some(version) = protection.kept_fingerprints.get(fingerprint) {
                return PruneReason::BaseOfKeptRelease {
                    fingerprint: fingerprint.clone(),
                    version: version.clone(),
                };
            }
            if let Some(reason) = used_by {
                return reason;
            }
            PruneReason::OldBase {
                fingerprint: fingerprint.clone(),
            }
        }
        (None, None) => PruneReason::NotHoists,
    }
}

fn removal_order(item: &PruneItem) -> u8 {
    match item {
        PruneItem::Container { .. } | PruneItem::Tag { .. } => 0,
        PruneItem::Image {
            version: Some(_), ..
        } => 1,
        PruneItem::Image { .. } => 2,
    }
}

fn image_item(image: &ImageInfo) -> PruneItem {
    PruneItem::Image {
        id: image.id.clone(),
        tags: image.tags.clone(),
        size: image.size,
        version: image.labels.get(labels::VERSION).cloned(),
        fingerprint: image.labels.get(labels::FINGERPRINT).cloned(),
    }
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

fn short_fp(fingerprint: &str) -> &str {
    fingerprint.get(..16).unwrap_or(fingerprint)
}

fn list_or(items: &[String], none: &str) -> String {
    if items.is_empty() {
        none.to_string()
    } else {
        items.join(", ")
    }
}

/// `1.2 MB`, `340 kB`, `512 B`: decimal units, as `docker images` shows sizes.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = u;
    }
    format!("{value:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "clinic";

    fn release(version: &str, fingerprint: &str) -> Release {
        Release {
            app: APP.into(),
            version: version.into(),
            commit: "c0ffee".into(),
            image: format!("clinic:{version}"),
            image_id: image_id(version),
            digest: None,
            fingerprint: fingerprint.into(),
            base_image: format!("clinic-base:fp-{fingerprint}"),
            created_by: "alice".into(),
            created_at: "2026-12-05T10:00:00Z".into(),
        }
    }

    fn image_id(version: &str) -> String {
        format!("sha256:{version}")
    }

    fn app_image(version: &str, fingerprint: &str) -> ImageInfo {
        ImageInfo {
            id: image_id(version),
            tags: vec![format!("clinic:{version}")],
            digests: vec![],
            labels: BTreeMap::from([
                (labels::APP.into(), APP.into()),
                (labels::VERSION.into(), version.into()),
                (labels::FINGERPRINT.into(), fingerprint.into()),
            ]),
            size: 1000,
        }
    }

    fn base_image(fingerprint: &str) -> ImageInfo {
        ImageInfo {
            id: format!("sha256:base-{fingerprint}"),
            tags: vec![format!("clinic-base:fp-{fingerprint}")],
            digests: vec![],
            labels: BTreeMap::from([
                (labels::APP.into(), APP.into()),
                (labels::FINGERPRINT.into(), fingerprint.into()),
            ]),
            size: 50_000,
        }
    }

    fn container(name: &str, environment: &str, version: &str, state: &str) -> ContainerInfo {
        ContainerInfo {
            id: format!("id-{name}"),
            name: name.into(),
            image_id: image_id(version),
            state: state.into(),
            labels: BTreeMap::from([
                (labels::APP.into(), APP.into()),
                (labels::ENVIRONMENT.into(), environment.into()),
                (labels::TENANT.into(), "north".into()),
                (labels::RELEASE.into(), version.into()),
                (labels::ROLE.into(), "live".into()),
            ]),
        }
    }

    fn deployment(
        id: i64,
        environment: &str,
        version: &str,
        outcome: DeploymentOutcome,
    ) -> DeploymentSummary {
        DeploymentSummary {
            id,
            environment: environment.into(),
            version: version.into(),
            image_id: image_id(version),
            digest: None,
            outcome,
        }
    }

    /// Deployments given oldest first; the history holds them newest first.
    fn history(
        deployments: &[(&str, &str, DeploymentOutcome)],
        fingerprints: &[(&str, &str)],
    ) -> History {
        let mut ds: Vec<DeploymentSummary> = deployments
            .iter()
            .enumerate()
            .map(|(i, (e, v, o))| deployment(i as i64 + 1, e, v, *o))
            .collect();
        ds.reverse();
        let mut releases: Vec<Release> =
            fingerprints.iter().map(|(v, fp)| release(v, fp)).collect();
        releases.reverse();
        History {
            deployments: ds,
            releases,
        }
    }

    fn scope(environments: &[&str], keep: usize, bases: usize) -> PruneScope {
        PruneScope {
            app: APP.into(),
            environments: environments.iter().map(|e| e.to_string()).collect(),
            images_only: BTreeSet::new(),
            current: None,
            keep: KeepCounts {
                releases: keep,
                bases,
            },
        }
    }

    fn inventory(images: Vec<ImageInfo>, containers: Vec<ContainerInfo>) -> EngineInventory {
        EngineInventory {
            engine: "unix:///var/run/docker.sock".into(),
            images,
            containers,
        }
    }

    fn removed(plan: &EnginePlan) -> Vec<String> {
        plan.remove.iter().map(|d| d.item.name()).collect()
    }

    fn reason_for<'a>(plan: &'a EnginePlan, name: &str) -> &'a PruneReason {
        &plan
            .keep
            .iter()
            .chain(&plan.remove)
            .find(|d| d.item.name() == name)
            .unwrap_or_else(|| panic!("{name} is not in the plan: {plan:#?}"))
            .reason
    }

    use DeploymentOutcome::{Failed, Running as InProgress, Succeeded};

    fn four_staging_releases() -> History {
        history(
            &[
                ("staging", "v1", Succeeded),
                ("staging", "v2", Succeeded),
                ("staging", "v3", Succeeded),
                ("staging", "v4", Succeeded),
            ],
            &[("v1", "fa"), ("v2", "fa"), ("v3", "fb"), ("v4", "fb")],
        )
    }

    #[test]
    fn the_last_n_successful_releases_stay_and_older_ones_go() {
        let inv = inventory(
            ["v1", "v2", "v3", "v4"]
                .iter()
                .map(|v| app_image(v, "fa"))
                .collect(),
            vec![],
        );
        let plan = plan_engine(&inv, &four_staging_releases(), &scope(&["staging"], 2, 2));
        assert_eq!(removed(&plan), ["clinic:v1", "clinic:v2"]);
        assert_eq!(
            reason_for(&plan, "clinic:v4"),
            &PruneReason::RecentRelease {
                environment: "staging".into(),
                version: "v4".into(),
                rank: 1
            }
        );
        assert!(matches!(
            reason_for(&plan, "clinic:v1"),
            PruneReason::OldRelease { environments, .. } if environments == &["staging".to_string()]
        ));
        assert_eq!(plan.bytes, 2000);
    }

    #[test]
    fn a_redeployed_version_counts_once() {
        let h = history(
            &[
                ("staging", "v1", Succeeded),
                ("staging", "v2", Succeeded),
                ("staging", "v2", Succeeded),
                ("staging", "v2", Succeeded),
            ],
            &[("v1", "fa"), ("v2", "fa")],
        );
        let inv = inventory(vec![app_image("v1", "fa"), app_image("v2", "fa")], vec![]);
        let plan = plan_engine(&inv, &h, &scope(&["staging"], 2, 2));
        assert!(removed(&plan).is_empty(), "{plan:#?}");
    }

    #[test]
    fn failed_deployments_are_not_among_the_kept_releases() {
        let h = history(
            &[
                ("staging", "v1", Succeeded),
                ("staging", "v2", Failed),
                ("staging", "v3", Failed),
            ],
            &[("v1", "fa"), ("v2", "fa"), ("v3", "fa")],
        );
        let inv = inventory(
            vec![
                app_image("v1", "fa"),
                app_image("v2", "fa"),
                app_image("v3", "fa"),
            ],
            vec![],
        );
        let plan = plan_engine(&inv, &h, &scope(&["staging"], 1, 2));
        assert_eq!(removed(&plan), ["clinic:v2", "clinic:v3"]);
    }

    #[test]
    fn another_environments_last_n_stay_on_a_shared_host() {
        let h = history(
            &[
                ("production", "v1", Succeeded),
                ("staging", "v1", Succeeded),
                ("staging", "v2", Succeeded),
                ("staging", "v3", Succeeded),
            ],
            &[("v1", "fa"), ("v2", "fa"), ("v3", "fa")],
        );
        let inv = inventory(
            vec![
                app_image("v1", "fa"),
                app_image("v2", "fa"),
                app_image("v3", "fa"),
            ],
            vec![],
        );
        let plan = plan_engine(&inv, &h, &scope(&["staging"], 1, 2));
        assert_eq!(removed(&plan), ["clinic:v2"]);
        assert_eq!(
            reason_for(&plan, "clinic:v1"),
            &PruneReason::RecentRelease {
                environment: "production".into(),
                version: "v1".into(),
                rank: 1
            }
        );
    }

    #[test]
    fn images_of_environments_not_pruned_stay() {
        let h = history(
            &[
                ("production", "p1", Succeeded),
                ("production", "p2", Succeeded),
                ("staging", "s1", Succeeded),
            ],
            &[("p1", "fa"), ("p2", "fa"), ("s1", "fa")],
        );
        let inv = inventory(
            vec![
                app_image("p1", "fa"),
                app_image("p2", "fa"),
                app_image("s1", "fa"),
            ],
            vec![],
        );
        let plan = plan_engine(&inv, &h, &scope(&["staging"], 1, 2));
        assert!(removed(&plan).is_empty(), "{plan:#?}");
        assert_eq!(
            reason_for(&plan, "clinic:p1"),
            &PruneReason::OtherEnvironments {
                environments: vec!["production".into()]
            }
        );
        // Pruning production itself removes it.
        let plan = plan_engine(&inv, &h, &scope(&["production"], 1, 2));
        assert_eq!(removed(&plan), ["clinic:p1"]);
    }

    #[test]
    fn other_apps_images_and_containers_are_never_considered() {
        let mut other = app_image("v1", "fa");
        other.labels.insert(labels::APP.into(), "billing".into());
        other.tags = vec!["billing:v1".into()];
        let mut unlabelled = app_image("v1", "fa");
        unlabelled.labels.clear();
        unlabelled.tags = vec!["busybox:latest".into()];
        let mut other_container = container("billing-staging-north", "staging", "v1", "exited");
        other_container
            .labels
            .insert(labels::APP.into(), "billing".into());
        let plan = plan_engine(
            &inventory(vec![other, unlabelled], vec![other_container]),
            &four_staging_releases(),
            &scope(&["staging"], 1, 1),
        );
        assert!(plan.remove.is_empty() && plan.keep.is_empty(), "{plan:#?}");
    }

    #[test]
    fn an_image_a_running_container_of_any_app_uses_stays() {
        let mut theirs = container("billing-prod-north", "production", "v1", "running");
        theirs.labels.clear();
        let plan = plan_engine(
            &inventory(vec![app_image("v1", "fa")], vec![theirs]),
            &four_staging_releases(),
            &scope(&["staging"], 1, 1),
        );
        assert_eq!(
            reason_for(&plan, "clinic:v1"),
            &PruneReason::Running {
                containers: vec!["billing-prod-north".into()]
            }
        );
    }

    #[test]
    fn the_current_release_stays_whatever_the_history() {
        let mut s = scope(&["staging"], 1, 1);
        s.current = Some(release("v1", "fa"));
        let plan = plan_engine(
            &inventory(vec![app_image("v1", "fa")], vec![]),
            &four_staging_releases(),
            &s,
        );
        assert_eq!(
            reason_for(&plan, "clinic:v1"),
            &PruneReason::CurrentRelease {
                version: "v1".into()
            }
        );
    }

    #[test]
    fn a_never_deployed_image_and_a_running_deployments_image_stay() {
        let h = history(
            &[
                ("staging", "v1", Succeeded),
                ("staging", "v2", Succeeded),
                ("staging", "v3", InProgress),
            ],
            &[("v1", "fa"), ("v2", "fa"), ("v3", "fa"), ("v9", "fa")],
        );
        let inv = inventory(
            vec![
                app_image("v1", "fa"),
                app_image("v3", "fa"),
                app_image("v9", "fa"),
            ],
            vec![],
        );
        let plan = plan_engine(&inv, &h, &scope(&["staging"], 1, 1));
        assert_eq!(removed(&plan), ["clinic:v1"]);
        assert_eq!(reason_for(&plan, "clinic:v9"), &PruneReason::NeverDeployed);
        assert!(matches!(
            reason_for(&plan, "clinic:v3"),
            PruneReason::DeployInProgress { .. }
        ));
    }

    #[test]
    fn a_pulled_image_is_recognised_by_its_digest() {
        let mut h = history(&[("staging", "v1", Succeeded)], &[("v1", "fa")]);
        h.deployments[0].digest = Some("sha256:manifest1".into());
        let mut pulled = app_image("v1", "fa");
        pulled.id = "sha256:another-engines-id".into();
        pulled.digests = vec!["registry.example.com/clinic@sha256:manifest1".into()];
        let plan = plan_engine(
            &inventory(vec![pulled], vec![]),
            &h,
            &scope(&["staging"], 1, 1),
        );
        assert!(matches!(
            reason_for(&plan, "clinic:v1"),
            PruneReason::RecentRelease { .. }
        ));
    }

    #[test]
    fn base_images_beyond_the_last_m_fingerprints_go_unless_a_kept_release_uses_them() {
        // Fingerprints newest first: fd, fc, fb, fa; the kept release v4 is built on fb.
        let h = history(
            &[
                ("staging", "v1", Succeeded),
                ("staging", "v2", Succeeded),
                ("staging", "v3", Succeeded),
                ("staging", "v4", Succeeded),
            ],
            &[
                ("v1", "fa"),
                ("v2", "fb"),
                ("v4", "fb"),
                ("v3", "fc"),
                ("v5", "fd"),
            ],
        );
        let inv = inventory(
            vec![
                base_image("fa"),
                base_image("fb"),
                base_image("fc"),
                base_image("fd"),
                base_image("fz"),
            ],
            vec![],
        );
        let plan = plan_engine(&inv, &h, &scope(&["staging"], 1, 1));
        assert_eq!(removed(&plan), ["clinic-base:fp-fa", "clinic-base:fp-fc"]);
        assert_eq!(
            reason_for(&plan, "clinic-base:fp-fd"),
            &PruneReason::RecentBase {
                fingerprint: "fd".into(),
                rank: 1
            }
        );
        assert_eq!(
            reason_for(&plan, "clinic-base:fp-fb"),
            &PruneReason::BaseOfKeptRelease {
                fingerprint: "fb".into(),
                version: "v4".into()
            }
        );
        assert_eq!(
            reason_for(&plan, "clinic-base:fp-fz"),
            &PruneReason::UnknownFingerprint {
                fingerprint: "fz".into()
            }
        );
        assert_eq!(plan.bytes, 100_000);
    }

    #[test]
    fn stopped_containers_of_old_releases_go_with_their_images() {
        let inv = inventory(
            vec![app_image("v1", "fa"), app_image("v4", "fa")],
            vec![
                container("clinic-staging-old", "staging", "v1", "exited"),
                container("clinic-staging-north", "staging", "v4", "exited"),
            ],
        );
        let plan = plan_engine(&inv, &four_staging_releases(), &scope(&["staging"], 1, 1));
        // The container is removed before its image.
        assert_eq!(removed(&plan), ["clinic-staging-old", "clinic:v1"]);
        assert!(matches!(
            reason_for(&plan, "clinic-staging-north"),
            PruneReason::RecentRelease { .. }
        ));
    }

    #[test]
    fn removal_goes_containers_then_releases_then_bases() {
        let h = history(
            &[("staging", "v1", Succeeded), ("staging", "v2", Succeeded)],
            &[("v1", "fa"), ("v2", "fb")],
        );
        let inv = inventory(
            vec![
                base_image("fa"),
                app_image("v1", "fa"),
                app_image("v2", "fb"),
            ],
            vec![container("clinic-staging-old", "staging", "v1", "exited")],
        );
        let plan = plan_engine(&inv, &h, &scope(&["staging"], 1, 1));
        assert_eq!(
            removed(&plan),
            ["clinic-staging-old", "clinic:v1", "clinic-base:fp-fa"]
        );
    }

    #[test]
    fn a_kept_stopped_container_keeps_its_image() {
        let mut leftover = container("clinic-staging-north--prev", "staging", "v1", "exited");
        leftover
            .labels
            .insert(labels::ROLE.into(), "previous".into());
        let plan = plan_engine(
            &inventory(vec![app_image("v1", "fa")], vec![leftover]),
            &four_staging_releases(),
            &scope(&["staging"], 1, 1),
        );
        assert!(plan.remove.is_empty(), "{plan:#?}");
        assert_eq!(
            reason_for(&plan, "clinic-staging-north--prev"),
            &PruneReason::RolloutLeftover {
                role: "previous".into()
            }
        );
        assert_eq!(
            reason_for(&plan, "clinic:v1"),
            &PruneReason::UsedByContainer {
                container: "clinic-staging-north--prev".into()
            }
        );
    }

    #[test]
    fn containers_of_other_environments_swarm_tasks_running_ones_and_locks_are_left_alone() {
        let mut task = container("clinic-prod-north.1.abc", "production", "v1", "exited");
        task.labels
            .insert("com.docker.swarm.task.id".into(), "abc".into());
        let mut lock = container("hoist-lock-clinic-staging", "staging", "v1", "created");
        lock.labels
            .insert(crate::target_lock::HOLDER_LABEL.into(), "{}".into());
        let inv = inventory(
            vec![],
            vec![
                container("clinic-production-north", "production", "v1", "exited"),
                container("clinic-staging-north", "staging", "v1", "running"),
                task,
                lock,
            ],
        );
        let plan = plan_engine(
            &inv,
            &four_staging_releases(),
            &scope(&["staging", "production"], 1, 1),
        );
        assert_eq!(removed(&plan), ["clinic-production-north"]);
        let mut s = scope(&["staging", "production"], 1, 1);
        s.images_only.insert("production".into());
        let plan = plan_engine(&inv, &four_staging_releases(), &s);
        assert!(plan.remove.is_empty(), "{plan:#?}");
    }

    #[test]
    fn labelled_images_hoist_did_not_build_stay() {
        let mut odd = app_image("v1", "fa");
        odd.labels.remove(labels::VERSION);
        odd.labels.remove(labels::FINGERPRINT);
        let plan = plan_engine(
            &inventory(vec![odd], vec![]),
            &four_staging_releases(),
            &scope(&["staging"], 1, 1),
        );
        assert_eq!(reason_for(&plan, "clinic:v1"), &PruneReason::NotHoists);
    }

    #[test]
    fn the_plan_serialises_with_its_rule_names() {
        let plan = plan_engine(
            &inventory(vec![app_image("v1", "fa")], vec![]),
            &four_staging_releases(),
            &scope(&["staging"], 1, 1),
        );
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["target"]["kind"], "engine");
        assert_eq!(json["remove"][0]["type"], "image");
        assert_eq!(json["remove"][0]["reason"]["rule"], "old_release");
        assert_eq!(json["bytes"], 1000);
    }

    #[test]
    fn sizes_read_like_dockers() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1_234_567), "1.2 MB");
        assert_eq!(human_bytes(4_300_000_000), "4.3 GB");
    }

    /// The history with every release pushed: digest `sha256:m-<version>`.
    fn pushed(mut h: History) -> History {
        for r in &mut h.releases {
            r.digest = Some(format!("sha256:m-{}", r.version));
        }
        for d in &mut h.deployments {
            d.digest = Some(format!("sha256:m-{}", d.version));
        }
        h
    }

    const REPO: &str = "registry.example.com/clinic";

    fn tag(tag: &str, digest: &str) -> (String, String) {
        (tag.to_string(), digest.to_string())
    }

    #[test]
    fn registry_tags_keep_each_environments_last_n_and_delete_older_manifests() {
        let h = pushed(history(
            &[
                ("staging", "v1", Succeeded),
                ("staging", "v2", Succeeded),
                ("production", "v1", Succeeded),
                ("staging", "v3", Succeeded),
            ],
            &[("v1", "fp1"), ("v2", "fp1"), ("v3", "fp1"), ("v4", "fp1")],
        ));
        let tags = [
            tag("v1", "sha256:m-v1"),
            tag("v2", "sha256:m-v2"),
            tag("v3", "sha256:m-v3"),
            tag("v4", "sha256:m-v4"),
            tag("latest", "sha256:m-v3"),
            tag("hand-pushed", "sha256:other"),
        ];
        let plan = plan_registry_tags(
            REPO,
            TagRepository::Releases,
            &tags,
            &[],
            &h,
            &scope(&["staging", "production"], 1, 1),
        );
        assert_eq!(
            plan.target,
            PruneTarget::RegistryTags {
                repository: REPO.into()
            }
        );
        // v2 is neither staging's newest nor production's.
        assert_eq!(removed(&plan), [format!("{REPO}:v2")]);
        assert!(matches!(
            &plan.remove[0].item,
            PruneItem::Tag { digest, .. } if digest == "sha256:m-v2"
        ));
        assert!(matches!(
            reason_for(&plan, &format!("{REPO}:v1")),
            PruneReason::RecentRelease { environment, .. } if environment == "production"
        ));
        // Two tags on one manifest are one item, kept for its release.
        let v3 = plan
            .keep
            .iter()
            .find(|d| d.item.name() == format!("{REPO}:v3"))
            .unwrap();
        assert!(matches!(
            &v3.item,
            PruneItem::Tag { tags, .. } if tags == &[format!("{REPO}:v3"), format!("{REPO}:latest")]
        ));
        assert!(matches!(
            &v3.reason,
            PruneReason::RecentRelease { version, .. } if version == "v3"
        ));
        assert_eq!(
            reason_for(&plan, &format!("{REPO}:v4")),
            &PruneReason::NeverDeployed
        );
        assert_eq!(
            reason_for(&plan, &format!("{REPO}:hand-pushed")),
            &PruneReason::NeverDeployed
        );
    }

    #[test]
    fn a_registry_tag_whose_release_an_engine_runs_stays() {
        let h = pushed(history(
            &[("staging", "v1", Succeeded), ("staging", "v2", Succeeded)],
            &[("v1", "fp1"), ("v2", "fp1")],
        ));
        // Somebody started v1 again by hand on an engine.
        let running = [container(
            "clinic-staging-north",
            "staging",
            "v1",
            "running",
        )];
        let plan = plan_registry_tags(
            REPO,
            TagRepository::Releases,
            &[tag("v1", "sha256:m-v1"), tag("v2", "sha256:m-v2")],
            &running,
            &h,
            &scope(&["staging"], 1, 1),
        );
        assert!(removed(&plan).is_empty(), "{plan:#?}");
        assert!(matches!(
            reason_for(&plan, &format!("{REPO}:v1")),
            PruneReason::Running { .. }
        ));
    }

    #[test]
    fn base_tags_beyond_the_last_m_fingerprints_go_and_unknown_ones_stay() {
        let fp = |c: char| c.to_string().repeat(64);
        let (a, b, c) = (fp('a'), fp('b'), fp('c'));
        let h = pushed(history(
            &[
                ("staging", "v1", Succeeded),
                ("staging", "v2", Succeeded),
                ("staging", "v3", Succeeded),
            ],
            &[("v1", &a), ("v2", &b), ("v3", &c)],
        ));
        let tags = [
            tag(&format!("fp-{}", &a[..16]), "sha256:ba"),
            tag(&format!("fp-{}", &b[..16]), "sha256:bb"),
            tag(&format!("fp-{}", &c[..16]), "sha256:bc"),
            tag(&format!("fp-{}", "d".repeat(16)), "sha256:bd"),
        ];
        let plan = plan_registry_tags(
            &format!("{REPO}-base"),
            TagRepository::Bases,
            &tags,
            &[],
            &h,
            &scope(&["staging"], 1, 1),
        );
        assert_eq!(
            removed(&plan),
            [
                format!("{REPO}-base:fp-{}", &a[..16]),
                format!("{REPO}-base:fp-{}", &b[..16])
            ]
        );
        assert!(matches!(
            reason_for(&plan, &format!("{REPO}-base:fp-{}", "d".repeat(16))),
            PruneReason::UnknownFingerprint { .. }
        ));
    }
}
