//! Conda packages resolved from a channel's index for `qmspec lock`: the build of the pinned
//! version (or the newest within a range) for each platform's subdir, falling back to `noarch`;
//! a platform without one is an error naming the package, version and subdir. The index is the
//! sharded one where the channel serves it (CEP-16, as conda-forge does: one small zstd +
//! msgpack shard per package name, addressed by its sha256), else the whole `repodata.json`
//! (what mirrors and local channels serve).

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

/// One package file of a channel, as its index describes it. Records in `repodata.json` carry
/// the sha256 as hex text, shards as 32 raw bytes.
#[derive(Debug, Clone, serde::Deserialize)]
struct Record {
    name: String,
    version: String,
    #[serde(default)]
    build: String,
    #[serde(default)]
    build_number: i64,
    #[serde(default, deserialize_with = "sha256_text_or_bytes")]
    sha256: Option<String>,
}

fn sha256_text_or_bytes<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Sha {
        Text(String),
        Bytes(serde_bytes::ByteBuf),
    }
    Ok(match Option::<Sha>::deserialize(d)? {
        None => None,
        Some(Sha::Text(t)) => Some(t),
        Some(Sha::Bytes(b)) => Some(hex(&b)),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

use serde::Deserialize;

/// The records of one index document: `repodata.json` or a shard (same two tables).
#[derive(Debug, Default, serde::Deserialize)]
struct Packages {
    #[serde(default)]
    packages: std::collections::BTreeMap<String, Record>,
    #[serde(default, rename = "packages.conda")]
    conda: std::collections::BTreeMap<String, Record>,
}

/// A sharded index (`repodata_shards.msgpack.zst`): where shards live and each name's shard hash.
#[derive(Debug, serde::Deserialize)]
struct ShardIndex {
    #[serde(default)]
    info: ShardInfo,
    shards: std::collections::BTreeMap<String, serde_bytes::ByteBuf>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct ShardInfo {
    #[serde(default)]
    shards_base_url: String,
}

/// What a channel subdir offers.
enum Index {
    /// The subdir does not exist (a channel without `noarch`, say).
    Missing,
    /// Sharded: the URL shards are relative to, and each package name's shard hash.
    Sharded {
        base: String,
        shards: std::collections::BTreeMap<String, serde_bytes::ByteBuf>,
    },
    /// The whole `repodata.json`, records grouped by package name.
    Whole(std::collections::HashMap<String, Vec<Record>>),
}

/// Largest `repodata.json` read (conda-forge's full one is far larger: it is read through its
/// shards instead).
const MAX_REPODATA: u64 = 64 * 1024 * 1024;
/// Largest shard index or shard, compressed and decompressed (conda-forge's linux-64 shard index
/// is a few MiB; a shard holds one package name).
const MAX_SHARDS: u64 = 64 * 1024 * 1024;

/// The channel indexes read during one `qmspec lock`, each fetched once however many packages
/// and platforms ask for it.
#[derive(Default)]
pub struct Channels {
    indexes: std::collections::HashMap<String, Index>,
}

impl Channels {
    /// Find the build of `name` at `version` (exact, or the newest within a range) for `arch`.
    pub fn resolve(
        &mut self,
        fetcher: &Fetcher,
        channel: &str,
        name: &str,
        version: &str,
        arch: Arch,
    ) -> Result<Build, String> {
        let fits = |r: &Record| {
            if crate::versions::is_range(version) {
                crate::versions::satisfies(&r.version, version) == Some(true)
            } else {
                r.version == version
            }
        };
        self.find(fetcher, channel, name, &fits, arch)?
            .ok_or_else(|| {
                format!(
                    "{channel} has no {} (or noarch) build of {name} {version}",
                    subdir(arch)
                )
            })
    }

    /// Check that every conda package an environment file asks for has a build for `arch` in
    /// one of the file's channels (the first channel that has the package decides, as conda's
    /// strict priority does). Nothing is recorded: the install reads the file.
    pub fn check_environment(
        &mut self,
        fetcher: &Fetcher,
        file: &str,
        text: &str,
        arch: Arch,
    ) -> Vec<String> {
        let doc = match crate::yaml::parse(text) {
            Ok(doc) => doc.value,
            Err(_) => return vec![format!("{file}: not a YAML environment file")],
        };
        let channels: Vec<&str> = doc["channels"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|c| c.as_str())
                    .filter(|c| *c != "nodefaults")
                    .collect()
            })
            .unwrap_or_default();
        if channels.is_empty() {
            return vec![format!(
                "{file} names no channel under `channels:`, so qmspec cannot check its packages: name the channel (conda-forge, say)"
            )];
        }
        let mut problems = Vec::new();
        for line in doc["dependencies"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d.as_str())
        {
            let Some(dep) = dependency(line) else {
                problems.push(format!(
                    "{file}: `{line}` is not a conda package spec qmspec reads"
                ));
                continue;
            };
            let fits = |r: &Record| {
                admits(&dep.version, &r.version)
                    && dep.build.as_deref().is_none_or(|b| glob(b, &r.build))
            };
            let search: Vec<&str> = dep.channel.as_deref().map_or(channels.clone(), |c| vec![c]);
            let mut found = false;
            for channel in &search {
                match self.find(fetcher, channel, &dep.name, &fits, arch) {
                    Ok(Some(_)) => {
                        found = true;
                        break;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        problems.push(e);
                        found = true;
                        break;
                    }
                }
            }
            if !found {
                problems.push(format!(
                    "{file}: {} has no {} (or noarch) build of `{line}`",
                    search.join(", "),
                    subdir(arch)
                ));
            }
        }
        problems
    }

    /// The newest build of `name` that `fits` for `arch`: its subdir first, then `noarch`.
    fn find(
        &mut self,
        fetcher: &Fetcher,
        channel: &str,
        name: &str,
        fits: &dyn Fn(&Record) -> bool,
        arch: Arch,
    ) -> Result<Option<Build>, String> {
        let base = channel_url(channel);
        for sub in [subdir(arch), "noarch"] {
            let url = format!("{base}/{sub}/");
            if !self.indexes.contains_key(&url) {
                let index = read_index(fetcher, &url)?;
                self.indexes.insert(url.clone(), index);
            }
            let records = match &self.indexes[&url] {
                Index::Missing => continue,
                Index::Whole(by_name) => by_name.get(name).cloned().unwrap_or_default(),
                Index::Sharded { base, shards } => match shards.get(name) {
                    None => Vec::new(),
                    Some(hash) => read_shard(fetcher, base, hash)?,
                },
            };
            if let Some(best) = choose(&records, name, fits) {
                return Ok(Some(Build {
                    subdir: sub.to_string(),
                    version: best.version.clone(),
                    build: best.build.clone(),
                    sha256: best.sha256.clone().unwrap_or_default(),
                }));
            }
        }
        Ok(None)
    }
}

/// One conda package spec of an environment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// `channel::name` names its own channel.
    pub channel: Option<String>,
    pub name: String,
    /// The version spec: empty for any.
    pub version: String,
    /// A build string or glob.
    pub build: Option<String>,
}

/// Read a conda package spec: `name`, `name=1.2`, `name=1.2=build`, `name==1.2`,
/// `name>=1.2,<2`, `name 1.2 build`, `channel::name…`; `[key=value]` options are ignored.
pub fn dependency(line: &str) -> Option<Dependency> {
    let line = line.split('[').next().unwrap_or_default().trim();
    let (channel, rest) = match line.rsplit_once("::") {
        Some((c, r)) => (Some(c.to_string()), r),
        None => (None, line),
    };
    let end = rest
        .find(|c: char| " =<>!~".contains(c))
        .unwrap_or(rest.len());
    let name = &rest[..end];
    let valid = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if name.is_empty() || !name.chars().all(valid) {
        return None;
    }
    let tail = rest[end..].trim();
    let (version, build) = if rest[end..].starts_with(' ') {
        let mut words = tail.split_whitespace();
        (
            words.next().unwrap_or_default().to_string(),
            words.next().map(str::to_string),
        )
    } else if tail.starts_with('=') && !tail.starts_with("==") {
        match tail[1..].split_once('=') {
            Some((v, b)) => (format!("={v}"), Some(b.to_string())),
            None => (tail.to_string(), None),
        }
    } else {
        (tail.replace(' ', ""), None)
    };
    Some(Dependency {
        channel,
        name: name.to_string(),
        version,
        build,
    })
}

/// Whether a conda version spec admits `version`: empty or `*` any, `1.2` and `=1.2` that
/// version and its sub-releases (`1.2.5`), `1.2.*` the same, `==1.2` exactly, comparisons
/// joined by `,`, alternatives by `|`.
pub fn admits(spec: &str, version: &str) -> bool {
    spec.split('|').any(|alt| {
        let alt = alt.trim();
        if alt.is_empty() || alt == "*" {
            return true;
        }
        if alt.starts_with("==") || alt.starts_with(['<', '>', '!', '~']) {
            return crate::versions::satisfies(version, alt) == Some(true);
        }
        let prefix = alt
            .trim_start_matches('=')
            .trim_end_matches('*')
            .trim_end_matches('.');
        version == prefix || version.starts_with(&format!("{prefix}."))
    })
}

/// A build string against a glob of `*` wildcards (`*_openmpi`).
fn glob(pattern: &str, text: &str) -> bool {
    crate::config::wildcard(pattern, text)
}

/// The newest record of `name` that `fits`: the newest version, then the highest build number,
/// then the build string, so the choice does not depend on the index's order.
fn choose<'r>(
    records: &'r [Record],
    name: &str,
    fits: &dyn Fn(&Record) -> bool,
) -> Option<&'r Record> {
    records
        .iter()
        .filter(|r| r.name == name && fits(r))
        .max_by(|a, b| {
            crate::versions::compare(&a.version, &b.version)
                .then(a.build_number.cmp(&b.build_number))
                .then_with(|| a.build.cmp(&b.build))
        })
}

/// Read a subdir's index: the shard index where there is one, else `repodata.json`.
fn read_index(fetcher: &Fetcher, subdir_url: &str) -> Result<Index, String> {
    let url = format!("{subdir_url}repodata_shards.msgpack.zst");
    let response = fetcher
        .get_limited(&url, &[], &[], MAX_SHARDS)
        .map_err(|e| e.to_string())?;
    match response.status {
        200 => {
            let index: ShardIndex = rmp_serde::from_slice(&unzstd(&url, &response.body)?)
                .map_err(|e| format!("{url}: not a shard index: {e}"))?;
            let base = crate::fetch::join(&url, &index.info.shards_base_url);
            let base = if base.ends_with('/') {
                base
            } else {
                format!("{base}/")
            };
            return Ok(Index::Sharded {
                base,
                shards: index.shards,
            });
        }
        // No sharded index here: the whole repodata.json.
        404 | 403 => {}
        status => return Err(format!("{url}: the channel answered {status}")),
    }
    let url = format!("{subdir_url}repodata.json");
    let response = fetcher
        .get_limited(&url, &[], &[], MAX_REPODATA)
        .map_err(|e| e.to_string())?;
    match response.status {
        200 => {}
        404 => return Ok(Index::Missing),
        status => return Err(format!("{url}: the channel answered {status}")),
    }
    if response.body.len() as u64 >= MAX_REPODATA {
        return Err(format!(
            "{url}: larger than the {} MiB qmspec reads; serve the channel's sharded index (repodata_shards.msgpack.zst) or a trimmed mirror",
            MAX_REPODATA >> 20
        ));
    }
    let packages: Packages =
        serde_json::from_slice(&response.body).map_err(|e| format!("{url}: {e}"))?;
    let mut by_name: std::collections::HashMap<String, Vec<Record>> = Default::default();
    for record in packages
        .packages
        .into_values()
        .chain(packages.conda.into_values())
    {
        by_name.entry(record.name.clone()).or_default().push(record);
    }
    Ok(Index::Whole(by_name))
}

/// Fetch one shard, check it is the one its hash names, and read its records.
fn read_shard(
    fetcher: &Fetcher,
    base: &str,
    hash: &serde_bytes::ByteBuf,
) -> Result<Vec<Record>, String> {
    use sha2::Digest;
    let url = format!("{base}{}.msgpack.zst", hex(hash));
    let response = fetcher
        .get_limited(&url, &[], &[], MAX_SHARDS)
        .map_err(|e| e.to_string())?;
    if response.status != 200 {
        return Err(format!("{url}: the channel answered {}", response.status));
    }
    if sha2::Sha256::digest(&response.body).as_slice() != hash.as_slice() {
        return Err(format!(
            "{url}: the shard's sha256 is not the one the shard index names"
        ));
    }
    let packages: Packages = rmp_serde::from_slice(&unzstd(&url, &response.body)?)
        .map_err(|e| format!("{url}: not a shard: {e}"))?;
    Ok(packages
        .packages
        .into_values()
        .chain(packages.conda.into_values())
        .collect())
}

/// Decompress a zstd document, at most [`MAX_SHARDS`] bytes of it.
fn unzstd(url: &str, compressed: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let decoder = ruzstd::decoding::StreamingDecoder::new(compressed)
        .map_err(|e| format!("{url}: not zstd: {e}"))?;
    let mut out = Vec::new();
    decoder
        .take(MAX_SHARDS + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("{url}: not zstd: {e}"))?;
    if out.len() as u64 > MAX_SHARDS {
        return Err(format!(
            "{url}: more than {} MiB decompressed",
            MAX_SHARDS >> 20
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_specs_read_as_conda_reads_them() {
        let d = |line: &str| {
            let d = dependency(line).expect(line);
            (d.channel, d.name, d.version, d.build)
        };
        assert_eq!(d("xtb"), (None, "xtb".into(), "".into(), None));
        assert_eq!(
            d("python=3.11"),
            (None, "python".into(), "=3.11".into(), None)
        );
        assert_eq!(
            d("xtb=6.7.1=h2_2"),
            (None, "xtb".into(), "=6.7.1".into(), Some("h2_2".into()))
        );
        assert_eq!(
            d("rdkit>=2025.9, <2026"),
            (None, "rdkit".into(), ">=2025.9,<2026".into(), None)
        );
        assert_eq!(
            d("nwchem 7.3.1 *_openmpi"),
            (
                None,
                "nwchem".into(),
                "7.3.1".into(),
                Some("*_openmpi".into())
            )
        );
        assert_eq!(
            d("conda-forge::crest==3.0.2[md5=abc]"),
            (
                Some("conda-forge".into()),
                "crest".into(),
                "==3.0.2".into(),
                None
            )
        );
        assert_eq!(dependency("{bad}"), None);
        assert_eq!(dependency("=1.2"), None);
    }

    #[test]
    fn version_specs_admit_as_conda_does() {
        assert!(admits("", "1.0") && admits("*", "1.0"));
        assert!(admits("=3.11", "3.11.9") && admits("=3.11", "3.11"));
        assert!(!admits("=3.11", "3.110") && !admits("=3.11", "3.12.0"));
        assert!(admits("3.11.*", "3.11.2") && !admits("3.11.*", "3.12"));
        assert!(admits("==6.7.1", "6.7.1") && !admits("==6.7.1", "6.7.1.1"));
        assert!(admits(">=2025.9,<2026", "2025.09.3") && !admits(">=2025.9,<2026", "2026.1"));
        assert!(admits("1.0|2.0", "2.0.1") && !admits("1.0|2.0", "3.0"));
    }

    #[test]
    fn build_globs_match_whole_builds() {
        assert!(glob("h2_2", "h2_2") && !glob("h2_2", "h2_22"));
        assert!(glob("*_openmpi", "h1_openmpi") && !glob("*_openmpi", "h1_mpich"));
        assert!(glob("py3*_0", "py311h_0") && !glob("py3*_0", "py311h_1"));
        assert!(glob("a*b*c", "axxbyyc") && !glob("a*b*c", "acb"));
    }
}
