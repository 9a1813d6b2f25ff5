//! The resolved spec: every default applied, every `{{version}}` expanded, one entry per
//! platform with its stages and tools in install order. Templates read only these types, and
//! each source kind reaches them as its own typed install payload.

use serde::Serialize;

use crate::model::{
    Arch, BaseImage, DockerfileLayout, Emulation, Provider, PythonInstall, Source, Spec, Strategy,
    TagRule,
};
use crate::rules::{needs_edges, source_env_path};

/// Everything the templates need, for one spec.
#[derive(Debug, Clone, Serialize)]
pub struct Resolved {
    /// Spec path as given (relative to the repository root), named in headers.
    pub spec_path: String,
    /// Image name, e.g. `qm-nmr-calc-worker`.
    pub name: String,
    /// `registry/owner/name`, without tag (`{repository owner}` in place of an owner the
    /// workflow computes).
    pub image: String,
    /// What the image's `ref.name` label names: `image`, or the bare name when the owner is
    /// the repository's.
    pub image_label: String,
    pub registry: String,
    /// OCI labels in spec order.
    pub labels: Vec<(String, String)>,
    /// Build arguments with their defaults, declared in every stage.
    pub args: Vec<(String, String)>,
    pub platforms: Vec<ResolvedPlatform>,
    /// Whether per-platform Dockerfiles are written.
    pub per_platform: bool,
    /// Path of the multi-arch Dockerfile, when one is written.
    pub multi_arch_dockerfile: Option<String>,
    /// The validation script, when the spec asks for one.
    pub validation_script: Option<Script>,
    pub app: ResolvedApp,
    pub ci: ResolvedCi,
}

/// A generated script: its repository path (a build-context path for `COPY`) and its place in
/// the image.
#[derive(Debug, Clone, Serialize)]
pub struct Script {
    pub path: String,
    pub in_image: String,
}

/// A base image as `FROM` writes it.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedBase {
    /// `image:tag` or `image:tag@sha256:…`.
    pub reference: String,
    /// Reason the base has no digest, when it has none.
    pub unpinned_reason: Option<String>,
    /// True when the tag is `latest` and no digest pins it.
    pub is_latest: bool,
    /// The base runs as a user other than root.
    pub non_root: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedPlatform {
    /// `amd64`, `arm64`, … (BuildKit's `TARGETARCH`).
    pub arch: String,
    /// `linux/amd64`, …
    pub docker_platform: String,
    pub base: ResolvedBase,
    pub runner: String,
    pub qemu: bool,
    pub dockerfile: String,
    /// Build stages before the final image, in spec order.
    pub stages: Vec<ResolvedStage>,
    pub apt: ResolvedApt,
    /// Environment set before the tools: groups of `(name, value)`; a new group starts where a
    /// value refers to a name of the current group (one `ENV` does not see its own values).
    pub env: Vec<Vec<(String, String)>>,
    /// Tools in install order (`needs` first, then spec order), without opted-out ones.
    pub tools: Vec<ResolvedTool>,
    /// Whether the image sets bash with `pipefail` as its `SHELL`: the shell is bash and the
    /// spec's own commands run (generated lines are POSIX and pipe-free).
    pub bash: bool,
    /// The shell `RUN` lines are written for: `bash`, `sh` or `keep`.
    pub shell: crate::model::Shell,
    /// `shadow` (`groupadd`/`useradd`) or `busybox` (`addgroup`/`adduser`).
    pub user_tool: crate::toolbox::UserTool,
    /// A micromamba base: its activation is switched on for `RUN` lines, and its conda
    /// installs run as its own user.
    pub micromamba: bool,
    /// Whether the final stage switches to root to install (its base runs as another user).
    pub install_as_root: bool,
    /// The app's Python environment on this platform.
    pub python: Option<ResolvedPython>,
    /// Checks the validation script runs on this platform, in order.
    pub checks: Vec<ResolvedCheck>,
}

/// Distribution packages of one stage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResolvedApt {
    /// Sorted and deduplicated.
    pub packages: Vec<String>,
    /// Reason for unpinned packages, when any package has no `=version`.
    pub unpinned_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedStage {
    pub name: String,
    pub base: ResolvedBase,
    pub workdir: Option<String>,
    pub env: Vec<Vec<(String, String)>>,
    pub apt: ResolvedApt,
    pub python: Option<ResolvedPython>,
    pub copy: Vec<ResolvedCopy>,
}

/// A Python environment with the way its project is installed.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedPython {
    /// Directory of the virtual environment, or none to install into the `program`'s own
    /// environment (a conda environment).
    pub venv: Option<String>,
    /// The python that creates the venv (pip kinds) or the uv program (uv).
    pub program: String,
    /// Where the project's files land (the working directory), ending in `/`.
    pub dir: String,
    pub install: Option<ResolvedPythonInstall>,
}

/// One Python install kind; each is rendered by its own template partial.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ResolvedPythonInstall {
    /// `pip install .` after copying the build backend's files and the sources.
    Pip { files: Vec<String> },
    /// `pip install -r` in its own layer, then the project with `--no-deps`.
    Requirements {
        file: String,
        file_in_image: String,
        project_files: Vec<String>,
    },
    /// `uv sync --locked` with a cache mount, dependencies first.
    Uv {
        lock: String,
        pyproject: String,
        files: Vec<String>,
        /// `--no-dev`, or nothing when the dev group is wanted.
        dev_flag: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedTool {
    pub name: String,
    /// Installed as the base image's own user (a conda install on a micromamba base, whose
    /// environment that user owns) rather than as root.
    pub as_base_user: bool,
    /// Version, or empty when the tool has none (base-image tools).
    pub version: String,
    pub description: String,
    /// What installs the tool on this platform.
    pub install: Install,
    /// Environment set after the install, grouped like `ResolvedPlatform::env`.
    pub env: Vec<Vec<(String, String)>>,
    /// Directories prepended to PATH after the install.
    pub path: Vec<String>,
}

/// A download checked against its sha256 (or recorded as unverified, with the reason).
#[derive(Debug, Clone, Serialize)]
pub struct Download {
    /// URL with `{{version}}` expanded.
    pub url: String,
    /// Expected sha256, or `None` when unverified.
    pub sha256: Option<String>,
    /// Why the download is unverified (empty when verified).
    pub unverified_reason: String,
    /// Temporary file the download is saved to.
    pub file: String,
    /// The folder `file` is in, created first when it is not `/tmp`.
    pub folder: Option<String>,
    /// `wget` or `curl`, whichever the image has where this download runs.
    pub downloader: crate::toolbox::Downloader,
}

/// The typed install payload of one source kind. Each variant is rendered by the partial
/// `install/<kind>.j2`; a kind without one fails the render instead of writing an empty layer.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Install {
    Archive {
        download: Download,
        /// `tar-gz`, `zip`, `binary`, …: picks the unpacking command.
        format: crate::model::ArchiveFormat,
        dest: String,
        strip_components: u32,
        /// Absolute paths made executable.
        executables: Vec<String>,
    },
    Installer {
        download: Download,
        prefix: String,
    },
    Conda {
        /// The conda program that installs.
        conda: String,
        /// The program is micromamba (`-n base`, `clean --all --yes`).
        micromamba: bool,
        channel: String,
        /// `name=version`.
        packages: Vec<String>,
    },
    CondaEnv {
        /// The conda program that installs.
        conda: String,
        micromamba: bool,
        /// The environment file in the build context.
        file: String,
        /// Where the file is bind-mounted during the install.
        mount: String,
    },
    Pip {
        /// The python that creates the tool's venv.
        python: String,
        venv: String,
        /// `name==version`.
        packages: Vec<String>,
    },
    Apt {
        packages: Vec<String>,
        /// Some package has no `=version` pin.
        unpinned: bool,
    },
    BaseImage {},
    Commands {
        /// Files fetched and checked before `run`.
        downloads: Vec<Download>,
        run: Vec<String>,
    },
}

impl Install {
    /// The kind name, as in the spec's `kind:` and the partial's file name.
    pub fn kind(&self) -> &'static str {
        match self {
            Install::Archive { .. } => "archive",
            Install::Installer { .. } => "installer",
            Install::Conda { .. } => "conda",
            Install::CondaEnv { .. } => "conda-env",
            Install::Pip { .. } => "pip",
            Install::Apt { .. } => "apt",
            Install::BaseImage {} => "base-image",
            Install::Commands { .. } => "commands",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedCheck {
    pub name: String,
    pub run: String,
}

/// One `COPY`.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedCopy {
    pub from: String,
    pub to: String,
    /// Build stage it copies from.
    pub stage: Option<String>,
    /// `USER:GROUP` for `--chown`.
    pub chown: Option<String>,
}

/// The user the image ends as.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedUser {
    pub name: String,
    /// What `USER` names: `UID:GID` when the ids are known (numeric ids resolve whatever the
    /// host's user database says), else the name.
    pub id: String,
    pub group: String,
    /// `groupadd`/`useradd` arguments when the user is created (already shell-quoted words).
    pub create: Option<CreateUser>,
    /// Why the image runs as root, when it does.
    pub root_reason: Option<String>,
    /// The user is the base image's, named by its variable (micromamba's `$MAMBA_USER`).
    pub base_variable: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CreateUser {
    pub uid: u32,
    pub gid: u32,
    pub system: bool,
    pub home: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedHealthcheck {
    /// `--interval=30s` and the like, in a fixed order.
    pub options: Vec<String>,
    pub run: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedApp {
    pub workdir: Option<String>,
    pub copy: Vec<ResolvedCopy>,
    /// Scripts copied and made executable: the copy, and the file's path in the image.
    pub scripts: Vec<(ResolvedCopy, String)>,
    pub data_dirs: Vec<String>,
    pub user: Option<ResolvedUser>,
    /// `USER:GROUP` of the app's user (non-root), for `--chown` and data directories.
    pub owner: Option<String>,
    pub expose: Vec<String>,
    pub volumes: Option<String>,
    pub healthcheck: Option<ResolvedHealthcheck>,
    pub stopsignal: Option<String>,
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
    /// Releases (non-pre-release semver tags) move `latest`.
    pub latest: bool,
    pub native: bool,
    pub cache: bool,
    /// `owner/repo` of every action the workflow uses for this image; each needs a pin.
    pub actions: Vec<&'static str>,
    /// Pull requests build and test the images they change.
    pub pull_requests: bool,
    /// The branch whose pushes (and scheduled runs) publish `edge`.
    pub edge_branch: Option<String>,
    /// Cron line of the scheduled rebuild.
    pub schedule: Option<String>,
    pub attest: bool,
    pub sign: bool,
    pub fail_fast: bool,
    pub timeout_minutes: u32,
    /// Deployment environment of the jobs reading spec-named secrets.
    pub environment: String,
    /// GitHub Actions cache scope (per platform: `SCOPE-ARCH`).
    pub cache_scope: String,
    /// The image is named after the repository owner, computed by the workflow.
    pub owner_from_repository: bool,
    /// Login for the main registry: secret names, or none for `ghcr.io`'s `GITHUB_TOKEN`.
    pub login: Option<crate::model::Login>,
    /// The other registries the image is published to.
    pub registries: Vec<ResolvedRegistry>,
}

/// Another registry an image is published to.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedRegistry {
    pub registry: String,
    /// `registry/owner/name`.
    pub image: String,
    pub login: crate::model::Login,
}

/// The python a `via` names on a platform: an installer's `PREFIX/bin/python3`, a conda
/// environment's `PREFIX/bin/python`, or the image's `python3`.
pub fn python_for(spec: &Spec, via: &str, arch: Arch) -> String {
    match spec.provider(via, arch) {
        Provider::Installer { prefix, .. } => format!("{prefix}/bin/python3"),
        Provider::NotInstaller { tool, .. } => match tool.sources.get(arch) {
            Some(Source::CondaEnv(c)) => format!("{}/bin/python", env_prefix(spec, c, arch)),
            _ => "python3".to_string(),
        },
        _ => "python3".to_string(),
    }
}

/// The prefix a conda environment file is installed into.
pub fn env_prefix(spec: &Spec, c: &crate::model::CondaEnvSource, arch: Arch) -> String {
    if let Some(prefix) = &c.prefix {
        return prefix.trim_end_matches('/').to_string();
    }
    match spec.provider(&c.via, arch) {
        Provider::Installer { prefix, .. } => prefix.trim_end_matches('/').to_string(),
        _ => "/opt/conda".to_string(),
    }
}

/// Whether a conda program is micromamba, whose commands differ from conda's and mamba's.
fn is_micromamba(program: &str) -> bool {
    program.rsplit('/').next() == Some("micromamba")
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
pub fn install_order(spec: &Spec, arch: Arch) -> Vec<usize> {
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

fn resolve_base(lock: &crate::lock::Lock, base: &BaseImage, arch: Arch) -> ResolvedBase {
    let mut reference = format!("{}:{}", base.image, base.tag);
    // The spec's digest, else the one `qmspec lock` resolved for this platform.
    let digest = base
        .digest
        .as_deref()
        .or_else(|| lock.base_digest(&base.image, &base.tag, arch.name()));
    if let Some(d) = digest {
        reference = format!("{reference}@{d}");
    }
    ResolvedBase {
        reference,
        unpinned_reason: digest.is_none().then(|| {
            base.unpinned_reason
                .clone()
                .unwrap_or_else(|| "no digest is recorded in the spec".to_string())
        }),
        is_latest: digest.is_none() && base.tag == "latest",
        non_root: base.non_root(),
    }
}

/// One platform's packages of an `apt` section, sorted and deduplicated.
pub fn apt_packages(apt: &crate::model::Apt, arch: Arch) -> Vec<String> {
    let mut packages: Vec<String> = apt.packages.clone();
    if let Some(extra) = apt.platforms.get(arch) {
        packages.extend(extra.iter().cloned());
    }
    packages.sort();
    packages.dedup();
    packages
}

fn resolve_apt(apt: &crate::model::Apt, arch: Arch) -> ResolvedApt {
    let packages = apt_packages(apt, arch);
    let unpinned = packages.iter().any(|p| !p.contains('='));
    ResolvedApt {
        unpinned_reason: unpinned.then(|| {
            apt.unpinned_reason
                .clone()
                .unwrap_or_else(|| "the spec pins no package versions".to_string())
        }),
        packages,
    }
}

/// The directory a working directory names, with one trailing `/` (`COPY` into it).
fn as_dir(dir: &str) -> String {
    format!("{}/", dir.trim_end_matches('/'))
}

fn resolve_python(
    spec: &Spec,
    python: &crate::model::AppPython,
    workdir: Option<&str>,
    arch: Arch,
) -> ResolvedPython {
    let dir = as_dir(workdir.unwrap_or("/"));
    let install = python.install.as_ref().map(|i| match i {
        PythonInstall::Pip(p) => ResolvedPythonInstall::Pip {
            files: p.files.clone(),
        },
        PythonInstall::Requirements(r) => ResolvedPythonInstall::Requirements {
            file_in_image: format!("{dir}{}", r.file.rsplit('/').next().unwrap_or(&r.file)),
            file: r.file.clone(),
            project_files: r.project_files.clone(),
        },
        PythonInstall::Uv(u) => ResolvedPythonInstall::Uv {
            lock: u.lock.clone(),
            pyproject: u.pyproject.clone(),
            files: u.files.clone(),
            dev_flag: if u.dev {
                String::new()
            } else {
                "--no-dev".into()
            },
        },
    });
    let program = match &python.install {
        // The tool `via` names puts uv on `PATH` (a pip tool's venv, say), or the base has it.
        Some(PythonInstall::Uv(_)) => "uv".to_string(),
        _ => python_for(spec, &python.via, arch),
    };
    ResolvedPython {
        venv: python.venv.clone(),
        program,
        dir,
        install,
    }
}

fn resolve_copy(c: &crate::model::CopyItem, owner: Option<&str>) -> ResolvedCopy {
    ResolvedCopy {
        from: c.from.clone(),
        to: c.to.clone(),
        stage: c.stage.clone(),
        chown: owner.filter(|_| c.chown).map(str::to_string),
    }
}

/// Where a copied file lands: into `to` when it ends in `/`, else at `to`.
fn copied_file(from: &str, to: &str) -> String {
    if to.ends_with('/') {
        let name = from
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(from);
        format!("{to}{name}")
    } else {
        to.to_string()
    }
}

fn resolve_user(user: &crate::model::User) -> ResolvedUser {
    let root = user.is_root();
    let id = match (user.uid, user.gid.or(user.uid)) {
        (Some(uid), Some(gid)) => format!("{uid}:{gid}"),
        _ => user.name.clone(),
    };
    ResolvedUser {
        id,
        name: user.name.clone(),
        group: user.group.clone().unwrap_or_else(|| user.name.clone()),
        create: (user.create && !root).then(|| {
            let uid = user.uid.unwrap_or_default();
            CreateUser {
                uid,
                gid: user.gid.unwrap_or(uid),
                system: user.system,
                home: user.home.clone(),
            }
        }),
        root_reason: root.then(|| user.root_reason.clone().unwrap_or_default()),
        base_variable: false,
    }
}

/// Resolve a valid spec. Callers validate first; unresolvable references fall back to defaults.
pub fn resolve(spec: &Spec, spec_path: &str) -> Resolved {
    // Without an owner the workflow names the image after the repository's owner; the
    // Dockerfile's label then carries the image's own name.
    let image = match &spec.owner {
        Some(owner) => format!("{}/{owner}/{}", spec.registry, spec.name),
        None => format!("{}/{{repository owner}}/{}", spec.registry, spec.name),
    };
    let image_label = match &spec.owner {
        Some(_) => image.clone(),
        None => spec.name.clone(),
    };
    let validation_script = spec.validation_script.as_ref().map(|path| Script {
        in_image: format!(
            "/usr/local/bin/{}",
            path.rsplit('/').next().unwrap_or("validate.sh")
        ),
        path: path.clone(),
    });
    let app = &spec.app;
    // Without a user of its own, an image on micromamba bases keeps micromamba's.
    let micromamba_only = spec.platforms.iter().next().is_some()
        && spec
            .platforms
            .iter()
            .all(|(_, p)| p.base.family == crate::model::Family::Micromamba);
    let user = app.user.as_ref().map(resolve_user).or_else(|| {
        micromamba_only.then(|| ResolvedUser {
            name: "$MAMBA_USER".to_string(),
            id: "$MAMBA_USER".to_string(),
            group: "$MAMBA_USER".to_string(),
            create: None,
            root_reason: None,
            base_variable: true,
        })
    });
    let owner = user
        .as_ref()
        .filter(|u| u.root_reason.is_none())
        .map(|u| format!("{}:{}", u.name, u.group));

    let platforms = spec
        .platforms
        .iter()
        .map(|(arch, platform)| resolve_platform(spec, arch, platform))
        .collect();

    let resolved_app = ResolvedApp {
        workdir: app.workdir.clone(),
        copy: app
            .copy
            .iter()
            .map(|c| resolve_copy(c, owner.as_deref()))
            .collect(),
        scripts: app
            .scripts
            .iter()
            .map(|c| {
                (
                    resolve_copy(c, owner.as_deref()),
                    copied_file(&c.from, &c.to),
                )
            })
            .collect(),
        data_dirs: app.data_dirs.clone(),
        user,
        owner,
        expose: app.expose.clone(),
        volumes: (!app.volumes.is_empty()).then(|| json_array(&app.volumes)),
        healthcheck: app.healthcheck.as_ref().map(|h| ResolvedHealthcheck {
            options: [
                ("interval", &h.interval),
                ("timeout", &h.timeout),
                ("start-period", &h.start_period),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("--{k}={v}")))
            .chain(h.retries.map(|r| format!("--retries={r}")))
            .collect(),
            run: h.run.trim().to_string(),
        }),
        stopsignal: app.stopsignal.clone(),
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
                // `latest` is metadata-action's `flavor: latest=auto`: releases that are not
                // pre-releases, never an `edge` push or a scheduled rebuild.
                TagRule::Latest => "",
                TagRule::Sha => "type=sha",
            })
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect(),
        latest: ci.tag_rules.contains(&TagRule::Latest),
        native: ci.strategy == Strategy::Native,
        cache: ci.cache == crate::model::Cache::Gha,
        actions: crate::pins::workflow_actions(spec),
        pull_requests: ci.pull_requests,
        edge_branch: ci.edge_branch.clone(),
        schedule: ci.schedule.clone(),
        attest: ci.attest,
        sign: ci.sign,
        fail_fast: ci.fail_fast,
        timeout_minutes: ci.timeout_minutes,
        environment: ci.environment.clone(),
        cache_scope: ci.cache_scope.clone().unwrap_or_else(|| spec.name.clone()),
        owner_from_repository: spec.owner.is_none(),
        login: ci.login.clone(),
        registries: ci
            .registries
            .iter()
            .map(|r| ResolvedRegistry {
                registry: r.registry.clone(),
                image: format!("{}/{}/{}", r.registry, r.owner, spec.name),
                login: r.login.clone(),
            })
            .collect(),
    };

    Resolved {
        spec_path: spec_path.to_string(),
        name: spec.name.clone(),
        image,
        image_label,
        registry: spec.registry.clone(),
        labels: spec
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        args: spec
            .args
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
        validation_script,
        app: resolved_app,
        ci: resolved_ci,
    }
}

fn resolve_platform(
    spec: &Spec,
    arch: Arch,
    platform: &crate::model::Platform,
) -> ResolvedPlatform {
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
    // The validation script picks this platform's checks by it.
    if spec.validation_script.is_some() {
        env.push(("QMSPEC_PLATFORM".to_string(), arch.name().to_string()));
    }
    let order = install_order(spec, arch);
    let walk = crate::toolbox::walk(spec, arch);
    let tools: Vec<ResolvedTool> = order
        .iter()
        .map(|i| {
            let downloader = walk
                .as_ref()
                .and_then(|w| w.downloaders.get(i).copied())
                .unwrap_or(crate::toolbox::Downloader::Wget);
            resolve_tool(spec, *i, arch, downloader)
        })
        .collect();
    let mut checks: Vec<ResolvedCheck> = order
        .iter()
        .filter_map(|i| {
            let t = &spec.tools[*i];
            t.check.as_ref().map(|c| ResolvedCheck {
                name: t.name.clone(),
                run: c.replace("{{version}}", t.version.as_deref().unwrap_or_default()),
            })
        })
        .collect();
    checks.extend(spec.app.checks.iter().map(|c| ResolvedCheck {
        name: c.name.clone(),
        run: c.run.clone(),
    }));
    let apt = resolve_apt(&spec.apt, arch);
    let base = resolve_base(&spec.lock, &platform.base, arch);
    let installs = !apt.packages.is_empty()
        || !tools.is_empty()
        || spec.app.user.as_ref().is_some_and(|u| u.create)
        || spec.app.python.is_some()
        || !spec.app.data_dirs.is_empty()
        || !spec.app.scripts.is_empty()
        || spec.validation_script.is_some();
    let shell = platform.base.shell();
    let bash = shell == crate::model::Shell::Bash
        && tools
            .iter()
            .any(|t| matches!(t.install, Install::Commands { .. }));
    let stages = spec
        .stages
        .iter()
        .filter_map(|s| {
            let b = s.base.get(arch)?;
            Some(ResolvedStage {
                name: s.name.clone(),
                base: resolve_base(&spec.lock, b, arch),
                workdir: s.workdir.clone(),
                env: group_env(s.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
                apt: resolve_apt(&s.apt, arch),
                python: s
                    .python
                    .as_ref()
                    .map(|p| resolve_python(spec, p, s.workdir.as_deref(), arch)),
                copy: s.copy.iter().map(|c| resolve_copy(c, None)).collect(),
            })
        })
        .collect();
    ResolvedPlatform {
        arch: arch.name().to_string(),
        docker_platform: arch.docker_platform(),
        install_as_root: base.non_root && installs,
        base,
        runner: platform.runner.clone(),
        qemu: platform.emulation == Emulation::Qemu,
        // CI builds this platform from its own file, or from the multi-arch one when that is
        // the only file written.
        dockerfile: match (spec.dockerfiles, &spec.multi_arch_dockerfile) {
            (DockerfileLayout::MultiArch, Some(multi)) => multi.clone(),
            _ => platform.dockerfile.clone(),
        },
        stages,
        apt,
        env: group_env(env),
        tools,
        bash,
        shell,

        user_tool: walk
            .as_ref()
            .map_or(crate::toolbox::UserTool::Shadow, |w| w.user_tool),
        micromamba: platform.base.family == crate::model::Family::Micromamba,
        python: spec
            .app
            .python
            .as_ref()
            .map(|p| resolve_python(spec, p, spec.app.workdir.as_deref(), arch)),
        checks,
    }
}

fn download(
    lock: &crate::lock::Lock,
    tool: &str,
    url: &str,
    sha: &str,
    reason: &Option<String>,
    version: &str,
    downloader: crate::toolbox::Downloader,
) -> Download {
    let url = url.replace("{{version}}", version);
    // A download the spec leaves unverified is verified by its lock, when it was locked.
    let sha = match (sha, lock.sha256_of(&url)) {
        ("unverified", Some(locked)) => locked,
        _ => sha,
    };
    let verified = sha != "unverified";
    Download {
        folder: None,
        downloader,
        url,
        sha256: verified.then(|| sha.to_string()),
        unverified_reason: if verified {
            String::new()
        } else {
            reason.clone().unwrap_or_default()
        },
        file: format!("/tmp/qmspec-{tool}.download"),
    }
}

fn resolve_tool(
    spec: &Spec,
    i: usize,
    arch: Arch,
    downloader: crate::toolbox::Downloader,
) -> ResolvedTool {
    let tool = &spec.tools[i];
    let version = tool.version.clone().unwrap_or_default();
    // `{{version}}` is replaced in every field of a tool that may carry it (the rules refuse
    // it everywhere else).
    let expand = |s: &str| s.replace("{{version}}", &version);
    let mut path: Vec<String> = Vec::new();
    // `install_order` keeps only tools with a source on `arch`.
    let source = tool.sources.get(arch);
    let install = match source {
        Some(Source::Archive(a)) => Install::Archive {
            // Validation refuses a URL whose format cannot be told; tar then reads it itself.
            format: a
                .format_for(&version)
                .unwrap_or(crate::model::ArchiveFormat::Tar),
            download: download(
                &spec.lock,
                &tool.name,
                &a.url,
                &a.sha256,
                &a.unverified_reason,
                &version,
                downloader,
            ),
            dest: expand(&a.dest),
            strip_components: a.strip_components,
            executables: a
                .executables
                .iter()
                .map(|e| {
                    expand(&format!(
                        "{}/{}",
                        a.dest.trim_end_matches('/'),
                        e.trim_start_matches('/')
                    ))
                })
                .collect(),
        },
        Some(Source::Installer(s)) => Install::Installer {
            download: download(
                &spec.lock,
                &tool.name,
                &s.url,
                &s.sha256,
                &s.unverified_reason,
                &version,
                downloader,
            ),
            prefix: expand(&s.prefix),
        },
        Some(Source::Conda(c)) => {
            let pkg = c.package.clone().unwrap_or_else(|| tool.name.clone());
            let name = pkg.split('=').next().unwrap_or(&pkg).to_string();
            let conda = crate::toolbox::conda_program(spec, &c.via, arch);
            // A locked build is installed exactly: `name=version=build`.
            let locked =
                spec.lock
                    .conda_build(&tool.name, arch.name(), &c.channel, &name, &version);
            let requirement = match locked {
                Some(b) => format!("{name}={}={}", b.version, b.build),
                None => crate::versions::requirement(&name, &version, "="),
            };
            Install::Conda {
                micromamba: is_micromamba(&conda),
                conda,
                channel: c.channel.clone(),
                packages: vec![requirement],
            }
        }
        Some(Source::CondaEnv(c)) => {
            let conda = crate::toolbox::conda_program(spec, &c.via, arch);
            Install::CondaEnv {
                micromamba: is_micromamba(&conda),
                conda,
                file: c.file.clone(),
                mount: format!("/tmp/qmspec-{}.environment.yml", tool.name),
            }
        }
        Some(Source::Pip(p)) => {
            let pkg = p.package.clone().unwrap_or_else(|| tool.name.clone());
            let name = pkg.split("==").next().unwrap_or(&pkg).to_string();
            path.push(expand(&format!("{}/bin", p.prefix.trim_end_matches('/'))));
            Install::Pip {
                python: python_for(spec, &p.via, arch),
                venv: expand(&p.prefix),
                packages: vec![crate::versions::requirement(&name, &version, "==")],
            }
        }
        Some(Source::Apt(a)) => {
            let mut packages = a.packages.clone();
            packages.sort();
            packages.dedup();
            Install::Apt {
                unpinned: packages.iter().any(|p| !p.contains('=')),
                packages,
            }
        }
        Some(Source::Commands(c)) => Install::Commands {
            downloads: c
                .downloads
                .iter()
                .map(|d| {
                    let file = expand(&d.file);
                    let folder = file
                        .rsplit_once('/')
                        .map(|(dir, _)| dir)
                        .filter(|dir| !dir.is_empty() && *dir != "/tmp")
                        .map(str::to_string);
                    Download {
                        file,
                        folder,
                        ..download(
                            &spec.lock,
                            &tool.name,
                            &d.url,
                            &d.sha256,
                            &d.unverified_reason,
                            &version,
                            downloader,
                        )
                    }
                })
                .collect(),
            run: c.run.iter().map(|r| r.trim().to_string()).collect(),
        },
        Some(Source::BaseImage(_) | Source::None(_)) | None => Install::BaseImage {},
    };
    let (source_env, source_path) = source.map_or((None, &[][..]), source_env_path);
    let mut env: Vec<(String, String)> = tool
        .env
        .iter()
        .map(|(k, v)| (k.clone(), expand(v)))
        .collect();
    if let Some(e) = source_env {
        env.extend(e.iter().map(|(k, v)| (k.clone(), expand(v))));
    }
    path.extend(tool.path.iter().map(|p| expand(p)));
    path.extend(source_path.iter().map(|p| expand(p)));
    path.dedup();
    let micromamba_base = spec
        .platforms
        .get(arch)
        .is_some_and(|p| p.base.family == crate::model::Family::Micromamba);
    ResolvedTool {
        as_base_user: micromamba_base
            && matches!(install, Install::Conda { .. } | Install::CondaEnv { .. }),
        name: tool.name.clone(),
        version,
        description: tool.description.clone().unwrap_or_default(),
        install,
        env: group_env(env),
        path,
    }
}
