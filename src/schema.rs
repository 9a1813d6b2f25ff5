//! The spec's JSON Schema: generated from `model`, tuned for editors, and used to check specs.
//!
//! Schema errors are mapped back onto the YAML through JSON pointers (the `yaml::Document`
//! index), pointing at the key for unknown or missing keys and at the value otherwise.

use std::sync::OnceLock;

use jsonschema::ValidationError;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::diag::{Diagnostic, Label, did_you_mean};
use crate::model::{Source, Spec};
use crate::yaml::{Document, escape_segment, kind_name};

/// JSON Schema drafts `qmspec schema` can emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Draft {
    /// Draft 2020-12 (the default, and what `schema/worker.schema.json` uses).
    #[value(name = "2020-12")]
    Draft2020_12,
    /// Draft-07, for editors and catalogues that know nothing newer.
    #[value(name = "07")]
    Draft07,
}

/// The schema for a draft, freshly generated from the model, as pretty JSON with a trailing
/// newline. This is what `qmspec schema` prints, so it is how `schema/worker.schema.json` is made.
pub fn schema_text(draft: Draft) -> String {
    serde_json::to_string_pretty(&build(draft)).unwrap_or_default() + "\n"
}

/// The schema's `$id`: a schema file carrying it was written by qmspec, so `generate` may
/// replace it.
pub const SCHEMA_ID: &str = "https://qmspec.dev/schema/worker.schema.json";

/// The 2020-12 schema this qmspec was built with: `schema/worker.schema.json`, embedded at
/// compile time. Generating it from the model takes longer than the rest of a `check`, and a
/// test proves the embedded text equals the generated one, so the hot path reads this instead.
pub fn schema_text_2020() -> &'static str {
    include_str!("../schema/worker.schema.json")
}

/// The published schema as a value, parsed only when an error needs to look something up in
/// it (known property names for did-you-mean, the `kind` of each source variant).
pub fn published_schema() -> Option<&'static Value> {
    static SCHEMA: OnceLock<Option<Value>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| serde_json::from_str(schema_text_2020()).ok())
        .as_ref()
}

/// The validator for `schema/worker.schema.json`, generated at compile time: a `check` pays
/// nothing to build it (compiling the schema at run time cost more than the rest of a
/// `check`), and a schema edit rebuilds it. The patterns are plain regular expressions, so
/// the `regex` engine serves them.
#[jsonschema::validator(
    path = "schema/worker.schema.json",
    draft = Draft202012,
    pattern_options = { engine = regex },
    methods = { is_valid = false, validate = false, iter_errors = true }
)]
struct WorkerSchema;

fn build(draft: Draft) -> Value {
    let settings = match draft {
        Draft::Draft2020_12 => SchemaSettings::draft2020_12(),
        Draft::Draft07 => SchemaSettings::draft07(),
    };
    let root = settings.into_generator().into_root_schema_for::<Spec>();
    let mut value = root.to_value();
    if let Some(obj) = value.as_object_mut() {
        obj.insert("$id".into(), json!(SCHEMA_ID));
        // A placeholder keeps the key's place; the stamp is filled in once the rest is final.
        obj.insert("$comment".into(), json!(""));
    }
    tune(&mut value);
    add_snippets(&mut value);
    let stamp = format!("{SCHEMA_STAMP}{}", body_hash(&value));
    if let Some(obj) = value.as_object_mut() {
        obj.insert("$comment".into(), json!(stamp));
    }
    value
}

/// How the schema's `$comment` starts: it proves qmspec wrote the file, with the hash of
/// everything else in it, so a hand edit is told from qmspec's own file.
const SCHEMA_STAMP: &str = "Written by `qmspec generate` (the schema of this qmspec's specs): do not edit by hand. sha256:";

/// The hash of a schema without its `$comment`, in its own key order.
fn body_hash(schema: &Value) -> String {
    use sha2::{Digest, Sha256};
    let mut body = schema.clone();
    if let Some(obj) = body.as_object_mut() {
        obj.shift_remove("$comment");
    }
    Sha256::digest(body.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Who wrote a file found where the schema goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaFile {
    /// qmspec's schema, untouched since (its stamp's hash verifies): any qmspec may replace it.
    Intact,
    /// A schema of an older qmspec (its `$id`, no stamp yet): replaced as qmspec's own.
    Legacy,
    /// qmspec's stamp, but the rest was edited by hand.
    Edited,
    /// Not qmspec's schema at all.
    Foreign,
}

/// Classify the text of a file where the schema goes.
pub fn schema_file(text: &str) -> SchemaFile {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return SchemaFile::Foreign;
    };
    let comment = value["$comment"]
        .as_str()
        .and_then(|c| c.strip_prefix(SCHEMA_STAMP));
    match comment {
        Some(hash) if hash == body_hash(&value) => SchemaFile::Intact,
        Some(_) => SchemaFile::Edited,
        None if value["$id"].as_str() == Some(SCHEMA_ID) => SchemaFile::Legacy,
        None => SchemaFile::Foreign,
    }
}

/// Editor-oriented rewrites applied to every schema node:
/// - a `oneOf` of documented constants becomes a plain `enum` (completion lists it everywhere)
///   with the per-value docs kept in `markdownEnumDescriptions`;
/// - every `description` is mirrored into `markdownDescription` (hover renders Markdown).
fn tune(node: &mut Value) {
    match node {
        Value::Object(obj) => {
            if let Some(Value::Array(alts)) = obj.get("oneOf") {
                let consts: Option<Vec<(Value, String)>> = alts
                    .iter()
                    .map(|a| {
                        let c = a.get("const").or_else(|| {
                            a.get("enum")
                                .and_then(Value::as_array)
                                .filter(|e| e.len() == 1)
                                .and_then(|e| e.first())
                        })?;
                        let d = a.get("description").and_then(Value::as_str).unwrap_or("");
                        Some((c.clone(), d.to_string()))
                    })
                    .collect();
                if let Some(consts) = consts.filter(|c| !c.is_empty()) {
                    obj.remove("oneOf");
                    obj.insert("type".into(), json!("string"));
                    let docs: Vec<Value> = consts
                        .iter()
                        .map(|(c, d)| json!(format!("`{}`: {d}", c.as_str().unwrap_or(""))))
                        .collect();
                    obj.insert(
                        "enum".into(),
                        Value::Array(consts.into_iter().map(|(c, _)| c).collect()),
                    );
                    obj.insert("markdownEnumDescriptions".into(), Value::Array(docs));
                }
            }
            // Optional fields are simply left out; an explicit `null` is a mistake, and a
            // nullable `anyOf` would turn precise errors into one opaque "anyOf" failure.
            if let Some(Value::Array(alts)) = obj.get("anyOf") {
                let non_null: Vec<Value> = alts
                    .iter()
                    .filter(|a| a.get("type") != Some(&json!("null")))
                    .cloned()
                    .collect();
                if non_null.len() == 1 && alts.len() == 2 {
                    obj.remove("anyOf");
                    if let Some(Value::Object(inner)) = non_null.into_iter().next() {
                        for (k, v) in inner {
                            obj.entry(k).or_insert(v);
                        }
                    }
                }
            }
            if let Some(Value::Array(types)) = obj.get("type") {
                let non_null: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                if non_null.len() == 1 {
                    obj.insert(
                        "type".into(),
                        non_null.into_iter().next().unwrap_or(Value::Null),
                    );
                    if obj.get("default") == Some(&Value::Null) {
                        obj.remove("default");
                    }
                }
            }
            // The tag of a tagged union documents itself with its branch's description.
            let branch_doc = obj.get("description").cloned();
            for tag in ["kind", "with"] {
                if let (Some(doc), Some(Value::Object(kind))) = (
                    branch_doc.clone(),
                    obj.get_mut("properties").and_then(|p| p.get_mut(tag)),
                ) && kind.contains_key("const")
                    && !kind.contains_key("description")
                {
                    kind.insert("description".into(), doc);
                }
            }
            if let Some(Value::String(d)) = obj.get("description") {
                let d = d.clone();
                obj.insert("markdownDescription".into(), json!(d));
            }
            for v in obj.values_mut() {
                tune(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tune),
        _ => {}
    }
}

fn defs_mut(schema: &mut Value) -> Option<&mut Map<String, Value>> {
    let obj = schema.as_object_mut()?;
    let key = if obj.contains_key("$defs") {
        "$defs"
    } else {
        "definitions"
    };
    obj.get_mut(key)?.as_object_mut()
}

/// `defaultSnippets` (a yaml-language-server / VS Code extension): one tool entry per source
/// kind and one platform entry, so a new entry starts complete.
fn add_snippets(schema: &mut Value) {
    let Some(defs) = defs_mut(schema) else { return };
    let tool_snippets = json!([
        {"label": "tool: release archive", "description": "A tool downloaded as a release tarball",
         "body": {"name": "$1", "version": "$2", "check": "$1 --version",
                  "sources": {"amd64": {"kind": "archive", "url": "https://example.org/$1-{{version}}-x86_64.tar.gz",
                                        "sha256": "unverified", "unverified-reason": "$3", "dest": "/opt/$1", "strip-components": 1}}}},
        {"label": "tool: shell installer", "description": "Miniforge or Miniconda style installer",
         "body": {"name": "miniforge", "version": "$1", "check": "/opt/conda/bin/conda --version",
                  "sources": {"arm64": {"kind": "installer", "url": "https://example.org/Miniforge3-{{version}}-Linux-aarch64.sh",
                                        "sha256": "unverified", "unverified-reason": "$2", "prefix": "/opt/conda"}}}},
        {"label": "tool: conda package", "description": "A conda-forge package pinned to the version",
         "body": {"name": "$1", "version": "$2", "needs": ["miniforge"], "check": "$1 --version",
                  "sources": {"arm64": {"kind": "conda", "channel": "conda-forge", "via": "miniforge"}}}},
        {"label": "tool: pip package", "description": "A PyPI package in its own virtual environment",
         "body": {"name": "$1", "version": "$2", "check": "$1 --version",
                  "sources": {"amd64": {"kind": "pip", "via": "system", "prefix": "/opt/$1"}}}},
        {"label": "tool: apt packages", "description": "Distribution packages in the tool's own layer",
         "body": {"name": "$1", "check": "$1 --version", "sources": {"amd64": {"kind": "apt", "packages": ["$1"]}}}},
        {"label": "tool: provided by the base image", "description": "Nothing to install, only checked",
         "body": {"name": "$1", "check": "command -v $1", "sources": {"amd64": {"kind": "base-image"}}}},
        {"label": "tool: explicit commands", "description": "Shell commands, the last resort",
         "body": {"name": "$1", "check": "$1 --version", "sources": {"amd64": {"kind": "commands", "run": ["$2"]}}}},
        {"label": "tool: not on this platform", "description": "An explicit opt-out with a reason",
         "body": {"name": "$1", "sources": {"arm64": {"kind": "none", "reason": "$2"}}}}
    ]);
    let platform_snippet = json!([
        {"label": "platform", "description": "A platform with its base image, runner and Dockerfile",
         "body": {"base": {"image": "$1", "tag": "$2"}, "runner": "${3:ubuntu-latest}", "dockerfile": "generated/Dockerfile.$4"}}
    ]);
    if let Some(Value::Object(tool)) = defs.get_mut("Tool") {
        tool.insert("defaultSnippets".into(), tool_snippets);
    }
    if let Some(Value::Object(p)) = defs.get_mut("Platform") {
        p.insert("defaultSnippets".into(), platform_snippet);
    }
}

/// Check a document against the schema; every error becomes a diagnostic on the YAML.
pub fn check(doc: &Document) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for err in WorkerSchema::iter_errors(&doc.value) {
        map_error(&err, doc, &mut out);
    }
    out
}

/// The schema object at a JSON pointer of the root schema (`schema_path` of an error).
fn schema_at(pointer: &str) -> Option<&'static Value> {
    published_schema()?.pointer(pointer)
}

fn value_at<'d>(doc: &'d Document, pointer: &str) -> Option<&'d Value> {
    doc.value.pointer(pointer)
}

/// Human name of a location: `tools[2].sources.arm64`.
pub fn route(pointer: &str) -> String {
    if pointer.is_empty() {
        return "the top level".to_string();
    }
    let mut out = String::with_capacity(pointer.len() + 4);
    out.push('`');
    for seg in pointer.split('/').skip(1) {
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(seg);
            out.push(']');
        } else {
            if out.len() > 1 {
                out.push('.');
            }
            if seg.contains('~') {
                out.push_str(&seg.replace("~1", "/").replace("~0", "~"));
            } else {
                out.push_str(seg);
            }
        }
    }
    if out.len() == 1 {
        // Only empty keys on the way: nothing to name.
        return "the top level".to_string();
    }
    out.push('`');
    out
}

fn map_error(err: &ValidationError<'_>, doc: &Document, out: &mut Vec<Diagnostic>) {
    let path = err.instance_path().as_str().to_string();
    let schema_path = err.schema_path().as_str().to_string();
    let parent_schema = schema_path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
    match err.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let known: Vec<&str> = schema_at(parent_schema)
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object)
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            for key in unexpected {
                let at = format!("{path}/{}", escape_segment(key));
                let mut d = Diagnostic::error(
                    "qmspec::unknown-key",
                    format!("unknown key `{key}` in {}", route(&path)),
                )
                .with_label(Label::primary(doc.key_span(&at), "not a known key here"));
                d = match did_you_mean(key, known.iter().copied()) {
                    Some(s) => {
                        d.with_help(format!("did you mean `{s}`? (then run `qmspec validate`)"))
                    }
                    None => d.with_help(format!("known keys here: {}", known.join(", "))),
                };
                out.push(d);
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let span = doc.key_span(&path);
            out.push(
                Diagnostic::error(
                    "qmspec::missing-key",
                    format!("missing required key `{name}` in {}", route(&path)),
                )
                .with_label(Label::primary(span, format!("`{name}` is required here")))
                .with_help(format!("add `{name}:`; `qmspec schema` documents it")),
            );
        }
        ValidationErrorKind::Type { kind } => {
            let expected = type_names(kind);
            let place = doc.place(&path);
            let found = value_at(doc, &path).map_or("nothing", kind_name);
            if expected.contains("boolean")
                && let Some(raw) = &place.plain_scalar
                && let Some(b) = crate::yaml::yaml11_bool(raw)
            {
                let key = path.rsplit('/').next().unwrap_or("");
                out.push(
                    Diagnostic::error(
                        "qmspec::yaml11-boolean",
                        format!(
                            "`{raw}` is a string in YAML 1.2, not a boolean, but {} must be a boolean",
                            route(&path)
                        ),
                    )
                    .with_label(Label::primary(place.value.clone(), "a YAML 1.1 boolean"))
                    .with_help(format!("write `{key}: {b}`")),
                );
                return;
            }
            if expected.contains("string")
                && let (Some(raw), Some(v)) = (&place.plain_scalar, value_at(doc, &path))
                && matches!(v, Value::Number(_) | Value::Bool(_))
            {
                let key = path.rsplit('/').next().unwrap_or("");
                out.push(
                    Diagnostic::error(
                        "qmspec::unquoted-scalar",
                        format!(
                            "`{raw}` is read by YAML as {found} ({v}), but {} must be a string",
                            route(&path)
                        ),
                    )
                    .with_label(Label::primary(
                        place.value.clone(),
                        format!("YAML reads this as {v}"),
                    ))
                    .with_help(if key.parse::<usize>().is_ok() {
                        // A list item has no key to show.
                        format!("quote it: `\"{raw}\"`")
                    } else {
                        format!("quote it: `{key}: \"{raw}\"`")
                    }),
                );
                return;
            }
            out.push(
                Diagnostic::error(
                    "qmspec::wrong-type",
                    format!("{} must be {expected}, but it is {found}", route(&path)),
                )
                .with_label(Label::primary(
                    place.value.clone(),
                    format!("expected {expected}"),
                ))
                .with_help("see `qmspec schema` for the shape of this value"),
            );
        }
        ValidationErrorKind::Enum { options } => {
            let opts: Vec<&str> = options
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let got = value_at(doc, &path)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .unwrap_or_default();
            let mut d = Diagnostic::error(
                "qmspec::invalid-value",
                format!("`{got}` is not a valid value for {}", route(&path)),
            )
            .with_label(Label::primary(
                doc.value_span(&path),
                format!("expected one of: {}", opts.join(", ")),
            ));
            if let Some(s) = did_you_mean(&got, opts.iter().copied()) {
                d = d.with_help(format!("did you mean `{s}`?"));
            } else {
                d = d.with_help(format!("use one of: {}", opts.join(", ")));
            }
            out.push(d);
        }
        ValidationErrorKind::OneOfNotValid { context } => one_of(err, context, doc, out),
        ValidationErrorKind::MaxItems { limit } => out.push(
            Diagnostic::error(
                "qmspec::too-many",
                format!("{} has more than {limit} entries", route(&path)),
            )
            .with_label(Label::primary(doc.key_span(&path), "too many entries"))
            .with_help("a spec describes one image: split it into several specs, then run `qmspec validate`"),
        ),
        ValidationErrorKind::Pattern { pattern } => {
            let got = value_at(doc, &path)
                .and_then(Value::as_str)
                .unwrap_or_default();
            let field = path.rsplit('/').next().unwrap_or("");
            let hint = match field {
                "sha256" => {
                    "a sha256 is 64 lowercase hex digits, or `unverified` with `unverified-reason`"
                        .to_string()
                }
                "digest" => "a digest is `sha256:` followed by 64 lowercase hex digits".to_string(),
                _ => format!("the value must match `{pattern}`"),
            };
            out.push(
                Diagnostic::error(
                    "qmspec::invalid-value",
                    format!("`{got}` is not a valid {}", route(&path)),
                )
                .with_label(Label::primary(
                    doc.value_span(&path),
                    "does not have the expected form",
                ))
                .with_help(hint),
            );
        }
        _ => {
            out.push(
                Diagnostic::error("qmspec::schema", format!("{}: {err}", route(&path)))
                    .with_label(Label::primary(doc.value_span(&path), "here"))
                    .with_help("see `qmspec schema` for the shape of this value"),
            );
        }
    }
}

fn type_names(kind: &TypeKind) -> String {
    let name = |t: &jsonschema::JsonType| match t.to_string().as_str() {
        "object" => "a mapping".to_string(),
        "array" => "a list".to_string(),
        "integer" => "an integer".to_string(),
        "null" => "null".to_string(),
        other => format!("a {other}"),
    };
    match kind {
        TypeKind::Single(t) => name(t),
        TypeKind::Multiple(ts) => ts.iter().map(|t| name(&t)).collect::<Vec<_>>().join(" or "),
    }
}

/// A tagged union of the spec: the key that selects the branch and its values.
struct Union {
    tag: &'static str,
    kinds: &'static [&'static str],
    /// What the tag selects, for messages.
    selects: &'static str,
}

const SOURCES: Union = Union {
    tag: "kind",
    kinds: &Source::KINDS,
    selects: "how the tool is installed",
};

const PYTHON_INSTALLS: Union = Union {
    tag: "with",
    kinds: &crate::model::PythonInstall::KINDS,
    selects: "how the Python project is installed",
};

/// A tagged union failed: report the errors of the branch the tag selects.
fn one_of(
    err: &ValidationError<'_>,
    context: &[Vec<ValidationError<'static>>],
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    let u = if err.schema_path().as_str().contains("PythonInstall") {
        &PYTHON_INSTALLS
    } else {
        &SOURCES
    };
    let tag = u.tag;
    let kinds = u.kinds.join(", ");
    let path = err.instance_path().as_str().to_string();
    let instance = value_at(doc, &path);
    let tag_path = format!("{path}/{tag}");
    match instance.and_then(|v| v.get(tag)) {
        Some(Value::String(kind)) => {
            let selected = context
                .iter()
                .find(|errs| !errs.iter().any(|e| e.instance_path().as_str() == tag_path));
            if let Some(errs) = selected {
                for e in errs {
                    map_error(e, doc, out);
                }
                return;
            }
            let mut d = Diagnostic::error(
                "qmspec::unknown-source-kind",
                format!("unknown `{tag}: {kind}` in {}", route(&path)),
            )
            .with_label(Label::primary(
                doc.value_span(&tag_path),
                format!("expected one of: {kinds}"),
            ));
            d = match did_you_mean(kind, u.kinds.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("use one of: {kinds}")),
            };
            out.push(d);
        }
        Some(_) => out.push(
            Diagnostic::error(
                "qmspec::wrong-type",
                format!("{} must be a string", route(&tag_path)),
            )
            .with_label(Label::primary(
                doc.value_span(&tag_path),
                format!("`{tag}` selects {}", u.selects),
            ))
            .with_help(format!("use one of: {kinds}")),
        ),
        None if instance.is_some_and(Value::is_object) => out.push(
            Diagnostic::error(
                "qmspec::missing-key",
                format!("missing required key `{tag}` in {}", route(&path)),
            )
            .with_label(Label::primary(
                doc.key_span(&path),
                format!("`{tag}` selects {}", u.selects),
            ))
            .with_help(format!("add `{tag}:` with one of: {kinds}")),
        ),
        None => out.push(
            Diagnostic::error(
                "qmspec::wrong-type",
                format!(
                    "{} must be a mapping with `{tag}`, but it is {}",
                    route(&path),
                    instance.map_or("nothing", kind_name)
                ),
            )
            .with_label(Label::primary(
                doc.value_span(&path),
                format!("`{tag}` selects {}", u.selects),
            ))
            .with_help(format!("write a mapping with `{tag}:` one of: {kinds}")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_schema_is_what_the_model_generates() {
        assert!(
            schema_text(Draft::Draft2020_12) == schema_text_2020(),
            "schema/worker.schema.json is out of date: run `cargo build && target/debug/qmspec schema > schema/worker.schema.json` (build first: the schema is compiled in)"
        );
    }
}
