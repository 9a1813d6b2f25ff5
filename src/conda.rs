//! Conda packages resolved from a channel's `repodata.json` for `qmspec lock`: the build of the
//! pinned version (or the newest within a range) for each platform's subdir, falling back to
//! `noarch`; a platform without one is an error naming the package, version and subdir.

use crate::fetch::Fetcher;
use crate::model::Arch;

/// The conda subdir of a platform.
pub fn subdir(arch: Arch) -> &'static str {
    match arch {
        Arch::Amd64 => "linux-64",
        Arch::Arm64 => "linux-aarch64",
        Arch::Ppc64le => "linux-ppc64le",
        Arch::S390x => "linux-s390x",
        Arch::Riscv64 => "linux-riscv64",
    }
}

/// A channel's base URL: a name is a channel on anaconda.org, a URL is used as it is.
pub fn channel_url(channel: &str) -> String {
    if channel.starts_with("https://") || channel.starts_with("http://") {
        channel.trim_end_matches('/').to_string()
    } else {
        format!("https://conda.anaconda.org/{channel}")
    }
}

/// The build chosen for one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub subdir: String,
    pub version: String,
    pub build: String,
    pub sha256: String,
}

/// Largest repodata.json read (conda-forge's full one is far larger: use a mirror that serves a
/// trimmed channel, or the sharded index, which qmspec does not read yet).
const MAX_REPODATA: usize = 64 * 1024 * 1024;

/// Find the build of `name` at `version` (exact, or the newest within a range) for `arch`.
pub fn resolve(
    fetcher: &Fetcher,
    channel: &str,
    name: &str,
    version: &str,
    arch: Arch,
) -> Result<Build, String> {
    let base = channel_url(channel);
    for sub in [subdir(arch), "noarch"] {
        let url = format!("{base}/{sub}/repodata.json");
        let response = fetcher
            .get_limited(&url, &[], &[], MAX_REPODATA as u64)
            .map_err(|e| e.to_string())?;
        if response.status == 404 {
            continue;
        }
        if response.status != 200 {
            return Err(format!("{url}: the channel answered {}", response.status));
        }
        if response.body.len() >= MAX_REPODATA {
            return Err(format!("{url}: larger than qmspec reads"));
        }
        let repodata: serde_json::Value =
            serde_json::from_slice(&response.body).map_err(|e| format!("{url}: {e}"))?;
        let mut best: Option<(String, i64, String, String)> = None;
        for table in ["packages", "packages.conda"] {
            let Some(packages) = repodata[table].as_object() else {
                continue;
            };
            for p in packages.values() {
                if p["name"].as_str() != Some(name) {
                    continue;
                }
                let v = p["version"].as_str().unwrap_or_default();
                let fits = if crate::versions::is_range(version) {
                    crate::versions::satisfies(v, version) == Some(true)
                } else {
                    v == version
                };
                if !fits {
                    continue;
                }
                let number = p["build_number"].as_i64().unwrap_or(0);
                let build = p["build"].as_str().unwrap_or_default().to_string();
                let sha = p["sha256"].as_str().unwrap_or_default().to_string();
                let better = best.as_ref().is_none_or(|(bv, bn, bb, _)| {
                    crate::versions::compare(v, bv)
                        .then(number.cmp(bn))
                        .then_with(|| build.as_str().cmp(bb.as_str()))
                        .is_gt()
                });
                if better {
                    best = Some((v.to_string(), number, build, sha));
                }
            }
        }
        if let Some((version, _, build, sha256)) = best {
            return Ok(Build {
                subdir: sub.to_string(),
                version,
                build,
                sha256,
            });
        }
    }
    Err(format!(
        "{channel} has no {} (or noarch) build of {name} {version}",
        subdir(arch)
    ))
}
