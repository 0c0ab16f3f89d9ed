//! `.dockerignore` matching (`hoist-dockerignore`). Input: the file's text, then a NUL
//! byte, then one path per line to match. Besides never panicking, a directory the
//! walker may prune (`can_prune_dir`) must have every path below it excluded: otherwise
//! the build context and the secret scan would skip files Docker sends.
#![no_main]

use std::path::{Component, Path};

use hoist_dockerignore::DockerIgnore;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (patterns, paths) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let patterns = String::from_utf8_lossy(patterns);
    let paths = String::from_utf8_lossy(paths);
    let Ok(ignore) = DockerIgnore::parse(".dockerignore", &patterns) else {
        return;
    };
    let _ = (ignore.is_empty(), ignore.can_prune());
    let paths: Vec<&str> = paths.lines().take(16).collect();
    for path in &paths {
        let excluded = ignore.is_excluded(path);
        let prunable = ignore.can_prune_dir(path);
        if prunable {
            assert!(excluded, "{path:?} is prunable but not excluded");
        }
        if !prunable || !plain(path) {
            continue;
        }
        for below in paths.iter().filter(|p| plain(p)) {
            let child = format!("{path}/{below}");
            assert!(
                ignore.is_excluded(&child),
                "{path:?} was pruned but {child:?} below it is not excluded"
            );
        }
    }
});

/// A relative path of ordinary names only (no `..`, no root), as a walker produces.
fn plain(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}
