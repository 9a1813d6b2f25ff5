//! `qmspec explain`: how a spec's platforms differ, at a glance, as text, Markdown or JSON.
//!
//! One context (`Explanation`) is built from the spec and its resolved form, so what it says
//! is what the Dockerfiles and the workflow do; the three formats only lay it out. Spec text is
//! untrusted: every string from it goes through the format's escaping before it is printed.

use indexmap::{IndexMap, IndexSet};
use serde::Serialize;

use crate::model::{Arch, BaseImage, Source, Spec, Tool};
use crate::resolve::{Download, Install, Resolved, ResolvedBase, ResolvedPlatform, ResolvedTool};

/// How `explain` lays its report out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a terminal, control characters made inert.
    Text,
    /// GitHub-flavoured Markdown: a heading per section, tables, escaped cells.
    Markdown,
    /// The context itself, pretty-printed.
    Json,
}

/// Explain one spec: `spec_path` is its repository-relative path (e.g. "specs/worker.yaml").
pub fn explain(spec: &Spec, spec_path: &str, format: Format) -> String {
    let ctx = Explanation::new(spec, spec_path);
    match format {
        Format::Text => render_text(&document(&ctx, text_cell)),
        Format::Markdown => render_markdown(&document(&ctx, markdown_cell)),
        Format::Json => render_json(&ctx),
    }
}

/// What `explain` says about one spec; every format renders this one value.
#[derive(Debug, Serialize)]
struct Explanation {
    /// The spec's repository path.
    spec: String,
    name: String,
    /// `registry/owner/name`, as the workflow publishes it.
    image: String,
    /// The platforms built, in the model's fixed platform order.
    platforms: Vec<String>,
    /// Per platform: the image's own base, then each stage's.
    bases: Vec<BaseRow>,
    /// Tools in spec order, each with one cell per platform.
    tools: Vec<ToolRow>,
    env: EnvSummary,
    /// Every file `generate` writes for this spec.
    outputs: Vec<OutputRow>,
    ci: CiSummary,
}

#[derive(Debug, Serialize)]
struct BaseRow {
    platform: String,
    /// The build stage this base starts, or none for the image itself.
    stage: Option<String>,
    image: String,
    tag: String,
    /// The digest `FROM` pins: the spec's, else the lock file's.
    digest: Option<String>,
    state: BaseState,
    /// Why the base floats, when it does.
    reason: Option<String>,
}

/// Where a base image's digest comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum BaseState {
    /// Written in the spec.
    Pinned,
    /// Recorded by `qmspec lock` for this platform.
    Locked,
    /// No digest: the tag may move.
    Floating,
}

#[derive(Debug, Serialize)]
struct ToolRow {
    name: String,
    /// One cell per platform, in the order of `Explanation::platforms`.
    platforms: Vec<ToolCell>,
}

/// One tool on one platform.
#[derive(Debug, Serialize)]
struct ToolCell {
    platform: String,
    /// The install kind (`archive`, `conda`, …), or `none` when nothing installs the tool here.
    kind: &'static str,
    version: Option<String>,
    /// What the install fetches, each with its checksum state; empty when nothing is fetched.
    fetches: Vec<Fetch>,
    /// Why the tool is not installed here (`kind: none`).
    reason: Option<String>,
}

#[derive(Debug, Serialize)]
struct Fetch {
    /// A URL (`{{version}}` expanded), `channel::package` for conda, the packages for pip and
    /// apt, or the environment file for conda-env.
    what: String,
    checksum: Checksum,
}

/// How what a tool fetches is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
enum Checksum {
    /// The sha256 written in the spec is checked.
    Sha256,
    /// The spec leaves it open; the lock file's sha256 (or conda build) is used.
    Locked,
    /// Downloaded without a check.
    Unverified { reason: Option<String> },
    /// A conda package without a locked build: the channel picks one at build time.
    Unlocked,
    /// qmspec checks nothing itself: a package manager fetches (pip, apt, a conda environment).
    #[serde(rename = "none")]
    NotChecked,
}

impl Checksum {
    /// How much the state should catch the eye: the weakest of a tool's fetches stands for it.
    fn rank(&self) -> u8 {
        match self {
            Checksum::Unverified { .. } => 4,
            Checksum::Unlocked => 3,
            Checksum::Locked => 2,
            Checksum::Sha256 => 1,
            Checksum::NotChecked => 0,
        }
    }

    fn word(&self) -> &'static str {
        match self {
            Checksum::Sha256 => "sha256",
            Checksum::Locked => "locked",
            Checksum::Unverified { .. } => "unverified",
            Checksum::Unlocked => "unlocked",
            Checksum::NotChecked => NOTHING,
        }
    }
}

#[derive(Debug, Serialize)]
struct EnvSummary {
    /// Variables set on some platforms only, or to different values.
    differing: Vec<EnvRow>,
    /// How many variables have one value on every platform (not listed).
    same: usize,
}

#[derive(Debug, Serialize)]
struct EnvRow {
    name: String,
    /// One value per platform; none where the variable is not set.
    values: Vec<EnvValue>,
}

#[derive(Debug, Serialize)]
struct EnvValue {
    platform: String,
    value: Option<String>,
}

#[derive(Debug, Serialize)]
struct OutputRow {
    path: String,
    /// The output kind's id in `outputs::OUTPUTS`.
    kind: &'static str,
    /// What the file is, in words.
    what: String,
    /// Assembled from every spec naming the path (the publish workflow).
    shared: bool,
}

#[derive(Debug, Serialize)]
struct CiSummary {
    workflow: String,
    /// `native` (a build per platform, merged by digest) or `qemu` (one emulated build).
    strategy: &'static str,
    /// This image's jobs in the publish workflow, in the workflow's order.
    jobs: Vec<Job>,
}

#[derive(Debug, Serialize)]
struct Job {
    id: String,
    on: JobOn,
    needs: Vec<String>,
    /// One job for every image of the workflow, not this one's alone.
    shared: bool,
    /// Where it runs: one entry per matrix row, or a single one.
    runs: Vec<JobRun>,
}

/// Which runs of the workflow a job belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum JobOn {
    PullRequest,
    /// Tag pushes, the edge branch, the schedule and manual runs.
    Publish,
}

#[derive(Debug, Clone, Serialize)]
struct JobRun {
    /// The platforms this run builds or tests; empty for a job about no one platform.
    platforms: Vec<String>,
    runner: String,
    /// The runner emulates the platform.
    qemu: bool,
}

/// The runner of the jobs that are about no one platform.
const HOSTED: &str = "ubuntu-latest";

/// What a cell shows where there is nothing to show.
const NOTHING: &str = "—";

/// One platform as written and as resolved.
struct Side<'a> {
    arch: Arch,
    platform: &'a crate::model::Platform,
    resolved: &'a ResolvedPlatform,
}

impl Explanation {
    fn new(spec: &Spec, spec_path: &str) -> Explanation {
        let resolved = crate::resolve::resolve(spec, spec_path);
        let sides: Vec<Side<'_>> = spec
            .platforms
            .iter()
            .filter_map(|(arch, platform)| {
                resolved
                    .platforms
                    .iter()
                    .find(|p| p.arch == arch.name())
                    .map(|r| Side {
                        arch,
                        platform,
                        resolved: r,
                    })
            })
            .collect();
        let mut bases = Vec::new();
        for side in &sides {
            let own = &side.platform.base;
            bases.push(base_row(
                spec,
                side.arch,
                None,
                own,
                Some(&side.resolved.base),
            ));
            for stage in &spec.stages {
                let Some(base) = stage.base.get(side.arch) else {
                    continue;
                };
                let resolved_base = side
                    .resolved
                    .stages
                    .iter()
                    .find(|s| s.name == stage.name)
                    .map(|s| &s.base);
                bases.push(base_row(
                    spec,
                    side.arch,
                    Some(stage.name.as_str()),
                    base,
                    resolved_base,
                ));
            }
        }
        Explanation {
            spec: spec_path.to_string(),
            name: spec.name.clone(),
            image: resolved.image.clone(),
            platforms: sides.iter().map(|s| s.arch.name().to_string()).collect(),
            bases,
            tools: spec
                .tools
                .iter()
                .map(|tool| ToolRow {
                    name: tool.name.clone(),
                    platforms: sides.iter().map(|s| tool_cell(spec, tool, s)).collect(),
                })
                .collect(),
            env: env_summary(&sides),
            outputs: crate::outputs::all_paths(spec)
                .into_iter()
                .map(|(kind, key, path)| OutputRow {
                    what: output_what(kind.id, &key),
                    kind: kind.id,
                    shared: matches!(kind.scope, crate::outputs::Scope::Shared(_)),
                    path,
                })
                .collect(),
            ci: ci_summary(&resolved, &spec.name),
        }
    }
}

fn base_row(
    spec: &Spec,
    arch: Arch,
    stage: Option<&str>,
    base: &BaseImage,
    resolved: Option<&ResolvedBase>,
) -> BaseRow {
    // The order `resolve` takes them in: the spec's digest, else the lock file's.
    let locked = spec.lock.base_digest(&base.image, &base.tag, arch.name());
    let (digest, state) = match (&base.digest, locked) {
        (Some(d), _) => (Some(d.clone()), BaseState::Pinned),
        (None, Some(d)) => (Some(d.to_string()), BaseState::Locked),
        (None, None) => (None, BaseState::Floating),
    };
    let reason = (state == BaseState::Floating)
        .then(|| {
            resolved
                .and_then(|b| b.unpinned_reason.clone())
                .or_else(|| base.unpinned_reason.clone())
        })
        .flatten();
    BaseRow {
        platform: arch.name().to_string(),
        stage: stage.map(str::to_string),
        image: base.image.clone(),
        tag: base.tag.clone(),
        digest,
        state,
        reason,
    }
}

fn tool_cell(spec: &Spec, tool: &Tool, side: &Side<'_>) -> ToolCell {
    let source = tool.sources.get(side.arch);
    // `resolve` leaves out a tool without a source on a platform, and one marked `none`.
    let Some(resolved) = side.resolved.tools.iter().find(|t| t.name == tool.name) else {
        return ToolCell {
            platform: side.arch.name().to_string(),
            kind: "none",
            version: None,
            fetches: Vec::new(),
            reason: match source {
                Some(Source::None(n)) => Some(n.reason.clone()),
                _ => None,
            },
        };
    };
    ToolCell {
        platform: side.arch.name().to_string(),
        kind: resolved.install.kind(),
        version: (!resolved.version.is_empty()).then(|| resolved.version.clone()),
        fetches: fetches(spec, tool, side.arch, source, resolved),
        reason: None,
    }
}

/// What a resolved install fetches, and how each is checked.
fn fetches(
    spec: &Spec,
    tool: &Tool,
    arch: Arch,
    source: Option<&Source>,
    resolved: &ResolvedTool,
) -> Vec<Fetch> {
    // The sha256 the spec itself wrote for each download, in the order `resolve` lists them:
    // a download that has a sha256 although the spec says `unverified` got it from the lock.
    let written: Vec<&str> = match source {
        Some(Source::Archive(a)) => vec![a.sha256.as_str()],
        Some(Source::Installer(s)) => vec![s.sha256.as_str()],
        Some(Source::Commands(c)) => c.downloads.iter().map(|d| d.sha256.as_str()).collect(),
        _ => Vec::new(),
    };
    let checked = |i: usize, d: &Download| {
        let spec_unverified = written.get(i).is_some_and(|s| *s == "unverified");
        Fetch {
            what: d.url.clone(),
            checksum: match &d.sha256 {
                None => Checksum::Unverified {
                    reason: (!d.unverified_reason.is_empty()).then(|| d.unverified_reason.clone()),
                },
                Some(_) if spec_unverified => Checksum::Locked,
                Some(_) => Checksum::Sha256,
            },
        }
    };
    match &resolved.install {
        Install::Archive { download, .. } | Install::Installer { download, .. } => {
            vec![checked(0, download)]
        }
        Install::Commands { downloads, .. } => downloads
            .iter()
            .enumerate()
            .map(|(i, d)| checked(i, d))
            .collect(),
        Install::Conda {
            channel, packages, ..
        } => {
            let checksum = if conda_locked(spec, tool, arch, source) {
                Checksum::Locked
            } else {
                Checksum::Unlocked
            };
            packages
                .iter()
                .map(|p| Fetch {
                    what: format!("{channel}::{p}"),
                    checksum: checksum.clone(),
                })
                .collect()
        }
        Install::CondaEnv { file, .. } => vec![Fetch {
            what: file.clone(),
            checksum: Checksum::NotChecked,
        }],
        Install::Pip { packages, .. } | Install::Apt { packages, .. } => vec![Fetch {
            what: packages.join(" "),
            checksum: Checksum::NotChecked,
        }],
        Install::BaseImage {} => Vec::new(),
    }
}

/// Whether the lock file pins the build of a conda source: the lookup `resolve` makes, so the
/// answer matches the `name=version=build` the Dockerfile installs.
fn conda_locked(spec: &Spec, tool: &Tool, arch: Arch, source: Option<&Source>) -> bool {
    let Some(Source::Conda(c)) = source else {
        return false;
    };
    let package = c.package.as_deref().unwrap_or(&tool.name);
    let name = package.split('=').next().unwrap_or(package);
    let version = tool.version.as_deref().unwrap_or_default();
    spec.lock
        .conda_build(&tool.name, arch.name(), &c.channel, name, version)
        .is_some()
}

fn env_summary(sides: &[Side<'_>]) -> EnvSummary {
    // Each platform's environment as the final image has it: the image's own, then each
    // tool's in install order; a later value wins, as a later `ENV` does.
    let finals: Vec<(&str, IndexMap<&str, &str>)> = sides
        .iter()
        .map(|side| {
            let p = side.resolved;
            let mut vars = IndexMap::new();
            let tools = p.tools.iter().flat_map(|t| t.env.iter().flatten());
            for (k, v) in p.env.iter().flatten().chain(tools) {
                vars.insert(k.as_str(), v.as_str());
            }
            (side.arch.name(), vars)
        })
        .collect();
    let names: IndexSet<&str> = finals
        .iter()
        .flat_map(|(_, vars)| vars.keys().copied())
        .collect();
    let mut differing = Vec::new();
    let mut same = 0;
    for name in names {
        let values: Vec<Option<&str>> = finals
            .iter()
            .map(|(_, vars)| vars.get(name).copied())
            .collect();
        let first = values.first().copied().flatten();
        if first.is_some() && values.iter().all(|v| *v == first) {
            same += 1;
            continue;
        }
        differing.push(EnvRow {
            name: name.to_string(),
            values: finals
                .iter()
                .zip(values)
                .map(|((platform, _), value)| EnvValue {
                    platform: platform.to_string(),
                    value: value.map(str::to_string),
                })
                .collect(),
        });
    }
    EnvSummary { differing, same }
}

/// What an output file is, from its kind and the key naming its path.
fn output_what(id: &str, key: &str) -> String {
    match id {
        "platform-dockerfile" => match key
            .strip_prefix("/platforms/")
            .and_then(|k| k.strip_suffix("/dockerfile"))
        {
            Some(arch) => format!("Dockerfile for {arch}"),
            None => "Dockerfile for one platform".to_string(),
        },
        "multi-arch-dockerfile" => {
            "Dockerfile for every platform, its final stage picked by TARGETARCH".to_string()
        }
        "validation-script" => "validation script, run in the image on every platform".to_string(),
        "workflow" => "publish workflow".to_string(),
        other => other.to_string(),
    }
}

/// This image's jobs in the publish workflow (`templates/publish-images.yml.j2`), with the
/// runners `outputs.rs` gives its matrix rows.
fn ci_summary(resolved: &Resolved, name: &str) -> CiSummary {
    let ci = &resolved.ci;
    let job = crate::outputs::job_id(name);
    // The QEMU strategy runs every platform on the hosted runner, emulated where it is not
    // amd64; the native one runs each on its own runner.
    let matrix: Vec<JobRun> = resolved
        .platforms
        .iter()
        .map(|p| JobRun {
            platforms: vec![p.arch.clone()],
            runner: if ci.native {
                p.runner.clone()
            } else {
                HOSTED.to_string()
            },
            qemu: if ci.native { p.qemu } else { p.arch != "amd64" },
        })
        .collect();
    let hosted = || {
        vec![JobRun {
            platforms: Vec::new(),
            runner: HOSTED.to_string(),
            qemu: false,
        }]
    };
    let mut jobs = Vec::new();
    if ci.pull_requests {
        let check = format!("check-{job}");
        jobs.push(Job {
            id: "changes".to_string(),
            on: JobOn::PullRequest,
            needs: Vec::new(),
            shared: true,
            runs: hosted(),
        });
        jobs.push(Job {
            id: check.clone(),
            on: JobOn::PullRequest,
            needs: vec!["changes".to_string()],
            shared: false,
            runs: matrix.clone(),
        });
        jobs.push(Job {
            id: "checks".to_string(),
            on: JobOn::PullRequest,
            needs: vec!["changes".to_string(), check],
            shared: true,
            runs: hosted(),
        });
    }
    let build = format!("build-{job}");
    let build_runs = if ci.native {
        matrix.clone()
    } else {
        vec![JobRun {
            platforms: resolved.platforms.iter().map(|p| p.arch.clone()).collect(),
            runner: HOSTED.to_string(),
            qemu: resolved.platforms.iter().any(|p| p.arch != "amd64"),
        }]
    };
    jobs.push(Job {
        id: build.clone(),
        on: JobOn::Publish,
        needs: Vec::new(),
        shared: false,
        runs: build_runs,
    });
    let merge = format!("merge-{job}");
    let mut merge_needs = vec![build.clone()];
    // The test job runs the validation script, so it exists only with one.
    if resolved.validation_script.is_some() {
        let test = format!("test-{job}");
        jobs.push(Job {
            id: test.clone(),
            on: JobOn::Publish,
            needs: vec![build],
            shared: false,
            runs: matrix,
        });
        merge_needs.push(test);
    }
    jobs.push(Job {
        id: merge.clone(),
        on: JobOn::Publish,
        needs: merge_needs,
        shared: false,
        runs: hosted(),
    });
    if ci.attest || ci.sign {
        jobs.push(Job {
            id: format!("attest-{job}"),
            on: JobOn::Publish,
            needs: vec![merge],
            shared: false,
            runs: hosted(),
        });
    }
    CiSummary {
        workflow: ci.workflow.clone(),
        strategy: if ci.native { "native" } else { "qemu" },
        jobs,
    }
}

/// A part of a section, its cells already escaped for the format.
enum Block {
    /// Label and value pairs.
    Facts(Vec<(&'static str, String)>),
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// A sentence.
    Line(String),
}

struct Section {
    /// `None` for the facts under the report's title.
    title: Option<&'static str>,
    blocks: Vec<Block>,
}

/// The report's title and sections.
struct Document {
    title: String,
    sections: Vec<Section>,
}

/// Lay the context out in sections; `esc` escapes every string that comes from the spec.
fn document(ctx: &Explanation, esc: fn(&str) -> String) -> Document {
    let platforms: Vec<String> = ctx.platforms.iter().map(|p| esc(p)).collect();
    let intro = Section {
        title: None,
        blocks: vec![Block::Facts(vec![
            ("spec", esc(&ctx.spec)),
            ("image", esc(&ctx.image)),
            ("platforms", platforms.join(", ")),
        ])],
    };
    Document {
        title: format!("{}: how the platforms differ", esc(&ctx.name)),
        sections: vec![
            intro,
            bases_section(ctx, esc),
            tools_section(ctx, &platforms, esc),
            fetches_section(ctx, esc),
            env_section(ctx, &platforms, esc),
            outputs_section(ctx, esc),
            ci_section(ctx, esc),
        ],
    }
}

fn bases_section(ctx: &Explanation, esc: fn(&str) -> String) -> Section {
    // The stage column only when the spec has stages: otherwise every row is the image's.
    let stages = ctx.bases.iter().any(|b| b.stage.is_some());
    let mut header = vec!["platform".to_string()];
    if stages {
        header.push("stage".to_string());
    }
    header.extend(["image", "tag", "digest", "state"].map(str::to_string));
    let rows: Vec<Vec<String>> = ctx
        .bases
        .iter()
        .map(|b| {
            let mut row = vec![esc(&b.platform)];
            if stages {
                // Stage names have no parentheses, so this cannot be read as one.
                row.push(
                    b.stage
                        .as_deref()
                        .map_or_else(|| "(image)".to_string(), esc),
                );
            }
            row.push(esc(&b.image));
            row.push(esc(&b.tag));
            row.push(
                b.digest
                    .as_deref()
                    .map_or_else(|| NOTHING.to_string(), |d| esc(&short_digest(d))),
            );
            row.push(match (b.state, &b.reason) {
                (BaseState::Pinned, _) => "pinned".to_string(),
                (BaseState::Locked, _) => "locked".to_string(),
                (BaseState::Floating, Some(reason)) => format!("floating: {}", esc(reason)),
                (BaseState::Floating, None) => "floating".to_string(),
            });
            row
        })
        .collect();
    Section {
        title: Some("Bases"),
        blocks: vec![Block::Table { header, rows }],
    }
}

/// `sha256:` and 12 hex digits tell digests apart at a glance; the JSON has them whole.
fn short_digest(digest: &str) -> String {
    let shown: String = digest.chars().take(19).collect();
    if shown.len() < digest.len() {
        format!("{shown}…")
    } else {
        shown
    }
}

fn tools_section(ctx: &Explanation, platforms: &[String], esc: fn(&str) -> String) -> Section {
    if ctx.tools.is_empty() {
        return Section {
            title: Some("Tools"),
            blocks: vec![Block::Line("The spec installs no tools.".to_string())],
        };
    }
    let header: Vec<String> = std::iter::once("tool".to_string())
        .chain(platforms.iter().cloned())
        .collect();
    let rows: Vec<Vec<String>> = ctx
        .tools
        .iter()
        .map(|t| {
            std::iter::once(esc(&t.name))
                .chain(t.platforms.iter().map(|c| tool_summary(c, esc)))
                .collect()
        })
        .collect();
    Section {
        title: Some("Tools"),
        blocks: vec![Block::Table { header, rows }],
    }
}

/// A tool on one platform in a few words: kind, version and the weakest checksum state.
fn tool_summary(cell: &ToolCell, esc: fn(&str) -> String) -> String {
    if cell.kind == "none" {
        return match &cell.reason {
            Some(reason) => format!("none: {}", esc(reason)),
            None => "none".to_string(),
        };
    }
    let mut out = cell.kind.to_string();
    if let Some(version) = &cell.version {
        out.push(' ');
        out.push_str(&esc(version));
    }
    let weakest = cell
        .fetches
        .iter()
        .map(|f| &f.checksum)
        .max_by_key(|c| c.rank());
    if let Some(c) = weakest
        && *c != Checksum::NotChecked
    {
        out.push_str(&format!(" ({})", c.word()));
    }
    out
}

fn fetches_section(ctx: &Explanation, esc: fn(&str) -> String) -> Section {
    let header: Vec<String> = ["tool", "platform", "kind", "fetches", "checksum"]
        .map(str::to_string)
        .to_vec();
    let mut rows = Vec::new();
    for tool in &ctx.tools {
        for cell in &tool.platforms {
            for fetch in &cell.fetches {
                let checksum = match &fetch.checksum {
                    Checksum::Unverified {
                        reason: Some(reason),
                    } => format!("unverified: {}", esc(reason)),
                    other => other.word().to_string(),
                };
                rows.push(vec![
                    esc(&tool.name),
                    esc(&cell.platform),
                    cell.kind.to_string(),
                    esc(&fetch.what),
                    checksum,
                ]);
            }
        }
    }
    let block = if rows.is_empty() {
        Block::Line("No tool downloads anything or installs a package.".to_string())
    } else {
        Block::Table { header, rows }
    };
    Section {
        title: Some("What each platform fetches"),
        blocks: vec![block],
    }
}

fn env_section(ctx: &Explanation, platforms: &[String], esc: fn(&str) -> String) -> Section {
    let same = match ctx.env.same {
        1 => "1 variable is".to_string(),
        n => format!("{n} variables are"),
    };
    let mut blocks = Vec::new();
    if ctx.env.differing.is_empty() {
        blocks.push(Block::Line(if ctx.env.same == 0 {
            "The image sets no environment variables.".to_string()
        } else {
            format!("No variable differs between platforms; {same} the same on every platform.")
        }));
    } else {
        let header: Vec<String> = std::iter::once("variable".to_string())
            .chain(platforms.iter().cloned())
            .collect();
        let rows: Vec<Vec<String>> = ctx
            .env
            .differing
            .iter()
            .map(|row| {
                std::iter::once(esc(&row.name))
                    .chain(row.values.iter().map(|v| match v.value.as_deref() {
                        None => "(unset)".to_string(),
                        Some("") => "\"\"".to_string(),
                        Some(value) => esc(value),
                    }))
                    .collect()
            })
            .collect();
        blocks.push(Block::Table { header, rows });
        if ctx.env.same > 0 {
            blocks.push(Block::Line(format!(
                "{same} the same on every platform (not listed)."
            )));
        }
    }
    Section {
        title: Some("Environment"),
        blocks,
    }
}

fn outputs_section(ctx: &Explanation, esc: fn(&str) -> String) -> Section {
    let header = vec!["path".to_string(), "output".to_string()];
    let rows: Vec<Vec<String>> = ctx
        .outputs
        .iter()
        .map(|o| {
            let mut what = esc(&o.what);
            if o.shared {
                what.push_str(", shared with every spec naming it");
            }
            vec![esc(&o.path), what]
        })
        .collect();
    Section {
        title: Some("Outputs"),
        blocks: vec![Block::Table { header, rows }],
    }
}

fn ci_section(ctx: &Explanation, esc: fn(&str) -> String) -> Section {
    let strategy = match ctx.ci.strategy {
        "native" => "native: each platform built on its own runner, merged by digest",
        _ => "qemu: one job builds every platform under QEMU",
    };
    let facts = Block::Facts(vec![
        ("workflow", esc(&ctx.ci.workflow)),
        ("strategy", strategy.to_string()),
    ]);
    let header: Vec<String> = ["job", "on", "needs", "platform", "runner"]
        .map(str::to_string)
        .to_vec();
    let mut rows = Vec::new();
    for job in &ctx.ci.jobs {
        let mut id = esc(&job.id);
        if job.shared {
            id.push_str(" (shared)");
        }
        let on = match job.on {
            JobOn::PullRequest => "pull request",
            JobOn::Publish => "publish",
        };
        let needs = if job.needs.is_empty() {
            NOTHING.to_string()
        } else {
            job.needs
                .iter()
                .map(|n| esc(n))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // A matrix job has a line per platform; its name, trigger and needs only on the first.
        let mut first = Some((id, on.to_string(), needs));
        for run in &job.runs {
            let (id, on, needs) = first.take().unwrap_or_default();
            let platforms = if run.platforms.is_empty() {
                NOTHING.to_string()
            } else {
                run.platforms
                    .iter()
                    .map(|p| esc(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut runner = esc(&run.runner);
            if run.qemu {
                runner.push_str(" (QEMU)");
            }
            rows.push(vec![id, on, needs, platforms, runner]);
        }
    }
    Section {
        title: Some("CI jobs"),
        blocks: vec![facts, Block::Table { header, rows }],
    }
}

fn render_text(doc: &Document) -> String {
    let mut out = String::new();
    out.push_str(&doc.title);
    out.push('\n');
    for section in &doc.sections {
        out.push('\n');
        if let Some(title) = section.title {
            out.push_str(title);
            out.push('\n');
        }
        for (i, block) in section.blocks.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            match block {
                Block::Facts(facts) => {
                    let width = facts
                        .iter()
                        .map(|(label, _)| label.chars().count())
                        .max()
                        .unwrap_or(0);
                    for (label, value) in facts {
                        out.push_str(&format!("  {label:<width$}  {value}\n"));
                    }
                }
                Block::Table { header, rows } => text_table(&mut out, header, rows),
                Block::Line(line) => {
                    out.push_str("  ");
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
    }
    without_trailing_spaces(&out)
}

/// Columns as wide as their widest cell (in characters), two spaces apart, a rule under the
/// header.
fn text_table(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let lines = std::iter::once(header)
        .chain(std::iter::once(rule.as_slice()))
        .chain(rows.iter().map(Vec::as_slice));
    for row in lines {
        let mut line = String::from("  ");
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let width = widths.get(i).copied().unwrap_or(0);
            line.push_str(&format!("{cell:<width$}"));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

fn render_markdown(doc: &Document) -> String {
    let mut out = format!("# {}\n", doc.title);
    for section in &doc.sections {
        if let Some(title) = section.title {
            out.push_str(&format!("\n## {title}\n"));
        }
        for block in &section.blocks {
            out.push('\n');
            match block {
                Block::Facts(facts) => {
                    for (label, value) in facts {
                        out.push_str(&format!("- {label}: {value}\n"));
                    }
                }
                Block::Table { header, rows } => {
                    markdown_row(&mut out, header);
                    out.push('|');
                    for _ in header {
                        out.push_str(" --- |");
                    }
                    out.push('\n');
                    for row in rows {
                        markdown_row(&mut out, row);
                    }
                }
                Block::Line(line) => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
    }
    without_trailing_spaces(&out)
}

fn markdown_row(out: &mut String, cells: &[String]) {
    out.push('|');
    for cell in cells {
        out.push(' ');
        out.push_str(cell);
        out.push_str(" |");
    }
    out.push('\n');
}

fn render_json(ctx: &Explanation) -> String {
    match serde_json::to_string_pretty(ctx) {
        Ok(mut text) => {
            text.push('\n');
            text
        }
        // Strings, numbers and lists always serialise; should that ever fail, say so in JSON
        // rather than panic.
        Err(e) => format!("{}\n", serde_json::json!({ "error": e.to_string() })),
    }
}

/// Spec text made inert for a terminal: a control character (an escape sequence, a line
/// break that would forge a row) becomes `?`, a bidirectional override a visible stand-in.
fn text_cell(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            c if c.is_control() => '?',
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}' => {
                '\u{fffd}'
            }
            c => c,
        })
        .collect()
}

/// Characters Markdown or GitHub would read as syntax in a table cell: `|` ends the cell, a
/// backtick opens code, `$` GitHub's math, `<` HTML, `&` an entity, the rest emphasis or
/// links; `\` itself, so an escape cannot be cancelled by the text before it.
const MARKDOWN_SPECIAL: &str = "\\`|*_[]<>~&$";

/// Spec text for a Markdown cell: inert as in text, every special character backslash-escaped.
fn markdown_cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text_cell(text).chars() {
        if MARKDOWN_SPECIAL.contains(c) {
            out.push('\\');
        }
        out.push(c);
        // A word joiner after `@` and `#`: a spec posted as a pull-request comment neither
        // mentions anyone (`@org/team`) nor links an issue (`#1`).
        if c == '@' || c == '#' {
            out.push('\u{2060}');
        }
    }
    out
}

fn without_trailing_spaces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two platforms; one tool downloaded on amd64 (with a sha256) and a conda package on
    /// arm64; variables that differ, one of them with a `|`.
    const SPEC: &str = r#"name: demo
owner: example
validation-script: generated/validate-demo.sh
platforms:
  amd64:
    base:
      image: debian
      tag: bookworm-slim
      digest: sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2
    runner: ubuntu-latest
    dockerfile: generated/Dockerfile.demo.amd64
  arm64:
    base:
      image: debian
      tag: bookworm-slim
      unpinned-reason: the arm64 digest is recorded by `qmspec lock`
      provides: [micromamba]
    runner: ubuntu-24.04-arm
    dockerfile: generated/Dockerfile.demo.arm64
apt:
  packages: [ca-certificates=20230311, wget=1.21.3-1+b2]
env:
  LANG: C.UTF-8
  OMP_NUM_THREADS: "4"
platform-env:
  amd64:
    PAGER: less|more
  arm64:
    OMP_NUM_THREADS: "1"
tools:
  - name: hello
    version: "2.12"
    check: hello --version
    sources:
      amd64:
        kind: archive
        url: https://example.org/hello-{{version}}-x86_64.tar.gz
        sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
        dest: /opt/hello
        path: [/opt/hello]
      arm64:
        kind: conda
        channel: conda-forge
        via: micromamba
ci:
  workflow: generated/publish-demo.yml
"#;

    fn spec() -> Spec {
        let loaded = crate::load::load(SPEC.as_bytes());
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        loaded.spec.expect("a valid spec")
    }

    fn json(spec: &Spec) -> serde_json::Value {
        serde_json::from_str(&explain(spec, "specs/demo.yaml", Format::Json)).expect("JSON")
    }

    #[test]
    fn text_lines_up_how_the_platforms_differ() {
        let text = explain(&spec(), "specs/demo.yaml", Format::Text);
        insta::assert_snapshot!(text, @"
        demo: how the platforms differ

          spec       specs/demo.yaml
          image      ghcr.io/example/demo
          platforms  amd64, arm64

        Bases
          platform  image   tag            digest                state
          --------  ------  -------------  --------------------  -------------------------------------------------------
          amd64     debian  bookworm-slim  sha256:b4d4d5c9ab2f…  pinned
          arm64     debian  bookworm-slim  —                     floating: the arm64 digest is recorded by `qmspec lock`

        Tools
          tool   amd64                  arm64
          -----  ---------------------  ---------------------
          hello  archive 2.12 (sha256)  conda 2.12 (unlocked)

        What each platform fetches
          tool   platform  kind     fetches                                       checksum
          -----  --------  -------  --------------------------------------------  --------
          hello  amd64     archive  https://example.org/hello-2.12-x86_64.tar.gz  sha256
          hello  arm64     conda    conda-forge::hello=2.12                       unlocked

        Environment
          variable         amd64      arm64
          ---------------  ---------  -------
          OMP_NUM_THREADS  4          1
          PAGER            less|more  (unset)
          QMSPEC_PLATFORM  amd64      arm64

          1 variable is the same on every platform (not listed).

        Outputs
          path                             output
          -------------------------------  -----------------------------------------------------
          generated/Dockerfile.demo.amd64  Dockerfile for amd64
          generated/Dockerfile.demo.arm64  Dockerfile for arm64
          generated/validate-demo.sh       validation script, run in the image on every platform
          generated/publish-demo.yml       publish workflow, shared with every spec naming it

        CI jobs
          workflow  generated/publish-demo.yml
          strategy  native: each platform built on its own runner, merged by digest

          job               on            needs                  platform  runner
          ----------------  ------------  ---------------------  --------  ----------------
          changes (shared)  pull request  —                      —         ubuntu-latest
          check-demo        pull request  changes                amd64     ubuntu-latest
                                                                 arm64     ubuntu-24.04-arm
          checks (shared)   pull request  changes, check-demo    —         ubuntu-latest
          build-demo        publish       —                      amd64     ubuntu-latest
                                                                 arm64     ubuntu-24.04-arm
          test-demo         publish       build-demo             amd64     ubuntu-latest
                                                                 arm64     ubuntu-24.04-arm
          merge-demo        publish       build-demo, test-demo  —         ubuntu-latest
          attest-demo       publish       merge-demo             —         ubuntu-latest
        ");
        assert!(text.contains("archive 2.12 (sha256)"), "{text}");
        assert!(text.contains("conda 2.12 (unlocked)"), "{text}");
        assert!(text.contains("conda-forge::hello=2.12"), "{text}");
        assert!(text.lines().all(|l| l == l.trim_end()), "{text}");
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"));
    }

    #[test]
    fn markdown_has_a_heading_per_section_and_escaped_tables() {
        let md = explain(&spec(), "specs/demo.yaml", Format::Markdown);
        insta::assert_snapshot!(md, @r"
        # demo: how the platforms differ

        - spec: specs/demo.yaml
        - image: ghcr.io/example/demo
        - platforms: amd64, arm64

        ## Bases

        | platform | image | tag | digest | state |
        | --- | --- | --- | --- | --- |
        | amd64 | debian | bookworm-slim | sha256:b4d4d5c9ab2f… | pinned |
        | arm64 | debian | bookworm-slim | — | floating: the arm64 digest is recorded by \`qmspec lock\` |

        ## Tools

        | tool | amd64 | arm64 |
        | --- | --- | --- |
        | hello | archive 2.12 (sha256) | conda 2.12 (unlocked) |

        ## What each platform fetches

        | tool | platform | kind | fetches | checksum |
        | --- | --- | --- | --- | --- |
        | hello | amd64 | archive | https://example.org/hello-2.12-x86\_64.tar.gz | sha256 |
        | hello | arm64 | conda | conda-forge::hello=2.12 | unlocked |

        ## Environment

        | variable | amd64 | arm64 |
        | --- | --- | --- |
        | OMP\_NUM\_THREADS | 4 | 1 |
        | PAGER | less\|more | (unset) |
        | QMSPEC\_PLATFORM | amd64 | arm64 |

        1 variable is the same on every platform (not listed).

        ## Outputs

        | path | output |
        | --- | --- |
        | generated/Dockerfile.demo.amd64 | Dockerfile for amd64 |
        | generated/Dockerfile.demo.arm64 | Dockerfile for arm64 |
        | generated/validate-demo.sh | validation script, run in the image on every platform |
        | generated/publish-demo.yml | publish workflow, shared with every spec naming it |

        ## CI jobs

        - workflow: generated/publish-demo.yml
        - strategy: native: each platform built on its own runner, merged by digest

        | job | on | needs | platform | runner |
        | --- | --- | --- | --- | --- |
        | changes (shared) | pull request | — | — | ubuntu-latest |
        | check-demo | pull request | changes | amd64 | ubuntu-latest |
        |  |  |  | arm64 | ubuntu-24.04-arm |
        | checks (shared) | pull request | changes, check-demo | — | ubuntu-latest |
        | build-demo | publish | — | amd64 | ubuntu-latest |
        |  |  |  | arm64 | ubuntu-24.04-arm |
        | test-demo | publish | build-demo | amd64 | ubuntu-latest |
        |  |  |  | arm64 | ubuntu-24.04-arm |
        | merge-demo | publish | build-demo, test-demo | — | ubuntu-latest |
        | attest-demo | publish | merge-demo | — | ubuntu-latest |
        ");
        assert!(md.starts_with("# demo: how the platforms differ\n"), "{md}");
        for section in ["Bases", "Tools", "Environment", "Outputs", "CI jobs"] {
            assert!(md.contains(&format!("\n## {section}\n")), "{section}: {md}");
        }
        assert!(
            md.contains("| tool | amd64 | arm64 |\n| --- | --- | --- |\n"),
            "{md}"
        );
        // A `|` in a value stays inside its cell, and a backtick opens no code span.
        assert!(md.contains(r"| PAGER | less\|more | (unset) |"), "{md}");
        assert!(md.contains(r"\`qmspec lock\`"), "{md}");
        assert!(md.lines().all(|l| l == l.trim_end()), "{md}");
    }

    #[test]
    fn json_holds_every_platform_of_every_tool() {
        let spec = spec();
        let text = explain(&spec, "specs/demo.yaml", Format::Json);
        insta::assert_snapshot!(text, @r#"
        {
          "spec": "specs/demo.yaml",
          "name": "demo",
          "image": "ghcr.io/example/demo",
          "platforms": [
            "amd64",
            "arm64"
          ],
          "bases": [
            {
              "platform": "amd64",
              "stage": null,
              "image": "debian",
              "tag": "bookworm-slim",
              "digest": "sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2",
              "state": "pinned",
              "reason": null
            },
            {
              "platform": "arm64",
              "stage": null,
              "image": "debian",
              "tag": "bookworm-slim",
              "digest": null,
              "state": "floating",
              "reason": "the arm64 digest is recorded by `qmspec lock`"
            }
          ],
          "tools": [
            {
              "name": "hello",
              "platforms": [
                {
                  "platform": "amd64",
                  "kind": "archive",
                  "version": "2.12",
                  "fetches": [
                    {
                      "what": "https://example.org/hello-2.12-x86_64.tar.gz",
                      "checksum": {
                        "state": "sha256"
                      }
                    }
                  ],
                  "reason": null
                },
                {
                  "platform": "arm64",
                  "kind": "conda",
                  "version": "2.12",
                  "fetches": [
                    {
                      "what": "conda-forge::hello=2.12",
                      "checksum": {
                        "state": "unlocked"
                      }
                    }
                  ],
                  "reason": null
                }
              ]
            }
          ],
          "env": {
            "differing": [
              {
                "name": "OMP_NUM_THREADS",
                "values": [
                  {
                    "platform": "amd64",
                    "value": "4"
                  },
                  {
                    "platform": "arm64",
                    "value": "1"
                  }
                ]
              },
              {
                "name": "PAGER",
                "values": [
                  {
                    "platform": "amd64",
                    "value": "less|more"
                  },
                  {
                    "platform": "arm64",
                    "value": null
                  }
                ]
              },
              {
                "name": "QMSPEC_PLATFORM",
                "values": [
                  {
                    "platform": "amd64",
                    "value": "amd64"
                  },
                  {
                    "platform": "arm64",
                    "value": "arm64"
                  }
                ]
              }
            ],
            "same": 1
          },
          "outputs": [
            {
              "path": "generated/Dockerfile.demo.amd64",
              "kind": "platform-dockerfile",
              "what": "Dockerfile for amd64",
              "shared": false
            },
            {
              "path": "generated/Dockerfile.demo.arm64",
              "kind": "platform-dockerfile",
              "what": "Dockerfile for arm64",
              "shared": false
            },
            {
              "path": "generated/validate-demo.sh",
              "kind": "validation-script",
              "what": "validation script, run in the image on every platform",
              "shared": false
            },
            {
              "path": "generated/publish-demo.yml",
              "kind": "workflow",
              "what": "publish workflow",
              "shared": true
            }
          ],
          "ci": {
            "workflow": "generated/publish-demo.yml",
            "strategy": "native",
            "jobs": [
              {
                "id": "changes",
                "on": "pull-request",
                "needs": [],
                "shared": true,
                "runs": [
                  {
                    "platforms": [],
                    "runner": "ubuntu-latest",
                    "qemu": false
                  }
                ]
              },
              {
                "id": "check-demo",
                "on": "pull-request",
                "needs": [
                  "changes"
                ],
                "shared": false,
                "runs": [
                  {
                    "platforms": [
                      "amd64"
                    ],
                    "runner": "ubuntu-latest",
                    "qemu": false
                  },
                  {
                    "platforms": [
                      "arm64"
                    ],
                    "runner": "ubuntu-24.04-arm",
                    "qemu": false
                  }
                ]
              },
              {
                "id": "checks",
                "on": "pull-request",
                "needs": [
                  "changes",
                  "check-demo"
                ],
                "shared": true,
                "runs": [
                  {
                    "platforms": [],
                    "runner": "ubuntu-latest",
                    "qemu": false
                  }
                ]
              },
              {
                "id": "build-demo",
                "on": "publish",
                "needs": [],
                "shared": false,
                "runs": [
                  {
                    "platforms": [
                      "amd64"
                    ],
                    "runner": "ubuntu-latest",
                    "qemu": false
                  },
                  {
                    "platforms": [
                      "arm64"
                    ],
                    "runner": "ubuntu-24.04-arm",
                    "qemu": false
                  }
                ]
              },
              {
                "id": "test-demo",
                "on": "publish",
                "needs": [
                  "build-demo"
                ],
                "shared": false,
                "runs": [
                  {
                    "platforms": [
                      "amd64"
                    ],
                    "runner": "ubuntu-latest",
                    "qemu": false
                  },
                  {
                    "platforms": [
                      "arm64"
                    ],
                    "runner": "ubuntu-24.04-arm",
                    "qemu": false
                  }
                ]
              },
              {
                "id": "merge-demo",
                "on": "publish",
                "needs": [
                  "build-demo",
                  "test-demo"
                ],
                "shared": false,
                "runs": [
                  {
                    "platforms": [],
                    "runner": "ubuntu-latest",
                    "qemu": false
                  }
                ]
              },
              {
                "id": "attest-demo",
                "on": "publish",
                "needs": [
                  "merge-demo"
                ],
                "shared": false,
                "runs": [
                  {
                    "platforms": [],
                    "runner": "ubuntu-latest",
                    "qemu": false
                  }
                ]
              }
            ]
          }
        }
        "#);
        let v = json(&spec);
        assert_eq!(v["platforms"], serde_json::json!(["amd64", "arm64"]));
        let cells = &v["tools"][0]["platforms"];
        assert_eq!(cells[0]["kind"], "archive");
        assert_eq!(cells[0]["fetches"][0]["checksum"]["state"], "sha256");
        assert_eq!(
            cells[0]["fetches"][0]["what"],
            "https://example.org/hello-2.12-x86_64.tar.gz"
        );
        assert_eq!(cells[1]["kind"], "conda");
        assert_eq!(cells[1]["fetches"][0]["checksum"]["state"], "unlocked");
        assert_eq!(v["bases"][0]["state"], "pinned");
        assert_eq!(v["bases"][1]["state"], "floating");
        let differing: Vec<&str> = v["env"]["differing"]
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        // QMSPEC_PLATFORM is the validation script's: set per platform by design.
        assert_eq!(differing, ["OMP_NUM_THREADS", "PAGER", "QMSPEC_PLATFORM"]);
        assert_eq!(v["env"]["same"], 1);
        let jobs: Vec<&str> = v["ci"]["jobs"]
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|j| j["id"].as_str())
            .collect();
        assert_eq!(
            jobs,
            [
                "changes",
                "check-demo",
                "checks",
                "build-demo",
                "test-demo",
                "merge-demo",
                "attest-demo"
            ]
        );
        assert_eq!(v["ci"]["jobs"][3]["runs"][1]["runner"], "ubuntu-24.04-arm");
    }

    #[test]
    fn the_lock_file_closes_what_the_spec_leaves_open() {
        let mut spec = spec();
        if let Some(Source::Archive(a)) = spec.tools[0].sources.amd64.as_mut() {
            a.sha256 = "unverified".to_string();
            a.unverified_reason = Some("no checksum published".to_string());
        }
        let v = json(&spec);
        let amd64 = &v["tools"][0]["platforms"][0]["fetches"][0]["checksum"];
        assert_eq!(amd64["state"], "unverified");
        assert_eq!(amd64["reason"], "no checksum published");

        spec.lock.downloads.push(crate::lock::LockedDownload {
            tool: "hello".to_string(),
            platform: "amd64".to_string(),
            url: "https://example.org/hello-2.12-x86_64.tar.gz".to_string(),
            sha256: "a".repeat(64),
            size: 1,
        });
        spec.lock.bases.push(crate::lock::LockedBase {
            image: "debian".to_string(),
            tag: "bookworm-slim".to_string(),
            platform: "arm64".to_string(),
            digest: format!("sha256:{}", "b".repeat(64)),
        });
        spec.lock.conda.push(crate::lock::LockedConda {
            tool: "hello".to_string(),
            platform: "arm64".to_string(),
            channel: "conda-forge".to_string(),
            package: "hello".to_string(),
            requested: "2.12".to_string(),
            version: "2.12".to_string(),
            build: "h0_1".to_string(),
            subdir: "linux-aarch64".to_string(),
            sha256: "c".repeat(64),
        });
        let v = json(&spec);
        let cells = &v["tools"][0]["platforms"];
        assert_eq!(cells[0]["fetches"][0]["checksum"]["state"], "locked");
        assert_eq!(cells[1]["fetches"][0]["checksum"]["state"], "locked");
        assert_eq!(
            cells[1]["fetches"][0]["what"],
            "conda-forge::hello=2.12=h0_1"
        );
        assert_eq!(v["bases"][1]["state"], "locked");
        assert_eq!(
            v["bases"][1]["digest"],
            format!("sha256:{}", "b".repeat(64))
        );
        assert!(v["bases"][1]["reason"].is_null());
        let text = explain(&spec, "specs/demo.yaml", Format::Text);
        assert!(text.contains("archive 2.12 (locked)"), "{text}");
        assert!(text.contains("sha256:bbbbbbbbbbbb…"), "{text}");
    }

    #[test]
    fn spec_text_cannot_forge_output() {
        let mut spec = spec();
        let hostile = "red\u{1b}[31m|\n| forged | row |\u{7}\u{9b}\u{202e}";
        spec.platform_env
            .amd64
            .as_mut()
            .expect("amd64 env")
            .insert("EVIL".to_string(), hostile.to_string());
        let text = explain(&spec, "specs/demo.yaml", Format::Text);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(!text.contains('\u{202e}'), "{text:?}");
        assert!(
            text.contains("red?[31m|?| forged | row |??\u{fffd}"),
            "{text}"
        );
        let md = explain(&spec, "specs/demo.yaml", Format::Markdown);
        assert!(!md.chars().any(|c| c.is_control() && c != '\n'), "{md:?}");
        assert!(!md.contains("\n| forged"), "{md}");
        assert!(md.contains(r"red?\[31m\|?\| forged \| row \|"), "{md}");
        // JSON keeps the value exactly: serde_json escapes it.
        let v = json(&spec);
        let evil = v["env"]["differing"]
            .as_array()
            .expect("a list")
            .iter()
            .find(|r| r["name"] == "EVIL")
            .expect("EVIL differs");
        assert_eq!(evil["values"][0]["value"], hostile);
        assert!(evil["values"][1]["value"].is_null());
    }

    #[test]
    fn escaping() {
        assert_eq!(text_cell("a\tb\u{7f}c\u{85}"), "a?b?c?");
        assert_eq!(markdown_cell(r"a\|b"), r"a\\\|b");
        assert_eq!(
            markdown_cell("@org/team #1"),
            "@\u{2060}org/team #\u{2060}1"
        );
        assert_eq!(text_cell("a\u{2028}b"), "a\u{fffd}b");
        assert_eq!(markdown_cell("`x` *y* $z <b>"), r"\`x\` \*y\* \$z \<b\>");
        assert_eq!(
            short_digest("sha256:0123456789abcdef"),
            "sha256:0123456789ab…"
        );
        assert_eq!(short_digest("sha256:01"), "sha256:01");
    }
}
