//! PyPI availability for `qmspec lock`: a pinned package version has a wheel for each platform
//! it is installed on (or a pure-Python wheel, or an sdist to build from), read from the PyPI
//! JSON API (`/pypi/NAME/VERSION/json`).

use crate::fetch::Fetcher;
use crate::model::Arch;

/// The wheel platform tags that run on an architecture's Linux.
fn wheel_arch(arch: Arch) -> &'static str {
    match arch {
        Arch::Amd64 => "x86_64",
        Arch::Arm64 => "aarch64",
        Arch::Ppc64le => "ppc64le",
        Arch::S390x => "s390x",
        Arch::Riscv64 => "riscv64",
    }
}

/// The file pip would install from: a wheel for the platform, a pure-Python wheel, else an
/// sdist (built in the image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distribution {
    pub file: String,
    pub sha256: String,
}

/// Find what pip installs for `name==version` on `arch`.
pub fn resolve(
    fetcher: &Fetcher,
    index: &str,
    name: &str,
    version: &str,
    arch: Arch,
) -> Result<Distribution, String> {
    let url = format!("{}/pypi/{name}/{version}/json", index.trim_end_matches('/'));
    let response = fetcher.get(&url, &[], &[]).map_err(|e| e.to_string())?;
    match response.status {
        200 => {}
        404 => return Err(format!("{url}: PyPI has no {name} {version}")),
        s => return Err(format!("{url}: the index answered {s}")),
    }
    let json: serde_json::Value =
        serde_json::from_slice(&response.body).map_err(|e| format!("{url}: {e}"))?;
    let files = json["urls"].as_array().cloned().unwrap_or_default();
    let tag = wheel_arch(arch);
    let pick = |f: &&serde_json::Value| -> u8 {
        let name = f["filename"].as_str().unwrap_or_default();
        let linux =
            name.contains("manylinux") || name.contains("musllinux") || name.contains("linux_");
        if f["packagetype"] == "bdist_wheel" && linux && name.contains(tag) {
            3
        } else if f["packagetype"] == "bdist_wheel" && name.ends_with("-none-any.whl") {
            2
        } else if f["packagetype"] == "sdist" {
            1
        } else {
            0
        }
    };
    let best = files.iter().filter(|f| pick(f) > 0).max_by_key(|f| pick(f));
    match best {
        Some(f) => Ok(Distribution {
            file: f["filename"].as_str().unwrap_or_default().to_string(),
            sha256: f["digests"]["sha256"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }),
        None => Err(format!(
            "{name} {version} has no wheel for linux/{} and no sdist on {index}",
            arch.name()
        )),
    }
}
