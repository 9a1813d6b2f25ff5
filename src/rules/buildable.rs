//! Build-ability: every command a generated line calls exists in the image at that point, and
//! the spec's own commands suit the shell that runs them.

use super::Ctx;
use crate::diag::Diagnostic;
use crate::model::{Arch, Family, PythonInstall, Shell, Source, Spec};

/// The package that brings a command, where its name differs or is worth saying.
fn package_hint(command: &str, family: Family) -> Option<&'static str> {
    let debian = matches!(family, Family::Debian | Family::Ubuntu | Family::Micromamba);
    Some(match command {
        "wget or curl" | "wget" => "wget",
        "curl" => "curl",
        "xz" if debian => "xz-utils",
        "xz" => "xz",
        "unzip" => "unzip",
        "bzip2" => "bzip2",
        "zstd" => "zstd",
        "bash" => "bash",
        "python3-venv" | "python3" if debian => "python3-venv",
        "ca-certificates" => "ca-certificates",
        "useradd" if debian => "passwd",
        "sha256sum" if debian => "coreutils",
        _ => return None,
    })
}

pub(super) fn check(spec: &Spec, cx: &mut Ctx<'_>) {
    for (arch, platform) in spec.platforms.iter() {
        let family = platform.base.family;
        let missing = crate::toolbox::walk(spec, arch).map_or(Vec::new(), |w| w.missing);
        let stages = spec
            .stages
            .iter()
            .enumerate()
            .flat_map(|(i, s)| crate::toolbox::walk_stage(spec, s, i, arch));
        for m in missing.into_iter().chain(stages) {
            if m.by == crate::toolbox::RUN_WITH_BASH {
                cx.out.push(
                    Diagnostic::error(
                        "qmspec::missing-command",
                        format!(
                            "the {} base's shell is bash, which its image does not have",
                            arch.name()
                        ),
                    )
                    .with_label(cx.at_value(&m.pointer, "no bash here"))
                    .with_help(format!(
                        "use `shell: sh` (POSIX lines, no pipes in `commands`), or list `bash` in `platforms.{}.base.provides` if the base has it",
                        arch.name()
                    )),
                );
                continue;
            }
            let install = match package_hint(&m.command, family) {
                Some(pkg) if family == Family::Alpine || family == Family::Busybox => {
                    format!("add a tool that installs `{pkg}` before it (this base has no apt-get)")
                }
                Some(pkg) => format!("add `{pkg}` to `apt.packages`, or a tool that provides it"),
                None => "add a tool that provides it (its name or `provides`) before it".into(),
            };
            cx.out.push(
                Diagnostic::error(
                    "qmspec::missing-command",
                    format!(
                        "{} needs `{}`, which the {} image does not have at that point",
                        m.by,
                        m.command,
                        arch.name()
                    ),
                )
                .with_label(cx.at_value(&m.pointer, format!("needs `{}`", m.command)))
                .with_help(format!(
                    "{install}; or, if the base image has it, list it in `platforms.{}.base.provides`",
                    arch.name()
                )),
            );
        }
        pipes(spec, arch, platform.base.shell(), cx);
    }
    app_environment(spec, cx);
}

/// A pipe in the spec's commands fails only on its last command unless `pipefail` is on, and
/// only bash is set up with it: elsewhere a failed download piped into `tar` would pass.
fn pipes(spec: &Spec, arch: Arch, shell: Shell, cx: &mut Ctx<'_>) {
    if shell == Shell::Bash {
        return;
    }
    for (i, tool) in spec.tools.iter().enumerate() {
        let Some(Source::Commands(c)) = tool.sources.get(arch) else {
            continue;
        };
        for (j, line) in c.run.iter().enumerate() {
            if has_pipe(line) {
                cx.out.push(
                    Diagnostic::error(
                        "qmspec::pipe-without-pipefail",
                        format!(
                            "a command of `{}` pipes on {}, whose shell has no `pipefail`: a failure before the last command would pass unseen",
                            tool.name,
                            arch.name()
                        ),
                    )
                    .with_label(cx.at_value(
                        &format!("/tools/{i}/sources/{}/run/{j}", arch.name()),
                        "a pipe",
                    ))
                    .with_help("write the steps with a file in between (`cmd > /tmp/out && next < /tmp/out`), or use a base with bash (`shell: bash`)"),
                );
            }
        }
    }
}

/// Whether a shell line has a pipe `|` (not `||`): outside quotes, or inside a command
/// substitution `$( … )` even within double quotes; a `|` between the patterns of a `case`
/// item (`x86_64|amd64)`) is not a pipe.
pub(super) fn has_pipe(line: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum In {
        Code,
        Single,
        Double,
    }
    let b = line.as_bytes();
    // The contexts entered so far; a `$(` inside double quotes opens code again.
    let mut stack = vec![In::Code];
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let top = *stack.last().unwrap_or(&In::Code);
        match top {
            In::Single => {
                if c == b'\'' {
                    stack.pop();
                }
            }
            In::Double => match c {
                b'\\' => i += 1,
                b'"' => {
                    stack.pop();
                }
                b'$' if b.get(i + 1) == Some(&b'(') => {
                    stack.push(In::Code);
                    i += 1;
                }
                _ => {}
            },
            In::Code => match c {
                b'\\' => i += 1,
                b'\'' => stack.push(In::Single),
                b'"' => stack.push(In::Double),
                b')' if stack.len() > 1 => {
                    stack.pop();
                }
                b'|' if b.get(i + 1) == Some(&b'|') => i += 1,
                b'|' if i > 0 && b[i - 1] == b'>' => {}
                b'|' if is_case_pattern(line, i) => {}
                b'|' => return true,
                _ => {}
            },
        }
        i += 1;
    }
    false
}

/// Whether the `|` at `at` separates the patterns of a `case` item: the line has a `case … in`
/// before it and the word after it runs, without a blank, into the `)` closing the pattern.
fn is_case_pattern(line: &str, at: usize) -> bool {
    let before = &line[..at];
    let after = &line[at + 1..];
    let word: &str = after.split(char::is_whitespace).next().unwrap_or("");
    before.contains("case ")
        && before.contains(" in")
        && word.contains(')')
        && !word.starts_with(')')
}

/// Without a `venv`, pip installs into the python `via` names: only a conda environment or an
/// installer's own python takes that (Debian's refuses, PEP 668), and uv always wants one.
fn app_environment(spec: &Spec, cx: &mut Ctx<'_>) {
    let Some(python) = &spec.app.python else {
        return;
    };
    if python.venv.is_some() {
        return;
    }
    if matches!(python.install, Some(PythonInstall::Uv(_))) {
        cx.out.push(
            Diagnostic::error(
                "qmspec::missing-key",
                "uv installs a project into a virtual environment, but the app's Python has no `venv`",
            )
            .with_label(cx.at_key("/app/python", "needs `venv`"))
            .with_help("add `venv: /app/.venv`"),
        );
        return;
    }
    // Debian's own python3 (from apt) is externally managed; a python the base says it has
    // (`provides: [python3]`, as the official python images are) and conda's are not.
    let debian_python = spec.platforms.iter().any(|(_, p)| {
        matches!(p.base.family, Family::Debian | Family::Ubuntu)
            && !p.base.provides.iter().any(|c| c == "python3")
    });
    if python.via == "system" && debian_python {
        cx.out.push(
            Diagnostic::error(
                "qmspec::missing-key",
                "the app's Python has no `venv`, and `via: system` is the image's own python, which refuses pip installs outside a virtual environment (PEP 668)",
            )
            .with_label(cx.at_key("/app/python", "needs `venv`"))
            .with_help("add `venv: /app/.venv`, or name a conda environment (`kind: conda-env`) or installer in `via`"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{Family, has_pipe, package_hint};

    #[test]
    fn hints_name_each_familys_package() {
        let d = Family::Debian;
        let a = Family::Alpine;
        for (command, debian, alpine) in [
            ("wget or curl", Some("wget"), Some("wget")),
            ("curl", Some("curl"), Some("curl")),
            ("xz", Some("xz-utils"), Some("xz")),
            ("unzip", Some("unzip"), Some("unzip")),
            ("bzip2", Some("bzip2"), Some("bzip2")),
            ("zstd", Some("zstd"), Some("zstd")),
            ("bash", Some("bash"), Some("bash")),
            ("python3-venv", Some("python3-venv"), None),
            (
                "ca-certificates",
                Some("ca-certificates"),
                Some("ca-certificates"),
            ),
            ("useradd", Some("passwd"), None),
            ("sha256sum", Some("coreutils"), None),
            ("micromamba", None, None),
        ] {
            assert_eq!(package_hint(command, d), debian, "{command} on debian");
            assert_eq!(package_hint(command, a), alpine, "{command} on alpine");
        }
        assert_eq!(package_hint("xz", Family::Micromamba), Some("xz-utils"));
    }

    #[test]
    fn finds_pipes_outside_quotes() {
        assert!(has_pipe("curl x | tar -x"));
        assert!(!has_pipe("a || b"));
        assert!(!has_pipe("echo 'a | b'"));
        assert!(!has_pipe(r#"echo "a | b""#));
        assert!(!has_pipe(r"echo a \| b"));
        assert!(!has_pipe("echo a >| f"));
        assert!(has_pipe(r#"echo "a\"" | b"#));
        assert!(has_pipe(r#"n="$(false | wc -l)""#));
        assert!(has_pipe(r#"x="$(date)" | tee f"#));
        assert!(!has_pipe(r#"echo "a\" | b""#));
        assert!(has_pipe("| x"));
        assert!(!has_pipe(r#"n="$(echo 'a|b')""#));
        assert!(!has_pipe(
            r#"case "$(uname -m)" in x86_64|amd64) echo x ;; esac"#
        ));
        assert!(has_pipe(r#"case "$a" in x) echo | tee f ;; esac"#));
    }
}
