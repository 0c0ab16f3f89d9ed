//! Pushing an image: each blob checked with `HEAD`, mounted from a sibling repository or
//! uploaded when missing, and the manifest last, so a tag never points at a blob the
//! registry lacks. The [`PushReport`] says what crossed the wire.

use std::path::PathBuf;

use reqwest::{Method, StatusCode, header};
use serde::Serialize;

use crate::client::{Body, Client, header_str};
use crate::{RegistryError, auth};

/// Where a blob's bytes are, for when the registry lacks it.
#[derive(Debug, Clone)]
pub enum BlobSource {
    Bytes(bytes::Bytes),
    /// Streamed from this file.
    File(PathBuf),
    /// No bytes here: the blob must already be in the repository or mountable.
    Remote,
}

/// One blob of an image to push.
#[derive(Debug, Clone)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
    pub source: BlobSource,
    /// A repository of the same registry that has it (the base's, for the base's layers).
    pub mount_from: Option<String>,
}

/// What a push did, blob by blob counted: the figures `--json` and the benchmark report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PushReport {
    /// Blobs whose bytes were sent.
    pub blobs_uploaded: usize,
    /// Bytes of blob content sent.
    pub bytes_uploaded: u64,
    /// Blobs the registry linked from another repository without a transfer.
    pub blobs_mounted: usize,
    /// Blobs already there.
    pub blobs_present: usize,
    /// Whether the manifest was written (false when the tag already named it).
    pub manifest_uploaded: bool,
    pub manifest_digest: String,
}

impl Client {
    /// Pushes `blobs`, then `manifest` (of `media_type`) under each of `tags` (or by its
    /// digest alone when `tags` is empty). Returns what was sent.
    pub async fn push_image(
        &self,
        repository: &str,
        blobs: &[Blob],
        media_type: &str,
        manifest: &[u8],
        tags: &[String],
    ) -> Result<PushReport, RegistryError> {
        let mut report = PushReport {
            manifest_digest: crate::digest_of(manifest),
            ..PushReport::default()
        };
        for blob in blobs {
            self.push_blob(repository, blob, &mut report).await?;
        }
        let references: Vec<&str> = if tags.is_empty() {
            vec![report.manifest_digest.as_str()]
        } else {
            tags.iter().map(String::as_str).collect()
        };
        for reference in references {
            if self
                .manifest_digest(repository, reference)
                .await?
                .as_deref()
                == Some(report.manifest_digest.as_str())
            {
                continue;
            }
            self.put_manifest(repository, reference, media_type, manifest)
                .await?;
            report.manifest_uploaded = true;
        }
        Ok(report)
    }

    /// Makes sure `repository` has `blob`: present, mounted, or uploaded.
    pub async fn push_blob(
        &self,
        repository: &str,
        blob: &Blob,
        report: &mut PushReport,
    ) -> Result<(), RegistryError> {
        if self.blob_exists(repository, &blob.digest).await? {
            report.blobs_present += 1;
            return Ok(());
        }
        let mut session = None;
        if let Some(from) = blob.mount_from.as_deref().filter(|f| *f != repository) {
            match self.mount_blob(repository, from, &blob.digest).await? {
                Mount::Done => {
                    report.blobs_mounted += 1;
                    return Ok(());
                }
                // Refused: the registry opened an upload instead (the spec's fallback).
                Mount::Refused(location) => session = location,
            }
        }
        let body = match &blob.source {
            BlobSource::Bytes(bytes) => Body::Bytes(bytes.clone()),
            BlobSource::File(path) => Body::File(path.clone()),
            // The mount was refused but the source repository has it: copy it through.
            BlobSource::Remote
                if blob.mount_from.is_some()
                    && self
                        .blob_exists_for_pull(
                            blob.mount_from.as_deref().unwrap_or_default(),
                            &blob.digest,
                        )
                        .await? =>
            {
                let from = blob.mount_from.as_deref().unwrap_or_default();
                Body::Bytes(self.get_blob(from, &blob.digest).await?)
            }
            BlobSource::Remote => {
                return Err(RegistryError::Invalid(format!(
                    "the registry {} has no blob {} in {repository}{}, and hoist has no copy to upload",
                    self.registry(),
                    blob.digest,
                    blob.mount_from
                        .as_deref()
                        .map(|f| format!(" nor lets it be mounted from {f}"))
                        .unwrap_or_default()
                )));
            }
        };
        let mut attempt = 0;
        loop {
            let result = self.upload(repository, blob, &body, session.take()).await;
            match result {
                Ok(()) => break,
                // An upload that broke off is started afresh: sessions do not survive.
                Err(e) if attempt < 2 && retryable(&e) => {
                    tracing::debug!(digest = %blob.digest, error = %e, "restarting the upload");
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
        report.blobs_uploaded += 1;
        report.bytes_uploaded += blob.size;
        Ok(())
    }

    /// Whether `repository` has `digest`, asking with pull rights only.
    async fn blob_exists_for_pull(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        let answer = self
            .send(
                Method::HEAD,
                &self.url(&format!("{repository}/blobs/{digest}")),
                &[auth::scope(repository, false)],
                &[],
                &Body::Empty,
                &format!("checking the blob {digest} in {repository}"),
            )
            .await;
        match answer {
            Ok(answer) => Ok(answer.status.is_success()),
            Err(RegistryError::Denied { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn mount_blob(
        &self,
        repository: &str,
        from: &str,
        digest: &str,
    ) -> Result<Mount, RegistryError> {
        let action = format!("mounting {digest} from {from} into {repository}");
        let mut url = url::Url::parse(&self.url(&format!("{repository}/blobs/uploads/")))
            .map_err(|e| RegistryError::Invalid(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("mount", digest)
            .append_pair("from", from);
        let scopes = [auth::scope(repository, true), auth::scope(from, false)];
        let answer = self
            .send(
                Method::POST,
                url.as_str(),
                &scopes,
                &[],
                &Body::Empty,
                &action,
            )
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            // No pull right on `from`: upload instead.
            Err(RegistryError::Denied { .. }) => return Ok(Mount::Refused(None)),
            Err(e) => return Err(e),
        };
        match answer.status {
            StatusCode::CREATED => Ok(Mount::Done),
            StatusCode::ACCEPTED => Ok(Mount::Refused(header_str(
                &answer.headers,
                header::LOCATION,
            ))),
            _ => Ok(Mount::Refused(None)),
        }
    }

    /// A monolithic upload: `POST` opens a session (unless one is open), `PUT` with the
    /// digest sends the bytes and closes it.
    async fn upload(
        &self,
        repository: &str,
        blob: &Blob,
        body: &Body,
        session: Option<String>,
    ) -> Result<(), RegistryError> {
        let scopes = [auth::scope(repository, true)];
        let action = format!("uploading {} to {repository}", blob.digest);
        let location = match session {
            Some(location) => location,
            None => {
                let answer = self
                    .send(
                        Method::POST,
                        &self.url(&format!("{repository}/blobs/uploads/")),
                        &scopes,
                        &[],
                        &Body::Empty,
                        &action,
                    )
                    .await?;
                if answer.status != StatusCode::ACCEPTED {
                    return Err(self.unexpected(&answer, &action));
                }
                header_str(&answer.headers, header::LOCATION).ok_or_else(|| {
                    RegistryError::Invalid(format!(
                        "the registry {} opened an upload without a Location",
                        self.registry()
                    ))
                })?
            }
        };
        let mut url = url::Url::parse(&self.absolute(&location))
            .map_err(|e| RegistryError::Invalid(format!("upload location: {e}")))?;
        url.query_pairs_mut().append_pair("digest", &blob.digest);
        let answer = self
            .send(
                Method::PUT,
                url.as_str(),
                &scopes,
                &[
                    (header::CONTENT_TYPE, "application/octet-stream".into()),
                    (header::CONTENT_LENGTH, blob.size.to_string()),
                ],
                body,
                &action,
            )
            .await?;
        if answer.status != StatusCode::CREATED {
            return Err(self.unexpected(&answer, &action));
        }
        Ok(())
    }

    /// Writes `manifest` under `reference` (a tag or its digest); returns its digest.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        manifest: &[u8],
    ) -> Result<String, RegistryError> {
        let action = format!("writing the manifest {repository}:{reference}");
        let answer = self
            .send(
                Method::PUT,
                &self.url(&format!("{repository}/manifests/{reference}")),
                &[auth::scope(repository, true)],
                &[(header::CONTENT_TYPE, media_type.to_string())],
                &Body::Bytes(bytes::Bytes::copy_from_slice(manifest)),
                &action,
            )
            .await?;
        if answer.status != StatusCode::CREATED {
            return Err(self.unexpected(&answer, &action));
        }
        Ok(crate::digest_of(manifest))
    }
}

enum Mount {
    Done,
    Refused(Option<String>),
}

fn retryable(error: &RegistryError) -> bool {
    match error {
        RegistryError::Transport { .. } => true,
        RegistryError::Status { status, .. } => *status >= 500 || *status == 404,
        _ => false,
    }
}
