//! Spanned YAML: spec text → a node tree with byte spans → JSON plus a route→span index.
//!
//! We drive `saphyr-parser`'s event stream ourselves instead of using a ready-made tree so that
//! we keep what diagnostics need: the span of every key *and* every value, the scalar style (a
//! plain `6.10` is a float, a quoted one is a string), duplicate keys, and a budget on aliases.

use std::collections::HashMap;
use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

use crate::diag::{Diagnostic, Label};

// Limits. A spec is small (the worker spec is 7 KB, about 600 nodes, 7 levels deep); these
// bounds are far above any real spec and keep time and memory bounded on anything else. They
// are documented in the README; each has its own diagnostic.

/// Largest spec file read, in bytes; bigger files are refused before they are parsed.
pub const MAX_SPEC_BYTES: usize = 1 << 20;
/// Most nodes (scalars, lists, mappings) in one spec, aliases expanded.
pub const MAX_NODES: usize = 50_000;
/// How many nodes alias expansion may add before we call the document hostile ("billion laughs").
pub const ALIAS_NODE_BUDGET: usize = 10_000;
/// How many bytes of text alias expansion may add: a few aliases of a long string repeat it as
/// well as many aliases of a short one, so nodes alone are no budget. The spec size limit.
pub const ALIAS_BYTE_BUDGET: usize = MAX_SPEC_BYTES;
/// Deepest nesting accepted; a spec never needs more, and it keeps recursion bounded.
pub const MAX_DEPTH: usize = 64;

/// Where a node sits in the source: the value's span and, for a mapping entry, its key's span.
#[derive(Debug, Clone, Default)]
pub struct Place {
    pub key: Option<Range<usize>>,
    pub value: Range<usize>,
    /// For scalars: the text as written and whether it was a plain (unquoted) scalar.
    pub plain_scalar: Option<String>,
}

/// A parsed spec: the JSON value the schema sees, and where each JSON pointer came from.
#[derive(Debug, Clone)]
pub struct Document {
    pub value: Value,
    /// Length of the spec text in bytes: no single value is longer, aliases or not.
    pub text_len: usize,
    pub places: HashMap<String, Place>,
    /// Length of the line (from each collection's start) for collections without a key.
    first_line_len: HashMap<usize, usize>,
}

impl Document {
    /// The place of a JSON pointer, walking up to the nearest ancestor that has one.
    pub fn place(&self, pointer: &str) -> &Place {
        let mut p = pointer;
        loop {
            if let Some(place) = self.places.get(p) {
                return place;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return self.places.get("").unwrap_or(&EMPTY_PLACE),
            }
        }
    }

    /// Span of the key of `pointer` when it has one, else of its value's first line (a whole
    /// mapping would underline the entire file).
    pub fn key_span(&self, pointer: &str) -> Range<usize> {
        let place = self.place(pointer);
        match &place.key {
            Some(k) => k.clone(),
            None => {
                let v = place.value.clone();
                let first_line = self
                    .first_line_len
                    .get(&v.start)
                    .copied()
                    .unwrap_or(v.len());
                v.start..v.start + first_line.min(v.len())
            }
        }
    }

    pub fn value_span(&self, pointer: &str) -> Range<usize> {
        self.place(pointer).value.clone()
    }
}

static EMPTY_PLACE: Place = Place {
    key: None,
    value: 0..0,
    plain_scalar: None,
};

/// Escape one JSON-pointer segment (RFC 6901).
pub fn escape_segment(s: &str) -> std::borrow::Cow<'_, str> {
    // Nearly every key needs no escape: borrowed, it costs no allocation per node.
    if s.contains(['~', '/']) {
        s.replace('~', "~0").replace('/', "~1").into()
    } else {
        s.into()
    }
}

/// Converts saphyr's character indices into byte offsets (miette wants bytes).
struct Offsets {
    /// The byte offset of each character, and the text's length last; empty for ASCII text,
    /// where the two counts agree (nearly every spec: no table to build).
    starts: Vec<usize>,
    len: usize,
}

impl Offsets {
    fn new(text: &str) -> Self {
        let starts = if text.is_ascii() {
            Vec::new()
        } else {
            let mut starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            starts.push(text.len());
            starts
        };
        Offsets {
            starts,
            len: text.len(),
        }
    }
    fn byte(&self, char_index: usize) -> usize {
        if self.starts.is_empty() {
            return char_index.min(self.len);
        }
        self.starts
            .get(char_index)
            .copied()
            .unwrap_or_else(|| self.starts.last().copied().unwrap_or(0))
    }
    fn range(&self, span: &Span) -> Range<usize> {
        self.byte(span.start.index())..self.byte(span.end.index())
    }
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    offsets: Offsets,
    anchors: HashMap<usize, (Value, Range<usize>)>,
    alias_nodes: usize,
    alias_bytes: usize,
    nodes: usize,
    places: HashMap<String, Place>,
    diagnostics: Vec<Diagnostic>,
    /// The file says `%YAML 1.1`: plain scalars that version reads differently are refused.
    yaml11: bool,
}

enum Step {
    Node(Value, Range<usize>),
    End(Range<usize>),
}

/// Parse spec text. Returns the document, or every problem found while loading it.
pub fn parse(text: &str) -> Result<Document, Vec<Diagnostic>> {
    let (refused, yaml11) = directives(text);
    if !refused.is_empty() {
        return Err(refused);
    }
    let mut b = Builder {
        parser: Parser::new_from_str(text),
        offsets: Offsets::new(text),
        anchors: HashMap::new(),
        alias_nodes: 0,
        alias_bytes: 0,
        nodes: 0,
        // About one value per 24 bytes in real specs: sized once instead of grown (and
        // rehashed) step by step.
        places: HashMap::with_capacity(text.len().min(MAX_SPEC_BYTES) / 24),
        diagnostics: Vec::new(),
        yaml11,
    };
    let root = b.document();
    match root {
        Ok(Some(value)) if b.diagnostics.is_empty() => {
            let first_line_len = b
                .places
                .values()
                .filter(|p| p.key.is_none())
                .map(|p| {
                    let start = p.value.start;
                    let len = text[start..].find('\n').unwrap_or(text.len() - start);
                    (start, len)
                })
                .collect();
            Ok(Document {
                text_len: text.len(),
                value,
                places: b.places,
                first_line_len,
            })
        }
        Ok(_) => Err(b.diagnostics),
        Err(d) => {
            b.diagnostics.push(d);
            Err(b.diagnostics)
        }
    }
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Range<usize>), Diagnostic> {
        match self.parser.next_event() {
            Some(Ok((ev, span))) => Ok((ev, self.offsets.range(&span))),
            Some(Err(e)) => {
                let at = self.offsets.byte(e.marker().index());
                let info = e.info();
                // The parser has its own nesting limit, below ours for flow collections.
                if info.contains("recursion limit") {
                    return Err(too_deep(at..at));
                }
                let help = if info.contains("simple key") {
                    "a key needs `:` after it on the same line, and a plain key is at most 1024 characters; fix it, then run `qmspec validate`"
                } else {
                    "fix the YAML syntax at the marked position, then run `qmspec validate`"
                };
                Err(
                    Diagnostic::error("qmspec::yaml-syntax", format!("invalid YAML: {info}"))
                        .with_label(Label::primary(at..at, info.to_string()))
                        .with_help(help),
                )
            }
            None => Err(Diagnostic::error(
                "qmspec::yaml-syntax",
                "invalid YAML: unexpected end of input",
            )),
        }
    }

    fn document(&mut self) -> Result<Option<Value>, Diagnostic> {
        // StreamStart
        self.next()?;
        let (ev, span) = self.next()?;
        let root = match ev {
            Event::StreamEnd => {
                return Err(Diagnostic::error("qmspec::empty", "the spec is empty")
                    .with_label(Label::primary(span, "nothing here"))
                    .with_help(
                        "start from the bundled example: copy `specs/worker.yaml`, then run `qmspec validate`",
                    ));
            }
            Event::DocumentStart(_) => match self.node(String::new(), None, 0)? {
                Step::Node(v, r) => (v, r),
                Step::End(r) => {
                    return Err(Diagnostic::error("qmspec::empty", "the spec is empty")
                        .with_label(Label::primary(r, "the document has no content"))
                        .with_help(
                            "write the spec's top-level mapping, then run `qmspec validate`",
                        ));
                }
            },
            _ => return Err(self.unexpected(span)),
        };
        // DocumentEnd, then StreamEnd or a second document.
        let (ev, span) = self.next()?;
        if !matches!(ev, Event::DocumentEnd) {
            return Err(self.unexpected(span));
        }
        let (ev, span) = self.next()?;
        if let Event::DocumentStart(_) = ev {
            return Err(Diagnostic::error(
                "qmspec::multiple-documents",
                "the spec holds more than one YAML document",
            )
            .with_label(Label::primary(span, "a second document starts here"))
            .with_help(
                "keep one spec per file: move this document into its own file under `specs/`",
            ));
        }
        let (value, span) = root;
        if let Value::Null = value
            && self.places.get("").and_then(|p| p.plain_scalar.as_deref()) == Some("")
        {
            return Err(Diagnostic::error("qmspec::empty", "the spec is empty")
                .with_label(Label::primary(span, "the document has no content"))
                .with_help("write the spec's top-level mapping, then run `qmspec validate`"));
        }
        if !value.is_object() {
            let what = kind_name(&value);
            return Err(Diagnostic::error(
                "qmspec::not-a-mapping",
                format!("the spec must be a mapping of keys, but it is {what}"),
            )
            .with_label(Label::primary(span, format!("this is {what}")))
            .with_help("a spec starts with top-level keys such as `name:` and `platforms:`; see `qmspec schema`"));
        }
        Ok(Some(value))
    }

    fn unexpected(&self, span: Range<usize>) -> Diagnostic {
        Diagnostic::error("qmspec::yaml-syntax", "unexpected YAML structure")
            .with_label(Label::primary(span, "not expected here"))
    }

    fn node(
        &mut self,
        pointer: String,
        key: Option<Range<usize>>,
        depth: usize,
    ) -> Result<Step, Diagnostic> {
        let (ev, span) = self.next()?;
        if depth > MAX_DEPTH {
            return Err(too_deep(span));
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(Diagnostic::error(
                "qmspec::too-many-nodes",
                format!("the spec has more than {MAX_NODES} values"),
            )
            .with_label(Label::primary(span, "the limit is reached here"))
            .with_help("a spec describes one image: split it into several specs, then run `qmspec validate`"));
        }
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let value = match tag.as_deref() {
                    Some(t) if core_suffix(t).is_some() => {
                        match tagged_scalar(core_suffix(t).unwrap_or_default(), &text) {
                            Ok(v) => v,
                            Err(problem) => {
                                self.diagnostics.push(
                                Diagnostic::error(
                                    "qmspec::yaml-tag",
                                    format!("`!!{} {}` {problem}", core_suffix(t).unwrap_or_default(), text),
                                )
                                .with_label(Label::primary(span.clone(), "this tagged value"))
                                .with_help("remove the tag (qmspec reads the value by the spec's schema), or give the tag a value of its kind"),
                            );
                                Value::String(text.to_string())
                            }
                        }
                    }
                    Some(t) => {
                        self.diagnostics.push(
                            Diagnostic::error(
                                "qmspec::yaml-tag",
                                format!("unsupported YAML tag `{t}`"),
                            )
                            .with_label(Label::primary(
                                span.clone(),
                                "custom tags have no meaning in a spec",
                            ))
                            .with_help("remove the tag; quote the value if it must be a string"),
                        );
                        Value::String(text.to_string())
                    }
                    None if style == ScalarStyle::Plain => {
                        if self.yaml11 && yaml11_differs(&text) {
                            self.diagnostics.push(
                                Diagnostic::error(
                                    "qmspec::yaml-version",
                                    format!("`{text}` means one thing in YAML 1.1 and another in YAML 1.2"),
                                )
                                .with_label(Label::primary(span.clone(), "read differently by the two versions"))
                                .with_help(format!("quote it (`\"{text}\"`) or write it so both versions agree; qmspec reads YAML 1.2 although the file says `%YAML 1.1`")),
                            );
                        }
                        if non_finite(&text) {
                            self.diagnostics.push(
                                Diagnostic::error(
                                    "qmspec::unquoted-scalar",
                                    format!("`{text}` is read by YAML as a float that is not a finite number"),
                                )
                                .with_label(Label::primary(span.clone(), "YAML reads this as infinity or NaN"))
                                .with_help(format!("quote it: `\"{text}\"`")),
                            );
                        }
                        resolve_plain(&text)
                    }
                    None => Value::String(text.to_string()),
                };
                let plain =
                    (style == ScalarStyle::Plain && tag.is_none()).then(|| text.to_string());
                self.places.insert(
                    pointer,
                    Place {
                        key,
                        value: span.clone(),
                        plain_scalar: plain,
                    },
                );
                if anchor > 0 {
                    self.anchors.insert(anchor, (value.clone(), span.clone()));
                }
                Ok(Step::Node(value, span))
            }
            Event::Alias(id) => {
                let Some((value, _)) = self.anchors.get(&id).cloned() else {
                    return Err(Diagnostic::error(
                        "qmspec::yaml-alias",
                        "alias to an unknown anchor",
                    )
                    .with_label(Label::primary(span, "unknown anchor")));
                };
                let added = count_nodes(&value);
                self.alias_nodes += added;
                self.nodes += added;
                self.alias_bytes += count_bytes(&value);
                if self.alias_bytes > ALIAS_BYTE_BUDGET {
                    return Err(Diagnostic::error(
                        "qmspec::alias-budget",
                        format!("aliases expand to more than {} KiB of text", ALIAS_BYTE_BUDGET / 1024),
                    )
                    .with_label(Label::primary(span, "expansion stops here"))
                    .with_help(
                        "a spec is small: write the values out instead of repeating long ones through aliases",
                    ));
                }
                if self.alias_nodes > ALIAS_NODE_BUDGET {
                    return Err(Diagnostic::error(
                        "qmspec::alias-budget",
                        format!("aliases expand to more than {ALIAS_NODE_BUDGET} nodes"),
                    )
                    .with_label(Label::primary(span, "expansion stops here"))
                    .with_help(
                        "a spec is small: write the values out instead of nesting aliases",
                    ));
                }
                self.places.insert(
                    pointer,
                    Place {
                        key,
                        value: span.clone(),
                        plain_scalar: None,
                    },
                );
                Ok(Step::Node(value, span))
            }
            Event::SequenceStart(anchor, tag) => {
                self.collection_tag(tag.as_deref(), "seq", &span);
                let mut items = Vec::new();
                let end = loop {
                    let child = format!("{pointer}/{}", items.len());
                    match self.node(child, None, depth + 1)? {
                        Step::Node(v, _) => items.push(v),
                        Step::End(r) => break r,
                    }
                };
                let full = span.start..end.end.max(span.end);
                let value = Value::Array(items);
                self.finish_collection(pointer, key, full.clone(), anchor, &value);
                Ok(Step::Node(value, full))
            }
            Event::MappingStart(anchor, tag) => {
                self.collection_tag(tag.as_deref(), "map", &span);
                let mut map = Map::new();
                let mut merge_key: Option<Range<usize>> = None;
                let mut key_spans: HashMap<String, Range<usize>> = HashMap::new();
                // `<<: *base` merge keys (YAML 1.1, widely used): their entries fill in keys
                // the mapping does not write itself, whatever the order.
                let mut merged: Vec<Merged> = Vec::new();
                let end = loop {
                    let (kev, kspan) = self.next()?;
                    let (name, merge) = match kev {
                        Event::MappingEnd => break kspan,
                        Event::Scalar(text, style, _, tag) => {
                            if let Some(t) = tag.as_deref()
                                && core_suffix(t) != Some("str")
                            {
                                self.diagnostics.push(
                                    Diagnostic::error(
                                        "qmspec::yaml-tag",
                                        format!("unsupported YAML tag `{t}` on a key"),
                                    )
                                    .with_label(Label::primary(kspan.clone(), "tagged key"))
                                    .with_help("a spec's keys are plain text: remove the tag"),
                                );
                            }
                            // Only a plain, untagged `<<` merges: `"<<"` and `!!str <<` are keys.
                            let merge =
                                text == "<<" && style == ScalarStyle::Plain && tag.is_none();
                            if merge {
                                if let Some(first) = &merge_key {
                                    self.diagnostics.push(
                                        Diagnostic::error(
                                            "qmspec::duplicate-key",
                                            "duplicate merge key `<<`",
                                        )
                                        .with_label(Label::primary(
                                            kspan.clone(),
                                            "merged again here",
                                        ))
                                        .with_label(Label::secondary(first.clone(), "first merge"))
                                        .with_help(
                                            "merge several mappings with one key: `<<: [*a, *b]`",
                                        ),
                                    );
                                }
                                merge_key = Some(kspan.clone());
                            }
                            (text.to_string(), merge)
                        }
                        _ => {
                            return Err(Diagnostic::error(
                                "qmspec::complex-key",
                                "mapping keys must be plain strings",
                            )
                            .with_label(Label::primary(kspan, "this key is a collection")));
                        }
                    };
                    let child = format!("{pointer}/{}", escape_segment(&name));
                    let step = self.node(child.clone(), Some(kspan.clone()), depth + 1)?;
                    let Step::Node(v, vspan) = step else {
                        return Err(self.unexpected(kspan));
                    };
                    if merge {
                        self.places.remove(&child);
                        match merge_sources(v) {
                            Some(maps) => {
                                for m in maps {
                                    merged.push((m, kspan.clone(), vspan.clone()));
                                }
                            }
                            None => self.diagnostics.push(
                                Diagnostic::error(
                                    "qmspec::merge-key",
                                    "a merge key (`<<`) takes a mapping or a list of mappings",
                                )
                                .with_label(Label::primary(vspan, "not a mapping"))
                                .with_help("write `<<: *anchor` where the anchor names a mapping, then run `qmspec validate`"),
                            ),
                        }
                        continue;
                    }
                    if let Some(first) = key_spans.get(&name) {
                        self.diagnostics.push(
                            Diagnostic::error(
                                "qmspec::duplicate-key",
                                format!("duplicate key `{name}`"),
                            )
                            .with_label(Label::primary(kspan.clone(), "defined again here"))
                            .with_label(Label::secondary(first.clone(), "first defined here"))
                            .with_help(
                                "YAML keeps only one of them: delete or merge the repeated key",
                            ),
                        );
                        continue;
                    }
                    key_spans.insert(name.clone(), kspan);
                    map.insert(name, v);
                };
                // Earlier merge sources win over later ones, as in YAML 1.1.
                for (source, kspan, vspan) in merged {
                    for (k, v) in source {
                        if map.contains_key(&k) {
                            continue;
                        }
                        self.places.insert(
                            format!("{pointer}/{}", escape_segment(&k)),
                            Place {
                                key: Some(kspan.clone()),
                                value: vspan.clone(),
                                plain_scalar: None,
                            },
                        );
                        map.insert(k, v);
                    }
                }
                let full = span.start..end.end.max(span.end);
                let value = Value::Object(map);
                self.finish_collection(pointer, key, full.clone(), anchor, &value);
                Ok(Step::Node(value, full))
            }
            Event::SequenceEnd | Event::MappingEnd | Event::DocumentEnd => Ok(Step::End(span)),
            _ => Err(self.unexpected(span)),
        }
    }

    /// A tag on a list or mapping: only its own core tag (`!!seq`, `!!map`) is accepted.
    fn collection_tag(
        &mut self,
        tag: Option<&saphyr_parser::Tag>,
        kind: &str,
        span: &Range<usize>,
    ) {
        let Some(t) = tag else { return };
        if core_suffix(t) == Some(kind) {
            return;
        }
        self.diagnostics.push(
            Diagnostic::error(
                "qmspec::yaml-tag",
                format!(
                    "unsupported YAML tag `{t}` on a {}",
                    if kind == "seq" { "list" } else { "mapping" }
                ),
            )
            .with_label(Label::primary(span.start..span.start, "tagged here"))
            .with_help("remove the tag; a spec's lists and mappings need none"),
        );
    }

    fn finish_collection(
        &mut self,
        pointer: String,
        key: Option<Range<usize>>,
        span: Range<usize>,
        anchor: usize,
        value: &Value,
    ) {
        if anchor > 0 {
            self.anchors.insert(anchor, (value.clone(), span.clone()));
        }
        self.places.insert(
            pointer,
            Place {
                key,
                value: span,
                plain_scalar: None,
            },
        );
    }
}

fn too_deep(span: Range<usize>) -> Diagnostic {
    Diagnostic::error(
        "qmspec::too-deep",
        format!("the spec nests deeper than {MAX_DEPTH} levels"),
    )
    .with_label(Label::primary(span, "too deep"))
    .with_help(
        "a spec is at most a few levels deep: flatten this value, then run `qmspec validate`",
    )
}

/// One mapping merged in with `<<`, with the spans of the merge key and its value.
type Merged = (Map<String, Value>, Range<usize>, Range<usize>);

/// The mappings a merge key's value stands for: one mapping, or a list of them.
fn merge_sources(v: Value) -> Option<Vec<Map<String, Value>>> {
    match v {
        Value::Object(m) => Some(vec![m]),
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// Bytes of text (strings and keys) in a value.
fn count_bytes(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Array(a) => a.iter().map(count_bytes).sum(),
        Value::Object(m) => m.iter().map(|(k, v)| k.len() + count_bytes(v)).sum(),
        _ => 8,
    }
}

fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count_nodes).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

/// A short English name of a JSON value's type, for messages.
pub fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// The boolean a YAML 1.1 reader (PyYAML, older tools) would see in a plain scalar that YAML 1.2
/// reads as a string: `yes`, `no`, `on`, `off`, `y`, `n` in their usual spellings.
pub fn yaml11_bool(plain: &str) -> Option<bool> {
    match plain {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// The core-schema suffix of a tag (`!!int` and `!<tag:yaml.org,2002:int>` alike), if it is one.
fn core_suffix(tag: &saphyr_parser::Tag) -> Option<&str> {
    const CORE: &str = "tag:yaml.org,2002:";
    if tag.is_yaml_core_schema() {
        Some(&tag.suffix)
    } else if tag.handle.is_empty() || tag.handle == "!" {
        tag.suffix.strip_prefix(CORE)
    } else {
        None
    }
}

/// A plain scalar that YAML 1.1 reads differently from YAML 1.2 (which qmspec reads): its
/// booleans (`yes`, `off`), octal with a leading zero (`010001` is 4097), `0o` (a string in 1.1),
/// binary, sexagesimal (`1:30`) and `_` in numbers.
pub fn yaml11_differs(plain: &str) -> bool {
    if yaml11_bool(plain).is_some() {
        return true;
    }
    let body = plain.strip_prefix(['-', '+']).unwrap_or(plain);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (body.len() > 1 && body.starts_with('0') && digits(body))
        || body.starts_with("0o")
        || (body.starts_with("0b") && body.len() > 2)
        || (body.contains(':') && body.split(':').all(digits))
        || (body.contains('_')
            && body.chars().next().is_some_and(|c| c.is_ascii_digit())
            && body
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '_' | '.')))
}

/// Whether a plain scalar is a YAML 1.2 float that JSON cannot hold: `.inf`, `.nan`, or a
/// number too large for a double (`1e400`).
fn non_finite(text: &str) -> bool {
    let body = text.trim_start_matches(['+', '-']);
    // Only text that starts like a number can be one; most plain scalars stop here.
    if !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return false;
    }
    matches!(body, ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN")
        || (body.contains(['e', 'E'])
            && text.parse::<f64>().is_ok_and(|f| !f.is_finite())
            && matches!(resolve_plain(text), Value::String(_)))
}

/// A scalar with an explicit core-schema tag: the tag is honoured, and a value that does not
/// fit it is refused rather than silently read as text.
fn tagged_scalar(suffix: &str, text: &str) -> Result<Value, &'static str> {
    match suffix {
        "str" => Ok(Value::String(text.to_string())),
        "null" => match resolve_plain(text) {
            Value::Null => Ok(Value::Null),
            _ => Err("is not a null: `!!null` takes `null`, `~` or nothing"),
        },
        "bool" => match resolve_plain(text) {
            v @ Value::Bool(_) => Ok(v),
            _ => Err("is not a boolean: `!!bool` takes `true` or `false`"),
        },
        "int" => match resolve_plain(text) {
            v @ Value::Number(_) if !text.contains(['.', 'e', 'E']) => Ok(v),
            _ => Err("is not an integer that qmspec can hold"),
        },
        "float" => match resolve_plain(text) {
            Value::Number(n) => n
                .as_f64()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or("is not a finite float"),
            _ => Err("is not a finite float"),
        },
        "seq" | "map" => Err("tags a single value as a collection"),
        _ => Err("uses a tag a spec has no use for"),
    }
}

/// The `%YAML` directives before the document: only 1.1 and 1.2 are read (a 2.0 document
/// would mean something else); `%TAG` may redefine `!!`, so it is refused too.
fn directives(text: &str) -> (Vec<Diagnostic>, bool) {
    let mut out = Vec::new();
    let mut yaml11 = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        let span = offset..offset + trimmed.len();
        offset += line.len();
        if trimmed.is_empty()
            || trimmed.starts_with('#')
            || trimmed.starts_with('\u{feff}') && trimmed.len() == 3
        {
            continue;
        }
        let Some(directive) = trimmed.strip_prefix('%') else {
            break;
        };
        let mut words = directive.split_whitespace();
        match words.next() {
            Some("YAML") => {
                let version = words.next().unwrap_or("");
                yaml11 |= version == "1.1";
                if !matches!(version, "1.1" | "1.2") {
                    out.push(
                        Diagnostic::error(
                            "qmspec::yaml-version",
                            format!("`%YAML {version}` is not a YAML version qmspec reads"),
                        )
                        .with_label(Label::primary(span, "qmspec reads YAML 1.2 (and 1.1)"))
                        .with_help("write `%YAML 1.2`, or remove the directive"),
                    );
                }
            }
            _ => out.push(
                Diagnostic::error("qmspec::yaml-tag", "a `%TAG` or unknown directive")
                    .with_label(Label::primary(
                        span,
                        "directives other than `%YAML` change how tags read",
                    ))
                    .with_help("remove the directive; a spec needs no tag handles"),
            ),
        }
    }
    (out, yaml11)
}

/// Resolve a plain scalar with the YAML 1.2 core schema.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return Value::String(text.to_string()),
        _ => {}
    }
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits(body, 10)
        && let Ok(i) = text.parse::<i64>()
    {
        return Value::Number(i.into());
    }
    if let Some(hex) = text.strip_prefix("0x").filter(|h| digits(h, 16))
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Value::Number(i.into());
    }
    if let Some(oct) = text.strip_prefix("0o").filter(|o| digits(o, 8))
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Value::Number(i.into());
    }
    let looks_float = body
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '.')
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'));
    if looks_float && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
        return Value::Number(n);
    }
    Value::String(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_follow_the_core_schema() {
        assert_eq!(resolve_plain("6.10"), serde_json::json!(6.1));
        assert_eq!(resolve_plain("12"), serde_json::json!(12));
        assert_eq!(resolve_plain("v1"), serde_json::json!("v1"));
        assert_eq!(resolve_plain("1.2.3"), serde_json::json!("1.2.3"));
        assert_eq!(resolve_plain("~"), Value::Null);
    }

    #[test]
    fn spans_are_bytes_after_non_ascii_text() {
        let doc = parse("a: \"ünïcødé\"\nb: 1\n").expect("parses");
        let key = doc.key_span("/b");
        assert_eq!(&"a: \"ünïcødé\"\nb: 1\n"[key], "b");
    }
}
