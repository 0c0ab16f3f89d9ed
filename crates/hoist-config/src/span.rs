//! Finding a value's place in the text after serde is done with it.
//!
//! Checks that run on span-free values (`[scan]`, which keys an instance wrote) re-parse
//! the text to point their error at the offending value.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// One step of a path into the TOML document.
#[derive(Clone, Copy)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// The text parsed once, for several look-ups.
pub(crate) struct Document<'i>(Option<DeValue<'i>>);

impl<'i> Document<'i> {
    pub(crate) fn parse(text: &'i str) -> Self {
        Document(
            DeTable::parse(text)
                .ok()
                .map(|doc| DeValue::Table(doc.into_inner())),
        )
    }

    /// The span of the value at `path`, if the text has one there.
    pub(crate) fn span(&self, path: &[Seg<'_>]) -> Option<Range<usize>> {
        let mut current = self.0.as_ref()?;
        let mut span = None;
        for seg in path {
            let value = match seg {
                Seg::Key(k) => current.get(*k)?,
                Seg::Index(i) => current.get(*i)?,
            };
            span = Some(value.span());
            current = value.get_ref();
        }
        span
    }
}

/// The span of the value at `path` in `text`, if it is there.
pub(crate) fn value_span(text: &str, path: &[Seg<'_>]) -> Option<Range<usize>> {
    Document::parse(text).span(path)
}
