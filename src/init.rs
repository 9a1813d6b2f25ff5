//! `qmspec init`: a commented starter spec for a new repository, with the image name from the
//! folder and the registry owner from the git remote, so that `generate` then `check` pass at once.

/// Where the registry and owner come from, when the git remote tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub registry: String,
    pub owner: String,
    /// `https://github.com/OWNER/REPO`, for the image's source label.
    pub source: String,
}

/// Read the `origin` remote (else the first remote) from the text of `.git/config`, and map a
/// GitHub URL (`https://github.com/O/R(.git)`, `git@github.com:O/R.git`, `ssh://git@github.com/O/R`)
/// to ghcr.io and its owner. Other hosts give no guess: their registries differ.
pub fn origin(git_config: &str) -> Option<Origin> {
    let mut section = String::new();
    let mut urls: Vec<(bool, String)> = Vec::new();
    for line in git_config.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.to_string();
            continue;
        }
        if let Some((key, value)) = line.split_once('=')
            && key.trim() == "url"
            && section.starts_with("[remote ")
        {
            urls.push((
                section == "[remote \"origin\"]",
                value.trim().trim_matches('"').to_string(),
            ));
        }
    }
    urls.sort_by_key(|(is_origin, _)| !is_origin);
    let url = &urls.first()?.1;
    let path = url
        .strip_prefix("https://github.com/")
        .or_else(|| url.strip_prefix("http://github.com/"))
        .or_else(|| url.strip_prefix("git@github.com:"))
        .or_else(|| url.strip_prefix("ssh://git@github.com/"))?;
    let path = path.trim_end_matches('/');
    let mut parts = path.strip_suffix(".git").unwrap_or(path).split('/');
    let (owner, repo) = (parts.next()?, parts.next()?);
    // GitHub's rules: an owner is letters, digits and inner single hyphens; a repository name
    // is letters, digits, `-`, `_` and `.`, and not `.` or `..`.
    let owner_ok = !owner.is_empty()
        && owner.len() <= 39
        && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !owner.starts_with('-')
        && !owner.ends_with('-')
        && !owner.contains("--");
    let repo_ok = !repo.is_empty()
        && repo != "."
        && repo != ".."
        && repo
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !owner_ok || !repo_ok || parts.next().is_some() {
        return None;
    }
    Some(Origin {
        registry: "ghcr.io".into(),
        owner: owner.to_ascii_lowercase(),
        source: format!("https://github.com/{owner}/{repo}"),
    })
}

/// An image name from a folder or given name: lower case, runs of other characters as one
/// `-`, as the spec's `name` pattern wants; `None` when nothing usable is left.
pub fn image_name(raw: &str) -> Option<String> {
    let mut out = String::new();
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    (!out.is_empty() && out.len() <= 64).then_some(out)
}

/// The path of a new spec named `name`, from the first spec glob: each `*` becomes the name
/// (`specs/*.yaml` → `specs/NAME.yaml`, `images/*/spec.yaml` → `images/NAME/spec.yaml`), a
/// `**` folder is left out, and a glob without a wildcard is the path itself.
pub fn spec_path(glob: &str, name: &str) -> String {
    glob.split('/')
        .filter(|s| !s.is_empty() && *s != "." && *s != "**")
        .map(|s| s.replacen('*', name, 1).replace('*', ""))
        .collect::<Vec<_>>()
        .join("/")
}

/// The starter spec: every value a new image needs, commented, one tool with a release file per
/// platform. The name is a plain word (see [`image_name`]); the origin's parts are plain words
/// checked by [`origin`], so nothing here needs quoting beyond what the text shows.
pub fn starter(name: &str, origin: Option<&Origin>, modeline: &str) -> String {
    let registry = match origin {
        Some(o) => format!(
            "registry: {}\n# Guessed from the git remote.\nowner: {}\nlabels:\n  org.opencontainers.image.source: {}\n",
            o.registry, o.owner, o.source
        ),
        None => "registry: ghcr.io\n# The registry owner; left out, CI uses the repository's owner.\n# owner: your-org\n".to_string(),
    };
    format!(
        r#"{modeline}
#
# The {name} image, built natively on x86-64 and ARM64. Edit this file, then run
# `qmspec generate`; `qmspec check` (a pre-commit hook) keeps the generated files in step.
# `qmspec explain` shows how the platforms differ.
name: "{name}"
{registry}validation-script: generated/validate-{name}.sh

platforms:
  amd64:
    base:
      image: debian
      tag: bookworm-slim
      # No digest yet: `qmspec lock` records this tag's digest per platform beside this file.
    runner: ubuntu-latest
    dockerfile: generated/Dockerfile.{name}.amd64
  arm64:
    base:
      image: debian
      tag: bookworm-slim
    # GitHub's native ARM64 runner: no emulation.
    runner: ubuntu-24.04-arm
    dockerfile: generated/Dockerfile.{name}.arm64

apt:
  packages: [ca-certificates, wget]

tools:
  # One tool, one release file per platform: an x86-64 build never reaches the ARM64 image.
  - name: yq
    version: "4.44.3"
    check: yq --version
    sources:
      amd64:
        kind: archive
        format: binary
        url: https://github.com/mikefarah/yq/releases/download/v{{{{version}}}}/yq_linux_amd64
        # `qmspec lock` downloads the file and records its sha256; the build then verifies it.
        sha256: unverified
        unverified-reason: not hashed yet; run `qmspec lock`
        dest: /opt/yq
        executables: [yq]
        path: [/opt/yq]
      arm64:
        kind: archive
        format: binary
        url: https://github.com/mikefarah/yq/releases/download/v{{{{version}}}}/yq_linux_arm64
        sha256: unverified
        unverified-reason: not hashed yet; run `qmspec lock`
        dest: /opt/yq
        executables: [yq]
        path: [/opt/yq]

app:
  command: [yq, --help]

ci:
  workflow: .github/workflows/publish-images.yml
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_comes_from_a_github_remote() {
        let config = "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://github.com/Other/x.git\n[remote \"origin\"]\n\turl = git@github.com:Steinbeck/qm-nmr-calc.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n";
        assert_eq!(
            origin(config),
            Some(Origin {
                registry: "ghcr.io".into(),
                owner: "steinbeck".into(),
                source: "https://github.com/Steinbeck/qm-nmr-calc".into(),
            })
        );
        let https = "[remote \"origin\"]\n  url = https://github.com/a-b/c_d\n";
        assert_eq!(origin(https).map(|o| o.owner), Some("a-b".into()));
        let twice = "[remote \"origin\"]\n  url = https://github.com/a/b.git.git\n";
        assert_eq!(
            origin(twice).map(|o| o.source),
            Some("https://github.com/a/b.git".into())
        );
        let only = "[remote \"fork\"]\n url = ssh://git@github.com/me/r.git\n";
        assert_eq!(origin(only).map(|o| o.owner), Some("me".into()));
        for none in [
            "",
            "[remote \"origin\"]\n url = https://gitlab.com/a/b.git\n",
            "[remote \"origin\"]\n url = https://github.com/a\"b/c\n",
            "[remote \"origin\"]\n url = https://github.com/a/b/c\n",
            "[remote \"origin\"]\n url = https://github.com/-a/b\n",
            "[remote \"origin\"]\n url = https://github.com/a-/b\n",
            "[remote \"origin\"]\n url = https://github.com/./b\n",
            "[remote \"origin\"]\n url = https://github.com/a/..\n",
            "[branch \"main\"]\n url = https://github.com/a/b\n",
        ] {
            assert_eq!(origin(none), None, "{none}");
        }
    }

    #[test]
    fn names_and_paths_follow_the_spec_rules() {
        assert_eq!(image_name("QM NMR_calc!"), Some("qm-nmr-calc".into()));
        assert_eq!(image_name("--"), None);
        assert_eq!(spec_path("specs/*.yaml", "web"), "specs/web.yaml");
        assert_eq!(
            spec_path("images/**/*.qmspec.yaml", "web"),
            "images/web.qmspec.yaml"
        );
        assert_eq!(spec_path("./x/spec.yaml", "web"), "x/spec.yaml");
        assert_eq!(
            spec_path("images/*/spec.yaml", "web"),
            "images/web/spec.yaml"
        );
    }

    #[test]
    fn the_starter_names_the_image_and_the_owner() {
        let o = origin("[remote \"origin\"]\n url = https://github.com/acme/tools\n");
        let text = starter(
            "tools",
            o.as_ref(),
            "# yaml-language-server: $schema=../s.json",
        );
        assert!(text.starts_with("# yaml-language-server: $schema=../s.json\n"));
        assert!(text.contains("\nname: \"tools\"\n"));
        assert!(text.contains("\nowner: acme\n"));
        assert!(text.contains("/v{{version}}/yq_linux_arm64\n"));
        let text = starter("tools", None, "#");
        assert!(text.contains("\n# owner: your-org\n") && !text.contains("\nowner:"));
    }
}
