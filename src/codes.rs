//! The registry of diagnostic codes: one entry per code (id, summary, help). SARIF reads it
//! for its rule descriptions, `qmspec explain`-style help comes from it, and a test requires a
//! fixture for every code a user can meet.

/// Where a code comes from, which decides how its fixture is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Reading or validating a spec: a fixture spec under `tests/fixtures/validate/`.
    Spec,
    /// The files on disk (`generate`, `check`): a scratch repository in a test.
    Files,
    /// A bug in qmspec itself; no spec or repository can raise it on purpose.
    Internal,
}

/// One diagnostic code.
#[derive(Debug, Clone, Copy)]
pub struct Code {
    /// `qmspec::name`, stable: tools and people match on it.
    pub id: &'static str,
    /// What the code means, in one line.
    pub summary: &'static str,
    /// What to do about it in general (each diagnostic adds its own, more precise help).
    pub help: &'static str,
    pub origin: Origin,
}

const fn spec(id: &'static str, summary: &'static str, help: &'static str) -> Code {
    Code {
        id,
        summary,
        help,
        origin: Origin::Spec,
    }
}

const fn files(id: &'static str, summary: &'static str, help: &'static str) -> Code {
    Code {
        id,
        summary,
        help,
        origin: Origin::Files,
    }
}

/// Every code, grouped by where it is raised.
pub const CODES: &[Code] = &[
    // Reading the YAML.
    spec(
        "qmspec::empty",
        "the spec is empty",
        "write the spec's keys; `qmspec schema` shows them",
    ),
    spec(
        "qmspec::not-utf8",
        "the spec is not UTF-8 text",
        "save the file as UTF-8",
    ),
    spec(
        "qmspec::too-large",
        "the spec file is larger than qmspec reads",
        "a spec is a few KiB: split it, or remove what was pasted in",
    ),
    spec(
        "qmspec::yaml-syntax",
        "the YAML does not parse",
        "fix the YAML syntax at the marked place",
    ),
    spec(
        "qmspec::multiple-documents",
        "the file holds more than one YAML document",
        "keep one spec per file",
    ),
    spec(
        "qmspec::not-a-mapping",
        "the spec is not a mapping of keys",
        "write the spec as `key: value` lines",
    ),
    spec(
        "qmspec::duplicate-key",
        "a key appears twice in one mapping",
        "keep one of the two keys",
    ),
    spec(
        "qmspec::complex-key",
        "a key is a list or mapping, not text",
        "write keys as plain text",
    ),
    spec(
        "qmspec::yaml-alias",
        "an alias names no complete anchor (one inside the node it names)",
        "define the anchored value completely before using it",
    ),
    spec(
        "qmspec::alias-budget",
        "aliases expand to more nodes than a spec holds",
        "write the values out instead of nesting aliases",
    ),
    spec(
        "qmspec::too-deep",
        "the YAML nests deeper than a spec does",
        "flatten the nesting",
    ),
    spec(
        "qmspec::too-many-nodes",
        "the YAML has more values than a spec does",
        "remove what was pasted in",
    ),
    spec(
        "qmspec::yaml-tag",
        "a YAML tag qmspec does not honour, or one that does not fit its value",
        "remove the tag",
    ),
    spec(
        "qmspec::yaml-version",
        "a `%YAML` directive for a version qmspec does not read",
        "remove the directive, or write `%YAML 1.2`",
    ),
    spec(
        "qmspec::merge-key",
        "a `<<` merge key",
        "write the keys out; merge keys are not YAML 1.2",
    ),
    spec(
        "qmspec::yaml11-boolean",
        "a word YAML 1.1 reads as a boolean",
        "quote it",
    ),
    spec(
        "qmspec::yaml11-number",
        "a number YAML 1.1 reads differently",
        "quote it",
    ),
    spec(
        "qmspec::unquoted-scalar",
        "a number where text is meant (`6.10` is `6.1`)",
        "quote the value",
    ),
    // The schema.
    spec(
        "qmspec::unknown-key",
        "a key the schema does not have here",
        "fix the spelling, or remove the key",
    ),
    spec(
        "qmspec::missing-key",
        "a required key is missing",
        "add the key",
    ),
    spec(
        "qmspec::wrong-type",
        "a value of the wrong kind (text, number, list, mapping)",
        "write the kind the schema asks for",
    ),
    spec(
        "qmspec::invalid-value",
        "a value the schema does not accept",
        "write a value of the documented form",
    ),
    spec(
        "qmspec::unknown-source-kind",
        "a source `kind` or Python install `with` that does not exist",
        "use one of the listed values",
    ),
    spec(
        "qmspec::too-many",
        "a list longer than the schema allows",
        "shorten the list",
    ),
    spec(
        "qmspec::schema",
        "a schema rule without a more precise code failed",
        "see `qmspec schema` for the shape of this value",
    ),
    spec(
        "qmspec::too-many-problems",
        "more problems than qmspec reports at once",
        "fix the ones shown, then validate again",
    ),
    spec(
        "qmspec::spec-name",
        "the spec's file name cannot be printed into generated files",
        "rename the spec to plain text",
    ),
    // Tools.
    spec(
        "qmspec::duplicate-tool",
        "two tools have one name",
        "rename one of them",
    ),
    spec(
        "qmspec::unknown-need",
        "`needs` names no tool or capability",
        "name a tool or a capability some tool `provides`",
    ),
    spec(
        "qmspec::needs-cycle",
        "tools need each other in a circle",
        "break the circle",
    ),
    spec(
        "qmspec::missing-source",
        "a tool or stage says nothing for a platform the spec builds",
        "add a source for that platform (or `kind: none` with a reason)",
    ),
    spec(
        "qmspec::opted-out",
        "a tool is not installed on a platform (`kind: none`)",
        "nothing, if that is intended",
    ),
    spec(
        "qmspec::unused-source",
        "a source or entry for a platform the spec does not build",
        "remove it, or add the platform",
    ),
    spec(
        "qmspec::ignored-key",
        "a key or stage that has no effect where it is",
        "remove it",
    ),
    spec(
        "qmspec::wrong-arch-download",
        "a download names another CPU architecture",
        "use the download for this platform's architecture",
    ),
    spec(
        "qmspec::invalid-url",
        "a download URL qmspec cannot use",
        "write an `https://` URL",
    ),
    spec(
        "qmspec::unknown-placeholder",
        "a `{{…}}` other than `{{version}}`",
        "use `{{version}}` only",
    ),
    spec(
        "qmspec::version-mismatch",
        "a URL or pin names a version other than the tool's",
        "write `{{version}}` instead of the literal version",
    ),
    spec(
        "qmspec::missing-version",
        "a source that pins a version, on a tool without one",
        "add `version:`",
    ),
    spec(
        "qmspec::unverified-download",
        "a download without a sha256",
        "record the sha256 of the download",
    ),
    spec(
        "qmspec::unverified-without-reason",
        "`sha256: unverified` without a reason",
        "add `unverified-reason:`",
    ),
    spec(
        "qmspec::missing-provider",
        "`via` names nothing that can install on a platform",
        "name an installer tool (or a capability it provides), or `system`",
    ),
    spec(
        "qmspec::lock-stale",
        "a download changed since `qmspec lock` recorded it",
        "run `qmspec lock` again",
    ),
    spec(
        "qmspec::unlocked-package",
        "a conda package has no locked build for a platform",
        "run `qmspec lock`",
    ),
    spec(
        "qmspec::lock-invalid",
        "the lock file beside the spec cannot be read",
        "run `qmspec lock` to write it again",
    ),
    spec(
        "qmspec::version-range",
        "a version range where one exact version is needed (a download, `{{version}}`)",
        "pin an exact version; ranges suit conda and pip sources",
    ),
    spec(
        "qmspec::missing-command",
        "a generated line calls a command the image does not have at that point",
        "install it first (a package or a tool), or list it in the base's `provides`",
    ),
    spec(
        "qmspec::pipe-without-pipefail",
        "a spec command pipes in a shell without `pipefail`",
        "write the steps through a file, or use a bash base",
    ),
    spec(
        "qmspec::unchecked-url",
        "a spec command fetches a URL no checksum covers",
        "list the URL under the source's `downloads:` with its sha256",
    ),
    spec(
        "qmspec::ambiguous-provider",
        "several tools provide what `via` names on a platform",
        "name the tool itself",
    ),
    spec(
        "qmspec::provider-order",
        "a tool is installed before the tool that installs it",
        "add the provider to `needs`",
    ),
    // Every action the templates use has a built-in pin, so only a template change without a
    // pin raises this; `ci.pins` can override pins but not remove one.
    Code {
        id: "qmspec::unknown-action",
        summary: "the workflow would use an action without a pin",
        help: "add a pin under `ci.pins`",
        origin: Origin::Internal,
    },
    // Images and layout.
    spec(
        "qmspec::unpinned-base",
        "a base image without a digest",
        "add `digest: sha256:…`",
    ),
    spec(
        "qmspec::no-platforms",
        "the spec builds no platform",
        "add a platform under `platforms:`",
    ),
    spec(
        "qmspec::qemu-needs-multi-arch",
        "`strategy: qemu` without a multi-arch Dockerfile",
        "set `dockerfiles: multi-arch` or `both`",
    ),
    spec(
        "qmspec::duplicate-output",
        "two outputs of one spec on one path",
        "give each generated file its own path",
    ),
    spec(
        "qmspec::duplicate-stage",
        "two stages with one name, or a reserved stage name",
        "give each stage its own name",
    ),
    spec(
        "qmspec::unknown-stage",
        "a copy names a stage that is not defined before it",
        "define the stage under `stages:` first",
    ),
    spec(
        "qmspec::root-user",
        "the image would run as root without a reason",
        "create a non-root user, or give `root-reason`",
    ),
    spec(
        "qmspec::missing-user",
        "a base runs as another user, or files are given to a user, and no user is named",
        "name the user under `app.user`",
    ),
    // Safety.
    spec(
        "qmspec::unsafe-value",
        "a value holds characters that cannot be quoted where it goes",
        "remove them",
    ),
    spec(
        "qmspec::unsafe-path",
        "a path leaves the repository or the build context, or lands where qmspec never writes",
        "write a relative path inside the repository",
    ),
    spec(
        "qmspec::relative-path",
        "a path in the image is not absolute",
        "write it from the image's root",
    ),
    spec(
        "qmspec::package-name",
        "not a package name of its ecosystem",
        "write a plain package name (and version)",
    ),
    spec(
        "qmspec::value-too-long",
        "a value longer than a line of a generated file may be",
        "shorten it",
    ),
    spec(
        "qmspec::workflow-expression",
        "a GitHub Actions expression (`${{`) in a spec value",
        "remove it: specs hold literal values",
    ),
    // Environment.
    spec(
        "qmspec::invalid-env-name",
        "not a variable name",
        "use letters, digits and `_`",
    ),
    spec(
        "qmspec::invalid-reference",
        "a malformed `$` reference",
        "write `${NAME}`, or `$$` for a literal `$`",
    ),
    spec(
        "qmspec::undefined-variable",
        "a reference to a variable nothing sets before it",
        "define it earlier",
    ),
    // Rendering.
    files(
        "qmspec::output-too-large",
        "a generated file would be larger than qmspec writes",
        "shorten the spec's lists and values",
    ),
    files(
        "qmspec::line-too-long",
        "a generated line would be longer than BuildKit reads",
        "shorten the values on that line",
    ),
    files(
        "qmspec::shared-output",
        "the specs sharing a file (the workflow) disagree, or one of them is invalid",
        "make them agree, or fix the invalid one",
    ),
    // Files on disk.
    files(
        "qmspec::missing",
        "a generated file is missing",
        "run `qmspec generate`",
    ),
    files(
        "qmspec::stale",
        "a generated file no longer matches its spec",
        "run `qmspec generate`",
    ),
    files(
        "qmspec::edited-by-hand",
        "a generated file was edited by hand",
        "move the edit into the spec, then run `qmspec generate`",
    ),
    files(
        "qmspec::not-generated",
        "a file qmspec would write is not qmspec's",
        "move it away, then run `qmspec generate`",
    ),
    files(
        "qmspec::not-a-file",
        "something other than a regular file where qmspec writes",
        "remove it, then run `qmspec generate`",
    ),
    files(
        "qmspec::orphaned",
        "a generated file its spec no longer produces",
        "run `qmspec generate` to remove it",
    ),
    files(
        "qmspec::output-conflict",
        "two specs write one path",
        "give each generated file its own path",
    ),
    files(
        "qmspec::schema-outdated",
        "the schema copy the specs point at is not this qmspec's schema",
        "run `qmspec generate`, which writes it",
    ),
    files(
        "qmspec::refused",
        "`generate` wrote nothing: some file cannot be written safely",
        "resolve the listed files, then run `qmspec generate`",
    ),
    files(
        "qmspec::locked",
        "another `qmspec generate` holds the repository",
        "wait for it, then run again",
    ),
    files(
        "qmspec::changed-during-run",
        "a spec changed between planning and writing its files",
        "run `qmspec generate` again",
    ),
    files(
        "qmspec::io",
        "a file could not be read or written",
        "check the path and its permissions",
    ),
    Code {
        id: "qmspec::render",
        summary: "a template failed to render",
        help: "a bug in qmspec: please report it with the spec",
        origin: Origin::Internal,
    },
    Code {
        id: "qmspec::internal",
        summary: "qmspec failed where it should not",
        help: "a bug in qmspec: please report it with the spec",
        origin: Origin::Internal,
    },
];

/// A code as a Pascal-case identifier, SARIF's rule `name`: `qmspec::unknown-key` →
/// `UnknownKey`, `qmspec::yaml11-boolean` → `Yaml11Boolean`.
pub fn friendly_name(id: &str) -> String {
    id.strip_prefix("qmspec::")
        .unwrap_or(id)
        .split(|c: char| !c.is_ascii_alphanumeric())
        .flat_map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
        })
        .collect()
}

/// Where the code reference is published: `docs/codes.md` of qmspec's repository.
pub const REFERENCE: &str = "https://github.com/qmspec/qmspec/blob/main/docs/codes.md";

/// The reference entry of a code (SARIF's `helpUri`): the anchor GitHub gives its heading.
pub fn help_uri(id: &str) -> String {
    let anchor: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!("{REFERENCE}#{anchor}")
}

/// `docs/codes.md`: every code with its summary and help, in registry order, written from
/// this registry (a test keeps the committed file equal to it).
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# qmspec's diagnostic codes\n\nEvery problem qmspec reports carries one of these codes (in every output format,\nand as the rule id in SARIF). Each diagnostic adds its own, more precise help.\nThis file is written from the code registry (`src/codes.rs`); a test keeps it current.\n",
    );
    for (origin, title) in [
        (Origin::Spec, "Specs"),
        (Origin::Files, "Generated files"),
        (Origin::Internal, "qmspec itself"),
    ] {
        out.push_str(&format!("\n## {title}\n"));
        for c in CODES.iter().filter(|c| c.origin == origin) {
            out.push_str(&format!(
                "\n### `{}`\n\n{}\n\nFix: {}\n",
                c.id, c.summary, c.help
            ));
        }
    }
    out
}

/// The entry of a code, if it is registered.
pub fn lookup(id: &str) -> Option<&'static Code> {
    CODES.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/codes.md` is the registry's rendering; `QMSPEC_WRITE_CODES=1 cargo test` rewrites it.
    #[test]
    fn the_code_reference_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/codes.md");
        let want = reference_markdown();
        if std::env::var_os("QMSPEC_WRITE_CODES").is_some() {
            std::fs::write(path, &want).expect("write docs/codes.md");
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/codes.md is not the registry's rendering: run `QMSPEC_WRITE_CODES=1 cargo test the_code_reference`"
        );
        for c in CODES {
            let heading = format!("### `{}`", c.id);
            assert!(have.contains(&heading), "{}", c.id);
            // GitHub's anchor for that heading: lower case, punctuation but `-` dropped.
            let anchor = help_uri(c.id);
            assert!(
                anchor.ends_with(&format!("#{}", c.id.replace("::", ""))),
                "{anchor}"
            );
        }
    }

    #[test]
    fn friendly_names_are_pascal_case_and_distinct() {
        assert_eq!(friendly_name("qmspec::unknown-key"), "UnknownKey");
        assert_eq!(friendly_name("qmspec::yaml11-boolean"), "Yaml11Boolean");
        let mut names: Vec<String> = CODES.iter().map(|c| friendly_name(c.id)).collect();
        for n in &names {
            assert!(
                n.starts_with(|c: char| c.is_ascii_uppercase())
                    && n.chars().all(|c| c.is_ascii_alphanumeric()),
                "{n}"
            );
        }
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "two codes share a friendly name");
    }

    /// Every `"qmspec::…"` the source raises is registered, and each once.
    #[test]
    fn every_raised_code_is_registered_once() {
        let mut ids: Vec<&str> = CODES.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "a code is registered twice");
        let mut raised = std::collections::BTreeSet::new();
        let mut stack = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).expect("src").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("codes.rs") {
                    let text = std::fs::read_to_string(&p).expect("read");
                    for (i, _) in text.match_indices("qmspec::") {
                        let rest = &text[i..];
                        let end = rest[8..]
                            .find(|c: char| {
                                !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                            })
                            .map_or(rest.len(), |e| e + 8);
                        let id = &rest[..end];
                        // `qmspec::name` paths in Rust code (modules) are followed by `::`.
                        let prev = text[..i].chars().last();
                        if id.len() > 8
                            && prev.is_some_and(|c| c == '"' || c == '(')
                            && !rest[end..].starts_with("::")
                        {
                            raised.insert(id.to_string());
                        }
                    }
                }
            }
        }
        let missing: Vec<&String> = raised.iter().filter(|id| lookup(id).is_none()).collect();
        assert!(missing.is_empty(), "raised but not registered: {missing:?}");
        let unused: Vec<&str> = CODES
            .iter()
            .map(|c| c.id)
            .filter(|id| !raised.contains(*id))
            .collect();
        assert!(unused.is_empty(), "registered but never raised: {unused:?}");
    }
}
