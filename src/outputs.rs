//! The registry of generated files: each kind of output is one entry (its template, its
//! scope, where its paths come from, how its context is built). `generate`, `check`, the
//! layout rules and the manifest all read this table; nothing else lists outputs.

use std::collections::BTreeMap;

use minijinja::Value;
use serde::Serialize;

use crate::model::Spec;
use crate::pins::Pins;
use crate::resolve::{Resolved, ResolvedApp, ResolvedCi, ResolvedPlatform, Script};

/// The specs a shared output is assembled from, each resolved and as written.
pub type Members<'a> = [(&'a Resolved, &'a Spec)];

/// How a shared output's context is built from the specs naming it.
pub type SharedContext = fn(&Members<'_>) -> Result<Value, String>;

/// Who an output belongs to.
pub enum Scope {
    /// One file per path of one spec; its stamp names that spec.
    Spec(fn(&Resolved, &str) -> Value),
    /// One file per path, assembled from every spec that names the path (the publish
    /// workflow); its stamp names all of them.
    Shared(SharedContext),
}

/// One kind of generated file.
pub struct OutputKind {
    /// Stable id, e.g. `platform-dockerfile`.
    pub id: &'static str,
    /// Template (under `src/templates/`) that renders it.
    pub template: &'static str,
    pub scope: Scope,
    /// `(JSON pointer of the key that names the path, path)` for every file of this kind a
    /// spec asks for.
    pub paths: fn(&Spec) -> Vec<(String, String)>,
}

/// A context as a template value.
fn value_of<T: Serialize>(ctx: T) -> Value {
    Value::from(minijinja::value::Serde(ctx))
}

/// Every kind of output, in the order files are reported.
pub const OUTPUTS: [OutputKind; 4] = [
    OutputKind {
        id: "platform-dockerfile",
        template: "Dockerfile.j2",
        scope: Scope::Spec(platform_dockerfile),
        paths: platform_dockerfile_paths,
    },
    OutputKind {
        id: "multi-arch-dockerfile",
        template: "Dockerfile.j2",
        scope: Scope::Spec(multi_arch_dockerfile),
        paths: multi_arch_dockerfile_paths,
    },
    OutputKind {
        id: "validation-script",
        template: "validate.sh.j2",
        scope: Scope::Spec(validation_script),
        paths: validation_script_paths,
    },
    OutputKind {
        id: "workflow",
        template: "publish-images.yml.j2",
        scope: Scope::Shared(workflow),
        paths: workflow_paths,
    },
];

/// Every output path a spec asks for, with its key and kind.
pub fn all_paths(spec: &Spec) -> Vec<(&'static OutputKind, String, String)> {
    OUTPUTS
        .iter()
        .flat_map(|k| {
            (k.paths)(spec)
                .into_iter()
                .map(move |(key, path)| (k, key, path))
        })
        .collect()
}

fn platform_dockerfile_paths(spec: &Spec) -> Vec<(String, String)> {
    if spec.dockerfiles == crate::model::DockerfileLayout::MultiArch {
        return Vec::new();
    }
    spec.platforms
        .iter()
        .map(|(arch, p)| {
            (
                format!("/platforms/{}/dockerfile", arch.name()),
                p.dockerfile.clone(),
            )
        })
        .collect()
}

fn multi_arch_dockerfile_paths(spec: &Spec) -> Vec<(String, String)> {
    match (&spec.dockerfiles, &spec.multi_arch_dockerfile) {
        (crate::model::DockerfileLayout::PerPlatform, _) | (_, None) => Vec::new(),
        (_, Some(path)) => vec![("/multi-arch-dockerfile".into(), path.clone())],
    }
}

fn validation_script_paths(spec: &Spec) -> Vec<(String, String)> {
    spec.validation_script
        .iter()
        .map(|p| ("/validation-script".to_string(), p.clone()))
        .collect()
}

fn workflow_paths(spec: &Spec) -> Vec<(String, String)> {
    vec![("/ci/workflow".into(), spec.ci.workflow.clone())]
}

/// Context of `Dockerfile.j2`.
#[derive(Serialize)]
struct DockerfileContext<'a> {
    /// Image name; final stages are `NAME-ARCH` in the multi-arch file.
    name: &'a str,
    /// What the `ref.name` label names: `registry/owner/name`, or the bare name.
    image_label: &'a str,
    /// Path of the file being rendered (shown in the build hint).
    path: &'a str,
    labels: &'a [(String, String)],
    args: &'a [(String, String)],
    /// One platform (per-platform file) or all (multi-arch file).
    platforms: Vec<&'a ResolvedPlatform>,
    /// Whether stages are named per platform and the final one picked by `TARGETARCH`.
    multi: bool,
    app: &'a ResolvedApp,
    validation_script: &'a Option<Script>,
}

fn dockerfile<'a>(
    r: &'a Resolved,
    path: &'a str,
    platforms: Vec<&'a ResolvedPlatform>,
    multi: bool,
) -> Value {
    value_of(DockerfileContext {
        name: &r.name,
        image_label: &r.image_label,
        path,
        labels: &r.labels,
        args: &r.args,
        platforms,
        multi,
        app: &r.app,
        validation_script: &r.validation_script,
    })
}

fn platform_dockerfile(r: &Resolved, path: &str) -> Value {
    let platforms = r
        .platforms
        .iter()
        .filter(|p| crate::paths::normalize(&p.dockerfile) == path)
        .collect();
    dockerfile(r, path, platforms, false)
}

fn multi_arch_dockerfile(r: &Resolved, path: &str) -> Value {
    dockerfile(r, path, r.platforms.iter().collect(), true)
}

/// Context of `validate.sh.j2`.
#[derive(Serialize)]
struct ValidateContext<'a> {
    name: &'a str,
    /// Every platform with its checks.
    platforms: &'a [ResolvedPlatform],
}

fn validation_script(r: &Resolved, _path: &str) -> Value {
    value_of(ValidateContext {
        name: &r.name,
        platforms: &r.platforms,
    })
}

/// Context of `publish-images.yml.j2`: every image published by one workflow file.
#[derive(Serialize)]
struct WorkflowContext<'a> {
    /// Union of the specs' tag patterns, in first-seen order.
    on_tags: Vec<&'a str>,
    workflow_dispatch: bool,
    /// Pull requests build and test the images they change.
    pull_requests: bool,
    /// Branch whose pushes publish `edge`.
    edge_branch: Option<&'a str>,
    /// Cron line of the scheduled rebuild.
    schedule: Option<&'a str>,
    images: Vec<WorkflowImage<'a>>,
    /// `owner/repo` → `owner/repo@SHA # vX.Y.Z`, for every action the workflow uses.
    uses: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct WorkflowImage<'a> {
    /// Spec path (shown in the header comment).
    spec: &'a str,
    name: &'a str,
    /// The image name as a job id part: `build-JOB`, `merge-JOB`.
    job: String,
    registry: &'a str,
    image: &'a str,
    platforms: &'a [ResolvedPlatform],
    /// Whether any platform builds under QEMU (the native jobs then set QEMU up).
    any_qemu: bool,
    ci: &'a ResolvedCi,
    /// The validation script's path in the image, when there is one.
    script: Option<&'a str>,
    /// The multi-arch Dockerfile (the QEMU strategy builds it), or empty.
    multi_arch_dockerfile: &'a str,
    /// Repository paths the image is built from: a pull request touching one builds it.
    inputs: Vec<String>,
    /// One row per platform for the jobs that build or run one platform: the QEMU strategy
    /// runs every platform on `ubuntu-latest`, emulated where it is not amd64.
    rows: Vec<Row<'a>>,
}

/// A platform as the per-platform jobs' matrix lists it.
#[derive(Serialize)]
struct Row<'a> {
    arch: &'a str,
    platform: &'a str,
    runner: &'a str,
    qemu: bool,
    dockerfile: &'a str,
}

/// The repository paths an image is built from: its spec, its generated files, the workflow,
/// and what its Dockerfiles copy or bind-mount from the build context.
fn build_inputs(spec: &Spec, spec_path: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![spec_path.to_string(), ".dockerignore".to_string()];
    for (kind, _, path) in all_paths(spec) {
        // BuildKit reads `<Dockerfile>.dockerignore` before `.dockerignore`.
        if kind.template == "Dockerfile.j2" {
            out.push(format!("{path}.dockerignore"));
        }
        out.push(path);
    }
    let context = |c: &crate::model::CopyItem| c.stage.is_none().then(|| c.from.clone());
    let python_files = |p: &crate::model::AppPython| -> Vec<String> {
        match &p.install {
            Some(crate::model::PythonInstall::Pip(i)) => i.files.clone(),
            Some(crate::model::PythonInstall::Requirements(i)) => std::iter::once(i.file.clone())
                .chain(i.project_files.clone())
                .collect(),
            Some(crate::model::PythonInstall::Uv(i)) => [i.lock.clone(), i.pyproject.clone()]
                .into_iter()
                .chain(i.files.clone())
                .collect(),
            None => Vec::new(),
        }
    };
    out.extend(
        spec.app
            .copy
            .iter()
            .chain(&spec.app.scripts)
            .filter_map(context),
    );
    out.extend(spec.app.python.iter().flat_map(python_files));
    for stage in &spec.stages {
        out.extend(stage.copy.iter().filter_map(context));
        out.extend(stage.python.iter().flat_map(python_files));
    }
    for tool in &spec.tools {
        for (_, source) in tool.sources.iter() {
            if let crate::model::Source::CondaEnv(c) = source {
                out.push(c.file.clone());
            }
        }
    }
    let mut out: Vec<String> = out
        .into_iter()
        .map(|p| crate::paths::normalize(p.trim_end_matches('/')))
        // `.` (the whole context) stays: as a pathspec it matches every change.
        .map(|p| if p.is_empty() { ".".to_string() } else { p })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A job id part for an image name: job ids allow letters, digits, `-` and `_`.
pub fn job_id(name: &str) -> String {
    name.replace('.', "_")
}

fn workflow(specs: &Members<'_>) -> Result<Value, String> {
    // What starts the workflow starts every image's jobs: the specs must agree on it, or a
    // tag meant for one image would publish the others too.
    // Tag patterns are a set: their order does not change what starts the workflow.
    let tags = |r: &Resolved| -> std::collections::BTreeSet<String> {
        r.ci.on_tags.iter().cloned().collect()
    };
    let trigger = |r: &Resolved| {
        (
            tags(r),
            r.ci.workflow_dispatch,
            r.ci.pull_requests,
            r.ci.edge_branch.clone(),
            r.ci.schedule.clone(),
        )
    };
    if let Some(((first, _), (other, _))) = specs.first().zip(
        specs
            .iter()
            .find(|(r, _)| trigger(r) != trigger(specs[0].0)),
    ) {
        return Err(format!(
            "{} and {} start the workflow differently (`ci.on-tags`, `ci.workflow-dispatch`, `ci.pull-requests`, `ci.edge-branch`, `ci.schedule`), and one workflow has one trigger",
            first.spec_path, other.spec_path
        ));
    }
    let mut on_tags: Vec<&str> = Vec::new();
    let mut actions: Vec<&'static str> = Vec::new();
    let mut pins: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    let mut jobs: BTreeMap<String, &str> = BTreeMap::new();
    let mut images: BTreeMap<&str, &str> = BTreeMap::new();
    for (r, spec) in specs {
        if let Some(first) = images.insert(&r.image, &r.spec_path) {
            return Err(format!(
                "{first} and {} both publish {}; their pushes would overwrite each other's tags",
                r.spec_path, r.image
            ));
        }
        if let Some(first) = jobs.insert(job_id(&r.name), &r.spec_path) {
            return Err(format!(
                "{first} and {} both name their jobs `build-{}`: the workflow names jobs after image names (with `.` as `_`), so image names must differ there",
                r.spec_path,
                job_id(&r.name)
            ));
        }
        for t in &r.ci.on_tags {
            if !on_tags.contains(&t.as_str()) {
                on_tags.push(t);
            }
        }
        for a in &r.ci.actions {
            if !actions.contains(a) {
                actions.push(a);
            }
        }
        for (action, pin) in &spec.ci.pins {
            if let Some((other, first)) = pins.insert(action, (pin, &r.spec_path))
                && other != pin
            {
                return Err(format!(
                    "{first} and {} pin `{action}` differently, and one workflow uses one pin",
                    r.spec_path
                ));
            }
        }
    }
    let overrides: indexmap::IndexMap<String, String> = pins
        .iter()
        .map(|(a, (p, _))| (a.to_string(), p.to_string()))
        .collect();
    // Actions a lock file resolved (the specs' locks agree: each names the same release).
    let locked: Vec<crate::lock::LockedAction> = specs
        .iter()
        .flat_map(|(_, spec)| spec.lock.actions.iter().cloned())
        .collect();
    let uses = Pins::with_lock(&overrides, &locked).resolve_all(actions)?;
    Ok(value_of(WorkflowContext {
        on_tags,
        workflow_dispatch: specs.iter().any(|(r, _)| r.ci.workflow_dispatch),
        pull_requests: specs.iter().any(|(r, _)| r.ci.pull_requests),
        edge_branch: specs.first().and_then(|(r, _)| r.ci.edge_branch.as_deref()),
        schedule: specs.first().and_then(|(r, _)| r.ci.schedule.as_deref()),
        images: specs
            .iter()
            .map(|(r, spec)| WorkflowImage {
                spec: &r.spec_path,
                name: &r.name,
                job: job_id(&r.name),
                registry: &r.registry,
                image: &r.image,
                platforms: &r.platforms,
                any_qemu: r.platforms.iter().any(|p| p.qemu),
                ci: &r.ci,
                script: r.validation_script.as_ref().map(|s| s.in_image.as_str()),
                multi_arch_dockerfile: r.multi_arch_dockerfile.as_deref().unwrap_or(""),
                inputs: build_inputs(spec, &r.spec_path),
                rows: r
                    .platforms
                    .iter()
                    .map(|p| Row {
                        arch: &p.arch,
                        platform: &p.docker_platform,
                        runner: if r.ci.native {
                            &p.runner
                        } else {
                            "ubuntu-latest"
                        },
                        qemu: if r.ci.native {
                            p.qemu
                        } else {
                            p.arch != "amd64"
                        },
                        dockerfile: if r.ci.native {
                            &p.dockerfile
                        } else {
                            r.multi_arch_dockerfile.as_deref().unwrap_or(&p.dockerfile)
                        },
                    })
                    .collect(),
            })
            .collect(),
        uses,
    }))
}
