//! The front half of the pipeline: bytes → spanned YAML → schema check → typed spec → rules.

use crate::diag::{self, Diagnostic, Label, Severity};
use crate::model::Spec;
use crate::yaml::{self, Document};
use crate::{rules, schema};

/// A spec file after validation: its text, what was found, and the typed spec when it is valid.
#[derive(Debug, Default)]
pub struct Loaded {
    pub text: String,
    pub diagnostics: Vec<Diagnostic>,
    pub doc: Option<Document>,
    pub spec: Option<Spec>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        has_error(&self.diagnostics)
    }

    /// A spec already known to be valid (its text and findings are not kept).
    pub fn valid(spec: Spec) -> Loaded {
        Loaded {
            text: String::new(),
            diagnostics: Vec::new(),
            doc: None,
            spec: Some(spec),
        }
    }
}

/// A spec whose repository path cannot be used (see [`crate::paths::spec_path_problem`]).
pub fn refused_name(problem: &str) -> Loaded {
    let d = Diagnostic::error(
        "qmspec::spec-name",
        format!("the spec's file name {problem}"),
    )
    .with_help("the name is printed into every generated file: rename the spec to plain text, e.g. `specs/worker.yaml`, then run `qmspec validate`");
    invalid(String::new(), vec![d], None)
}

/// Most problems reported for one spec; the rest are counted, not listed.
pub const MAX_DIAGNOSTICS: usize = 100;

/// What was found beside a spec: its lock file, unreadable (with the reason), or none.
pub type LockFound = Option<(String, Result<crate::lock::Lock, String>)>;

/// Validate spec bytes. Never panics; every problem becomes a diagnostic, sorted in file order.
pub fn load(bytes: &[u8]) -> Loaded {
    load_locked(bytes, None)
}

/// Validate spec bytes with the lock file found beside the spec (its path and contents).
pub fn load_locked(bytes: &[u8], lock: LockFound) -> Loaded {
    if bytes.len() > yaml::MAX_SPEC_BYTES {
        let d = Diagnostic::error(
            "qmspec::too-large",
            format!(
                "the spec is larger than {} KiB, the most qmspec reads",
                yaml::MAX_SPEC_BYTES / 1024
            ),
        )
        .with_help(
            "a spec describes one image and is a few KiB: check that this is the right file",
        );
        return invalid(String::new(), vec![d], None);
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.to_string(),
        Err(e) => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let at = e.valid_up_to();
            // The lossy text may be longer than the valid prefix, but the offset stays valid in
            // it, and a replacement character stands there: the label covers that character
            // (a span ending inside it would end before it starts in the machine formats).
            let d = Diagnostic::error("qmspec::not-utf8", "the spec is not valid UTF-8")
                .with_label(Label::primary(
                    at..(at + char::REPLACEMENT_CHARACTER.len_utf8()).min(text.len()),
                    "invalid byte here",
                ))
                .with_help("save the file as UTF-8, then run `qmspec validate`");
            return invalid(text, vec![d], None);
        }
    };
    let doc = match yaml::parse(&text) {
        Ok(doc) => doc,
        Err(diagnostics) => return invalid(text, diagnostics, None),
    };
    let schema_errors = schema::check(&doc);
    if !schema_errors.is_empty() {
        return invalid(text, schema_errors, Some(doc));
    }
    // Deserialize from a reference: the document stays intact for the rules' spans.
    // The plain deserializer first: tracking the path costs on every spec, and is only
    // needed to place the rare value the schema accepts but the model cannot hold.
    let mut spec = match <Spec as serde::Deserialize>::deserialize(&doc.value) {
        Ok(spec) => spec,
        Err(_) => {
            let d = match serde_path_to_error::deserialize::<_, Spec>(&doc.value) {
                Ok(_) => Diagnostic::error(
                    "qmspec::internal",
                    "the spec passed the schema but not the model",
                )
                .with_help("this is a bug in qmspec; please report it with the spec"),
                Err(e) => model_mismatch(&doc, &e),
            };
            return invalid(text, vec![d], Some(doc));
        }
    };
    let mut lock_problem = None;
    match lock {
        Some((_, Ok(lock))) => spec.lock = lock,
        Some((path, Err(problem))) => {
            lock_problem = Some(
                Diagnostic::error(
                    "qmspec::lock-invalid",
                    format!("{path} cannot be used: {problem}"),
                )
                .with_help(format!(
                    "run `qmspec lock` to write it again (move {path} away first if qmspec did not write it)"
                )),
            );
        }
        None => {}
    }
    let mut diagnostics = rules::check(&spec, &doc);
    diagnostics.extend(lock_problem);
    diagnostics.extend(yaml11_booleans(&doc));
    if !has_error(&diagnostics) {
        diagnostics.extend(unpinned_actions(&spec, &doc));
    }
    diag::sort(&mut diagnostics);
    cap(&mut diagnostics);
    Loaded {
        text,
        diagnostics,
        doc: Some(doc),
        spec: Some(spec),
    }
}

/// A value the schema accepts but the model cannot hold: a number with a fraction part or
/// out of range where a whole number is expected (`uid: 1.0`, `uid: 1e12`). JSON Schema's
/// `integer` accepts `1.0`, so this is where it is caught, with the value's span.
fn model_mismatch(doc: &Document, e: &serde_path_to_error::Error<serde_json::Error>) -> Diagnostic {
    let mut pointer = String::new();
    for seg in e.path().iter() {
        use serde_path_to_error::Segment;
        match seg {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                pointer.push('/');
                pointer.push_str(&yaml::escape_segment(key));
            }
            Segment::Unknown => {}
        }
    }
    let value = doc.value.pointer(&pointer);
    let (message, help) = match value {
        Some(serde_json::Value::Number(n)) if n.is_f64() => (
            format!("{} must be a whole number, not `{n}`", schema::route(&pointer)),
            "write the number without a fraction or exponent, e.g. `1000`, then run `qmspec validate`".to_string(),
        ),
        Some(serde_json::Value::Number(n)) => (
            format!("{} is out of range: `{n}`", schema::route(&pointer)),
            "use a value in the documented range (`qmspec schema` lists it), then run `qmspec validate`".to_string(),
        ),
        _ => (
            format!("{} cannot be read: {}", schema::route(&pointer), e.inner()),
            "change the value to what the field's description asks for, then run `qmspec validate`".to_string(),
        ),
    };
    Diagnostic::error("qmspec::invalid-value", message)
        .with_label(Label::primary(doc.value_span(&pointer), "here"))
        .with_help(help)
}

/// Plain `yes`/`no`/`on`/`off` where the spec expects text: qmspec reads YAML 1.2, where they
/// are strings, but a YAML 1.1 reader of the same file (PyYAML, say) sees booleans. A warning
/// with the quoted spelling makes the spec mean one thing everywhere.
fn yaml11_booleans(doc: &Document) -> Vec<Diagnostic> {
    doc.places
        .iter()
        .filter_map(|(pointer, place)| {
            let raw = place.plain_scalar.as_deref()?;
            if yaml::yaml11_bool(raw).is_none() {
                return yaml11_number(place, raw);
            }
            let key = pointer.rsplit('/').next().unwrap_or("");
            let fix = if place.key.is_some() {
                format!("quote it: `{key}: \"{raw}\"`")
            } else {
                format!("quote it: `\"{raw}\"`")
            };
            Some(
                Diagnostic::warning(
                    "qmspec::yaml11-boolean",
                    format!(
                        "`{raw}` is the string \"{raw}\" here, but YAML 1.1 tools read it as a boolean"
                    ),
                )
                .with_label(Label::primary(place.value.clone(), "plain yes/no/on/off"))
                .with_help(fix),
            )
        })
        .collect()
}

/// A plain number YAML 1.1 reads differently (`010001` is octal 4097 there, `1:30` is 90):
/// qmspec reads YAML 1.2, a YAML 1.1 tool reading the same file gets another number.
fn yaml11_number(place: &yaml::Place, raw: &str) -> Option<Diagnostic> {
    if !yaml::yaml11_differs(raw)
        || !raw.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+')
    {
        return None;
    }
    Some(
        Diagnostic::warning(
            "qmspec::yaml11-number",
            format!("`{raw}` is read by YAML 1.1 tools as another number than qmspec reads"),
        )
        .with_label(Label::primary(
            place.value.clone(),
            "YAML 1.1 and 1.2 disagree",
        ))
        .with_help(
            "write it without a leading zero, `_` or `:` (or quote it where text is expected)",
        ),
    )
}

/// Keep the first [`MAX_DIAGNOSTICS`] problems and say how many more there are: a hostile
/// file can hold hundreds of thousands, and nobody reads past the first screens.
fn cap(diagnostics: &mut Vec<Diagnostic>) {
    if diagnostics.len() <= MAX_DIAGNOSTICS {
        return;
    }
    let more = diagnostics.len() - MAX_DIAGNOSTICS;
    let severity = if has_error(&diagnostics[MAX_DIAGNOSTICS..]) {
        Severity::Error
    } else {
        Severity::Warning
    };
    diagnostics.truncate(MAX_DIAGNOSTICS);
    let mut d = Diagnostic::error(
        "qmspec::too-many-problems",
        format!("{more} more problems are not shown"),
    )
    .with_help("fix the problems above, then run `qmspec validate` again");
    d.severity = severity;
    diagnostics.push(d);
}

fn has_error(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(|d| d.severity == Severity::Error)
}

/// A spec that stops at `diagnostics`: no typed spec comes out of it.
fn invalid(text: String, mut diagnostics: Vec<Diagnostic>, doc: Option<Document>) -> Loaded {
    diag::sort(&mut diagnostics);
    cap(&mut diagnostics);
    Loaded {
        text,
        diagnostics,
        doc,
        spec: None,
    }
}

/// Every action the workflow would use needs a pin (built in, or from `ci.pins`).
fn unpinned_actions(spec: &Spec, doc: &Document) -> Vec<Diagnostic> {
    match crate::pins::Pins::new(&spec.ci.pins).resolve_all(crate::pins::workflow_actions(spec)) {
        Ok(_) => Vec::new(),
        Err(message) => vec![
            Diagnostic::error("qmspec::unknown-action", message)
                .with_label(Label::primary(doc.key_span("/ci"), "the workflow needs this action"))
                .with_help("add `ci.pins: { owner/repo: \"<40-hex commit> # vX.Y.Z\" }` with the commit of the release tag, then run `qmspec validate`"),
        ],
    }
}
