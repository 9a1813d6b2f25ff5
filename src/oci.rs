//! Base images resolved through the OCI distribution API for `qmspec lock`: a tag to the
//! manifest digest of each platform the spec builds, with the anonymous bearer-token flow that
//! ghcr.io and Docker Hub use, every manifest media type accepted, and each digest checked
//! against the bytes it names.

use sha2::{Digest, Sha256};

use crate::fetch::{FetchError, Fetcher, Response};

/// Every manifest type a registry may answer with: without the OCI index type, ghcr.io refuses
/// a multi-arch tag ("OCI index found, but Accept header does not support OCI indexes").
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// An image reference split into what the API needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host as requests name it (`registry-1.docker.io` for Docker Hub).
    pub host: String,
    /// Repository path (`library/debian` for an official Docker Hub image).
    pub repository: String,
}

/// Split `ghcr.io/org/img`, `mambaorg/micromamba` or `debian` into host and repository,
/// normalising Docker Hub as `docker` does.
pub fn split(image: &str) -> ImageRef {
    let (first, rest) = image.split_once('/').unwrap_or(("", image));
    let is_host = first.contains('.') || first.contains(':') || first == "localhost";
    let (host, repository) = if is_host {
        (first.to_string(), rest.to_string())
    } else {
        ("docker.io".to_string(), image.to_string())
    };
    let host = match host.as_str() {
        "docker.io" | "index.docker.io" => "registry-1.docker.io".to_string(),
        _ => host,
    };
    let repository = if host == "registry-1.docker.io" && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository
    };
    ImageRef { host, repository }
}

/// What a tag resolves to for one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The digest `FROM image:tag@…` pins for this platform: its own image manifest.
    pub digest: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `realm`, `service` and `scope` of a `WWW-Authenticate: Bearer …` challenge.
fn challenge(header: &str) -> Option<Vec<(String, String)>> {
    let params = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))?;
    let mut out = Vec::new();
    // key="value" pairs separated by commas; values hold no quotes.
    for part in params.split(',') {
        let (k, v) = part.split_once('=')?;
        out.push((k.trim().to_string(), v.trim().trim_matches('"').to_string()));
    }
    Some(out)
}

/// A registry session: the base URL and, once the registry asked for one, a bearer token.
struct Session<'a> {
    fetcher: &'a Fetcher,
    base: String,
    repository: String,
    token: Option<String>,
}

impl Session<'_> {
    fn get(&mut self, path: &str, accept: &str) -> Result<Response, String> {
        let url = format!("{}/v2/{}/{path}", self.base, self.repository);
        let want = ["docker-content-digest", "content-type", "www-authenticate"];
        let send = |token: &Option<String>| -> Result<Response, FetchError> {
            let auth = token.as_ref().map(|t| format!("Bearer {t}"));
            let mut headers = vec![("Accept", accept)];
            if let Some(a) = &auth {
                headers.push(("Authorization", a.as_str()));
            }
            self.fetcher.get(&url, &headers, &want)
        };
        let mut response = send(&self.token).map_err(|e| e.to_string())?;
        if response.status == 401 && self.token.is_none() {
            let Some(params) = response.header("www-authenticate").and_then(challenge) else {
                return Err(format!(
                    "{url}: the registry asks for credentials qmspec does not have"
                ));
            };
            let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let realm =
                get("realm").ok_or_else(|| format!("{url}: no token realm in the challenge"))?;
            let mut token_url = format!("{realm}?scope=repository:{}:pull", self.repository);
            if let Some(service) = get("service") {
                token_url.push_str(&format!("&service={service}"));
            }
            let answer = self
                .fetcher
                .get(&token_url, &[], &[])
                .map_err(|e| e.to_string())?;
            if answer.status != 200 {
                return Err(format!(
                    "{token_url}: the token service answered {}",
                    answer.status
                ));
            }
            let json: serde_json::Value =
                serde_json::from_slice(&answer.body).map_err(|e| format!("{token_url}: {e}"))?;
            let token = json["token"]
                .as_str()
                .or_else(|| json["access_token"].as_str())
                .ok_or_else(|| format!("{token_url}: no token in the answer"))?;
            self.token = Some(token.to_string());
            response = send(&self.token).map_err(|e| e.to_string())?;
        }
        match response.status {
            200 => Ok(response),
            404 => Err(format!("{url}: not found")),
            s => Err(format!("{url}: the registry answered {s}")),
        }
    }

    /// A manifest and its digest, checked against its bytes.
    fn manifest(&mut self, reference: &str) -> Result<(serde_json::Value, String), String> {
        let response = self.get(&format!("manifests/{reference}"), ACCEPT)?;
        let digest = format!("sha256:{}", sha256_hex(&response.body));
        if let Some(claimed) = response.header("docker-content-digest")
            && claimed != digest
        {
            return Err(format!(
                "{}/{}: the registry says {claimed} but the manifest hashes to {digest}",
                self.base, self.repository
            ));
        }
        if reference.starts_with("sha256:") && reference != digest {
            return Err(format!("{reference}: the manifest hashes to {digest}"));
        }
        let json = serde_json::from_slice(&response.body)
            .map_err(|e| format!("{}/{}:{reference}: {e}", self.base, self.repository))?;
        Ok((json, digest))
    }
}

/// The platform a manifest list entry or an image config names, as `os/arch[/variant]`.
fn platform_of(v: &serde_json::Value) -> (String, String, String) {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    (s("os"), s("architecture"), s("variant"))
}

/// Resolve `image:tag` for each of `platforms` (Docker names: `amd64`, `arm64`, …).
pub fn resolve(
    fetcher: &Fetcher,
    image: &str,
    tag: &str,
    platforms: &[&str],
) -> Result<Vec<(String, Resolved)>, String> {
    let r = split(image);
    let mut session = Session {
        fetcher,
        base: format!("https://{}", r.host),
        repository: r.repository.clone(),
        token: None,
    };
    let (top, top_digest) = session.manifest(tag)?;
    let mut out = Vec::new();
    if let Some(entries) = top["manifests"].as_array() {
        for &arch in platforms {
            // Attestation manifests say `unknown/unknown`: they are not platforms.
            let found = entries.iter().find(|e| {
                let (os, a, variant) = platform_of(&e["platform"]);
                os == "linux"
                    && a == arch
                    && (arch != "arm64" || variant.is_empty() || variant == "v8")
            });
            let Some(entry) = found else {
                return Err(format!("{image}:{tag} has no linux/{arch} image"));
            };
            let digest = entry["digest"].as_str().unwrap_or_default().to_string();
            let sha = digest.strip_prefix("sha256:").unwrap_or_default();
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "{image}:{tag}: the linux/{arch} entry's digest is not sha256"
                ));
            }
            // Fetch it: the digest must name bytes the registry really has.
            session.manifest(&digest)?;
            out.push((arch.to_string(), Resolved { digest }));
        }
    } else {
        // One image, not a list: its config says which platform it is.
        let config = top["config"]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let blob = session.get(&format!("blobs/{config}"), "*/*")?;
        if format!("sha256:{}", sha256_hex(&blob.body)) != config {
            return Err(format!(
                "{image}:{tag}: its config does not hash to {config}"
            ));
        }
        let json: serde_json::Value =
            serde_json::from_slice(&blob.body).map_err(|e| format!("{image}:{tag}: {e}"))?;
        let (os, arch, _) = platform_of(&json);
        for &want in platforms {
            if os != "linux" || arch != want {
                return Err(format!(
                    "{image}:{tag} is a {os}/{arch} image, not linux/{want}"
                ));
            }
            out.push((
                want.to_string(),
                Resolved {
                    digest: top_digest.clone(),
                },
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_as_docker_does() {
        let r = |h: &str, p: &str| ImageRef {
            host: h.into(),
            repository: p.into(),
        };
        assert_eq!(split("debian"), r("registry-1.docker.io", "library/debian"));
        assert_eq!(
            split("mambaorg/micromamba"),
            r("registry-1.docker.io", "mambaorg/micromamba")
        );
        assert_eq!(
            split("docker.io/python"),
            r("registry-1.docker.io", "library/python")
        );
        assert_eq!(
            split("ghcr.io/nwchemgit/nwchem-dev/amd64"),
            r("ghcr.io", "nwchemgit/nwchem-dev/amd64")
        );
        assert_eq!(split("localhost:5000/base"), r("localhost:5000", "base"));
    }

    #[test]
    fn bearer_challenges_are_read() {
        let c = challenge(
            r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull""#,
        )
        .expect("a challenge");
        assert_eq!(c[0], ("realm".into(), "https://ghcr.io/token".into()));
        assert_eq!(c[1], ("service".into(), "ghcr.io".into()));
        assert!(challenge("Basic realm=x").is_none());
    }
}
