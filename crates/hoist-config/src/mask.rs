//! The source shown under a config error must not show a secret: the value of every
//! secret-bearing key (`api_key`, `DB_PASSWORD`, `token`, ...: names judged as hooks judge
//! them, by [`hoist_hooks::is_credential_name`]) and every value the secret scanner's rules
//! recognise are replaced by `*` before the text is kept in the error.
//! Masking keeps every byte offset, so the error's span still points at the right place.

/// `text` with secret values replaced by `*`, byte for byte.
pub(crate) fn mask_secrets(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        for range in secret_values(line) {
            mask(&mut bytes, offset + range.start..offset + range.end);
        }
        offset += line.len();
    }
    for range in scanner_matches(text) {
        mask(&mut bytes, range);
    }
    // Only ASCII bytes inside values were replaced by ASCII, or whole multi-byte chars
    // by as many `*`, so the text stays UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn mask(bytes: &mut [u8], range: std::ops::Range<usize>) {
    let end = range.end.min(bytes.len());
    for b in &mut bytes[range.start.min(end)..end] {
        *b = b'*';
    }
}

/// The byte ranges of the values of secret-bearing keys on one line, inline tables
/// (`env = { DB_PASSWORD = "..." }`) included.
fn secret_values(line: &str) -> Vec<std::ops::Range<usize>> {
    let bytes = line.as_bytes();
    let mut ranges = Vec::new();
    for (eq, _) in line.match_indices('=') {
        let key_end = line[..eq].trim_end().len();
        // The key starts after the last character that cannot be part of one; that
        // character may be multi-byte (`"é" = 1`), so step over all of it.
        let key_start = line[..key_end]
            .char_indices()
            .rev()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || "_-.\"'".contains(c)))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let key = line[key_start..key_end].trim_matches(|c| c == '"' || c == '\'');
        let last = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
        // `api_key_env = "VAR"` names where a secret is, and is not one.
        if last.is_empty() || last.ends_with("_env") || last.ends_with("_file") {
            continue;
        }
        if !hoist_hooks::is_credential_name(&last) {
            continue;
        }
        let start = eq + 1 + (line[eq + 1..].len() - line[eq + 1..].trim_start().len());
        let end = match bytes.get(start) {
            // A table or array (`DB_PASSWORD = { env = "VAR" }`, a secret's source) holds
            // no value of its own; its entries are judged by their own keys.
            Some(b'{' | b'[') => continue,
            Some(q @ (b'"' | b'\'')) => line[start + 1..]
                .find(*q as char)
                .map_or(line.trim_end().len(), |i| start + 1 + i + 1),
            _ => line[start..]
                .find([',', '}', '\n', '#'])
                .map_or(line.trim_end().len(), |i| start + i),
        };
        if start < end {
            ranges.push(start..end);
        }
    }
    ranges
}

/// Byte ranges of what the built-in scanner rules find in `text`: from the finding's
/// start to the end of its token (a quote, whitespace or the end of the line).
fn scanner_matches(text: &str) -> Vec<std::ops::Range<usize>> {
    let Some(scanner) = default_scanner() else {
        return Vec::new();
    };
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    scanner
        .scan_bytes("hoist.toml", text.as_bytes())
        .into_iter()
        .filter_map(|f| {
            let line_start = *line_starts.get(f.line.checked_sub(1)?)?;
            let line = text[line_start..].split('\n').next()?;
            let (start, _) = line.char_indices().nth(f.column.checked_sub(1)?)?;
            let len = line[start..]
                .find(|c: char| c == '"' || c == '\'' || c.is_whitespace())
                .unwrap_or(line.len() - start);
            Some(line_start + start..line_start + start + len)
        })
        .collect()
}

/// The built-in rules. Building them costs more than any one check; built once per process.
pub(crate) fn default_scanner() -> Option<&'static hoist_scan::Scanner> {
    static SCANNER: std::sync::OnceLock<Option<hoist_scan::Scanner>> = std::sync::OnceLock::new();
    SCANNER
        .get_or_init(|| hoist_scan::Scanner::new(hoist_scan::ScanConfig::default()).ok())
        .as_ref()
}

#[cfg(test)]
mod tests {
    use super::mask_secrets;

    #[test]
    fn secret_keys_are_masked_and_offsets_kept() {
        let text =
            "[notifiers.chat]\napi_key = \"abc123-very-secret\"\nsite = \"https://z.example\"\n";
        let masked = mask_secrets(text);
        assert_eq!(masked.len(), text.len());
        assert!(!masked.contains("abc123-very-secret"), "{masked}");
        assert!(
            masked.contains("api_key = ********************"),
            "{masked}"
        );
        assert!(masked.contains("site = \"https://z.example\""), "{masked}");
    }

    #[test]
    fn variable_names_are_not_secrets_but_env_passwords_are() {
        let text =
            "api_key_env = \"ZULIP_API_KEY\"\nenv = { DB_PASSWORD = \"s3cr3t-VALUE-123\" }\n";
        let masked = mask_secrets(text);
        assert!(masked.contains("ZULIP_API_KEY"), "{masked}");
        assert!(!masked.contains("s3cr3t-VALUE-123"), "{masked}");
    }

    #[test]
    fn values_the_scanner_recognises_are_masked_under_any_key() {
        let token = format!("ghp_{}", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8");
        let text = format!("[app]\nname = \"{token}\"\n");
        let masked = mask_secrets(&text);
        assert!(!masked.contains(&token), "{masked}");
        assert_eq!(masked.len(), text.len());
    }
}
