//! The content address of the dependency base image.
//!
//! sha256 over the sorted (relative path, bytes) pairs of the dependency inputs, the base
//! Dockerfile, the base build args and the target platform. The base image is tagged with
//! it, so "does the base need rebuilding?" is answered by "does the tag exist?" — no state
//! file, and a failed build leaves no tag, so the next run retries it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSetBuilder};
use sha2::{Digest, Sha256};

/// A computed fingerprint and the files that fed it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fingerprint {
    /// Full sha256, lowercase hex.
    pub hex: String,
    /// Dependency input files, relative to the context, sorted.
    pub files: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    #[error("dependency glob `{glob}` is invalid: {source}")]
    Glob {
        glob: String,
        #[source]
        source: globset::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no file under {} matches the dependency globs {globs:?}; check build.dependencies", root.display())]
    NoInputs { root: PathBuf, globs: Vec<String> },
}

/// What goes into a fingerprint.
#[derive(Debug, Clone)]
pub struct FingerprintInputs<'a> {
    /// Directory the globs are relative to (the build context).
    pub root: &'a Path,
    pub globs: &'a [String],
    /// The base Dockerfile (any path; its *content* is hashed, not its name).
    pub base_dockerfile: &'a Path,
    pub base_args: &'a BTreeMap<String, String>,
    pub platform: &'a str,
}

impl Fingerprint {
    /// The first 16 hex digits, as used in the base image tag.
    pub fn short(&self) -> &str {
        &self.hex[..16]
    }

    /// `<repository>-base:fp-<16 hex>`.
    pub fn base_image(&self, repository: &str) -> String {
        format!("{repository}-base:fp-{}", self.short())
    }

    /// Computes the fingerprint of `inputs`.
    pub fn compute(inputs: &FingerprintInputs<'_>) -> Result<Fingerprint, FingerprintError> {
        let files = matching_files(inputs.root, inputs.globs)?;
        if files.is_empty() {
            return Err(FingerprintError::NoInputs {
                root: inputs.root.to_path_buf(),
                globs: inputs.globs.to_vec(),
            });
        }
        let mut hasher = Sha256::new();
        // Every field is length-prefixed so that no two different input sets can produce the
        // same byte stream (e.g. moving bytes from one file's end to the next one's name).
        let field = |hasher: &mut Sha256, tag: &str, bytes: &[u8]| {
            hasher.update(tag.as_bytes());
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        field(&mut hasher, "hoist-fingerprint", b"v1");
        field(&mut hasher, "platform", inputs.platform.as_bytes());
        for (key, value) in inputs.base_args {
            field(&mut hasher, "arg", key.as_bytes());
            field(&mut hasher, "value", value.as_bytes());
        }
        let dockerfile = read(inputs.base_dockerfile)?;
        field(&mut hasher, "dockerfile", &dockerfile);
        for rel in &files {
            field(&mut hasher, "path", portable(rel).as_bytes());
            // Streamed: a wheelhouse's files are large, and holding one whole in memory
            // set hoist's peak memory.
            hash_file(&mut hasher, "content", &inputs.root.join(rel))?;
        }
        Ok(Fingerprint {
            hex: hex::encode(hasher.finalize()),
            files,
        })
    }
}

/// Hashes a file as one length-prefixed field, the same bytes as `field(tag, content)`,
/// reading it in blocks. A file that changes size while it is read is an error, since the
/// length went in first.
fn hash_file(hasher: &mut Sha256, tag: &str, path: &Path) -> Result<(), FingerprintError> {
    use std::io::Read;
    let error = |source| FingerprintError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(error)?;
    let len = file.metadata().map_err(error)?.len();
    hasher.update(tag.as_bytes());
    hasher.update(len.to_le_bytes());
    let mut block = vec![0u8; 64 * 1024];
    let mut hashed = 0u64;
    loop {
        let n = file.read(&mut block).map_err(error)?;
        if n == 0 {
            break;
        }
        hasher.update(&block[..n]);
        hashed += n as u64;
    }
    if hashed != len {
        return Err(error(std::io::Error::other(format!(
            "it changed while hoist read it ({len} bytes, then {hashed})"
        ))));
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, FingerprintError> {
    std::fs::read(path).map_err(|source| FingerprintError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Paths hash with `/` separators so a fingerprint is the same on every OS.
fn portable(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Files under `root` matching any of `globs`, relative and sorted. `.git` and `.hoist`
/// are never inputs. `*` does not cross `/`; `**` does.
pub fn matching_files(root: &Path, globs: &[String]) -> Result<Vec<PathBuf>, FingerprintError> {
    let mut set = GlobSetBuilder::new();
    for glob in globs {
        let compiled = GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|source| FingerprintError::Glob {
                glob: glob.clone(),
                source,
            })?;
        set.add(compiled);
    }
    let set = set.build().map_err(|source| FingerprintError::Glob {
        glob: globs.join(", "),
        source,
    })?;
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0 || !matches!(e.file_name().to_str(), Some(".git" | ".hoist"))
        });
    for entry in walker {
        let entry = entry.map_err(|e| FingerprintError::Read {
            path: e
                .path()
                .map_or_else(|| root.to_path_buf(), Path::to_path_buf),
            source: e.into(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        if set.is_match(rel) {
            files.push(rel.to_path_buf());
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct App {
        dir: tempfile::TempDir,
        args: BTreeMap<String, String>,
        platform: String,
        globs: Vec<String>,
    }

    impl App {
        fn new() -> App {
            let dir = tempfile::tempdir().unwrap();
            let app = App {
                dir,
                args: BTreeMap::new(),
                platform: "linux/amd64".into(),
                globs: vec!["requirements*.txt".into(), "requirements/*.txt".into()],
            };
            app.write("Dockerfile.base", "FROM scratch\n");
            app.write("requirements.txt", "django==5.0\n");
            app.write("requirements/base.txt", "gunicorn==22\n");
            app.write("app.py", "print('hi')\n");
            app
        }
        fn write(&self, rel: &str, content: &str) {
            let path = self.dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        fn fingerprint(&self) -> Fingerprint {
            Fingerprint::compute(&FingerprintInputs {
                root: self.dir.path(),
                globs: &self.globs,
                base_dockerfile: &self.dir.path().join("Dockerfile.base"),
                base_args: &self.args,
                platform: &self.platform,
            })
            .unwrap()
        }
    }

    #[test]
    fn lists_the_files_that_fed_it_sorted() {
        let app = App::new();
        let fp = app.fingerprint();
        // Sorted by path components: the directory `requirements` before `requirements.txt`.
        assert_eq!(
            fp.files,
            vec![
                PathBuf::from("requirements/base.txt"),
                PathBuf::from("requirements.txt")
            ]
        );
        assert_eq!(fp.hex.len(), 64);
        assert_eq!(
            fp.base_image("reg/clinic"),
            format!("reg/clinic-base:fp-{}", &fp.hex[..16])
        );
    }

    #[test]
    fn is_independent_of_glob_order_and_creation_order() {
        let a = App::new();
        let mut b = App::new();
        b.globs.reverse();
        // Recreate files in the opposite order in a third tree.
        let c = App::new();
        std::fs::remove_file(c.dir.path().join("requirements.txt")).unwrap();
        c.write("requirements.txt", "django==5.0\n");
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().hex, c.fingerprint().hex);
    }

    #[test]
    fn every_input_changes_it() {
        let base = App::new().fingerprint().hex;
        let changed = |f: &dyn Fn(&mut App)| {
            let mut app = App::new();
            f(&mut app);
            app.fingerprint().hex
        };
        let variants = [
            changed(&|a| a.write("requirements.txt", "django==5.1\n")),
            changed(&|a| a.write("requirements/base.txt", "gunicorn==23\n")),
            changed(&|a| a.write("requirements/extra.txt", "")),
            changed(&|a| a.write("Dockerfile.base", "FROM scratch\nRUN true\n")),
            changed(&|a| {
                a.args.insert("PY".into(), "3.12".into());
            }),
            changed(&|a| a.platform = "linux/arm64".into()),
            changed(&|a| {
                // Same bytes under another name.
                std::fs::rename(
                    a.dir.path().join("requirements.txt"),
                    a.dir.path().join("requirements-x.txt"),
                )
                .unwrap();
            }),
        ];
        for (i, v) in variants.iter().enumerate() {
            assert_ne!(v, &base, "variant {i} did not change the fingerprint");
        }
    }

    #[test]
    fn files_outside_the_inputs_do_not_change_it() {
        let app = App::new();
        let before = app.fingerprint();
        app.write("app.py", "print('changed')\n");
        app.write("templates/index.html", "<h1>new</h1>");
        app.write("docs/requirements.txt", "not an input: * does not cross /");
        app.write(".git/requirements.txt", "never an input");
        assert_eq!(app.fingerprint(), before);
    }

    #[test]
    fn a_streamed_file_hashes_as_its_bytes_in_one_field() {
        let app = App::new();
        // Larger than one read block, and not a multiple of it.
        let content: Vec<u8> = (0..200_001u32).map(|i| (i % 251) as u8).collect();
        let path = app.dir.path().join("big.whl");
        std::fs::write(&path, &content).unwrap();
        let mut streamed = Sha256::new();
        hash_file(&mut streamed, "content", &path).unwrap();
        let mut whole = Sha256::new();
        whole.update(b"content");
        whole.update((content.len() as u64).to_le_bytes());
        whole.update(&content);
        assert_eq!(streamed.finalize(), whole.finalize());
    }

    #[test]
    fn no_matching_input_is_an_error() {
        let mut app = App::new();
        app.globs = vec!["poetry.lock".into()];
        let err = Fingerprint::compute(&FingerprintInputs {
            root: app.dir.path(),
            globs: &app.globs,
            base_dockerfile: &app.dir.path().join("Dockerfile.base"),
            base_args: &app.args,
            platform: &app.platform,
        })
        .unwrap_err();
        assert!(err.to_string().contains("build.dependencies"), "{err}");
    }
}
