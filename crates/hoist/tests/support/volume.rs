//! What the tests of `volumes` share: named volumes cleaned up around a test, an app that
//! reads and writes its mounts at start and serves what it found, and a look into a
//! volume from outside hoist. Everything here is named `hoist-vol-...`.

use std::process::Command;

use super::App;

/// Named volumes, removed before the test (what an earlier run left) and when dropped.
/// Declare it before the [`App`] (or services) whose containers mount them: locals drop
/// in reverse order, so the containers are gone by then.
pub struct Volumes(Vec<String>);

impl Volumes {
    pub fn new(names: &[&str]) -> Volumes {
        for name in names {
            assert!(name.starts_with("hoist-vol-"), "{name}: not a test name");
        }
        let volumes = Volumes(names.iter().map(|n| n.to_string()).collect());
        volumes.remove();
        volumes
    }

    fn remove(&self) {
        // A Swarm task's container goes a moment after its service: retry while in use.
        for _ in 0..40 {
            let left: Vec<&String> = self.0.iter().filter(|n| exists(n)).collect();
            if left.is_empty() {
                return;
            }
            let _ = Command::new("docker")
                .args(["volume", "rm"])
                .args(&left)
                .output();
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }
}

impl Drop for Volumes {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Whether the engine has a volume called `name`.
pub fn exists(name: &str) -> bool {
    Command::new("docker")
        .args(["volume", "inspect", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `file` of the volume `name`, read by a throwaway container of `image` (the engine
/// cannot pull, so an image the test built), or `None` when it cannot be read.
pub fn read(name: &str, file: &str, image: &str) -> Option<String> {
    let out = Command::new("docker")
        .args(["run", "--rm", "--label", "hoist-vol-check=1", "-v"])
        .arg(format!("{name}:/volume:ro"))
        .arg(image)
        .args(["cat", &format!("/volume/{file}")])
        .output()
        .expect("docker run");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The app's Dockerfile: as [`App::set_start_delay`]'s, and at start, after `delay`
/// seconds, it works with what is mounted:
///
/// - `/data`: writes `first` with its version unless a release before it did, writes
///   `serving` with its version, and serves copies of `first` and `migrations` (what
///   release tasks wrote) as `/first` and `/migrations`;
/// - `/config`: serves a copy of its `greeting` as `/greeting`, and at `/config-mode`
///   `writable` or `read-only` after trying to write `written` there.
pub fn dockerfile(app: &App, delay: u32) {
    let script = format!(
        "trap 'exit 0' TERM; sleep {delay}; \
         if [ -d /data ]; then \
           [ -f /data/first ] || echo \"$APP_VERSION\" > /data/first; \
           cp /data/first /www/first; \
           cp /data/migrations /www/migrations 2>/dev/null; \
           echo \"$APP_VERSION\" > /data/serving; \
         fi; \
         if [ -d /config ]; then \
           cp /config/greeting /www/greeting; \
           if touch /config/written 2>/dev/null; then echo writable; else echo read-only; fi > /www/config-mode; \
         fi; \
         echo \"$APP_VERSION\" > /www/version; httpd -f -p 8080 -h /www & wait"
    );
    let cmd = serde_json::to_string(&["sh", "-c", &script]).expect("JSON");
    app.write(
        "Dockerfile",
        &format!(
            "ARG HOIST_BASE\nFROM ${{HOIST_BASE}}\nCOPY www /www\nARG HOIST_VERSION=dev\n\
             ENV APP_VERSION=${{HOIST_VERSION}}\nCMD {cmd}\n"
        ),
    );
}

/// Adds `keys` (e.g. `volumes = [...]`) to the instance of `tenant` in hoist.toml as
/// [`App::write_config`] wrote it.
pub fn instance_keys(app: &App, tenant: &str, keys: &str) {
    let path = app.root().join("hoist.toml");
    let text = std::fs::read_to_string(&path).expect("hoist.toml");
    let line = format!("tenant = \"{tenant}\"\n");
    assert!(text.contains(&line), "no {tenant} in:\n{text}");
    std::fs::write(path, text.replacen(&line, &format!("{line}{keys}\n"), 1)).unwrap();
}
