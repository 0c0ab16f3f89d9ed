//! A labelled corpus, and what a [`Scanner`] makes of it: recall per rule
//! family and overall, false alarms on near-miss negatives, and every miss.
//!
//! Why a corpus and not only each rule's `examples`: examples prove that a
//! rule still does what its author meant; a corpus written from the
//! providers' documented formats (and the file formats credentials really
//! sit in) measures what the whole ruleset finds and how often it cries
//! wolf, which is what a release gate is judged on.
//!
//! # Format
//!
//! Plain text, one case per line, so that hundreds of cases stay readable:
//!
//! ```text
//! # comment
//! rule github-pat            # the rule that must report the positives below
//! path .github/workflows/ci.yml   # virtual path of the cases below (optional)
//! + GITHUB_TOKEN=ghp_{an:36}  # positive: must be found by `rule`
//! - ghp_{an:35}               # negative: must not be found by any rule
//! +? ...                      # a positive the scanner is known to miss
//! -? ...                      # a negative the scanner is known to flag
//! ```
//!
//! The family of a case is the corpus file's name without `.txt`
//! (`provider-keys.txt` → `provider-keys`). `\n`, `\t` and `\\` in a case are
//! escapes. A `path` line stays in force until the next `rule` or `path`.
//!
//! Token bodies are never written out: `{an:36}` expands to 36 characters
//! drawn by a generator seeded from the file name and the case's own text, so the corpus is
//! deterministic, contains no real-looking secret of its own and cannot trip
//! the scanner when the repository itself is scanned. Generators:
//! `an` (A-Za-z0-9), `alpha` (A-Za-z), `low` (a-z0-9), `lower` (a-z),
//! `up` (A-Z0-9), `hex` (0-9a-f), `HEX` (0-9A-F), `dig` (0-9),
//! `b64` (A-Za-z0-9+/), `b64u` (A-Za-z0-9_-), `b32` (A-Z2-7), `b32low` (a-z2-7),
//! `dj` (Django's secret-key alphabet, lower case, digits, `!@#%^&*-_=+`),
//! `crypt` (./0-9A-Za-z), `bech` (bech32 upper case), `pw` (letters, digits
//! and `!#%^*_+-`), and `{uuid}` (lower-case UUID).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::engine::Scanner;
use crate::error::ScanError;

/// One labelled case, already expanded.
#[derive(Debug, Clone)]
pub struct Case {
    /// Corpus file name without `.txt`.
    pub family: String,
    /// The rule the case is written for.
    pub rule: String,
    /// `true`: a credential `rule` must report; `false`: nothing may be reported.
    pub positive: bool,
    /// Marked `+?`/`-?`: the scanner is known to get this case wrong.
    pub known_wrong: bool,
    /// Virtual path the text is scanned under.
    pub path: String,
    /// The text to scan (generators expanded).
    pub text: String,
    /// `file:line` of the case, for reports.
    pub origin: String,
}

/// A set of labelled cases.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    /// Every case, in file order.
    pub cases: Vec<Case>,
}

/// Counts for one rule or family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Positive cases.
    pub positives: usize,
    /// Positives reported by their rule.
    pub found: usize,
    /// Negative cases.
    pub negatives: usize,
    /// Negatives on which some rule reported a finding.
    pub false_alarms: usize,
}

impl Counts {
    /// Found / positives (1.0 when there are none).
    pub fn recall(&self) -> f64 {
        ratio(self.found, self.positives, 1.0)
    }
    /// False alarms / negatives (0.0 when there are none).
    pub fn false_alarm_rate(&self) -> f64 {
        ratio(self.false_alarms, self.negatives, 0.0)
    }
    fn add(&mut self, o: &Counts) {
        self.positives += o.positives;
        self.found += o.found;
        self.negatives += o.negatives;
        self.false_alarms += o.false_alarms;
    }
}

fn ratio(a: usize, b: usize, empty: f64) -> f64 {
    if b == 0 { empty } else { a as f64 / b as f64 }
}

/// What went wrong on one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `file:line` of the case.
    pub origin: String,
    /// The rule the case is written for.
    pub rule: String,
    /// Whether the case was marked as a known miss / known false alarm.
    pub known_wrong: bool,
    /// Rules that reported something on the case (redacted findings only).
    pub reported_by: Vec<String>,
}

/// The result of [`Corpus::evaluate`].
#[derive(Debug, Clone, Default)]
pub struct QualityReport {
    /// Per family (corpus file).
    pub families: BTreeMap<String, Counts>,
    /// Per rule the cases are written for.
    pub rules: BTreeMap<String, Counts>,
    /// Positives their rule did not report.
    pub misses: Vec<Outcome>,
    /// Negatives on which something was reported.
    pub false_alarms: Vec<Outcome>,
    /// Positives on which another rule reported too (a second credential in
    /// the case, or the same one reported twice: look at them).
    pub duplicates: Vec<Outcome>,
    /// Cases whose outcome differs from their marking (`+` missed, `-`
    /// flagged, or a `+?`/`-?` that now comes out right): a test fails on
    /// the first kind.
    pub regressions: Vec<Outcome>,
    /// Known-wrong cases that now come out right (promote them).
    pub fixed: Vec<Outcome>,
}

impl QualityReport {
    /// All families together.
    pub fn overall(&self) -> Counts {
        let mut c = Counts::default();
        for f in self.families.values() {
            c.add(f);
        }
        c
    }

    /// A plain-text report: recall per family and overall, false-alarm
    /// rate, then every miss, false alarm and duplicate.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<22} {:>9} {:>7} {:>9} {:>11}",
            "family", "positives", "recall", "negatives", "false-alarm"
        );
        let row = |s: &mut String, name: &str, c: &Counts| {
            let _ = writeln!(
                s,
                "{:<22} {:>9} {:>7.3} {:>9} {:>10.1}%",
                name,
                c.positives,
                c.recall(),
                c.negatives,
                100.0 * c.false_alarm_rate()
            );
        };
        for (name, c) in &self.families {
            row(&mut s, name, c);
        }
        row(&mut s, "OVERALL", &self.overall());
        let _ = writeln!(s, "rules covered: {}", self.rules.len());
        let list = |s: &mut String, title: &str, v: &[Outcome]| {
            let _ = writeln!(s, "\n{title}: {}", v.len());
            for o in v {
                let _ = writeln!(
                    s,
                    "  {} [{}]{} reported by: {}",
                    o.origin,
                    o.rule,
                    if o.known_wrong { " (known)" } else { "" },
                    if o.reported_by.is_empty() {
                        "-".to_string()
                    } else {
                        o.reported_by.join(", ")
                    }
                );
            }
        };
        list(&mut s, "misses", &self.misses);
        list(&mut s, "false alarms", &self.false_alarms);
        list(
            &mut s,
            "positives with findings from more than one rule",
            &self.duplicates,
        );
        list(
            &mut s,
            "REGRESSIONS (unmarked cases that fail)",
            &self.regressions,
        );
        list(&mut s, "fixed (marked known-wrong, now right)", &self.fixed);
        s
    }
}

impl Corpus {
    /// Parse one corpus file's text; `name` is the file name (its stem is
    /// the family, and it seeds the generators).
    pub fn parse(name: &str, text: &str) -> Result<Corpus, ScanError> {
        let family = Path::new(name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.to_string());
        let mut cases = Vec::new();
        let mut rule: Option<String> = None;
        let mut path = String::from("fixture.txt");
        let mut occurrences: std::collections::HashMap<String, usize> = Default::default();
        for (n, raw) in text.lines().enumerate() {
            let line_no = n + 1;
            let err = |message: String| ScanError::RulesFile {
                file: PathBuf::from(name),
                line: line_no,
                column: 1,
                message,
            };
            let line = raw.trim_end();
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
            let rest = rest.trim_start();
            match tag {
                "rule" => {
                    rule = Some(rest.to_string());
                    path = String::from("fixture.txt");
                }
                "path" => path = rest.to_string(),
                "+" | "-" | "+?" | "-?" => {
                    let Some(rule) = &rule else {
                        return Err(err("case before any `rule` line".into()));
                    };
                    if rest.is_empty() {
                        return Err(err("empty case".into()));
                    }
                    // Seeded by the template (and how often it occurred
                    // before), so editing other lines never changes a case.
                    let seen = occurrences.entry(rest.to_string()).or_insert(0usize);
                    *seen += 1;
                    let mut rng = SplitMix::seeded(name, rest, *seen);
                    let text = expand(&unescape(rest), &mut rng).map_err(err)?;
                    cases.push(Case {
                        family: family.clone(),
                        rule: rule.clone(),
                        positive: tag.starts_with('+'),
                        known_wrong: tag.ends_with('?'),
                        path: path.clone(),
                        text,
                        origin: format!("{name}:{line_no}"),
                    });
                }
                other => {
                    return Err(err(format!(
                        "unknown line kind {other:?} (expected rule, path, +, -, +?, -?)"
                    )));
                }
            }
        }
        Ok(Corpus { cases })
    }

    /// Load every `*.txt` file of a directory, in name order.
    pub fn load_dir(dir: &Path) -> Result<Corpus, ScanError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| ScanError::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .collect();
        files.sort();
        let mut corpus = Corpus::default();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| ScanError::io(&f, e))?;
            let name = f
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            corpus.cases.extend(Corpus::parse(&name, &text)?.cases);
        }
        Ok(corpus)
    }

    /// Scan every case on its own (through [`Scanner::scan_bytes`], so
    /// allowlists and de-duplication apply) and score it.
    pub fn evaluate(&self, scanner: &Scanner) -> QualityReport {
        let mut report = QualityReport::default();
        for case in &self.cases {
            let findings = scanner.scan_bytes(&case.path, case.text.as_bytes());
            let mut reported_by: Vec<String> = findings.iter().map(|f| f.rule_id.clone()).collect();
            reported_by.dedup();
            let outcome = Outcome {
                origin: case.origin.clone(),
                rule: case.rule.clone(),
                known_wrong: case.known_wrong,
                reported_by: reported_by.clone(),
            };
            let fam = report.families.entry(case.family.clone()).or_default();
            let per_rule = report.rules.entry(case.rule.clone()).or_default();
            let right = if case.positive {
                fam.positives += 1;
                per_rule.positives += 1;
                let found = reported_by.contains(&case.rule);
                if found {
                    fam.found += 1;
                    per_rule.found += 1;
                    if reported_by.len() > 1 {
                        report.duplicates.push(outcome.clone());
                    }
                } else {
                    report.misses.push(outcome.clone());
                }
                found
            } else {
                fam.negatives += 1;
                per_rule.negatives += 1;
                let flagged = !reported_by.is_empty();
                if flagged {
                    fam.false_alarms += 1;
                    per_rule.false_alarms += 1;
                    report.false_alarms.push(outcome.clone());
                }
                !flagged
            };
            match (right, case.known_wrong) {
                (false, false) => report.regressions.push(outcome),
                (true, true) => report.fixed.push(outcome),
                _ => {}
            }
        }
        report
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// SplitMix64: tiny, good enough to make token bodies look random, and the
/// same on every platform.
struct SplitMix(u64);

impl SplitMix {
    fn seeded(name: &str, template: &str, occurrence: usize) -> Self {
        // FNV-1a over the file name, the template and its occurrence.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name
            .bytes()
            .chain(template.bytes())
            .chain((occurrence as u64).to_le_bytes())
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        SplitMix(h)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn pick(&mut self, alphabet: &[u8]) -> char {
        alphabet[(self.next() % alphabet.len() as u64) as usize] as char
    }
}

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";

fn alphabet(kind: &str) -> Option<Vec<u8>> {
    let cat = |parts: &[&[u8]]| parts.concat();
    Some(match kind {
        "an" => cat(&[UPPER, LOWER, DIGITS]),
        "alpha" => cat(&[UPPER, LOWER]),
        "low" => cat(&[LOWER, DIGITS]),
        "lower" => LOWER.to_vec(),
        "up" => cat(&[UPPER, DIGITS]),
        "hex" => b"0123456789abcdef".to_vec(),
        "HEX" => b"0123456789ABCDEF".to_vec(),
        "dig" => DIGITS.to_vec(),
        "b64" => cat(&[UPPER, LOWER, DIGITS, b"+/"]),
        "b64u" => cat(&[UPPER, LOWER, DIGITS, b"_-"]),
        "b32" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".to_vec(),
        "b32low" => b"abcdefghijklmnopqrstuvwxyz234567".to_vec(),
        "dj" => cat(&[LOWER, DIGITS, b"!@#%^&*-_=+"]),
        "crypt" => cat(&[b"./", DIGITS, UPPER, LOWER]),
        "bech" => b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L".to_vec(),
        "pw" => cat(&[UPPER, LOWER, DIGITS, b"!#%^*_+-"]),
        _ => return None,
    })
}

/// Replace `{kind:N}` and `{uuid}`; any other brace text is kept as is.
fn expand(s: &str, rng: &mut SplitMix) -> Result<String, String> {
    let mut out = String::with_capacity(s.len() + 64);
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return Ok(out);
        };
        let inner = &after[..close];
        if inner.contains('{') {
            // `{AQ{b64:4}}`: the outer brace is literal text.
            out.push('{');
            rest = after;
            continue;
        }
        if inner == "uuid" {
            for (i, len) in [8, 4, 4, 4, 12].into_iter().enumerate() {
                if i > 0 {
                    out.push('-');
                }
                for _ in 0..len {
                    out.push(rng.pick(b"0123456789abcdef"));
                }
            }
        } else if let Some((kind, n)) = inner.split_once(':')
            && let Some(alpha) = alphabet(kind)
        {
            let n: usize = n
                .parse()
                .map_err(|_| format!("generator {{{inner}}}: length is not a number"))?;
            for _ in 0..n {
                out.push(rng.pick(&alpha));
            }
        } else {
            out.push('{');
            out.push_str(inner);
            out.push('}');
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_deterministic_and_shaped() {
        let text = "rule r\n+ a={an:36} b={hex:8} u={uuid} j={\"k\": 1} {J{dig:2}}\n- x\n";
        let a = Corpus::parse("f.txt", text).expect("parses");
        let b = Corpus::parse("f.txt", text).expect("parses");
        assert_eq!(a.cases[0].text, b.cases[0].text);
        let t = &a.cases[0].text;
        let an = &t[2..38];
        assert!(an.bytes().all(|c| c.is_ascii_alphanumeric()), "{t}");
        assert!(t.contains("j={\"k\": 1}"), "{t}");
        assert!(t.ends_with('}') && t.contains(" {J"), "{t}");
        assert_eq!(a.cases[0].family, "f");
        assert!(a.cases[0].positive && !a.cases[1].positive);
    }

    #[test]
    fn escapes_and_errors() {
        let c = Corpus::parse("f.txt", "rule r\npath a.json\n+ a\\nb\\\\\"\n").expect("parses");
        assert_eq!(c.cases[0].text, "a\nb\\\"");
        assert_eq!(c.cases[0].path, "a.json");
        let e = Corpus::parse("f.txt", "+ orphan\n").unwrap_err();
        assert!(e.to_string().starts_with("f.txt:1:"), "{e}");
    }
}
