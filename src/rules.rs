//! Semantic rules the schema cannot express: coverage, architecture, versions, order, safety.
//!
//! Each rule works on the typed spec and names what it blames by JSON pointer; the document
//! turns pointers into spans only when the diagnostic is built.

use std::collections::{HashMap, HashSet};

use crate::diag::{Diagnostic, Label, did_you_mean};
use crate::model::{Arch, DockerfileLayout, EnvMap, Provider, Source, Spec, Tool};
use crate::yaml::{Document, escape_segment};

/// Variables an image always has, so `${PATH}` and `${HOME}` may be referenced.
pub const PREDEFINED_VARS: [&str; 2] = ["PATH", "HOME"];

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
    tool_names(spec, &mut cx);
    needs(spec, &mut cx);
    coverage(spec, &mut cx);
    for (i, tool) in spec.tools.iter().enumerate() {
        for (arch, source) in tool.sources.iter() {
            let p = format!("/tools/{i}/sources/{}", arch.name());
            source_rules(spec, tool, i, arch, source, &p, &mut cx);
        }
    }
    app_python(spec, &mut cx);
    base_images(spec, &mut cx);
    layout(spec, &mut cx);
    safety(spec, &mut cx);
    environment(spec, &mut cx);
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
    string_pointers(value, &|s| s.contains("${{"))
}

/// Longest text value a spec may hold. Every value lands on one line of a generated file, and
/// BuildKit refuses a Dockerfile line over 64 KiB; no real value comes near this.
pub const MAX_VALUE_BYTES: usize = 8 * 1024;

/// JSON pointers of the strings (values, not keys) that `hit` picks, built on the way back up.
fn string_pointers(value: &serde_json::Value, hit: &dyn Fn(&str) -> bool) -> Vec<String> {
    match value {
        serde_json::Value::String(s) if hit(s) => vec![String::new()],
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .flat_map(|(i, v)| {
                string_pointers(v, hit)
                    .into_iter()
                    .map(move |p| format!("/{i}{p}"))
            })
            .collect(),
        serde_json::Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| {
                string_pointers(v, hit)
                    .into_iter()
                    .map(move |p| format!("/{}{p}", escape_segment(k)))
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn tool_names(spec: &Spec, cx: &mut Ctx<'_>) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, tool) in spec.tools.iter().enumerate() {
        if let Some(first) = seen.get(tool.name.as_str()) {
            let d = Diagnostic::error(
                "qmspec::duplicate-tool",
                format!("tool `{}` is defined twice", tool.name),
            )
            .with_label(cx.at_value(&format!("/tools/{i}/name"), "defined again here"))
            .with_label(Label::secondary(
                cx.doc.value_span(&format!("/tools/{first}/name")),
                "first defined here",
            ))
            .with_help("merge the two entries, or rename one; then run `qmspec validate`");
            cx.out.push(d);
        } else {
            seen.insert(&tool.name, i);
        }
    }
}

fn needs(spec: &Spec, cx: &mut Ctx<'_>) {
    let names: Vec<&str> = spec
        .tools
        .iter()
        .flat_map(|t| std::iter::once(t.name.as_str()).chain(t.provides.iter().map(String::as_str)))
        .collect();
    for (i, tool) in spec.tools.iter().enumerate() {
        for (j, need) in tool.needs.iter().enumerate() {
            let p = format!("/tools/{i}/needs/{j}");
            if !spec.knows(need) {
                let mut d = Diagnostic::error(
                    "qmspec::unknown-need",
                    format!(
                        "tool `{}` needs `{need}`, which no tool is or provides",
                        tool.name
                    ),
                )
                .with_label(cx.at_value(&p, "unknown tool"));
                d = match did_you_mean(need, names.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help("add that tool under `tools:`, or remove it from `needs`"),
                };
                cx.out.push(d);
            } else if need == &tool.name || tool.provides.contains(need) {
                cx.out.push(
                    Diagnostic::error(
                        "qmspec::needs-cycle",
                        format!("tool `{}` needs itself", tool.name),
                    )
                    .with_label(cx.at_value(&p, "this is the tool itself"))
                    .with_help("remove it from `needs`"),
                );
            }
        }
    }
    // Cycles: depth-first search over tool → needed tools, on every platform at once.
    let edges = std::mem::take(&mut cx.edges);
    let mut state = vec![0u8; spec.tools.len()];
    let mut stack = Vec::new();
    let mut reported = HashSet::new();
    for start in 0..spec.tools.len() {
        find_cycle(
            start,
            &edges,
            &mut state,
            &mut stack,
            &mut |cycle: &[usize]| {
                let mut key: Vec<usize> = cycle.to_vec();
                key.sort_unstable();
                if !reported.insert(key) {
                    return;
                }
                let names: Vec<&str> = cycle.iter().map(|k| spec.tools[*k].name.as_str()).collect();
                let first = cycle[0];
                cx.out.push(
                    Diagnostic::error(
                        "qmspec::needs-cycle",
                        format!(
                            "`needs` forms a cycle: {} → {}",
                            names.join(" → "),
                            names[0]
                        ),
                    )
                    .with_label(cx.at_key(
                        &format!("/tools/{first}/needs"),
                        "this cycle has no install order",
                    ))
                    .with_help("remove one of these `needs` entries, then run `qmspec validate`"),
                );
            },
        );
    }
    cx.edges = edges;
}

/// Tool → the tools its `needs` name (a tool, or every provider of a capability), itself left
/// out, in `needs` order (the install order follows it), each once. Built once through a name index: a spec of 256 tools with many `needs` and
/// `provides` must not cost a scan of every tool per edge.
pub fn needs_edges(spec: &Spec) -> Vec<Vec<usize>> {
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, t) in spec.tools.iter().enumerate() {
        by_name.entry(t.name.as_str()).or_default().push(i);
        for p in &t.provides {
            by_name.entry(p.as_str()).or_default().push(i);
        }
    }
    spec.tools
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut v: Vec<usize> = t
                .needs
                .iter()
                .flat_map(|n| by_name.get(n.as_str()).into_iter().flatten().copied())
                .filter(|j| *j != i && spec.tools[*j].name != t.name)
                .collect();
            let mut seen = HashSet::new();
            v.retain(|j| seen.insert(*j));
            v
        })
        .collect()
}

fn find_cycle(
    node: usize,
    edges: &[Vec<usize>],
    state: &mut [u8],
    stack: &mut Vec<usize>,
    report: &mut dyn FnMut(&[usize]),
) {
    match state[node] {
        2 => return,
        1 => {
            if let Some(pos) = stack.iter().position(|n| *n == node) {
                report(&stack[pos..]);
            }
            return;
        }
        _ => {}
    }
    state[node] = 1;
    stack.push(node);
    for next in &edges[node] {
        find_cycle(*next, edges, state, stack, report);
    }
    stack.pop();
    state[node] = 2;
}

fn coverage(spec: &Spec, cx: &mut Ctx<'_>) {
    let built: Vec<Arch> = spec.platforms.iter().map(|(a, _)| a).collect();
    for (i, tool) in spec.tools.iter().enumerate() {
        let p = format!("/tools/{i}/sources");
        for arch in &built {
            match tool.sources.get(*arch) {
                None => cx.out.push(
                    Diagnostic::error(
                        "qmspec::missing-source",
                        format!("tool `{}` has no source for {}", tool.name, arch.name()),
                    )
                    .with_label(cx.at_key(&p, format!("no `{}:` entry here", arch.name())))
                    .with_help(format!(
                        "add `{}:` with a source, or `{{ kind: none, reason: ... }}` to leave it out on purpose",
                        arch.name()
                    )),
                ),
                Some(Source::None(n)) => cx.out.push(
                    Diagnostic::warning(
                        "qmspec::opted-out",
                        format!("tool `{}` is not installed on {}: {}", tool.name, arch.name(), n.reason),
                    )
                    .with_label(cx.at_key(&format!("{p}/{}", arch.name()), "left out on purpose")),
                ),
                Some(_) => {}
            }
        }
        for (arch, _) in tool.sources.iter() {
            if !built.contains(&arch) {
                cx.out.push(
                    Diagnostic::warning(
                        "qmspec::unused-source",
                        format!(
                            "tool `{}` has a source for {}, which the spec does not build",
                            tool.name,
                            arch.name()
                        ),
                    )
                    .with_label(cx.at_key(&format!("{p}/{}", arch.name()), "never used"))
                    .with_help(format!(
                        "add `{}` under `platforms:`, or remove this source",
                        arch.name()
                    )),
                );
            }
        }
    }
}

/// Names of other architectures found as whole words in a lower-cased text.
pub fn foreign_arch(text: &str, arch: Arch) -> Option<(&'static str, Arch)> {
    let lower = text.to_lowercase();
    for other in Arch::ALL.into_iter().filter(|a| *a != arch) {
        for alias in other.aliases() {
            if arch.aliases().contains(alias) {
                continue;
            }
            let mut from = 0;
            while let Some(pos) = lower[from..].find(alias) {
                let start = from + pos;
                let end = start + alias.len();
                let before = lower[..start].chars().next_back();
                let after = lower[end..].chars().next();
                if !before.is_some_and(|c| c.is_ascii_alphanumeric())
                    && !after.is_some_and(|c| c.is_ascii_alphanumeric())
                {
                    return Some((alias, other));
                }
                from = end;
            }
        }
    }
    None
}

/// Dotted version numbers written literally in a text (`6.7.0`, `24.11.1`).
fn literal_versions(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        // A version starts a word, or follows a `v` that starts one (`v6.7.1`), so `python3.11`
        // or `x86_64` are not versions.
        let word_start =
            |j: usize| j == 0 || !bytes[j - 1].is_ascii_alphanumeric() && bytes[j - 1] != b'.';
        let starts =
            word_start(i) || (i >= 1 && matches!(bytes[i - 1], b'v' | b'V') && word_start(i - 1));
        if bytes[i].is_ascii_digit() && starts {
            let start = i;
            let mut dots = 0;
            while i < bytes.len()
                && (bytes[i].is_ascii_digit()
                    || (bytes[i] == b'.' && i + 1 < bytes.len() && bytes[i + 1].is_ascii_digit()))
            {
                if bytes[i] == b'.' {
                    dots += 1;
                }
                i += 1;
            }
            if dots >= 1 {
                out.push(&text[start..i]);
            }
        } else {
            i += 1;
        }
    }
    out
}

fn check_url(tool: &Tool, arch: Arch, url: &str, p: &str, cx: &mut Ctx<'_>) {
    let up = format!("{p}/url");
    if let Some((alias, other)) = foreign_arch(url, arch) {
        cx.out.push(
            Diagnostic::error(
                "qmspec::wrong-arch-download",
                format!(
                    "the {} download of `{}` names `{alias}`, a build for {}: it would crash with SIGILL or `exec format error`",
                    arch.name(),
                    tool.name,
                    other.name()
                ),
            )
            .with_label(cx.at_value(&up, format!("`{alias}` is {}", other.name())))
            .with_help(format!(
                "use a build of the tool for {} here (e.g. a conda-forge package: `kind: conda`)",
                arch.name()
            )),
        );
    }
    match &tool.version {
        Some(version) => {
            // Only the path can name a version: a host such as `127.0.0.1` is not one.
            let path = url
                .split_once("://")
                .map_or(url, |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
            let literal = path.replace("{{version}}", "");
            for found in literal_versions(&literal) {
                if found != version && !version.contains(found) {
                    cx.out.push(
                        Diagnostic::error(
                            "qmspec::version-mismatch",
                            format!("the URL of `{}` embeds version {found}, but the tool's version is {version}", tool.name),
                        )
                        .with_label(cx.at_value(&up, format!("embeds {found}")))
                        .with_help("write `{{version}}` in the URL instead of a literal version"),
                    );
                }
            }
        }
        None if url.contains("{{version}}") => cx.out.push(
            Diagnostic::error(
                "qmspec::missing-version",
                format!(
                    "the URL of `{}` uses `{{{{version}}}}`, but the tool has no `version`",
                    tool.name
                ),
            )
            .with_label(cx.at_value(&up, "uses {{version}}"))
            .with_help("add `version:` to the tool"),
        ),
        None => {}
    }
    let rest = url.replace("{{version}}", "");
    if rest.contains("{{") || rest.contains("}}") {
        cx.out.push(
            Diagnostic::error(
                "qmspec::unknown-placeholder",
                format!("the URL of `{}` has an unknown placeholder", tool.name),
            )
            .with_label(cx.at_value(&up, "only {{version}} is replaced"))
            .with_help("use `{{version}}`, or write the text literally"),
        );
    }
    if !url.starts_with("https://") && !url.starts_with("http://") {
        cx.out.push(
            Diagnostic::error(
                "qmspec::invalid-url",
                format!("the URL of `{}` is not an http(s) URL", tool.name),
            )
            .with_label(cx.at_value(&up, "expected https://…"))
            .with_help("write the full download URL"),
        );
    }
}

fn check_sha(tool: &Tool, sha: &str, reason: &Option<String>, p: &str, cx: &mut Ctx<'_>) {
    if sha != "unverified" {
        return;
    }
    match reason.as_deref().map(str::trim) {
        None | Some("") => cx.out.push(
            Diagnostic::error(
                "qmspec::unverified-without-reason",
                format!(
                    "the download of `{}` is unverified but gives no reason",
                    tool.name
                ),
            )
            .with_label(cx.at_value(&format!("{p}/sha256"), "no checksum"))
            .with_help(
                "add the download's sha256, or `unverified-reason:` saying why there is none",
            ),
        ),
        Some(r) => cx.out.push(
            Diagnostic::warning(
                "qmspec::unverified-download",
                format!("the download of `{}` is not verified: {r}", tool.name),
            )
            .with_label(cx.at_value(&format!("{p}/sha256"), "no checksum"))
            .with_help("record its sha256 (`sha256sum FILE`) to make the build verifiable"),
        ),
    }
}

fn check_pin(tool: &Tool, package: Option<&str>, sep: &str, p: &str, cx: &mut Ctx<'_>) {
    let Some(package) = package else { return };
    if let Some((_, pin)) = package.split_once(sep) {
        let pin = pin.trim_start_matches('=');
        if tool.version.as_deref() != Some(pin) {
            let version = tool.version.as_deref().unwrap_or("(none)");
            cx.out.push(
                Diagnostic::error(
                    "qmspec::version-mismatch",
                    format!(
                        "`{}` pins {pin}, but the tool's version is {version}",
                        tool.name
                    ),
                )
                .with_label(cx.at_value(&format!("{p}/package"), format!("pinned to {pin}")))
                .with_help("drop the pin from `package`: qmspec pins it to the tool's `version`"),
            );
        }
    }
}

fn check_provider(
    spec: &Spec,
    i: usize,
    arch: Arch,
    via: &str,
    what: &str,
    p: &str,
    cx: &mut Ctx<'_>,
) {
    let tool = &spec.tools[i];
    let vp = format!("{p}/via");
    match spec.provider(via, arch) {
        Provider::System => {}
        Provider::Missing => cx.out.push(
            Diagnostic::error(
                "qmspec::missing-provider",
                format!(
                    "`{}` installs with {what} via `{via}`, but nothing provides `{via}` on {}",
                    tool.name,
                    arch.name()
                ),
            )
            .with_label(cx.at_value(&vp, format!("no `{via}` on {}", arch.name())))
            .with_help(format!(
                "add an installer tool that provides `{via}` on {}, or use `via: system`",
                arch.name()
            )),
        ),
        Provider::NotInstaller { tool: t, .. } => cx.out.push(
            Diagnostic::error(
                "qmspec::missing-provider",
                format!(
                    "`{via}` on {} is `{}`, which is not an installer",
                    arch.name(),
                    t.name
                ),
            )
            .with_label(cx.at_value(&vp, "not an installer here"))
            .with_help(format!(
                "give `{}` a `kind: installer` source on {}",
                t.name,
                arch.name()
            )),
        ),
        Provider::Ambiguous(names) => cx.out.push(
            Diagnostic::error(
                "qmspec::ambiguous-provider",
                format!(
                    "`{via}` on {} is provided by several tools: {}",
                    arch.name(),
                    names.join(", ")
                ),
            )
            .with_label(cx.at_value(&vp, "ambiguous"))
            .with_help("name one tool in `via`"),
        ),
        Provider::Installer { index, tool: t, .. } => {
            if !installed_before(&cx.edges, index, i) {
                cx.out.push(
                    Diagnostic::error(
                        "qmspec::provider-order",
                        format!(
                            "`{}` installs with {what} from `{}`, but does not need it",
                            tool.name, t.name
                        ),
                    )
                    .with_label(cx.at_value(&vp, format!("`{}` may be installed later", t.name)))
                    .with_help(format!("add `{via}` to the `needs` of `{}`", tool.name)),
                );
            }
        }
    }
}

/// The app's venv python must exist on every platform; tools are all installed before the app.
fn app_python(spec: &Spec, cx: &mut Ctx<'_>) {
    let via = &spec.app.python.via;
    for (arch, _) in spec.platforms.iter() {
        let problem = match spec.provider(via, arch) {
            Provider::System | Provider::Installer { .. } => continue,
            Provider::Missing => format!("nothing provides `{via}` on {}", arch.name()),
            Provider::NotInstaller { tool, .. } => {
                format!("`{}` is not an installer on {}", tool.name, arch.name())
            }
            Provider::Ambiguous(names) => format!(
                "several tools provide `{via}` on {}: {}",
                arch.name(),
                names.join(", ")
            ),
        };
        cx.out.push(
            Diagnostic::error("qmspec::missing-provider", format!("the app's python: {problem}"))
                .with_label(cx.at_value("/app/python/via", "no python here"))
                .with_help("name a tool with `kind: installer` on every platform (or a capability it `provides`), or `system`"),
        );
    }
}

/// Whether tool `dep` is reachable from `tool` through `needs`.
fn installed_before(edges: &[Vec<usize>], dep: usize, tool: usize) -> bool {
    let mut seen = vec![false; edges.len()];
    let mut stack = vec![tool];
    while let Some(t) = stack.pop() {
        for &j in &edges[t] {
            if j == dep {
                return true;
            }
            if !seen[j] {
                seen[j] = true;
                stack.push(j);
            }
        }
    }
    false
}

fn source_rules(
    spec: &Spec,
    tool: &Tool,
    i: usize,
    arch: Arch,
    source: &Source,
    p: &str,
    cx: &mut Ctx<'_>,
) {
    match source {
        Source::Archive(a) => {
            check_url(tool, arch, &a.url, p, cx);
            check_sha(tool, &a.sha256, &a.unverified_reason, p, cx);
        }
        Source::Installer(s) => {
            check_url(tool, arch, &s.url, p, cx);
            check_sha(tool, &s.sha256, &s.unverified_reason, p, cx);
        }
        Source::Conda(c) => {
            check_pin(tool, c.package.as_deref(), "=", p, cx);
            require_version(tool, "conda", p, cx);
            check_provider(spec, i, arch, &c.via, "conda", p, cx);
        }
        Source::Pip(s) => {
            check_pin(tool, s.package.as_deref(), "==", p, cx);
            require_version(tool, "pip", p, cx);
            check_provider(spec, i, arch, &s.via, "pip", p, cx);
        }
        Source::Apt(_) | Source::BaseImage(_) | Source::Commands(_) | Source::None(_) => {}
    }
}

fn require_version(tool: &Tool, what: &str, p: &str, cx: &mut Ctx<'_>) {
    if tool.version.is_none() {
        cx.out.push(
            Diagnostic::error(
                "qmspec::missing-version",
                format!(
                    "`{}` is a {what} package but has no `version` to pin",
                    tool.name
                ),
            )
            .with_label(cx.at_key(p, "unpinned"))
            .with_help("add `version:` to the tool; qmspec pins the package to it"),
        );
    }
}

fn base_images(spec: &Spec, cx: &mut Ctx<'_>) {
    for (arch, platform) in spec.platforms.iter() {
        let p = format!("/platforms/{}/base", arch.name());
        let base = &platform.base;
        if let Some((alias, other)) = foreign_arch(&base.image, arch) {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::wrong-arch-download",
                    format!(
                        "the {} base image names `{alias}`, an image for {}",
                        arch.name(),
                        other.name()
                    ),
                )
                .with_label(cx.at_value(
                    &format!("{p}/image"),
                    format!("`{alias}` is {}", other.name()),
                ))
                .with_help(format!("use the {} variant of the base image", arch.name())),
            );
        }
        if base.digest.is_none() {
            let why = if base.tag == "latest" {
                "the moving tag `latest`"
            } else {
                "a tag without a digest"
            };
            let mut d = Diagnostic::warning(
                "qmspec::unpinned-base",
                format!(
                    "the {} base image uses {why}: builds are not reproducible",
                    arch.name()
                ),
            )
            .with_label(cx.at_value(&format!("{p}/tag"), "not pinned"))
            .with_help("add `digest: sha256:…` (see `docker buildx imagetools inspect IMAGE:TAG`)");
            if let Some(r) = &base.unpinned_reason {
                d.message = format!("{} ({r})", d.message);
            }
            cx.out.push(d);
        }
    }
}

fn layout(spec: &Spec, cx: &mut Ctx<'_>) {
    if matches!(
        spec.dockerfiles,
        DockerfileLayout::MultiArch | DockerfileLayout::Both
    ) && spec.multi_arch_dockerfile.is_none()
    {
        cx.out.push(
            Diagnostic::error("qmspec::missing-key", "`dockerfiles` asks for a multi-arch Dockerfile but `multi-arch-dockerfile` is not set")
                .with_label(cx.at_value("/dockerfiles", "needs `multi-arch-dockerfile`"))
                .with_help("add `multi-arch-dockerfile: generated/Dockerfile.NAME`"),
        );
    }
    if spec.ci.strategy == crate::model::Strategy::Qemu
        && !matches!(
            spec.dockerfiles,
            DockerfileLayout::MultiArch | DockerfileLayout::Both
        )
    {
        cx.out.push(
            Diagnostic::error("qmspec::qemu-needs-multi-arch", "`ci.strategy: qemu` builds every platform from one Dockerfile, but none is generated")
                .with_label(cx.at_value("/ci/strategy", "needs a multi-arch Dockerfile"))
                .with_help("set `dockerfiles: multi-arch` (or `both`) and `multi-arch-dockerfile:`, or use `strategy: native`"),
        );
    }
    if spec.platforms.iter().next().is_none() {
        cx.out.push(
            Diagnostic::error("qmspec::no-platforms", "the spec builds no platform")
                .with_label(cx.at_key("/platforms", "empty"))
                .with_help("add at least `amd64:` under `platforms:`"),
        );
    }
    // Every output path is relative, stays inside the repository, and is written once.
    let mut outputs: Vec<(String, &str)> = vec![
        ("/validation-script".into(), spec.validation_script.as_str()),
        ("/ci/workflow".into(), spec.ci.workflow.as_str()),
    ];
    if let Some(m) = &spec.multi_arch_dockerfile {
        outputs.push(("/multi-arch-dockerfile".into(), m));
    }
    for (arch, platform) in spec.platforms.iter() {
        outputs.push((
            format!("/platforms/{}/dockerfile", arch.name()),
            &platform.dockerfile,
        ));
    }
    let mut seen: HashMap<String, String> = HashMap::new();
    for (p, path) in &outputs {
        if let Some(problem) = crate::paths::output_path_problem(path) {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::unsafe-path",
                    format!("output path `{path}` {problem}"),
                )
                .with_label(cx.at_value(p, problem))
                .with_help("write generated files under the repository, e.g. `generated/NAME`"),
            );
        }
        if let Some(first) = seen.get(&crate::paths::collision_key(path)) {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::duplicate-output",
                    format!("two outputs are written to `{path}`"),
                )
                .with_label(cx.at_value(p, "written again here"))
                .with_label(Label::secondary(
                    cx.doc.value_span(first),
                    "first written here",
                ))
                .with_help("give each generated file its own path"),
            );
        } else {
            seen.insert(crate::paths::collision_key(path), p.clone());
        }
    }
}

/// Characters that a value spliced into a shell line cannot safely carry.
fn shell_problem(value: &str) -> Option<&'static str> {
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
fn split_version(s: &str) -> (&str, &str) {
    let at = s.find(['=', '<', '>', '!', '~']).unwrap_or(s.len());
    s.split_at(at)
}

/// A version constraint (PEP 440 or conda match spec) with no room for an option or a word
/// break: empty, or operators, versions, wildcards and commas only.
fn spec_ok(spec: &str) -> bool {
    spec.chars()
        .all(|c| c.is_ascii_alphanumeric() || "=<>!~.*+,_|-".contains(c))
}

/// A package ecosystem, with its naming rules: a name passed to a package manager must never
/// start with `-` (`-oDPkg::Pre-Invoke::=…` runs a command in apt) or carry anything but a
/// name and a version.
#[derive(Clone, Copy)]
enum Ecosystem {
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
fn starts_comment(value: &str) -> bool {
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
fn command_problem(value: &str) -> Option<&'static str> {
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

fn safety(spec: &Spec, cx: &mut Ctx<'_>) {
    let mut values: Vec<(String, &str)> = Vec::new();
    let mut commands: Vec<(String, &str)> = Vec::new();
    // Paths inside the image: absolute, so that none reads as a command's operand or option
    // (`find !`, a relative `-x`) and each means one place whatever the working directory.
    let mut in_image: Vec<(String, &str)> = Vec::new();
    // Package names, each judged by its ecosystem's own naming rules.
    let mut packages: Vec<(String, &str, Ecosystem)> = Vec::new();
    for (arch, platform) in spec.platforms.iter() {
        let p = format!("/platforms/{}", arch.name());
        values.push((format!("{p}/base/image"), &platform.base.image));
        values.push((format!("{p}/runner"), &platform.runner));
    }
    for (j, pkg) in spec.apt.packages.iter().enumerate() {
        packages.push((format!("/apt/packages/{j}"), pkg, Ecosystem::Debian));
    }
    for (arch, pkgs) in spec.apt.platforms.iter() {
        for (j, pkg) in pkgs.iter().enumerate() {
            packages.push((
                format!("/apt/platforms/{}/{j}", arch.name()),
                pkg,
                Ecosystem::Debian,
            ));
        }
    }
    for (i, tool) in spec.tools.iter().enumerate() {
        let t = format!("/tools/{i}");
        for (j, e) in tool.path.iter().enumerate() {
            values.push((format!("{t}/path/{j}"), e));
            in_image.push((format!("{t}/path/{j}"), e));
        }
        if let Some(v) = &tool.version {
            values.push((format!("{t}/version"), v));
        }
        if let Some(c) = &tool.check {
            commands.push((format!("{t}/check"), c));
        }
        for (arch, source) in tool.sources.iter() {
            let s = format!("{t}/sources/{}", arch.name());
            let (_, path) = source_env_path(source);
            for (j, e) in path.iter().enumerate() {
                values.push((format!("{s}/path/{j}"), e));
                in_image.push((format!("{s}/path/{j}"), e));
            }
            match source {
                Source::Archive(a) => {
                    values.push((format!("{s}/url"), &a.url));
                    values.push((format!("{s}/dest"), &a.dest));
                    in_image.push((format!("{s}/dest"), &a.dest));
                    for (j, e) in a.executables.iter().enumerate() {
                        values.push((format!("{s}/executables/{j}"), e));
                    }
                }
                Source::Installer(a) => {
                    values.push((format!("{s}/url"), &a.url));
                    values.push((format!("{s}/prefix"), &a.prefix));
                    in_image.push((format!("{s}/prefix"), &a.prefix));
                }
                Source::Conda(c) => {
                    values.push((format!("{s}/channel"), &c.channel));
                    if let Some(pkg) = &c.package {
                        packages.push((format!("{s}/package"), pkg, Ecosystem::Conda));
                    }
                }
                Source::Pip(c) => {
                    values.push((format!("{s}/prefix"), &c.prefix));
                    in_image.push((format!("{s}/prefix"), &c.prefix));
                    if let Some(pkg) = &c.package {
                        packages.push((format!("{s}/package"), pkg, Ecosystem::Python));
                    }
                }
                Source::Apt(a) => {
                    for (j, e) in a.packages.iter().enumerate() {
                        packages.push((format!("{s}/packages/{j}"), e, Ecosystem::Debian));
                    }
                }
                Source::Commands(c) => {
                    for (j, e) in c.run.iter().enumerate() {
                        commands.push((format!("{s}/run/{j}"), e));
                    }
                }
                Source::BaseImage(_) | Source::None(_) => {}
            }
        }
    }
    let app = &spec.app;
    values.push(("/app/workdir".into(), &app.workdir));
    values.push(("/app/python/venv".into(), &app.python.venv));
    in_image.push(("/app/workdir".into(), &app.workdir));
    in_image.push(("/app/python/venv".into(), &app.python.venv));
    if let Some(r) = &app.requirements {
        values.push(("/app/requirements".into(), r));
    }
    if let Some(r) = &app.install {
        values.push(("/app/install".into(), r));
    }
    for (j, c) in app.copy.iter().enumerate() {
        values.push((format!("/app/copy/{j}/from"), &c.from));
        values.push((format!("/app/copy/{j}/to"), &c.to));
        in_image.push((format!("/app/copy/{j}/to"), &c.to));
    }
    if let Some(s) = &app.scripts {
        values.push(("/app/scripts/from".into(), &s.from));
        values.push(("/app/scripts/to".into(), &s.to));
        in_image.push(("/app/scripts/to".into(), &s.to));
    }
    for (j, d) in app.data_dirs.iter().enumerate() {
        values.push((format!("/app/data-dirs/{j}"), d));
        in_image.push((format!("/app/data-dirs/{j}"), d));
    }
    for (j, c) in app.checks.iter().enumerate() {
        commands.push((format!("/app/checks/{j}/run"), &c.run));
        values.push((format!("/app/checks/{j}/name"), &c.name));
    }
    let mut image_names: HashMap<&str, usize> = HashMap::new();
    image_names.insert(spec.name.as_str(), usize::MAX);
    for (j, e) in spec.ci.extra_images.iter().enumerate() {
        values.push((format!("/ci/extra-images/{j}/dockerfile"), &e.dockerfile));
        values.push((format!("/ci/extra-images/{j}/context"), &e.context));
        // Build inputs stay inside the checkout: a relative path without `..`.
        for (key, path) in [("dockerfile", &e.dockerfile), ("context", &e.context)] {
            if path.starts_with('/') || path.split('/').any(|c| c == "..") {
                cx.out.push(
                    Diagnostic::error(
                        "qmspec::unsafe-path",
                        format!("`ci.extra-images[{j}].{key}` leaves the repository"),
                    )
                    .with_label(cx.at_value(
                        &format!("/ci/extra-images/{j}/{key}"),
                        "outside the checkout",
                    ))
                    .with_help("give a path relative to the repository root, without `..`"),
                );
            }
        }
        if let Some(first) = image_names.insert(e.name.as_str(), j) {
            let what = if first == usize::MAX {
                "the spec's own image".to_string()
            } else {
                format!("`ci.extra-images[{first}]`")
            };
            cx.out.push(
                Diagnostic::error(
                    "qmspec::duplicate-image",
                    format!("image `{}` is also {what}", e.name),
                )
                .with_label(cx.at_value(&format!("/ci/extra-images/{j}/name"), "published twice"))
                .with_help(
                    "give each image its own name; two builds would overwrite each other's tags",
                ),
            );
        }
    }
    for (j, t) in spec.ci.on_tags.iter().enumerate() {
        values.push((format!("/ci/on-tags/{j}"), t));
    }
    for (p, v) in values {
        if let Some(problem) = shell_problem(v) {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::unsafe-value",
                    format!("{} contains {problem}", crate::schema::route(&p)),
                )
                .with_label(cx.at_value(&p, format!("{problem} cannot be quoted safely here")))
                .with_help(
                    "remove it: this value is spliced into shell lines and Dockerfile instructions",
                ),
            );
        }
    }
    for (p, v) in in_image {
        if !v.starts_with('/') {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::relative-path",
                    format!(
                        "{} `{}` is not an absolute path",
                        crate::schema::route(&p),
                        crate::diag::printable(v.to_string())
                    ),
                )
                .with_label(cx.at_value(&p, "a path inside the image"))
                .with_help("write the path from the image's root, e.g. `/opt/tool`"),
            );
        }
    }
    for (p, v, eco) in packages {
        if !eco.accepts(v) {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::package-name",
                    format!(
                        "{} `{}` is not a valid {} package name",
                        crate::schema::route(&p),
                        crate::diag::printable(v.to_string()),
                        eco.name()
                    ),
                )
                .with_label(cx.at_value(&p, "not a package name"))
                .with_help(eco.help()),
            );
        }
    }
    for (p, v) in commands {
        if let Some(problem) = command_problem(v) {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::unsafe-value",
                    format!(
                        "the command {} contains {problem}",
                        crate::schema::route(&p)
                    ),
                )
                .with_label(cx.at_value(&p, format!("{problem} here")))
                .with_help("write one command per list entry, each on one line"),
            );
        }
    }
}

/// A source's own environment and PATH entries (empty for kinds that have none).
pub fn source_env_path(source: &Source) -> (Option<&EnvMap>, &[String]) {
    match source {
        Source::Archive(s) => (Some(&s.env), &s.path),
        Source::Installer(s) => (Some(&s.env), &s.path),
        Source::Conda(s) => (Some(&s.env), &s.path),
        Source::Pip(s) => (Some(&s.env), &s.path),
        Source::Apt(s) => (Some(&s.env), &s.path),
        Source::BaseImage(s) => (Some(&s.env), &s.path),
        Source::Commands(s) => (Some(&s.env), &s.path),
        Source::None(_) => (None, &[]),
    }
}

/// Variable names referenced as `$NAME` or `${NAME}`; `$$` is a literal dollar.
pub fn references(value: &str) -> Result<Vec<&str>, &'static str> {
    let mut out = Vec::new();
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'$') => i += 2,
            Some(b'{') => {
                let Some(end) = value[i + 2..].find('}') else {
                    return Err("an unclosed `${`");
                };
                let name = &value[i + 2..i + 2 + end];
                if !is_env_name(name) {
                    return Err("`${…}` with something other than a variable name");
                }
                out.push(name);
                i += 3 + end;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let len = value[i + 1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(value.len() - i - 1);
                out.push(&value[i + 1..i + 1 + len]);
                i += 1 + len;
            }
            _ => return Err("a lone `$` (write `$$` for a literal dollar)"),
        }
    }
    Ok(out)
}

pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn environment(spec: &Spec, cx: &mut Ctx<'_>) {
    // Undefined references by value pointer: (variable, reference, platforms where undefined).
    let mut undefined: std::collections::BTreeMap<String, (String, String, Vec<&str>)> =
        Default::default();
    let mut reported: HashSet<String> = HashSet::new();
    // Order of definition in the image: global env, then per tool (tool env, source env), so a
    // reference is valid when its variable appears anywhere before it on that platform.
    for (arch, _) in spec.platforms.iter() {
        let mut defined: HashSet<&str> = PREDEFINED_VARS.into_iter().collect();
        let mut maps: Vec<(String, &EnvMap)> = vec![("/env".into(), &spec.env)];
        if let Some(m) = spec.platform_env.get(arch) {
            maps.push((format!("/platform-env/{}", arch.name()), m));
        }
        for (i, tool) in spec.tools.iter().enumerate() {
            if matches!(tool.sources.get(arch), None | Some(Source::None(_))) {
                continue;
            }
            maps.push((format!("/tools/{i}/env"), &tool.env));
            if let Some(source) = tool.sources.get(arch)
                && let (Some(env), _) = source_env_path(source)
            {
                maps.push((format!("/tools/{i}/sources/{}/env", arch.name()), env));
            }
        }
        for (base, map) in maps {
            for (name, value) in map {
                let p = format!("{base}/{}", escape_segment(name));
                if !is_env_name(name) && reported.insert(format!("name:{p}")) {
                    cx.out.push(
                        Diagnostic::error(
                            "qmspec::invalid-env-name",
                            format!("`{name}` is not a valid variable name"),
                        )
                        .with_label(
                            cx.at_key(&p, "letters, digits and `_`, not starting with a digit"),
                        )
                        .with_help("rename the variable"),
                    );
                }
                if value.chars().any(char::is_control) {
                    cx.out.push(
                        Diagnostic::error(
                            "qmspec::unsafe-value",
                            format!("the value of `{name}` contains a control character"),
                        )
                        .with_label(cx.at_value(
                            &p,
                            "line breaks and control characters cannot be kept in ENV",
                        ))
                        .with_help("remove the control character"),
                    );
                }
                match references(value) {
                    Err(_) if !reported.insert(format!("ref:{p}")) => {}
                    Err(problem) => cx.out.push(
                        Diagnostic::error(
                            "qmspec::invalid-reference",
                            format!("the value of `{name}` has {problem}"),
                        )
                        .with_label(cx.at_value(&p, problem))
                        .with_help("refer to variables as `${NAME}`; write `$$` for a literal `$`"),
                    ),
                    Ok(refs) => {
                        for r in refs {
                            if !defined.contains(r) {
                                undefined
                                    .entry(format!("{p}\u{0}{r}"))
                                    .or_insert_with(|| (name.clone(), r.to_string(), Vec::new()))
                                    .2
                                    .push(arch.name());
                            }
                        }
                    }
                }
                defined.insert(name);
            }
        }
    }
    for (key, (name, r, archs)) in undefined {
        let p = key.split('\u{0}').next().unwrap_or_default().to_string();
        cx.out.push(
            Diagnostic::error(
                "qmspec::undefined-variable",
                format!(
                    "`{name}` refers to `${{{r}}}`, which nothing sets before it (on {})",
                    archs.join(" and ")
                ),
            )
            .with_label(cx.at_value(&p, format!("`{r}` is never set before this")))
            .with_help(format!(
                "define `{r}` earlier under `env:`, or remove the reference"
            )),
        );
    }
    // Labels are Dockerfile values too.
    for (k, v) in &spec.labels {
        if v.chars().any(char::is_control) {
            let p = format!("/labels/{}", escape_segment(k));
            cx.out.push(
                Diagnostic::error(
                    "qmspec::unsafe-value",
                    format!("label `{k}` contains a control character"),
                )
                .with_label(cx.at_value(&p, "not allowed in a label"))
                .with_help("remove the control character"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn parses_references() {
        assert_eq!(references("${A}/x/$B:$$"), Ok(vec!["A", "B"]));
        assert!(references("${A").is_err());
        assert!(references("cost $5").is_err());
    }
}
