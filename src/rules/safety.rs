//! Shell safety: what a spec value may hold, by the use its field declares in the schema.

use super::Ctx;
use serde_json::Value;

use crate::diag::Diagnostic;
use crate::model::Spec;
use crate::yaml::escape_segment;

/// Characters that a value spliced into a shell line cannot safely carry.
pub(super) fn shell_problem(value: &str) -> Option<&'static str> {
    if value.contains(['\n', '\r']) {
        Some("a line break")
    } else if value.contains(['\'', '"']) {
        Some("a quote")
    } else if value.contains("$(") {
        Some("a command substitution `$(`")
    } else if value.contains('$') {
        Some("a `$`, which BuildKit (COPY, ENV, WORKDIR) or the shell would expand")
    } else if value.contains('`') {
        Some("a backtick")
    } else if value.contains(';') {
        Some("a `;`")
    } else if value.chars().any(char::is_control) {
        Some("a control character")
    } else if value.starts_with('-') {
        Some("a leading `-`, which a command reads as an option")
    } else {
        None
    }
}

/// `name>=1.2` → (`name`, `>=1.2`): a version constraint starts at the first of `=<>!~`.
pub(super) fn split_version(s: &str) -> (&str, &str) {
    let at = s.find(['=', '<', '>', '!', '~']).unwrap_or(s.len());
    s.split_at(at)
}

/// A version constraint (PEP 440 or conda match spec) with no room for an option or a word
/// break: empty, or operators, versions, wildcards and commas only.
pub(super) fn spec_ok(spec: &str) -> bool {
    spec.chars()
        .all(|c| c.is_ascii_alphanumeric() || "=<>!~.*+,_|-".contains(c))
}

/// A package ecosystem, with its naming rules: a name passed to a package manager must never
/// start with `-` (`-oDPkg::Pre-Invoke::=…` runs a command in apt) or carry anything but a
/// name and a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ecosystem {
    Debian,
    Python,
    Conda,
}

impl Ecosystem {
    fn name(self) -> &'static str {
        match self {
            Ecosystem::Debian => "Debian",
            Ecosystem::Python => "Python (PEP 508)",
            Ecosystem::Conda => "conda",
        }
    }
    fn help(self) -> &'static str {
        match self {
            Ecosystem::Debian => {
                "Debian names are lowercase letters, digits and `+.-`, starting with a letter or digit, optionally `:ARCH` and `=VERSION`, e.g. `libxrender1` or `wget=1.21.3-1+b2`"
            }
            Ecosystem::Python => {
                "a PyPI name is letters, digits and `._-`, starting and ending with a letter or digit, optionally with extras and a version, e.g. `rdkit` or `uvicorn[standard]`"
            }
            Ecosystem::Conda => {
                "a conda name is letters, digits and `_.-`, starting with a letter, digit or `_`, optionally with a version, e.g. `xtb` or `xtb=6.7.1`"
            }
        }
    }
    fn accepts(self, s: &str) -> bool {
        let alnum = |c: char| c.is_ascii_alphanumeric();
        match self {
            // apt-get reads a trailing `-` as "remove this package".
            Ecosystem::Debian if s.ends_with('-') => false,
            Ecosystem::Debian => {
                let (rest, version) = match s.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (s, None),
                };
                let (name, arch) = match rest.split_once(':') {
                    Some((n, a)) => (n, Some(a)),
                    None => (rest, None),
                };
                name.len() >= 2
                    && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+.-".contains(c))
                    && arch.is_none_or(|a| {
                        !a.is_empty()
                            && a.chars()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    })
                    && version.is_none_or(|v| {
                        v.starts_with(|c: char| c.is_ascii_alphanumeric())
                            && v.chars().all(|c| alnum(c) || ".+~:-".contains(c))
                    })
            }
            Ecosystem::Python => {
                let (s, spec) = split_version(s);
                let (name, extras) = match s.split_once('[') {
                    Some((n, e)) => (n, Some(e)),
                    None => (s, None),
                };
                !name.is_empty()
                    && name.starts_with(alnum)
                    && name.ends_with(alnum)
                    && name.chars().all(|c| alnum(c) || "._-".contains(c))
                    && spec_ok(spec)
                    && extras.is_none_or(|e| {
                        e.strip_suffix(']').is_some_and(|e| {
                            e.split(',').all(|x| {
                                !x.is_empty()
                                    && x.starts_with(alnum)
                                    && x.chars().all(|c| alnum(c) || "._-".contains(c))
                            })
                        })
                    })
            }
            Ecosystem::Conda => {
                let (s, spec) = split_version(s);
                s.starts_with(|c: char| alnum(c) || c == '_')
                    && s.chars().all(|c| alnum(c) || "_.-".contains(c))
                    && spec_ok(spec)
            }
        }
    }
}

/// Whether a `#` in a command starts a shell comment: at the start of a word, that is after the
/// start, a blank or an operator character (`;#`, `&&#` and `|#` comment out the rest too).
/// Conservative: a quoted `'a #b'` is refused as well.
pub(super) fn starts_comment(value: &str) -> bool {
    let mut prev: Option<char> = None;
    for c in value.chars() {
        if c == '#' && prev.is_none_or(|p| p.is_whitespace() || ";&|()<>".contains(p)) {
            return true;
        }
        prev = Some(c);
    }
    false
}

/// What a whole shell command cannot carry on one Dockerfile line: RUN joins the spec's
/// commands with `&&` on one logical line, so a line break would start a new instruction, a
/// trailing backslash would swallow the next line, and a comment the commands after it.
pub(super) fn command_problem(value: &str) -> Option<&'static str> {
    let value = value.trim();
    if value.contains(['\n', '\r']) {
        Some("a line break")
    } else if value.ends_with('\\') {
        Some("a trailing backslash")
    } else if starts_comment(value) {
        Some("a shell comment")
    } else if value.chars().any(|c| c.is_control() && c != '\t') {
        Some("a control character")
    } else if value.contains("<<") {
        Some("`<<`, which BuildKit reads as the start of a heredoc")
    } else if value.starts_with('-') {
        Some("a leading `-`, which BuildKit reads as a RUN flag (`--mount`, `--network`)")
    } else if value.starts_with('[') {
        Some("a leading `[`, which BuildKit reads as a JSON exec form that skips the shell")
    } else if value.is_empty() {
        Some("nothing")
    } else {
        None
    }
}

/// How a field's text reaches the generated files. Each field declares its use in the model
/// (`x-qmspec-use` in the schema); one walk over the spec checks every string by the use of
/// the field it sits in. A field that declares nothing is checked as a shell word, the
/// strictest use most values have: a new field is unsafe until it says otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Use {
    /// Free text that reaches only comments, labels or JSON (their filters quote it).
    Text,
    /// One word of a shell line or an instruction (quoted, but kept to plain characters).
    Word,
    /// An absolute path inside the image.
    ImagePath,
    /// A relative path in the build context (`COPY` source, bind mount).
    ContextPath,
    /// A whole shell command.
    Command,
    /// The value of an environment variable or build argument (`ENV`/`ARG`, references kept).
    EnvValue,
    /// A package name of one ecosystem.
    Package(Ecosystem),
}

impl Use {
    fn parse(s: &str) -> Option<Use> {
        Some(match s {
            "text" => Use::Text,
            "word" => Use::Word,
            "image-path" => Use::ImagePath,
            "context-path" => Use::ContextPath,
            "command" => Use::Command,
            "env-value" => Use::EnvValue,
            "debian-package" => Use::Package(Ecosystem::Debian),
            "python-package" => Use::Package(Ecosystem::Python),
            "conda-package" => Use::Package(Ecosystem::Conda),
            _ => return None,
        })
    }
}

/// The parts of the published schema the walk reads: navigation and declarations. Parsed
/// into this shape, not into a `serde_json::Value`, so the rest of the schema (descriptions,
/// examples, patterns) is skipped without being built: the walk runs on every spec.
#[derive(Debug, Default, serde::Deserialize)]
struct Node {
    #[serde(rename = "$ref")]
    reference: Option<String>,
    #[serde(rename = "x-qmspec-use")]
    declared: Option<String>,
    // Ordered maps: a handful of keys each, looked up for every value of every spec, where
    // comparing a few strings is cheaper than hashing one.
    #[serde(default)]
    properties: std::collections::BTreeMap<String, Node>,
    items: Option<Box<Node>>,
    #[serde(rename = "additionalProperties")]
    additional: Option<Additional>,
    #[serde(rename = "oneOf")]
    one_of: Option<Vec<Node>>,
    #[serde(rename = "const")]
    constant: Option<Value>,
    #[serde(rename = "$defs", default)]
    defs: std::collections::BTreeMap<String, Node>,
}

/// `additionalProperties`: a schema for the values of a mapping, or `false` (nothing to walk).
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum Additional {
    Schema(Box<Node>),
    Closed(serde::de::IgnoredAny),
}

/// The walk's view of the schema this qmspec was built with, parsed once per process.
fn schema() -> &'static Node {
    static SCHEMA: std::sync::OnceLock<Node> = std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| serde_json::from_str(crate::schema::schema_text_2020()).unwrap_or_default())
}

/// The node a `$ref` names (`#/$defs/Name`), or the node itself.
fn deref<'s>(root: &'s Node, node: &'s Node) -> &'s Node {
    node.reference
        .as_deref()
        .and_then(|r| r.strip_prefix("#/$defs/"))
        .and_then(|name| root.defs.get(name))
        .unwrap_or(node)
}

/// The branch of a tagged union (`oneOf`) a value takes: the one whose tag (`kind`, `with`)
/// matches. The spec has no untagged unions (optional fields are plain in the schema).
fn branch<'s>(root: &'s Node, node: &'s Node, value: &Value) -> Option<&'s Node> {
    let alts = node.one_of.as_ref()?;
    ["kind", "with"].into_iter().find_map(|tag| {
        let t = value.get(tag)?;
        alts.iter()
            .map(|a| deref(root, a))
            .find(|a| a.properties.get(tag).and_then(|p| p.constant.as_ref()) == Some(t))
    })
}

/// One step of a JSON pointer, kept borrowed until a finding needs the pointer written out.
#[derive(Clone, Copy)]
enum Seg<'v> {
    Key(&'v str),
    Index(usize),
}

/// The JSON pointer of a path of steps.
fn pointer(path: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for seg in path {
        out.push('/');
        match seg {
            Seg::Key(k) => out.push_str(&escape_segment(k)),
            Seg::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

/// A node without declarations or children, for values the schema says nothing about.
static EMPTY: std::sync::LazyLock<Node> = std::sync::LazyLock::new(Node::default);

/// Call `found` with every string of `value`, its path and the use its field declares.
fn strings<'v>(
    root: &Node,
    node: &Node,
    value: &'v Value,
    path: &mut Vec<Seg<'v>>,
    inherited: Option<Use>,
    found: &mut dyn FnMut(&[Seg<'v>], Use, &'v str),
) {
    // A declaration on a field whose type is a `$ref` sits next to the reference.
    let at_ref = node.declared.as_deref();
    let node = deref(root, node);
    let declared = at_ref
        .or(node.declared.as_deref())
        .and_then(Use::parse)
        .or(inherited);
    if let Some(b) = branch(root, node, value) {
        return strings(root, b, value, path, declared, found);
    }
    match value {
        Value::String(s) => found(path, declared.unwrap_or(Use::Word), s),
        Value::Array(items) => {
            let item = node.items.as_deref().unwrap_or(&EMPTY);
            for (i, v) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                strings(root, item, v, path, declared, found);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let sub = match (node.properties.get(k.as_str()), &node.additional) {
                    (Some(p), _) => p,
                    (None, Some(Additional::Schema(s))) => s,
                    _ => &EMPTY,
                };
                path.push(Seg::Key(k));
                strings(root, sub, v, path, declared, found);
                path.pop();
            }
        }
        _ => {}
    }
}

/// What a path value may not hold beyond a shell word's limits: blanks and commas end a
/// `--mount`/`--chown` option or a `chown` list.
fn path_problem(value: &str) -> Option<&'static str> {
    if value.chars().any(char::is_whitespace) {
        Some("a blank")
    } else if value.contains(',') {
        Some("a `,`, which ends a `--mount` option")
    } else if value.contains('\\') {
        Some("a backslash, which BuildKit's option parser drops")
    } else {
        None
    }
}

/// The names of the `{{name}}` placeholders in a value (a name: letters, digits, `_`, with
/// optional blanks inside the braces). Other braces (`{"a":{"b":1}}`, `${{ github.x }}`) are
/// text.
fn placeholders(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    // Every string of a spec comes here; most have no brace at all.
    if !v.contains('{') {
        return out;
    }
    let mut rest = v;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        if !name.is_empty()
            && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            // `${{ x }}` is a GitHub expression, reported on its own.
            && !rest[..start].ends_with('$')
        {
            out.push(name);
        }
        rest = &after[end + 2..];
    }
    out
}

/// Whether a value holds a placeholder the walk must look at: any `{{name}}` in a field that
/// reaches a shell line or an instruction; in free text (labels, comments) only `{{version}}`,
/// which a user means to be replaced; other braces there are just text.
fn misplaced(use_: Use, v: &str) -> bool {
    let names = placeholders(v);
    match use_ {
        Use::Text => names.contains(&"version"),
        _ => !names.is_empty(),
    }
}

/// Whether a field may carry `{{version}}`: a tool's URLs (checked with their own rule),
/// install paths, executables, `PATH` entries, environment values and check.
fn carries_version(pointer: &str) -> bool {
    let segs: Vec<&str> = pointer.split('/').skip(1).collect();
    match segs.as_slice() {
        ["tools", _, "check"] | ["tools", _, "path", _] | ["tools", _, "env", _] => true,
        ["tools", _, "sources", _, "downloads", _, field] => matches!(*field, "url" | "file"),
        ["tools", _, "sources", _, field, ..] => {
            matches!(
                *field,
                "url" | "dest" | "prefix" | "executables" | "path" | "env"
            )
        }
        _ => false,
    }
}

/// A `{{…}}` in a value: `{{version}}` where the field carries it, nothing else anywhere.
/// Reports a misplaced placeholder; `true` when it did.
fn placeholder(p: &str, route: impl Fn() -> String, v: &str, cx: &mut Ctx<'_>) -> bool {
    let only_version = placeholders(v).iter().all(|name| *name == "version");
    if carries_version(p) {
        // URLs have their own rule, which names the tool.
        if only_version || p.ends_with("/url") {
            return false;
        }
    }
    let (message, help) = if only_version {
        (
            format!(
                "{} holds `{{{{version}}}}`, which is replaced only in a tool's fields",
                route()
            ),
            "write the value out, or move it into a tool (`url`, `dest`, `prefix`, `executables`, `path`, `env`, `check`)",
        )
    } else {
        (
            format!(
                "{} holds a placeholder other than `{{{{version}}}}`",
                route()
            ),
            "only `{{version}}` is replaced: write the rest out",
        )
    };
    cx.out.push(
        Diagnostic::error("qmspec::unknown-placeholder", message)
            .with_label(cx.at_value(p, "not replaced here"))
            .with_help(help),
    );
    true
}

/// Whether a value of this use can have any problem: free text never does, and a value of
/// plain characters only when it must be absolute (image paths) or relative (context paths).
fn may_have_problem(use_: Use, v: &str) -> bool {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._/+@%=~-".contains(c);
    if misplaced(use_, v) {
        return true;
    }
    match use_ {
        Use::Text => false,
        Use::Word => !v.chars().all(plain) || v.starts_with('-'),
        _ => true,
    }
}

pub(super) fn check(_spec: &Spec, cx: &mut Ctx<'_>) {
    let root = schema();
    let doc = cx.doc;
    // Only strings with a problem get their pointer written out.
    let mut found: Vec<(String, Use, &str)> = Vec::new();
    strings(
        root,
        root,
        &doc.value,
        &mut Vec::new(),
        None,
        &mut |path, use_, v| {
            if may_have_problem(use_, v) {
                found.push((pointer(path), use_, v));
            }
        },
    );
    for (p, use_, v) in found {
        // The human name is written out only for a finding (most strings have none).
        let route = || crate::schema::route(&p);
        // A value that carries `{{version}}` is checked as it will read (`0` standing in for
        // the version, which is checked on its own field).
        let expanded;
        let v = if misplaced(use_, v) {
            if placeholder(&p, route, v, cx) {
                continue;
            }
            expanded = v.replace("{{version}}", "0");
            expanded.as_str()
        } else {
            v
        };
        let problem = match use_ {
            Use::Text => None,
            Use::Word => shell_problem(v),
            Use::ContextPath => shell_problem(v).or_else(|| path_problem(v)),
            // Image paths end up in `PATH`, where a `:` would add a directory of its own.
            Use::ImagePath => shell_problem(v).or_else(|| path_problem(v)).or_else(|| {
                v.contains(':')
                    .then_some("a `:`, which separates directories in `PATH`")
            }),
            Use::EnvValue => v
                .chars()
                .any(char::is_control)
                .then_some("a control character"),
            Use::Command => {
                if let Some(problem) = command_problem(v) {
                    cx.out.push(
                        Diagnostic::error(
                            "qmspec::unsafe-value",
                            format!("the command {} contains {problem}", route()),
                        )
                        .with_label(cx.at_value(&p, format!("{problem} here")))
                        .with_help("write one command per list entry, each on one line"),
                    );
                }
                None
            }
            Use::Package(eco) => {
                if !eco.accepts(v) {
                    cx.out.push(
                        Diagnostic::error(
                            "qmspec::package-name",
                            format!(
                                "{} `{}` is not a valid {} package name",
                                route(),
                                crate::diag::printable(v.to_string()),
                                eco.name()
                            ),
                        )
                        .with_label(cx.at_value(&p, "not a package name"))
                        .with_help(eco.help()),
                    );
                }
                None
            }
        };
        if let Some(problem) = problem {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::unsafe-value",
                    format!("{} contains {problem}", route()),
                )
                .with_label(cx.at_value(&p, format!("{problem} cannot be quoted safely here")))
                .with_help(
                    "remove it: this value is spliced into shell lines and Dockerfile instructions",
                ),
            );
            continue;
        }
        if use_ == Use::ImagePath && !v.starts_with('/') {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::relative-path",
                    format!(
                        "{} `{}` is not an absolute path",
                        route(),
                        crate::diag::printable(v.to_string())
                    ),
                )
                .with_label(cx.at_value(&p, "a path inside the image"))
                .with_help("write the path from the image's root, e.g. `/opt/tool`"),
            );
        }
        if use_ == Use::ContextPath
            && (v.starts_with('/') || v.split('/').any(|c| c == "..") || v.is_empty())
        {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::unsafe-path",
                    format!(
                        "{} `{}` leaves the build context",
                        route(),
                        crate::diag::printable(v.to_string())
                    ),
                )
                .with_label(cx.at_value(&p, "outside the build context"))
                .with_help("give a path relative to the repository root, without `..`"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_names_in_double_braces() {
        assert_eq!(
            placeholders("x-{{version}}-{{ arch }}"),
            ["version", "arch"]
        );
        assert_eq!(placeholders(r#"{"a":{"b":1}}"#), Vec::<&str>::new());
        assert_eq!(placeholders("${{ github.x }}"), Vec::<&str>::new());
        assert_eq!(placeholders("${{ x }} {{version}}"), ["version"]);
        assert_eq!(placeholders("{{ }} {{1a}} {{a"), Vec::<&str>::new());
    }

    /// Every free-text string field declares its use: a string field without a declaration
    /// must be one the schema already pins down (a pattern or a fixed set of values), so the
    /// default shell-word check never surprises anyone.
    #[test]
    fn every_free_string_field_declares_its_use() {
        fn visit(
            root: &Value,
            node: &Value,
            at: &str,
            declared: bool,
            depth: usize,
            out: &mut Vec<String>,
        ) {
            if depth > 12 {
                return;
            }
            let declared = declared || node.get("x-qmspec-use").is_some();
            let node = match node.get("$ref").and_then(Value::as_str) {
                Some(r) => r
                    .strip_prefix('#')
                    .and_then(|p| root.pointer(p))
                    .unwrap_or(node),
                None => node,
            };
            let declared = declared || node.get("x-qmspec-use").is_some();
            if node.get("type").and_then(Value::as_str) == Some("string")
                && !declared
                && node.get("pattern").is_none()
                && node.get("enum").is_none()
                && node.get("const").is_none()
            {
                out.push(at.to_string());
            }
            for key in ["oneOf", "anyOf"] {
                for (i, a) in node
                    .get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    visit(root, a, &format!("{at}/{key}{i}"), declared, depth + 1, out);
                }
            }
            if let Some(props) = node.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    visit(root, v, &format!("{at}/{k}"), declared, depth + 1, out);
                }
            }
            for key in ["items", "additionalProperties"] {
                if let Some(v) = node.get(key).filter(|v| v.is_object()) {
                    visit(root, v, &format!("{at}/{key}"), declared, depth + 1, out);
                }
            }
        }
        let root = crate::schema::published_schema().expect("schema parses");
        let mut out = Vec::new();
        visit(root, root, "", false, 0, &mut out);
        assert_eq!(out, Vec::<String>::new());
        // And every declaration names a use qmspec knows.
        let text = crate::schema::schema_text_2020();
        let mut uses: Vec<&str> = text
            .match_indices("\"x-qmspec-use\": \"")
            .map(|(i, m)| {
                let rest = &text[i + m.len()..];
                &rest[..rest.find('"').unwrap_or(0)]
            })
            .collect();
        uses.sort_unstable();
        uses.dedup();
        assert!(uses.len() >= 9, "{uses:?}");
        for u in uses {
            assert!(Use::parse(u).is_some(), "unknown use `{u}`");
        }
    }
}
