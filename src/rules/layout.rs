//! Image rules: base images, which Dockerfiles are written where, stages and the user.

use std::collections::HashMap;

use super::Ctx;
use super::tools::foreign_arch;
use crate::diag::{Diagnostic, Label, did_you_mean};
use crate::model::{DockerfileLayout, Spec};

/// Every image rule, in report order.
pub(super) fn check(spec: &Spec, cx: &mut Ctx<'_>) {
    base_images(spec, cx);
    layout(spec, cx);
    stages(spec, cx);
    user(spec, cx);
    python_dirs(spec, cx);
    runtime(spec, cx);
    for (arch, _) in spec.apt.platforms.iter() {
        if spec.platforms.get(arch).is_none() {
            unused_platform(&format!("/apt/platforms/{}", arch.name()), arch, cx);
        }
    }
    for (arch, _) in spec.platform_env.iter() {
        if spec.platforms.get(arch).is_none() {
            unused_platform(&format!("/platform-env/{}", arch.name()), arch, cx);
        }
    }
}

/// Ports are real ports, each once; a volume is not the whole file system.
fn runtime(spec: &Spec, cx: &mut Ctx<'_>) {
    let mut seen: HashMap<(u16, &str), usize> = HashMap::new();
    for (j, port) in spec.app.expose.iter().enumerate() {
        let p = format!("/app/expose/{j}");
        let (number, protocol) = port.split_once('/').unwrap_or((port, "tcp"));
        let number = number.parse::<u16>().unwrap_or(0);
        if number == 0 {
            cx.out.push(
                Diagnostic::error("qmspec::invalid-value", format!("`{port}` is not a port"))
                    .with_label(cx.at_value(&p, "ports are 1 to 65535"))
                    .with_help("write the port the app listens on, e.g. `8000` or `8000/udp`"),
            );
        }
        // `80`, `080` and `80/tcp` are one port.
        if let Some(first) = seen.insert((number, protocol), j).filter(|_| number > 0) {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::invalid-value",
                    format!("port `{port}` is listed twice"),
                )
                .with_label(cx.at_value(&p, "again here"))
                .with_label(Label::secondary(
                    cx.doc.value_span(&format!("/app/expose/{first}")),
                    "first here",
                ))
                .with_help("list each port once"),
            );
        }
    }
    for (j, v) in spec.app.volumes.iter().enumerate() {
        // `/`, `/.`, `/a/..`: the root however it is spelled.
        let mut depth: Vec<&str> = Vec::new();
        for c in v.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    depth.pop();
                }
                c => depth.push(c),
            }
        }
        if depth.is_empty() {
            cx.out.push(
                Diagnostic::error("qmspec::invalid-value", "the whole file system as a volume")
                    .with_label(cx.at_value(&format!("/app/volumes/{j}"), "`/`"))
                    .with_help("name the directory that holds the data, e.g. `/app/data`"),
            );
        }
    }
}

/// Stage names are unique, never the image's own (its platform stages are `NAME-ARCH`), and
/// every stage has a base on every platform; a copy names a stage that exists before it.
fn stages(spec: &Spec, cx: &mut Ctx<'_>) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, stage) in spec.stages.iter().enumerate() {
        let p = format!("/stages/{i}");
        if let Some(first) = names.insert(stage.name.as_str(), i) {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::duplicate-stage",
                    format!("two stages are named `{}`", stage.name),
                )
                .with_label(cx.at_value(&format!("{p}/name"), "named again here"))
                .with_label(Label::secondary(
                    cx.doc.value_span(&format!("/stages/{first}/name")),
                    "first named here",
                ))
                .with_help("give each stage its own name"),
            );
        }
        // BuildKit reserves `scratch` and `context`; the image's own stages are `NAME-ARCH`.
        if stage.name == spec.name || stage.name == "scratch" || stage.name == "context" {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::duplicate-stage",
                    format!("a stage may not be named `{}`", stage.name),
                )
                .with_label(cx.at_value(&format!("{p}/name"), "reserved"))
                .with_help("`scratch`, `context` and the image's own name are taken: rename the stage, e.g. `builder`"),
            );
        }
        for (arch, _) in stage.base.iter() {
            if spec.platforms.get(arch).is_none() {
                unused_platform(&format!("{p}/base/{}", arch.name()), arch, cx);
            }
        }
        let used = spec
            .app
            .copy
            .iter()
            .chain(&spec.app.scripts)
            .chain(spec.stages.iter().flat_map(|s| &s.copy))
            .any(|c| c.stage.as_ref() == Some(&stage.name));
        if !used {
            cx.out.push(
                Diagnostic::warning(
                    "qmspec::ignored-key",
                    format!("nothing copies from stage `{}`, so it is never built", stage.name),
                )
                .with_label(cx.at_value(&format!("{p}/name"), "unused"))
                .with_help(format!(
                    "copy its results with `copy: [{{stage: {}, from: …, to: …}}]`, or remove the stage",
                    stage.name
                )),
            );
        }
        for (arch, _) in spec.platforms.iter() {
            if stage.base.get(arch).is_none() {
                cx.out.push(
                    Diagnostic::error(
                        "qmspec::missing-source",
                        format!(
                            "stage `{}` has no base image for {}",
                            stage.name,
                            arch.name()
                        ),
                    )
                    .with_label(
                        cx.at_key(&format!("{p}/base"), format!("no `{}` here", arch.name())),
                    )
                    .with_help(format!(
                        "add `{}: {{image: …, tag: …}}` under the stage's `base`",
                        arch.name()
                    )),
                );
            }
        }
        for (j, c) in stage.copy.iter().enumerate() {
            let cp = format!("{p}/copy/{j}");
            copy_source(c, &cp, cx);
            unknown_stage(&spec.stages[..i], c, &format!("{cp}/stage"), cx);
            if c.chown {
                cx.out.push(
                    Diagnostic::error(
                        "qmspec::missing-user",
                        "`chown: true` in a stage: stages have no user to give files to",
                    )
                    .with_label(cx.at_value(&format!("{cp}/chown"), "no user here"))
                    .with_help("remove `chown`; give the files to the app's user where the image copies them"),
                );
            }
        }
    }
    for (j, c) in spec.app.scripts.iter().enumerate() {
        let cp = format!("/app/scripts/{j}");
        copy_source(c, &cp, cx);
        unknown_stage(&spec.stages, c, &format!("{cp}/stage"), cx);
        // A script is one file: it is made executable by name.
        if c.from.ends_with('/') || c.from.contains(['*', '?', '[']) {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::invalid-value",
                    format!("the script `{}` is not one file", c.from),
                )
                .with_label(cx.at_value(&format!("{cp}/from"), "a folder or a pattern"))
                .with_help("list each script file; copy folders with `app.copy`"),
            );
        }
    }
    for (j, c) in spec.app.copy.iter().enumerate() {
        let cp = format!("/app/copy/{j}");
        copy_source(c, &cp, cx);
        unknown_stage(&spec.stages, c, &format!("{cp}/stage"), cx);
    }
}

/// An entry for a platform the spec does not build: it has no effect.
fn unused_platform(p: &str, arch: crate::model::Arch, cx: &mut Ctx<'_>) {
    cx.out.push(
        Diagnostic::warning(
            "qmspec::unused-source",
            format!(
                "an entry for {}, which the spec does not build",
                arch.name()
            ),
        )
        .with_label(cx.at_key(p, "not built"))
        .with_help(format!(
            "remove it, or add `{}` under `platforms:`",
            arch.name()
        )),
    );
}

/// A copy takes a relative path from the build context, or an absolute one from a stage.
fn copy_source(c: &crate::model::CopyItem, p: &str, cx: &mut Ctx<'_>) {
    let from = &c.from;
    let (bad, what, help) = match c.stage {
        None => (
            from.starts_with('/') || from.split('/').any(|x| x == "..") || from.is_empty(),
            "leaves the build context",
            "give a path relative to the repository root, without `..`",
        ),
        Some(_) => (
            !from.starts_with('/'),
            "is not an absolute path in the stage",
            "write the stage's path from its root, e.g. `/app/.venv`",
        ),
    };
    if bad {
        cx.out.push(
            Diagnostic::error(
                if c.stage.is_some() {
                    "qmspec::relative-path"
                } else {
                    "qmspec::unsafe-path"
                },
                format!(
                    "the copy's `from` `{}` {what}",
                    crate::diag::printable(from.clone())
                ),
            )
            .with_label(cx.at_value(&format!("{p}/from"), what))
            .with_help(help),
        );
    }
}

/// A copy names a stage among `before` (the stages it may take from).
fn unknown_stage(
    before: &[crate::model::Stage],
    c: &crate::model::CopyItem,
    p: &str,
    cx: &mut Ctx<'_>,
) {
    let Some(name) = &c.stage else { return };
    if before.iter().any(|s| &s.name == name) {
        return;
    }
    let d = Diagnostic::error(
        "qmspec::unknown-stage",
        format!("`{name}` is not a stage defined before this copy"),
    )
    .with_label(cx.at_value(p, "no such stage here"));
    let d = match did_you_mean(name, before.iter().map(|s| s.name.as_str())) {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None => d.with_help(
            "a copy takes from a stage listed before it under `stages:`: define it there, or move it up",
        ),
    };
    cx.out.push(d);
}

/// The user model: a created user has an id; the image ends as root only with a reason; a
/// base that runs as another user needs the final user named (qmspec switches to root to
/// install); `chown` needs a user to give the files to.
fn user(spec: &Spec, cx: &mut Ctx<'_>) {
    let app = &spec.app;
    if let Some(u) = &app.user {
        let root = u.is_root();
        if !root && u.root_reason.is_some() {
            cx.out.push(
                Diagnostic::warning(
                    "qmspec::ignored-key",
                    format!(
                        "`root-reason` is ignored: the image ends as `{}`, not root",
                        u.name
                    ),
                )
                .with_label(cx.at_key("/app/user/root-reason", "not used"))
                .with_help("remove `root-reason`"),
            );
        }
        if !u.create {
            for key in ["home", "system"] {
                let set = match key {
                    "home" => u.home.is_some(),
                    _ => u.system,
                };
                if set {
                    cx.out.push(
                        Diagnostic::warning(
                            "qmspec::ignored-key",
                            format!("`{key}` is ignored: `create: false` creates no user"),
                        )
                        .with_label(cx.at_key(&format!("/app/user/{key}"), "not used"))
                        .with_help(format!("remove `{key}`, or let qmspec create the user")),
                    );
                }
            }
        }
        if root && u.root_reason.is_none() {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::root-user",
                    "the image would run as root without a reason",
                )
                .with_label(cx.at_value("/app/user", "root"))
                .with_help("create a non-root user (`name`, `uid`), or say why the image must run as root in `root-reason`"),
            );
        }
        if u.create && !root && u.uid.is_none() {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::missing-key",
                    format!("the user `{}` is created but has no `uid`", u.name),
                )
                .with_label(cx.at_key("/app/user", "needs `uid`"))
                .with_help("add `uid: 10001` (a fixed id keeps file ownership reproducible), or `create: false` if the base image has the user"),
            );
        }
    }
    let non_root_base = spec.platforms.iter().find(|(_, p)| p.base.non_root());
    // A micromamba base's own user is known (`$MAMBA_USER`) and kept when every platform has one.
    let micromamba_only = spec
        .platforms
        .iter()
        .all(|(_, p)| p.base.family == crate::model::Family::Micromamba);
    if let (Some((arch, _)), None, false) = (non_root_base, &app.user, micromamba_only) {
        cx.out.push(
            Diagnostic::error(
                "qmspec::missing-user",
                format!(
                    "the {} base image runs as another user, and the spec does not say which user the image ends as",
                    arch.name()
                ),
            )
            .with_label(cx.at_value(
                &format!("/platforms/{}/base/runs-as", arch.name()),
                "qmspec switches to root to install",
            ))
            .with_help("name the user under `app.user` (`create: false` for the base image's own user)"),
        );
    }
    let owner = app.user.as_ref().is_some_and(|u| !u.is_root())
        || (app.user.is_none() && micromamba_only && spec.platforms.iter().next().is_some());
    if !owner {
        for (list, items) in [("copy", &app.copy), ("scripts", &app.scripts)] {
            for (j, _) in items.iter().enumerate().filter(|(_, c)| c.chown) {
                cx.out.push(
                    Diagnostic::error(
                        "qmspec::missing-user",
                        "`chown: true` gives the files to the app's user, but the image has no non-root user",
                    )
                    .with_label(cx.at_value(&format!("/app/{list}/{j}/chown"), "no user to give them to"))
                    .with_help("add `app.user`, or remove `chown`"),
                );
            }
        }
    }
}

/// A Python install copies the project's files into the working directory, so it needs one.
fn python_dirs(spec: &Spec, cx: &mut Ctx<'_>) {
    let places = std::iter::once((String::from("/app"), &spec.app.python, &spec.app.workdir))
        .chain(
            spec.stages
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("/stages/{i}"), &s.python, &s.workdir)),
        );
    for (i, stage) in spec.stages.iter().enumerate() {
        if let Some(py) = &stage.python
            && py.via != "system"
        {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::missing-provider",
                    format!(
                        "stage `{}` has no tools: `via: {}` names nothing there",
                        stage.name, py.via
                    ),
                )
                .with_label(cx.at_value(&format!("/stages/{i}/python/via"), "only `system` here"))
                .with_help(
                    "a stage's python (or uv) comes from its base image: write `via: system`",
                ),
            );
        }
    }
    for (p, python, workdir) in places {
        if let (Some(py), None) = (python, workdir)
            && py.install.is_some()
        {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::missing-key",
                    "a Python install copies the project into the working directory, but `workdir` is not set",
                )
                .with_label(cx.at_key(&format!("{p}/python/install"), "needs `workdir`"))
                .with_help("add `workdir: /app` next to `python`"),
            );
        }
    }
}

/// Every base image: the image's own per platform, and each stage's.
fn base_images(spec: &Spec, cx: &mut Ctx<'_>) {
    for (arch, platform) in spec.platforms.iter() {
        let p = format!("/platforms/{}/base", arch.name());
        base_image(
            spec,
            &platform.base,
            arch,
            &p,
            &format!("the {} base image", arch.name()),
            cx,
        );
    }
    for (i, stage) in spec.stages.iter().enumerate() {
        for (arch, base) in stage.base.iter() {
            let p = format!("/stages/{i}/base/{}", arch.name());
            let what = format!("the {} base image of stage `{}`", arch.name(), stage.name);
            base_image(spec, base, arch, &p, &what, cx);
        }
    }
}

fn base_image(
    spec: &Spec,
    base: &crate::model::BaseImage,
    arch: crate::model::Arch,
    p: &str,
    what: &str,
    cx: &mut Ctx<'_>,
) {
    if let Some((alias, other)) = foreign_arch(&base.image, arch) {
        cx.out.push(
            Diagnostic::error(
                "qmspec::wrong-arch-download",
                format!("{what} names `{alias}`, an image for {}", other.name()),
            )
            .with_label(cx.at_value(
                &format!("{p}/image"),
                format!("`{alias}` is {}", other.name()),
            ))
            .with_help(format!("use the {} variant of the base image", arch.name())),
        );
    }
    let locked = spec
        .lock
        .base_digest(&base.image, &base.tag, arch.name())
        .is_some();
    if base.digest.is_none() && !locked {
        let why = if base.tag == "latest" {
            "the moving tag `latest`"
        } else {
            "a tag without a digest"
        };
        let mut d = Diagnostic::warning(
            "qmspec::unpinned-base",
            format!("{what} uses {why}: builds are not reproducible"),
        )
        .with_label(cx.at_value(&format!("{p}/tag"), "not pinned"))
        .with_help(
            "run `qmspec lock` to record its digest beside the spec, or add `digest: sha256:…`",
        );
        if let Some(r) = &base.unpinned_reason {
            d.message = format!("{} ({r})", d.message);
        }
        cx.out.push(d);
    }
}

pub(super) fn layout(spec: &Spec, cx: &mut Ctx<'_>) {
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
    // The multi-arch file names the image's stages `NAME-ARCH`, and BuildKit's stage names
    // start with a letter.
    if spec.multi_arch_dockerfile.is_some()
        && spec.dockerfiles != DockerfileLayout::PerPlatform
        && !spec.name.starts_with(|c: char| c.is_ascii_lowercase())
    {
        cx.out.push(
            Diagnostic::error(
                "qmspec::invalid-value",
                format!(
                    "`{}` cannot name the stages of a multi-arch Dockerfile",
                    spec.name
                ),
            )
            .with_label(cx.at_value("/name", "BuildKit stage names start with a letter"))
            .with_help("start the image name with a letter, or set `dockerfiles: per-platform`"),
        );
    }
    if spec.platforms.iter().next().is_none() {
        cx.out.push(
            Diagnostic::error("qmspec::no-platforms", "the spec builds no platform")
                .with_label(cx.at_key("/platforms", "empty"))
                .with_help("add at least `amd64:` under `platforms:`"),
        );
    }
    // Every output path is relative, stays inside the repository, and is written once by
    // this spec (shared outputs, like the workflow, are assembled from every spec naming them).
    let mut seen: HashMap<String, String> = HashMap::new();
    for (_, p, path) in crate::outputs::all_paths(spec) {
        if let Some(problem) = crate::paths::output_path_problem(&path) {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::unsafe-path",
                    format!("output path `{path}` {problem}"),
                )
                .with_label(cx.at_value(&p, problem))
                .with_help("write generated files under the repository, e.g. `generated/NAME`"),
            );
        }
        if let Some(first) = seen.get(&crate::paths::collision_key(&path)) {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::duplicate-output",
                    format!("two outputs are written to `{path}`"),
                )
                .with_label(cx.at_value(&p, "written again here"))
                .with_label(Label::secondary(
                    cx.doc.value_span(first),
                    "first written here",
                ))
                .with_help("give each generated file its own path"),
            );
        } else {
            seen.insert(crate::paths::collision_key(&path), p.clone());
        }
    }
}
