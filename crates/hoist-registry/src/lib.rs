//! A client for OCI registries (the distribution spec), as hoist needs it: find out whether
//! an image exists, push an image's blobs and manifest, and read a manifest back.
//!
//! - **Credentials** ([`credentials`]) the way Docker keeps them: `~/.docker/config.json`
//!   (or `$DOCKER_CONFIG/config.json`) with its `auths`, `credsStore` and `credHelpers`
//!   (running `docker-credential-<helper> get`, so `docker-credential-ecr-login` serves
//!   ECR), or a username and password hoist read from the environment or a file.
//! - **Auth** ([`auth`]) as the spec's token flow describes it: a request answered `401`
//!   with `WWW-Authenticate: Bearer realm=...,service=...,scope=...` fetches a token from the
//!   realm (with the credentials as basic auth, when there are any) and retries; a `Basic`
//!   challenge retries with basic auth. Tokens are cached per scope and renewed shortly
//!   before their `expires_in` runs out ([`auth::use_for`]), not after a `401`.
//! - **Transport**: HTTPS, trusting the system roots plus an optional CA file; plain HTTP
//!   only for a registry the caller marks insecure.
//! - **Push** ([`push`]): a `HEAD` before every blob, a cross-repository mount when the
//!   blob lives in another repository of the same registry (falling back to an upload when
//!   the registry refuses), uploads streamed from memory or a file, retries with backoff
//!   on connection errors and `5xx`, and the manifest last, so a tag never names a blob the
//!   registry lacks, whatever failed half-way.
//! - **Manifests** ([`manifest`]): OCI and Docker schema 2 image manifests and indexes.
//! - **Tags** (`Client::list_tags`, `Client::delete_manifest`): a repository's tags with
//!   `Link` pagination, and deletes by digest, for pruning (a 405 says the registry does
//!   not allow deletes).
//!
//! ## Written here rather than taken from `oci-client`
//! The HTTP calls are hand-written on `reqwest`, which the workspace already uses.
//! `oci-client` (0.18, read 2026-12-06) pushes every layer it is given (no `HEAD`, no
//! mount), treats a refused mount's `202` as an error instead of uploading into the session
//! it opens, asks for a token scoped to the target repository only (a mount needs `pull` on
//! the source too), pushes blobs from memory, and reports nothing per blob (hoist reports
//! bytes and blob counts). The manifest types are small serde structs rather than
//! `oci-spec`'s, because hoist must keep Docker schema 2 media types intact when it
//! appends a layer. docs/registry.md says more; the distribution spec was followed
//! request by request.

pub mod auth;
mod client;
pub mod credentials;
mod error;
pub mod manifest;
pub mod push;
mod reference;
mod tags;

pub use client::{Client, ClientOptions};
pub use credentials::Credentials;
pub use error::RegistryError;
pub use push::{Blob, BlobSource, PushReport};
pub use reference::Reference;

/// `sha256:<hex>` of `data`: the content address of a blob or manifest.
pub fn digest_of(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}
