//! Scanning the lines added by a range of commits.
//!
//! This shells out to `git log -p --unified=0` rather than linking `gix`:
//! the `git` binary is already required by every hoist workflow, its diff is
//! the reference behaviour, and it keeps the crate's build small. Only added
//! lines (`+` lines of each hunk) are scanned, each commit/file pair as one
//! unit, with findings placed at the line number in the new file.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::engine::Scanner;
use crate::error::ScanError;
use crate::report::{ScanReport, sort_findings};
use crate::walk::{BINARY_SNIFF_LEN, DEFAULT_MAX_FILE_SIZE};

/// The added lines of one file in one commit.
#[derive(Debug, Default)]
struct Chunk {
    commit: String,
    path: String,
    text: Vec<u8>,
    /// New-file line number of each line in `text`.
    lines: Vec<usize>,
}

/// Parse `git log -p --unified=0 --format=%x00%H` output into chunks.
fn parse_log(out: &[u8]) -> Vec<Chunk> {
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut commit = String::new();
    let mut current: Option<Chunk> = None;
    let mut in_header = false;
    let mut next_line = 0usize;
    let flush = |c: &mut Option<Chunk>, chunks: &mut Vec<Chunk>| {
        if let Some(c) = c.take()
            && !c.lines.is_empty()
        {
            chunks.push(c);
        }
    };
    for raw in out.split(|&b| b == b'\n') {
        if let Some(rest) = raw.strip_prefix(b"\0") {
            flush(&mut current, &mut chunks);
            commit = String::from_utf8_lossy(rest).trim().to_string();
            in_header = false;
            continue;
        }
        if raw.starts_with(b"diff --git ") {
            flush(&mut current, &mut chunks);
            in_header = true;
            continue;
        }
        if in_header {
            if let Some(p) = raw.strip_prefix(b"+++ ") {
                let p = String::from_utf8_lossy(p);
                let p = p.trim_end_matches('\r');
                if p != "/dev/null" {
                    let p = p.strip_prefix("b/").unwrap_or(p);
                    current = Some(Chunk {
                        commit: commit.clone(),
                        path: unquote(p),
                        ..Chunk::default()
                    });
                }
                continue;
            }
            if !raw.starts_with(b"@@") {
                continue;
            }
            in_header = false;
        }
        if raw.starts_with(b"@@") {
            next_line = hunk_new_start(raw).unwrap_or(0);
            continue;
        }
        if let Some(added) = raw.strip_prefix(b"+")
            && let Some(c) = current.as_mut()
        {
            c.text.extend_from_slice(added);
            c.text.push(b'\n');
            c.lines.push(next_line);
            next_line += 1;
        }
    }
    flush(&mut current, &mut chunks);
    chunks
}

/// `@@ -a,b +c,d @@` → `c`.
fn hunk_new_start(line: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(line).ok()?;
    let plus = text.split_whitespace().find(|t| t.starts_with('+'))?;
    plus[1..].split(',').next()?.parse().ok()
}

/// Undo git's C-style quoting of unusual paths (`"b/a\tb"`), enough for
/// display and path filters.
fn unquote(p: &str) -> String {
    let Some(inner) = p.strip_prefix('"').and_then(|p| p.strip_suffix('"')) else {
        return p.to_string();
    };
    let inner = inner.strip_prefix("b/").unwrap_or(inner);
    let mut out = Vec::new();
    let bytes = inner.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            let c = bytes[i + 1];
            match c {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'0'..=b'7' => {
                    let oct = inner
                        .get(i + 1..i + 4)
                        .and_then(|o| u8::from_str_radix(o, 8).ok());
                    if let Some(v) = oct {
                        out.push(v);
                        i += 4;
                        continue;
                    }
                    out.push(c);
                }
                _ => out.push(c),
            }
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Scanner {
    /// Scan the lines added by the commits in `range` (one `git log`
    /// revision argument: `main..HEAD`, `v1.2.0..`, `abc123^..abc123`).
    /// Findings carry the commit and the line number in that commit's
    /// version of the file. Merge commits contribute no lines (as in
    /// `git log -p`), their parents' commits do.
    pub fn scan_history(&self, repo: &Path, range: &str) -> Result<ScanReport, ScanError> {
        self.scan_history_with_limit(repo, range, DEFAULT_MAX_FILE_SIZE)
    }

    /// [`Scanner::scan_history`] with an explicit size limit for the added
    /// text of one file in one commit.
    pub fn scan_history_with_limit(
        &self,
        repo: &Path,
        range: &str,
        max_size: u64,
    ) -> Result<ScanReport, ScanError> {
        let started = Instant::now();
        if range.trim().is_empty() || range.starts_with('-') {
            return Err(ScanError::Git(format!(
                "invalid revision range {range:?}: must be non-empty and not start with '-'"
            )));
        }
        let output = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args([
                "-c",
                "core.quotepath=off",
                "log",
                "-p",
                "--unified=0",
                "--no-color",
                "--no-ext-diff",
                "--no-textconv",
                "--no-renames",
                "--format=%x00%H",
                range,
                "--",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ScanError::Git(format!("could not run git: {e}")))?;
        if !output.status.success() {
            return Err(ScanError::Git(format!(
                "`git log {range}` in {} failed: {}",
                repo.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let mut report = ScanReport {
            rules: self.rules(),
            ..ScanReport::default()
        };
        for chunk in parse_log(&output.stdout) {
            if self.path_allowlisted(&chunk.path) {
                report.skipped_allowlisted += 1;
                continue;
            }
            if chunk.text.len() as u64 > max_size {
                report.skipped_large += 1;
                continue;
            }
            let sniff = &chunk.text[..chunk.text.len().min(BINARY_SNIFF_LEN)];
            if memchr::memchr(0, sniff).is_some() {
                report.skipped_binary += 1;
                continue;
            }
            report.files_scanned += 1;
            report.bytes_scanned += chunk.text.len() as u64;
            let mut found = Vec::new();
            self.scan_content(
                &chunk.path,
                &chunk.text,
                Some(&chunk.commit),
                true,
                &mut found,
            );
            for mut f in found {
                f.line = chunk.lines.get(f.line - 1).copied().unwrap_or(f.line);
                report.findings.push(f);
            }
        }
        sort_findings(&mut report.findings);
        if let Some(b) = &self.baseline {
            report.apply_baseline(b);
        }
        report.duration = started.elapsed();
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_added_lines_with_new_line_numbers() {
        let log = b"\0aaaa\n\ndiff --git a/x.txt b/x.txt\nindex 1..2 100644\n--- a/x.txt\n+++ b/x.txt\n@@ -3,0 +4,2 @@ ctx\n+one\n+++two\n@@ -10 +12 @@\n-old\n+new\ndiff --git a/gone b/gone\ndeleted file mode 100644\n--- a/gone\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n\0bbbb\n\ndiff --git a/\"q\\tz\" b/\"q\\tz\"\n--- /dev/null\n+++ \"b/q\\tz\"\n@@ -0,0 +1 @@\n+hi\n";
        let chunks = parse_log(log);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].commit, "aaaa");
        assert_eq!(chunks[0].path, "x.txt");
        assert_eq!(chunks[0].text, b"one\n++two\nnew\n");
        assert_eq!(chunks[0].lines, vec![4, 5, 12]);
        assert_eq!(chunks[1].commit, "bbbb");
        assert_eq!(chunks[1].path, "q\tz");
        assert_eq!(chunks[1].lines, vec![1]);
    }

    #[test]
    fn rejects_option_like_ranges() {
        let s = Scanner::new(crate::ScanConfig::default()).expect("compiles");
        let err = s
            .scan_history(Path::new("."), "--output=/tmp/x")
            .unwrap_err();
        assert!(err.to_string().contains("invalid revision range"));
    }
}
