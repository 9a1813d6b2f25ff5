//! Repository paths: where generated files may go, what a spec may be called, and the one
//! normal form two paths are compared in.
//!
//! Validation (for the spec's own output keys) and `generate`/`check` (for every path they
//! touch, manifest lines included) ask the same functions, so a path refused in one place is
//! refused everywhere.

/// Where qmspec records which files it wrote (spec path, tab, output path), one per line.
pub const MANIFEST: &str = "generated/.qmspec-manifest";
/// The committed schema that `check` keeps in step with this qmspec.
pub const SCHEMA_PATH: &str = "schema/worker.schema.json";
/// The folder specs live in; nothing is ever generated into it.
pub const SPEC_DIR: &str = "specs";
/// Longest file or folder name qmspec writes, in bytes: file systems accept 255, and the
/// temporary file beside an output adds up to 45 to its name.
pub const MAX_NAME_BYTES: usize = 200;
/// Longest repository path qmspec writes, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;

/// `a/./b//c` → `a/b/c`: the spelling two paths are compared and written in.
pub fn normalize(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Code points that HFS+ ignores in names (so `.g\u{200c}it` is `.git` on macOS), as git's
/// own path checks list them.
fn ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{200c}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{206a}'..='\u{206f}' | '\u{feff}'
    )
}

/// Case folded as a case-insensitive file system compares names (`ſ` is `s`), with ignorable
/// code points dropped.
fn fold(s: &str) -> String {
    // Nearly every path is ASCII: fold it without walking Unicode case tables.
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars()
        .filter(|c| !ignorable(*c))
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .collect()
}

/// The key under which two paths are the same file on any file system qmspec's users have:
/// normal form, case folded (macOS and Windows fold case), ignorable code points and trailing
/// dots and spaces of each name dropped (Windows drops them).
pub fn collision_key(path: &str) -> String {
    normalize(path)
        .split('/')
        .map(|c| fold(c).trim_end_matches(['.', ' ']).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether a name is a Windows 8.3 short name (`GIT~1`, `WORKER~1.JSO`), which may stand for
/// any long name on that file system.
fn is_short_name(component: &str) -> bool {
    component
        .split_once('~')
        .is_some_and(|(_, rest)| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// Whether Windows reads a name as a device: `NUL`, `CON`, `PRN`, `AUX`, `COM0`-`COM9`,
/// `LPT0`-`LPT9` (also with superscript digits), in any case and with any extension
/// (`nul.txt`, `Con .yaml`). Programs that go through Win32 paths (git, docker) would open
/// the device, not the file.
fn is_device_name(component: &str) -> bool {
    let base = component
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end_matches(' ');
    let upper = base.to_ascii_uppercase();
    matches!(
        upper.as_str(),
        "NUL" | "CON" | "PRN" | "AUX" | "CONIN$" | "CONOUT$"
    ) || ["COM", "LPT"].iter().any(|p| {
        upper.strip_prefix(p).is_some_and(|d| {
            let mut chars = d.chars();
            matches!(
                (chars.next(), chars.next()),
                (Some('0'..='9' | '¹' | '²' | '³'), None)
            )
        })
    })
}

/// Whether a path component names git's own folder, in any spelling a file system may map to
/// it: case folded, ignorable code points and trailing dots and spaces dropped (Windows), or
/// its 8.3 short name.
fn is_git_dir(component: &str) -> bool {
    let c = fold(component);
    let c = c.trim_end_matches(['.', ' ']);
    c == ".git" || c == "git~1"
}

/// Why `path` cannot hold a generated file, if it cannot: it must be a plain relative path
/// inside the repository, outside `.git`, outside the spec folder, and not one of qmspec's
/// inputs.
pub fn output_path_problem(path: &str) -> Option<&'static str> {
    path_problem(path, Target::Output)
}

/// [`output_path_problem`] for the schema copy itself, which may be at the schema's path.
pub fn schema_path_problem(path: &str) -> Option<&'static str> {
    path_problem(path, Target::Schema)
}

/// [`output_path_problem`] for a spec `qmspec init` writes (or `qmspec.toml`'s globs name): it
/// belongs in the spec folder, and nowhere an output may not go.
pub fn new_spec_path_problem(path: &str) -> Option<&'static str> {
    path_problem(path, Target::Spec)
}

/// What a path is for, which decides which of qmspec's own files it may be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Output,
    Schema,
    Spec,
}

/// Whether a path component is `.git` as git and the file system read it (case, trailing dots,
/// ignorable code points, the 8.3 name).
pub fn is_git_component(component: &str) -> bool {
    is_git_dir(component)
}

fn path_problem(path: &str, target: Target) -> Option<&'static str> {
    if path.is_empty() {
        return Some("is empty");
    }
    if path.starts_with('/') || path.starts_with('\\') {
        return Some("is absolute");
    }
    if path.get(1..2) == Some(":") {
        return Some("starts like a Windows drive (`C:`), which is absolute there");
    }
    if path.contains('\\') {
        return Some("contains a backslash; separate folders with `/`");
    }
    if path.chars().any(|c| c.is_control()) {
        return Some("contains control characters");
    }
    if path.contains('$') {
        return Some("contains `$`, which Dockerfiles expand in COPY");
    }
    if path.contains(['*', '?', '[', ']']) {
        return Some("contains a glob character (`*`, `?`, `[`), which COPY would expand");
    }
    if path.contains(':') {
        return Some("contains `:`, which Windows reads as a drive or a stream name");
    }
    if path.len() > MAX_PATH_BYTES {
        return Some("is longer than 1024 bytes");
    }
    let normal = normalize(path);
    let parts: Vec<&str> = normal.split('/').collect();
    if parts.contains(&"..") {
        return Some("leaves the repository through `..`");
    }
    if normal.is_empty() || path.ends_with('/') || path.ends_with("/.") || path == "." {
        return Some("names a folder, not a file");
    }
    if parts.iter().any(|c| c.len() > MAX_NAME_BYTES) {
        return Some("has a name longer than 200 bytes");
    }
    if parts.iter().any(|c| c.starts_with('-')) {
        return Some("has a name starting with `-`, which commands read as an option");
    }
    if parts.iter().any(|c| is_git_dir(c)) {
        return Some("is inside `.git`, where git keeps hooks and its own state");
    }
    if parts.iter().any(|c| c.ends_with(['.', ' '])) {
        return Some("has a name ending in `.` or a space, which Windows drops from names");
    }
    if parts.iter().any(|c| is_device_name(c)) {
        return Some("has a name Windows reserves for a device (`NUL`, `CON`, `COM1`, ...)");
    }
    if parts.iter().any(|c| is_short_name(c)) {
        return Some("has a name with `~` and a digit, which Windows may read as a short name");
    }
    if parts
        .iter()
        .any(|c| c.contains(".qmspec-tmp-") || c.contains(".qmspec-rm-"))
    {
        return Some("has a name qmspec keeps for its temporary files");
    }
    let key = collision_key(path);
    if target != Target::Spec && (key == SPEC_DIR || key.starts_with(&format!("{SPEC_DIR}/"))) {
        return Some("is inside `specs/`, where only specs belong");
    }
    if key == crate::config::CONFIG {
        return Some("is qmspec.toml, qmspec's configuration");
    }
    // The inputs: neither the file, nor a folder on its path, nor anything under it.
    // The inputs' paths are their own collision keys (lowercase ASCII, normal form).
    for (input, is, folder_of, under) in [
        (
            MANIFEST,
            "is qmspec's manifest",
            "is the folder of qmspec's manifest",
            "is under qmspec's manifest",
        ),
        (
            SCHEMA_PATH,
            "is the spec schema",
            "is the folder of the spec schema",
            "is under the spec schema",
        ),
    ] {
        if input == SCHEMA_PATH && target != Target::Output {
            continue;
        }
        if key == input {
            return Some(is);
        }
        if input.starts_with(&format!("{key}/")) {
            return Some(folder_of);
        }
        if key.starts_with(&format!("{input}/")) {
            return Some(under);
        }
    }
    None
}

/// Why a spec's repository path cannot be used, if it cannot. The path is printed into every
/// file the spec produces (the stamp) and into reports, so it must read as one plain line.
pub fn spec_path_problem(path: &str) -> Option<&'static str> {
    if path.chars().any(char::is_control) {
        return Some("contains a control character (a line break, tab or escape)");
    }
    if path
        .chars()
        .any(|c| matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}' | '\u{feff}'))
    {
        return Some("contains a Unicode line or paragraph separator");
    }
    if path.len() > MAX_PATH_BYTES {
        return Some("is longer than 1024 bytes");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_stay_out_of_git_specs_and_inputs() {
        for bad in [
            ".git/hooks/post-checkout",
            "./.git/info/exclude",
            ".GIT/HEAD",
            "a/.Git/x",
            ".git./x",
            ".git /x",
            "GIT~1/config",
            "specs/planted.yaml",
            "./Specs/x",
            "generated/.qmspec-manifest",
            "generated//.QMSPEC-MANIFEST",
            "schema/worker.schema.json",
            "generated/",
            ".",
            "./",
            "a/../b",
            "/etc/passwd",
            "a\\b",
            "generated/$HOME",
            "generated/-x",
            "generated/x\ny",
            ".g\u{200c}it/config",
            "\u{feff}.git/config",
            "\u{17f}pecs/x.yaml",
            "generated/.qmspec-manife\u{17f}t",
            ".git::$INDEX_ALLOCATION/x",
            "generated",
            "GENERATED",
            "specs./x.sh",
            "schema/worker.schema.json.",
            "generated/.qmspec-manifest.",
            "schema/WORKER~1.JSO",
            "schema/worker.schema.json/x.sh",
            "generated/.qmspec-manifest/x.sh",
            "schema",
            "generated/.x.qmspec-tmp-1-1",
            "generated/x.sh/.",
            "generated/[v]alidate*.sh",
            "generated/v?.sh",
        ] {
            assert!(
                output_path_problem(bad).is_some(),
                "{bad:?} must be refused"
            );
        }
        let long = format!("generated/{}", "a".repeat(201));
        assert_eq!(
            output_path_problem(&long),
            Some("has a name longer than 200 bytes")
        );
        assert_eq!(
            output_path_problem(&format!("generated/{}", "a".repeat(200))),
            None
        );
        for good in [
            "generated/Dockerfile",
            "./generated/x",
            ".github/workflows/publish.yml",
            ".gitignore-like/x",
            "specs-out/x",
        ] {
            assert_eq!(output_path_problem(good), None, "{good:?} is fine");
        }
    }

    #[test]
    fn each_refusal_names_its_reason_and_limits_are_exact() {
        assert_eq!(output_path_problem("/etc/passwd"), Some("is absolute"));
        assert_eq!(output_path_problem("\\server\\x"), Some("is absolute"));
        assert_eq!(
            output_path_problem("C:x"),
            Some("starts like a Windows drive (`C:`), which is absolute there")
        );
        assert_eq!(
            output_path_problem("out/"),
            Some("names a folder, not a file")
        );
        assert_eq!(
            output_path_problem("out/x/."),
            Some("names a folder, not a file")
        );
        assert_eq!(output_path_problem("."), Some("names a folder, not a file"));
        // Names Windows reads otherwise than the file system stores them.
        for p in ["generated/x.", "generated/x ", "out./x", "a /x"] {
            assert_eq!(
                output_path_problem(p),
                Some("has a name ending in `.` or a space, which Windows drops from names"),
                "{p}"
            );
        }
        for p in [
            "generated/NUL",
            "nul.txt",
            "out/Con .yaml",
            "com1",
            "LPT9.sh",
            "x/com¹",
        ] {
            assert_eq!(
                output_path_problem(p),
                Some("has a name Windows reserves for a device (`NUL`, `CON`, `COM1`, ...)"),
                "{p}"
            );
        }
        for p in [
            "generated/null",
            "console.txt",
            "com10",
            "lpt",
            "comx",
            "auxiliary/x",
            "x.nul",
        ] {
            assert_eq!(output_path_problem(p), None, "{p}");
        }
        // 1,024 bytes is the longest path; names stay under 200 bytes.
        let path = |len: usize| {
            let mut p = "a".repeat(99);
            while p.len() + 100 <= len {
                p.push('/');
                p.push_str(&"b".repeat(99));
            }
            while p.len() < len {
                p.push('c');
            }
            p
        };
        assert_eq!(path(1024).len(), 1024);
        assert_eq!(output_path_problem(&path(1024)), None);
        assert_eq!(
            output_path_problem(&path(1025)),
            Some("is longer than 1024 bytes")
        );
        let spec = |len: usize| format!("specs/{}", "s".repeat(len - 6));
        assert_eq!(spec_path_problem(&spec(1024)), None);
        assert_eq!(
            spec_path_problem(&spec(1025)),
            Some("is longer than 1024 bytes")
        );
    }

    #[test]
    fn input_paths_are_their_own_keys() {
        for p in [MANIFEST, SCHEMA_PATH, SPEC_DIR] {
            assert_eq!(collision_key(p), p);
        }
    }

    #[test]
    fn normal_forms_and_collisions() {
        assert_eq!(normalize("./generated//x"), "generated/x");
        assert_eq!(collision_key("./Generated/X"), collision_key("generated/x"));
        assert_ne!(collision_key("generated/x"), collision_key("generated/y"));
    }

    #[test]
    fn spec_names_are_one_plain_line() {
        assert!(spec_path_problem("specs/x\nRUN id\n.yaml").is_some());
        assert!(spec_path_problem("specs/x\u{2028}.yaml").is_some());
        assert!(spec_path_problem("specs/x\t.yaml").is_some());
        assert_eq!(spec_path_problem("specs/worker.yaml"), None);
        assert_eq!(spec_path_problem("specs/ärger: a b.yaml"), None);
    }
}
