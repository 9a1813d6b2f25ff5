//! The repository's `qmspec.toml`: which files are specs and where the schema copy goes.
//! Without the file, today's layout: `specs/*.yaml` (and `.yml`) and
//! `schema/worker.schema.json`. A file the globs match is taken for a spec only when it
//! carries the spec's marker, the `yaml-language-server` modeline naming qmspec's schema, so
//! an OpenAPI document beside the specs is left alone.

use std::path::Path;

/// The configuration file, at the repository root.
pub const CONFIG: &str = "qmspec.toml";
/// Largest configuration file read.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;
/// Most spec globs `qmspec.toml` may name.
const MAX_GLOBS: usize = 64;
/// Deepest folder a `**` glob walks into.
const MAX_DEPTH: usize = 12;
/// The modeline's prefix: it points the YAML language server at the schema.
pub const MODELINE: &str = "# yaml-language-server: $schema=";

/// What `qmspec.toml` says, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Globs of spec files, relative to the root: `*` within one folder or file name, `**`
    /// for any number of folders.
    #[serde(default = "default_specs")]
    pub specs: Vec<String>,
    /// Where `generate` writes the schema copy the specs' modelines point at.
    #[serde(default = "default_schema")]
    pub schema: String,
}

fn default_specs() -> Vec<String> {
    vec!["specs/*.yaml".into(), "specs/*.yml".into()]
}

fn default_schema() -> String {
    crate::paths::SCHEMA_PATH.to_string()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            specs: default_specs(),
            schema: default_schema(),
        }
    }
}

/// Why `qmspec.toml` cannot be used; each names the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{CONFIG}: {0}")]
    Read(String),
    #[error("{CONFIG}: {0}")]
    Invalid(String),
}

/// Read `qmspec.toml` at `root`, or the defaults when there is none.
pub fn load(root: &Path) -> Result<Config, ConfigError> {
    let path = root.join(CONFIG);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        // Windows says "not found" for a path through a file, where Unix says "not a folder".
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && root.is_dir() => {
            return Ok(Config::default());
        }
        Err(e) => return Err(ConfigError::Read(e.to_string())),
    };
    let too_large = || {
        ConfigError::Read(format!(
            "larger than {} KiB; it holds two settings",
            MAX_CONFIG_BYTES / 1024
        ))
    };
    let not_a_file = || {
        ConfigError::Read(
            "not a regular file (a symlink or folder is not read); make it a file".into(),
        )
    };
    if !meta.is_file() {
        return Err(not_a_file());
    }
    // Opened without following a link, and checked again on the open file: a symlink (or a
    // FIFO) swapped in since the look above is refused, not read.
    let file = match open_no_follow(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(_) if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file()) => {
            return Err(not_a_file());
        }
        Err(e) => return Err(ConfigError::Read(e.to_string())),
    };
    let meta = file
        .metadata()
        .map_err(|e| ConfigError::Read(e.to_string()))?;
    if !meta.is_file() || meta.file_type().is_symlink() {
        return Err(not_a_file());
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(file, MAX_CONFIG_BYTES + 1),
        &mut text,
    )
    .map_err(|e| ConfigError::Read(e.to_string()))?;
    // It may have grown since the stat.
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    parse(&text)
}

/// Parse and check the text of `qmspec.toml`.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    // The whole error: it names the key and line (`specs = [1]` alone says only "integer").
    let config: Config =
        toml::from_str(text).map_err(|e| ConfigError::Invalid(inert(e.to_string().trim_end())))?;
    if config.specs.is_empty() {
        return Err(ConfigError::Invalid(
            "`specs` names no glob; remove the key for the default `specs/*.yaml`".into(),
        ));
    }
    if config.specs.len() > MAX_GLOBS {
        return Err(ConfigError::Invalid(format!(
            "`specs` names {} globs; at most {MAX_GLOBS}, since every command walks them",
            config.specs.len()
        )));
    }
    for glob in &config.specs {
        // Each `*` stands for some name: the rest must be a path a spec may have (never in
        // `.git`, never qmspec's own files).
        let why = relative_problem(glob)
            .or_else(|| (glob.matches("**").count() > 2).then_some("has more than two `**`"))
            .or_else(|| crate::paths::new_spec_path_problem(&glob.replace('*', "x")));
        if let Some(why) = why {
            return Err(ConfigError::Invalid(format!(
                "spec glob `{}` {why}",
                inert(glob)
            )));
        }
    }
    if let Some(why) = relative_problem(&config.schema)
        .map(str::to_string)
        .or_else(|| crate::paths::schema_path_problem(&config.schema).map(str::to_string))
    {
        return Err(ConfigError::Invalid(format!(
            "schema path `{}` {why}",
            inert(&config.schema)
        )));
    }
    if !config.schema.ends_with(".json") || config.schema.contains('*') {
        return Err(ConfigError::Invalid(format!(
            "schema path `{}` must name one `.json` file",
            inert(&config.schema)
        )));
    }
    Ok(config)
}

/// Text from the configuration as it may be printed: control characters and bidirectional
/// overrides become visible stand-ins, so an error cannot drive the terminal.
pub fn inert(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' => '\n',
            c if c.is_control() => '?',
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}' => {
                '\u{fffd}'
            }
            c => c,
        })
        .collect()
}

/// Why a configured path is not a plain path inside the repository, if it is not.
fn relative_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("is empty");
    }
    if path.starts_with('/') || path.contains('\\') {
        return Some("must be relative to the repository root, with `/` between folders");
    }
    if path.split('/').any(|c| c == "..") {
        return Some("must not leave the repository (`..`)");
    }
    if path.chars().any(char::is_control) {
        return Some("holds a control character");
    }
    None
}

/// Whether `path` (relative, `/`-separated) matches a glob of `*` and `**`: segment by segment,
/// a table of which glob prefixes match which path prefixes, so `**` never backtracks
/// exponentially.
pub fn glob_matches(glob: &str, path: &str) -> bool {
    let g: Vec<&str> = glob
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    let p: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // `row[j]`: the glob's first `i` segments match the path's first `j`.
    let mut row = vec![false; p.len() + 1];
    row[0] = true;
    for seg in &g {
        let mut next = vec![false; p.len() + 1];
        for j in 0..=p.len() {
            next[j] = if *seg == "**" {
                row[j] || (j > 0 && next[j - 1])
            } else {
                j > 0 && row[j - 1] && name_matches(seg, p[j - 1])
            };
        }
        row = next;
    }
    row[p.len()]
}

/// One file or folder name against a pattern of `*` wildcards (a `*` never matches a leading
/// dot, as in a shell).
fn name_matches(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    wildcard(pattern, name)
}

/// Text against a pattern whose only wildcard is `*` (any run of characters): a file name in
/// a spec glob, a conda build string.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if text.len() < first.len() + last.len() || !text.starts_with(first) || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// The specs the globs find, and the files they matched that lack the marker.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Found {
    pub specs: Vec<String>,
    pub unmarked: Vec<String>,
    /// Matched files whose names are not UTF-8 (they cannot be named in a generated file).
    pub not_utf8: Vec<String>,
}

/// Walk the folders the globs can reach (never through a symlink, never into `.git`) and
/// sort what matches into specs and unmarked files. Sorted, without duplicates.
pub fn discover(root: &Path, config: &Config) -> Found {
    let mut found = Found::default();
    let mut matched = std::collections::BTreeSet::new();
    for glob in &config.specs {
        // Start at the folder before the first wildcard: nothing above it can match.
        let fixed: Vec<&str> = glob
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .take_while(|s| !s.contains('*'))
            .collect();
        let start = if fixed.len() == glob.split('/').filter(|s| !s.is_empty()).count() {
            // No wildcard: the glob names one file.
            fixed[..fixed.len().saturating_sub(1)].join("/")
        } else {
            fixed.join("/")
        };
        // The folders down to the start are plain folders: a symlink there (to outside the
        // repository, say) is not walked.
        let mut prefix = root.to_path_buf();
        let plain = start.split('/').filter(|s| !s.is_empty()).all(|c| {
            prefix.push(c);
            std::fs::symlink_metadata(&prefix).is_ok_and(|m| m.is_dir())
        });
        if !plain {
            continue;
        }
        walk(root, &start, 0, &mut |rel, utf8| {
            if glob_matches(glob, rel) {
                if utf8 {
                    matched.insert(rel.to_string());
                } else {
                    found.not_utf8.push(rel.to_string());
                }
            }
        });
    }
    // Each candidate is opened and its head read: spread over the cores, as a monorepo holds
    // thousands (results come back in the walk's order).
    let matched: Vec<String> = matched.into_iter().collect();
    let marks = crate::workers::map(&matched, 256, |rel| {
        marker_of(&root.join(rel), rel, &config.schema)
    });
    for (rel, mark) in matched.into_iter().zip(marks) {
        match mark {
            Some(false) => found.unmarked.push(rel),
            // A spec, or something that is not a regular file: reading it as a spec refuses
            // it with its own message (a FIFO, a symlink, a folder named like a spec).
            _ => found.specs.push(rel),
        }
    }
    found.not_utf8.sort();
    found.not_utf8.dedup();
    found
}

/// Whether the regular file at `path` carries the marker; `None` when it is not a regular
/// file. Opened without following a symlink and without blocking, so a FIFO swapped in after
/// the walk cannot hang the run.
fn marker_of(path: &Path, rel: &str, schema: &str) -> Option<bool> {
    use std::io::Read;
    let file = open_no_follow(path).ok()?;
    let kind = file.metadata().ok()?.file_type();
    if !kind.is_file() || kind.is_symlink() {
        return None;
    }
    #[cfg(unix)]
    if std::os::unix::fs::FileTypeExt::is_fifo(&kind) {
        return None;
    }
    // Room for the whole head up front: one read, not `read_to_end`'s steps from 32 bytes.
    let mut head = Vec::with_capacity(4096);
    file.take(4096).read_to_end(&mut head).ok()?;
    Some(has_marker(&String::from_utf8_lossy(&head), rel, schema))
}

/// `path` opened for reading without following a symlink (Unix: nor blocking on a FIFO).
#[cfg(unix)]
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOFOLLOW;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
}

/// `path` opened for reading without following a symlink or junction: the link itself is
/// opened, and refused by the type check after.
#[cfg(windows)]
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::windows::fs::OpenOptionsExt;
    use windows_sys::Win32::Storage::FileSystem::FILE_FLAG_OPEN_REPARSE_POINT;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)
}

/// Visit every file under `dir` (not following symlinks, never into `.git`), with whether its
/// name is UTF-8 (a name that is not is visited in its lossy form, to be reported only if a
/// glob matches it).
fn walk(root: &Path, dir: &str, depth: usize, visit: &mut dyn FnMut(&str, bool)) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let raw = entry.file_name();
        let Some(name) = raw.to_str() else {
            let lossy = raw.to_string_lossy();
            visit(format!("{dir}/{lossy}").trim_start_matches('/'), false);
            continue;
        };
        if crate::paths::is_git_component(name) {
            continue;
        }
        let rel = if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        };
        // `file_type` does not follow a symlink: a linked folder is not walked, a linked file
        // is matched (reading a spec refuses it later, with its own message).
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(root, &rel, depth + 1, visit),
            Ok(_) => visit(&rel, true),
            Err(_) => {}
        }
    }
}

/// The modeline a spec at `spec_path` carries to point at the schema at `schema_path`.
pub fn modeline(spec_path: &str, schema_path: &str) -> String {
    format!("{MODELINE}{}", relative(spec_path, schema_path))
}

/// `to` as seen from the folder of `from`, both relative to the root.
fn relative(from: &str, to: &str) -> String {
    let from: Vec<&str> = from.split('/').filter(|s| !s.is_empty()).collect();
    let to: Vec<&str> = to.split('/').filter(|s| !s.is_empty()).collect();
    let dir = &from[..from.len().saturating_sub(1)];
    let common = dir.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; dir.len() - common];
    parts.extend(&to[common..]);
    parts.join("/")
}

/// Whether the first lines of a file carry the spec's marker: the modeline naming the schema
/// at `schema_path` (relative to the spec, or any URL or path ending in its file name).
pub fn has_marker(head: &str, spec_path: &str, schema_path: &str) -> bool {
    let name = schema_path.rsplit('/').next().unwrap_or(schema_path);
    let head = head.strip_prefix('\u{feff}').unwrap_or(head);
    head.lines().take(10).any(|line| {
        line.strip_prefix(MODELINE).is_some_and(|target| {
            let target = target.trim();
            target == relative(spec_path, schema_path) || target.rsplit('/').next() == Some(name)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_are_bounded_in_number_and_in_double_stars() {
        let globs = |n: usize| {
            let list: Vec<String> = (0..n).map(|i| format!("\"s{i}/*.yaml\"")).collect();
            format!("specs = [{}]", list.join(", "))
        };
        assert!(parse(&globs(64)).is_ok());
        let e = parse(&globs(65)).expect_err("65 globs").to_string();
        assert!(e.contains("names 65 globs; at most 64"), "{e}");
        assert!(parse("specs = [\"a/**/b/**/*.yaml\"]").is_ok());
        let e = parse("specs = [\"a/**/b/**/c/**/*.yaml\"]")
            .expect_err("three")
            .to_string();
        assert!(e.contains("more than two `**`"), "{e}");
    }

    #[test]
    fn the_file_is_read_only_when_it_is_a_small_regular_file() {
        let dir = tempfile::tempdir().expect("tmp");
        // A root that cannot hold the file (not a folder) is an error, not the defaults.
        let file = dir.path().join("plain");
        std::fs::write(&file, "").expect("write");
        assert!(load(&file).is_err());
        assert_eq!(load(dir.path()).expect("absent"), Config::default());
        let path = dir.path().join(CONFIG);
        std::fs::write(&path, "schema = \"s/x.json\"\n").expect("write");
        assert_eq!(load(dir.path()).expect("valid").schema, "s/x.json");
        std::fs::write(&path, "x".repeat(64 * 1024 + 1)).expect("write");
        let e = load(dir.path()).expect_err("too large").to_string();
        assert!(e.contains("larger than 64 KiB"), "{e}");
        std::fs::write(&path, "x".repeat(64 * 1024)).expect("write");
        let e = load(dir.path()).expect_err("not TOML").to_string();
        assert!(!e.contains("larger than"), "at the limit it is read: {e}");
        std::fs::remove_file(&path).expect("rm");
        std::fs::create_dir(&path).expect("mkdir");
        let e = load(dir.path()).expect_err("a folder").to_string();
        assert!(e.contains("not a regular file"), "{e}");
        std::fs::remove_dir(&path).expect("rm");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/hostname", &path).expect("symlink");
            let e = load(dir.path()).expect_err("a symlink").to_string();
            assert!(e.contains("not a regular file"), "{e}");
        }
    }

    #[test]
    fn discovery_sorts_matches_into_specs_and_unmarked_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        let write = |rel: &str, text: &str| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write");
        };
        let spec = format!(
            "{}\nname: x\n",
            modeline("specs/a.yaml", "schema/worker.schema.json")
        );
        write("specs/a.yaml", &spec);
        write("specs/b.yml", &spec.replace("specs/a.yaml", "specs/b.yml"));
        write("specs/openapi.yaml", "openapi: 3.1.0\n");
        write("specs/notes.txt", &spec);
        write("specs/deeper/c.yaml", &spec);
        write("other/d.yaml", &spec);
        let found = discover(root, &Config::default());
        assert_eq!(found.specs, ["specs/a.yaml", "specs/b.yml"]);
        assert_eq!(found.unmarked, ["specs/openapi.yaml"]);
        assert!(found.not_utf8.is_empty());
        // `**` reaches every folder but `.git`; a start folder behind a symlink is not walked.
        write(".git/specs/e.yaml", &spec);
        write("images/x/.git/f.yaml", &spec);
        let config = Config {
            specs: vec!["**/*.yaml".into()],
            ..Config::default()
        };
        let found = discover(root, &config);
        assert_eq!(
            found.specs,
            ["other/d.yaml", "specs/a.yaml", "specs/deeper/c.yaml"]
        );
        // Symlinks, names that are not UTF-8 and FIFOs: Unix only.
        #[cfg(unix)]
        {
            let outside = tempfile::tempdir().expect("tmp");
            std::fs::write(outside.path().join("z.yaml"), &spec).expect("write");
            std::os::unix::fs::symlink(outside.path(), root.join("linked")).expect("symlink");
            let config = Config {
                specs: vec!["linked/*.yaml".into()],
                ..Config::default()
            };
            assert_eq!(discover(root, &config), Found::default());
            // A name that is not UTF-8 matters only where a glob matches it.
            use std::os::unix::ffi::OsStrExt;
            let odd = std::ffi::OsStr::from_bytes(b"specs/caf\xe9.yaml");
            std::fs::write(root.join(odd), &spec).expect("write");
            std::fs::write(
                root.join(std::ffi::OsStr::from_bytes(b"other/x\xe9.txt")),
                "",
            )
            .expect("w");
            let found = discover(root, &Config::default());
            assert_eq!(found.not_utf8, ["specs/caf\u{fffd}.yaml"]);
            // A FIFO named like a spec is a spec for the reader to refuse, never opened here.
            let fifo = root.join("specs/pipe.yaml");
            let made = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .expect("mkfifo");
            assert!(made.success());
            assert!(
                discover(root, &Config::default())
                    .specs
                    .contains(&"specs/pipe.yaml".to_string())
            );
        }
    }

    #[test]
    fn the_defaults_are_todays_layout() {
        assert_eq!(parse("").expect("empty is fine"), Config::default());
        let c = parse("specs = [\"images/**/*.qmspec.yaml\"]\nschema = \"images/schema.json\"\n")
            .expect("valid");
        assert_eq!(c.specs, ["images/**/*.qmspec.yaml"]);
        assert_eq!(c.schema, "images/schema.json");
    }

    #[test]
    fn bad_settings_are_refused_naming_the_key() {
        for (text, want) in [
            ("spec = []", "unknown field `spec`"),
            ("specs = []", "`specs` names no glob"),
            ("specs = [\"../x/*.yaml\"]", "must not leave the repository"),
            ("specs = [\"/abs/*.yaml\"]", "must be relative"),
            ("schema = \".git/hooks/x.json\"", "schema path"),
            ("schema = \"schema/x.yaml\"", "one `.json` file"),
            ("schema = 3", "invalid type"),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn globs_match_one_folder_per_star_and_any_with_two() {
        assert!(glob_matches("specs/*.yaml", "specs/worker.yaml"));
        assert!(!glob_matches("specs/*.yaml", "specs/sub/worker.yaml"));
        assert!(!glob_matches("specs/*.yaml", "specs/.hidden.yaml"));
        assert!(!glob_matches("specs/*.yaml", "specs/worker.yml"));
        assert!(glob_matches("images/**/spec.yaml", "images/spec.yaml"));
        assert!(glob_matches("images/**/spec.yaml", "images/a/b/spec.yaml"));
        assert!(!glob_matches("images/**/spec.yaml", "other/a/spec.yaml"));
        assert!(glob_matches("./specs/w*r.yaml", "specs/worker.yaml"));
        assert!(!glob_matches("specs/w*r*.yaml", "specs/w.yaml"));
    }

    #[test]
    fn the_marker_is_the_modeline_naming_the_schema() {
        let line = modeline("specs/worker.yaml", "schema/worker.schema.json");
        assert_eq!(
            line,
            "# yaml-language-server: $schema=../schema/worker.schema.json"
        );
        assert_eq!(
            modeline("images/a/spec.yaml", "images/schema.json"),
            "# yaml-language-server: $schema=../schema.json"
        );
        assert_eq!(
            modeline("spec.yaml", "s/x.json"),
            "# yaml-language-server: $schema=s/x.json"
        );
        let spec = format!("{line}\nname: x\n");
        assert!(has_marker(
            &spec,
            "specs/worker.yaml",
            "schema/worker.schema.json"
        ));
        let url = "# yaml-language-server: $schema=https://example.org/worker.schema.json\n";
        assert!(has_marker(
            url,
            "specs/worker.yaml",
            "schema/worker.schema.json"
        ));
        let openapi = "# yaml-language-server: $schema=https://spec.openapis.org/oas/3.1/schema\nopenapi: 3.1.0\n";
        assert!(!has_marker(
            openapi,
            "specs/openapi.yaml",
            "schema/worker.schema.json"
        ));
        assert!(!has_marker(
            "name: x\n",
            "specs/worker.yaml",
            "schema/worker.schema.json"
        ));
        let late = format!("{}{line}\n", "#\n".repeat(10));
        assert!(!has_marker(
            &late,
            "specs/worker.yaml",
            "schema/worker.schema.json"
        ));
    }
}
