//! The bearer-token flow against a real registry: Debian's docker-registry configured with
//! `auth: token`, trusting a certificate made here with `openssl`, and a token issuer run
//! by this test that checks basic credentials and signs JWTs (ES256, `x5c` header) as the
//! distribution token spec describes. Ports 20850-20851; repositories `regp-token/...`.
//! The token-renewal test uses ports 21100-21102 and repositories `hoist-regr-token/...`.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// One request the issuer answered: who asked (if the credentials were right), for
/// which scopes, and the token it handed out.
#[derive(Debug, Clone)]
struct Hit {
    user: Option<String>,
    scopes: BTreeSet<String>,
    token: Option<String>,
}

/// How long the issuer's tokens live.
#[derive(Debug, Clone, Copy)]
struct Lifetime {
    /// The answer's `expires_in`: how long the client is told it may use the token.
    expires_in: u64,
    /// How long after issue the registry refuses the token (its JWT `exp`).
    valid_for: u64,
}

/// Distribution 2.8 forgives this much clock skew past a JWT's `exp` (its `Leeway`); an
/// issuer that wants its tokens refused on time subtracts it from `exp`.
const REGISTRY_LEEWAY: u64 = 60;

/// A token issuer per <https://distribution.github.io/distribution/spec/auth/token/>:
/// `GET /token?service=..&scope=..` with basic credentials; answers `{"token": JWT}` whose
/// claims grant the requested actions to the one user it knows.
struct Issuer {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Set: tokens name another audience, so the registry refuses them.
    wrong_audience: Arc<AtomicBool>,
}

impl Issuer {
    fn start(port: u16, key_pem: Vec<u8>, cert_der_b64: String, lifetime: Lifetime) -> Issuer {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the token issuer");
        let hits = Arc::new(Mutex::new(Vec::new()));
        let wrong_audience = Arc::new(AtomicBool::new(false));
        let recorded = hits.clone();
        let wrong = wrong_audience.clone();
        let key = jsonwebtoken::EncodingKey::from_ec_pem(&key_pem).expect("the issuer's key");
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let signer = Signer {
                    key: &key,
                    cert_der_b64: &cert_der_b64,
                    lifetime,
                    audience: if wrong.load(Ordering::SeqCst) {
                        "hoist-regr-elsewhere"
                    } else {
                        SERVICE
                    },
                };
                // Errors on one connection concern that client only.
                let _ = answer(stream, &signer, &recorded);
            }
        });
        Issuer {
            hits,
            wrong_audience,
        }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

/// What the issuer signs tokens with, and what it puts in them.
struct Signer<'a> {
    key: &'a jsonwebtoken::EncodingKey,
    cert_der_b64: &'a str,
    lifetime: Lifetime,
    audience: &'a str,
}

fn answer(stream: TcpStream, signer: &Signer, hits: &Mutex<Vec<Hit>>) -> std::io::Result<()> {
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
    let (status, body, token) = match (&user, service.as_deref()) {
        (Some(user), Some(SERVICE)) => {
            let (body, token) = token_body(user, &scopes, signer);
            ("200 OK", body, Some(token))
        }
        (None, _) => (
            "401 Unauthorized",
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"wrong username or password"}]}"#
                .to_string(),
            None,
        ),
        (Some(_), _) => (
            "400 Bad Request",
            r#"{"errors":[{"code":"DENIED","message":"unknown service"}]}"#.to_string(),
            None,
        ),
    };
    hits.lock().unwrap().push(Hit {
        user: user.clone(),
        scopes: scopes.clone(),
        token,
    });
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// `{"token": ..., "expires_in": ..., "issued_at": ...}` granting `scopes`
/// (`repository:NAME:ACTIONS`), and the token.
fn token_body(user: &str, scopes: &BTreeSet<String>, signer: &Signer) -> (String, String) {
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
    let issued = jiff::Timestamp::now();
    let now = issued.as_second() as u64;
    // Whole seconds, rounded up, so the registry takes the token for `valid_for` at least.
    let exp = now + 1 + signer.lifetime.valid_for - REGISTRY_LEEWAY;
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": user,
        "aud": signer.audience,
        "iat": now,
        "nbf": exp.min(now) - 10,
        "exp": exp,
        "jti": format!("regp-{now}-{}", scopes.len()),
        "access": access,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    // The registry verifies the signing key through this chain against its rootcertbundle.
    header.x5c = Some(vec![signer.cert_der_b64.to_string()]);
    let token = jsonwebtoken::encode(&header, &claims, signer.key).expect("sign the token");
    let body = serde_json::json!({
        "token": token,
        "expires_in": signer.lifetime.expires_in,
        "issued_at": issued.to_string(),
    });
    (body.to_string(), token)
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
    client_at(&registry.host(), credentials)
}

/// A client for the registry at `host` (`127.0.0.1:port`).
fn client_at(host: &str, credentials: Credentials) -> Client {
    Client::new(
        host,
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

/// A plain-HTTP registry on `port` that takes tokens of the issuer on `issuer_port`,
/// signed with the key whose certificate is `token.crt` in `keys`.
fn token_registry(port: u16, issuer_port: u16, keys: &Path) -> TestRegistry {
    TestRegistry::plain_with(
        port,
        &format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{issuer_port}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            keys.join("token.crt").display()
        ),
    )
}

/// A TCP proxy on `port` in front of 127.0.0.1:`upstream` that forwards what clients send
/// in steps of at most 16 KiB, 20 ms apart: an upload of `n` bytes takes at least
/// `n / 16 KiB * 20 ms` to reach the registry.
fn slow_proxy(port: u16, upstream: u16) {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the proxy");
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (client_back, server_back) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || pump(client, server, Some(Duration::from_millis(20))));
            std::thread::spawn(move || pump(server_back, client_back, None));
        }
    });
}

/// Copies `from` to `to`, pausing after each read when asked, until either side closes.
fn pump(mut from: TcpStream, mut to: TcpStream, pause: Option<Duration>) {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if let Some(pause) = pause {
            std::thread::sleep(pause);
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// The status the registry on `port` answers `GET /v2/` with `token` as the bearer.
fn bearer_status(port: u16, token: &str) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("reach the registry");
    write!(
        stream,
        "GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut status_line = String::new();
    BufReader::new(stream).read_line(&mut status_line).unwrap();
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {status_line:?}"))
}

const RENEW_REGISTRY_PORT: u16 = 21100;
const RENEW_ISSUER_PORT: u16 = 21101;
const RENEW_PROXY_PORT: u16 = 21102;
/// Through [`slow_proxy`] its upload takes at least 192 * 20 ms = 3.84 s: longer than the
/// registry takes any one token (under 3 s, see the test).
const SLOW_LAYER: usize = 3 << 20;

#[tokio::test]
async fn a_push_that_outlasts_its_token_renews_it_before_the_registry_refuses_it() {
    let keys = tempfile::tempdir().unwrap();
    let (key_pem, cert_der_b64) = make_signing_key(keys.path());
    // Hoist is told a token lasts 1 s (so renews it after 0.75 s); the registry takes each
    // for 2 to 3 s (whole-second `exp`), then answers 401.
    let issuer = Issuer::start(
        RENEW_ISSUER_PORT,
        key_pem,
        cert_der_b64,
        Lifetime {
            expires_in: 1,
            valid_for: 2,
        },
    );
    let registry = token_registry(RENEW_REGISTRY_PORT, RENEW_ISSUER_PORT, keys.path());
    slow_proxy(RENEW_PROXY_PORT, RENEW_REGISTRY_PORT);
    let hoist = client_at(
        &format!("127.0.0.1:{RENEW_PROXY_PORT}"),
        Credentials::basic(USER, PASSWORD),
    );

    let repository = "hoist-regr-token/app";
    let layer = vec![0x5a_u8; SLOW_LAYER];
    let (blobs, manifest) = image(&[&layer]);
    let report = hoist
        .push_image(repository, &blobs, OCI_MANIFEST, &manifest, &["v1".into()])
        .await
        .unwrap();
    assert_eq!(
        (report.blobs_uploaded, report.manifest_uploaded),
        (2, true),
        "{report:?}"
    );
    let (raw, _, _) = hoist.get_manifest(repository, "v1").await.unwrap().unwrap();
    assert_eq!(raw.as_ref(), manifest.as_slice());

    // The push scope's token was fetched again during the push, and the registry refused
    // nothing but the very first request (the challenge that starts the flow): each new
    // token came before any 401.
    let push_scope = scopes(&["repository:hoist-regr-token/app:pull,push"]);
    let hits = issuer.hits();
    let push_tokens = hits.iter().filter(|h| h.scopes == push_scope).count();
    assert!(push_tokens >= 2, "the token was not renewed: {hits:?}");
    let requests = registry.requests();
    let refused: Vec<&String> = requests.iter().filter(|r| r.ends_with(" 401")).collect();
    assert_eq!(refused.len(), 1, "{requests:#?}");
    assert!(requests[0].ends_with(" 401"), "{requests:#?}");

    // Without the renewal the registry would have refused the push half-way: the first
    // token, which it took at the start, it refuses now.
    let first = hits[0].token.clone().expect("the first token");
    assert_eq!(bearer_status(RENEW_REGISTRY_PORT, &first), 401);

    // A token the registry refuses (issued for another audience): the error says the
    // credentials were refused, and holds no token and no password.
    issuer.wrong_audience.store(true, Ordering::SeqCst);
    let err = hoist
        .manifest_digest("hoist-regr-token/other", "v1")
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{text}");
    assert!(text.contains("refused the credentials"), "{text}");
    let tokens: Vec<String> = issuer.hits().into_iter().filter_map(|h| h.token).collect();
    assert!(tokens.len() > push_tokens, "{:?}", issuer.hits());
    for token in &tokens {
        assert!(!text.contains(token.as_str()), "a token in: {text}");
    }
    assert!(!text.contains(PASSWORD), "{text}");
}

#[tokio::test]
async fn bearer_tokens_from_a_real_token_server() {
    let keys = tempfile::tempdir().unwrap();
    let (key_pem, cert_der_b64) = make_signing_key(keys.path());
    let issuer = Issuer::start(
        ISSUER_PORT,
        key_pem,
        cert_der_b64,
        Lifetime {
            expires_in: 300,
            valid_for: 300,
        },
    );
    let registry = token_registry(REGISTRY_PORT, ISSUER_PORT, keys.path());
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
