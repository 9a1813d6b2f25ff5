//! The front half of the pipeline: bytes → spanned YAML → schema check → typed spec → rules.

use crate::diag::{self, Diagnostic, Label, Severity};
use crate::model::Spec;
use crate::yaml::{self, Document};
use crate::{rules, schema};

/// A spec file after validation: its text, what was found, and the typed spec when it is valid.
#[derive(Debug)]
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
}

/// Validate spec bytes. Never panics; every problem becomes a diagnostic, sorted in file order.
pub fn load(bytes: &[u8]) -> Loaded {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.to_string(),
        Err(e) => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let at = e.valid_up_to();
            // The lossy text may be longer than the valid prefix, but the offset stays valid in it.
            let d = Diagnostic::error("qmspec::not-utf8", "the spec is not valid UTF-8")
                .with_label(Label::primary(
                    at..(at + 1).min(text.len()),
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
    let spec = match serde_json::from_value::<Spec>(doc.value.clone()) {
        Ok(spec) => spec,
        Err(e) => {
            let d = Diagnostic::error(
                "qmspec::internal",
                format!("the spec passed the schema but not the model: {e}"),
            )
            .with_help("this is a bug in qmspec; please report it with the spec");
            return invalid(text, vec![d], Some(doc));
        }
    };
    let mut diagnostics = rules::check(&spec, &doc);
    if !has_error(&diagnostics) {
        diagnostics.extend(unpinned_actions(&spec, &doc));
    }
    diag::sort(&mut diagnostics);
    Loaded {
        text,
        diagnostics,
        doc: Some(doc),
        spec: Some(spec),
    }
}

fn has_error(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(|d| d.severity == Severity::Error)
}

/// A spec that stops at `diagnostics`: no typed spec comes out of it.
fn invalid(text: String, mut diagnostics: Vec<Diagnostic>, doc: Option<Document>) -> Loaded {
    diag::sort(&mut diagnostics);
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
