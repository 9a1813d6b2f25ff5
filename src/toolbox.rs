//! What an image has at each point of its build: the commands its base family and the spec
//! provide, and the commands each generated line calls. One walk serves both the rule that
//! refuses a line calling a missing command and the resolver that picks `wget` or `curl`.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Arch, Family, Provider};
use crate::model::{ArchiveFormat, BaseImage, PythonInstall, Shell, Source, Spec, Stage};

/// Commands a distribution package puts on `PATH` besides the one of its own name.
const PACKAGE_COMMANDS: &[(&str, &[&str])] = &[
    ("xz-utils", &["xz"]),
    // Debian's `python3` alone cannot make a venv (no ensurepip); these packages can.
    ("python3-venv", &["python3", "python3-venv"]),
    ("python3-full", &["python3", "python3-venv"]),
    ("passwd", &["groupadd", "useradd"]),
    ("shadow", &["groupadd", "useradd"]),
    ("coreutils", &["sha256sum"]),
    (
        "busybox",
        &["wget", "unzip", "tar", "gzip", "bzip2", "xz", "sha256sum"],
    ),
];

/// A command a generated line calls that the image does not have at that point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The command, or the alternatives (`wget or curl`).
    pub command: String,
    /// What calls it, e.g. "the download of `xtb`".
    pub by: String,
    /// JSON pointer of the spec value that asks for it.
    pub pointer: String,
}

/// The program that downloads files in an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Downloader {
    Wget,
    Curl,
}

/// How users are created: shadow's `groupadd`/`useradd`, or busybox's `addgroup`/`adduser`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UserTool {
    Shadow,
    Busybox,
}

/// What the walk over one platform's image found.
#[derive(Debug, Clone)]
pub struct Walk {
    pub missing: Vec<Missing>,
    /// The downloader each tool that downloads uses, by tool index.
    pub downloaders: BTreeMap<usize, Downloader>,
    pub user_tool: UserTool,
}

/// Commands of the base image: its family's defaults and what the spec says it provides.
fn base_commands(base: &BaseImage) -> BTreeSet<String> {
    let mut have: BTreeSet<String> = base
        .family
        .commands()
        .iter()
        .map(|c| c.to_string())
        .chain(base.provides.iter().cloned())
        .collect();
    // A base that says it has python3 has a whole one (the official python images do).
    if have.contains("python3") {
        have.insert("python3-venv".to_string());
    }
    have
}

/// Commands a list of distribution packages adds (`name=version` counts as `name`).
fn package_commands(packages: &[String]) -> impl Iterator<Item = String> + '_ {
    packages.iter().flat_map(|p| {
        let name = p.split('=').next().unwrap_or(p);
        let extra = PACKAGE_COMMANDS
            .iter()
            .find(|(pkg, _)| *pkg == name)
            .map_or(&[][..], |(_, c)| c);
        std::iter::once(name.to_string()).chain(extra.iter().map(|c| c.to_string()))
    })
}

/// Programs a conda `via` may name directly, as the image has them.
pub const CONDA_PROGRAMS: [&str; 3] = ["micromamba", "mamba", "conda"];

/// The conda-like program a `via` names on a platform: an installer's `PREFIX/bin/conda`, a
/// program the image has (`micromamba`, `mamba`, `conda`), or for `system` the one the base has.
pub fn conda_program(spec: &Spec, via: &str, arch: Arch) -> String {
    match spec.provider(via, arch) {
        Provider::Installer { prefix, .. } => format!("{}/bin/conda", prefix.trim_end_matches('/')),
        _ if CONDA_PROGRAMS.contains(&via) => via.to_string(),
        _ => {
            let base = spec.platforms.get(arch).map(|p| &p.base);
            let has = |c: &str| base.is_some_and(|b| base_commands(b).contains(c));
            ["micromamba", "mamba"]
                .into_iter()
                .find(|c| has(c))
                .unwrap_or("conda")
                .to_string()
        }
    }
}

struct Image {
    have: BTreeSet<String>,
    missing: Vec<Missing>,
}

impl Image {
    fn new(base: &BaseImage) -> Image {
        Image {
            have: base_commands(base),
            missing: Vec::new(),
        }
    }

    /// Record that `by` calls one of `commands`; an absolute path is taken to be installed by
    /// whatever put it there (an installer tool's prefix).
    fn need(&mut self, commands: &[&str], by: &str, pointer: &str) {
        if commands
            .iter()
            .any(|c| c.contains('/') || self.have.contains(*c))
        {
            return;
        }
        self.missing.push(Missing {
            command: commands.join(" or "),
            by: by.to_string(),
            pointer: pointer.to_string(),
        });
    }

    fn add(&mut self, commands: impl IntoIterator<Item = String>) {
        self.have.extend(commands);
    }

    fn downloader(&self) -> Downloader {
        if !self.have.contains("wget") && self.have.contains("curl") {
            Downloader::Curl
        } else {
            Downloader::Wget
        }
    }
}

/// The commands unpacking a format calls.
pub fn unpack_commands(format: ArchiveFormat) -> &'static [&'static str] {
    match format {
        ArchiveFormat::TarGz => &["tar", "gzip"],
        ArchiveFormat::TarBz2 => &["tar", "bzip2"],
        ArchiveFormat::TarXz => &["tar", "xz"],
        ArchiveFormat::TarZst => &["tar", "zstd"],
        ArchiveFormat::Tar => &["tar"],
        ArchiveFormat::Zip => &["unzip"],
        ArchiveFormat::Binary => &[],
    }
}

/// Walk one platform's final image in build order.
pub fn walk(spec: &Spec, arch: Arch) -> Option<Walk> {
    let platform = spec.platforms.get(arch)?;
    let base = &platform.base;
    let pp = format!("/platforms/{}/base", arch.name());
    let mut image = Image::new(base);
    if base.shell() == Shell::Bash {
        image.need(&["bash"], RUN_WITH_BASH, &pp);
    }
    let apt = crate::resolve::apt_packages(&spec.apt, arch);
    if !apt.is_empty() {
        image.need(
            &["apt-get"],
            "installing the `apt` packages",
            "/apt/packages",
        );
        image.add(package_commands(&apt));
    }
    let mut downloaders = BTreeMap::new();
    let mut chosen: Option<Downloader> = None;
    for i in crate::resolve::install_order(spec, arch) {
        let tool = &spec.tools[i];
        let version = tool.version.as_deref().unwrap_or_default();
        let p = format!("/tools/{i}/sources/{}", arch.name());
        let Some(source) = tool.sources.get(arch) else {
            continue;
        };
        let name = &tool.name;
        // What fetching files calls, checked where the fetch runs: the downloader the image has
        // at this point is the one this tool's lines use.
        let mut download = |image: &mut Image, urls: &[(&str, bool)]| {
            let by = format!("downloading `{name}`");
            image.need(&["wget", "curl"], &by, &p);
            image.need(&["mkdir"], &by, &p);
            image.need(&["rm"], &by, &p);
            if urls.iter().any(|(_, verified)| *verified) {
                image.need(
                    &["sha256sum"],
                    &format!("checking the sha256 of `{name}`"),
                    &p,
                );
            }
            if urls.iter().any(|(url, _)| url.starts_with("https://")) {
                image.need(
                    &["ca-certificates"],
                    &format!("downloading `{name}` over https"),
                    &p,
                );
            }
            // The first download picks one (what the image has then stays), so an image never
            // mixes wget and curl (hadolint DL4001).
            downloaders.insert(i, *chosen.get_or_insert(image.downloader()));
        };
        match source {
            Source::Archive(a) => {
                download(&mut image, &[(&a.url, a.sha256 != "unverified")]);
                let format = a.format_for(version).unwrap_or(ArchiveFormat::Tar);
                let by = format!("unpacking `{name}` ({})", format.name());
                for c in unpack_commands(format) {
                    image.need(&[c], &by, &p);
                }
                if format == ArchiveFormat::Binary {
                    image.need(&["mv"], &by, &p);
                }
                if !a.executables.is_empty() {
                    image.need(&["chmod"], &by, &p);
                }
                // An executable is a command only where `PATH` finds it.
                let dest = a.dest.trim_end_matches('/');
                let on_path: Vec<String> = tool
                    .path
                    .iter()
                    .chain(&a.path)
                    .map(|d| {
                        d.replace("{{version}}", version)
                            .trim_end_matches('/')
                            .to_string()
                    })
                    .collect();
                image.add(a.executables.iter().filter_map(|e| {
                    let full = format!("{dest}/{}", e.trim_start_matches('/'))
                        .replace("{{version}}", version);
                    let (dir, file) = full.rsplit_once('/')?;
                    on_path.iter().any(|d| d == dir).then(|| file.to_string())
                }));
            }
            Source::Installer(s) => {
                download(&mut image, &[(&s.url, s.sha256 != "unverified")]);
                image.need(&["bash"], &format!("running the installer of `{name}`"), &p);
            }
            Source::Conda(c) => {
                let program = conda_program(spec, &c.via, arch);
                image.need(
                    &[&program],
                    &format!("installing the conda package `{name}`"),
                    &format!("{p}/via"),
                );
            }
            Source::CondaEnv(c) => {
                let program = conda_program(spec, &c.via, arch);
                image.need(
                    &[&program],
                    &format!("installing the conda environment `{name}`"),
                    &format!("{p}/via"),
                );
            }
            Source::Pip(s) => {
                let python = crate::resolve::python_for(spec, &s.via, arch);
                let python = if python == "python3" {
                    "python3-venv"
                } else {
                    &python
                };
                image.need(
                    &[python],
                    &format!("creating the virtual environment of `{name}`"),
                    &format!("{p}/via"),
                );
            }
            Source::Apt(a) => {
                image.need(
                    &["apt-get"],
                    &format!("installing the packages of `{name}`"),
                    &p,
                );
                image.add(package_commands(&a.packages));
            }
            Source::Commands(c) => {
                if !c.downloads.is_empty() {
                    let urls: Vec<(&str, bool)> = c
                        .downloads
                        .iter()
                        .map(|d| (d.url.as_str(), d.sha256 != "unverified"))
                        .collect();
                    download(&mut image, &urls);
                }
            }
            Source::BaseImage(_) | Source::None(_) => {}
        }
        // A tool's name is a command it brings, except an archive's: only the executables
        // `PATH` finds are (checked above).
        let named = (!matches!(source, Source::Archive(_))).then(|| name.clone());
        image.add(named.into_iter().chain(tool.provides.iter().cloned()));
    }
    let user_tool = if image.have.contains("useradd") || !image.have.contains("adduser") {
        UserTool::Shadow
    } else {
        UserTool::Busybox
    };
    if spec
        .app
        .user
        .as_ref()
        .is_some_and(|u| u.create && !u.is_root())
    {
        let needs: &[&str] = match user_tool {
            UserTool::Shadow => &["groupadd", "useradd"],
            UserTool::Busybox => &["addgroup", "adduser"],
        };
        for c in needs {
            image.need(&[c], "creating the app's user", "/app/user");
        }
    }
    if let Some(python) = &spec.app.python {
        python_needs(spec, python, arch, "/app/python", &mut image);
    }
    if !spec.app.data_dirs.is_empty() {
        image.need(&["mkdir"], "creating the data folders", "/app/data-dirs");
        if spec.app.user.as_ref().is_some_and(|u| !u.is_root()) || base.family == Family::Micromamba
        {
            image.need(
                &["chown"],
                "giving the data folders to the app's user",
                "/app/data-dirs",
            );
        }
    }
    if !spec.app.scripts.is_empty() || spec.validation_script.is_some() {
        let at = if spec.app.scripts.is_empty() {
            "/validation-script"
        } else {
            "/app/scripts"
        };
        image.need(&["chmod"], "making the scripts executable", at);
    }
    if spec.validation_script.is_some() {
        image.need(
            &["sh"],
            "running the validation script",
            "/validation-script",
        );
    }
    Some(Walk {
        downloaders,
        missing: image.missing,
        user_tool,
    })
}

/// What `missing` says when the shell itself is what is missing.
pub const RUN_WITH_BASH: &str = "running `RUN` lines with bash";

fn python_needs(
    spec: &Spec,
    python: &crate::model::AppPython,
    arch: Arch,
    p: &str,
    image: &mut Image,
) {
    match python.install {
        Some(PythonInstall::Uv(_)) => {
            image.need(&["uv"], "installing with uv", &format!("{p}/install"))
        }
        _ => {
            let program = crate::resolve::python_for(spec, &python.via, arch);
            let (what, program) = match (&python.venv, program.as_str()) {
                // Debian's python3 makes a venv only with its `python3-venv` package.
                (Some(_), "python3") => ("creating the virtual environment", "python3-venv"),
                (Some(_), _) => ("creating the virtual environment", program.as_str()),
                (None, _) => ("installing the Python project", program.as_str()),
            };
            image.need(&[program], what, &format!("{p}/via"));
        }
    }
}

/// Walk a build stage: its packages, then its Python install.
pub fn walk_stage(spec: &Spec, stage: &Stage, index: usize, arch: Arch) -> Vec<Missing> {
    let Some(base) = stage.base.get(arch) else {
        return Vec::new();
    };
    let p = format!("/stages/{index}");
    let mut image = Image::new(base);
    let apt = crate::resolve::apt_packages(&stage.apt, arch);
    if !apt.is_empty() {
        image.need(
            &["apt-get"],
            "installing the stage's `apt` packages",
            &format!("{p}/apt/packages"),
        );
        image.add(package_commands(&apt));
    }
    if let Some(python) = &stage.python {
        python_needs(spec, python, arch, &format!("{p}/python"), &mut image);
    }
    image.missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_bring_their_commands() {
        let got: Vec<String> = package_commands(&[
            "xz-utils=5.4.1-0.2".to_string(),
            "python3".to_string(),
            "python3-venv".to_string(),
            "jq".to_string(),
        ])
        .collect();
        assert_eq!(
            got,
            [
                "xz-utils",
                "xz",
                "python3",
                "python3-venv",
                "python3",
                "python3-venv",
                "jq"
            ]
        );
    }
}
