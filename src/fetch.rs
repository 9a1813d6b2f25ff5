//! Network access for `qmspec lock`, and nothing else: every other command is offline. HTTPS
//! only (plain HTTP for a loopback address, or when the user allows it), bounded redirects,
//! timeouts, a size limit, retries with backoff for failures that may pass, the proxy from
//! the environment (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`), and URL prefixes rewritten to a
//! mirror.

use std::io::Read;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// How `qmspec lock` reaches the network.
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// Allow plain HTTP to any host (it is always allowed to a loopback address).
    pub allow_http: bool,
    /// `(from, to)` URL prefixes: a URL starting with `from` is fetched from `to` instead.
    pub mirrors: Vec<(String, String)>,
    /// Largest download hashed, in bytes.
    pub max_bytes: u64,
    /// Longest a whole download may take.
    pub timeout: Duration,
    /// Attempts per URL for failures that may pass (a dropped connection, a 5xx, a 429).
    pub attempts: u32,
    /// Pause before the second attempt; doubled before each next one.
    pub backoff: Duration,
    /// Told how far each download has got, for a progress display; `None` when nobody watches.
    pub progress: Option<Progress>,
}

/// A download's progress: `(url, bytes so far, bytes expected)`, then `done` once it ended.
#[derive(Clone)]
pub struct Progress(pub std::sync::Arc<Watcher>);

/// What watches downloads: `(url, bytes so far, bytes expected, done)`.
pub type Watcher = dyn Fn(&str, u64, Option<u64>, bool) + Send + Sync;

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

impl Default for Fetcher {
    fn default() -> Self {
        Fetcher {
            allow_http: false,
            mirrors: Vec::new(),
            max_bytes: 4 * 1024 * 1024 * 1024,
            timeout: Duration::from_secs(30 * 60),
            attempts: 3,
            backoff: Duration::from_millis(500),
            progress: None,
        }
    }
}

/// A download as hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub sha256: String,
    pub size: u64,
}

/// A small document fetched with [`Fetcher::get`].
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// The response headers asked for, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a URL could not be hashed; each names the URL it is about.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {why}")]
    Refused { url: String, why: String },
    #[error("{url}: the server answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: larger than {limit} bytes (the limit of `qmspec lock --max-size`)")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: not downloaded within the timeout of {secs} s (`qmspec lock --timeout`)")]
    Timeout { url: String, secs: u64 },
    #[error("{url}: the download ended after {got} of {expected} bytes")]
    Truncated {
        url: String,
        got: u64,
        expected: u64,
    },
    #[error("{url}: {source}")]
    Transport { url: String, source: ureq::Error },
    #[error("{url}: {source}")]
    Read { url: String, source: std::io::Error },
}

impl FetchError {
    /// Whether another attempt may succeed.
    fn passing(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => *status >= 500 || *status == 429,
            FetchError::Truncated { .. } | FetchError::Read { .. } | FetchError::Timeout { .. } => {
                true
            }
            FetchError::Transport { source, .. } => matches!(
                source,
                ureq::Error::Io(_) | ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed
            ),
            _ => false,
        }
    }
}

/// A relative reference (a redirect's `Location`, a shard folder) against the URL it is
/// relative to.
pub fn join(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if let Some(path) = location.strip_prefix("//") {
        return format!("{scheme}://{path}");
    }
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let location = location.trim_start_matches("./");
    let path = &rest[authority.len()..];
    let path = path.split(['?', '#']).next().unwrap_or("");
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{scheme}://{authority}{dir}/{location}")
}

/// Whether a URL's host is a loopback address, where plain HTTP stays on the machine.
fn loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Fetcher {
    /// The URL actually fetched: the first mirror whose prefix matches, else the URL.
    pub fn effective(&self, url: &str) -> String {
        self.mirrors
            .iter()
            .find(|(from, _)| url.starts_with(from.as_str()))
            .map_or_else(
                || url.to_string(),
                |(from, to)| format!("{to}{}", &url[from.len()..]),
            )
    }

    /// Refuse what must not be fetched: anything but HTTPS, except HTTP to loopback or allowed.
    fn policy(&self, url: &str, shown: &str) -> Result<(), FetchError> {
        let refused = |why: &str| FetchError::Refused {
            url: shown.to_string(),
            why: why.to_string(),
        };
        if url.starts_with("https://") {
            Ok(())
        } else if url.starts_with("http://") {
            if self.allow_http || loopback(url) {
                Ok(())
            } else {
                Err(refused(
                    "plain HTTP can be changed on the way: use an https:// URL (or `qmspec lock --allow-http` for a trusted network)",
                ))
            }
        } else {
            Err(refused(
                "only https:// (and http:// to this machine) is fetched",
            ))
        }
    }

    /// GET a small document (a registry manifest, a token, an index page) with extra request
    /// headers; any status is returned with the response headers asked for and the body (at
    /// most 8 MiB), retrying failures that may pass.
    pub fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        want: &[&str],
    ) -> Result<Response, FetchError> {
        self.get_limited(url, headers, want, 8 * 1024 * 1024)
    }

    /// [`Fetcher::get`] with a body limit of its own (a channel index is larger).
    pub fn get_limited(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        want: &[&str],
        limit: u64,
    ) -> Result<Response, FetchError> {
        let target = self.effective(url);
        self.retrying(
            || self.get_once(&target, url, headers, want, limit),
            |r| r.status >= 500 || r.status == 429,
        )
    }

    /// Run one attempt until it succeeds, fails for good, or the attempts run out; `again`
    /// says which answers are worth another attempt besides errors that may pass. Each hop's
    /// policy is checked by [`Fetcher::call`], so a refused URL is never retried.
    fn retrying<T>(
        &self,
        once: impl Fn() -> Result<T, FetchError>,
        again: impl Fn(&T) -> bool,
    ) -> Result<T, FetchError> {
        let mut pause = self.backoff;
        let mut attempt = 1;
        loop {
            let result = once();
            let retry = match &result {
                Ok(r) => again(r),
                Err(e) => e.passing(),
            };
            if !retry || attempt >= self.attempts {
                return result;
            }
            std::thread::sleep(pause);
            pause *= 2;
            attempt += 1;
        }
    }

    fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            // Redirects are followed by `call`, each hop checked like the first URL.
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_global(Some(self.timeout))
            .user_agent(concat!("qmspec/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent()
    }

    /// Send a GET, following redirects by hand so that every hop passes the same policy as
    /// the first URL (a loopback server may not send qmspec to plain HTTP elsewhere).
    fn call(
        &self,
        target: &str,
        shown: &str,
        headers: &[(&str, &str)],
    ) -> Result<ureq::http::Response<ureq::Body>, FetchError> {
        let mut url = target.to_string();
        for _ in 0..=5 {
            self.policy(&url, shown)?;
            let mut request = self.agent().get(&url);
            for (k, v) in headers {
                request = request.header(*k, *v);
            }
            let response = request.call().map_err(|source| match source {
                ureq::Error::Timeout(_) => FetchError::Timeout {
                    url: shown.to_string(),
                    secs: self.timeout.as_secs(),
                },
                source => FetchError::Transport {
                    url: shown.to_string(),
                    source,
                },
            })?;
            if !response.status().is_redirection() {
                return Ok(response);
            }
            let Some(location) = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
            else {
                return Ok(response);
            };
            url = join(&url, location);
        }
        Err(FetchError::Refused {
            url: shown.to_string(),
            why: "more than 5 redirects".to_string(),
        })
    }

    fn get_once(
        &self,
        target: &str,
        shown: &str,
        headers: &[(&str, &str)],
        want: &[&str],
        limit: u64,
    ) -> Result<Response, FetchError> {
        let mut response = self.call(target, shown, headers)?;
        let status = response.status().as_u16();
        let kept = want
            .iter()
            .filter_map(|name| {
                response
                    .headers()
                    .get(*name)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| (name.to_ascii_lowercase(), v.to_string()))
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|source| FetchError::Transport {
                url: shown.to_string(),
                source,
            })?;
        Ok(Response {
            status,
            headers: kept,
            body,
        })
    }

    /// Stream a URL and hash it, retrying failures that may pass.
    pub fn hash(&self, url: &str) -> Result<Fetched, FetchError> {
        let target = self.effective(url);
        self.retrying(|| self.hash_once(&target, url), |_| false)
    }

    fn hash_once(&self, target: &str, shown: &str) -> Result<Fetched, FetchError> {
        let response = self.call(target, shown, &[])?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(FetchError::Status {
                url: shown.to_string(),
                status,
            });
        }
        // A release is never an HTML page: that is an error page or a login wall served with 200.
        let html = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.trim_start().starts_with("text/html"));
        if html {
            return Err(FetchError::Refused {
                url: shown.to_string(),
                why: "the server sent an HTML page, not a release file".to_string(),
            });
        }
        let expected: Option<u64> = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        if expected.is_some_and(|n| n > self.max_bytes) {
            return Err(FetchError::TooLarge {
                url: shown.to_string(),
                limit: self.max_bytes,
            });
        }
        let report = |size: u64, done: bool| {
            if let Some(Progress(tell)) = &self.progress {
                tell(shown, size, expected, done);
            }
        };
        // Whatever way this attempt ends, the display lets go of the download.
        struct Done<'a>(&'a dyn Fn(u64, bool));
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                (self.0)(0, true);
            }
        }
        let _done = Done(&report);
        let mut reader = response.into_body().into_reader();
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source)
                    if source.kind() == std::io::ErrorKind::TimedOut
                        || source.to_string().to_ascii_lowercase().contains("timeout") =>
                {
                    return Err(FetchError::Timeout {
                        url: shown.to_string(),
                        secs: self.timeout.as_secs(),
                    });
                }
                Err(source) => {
                    return Err(match expected {
                        Some(expected) if size < expected => FetchError::Truncated {
                            url: shown.to_string(),
                            got: size,
                            expected,
                        },
                        _ => FetchError::Read {
                            url: shown.to_string(),
                            source,
                        },
                    });
                }
            };
            size += n as u64;
            if size > self.max_bytes {
                return Err(FetchError::TooLarge {
                    url: shown.to_string(),
                    limit: self.max_bytes,
                });
            }
            hasher.update(&buf[..n]);
            report(size, false);
        }
        if let Some(expected) = expected.filter(|e| *e != size) {
            return Err(FetchError::Truncated {
                url: shown.to_string(),
                got: size,
                expected,
            });
        }
        let sha256 = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Fetched { sha256, size })
    }
}

/// The commit a GitHub Action's release tag points at, read with `git ls-remote` from
/// `https://github.com/ACTION` (or the mirror `--mirror` gives; a local repository counts as
/// this machine). With `upgrade`, the newest `vMAJOR.x.y` tag of the same major instead.
pub fn release_commit(
    fetcher: &Fetcher,
    action: &str,
    tag: &str,
    upgrade: bool,
) -> Result<(String, String), String> {
    let url = fetcher.effective(&format!("https://github.com/{action}"));
    let local = url.starts_with("file://") || url.starts_with('/');
    if !local {
        fetcher
            .policy(&url, &format!("https://github.com/{action}"))
            .map_err(|e| e.to_string())?;
    }
    // No redirects (they could leave HTTPS), and only the transports the policy allows.
    let http = if url.starts_with("http://") {
        "always"
    } else {
        "never"
    };
    let allow_http = format!("protocol.http.allow={http}");
    let output = run_git(
        &[
            "-c",
            "http.followRedirects=false",
            "-c",
            "protocol.allow=never",
            "-c",
            "protocol.https.allow=always",
            "-c",
            "protocol.file.allow=always",
            "-c",
            &allow_http,
            "ls-remote",
            "--tags",
            "--",
            &url,
        ],
        Duration::from_secs(120),
    )
    .map_err(|e| format!("{url}: {e}"))?;
    // `SHA\trefs/tags/NAME` and, for an annotated tag, `SHA\trefs/tags/NAME^{}` (its commit).
    let mut tags: Vec<(String, String)> = Vec::new();
    for line in output.lines() {
        let Some((sha, name)) = line.split_once('\t') else {
            continue;
        };
        let Some(name) = name.strip_prefix("refs/tags/") else {
            continue;
        };
        match name.strip_suffix("^{}") {
            Some(peeled) => {
                tags.retain(|(n, _)| n != peeled);
                tags.push((peeled.to_string(), sha.to_string()));
            }
            None if !tags.iter().any(|(n, _)| n == name) => {
                tags.push((name.to_string(), sha.to_string()))
            }
            None => {}
        }
    }
    let major = tag.split('.').next().unwrap_or(tag);
    let chosen = if upgrade {
        tags.iter()
            .filter(|(n, _)| {
                n.split('.').next() == Some(major)
                    && n.matches('.').count() == 2
                    && n[1..].split('.').all(|p| p.parse::<u64>().is_ok())
            })
            .max_by(|a, b| crate::versions::compare(&a.0[1..], &b.0[1..]))
    } else {
        tags.iter().find(|(n, _)| n == tag)
    };
    match chosen {
        Some((name, sha)) if sha.len() == 40 => Ok((name.clone(), sha.clone())),
        Some((name, sha)) => Err(format!("{url}: tag {name} names `{sha}`, not a commit")),
        None => Err(format!("{url}: no release tag {tag}")),
    }
}

/// Run git without a terminal prompt, killed after `timeout`.
fn run_git(args: &[&str], timeout: Duration) -> Result<String, String> {
    let mut child = std::process::Command::new("git")
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    // Read both pipes while git runs: a long tag list fills a pipe and would block git.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut text);
            }
            text
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("git did not answer within {} s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        let err = String::from_utf8_lossy(&stderr);
        return Err(err.lines().next().unwrap_or("git failed").to_string());
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_leaves_this_machine() {
        let f = Fetcher::default();
        assert!(f.policy("https://example.org/x", "x").is_ok());
        assert!(f.policy("http://127.0.0.1:8000/x", "x").is_ok());
        assert!(f.policy("http://localhost/x", "x").is_ok());
        assert!(f.policy("http://[::1]:80/x", "x").is_ok());
        assert!(f.policy("http://example.org/x", "x").is_err());
        assert!(f.policy("http://127.0.0.1.example.org/x", "x").is_err());
        assert!(f.policy("http://user@example.org/x", "x").is_err());
        assert!(f.policy("ftp://example.org/x", "x").is_err());
        assert!(f.policy("file:///etc/passwd", "x").is_err());
        let open = Fetcher {
            allow_http: true,
            ..Fetcher::default()
        };
        assert!(open.policy("http://example.org/x", "x").is_ok());
        assert!(!loopback("http://127.0.0.1.example.org/x"));
        assert!(loopback("http://user@127.0.0.1:9/x"));
    }

    #[test]
    fn redirects_join_against_the_url_they_answer() {
        assert_eq!(join("http://h:1/a/b?q", "/c"), "http://h:1/c");
        assert_eq!(join("http://h:1/a/b", "c"), "http://h:1/a/c");
        assert_eq!(join("http://h:1/a/b", "https://x/y"), "https://x/y");
        assert_eq!(join("https://h/a", "//cdn/x"), "https://cdn/x");
        assert_eq!(
            join(
                "http://h/c/linux-64/repodata_shards.msgpack.zst",
                "./shards/"
            ),
            "http://h/c/linux-64/shards/"
        );
    }

    #[test]
    fn mirrors_rewrite_the_first_matching_prefix() {
        let f = Fetcher {
            mirrors: vec![
                (
                    "https://github.com/".into(),
                    "http://127.0.0.1:9/gh/".into(),
                ),
                ("https://".into(), "https://mirror.example/".into()),
            ],
            ..Fetcher::default()
        };
        assert_eq!(
            f.effective("https://github.com/a/b"),
            "http://127.0.0.1:9/gh/a/b"
        );
        assert_eq!(
            f.effective("https://x.org/a"),
            "https://mirror.example/x.org/a"
        );
        assert_eq!(f.effective("http://x.org/a"), "http://x.org/a");
    }
}
