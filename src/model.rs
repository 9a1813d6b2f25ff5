//! The raw spec as written in `specs/*.yaml`: serde types whose doc comments become the schema.
//!
//! Field docs are user documentation: editors show them on hover, so they say what a value does
//! in the generated files, not how qmspec stores it.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Environment variables in the order written; a value may refer to earlier ones as `${NAME}`.
pub type EnvMap = IndexMap<String, String>;

/// A container image built for several CPU architectures and published by CI.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "qmspec worker spec", extend("examples" = [{"name": "qm-nmr-calc-worker", "owner": "steinbeck"}]))]
pub struct Spec {
    /// Image name as published, e.g. `qm-nmr-calc-worker` in `ghcr.io/OWNER/qm-nmr-calc-worker`.
    #[schemars(regex(pattern = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$"), extend("examples" = ["qm-nmr-calc-worker"]))]
    pub name: String,
    /// Container registry the image is pushed to.
    #[serde(default = "default_registry")]
    #[schemars(regex(pattern = r"^[a-z0-9.-]+(?::[0-9]+)?$"), extend("examples" = ["ghcr.io"]))]
    pub registry: String,
    /// Registry namespace (GitHub user or organisation) that owns the image. Leave it out to
    /// publish under the owner of the repository the workflow runs in (lower-cased), so a fork
    /// publishes to its own namespace.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$"), extend("examples" = ["steinbeck"]))]
    pub owner: Option<String>,
    /// OCI labels written into every image (`org.opencontainers.image.*` and any others).
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": "^[a-z0-9]+(?:[._-][a-z0-9]+)*$"}, "x-qmspec-use" = "text"))]
    pub labels: IndexMap<String, String>,
    /// Which Dockerfiles to generate: one per platform (`per-platform`), one with a stage per
    /// platform chosen by BuildKit's `TARGETARCH` (`multi-arch`), or `both`.
    #[serde(default)]
    pub dockerfiles: DockerfileLayout,
    /// Path of the multi-arch Dockerfile, relative to the repository root.
    #[serde(default)]
    #[schemars(extend("examples" = ["generated/Dockerfile.worker"], "x-qmspec-use" = "word"))]
    pub multi_arch_dockerfile: Option<String>,
    /// Path of the generated validation script, relative to the repository root. It runs every
    /// tool's and the app's `check` inside the image, is copied into it, and CI runs it on every
    /// platform before publishing. Leave it out and no script is written or copied.
    #[serde(default)]
    #[schemars(extend("examples" = ["generated/validate-worker.sh"], "x-qmspec-use" = "context-path"))]
    pub validation_script: Option<String>,
    /// The architectures to build, each with its base image, CI runner and Dockerfile.
    pub platforms: PerPlatform<Platform>,
    /// Build arguments (`ARG NAME=default`) every stage declares; `docker build --build-arg`
    /// overrides them, and values may use them as `${NAME}`.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}, "x-qmspec-use" = "env-value"))]
    pub args: IndexMap<String, String>,
    /// Build stages before the final image, in order, e.g. a builder that compiles or resolves
    /// dependencies; the app copies their results with `copy: [{stage: NAME, …}]`.
    #[serde(default)]
    #[schemars(length(max = 32))]
    pub stages: Vec<Stage>,
    /// Debian/Ubuntu packages installed with `apt-get --no-install-recommends` in one layer.
    #[serde(default)]
    pub apt: Apt,
    /// Environment of the image, in order; later values may use `${NAME}` of earlier ones.
    #[serde(default)]
    #[schemars(extend("examples" = [{"OMP_STACKSIZE": "2G"}], "x-qmspec-use" = "env-value"))]
    pub env: EnvMap,
    /// Per-platform environment: overrides or adds to `env` on that platform only.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "env-value"))]
    pub platform_env: PerPlatform<EnvMap>,
    /// Tools installed into the image, each with one version and a source per platform.
    /// At most 256 (one image layer each, and Docker allows 127 layers at most anyway).
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub tools: Vec<Tool>,
    /// The application: virtual environment, files, user and how it runs.
    #[serde(default)]
    pub app: App,
    /// How GitHub Actions builds and publishes the images.
    pub ci: Ci,
    /// What `qmspec lock` recorded for this spec (`specs/NAME.lock`), read beside it.
    #[serde(skip)]
    #[schemars(skip)]
    pub lock: crate::lock::Lock,
}

fn default_registry() -> String {
    "ghcr.io".to_string()
}

/// Which Dockerfiles qmspec writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DockerfileLayout {
    /// One Dockerfile per platform, at each platform's `dockerfile` path.
    #[default]
    PerPlatform,
    /// One Dockerfile with a stage per platform, at `multi-arch-dockerfile`.
    MultiArch,
    /// Both of the above.
    Both,
}

/// A value for each CPU architecture; leave out the ones you do not build.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, bound(deserialize = "T: Deserialize<'de>"))]
#[schemars(rename = "PerPlatform_{T}")]
pub struct PerPlatform<T> {
    /// x86-64 (`linux/amd64`): Intel and AMD servers and PCs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amd64: Option<T>,
    /// 64-bit ARM (`linux/arm64`): Apple Silicon, AWS Graviton, Ampere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm64: Option<T>,
    /// 64-bit POWER, little endian (`linux/ppc64le`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ppc64le: Option<T>,
    /// IBM Z (`linux/s390x`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s390x: Option<T>,
    /// 64-bit RISC-V (`linux/riscv64`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub riscv64: Option<T>,
}

impl<T> Default for PerPlatform<T> {
    fn default() -> Self {
        PerPlatform {
            amd64: None,
            arm64: None,
            ppc64le: None,
            s390x: None,
            riscv64: None,
        }
    }
}

impl<T> PerPlatform<T> {
    /// The entries that are present, in the fixed platform order.
    pub fn iter(&self) -> impl Iterator<Item = (Arch, &T)> {
        [
            (Arch::Amd64, self.amd64.as_ref()),
            (Arch::Arm64, self.arm64.as_ref()),
            (Arch::Ppc64le, self.ppc64le.as_ref()),
            (Arch::S390x, self.s390x.as_ref()),
            (Arch::Riscv64, self.riscv64.as_ref()),
        ]
        .into_iter()
        .filter_map(|(a, v)| v.map(|v| (a, v)))
    }

    pub fn get(&self, arch: Arch) -> Option<&T> {
        match arch {
            Arch::Amd64 => self.amd64.as_ref(),
            Arch::Arm64 => self.arm64.as_ref(),
            Arch::Ppc64le => self.ppc64le.as_ref(),
            Arch::S390x => self.s390x.as_ref(),
            Arch::Riscv64 => self.riscv64.as_ref(),
        }
    }
}

// Adding an architecture means adding a field to `PerPlatform` and a row to the tables below;
// nothing else names architectures.
/// A CPU architecture, as Docker and BuildKit's `TARGETARCH` name it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Amd64,
    Arm64,
    Ppc64le,
    S390x,
    Riscv64,
}

impl Arch {
    pub const ALL: [Arch; 5] = [
        Arch::Amd64,
        Arch::Arm64,
        Arch::Ppc64le,
        Arch::S390x,
        Arch::Riscv64,
    ];

    /// The name used in Docker platforms and BuildKit's `TARGETARCH`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
            Arch::Ppc64le => "ppc64le",
            Arch::S390x => "s390x",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// Names this architecture goes by in download file names (lower case).
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Arch::Amd64 => &["x86_64", "x86-64", "amd64", "x64"],
            Arch::Arm64 => &["aarch64", "arm64"],
            Arch::Ppc64le => &["ppc64le", "powerpc64le"],
            Arch::S390x => &["s390x"],
            Arch::Riscv64 => &["riscv64"],
        }
    }

    pub fn docker_platform(self) -> String {
        format!("linux/{}", self.name())
    }
}

/// One architecture's build: base image, CI runner and output Dockerfile.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Platform {
    /// The image this platform's Dockerfile starts `FROM`.
    pub base: BaseImage,
    /// GitHub-hosted runner label that builds this platform, e.g. `ubuntu-latest` (x86-64) or
    /// `ubuntu-24.04-arm` (ARM64).
    #[schemars(extend("examples" = ["ubuntu-latest", "ubuntu-24.04-arm"], "x-qmspec-use" = "word"))]
    pub runner: String,
    /// `native` when the runner has this CPU; `qemu` to emulate it on the runner (slower).
    #[serde(default)]
    pub emulation: Emulation,
    /// Path of this platform's generated Dockerfile, relative to the repository root.
    #[schemars(extend("examples" = ["generated/Dockerfile.worker.amd64"], "x-qmspec-use" = "word"))]
    pub dockerfile: String,
}

/// How the CI runner executes this platform's build.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Emulation {
    /// The runner's own CPU is this architecture.
    #[default]
    Native,
    /// The runner emulates this architecture with QEMU user-mode.
    Qemu,
}

/// A base image reference, split so that qmspec can check tag and digest separately.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BaseImage {
    /// Repository without tag, e.g. `ghcr.io/nwchemgit/nwchem-dev/amd64`.
    #[schemars(regex(pattern = r"^[a-z0-9]+(?:[._/:-][a-z0-9]+)*$"))]
    pub image: String,
    /// Tag, e.g. `latest` or `7.2.3`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"))]
    pub tag: String,
    /// Content digest that pins the exact image, e.g. `sha256:…`. Without it the build is not
    /// reproducible and `qmspec validate` warns.
    #[serde(default)]
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub digest: Option<String>,
    /// Why this base is used without a digest; written next to the `FROM` line.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "text"))]
    pub unpinned_reason: Option<String>,
    /// `non-root` when the image runs as a user other than root: qmspec switches to root to
    /// install packages and tools (`USER root`), and the app's `user` decides the final user.
    #[serde(default)]
    pub runs_as: RunsAs,
    /// The kind of system the image is: decides the shell `RUN` lines use, the commands qmspec
    /// may count on (see `provides`) and how users are created. `micromamba` is
    /// `mambaorg/micromamba`: its own shell wrapper and `$MAMBA_USER` are kept.
    #[serde(default)]
    pub family: Family,
    /// The shell generated `RUN` lines are written for: `bash` (with `pipefail`), POSIX `sh`,
    /// or `keep` (the base image's own `SHELL`, left as it is). Defaults to the family's.
    #[serde(default)]
    pub shell: Option<Shell>,
    /// Commands the base image has beyond its family's defaults, e.g. `[wget, unzip, python3]`.
    /// qmspec refuses a spec whose generated lines call a command that neither the base nor
    /// an earlier install provides.
    #[serde(default)]
    #[schemars(extend("items" = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._+-]*$"}, "examples" = [["wget", "unzip"]], "x-qmspec-use" = "word"))]
    pub provides: Vec<String>,
}

/// The kind of system a base image is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// Debian and images built on it (`debian`, `python:*-slim`): bash, apt-get, tar, gzip,
    /// sha256sum, useradd and the core utilities. No wget, curl, unzip, xz, bzip2, zstd,
    /// python3 or CA certificates (`ca-certificates`, for https) unless listed.
    #[default]
    Debian,
    /// Ubuntu: the same defaults as Debian.
    Ubuntu,
    /// Alpine: busybox `sh`, wget, tar, gzip, bzip2, xz, unzip, sha256sum, adduser and CA
    /// certificates; no bash and no apt-get.
    Alpine,
    /// A busybox image: `sh`, wget, tar, gzip, bzip2, xz, unzip, sha256sum, adduser.
    Busybox,
    /// `mambaorg/micromamba` (Debian inside): micromamba, its shell wrapper that activates the
    /// environment when `MAMBA_DOCKERFILE_ACTIVATE=1`, and its user `$MAMBA_USER`.
    Micromamba,
    /// Anything else: only `sh` and what `provides` lists (`mkdir`, `rm`, `chmod` and the like
    /// included).
    Other,
}

/// The shell generated `RUN` lines are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Shell {
    /// `/bin/bash` with `pipefail`, `-e` and `-u` (set with `SHELL` when spec commands run).
    Bash,
    /// POSIX `/bin/sh`: no `SHELL` line; spec commands may not use pipes (no `pipefail`).
    Sh,
    /// The base image's own `SHELL`, kept (micromamba's wrapper); written for POSIX `sh`.
    Keep,
}

impl Family {
    /// Commands every image of this family has, before anything is installed.
    pub fn commands(self) -> Vec<&'static str> {
        // Written as words so that `cargo fmt` keeps each family's list on a few lines.
        const CORE: &str = "sh mkdir rm mv chmod chown tar gzip sha256sum";
        const DEBIAN: &str = "bash apt-get groupadd useradd";
        const BUSYBOX: &str = "wget bzip2 xz unzip addgroup adduser";
        let extra = match self {
            Family::Debian | Family::Ubuntu => DEBIAN,
            Family::Alpine => "wget bzip2 xz unzip addgroup adduser ca-certificates",
            Family::Busybox => BUSYBOX,
            Family::Micromamba => "bash apt-get groupadd useradd micromamba ca-certificates",
            Family::Other => return vec!["sh"],
        };
        CORE.split(' ').chain(extra.split(' ')).collect()
    }

    /// The shell `RUN` lines are written for when the spec does not say.
    pub fn default_shell(self) -> Shell {
        match self {
            Family::Debian | Family::Ubuntu => Shell::Bash,
            Family::Alpine | Family::Busybox | Family::Other => Shell::Sh,
            Family::Micromamba => Shell::Keep,
        }
    }
}

impl BaseImage {
    /// The shell this base's `RUN` lines are written for.
    pub fn shell(&self) -> Shell {
        self.shell.unwrap_or(self.family.default_shell())
    }

    /// Whether the base runs as another user than root (micromamba's always does).
    pub fn non_root(&self) -> bool {
        self.runs_as == RunsAs::NonRoot || self.family == Family::Micromamba
    }
}

/// Who a base image runs as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RunsAs {
    /// root: installs need no `USER` switch.
    #[default]
    Root,
    /// A user other than root.
    NonRoot,
}

/// A named build stage: its own base per platform, environment, packages and files. Only what
/// the final image copies from it with `copy: [{stage: NAME, …}]` reaches the image.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Stage {
    /// Stage name, used in `copy: [{stage: NAME}]` (`FROM … AS NAME`).
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_-]{0,62}$"), extend("examples" = ["builder"]))]
    pub name: String,
    /// The stage's base image on each platform the spec builds.
    pub base: PerPlatform<BaseImage>,
    /// Working directory of the stage.
    #[serde(default)]
    #[schemars(extend("examples" = ["/app"], "x-qmspec-use" = "image-path"))]
    pub workdir: Option<String>,
    /// Environment of the stage, in order.
    #[serde(default)]
    #[schemars(extend("examples" = [{"UV_COMPILE_BYTECODE": "1"}], "x-qmspec-use" = "env-value"))]
    pub env: EnvMap,
    /// Distribution packages installed in the stage.
    #[serde(default)]
    pub apt: Apt,
    /// A Python project installed into a virtual environment in this stage.
    #[serde(default)]
    pub python: Option<AppPython>,
    /// Files copied into the stage after the Python dependencies, before the project itself.
    #[serde(default)]
    pub copy: Vec<CopyItem>,
}

/// System packages from the base image's distribution.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Apt {
    /// Packages for every platform, `name` or `name=version`.
    #[serde(default)]
    #[schemars(extend("items" = {"type": "string", "pattern": "^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+:~-]+)?$"}, "x-qmspec-use" = "debian-package"))]
    pub packages: Vec<String>,
    /// Extra packages for one platform only.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "debian-package"))]
    pub platforms: PerPlatform<Vec<String>>,
    /// Why packages are not pinned to versions (`name=version`); written into the Dockerfile.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "text"))]
    pub unpinned_reason: Option<String>,
}

/// A tool with one version and a source per platform.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Tool {
    /// Tool name, unique in the spec; `needs` refers to it.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9._-]*$"), extend("examples" = ["xtb"]))]
    pub name: String,
    /// The one version installed on every platform; URLs use it as `{{version}}`, conda and pip
    /// sources are pinned to it. Quote it: `"6.10"`, not `6.10`. A range (`">=2025.9"`,
    /// `">=1.2,<2"`) is allowed where the installer resolves it (conda and pip sources); a
    /// version written in a URL must then lie within it.
    #[serde(default)]
    #[schemars(
        regex(pattern = r"^([A-Za-z0-9][A-Za-z0-9._+~!-]*|(>=|<=|==|!=|~=|>|<)[A-Za-z0-9][A-Za-z0-9._+*!-]*( ?, ?(>=|<=|==|!=|~=|>|<)[A-Za-z0-9][A-Za-z0-9._+*!-]*)*)$"),
        extend("examples" = ["6.7.1"])
    )]
    pub version: Option<String>,
    /// What the tool is for (shown in the Dockerfile comment).
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "text"))]
    pub description: Option<String>,
    /// Tools (or capabilities, see `provides`) installed before this one, e.g. `conda` before
    /// conda packages.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "word"))]
    pub needs: Vec<String>,
    /// Capabilities this tool offers to others, e.g. `conda` and `python`; `via` and `needs` may
    /// name a capability instead of a tool, so each platform can use a different provider.
    #[serde(default)]
    #[schemars(extend("examples" = [["conda", "python"]], "x-qmspec-use" = "word"))]
    pub provides: Vec<String>,
    /// Environment variables this tool needs, on every platform.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "env-value"))]
    pub env: EnvMap,
    /// Directories prepended to `PATH`, on every platform.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "image-path"))]
    pub path: Vec<String>,
    /// Shell command that proves the tool works inside the image, e.g. `xtb --version`.
    #[serde(default)]
    #[schemars(extend("examples" = ["xtb --version"], "x-qmspec-use" = "command"))]
    pub check: Option<String>,
    /// Where the tool comes from on each platform.
    pub sources: PerPlatform<Source>,
}

/// How a tool is installed on one platform; `kind` selects the fields.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Source {
    /// A release archive downloaded, checked against its sha256 and unpacked.
    #[schemars(title = "archive: release tarball")]
    Archive(ArchiveSource),
    /// A self-extracting shell installer (Miniconda, Miniforge) run in batch mode.
    #[schemars(title = "installer: shell installer")]
    Installer(InstallerSource),
    /// A conda package, pinned to the tool's version.
    #[schemars(title = "conda: conda package")]
    Conda(CondaSource),
    /// A conda environment file (its `pip:` part included) installed by micromamba, mamba or
    /// conda into the base environment.
    #[schemars(title = "conda-env: conda environment file")]
    CondaEnv(CondaEnvSource),
    /// A PyPI package installed into its own virtual environment, pinned to the tool's version.
    #[schemars(title = "pip: Python package")]
    Pip(PipSource),
    /// Distribution packages installed with apt in the tool's own layer.
    #[schemars(title = "apt: system packages")]
    Apt(AptSource),
    /// Already in the base image; nothing is installed, only checked.
    #[schemars(title = "base-image: provided by the base image")]
    BaseImage(BaseImageSource),
    /// Explicit shell commands, the last resort when no typed source fits.
    #[schemars(title = "commands: explicit shell commands")]
    Commands(CommandsSource),
    /// Not installed on this platform, on purpose (reported as a warning).
    #[schemars(title = "none: not available on this platform")]
    None(NoneSource),
}

impl Source {
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Archive(_) => "archive",
            Source::Installer(_) => "installer",
            Source::Conda(_) => "conda",
            Source::CondaEnv(_) => "conda-env",
            Source::Pip(_) => "pip",
            Source::Apt(_) => "apt",
            Source::BaseImage(_) => "base-image",
            Source::Commands(_) => "commands",
            Source::None(_) => "none",
        }
    }
    pub const KINDS: [&'static str; 9] = [
        "archive",
        "installer",
        "conda",
        "conda-env",
        "pip",
        "apt",
        "base-image",
        "commands",
        "none",
    ];
}

/// A download's expected sha256: 64 hex digits, or `unverified` with `unverified-reason`.
pub type Sha256 = String;

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ArchiveSource {
    /// Download URL; `{{version}}` is replaced by the tool's version.
    #[schemars(extend("examples" = ["https://github.com/grimme-lab/xtb/releases/download/v{{version}}/xtb-{{version}}-linux-x86_64.tar.xz"], "x-qmspec-use" = "word"))]
    pub url: String,
    /// Expected sha256 of the download (64 hex digits), or `unverified`.
    #[schemars(regex(pattern = "^([0-9a-f]{64}|unverified)$"))]
    pub sha256: Sha256,
    /// Why the download cannot be verified (required with `sha256: unverified`).
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "text"))]
    pub unverified_reason: Option<String>,
    /// What the download is; read from the URL's ending when left out (`.tar.gz`/`.tgz`,
    /// `.tar.bz2`, `.tar.xz`, `.tar.zst`, `.tar`, `.zip`). `binary`: the download is the program
    /// itself, installed as `dest/<first executable>`.
    #[serde(default)]
    pub format: Option<ArchiveFormat>,
    /// Leading path components dropped while unpacking (`tar --strip-components`; tar formats
    /// only).
    #[serde(default)]
    pub strip_components: u32,
    /// Directory the archive is unpacked into.
    #[schemars(extend("examples" = ["/opt/xtb"], "x-qmspec-use" = "image-path"))]
    pub dest: String,
    /// Files (relative to `dest`) made executable after unpacking.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "word"))]
    pub executables: Vec<String>,
    /// Environment variables of the tool on this platform only, set before its install (its
    /// commands see them) and kept in the image.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "env-value"))]
    pub env: EnvMap,
    /// `PATH` entries of the tool on this platform only, added after its install.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "image-path"))]
    pub path: Vec<String>,
}

impl ArchiveSource {
    /// The format of the download for a tool version: as given, or read from the URL's ending.
    pub fn format_for(&self, version: &str) -> Option<ArchiveFormat> {
        self.format
            .or_else(|| ArchiveFormat::from_url(&self.url.replace("{{version}}", version)))
    }
}

/// The format of a downloaded release, which decides the command that unpacks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ArchiveFormat {
    /// gzip-compressed tar (`.tar.gz`, `.tgz`).
    TarGz,
    /// bzip2-compressed tar (`.tar.bz2`, `.tbz2`).
    TarBz2,
    /// xz-compressed tar (`.tar.xz`, `.txz`).
    TarXz,
    /// zstd-compressed tar (`.tar.zst`, `.tzst`).
    TarZst,
    /// Uncompressed tar (`.tar`).
    Tar,
    /// A zip archive (`.zip`), unpacked with `unzip`.
    Zip,
    /// Not an archive: the download is the program itself.
    Binary,
}

impl ArchiveFormat {
    /// The name a spec writes, e.g. `tar-gz`.
    pub fn name(self) -> &'static str {
        match self {
            ArchiveFormat::TarGz => "tar-gz",
            ArchiveFormat::TarBz2 => "tar-bz2",
            ArchiveFormat::TarXz => "tar-xz",
            ArchiveFormat::TarZst => "tar-zst",
            ArchiveFormat::Tar => "tar",
            ArchiveFormat::Zip => "zip",
            ArchiveFormat::Binary => "binary",
        }
    }

    /// The format a URL's ending names, if it names one.
    pub fn from_url(url: &str) -> Option<ArchiveFormat> {
        let path = url
            .split(['?', '#'])
            .next()
            .unwrap_or(url)
            .to_ascii_lowercase();
        [
            (".tar.gz", ArchiveFormat::TarGz),
            (".tgz", ArchiveFormat::TarGz),
            (".tar.bz2", ArchiveFormat::TarBz2),
            (".tbz2", ArchiveFormat::TarBz2),
            (".tar.xz", ArchiveFormat::TarXz),
            (".txz", ArchiveFormat::TarXz),
            (".tar.zst", ArchiveFormat::TarZst),
            (".tzst", ArchiveFormat::TarZst),
            (".tar", ArchiveFormat::Tar),
            (".zip", ArchiveFormat::Zip),
        ]
        .into_iter()
        .find(|(end, _)| path.ends_with(end))
        .map(|(_, f)| f)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InstallerSource {
    /// Download URL of the installer script; `{{version}}` is replaced by the tool's version.
    #[schemars(extend("x-qmspec-use" = "word"))]
    pub url: String,
    /// Expected sha256 of the installer (64 hex digits), or `unverified`.
    #[schemars(regex(pattern = "^([0-9a-f]{64}|unverified)$"))]
    pub sha256: Sha256,
    /// Why the download cannot be verified (required with `sha256: unverified`).
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "text"))]
    pub unverified_reason: Option<String>,
    /// Install prefix, passed as `-b -p PREFIX`; conda and pip sources find `PREFIX/bin` here.
    #[schemars(extend("examples" = ["/opt/conda"], "x-qmspec-use" = "image-path"))]
    pub prefix: String,
    /// Environment variables of the tool on this platform only, set before its install (its
    /// commands see them) and kept in the image.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "env-value"))]
    pub env: EnvMap,
    /// `PATH` entries of the tool on this platform only, added after its install.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "image-path"))]
    pub path: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CondaSource {
    /// Channel to install from.
    #[serde(default = "default_channel")]
    #[schemars(
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._+-]*(/[A-Za-z0-9._+-]+)*$|^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._+-]+)*/?$"),
        extend("examples" = ["conda-forge"], "x-qmspec-use" = "word")
    )]
    pub channel: String,
    /// Package name; defaults to the tool's name. It is pinned to the tool's version.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "conda-package"))]
    pub package: Option<String>,
    /// What installs the package: a tool or capability that is an `installer` on this platform
    /// (its `PREFIX/bin/conda`), `micromamba`, `mamba` or `conda` as the image has them, or
    /// `system` for the one the base image has (micromamba on a micromamba base).
    #[schemars(extend("examples" = ["miniforge", "micromamba"], "x-qmspec-use" = "word"))]
    pub via: String,
    /// Environment variables of the tool on this platform only, set before its install (its
    /// commands see them) and kept in the image.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "env-value"))]
    pub env: EnvMap,
    /// `PATH` entries of the tool on this platform only, added after its install.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "image-path"))]
    pub path: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CondaEnvSource {
    /// The environment file in the build context (`environment.yml`); it is bind-mounted for
    /// the install, so it does not stay in the image.
    #[schemars(extend("examples" = ["environment.yml"], "x-qmspec-use" = "context-path"))]
    pub file: String,
    /// What installs it: `micromamba`, `mamba` or `conda` as the image has them, a tool or
    /// capability that is an `installer` on this platform, or `system` for the base's own.
    #[serde(default = "default_via")]
    #[schemars(extend("examples" = ["micromamba"], "x-qmspec-use" = "word"))]
    pub via: String,
    /// Prefix of the base environment, whose `bin` holds its `python`: defaults to the
    /// installer's prefix, or `/opt/conda` (micromamba's `MAMBA_ROOT_PREFIX`).
    #[serde(default)]
    #[schemars(extend("examples" = ["/opt/conda"], "x-qmspec-use" = "image-path"))]
    pub prefix: Option<String>,
    /// Environment variables of the tool on this platform only, set before its install (its
    /// commands see them) and kept in the image.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "env-value"))]
    pub env: EnvMap,
    /// `PATH` entries of the tool on this platform only, added after its install.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "image-path"))]
    pub path: Vec<String>,
}

fn default_channel() -> String {
    "conda-forge".to_string()
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PipSource {
    /// PyPI package name; defaults to the tool's name. It is pinned to the tool's version.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "python-package"))]
    pub package: Option<String>,
    /// Python that creates the tool's virtual environment: a tool or capability (an `installer`
    /// on this platform), or `system` for the image's `python3`.
    #[schemars(extend("examples" = ["system"], "x-qmspec-use" = "word"))]
    pub via: String,
    /// Directory of the tool's own virtual environment; its `bin` goes on `PATH`.
    #[schemars(extend("examples" = ["/opt/pyflakes"], "x-qmspec-use" = "image-path"))]
    pub prefix: String,
    /// Environment variables of the tool on this platform only, set before its install (its
    /// commands see them) and kept in the image.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "env-value"))]
    pub env: EnvMap,
    /// `PATH` entries of the tool on this platform only, added after its install.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "image-path"))]
    pub path: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AptSource {
    /// Packages, `name` or `name=version`.
    #[schemars(extend("x-qmspec-use" = "debian-package"))]
    pub packages: Vec<String>,
    /// Environment variables of the tool on this platform only, set before its install (its
    /// commands see them) and kept in the image.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "env-value"))]
    pub env: EnvMap,
    /// `PATH` entries of the tool on this platform only, added after its install.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "image-path"))]
    pub path: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BaseImageSource {
    /// Environment variables the tool needs on this platform.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "env-value"))]
    pub env: EnvMap,
    /// `PATH` entries where the base image keeps the tool.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "image-path"))]
    pub path: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CommandsSource {
    /// Shell commands run in order in one layer; the first failure stops the build. A URL
    /// here is refused: list it under `downloads`, where it is checked.
    #[schemars(extend("x-qmspec-use" = "command"))]
    pub run: Vec<String>,
    /// Files downloaded and checked against their sha256 before `run`, which finds each at
    /// its `file`.
    #[serde(default)]
    #[schemars(length(max = 16))]
    pub downloads: Vec<CommandDownload>,
    /// Environment variables of the tool on this platform only, set before its install (its
    /// commands see them) and kept in the image.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "env-value"))]
    pub env: EnvMap,
    /// `PATH` entries of the tool on this platform only, added after its install.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "image-path"))]
    pub path: Vec<String>,
}

/// A file the commands of a `commands` source use, downloaded and checked first.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CommandDownload {
    /// Download URL; `{{version}}` is replaced by the tool's version.
    #[schemars(extend("x-qmspec-use" = "word"))]
    pub url: String,
    /// Expected sha256 of the download (64 hex digits), or `unverified`.
    #[schemars(regex(pattern = "^([0-9a-f]{64}|unverified)$"))]
    pub sha256: Sha256,
    /// Why the download cannot be verified (required with `sha256: unverified`).
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "text"))]
    pub unverified_reason: Option<String>,
    /// Absolute path the download is saved to in the image.
    #[schemars(extend("examples" = ["/tmp/tool.tar.gz"], "x-qmspec-use" = "image-path"))]
    pub file: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NoneSource {
    /// Why the tool is not installed on this platform.
    #[schemars(extend("x-qmspec-use" = "text"))]
    pub reason: String,
}

/// The application layered on top of the tools: its Python environment, files, user and how
/// it runs. Every part is optional; the image gets only the instructions it asks for.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct App {
    /// Working directory of the image.
    #[serde(default)]
    #[schemars(extend("examples" = ["/app"], "x-qmspec-use" = "image-path"))]
    pub workdir: Option<String>,
    /// The app's Python virtual environment and how its dependencies are installed.
    #[serde(default)]
    pub python: Option<AppPython>,
    /// Files and directories copied into the image, each `from` the build context (or from a
    /// build `stage`) `to` a path in the image. They come after the Python dependencies, so a
    /// source change does not reinstall them.
    #[serde(default)]
    pub copy: Vec<CopyItem>,
    /// Directories created in the image (owned by the app's `user`, when there is one).
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "image-path"))]
    pub data_dirs: Vec<String>,
    /// Scripts copied into the image and made executable, e.g. a smoke test the project keeps.
    #[serde(default)]
    pub scripts: Vec<CopyItem>,
    /// The user the image runs as: created here, or one the base image has. Leave it out to
    /// keep the base image's user.
    #[serde(default)]
    pub user: Option<User>,
    /// Ports the app listens on, e.g. `8000` or `8000/tcp` (`EXPOSE`).
    #[serde(default)]
    #[schemars(extend("items" = {"type": "string", "pattern": "^[0-9]{1,5}(/(tcp|udp))?$"}, "x-qmspec-use" = "word"))]
    pub expose: Vec<String>,
    /// Directories that hold data outside the image's layers (`VOLUME`).
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "image-path"))]
    pub volumes: Vec<String>,
    /// How the container engine probes the running app (`HEALTHCHECK`).
    #[serde(default)]
    pub healthcheck: Option<Healthcheck>,
    /// Signal that stops the container, e.g. `SIGINT` (`STOPSIGNAL`).
    #[serde(default)]
    #[schemars(
        // Docker's signal names (without SIGSTOP, which `docker stop` would wait out), or a number.
        regex(pattern = r"^(SIG(ABRT|ALRM|BUS|CHLD|CLD|CONT|FPE|HUP|ILL|INT|IO|IOT|KILL|PIPE|POLL|PROF|PWR|QUIT|SEGV|STKFLT|SYS|TERM|TRAP|TSTP|TTIN|TTOU|URG|USR1|USR2|VTALRM|WINCH|XCPU|XFSZ|RTMIN|RTMIN\+([1-9]|1[0-5])|RTMAX-([1-9]|1[0-4])|RTMAX)|[1-9]|[1-5][0-9]|6[0-4])$"),
        extend("x-qmspec-use" = "word")
    )]
    pub stopsignal: Option<String>,
    /// `ENTRYPOINT` as a list; `[]` resets the base image's entrypoint.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "text"))]
    pub entrypoint: Option<Vec<String>>,
    /// `CMD` as a list.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "text"))]
    pub command: Vec<String>,
    /// Extra checks for the validation script, after the tools' checks.
    #[serde(default)]
    pub checks: Vec<Check>,
}

/// A Python virtual environment and what is installed into it.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AppPython {
    /// Program that creates the environment: for pip, a tool or capability that is an
    /// `installer` on each platform (its `PREFIX/bin/python3`); for uv, any tool that puts `uv`
    /// on `PATH`; or `system` for the image's own `python3` or `uv` (in a stage, always `system`).
    #[serde(default = "default_via")]
    #[schemars(extend("examples" = ["system"], "x-qmspec-use" = "word"))]
    pub via: String,
    /// Directory of the virtual environment; its `bin` goes first on `PATH`. Leave it out to
    /// install into the environment `via` names (a `conda-env` tool or an `installer`), as
    /// a conda image does.
    #[serde(default)]
    #[schemars(extend("examples" = ["/app/.venv"], "x-qmspec-use" = "image-path"))]
    pub venv: Option<String>,
    /// How dependencies and the project are installed; leave it out for an empty environment.
    #[serde(default)]
    pub install: Option<PythonInstall>,
}

fn default_via() -> String {
    "system".to_string()
}

/// How a Python project is installed; `with` selects the installer.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "with", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PythonInstall {
    /// `pip install .` from `pyproject.toml`: the build backend's files first, then the app's
    /// `copy`, then one install of the project with its dependencies.
    #[schemars(title = "pip: the project from pyproject.toml")]
    Pip(PipInstall),
    /// `pip install -r FILE` in its own layer, then the project with `--no-deps`.
    #[schemars(title = "requirements: a requirements file, then the project")]
    Requirements(RequirementsInstall),
    /// `uv sync --locked`: dependencies from the lock file in their own cached layer (the lock
    /// and `pyproject.toml` bind-mounted), then the project.
    #[schemars(title = "uv: a uv project with its lock file")]
    Uv(UvInstall),
}

impl PythonInstall {
    /// Every `with:` value.
    pub const KINDS: [&'static str; 3] = ["pip", "requirements", "uv"];

    pub fn kind(&self) -> &'static str {
        match self {
            PythonInstall::Pip(_) => "pip",
            PythonInstall::Requirements(_) => "requirements",
            PythonInstall::Uv(_) => "uv",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PipInstall {
    /// Build-context files the build backend reads, copied into the working directory before
    /// the install: `pyproject.toml` and whatever it names, e.g. its `readme`.
    #[serde(default = "default_pyproject_files")]
    #[schemars(length(min = 1), extend("examples" = [["pyproject.toml", "README.md"]], "x-qmspec-use" = "context-path"))]
    pub files: Vec<String>,
}

fn default_pyproject_files() -> Vec<String> {
    vec!["pyproject.toml".to_string()]
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RequirementsInstall {
    /// The requirements file in the build context, installed in its own layer.
    #[schemars(extend("examples" = ["requirements.txt"], "x-qmspec-use" = "context-path"))]
    pub file: String,
    /// Files the project's build backend reads (copied before the project install); empty
    /// to install only the requirements.
    #[serde(default)]
    #[schemars(extend("examples" = [["pyproject.toml", "README.md"]], "x-qmspec-use" = "context-path"))]
    pub project_files: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UvInstall {
    /// The lock file in the build context.
    #[serde(default = "default_uv_lock")]
    #[schemars(extend("x-qmspec-use" = "context-path"))]
    pub lock: String,
    /// The project file in the build context.
    #[serde(default = "default_pyproject")]
    #[schemars(extend("x-qmspec-use" = "context-path"))]
    pub pyproject: String,
    /// Other files the project install reads, e.g. the `readme`.
    #[serde(default)]
    #[schemars(extend("examples" = [["README.md"]], "x-qmspec-use" = "context-path"))]
    pub files: Vec<String>,
    /// Also install the `dev` dependency group.
    #[serde(default)]
    pub dev: bool,
}

fn default_uv_lock() -> String {
    "uv.lock".to_string()
}

fn default_pyproject() -> String {
    "pyproject.toml".to_string()
}

/// A file or directory copied into the image.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CopyItem {
    /// Path in the build context (relative), or in the `stage` when one is named (absolute).
    #[schemars(extend("x-qmspec-use" = "word"))]
    pub from: String,
    /// Path in the image; ending in `/` copies into that directory.
    #[schemars(extend("x-qmspec-use" = "image-path"))]
    pub to: String,
    /// Build stage to copy from (`COPY --from=STAGE`) instead of the build context.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_-]{0,62}$"))]
    pub stage: Option<String>,
    /// Give the copied files to the app's user (`COPY --chown=USER:GROUP`).
    #[serde(default)]
    pub chown: bool,
}

/// The user the image runs as.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct User {
    /// User name.
    #[schemars(regex(pattern = r"^[a-z_][a-z0-9_-]{0,31}$"))]
    pub name: String,
    /// Numeric user id (required when the user is created).
    #[serde(default)]
    #[schemars(range(min = 0, max = 2147483647))]
    pub uid: Option<u32>,
    /// Group name; defaults to the user name.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[a-z_][a-z0-9_-]{0,31}$"))]
    pub group: Option<String>,
    /// Numeric group id; defaults to the uid.
    #[serde(default)]
    #[schemars(range(min = 0, max = 2147483647))]
    pub gid: Option<u32>,
    /// Create a system account (`useradd --system`).
    #[serde(default)]
    pub system: bool,
    /// Home directory; defaults to `/home/NAME`.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "image-path"))]
    pub home: Option<String>,
    /// `false` when the base image already has this user: nothing is created.
    #[serde(default = "default_true")]
    pub create: bool,
    /// Why the image runs as root; required to make `root` (or uid 0) the final user.
    #[serde(default)]
    #[schemars(extend("x-qmspec-use" = "text"))]
    pub root_reason: Option<String>,
}

fn default_true() -> bool {
    true
}

impl User {
    /// Whether the image would end as root, or in root's group: named `root`, uid 0, gid 0,
    /// or group `root`.
    pub fn is_root(&self) -> bool {
        self.name == "root"
            || self.uid == Some(0)
            || self.gid == Some(0)
            || self.group.as_deref() == Some("root")
    }
}

/// `HEALTHCHECK`: a command the container engine runs inside the container.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Healthcheck {
    /// Shell command; exit status 0 means healthy.
    #[schemars(extend("examples" = ["curl --fail http://localhost:8000/health || exit 1"], "x-qmspec-use" = "command"))]
    pub run: String,
    /// Time between probes, e.g. `30s`.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,5}(ms|s|m|h)$"), extend("x-qmspec-use" = "word"))]
    pub interval: Option<String>,
    /// Time a probe may take, e.g. `5s`.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,5}(ms|s|m|h)$"), extend("x-qmspec-use" = "word"))]
    pub timeout: Option<String>,
    /// Grace time after start before failures count, e.g. `10s`.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,5}(ms|s|m|h)$"), extend("x-qmspec-use" = "word"))]
    pub start_period: Option<String>,
    /// Consecutive failures that make the container unhealthy.
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub retries: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Check {
    /// Name printed with PASS/FAIL.
    #[schemars(extend("x-qmspec-use" = "word"))]
    pub name: String,
    /// Shell command; exit status 0 means PASS.
    #[schemars(extend("x-qmspec-use" = "command"))]
    pub run: String,
}

/// GitHub Actions publishing.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Ci {
    /// Path of the generated workflow, relative to the repository root. GitHub runs workflows
    /// only from `.github/workflows/`: generate it there in the image's repository.
    #[schemars(extend("examples" = [".github/workflows/publish-images.yml"], "x-qmspec-use" = "word"))]
    pub workflow: String,
    /// Git tag patterns whose push publishes the images (at least one).
    #[serde(default = "default_tags")]
    #[schemars(length(min = 1), extend("items" = {"type": "string", "minLength": 1, "pattern": "^[A-Za-z0-9._/*+?!\\[\\]-]+$"}, "x-qmspec-use" = "word"))]
    pub on_tags: Vec<String>,
    /// Also allow starting the workflow by hand.
    #[serde(default)]
    pub workflow_dispatch: bool,
    /// Image tags computed from the git tag.
    #[serde(default = "default_tag_rules")]
    pub tag_rules: Vec<TagRule>,
    /// How the spec's image is built: one native job per platform merged by digest, or one job
    /// emulating every platform with QEMU.
    #[serde(default)]
    pub strategy: Strategy,
    /// Build cache.
    #[serde(default)]
    pub cache: Cache,
    /// Build every image this pull request changes, on every platform, and run its validation
    /// script, without pushing: no registry login, no secrets, read-only permissions, safe for
    /// pull requests from forks.
    #[serde(default = "default_true")]
    pub pull_requests: bool,
    /// Publish an `edge` tag from every push to this branch (and from scheduled runs).
    #[serde(default)]
    #[schemars(regex(pattern = r"^[A-Za-z0-9._/-]+$"), extend("examples" = ["main"], "x-qmspec-use" = "word"))]
    pub edge_branch: Option<String>,
    /// Rebuild on a schedule (cron, UTC), so base-image security fixes reach users, e.g.
    /// `"0 4 * * 1"` (Mondays 04:00): rebuilds `edge-branch` and publishes it as `edge`.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[0-9*/,-]+( [0-9*/,-]+){4}$"), extend("examples" = ["0 4 * * 1"], "x-qmspec-use" = "word"))]
    pub schedule: Option<String>,
    /// More registries the image is published to, besides `registry`, each logged in to with
    /// secrets the spec names (never their values).
    #[serde(default)]
    #[schemars(length(max = 8))]
    pub registries: Vec<Registry>,
    /// Login for `registry` when it is not `ghcr.io` (where the workflow's own `GITHUB_TOKEN`
    /// is used).
    #[serde(default)]
    pub login: Option<Login>,
    /// SBOM and provenance attestations from BuildKit (`mode=max`, which records build-arg
    /// values: keep secrets out of `args`), and a GitHub artifact attestation of the published
    /// multi-arch digest. On by default; turn off for private images whose plan has no
    /// attestations.
    #[serde(default = "default_true")]
    pub attest: bool,
    /// Sign the published multi-arch digest with cosign, keyless (GitHub's OIDC identity),
    /// every platform's manifest included (`--recursive`). On by default.
    #[serde(default = "default_true")]
    pub sign: bool,
    /// Cancel the other platforms' builds when one fails.
    #[serde(default = "default_true")]
    pub fail_fast: bool,
    /// Minutes a job may run before GitHub cancels it.
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 1, max = 4320))]
    pub timeout_minutes: u32,
    /// GitHub deployment environment of the jobs that read the registry secrets `login` and
    /// `registries` name, so the secrets can be kept there, behind its protection rules.
    #[serde(default = "default_environment")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9._-]{1,255}$"), extend("x-qmspec-use" = "word"))]
    pub environment: String,
    /// Name of the build cache (GitHub Actions cache scope); defaults to the image name. Keep
    /// it when renaming the image to keep the cache.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[A-Za-z0-9._-]+$"), extend("x-qmspec-use" = "word"))]
    pub cache_scope: Option<String>,
    /// Extra or overriding action pins, `owner/repo` → `SHA # vX.Y.Z`.
    #[serde(default)]
    #[schemars(extend(
        "additionalProperties" = {"type": "string", "pattern": "^[0-9a-f]{40} # v[0-9A-Za-z.+-]+$"},
        "propertyNames" = {"pattern": "^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+$"}
    ))]
    pub pins: IndexMap<String, String>,
}

fn default_environment() -> String {
    "publish".to_string()
}

fn default_timeout() -> u32 {
    60
}

/// Another registry the image is published to.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Registry {
    /// Registry host, e.g. `docker.io` or `quay.io`.
    #[schemars(regex(pattern = r"^[a-z0-9.-]+(?::[0-9]+)?$"), extend("examples" = ["docker.io"]))]
    pub registry: String,
    /// Namespace there, e.g. the Docker Hub user or organisation.
    #[schemars(regex(pattern = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$"))]
    pub owner: String,
    /// How the workflow logs in.
    pub login: Login,
}

/// Registry credentials, by the names of the repository secrets holding them.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Login {
    /// Secret holding the user name, e.g. `DOCKERHUB_USERNAME`.
    #[schemars(regex(pattern = r"^[A-Z][A-Z0-9_]{0,99}$"), extend("examples" = ["DOCKERHUB_USERNAME"]))]
    pub username_secret: String,
    /// Secret holding the password or access token, e.g. `DOCKERHUB_TOKEN`.
    #[schemars(regex(pattern = r"^[A-Z][A-Z0-9_]{0,99}$"), extend("examples" = ["DOCKERHUB_TOKEN"]))]
    pub password_secret: String,
}

fn default_tags() -> Vec<String> {
    vec!["v*".to_string()]
}

fn default_tag_rules() -> Vec<TagRule> {
    vec![TagRule::Version, TagRule::MajorMinor, TagRule::Latest]
}

/// One image tag derived from the pushed git tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TagRule {
    /// The full semantic version, `{{version}}` (e.g. `2.5.0`).
    Version,
    /// `{{major}}.{{minor}}` (e.g. `2.5`).
    MajorMinor,
    /// `{{major}}` (e.g. `2`).
    Major,
    /// `latest`.
    Latest,
    /// The commit SHA.
    Sha,
}

/// How CI builds an image for several platforms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// One job per platform on its own runner, pushed by digest and merged into one tag.
    #[default]
    Native,
    /// One job that builds every platform under QEMU emulation.
    Qemu,
}

/// Build cache for CI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Cache {
    /// GitHub Actions cache, one scope per image and platform, `mode=max`.
    #[default]
    Gha,
    /// No cache.
    None,
}

/// What a `via` names on one platform.
#[derive(Debug, Clone)]
pub enum Provider<'a> {
    /// `system`: whatever is on the image's `PATH`.
    System,
    /// An installer tool, with its index in `tools` and install prefix.
    Installer {
        index: usize,
        tool: &'a Tool,
        prefix: &'a str,
    },
    /// Nothing on this platform provides it.
    Missing,
    /// It resolves to a tool that is not an installer.
    NotInstaller { index: usize, tool: &'a Tool },
    /// Several tools provide it on this platform.
    Ambiguous(Vec<&'a str>),
}

impl Spec {
    /// Indices of the tools a name refers to on `arch`: the tool of that name, or every tool
    /// that `provides` it with a real source on `arch`.
    pub fn tools_named(&self, name: &str, arch: Arch) -> Vec<usize> {
        self.tools
            .iter()
            .enumerate()
            .filter(|(_, t)| t.name == name || t.provides.iter().any(|p| p == name))
            .filter(|(_, t)| !matches!(t.sources.get(arch), None | Some(Source::None(_))))
            .map(|(i, _)| i)
            .collect()
    }

    /// Whether a name is a tool or a capability anywhere in the spec.
    pub fn knows(&self, name: &str) -> bool {
        self.tools
            .iter()
            .any(|t| t.name == name || t.provides.iter().any(|p| p == name))
    }

    pub fn provider(&self, via: &str, arch: Arch) -> Provider<'_> {
        if via == "system" {
            return Provider::System;
        }
        let found = self.tools_named(via, arch);
        match found.as_slice() {
            // A conda program the image has (its presence is checked with the other commands),
            // unless the spec names a tool or capability so: then it must be on this platform.
            [] if crate::toolbox::CONDA_PROGRAMS.contains(&via) && !self.knows(via) => {
                Provider::System
            }
            [] => Provider::Missing,
            [i] => {
                let tool = &self.tools[*i];
                match tool.sources.get(arch) {
                    Some(Source::Installer(s)) => Provider::Installer {
                        index: *i,
                        tool,
                        prefix: &s.prefix,
                    },
                    _ => Provider::NotInstaller { index: *i, tool },
                }
            }
            many => {
                Provider::Ambiguous(many.iter().map(|i| self.tools[*i].name.as_str()).collect())
            }
        }
    }
}
