//! The bearer-token flow against a real registry: Debian's docker-registry configured with
//! `auth: token`, trusting a certificate made here with `openssl`, and a token issuer run
//! by this test that checks basic credentials and signs JWTs (ES256, `x5c` header) as the
//! distribution token spec describes. Ports 20850-20851; repositories `regp-token/...`.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hoist_registry::manifest::{
    Descriptor, ImageManifest, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST,
};
use hoist_registry::{
    Blob, BlobSource, Client, ClientOptions, Credentials, RegistryError, digest_of,
};
use support::TestRegistry;

const REGISTRY_PORT: u16 = 20850;
const ISSUER_PORT: u16 = 20851;
const SERVICE: &str = "regp-registry";
const ISSUER: &str = "regp-token-issuer";
const USER: &str = "regp-ci";
const PASSWORD: &str = "regp-token-pw-93b1e0";

/// One request the issuer answered: who asked (if the credentials were right) and for
/// which scopes.
#[derive(Debug, Clone)]
struct Hit {
    user: Option<String>,
    scopes: BTreeSet<String>,
}

/// A token issuer per <https://distribution.github.io/distribution/spec/auth/token/>:
/// `GET /token?service=..&scope=..` with basic credentials; answers `{"token": JWT}` whose
/// claims grant the requested actions to the one user it knows.
struct Issuer {
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Issuer {
    fn start(port: u16, key_pem: Vec<u8>, cert_der_b64: String) -> Issuer {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the token issuer");
        let hits = Arc::new(Mutex::new(Vec::new()));
        let recorded = hits.clone();
        let key = jsonwebtoken::EncodingKey::from_ec_pem(&key_pem).expect("the issuer's key");
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                // Errors on one connection concern that client only.
                let _ = answer(stream, &key, &cert_der_b64, &recorded);
            }
        });
        Issuer { hits }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

fn answer(
    stream: TcpStream,
    key: &jsonwebtoken::EncodingKey,
    cert_der_b64: &str,
    hits: &Mutex<Vec<Hit>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_string());
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut service = None;
    let mut scopes = BTreeSet::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "service" => service = Some(value.into_owned()),
            "scope" => {
                scopes.insert(value.into_owned());
            }
            _ => {}
        }
    }
    let user = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .filter(|pair| pair == &format!("{USER}:{PASSWORD}"))
        .map(|_| USER.to_string());
    hits.lock().unwrap().push(Hit {
        user: user.clone(),
        scopes: scopes.clone(),
    });
    let (status, body) = match (&user, service.as_deref()) {
        (Some(user), Some(SERVICE)) => ("200 OK", token_body(user, &scopes, key, cert_der_b64)),
        (None, _) => (
            "401 Unauthorized",
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"wrong username or password"}]}"#
                .to_string(),
        ),
        (Some(_), _) => (
            "400 Bad Request",
            r#"{"errors":[{"code":"DENIED","message":"unknown service"}]}"#.to_string(),
        ),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// `{"token": ..., "expires_in": ...}` granting `scopes` (`repository:NAME:ACTIONS`).
fn token_body(
    user: &str,
    scopes: &BTreeSet<String>,
    key: &jsonwebtoken::EncodingKey,
    cert_der_b64: &str,
) -> String {
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|scope| {
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(serde_json::json!({
                "type": kind,
                "name": name,
                "actions": actions.split(',').collect::<Vec<_>>(),
            }))
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": user,
        "aud": SERVICE,
        "iat": now,
        "nbf": now - 10,
        "exp": now + 300,
        "jti": format!("regp-{now}-{}", scopes.len()),
        "access": access,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    // The registry verifies the signing key through this chain against its rootcertbundle.
    header.x5c = Some(vec![cert_der_b64.to_string()]);
    let token = jsonwebtoken::encode(&header, &claims, key).expect("sign the token");
    serde_json::json!({"token": token, "expires_in": 300}).to_string()
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed by scripts/setup-machine.sh");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An EC P-256 key (PKCS#8 PEM) and a self-signed certificate for it, in `dir`; returns the
/// key and the certificate's DER in base64 (an `x5c` entry).
fn make_signing_key(dir: &Path) -> (Vec<u8>, String) {
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "token.key",
        ],
        dir,
    );
    openssl(
        &[
            "req",
            "-x509",
            "-key",
            "token.key",
            "-subj",
            "/CN=regp token issuer",
            "-days",
            "2",
            "-out",
            "token.crt",
        ],
        dir,
    );
    let cert = std::fs::read_to_string(dir.join("token.crt")).unwrap();
    let der_b64: String = cert
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    (std::fs::read(dir.join("token.key")).unwrap(), der_b64)
}

/// An image of `layers` (config last among the blobs) and its manifest.
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

fn client(registry: &TestRegistry, credentials: Credentials) -> Client {
    Client::new(
        &registry.host(),
        ClientOptions {
            credentials,
            insecure: true,
            retries: 1,
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

fn scopes(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn bearer_tokens_from_a_real_token_server() {
    let keys = tempfile::tempdir().unwrap();
    let (key_pem, cert_der_b64) = make_signing_key(keys.path());
    let issuer = Issuer::start(ISSUER_PORT, key_pem, cert_der_b64);
    let registry = TestRegistry::plain_with(
        REGISTRY_PORT,
        &format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{ISSUER_PORT}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            keys.path().join("token.crt").display()
        ),
    );
    let (base, app) = ("regp-token/app-base", "regp-token/app");
    let hoist = client(&registry, Credentials::basic(USER, PASSWORD));

    // The base, then the app: its first layer is the base's, mounted across repositories.
    let (base_blobs, base_manifest) = image(&[b"regp dependencies layer"]);
    hoist
        .push_image(
            base,
            &base_blobs,
            OCI_MANIFEST,
            &base_manifest,
            &["fp-1".into()],
        )
        .await
        .unwrap();
    let (mut app_blobs, app_manifest) = image(&[b"regp dependencies layer", b"regp code layer"]);
    app_blobs[0].source = BlobSource::Remote;
    app_blobs[0].mount_from = Some(base.into());
    let report = hoist
        .push_image(app, &app_blobs, OCI_MANIFEST, &app_manifest, &["v1".into()])
        .await
        .unwrap();
    assert_eq!(
        (report.blobs_mounted, report.blobs_uploaded),
        (1, 2),
        "{report:?}"
    );

    // Pulled back through the same client: the manifest and every blob, content-checked.
    let (raw, _, digest) = hoist.get_manifest(app, "v1").await.unwrap().unwrap();
    assert_eq!(digest, digest_of(&app_manifest));
    assert_eq!(raw.as_ref(), app_manifest.as_slice());
    for blob in &app_blobs {
        let bytes = hoist.get_blob(app, &blob.digest).await.unwrap();
        assert_eq!(bytes.len() as u64, blob.size);
    }

    // What the issuer was asked: each scope set the spec calls for, each exactly once.
    let hits = issuer.hits();
    assert!(
        hits.iter().all(|h| h.user.as_deref() == Some(USER)),
        "{hits:?}"
    );
    let asked: Vec<BTreeSet<String>> = hits.iter().map(|h| h.scopes.clone()).collect();
    let expected = [
        scopes(&["repository:regp-token/app-base:pull,push"]),
        scopes(&["repository:regp-token/app-base:pull"]),
        // The mount: push on the target, pull on the source, in one token.
        scopes(&[
            "repository:regp-token/app:pull,push",
            "repository:regp-token/app-base:pull",
        ]),
        scopes(&["repository:regp-token/app:pull,push"]),
        scopes(&["repository:regp-token/app:pull"]),
    ];
    for scope_set in &expected {
        assert_eq!(
            asked.iter().filter(|a| *a == scope_set).count(),
            1,
            "{scope_set:?} asked for once: {asked:?}"
        );
    }
    assert_eq!(asked.len(), expected.len(), "no other token: {asked:?}");
    // Tokens are reused: far more registry requests than tokens fetched.
    let authorised = registry
        .requests()
        .iter()
        .filter(|r| !r.ends_with(" 401"))
        .count();
    assert!(authorised >= 3 * hits.len(), "{:?}", registry.requests());

    // An identical push and another pull ask the issuer for nothing more.
    let again = hoist
        .push_image(app, &app_blobs, OCI_MANIFEST, &app_manifest, &["v1".into()])
        .await
        .unwrap();
    assert_eq!((again.blobs_uploaded, again.manifest_uploaded), (0, false));
    hoist.get_manifest(app, "v1").await.unwrap().unwrap();
    assert_eq!(issuer.hits().len(), hits.len(), "{:?}", issuer.hits());

    // A real client reads it through the same token server.
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", "--creds"])
        .arg(format!("{USER}:{PASSWORD}"))
        .arg(format!("docker://{}/{app}:v1", registry.host()))
        .output()
        .expect("skopeo is installed by scripts/setup-machine.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(digest_of(&out.stdout), digest_of(&app_manifest));

    // A wrong password: the issuer refuses it, and the error names the registry and the
    // user but never a password.
    let wrong = "regp-wrong-pw-0c4d";
    let before = issuer.hits().len();
    let err = client(&registry, Credentials::basic(USER, wrong))
        .manifest_digest(app, "v1")
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{text}");
    assert!(
        text.contains(&registry.host()) && text.contains(USER),
        "{text}"
    );
    assert!(
        text.contains("refused the credentials"),
        "says what to check: {text}"
    );
    assert!(!text.contains(wrong) && !text.contains(PASSWORD), "{text}");
    let refused = &issuer.hits()[before..];
    assert!(
        !refused.is_empty() && refused.iter().all(|h| h.user.is_none()),
        "{refused:?}"
    );

    // No credentials: the issuer refuses an anonymous token, the error says how to log in.
    let err = client(&registry, Credentials::anonymous())
        .manifest_digest(app, "v1")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("docker login"), "{err}");
}
