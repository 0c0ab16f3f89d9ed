//! Exact overlap reasoning between two rules, as regular languages.
//!
//! Every rule accepts a regular language of ref names: a glob is a regular expression
//! (globset produces it), and the semver tag grammar is one too (spelled out below). Two
//! rules overlap exactly when the intersection of their languages is not empty. That is
//! decided by walking the product of their two DFAs breadth-first from the start states
//! until both accept at once; the path walked is the shortest common name, which messages
//! show as the example ("both match the tag `v0.0.0`").
//!
//! Only valid ref names count: the walk steps on bytes git allows (no space, control
//! characters, `~^:?*[\`), ASCII digits and letters first so examples read like real
//! tags, and a third, hand-written automaton ([`RefShape`]) tracks git's structural rules
//! (no `..`, no `//`, no component starting with `.` or ending with `.lock`, no `@{`, no
//! trailing `/` or `.`). So `release/1.*` and `release/*` overlap by `release/1.0`, not by
//! the invalid `release/1.`.

use std::collections::{HashSet, VecDeque};

use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::util::syntax;
use regex_automata::{Anchored, nfa::thompson};

/// A compiled language of ref names.
pub(crate) struct Language {
    dfa: dense::DFA<Vec<u32>>,
}

/// Regex pieces of semver 2.0.0 (with the optional `v` tags may carry).
const NUM: &str = "(?:0|[1-9][0-9]*)";
const IDENT: &str = "(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)";
const BUILD: &str = r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?";

fn core() -> String {
    format!(r"v?{NUM}\.{NUM}\.{NUM}")
}

/// `v2.3.0`, `2.3.0+build.1`.
pub(crate) fn semver_release_regex() -> String {
    format!("^{}{BUILD}$", core())
}

/// `v2.3.0-beta.1`; with names, the first pre-release identifier is one of them,
/// optionally followed by digits (`beta`, `beta.2`, `beta2`).
pub(crate) fn semver_prerelease_regex(names: &[String]) -> String {
    let first = if names.is_empty() {
        IDENT.to_string()
    } else {
        let alternatives: Vec<&str> = names.iter().map(String::as_str).collect();
        format!("(?:{})[0-9]*", alternatives.join("|"))
    };
    format!(r"^{}-{first}(?:\.{IDENT})*{BUILD}$", core())
}

/// Any semver tag.
pub(crate) fn semver_any_regex() -> String {
    format!(r"^{}(?:-{IDENT}(?:\.{IDENT})*)?{BUILD}$", core())
}

impl Language {
    pub(crate) fn new(regex: &str) -> Result<Language, String> {
        let dfa = dense::Builder::new()
            .configure(dense::DFA::config().start_kind(StartKind::Anchored))
            // Glob regexes are byte-oriented (`(?-u)`), so they may match non-UTF-8.
            .syntax(syntax::Config::new().utf8(false))
            .thompson(thompson::Config::new().utf8(false))
            .build(regex)
            .map_err(|e| e.to_string())?;
        Ok(Language { dfa })
    }

    fn start(&self) -> Option<StateID> {
        self.dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .ok()
    }

    fn accepts(&self, state: StateID) -> bool {
        self.dfa.is_match_state(self.dfa.next_eoi_state(state))
    }

    fn is_stuck(&self, state: StateID) -> bool {
        self.dfa.is_dead_state(state) || self.dfa.is_quit_state(state)
    }

    /// Whether the language contains `name` (used to test that it agrees with the rules).
    #[cfg(test)]
    pub(crate) fn contains(&self, name: &str) -> bool {
        let Some(mut state) = self.start() else {
            return false;
        };
        for &byte in name.as_bytes() {
            state = self.dfa.next_state(state, byte);
            if self.is_stuck(state) {
                return false;
            }
        }
        self.accepts(state)
    }
}

/// Bytes a ref name may contain, in the order examples should prefer them.
fn alphabet() -> Vec<u8> {
    let mut bytes: Vec<u8> = Vec::with_capacity(256);
    bytes.extend(b'0'..=b'9');
    bytes.extend(b'a'..=b'z');
    bytes.extend(b".-");
    bytes.extend(b'A'..=b'Z');
    for b in 0x21..=0x7e_u8 {
        if !bytes.contains(&b) && !b"~^:?*[\\".contains(&b) {
            bytes.push(b);
        }
    }
    bytes.extend(0x80..=0xff_u8);
    bytes
}

/// Where a name stands with respect to git's structural ref-name rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RefShape {
    last: Last,
    /// How much of `.lock` the current component ends with (0-5).
    lock: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Last {
    /// At the start of the name or just after `/`.
    ComponentStart,
    Dot,
    At,
    Other,
}

impl RefShape {
    const START: RefShape = RefShape {
        last: Last::ComponentStart,
        lock: 0,
    };

    /// The shape after one more byte, or `None` if no valid ref name continues this way.
    fn step(self, byte: u8) -> Option<RefShape> {
        let lock = |lock: u8| RefShape {
            last: Last::Other,
            lock,
        };
        match byte {
            b'/' if self.last == Last::ComponentStart || self.lock == 5 => None,
            b'/' => Some(RefShape::START),
            b'.' if matches!(self.last, Last::ComponentStart | Last::Dot) => None,
            b'.' => Some(RefShape {
                last: Last::Dot,
                lock: 1,
            }),
            b'{' if self.last == Last::At => None,
            b'@' => Some(RefShape {
                last: Last::At,
                lock: 0,
            }),
            _ if (1..5).contains(&self.lock) && b".lock"[usize::from(self.lock)] == byte => {
                Some(lock(self.lock + 1))
            }
            _ => Some(lock(0)),
        }
    }

    /// Whether a name may end here.
    fn may_end(self) -> bool {
        !matches!(self.last, Last::ComponentStart | Last::Dot) && self.lock != 5
    }
}

type Node = (StateID, StateID, RefShape);

/// The shortest valid ref name both languages contain, if there is one.
pub(crate) fn common_example(a: &Language, b: &Language) -> Option<String> {
    let alphabet = alphabet();
    let start = (a.start()?, b.start()?, RefShape::START);
    // Each node: its states, its parent node and the byte that led to it. The start is
    // not a node of its own: ref names are never empty.
    let mut nodes: Vec<(Node, Option<usize>, u8)> = Vec::new();
    let mut seen: HashSet<Node> = HashSet::new();
    let mut queue: VecDeque<Option<usize>> = VecDeque::from([None]);
    while let Some(parent) = queue.pop_front() {
        let (sa, sb, shape) = match parent {
            None => start,
            Some(index) => {
                let (node, _, _) = nodes[index];
                if a.accepts(node.0) && b.accepts(node.1) && node.2.may_end() {
                    return Some(path_to(&nodes, index));
                }
                node
            }
        };
        for &byte in &alphabet {
            let Some(next_shape) = shape.step(byte) else {
                continue;
            };
            let next = (
                a.dfa.next_state(sa, byte),
                b.dfa.next_state(sb, byte),
                next_shape,
            );
            if a.is_stuck(next.0) || b.is_stuck(next.1) || !seen.insert(next) {
                continue;
            }
            nodes.push((next, parent, byte));
            queue.push_back(Some(nodes.len() - 1));
        }
    }
    None
}

fn path_to(nodes: &[(Node, Option<usize>, u8)], index: usize) -> String {
    let mut bytes = Vec::new();
    let mut at = Some(index);
    while let Some(i) = at {
        bytes.push(nodes[i].2);
        at = nodes[i].1;
    }
    bytes.reverse();
    String::from_utf8_lossy(&bytes).into_owned()
}
