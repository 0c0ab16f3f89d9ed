//! Errors. Every error that comes from a rules file names the file and the
//! line, because a broken ruleset must be fixable without guessing.

use std::path::PathBuf;

/// Everything that can stop a scanner from being built or a scan from
/// running. Errors never contain secret material: the only scanned content
/// that reaches an error is a file *path*.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A rules file (hoist or gitleaks format) is not valid TOML or does not
    /// have the expected shape.
    #[error("{}:{line}:{column}: {message}", file.display())]
    RulesFile {
        /// The rules file (or `<built-in>` for the embedded ruleset).
        file: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },

    /// A rule's regex, or one of its allowlist regexes or path patterns, does
    /// not compile.
    #[error("{}:{line}: rule `{rule}`: {message}", file.display())]
    InvalidRule {
        /// The rules file the rule came from.
        file: PathBuf,
        /// 1-based line of the rule's `id`.
        line: usize,
        /// The rule id (or `allowlist` for a global allowlist).
        rule: String,
        /// What is wrong, including the regex compiler's message.
        message: String,
    },

    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The baseline file exists but is not a valid baseline.
    #[error("baseline {}: {message}", path.display())]
    Baseline {
        /// The baseline file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// `git` failed or its output could not be understood while scanning
    /// history.
    #[error("git history scan: {0}")]
    Git(String),

    /// A setting (from `[scan]` or [`crate::ScanConfig`]) is invalid.
    #[error("invalid scan setting: {0}")]
    Config(String),
}

impl ScanError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ScanError::Io {
            path: path.into(),
            source,
        }
    }
}

/// 1-based (line, column) of a byte offset in `text`; columns count
/// characters, not bytes.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before
        .get(line_start..)
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let t = "a\nbc\néd";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 3), (2, 2));
        // 'd' is after a two-byte character: column counts characters.
        assert_eq!(line_col(t, t.len() - 1), (3, 2));
        assert_eq!(line_col(t, 10_000), (3, 3));
    }
}
