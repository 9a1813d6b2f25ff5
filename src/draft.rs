//! `qmspec init --from`: a first spec drafted from hand-kept Dockerfiles, one per platform.

use indexmap::IndexMap;

use crate::model::{Arch, ArchiveFormat, Family};

/// One Dockerfile to draft from: its path as the user gave it (for messages) and its text.
pub struct Input {
    pub path: String,
    pub text: String,
}

/// A drafted spec, what it was drafted from, and what its reader must look at.
pub struct Draft {
    /// The spec's YAML text; its first line is a modeline the caller replaces.
    pub spec: String,
    /// Each instruction that became a spec value: path, 1-based line, instruction text.
    pub recognised: Vec<(String, usize, String)>,
    /// What was left out, guessed or kept as raw commands, one sentence each.
    pub notes: Vec<String>,
}

/// Why no spec could be drafted.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DraftError {
    #[error("no Dockerfile to draft from")]
    #[diagnostic(help("name a Dockerfile with `--from`, one per platform"))]
    NoInput,
    #[error("{path}:{line}: a heredoc (`<<`) in `{keyword}`, which the draft cannot read")]
    #[diagnostic(help(
        "write the heredoc's lines as one `RUN` joined with `&&`, then run `qmspec init --from` again"
    ))]
    Heredoc {
        path: String,
        line: usize,
        keyword: String,
    },
    #[error("{path}:{line}: the parser directive `escape={escape}`; the draft reads only `\\`")]
    #[diagnostic(help(
        "remove the `# escape=` line and continue lines with `\\`, then run `qmspec init --from` again"
    ))]
    Escape {
        path: String,
        line: usize,
        escape: String,
    },
    #[error("{path} has no `FROM` instruction")]
    #[diagnostic(help("draft from a Dockerfile that starts its image with `FROM image:tag`"))]
    NoFrom { path: String },
    #[error("{path}:{line}: `{image}` is not a base image a spec can name")]
    #[diagnostic(help(
        "write `FROM` with a lower-case `image:tag` of a base image with a shell (not `scratch`; every `ARG` it uses needs a default), then run `qmspec init --from` again"
    ))]
    BadFrom {
        path: String,
        line: usize,
        image: String,
    },
    #[error("{first} and {second} are both Dockerfiles for {arch}")]
    #[diagnostic(help(
        "pass one Dockerfile per platform; put `amd64` or `arm64` in each file name (or write `FROM --platform=linux/ARCH`) to say which"
    ))]
    SamePlatform {
        first: String,
        second: String,
        arch: String,
    },
}

/// Every download is drafted unhashed: drafting never touches the network.
const UNVERIFIED: &str = "drafted by qmspec init --from; run qmspec lock";

/// The `app` keys the draft writes, in the model's order.
const APP_KEYS: [&str; 9] = [
    "workdir",
    "copy",
    "user",
    "expose",
    "volumes",
    "healthcheck",
    "stopsignal",
    "entrypoint",
    "command",
];

/// One instruction, continuation lines joined, with the line it starts on.
struct Instr {
    line: usize,
    keyword: String,
    args: String,
}

/// A value with the `path:line` it was read from.
#[derive(Clone)]
struct Val {
    value: String,
    at: String,
}

/// How a tool is installed on one platform.
#[derive(Clone, PartialEq)]
enum Src {
    Archive {
        url: String,
        /// Written only where the URL's ending does not say it.
        format: Option<ArchiveFormat>,
        strip: u32,
        dest: String,
        exe: Option<String>,
        path: String,
    },
    Installer {
        url: String,
        prefix: String,
    },
    Commands(Vec<String>),
}

/// A tool: as one Dockerfile shows it (one source), or merged across platforms. `key` is the
/// drafted name; `step` for kept RUN lines, numbered when written.
struct Tool {
    key: String,
    version: Option<String>,
    needs: Option<String>,
    at: Vec<String>,
    sources: Vec<(Arch, Src)>,
}

struct Base {
    image: String,
    tag: String,
    digest: Option<String>,
    at: String,
    non_root: bool,
}

/// What one platform's Dockerfile says. `app` holds each key's YAML lines (indented under
/// `app:`) and where they came from.
struct Plat {
    arch: Arch,
    path: String,
    base: Base,
    args: IndexMap<String, Val>,
    env: IndexMap<String, Val>,
    labels: IndexMap<String, Val>,
    apt: Vec<Val>,
    tools: Vec<Tool>,
    app: IndexMap<&'static str, (String, Vec<String>)>,
}

/// What reading one stage carries from instruction to instruction.
struct State {
    /// `ARG`s declared before the first `FROM`.
    global: IndexMap<String, String>,
    /// What `$NAME` means in typed values (URLs, packages): ARG defaults and ENV so far.
    vars: IndexMap<String, String>,
    seen_run: bool,
    /// Whether files were copied: qmspec copies them after every tool, so a later RUN that
    /// reads them needs a look.
    copied: bool,
    workdir: String,
}

/// Draft a spec named `name` from one Dockerfile per platform.
pub fn draft(name: &str, inputs: &[Input]) -> Result<Draft, DraftError> {
    let mut notes = Vec::new();
    let mut recognised = Vec::new();
    let mut read: Vec<(Arch, &Input, Vec<Instr>)> = Vec::new();
    for input in inputs {
        let instrs = instructions(input)?;
        let (arch, why) = platform_of(input, &instrs);
        if let Some((_, first, _)) = read.iter().find(|(a, _, _)| *a == arch) {
            return Err(DraftError::SamePlatform {
                first: first.path.clone(),
                second: input.path.clone(),
                arch: arch.name().to_string(),
            });
        }
        notes.push(format!(
            "{}: drafted as {} ({why})",
            input.path,
            arch.name()
        ));
        read.push((arch, input, instrs));
    }
    if read.is_empty() {
        return Err(DraftError::NoInput);
    }
    // The fixed platform order, so the spec reads the same whatever order `--from` had.
    read.sort_by_key(|(a, _, _)| *a);
    let mut plats = Vec::new();
    for (arch, input, instrs) in &read {
        plats.push(platform(input, *arch, instrs, &mut notes, &mut recognised)?);
    }
    let spec = render(name, plats, &mut notes);
    Ok(Draft {
        spec,
        recognised,
        notes,
    })
}

// Reading a Dockerfile ------------------------------------------------------------------------

fn instructions(input: &Input) -> Result<Vec<Instr>, DraftError> {
    let mut out = Vec::new();
    let mut directives = true;
    let mut pending: Option<(usize, String)> = None;
    // A byte-order mark is no part of the first instruction.
    let text = input.text.strip_prefix('\u{feff}').unwrap_or(&input.text);
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if directives {
            // `# name=value` at the very top, before any comment, blank or instruction.
            if let Some((k, v)) = trimmed.strip_prefix('#').and_then(|r| r.split_once('='))
                && !k.trim().is_empty()
                && k.trim().chars().all(|c| c.is_ascii_alphanumeric())
            {
                if k.trim().eq_ignore_ascii_case("escape") && v.trim() != "\\" {
                    return Err(DraftError::Escape {
                        path: input.path.clone(),
                        line: i + 1,
                        escape: v.trim().to_string(),
                    });
                }
                continue;
            }
            directives = false;
        }
        // Docker drops comment and blank lines even inside a continued instruction.
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let end = raw.trim_end();
        let body = end.strip_suffix('\\').unwrap_or(end);
        match pending.as_mut() {
            Some((_, text)) => {
                let next = body.trim_start();
                // Words stay apart where the file had a blank, and join where it had none.
                if text.ends_with(char::is_whitespace) || next.len() < body.len() {
                    text.truncate(text.trim_end().len());
                    text.push(' ');
                }
                text.push_str(next);
            }
            None => pending = Some((i + 1, body.trim_start().to_string())),
        }
        if body.len() == end.len()
            && let Some((line, text)) = pending.take()
        {
            out.push(instruction(input, line, &text)?);
        }
    }
    if let Some((line, text)) = pending.take() {
        out.push(instruction(input, line, &text)?);
    }
    Ok(out)
}

fn instruction(input: &Input, line: usize, text: &str) -> Result<Instr, DraftError> {
    let text = text.trim();
    let (keyword, args) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let keyword = keyword.to_ascii_uppercase();
    // `<<WORD`, `<<-WORD`, `<<"WORD"`: BuildKit reads a heredoc, whose body lines the draft
    // would misread as instructions.
    let heredoc = args.match_indices("<<").any(|(i, _)| {
        let rest = args[i + 2..].trim_start_matches('-');
        let rest = rest.trim_start_matches(['"', '\'']);
        rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
    });
    if heredoc && matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
        let path = input.path.clone();
        return Err(DraftError::Heredoc {
            path,
            line,
            keyword,
        });
    }
    Ok(Instr {
        line,
        keyword,
        args: args.trim().to_string(),
    })
}

fn platform_of(input: &Input, instrs: &[Instr]) -> (Arch, &'static str) {
    let file = input.path.rsplit(['/', '\\']).next().unwrap_or_default();
    let file = file.to_ascii_lowercase();
    // The words each platform goes by in file names, image platforms and release files.
    const WORDS: [(Arch, &[&str]); 5] = [
        (Arch::Arm64, &["arm64", "aarch64"]),
        (Arch::Amd64, &["amd64", "x86_64", "x86-64"]),
        (Arch::Ppc64le, &["ppc64le"]),
        (Arch::S390x, &["s390x"]),
        (Arch::Riscv64, &["riscv64"]),
    ];
    for (arch, words) in WORDS {
        if words.iter().any(|w| file.contains(*w)) {
            return (arch, "from its file name");
        }
    }
    for i in instrs.iter().filter(|i| i.keyword == "FROM") {
        for w in i.args.split_whitespace() {
            let Some(platform) = w.strip_prefix("--platform=") else {
                continue;
            };
            let os_arch = platform.strip_prefix("linux/").unwrap_or("");
            let arch = os_arch.split('/').next().unwrap_or("");
            if let Some((arch, _)) = WORDS.iter().find(|(_, ws)| ws.contains(&arch)) {
                return (*arch, "from `FROM --platform`");
            }
        }
    }
    let run: Vec<String> = instrs
        .iter()
        .filter(|i| i.keyword == "RUN")
        .map(|i| i.args.to_ascii_lowercase())
        .collect();
    let count = |ws: [&str; 2]| {
        let per = |w: &str| run.iter().map(|r| r.matches(w).count()).sum::<usize>();
        per(ws[0]) + per(ws[1])
    };
    match count(["aarch64", "arm64"]).cmp(&count(["x86_64", "amd64"])) {
        std::cmp::Ordering::Greater => (Arch::Arm64, "from the architecture its downloads name"),
        std::cmp::Ordering::Less => (Arch::Amd64, "from the architecture its downloads name"),
        std::cmp::Ordering::Equal => (
            Arch::Amd64,
            "nothing says otherwise; name the file `…arm64` if it is not",
        ),
    }
}

fn platform(
    input: &Input,
    arch: Arch,
    instrs: &[Instr],
    notes: &mut Vec<String>,
    recognised: &mut Vec<(String, usize, String)>,
) -> Result<Plat, DraftError> {
    let path = input.path.as_str();
    let at = |line: usize| format!("{path}:{line}");
    let froms: Vec<usize> = (0..instrs.len())
        .filter(|&i| instrs[i].keyword == "FROM")
        .collect();
    let Some(&first) = froms.first() else {
        return Err(DraftError::NoFrom {
            path: path.to_string(),
        });
    };
    let mut global = IndexMap::new();
    for i in instrs[..first].iter().filter(|i| i.keyword == "ARG") {
        for w in words(&i.args, false) {
            let (k, v) = w.split_once('=').unwrap_or((w.as_str(), ""));
            // An ARG default may use the ARGs before it (`ARG T=${V}-slim`).
            let v = expanded(v, &global);
            global.insert(k.to_string(), v);
        }
    }
    // Stage `k`: its image (build arguments filled in) and its name after `AS`.
    let stage = |k: usize| {
        let ws: Vec<&str> = instrs[froms[k]]
            .args
            .split_whitespace()
            .filter(|w| !w.starts_with("--"))
            .collect();
        let name = match ws.as_slice() {
            [_, as_, name, ..] if as_.eq_ignore_ascii_case("as") => Some(name.to_ascii_lowercase()),
            _ => None,
        };
        (
            subst(ws.first().copied().unwrap_or_default(), &global),
            name,
        )
    };
    // The last stage and the stages it is built `FROM`, base-most first: together they are
    // the image. Any other stage is left out and said.
    let mut chain = vec![froms.len() - 1];
    while let Some(k) = (0..chain[0])
        .rev()
        .find(|&k| stage(k).1 == Some(stage(chain[0]).0.to_ascii_lowercase()))
    {
        chain.insert(0, k);
    }
    for k in (0..froms.len()).filter(|k| !chain.contains(k)) {
        let label = stage(k).1.unwrap_or_else(|| (k + 1).to_string());
        let line = instrs[froms[k]].line;
        notes.push(format!(
            "stage {label} ({}) is not drafted; add it under `stages:`",
            at(line)
        ));
    }
    let root = &instrs[froms[chain[0]]];
    let image = stage(chain[0]).0;
    let scratch = image.eq_ignore_ascii_case("scratch");
    let Some((image, tag, digest)) = base_ref(&image).filter(|_| !scratch) else {
        let line = root.line;
        return Err(DraftError::BadFrom {
            path: path.to_string(),
            line,
            image,
        });
    };
    recognised.push((path.to_string(), root.line, format!("FROM {}", root.args)));
    let mut p = Plat {
        arch,
        path: path.to_string(),
        base: Base {
            image,
            tag,
            digest,
            at: at(root.line),
            non_root: false,
        },
        args: IndexMap::new(),
        env: IndexMap::new(),
        labels: IndexMap::new(),
        apt: Vec::new(),
        tools: Vec::new(),
        app: IndexMap::new(),
    };
    let vars = global.clone();
    let mut st = State {
        global,
        vars,
        seen_run: false,
        copied: false,
        workdir: "/".into(),
    };
    for &k in &chain {
        let end = froms.get(k + 1).copied().unwrap_or(instrs.len());
        for i in &instrs[froms[k] + 1..end] {
            if take(&mut p, i, &at(i.line), &mut st, notes) {
                recognised.push((
                    path.to_string(),
                    i.line,
                    format!("{} {}", i.keyword, i.args),
                ));
            }
        }
    }
    // A base left by `USER root` and never switched back: the image ends as root, as the
    // Dockerfile's did.
    if p.base.non_root && !p.app.contains_key("user") {
        let at = p.base.at.clone();
        p.app
            .insert("user", (at, user_lines("root").unwrap_or_default()));
    }
    // A bin folder named in the environment (`PATH`) goes on the tool's PATH.
    for t in &mut p.tools {
        if let Some((
            _,
            Src::Archive {
                dest,
                path,
                exe: None,
                ..
            },
        )) = t.sources.first_mut()
        {
            let bin = format!("{}/bin", dest.trim_end_matches('/'));
            if p.env.values().any(|v| v.value.contains(&bin)) {
                *path = bin;
            }
        }
    }
    Ok(p)
}

/// Turn one instruction into spec values; whether it was.
fn take(p: &mut Plat, i: &Instr, here: &str, st: &mut State, notes: &mut Vec<String>) -> bool {
    let a = i.args.as_str();
    let val = |value: String| Val {
        value,
        at: here.to_string(),
    };
    let set = |p: &mut Plat, key: &'static str, lines: Vec<String>| {
        p.app.insert(key, (here.to_string(), lines));
    };
    match i.keyword.as_str() {
        "ARG" => {
            for w in words(a, true) {
                let (k, v) = match w.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (w.clone(), st.global.get(&w).cloned().unwrap_or_default()),
                };
                if !is_name(&k) {
                    notes.push(format!(
                        "{here}: `ARG {w}` is not drafted: `{k}` is not a variable name"
                    ));
                    continue;
                }
                if v.is_empty() {
                    notes.push(format!(
                        "{here}: `ARG {k}` has no default; drafted as empty"
                    ));
                }
                let value = expanded(&v.replace("$$", "$"), &st.vars);
                st.vars.insert(k.clone(), value);
                p.args.insert(k, val(v));
            }
        }
        "ENV" => {
            for (k, v) in pairs(a, true) {
                if !is_name(&k) {
                    notes.push(format!("{here}: `{k}` is not a variable name; not drafted"));
                    continue;
                }
                // A reference to what nothing in the Dockerfile set (`:${PYTHONPATH}` that the
                // base may or may not set) is dropped: qmspec refuses an undefined reference.
                let (v, dropped) = drop_undefined(&v, |name| {
                    st.vars.contains_key(name) || crate::rules::PREDEFINED_VARS.contains(&name)
                });
                for name in dropped {
                    notes.push(format!(
                        "{here}: `{k}` refers to `${{{name}}}`, which nothing in the Dockerfile sets; the reference is dropped (set it under `env` if the base image provides it)"
                    ));
                }
                let value = expanded(&v.replace("$$", "$"), &st.vars);
                st.vars.insert(k.clone(), value);
                // A variable set again moves to where it was last set, as its value may
                // use others set in between.
                p.env.shift_remove(&k);
                p.env.insert(k, val(v));
            }
        }
        "LABEL" => {
            for (k, v) in pairs(a, false) {
                let plain = k.split(['.', '_', '-']).all(|s| {
                    !s.is_empty()
                        && s.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                });
                if plain {
                    p.labels.insert(k, val(v));
                } else {
                    notes.push(format!(
                        "{here}: label `{k}` is not a lower-case dotted name; not drafted"
                    ));
                }
            }
        }
        "RUN" => {
            if st.copied {
                notes.push(format!("{here}: this RUN comes after a COPY, but qmspec copies `app.copy` after every tool; check that it does not read the copied files"));
                st.copied = false;
            }
            st.seen_run = true;
            run(p, a, here, &st.vars, notes);
        }
        "WORKDIR" => {
            st.workdir = absolute(&st.workdir, &subst(a, &st.vars));
            set(p, "workdir", vec![format!("workdir: {}", q(&st.workdir))]);
        }
        "USER" if !st.seen_run && (a == "root" || a == "0") && !p.app.contains_key("user") => {
            // Switching to root before installing says the base runs as another user.
            p.base.non_root = true;
            notes.push(format!(
                "{here}: `USER root` before the installs: drafted as `runs-as: non-root`"
            ));
        }
        "USER" => match user_lines(a) {
            Some(lines) => set(p, "user", lines),
            None => {
                notes.push(format!(
                    "{here}: `USER {a}` is not a user name; set `app.user` by hand"
                ));
                return false;
            }
        },
        "CMD" | "ENTRYPOINT" => {
            let key = if i.keyword == "CMD" {
                "command"
            } else {
                "entrypoint"
            };
            set(p, key, list_lines(key, &exec_or_shell(a)));
        }
        "EXPOSE" | "VOLUME" => {
            let key = if i.keyword == "EXPOSE" {
                "expose"
            } else {
                "volumes"
            };
            let items = serde_json::from_str::<Vec<String>>(a).unwrap_or_else(|_| words(a, false));
            for w in items {
                // A relative volume is in the working directory, as Docker takes it.
                let w = if key == "volumes" {
                    absolute(&st.workdir, &w)
                } else {
                    w
                };
                let port = w.split_once('/').map_or(w.as_str(), |(n, _)| n);
                let port_ok = (1..=5).contains(&port.len())
                    && port.bytes().all(|b| b.is_ascii_digit())
                    && (!w.contains('/') || w.ends_with("/tcp") || w.ends_with("/udp"));
                if key == "expose" && !port_ok {
                    notes.push(format!(
                        "{here}: `EXPOSE {w}` is not a port number; not drafted"
                    ));
                    continue;
                }
                let entry = p
                    .app
                    .entry(key)
                    .or_insert_with(|| (here.to_string(), vec![format!("{key}:")]));
                entry.1.push(format!("  - {}", q(&w)));
            }
        }
        "STOPSIGNAL" if !a.is_empty() => {
            set(p, "stopsignal", vec![format!("stopsignal: {}", q(a))]);
        }
        "HEALTHCHECK" => match healthcheck(a) {
            Some(lines) => set(p, "healthcheck", lines),
            None => {
                notes.push(format!(
                    "{here}: this HEALTHCHECK is not drafted; write `app.healthcheck` by hand"
                ));
                return false;
            }
        },
        "COPY" | "ADD" => {
            let took = copy(p, i, here, &st.workdir, notes);
            st.copied |= took;
            return took;
        }
        other => {
            notes.push(format!(
                "{here}: `{other}` is not drafted; add what it does by hand"
            ));
            return false;
        }
    }
    true
}

/// `image[:tag][@sha256:…]` as (image, tag, digest), when each part fits the spec's patterns.
fn base_ref(r: &str) -> Option<(String, String, Option<String>)> {
    let (rest, digest) = match r.split_once('@') {
        Some((a, d)) => (a, Some(d.to_string())),
        None => (r, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (image, tag) = match rest[slash..].rfind(':') {
        Some(c) => (&rest[..slash + c], &rest[slash + c + 1..]),
        None => (rest, "latest"),
    };
    let lower = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let image_ok = image.split(['.', '_', '/', ':', '-']).all(lower);
    let tag_ok = tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    let digest_ok = digest.as_deref().is_none_or(|d| {
        d.strip_prefix("sha256:").is_some_and(|h| {
            h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    });
    (image_ok && tag_ok && digest_ok).then(|| (image.to_string(), tag.to_string(), digest))
}

/// `ENV`/`LABEL` arguments as name-value pairs: `A=1 B="two words"`, or the legacy `A 1`.
fn pairs(args: &str, env: bool) -> Vec<(String, String)> {
    let ws = words(args, env);
    match ws.first() {
        Some(first) if !first.contains('=') => {
            let rest = args.split_once(char::is_whitespace).map_or("", |(_, r)| r);
            vec![(first.clone(), words(rest, env).join(" "))]
        }
        _ => ws
            .iter()
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn absolute(workdir: &str, p: &str) -> String {
    match p.trim_start_matches("./") {
        p if p.starts_with('/') => p.to_string(),
        "" | "." => workdir.to_string(),
        p => format!("{}/{p}", workdir.trim_end_matches('/')),
    }
}

/// A JSON array (exec form) as its items; anything else (shell form) as `/bin/sh -c LINE`.
fn exec_or_shell(args: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(args)
        .unwrap_or_else(|_| vec!["/bin/sh".into(), "-c".into(), args.to_string()])
}

/// `app.user` lines for `USER name[:group]`; `None` for a uid or other text.
fn user_lines(u: &str) -> Option<Vec<String>> {
    let (name, group) = u.split_once(':').map_or((u, None), |(n, g)| (n, Some(g)));
    let plain = |s: &str| {
        s.len() <= 32
            && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    if !plain(name) || !group.is_none_or(plain) {
        return None;
    }
    let mut lines = vec!["user:".to_string(), format!("  name: {}", q(name))];
    if let Some(g) = group {
        lines.push(format!("  group: {}", q(g)));
    }
    // The Dockerfile made the user itself (or the base has it): qmspec must not create it.
    lines.push("  create: false".into());
    if name == "root" {
        lines.push(format!(
            "  root-reason: {}",
            q("the Dockerfile ends as root; say why, or pick a user")
        ));
    }
    Some(lines)
}

/// `HEALTHCHECK [--interval=…] CMD …` as `app.healthcheck` lines; `None` for `NONE` or an
/// option the spec cannot hold.
fn healthcheck(args: &str) -> Option<Vec<String>> {
    let mut opts = Vec::new();
    let mut rest = args.trim();
    while let Some(opt) = rest.strip_prefix("--") {
        let (word, tail) = opt.split_once(char::is_whitespace).unwrap_or((opt, ""));
        let (k, v) = word.split_once('=')?;
        let digits = v.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let ok = match k {
            "retries" => v.parse::<u32>().is_ok_and(|n| (1..=100).contains(&n)),
            "interval" | "timeout" | "start-period" => {
                matches!(&v[digits.len()..], "ms" | "s" | "m" | "h")
                    && (1..=6).contains(&digits.len())
                    && !digits.starts_with('0')
                    && digits.bytes().all(|b| b.is_ascii_digit())
            }
            _ => false,
        };
        if !ok {
            return None;
        }
        opts.push(if k == "retries" {
            format!("  {k}: {v}")
        } else {
            format!("  {k}: {}", q(v))
        });
        rest = tail.trim_start();
    }
    let cmd = rest.strip_prefix("CMD")?.trim();
    let run = match serde_json::from_str::<Vec<String>>(cmd) {
        Ok(list) => list
            .iter()
            .map(String::as_str)
            .map(shell_word)
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => cmd.to_string(),
    };
    if run.is_empty() {
        return None;
    }
    let mut lines = vec!["healthcheck:".to_string(), format!("  run: {}", q(&run))];
    lines.extend(opts);
    Some(lines)
}

/// A word as the shell reads it back: quoted unless it is plain characters.
fn shell_word(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+@%,".contains(c))
    {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

/// `COPY`/`ADD` from the build context into `app.copy`; whether it was drafted.
fn copy(p: &mut Plat, i: &Instr, here: &str, workdir: &str, notes: &mut Vec<String>) -> bool {
    let mut list =
        serde_json::from_str::<Vec<String>>(&i.args).unwrap_or_else(|_| words(&i.args, false));
    let what = format!("{} {}", i.keyword, i.args);
    while let Some(flag) = list.first().filter(|w| w.starts_with("--")).cloned() {
        list.remove(0);
        if flag.starts_with("--from") {
            notes.push(format!("{here}: `{what}` copies from another stage or image; add that under `stages:` and copy with `stage:`"));
            return false;
        } else if !flag.starts_with("--link") {
            notes.push(format!(
                "{here}: `{flag}` is not drafted (for `--chown`, set `chown: true`)"
            ));
        }
    }
    if i.keyword == "ADD" && list.iter().any(|w| w.contains("://")) {
        notes.push(format!(
            "{here}: `ADD` of a URL is not drafted; make it a tool with a checked download"
        ));
        return false;
    }
    let Some(dest) = list.pop().filter(|_| !list.is_empty()) else {
        notes.push(format!("{here}: `{what}` is not drafted"));
        return false;
    };
    if i.keyword == "ADD" {
        notes.push(format!(
            "{here}: `ADD` drafted as a copy; a local archive is not unpacked"
        ));
    }
    let mut to = absolute(workdir, &dest);
    if (list.len() > 1 || dest.ends_with('/') || dest == ".") && !to.ends_with('/') {
        to.push('/');
    }
    let entry = p
        .app
        .entry("copy")
        .or_insert_with(|| (here.to_string(), vec!["copy:".into()]));
    for from in list {
        let from = match from.trim_start_matches("./") {
            "" => ".",
            f => f,
        };
        entry.1.push(format!("  - from: {}", q(from)));
        entry.1.push(format!("    to: {}", q(&to)));
    }
    true
}

// RUN lines -----------------------------------------------------------------------------------

/// What one `&&`/`;` part of a RUN line does.
enum Part {
    /// Package-list upkeep that qmspec's own apt layer does.
    Noise,
    Apt(Vec<String>),
    Download {
        url: String,
        /// Where it is saved; `None` for standard output.
        file: Option<String>,
        piped: Option<Unpack>,
    },
    Unpack(Unpack),
    Other,
}

#[derive(Clone)]
struct Unpack {
    /// The archive; `None` for standard input.
    file: Option<String>,
    dest: Option<String>,
    strip: u32,
    /// As the command's flags say, for a URL whose ending does not.
    format: Option<ArchiveFormat>,
}

fn run(
    p: &mut Plat,
    args: &str,
    here: &str,
    vars: &IndexMap<String, String>,
    notes: &mut Vec<String>,
) {
    let mut line = match serde_json::from_str::<Vec<String>>(args) {
        Ok(list) => list
            .iter()
            .map(String::as_str)
            .map(shell_word)
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => args.to_string(),
    };
    while line.starts_with("--") {
        let (flag, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        notes.push(format!("{here}: the RUN flag `{flag}` is not drafted"));
        line = rest.trim_start().to_string();
    }
    let parts = shell_parts(&line);
    let kinds: Vec<Part> = parts.iter().map(|x| classify(&subst(x, vars))).collect();
    let typed = |k: &Part| matches!(k, Part::Apt(_) | Part::Download { .. });
    if !kinds.iter().any(typed) {
        keep(p, "step", vec![line], None, here, notes);
        return;
    }
    let mut used: Vec<bool> = kinds
        .iter()
        .map(|k| typed(k) || matches!(k, Part::Noise))
        .collect();
    for pkg in kinds.iter().flat_map(|k| match k {
        Part::Apt(pkgs) => pkgs.as_slice(),
        _ => &[][..],
    }) {
        if !p.apt.iter().any(|v| v.value == *pkg) {
            p.apt.push(Val {
                value: pkg.clone(),
                at: here.to_string(),
            });
        }
    }
    let mut first = None;
    for k in &kinds {
        let Part::Download { url, file, piped } = k else {
            continue;
        };
        let base = file_name(url);
        let same = |f: &str| {
            file_name(f) == base
                || file
                    .as_deref()
                    .is_some_and(|o| o == f || file_name(o) == file_name(f))
        };
        // Its unpack: piped into, or a part naming the saved file.
        let mut unpack = piped.clone();
        for (j, kind) in kinds.iter().enumerate() {
            if let Part::Unpack(u) = kind
                && unpack.is_none()
                && !used[j]
                && u.file.as_deref().is_some_and(same)
            {
                used[j] = true;
                unpack = Some(u.clone());
            }
        }
        let key = tool_name(&base);
        let dest = unpack
            .as_ref()
            .and_then(|u| u.dest.clone())
            .unwrap_or_else(|| format!("/opt/{key}"));
        // Its cleanup and install are part of the typed source; a moved binary is installed
        // into `dest` instead, which is on PATH.
        let (mut exe, mut prefix) = (key.clone(), None);
        for (j, x) in parts.iter().enumerate() {
            if used[j] {
                continue;
            }
            let ws = words(&subst(x, vars), false);
            let args: Vec<&str> = ws
                .iter()
                .skip(1)
                .map(String::as_str)
                .filter(|w| !w.starts_with('-'))
                .collect();
            used[j] = match ws.first().map(String::as_str) {
                Some("rm") => !args.is_empty() && args.iter().copied().all(same),
                Some("mkdir") => args
                    .iter()
                    .all(|w| w.trim_end_matches('/') == dest.trim_end_matches('/')),
                Some("chmod") => args.len() == 2 && same(args[1]),
                Some("mv" | "cp" | "install")
                    if unpack.is_none() && args.len() == 2 && same(args[0]) =>
                {
                    exe = file_name(args[1]);
                    notes.push(format!(
                        "{here}: `{x}` drafted as `{exe}` in {dest}, on PATH"
                    ));
                    true
                }
                Some("bash" | "sh")
                    if base.ends_with(".sh") && args.first().copied().is_some_and(same) =>
                {
                    prefix = ws
                        .iter()
                        .position(|w| w == "-p")
                        .and_then(|n| ws.get(n + 1))
                        .cloned();
                    prefix.is_some()
                }
                _ => false,
            };
        }
        let (version, url) = versioned(url);
        let src = match prefix {
            Some(prefix) => Src::Installer { url, prefix },
            None => {
                let by_url = ArchiveFormat::from_url(&base);
                let format = match &unpack {
                    None if by_url.is_none() => Some(ArchiveFormat::Binary),
                    Some(u) if by_url.is_none() => u.format,
                    _ => None,
                };
                if unpack.is_some() && by_url.is_none() && format.is_none() {
                    notes.push(format!(
                        "{here}: set `format:` of `{key}`: neither its URL nor its unpack says it"
                    ));
                }
                let binary = format == Some(ArchiveFormat::Binary);
                let bin = format!("{}/bin", dest.trim_end_matches('/'));
                let path = if !binary && line.contains(&bin) {
                    bin
                } else {
                    dest.clone()
                };
                let strip = unpack.as_ref().map_or(0, |u| u.strip);
                Src::Archive {
                    url,
                    format,
                    strip,
                    dest,
                    exe: binary.then_some(exe),
                    path,
                }
            }
        };
        first.get_or_insert_with(|| key.clone());
        let at = vec![here.to_string()];
        p.tools.push(Tool {
            key,
            version,
            needs: None,
            at,
            sources: vec![(p.arch, src)],
        });
    }
    let rest: Vec<String> = parts
        .into_iter()
        .zip(used)
        .filter(|(_, u)| !u)
        .map(|(x, _)| x)
        .collect();
    // A `cd` alone only set the folder for the parts now drafted.
    if rest.iter().all(|x| x.starts_with("cd ")) {
        return;
    }
    match first {
        Some(t) => {
            notes.push(format!(
                "{here}: the rest of this RUN line is kept as `{t}-setup`; check it"
            ));
            keep(p, &format!("{t}-setup"), rest, Some(t), here, notes);
        }
        None => keep(p, "step", rest, None, here, notes),
    }
}

/// Keep shell lines as a `commands` tool, saying what qmspec will refuse in them.
fn keep(
    p: &mut Plat,
    key: &str,
    run: Vec<String>,
    needs: Option<String>,
    here: &str,
    notes: &mut Vec<String>,
) {
    for line in &run {
        let mut ws = line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        if let Some(f) = ws.find(|w| *w == "wget" || *w == "curl") {
            notes.push(format!("{here}: a kept command calls `{f}`, which qmspec refuses in commands (unchecked-url): list the file under the tool's `downloads:`"));
        }
        let b = line.as_bytes();
        if (0..b.len())
            .any(|i| b[i] == b'|' && b.get(i + 1) != Some(&b'|') && (i == 0 || b[i - 1] != b'|'))
        {
            notes.push(format!("{here}: a kept command pipes, which qmspec refuses where the shell has no pipefail (pipe-without-pipefail)"));
        }
        if line.contains("useradd") || line.contains("adduser") {
            notes.push(format!(
                "{here}: a kept command creates a user; `app.user` with a `uid` does that"
            ));
        }
    }
    let (at, sources) = (vec![here.to_string()], vec![(p.arch, Src::Commands(run))]);
    p.tools.push(Tool {
        key: key.to_string(),
        version: None,
        needs,
        at,
        sources,
    });
}

fn classify(part: &str) -> Part {
    let pipe = split_top(part, &["|"]);
    if let [left, right] = pipe.as_slice() {
        if let Part::Download {
            url, file: None, ..
        } = classify(left.trim())
            && let Part::Unpack(u) = classify(right.trim())
            && u.file.is_none()
        {
            return Part::Download {
                url,
                file: None,
                piped: Some(u),
            };
        }
        return Part::Other;
    }
    if pipe.len() > 2 {
        return Part::Other;
    }
    let all = words(part, false);
    // Leading `sudo` and `NAME=value` assignments do not change what the command is.
    let skip = all
        .iter()
        .take_while(|w| *w == "sudo" || (w.contains('=') && !w.starts_with('-')))
        .count();
    let ws = &all[skip..];
    let Some(cmd) = ws.first() else {
        return Part::Other;
    };
    let plain: Vec<&String> = ws[1..].iter().filter(|w| !w.starts_with('-')).collect();
    match cmd.as_str() {
        "apt-get" | "apt" => match plain.first().map(|w| w.as_str()) {
            Some("update" | "clean" | "autoclean" | "autoremove") => Part::Noise,
            // A target release (`-t`) or option (`-o`) changes what installs: kept as written.
            Some("install")
                if !ws.iter().any(|w| {
                    w.starts_with("-t") || w.starts_with("-o") || w.starts_with("--target")
                }) =>
            {
                let pkgs: Vec<String> = plain[1..].iter().map(|w| w.to_string()).collect();
                if pkgs.iter().map(String::as_str).all(is_package) {
                    Part::Apt(pkgs)
                } else {
                    Part::Other
                }
            }
            _ => Part::Other,
        },
        "rm" if !plain.is_empty()
            && plain.iter().all(|w| {
                w.starts_with("/var/lib/apt/lists") || w.starts_with("/var/cache/apt")
            }) =>
        {
            Part::Noise
        }
        "export" if ws.len() == 2 && ws[1].starts_with("DEBIAN_FRONTEND=") => Part::Noise,
        "wget" | "curl" => download(cmd == "wget", ws),
        "tar" => unpack_tar(ws),
        "unzip" => {
            let dest = ws
                .iter()
                .position(|w| w == "-d")
                .and_then(|n| ws.get(n + 1))
                .cloned();
            let file = plain
                .iter()
                .map(|w| w.to_string())
                .find(|w| Some(w) != dest.as_ref());
            Part::Unpack(Unpack {
                file,
                dest,
                strip: 0,
                format: Some(ArchiveFormat::Zip),
            })
        }
        _ => Part::Other,
    }
}

fn download(wget: bool, ws: &[String]) -> Part {
    let urls: Vec<&String> = ws.iter().filter(|w| w.contains("://")).collect();
    let [url] = urls.as_slice() else {
        return Part::Other;
    };
    // A URL still holding `$` names something only the build knows.
    if url.contains('$') {
        return Part::Other;
    }
    let url = url.to_string();
    let mut file = wget.then(|| file_name(&url));
    let (short, long) = if wget {
        ('O', "--output-document")
    } else {
        ('o', "--output")
    };
    let mut n = 1;
    while n < ws.len() {
        let w = ws[n].as_str();
        if let Some(v) = w.strip_prefix(long).and_then(|v| v.strip_prefix('=')) {
            file = Some(v.to_string());
        } else if w == long {
            n += 1;
            file = ws.get(n).cloned();
        } else if w == "--remote-name" {
            file = Some(file_name(&url));
        } else if w.starts_with('-') && !w.starts_with("--") {
            if let Some(at) = w.find(short) {
                let tail = &w[at + 1..];
                if tail.is_empty() {
                    n += 1;
                }
                file = if tail.is_empty() {
                    ws.get(n).cloned()
                } else {
                    Some(tail.to_string())
                };
            } else if !wget && w.contains('O') {
                file = Some(file_name(&url));
            } else if wget && w == "-P" {
                n += 1;
                file = ws.get(n).map(|d| format!("{d}/{}", file_name(&url)));
            }
        }
        n += 1;
    }
    let file = file.filter(|f| f != "-");
    Part::Download {
        url,
        file,
        piped: None,
    }
}

fn unpack_tar(ws: &[String]) -> Part {
    let mut u = Unpack {
        file: None,
        dest: None,
        strip: 0,
        format: None,
    };
    let mut extract = false;
    let mut n = 1;
    while n < ws.len() {
        let w = ws[n].as_str();
        let next = ws.get(n + 1).cloned();
        // Short options run together, the first possibly without its dash (`xJf`).
        let cluster = !w.starts_with("--") && (w.starts_with('-') || n == 1);
        match w {
            "-C" | "--directory" | "--strip-components" | "--file" => {
                match w {
                    "--strip-components" => {
                        u.strip = next.and_then(|v| v.parse().ok()).unwrap_or(0)
                    }
                    "--file" => u.file = next,
                    _ => u.dest = next,
                }
                n += 1;
            }
            "--extract" | "--get" => extract = true,
            "--xz" => u.format = Some(ArchiveFormat::TarXz),
            "--gzip" => u.format = Some(ArchiveFormat::TarGz),
            "--bzip2" => u.format = Some(ArchiveFormat::TarBz2),
            "--zstd" => u.format = Some(ArchiveFormat::TarZst),
            _ if cluster => {
                extract |= w.contains('x');
                for (c, f) in [
                    ('J', ArchiveFormat::TarXz),
                    ('z', ArchiveFormat::TarGz),
                    ('j', ArchiveFormat::TarBz2),
                ] {
                    if w.contains(c) {
                        u.format = Some(f);
                    }
                }
                if w.ends_with('f') {
                    u.file = next;
                    n += 1;
                }
            }
            _ => {
                if let Some(v) = w.strip_prefix("--strip-components=") {
                    u.strip = v.parse().unwrap_or(0);
                } else if let Some(v) = w.strip_prefix("--directory=") {
                    u.dest = Some(v.to_string());
                } else if let Some(v) = w.strip_prefix("--file=") {
                    u.file = Some(v.to_string());
                }
            }
        }
        n += 1;
    }
    u.file = u.file.filter(|f| f != "-");
    if extract {
        Part::Unpack(u)
    } else {
        Part::Other
    }
}

/// A variable name, as `ENV` and `ARG` in a spec take it.
fn is_name(k: &str) -> bool {
    k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A Debian package, `name` or `name=version`, as the spec's pattern takes it.
fn is_package(w: &str) -> bool {
    let (name, version) = w.split_once('=').map_or((w, None), |(n, v)| (n, Some(v)));
    name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b))
        && version.is_none_or(|v| {
            !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".+:~-".contains(&b))
        })
}

/// The last path segment of a URL or file path, without query or fragment.
fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A tool name from a download's file name: up to the first `-`/`_` that a version or a
/// platform word follows (`xtb-6.7.1-linux-x86_64.tar.xz` → `xtb`, `yq_linux_amd64` → `yq`).
fn tool_name(file: &str) -> String {
    const WORDS: [&str; 9] = [
        "x86", "x64", "amd64", "aarch64", "arm64", "linux", "darwin", "macos", "windows",
    ];
    let lower = file.to_ascii_lowercase();
    let cut = lower.char_indices().find(|&(i, c)| {
        // Past the character, whatever its width (a file name may hold `ä`).
        let next = &lower[i + c.len_utf8()..];
        (c == '-' || c == '_')
            && (next.starts_with(|c: char| c.is_ascii_digit())
                || WORDS.iter().any(|w| next.starts_with(*w)))
    });
    let stem = match cut {
        Some((i, _)) => &lower[..i],
        None => lower.split('.').next().unwrap_or_default(),
    };
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    if name.is_empty() {
        "tool".to_string()
    } else {
        name.to_string()
    }
}

/// The version in a URL's path (digits with a dot, starting a word or after a word-starting
/// `v`, as qmspec's URL check reads them), and the URL with each of its occurrences as
/// `{{version}}`.
fn versioned(url: &str) -> (Option<String>, String) {
    let at = url.find("://").map_or(0, |i| {
        url[i + 3..].find('/').map_or(url.len(), |j| i + 3 + j)
    });
    let (head, path) = url.split_at(at);
    let b = path.as_bytes();
    let word_start = |j: usize| j == 0 || (!b[j - 1].is_ascii_alphanumeric() && b[j - 1] != b'.');
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts =
            word_start(i) || (i >= 1 && matches!(b[i - 1], b'v' | b'V') && word_start(i - 1));
        if !(b[i].is_ascii_digit() && starts) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len()
            && (b[i].is_ascii_digit()
                || (b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)))
        {
            i += 1;
        }
        if path[start..i].contains('.') {
            found.push((start, i));
        }
    }
    let Some(&(s, e)) = found.first() else {
        return (None, url.to_string());
    };
    let version = &path[s..e];
    let mut out = head.to_string();
    let mut last = 0;
    for (s, e) in found.into_iter().filter(|&(s, e)| path[s..e] == *version) {
        out.push_str(&path[last..s]);
        out.push_str("{{version}}");
        last = e;
    }
    out.push_str(&path[last..]);
    (Some(version.to_string()), out)
}

/// `$NAME`, `${NAME}` and `${NAME:-default}` replaced by known values; others left as written.
/// `value` without its `$NAME`/`${NAME}` references to variables `defined` does not know, each
/// taking one `:` list separator next to it along (`/app/src:${PYTHONPATH}` → `/app/src`), and
/// the names dropped.
fn drop_undefined(value: &str, defined: impl Fn(&str) -> bool) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut dropped = Vec::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        // `$$` is a literal `$` in a Dockerfile.
        if let Some(after) = tail.strip_prefix('$') {
            out.push_str("$$");
            rest = after;
            continue;
        }
        let (name, len) = match tail
            .strip_prefix('{')
            .and_then(|t| t.find('}').map(|e| (t, e)))
        {
            Some((inner, end)) => (inner[..end].split(":-").next().unwrap_or_default(), end + 2),
            None => {
                let n = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                (&tail[..n], n)
            }
        };
        if name.is_empty() || defined(name) {
            out.push_str(&rest[at..at + 1 + len]);
        } else {
            dropped.push(name.to_string());
            let after = &tail[len..];
            if out.ends_with(':') {
                out.pop();
            } else if let Some(stripped) = after.strip_prefix(':') {
                rest = stripped;
                continue;
            }
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    (out, dropped)
}

/// Longest value a variable is remembered with, expanded. `ENV A2=$A1$A1` doubles with every
/// line: past this the value is kept as written, so forty such lines cannot take gigabytes.
const MAX_EXPANDED: usize = 16 * 1024;

/// `value` with the variables known so far put in, or as written when that grows too long.
fn expanded(value: &str, vars: &IndexMap<String, String>) -> String {
    let out = subst(value, vars);
    if out.len() > MAX_EXPANDED {
        value.to_string()
    } else {
        out
    }
}

fn subst(s: &str, vars: &IndexMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let (name, default, len) = match tail
            .strip_prefix('{')
            .and_then(|t| t.find('}').map(|end| (t, end)))
        {
            Some((inner, end)) => {
                let (n, d) = inner[..end]
                    .split_once(":-")
                    .map_or((&inner[..end], None), |(n, d)| (n, Some(d)));
                (n, d, end + 2)
            }
            None => {
                let n = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                (&tail[..n], None, n)
            }
        };
        match vars
            .get(name)
            .filter(|v| !v.is_empty())
            .map(String::as_str)
            .or(default)
        {
            Some(v) if !name.is_empty() => out.push_str(v),
            _ => out.push_str(&rest[at..at + 1 + len]),
        }
        // A line of many references to long values: past this it stays as written, so the
        // draft's size follows the Dockerfile's, not a product of them.
        if out.len() > MAX_SUBSTITUTED {
            return s.to_string();
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// Longest text a substitution may produce (a Dockerfile line is at most 1 MiB).
const MAX_SUBSTITUTED: usize = 1024 * 1024;

/// Split at top-level separators: outside quotes and parentheses, `||` never split.
fn split_top<'a>(s: &'a str, seps: &[&str]) -> Vec<&'a str> {
    let b = s.as_bytes();
    let (mut out, mut start, mut i, mut depth) = (Vec::new(), 0, 0, 0i32);
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match (quote, c) {
            (Some(b'"'), b'\\') | (None, b'\\') => i += 1,
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(c),
            (None, b'(') => depth += 1,
            (None, b')') => depth -= 1,
            (None, _) if depth == 0 && b[i..].starts_with(b"||") => i += 1,
            (None, _) if depth == 0 => {
                if let Some(sep) = seps.iter().find(|sep| b[i..].starts_with(sep.as_bytes())) {
                    out.push(&s[start..i]);
                    start = i + sep.len();
                    i = start;
                    continue;
                }
            }
            (None, _) => {}
        }
        i += 1;
    }
    out.push(&s[start..]);
    out
}

fn shell_parts(line: &str) -> Vec<String> {
    let parts = split_top(line, &["&&", ";"]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

/// Shell words with quotes removed. For ENV values (`env`), a `$` Docker takes literally
/// (escaped, or in single quotes) becomes the spec's `$$`.
fn words(s: &str, env: bool) -> Vec<String> {
    let (mut out, mut cur, mut has) = (Vec::new(), String::new(), false);
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    let dollar = if env { "$$" } else { "$" };
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('\''), '$') => cur.push_str(dollar),
            (Some('"'), '\\') if chars.peek().is_some_and(|n| "\"\\$`".contains(*n)) => {
                let n = chars.next().unwrap_or_default();
                if n == '$' {
                    cur.push_str(dollar)
                } else {
                    cur.push(n)
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                has = true;
            }
            (None, '\\') => match chars.next() {
                Some('$') => cur.push_str(dollar),
                Some(n) => cur.push(n),
                None => {}
            },
            (None, c) if c.is_whitespace() => {
                if has || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                has = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if has || !cur.is_empty() {
        out.push(cur);
    }
    out
}

// Merging the platforms and writing the YAML --------------------------------------------------

fn render(name: &str, mut plats: Vec<Plat>, notes: &mut Vec<String>) -> String {
    let mut y = String::new();
    let paths: Vec<&str> = plats.iter().map(|p| p.path.as_str()).collect();
    line(
        &mut y,
        0,
        "# yaml-language-server: $schema=../schema/worker.schema.json\n#",
    );
    comment(
        &mut y,
        0,
        &format!(
            "Drafted by `qmspec init --from` from {};",
            paths.join(" and ")
        ),
    );
    comment(&mut y, 0, "review every value, then run `qmspec validate`.");
    line(&mut y, 0, &format!("name: {}", q(name)));
    let labels = merge_maps(plats.iter().map(|p| (&p.path, &p.labels)), "label", notes);
    map(&mut y, "labels", &labels);
    line(
        &mut y,
        0,
        &format!(
            "validation-script: {}",
            q(&format!("generated/validate-{name}.sh"))
        ),
    );

    let tools = merge_tools(&mut plats, notes);
    let facts = base_facts(&plats, &tools, notes);
    line(&mut y, 0, "\nplatforms:");
    for (p, f) in plats.iter().zip(&facts) {
        let a = p.arch.name();
        line(&mut y, 2, &format!("{a}:"));
        comment(&mut y, 4, &format!("from {}", p.base.at));
        line(&mut y, 4, "base:");
        line(&mut y, 6, &format!("image: {}", q(&p.base.image)));
        line(&mut y, 6, &format!("tag: {}", q(&p.base.tag)));
        if let Some(d) = &p.base.digest {
            line(&mut y, 6, &format!("digest: {}", q(d)));
        }
        if p.base.non_root {
            line(&mut y, 6, "runs-as: non-root");
        }
        if let Some(family) = f.family {
            line(&mut y, 6, &format!("family: {family}"));
        }
        list(&mut y, 6, "provides", &f.provides);
        let runner = if p.arch == Arch::Arm64 {
            "ubuntu-24.04-arm"
        } else {
            "ubuntu-latest"
        };
        line(&mut y, 4, &format!("runner: {}", q(runner)));
        line(
            &mut y,
            4,
            &format!(
                "dockerfile: {}",
                q(&format!("generated/Dockerfile.{name}.{a}"))
            ),
        );
    }
    let args = merge_maps(
        plats.iter().map(|p| (&p.path, &p.args)),
        "build argument",
        notes,
    );
    map(&mut y, "\nargs", &args);

    // apt: what every platform installs, then what one platform adds.
    let lists: Vec<Vec<String>> = plats
        .iter()
        .zip(&facts)
        .map(|(p, f)| {
            p.apt
                .iter()
                .map(|v| v.value.clone())
                .chain(f.extra.iter().cloned())
                .collect()
        })
        .collect();
    let common: Vec<String> = lists[0]
        .iter()
        .filter(|v| lists.iter().all(|l| l.contains(v)))
        .cloned()
        .collect();
    if lists.iter().any(|l| !l.is_empty()) {
        line(&mut y, 0, "\napt:");
        let from: Vec<&str> = plats
            .iter()
            .filter_map(|p| p.apt.first())
            .map(|v| v.at.as_str())
            .collect();
        if !from.is_empty() {
            comment(&mut y, 2, &format!("from {}", from.join(", ")));
        }
        list(&mut y, 2, "packages", &common);
        let only: Vec<(Arch, Vec<String>)> = plats
            .iter()
            .zip(&lists)
            .map(|(p, l)| {
                (
                    p.arch,
                    l.iter()
                        .filter(|v| !common.contains(v))
                        .cloned()
                        .collect::<Vec<_>>(),
                )
            })
            .filter(|(_, l)| !l.is_empty())
            .collect();
        if !only.is_empty() {
            line(&mut y, 2, "platforms:");
            for (a, l) in &only {
                list(&mut y, 4, a.name(), l);
            }
        }
    }

    // env: a name with one value on every platform is global; the rest is per platform.
    let same = |k: &String, v: &Val| {
        plats
            .iter()
            .all(|o| o.env.get(k).is_some_and(|w| w.value == v.value))
    };
    let global: IndexMap<String, Val> = plats[0]
        .env
        .iter()
        .filter(|(k, v)| same(k, v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    map(&mut y, "\nenv", &global);
    let per: Vec<(Arch, IndexMap<String, Val>)> = plats
        .iter()
        .map(|p| {
            (
                p.arch,
                p.env
                    .iter()
                    .filter(|(k, v)| !same(k, v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        })
        .filter(|(_, m): &(Arch, IndexMap<String, Val>)| !m.is_empty())
        .collect();
    if !per.is_empty() {
        line(&mut y, 0, "\nplatform-env:");
        for (a, m) in &per {
            line(&mut y, 2, &format!("{}:", a.name()));
            for (k, v) in m {
                comment(&mut y, 4, &format!("from {}", v.at));
                line(&mut y, 4, &format!("{}: {}", key(k), q(&v.value)));
            }
        }
    }
    write_tools(&mut y, &tools, &plats);

    // The app from the first platform; where another's differs, that is said, not merged.
    let shape = |p: &Plat| APP_KEYS.map(|k| p.app.get(k).map(|(_, l)| l.clone()));
    if plats.iter().any(|p| shape(p) != shape(&plats[0])) {
        notes.push(format!(
            "the Dockerfiles' WORKDIR/USER/CMD/COPY differ; `app` is drafted from {}",
            plats[0].path
        ));
    }
    if !plats[0].app.is_empty() {
        line(&mut y, 0, "\napp:");
        for (at, lines) in APP_KEYS.iter().filter_map(|k| plats[0].app.get(k)) {
            comment(&mut y, 2, &format!("from {at}"));
            for l in lines {
                line(&mut y, 2, l);
            }
        }
    }
    line(&mut y, 0, "\nci:");
    line(
        &mut y,
        2,
        &format!("workflow: {}", q(".github/workflows/publish-images.yml")),
    );
    y
}

/// What the spec must say about a platform's base beyond the Dockerfile's `FROM`.
struct Facts {
    /// The family, when not the default (`debian`).
    family: Option<&'static str>,
    provides: Vec<String>,
    /// Packages added to apt for qmspec's own download lines.
    extra: Vec<String>,
}

/// Each platform's base facts. qmspec refuses a spec whose download lines call a command the
/// image lacks; the Dockerfile worked, so what its downloads needed was there.
fn base_facts(plats: &[Plat], tools: &[Tool], notes: &mut Vec<String>) -> Vec<Facts> {
    let mut out = Vec::new();
    for p in plats {
        let short = p.base.image.rsplit('/').next().unwrap_or_default();
        let (family, name, mut provides) = match short {
            "ubuntu" => (Family::Ubuntu, Some("ubuntu"), vec![]),
            "debian" => (Family::Debian, None, vec![]),
            "alpine" => (Family::Alpine, Some("alpine"), vec![]),
            "busybox" => (Family::Busybox, Some("busybox"), vec![]),
            "micromamba" => (Family::Micromamba, Some("micromamba"), vec![]),
            "python" if p.base.tag.contains("alpine") => {
                (Family::Alpine, Some("alpine"), vec!["python3".to_string()])
            }
            "python" => (Family::Debian, None, vec!["python3".to_string()]),
            _ => {
                notes.push(format!("{}: `{}` drafted as a Debian image; set `family:` and `provides:` if it is not", p.base.at, p.base.image));
                (Family::Debian, None, vec![])
            }
        };
        let packages = p
            .apt
            .iter()
            .map(|v| v.value.split('=').next().unwrap_or_default().to_string());
        let have: Vec<String> = family
            .commands()
            .iter()
            .map(|c| c.to_string())
            .chain(provides.clone())
            .chain(packages)
            .collect();
        let mut need: Vec<&str> = Vec::new();
        for (_, src) in tools
            .iter()
            .flat_map(|t| &t.sources)
            .filter(|(a, _)| *a == p.arch)
        {
            let (url, format) = match src {
                Src::Archive { url, format, .. } => {
                    (url, format.or_else(|| ArchiveFormat::from_url(url)))
                }
                Src::Installer { url, .. } => (url, None),
                Src::Commands(_) => continue,
            };
            if !have.iter().any(|h| h == "wget" || h == "curl") {
                need.push("wget");
            }
            if url.starts_with("https://") {
                need.push("ca-certificates");
            }
            need.extend(format.map_or(&[][..], crate::toolbox::unpack_commands));
        }
        let mut extra: Vec<String> = Vec::new();
        for c in need {
            let pkg = if c == "xz" { "xz-utils" } else { c };
            if have.iter().any(|h| h == c || h == pkg)
                || extra.iter().chain(&provides).any(|e| e == pkg || e == c)
            {
                continue;
            }
            if matches!(family, Family::Debian | Family::Ubuntu | Family::Micromamba) {
                notes.push(format!("{}: added `{pkg}` to apt: qmspec's download lines call `{c}` (if the base has it, list it in `provides:` instead)", p.path));
                extra.push(pkg.to_string());
            } else {
                notes.push(format!("{}: `{c}` listed in `provides:`: qmspec's download lines call it; check that the base has it", p.path));
                provides.push(c.to_string());
            }
        }
        out.push(Facts {
            family: name,
            provides,
            extra,
        });
    }
    out
}

/// Maps merged across platforms in order; a name whose value differs keeps the first.
fn merge_maps<'a>(
    maps: impl Iterator<Item = (&'a String, &'a IndexMap<String, Val>)>,
    what: &str,
    notes: &mut Vec<String>,
) -> IndexMap<String, Val> {
    let mut out: IndexMap<String, Val> = IndexMap::new();
    for (path, m) in maps {
        for (k, v) in m {
            match out.get(k) {
                Some(first) if first.value != v.value => notes.push(format!(
                    "{path}: {what} `{k}` differs from {}; the first value is drafted",
                    first.at
                )),
                Some(_) => {}
                None => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    out
}

/// Tools merged across platforms: the same download (same version) or the same commands
/// become one tool. A platform's new tool goes after the last tool it already has, so each
/// platform keeps its own order where the merged order allows.
fn merge_tools(plats: &mut [Plat], notes: &mut Vec<String>) -> Vec<Tool> {
    let mut tools: Vec<Tool> = Vec::new();
    for p in plats.iter_mut() {
        let mut last: Option<usize> = None;
        for mut t in std::mem::take(&mut p.tools) {
            let Some((arch, src)) = t.sources.pop() else {
                continue;
            };
            let fits = |f: &Tool| {
                f.key == t.key
                    && f.sources.iter().all(|(a, s)| {
                        *a != arch
                            && match (s, &src) {
                                (Src::Commands(x), Src::Commands(y)) => x == y,
                                (Src::Commands(_), _) | (_, Src::Commands(_)) => false,
                                _ => true,
                            }
                    })
            };
            match tools.iter().position(fits) {
                Some(i) if tools[i].version == t.version => {
                    if last.is_some_and(|l| i < l) {
                        notes.push(format!("{}: `{}` is in another order in the other Dockerfile; check the order of `tools`", t.at.join(", "), t.key));
                    }
                    tools[i].sources.push((arch, src));
                    tools[i].at.append(&mut t.at);
                    last = Some(last.map_or(i, |l| l.max(i)));
                }
                found => {
                    if let Some(i) = found {
                        notes.push(format!(
                            "{}: `{}` is version {} here but {} in the other Dockerfile; drafted as two tools (a tool has one version)",
                            t.at.join(", "),
                            t.key,
                            t.version.as_deref().unwrap_or("none"),
                            tools[i].version.as_deref().unwrap_or("none")
                        ));
                    }
                    let at = last.map_or(0, |l| l + 1);
                    t.sources.push((arch, src));
                    tools.insert(at, t);
                    last = Some(at);
                }
            }
        }
    }
    tools
}

fn write_tools(y: &mut String, tools: &[Tool], plats: &[Plat]) {
    if tools.is_empty() {
        return;
    }
    // Unique names in order: `step-N` for kept RUN lines; a tool drafted twice (two versions)
    // named by its platform.
    let mut names: Vec<String> = Vec::new();
    let mut step = 0;
    for t in tools {
        let twice = tools.iter().filter(|o| o.key == t.key).count() > 1;
        let mut name = match (t.key.as_str(), t.sources.as_slice()) {
            ("step", _) => {
                step += 1;
                format!("step-{step}")
            }
            (k, [(a, _)]) if twice => format!("{k}-{}", a.name()),
            (k, _) => k.to_string(),
        };
        let stem = name.clone();
        for n in 2.. {
            if !names.contains(&name) {
                break;
            }
            name = format!("{stem}-{n}");
        }
        names.push(name);
    }
    line(y, 0, "\ntools:");
    for (t, tname) in tools.iter().zip(&names) {
        comment(y, 2, &format!("from {}", t.at.join(", ")));
        line(y, 2, &format!("- name: {}", q(tname)));
        if let Some(v) = &t.version {
            line(y, 4, &format!("version: {}", q(v)));
        }
        let needs = t
            .needs
            .as_ref()
            .and_then(|k| tools.iter().position(|o| o.key == *k));
        list(
            y,
            4,
            "needs",
            &needs
                .map(|i| names[i].clone())
                .into_iter()
                .collect::<Vec<_>>(),
        );
        line(y, 4, "sources:");
        for p in plats {
            line(y, 6, &format!("{}:", p.arch.name()));
            let mut kv = |k: &str, v: &str| line(y, 8, &format!("{k}: {}", q(v)));
            match t.sources.iter().find(|(a, _)| *a == p.arch).map(|(_, s)| s) {
                None => {
                    kv("kind", "none");
                    kv("reason", &format!("not in {}", p.path));
                }
                Some(Src::Commands(run)) => {
                    kv("kind", "commands");
                    list(y, 8, "run", run);
                }
                Some(Src::Installer { url, prefix }) => {
                    for (k, v) in [
                        ("kind", "installer"),
                        ("url", url.as_str()),
                        ("sha256", "unverified"),
                        ("unverified-reason", UNVERIFIED),
                        ("prefix", prefix.as_str()),
                    ] {
                        kv(k, v);
                    }
                    list(
                        y,
                        8,
                        "path",
                        &[format!("{}/bin", prefix.trim_end_matches('/'))],
                    );
                }
                Some(Src::Archive {
                    url,
                    format,
                    strip,
                    dest,
                    exe,
                    path,
                }) => {
                    for (k, v) in [
                        ("kind", "archive"),
                        ("url", url.as_str()),
                        ("sha256", "unverified"),
                        ("unverified-reason", UNVERIFIED),
                    ] {
                        kv(k, v);
                    }
                    if let Some(f) = format {
                        kv("format", f.name());
                    }
                    if *strip > 0 {
                        line(y, 8, &format!("strip-components: {strip}"));
                    }
                    line(y, 8, &format!("dest: {}", q(dest)));
                    list(y, 8, "executables", exe.as_slice());
                    list(y, 8, "path", std::slice::from_ref(path));
                }
            }
        }
    }
}

fn line(y: &mut String, indent: usize, text: &str) {
    let (blank, text) = match text.strip_prefix('\n') {
        Some(t) => ("\n", t),
        None => ("", text),
    };
    y.push_str(blank);
    y.push_str(&" ".repeat(indent));
    y.push_str(text);
    y.push('\n');
}

/// A comment line; a control character in read text (a file name) cannot end it early.
fn comment(y: &mut String, indent: usize, text: &str) {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    line(y, indent, &format!("# {clean}"));
}

/// A block list; nothing for an empty one.
fn list(y: &mut String, indent: usize, key: &str, items: &[String]) {
    if !items.is_empty() {
        for l in list_lines(key, items) {
            line(y, indent, &l);
        }
    }
}

fn list_lines(key: &str, items: &[String]) -> Vec<String> {
    if items.is_empty() {
        return vec![format!("{key}: []")];
    }
    let mut out = vec![format!("{key}:")];
    out.extend(items.iter().map(|i| format!("  - {}", q(i))));
    out
}

/// A top-level map of read names to values, each with where it came from.
fn map(y: &mut String, key: &str, m: &IndexMap<String, Val>) {
    if m.is_empty() {
        return;
    }
    line(y, 0, &format!("{key}:"));
    for (k, v) in m {
        comment(y, 2, &format!("from {}", v.at));
        line(y, 2, &format!("{}: {}", self::key(k), q(&v.value)));
    }
}

/// A mapping key read from a Dockerfile: plain where YAML reads it back as the same string.
fn key(k: &str) -> String {
    let plain = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
        && !matches!(
            k.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain { k.to_string() } else { q(k) }
}

/// The one way a string value reaches the YAML: double-quoted, with `\`, `"` and control
/// characters escaped, so no value read from a Dockerfile can change the document's shape.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_references_are_dropped_with_their_separator() {
        let known = |n: &str| n == "HOME" || n == "PATH";
        assert_eq!(
            drop_undefined("/app/src:${PYTHONPATH}", known),
            ("/app/src".to_string(), vec!["PYTHONPATH".to_string()])
        );
        assert_eq!(
            drop_undefined("$LD_LIBRARY_PATH:/opt/lib", known),
            ("/opt/lib".to_string(), vec!["LD_LIBRARY_PATH".to_string()])
        );
        assert_eq!(
            drop_undefined("/opt/bin:$PATH:${HOME}/x", known),
            ("/opt/bin:$PATH:${HOME}/x".to_string(), vec![])
        );
        assert_eq!(drop_undefined("a$$b", known), ("a$$b".to_string(), vec![]));
        assert_eq!(drop_undefined("a$", known), ("a$".to_string(), vec![]));
    }
    use crate::model::Source;

    const AMD: &str = "\
# The worker, x86-64.
FROM ubuntu:24.04
ENV OMP_NUM_THREADS=4 LANG=C.UTF-8
LABEL org.opencontainers.image.source=https://github.com/example/x
RUN apt-get update \\
    && apt-get install -y --no-install-recommends wget ca-certificates python3-venv \\
    && rm -rf /var/lib/apt/lists/*
RUN wget -q https://github.com/grimme-lab/xtb/releases/download/v6.7.1/xtb-6.7.1-linux-x86_64.tar.xz && tar xJf xtb-6.7.1-linux-x86_64.tar.xz -C /opt/xtb --strip-components=1
WORKDIR /app
CMD [\"python3\", \"-m\", \"app\"]
";

    const ARM: &str = "\
FROM ubuntu:24.04
ENV OMP_NUM_THREADS=1 LANG=C.UTF-8
LABEL org.opencontainers.image.source=https://github.com/example/x
RUN apt-get update && apt-get install -y --no-install-recommends wget ca-certificates python3-venv && rm -rf /var/lib/apt/lists/*
RUN wget -q https://github.com/grimme-lab/xtb/releases/download/v6.7.1/xtb-6.7.1-linux-aarch64.tar.xz && tar xJf xtb-6.7.1-linux-aarch64.tar.xz -C /opt/xtb --strip-components=1
WORKDIR /app
CMD [\"python3\", \"-m\", \"app\"]
";

    fn input(path: &str, text: &str) -> Input {
        Input {
            path: path.to_string(),
            text: text.to_string(),
        }
    }

    fn seed() -> Draft {
        match draft(
            "worker",
            &[
                input("Dockerfile.worker", AMD),
                input("Dockerfile.worker.arm64", ARM),
            ],
        ) {
            Ok(d) => d,
            Err(e) => panic!("the seed pair is refused: {e}"),
        }
    }

    #[test]
    fn seed_pair_drafts_a_valid_spec() {
        let d = seed();
        let loaded = crate::load::load(d.spec.as_bytes());
        assert!(
            !loaded.has_errors(),
            "{:#?}\n{}",
            loaded.diagnostics,
            d.spec
        );
        let spec = loaded.spec.as_ref().expect("a valid spec");
        // One xtb tool with a source per platform, its version templated in both URLs.
        let xtb: Vec<_> = spec.tools.iter().filter(|t| t.name == "xtb").collect();
        assert!(xtb.len() == 1, "{}", d.spec);
        assert!(xtb[0].version.as_deref() == Some("6.7.1"));
        for (arch, word) in [(Arch::Amd64, "x86_64"), (Arch::Arm64, "aarch64")] {
            match xtb[0].sources.get(arch) {
                Some(Source::Archive(a)) => {
                    assert!(a.url.matches("{{version}}").count() == 2, "{}", a.url);
                    assert!(a.url.contains(word), "{}", a.url);
                    assert!(a.strip_components == 1);
                    assert!(a.dest == "/opt/xtb");
                    assert!(a.sha256 == "unverified" && a.unverified_reason.is_some());
                }
                _ => panic!("xtb has no archive for {}:\n{}", arch.name(), d.spec),
            }
        }
        assert!(spec.tools.len() == 1, "{}", d.spec);
        // The same packages on both platforms: merged, none per platform.
        for p in ["wget", "ca-certificates", "python3-venv"] {
            assert!(spec.apt.packages.iter().any(|x| x == p), "{}", d.spec);
        }
        assert!(spec.apt.platforms.arm64.is_none() && spec.apt.platforms.amd64.is_none());
        // Equal env is global; a different value is per platform.
        assert!(spec.env.get("LANG").map(String::as_str) == Some("C.UTF-8"));
        assert!(!spec.env.contains_key("OMP_NUM_THREADS"));
        let amd = spec
            .platform_env
            .amd64
            .as_ref()
            .and_then(|m| m.get("OMP_NUM_THREADS"));
        let arm = spec
            .platform_env
            .arm64
            .as_ref()
            .and_then(|m| m.get("OMP_NUM_THREADS"));
        assert!(amd.map(String::as_str) == Some("4") && arm.map(String::as_str) == Some("1"));
        assert!(spec.labels.get("org.opencontainers.image.source").is_some());
        assert!(spec.app.workdir.as_deref() == Some("/app"));
        assert!(spec.app.command == ["python3", "-m", "app"]);
        assert!(
            spec.platforms
                .arm64
                .as_ref()
                .is_some_and(|p| p.runner == "ubuntu-24.04-arm")
        );
        assert!(d.spec.starts_with("# yaml-language-server: $schema="));
        assert!(
            d.spec
                .contains("# from Dockerfile.worker:8, Dockerfile.worker.arm64:5"),
            "{}",
            d.spec
        );
    }

    #[test]
    fn recognised_instructions_carry_their_lines() {
        let d = seed();
        let has = |path: &str, line: usize, start: &str| {
            d.recognised
                .iter()
                .any(|(p, l, t)| p == path && *l == line && t.starts_with(start))
        };
        assert!(has("Dockerfile.worker", 2, "FROM"), "{:?}", d.recognised);
        // The continued apt line is recognised where it starts.
        assert!(
            has(
                "Dockerfile.worker",
                5,
                "RUN apt-get update && apt-get install"
            ),
            "{:?}",
            d.recognised
        );
        assert!(
            has("Dockerfile.worker", 8, "RUN wget"),
            "{:?}",
            d.recognised
        );
        assert!(
            has("Dockerfile.worker.arm64", 7, "CMD"),
            "{:?}",
            d.recognised
        );
    }

    #[test]
    fn heredoc_is_refused_with_its_place() {
        let text = "FROM debian:bookworm\nRUN <<EOF\necho hi\nEOF\n";
        match draft("x", &[input("Dockerfile.x", text)]) {
            Err(e @ DraftError::Heredoc { .. }) => {
                assert!(e.to_string().contains("Dockerfile.x:2"), "{e}")
            }
            Err(e) => panic!("another error: {e}"),
            Ok(d) => panic!("accepted:\n{}", d.spec),
        }
    }

    #[test]
    fn two_files_for_one_platform_are_refused() {
        let r = draft(
            "x",
            &[
                input("a/Dockerfile.amd64", AMD),
                input("b/Dockerfile.x86_64", AMD),
            ],
        );
        assert!(matches!(r, Err(DraftError::SamePlatform { .. })));
        let r = draft("x", &[input("Dockerfile", "# escape=`\nFROM debian\n")]);
        assert!(matches!(r, Err(DraftError::Escape { line: 1, .. })));
    }

    #[test]
    fn one_file_drafts_one_platform_and_keeps_other_runs_as_steps() {
        let text = "ARG BASE=python:3.12-slim\nFROM ${BASE} AS build\nRUN make\nFROM ${BASE}\n\
ARG YQ=4.44.3\n\
RUN wget -qO /usr/local/bin/yq https://github.com/mikefarah/yq/releases/download/v${YQ}/yq_linux_arm64 && chmod +x /usr/local/bin/yq\n\
RUN echo 'a \"quoted\" \\\\ value' > /etc/motd\n\
ENV LEGACY two  words\nUSER nobody\nEXPOSE 8000\n";
        let d = match draft("cli", &[input("Dockerfile.arm64", text)]) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let loaded = crate::load::load(d.spec.as_bytes());
        assert!(
            !loaded.has_errors(),
            "{:#?}\n{}",
            loaded.diagnostics,
            d.spec
        );
        let spec = loaded.spec.as_ref().expect("a valid spec");
        assert!(spec.platforms.amd64.is_none() && spec.platforms.arm64.is_some());
        let yq = spec
            .tools
            .iter()
            .find(|t| t.name == "yq")
            .expect("yq drafted");
        assert!(yq.version.as_deref() == Some("4.44.3"));
        match yq.sources.get(Arch::Arm64) {
            Some(Source::Archive(a)) => {
                assert!(
                    a.format == Some(ArchiveFormat::Binary) && a.executables == ["yq"],
                    "{}",
                    d.spec
                )
            }
            _ => panic!("{}", d.spec),
        }
        let step = spec
            .tools
            .iter()
            .find(|t| t.name == "step-1")
            .expect("a kept step");
        match step.sources.get(Arch::Arm64) {
            Some(Source::Commands(c)) => assert!(
                c.run == ["echo 'a \"quoted\" \\\\ value' > /etc/motd"],
                "{:?}",
                c.run
            ),
            _ => panic!("{}", d.spec),
        }
        assert!(
            d.notes.iter().any(|n| n.contains("stage build")),
            "{:?}",
            d.notes
        );
        assert!(spec.app.expose == ["8000"]);
        // The legacy `ENV NAME value` form.
        assert!(spec.env.get("LEGACY").map(String::as_str) == Some("two words"));
        assert!(
            spec.app
                .user
                .as_ref()
                .is_some_and(|u| u.name == "nobody" && !u.create)
        );
    }

    #[test]
    fn quoting_escapes_what_yaml_would_read() {
        assert!(q("a\"b\\c") == "\"a\\\"b\\\\c\"");
        assert!(q("x\ny\tz\u{1}") == "\"x\\ny\\tz\\x01\"");
        assert!(q("\u{85}") == "\"\\u0085\"");
        assert!(key("OMP_NUM_THREADS") == "OMP_NUM_THREADS" && key("yes") == "\"yes\"");
    }

    #[test]
    fn versions_become_placeholders() {
        let (v, url) = versioned("https://example.org/v1.2/tool-1.2-linux-x86_64.tar.gz");
        assert!(v.as_deref() == Some("1.2"));
        assert!(url == "https://example.org/v{{version}}/tool-{{version}}-linux-x86_64.tar.gz");
        assert!(tool_name("xtb-6.7.1-linux-x86_64.tar.xz") == "xtb");
        assert!(tool_name("yq_linux_amd64") == "yq");
    }
}
