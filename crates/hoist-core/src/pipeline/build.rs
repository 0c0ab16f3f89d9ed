//! From source to a [`Release`]: version, fingerprint, base image (reused or built), app
//! image.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use super::{Deployer, PipelineError, millis};
use crate::backend::{BuildContext, BuildRequest};
use crate::events::{CacheOutcome, EventKind};
use crate::fingerprint::{Fingerprint, FingerprintInputs};
use crate::version::{self, SourceVersion};
use crate::{Release, Stage, labels};

/// What building produced, and what it could skip.
#[derive(Debug, Clone, Serialize)]
pub struct BuildOutcome {
    pub release: Release,
    /// `None` when no build was needed at all (the release already existed).
    pub base_cache: Option<CacheOutcome>,
    /// The release for this version already existed with its image: nothing was built.
    pub reused: bool,
}

/// What the build stage would do, computed without building.
#[derive(Debug, Clone, Serialize)]
pub struct BuildPlan {
    pub source: SourceVersion,
    pub fingerprint: Fingerprint,
    pub base_image: String,
    pub base_cache: CacheOutcome,
    pub app_image: String,
    /// An existing release of this version whose image is still on the engine.
    pub existing: Option<Release>,
}

impl Deployer {
    /// Works out version, fingerprint and cache state, building nothing.
    pub async fn plan_build(
        &self,
        requested_version: Option<&str>,
    ) -> Result<BuildPlan, PipelineError> {
        let config = &self.config;
        let context = config.build.context_dir.clone();
        let source = self.stage(
            Stage::Version,
            || version::derive(&config.root, requested_version),
            |s, took_ms| EventKind::VersionResolved {
                version: s.version.clone(),
                commit: s.commit.clone(),
                dirty: s.dirty,
                took_ms,
            },
        )?;
        let fingerprint = self.stage(
            Stage::Fingerprint,
            || {
                Fingerprint::compute(&FingerprintInputs {
                    root: &context,
                    globs: &config.build.dependencies,
                    base_dockerfile: &config.build.base_dockerfile,
                    base_args: &config.build.base_args,
                    platform: &config.build.platform,
                })
            },
            |fp, took_ms| EventKind::FingerprintComputed {
                fingerprint: fp.hex.clone(),
                files: fp.files.len(),
                took_ms,
            },
        )?;
        let repository = &config.app.image;
        let base_image = fingerprint.base_image(repository);
        let base_cache = match self.builder.image_id(&base_image).await? {
            Some(_) => CacheOutcome::Hit,
            None => CacheOutcome::Miss,
        };
        let app_image = format!("{repository}:{}", version::image_tag(&source.version));
        // A dirty tree's version names no fixed content, so its release is never reused.
        let existing = match self.store.find_release(self.app_name(), &source.version)? {
            Some(r) if !source.dirty && self.builder.has_release(&r).await? => Some(r),
            _ => None,
        };
        Ok(BuildPlan {
            source,
            fingerprint,
            base_image,
            base_cache,
            app_image,
            existing,
        })
    }

    /// Builds the release for the source tree (or reuses it), and records it.
    pub async fn build(
        &self,
        requested_version: Option<&str>,
    ) -> Result<BuildOutcome, PipelineError> {
        let plan = self.plan_build(requested_version).await?;
        self.build_planned(plan).await
    }

    /// Carries out a [`BuildPlan`]: builds what it says is missing.
    pub async fn build_planned(&self, plan: BuildPlan) -> Result<BuildOutcome, PipelineError> {
        if let Some(release) = plan.existing {
            self.events.emit(EventKind::ReleaseReused {
                version: release.version.clone(),
                reference: release.image.clone(),
            });
            return Ok(BuildOutcome {
                release,
                base_cache: None,
                reused: true,
            });
        }
        let config = &self.config;
        let context = config.build.context_dir.clone();

        self.events.emit(EventKind::BaseImage {
            reference: plan.base_image.clone(),
            cache: plan.base_cache,
        });
        if plan.base_cache == CacheOutcome::Miss {
            let started = Instant::now();
            self.events.emit(EventKind::StageStarted {
                stage: Stage::BaseImage,
                subject: Some(plan.base_image.clone()),
            });
            let request = BuildRequest {
                stage: Stage::BaseImage,
                context: BuildContext::Files {
                    root: context.clone(),
                    files: plan.fingerprint.files.clone(),
                },
                dockerfile: config.build.base_dockerfile.clone(),
                tag: plan.base_image.clone(),
                args: config.build.base_args.clone(),
                labels: BTreeMap::from([
                    (
                        labels::FINGERPRINT.to_string(),
                        plan.fingerprint.hex.clone(),
                    ),
                    (labels::APP.to_string(), self.app_name().to_string()),
                ]),
                platform: config.build.platform.clone(),
                no_cache: false,
            };
            self.builder
                .build(&request, &self.events)
                .await
                .map_err(|source| PipelineError::Build {
                    image: plan.base_image.clone(),
                    source,
                })?;
            self.events.emit(EventKind::BaseImageBuilt {
                reference: plan.base_image.clone(),
                took_ms: millis(started.elapsed()),
            });
        }

        let started = Instant::now();
        self.events.emit(EventKind::StageStarted {
            stage: Stage::AppImage,
            subject: Some(plan.app_image.clone()),
        });
        let source = &plan.source;
        let created = source
            .commit_time
            .clone()
            .unwrap_or_else(|| jiff::Timestamp::now().to_string());
        let mut args = config.build.args.clone();
        args.insert("HOIST_BASE".into(), plan.base_image.clone());
        args.insert("HOIST_VERSION".into(), source.version.clone());
        let request = BuildRequest {
            stage: Stage::AppImage,
            context: BuildContext::Directory { root: context },
            dockerfile: config.build.dockerfile.clone(),
            tag: plan.app_image.clone(),
            args,
            labels: BTreeMap::from([
                (labels::REVISION.to_string(), source.commit.clone()),
                (labels::VERSION.to_string(), source.version.clone()),
                (labels::CREATED.to_string(), created),
                (
                    labels::FINGERPRINT.to_string(),
                    plan.fingerprint.hex.clone(),
                ),
                (labels::APP.to_string(), self.app_name().to_string()),
            ]),
            platform: config.build.platform.clone(),
            no_cache: false,
        };
        let image_id = self
            .builder
            .build(&request, &self.events)
            .await
            .map_err(|e| PipelineError::Build {
                image: plan.app_image.clone(),
                source: e,
            })?;
        self.events.emit(EventKind::AppImageBuilt {
            reference: plan.app_image.clone(),
            image_id: image_id.clone(),
            took_ms: millis(started.elapsed()),
        });

        let digest = self
            .builder
            .pushed_digest(&plan.app_image)
            .await
            .map_err(|e| PipelineError::Build {
                image: plan.app_image.clone(),
                source: e,
            })?;
        let release = Release {
            app: self.app_name().to_string(),
            version: source.version.clone(),
            commit: source.commit.clone(),
            image: plan.app_image,
            image_id,
            digest,
            fingerprint: plan.fingerprint.hex,
            base_image: plan.base_image,
            created_by: self.actor.clone(),
            created_at: jiff::Timestamp::now().to_string(),
        };
        self.store.save_release(&release)?;
        self.store.set_commit_time(
            &release.app,
            &release.version,
            source.commit_time.as_deref(),
        )?;
        self.note(EventKind::ReleaseBuilt {
            version: release.version.clone(),
            image: release.image.clone(),
            image_id: release.image_id.clone(),
        });
        Ok(BuildOutcome {
            release,
            base_cache: Some(plan.base_cache),
            reused: false,
        })
    }

    /// Runs a synchronous stage, reporting its start and, as `finished` says, its result.
    fn stage<T, E>(
        &self,
        stage: Stage,
        run: impl FnOnce() -> Result<T, E>,
        finished: impl FnOnce(&T, u64) -> EventKind,
    ) -> Result<T, PipelineError>
    where
        PipelineError: From<E>,
    {
        let started = Instant::now();
        self.events.emit(EventKind::StageStarted {
            stage,
            subject: None,
        });
        let value = run()?;
        self.events
            .emit(finished(&value, millis(started.elapsed())));
        Ok(value)
    }
}
