//! A push killed half-way, for real: a child process (this test binary, re-run in its
//! child mode) pushes an image through a throttling TCP proxy to Debian's docker-registry,
//! and is killed with SIGKILL once the proxy has forwarded part of the layer and before
//! any manifest. The tag must still name the previous, complete image (every blob of it
//! present), and a rerun must complete: checked with `skopeo inspect` and `docker pull`.
//!
//! `harness = false`: `main` runs the scenario, or, with `REGP_KILLED_PUSH_TO` set, is the
//! child that pushes. Ports 20860-20861; repository and image names start with `regp-`.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hoist_registry::manifest::{
    Descriptor, ImageManifest, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST,
};
use hoist_registry::{Blob, BlobSource, Client, ClientOptions, digest_of};
use support::TestRegistry;

const REGISTRY_PORT: u16 = 20860;
const PROXY_PORT: u16 = 20861;
const REPOSITORY: &str = "regp-kill/app";
const TAG: &str = "latest";
/// Child mode: the registry (`host:port`) to push to.
const CHILD_TARGET: &str = "REGP_KILLED_PUSH_TO";
/// Child mode: the directory holding the image to push ([`write_image`]).
const CHILD_IMAGE: &str = "REGP_KILLED_PUSH_IMAGE";
/// The big layer: far more than the sockets between the child and the registry can hold
/// (the child's send buffer is at most 4 MiB here, the proxy's receive buffer is pinned
/// small), so at the kill most of it has not left the child.
const BIG_LAYER: usize = 16 << 20;
/// Kill once the proxy has forwarded this much of the layer.
const KILL_AFTER: u64 = 256 << 10;

fn main() {
    if let (Ok(target), Ok(image)) = (std::env::var(CHILD_TARGET), std::env::var(CHILD_IMAGE)) {
        std::process::exit(child_push(&target, Path::new(&image)));
    }
    a_push_killed_half_way_leaves_the_previous_tag_and_a_rerun_completes();
    println!("test a_push_killed_half_way_leaves_the_previous_tag_and_a_rerun_completes ... ok");
}

/// The child: pushes the image in `dir` to `target` as hoist does (layer streamed from
/// its file, config, manifest last). Returns the exit code.
fn child_push(target: &str, dir: &Path) -> i32 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let image = StoredImage::read(dir);
        let client = Client::new(
            target,
            ClientOptions {
                insecure: true,
                ..ClientOptions::default()
            },
        )
        .expect("a client");
        match client
            .push_image(
                REPOSITORY,
                &image.blobs(),
                OCI_MANIFEST,
                &image.manifest,
                &[TAG.to_string()],
            )
            .await
        {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("child push failed: {e}");
                1
            }
        }
    })
}

/// An image on disk: a real gzipped tar layer holding one file of random bytes, its
/// config and manifest, so that `docker pull` accepts it.
struct StoredImage {
    dir: PathBuf,
    layer_digest: String,
    layer_size: u64,
    diff_id: String,
    config: Vec<u8>,
    manifest: Vec<u8>,
}

impl StoredImage {
    fn layer_path(dir: &Path) -> PathBuf {
        dir.join("layer.tar.gz")
    }

    fn read(dir: &Path) -> StoredImage {
        let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
        let config = std::fs::read(dir.join("config.json")).unwrap();
        let parsed: ImageManifest = serde_json::from_slice(&manifest).unwrap();
        let config_json: serde_json::Value = serde_json::from_slice(&config).unwrap();
        StoredImage {
            dir: dir.to_path_buf(),
            layer_digest: parsed.layers[0].digest.clone(),
            layer_size: parsed.layers[0].size,
            diff_id: config_json["rootfs"]["diff_ids"][0]
                .as_str()
                .unwrap()
                .to_string(),
            config,
            manifest,
        }
    }

    fn blobs(&self) -> Vec<Blob> {
        vec![
            Blob {
                digest: self.layer_digest.clone(),
                size: self.layer_size,
                source: BlobSource::File(Self::layer_path(&self.dir)),
                mount_from: None,
            },
            Blob {
                digest: digest_of(&self.config),
                size: self.config.len() as u64,
                source: BlobSource::Bytes(self.config.clone().into()),
                mount_from: None,
            },
        ]
    }

    fn manifest_digest(&self) -> String {
        digest_of(&self.manifest)
    }
}

/// Writes an image whose layer holds `regp/<name>`: `size` bytes from `seed`.
fn write_image(dir: &Path, name: &str, size: usize, seed: u64) -> StoredImage {
    std::fs::create_dir_all(dir).unwrap();
    let mut data = vec![0u8; size];
    let mut state = seed | 1;
    for chunk in data.chunks_mut(8) {
        // xorshift64: incompressible enough that gzip keeps the layer big.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(size as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, format!("regp/{name}"), data.as_slice())
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let diff_id = digest_of(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let layer = gz.finish().unwrap();
    std::fs::write(StoredImage::layer_path(dir), &layer).unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
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
        layers: vec![Descriptor {
            media_type: OCI_LAYER_GZIP.into(),
            digest: digest_of(&layer),
            size: layer.len() as u64,
            platform: None,
            annotations: None,
        }],
        annotations: None,
    }
    .to_bytes();
    std::fs::write(dir.join("config.json"), &config).unwrap();
    std::fs::write(dir.join("manifest.json"), &manifest).unwrap();
    StoredImage::read(dir)
}

/// A TCP proxy in front of the registry that forwards what the client sends slowly
/// (while `throttle` is set) and watches it: bytes forwarded after a blob upload's `PUT`
/// began, and whether a manifest `PUT` passed.
#[derive(Clone, Default)]
struct Proxy {
    throttle: Arc<AtomicBool>,
    blob_bytes: Arc<AtomicU64>,
    manifest_put: Arc<AtomicBool>,
    open_connections: Arc<AtomicUsize>,
}

const BLOB_PUT: &[u8] = b"PUT /v2/regp-kill/app/blobs/uploads/";
const MANIFEST_PUT: &[u8] = b"PUT /v2/regp-kill/app/manifests/";

impl Proxy {
    fn start(port: u16, upstream: u16) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the proxy");
        // A small, fixed receive buffer (accepted sockets inherit it): the child cannot park
        // megabytes in the proxy's kernel buffer while the proxy forwards slowly.
        socket2::SockRef::from(&listener)
            .set_recv_buffer_size(64 << 10)
            .unwrap();
        let proxy = Proxy {
            throttle: Arc::new(AtomicBool::new(true)),
            ..Proxy::default()
        };
        let shared = proxy.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                shared.open_connections.fetch_add(1, Ordering::SeqCst);
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let watcher = shared.clone();
                std::thread::spawn(move || {
                    watcher.forward_upstream(client, server);
                    watcher.open_connections.fetch_sub(1, Ordering::SeqCst);
                });
                std::thread::spawn(move || {
                    let (mut from, mut to) = (s2, c2);
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Both);
                    let _ = from.shutdown(Shutdown::Both);
                });
            }
        });
        proxy
    }

    /// Client to registry: in 8 KiB steps 30 ms apart while throttled (about 270 KB/s).
    fn forward_upstream(&self, mut client: TcpStream, mut server: TcpStream) {
        let mut buf = vec![0u8; 8 << 10];
        // The tail of the previous read, so a request line split across reads is seen.
        let mut carry: Vec<u8> = Vec::new();
        let mut in_blob_put = false;
        loop {
            let n = match client.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            let mut window = std::mem::take(&mut carry);
            let carried = window.len();
            window.extend_from_slice(chunk);
            if find(&window, MANIFEST_PUT).is_some() {
                self.manifest_put.store(true, Ordering::SeqCst);
            }
            if in_blob_put {
                self.blob_bytes.fetch_add(n as u64, Ordering::SeqCst);
            } else if let Some(at) = find(&window, BLOB_PUT) {
                in_blob_put = true;
                let after = (at + BLOB_PUT.len()).saturating_sub(carried);
                self.blob_bytes
                    .fetch_add((n - after.min(n)) as u64, Ordering::SeqCst);
            }
            carry = window[window.len().saturating_sub(64)..].to_vec();
            if server.write_all(chunk).is_err() {
                break;
            }
            if self.throttle.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(30));
            }
        }
        let _ = server.shutdown(Shutdown::Both);
        let _ = client.shutdown(Shutdown::Both);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn skopeo_inspect(registry: &TestRegistry, raw: bool) -> Vec<u8> {
    let mut cmd = Command::new("skopeo");
    cmd.arg("inspect");
    if raw {
        cmd.arg("--raw");
    }
    let out = cmd
        .arg("--tls-verify=false")
        .arg(format!("docker://{}/{REPOSITORY}:{TAG}", registry.host()))
        .output()
        .expect("skopeo is installed by scripts/setup-machine.sh");
    assert!(
        out.status.success(),
        "skopeo inspect: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn spawn_child(target: &str, image: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .env(CHILD_TARGET, target)
        .env(CHILD_IMAGE, image)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the child push")
}

fn a_push_killed_half_way_leaves_the_previous_tag_and_a_rerun_completes() {
    let registry = TestRegistry::plain(REGISTRY_PORT);
    let proxy = Proxy::start(PROXY_PORT, REGISTRY_PORT);
    let work = tempfile::tempdir().unwrap();
    let v1 = write_image(&work.path().join("v1"), "v1.bin", 64 << 10, 0x5eed_0001);
    let v2 = write_image(&work.path().join("v2"), "v2.bin", BIG_LAYER, 0x5eed_0002);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = Client::new(
        &registry.host(),
        ClientOptions {
            insecure: true,
            ..ClientOptions::default()
        },
    )
    .unwrap();

    // The previous release, complete under the tag.
    assert_eq!(
        child_push(&registry.host(), &v1.dir),
        0,
        "the first push completes"
    );

    // The next one, slowed by the proxy and killed in the middle of its layer.
    let mut child = spawn_child(&format!("127.0.0.1:{PROXY_PORT}"), &v2.dir);
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.blob_bytes.load(Ordering::SeqCst) < KILL_AFTER {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child push ended ({status}) before it could be killed mid-upload");
        }
        assert!(
            Instant::now() < deadline,
            "the proxy saw no layer bytes in 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !proxy.manifest_put.load(Ordering::SeqCst),
        "killed before any manifest"
    );
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status}");
    let forwarded = proxy.blob_bytes.load(Ordering::SeqCst);
    // What the child had handed its kernel still drains: let it, quickly, then wait for
    // the registry to see the connection end.
    proxy.throttle.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    while proxy.open_connections.load(Ordering::SeqCst) > 0 {
        assert!(
            Instant::now() < deadline,
            "the proxy's connections did not end"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let drained = proxy.blob_bytes.load(Ordering::SeqCst);
    assert!(
        drained < v2.layer_size,
        "the child was killed half-way: {drained} of {} layer bytes ever left it ({forwarded} when killed)",
        v2.layer_size
    );
    assert!(!proxy.manifest_put.load(Ordering::SeqCst));
    eprintln!(
        "killed after {forwarded} layer bytes had passed the proxy; {drained} of {} ever did",
        v2.layer_size
    );

    runtime.block_on(async {
        // The tag still names the previous image, and every blob it names is there.
        assert_eq!(
            client.manifest_digest(REPOSITORY, TAG).await.unwrap(),
            Some(v1.manifest_digest())
        );
        for blob in v1.blobs() {
            assert!(
                client.blob_exists(REPOSITORY, &blob.digest).await.unwrap(),
                "{} of the tagged image is present",
                blob.digest
            );
        }
        assert!(
            !client
                .blob_exists(REPOSITORY, &v2.layer_digest)
                .await
                .unwrap(),
            "the broken upload left no blob"
        );
    });
    assert_eq!(
        digest_of(&skopeo_inspect(&registry, true)),
        v1.manifest_digest()
    );

    // The rerun completes, straight to the registry.
    let status = spawn_child(&registry.host(), &v2.dir).wait().unwrap();
    assert!(status.success(), "the rerun completes: {status}");
    assert_eq!(
        digest_of(&skopeo_inspect(&registry, true)),
        v2.manifest_digest(),
        "skopeo reads the new image under the tag"
    );
    let inspected: serde_json::Value =
        serde_json::from_slice(&skopeo_inspect(&registry, false)).unwrap();
    assert_eq!(
        inspected["Layers"],
        serde_json::json!([v2.layer_digest]),
        "{inspected}"
    );
    // A real pull by digest: the engine fetches and checks every blob.
    let by_digest = format!("{}/{REPOSITORY}@{}", registry.host(), v2.manifest_digest());
    docker(&["pull", "-q", &by_digest]);
    let layers = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        &by_digest,
    ]);
    let _ = Command::new("docker").args(["rmi", &by_digest]).output();
    assert_eq!(layers, format!("[\"{}\"]", v2.diff_id));
}
