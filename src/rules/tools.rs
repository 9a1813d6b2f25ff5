//! Tool rules: names, `needs` and their order, coverage of every platform, downloads (URL,
//! architecture, version, checksum), package pins and the providers `via` names.

use std::collections::{HashMap, HashSet};

use super::Ctx;
use crate::diag::{Diagnostic, Label, did_you_mean};
use crate::model::{Arch, ArchiveFormat, Provider, Source, Spec, Tool};

/// Every tool rule, in report order.
pub(super) fn check(spec: &Spec, cx: &mut Ctx<'_>) {
    tool_names(spec, cx);
    needs(spec, cx);
    coverage(spec, cx);
    for (i, tool) in spec.tools.iter().enumerate() {
        for (arch, source) in tool.sources.iter() {
            let p = format!("/tools/{i}/sources/{}", arch.name());
            source_rules(spec, tool, i, arch, source, &p, cx);
        }
    }
    for (i, tool) in spec.tools.iter().enumerate() {
        ranges(tool, i, cx);
    }
    app_python(spec, cx);
}

/// A version range suits installers that resolve one (conda, pip); a download names one file,
/// and `{{version}}` stands for one version, so neither takes a range.
fn ranges(tool: &Tool, i: usize, cx: &mut Ctx<'_>) {
    let Some(range) = tool
        .version
        .as_deref()
        .filter(|v| crate::versions::is_range(v))
    else {
        return;
    };
    for (arch, source) in tool.sources.iter() {
        let downloads = match source {
            Source::Archive(_) | Source::Installer(_) => true,
            Source::Commands(c) => !c.downloads.is_empty(),
            _ => false,
        };
        if downloads {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::version-range",
                    format!(
                        "`{}` has the version range `{range}`, but its {} source downloads one release",
                        tool.name,
                        arch.name()
                    ),
                )
                .with_label(cx.at_value(&format!("/tools/{i}/sources/{}/kind", arch.name()), "needs one exact version"))
                .with_help("pin `version` to the release the download is (a range suits conda and pip sources, which resolve it)"),
            );
        }
    }
    let at = format!("/tools/{i}");
    let uses = cx
        .doc
        .value
        .pointer(&at)
        .map(|v| super::string_pointers(v, &|s| s.contains("{{version}}")))
        .unwrap_or_default();
    for pointer in uses {
        let pointer = format!("{at}{pointer}");
        if pointer.ends_with("/url") {
            continue; // the download itself is reported above
        }
        cx.out.push(
            Diagnostic::error(
                "qmspec::version-range",
                format!(
                    "{} uses `{{{{version}}}}`, but `{}` has the range `{range}`, not one version",
                    crate::schema::route(&pointer),
                    tool.name
                ),
            )
            .with_label(cx.at_value(&pointer, "no one version to put here"))
            .with_help("write the value without `{{version}}`, or pin `version` to one release"),
        );
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

pub(super) fn needs(spec: &Spec, cx: &mut Ctx<'_>) {
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

pub(super) fn find_cycle(
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

pub(super) fn coverage(spec: &Spec, cx: &mut Ctx<'_>) {
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
pub(super) fn literal_versions(text: &str) -> Vec<&str> {
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

pub(super) fn check_url(tool: &Tool, arch: Arch, url: &str, p: &str, cx: &mut Ctx<'_>) {
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
            let range = crate::versions::is_range(version);
            for found in literal_versions(&literal) {
                if range && crate::versions::satisfies(found, version) == Some(false) {
                    cx.out.push(
                        Diagnostic::error(
                            "qmspec::version-mismatch",
                            format!("the URL of `{}` embeds version {found}, outside the tool's range {version}", tool.name),
                        )
                        .with_label(cx.at_value(&up, format!("embeds {found}")))
                        .with_help("download a release within the range, or change the range"),
                    );
                } else if !range && found != version && !version.contains(found) {
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

/// A download's checksum with the lock beside the spec: a locked URL is verified by the lock;
/// a URL that changed since it was locked (a version bump) is an error naming `qmspec lock`;
/// a sha256 in the spec must agree with the lock's.
#[allow(clippy::too_many_arguments)]
fn locked_sha(
    spec: &Spec,
    tool: &Tool,
    arch: Arch,
    url: &str,
    sha: &str,
    reason: &Option<String>,
    p: &str,
    cx: &mut Ctx<'_>,
) {
    let url = url.replace("{{version}}", tool.version.as_deref().unwrap_or_default());
    let locked = spec.lock.sha256_of(&url);
    if sha == "unverified" {
        if locked.is_some() {
            return;
        }
        if let Some(old) = spec.lock.stale_for(&tool.name, arch.name(), &url) {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::lock-stale",
                    format!(
                        "the {} download of `{}` changed since it was locked (the lock has {})",
                        arch.name(),
                        tool.name,
                        old.url
                    ),
                )
                .with_label(cx.at_value(&format!("{p}/url"), "not locked"))
                .with_help(
                    "run `qmspec lock` to hash the new download (on a machine that can reach it)",
                ),
            );
            return;
        }
    } else if let Some(locked) = locked.filter(|l| *l != sha) {
        cx.out.push(
            Diagnostic::error(
                "qmspec::lock-stale",
                format!(
                    "the sha256 of the {} download of `{}` differs from the one `qmspec lock` recorded ({locked})",
                    arch.name(),
                    tool.name
                ),
            )
            .with_label(cx.at_value(&format!("{p}/sha256"), "not the locked sha256"))
            .with_help("run `qmspec lock` again: it hashes the download and refuses a sha256 that does not match"),
        );
        return;
    }
    check_sha(tool, sha, reason, p, cx);
}

pub(super) fn check_sha(
    tool: &Tool,
    sha: &str,
    reason: &Option<String>,
    p: &str,
    cx: &mut Ctx<'_>,
) {
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
            .with_help("run `qmspec lock` (on a machine that can reach it) to record its sha256 beside the spec, or write it as `sha256:`"),
        ),
    }
}

pub(super) fn check_pin(tool: &Tool, package: Option<&str>, sep: &str, p: &str, cx: &mut Ctx<'_>) {
    let Some(package) = package else { return };
    // A range (`>1`, `>=1,<2`) would be glued to the pin qmspec adds: the version is the tool's.
    let at = package.find(['=', '<', '>', '!', '~', ',', ';']);
    if let Some(at) = at
        && !package[at..].starts_with(sep)
    {
        cx.out.push(
            Diagnostic::error(
                "qmspec::version-mismatch",
                format!(
                    "`{}` gives a version range in `package`; the tool's `version` is what the package is installed at",
                    tool.name
                ),
            )
            .with_label(cx.at_value(&format!("{p}/package"), "a range here"))
            .with_help("write the bare package name (with extras, if any), and the range as the tool's `version` (e.g. `\">=2025.9\"`)"),
        );
        return;
    }
    if let Some((_, pin)) = package.split_once(sep) {
        let pin = pin.trim_start_matches('=');
        if tool.version.as_deref() != Some(pin) {
            let version = tool.version.as_deref().unwrap_or("(none)");
            cx.out.push(
                Diagnostic::error(
                    "qmspec::version-mismatch",
                    if crate::versions::is_range(version) {
                        format!(
                            "`{}` pins {pin} in `package`, but the tool's version is the range {version}",
                            tool.name
                        )
                    } else {
                        format!(
                            "`{}` pins {pin}, but the tool's version is {version}",
                            tool.name
                        )
                    },
                )
                .with_label(cx.at_value(&format!("{p}/package"), format!("pinned to {pin}")))
                .with_help("drop the pin from `package`: qmspec pins it to the tool's `version`"),
            );
        }
    }
}

pub(super) fn check_provider(
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
        // A conda environment's python makes venvs and installs too.
        Provider::NotInstaller { tool: t, .. }
            if what == "pip" && matches!(t.sources.get(arch), Some(Source::CondaEnv(_))) => {}
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
pub(super) fn app_python(spec: &Spec, cx: &mut Ctx<'_>) {
    let Some(python) = &spec.app.python else {
        return;
    };
    let via = &python.via;
    // uv is found on `PATH`: any tool that puts it there will do. pip needs a python, which
    // an installer's prefix holds.
    let uv = matches!(python.install, Some(crate::model::PythonInstall::Uv(_)));
    for (arch, _) in spec.platforms.iter() {
        let problem = match spec.provider(via, arch) {
            Provider::System | Provider::Installer { .. } => continue,
            Provider::NotInstaller { .. } if uv => continue,
            // A conda environment file's python (`PREFIX/bin/python`).
            Provider::NotInstaller { tool, .. }
                if matches!(tool.sources.get(arch), Some(Source::CondaEnv(_))) =>
            {
                continue;
            }
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
pub(super) fn installed_before(edges: &[Vec<usize>], dep: usize, tool: usize) -> bool {
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

pub(super) fn source_rules(
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
            locked_sha(
                spec,
                tool,
                arch,
                &a.url,
                &a.sha256,
                &a.unverified_reason,
                p,
                cx,
            );
            let version = tool.version.as_deref().unwrap_or_default();
            match a.format_for(version) {
                None => cx.out.push(
                    Diagnostic::error(
                        "qmspec::invalid-value",
                        format!("the URL of `{}` does not say what it downloads", tool.name),
                    )
                    .with_label(cx.at_value(&format!("{p}/url"), "no archive ending"))
                    .with_help(
                        "set `format:` (tar-gz, tar-bz2, tar-xz, tar-zst, tar, zip or binary)",
                    ),
                ),
                Some(f @ (ArchiveFormat::Zip | ArchiveFormat::Binary))
                    if a.strip_components > 0 =>
                {
                    cx.out.push(
                        Diagnostic::error(
                            "qmspec::invalid-value",
                            format!(
                                "`strip-components` works on tar archives, not on `{}` downloads",
                                f.name()
                            ),
                        )
                        .with_label(cx.at_value(&format!("{p}/strip-components"), "tar only"))
                        .with_help(
                            "remove `strip-components`, and name the executables with their folder",
                        ),
                    );
                }
                Some(ArchiveFormat::Binary) if a.executables.is_empty() => cx.out.push(
                    Diagnostic::error(
                        "qmspec::missing-key",
                        format!(
                            "the binary download of `{}` has no name in the image",
                            tool.name
                        ),
                    )
                    .with_label(cx.at_key(p, "needs `executables`"))
                    .with_help(
                        "add `executables: [NAME]`: the download is installed as `dest/NAME`",
                    ),
                ),
                _ => {}
            }
            // Each executable is one file under `dest`, named as it is unpacked.
            for (j, e) in a.executables.iter().enumerate() {
                if e.starts_with('/')
                    || e.split('/').any(|c| c == ".." || c.is_empty())
                    || e.contains(['*', '?', '['])
                {
                    cx.out.push(
                        Diagnostic::error(
                            "qmspec::invalid-value",
                            format!("`{e}` is not a file under `dest`"),
                        )
                        .with_label(cx.at_value(
                            &format!("{p}/executables/{j}"),
                            "absolute, `..` or a pattern",
                        ))
                        .with_help("name each file relative to `dest`, e.g. `bin/xtb`"),
                    );
                }
            }
        }
        Source::Installer(s) => {
            check_url(tool, arch, &s.url, p, cx);
            locked_sha(
                spec,
                tool,
                arch,
                &s.url,
                &s.sha256,
                &s.unverified_reason,
                p,
                cx,
            );
        }
        Source::Conda(c) => {
            check_pin(tool, c.package.as_deref(), "=", p, cx);
            require_version(tool, "conda", p, cx);
            check_provider(spec, i, arch, &c.via, "conda", p, cx);
            let requested = tool.version.as_deref().unwrap_or_default();
            if tool.version.is_some()
                && spec
                    .lock
                    .conda_build(
                        &tool.name,
                        arch.name(),
                        &c.channel,
                        c.package
                            .as_deref()
                            .unwrap_or(&tool.name)
                            .split(['=', '['])
                            .next()
                            .unwrap_or_default(),
                        requested,
                    )
                    .is_none()
            {
                cx.out.push(
                    Diagnostic::warning(
                        "qmspec::unlocked-package",
                        format!(
                            "the conda package of `{}` on {} has no locked build: the channel picks one when the image is built, and may have none for this platform",
                            tool.name,
                            arch.name()
                        ),
                    )
                    .with_label(cx.at_key(p, "not locked"))
                    .with_help("run `qmspec lock` (on a machine that can reach the channel) to record the build per platform"),
                );
            }
        }
        Source::Pip(s) => {
            check_pin(tool, s.package.as_deref(), "==", p, cx);
            require_version(tool, "pip", p, cx);
            check_provider(spec, i, arch, &s.via, "pip", p, cx);
        }
        Source::CondaEnv(c) => {
            check_provider(spec, i, arch, &c.via, "a conda environment", p, cx);
        }
        Source::Commands(c) => {
            for (j, d) in c.downloads.iter().enumerate() {
                let dp = format!("{p}/downloads/{j}");
                check_url(tool, arch, &d.url, &dp, cx);
                locked_sha(
                    spec,
                    tool,
                    arch,
                    &d.url,
                    &d.sha256,
                    &d.unverified_reason,
                    &dp,
                    cx,
                );
            }
            commands_urls(tool, arch, &c.run, p, cx);
        }
        Source::Apt(_) | Source::BaseImage(_) | Source::None(_) => {}
    }
}

/// What `commands` fetch themselves: a URL naming a foreign architecture is refused like any
/// download, and a `wget` or `curl` in the commands is refused whatever its URL looks like
/// (a variable, no scheme): no checksum covers it. `downloads` is where a fetch belongs.
fn commands_urls(tool: &Tool, arch: Arch, run: &[String], p: &str, cx: &mut Ctx<'_>) {
    for (j, line) in run.iter().enumerate() {
        let lp = format!("{p}/run/{j}");
        for url in urls_in(line) {
            if let Some((alias, other)) = foreign_arch(url, arch) {
                cx.out.push(
                    Diagnostic::error(
                        "qmspec::wrong-arch-download",
                        format!(
                            "the {} commands of `{}` name `{url}`, a build for {}: it would crash with SIGILL or `exec format error`",
                            arch.name(),
                            tool.name,
                            other.name()
                        ),
                    )
                    .with_label(cx.at_value(&lp, format!("`{alias}` is {}", other.name())))
                    .with_help(format!("use a build of the tool for {} here", arch.name())),
                );
            }
        }
        if let Some(fetcher) = fetch_command(line) {
            let example = urls_in(line)
                .first()
                .map_or("URL".to_string(), |u| u.to_string());
            cx.out.push(
                Diagnostic::error(
                    "qmspec::unchecked-url",
                    format!(
                        "the commands of `{}` download with `{fetcher}` themselves, where no checksum covers it",
                        tool.name
                    ),
                )
                .with_label(cx.at_value(&lp, format!("`{fetcher}` here")))
                .with_help(format!(
                    "list it under `downloads:` ({{url: {example}, sha256: …, file: /tmp/…}}) and use the file in `run`"
                )),
            );
        }
    }
}

/// The downloader a command line calls, if any: `wget` or `curl` as a word.
pub(super) fn fetch_command(line: &str) -> Option<&'static str> {
    ["wget", "curl"].into_iter().find(|f| {
        line.match_indices(f).any(|(at, _)| {
            let boundary = |c: Option<char>| {
                c.is_none_or(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
            };
            boundary(line[..at].chars().next_back())
                && boundary(line[at + f.len()..].chars().next())
        })
    })
}

/// The URLs in a command line: `scheme://` up to the next blank or quote.
pub(super) fn urls_in(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("://") {
        let start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '.' || c == '-'))
            // Past the character found, whatever its width (`é` before `https://` is two bytes).
            .map_or(0, |i| {
                i + rest[i..].chars().next().map_or(1, char::len_utf8)
            });
        let end = rest[at..]
            .find(|c: char| {
                c.is_whitespace()
                    || matches!(
                        c,
                        '"' | '\'' | ')' | ';' | '|' | '&' | '<' | '>' | '`' | '\\'
                    )
            })
            .map_or(rest.len(), |i| at + i);
        if start < at {
            out.push(&rest[start..end]);
        }
        rest = &rest[end.max(at + 3)..];
    }
    out
}

pub(super) fn require_version(tool: &Tool, what: &str, p: &str, cx: &mut Ctx<'_>) {
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

#[cfg(test)]
mod tests {
    use super::urls_in;

    #[test]
    fn urls_are_found_next_to_any_character() {
        assert_eq!(
            urls_in("wget -q https://example.org/a.tgz; curl 'http://x/y'"),
            ["https://example.org/a.tgz", "http://x/y"]
        );
        // A multi-byte character right before the scheme is not part of it (this panicked).
        assert_eq!(urls_in("éhttps://example.org/x"), ["https://example.org/x"]);
        assert_eq!(urls_in("日本https://e.org/ü x"), ["https://e.org/ü"]);
        assert_eq!(urls_in("://nothing"), Vec::<&str>::new());
    }
}
