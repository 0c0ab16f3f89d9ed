use std::ops::Range;
use std::path::{Path, PathBuf};

use miette::{Diagnostic, NamedSource, SourceSpan};

/// A `hoist.toml` that cannot be used, with the place to fix it.
///
/// `Display` is one self-contained line (`file:line:col: key: problem`), so it reads well
/// in CI logs and `--json` output; the miette rendering adds the source snippet.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ConfigError {
    #[error("cannot read {}", path.display())]
    #[diagnostic(
        code(hoist::config::read),
        help("pass the file with --config, or run `hoist init` to write a starter")
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}:{line}:{column}: {key}: {message}{}", path.display(), more(also))]
    #[diagnostic(code(hoist::config::invalid))]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        /// Dotted path of the offending key, e.g. `environments.staging.instances[1].port`.
        key: String,
        message: String,
        #[help]
        help: Option<String>,
        #[source_code]
        source_code: NamedSource<String>,
        #[label("{message}")]
        span: SourceSpan,
        /// The file's other errors, each an `Invalid` of its own, after this one: a file
        /// is checked whole, so one run shows everything to fix (as compilers do).
        #[related]
        also: Vec<ConfigError>,
    },
}

/// The end of the first error's line when the file has more.
fn more(also: &[ConfigError]) -> String {
    match also.len() {
        0 => String::new(),
        1 => " (and 1 more error)".to_string(),
        n => format!(" (and {n} more errors)"),
    }
}

impl ConfigError {
    pub(crate) fn invalid(
        path: &Path,
        text: &str,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Self {
        let (line, column) = line_col(text, span.start);
        let message = message.into();
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            key: key.into(),
            message,
            help,
            // The snippet under the message must not show a secret.
            source_code: NamedSource::new(
                path.display().to_string(),
                crate::mask::mask_secrets(text),
            ),
            span: span.into(),
            also: Vec::new(),
        }
    }

    /// Every error this one stands for: itself, then [`ConfigError::Invalid::also`]'s, each
    /// without the others. A file with three problems gives three.
    pub fn errors(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Invalid { also, .. } => std::iter::once(self).chain(also).collect(),
            ConfigError::Read { .. } => vec![self],
        }
    }

    /// One error for several: the first, with the others in its `also`. `None` when
    /// there are none.
    pub(crate) fn combine(errors: Vec<ConfigError>) -> Option<ConfigError> {
        let mut errors = errors.into_iter().flat_map(ConfigError::into_errors);
        let mut first = errors.next()?;
        if let ConfigError::Invalid { also, .. } = &mut first {
            also.extend(errors);
        }
        Some(first)
    }

    fn into_errors(self) -> Vec<ConfigError> {
        match self {
            ConfigError::Invalid {
                path,
                line,
                column,
                key,
                message,
                help,
                source_code,
                span,
                also,
            } => {
                let mut all = vec![ConfigError::Invalid {
                    path,
                    line,
                    column,
                    key,
                    message,
                    help,
                    source_code,
                    span,
                    also: Vec::new(),
                }];
                all.extend(also.into_iter().flat_map(ConfigError::into_errors));
                all
            }
            read => vec![read],
        }
    }

    /// Where the error is in its file: `(line, column)`, 1-based; `None` for a file that
    /// could not be read.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ConfigError::Invalid { line, column, .. } => Some((*line, *column)),
            ConfigError::Read { .. } => None,
        }
    }
}

/// Sorts validation errors into file order (stable: errors at one place keep the order
/// they were found in).
pub(crate) fn in_file_order(errors: &mut [ConfigError]) {
    errors.sort_by_key(|e| e.position().unwrap_or((0, 0)));
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::line_col;

    #[test]
    fn line_and_column_are_one_based() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_col(text, 9), (2, 3));
    }
}
