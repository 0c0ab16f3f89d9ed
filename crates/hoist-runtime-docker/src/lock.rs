//! The environment lock on a Docker engine: a container, created and never started, named
//! `hoist-lock-<app>-<environment>`.
//!
//! Why a container: the engine reserves a container name atomically, so of two concurrent
//! creates exactly one succeeds and the other gets 409 Conflict. The other objects a plain
//! engine has are not exclusive: creating a volume that exists returns it (create is
//! idempotent), and a network's `CheckDuplicate` is documented as best-effort (two
//! concurrent creates can both succeed). A container needs an image, and the target may
//! have none yet, so hoist imports an empty one (`hoist/lock:empty`, no files, 0 bytes)
//! the first time; the container never runs, so the image needs no program.
//!
//! The holder (actor, host, pid, process start, state file) is a label, fixed at creation.
//! Labels cannot change, so the heartbeat is a file written into the container
//! (`/hoist-lock-heartbeat`, unix seconds) every few seconds; its creation-time label
//! stands in until the first write. Release and reclaim remove the container by id, never
//! by name, so a late remover cannot remove a successor's lock.

use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, DownloadFromContainerOptions,
    InspectContainerOptions, RemoveContainerOptions, UploadToContainerOptions,
};
use futures::StreamExt;
use hoist_core::backend::BackendError;
use hoist_core::store::LockHolder;
use hoist_core::target_lock::{
    FoundLock, HEARTBEAT_LABEL, HOLDER_LABEL, LockKey, LockObjects, TargetAttempt, TargetLock,
    acquire, lock_labels, now_secs,
};
use hoist_engine::{Engines, is_not_found, message};

/// The empty image lock containers are created from.
const IMAGE_REPO: &str = "hoist/lock";
const IMAGE_TAG: &str = "empty";
const HOLDER: &str = HOLDER_LABEL;
const HEARTBEAT: &str = HEARTBEAT_LABEL;
const HEARTBEAT_FILE: &str = "hoist-lock-heartbeat";
/// An environment's lock on one Docker engine.
pub(crate) struct EngineLock {
    pub(crate) engines: Engines,
    /// The engine's address, as the config names it.
    pub(crate) address: String,
}

fn image() -> String {
    format!("{IMAGE_REPO}:{IMAGE_TAG}")
}

fn failed(what: &str, name: &str, e: &bollard::errors::Error) -> BackendError {
    BackendError::new(format!(
        "cannot {what} the lock container {name}: {}",
        message(e)
    ))
}

fn is_status(e: &bollard::errors::Error, status: u16) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError { status_code, .. } if *status_code == status
    )
}

/// A tar archive holding one file, as the engine's archive API takes it.
fn one_file_tar(name: &str, content: &[u8]) -> Result<Vec<u8>, BackendError> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(u64::try_from(now_secs()).unwrap_or(0));
    header.set_cksum();
    builder
        .append_data(&mut header, name, content)
        .and_then(|()| builder.into_inner())
        .map_err(|e| BackendError::new(format!("cannot pack the lock heartbeat: {e}")))
}

/// The content of the first file in a tar archive.
fn first_file(archive: &[u8]) -> Option<String> {
    use std::io::Read;
    let mut archive = tar::Archive::new(archive);
    let mut entry = archive.entries().ok()?.next()?.ok()?;
    let mut text = String::new();
    entry.read_to_string(&mut text).ok()?;
    Some(text)
}

impl EngineLock {
    async fn docker(&self) -> Result<Docker, BackendError> {
        self.engines.get(&self.address).await
    }

    /// Imports the empty image lock containers are made from.
    async fn ensure_image(&self, docker: &Docker) -> Result<(), BackendError> {
        if docker.inspect_image(&image()).await.is_ok() {
            return Ok(());
        }
        let empty = tar::Builder::new(Vec::new())
            .into_inner()
            .map_err(|e| BackendError::new(format!("cannot pack the lock image: {e}")))?;
        let options = CreateImageOptions {
            from_src: Some("-".into()),
            repo: Some(IMAGE_REPO.into()),
            tag: Some(IMAGE_TAG.into()),
            ..Default::default()
        };
        let mut progress =
            docker.create_image(Some(options), Some(bollard::body_full(empty.into())), None);
        while let Some(step) = progress.next().await {
            step.map_err(|e| {
                BackendError::new(format!(
                    "cannot import the lock image {} on {}: {}",
                    image(),
                    self.address,
                    message(&e)
                ))
            })?;
        }
        Ok(())
    }

    /// Creates the lock container; `Ok(None)` when one of that name exists.
    async fn create(
        &self,
        docker: &Docker,
        key: &LockKey,
        holder: &LockHolder,
    ) -> Result<Option<String>, BackendError> {
        let name = key.object_name();
        let labels = lock_labels(key, holder)?;
        let body = ContainerCreateBody {
            image: Some(image()),
            // Never run: a command is required to create a container, not to exist.
            cmd: Some(vec!["hoist-lock".into()]),
            network_disabled: Some(true),
            labels: Some(labels),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        };
        for _ in 0..2 {
            match docker
                .create_container(Some(options.clone()), body.clone())
                .await
            {
                Ok(created) => return Ok(Some(created.id)),
                Err(e) if is_status(&e, 409) => return Ok(None),
                // No lock image on this engine yet (or it was removed): import it once.
                Err(e) if is_not_found(&e) => self.ensure_image(docker).await?,
                Err(e) => return Err(failed("create", &name, &e)),
            }
        }
        Err(BackendError::new(format!(
            "cannot create the lock container {name}: the image {} is missing on {}",
            image(),
            self.address
        )))
    }

    /// The lock container of `key`, if there is one.
    async fn find(
        &self,
        docker: &Docker,
        key: &LockKey,
    ) -> Result<Option<FoundLock>, BackendError> {
        let name = key.object_name();
        let info = match docker
            .inspect_container(&name, None::<InspectContainerOptions>)
            .await
        {
            Ok(info) => info,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(failed("inspect", &name, &e)),
        };
        let id = info.id.unwrap_or_default();
        let labels = info.config.and_then(|c| c.labels).unwrap_or_default();
        let holder = labels
            .get(HOLDER)
            .and_then(|json| serde_json::from_str::<LockHolder>(json).ok())
            .ok_or_else(|| {
                BackendError::new(format!(
                    "a container named {name} on {} is not a hoist lock (it has no {HOLDER} label); remove or rename it",
                    self.address
                ))
            })?;
        let created = labels
            .get(HEARTBEAT)
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0);
        let written = self.read_heartbeat(docker, &id).await.unwrap_or(0);
        Ok(Some(FoundLock {
            token: id,
            holder,
            heartbeat_at: created.max(written),
        }))
    }

    /// The heartbeat file's time, if it was written.
    async fn read_heartbeat(&self, docker: &Docker, id: &str) -> Option<i64> {
        let options = DownloadFromContainerOptions {
            path: format!("/{HEARTBEAT_FILE}"),
        };
        let mut stream = docker.download_from_container(id, Some(options));
        let mut archive = Vec::new();
        while let Some(chunk) = stream.next().await {
            archive.extend_from_slice(&chunk.ok()?);
        }
        first_file(&archive)?.trim().parse().ok()
    }

    async fn remove(&self, docker: &Docker, id: &str) -> Result<(), BackendError> {
        let options = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        match docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(failed("remove", id, &e)),
        }
    }
}

#[async_trait]
impl TargetLock for EngineLock {
    fn place(&self) -> String {
        format!("the engine {}", self.address)
    }

    async fn acquire(
        &self,
        key: &LockKey,
        holder: &LockHolder,
        stale_after: Duration,
    ) -> Result<TargetAttempt, BackendError> {
        let objects = Objects {
            lock: self,
            docker: self.docker().await?,
        };
        acquire(&objects, key, holder, stale_after).await
    }

    async fn refresh(&self, key: &LockKey, token: &str) -> Result<(), BackendError> {
        let docker = self.docker().await?;
        let archive = one_file_tar(HEARTBEAT_FILE, now_secs().to_string().as_bytes())?;
        let options = UploadToContainerOptions {
            path: "/".into(),
            ..Default::default()
        };
        docker
            .upload_to_container(token, Some(options), bollard::body_full(archive.into()))
            .await
            .map_err(|e| {
                if is_not_found(&e) {
                    BackendError::new(format!(
                        "the lock container {} is gone (removed by `hoist unlock --force` or a prune)",
                        key.object_name()
                    ))
                } else {
                    failed("refresh", &key.object_name(), &e)
                }
            })
    }

    async fn release(&self, _key: &LockKey, token: &str) -> Result<(), BackendError> {
        // A connection of its own: this runs on a runtime of its own (see the trait).
        let docker = self.engines.connect_new(&self.address).await?;
        self.remove(&docker, token).await
    }

    async fn force_release(&self, key: &LockKey) -> Result<Option<LockHolder>, BackendError> {
        let docker = self.docker().await?;
        let Some(found) = self.find(&docker, key).await? else {
            return Ok(None);
        };
        self.remove(&docker, &found.token).await?;
        Ok(Some(found.holder))
    }
}

/// One engine's lock containers, as [`acquire`] works them.
struct Objects<'a> {
    lock: &'a EngineLock,
    docker: Docker,
}

#[async_trait]
impl LockObjects for Objects<'_> {
    async fn create(
        &self,
        key: &LockKey,
        holder: &LockHolder,
    ) -> Result<Option<String>, BackendError> {
        self.lock.create(&self.docker, key, holder).await
    }
    async fn find(&self, key: &LockKey) -> Result<Option<FoundLock>, BackendError> {
        self.lock.find(&self.docker, key).await
    }
    async fn remove(&self, token: &str) -> Result<(), BackendError> {
        self.lock.remove(&self.docker, token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heartbeat_file_round_trips_through_tar() {
        let archive = one_file_tar(HEARTBEAT_FILE, b"1764930000").unwrap();
        assert_eq!(first_file(&archive).as_deref(), Some("1764930000"));
    }

    #[test]
    fn an_empty_archive_has_no_heartbeat() {
        let empty = tar::Builder::new(Vec::new()).into_inner().unwrap();
        assert_eq!(first_file(&empty), None);
    }
}
