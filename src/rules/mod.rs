//! Semantic rules the schema cannot express, one module per concern: tools, layout, safety,
//! environment.
//!
//! Each rule works on the typed spec and names what it blames by JSON pointer; the document
//! turns pointers into spans only when the diagnostic is built.

mod buildable;
mod ci;
mod env;
mod layout;
mod safety;
mod tools;

pub use env::{is_env_name, references, source_env_path};
pub use tools::{foreign_arch, needs_edges};

use crate::diag::{Diagnostic, Label};
use crate::model::Spec;
use crate::yaml::{Document, escape_segment};

/// Variables every build has when `ENV` is evaluated: only `PATH` (BuildKit sets it). `HOME`
/// is set for `RUN` but not in the image config, so `ENV X=${HOME}` would be empty.
pub const PREDEFINED_VARS: [&str; 1] = ["PATH"];

/// What every rule shares: the document (for spans), the findings so far, and facts computed
/// once per spec.
struct Ctx<'a> {
    doc: &'a Document,
    out: Vec<Diagnostic>,
    /// [`needs_edges`], computed once per spec.
    edges: Vec<Vec<usize>>,
}

impl Ctx<'_> {
    fn at_value(&self, pointer: &str, text: impl Into<String>) -> Label {
        Label::primary(self.doc.value_span(pointer), text)
    }
    fn at_key(&self, pointer: &str, text: impl Into<String>) -> Label {
        Label::primary(self.doc.key_span(pointer), text)
    }
}

pub fn check(spec: &Spec, doc: &Document) -> Vec<Diagnostic> {
    let mut cx = Ctx {
        doc,
        out: Vec::new(),
        edges: needs_edges(spec),
    };
    tools::check(spec, &mut cx);
    layout::check(spec, &mut cx);
    safety::check(spec, &mut cx);
    env::check(spec, &mut cx);
    buildable::check(spec, &mut cx);
    ci::check(spec, &mut cx);
    // A spec shorter than the limit holds no value over it: most specs skip this walk.
    let long_values = if doc.text_len > MAX_VALUE_BYTES {
        string_pointers(&doc.value, &|s| s.len() > MAX_VALUE_BYTES)
    } else {
        Vec::new()
    };
    for pointer in long_values {
        let d = Diagnostic::error(
            "qmspec::value-too-long",
            format!(
                "{} is longer than {} KiB",
                crate::schema::route(&pointer),
                MAX_VALUE_BYTES / 1024
            ),
        )
        .with_label(cx.at_key(&pointer, "this value"))
        .with_help("every value lands on one line of a generated file: shorten it, or move a long script into a file the image copies");
        cx.out.push(d);
    }
    for pointer in expression_pointers(&doc.value) {
        let d = Diagnostic::error(
            "qmspec::workflow-expression",
            format!(
                "{} holds a GitHub Actions expression",
                crate::schema::route(&pointer)
            ),
        )
        .with_label(cx.at_value(&pointer, "`${{` starts an expression"))
        .with_help(
            "specs hold literal values only: remove the `${{ … }}`, then run `qmspec validate`",
        );
        cx.out.push(d);
    }
    cx.out
}

/// JSON pointers of the spec strings holding a GitHub Actions expression (`${{ … }}`). Many
/// spec values reach the workflow (runners, paths, tag patterns), where GitHub would evaluate
/// one; there is no spelling that keeps it literal everywhere, and a spec has no use for one.
/// Pointers are built on the way back up, so a spec without one allocates nothing here.
fn expression_pointers(value: &serde_json::Value) -> Vec<String> {
    // A `$` first: most strings have none, and a one-byte search is the cheap one.
    string_pointers(value, &|s| s.contains('$') && s.contains("${{"))
}

/// Longest text value a spec may hold. Every value lands on one line of a generated file, and
/// BuildKit refuses a Dockerfile line over 64 KiB; no real value comes near this.
pub const MAX_VALUE_BYTES: usize = 8 * 1024;

/// JSON pointers of the strings (values, not keys) that `hit` picks, in document order. One
/// path buffer is extended and cut back on the way down: a pointer is written out only for a
/// hit (most specs have none).
pub(super) fn string_pointers(
    value: &serde_json::Value,
    hit: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    fn walk(
        value: &serde_json::Value,
        hit: &dyn Fn(&str) -> bool,
        path: &mut String,
        out: &mut Vec<String>,
    ) {
        use std::fmt::Write;
        let len = path.len();
        match value {
            serde_json::Value::String(s) if hit(s) => out.push(path.clone()),
            serde_json::Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    // Writing into a String cannot fail.
                    let _ = write!(path, "/{i}");
                    walk(v, hit, path, out);
                    path.truncate(len);
                }
            }
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    path.push('/');
                    path.push_str(&escape_segment(k));
                    walk(v, hit, path, out);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, hit, &mut String::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::tools::literal_versions;
    use super::*;
    use crate::model::Arch;

    #[test]
    fn finds_foreign_architectures_as_words() {
        assert_eq!(
            foreign_arch("xtb-6.7.1-linux-x86_64.tar.xz", Arch::Arm64).map(|f| f.0),
            Some("x86_64")
        );
        assert_eq!(
            foreign_arch("Miniforge3-Linux-aarch64.sh", Arch::Amd64).map(|f| f.0),
            Some("aarch64")
        );
        assert_eq!(
            foreign_arch("Miniforge3-Linux-aarch64.sh", Arch::Arm64),
            None
        );
        assert_eq!(
            foreign_arch("https://example.org/tool-linux.tar.gz", Arch::Arm64),
            None
        );
        assert_eq!(foreign_arch("ghcr.io/x/amd64x", Arch::Arm64), None);
    }

    #[test]
    fn finds_literal_versions() {
        assert_eq!(
            literal_versions("v6.7.0/xtb-6.7.0-linux"),
            vec!["6.7.0", "6.7.0"]
        );
        assert_eq!(literal_versions("crest-gnu-12-ubuntu"), Vec::<&str>::new());
        assert_eq!(literal_versions("python3.11/x86_64"), Vec::<&str>::new());
    }

    #[test]
    fn finds_fetch_commands_as_words() {
        use super::tools::fetch_command;
        assert_eq!(fetch_command("curl -fsSL -o f $URL"), Some("curl"));
        assert_eq!(
            fetch_command("x && /usr/bin/wget -q example.org/x"),
            Some("wget")
        );
        assert_eq!(fetch_command("apt-get install libcurl4-dev"), None);
        assert_eq!(fetch_command("echo curly wgets"), None);
    }

    #[test]
    fn parses_references() {
        assert_eq!(references("${A}/x/$B:$$"), Ok(vec!["A", "B"]));
        assert!(references("${A").is_err());
        assert!(references("cost $5").is_err());
    }
}
