//! The client against a real registry (Debian's docker-registry on loopback), checked with
//! a real client (skopeo) and the registry's own access log. Ports 20150-20159.

mod support;

use hoist_registry::manifest::{
    Descriptor, ImageManifest, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST,
};
use hoist_registry::{
    Blob, BlobSource, Client, ClientOptions, Credentials, RegistryError, digest_of,
};
use support::{PASSWORD, TestRegistry, USER};

/// An image of `layers` (the registry does not look inside blobs; skopeo reads the
/// manifest): its blobs (config last) and manifest.
fn image(layers: &[&[u8]]) -> (Vec<Blob>, Vec<u8>) {
    let descriptors: Vec<Descriptor> = layers
        .iter()
        .map(|l| Descriptor {
            media_type: OCI_LAYER_GZIP.into(),
            digest: digest_of(l),
            size: l.len() as u64,
            platform: None,
            annotations: None,
        })
        .collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": descriptors.iter().map(|d| d.digest.clone()).collect::<Vec<_>>()},
    }))
    .unwrap();
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: OCI_MANIFEST.into(),
        config: Descriptor {
            media_type: OCI_CONFIG.into(),
            digest: digest_of(&config),
            size: config.len() as u64,
            platform: None,
            annotations: None,
        },
        layers: descriptors,
        annotations: None,
    };
    let mut blobs: Vec<Blob> = layers
        .iter()
        .map(|l| Blob {
            digest: digest_of(l),
            size: l.len() as u64,
            source: BlobSource::Bytes(l.to_vec().into()),
            mount_from: None,
        })
        .collect();
    blobs.push(Blob {
        digest: digest_of(&config),
        size: config.len() as u64,
        source: BlobSource::Bytes(config.into()),
        mount_from: None,
    });
    (blobs, manifest.to_bytes())
}

fn plain_client(registry: &TestRegistry) -> Client {
    Client::new(
        &registry.host(),
        ClientOptions {
            insecure: true,
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn a_push_is_read_back_by_skopeo_and_an_identical_rerun_uploads_nothing() {
    let registry = TestRegistry::plain(20150);
    let client = plain_client(&registry);
    let (blobs, manifest) = image(&[b"base layer one", b"base layer two"]);
    let tags = vec!["v1".to_string()];
    let report = client
        .push_image("hoist-reg/app", &blobs, OCI_MANIFEST, &manifest, &tags)
        .await
        .unwrap();
    assert_eq!(report.blobs_uploaded, 3, "two layers and the config");
    assert_eq!(
        report.bytes_uploaded,
        blobs.iter().map(|b| b.size).sum::<u64>()
    );
    assert!(report.manifest_uploaded);
    assert_eq!(report.manifest_digest, digest_of(&manifest));

    let raw = registry.skopeo_raw("hoist-reg/app:v1").unwrap();
    assert_eq!(
        digest_of(&raw),
        report.manifest_digest,
        "skopeo reads what hoist pushed"
    );
    assert_eq!(
        client.manifest_digest("hoist-reg/app", "v1").await.unwrap(),
        Some(report.manifest_digest.clone())
    );

    let before = registry.requests().len();
    let again = client
        .push_image("hoist-reg/app", &blobs, OCI_MANIFEST, &manifest, &tags)
        .await
        .unwrap();
    assert_eq!((again.blobs_uploaded, again.bytes_uploaded), (0, 0));
    assert_eq!(again.blobs_present, 3);
    assert!(!again.manifest_uploaded);
    let sent: Vec<String> = registry.requests()[before..]
        .iter()
        .filter(|r| !r.starts_with("HEAD "))
        .cloned()
        .collect();
    assert!(sent.is_empty(), "an identical push only asks: {sent:?}");
    assert_eq!(
        client
            .manifest_digest("hoist-reg/app", "nope")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn base_layers_are_mounted_from_the_base_repository() {
    let registry = TestRegistry::plain(20151);
    let client = plain_client(&registry);
    let (base_blobs, base_manifest) = image(&[b"dependencies layer"]);
    client
        .push_image(
            "hoist-reg/app-base",
            &base_blobs,
            OCI_MANIFEST,
            &base_manifest,
            &["fp-1".into()],
        )
        .await
        .unwrap();
    let (mut app_blobs, app_manifest) = image(&[b"dependencies layer", b"code layer"]);
    // The base's layer: no bytes here, only where it lives.
    app_blobs[0].source = BlobSource::Remote;
    app_blobs[0].mount_from = Some("hoist-reg/app-base".into());
    let before = registry.requests().len();
    let report = client
        .push_image(
            "hoist-reg/app",
            &app_blobs,
            OCI_MANIFEST,
            &app_manifest,
            &["v2".into()],
        )
        .await
        .unwrap();
    assert_eq!(report.blobs_mounted, 1);
    assert_eq!(report.blobs_uploaded, 2, "the code layer and the config");
    assert_eq!(report.bytes_uploaded, app_blobs[1].size + app_blobs[2].size);
    let mounts: Vec<String> = registry.requests()[before..]
        .iter()
        .filter(|r| r.contains("mount=") && r.ends_with(" 201"))
        .cloned()
        .collect();
    assert_eq!(mounts.len(), 1, "{:?}", registry.requests());
    assert_eq!(registry.blob_puts_since(before).len(), 2);
    registry.skopeo_raw("hoist-reg/app:v2").unwrap();

    // A blob the source repository lacks cannot be mounted: the push says so, and no tag.
    let (mut orphan, orphan_manifest) = image(&[b"never pushed anywhere"]);
    orphan[0].source = BlobSource::Remote;
    orphan[0].mount_from = Some("hoist-reg/app-base".into());
    let err = client
        .push_image(
            "hoist-reg/app",
            &orphan,
            OCI_MANIFEST,
            &orphan_manifest,
            &["v3".into()],
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no copy to upload"), "{err}");
    assert_eq!(
        client.manifest_digest("hoist-reg/app", "v3").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_push_failing_half_way_leaves_no_tag_and_a_rerun_completes() {
    let registry = TestRegistry::plain(20152);
    let client = plain_client(&registry);
    let dir = tempfile::tempdir().unwrap();
    let (mut blobs, manifest) = image(&[b"first layer", b"second layer, streamed from a file"]);
    // The second layer streams from a file cut short: its upload breaks off half-way
    // (the body ends before its Content-Length), after the first layer went up.
    let file = dir.path().join("layer");
    std::fs::write(&file, b"second layer, truncat").unwrap();
    blobs[1].source = BlobSource::File(file.clone());
    let err = client
        .push_image(
            "hoist-reg/app",
            &blobs,
            OCI_MANIFEST,
            &manifest,
            &["v1".into()],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Transport { .. }), "{err}");
    assert_eq!(
        client.manifest_digest("hoist-reg/app", "v1").await.unwrap(),
        None,
        "no tag names an image with a missing blob"
    );
    assert!(registry.skopeo_raw("hoist-reg/app:v1").is_err());

    std::fs::write(&file, b"second layer, streamed from a file").unwrap();
    let report = client
        .push_image(
            "hoist-reg/app",
            &blobs,
            OCI_MANIFEST,
            &manifest,
            &["v1".into()],
        )
        .await
        .unwrap();
    assert_eq!(
        report.blobs_present, 1,
        "the first layer stayed from the failed run"
    );
    assert_eq!(report.blobs_uploaded, 2);
    let raw = registry.skopeo_raw("hoist-reg/app:v1").unwrap();
    assert_eq!(digest_of(&raw), digest_of(&manifest));
}

#[tokio::test]
async fn tls_with_htpasswd_under_a_private_ca() {
    let registry = TestRegistry::tls(20153);
    let options = |credentials: Credentials| ClientOptions {
        credentials,
        ca_pem: registry.ca_pem.clone(),
        retries: 1,
        ..ClientOptions::default()
    };
    let client = Client::new(
        &registry.host(),
        options(Credentials::basic(USER, PASSWORD)),
    )
    .unwrap();
    let (blobs, manifest) = image(&[b"a layer over TLS"]);
    let report = client
        .push_image(
            "hoist-reg/app",
            &blobs,
            OCI_MANIFEST,
            &manifest,
            &["v1".into()],
        )
        .await
        .unwrap();
    assert_eq!(report.blobs_uploaded, 2);
    let raw = registry.skopeo_raw("hoist-reg/app:v1").unwrap();
    assert_eq!(digest_of(&raw), report.manifest_digest);

    // A wrong password: a clear error naming the user, never the password.
    let wrong = "hoist-reg-wrong-pw-51c2";
    let client = Client::new(&registry.host(), options(Credentials::basic(USER, wrong))).unwrap();
    let err = client
        .manifest_digest("hoist-reg/app", "v1")
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{text}");
    assert!(
        text.contains(USER) && text.contains("refused the credentials"),
        "{text}"
    );
    assert!(!text.contains(wrong) && !text.contains(PASSWORD), "{text}");

    // No credentials at all: says how to give some.
    let client = Client::new(&registry.host(), options(Credentials::anonymous())).unwrap();
    let err = client
        .manifest_digest("hoist-reg/app", "v1")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("docker login"), "{err}");

    // Without the CA, the certificate is not trusted, and the error says so.
    let client = Client::new(
        &registry.host(),
        ClientOptions {
            credentials: Credentials::basic(USER, PASSWORD),
            retries: 0,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let err = client
        .manifest_digest("hoist-reg/app", "v1")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot reach") && err.to_lowercase().contains("certificate"),
        "{err}"
    );

    // Plain HTTP to a TLS registry is not silently tried.
    let client = Client::new(
        &registry.host(),
        ClientOptions {
            insecure: false,
            ..options(Credentials::basic(USER, PASSWORD))
        },
    )
    .unwrap();
    assert!(
        client
            .manifest_digest("hoist-reg/app", "v1")
            .await
            .unwrap()
            .is_some()
    );
}
