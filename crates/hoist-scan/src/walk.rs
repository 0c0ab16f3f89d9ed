//! Walking a source tree in parallel (the `ignore` crate's parallel walker)
//! and scanning each file on the walker's own threads.
//!
//! By default the walk covers what `docker build` would send as the build
//! context: `.dockerignore` (Docker semantics, matched by `hoist-dockerignore`,
//! the same matcher the image build uses, see [`crate::DockerIgnore`])
//! applies, `.gitignore` does not — a git-ignored `.env` still ends up in the
//! image if the Dockerfile copies the context. [`WalkOptions::source_tree`]
//! honours `.gitignore` as well.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ignore::{DirEntry, ParallelVisitor, ParallelVisitorBuilder, WalkBuilder, WalkState};

use crate::engine::Scanner;
use crate::finding::Finding;
use crate::report::{ScanReport, sort_findings};
use hoist_dockerignore::DockerIgnore;

/// Default size limit: files larger than this are skipped and counted.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 1024 * 1024;

/// How many leading bytes are checked for a NUL to call a file binary.
pub const BINARY_SNIFF_LEN: usize = 8 * 1024;

/// What to walk and what to skip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkOptions {
    /// Apply `<root>/.dockerignore` with Docker's semantics (default: true).
    pub dockerignore: bool,
    /// Apply `.gitignore` files, `.git/info/exclude` and parent
    /// `.gitignore`s (default: false, because Docker ignores them too).
    pub gitignore: bool,
    /// Files larger than this many bytes are skipped and counted.
    pub max_file_size: u64,
    /// Walker threads; 0 picks the number of CPUs.
    pub threads: usize,
    /// Follow symbolic links (default: false; Docker sends links as links).
    pub follow_links: bool,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            dockerignore: true,
            gitignore: false,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            threads: 0,
            follow_links: false,
        }
    }
}

impl WalkOptions {
    /// The Docker build context (the default).
    pub fn docker_context() -> Self {
        Self::default()
    }

    /// The source tree as git sees it: `.gitignore` and `.dockerignore`
    /// both apply.
    pub fn source_tree() -> Self {
        WalkOptions {
            gitignore: true,
            ..Self::default()
        }
    }
}

/// Per-thread accumulation, merged on drop.
#[derive(Default)]
struct Totals {
    findings: Vec<Finding>,
    files: u64,
    bytes: u64,
    binary: u64,
    large: u64,
    allowlisted: u64,
    errors: Vec<String>,
}

impl Totals {
    fn merge(&mut self, other: Totals) {
        self.findings.extend(other.findings);
        self.files += other.files;
        self.bytes += other.bytes;
        self.binary += other.binary;
        self.large += other.large;
        self.allowlisted += other.allowlisted;
        self.errors.extend(other.errors);
    }
}

struct Visitor<'s> {
    scanner: &'s Scanner,
    root: &'s Path,
    max_size: u64,
    buf: Vec<u8>,
    local: Totals,
    shared: &'s Mutex<Totals>,
}

impl Drop for Visitor<'_> {
    fn drop(&mut self) {
        let local = std::mem::take(&mut self.local);
        // A poisoned lock still holds valid totals; keep them.
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.merge(local);
    }
}

/// `/`-separated path of `path` relative to `root`.
pub(crate) fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut out = String::new();
    for (i, c) in rel.components().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&c.as_os_str().to_string_lossy());
    }
    out
}

impl Visitor<'_> {
    fn visit_file(&mut self, entry: &DirEntry) {
        let rel = relative(self.root, entry.path());
        if self.scanner.path_allowlisted(&rel) {
            self.local.allowlisted += 1;
            return;
        }
        let len = match entry.metadata() {
            Ok(m) => m.len(),
            Err(e) => {
                self.local.errors.push(format!("{rel}: {e}"));
                return;
            }
        };
        if len > self.max_size {
            self.local.large += 1;
            return;
        }
        self.buf.clear();
        let read = File::open(entry.path()).and_then(|f| {
            // Read at most one byte past the limit, in case the file grew.
            f.take(self.max_size + 1).read_to_end(&mut self.buf)
        });
        if let Err(e) = read {
            self.local.errors.push(format!("{rel}: {e}"));
            return;
        }
        if self.buf.len() as u64 > self.max_size {
            self.local.large += 1;
            return;
        }
        let sniff = &self.buf[..self.buf.len().min(BINARY_SNIFF_LEN)];
        if memchr::memchr(0, sniff).is_some() {
            self.local.binary += 1;
            return;
        }
        self.local.files += 1;
        self.local.bytes += self.buf.len() as u64;
        self.scanner
            .scan_content(&rel, &self.buf, None, true, &mut self.local.findings);
    }
}

impl ParallelVisitor for Visitor<'_> {
    fn visit(&mut self, entry: Result<DirEntry, ignore::Error>) -> WalkState {
        match entry {
            Ok(entry) => {
                if entry.file_type().is_some_and(|t| t.is_file()) {
                    self.visit_file(&entry);
                }
            }
            Err(e) => self.local.errors.push(e.to_string()),
        }
        WalkState::Continue
    }
}

struct Builder<'s> {
    scanner: &'s Scanner,
    root: &'s Path,
    max_size: u64,
    shared: &'s Mutex<Totals>,
}

impl<'s> ParallelVisitorBuilder<'s> for Builder<'s> {
    fn build(&mut self) -> Box<dyn ParallelVisitor + 's> {
        Box::new(Visitor {
            scanner: self.scanner,
            root: self.root,
            max_size: self.max_size,
            buf: Vec::with_capacity(64 * 1024),
            local: Totals::default(),
            shared: self.shared,
        })
    }
}

impl Scanner {
    /// Scan a directory tree in parallel. Problems with individual files
    /// (unreadable, vanished) and a bad `.dockerignore` land in
    /// [`ScanReport::errors`] rather than aborting, so one bad file cannot
    /// hide findings elsewhere; the exit status still reports the scan as
    /// incomplete.
    pub fn scan_tree(&self, root: &Path, opts: &WalkOptions) -> ScanReport {
        let started = Instant::now();
        let mut report = ScanReport {
            rules: self.rules(),
            ..ScanReport::default()
        };
        if !root.is_dir() {
            report
                .errors
                .push(format!("{}: not a directory", root.display()));
            report.duration = started.elapsed();
            return report;
        }
        let docker = if opts.dockerignore {
            match DockerIgnore::from_root(root) {
                Ok(d) => d.map(Arc::new),
                Err(e) => {
                    report.errors.push(e.to_string());
                    report.duration = started.elapsed();
                    return report;
                }
            }
        } else {
            None
        };

        let mut builder = WalkBuilder::new(root);
        builder
            .standard_filters(false)
            .hidden(false)
            .ignore(false)
            .git_ignore(opts.gitignore)
            .git_exclude(opts.gitignore)
            .git_global(false)
            .parents(opts.gitignore)
            .require_git(false)
            .follow_links(opts.follow_links)
            .threads(opts.threads);
        let filter_root: PathBuf = root.to_path_buf();
        builder.filter_entry(move |entry| {
            if entry.depth() == 0 {
                return true;
            }
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            if is_dir && entry.file_name() == ".git" {
                return false;
            }
            let Some(docker) = &docker else { return true };
            let rel = entry
                .path()
                .strip_prefix(&filter_root)
                .unwrap_or(entry.path());
            if is_dir {
                !docker.can_prune_dir(rel)
            } else {
                !docker.is_excluded(rel)
            }
        });

        let shared = Mutex::new(Totals::default());
        builder.build_parallel().visit(&mut Builder {
            scanner: self,
            root,
            max_size: opts.max_file_size,
            shared: &shared,
        });
        let totals = shared.into_inner().unwrap_or_else(|p| p.into_inner());

        report.findings = totals.findings;
        report.files_scanned = totals.files;
        report.bytes_scanned = totals.bytes;
        report.skipped_binary = totals.binary;
        report.skipped_large = totals.large;
        report.skipped_allowlisted = totals.allowlisted;
        report.errors = totals.errors;
        report.errors.sort();
        sort_findings(&mut report.findings);
        if let Some(b) = &self.baseline {
            report.apply_baseline(b);
        }
        report.duration = started.elapsed();
        report
    }
}
