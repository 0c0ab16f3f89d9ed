//! Listing a repository's tags and deleting manifests, as the distribution spec describes
//! them (`GET /v2/<name>/tags/list` with its `Link` pagination, `DELETE
//! /v2/<name>/manifests/<digest>`): what pruning a registry needs.

use reqwest::{Method, StatusCode, header};

use crate::RegistryError;
use crate::client::{Body, Client};

/// Tags asked for per page; registries may send fewer and a `Link` to the next page.
const PAGE: usize = 1000;

#[derive(serde::Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

impl Client {
    /// Every tag of `repository`, sorted; none for a repository the registry does not
    /// know.
    pub async fn list_tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        let action = format!("listing the tags of {repository}");
        let mut url = self.url(&format!("{repository}/tags/list?n={PAGE}"));
        let mut tags = Vec::new();
        loop {
            let answer = self
                .send(
                    Method::GET,
                    &url,
                    &[crate::auth::scope(repository, false)],
                    &[],
                    &Body::Empty,
                    &action,
                )
                .await?;
            if answer.status == StatusCode::NOT_FOUND {
                break;
            }
            if !answer.status.is_success() {
                return Err(self.unexpected(&answer, &action));
            }
            let page: TagList = serde_json::from_slice(&answer.body).map_err(|e| {
                RegistryError::Invalid(format!(
                    "the registry {} answered {action} with something else than a tag list: {e}",
                    self.registry()
                ))
            })?;
            tags.extend(page.tags.unwrap_or_default());
            match next_page(&answer.headers) {
                Some(next) => url = self.absolute(&next),
                None => break,
            }
        }
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    /// Deletes the manifest `digest` from `repository`, and with it every tag naming it.
    /// One already gone is no error. A registry that does not allow deletes (405, as
    /// Distribution answers unless its storage has `delete: enabled: true`) is an error
    /// that says so.
    pub async fn delete_manifest(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<(), RegistryError> {
        let action = format!("deleting {repository}@{digest}");
        let answer = self
            .send(
                Method::DELETE,
                &self.url(&format!("{repository}/manifests/{digest}")),
                &[format!("repository:{repository}:delete")],
                &[],
                &Body::Empty,
                &action,
            )
            .await?;
        match answer.status {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Ok(()),
            StatusCode::METHOD_NOT_ALLOWED => Err(RegistryError::Status {
                registry: self.registry().to_string(),
                action,
                status: 405,
                message: "the registry does not allow deletes (Distribution: set \
                          REGISTRY_STORAGE_DELETE_ENABLED=true, or storage.delete.enabled in its \
                          config); or set [prune] registry_tags = false"
                    .into(),
            }),
            _ => Err(self.unexpected(&answer, &action)),
        }
    }
}

/// The next page's URL from a `Link: <url>; rel="next"` header.
fn next_page(headers: &header::HeaderMap) -> Option<String> {
    let link = headers.get(header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| {
                target
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(value: &str) -> header::HeaderMap {
        let mut headers = header::HeaderMap::new();
        headers.insert(header::LINK, value.parse().unwrap());
        headers
    }

    #[test]
    fn the_next_page_is_the_link_marked_next() {
        assert_eq!(
            next_page(&link(
                "</v2/clinic/app/tags/list?last=v9&n=1000>; rel=\"next\""
            ))
            .as_deref(),
            Some("/v2/clinic/app/tags/list?last=v9&n=1000")
        );
        assert_eq!(next_page(&link("</v2/x?last=a>; rel=\"prev\"")), None);
        assert_eq!(next_page(&header::HeaderMap::new()), None);
    }
}
