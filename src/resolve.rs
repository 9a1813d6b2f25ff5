//! The resolved spec: every default applied, every `{{version}}` expanded, one entry per
//! platform with its tools in install order. Templates read only these types.

use serde::Serialize;

use crate::model::{Arch, DockerfileLayout, Emulation, Provider, Source, Spec, Strategy, TagRule};
use crate::rules::{needs_edges, source_env_path};

/// Everything the templates need, for one spec.
#[derive(Debug, Clone, Serialize)]
pub struct Resolved {
    /// Spec path as given (relative to the repository root), named in headers.
    pub spec_path: String,
    /// Image name, e.g. `qm-nmr-calc-worker`.
    pub name: String,
    /// `registry/owner/name`, without tag.
    pub image: String,
    pub registry: String,
    /// OCI labels in spec order.
    pub labels: Vec<(String, String)>,
    pub platforms: Vec<ResolvedPlatform>,
    /// Whether per-platform Dockerfiles are written.
    pub per_platform: bool,
    /// Path of the multi-arch Dockerfile, when one is written.
    pub multi_arch_dockerfile: Option<String>,
    /// Repository path of the validation script (a build-context path for `COPY`).
    pub validation_script: String,
    /// Where the script lands in the image.
    pub validation_script_in_image: String,
    pub app: ResolvedApp,
    pub ci: ResolvedCi,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedPlatform {
    /// `amd64`, `arm64`, … (BuildKit's `TARGETARCH`).
    pub arch: String,
    /// `linux/amd64`, …
    pub docker_platform: String,
    /// `image:tag` or `image:tag@sha256:…`.
    pub base: String,
    /// Reason the base has no digest, when it has none.
    pub base_unpinned_reason: Option<String>,
    /// True when the tag is `latest` and no digest pins it.
    pub base_is_latest: bool,
    pub runner: String,
    pub qemu: bool,
    pub dockerfile: String,
    /// apt packages for this platform, sorted and deduplicated.
    pub apt_packages: Vec<String>,
    /// Reason for unpinned apt packages, when any package has no `=version`.
    pub apt_unpinned_reason: Option<String>,
    /// Environment set before the tools: groups of `(name, value)`; a new group starts where a
    /// value refers to a name of the current group (one `ENV` does not see its own values).
    pub env: Vec<Vec<(String, String)>>,
    /// Tools in install order (`needs` first, then spec order), without opted-out ones.
    pub tools: Vec<ResolvedTool>,
    /// Checks the validation script runs on this platform, in order.
    pub checks: Vec<ResolvedCheck>,
    /// The python that creates the app's virtual environment on this platform.
    pub app_python: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedTool {
    pub name: String,
    /// Version, or empty when the tool has none (base-image tools).
    pub version: String,
    pub description: String,
    /// Source kind: `archive`, `installer`, `conda`, `pip`, `apt`, `base-image`, `commands`.
    pub kind: String,
    /// Download URL with `{{version}}` expanded (archive, installer).
    pub url: String,
    /// Expected sha256, or empty when unverified.
    pub sha256: String,
    /// Why the download is unverified (empty when verified).
    pub unverified_reason: String,
    /// Temporary download file.
    pub download: String,
    pub strip_components: u32,
    /// Unpack directory (archive), install prefix (installer, pip venv).
    pub dest: String,
    /// Absolute paths made executable (archive).
    pub executables: Vec<String>,
    /// Channel (conda).
    pub channel: String,
    /// Package spec with pin: `xtb=6.7.1` (conda), `pyflakes==3.2.0` (pip), apt names.
    pub packages: Vec<String>,
    /// Whether some apt package has no `=version` pin (apt kind).
    pub unpinned: bool,
    /// Program that installs: the conda binary, or the python creating the venv.
    pub installer: String,
    /// Shell commands (commands kind).
    pub run: Vec<String>,
    /// Environment set after the install, grouped like `ResolvedPlatform::env`.
    pub env: Vec<Vec<(String, String)>>,
    /// Directories prepended to PATH after the install.
    pub path: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedCheck {
    pub name: String,
    pub run: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedApp {
    pub workdir: String,
    /// Directory of the app's virtual environment.
    pub venv: String,
    pub requirements: Option<String>,
    pub requirements_in_image: Option<String>,
    pub copy: Vec<(String, String)>,
    /// `pip install` arguments after the source copy (empty: no install).
    pub install: Option<String>,
    pub install_no_deps: bool,
    pub data_dirs: Vec<String>,
    pub scripts: Option<(String, String)>,
    pub user: Option<(String, u32)>,
    /// JSON array text for `ENTRYPOINT`, when set.
    pub entrypoint: Option<String>,
    /// JSON array text for `CMD`, when set.
    pub command: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedCi {
    pub workflow: String,
    pub on_tags: Vec<String>,
    pub workflow_dispatch: bool,
    /// metadata-action `tags:` lines, e.g. `type=semver,pattern={{version}}`.
    pub tag_rules: Vec<String>,
    pub native: bool,
    pub cache: bool,
    pub extra_images: Vec<ResolvedExtraImage>,
    /// `owner/repo` of every action the workflow uses; each needs a pin.
    pub actions: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedExtraImage {
    pub name: String,
    pub image: String,
    pub dockerfile: String,
    pub context: String,
    /// `linux/amd64,linux/arm64`
    pub platforms: String,
}

/// The python a `via` names on a platform: an installer's `PREFIX/bin/python3`, or `python3`.
fn python_for(spec: &Spec, via: &str, arch: Arch) -> String {
    match spec.provider(via, arch) {
        Provider::Installer { prefix, .. } => format!("{prefix}/bin/python3"),
        _ => "python3".to_string(),
    }
}

fn conda_for(spec: &Spec, via: &str, arch: Arch) -> String {
    match spec.provider(via, arch) {
        Provider::Installer { prefix, .. } => format!("{prefix}/bin/conda"),
        _ => "conda".to_string(),
    }
}

/// Split an ordered env list into `ENV` groups (see `ResolvedPlatform::env`).
pub fn group_env(vars: Vec<(String, String)>) -> Vec<Vec<(String, String)>> {
    let mut groups: Vec<Vec<(String, String)>> = Vec::new();
    for (k, v) in vars {
        let refs = crate::rules::references(&v).unwrap_or_default();
        let needs_new = match groups.last() {
            None => true,
            Some(g) => g
                .iter()
                .any(|(name, _)| refs.contains(&name.as_str()) || *name == k),
        };
        if needs_new {
            groups.push(Vec::new());
        }
        if let Some(g) = groups.last_mut() {
            g.push((k, v));
        }
    }
    groups
}

/// Tool indices in install order for one platform: depth-first over `needs`, spec order.
fn install_order(spec: &Spec, arch: Arch) -> Vec<usize> {
    fn visit(edges: &[Vec<usize>], i: usize, state: &mut [u8], out: &mut Vec<usize>) {
        if state[i] != 0 {
            return;
        }
        state[i] = 1;
        for &j in &edges[i] {
            visit(edges, j, state, out);
        }
        state[i] = 2;
        out.push(i);
    }
    let edges = needs_edges(spec);
    let mut state = vec![0u8; spec.tools.len()];
    let mut out = Vec::new();
    for i in 0..spec.tools.len() {
        visit(&edges, i, &mut state, &mut out);
    }
    out.retain(|i| {
        !matches!(
            spec.tools[*i].sources.get(arch),
            None | Some(Source::None(_))
        )
    });
    out
}

/// A JSON array as Dockerfile exec form writes it: `["a", "b"]`.
fn json_array(items: &[String]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|i| serde_json::to_string(i).unwrap_or_default())
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Resolve a valid spec. Callers validate first; unresolvable references fall back to defaults.
pub fn resolve(spec: &Spec, spec_path: &str) -> Resolved {
    let image = format!("{}/{}/{}", spec.registry, spec.owner, spec.name);
    let script_name = spec
        .validation_script
        .rsplit('/')
        .next()
        .unwrap_or("validate.sh")
        .to_string();
    let script_dir = spec
        .app
        .scripts
        .as_ref()
        .map_or("/usr/local/bin".to_string(), |s| s.to.clone());
    let validation_script_in_image = format!("{}/{script_name}", script_dir.trim_end_matches('/'));

    let platforms = spec
        .platforms
        .iter()
        .map(|(arch, platform)| {
            let base = &platform.base;
            let mut base_ref = format!("{}:{}", base.image, base.tag);
            if let Some(d) = &base.digest {
                base_ref = format!("{base_ref}@{d}");
            }
            let mut apt: Vec<String> = spec.apt.packages.clone();
            if let Some(extra) = spec.apt.platforms.get(arch) {
                apt.extend(extra.iter().cloned());
            }
            apt.sort();
            apt.dedup();
            let apt_unpinned = apt.iter().any(|p| !p.contains('='));
            let mut env: Vec<(String, String)> = spec
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if let Some(over) = spec.platform_env.get(arch) {
                for (k, v) in over {
                    match env.iter_mut().find(|(name, _)| name == k) {
                        Some(slot) => slot.1 = v.clone(),
                        None => env.push((k.clone(), v.clone())),
                    }
                }
            }
            env.push(("QMSPEC_PLATFORM".to_string(), arch.name().to_string()));
            let order = install_order(spec, arch);
            let tools: Vec<ResolvedTool> =
                order.iter().map(|i| resolve_tool(spec, *i, arch)).collect();
            let mut checks: Vec<ResolvedCheck> = order
                .iter()
                .filter_map(|i| {
                    let t = &spec.tools[*i];
                    t.check.as_ref().map(|c| ResolvedCheck {
                        name: t.name.clone(),
                        run: c.clone(),
                    })
                })
                .collect();
            checks.extend(spec.app.checks.iter().map(|c| ResolvedCheck {
                name: c.name.clone(),
                run: c.run.clone(),
            }));
            ResolvedPlatform {
                arch: arch.name().to_string(),
                docker_platform: arch.docker_platform(),
                base: base_ref,
                base_unpinned_reason: if base.digest.is_none() {
                    Some(
                        base.unpinned_reason
                            .clone()
                            .unwrap_or_else(|| "no digest is recorded in the spec".to_string()),
                    )
                } else {
                    None
                },
                base_is_latest: base.digest.is_none() && base.tag == "latest",
                runner: platform.runner.clone(),
                qemu: platform.emulation == Emulation::Qemu,
                dockerfile: platform.dockerfile.clone(),
                apt_packages: apt,
                apt_unpinned_reason: apt_unpinned.then(|| {
                    spec.apt
                        .unpinned_reason
                        .clone()
                        .unwrap_or_else(|| "the spec pins no package versions".to_string())
                }),
                env: group_env(env),
                tools,
                checks,
                app_python: python_for(spec, &spec.app.python.via, arch),
            }
        })
        .collect();

    let app = &spec.app;
    let requirements_in_image = app.requirements.as_ref().map(|r| {
        let name = r.rsplit('/').next().unwrap_or(r);
        format!("{}/{name}", app.workdir.trim_end_matches('/'))
    });
    let resolved_app = ResolvedApp {
        workdir: app.workdir.clone(),
        venv: app.python.venv.clone(),
        requirements: app.requirements.clone(),
        requirements_in_image,
        copy: app
            .copy
            .iter()
            .map(|c| (c.from.clone(), c.to.clone()))
            .collect(),
        install: app.install.clone(),
        install_no_deps: app.requirements.is_some(),
        data_dirs: app.data_dirs.clone(),
        scripts: app.scripts.as_ref().map(|s| (s.from.clone(), s.to.clone())),
        user: app.user.as_ref().map(|u| (u.name.clone(), u.uid)),
        entrypoint: app.entrypoint.as_ref().map(|e| json_array(e)),
        command: (!app.command.is_empty()).then(|| json_array(&app.command)),
    };

    let ci = &spec.ci;
    let resolved_ci = ResolvedCi {
        workflow: ci.workflow.clone(),
        on_tags: ci.on_tags.clone(),
        workflow_dispatch: ci.workflow_dispatch,
        tag_rules: ci
            .tag_rules
            .iter()
            .map(|r| match r {
                TagRule::Version => "type=semver,pattern={{version}}",
                TagRule::MajorMinor => "type=semver,pattern={{major}}.{{minor}}",
                TagRule::Major => "type=semver,pattern={{major}}",
                TagRule::Latest => "type=raw,value=latest",
                TagRule::Sha => "type=sha",
            })
            .map(str::to_string)
            .collect(),
        native: ci.strategy == Strategy::Native,
        cache: ci.cache == crate::model::Cache::Gha,
        extra_images: ci
            .extra_images
            .iter()
            .map(|e| ResolvedExtraImage {
                name: e.name.clone(),
                image: format!("{}/{}/{}", spec.registry, spec.owner, e.name),
                dockerfile: e.dockerfile.clone(),
                context: e.context.clone(),
                platforms: e
                    .platforms
                    .iter()
                    .map(|a| a.docker_platform())
                    .collect::<Vec<_>>()
                    .join(","),
            })
            .collect(),
        actions: crate::pins::workflow_actions(spec),
    };

    Resolved {
        spec_path: spec_path.to_string(),
        name: spec.name.clone(),
        image,
        registry: spec.registry.clone(),
        labels: spec
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        platforms,
        per_platform: matches!(
            spec.dockerfiles,
            DockerfileLayout::PerPlatform | DockerfileLayout::Both
        ),
        multi_arch_dockerfile: match spec.dockerfiles {
            DockerfileLayout::PerPlatform => None,
            _ => spec.multi_arch_dockerfile.clone(),
        },
        validation_script: spec.validation_script.clone(),
        validation_script_in_image,
        app: resolved_app,
        ci: resolved_ci,
    }
}

fn resolve_tool(spec: &Spec, i: usize, arch: Arch) -> ResolvedTool {
    let tool = &spec.tools[i];
    let version = tool.version.clone().unwrap_or_default();
    let expand = |s: &str| s.replace("{{version}}", &version);
    let mut t = ResolvedTool {
        name: tool.name.clone(),
        version: version.clone(),
        description: tool.description.clone().unwrap_or_default(),
        kind: String::new(),
        url: String::new(),
        sha256: String::new(),
        unverified_reason: String::new(),
        download: format!("/tmp/qmspec-{}.download", tool.name),
        strip_components: 0,
        dest: String::new(),
        executables: Vec::new(),
        channel: String::new(),
        packages: Vec::new(),
        unpinned: false,
        installer: String::new(),
        run: Vec::new(),
        env: Vec::new(),
        path: Vec::new(),
    };
    let Some(source) = tool.sources.get(arch) else {
        return t;
    };
    t.kind = source.kind().to_string();
    let sha = |s: &str, reason: &Option<String>| {
        if s == "unverified" {
            (String::new(), reason.clone().unwrap_or_default())
        } else {
            (s.to_string(), String::new())
        }
    };
    match source {
        Source::Archive(a) => {
            t.url = expand(&a.url);
            (t.sha256, t.unverified_reason) = sha(&a.sha256, &a.unverified_reason);
            t.strip_components = a.strip_components;
            t.dest = a.dest.clone();
            t.executables = a
                .executables
                .iter()
                .map(|e| {
                    format!(
                        "{}/{}",
                        a.dest.trim_end_matches('/'),
                        e.trim_start_matches('/')
                    )
                })
                .collect();
        }
        Source::Installer(s) => {
            t.url = expand(&s.url);
            (t.sha256, t.unverified_reason) = sha(&s.sha256, &s.unverified_reason);
            t.dest = s.prefix.clone();
        }
        Source::Conda(c) => {
            t.channel = c.channel.clone();
            let pkg = c.package.clone().unwrap_or_else(|| tool.name.clone());
            let name = pkg.split('=').next().unwrap_or(&pkg).to_string();
            t.packages = vec![format!("{name}={version}")];
            t.installer = conda_for(spec, &c.via, arch);
        }
        Source::Pip(p) => {
            let pkg = p.package.clone().unwrap_or_else(|| tool.name.clone());
            let name = pkg.split("==").next().unwrap_or(&pkg).to_string();
            t.packages = vec![format!("{name}=={version}")];
            t.installer = python_for(spec, &p.via, arch);
            t.dest = p.prefix.clone();
            t.path
                .push(format!("{}/bin", p.prefix.trim_end_matches('/')));
        }
        Source::Apt(a) => {
            let mut pkgs = a.packages.clone();
            pkgs.sort();
            pkgs.dedup();
            t.unpinned = pkgs.iter().any(|p| !p.contains('='));
            t.packages = pkgs;
        }
        Source::Commands(c) => t.run = c.run.iter().map(|r| r.trim().to_string()).collect(),
        Source::BaseImage(_) | Source::None(_) => {}
    }
    let (source_env, source_path) = source_env_path(source);
    let mut env: Vec<(String, String)> = tool
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(e) = source_env {
        env.extend(e.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    t.env = group_env(env);
    t.path.extend(tool.path.iter().cloned());
    t.path.extend(source_path.iter().cloned());
    t.path.dedup();
    t
}
