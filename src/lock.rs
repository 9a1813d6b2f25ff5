//! The lock file beside a spec (`specs/NAME.lock`): what `qmspec lock` resolved on the network
//! (each download's sha256 and size, tied to the exact URL it hashed), read back offline by
//! `validate`, `generate` and `check`. Plain YAML, one entry per download in a fixed order, so
//! a change is a small reviewable diff.

use serde::{Deserialize, Serialize};

use crate::model::{Source, Spec};

/// The first line of every lock file: qmspec overwrites only a file that starts with it.
pub const STAMP: &str = "# Written by `qmspec lock`: do not edit by hand; run `qmspec lock` again.";

/// Largest lock file qmspec reads.
pub const MAX_LOCK_BYTES: u64 = 1024 * 1024;

/// Everything locked for one spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Sorted by tool, platform, then URL.
    #[serde(default)]
    pub downloads: Vec<LockedDownload>,
    /// Base images (of the platforms and the stages), sorted by image, tag, platform.
    #[serde(default)]
    pub bases: Vec<LockedBase>,
    /// GitHub Actions the workflow uses: the release tag's commit, sorted by action.
    #[serde(default)]
    pub actions: Vec<LockedAction>,
    /// Conda packages of `kind: conda` sources: the build chosen per platform.
    #[serde(default)]
    pub conda: Vec<LockedConda>,
    /// PyPI packages of `kind: pip` sources: the file pip installs per platform.
    #[serde(default)]
    pub pip: Vec<LockedPip>,
}

/// The distribution pip installs for a pinned package on one platform.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPip {
    pub tool: String,
    pub platform: String,
    pub package: String,
    pub version: String,
    pub file: String,
    pub sha256: String,
}

/// A conda package's build for one platform.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedConda {
    pub tool: String,
    pub platform: String,
    pub channel: String,
    pub package: String,
    /// What the spec asks for: a version or a range.
    pub requested: String,
    pub version: String,
    pub build: String,
    pub subdir: String,
    pub sha256: String,
}

/// A GitHub Action's release tag and the commit it points at (annotated tags peeled).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedAction {
    pub action: String,
    pub tag: String,
    pub sha: String,
}

/// A base image tag as resolved for one platform.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedBase {
    pub image: String,
    pub tag: String,
    pub platform: String,
    /// The platform's own image manifest digest, `sha256:…`.
    pub digest: String,
}

/// One download as it was fetched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedDownload {
    pub tool: String,
    pub platform: String,
    /// The URL as the spec gives it, `{{version}}` expanded: what was hashed.
    pub url: String,
    pub sha256: String,
    pub size: u64,
}

impl Lock {
    /// The locked sha256 of a download, when this exact URL was locked.
    pub fn sha256_of(&self, url: &str) -> Option<&str> {
        self.downloads
            .iter()
            .find(|d| d.url == url)
            .map(|d| d.sha256.as_str())
    }

    /// The locked build of a tool's conda package on a platform, when what the spec asks for
    /// is what was locked.
    pub fn conda_build(
        &self,
        tool: &str,
        platform: &str,
        channel: &str,
        package: &str,
        requested: &str,
    ) -> Option<&LockedConda> {
        self.conda.iter().find(|c| {
            c.tool == tool
                && c.platform == platform
                && c.channel == channel
                && c.package == package
                && c.requested == requested
        })
    }

    /// The locked digest of a base image tag on a platform.
    pub fn base_digest(&self, image: &str, tag: &str, platform: &str) -> Option<&str> {
        self.bases
            .iter()
            .find(|b| b.image == image && b.tag == tag && b.platform == platform)
            .map(|b| b.digest.as_str())
    }

    /// What an earlier `qmspec lock` recorded for this tool and platform at another URL: the
    /// spec changed the download (a version bump) since.
    pub fn stale_for(&self, tool: &str, platform: &str, url: &str) -> Option<&LockedDownload> {
        if self.sha256_of(url).is_some() {
            return None;
        }
        self.downloads
            .iter()
            .find(|d| d.tool == tool && d.platform == platform && d.url != url)
    }

    /// The lock file's text: the stamp, the spec it belongs to, then the entries.
    pub fn render(&self, spec_path: &str) -> String {
        let mut out = format!("{STAMP}\n# Locks {spec_path}.\n");
        section(&mut out, "bases", &self.bases, false);
        section(&mut out, "actions", &self.actions, false);
        section(&mut out, "conda", &self.conda, false);
        section(&mut out, "pip", &self.pip, false);
        section(&mut out, "downloads", &self.downloads, true);
        out
    }

    /// Read a lock file's text; `Err` names what is wrong with it.
    pub fn parse(text: &str) -> Result<Lock, String> {
        if !text.starts_with(STAMP) {
            return Err("it does not start with qmspec's stamp".to_string());
        }
        let doc = crate::yaml::parse(text)
            .map_err(|d| d.first().map_or(String::new(), |d| d.message.clone()))?;
        let lock: Lock = serde_json::from_value(doc.value).map_err(|e| e.to_string())?;
        let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        let conda_sha = lock
            .conda
            .iter()
            .all(|c| c.sha256.is_empty() || hex64(&c.sha256));
        let pip_sha = lock
            .pip
            .iter()
            .all(|p| p.sha256.is_empty() || hex64(&p.sha256));
        if !conda_sha || !pip_sha {
            return Err("a package sha256 is not 64 hex digits".to_string());
        }
        if !lock.downloads.iter().all(|d| hex64(&d.sha256)) {
            return Err("a sha256 is not 64 hex digits".to_string());
        }
        if !lock
            .bases
            .iter()
            .all(|b| b.digest.strip_prefix("sha256:").is_some_and(hex64))
        {
            return Err("a base digest is not `sha256:` and 64 hex digits".to_string());
        }
        let hex40 = |s: &str| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !lock
            .actions
            .iter()
            .all(|a| hex40(&a.sha) && plain_word(&a.tag))
        {
            return Err(
                "an action's commit is not 40 hex digits, or its tag not a plain name".to_string(),
            );
        }
        // A conda version and build reach a shell line: only plain words may.
        if !lock
            .conda
            .iter()
            .all(|c| plain_word(&c.version) && plain_word(&c.build))
        {
            return Err("a conda version or build is not a plain word".to_string());
        }
        Ok(lock)
    }
}

/// One section of a lock file: `name:`, then each entry's fields in their declared order. A
/// string is written as JSON, which is a YAML double-quoted scalar, so every value stays
/// literal; a number as it is. An empty section is left out, or written `name: []` if `always`.
fn section<T: Serialize>(out: &mut String, name: &str, items: &[T], always: bool) {
    if items.is_empty() {
        if always {
            out.push_str(&format!("{name}: []\n"));
        }
        return;
    }
    out.push_str(&format!("{name}:\n"));
    for item in items {
        let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(item) else {
            continue;
        };
        for (n, (key, value)) in fields.iter().enumerate() {
            let lead = if n == 0 { "  - " } else { "    " };
            out.push_str(&format!("{lead}{key}: {value}\n"));
        }
    }
}

/// A version, build or tag as registries and channels write them: letters, digits and
/// `._+!*-`, nothing a shell line or a YAML line would read differently.
pub fn plain_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+!*-".contains(&b))
}

/// The lock file of a spec: `specs/worker.yaml` → `specs/worker.lock`.
pub fn lock_path(spec_path: &str) -> String {
    let stem = spec_path
        .strip_suffix(".yaml")
        .or_else(|| spec_path.strip_suffix(".yml"))
        .unwrap_or(spec_path);
    format!("{stem}.lock")
}

/// A download a spec asks for on one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub tool: String,
    pub platform: String,
    /// `{{version}}` expanded.
    pub url: String,
    /// The sha256 the spec itself gives, if any.
    pub sha256: Option<String>,
}

/// Every download of a spec, per platform, in spec order.
pub fn wanted(spec: &Spec) -> Vec<Wanted> {
    let mut out = Vec::new();
    for tool in &spec.tools {
        let version = tool.version.as_deref().unwrap_or_default();
        for (arch, source) in tool.sources.iter() {
            let urls: Vec<(&str, &str)> = match source {
                Source::Archive(a) => vec![(&a.url, &a.sha256)],
                Source::Installer(s) => vec![(&s.url, &s.sha256)],
                Source::Commands(c) => c
                    .downloads
                    .iter()
                    .map(|d| (d.url.as_str(), d.sha256.as_str()))
                    .collect(),
                _ => Vec::new(),
            };
            for (url, sha) in urls {
                out.push(Wanted {
                    tool: tool.name.clone(),
                    platform: arch.name().to_string(),
                    url: url.replace("{{version}}", version),
                    sha256: (sha != "unverified").then(|| sha.to_string()),
                });
            }
        }
    }
    out
}

/// Hash every download a spec asks for, a few at a time, and build its lock. All or nothing:
/// any failure (or a hash that differs from a sha256 the spec gives) returns every problem.
/// What one `qmspec lock` run resolves; what it skips keeps what the lock file had.
#[derive(Debug, Clone, Copy)]
pub struct Parts {
    pub downloads: bool,
    pub bases: bool,
    pub actions: bool,
    pub conda: bool,
    pub pip: bool,
}

pub fn resolve(
    spec: &Spec,
    fetcher: &crate::fetch::Fetcher,
    parallel: usize,
    upgrade_actions: bool,
    parts: Parts,
    env_files: &std::collections::BTreeMap<String, Result<String, String>>,
) -> Result<Lock, Vec<String>> {
    let mut want = if parts.downloads {
        wanted(spec)
    } else {
        Vec::new()
    };
    // One fetch per URL, even when several platforms or tools name it.
    let mut urls: Vec<String> = want.iter().map(|w| w.url.clone()).collect();
    urls.sort();
    urls.dedup();
    let chunk = urls.len().div_ceil(parallel.max(1)).max(1);
    let results: Vec<(String, Result<crate::fetch::Fetched, String>)> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = urls
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|u| (u.clone(), fetcher.hash(u).map_err(|e| e.to_string())))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
    let mut problems: Vec<String> = Vec::new();
    let mut downloads = Vec::new();
    for w in want.drain(..) {
        let Some((_, result)) = results.iter().find(|(u, _)| *u == w.url) else {
            continue;
        };
        match result {
            Err(e) => {
                if !problems.contains(e) {
                    problems.push(e.clone());
                }
            }
            Ok(f) => {
                // A release file never changes: different bytes at a locked URL are refused.
                if let Some(locked) = spec.lock.sha256_of(&w.url).filter(|l| *l != f.sha256) {
                    let problem = format!(
                        "{}: its content changed since it was locked (sha256 {locked}, now {}); if that is expected, delete its entry from the lock file and run `qmspec lock` again",
                        w.url, f.sha256
                    );
                    if !problems.contains(&problem) {
                        problems.push(problem);
                    }
                    continue;
                }
                if let Some(given) = w.sha256.as_deref().filter(|g| *g != f.sha256) {
                    problems.push(format!(
                        "{}: its sha256 is {}, but the spec says {given} for `{}` on {}",
                        w.url, f.sha256, w.tool, w.platform
                    ));
                    continue;
                }
                downloads.push(LockedDownload {
                    tool: w.tool,
                    platform: w.platform,
                    url: w.url,
                    sha256: f.sha256.clone(),
                    size: f.size,
                });
            }
        }
    }
    // Base images without a digest in the spec: each tag once, for every platform using it.
    let mut tags: Vec<((String, String), Vec<&str>)> = Vec::new();
    let bases = spec
        .platforms
        .iter()
        .map(|(a, p)| (a, &p.base))
        .chain(spec.stages.iter().flat_map(|s| s.base.iter()));
    for (arch, base) in bases.filter(|(_, b)| parts.bases && b.digest.is_none()) {
        let key = (base.image.clone(), base.tag.clone());
        match tags.iter_mut().find(|(k, _)| *k == key) {
            Some((_, archs)) if !archs.contains(&arch.name()) => archs.push(arch.name()),
            Some(_) => {}
            None => tags.push((key, vec![arch.name()])),
        }
    }
    let mut bases = Vec::new();
    for ((image, tag), archs) in tags {
        match crate::oci::resolve(fetcher, &image, &tag, &archs) {
            Ok(found) => bases.extend(found.into_iter().map(|(platform, r)| LockedBase {
                image: image.clone(),
                tag: tag.clone(),
                platform,
                digest: r.digest,
            })),
            Err(e) => problems.push(e),
        }
    }
    // Actions: each pinned release tag to its commit (or, upgrading, the newest release of the
    // same major), read with `git ls-remote`, which peels annotated tags and has no API limit.
    let pins = crate::pins::Pins::new(&spec.ci.pins);
    let mut actions = Vec::new();
    let used = if parts.actions {
        crate::pins::workflow_actions(spec)
    } else {
        Vec::new()
    };
    for action in used {
        let Some(tag) = pins.tag(action) else {
            continue;
        };
        match crate::fetch::release_commit(fetcher, action, tag, upgrade_actions) {
            Ok((tag, sha)) => actions.push(LockedAction {
                action: action.to_string(),
                tag,
                sha,
            }),
            Err(e) => problems.push(e),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // Conda packages: the build for each platform a `kind: conda` source is used on.
    let mut conda = Vec::new();
    let mut channels = crate::conda::Channels::default();
    for tool in spec.tools.iter().filter(|_| parts.conda) {
        let requested = tool.version.clone().unwrap_or_default();
        for (arch, source) in tool.sources.iter() {
            let crate::model::Source::Conda(c) = source else {
                continue;
            };
            let package = c.package.clone().unwrap_or_else(|| tool.name.clone());
            let name = package
                .split(['=', '['])
                .next()
                .unwrap_or(&package)
                .to_string();
            match channels.resolve(fetcher, &c.channel, &name, &requested, arch) {
                Ok(b) if !(plain_word(&b.version) && plain_word(&b.build)) => {
                    problems.push(format!(
                        "{}: the build of {name} for {} is not a plain word ({:?} {:?})",
                        c.channel,
                        arch.name(),
                        b.version,
                        b.build
                    ))
                }
                Ok(b) => conda.push(LockedConda {
                    tool: tool.name.clone(),
                    platform: arch.name().to_string(),
                    channel: c.channel.clone(),
                    package: name,
                    requested: requested.clone(),
                    version: b.version,
                    build: b.build,
                    subdir: b.subdir,
                    sha256: b.sha256,
                }),
                Err(e) => problems.push(e),
            }
        }
    }
    // Environment files: every conda package they ask for has a build on each platform.
    for tool in spec.tools.iter().filter(|_| parts.conda) {
        for (arch, source) in tool.sources.iter() {
            let crate::model::Source::CondaEnv(c) = source else {
                continue;
            };
            match env_files.get(&c.file) {
                Some(Ok(text)) => {
                    problems.extend(channels.check_environment(fetcher, &c.file, text, arch))
                }
                Some(Err(e)) => problems.push(e.clone()),
                None => problems.push(format!("{}: not read", c.file)),
            }
        }
    }
    // PyPI packages: an installable file for each platform a pinned `kind: pip` source is on.
    let mut pip = Vec::new();
    for tool in spec.tools.iter().filter(|_| parts.pip) {
        let version = tool.version.clone().unwrap_or_default();
        if crate::versions::is_range(&version) {
            continue; // pip resolves a range when the image is built
        }
        for (arch, source) in tool.sources.iter() {
            let crate::model::Source::Pip(p) = source else {
                continue;
            };
            let package = p.package.clone().unwrap_or_else(|| tool.name.clone());
            let name = package
                .split(['=', '[', '<', '>'])
                .next()
                .unwrap_or(&package)
                .to_string();
            match crate::pypi::resolve(fetcher, "https://pypi.org", &name, &version, arch) {
                Ok(d) => pip.push(LockedPip {
                    tool: tool.name.clone(),
                    platform: arch.name().to_string(),
                    package: name,
                    version: version.clone(),
                    file: d.file,
                    sha256: d.sha256,
                }),
                Err(e) => problems.push(e),
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if !parts.pip {
        pip = spec.lock.pip.clone();
    }
    pip.sort();
    // What this run did not resolve stays as it was locked.
    if !parts.conda {
        conda = spec.lock.conda.clone();
    }
    conda.sort();
    if !parts.downloads {
        downloads = spec.lock.downloads.clone();
    }
    if !parts.bases {
        bases = spec.lock.bases.clone();
    }
    if !parts.actions {
        actions = spec.lock.actions.clone();
    }
    downloads.sort();
    downloads.dedup();
    bases.sort();
    bases.dedup();
    actions.sort();
    Ok(Lock {
        downloads,
        bases,
        actions,
        conda,
        pip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_files_round_trip_and_name_their_spec() {
        let lock = Lock {
            conda: Vec::new(),
            pip: Vec::new(),
            actions: vec![LockedAction {
                action: "actions/checkout".into(),
                tag: "v7.0.1".into(),
                sha: "c".repeat(40),
            }],
            bases: vec![LockedBase {
                image: "ghcr.io/x/y".into(),
                tag: "latest".into(),
                platform: "amd64".into(),
                digest: format!("sha256:{}", "b".repeat(64)),
            }],
            downloads: vec![LockedDownload {
                tool: "xtb".into(),
                platform: "amd64".into(),
                url: "https://example.org/x \"1\".tar.gz".into(),
                sha256: "a".repeat(64),
                size: 42,
            }],
        };
        let text = lock.render("specs/worker.yaml");
        assert!(text.starts_with(STAMP) && text.contains("# Locks specs/worker.yaml."));
        assert_eq!(Lock::parse(&text), Ok(lock.clone()));
        assert!(Lock::parse("downloads: []\n").is_err());
        assert!(Lock::parse(&text.replace(&"a".repeat(64), "abc")).is_err());
        assert!(Lock::parse(&text.replace(&"c".repeat(40), "cc")).is_err());
        assert!(Lock::parse(&text.replace("\"v7.0.1\"", "\"v7 $(id)\"")).is_err());
        assert!(plain_word("h2_2") && plain_word("2025.09.3") && plain_word("py_0"));
        assert!(!plain_word("h'1") && !plain_word("a b") && !plain_word("") && !plain_word("x\ny"));
        let bad = text.replace(&format!("sha256:{}", "b".repeat(64)), "sha256:x");
        assert!(Lock::parse(&bad).is_err());
        let b = format!("sha256:{}", "b".repeat(64));
        assert_eq!(
            lock.base_digest("ghcr.io/x/y", "latest", "amd64"),
            Some(b.as_str())
        );
        assert_eq!(lock.base_digest("ghcr.io/x/y", "latest", "arm64"), None);
        assert_eq!(
            lock.sha256_of("https://example.org/x \"1\".tar.gz"),
            Some("a".repeat(64).as_str())
        );
        assert!(
            lock.stale_for("xtb", "amd64", "https://example.org/y")
                .is_some()
        );
        assert!(
            lock.stale_for("xtb", "arm64", "https://example.org/y")
                .is_none()
        );
        assert!(
            lock.stale_for("xtb", "amd64", "https://example.org/x \"1\".tar.gz")
                .is_none()
        );
        assert_eq!(lock_path("specs/a.yaml"), "specs/a.lock");
        assert_eq!(lock_path("specs/a.yml"), "specs/a.lock");
        assert_eq!(
            Lock::default().render("s"),
            format!("{STAMP}\n# Locks s.\ndownloads: []\n")
        );
    }
}
