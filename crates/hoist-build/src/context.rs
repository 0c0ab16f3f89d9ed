//! Packing a build context into the tar stream the engine expects.
//!
//! Entries get fixed metadata (mtime 0, uid/gid 0) so the same files always pack to the
//! same bytes: the engine's layer cache then recognises them, and rebuilding a commit
//! reproduces its image.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hoist_core::backend::{BackendError, BuildContext};
use hoist_dockerignore::DockerIgnore;

/// Name under which the Dockerfile travels in the context, whatever its real path: it
/// cannot collide with the app's files, and `.dockerignore` cannot drop it.
pub const DOCKERFILE_NAME: &str = ".hoist.Dockerfile";

/// Packs `context` plus `dockerfile` into an uncompressed tar. `labels` are appended to
/// the Dockerfile as one `LABEL` instruction: the engine's `labels` build parameter adds
/// one build step per label, each costing a container commit with the classic builder.
pub fn pack(
    context: &BuildContext,
    dockerfile: &Path,
    labels: &BTreeMap<String, String>,
) -> Result<Vec<u8>, BackendError> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);
    let (root, files) = match context {
        BuildContext::Files { root, files } => (root.clone(), files.clone()),
        BuildContext::Directory { root } => (root.clone(), context_files(root)?),
    };
    for rel in &files {
        let path = root.join(rel);
        tar.append_path_with_name(&path, rel)
            .map_err(|e| io_error(&path, e))?;
    }
    let mut content = std::fs::read(dockerfile).map_err(|e| io_error(dockerfile, e))?;
    content.extend_from_slice(label_instruction(labels).as_bytes());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, DOCKERFILE_NAME, content.as_slice())
        .map_err(|e| io_error(dockerfile, e))?;
    tar.into_inner().map_err(|e| io_error(&root, e))
}

/// Files of a directory context, relative and sorted, minus what `.dockerignore` excludes.
pub fn context_files(root: &Path) -> Result<Vec<PathBuf>, BackendError> {
    let ignore = DockerIgnore::for_context(root).map_err(|e| BackendError::new(e.to_string()))?;
    let mut files = Vec::new();
    let mut walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = walker.next() {
        let entry = entry.map_err(|e| {
            BackendError::new(format!(
                "cannot read the build context {}: {e}",
                root.display()
            ))
        })?;
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        if entry.file_type().is_dir() {
            if ignore.can_prune_dir(rel) {
                walker.skip_current_dir();
            }
            continue;
        }
        if !ignore.is_excluded(rel) {
            files.push(rel.to_path_buf());
        }
    }
    Ok(files)
}

/// `\nLABEL "k"="v" ...\n`, quoted for the Dockerfile parser; empty without labels.
pub(crate) fn label_instruction(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let quote = |s: &str| {
        format!(
            "\"{}\"",
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', " ")
        )
    };
    let pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
        .collect();
    format!("\nLABEL {}\n", pairs.join(" "))
}

fn io_error(path: &Path, e: std::io::Error) -> BackendError {
    BackendError::new(format!(
        "cannot add {} to the build context: {e}",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(bytes: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn directory_context_honours_dockerignore_and_carries_the_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "app.py",
            "wheelhouse/a.whl",
            "docs/x.md",
            "docs/README.md",
            "Dockerfile",
        ] {
            std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
            std::fs::write(root.join(f), f).unwrap();
        }
        std::fs::write(
            root.join(".dockerignore"),
            "wheelhouse\ndocs\n!docs/README.md\n",
        )
        .unwrap();
        let tar = pack(
            &BuildContext::Directory {
                root: root.to_path_buf(),
            },
            &root.join("Dockerfile"),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(
            entries(&tar),
            [
                ".dockerignore",
                "Dockerfile",
                "app.py",
                "docs/README.md",
                DOCKERFILE_NAME
            ]
        );
    }

    #[test]
    fn file_context_holds_exactly_the_listed_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("requirements.txt"), "x").unwrap();
        std::fs::write(root.join("app.py"), "y").unwrap();
        std::fs::write(root.join("Dockerfile.base"), "FROM scratch").unwrap();
        let ctx = BuildContext::Files {
            root: root.to_path_buf(),
            files: vec![PathBuf::from("requirements.txt")],
        };
        let tar = pack(&ctx, &root.join("Dockerfile.base"), &BTreeMap::new()).unwrap();
        assert_eq!(entries(&tar), ["requirements.txt", DOCKERFILE_NAME]);
    }

    #[test]
    fn labels_become_one_quoted_instruction() {
        let labels = BTreeMap::from([
            ("a.b".to_string(), "v1".to_string()),
            ("q".to_string(), "say \"hi\"\\".to_string()),
        ]);
        assert_eq!(
            label_instruction(&labels),
            "\nLABEL \"a.b\"=\"v1\" \"q\"=\"say \\\"hi\\\"\\\\\"\n"
        );
        assert_eq!(label_instruction(&BTreeMap::new()), "");
    }

    #[test]
    fn packing_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "1").unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch").unwrap();
        let ctx = BuildContext::Directory {
            root: dir.path().to_path_buf(),
        };
        let labels = BTreeMap::from([("a".to_string(), "x \"y\"".to_string())]);
        let first = pack(&ctx, &dir.path().join("Dockerfile"), &labels).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(dir.path().join("a"), "1").unwrap(); // new mtime, same content
        assert_eq!(
            first,
            pack(&ctx, &dir.path().join("Dockerfile"), &labels).unwrap()
        );
    }
}
