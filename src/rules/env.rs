//! Environment rules: variable names, references and the order variables are defined in.

use std::collections::HashSet;

use super::{Ctx, PREDEFINED_VARS};
use crate::diag::Diagnostic;
use crate::model::{EnvMap, Source, Spec};
use crate::yaml::escape_segment;

/// A source's own environment and PATH entries (empty for kinds that have none).
pub fn source_env_path(source: &Source) -> (Option<&EnvMap>, &[String]) {
    match source {
        Source::Archive(s) => (Some(&s.env), &s.path),
        Source::Installer(s) => (Some(&s.env), &s.path),
        Source::Conda(s) => (Some(&s.env), &s.path),
        Source::CondaEnv(s) => (Some(&s.env), &s.path),
        Source::Pip(s) => (Some(&s.env), &s.path),
        Source::Apt(s) => (Some(&s.env), &s.path),
        Source::BaseImage(s) => (Some(&s.env), &s.path),
        Source::Commands(s) => (Some(&s.env), &s.path),
        Source::None(_) => (None, &[]),
    }
}

/// Variable names referenced as `$NAME` or `${NAME}`; `$$` is a literal dollar.
pub fn references(value: &str) -> Result<Vec<&str>, &'static str> {
    let mut out = Vec::new();
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'$') => i += 2,
            Some(b'{') => {
                let Some(end) = value[i + 2..].find('}') else {
                    return Err("an unclosed `${`");
                };
                let name = &value[i + 2..i + 2 + end];
                if !is_env_name(name) {
                    return Err("`${…}` with something other than a variable name");
                }
                out.push(name);
                i += 3 + end;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let len = value[i + 1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(value.len() - i - 1);
                out.push(&value[i + 1..i + 1 + len]);
                i += 1 + len;
            }
            _ => return Err("a lone `$` (write `$$` for a literal dollar)"),
        }
    }
    Ok(out)
}

pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) fn check(spec: &Spec, cx: &mut Ctx<'_>) {
    // Undefined references by value pointer: (variable, reference, platforms where undefined).
    let mut undefined: Undefined = Default::default();
    // A map is walked once per platform (and per stage); the same finding on each is one
    // diagnostic, because `diag::sort` drops exact repeats.
    // Order of definition in the image: global env, then per tool (tool env, source env), so a
    // reference is valid when its variable appears anywhere before it on that platform.
    // Each stage is its own scope: build arguments, then its own environment.
    let scopes: Vec<Vec<(String, &EnvMap)>> = spec
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            vec![
                ("/args".to_string(), &spec.args),
                (format!("/stages/{i}/env"), &s.env),
            ]
        })
        .collect();
    for (maps, stage) in scopes.into_iter().zip(&spec.stages) {
        let mut defined: HashSet<&str> = PREDEFINED_VARS.into_iter().collect();
        let scope = format!("stage `{}`", stage.name);
        env_scope(maps, &scope, &mut defined, &mut undefined, cx);
    }
    for (arch, _) in spec.platforms.iter() {
        let mut defined: HashSet<&str> = PREDEFINED_VARS.into_iter().collect();
        let mut maps: Vec<(String, &EnvMap)> =
            vec![("/args".into(), &spec.args), ("/env".into(), &spec.env)];
        if let Some(m) = spec.platform_env.get(arch) {
            maps.push((format!("/platform-env/{}", arch.name()), m));
        }
        for (i, tool) in spec.tools.iter().enumerate() {
            if matches!(tool.sources.get(arch), None | Some(Source::None(_))) {
                continue;
            }
            maps.push((format!("/tools/{i}/env"), &tool.env));
            if let Some(source) = tool.sources.get(arch)
                && let (Some(env), _) = source_env_path(source)
            {
                maps.push((format!("/tools/{i}/sources/{}/env", arch.name()), env));
            }
        }
        env_scope(maps, arch.name(), &mut defined, &mut undefined, cx);
    }
    for (key, (name, r, archs)) in undefined {
        let p = key.split('\u{0}').next().unwrap_or_default().to_string();
        cx.out.push(
            Diagnostic::error(
                "qmspec::undefined-variable",
                format!(
                    "`{name}` refers to `${{{r}}}`, which nothing sets before it (on {})",
                    archs.join(" and ")
                ),
            )
            .with_label(cx.at_value(&p, format!("`{r}` is never set before this")))
            .with_help(format!(
                "set `{r}` before this value (earlier under `args:` or `env:`), or remove the reference"
            )),
        );
    }
    // Labels are Dockerfile values too.
    for (k, v) in &spec.labels {
        if v.chars().any(char::is_control) {
            let p = format!("/labels/{}", escape_segment(k));
            cx.out.push(
                Diagnostic::error(
                    "qmspec::unsafe-value",
                    format!("label `{k}` contains a control character"),
                )
                .with_label(cx.at_value(&p, "not allowed in a label"))
                .with_help("remove the control character"),
            );
        }
    }
}

/// Names the build sets: BuildKit's platform arguments, and the platform the validation
/// script reads.
const RESERVED_VARS: [&str; 9] = [
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "QMSPEC_PLATFORM",
];

/// Undefined references by value pointer: (variable, reference, platforms where undefined).
type Undefined = std::collections::BTreeMap<String, (String, String, Vec<String>)>;

/// Check one scope's maps in definition order: names, references, and what is defined when.
fn env_scope<'s>(
    maps: Vec<(String, &'s EnvMap)>,
    scope: &str,
    defined: &mut HashSet<&'s str>,
    undefined: &mut Undefined,
    cx: &mut Ctx<'_>,
) {
    for (base, map) in maps {
        for (name, value) in map {
            let p = format!("{base}/{}", escape_segment(name));
            if RESERVED_VARS.contains(&name.as_str()) {
                cx.out.push(
                    Diagnostic::error(
                        "qmspec::invalid-env-name",
                        format!("`{name}` is set by the build itself"),
                    )
                    .with_label(cx.at_key(&p, "reserved"))
                    .with_help("BuildKit sets the platform arguments and qmspec sets `QMSPEC_PLATFORM`: choose another name"),
                );
            }
            if !is_env_name(name) {
                cx.out.push(
                    Diagnostic::error(
                        "qmspec::invalid-env-name",
                        format!("`{name}` is not a valid variable name"),
                    )
                    .with_label(cx.at_key(&p, "letters, digits and `_`, not starting with a digit"))
                    .with_help("rename the variable"),
                );
            }
            match references(value) {
                Err(problem) => cx.out.push(
                    Diagnostic::error(
                        "qmspec::invalid-reference",
                        format!("the value of `{name}` has {problem}"),
                    )
                    .with_label(cx.at_value(&p, problem))
                    .with_help("refer to variables as `${NAME}`; write `$$` for a literal `$`"),
                ),
                Ok(refs) => {
                    for r in refs {
                        if !defined.contains(r) {
                            undefined
                                .entry(format!("{p}\u{0}{r}"))
                                .or_insert_with(|| (name.clone(), r.to_string(), Vec::new()))
                                .2
                                .push(scope.to_string());
                        }
                    }
                }
            }
            defined.insert(name);
        }
    }
}
