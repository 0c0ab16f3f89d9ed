//! The app layer written reproducibly, for pushing to a registry: the same files give the
//! same bytes, so the same digest, on any runner and in any checkout directory.
//!
//! Entries are sorted by path, every parent directory has its own entry, every mtime is
//! the commit time, uid/gid are 0 with no user or group names, modes are normalised
//! (directories 0755; files 0755 when any execute bit is set, else 0644), symlinks stay
//! links, and the gzip stream has a fixed header (no name, mtime 0, OS "unknown") and a
//! pinned compression level on a pure-Rust deflate, so no zlib version changes the bytes.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};

use crate::layer::{LayerPlan, Unsupported, placements};

/// The deflate level: fixed, since another level gives other bytes.
const GZIP_LEVEL: u32 = 6;
/// The gzip header's OS byte: 255, "unknown", whatever the machine.
const GZIP_OS_UNKNOWN: u8 = 255;

/// A layer as the registry stores it.
#[derive(Debug, Clone)]
pub struct ReproducibleLayer {
    /// `sha256:` of the uncompressed tar: the image config's `diff_id`.
    pub diff_id: String,
    /// The gzipped tar: the blob.
    pub gzip: Vec<u8>,
    /// `sha256:` of `gzip`: the manifest's layer digest.
    pub digest: String,
}

enum Entry {
    Dir,
    File { source: PathBuf, executable: bool },
    Symlink(PathBuf),
}

/// Writes the layer of `plan`'s copies and `WORKDIR`s from `context` (whose
/// `.dockerignore`-filtered files are `context_files`), every entry dated `mtime`
/// (seconds since the epoch: the commit's time).
pub fn reproducible_layer(
    plan: &LayerPlan,
    context: &Path,
    context_files: &[PathBuf],
    mtime: u64,
) -> Result<ReproducibleLayer, Unsupported> {
    use std::os::unix::fs::PermissionsExt;
    // Keyed without a trailing slash, so a directory sorts right before its contents.
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    let add_parents = |entries: &mut BTreeMap<String, Entry>, path: &str| {
        let mut prefix = String::new();
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            entries.entry(prefix.clone()).or_insert(Entry::Dir);
        }
    };
    for dir in &plan.workdirs {
        let name = dir.trim_matches('/').to_string();
        if name.is_empty() {
            continue;
        }
        add_parents(&mut entries, &name);
        entries.insert(name, Entry::Dir);
    }
    for (target, source) in placements(plan, context, context_files)? {
        let name = target.trim_matches('/').to_string();
        add_parents(&mut entries, &name);
        let meta =
            std::fs::symlink_metadata(&source).map_err(|e| format!("{}: {e}", source.display()))?;
        let entry = if meta.file_type().is_symlink() {
            Entry::Symlink(
                std::fs::read_link(&source).map_err(|e| format!("{}: {e}", source.display()))?,
            )
        } else {
            Entry::File {
                executable: meta.permissions().mode() & 0o111 != 0,
                source,
            }
        };
        // A later COPY of the same path wins, as when the layers are unpacked.
        entries.insert(name, entry);
    }

    let mut tar = tar::Builder::new(Vec::new());
    for (name, entry) in &entries {
        let mut header = tar::Header::new_ustar();
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        let result = match entry {
            Entry::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                tar.append_data(&mut header, format!("{name}/"), std::io::empty())
            }
            Entry::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                tar.append_link(&mut header, name, target)
            }
            Entry::File { source, executable } => {
                let data =
                    std::fs::read(source).map_err(|e| format!("{}: {e}", source.display()))?;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if *executable { 0o755 } else { 0o644 });
                header.set_size(data.len() as u64);
                tar.append_data(&mut header, name, data.as_slice())
            }
        };
        result.map_err(|e| format!("writing {name} into the layer: {e}"))?;
    }
    let tar = tar.into_inner().map_err(|e| e.to_string())?;
    let mut gz = GzBuilder::new()
        .mtime(0)
        .operating_system(GZIP_OS_UNKNOWN)
        .write(Vec::new(), Compression::new(GZIP_LEVEL));
    gz.write_all(&tar).map_err(|e| e.to_string())?;
    let gzip = gz.finish().map_err(|e| e.to_string())?;
    Ok(ReproducibleLayer {
        diff_id: hoist_registry::digest_of(&tar),
        digest: hoist_registry::digest_of(&gzip),
        gzip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// The same tree in two directories, written at different times with different
    /// permission bits that normalise alike.
    fn checkout(dir: &Path, umask_like: u32) {
        for (file, text) in [
            ("app/main.py", "print(1)\n"),
            ("app/pkg/mod.py", "X = 2\n"),
            ("run.sh", "#!/bin/sh\n"),
        ] {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644 & umask_like))
                .unwrap();
        }
        std::fs::set_permissions(
            dir.join("run.sh"),
            std::fs::Permissions::from_mode(0o755 & (umask_like | 0o100)),
        )
        .unwrap();
        std::os::unix::fs::symlink("main.py", dir.join("app/current.py")).unwrap();
    }

    fn files() -> Vec<PathBuf> {
        ["app/current.py", "app/main.py", "app/pkg/mod.py", "run.sh"]
            .iter()
            .map(PathBuf::from)
            .collect()
    }

    #[test]
    fn same_tree_same_bytes_across_runs_and_checkouts() {
        let plan = crate::layer::plan(
            "FROM b\nCOPY app/ /srv/app/\nCOPY run.sh /srv/\nWORKDIR /srv/data\n",
            &BTreeMap::new(),
        )
        .unwrap();
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        checkout(one.path(), 0o777);
        std::thread::sleep(std::time::Duration::from_millis(20));
        checkout(two.path(), 0o700);
        let a = reproducible_layer(&plan, one.path(), &files(), 1_700_000_000).unwrap();
        let again = reproducible_layer(&plan, one.path(), &files(), 1_700_000_000).unwrap();
        let b = reproducible_layer(&plan, two.path(), &files(), 1_700_000_000).unwrap();
        assert_eq!(a.gzip, again.gzip, "two runs");
        assert_eq!(a.gzip, b.gzip, "two checkouts");
        assert_eq!(
            (a.digest.as_str(), a.diff_id.as_str()),
            (b.digest.as_str(), b.diff_id.as_str())
        );
        // Another commit time is another layer.
        let later = reproducible_layer(&plan, one.path(), &files(), 1_700_000_001).unwrap();
        assert_ne!(later.digest, a.digest);

        let mut tar = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(a.gzip.as_slice()),
            &mut tar,
        )
        .unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let listed: Vec<(String, u32, u64, u64, bool)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                    h.uid().unwrap() + h.gid().unwrap(),
                    h.entry_type().is_symlink(),
                )
            })
            .collect();
        let names: Vec<&str> = listed.iter().map(|l| l.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "srv/",
                "srv/app/",
                "srv/app/current.py",
                "srv/app/main.py",
                "srv/app/pkg/",
                "srv/app/pkg/mod.py",
                "srv/data/",
                "srv/run.sh"
            ],
            "sorted, parents present"
        );
        for (name, mode, mtime, ids, link) in &listed {
            assert_eq!((*mtime, *ids), (1_700_000_000, 0), "{name}");
            let want = match name.as_str() {
                n if n.ends_with('/') => 0o755,
                "srv/app/current.py" => 0o777,
                "srv/run.sh" => 0o755,
                _ => 0o644,
            };
            assert_eq!(*mode, want, "{name}");
            assert_eq!(*link, name == "srv/app/current.py", "{name}");
        }
        // gzip header: no name, mtime 0, OS unknown.
        assert_eq!(&a.gzip[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    }
}
