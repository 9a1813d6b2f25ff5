//! `qmspec validate`: one fixture per diagnostic, each with an inline snapshot of its full
//! report, and the exit codes.

use crate::support::{qmspec, root};

/// Validate one fixture; returns (exit code, the report on stderr).
fn validate(fixture: &str) -> (i32, String) {
    let out = qmspec(&root())
        .args([
            "validate",
            &format!("tests/fixtures/validate/{fixture}.yaml"),
        ])
        .output()
        .expect("qmspec runs");
    let code = out.status.code().expect("exit code");
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn alias_bomb() {
    let (code, report) = validate("alias-bomb");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::alias-budget

      × aliases expand to more than 10000 nodes
       ╭─[tests/fixtures/validate/alias-bomb.yaml:5:29]
     4 │ c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
     5 │ d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
       ·                             ─┬
       ·                              ╰── expansion stops here
     6 │ e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
       ╰────
      help: a spec is small: write the values out instead of nesting aliases
    tests/fixtures/validate/alias-bomb.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn yaml_tags() {
    let (code, report) = validate("yaml-tags");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::yaml-tag

      × `!!null example` is not a null: `!!null` takes `null`, `~` or nothing
       ╭─[tests/fixtures/validate/yaml-tags.yaml:3:8]
     2 │ name: demo
     3 │ owner: !!null example
       ·        ───────┬──────
       ·               ╰── this tagged value
     4 │ !custom labels: {}
       ╰────
      help: remove the tag (qmspec reads the value by the spec's schema), or give the tag a value of
            its kind
    qmspec::yaml-tag

      × unsupported YAML tag `!custom` on a key
       ╭─[tests/fixtures/validate/yaml-tags.yaml:4:1]
     3 │ owner: !!null example
     4 │ !custom labels: {}
       · ───────┬──────
       ·        ╰── tagged key
     5 │ !<tag:yaml.org,2002:str> env: { A: !<tag:yaml.org,2002:int> 10 }
       ╰────
      help: a spec's keys are plain text: remove the tag
    qmspec::yaml-tag

      × `!!int 1.5` is not an integer that qmspec can hold
        ╭─[tests/fixtures/validate/yaml-tags.yaml:13:13]
     12 │       digest: sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2
     13 │     runner: !!int 1.5
        ·             ────┬────
        ·                 ╰── this tagged value
     14 │     dockerfile: generated/Dockerfile.demo.amd64
        ╰────
      help: remove the tag (qmspec reads the value by the spec's schema), or give the tag a value of
            its kind
    qmspec::yaml-tag

      × unsupported YAML tag `!custom` on a list
        ╭─[tests/fixtures/validate/yaml-tags.yaml:24:8]
     23 │   packages: [ca-certificates=20230311, python3-venv=3.11.2-1+b1, wget=1.21.3-1+b2]
     24 │ tools: !custom
        ·        ▲
        ·        ╰── tagged here
     25 │   - name: hello
        ╰────
      help: remove the tag; a spec's lists and mappings need none
    qmspec::yaml-tag

      × `!!bool maybe` is not a boolean: `!!bool` takes `true` or `false`
        ╭─[tests/fixtures/validate/yaml-tags.yaml:43:26]
     42 │   workdir: !!str /app
     43 │   scripts: !!map { from: !!bool maybe, to: /app/scripts }
        ·                          ──────┬─────
        ·                                ╰── this tagged value
     44 │   python: { via: system, venv: /app/.venv }
        ╰────
      help: remove the tag (qmspec reads the value by the spec's schema), or give the tag a value of
            its kind
    tests/fixtures/validate/yaml-tags.yaml: invalid (5 errors, 0 warnings)
    "#);
}

#[test]
fn yaml_version() {
    let (code, report) = validate("yaml-version");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::yaml-version

      × `%YAML 2.0` is not a YAML version qmspec reads
       ╭─[tests/fixtures/validate/yaml-version.yaml:1:1]
     1 │ %YAML 2.0
       · ────┬────
       ·     ╰── qmspec reads YAML 1.2 (and 1.1)
     2 │ ---
       ╰────
      help: write `%YAML 1.2`, or remove the directive
    tests/fixtures/validate/yaml-version.yaml: invalid (1 error, 0 warnings)
    "#);
}

#[test]
fn merge_keys() {
    let (code, report) = validate("merge-keys");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::duplicate-key

      × duplicate merge key `<<`
        ╭─[tests/fixtures/validate/merge-keys.yaml:47:3]
     45 │ ci:
     46 │   <<: *a
        ·   ─┬
        ·    ╰── first merge
     47 │   <<: *b
        ·   ─┬
        ·    ╰── merged again here
        ╰────
      help: merge several mappings with one key: `<<: [*a, *b]`
    tests/fixtures/validate/merge-keys.yaml: invalid (1 error, 0 warnings)
    "#);
}

#[test]
fn tagged_merge_key() {
    let (code, report) = validate("tagged-merge-key");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::unknown-key

      × unknown key `x-a` in the top level
        ╭─[tests/fixtures/validate/tagged-merge-key.yaml:43:1]
     42 │   command: [python3, -m, demo]
     43 │ x-a: &a { workflow: generated/publish-demo.yml }
        · ─┬─
        ·  ╰── not a known key here
     44 │ ci:
        ╰────
      help: known keys here: name, registry, owner, labels, dockerfiles, multi-arch-dockerfile,
            validation-script, platforms, args, stages, apt, env, platform-env, tools, app, ci
    qmspec::unknown-key

      × unknown key `<<` in `ci`
        ╭─[tests/fixtures/validate/tagged-merge-key.yaml:46:3]
     45 │   workflow: generated/publish-demo.yml
     46 │   !!str <<: *a
        ·   ────┬───
        ·       ╰── not a known key here
        ╰────
      help: known keys here: workflow, on-tags, workflow-dispatch, tag-rules, strategy, cache,
            pull-requests, edge-branch, schedule, registries, login, attest, sign, fail-fast,
            timeout-minutes, environment, cache-scope, pins
    tests/fixtures/validate/tagged-merge-key.yaml: invalid (2 errors, 0 warnings)
    ");
}

#[test]
fn fractional_integer() {
    let (code, report) = validate("fractional-integer");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::invalid-value

      × `app.user.uid` must be a whole number, not `1000.0`
        ╭─[tests/fixtures/validate/fractional-integer.yaml:43:27]
     42 │   command: [python3, -m, demo]
     43 │   user: { name: app, uid: 1000.0 }
        ·                           ───┬──
        ·                              ╰── here
     44 │ ci:
        ╰────
      help: write the number without a fraction or exponent, e.g. `1000`, then run `qmspec validate`
    tests/fixtures/validate/fractional-integer.yaml: invalid (1 error, 0 warnings)
    "#);
}

#[test]
fn non_finite_version() {
    let (code, report) = validate("non-finite-version");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::unquoted-scalar

      × `.inf` is read by YAML as a float that is not a finite number
        ╭─[tests/fixtures/validate/non-finite-version.yaml:24:14]
     23 │   - name: hello
     24 │     version: .inf
        ·              ──┬─
        ·                ╰── YAML reads this as infinity or NaN
     25 │     check: hello --version
        ╰────
      help: quote it: `".inf"`
    qmspec::unquoted-scalar

      × `1e400` is read by YAML as a float that is not a finite number
        ╭─[tests/fixtures/validate/non-finite-version.yaml:43:27]
     42 │   command: [python3, -m, demo]
     43 │   user: { name: app, uid: 1e400 }
        ·                           ──┬──
        ·                             ╰── YAML reads this as infinity or NaN
     44 │ ci:
        ╰────
      help: quote it: `"1e400"`
    tests/fixtures/validate/non-finite-version.yaml: invalid (2 errors, 0 warnings)
    "#);
}

#[test]
fn injection() {
    let (code, report) = validate("injection");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::unsafe-path

      × output path `.git/hooks/post-checkout` is inside `.git`, where git keeps hooks and its own
      │ state
       ╭─[tests/fixtures/validate/injection.yaml:4:20]
     3 │ owner: example
     4 │ validation-script: .git/hooks/post-checkout
       ·                    ────────────┬───────────
       ·                                ╰── is inside `.git`, where git keeps hooks and its own state
     5 │ platforms:
       ╰────
      help: write generated files under the repository, e.g. `generated/NAME`
    qmspec::duplicate-output

      × two outputs are written to `./generated//Dockerfile.demo.AMD64`
        ╭─[tests/fixtures/validate/injection.yaml:19:17]
     11 │     runner: ubuntu-latest
     12 │     dockerfile: generated/Dockerfile.demo.amd64
        ·                 ───────────────┬───────────────
        ·                                ╰── first written here
     13 │   arm64:
     14 │     base:
     15 │       image: debian
     16 │       tag: bookworm-slim
     17 │       digest: sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2
     18 │     runner: ubuntu-24.04-arm
     19 │     dockerfile: ./generated//Dockerfile.demo.AMD64
        ·                 ─────────────────┬────────────────
        ·                                  ╰── written again here
     20 │ apt:
        ╰────
      help: give each generated file its own path
    qmspec::package-name

      × `apt.platforms.arm64[0]` `-oDPkg::Pre-Invoke::=touch/tmp/pwned` is not a valid Debian package
      │ name
        ╭─[tests/fixtures/validate/injection.yaml:23:13]
     22 │   platforms:
     23 │     arm64: ["-oDPkg::Pre-Invoke::=touch/tmp/pwned"]
        ·             ───────────────────┬──────────────────
        ·                                ╰── not a package name
     24 │ tools:
        ╰────
      help: Debian names are lowercase letters, digits and `+.-`, starting with a letter or digit,
            optionally `:ARCH` and `=VERSION`, e.g. `libxrender1` or `wget=1.21.3-1+b2`
    qmspec::unsafe-value

      × the command `tools[0].sources.amd64.run[0]` contains `<<`, which BuildKit reads as the start
      │ of a heredoc
        ╭─[tests/fixtures/validate/injection.yaml:27:38]
     26 │     sources:
     27 │       amd64: { kind: commands, run: ["cat <<EOF > /etc/motd", "--mount=type=bind,source=/,target=/host echo hi", "mkdir -p /opt/x;#", "verify-signature"] }
        ·                                      ───────────┬───────────
        ·                                                 ╰── `<<`, which BuildKit reads as the start of a heredoc here
     28 │       arm64: { kind: pip, via: system, prefix: /opt/setup, package: "--index-url=http://evil" }
        ╰────
      help: write one command per list entry, each on one line
    qmspec::unsafe-value

      × the command `tools[0].sources.amd64.run[1]` contains a leading `-`, which BuildKit reads as a
      │ RUN flag (`--mount`, `--network`)
        ╭─[tests/fixtures/validate/injection.yaml:27:63]
     26 │     sources:
     27 │       amd64: { kind: commands, run: ["cat <<EOF > /etc/motd", "--mount=type=bind,source=/,target=/host echo hi", "mkdir -p /opt/x;#", "verify-signature"] }
        ·                                                               ────────────────────────┬────────────────────────
        ·                                                                                       ╰── a leading `-`, which BuildKit reads as a RUN flag (`--mount`, `--network`) here
     28 │       arm64: { kind: pip, via: system, prefix: /opt/setup, package: "--index-url=http://evil" }
        ╰────
      help: write one command per list entry, each on one line
    qmspec::unsafe-value

      × the command `tools[0].sources.amd64.run[2]` contains a shell comment
        ╭─[tests/fixtures/validate/injection.yaml:27:114]
     26 │     sources:
     27 │       amd64: { kind: commands, run: ["cat <<EOF > /etc/motd", "--mount=type=bind,source=/,target=/host echo hi", "mkdir -p /opt/x;#", "verify-signature"] }
        ·                                                                                                                  ─────────┬─────────
        ·                                                                                                                           ╰── a shell comment here
     28 │       arm64: { kind: pip, via: system, prefix: /opt/setup, package: "--index-url=http://evil" }
        ╰────
      help: write one command per list entry, each on one line
    qmspec::missing-version

      × `setup` is a pip package but has no `version` to pin
        ╭─[tests/fixtures/validate/injection.yaml:28:7]
     27 │       amd64: { kind: commands, run: ["cat <<EOF > /etc/motd", "--mount=type=bind,source=/,target=/host echo hi", "mkdir -p /opt/x;#", "verify-signature"] }
     28 │       arm64: { kind: pip, via: system, prefix: /opt/setup, package: "--index-url=http://evil" }
        ·       ──┬──
        ·         ╰── unpinned
     29 │   - name: solver
        ╰────
      help: add `version:` to the tool; qmspec pins the package to it
    qmspec::missing-command

      × creating the virtual environment of `setup` needs `python3-venv`, which the arm64 image does
      │ not have at that point
        ╭─[tests/fixtures/validate/injection.yaml:28:32]
     27 │       amd64: { kind: commands, run: ["cat <<EOF > /etc/motd", "--mount=type=bind,source=/,target=/host echo hi", "mkdir -p /opt/x;#", "verify-signature"] }
     28 │       arm64: { kind: pip, via: system, prefix: /opt/setup, package: "--index-url=http://evil" }
        ·                                ───┬──
        ·                                   ╰── needs `python3-venv`
     29 │   - name: solver
        ╰────
      help: add `python3-venv` to `apt.packages`, or a tool that provides it; or, if the base image
            has it, list it in `platforms.arm64.base.provides`
    qmspec::package-name

      × `tools[0].sources.arm64.package` `--index-url=http://evil` is not a valid Python (PEP 508)
      │ package name
        ╭─[tests/fixtures/validate/injection.yaml:28:69]
     27 │       amd64: { kind: commands, run: ["cat <<EOF > /etc/motd", "--mount=type=bind,source=/,target=/host echo hi", "mkdir -p /opt/x;#", "verify-signature"] }
     28 │       arm64: { kind: pip, via: system, prefix: /opt/setup, package: "--index-url=http://evil" }
        ·                                                                     ─────────────┬────────────
        ·                                                                                  ╰── not a package name
     29 │   - name: solver
        ╰────
      help: a PyPI name is letters, digits and `._-`, starting and ending with a letter or digit,
            optionally with extras and a version, e.g. `rdkit` or `uvicorn[standard]`
    qmspec::version-mismatch

      × `setup` gives a version range in `package`; the tool's `version` is what the package is
      │ installed at
        ╭─[tests/fixtures/validate/injection.yaml:28:69]
     27 │       amd64: { kind: commands, run: ["cat <<EOF > /etc/motd", "--mount=type=bind,source=/,target=/host echo hi", "mkdir -p /opt/x;#", "verify-signature"] }
     28 │       arm64: { kind: pip, via: system, prefix: /opt/setup, package: "--index-url=http://evil" }
        ·                                                                     ─────────────┬────────────
        ·                                                                                  ╰── a range here
     29 │   - name: solver
        ╰────
      help: write the bare package name (with extras, if any), and the range as the tool's `version`
            (e.g. `">=2025.9"`)
    qmspec::unlocked-package

      ⚠ the conda package of `solver` on amd64 has no locked build: the channel picks one when the
      │ image is built, and may have none for this platform
        ╭─[tests/fixtures/validate/injection.yaml:33:7]
     32 │     sources:
     33 │       amd64: { kind: conda, via: conda, package: "--override-channels" }
        ·       ──┬──
        ·         ╰── not locked
     34 │       arm64: { kind: base-image }
        ╰────
      help: run `qmspec lock` (on a machine that can reach the channel) to record the build per
            platform
    qmspec::package-name

      × `tools[1].sources.amd64.package` `--override-channels` is not a valid conda package name
        ╭─[tests/fixtures/validate/injection.yaml:33:50]
     32 │     sources:
     33 │       amd64: { kind: conda, via: conda, package: "--override-channels" }
        ·                                                  ───────────┬──────────
        ·                                                             ╰── not a package name
     34 │       arm64: { kind: base-image }
        ╰────
      help: a conda name is letters, digits and `_.-`, starting with a letter, digit or `_`,
            optionally with a version, e.g. `xtb` or `xtb=6.7.1`
    qmspec::missing-command

      × downloading `conda` needs `wget or curl`, which the amd64 image does not have at that point
        ╭─[tests/fixtures/validate/injection.yaml:39:14]
     38 │     sources:
     39 │       amd64: { kind: installer, url: "https://example.org/c-{{version}}.sh", sha256: unverified, unverified-reason: test, prefix: "PATH=/opt/conda" }
        ·              ────────────────────────────────────────────────────────────────────┬───────────────────────────────────────────────────────────────────
        ·                                                                                  ╰── needs `wget or curl`
     40 │       arm64: { kind: none, reason: not needed }
        ╰────
      help: add `wget` to `apt.packages`, or a tool that provides it; or, if the base image has it,
            list it in `platforms.amd64.base.provides`
    qmspec::unverified-download

      ⚠ the download of `conda` is not verified: test
        ╭─[tests/fixtures/validate/injection.yaml:39:86]
     38 │     sources:
     39 │       amd64: { kind: installer, url: "https://example.org/c-{{version}}.sh", sha256: unverified, unverified-reason: test, prefix: "PATH=/opt/conda" }
        ·                                                                                      ─────┬────
        ·                                                                                           ╰── no checksum
     40 │       arm64: { kind: none, reason: not needed }
        ╰────
      help: run `qmspec lock` (on a machine that can reach it) to record its sha256 beside the spec,
            or write it as `sha256:`
    qmspec::relative-path

      × `tools[2].sources.amd64.prefix` `PATH=/opt/conda` is not an absolute path
        ╭─[tests/fixtures/validate/injection.yaml:39:131]
     38 │     sources:
     39 │       amd64: { kind: installer, url: "https://example.org/c-{{version}}.sh", sha256: unverified, unverified-reason: test, prefix: "PATH=/opt/conda" }
        ·                                                                                                                                   ─────────┬────────
        ·                                                                                                                                            ╰── a path inside the image
     40 │       arm64: { kind: none, reason: not needed }
        ╰────
      help: write the path from the image's root, e.g. `/opt/tool`
    qmspec::opted-out

      ⚠ tool `conda` is not installed on arm64: not needed
        ╭─[tests/fixtures/validate/injection.yaml:40:7]
     39 │       amd64: { kind: installer, url: "https://example.org/c-{{version}}.sh", sha256: unverified, unverified-reason: test, prefix: "PATH=/opt/conda" }
     40 │       arm64: { kind: none, reason: not needed }
        ·       ──┬──
        ·         ╰── left out on purpose
     41 │   - name: hello
        ╰────
    qmspec::missing-command

      × downloading `hello` needs `wget or curl`, which the amd64 image does not have at that point
        ╭─[tests/fixtures/validate/injection.yaml:46:9]
     45 │           amd64:
     46 │ ╭─▶         kind: archive
     47 │ │           url: https://example.org/hello-{{version}}-x86_64.tar.gz
     48 │ │           sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
     49 │ │           dest: /opt/hello
     50 │ │           path: [/opt/$HOME]
     51 │ ├─▶       arm64:
        · ╰──── needs `wget or curl`
     52 │             kind: archive
        ╰────
      help: add `wget` to `apt.packages`, or a tool that provides it; or, if the base image has it,
            list it in `platforms.amd64.base.provides`
    qmspec::unsafe-value

      × `tools[3].sources.amd64.path[0]` contains a `$`, which BuildKit (COPY, ENV, WORKDIR) or the
      │ shell would expand
        ╭─[tests/fixtures/validate/injection.yaml:50:16]
     49 │         dest: /opt/hello
     50 │         path: [/opt/$HOME]
        ·                ─────┬────
        ·                     ╰── a `$`, which BuildKit (COPY, ENV, WORKDIR) or the shell would expand cannot be quoted safely here
     51 │       arm64:
        ╰────
      help: remove it: this value is spliced into shell lines and Dockerfile instructions
    qmspec::missing-command

      × downloading `hello` needs `wget or curl`, which the arm64 image does not have at that point
        ╭─[tests/fixtures/validate/injection.yaml:52:9]
     51 │           arm64:
     52 │ ╭─▶         kind: archive
     53 │ │           url: https://example.org/hello-{{version}}-aarch64.tar.gz
     54 │ │           sha256: fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9
     55 │ │           dest: /opt/hello
     56 │ ├─▶         path: [/opt/hello]
        · ╰──── needs `wget or curl`
     57 │     app:
     58 │       workdir: /srv/$HOME
        ╰────
      help: add `wget` to `apt.packages`, or a tool that provides it; or, if the base image has it,
            list it in `platforms.arm64.base.provides`
    qmspec::unsafe-value

      × `app.workdir` contains a `$`, which BuildKit (COPY, ENV, WORKDIR) or the shell would expand
        ╭─[tests/fixtures/validate/injection.yaml:58:12]
     57 │ app:
     58 │   workdir: /srv/$HOME
        ·            ─────┬────
        ·                 ╰── a `$`, which BuildKit (COPY, ENV, WORKDIR) or the shell would expand cannot be quoted safely here
     59 │   python: { via: system, venv: "/app/${HOME:-x}/venv" }
        ╰────
      help: remove it: this value is spliced into shell lines and Dockerfile instructions
    qmspec::missing-command

      × creating the virtual environment needs `python3-venv`, which the amd64 image does not have at
      │ that point
        ╭─[tests/fixtures/validate/injection.yaml:59:18]
     58 │   workdir: /srv/$HOME
     59 │   python: { via: system, venv: "/app/${HOME:-x}/venv" }
        ·                  ───┬──
        ·                     ╰── needs `python3-venv`
     60 │   command: [python3, -m, demo]
        ╰────
      help: add `python3-venv` to `apt.packages`, or a tool that provides it; or, if the base image
            has it, list it in `platforms.amd64.base.provides`
    qmspec::missing-command

      × creating the virtual environment needs `python3-venv`, which the arm64 image does not have at
      │ that point
        ╭─[tests/fixtures/validate/injection.yaml:59:18]
     58 │   workdir: /srv/$HOME
     59 │   python: { via: system, venv: "/app/${HOME:-x}/venv" }
        ·                  ───┬──
        ·                     ╰── needs `python3-venv`
     60 │   command: [python3, -m, demo]
        ╰────
      help: add `python3-venv` to `apt.packages`, or a tool that provides it; or, if the base image
            has it, list it in `platforms.arm64.base.provides`
    qmspec::unsafe-value

      × `app.python.venv` contains a `$`, which BuildKit (COPY, ENV, WORKDIR) or the shell would
      │ expand
        ╭─[tests/fixtures/validate/injection.yaml:59:32]
     58 │   workdir: /srv/$HOME
     59 │   python: { via: system, venv: "/app/${HOME:-x}/venv" }
        ·                                ───────────┬───────────
        ·                                           ╰── a `$`, which BuildKit (COPY, ENV, WORKDIR) or the shell would expand cannot be quoted safely here
     60 │   command: [python3, -m, demo]
        ╰────
      help: remove it: this value is spliced into shell lines and Dockerfile instructions
    qmspec::unsafe-value

      × `app.copy[0].from` contains a `$`, which BuildKit (COPY, ENV, WORKDIR) or the shell would
      │ expand
        ╭─[tests/fixtures/validate/injection.yaml:61:18]
     60 │   command: [python3, -m, demo]
     61 │   copy: [{ from: "src/${SECRET}", to: /app/src }]
        ·                  ───────┬───────
        ·                         ╰── a `$`, which BuildKit (COPY, ENV, WORKDIR) or the shell would expand cannot be quoted safely here
     62 │   scripts: [{ from: scripts, to: "!" }]
        ╰────
      help: remove it: this value is spliced into shell lines and Dockerfile instructions
    qmspec::relative-path

      × `app.scripts[0].to` `!` is not an absolute path
        ╭─[tests/fixtures/validate/injection.yaml:62:34]
     61 │   copy: [{ from: "src/${SECRET}", to: /app/src }]
     62 │   scripts: [{ from: scripts, to: "!" }]
        ·                                  ──┬─
        ·                                    ╰── a path inside the image
     63 │   checks: [{ name: "x\nRUN id", run: "true" }]
        ╰────
      help: write the path from the image's root, e.g. `/opt/tool`
    qmspec::unsafe-value

      × `app.checks[0].name` contains a line break
        ╭─[tests/fixtures/validate/injection.yaml:63:20]
     62 │   scripts: [{ from: scripts, to: "!" }]
     63 │   checks: [{ name: "x\nRUN id", run: "true" }]
        ·                    ─────┬─────
        ·                         ╰── a line break cannot be quoted safely here
     64 │ ci:
        ╰────
      help: remove it: this value is spliced into shell lines and Dockerfile instructions
    tests/fixtures/validate/injection.yaml: invalid (23 errors, 3 warnings)
    "#);
}

#[test]
fn yaml_1_1() {
    let (code, report) = validate("yaml-1-1");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::yaml-version

      × `on` means one thing in YAML 1.1 and another in YAML 1.2
        ╭─[tests/fixtures/validate/yaml-1-1.yaml:43:15]
     42 │   workdir: /app
     43 │   data-dirs: [on]
        ·               ─┬
        ·                ╰── read differently by the two versions
     44 │   python: { via: system, venv: /app/.venv }
        ╰────
      help: quote it (`"on"`) or write it so both versions agree; qmspec reads YAML 1.2 although the
            file says `%YAML 1.1`
    qmspec::yaml-version

      × `010001` means one thing in YAML 1.1 and another in YAML 1.2
        ╭─[tests/fixtures/validate/yaml-1-1.yaml:46:27]
     45 │   command: [python3, -m, demo]
     46 │   user: { name: app, uid: 010001 }
        ·                           ───┬──
        ·                              ╰── read differently by the two versions
     47 │ ci:
        ╰────
      help: quote it (`"010001"`) or write it so both versions agree; qmspec reads YAML 1.2 although
            the file says `%YAML 1.1`
    tests/fixtures/validate/yaml-1-1.yaml: invalid (2 errors, 0 warnings)
    "#);
}

#[test]
fn leading_zero() {
    let (code, report) = validate("leading-zero");
    assert_eq!(code, 0, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::yaml11-number

      ⚠ `010001` is read by YAML 1.1 tools as another number than qmspec reads
        ╭─[tests/fixtures/validate/leading-zero.yaml:43:27]
     42 │   command: [python3, -m, demo]
     43 │   user: { name: app, uid: 010001 }
        ·                           ───┬──
        ·                              ╰── YAML 1.1 and 1.2 disagree
     44 │ ci:
        ╰────
      help: write it without a leading zero, `_` or `:` (or quote it where text is expected)
    tests/fixtures/validate/leading-zero.yaml: valid (1 warning)
    "#);
}

#[test]
fn comments_only() {
    let (code, report) = validate("comments-only");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::empty

      × the spec is empty
       ╭─[tests/fixtures/validate/comments-only.yaml:3:1]
     2 │ 
       ╰────
      help: start from the bundled example: copy `specs/worker.yaml`, then run `qmspec validate`
    tests/fixtures/validate/comments-only.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn duplicate_keys() {
    let (code, report) = validate("duplicate-keys");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::duplicate-key

      × duplicate key `name`
       ╭─[tests/fixtures/validate/duplicate-keys.yaml:4:1]
     1 │ # A key given twice.
     2 │ name: demo
       · ──┬─
       ·   ╰── first defined here
     3 │ owner: example
     4 │ name: other
       · ──┬─
       ·   ╰── defined again here
     5 │ validation-script: generated/validate-demo.sh
       ╰────
      help: YAML keeps only one of them: delete or merge the repeated key
    tests/fixtures/validate/duplicate-keys.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn duplicate_tool() {
    let (code, report) = validate("duplicate-tool");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::duplicate-tool

      × tool `hello` is defined twice
        ╭─[tests/fixtures/validate/duplicate-tool.yaml:39:11]
     22 │ tools:
     23 │   - name: hello
        ·           ──┬──
        ·             ╰── first defined here
     24 │     version: "2.12"
     25 │     check: hello --version
     26 │     sources:
     27 │       amd64:
     28 │         kind: archive
     29 │         url: https://example.org/hello-{{version}}-x86_64.tar.gz
     30 │         sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
     31 │         dest: /opt/hello
     32 │         path: [/opt/hello]
     33 │       arm64:
     34 │         kind: archive
     35 │         url: https://example.org/hello-{{version}}-aarch64.tar.gz
     36 │         sha256: fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9
     37 │         dest: /opt/hello
     38 │         path: [/opt/hello]
     39 │   - name: hello
        ·           ──┬──
        ·             ╰── defined again here
     40 │     sources:
        ╰────
      help: merge the two entries, or rename one; then run `qmspec validate`
    tests/fixtures/validate/duplicate-tool.yaml: invalid (1 error, 0 warnings)
    "#);
}

#[test]
fn empty() {
    let (code, report) = validate("empty");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::empty

      × the spec is empty
       ╭─[tests/fixtures/validate/empty.yaml:1:1]
       ╰────
      help: start from the bundled example: copy `specs/worker.yaml`, then run `qmspec validate`
    tests/fixtures/validate/empty.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn invalid_enum() {
    let (code, report) = validate("invalid-enum");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::invalid-value

      × `qemuu` is not a valid value for `platforms.amd64.emulation`
        ╭─[tests/fixtures/validate/invalid-enum.yaml:12:16]
     11 │     runner: ubuntu-latest
     12 │     emulation: qemuu
        ·                ──┬──
        ·                  ╰── expected one of: native, qemu
     13 │     dockerfile: generated/Dockerfile.demo.amd64
        ╰────
      help: did you mean `qemu`?
    tests/fixtures/validate/invalid-enum.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn invalid_yaml() {
    let (code, report) = validate("invalid-yaml");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::yaml-syntax

      × invalid YAML: illegal placement of ':' indicator
       ╭─[tests/fixtures/validate/invalid-yaml.yaml:4:10]
     3 │ owner: [example
     4 │ platforms: {}
       ·          ▲
       ·          ╰── illegal placement of ':' indicator
       ╰────
      help: fix the YAML syntax at the marked position, then run `qmspec validate`
    tests/fixtures/validate/invalid-yaml.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn many_problems() {
    let (code, report) = validate("many-problems");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::unquoted-scalar

      × `2.10` is read by YAML as a number (2.1), but `tools[0].version` must be a string
        ╭─[tests/fixtures/validate/many-problems.yaml:23:14]
     22 │   - name: hello
     23 │     version: 2.10
        ·              ──┬─
        ·                ╰── YAML reads this as 2.1
     24 │     chek: hello --version
        ╰────
      help: quote it: `version: "2.10"`
    qmspec::unknown-key

      × unknown key `chek` in `tools[0]`
        ╭─[tests/fixtures/validate/many-problems.yaml:24:5]
     23 │     version: 2.10
     24 │     chek: hello --version
        ·     ──┬─
        ·       ╰── not a known key here
     25 │     sources:
        ╰────
      help: did you mean `check`? (then run `qmspec validate`)
    qmspec::unknown-source-kind

      × unknown `kind: archve` in `tools[0].sources.amd64`
        ╭─[tests/fixtures/validate/many-problems.yaml:27:15]
     26 │       amd64:
     27 │         kind: archve
        ·               ───┬──
        ·                  ╰── expected one of: archive, installer, conda, conda-env, pip, apt, base-image, commands, none
     28 │         url: https://example.org/hello-{{version}}-x86_64.tar.gz
        ╰────
      help: did you mean `archive`?
    tests/fixtures/validate/many-problems.yaml: invalid (3 errors, 0 warnings)
    "#);
}

#[test]
fn missing_key() {
    let (code, report) = validate("missing-key");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::missing-key

      × missing required key `runner` in `platforms.arm64`
        ╭─[tests/fixtures/validate/missing-key.yaml:13:3]
     12 │     dockerfile: generated/Dockerfile.demo.amd64
     13 │   arm64:
        ·   ──┬──
        ·     ╰── `runner` is required here
     14 │     base:
        ╰────
      help: add `runner:`; `qmspec schema` documents it
    tests/fixtures/validate/missing-key.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn missing_provider() {
    let (code, report) = validate("missing-provider");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::opted-out

      ⚠ tool `miniforge` is not installed on arm64: not needed
        ╭─[tests/fixtures/validate/missing-provider.yaml:32:7]
     31 │         prefix: /opt/conda
     32 │       arm64: { kind: none, reason: not needed }
        ·       ──┬──
        ·         ╰── left out on purpose
     33 │   - name: xtb
        ╰────
    qmspec::unlocked-package

      ⚠ the conda package of `xtb` on amd64 has no locked build: the channel picks one when the image
      │ is built, and may have none for this platform
        ╭─[tests/fixtures/validate/missing-provider.yaml:38:7]
     37 │     sources:
     38 │       amd64: { kind: conda, via: conda }
        ·       ──┬──
        ·         ╰── not locked
     39 │       arm64: { kind: conda, via: conda }
        ╰────
      help: run `qmspec lock` (on a machine that can reach the channel) to record the build per
            platform
    qmspec::unlocked-package

      ⚠ the conda package of `xtb` on arm64 has no locked build: the channel picks one when the image
      │ is built, and may have none for this platform
        ╭─[tests/fixtures/validate/missing-provider.yaml:39:7]
     38 │       amd64: { kind: conda, via: conda }
     39 │       arm64: { kind: conda, via: conda }
        ·       ──┬──
        ·         ╰── not locked
     40 │ app:
        ╰────
      help: run `qmspec lock` (on a machine that can reach the channel) to record the build per
            platform
    qmspec::missing-command

      × installing the conda package `xtb` needs `conda`, which the arm64 image does not have at that
      │ point
        ╭─[tests/fixtures/validate/missing-provider.yaml:39:34]
     38 │       amd64: { kind: conda, via: conda }
     39 │       arm64: { kind: conda, via: conda }
        ·                                  ──┬──
        ·                                    ╰── needs `conda`
     40 │ app:
        ╰────
      help: add a tool that provides it (its name or `provides`) before it; or, if the base image has
            it, list it in `platforms.arm64.base.provides`
    qmspec::missing-provider

      × `xtb` installs with conda via `conda`, but nothing provides `conda` on arm64
        ╭─[tests/fixtures/validate/missing-provider.yaml:39:34]
     38 │       amd64: { kind: conda, via: conda }
     39 │       arm64: { kind: conda, via: conda }
        ·                                  ──┬──
        ·                                    ╰── no `conda` on arm64
     40 │ app:
        ╰────
      help: add an installer tool that provides `conda` on arm64, or use `via: system`
    tests/fixtures/validate/missing-provider.yaml: invalid (2 errors, 3 warnings)
    ");
}

#[test]
fn missing_source() {
    let (code, report) = validate("missing-source");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::missing-source

      × tool `hello` has no source for arm64
        ╭─[tests/fixtures/validate/missing-source.yaml:26:5]
     25 │     check: hello --version
     26 │     sources:
        ·     ───┬───
        ·        ╰── no `arm64:` entry here
     27 │       amd64:
        ╰────
      help: add `arm64:` with a source, or `{ kind: none, reason: ... }` to leave it out on purpose
    tests/fixtures/validate/missing-source.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn multiple_documents() {
    let (code, report) = validate("multiple-documents");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::multiple-documents

      × the spec holds more than one YAML document
        ╭─[tests/fixtures/validate/multiple-documents.yaml:45:1]
     44 │   workflow: generated/publish-demo.yml
     45 │ ---
        · ─┬─
        ·  ╰── a second document starts here
     46 │ name: second
        ╰────
      help: keep one spec per file: move this document into its own file under `specs/`
    tests/fixtures/validate/multiple-documents.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn needs_cycle() {
    let (code, report) = validate("needs-cycle");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::needs-cycle

      × `needs` forms a cycle: hello → world → hello
        ╭─[tests/fixtures/validate/needs-cycle.yaml:26:5]
     25 │     check: hello --version
     26 │     needs: [world]
        ·     ──┬──
        ·       ╰── this cycle has no install order
     27 │     sources:
        ╰────
      help: remove one of these `needs` entries, then run `qmspec validate`
    tests/fixtures/validate/needs-cycle.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn non_ascii() {
    let (code, report) = validate("non-ascii");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::unknown-key

      × unknown key `descripton` in `tools[0]`
        ╭─[tests/fixtures/validate/non-ascii.yaml:27:5]
     26 │     version: "2.12"
     27 │     descripton: "Ångström ✓"
        ·     ─────┬────
        ·          ╰── not a known key here
     28 │     check: hello --version
        ╰────
      help: did you mean `description`? (then run `qmspec validate`)
    tests/fixtures/validate/non-ascii.yaml: invalid (1 error, 0 warnings)
    "#);
}

#[test]
fn not_utf8() {
    let (code, report) = validate("not-utf8");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::not-utf8

      × the spec is not valid UTF-8
       ╭─[tests/fixtures/validate/not-utf8.yaml:3:9]
     2 │ name: demo
     3 │ owner: m�ller
       ·         ┬
       ·         ╰── invalid byte here
       ╰────
      help: save the file as UTF-8, then run `qmspec validate`
    tests/fixtures/validate/not-utf8.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn opted_out() {
    let (code, report) = validate("opted-out");
    assert_eq!(code, 0, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::opted-out

      ⚠ tool `hello` is not installed on arm64: no ARM64 build is published
        ╭─[tests/fixtures/validate/opted-out.yaml:33:7]
     32 │         path: [/opt/hello]
     33 │       arm64: { kind: none, reason: no ARM64 build is published }
        ·       ──┬──
        ·         ╰── left out on purpose
     34 │ app:
        ╰────
    tests/fixtures/validate/opted-out.yaml: valid (1 warning)
    ");
}

#[test]
fn provider_order() {
    let (code, report) = validate("provider-order");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::unlocked-package

      ⚠ the conda package of `xtb` on amd64 has no locked build: the channel picks one when the image
      │ is built, and may have none for this platform
        ╭─[tests/fixtures/validate/provider-order.yaml:41:7]
     40 │     sources:
     41 │       amd64: { kind: conda, via: conda }
        ·       ──┬──
        ·         ╰── not locked
     42 │       arm64: { kind: conda, via: conda }
        ╰────
      help: run `qmspec lock` (on a machine that can reach the channel) to record the build per
            platform
    qmspec::provider-order

      × `xtb` installs with conda from `miniforge`, but does not need it
        ╭─[tests/fixtures/validate/provider-order.yaml:41:34]
     40 │     sources:
     41 │       amd64: { kind: conda, via: conda }
        ·                                  ──┬──
        ·                                    ╰── `miniforge` may be installed later
     42 │       arm64: { kind: conda, via: conda }
        ╰────
      help: add `conda` to the `needs` of `xtb`
    qmspec::unlocked-package

      ⚠ the conda package of `xtb` on arm64 has no locked build: the channel picks one when the image
      │ is built, and may have none for this platform
        ╭─[tests/fixtures/validate/provider-order.yaml:42:7]
     41 │       amd64: { kind: conda, via: conda }
     42 │       arm64: { kind: conda, via: conda }
        ·       ──┬──
        ·         ╰── not locked
     43 │ app:
        ╰────
      help: run `qmspec lock` (on a machine that can reach the channel) to record the build per
            platform
    qmspec::provider-order

      × `xtb` installs with conda from `miniforge`, but does not need it
        ╭─[tests/fixtures/validate/provider-order.yaml:42:34]
     41 │       amd64: { kind: conda, via: conda }
     42 │       arm64: { kind: conda, via: conda }
        ·                                  ──┬──
        ·                                    ╰── `miniforge` may be installed later
     43 │ app:
        ╰────
      help: add `conda` to the `needs` of `xtb`
    tests/fixtures/validate/provider-order.yaml: invalid (2 errors, 2 warnings)
    ");
}

#[test]
fn source_branch_errors() {
    let (code, report) = validate("source-branch-errors");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::missing-key

      × missing required key `dest` in `tools[0].sources.amd64`
        ╭─[tests/fixtures/validate/source-branch-errors.yaml:27:7]
     26 │     sources:
     27 │       amd64:
        ·       ──┬──
        ·         ╰── `dest` is required here
     28 │         kind: archive
        ╰────
      help: add `dest:`; `qmspec schema` documents it
    qmspec::unknown-key

      × unknown key `strip-component` in `tools[0].sources.amd64`
        ╭─[tests/fixtures/validate/source-branch-errors.yaml:31:9]
     30 │         sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
     31 │         strip-component: 1
        ·         ───────┬───────
        ·                ╰── not a known key here
     32 │         path: [/opt/hello]
        ╰────
      help: did you mean `strip-components`? (then run `qmspec validate`)
    tests/fixtures/validate/source-branch-errors.yaml: invalid (2 errors, 0 warnings)
    ");
}

#[test]
fn top_level_list() {
    let (code, report) = validate("top-level-list");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::not-a-mapping

      × the spec must be a mapping of keys, but it is a list
       ╭─[tests/fixtures/validate/top-level-list.yaml:2:1]
     1 │     # A list where the spec's mapping belongs.
     2 │ ╭─▶ - name: demo
     3 │ ├─▶ - owner: example
       · ╰──── this is a list
       ╰────
      help: a spec starts with top-level keys such as `name:` and `platforms:`; see `qmspec schema`
    tests/fixtures/validate/top-level-list.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn undefined_variable() {
    let (code, report) = validate("undefined-variable");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::undefined-variable

      × `PYTHONPATH` refers to `${PYTHONPATH}`, which nothing sets before it (on amd64 and arm64)
        ╭─[tests/fixtures/validate/undefined-variable.yaml:21:15]
     20 │ env:
     21 │   PYTHONPATH: /app/src:${PYTHONPATH}
        ·               ───────────┬──────────
        ·                          ╰── `PYTHONPATH` is never set before this
     22 │ apt:
        ╰────
      help: set `PYTHONPATH` before this value (earlier under `args:` or `env:`), or remove the
            reference
    tests/fixtures/validate/undefined-variable.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn unknown_key() {
    let (code, report) = validate("unknown-key");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::unknown-key

      × unknown key `chek` in `tools[0]`
        ╭─[tests/fixtures/validate/unknown-key.yaml:25:5]
     24 │     version: "2.12"
     25 │     chek: hello --version
        ·     ──┬─
        ·       ╰── not a known key here
     26 │     sources:
        ╰────
      help: did you mean `check`? (then run `qmspec validate`)
    tests/fixtures/validate/unknown-key.yaml: invalid (1 error, 0 warnings)
    "#);
}

#[test]
fn unknown_need() {
    let (code, report) = validate("unknown-need");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::unknown-need

      × tool `hello` needs `helo`, which no tool is or provides
        ╭─[tests/fixtures/validate/unknown-need.yaml:26:13]
     25 │     check: hello --version
     26 │     needs: [helo]
        ·             ──┬─
        ·               ╰── unknown tool
     27 │     sources:
        ╰────
      help: did you mean `hello`?
    tests/fixtures/validate/unknown-need.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn unknown_platform() {
    let (code, report) = validate("unknown-platform");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::unknown-key

      × unknown key `arm46` in `tools[0].sources`
        ╭─[tests/fixtures/validate/unknown-platform.yaml:33:7]
     32 │         path: [/opt/hello]
     33 │       arm46:
        ·       ──┬──
        ·         ╰── not a known key here
     34 │         kind: archive
        ╰────
      help: did you mean `arm64`? (then run `qmspec validate`)
    tests/fixtures/validate/unknown-platform.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn unknown_source_kind() {
    let (code, report) = validate("unknown-source-kind");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::unknown-source-kind

      × unknown `kind: archve` in `tools[0].sources.amd64`
        ╭─[tests/fixtures/validate/unknown-source-kind.yaml:28:15]
     27 │       amd64:
     28 │         kind: archve
        ·               ───┬──
        ·                  ╰── expected one of: archive, installer, conda, conda-env, pip, apt, base-image, commands, none
     29 │         url: https://example.org/hello-{{version}}-x86_64.tar.gz
        ╰────
      help: did you mean `archive`?
    tests/fixtures/validate/unknown-source-kind.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn unpinned_base() {
    let (code, report) = validate("unpinned-base");
    assert_eq!(code, 0, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::unpinned-base

      ⚠ the amd64 base image uses the moving tag `latest`: builds are not reproducible
        ╭─[tests/fixtures/validate/unpinned-base.yaml:9:12]
      8 │       image: debian
      9 │       tag: latest
        ·            ───┬──
        ·               ╰── not pinned
     10 │     runner: ubuntu-latest
        ╰────
      help: run `qmspec lock` to record its digest beside the spec, or add `digest: sha256:…`
    qmspec::unpinned-base

      ⚠ the arm64 base image uses a tag without a digest: builds are not reproducible
        ╭─[tests/fixtures/validate/unpinned-base.yaml:15:12]
     14 │       image: debian
     15 │       tag: bookworm-slim
        ·            ──────┬──────
        ·                  ╰── not pinned
     16 │     runner: ubuntu-24.04-arm
        ╰────
      help: run `qmspec lock` to record its digest beside the spec, or add `digest: sha256:…`
    tests/fixtures/validate/unpinned-base.yaml: valid (2 warnings)
    ");
}

#[test]
fn unquoted_version() {
    let (code, report) = validate("unquoted-version");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::unquoted-scalar

      × `2.10` is read by YAML as a number (2.1), but `tools[0].version` must be a string
        ╭─[tests/fixtures/validate/unquoted-version.yaml:24:14]
     23 │   - name: hello
     24 │     version: 2.10
        ·              ──┬─
        ·                ╰── YAML reads this as 2.1
     25 │     check: hello --version
        ╰────
      help: quote it: `version: "2.10"`
    tests/fixtures/validate/unquoted-version.yaml: invalid (1 error, 0 warnings)
    "#);
}

#[test]
fn unsafe_values() {
    let (code, report) = validate("unsafe-values");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::unsafe-value

      × the command `tools[0].check` contains a line break
        ╭─[tests/fixtures/validate/unsafe-values.yaml:25:12]
     24 │     version: "2.12"
     25 │     check: "hello --version\nUSER root"
        ·            ──────────────┬─────────────
        ·                          ╰── a line break here
     26 │     sources:
        ╰────
      help: write one command per list entry, each on one line
    qmspec::unsafe-value

      × `tools[0].sources.amd64.dest` contains a `;`
        ╭─[tests/fixtures/validate/unsafe-values.yaml:31:15]
     30 │         sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
     31 │         dest: /opt/hello;rm -rf /
        ·               ─────────┬─────────
        ·                        ╰── a `;` cannot be quoted safely here
     32 │         path: [/opt/hello]
        ╰────
      help: remove it: this value is spliced into shell lines and Dockerfile instructions
    qmspec::unsafe-value

      × `tools[0].sources.arm64.url` contains a command substitution `$(`
        ╭─[tests/fixtures/validate/unsafe-values.yaml:35:14]
     34 │         kind: archive
     35 │         url: https://example.org/hello-$(id)-aarch64.tar.gz
        ·              ───────────────────────┬──────────────────────
        ·                                     ╰── a command substitution `$(` cannot be quoted safely here
     36 │         sha256: fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9
        ╰────
      help: remove it: this value is spliced into shell lines and Dockerfile instructions
    tests/fixtures/validate/unsafe-values.yaml: invalid (3 errors, 0 warnings)
    "#);
}

#[test]
fn unverified() {
    let (code, report) = validate("unverified");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::unverified-download

      ⚠ the download of `hello` is not verified: upstream publishes no checksum
        ╭─[tests/fixtures/validate/unverified.yaml:30:17]
     29 │         url: https://example.org/hello-{{version}}-x86_64.tar.gz
     30 │         sha256: unverified
        ·                 ─────┬────
        ·                      ╰── no checksum
     31 │         unverified-reason: upstream publishes no checksum
        ╰────
      help: run `qmspec lock` (on a machine that can reach it) to record its sha256 beside the spec,
            or write it as `sha256:`
    qmspec::unverified-without-reason

      × the download of `hello` is unverified but gives no reason
        ╭─[tests/fixtures/validate/unverified.yaml:37:17]
     36 │         url: https://example.org/hello-{{version}}-aarch64.tar.gz
     37 │         sha256: unverified
        ·                 ─────┬────
        ·                      ╰── no checksum
     38 │         dest: /opt/hello
        ╰────
      help: add the download's sha256, or `unverified-reason:` saying why there is none
    tests/fixtures/validate/unverified.yaml: invalid (1 error, 1 warning)
    ");
}

#[test]
fn version_mismatch_pin() {
    let (code, report) = validate("version-mismatch-pin");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::unlocked-package

      ⚠ the conda package of `xtb` on amd64 has no locked build: the channel picks one when the image
      │ is built, and may have none for this platform
        ╭─[tests/fixtures/validate/version-mismatch-pin.yaml:42:7]
     41 │     sources:
     42 │       amd64: { kind: conda, via: conda }
        ·       ──┬──
        ·         ╰── not locked
     43 │       arm64: { kind: conda, via: conda, package: xtb=6.7.0 }
        ╰────
      help: run `qmspec lock` (on a machine that can reach the channel) to record the build per
            platform
    qmspec::unlocked-package

      ⚠ the conda package of `xtb` on arm64 has no locked build: the channel picks one when the image
      │ is built, and may have none for this platform
        ╭─[tests/fixtures/validate/version-mismatch-pin.yaml:43:7]
     42 │       amd64: { kind: conda, via: conda }
     43 │       arm64: { kind: conda, via: conda, package: xtb=6.7.0 }
        ·       ──┬──
        ·         ╰── not locked
     44 │ app:
        ╰────
      help: run `qmspec lock` (on a machine that can reach the channel) to record the build per
            platform
    qmspec::version-mismatch

      × `xtb` pins 6.7.0, but the tool's version is 6.7.1
        ╭─[tests/fixtures/validate/version-mismatch-pin.yaml:43:50]
     42 │       amd64: { kind: conda, via: conda }
     43 │       arm64: { kind: conda, via: conda, package: xtb=6.7.0 }
        ·                                                  ────┬────
        ·                                                      ╰── pinned to 6.7.0
     44 │ app:
        ╰────
      help: drop the pin from `package`: qmspec pins it to the tool's `version`
    tests/fixtures/validate/version-mismatch-pin.yaml: invalid (1 error, 2 warnings)
    ");
}

#[test]
fn version_mismatch_url() {
    let (code, report) = validate("version-mismatch-url");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::version-mismatch

      × the URL of `hello` embeds version 2.11, but the tool's version is 2.12
        ╭─[tests/fixtures/validate/version-mismatch-url.yaml:29:14]
     28 │         kind: archive
     29 │         url: https://example.org/hello-2.11-x86_64.tar.gz
        ·              ──────────────────────┬─────────────────────
        ·                                    ╰── embeds 2.11
     30 │         sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
        ╰────
      help: write `{{version}}` in the URL instead of a literal version
    tests/fixtures/validate/version-mismatch-url.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn wrong_arch_base() {
    let (code, report) = validate("wrong-arch-base");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::wrong-arch-download

      × the arm64 base image names `amd64`, an image for amd64
        ╭─[tests/fixtures/validate/wrong-arch-base.yaml:15:14]
     14 │     base:
     15 │       image: amd64/debian
        ·              ──────┬─────
        ·                    ╰── `amd64` is amd64
     16 │       tag: bookworm-slim
        ╰────
      help: use the arm64 variant of the base image
    tests/fixtures/validate/wrong-arch-base.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn wrong_arch_download() {
    let (code, report) = validate("wrong-arch-download");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::wrong-arch-download

      × the arm64 download of `hello` names `x86_64`, a build for amd64: it would crash with SIGILL or
      │ `exec format error`
        ╭─[tests/fixtures/validate/wrong-arch-download.yaml:35:14]
     34 │         kind: archive
     35 │         url: https://example.org/hello-{{version}}-x86_64.tar.gz
        ·              ─────────────────────────┬─────────────────────────
        ·                                       ╰── `x86_64` is amd64
     36 │         sha256: fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9
        ╰────
      help: use a build of the tool for arm64 here (e.g. a conda-forge package: `kind: conda`)
    tests/fixtures/validate/wrong-arch-download.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn a_clean_spec_reports_nothing_but_its_verdict() {
    let out = qmspec(&root())
        .args(["validate", "tests/fixtures/minimal.yaml"])
        .assert()
        .code(0);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert_eq!(stderr, "tests/fixtures/minimal.yaml: valid (0 warnings)\n");
}

#[test]
fn the_bundled_worker_spec_is_valid() {
    qmspec(&root())
        .args(["validate", "specs/worker.yaml"])
        .assert()
        .code(0);
}

#[test]
fn a_missing_file_is_an_io_error() {
    qmspec(&root())
        .args(["validate", "tests/fixtures/no-such-spec.yaml"])
        .assert()
        .code(2);
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    qmspec(&root())
        .args(["validate", "--frobnicate"])
        .assert()
        .code(2);
}

#[test]
fn help_documents_the_exit_codes() {
    let out = qmspec(&root())
        .args(["validate", "--help"])
        .assert()
        .code(0);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("1  invalid spec"), "{text}");
    assert!(text.contains("2  usage or I/O error"), "{text}");
}

/// The machine formats, on a file whose error follows non-ASCII text.
fn formatted(format: &str) -> String {
    let out = qmspec(&root())
        .args([
            "validate",
            "--format",
            format,
            "tests/fixtures/validate/non-ascii.yaml",
        ])
        .assert()
        .code(1);
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

#[test]
fn json_format() {
    insta::assert_snapshot!(formatted("json"), @r#"{"file":"tests/fixtures/validate/non-ascii.yaml","code":"qmspec::unknown-key","severity":"error","message":"unknown key `descripton` in `tools[0]`","help":"did you mean `description`? (then run `qmspec validate`)","line":27,"column":5,"end_line":27,"end_column":15}"#);
}

#[test]
fn github_format() {
    insta::assert_snapshot!(formatted("github"), @"::error file=tests/fixtures/validate/non-ascii.yaml,line=27,col=5,endLine=27,endColumn=15,title=qmspec%3A%3Aunknown-key::unknown key `descripton` in `tools[0]`");
}

#[test]
fn sarif_format_is_sarif_2_1_0_with_code_point_columns() {
    let sarif: serde_json::Value =
        serde_json::from_str(&formatted("sarif")).expect("SARIF is JSON");
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["columnKind"], "unicodeCodePoints");
    let result = &run["results"][0];
    assert_eq!(result["ruleId"], "qmspec::unknown-key");
    let region = &result["locations"][0]["physicalLocation"]["region"];
    // `    descripton:` on line 27: the key starts at column 5 whatever came before.
    assert_eq!(
        (region["startLine"].as_u64(), region["startColumn"].as_u64()),
        (Some(27), Some(5))
    );
}

#[test]
fn complex_key() {
    let (code, report) = validate("complex-key");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::complex-key

      × mapping keys must be plain strings
       ╭─[tests/fixtures/validate/complex-key.yaml:4:3]
     3 │ owner: example
     4 │ ? [a, b]
       ·   ┬
       ·   ╰── this key is a collection
     5 │ : x
       ╰────
    tests/fixtures/validate/complex-key.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn yaml_alias() {
    let (code, report) = validate("yaml-alias");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::yaml-alias

      × alias to an unknown anchor
       ╭─[tests/fixtures/validate/yaml-alias.yaml:3:12]
     2 │ name: demo
     3 │ owner: &o [*o]
       ·            ─┬
       ·             ╰── unknown anchor
     4 │ validation-script: generated/validate-demo.sh
       ╰────
    tests/fixtures/validate/yaml-alias.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn merge_key_not_a_mapping() {
    let (code, report) = validate("merge-key-not-a-mapping");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::merge-key

      × a merge key (`<<`) takes a mapping or a list of mappings
        ╭─[tests/fixtures/validate/merge-key-not-a-mapping.yaml:44:7]
     43 │ ci:
     44 │   <<: [1, 2]
        ·       ───┬──
        ·          ╰── not a mapping
     45 │   workflow: generated/publish-demo.yml
        ╰────
      help: write `<<: *anchor` where the anchor names a mapping, then run `qmspec validate`
    tests/fixtures/validate/merge-key-not-a-mapping.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn yaml11_boolean() {
    let (code, report) = validate("yaml11-boolean");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::yaml11-boolean

      × `yes` is a string in YAML 1.2, not a boolean, but `ci.workflow-dispatch` must be a boolean
        ╭─[tests/fixtures/validate/yaml11-boolean.yaml:45:22]
     44 │   workflow: generated/publish-demo.yml
     45 │   workflow-dispatch: yes
        ·                      ─┬─
        ·                       ╰── a YAML 1.1 boolean
        ╰────
      help: write `workflow-dispatch: true`
    tests/fixtures/validate/yaml11-boolean.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn wrong_type() {
    let (code, report) = validate("wrong-type");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::wrong-type

      × `owner` must be a string, but it is a list
       ╭─[tests/fixtures/validate/wrong-type.yaml:3:8]
     2 │ name: demo
     3 │ owner: [example]
       ·        ────┬────
       ·            ╰── expected a string
     4 │ validation-script: generated/validate-demo.sh
       ╰────
      help: see `qmspec schema` for the shape of this value
    tests/fixtures/validate/wrong-type.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn too_many() {
    let (code, report) = validate("too-many");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::too-many

      × `tools` has more than 256 entries
        ╭─[tests/fixtures/validate/too-many.yaml:22:1]
     21 │   packages: [ca-certificates=20230311, python3-venv=3.11.2-1+b1, wget=1.21.3-1+b2]
     22 │ tools:
        · ──┬──
        ·   ╰── too many entries
     23 │   - { name: t0, sources: { amd64: { kind: none, reason: x }, arm64: { kind: none, reason: x } } }
        ╰────
      help: a spec describes one image: split it into several specs, then run `qmspec validate`
    tests/fixtures/validate/too-many.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn schema_minimum() {
    let (code, report) = validate("schema-minimum");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::schema

      × `app.healthcheck.retries`: 0 is less than the minimum of 1
        ╭─[tests/fixtures/validate/schema-minimum.yaml:43:40]
     42 │   command: [python3, -m, demo]
     43 │   healthcheck: { run: "true", retries: 0 }
        ·                                        ┬
        ·                                        ╰── here
     44 │ ci:
        ╰────
      help: see `qmspec schema` for the shape of this value
    tests/fixtures/validate/schema-minimum.yaml: invalid (1 error, 0 warnings)
    "#);
}

#[test]
fn unused_source() {
    let (code, report) = validate("unused-source");
    assert_eq!(code, 0, "a warning: {report}");
    insta::assert_snapshot!(report, @"
    qmspec::unused-source

      ⚠ tool `hello` has a source for ppc64le, which the spec does not build
        ╭─[tests/fixtures/validate/unused-source.yaml:39:7]
     38 │         path: [/opt/hello]
     39 │       ppc64le: { kind: base-image }
        ·       ───┬───
        ·          ╰── never used
     40 │ app:
        ╰────
      help: add `ppc64le` under `platforms:`, or remove this source
    tests/fixtures/validate/unused-source.yaml: valid (1 warning)
    ");
}

#[test]
fn invalid_url() {
    let (code, report) = validate("invalid-url");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::invalid-url

      × the URL of `hello` is not an http(s) URL
        ╭─[tests/fixtures/validate/invalid-url.yaml:29:14]
     28 │         kind: archive
     29 │         url: ftp://example.org/hello-{{version}}-x86_64.tar.gz
        ·              ────────────────────────┬────────────────────────
        ·                                      ╰── expected https://…
     30 │         sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
        ╰────
      help: write the full download URL
    tests/fixtures/validate/invalid-url.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn unknown_placeholder() {
    let (code, report) = validate("unknown-placeholder");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::unknown-placeholder

      × the URL of `hello` has an unknown placeholder
        ╭─[tests/fixtures/validate/unknown-placeholder.yaml:29:14]
     28 │         kind: archive
     29 │         url: https://example.org/hello-{{version}}-{{arch}}.tar.gz
        ·              ──────────────────────────┬──────────────────────────
        ·                                        ╰── only {{version}} is replaced
     30 │         sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
        ╰────
      help: use `{{version}}`, or write the text literally
    tests/fixtures/validate/unknown-placeholder.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn ambiguous_provider() {
    let (code, report) = validate("ambiguous-provider");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::opted-out

      ⚠ tool `forge-a` is not installed on arm64: amd64 only
        ╭─[tests/fixtures/validate/ambiguous-provider.yaml:28:7]
     27 │       amd64: { kind: installer, url: "https://example.org/a-{{version}}-x86_64.sh", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, prefix: /opt/a }
     28 │       arm64: { kind: none, reason: amd64 only }
        ·       ──┬──
        ·         ╰── left out on purpose
     29 │   - name: forge-b
        ╰────
    qmspec::opted-out

      ⚠ tool `forge-b` is not installed on arm64: amd64 only
        ╭─[tests/fixtures/validate/ambiguous-provider.yaml:34:7]
     33 │       amd64: { kind: installer, url: "https://example.org/b-{{version}}-x86_64.sh", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, prefix: /opt/b }
     34 │       arm64: { kind: none, reason: amd64 only }
        ·       ──┬──
        ·         ╰── left out on purpose
     35 │   - name: solver
        ╰────
    qmspec::unlocked-package

      ⚠ the conda package of `solver` on amd64 has no locked build: the channel picks one when the
      │ image is built, and may have none for this platform
        ╭─[tests/fixtures/validate/ambiguous-provider.yaml:39:7]
     38 │     sources:
     39 │       amd64: { kind: conda, via: conda }
        ·       ──┬──
        ·         ╰── not locked
     40 │       arm64: { kind: none, reason: amd64 only }
        ╰────
      help: run `qmspec lock` (on a machine that can reach the channel) to record the build per
            platform
    qmspec::ambiguous-provider

      × `conda` on amd64 is provided by several tools: forge-a, forge-b
        ╭─[tests/fixtures/validate/ambiguous-provider.yaml:39:34]
     38 │     sources:
     39 │       amd64: { kind: conda, via: conda }
        ·                                  ──┬──
        ·                                    ╰── ambiguous
     40 │       arm64: { kind: none, reason: amd64 only }
        ╰────
      help: name one tool in `via`
    qmspec::opted-out

      ⚠ tool `solver` is not installed on arm64: amd64 only
        ╭─[tests/fixtures/validate/ambiguous-provider.yaml:40:7]
     39 │       amd64: { kind: conda, via: conda }
     40 │       arm64: { kind: none, reason: amd64 only }
        ·       ──┬──
        ·         ╰── left out on purpose
     41 │   - name: hello
        ╰────
    tests/fixtures/validate/ambiguous-provider.yaml: invalid (1 error, 4 warnings)
    "#);
}

#[test]
fn no_platforms() {
    let (code, report) = validate("no-platforms");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::no-platforms

      × the spec builds no platform
       ╭─[tests/fixtures/validate/no-platforms.yaml:5:1]
     4 │ validation-script: generated/validate-demo.sh
     5 │ platforms: {}
       · ────┬────
       ·     ╰── empty
     6 │ apt:
       ╰────
      help: add at least `amd64:` under `platforms:`
    tests/fixtures/validate/no-platforms.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn qemu_needs_multi_arch() {
    let (code, report) = validate("qemu-needs-multi-arch");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::qemu-needs-multi-arch

      × `ci.strategy: qemu` builds every platform from one Dockerfile, but none is generated
        ╭─[tests/fixtures/validate/qemu-needs-multi-arch.yaml:45:13]
     44 │   workflow: generated/publish-demo.yml
     45 │   strategy: qemu
        ·             ──┬─
        ·               ╰── needs a multi-arch Dockerfile
        ╰────
      help: set `dockerfiles: multi-arch` (or `both`) and `multi-arch-dockerfile:`, or use `strategy:
            native`
    tests/fixtures/validate/qemu-needs-multi-arch.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn duplicate_stage() {
    let (code, report) = validate("duplicate-stage");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::ignored-key

      ⚠ nothing copies from stage `builder`, so it is never built
        ╭─[tests/fixtures/validate/duplicate-stage.yaml:21:11]
     20 │ stages:
     21 │   - name: builder
        ·           ───┬───
        ·              ╰── unused
     22 │     base:
        ╰────
      help: copy its results with `copy: [{stage: builder, from: …, to: …}]`, or remove the stage
    qmspec::duplicate-stage

      × two stages are named `builder`
        ╭─[tests/fixtures/validate/duplicate-stage.yaml:25:11]
     20 │ stages:
     21 │   - name: builder
        ·           ───┬───
        ·              ╰── first named here
     22 │     base:
     23 │       amd64: { image: debian, tag: bookworm-slim, digest: "sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2" }
     24 │       arm64: { image: debian, tag: bookworm-slim, digest: "sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2" }
     25 │   - name: builder
        ·           ───┬───
        ·              ╰── named again here
     26 │     base:
        ╰────
      help: give each stage its own name
    qmspec::ignored-key

      ⚠ nothing copies from stage `builder`, so it is never built
        ╭─[tests/fixtures/validate/duplicate-stage.yaml:25:11]
     24 │       arm64: { image: debian, tag: bookworm-slim, digest: "sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2" }
     25 │   - name: builder
        ·           ───┬───
        ·              ╰── unused
     26 │     base:
        ╰────
      help: copy its results with `copy: [{stage: builder, from: …, to: …}]`, or remove the stage
    qmspec::duplicate-stage

      × a stage may not be named `demo`
        ╭─[tests/fixtures/validate/duplicate-stage.yaml:29:11]
     28 │       arm64: { image: debian, tag: bookworm-slim, digest: "sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2" }
     29 │   - name: demo
        ·           ──┬─
        ·             ╰── reserved
     30 │     base:
        ╰────
      help: `scratch`, `context` and the image's own name are taken: rename the stage, e.g. `builder`
    qmspec::ignored-key

      ⚠ nothing copies from stage `demo`, so it is never built
        ╭─[tests/fixtures/validate/duplicate-stage.yaml:29:11]
     28 │       arm64: { image: debian, tag: bookworm-slim, digest: "sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2" }
     29 │   - name: demo
        ·           ──┬─
        ·             ╰── unused
     30 │     base:
        ╰────
      help: copy its results with `copy: [{stage: demo, from: …, to: …}]`, or remove the stage
    tests/fixtures/validate/duplicate-stage.yaml: invalid (2 errors, 3 warnings)
    "#);
}

#[test]
fn unknown_stage() {
    let (code, report) = validate("unknown-stage");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::unknown-stage

      × `assets` is not a stage defined before this copy
        ╭─[tests/fixtures/validate/unknown-stage.yaml:27:18]
     26 │     copy:
     27 │       - { stage: assets, from: /out, to: /in }
        ·                  ───┬──
        ·                     ╰── no such stage here
     28 │   - name: assets
        ╰────
      help: a copy takes from a stage listed before it under `stages:`: define it there, or move it up
    qmspec::unknown-stage

      × `buidler` is not a stage defined before this copy
        ╭─[tests/fixtures/validate/unknown-stage.yaml:58:16]
     57 │   copy:
     58 │     - { stage: buidler, from: /app/.venv, to: /app/.venv }
        ·                ───┬───
        ·                   ╰── no such stage here
     59 │     - { from: ../secrets, to: /app/secrets }
        ╰────
      help: did you mean `builder`?
    qmspec::unsafe-path

      × the copy's `from` `../secrets` leaves the build context
        ╭─[tests/fixtures/validate/unknown-stage.yaml:59:15]
     58 │     - { stage: buidler, from: /app/.venv, to: /app/.venv }
     59 │     - { from: ../secrets, to: /app/secrets }
        ·               ─────┬────
        ·                    ╰── leaves the build context
     60 │     - { stage: builder, from: app/src, to: /app/src }
        ╰────
      help: give a path relative to the repository root, without `..`
    qmspec::relative-path

      × the copy's `from` `app/src` is not an absolute path in the stage
        ╭─[tests/fixtures/validate/unknown-stage.yaml:60:31]
     59 │     - { from: ../secrets, to: /app/secrets }
     60 │     - { stage: builder, from: app/src, to: /app/src }
        ·                               ───┬───
        ·                                  ╰── is not an absolute path in the stage
     61 │     - { stage: assets, from: /venv, to: /app/venv }
        ╰────
      help: write the stage's path from its root, e.g. `/app/.venv`
    qmspec::unknown-stage

      × `asets` is not a stage defined before this copy
        ╭─[tests/fixtures/validate/unknown-stage.yaml:63:16]
     62 │   scripts:
     63 │     - { stage: asets, from: /out/run.sh, to: /app/ }
        ·                ──┬──
        ·                  ╰── no such stage here
     64 │ ci:
        ╰────
      help: did you mean `assets`?
    tests/fixtures/validate/unknown-stage.yaml: invalid (5 errors, 0 warnings)
    ");
}

#[test]
fn root_user() {
    let (code, report) = validate("root-user");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::root-user

      × the image would run as root without a reason
        ╭─[tests/fixtures/validate/root-user.yaml:43:9]
     42 │   command: [python3, -m, demo]
     43 │   user: { name: root }
        ·         ───────┬──────
        ·                ╰── root
     44 │   scripts: [{ from: run.sh, to: /app/, chown: true }]
        ╰────
      help: create a non-root user (`name`, `uid`), or say why the image must run as root in
            `root-reason`
    qmspec::missing-user

      × `chown: true` gives the files to the app's user, but the image has no non-root user
        ╭─[tests/fixtures/validate/root-user.yaml:44:47]
     43 │   user: { name: root }
     44 │   scripts: [{ from: run.sh, to: /app/, chown: true }]
        ·                                               ──┬─
        ·                                                 ╰── no user to give them to
     45 │ ci:
        ╰────
      help: add `app.user`, or remove `chown`
    tests/fixtures/validate/root-user.yaml: invalid (2 errors, 0 warnings)
    ");
}

#[test]
fn missing_user() {
    let (code, report) = validate("missing-user");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::missing-user

      × the amd64 base image runs as another user, and the spec does not say which user the image ends
      │ as
        ╭─[tests/fixtures/validate/missing-user.yaml:11:16]
     10 │       digest: sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2
     11 │       runs-as: non-root
        ·                ────┬───
        ·                    ╰── qmspec switches to root to install
     12 │     runner: ubuntu-latest
        ╰────
      help: name the user under `app.user` (`create: false` for the base image's own user)
    qmspec::missing-user

      × `chown: true` in a stage: stages have no user to give files to
        ╭─[tests/fixtures/validate/missing-user.yaml:27:39]
     26 │     copy:
     27 │       - { from: src, to: /src, chown: true }
        ·                                       ──┬─
        ·                                         ╰── no user here
     28 │ apt:
        ╰────
      help: remove `chown`; give the files to the app's user where the image copies them
    qmspec::missing-user

      × `chown: true` gives the files to the app's user, but the image has no non-root user
        ╭─[tests/fixtures/validate/missing-user.yaml:51:91]
     50 │   command: [python3, -m, demo]
     51 │   copy: [{ stage: builder, from: /src, to: /app/more }, { from: src, to: /app/src, chown: true }]
        ·                                                                                           ──┬─
        ·                                                                                             ╰── no user to give them to
     52 │ ci:
        ╰────
      help: add `app.user`, or remove `chown`
    tests/fixtures/validate/missing-user.yaml: invalid (3 errors, 0 warnings)
    ");
}

#[test]
fn workflow_expression() {
    let (code, report) = validate("workflow-expression");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::unsafe-value

      × `platforms.amd64.runner` contains a `$`, which BuildKit (COPY, ENV, WORKDIR) or the shell
      │ would expand
        ╭─[tests/fixtures/validate/workflow-expression.yaml:11:13]
     10 │       digest: sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2
     11 │     runner: "${{ github.event.inputs.runner }}"
        ·             ─────────────────┬─────────────────
        ·                              ╰── a `$`, which BuildKit (COPY, ENV, WORKDIR) or the shell would expand cannot be quoted safely here
     12 │     dockerfile: generated/Dockerfile.demo.amd64
        ╰────
      help: remove it: this value is spliced into shell lines and Dockerfile instructions
    qmspec::workflow-expression

      × `platforms.amd64.runner` holds a GitHub Actions expression
        ╭─[tests/fixtures/validate/workflow-expression.yaml:11:13]
     10 │       digest: sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2
     11 │     runner: "${{ github.event.inputs.runner }}"
        ·             ─────────────────┬─────────────────
        ·                              ╰── `${{` starts an expression
     12 │     dockerfile: generated/Dockerfile.demo.amd64
        ╰────
      help: specs hold literal values only: remove the `${{ … }}`, then run `qmspec validate`
    tests/fixtures/validate/workflow-expression.yaml: invalid (2 errors, 0 warnings)
    "#);
}

#[test]
fn invalid_env_name() {
    let (code, report) = validate("invalid-env-name");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::invalid-env-name

      × `1ST-DIR` is not a valid variable name
        ╭─[tests/fixtures/validate/invalid-env-name.yaml:21:3]
     20 │ env:
     21 │   1ST-DIR: /opt
        ·   ───┬───
        ·      ╰── letters, digits and `_`, not starting with a digit
     22 │ apt:
        ╰────
      help: rename the variable
    tests/fixtures/validate/invalid-env-name.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn invalid_reference() {
    let (code, report) = validate("invalid-reference");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::invalid-reference

      × the value of `LIB` has an unclosed `${`
        ╭─[tests/fixtures/validate/invalid-reference.yaml:22:8]
     21 │   TOP: /opt
     22 │   LIB: "${TOP/lib"
        ·        ─────┬─────
        ·             ╰── an unclosed `${`
     23 │ apt:
        ╰────
      help: refer to variables as `${NAME}`; write `$$` for a literal `$`
    tests/fixtures/validate/invalid-reference.yaml: invalid (1 error, 0 warnings)
    "#);
}

#[test]
fn ignored_key() {
    let (code, report) = validate("ignored-key");
    assert_eq!(code, 0, "warnings only: {report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::ignored-key

      ⚠ nothing copies from stage `builder`, so it is never built
        ╭─[tests/fixtures/validate/ignored-key.yaml:21:11]
     20 │ stages:
     21 │   - name: builder
        ·           ───┬───
        ·              ╰── unused
     22 │     base:
        ╰────
      help: copy its results with `copy: [{stage: builder, from: …, to: …}]`, or remove the stage
    qmspec::unused-source

      ⚠ an entry for ppc64le, which the spec does not build
        ╭─[tests/fixtures/validate/ignored-key.yaml:25:7]
     24 │       arm64: { image: debian, tag: bookworm-slim, digest: "sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2" }
     25 │       ppc64le: { image: debian, tag: bookworm-slim, digest: "sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2" }
        ·       ───┬───
        ·          ╰── not built
     26 │     copy:
        ╰────
      help: remove it, or add `ppc64le` under `platforms:`
    qmspec::ignored-key

      ⚠ `home` is ignored: `create: false` creates no user
        ╭─[tests/fixtures/validate/ignored-key.yaml:51:48]
     50 │   command: [python3, -m, demo]
     51 │   user: { name: app, uid: 1000, create: false, home: /home/app, system: true, root-reason: "legacy" }
        ·                                                ──┬─
        ·                                                  ╰── not used
     52 │ ci:
        ╰────
      help: remove `home`, or let qmspec create the user
    qmspec::ignored-key

      ⚠ `system` is ignored: `create: false` creates no user
        ╭─[tests/fixtures/validate/ignored-key.yaml:51:65]
     50 │   command: [python3, -m, demo]
     51 │   user: { name: app, uid: 1000, create: false, home: /home/app, system: true, root-reason: "legacy" }
        ·                                                                 ───┬──
        ·                                                                    ╰── not used
     52 │ ci:
        ╰────
      help: remove `system`, or let qmspec create the user
    qmspec::ignored-key

      ⚠ `root-reason` is ignored: the image ends as `app`, not root
        ╭─[tests/fixtures/validate/ignored-key.yaml:51:79]
     50 │   command: [python3, -m, demo]
     51 │   user: { name: app, uid: 1000, create: false, home: /home/app, system: true, root-reason: "legacy" }
        ·                                                                               ─────┬─────
        ·                                                                                    ╰── not used
     52 │ ci:
        ╰────
      help: remove `root-reason`
    tests/fixtures/validate/ignored-key.yaml: valid (5 warnings)
    "#);
}

#[test]
fn runtime_values() {
    let (code, report) = validate("runtime-values");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::invalid-env-name

      × `TARGETARCH` is set by the build itself
        ╭─[tests/fixtures/validate/runtime-values.yaml:21:3]
     20 │ args:
     21 │   TARGETARCH: amd64
        ·   ─────┬────
        ·        ╰── reserved
     22 │ apt:
        ╰────
      help: BuildKit sets the platform arguments and qmspec sets `QMSPEC_PLATFORM`: choose another
            name
    qmspec::invalid-value

      × `99999` is not a port
        ╭─[tests/fixtures/validate/runtime-values.yaml:45:20]
     44 │   command: [python3, -m, demo]
     45 │   expose: ["8000", "99999", "08000/tcp"]
        ·                    ───┬───
        ·                       ╰── ports are 1 to 65535
     46 │   volumes: ["/srv/..//."]
        ╰────
      help: write the port the app listens on, e.g. `8000` or `8000/udp`
    qmspec::invalid-value

      × port `08000/tcp` is listed twice
        ╭─[tests/fixtures/validate/runtime-values.yaml:45:29]
     44 │   command: [python3, -m, demo]
     45 │   expose: ["8000", "99999", "08000/tcp"]
        ·            ───┬──           ─────┬─────
        ·               │                  ╰── again here
        ·               ╰── first here
     46 │   volumes: ["/srv/..//."]
        ╰────
      help: list each port once
    qmspec::invalid-value

      × the whole file system as a volume
        ╭─[tests/fixtures/validate/runtime-values.yaml:46:13]
     45 │   expose: ["8000", "99999", "08000/tcp"]
     46 │   volumes: ["/srv/..//."]
        ·             ──────┬─────
        ·                   ╰── `/`
     47 │ ci:
        ╰────
      help: name the directory that holds the data, e.g. `/app/data`
    tests/fixtures/validate/runtime-values.yaml: invalid (4 errors, 0 warnings)
    "#);
}

#[test]
fn signal_and_interval() {
    let (code, report) = validate("signal-and-interval");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::invalid-value

      × `conda forge` is not a valid `tools[0].sources.amd64.channel`
        ╭─[tests/fixtures/validate/signal-and-interval.yaml:26:51]
     25 │     sources:
     26 │       amd64: { kind: conda, via: system, channel: "conda forge" }
        ·                                                   ───────┬──────
        ·                                                          ╰── does not have the expected form
     27 │       arm64: { kind: none, reason: amd64 only }
        ╰────
      help: the value must match
            `^[A-Za-z0-9][A-Za-z0-9._+-]*(/[A-Za-z0-9._+-]+)*$|^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Z
            a-z0-9._+-]+)*/?$`
    qmspec::invalid-value

      × `SIGFOO` is not a valid `app.stopsignal`
        ╭─[tests/fixtures/validate/signal-and-interval.yaml:48:15]
     47 │   command: [python3, -m, demo]
     48 │   stopsignal: SIGFOO
        ·               ───┬──
        ·                  ╰── does not have the expected form
     49 │   healthcheck: { run: "true", interval: 0s }
        ╰────
      help: the value must match
            `^(SIG(ABRT|ALRM|BUS|CHLD|CLD|CONT|FPE|HUP|ILL|INT|IO|IOT|KILL|PIPE|POLL|PROF|PWR|QUIT|SEG
            V|STKFLT|SYS|TERM|TRAP|TSTP|TTIN|TTOU|URG|USR1|USR2|VTALRM|WINCH|XCPU|XFSZ|RTMIN|RTMIN\+([
            1-9]|1[0-5])|RTMAX-([1-9]|1[0-4])|RTMAX)|[1-9]|[1-5][0-9]|6[0-4])$`
    qmspec::invalid-value

      × `0s` is not a valid `app.healthcheck.interval`
        ╭─[tests/fixtures/validate/signal-and-interval.yaml:49:41]
     48 │   stopsignal: SIGFOO
     49 │   healthcheck: { run: "true", interval: 0s }
        ·                                         ─┬
        ·                                          ╰── does not have the expected form
     50 │ ci:
        ╰────
      help: the value must match `^[1-9][0-9]{0,5}(ms|s|m|h)$`
    tests/fixtures/validate/signal-and-interval.yaml: invalid (3 errors, 0 warnings)
    "#);
}

#[test]
fn python_install_with() {
    let (code, report) = validate("python-install-with");
    assert_eq!(code, 1, ": {report}");
    insta::assert_snapshot!(report, @"
    qmspec::unknown-source-kind

      × unknown `with: uvx` in `app.python.install`
        ╭─[tests/fixtures/validate/python-install-with.yaml:41:61]
     40 │   workdir: /app
     41 │   python: { via: system, venv: /app/.venv, install: { with: uvx } }
        ·                                                             ─┬─
        ·                                                              ╰── expected one of: pip, requirements, uv
     42 │   command: [python3, -m, demo]
        ╰────
      help: did you mean `uv`?
    tests/fixtures/validate/python-install-with.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn path_characters() {
    let (code, report) = validate("path-characters");
    assert_eq!(code, 1, ": {report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::unsafe-value

      × `app.python.venv` contains a `:`, which separates directories in `PATH`
        ╭─[tests/fixtures/validate/path-characters.yaml:42:32]
     41 │   workdir: /app
     42 │   python: { via: system, venv: "/tmp:/app/venv", install: { with: uv, lock: "locks\\uv.lock", pyproject: /etc/pyproject.toml, files: ["../README.md", ""] } }
        ·                                ────────┬───────
        ·                                        ╰── a `:`, which separates directories in `PATH` cannot be quoted safely here
     43 │   scripts: [{ from: scripts/, to: /app/scripts/ }]
        ╰────
      help: remove it: this value is spliced into shell lines and Dockerfile instructions
    qmspec::missing-command

      × installing with uv needs `uv`, which the amd64 image does not have at that point
        ╭─[tests/fixtures/validate/path-characters.yaml:42:59]
     41 │   workdir: /app
     42 │   python: { via: system, venv: "/tmp:/app/venv", install: { with: uv, lock: "locks\\uv.lock", pyproject: /etc/pyproject.toml, files: ["../README.md", ""] } }
        ·                                                           ─────────────────────────────────────────────────┬────────────────────────────────────────────────
        ·                                                                                                            ╰── needs `uv`
     43 │   scripts: [{ from: scripts/, to: /app/scripts/ }]
        ╰────
      help: add a tool that provides it (its name or `provides`) before it; or, if the base image has
            it, list it in `platforms.amd64.base.provides`
    qmspec::missing-command

      × installing with uv needs `uv`, which the arm64 image does not have at that point
        ╭─[tests/fixtures/validate/path-characters.yaml:42:59]
     41 │   workdir: /app
     42 │   python: { via: system, venv: "/tmp:/app/venv", install: { with: uv, lock: "locks\\uv.lock", pyproject: /etc/pyproject.toml, files: ["../README.md", ""] } }
        ·                                                           ─────────────────────────────────────────────────┬────────────────────────────────────────────────
        ·                                                                                                            ╰── needs `uv`
     43 │   scripts: [{ from: scripts/, to: /app/scripts/ }]
        ╰────
      help: add a tool that provides it (its name or `provides`) before it; or, if the base image has
            it, list it in `platforms.arm64.base.provides`
    qmspec::unsafe-value

      × `app.python.install.lock` contains a backslash, which BuildKit's option parser drops
        ╭─[tests/fixtures/validate/path-characters.yaml:42:77]
     41 │   workdir: /app
     42 │   python: { via: system, venv: "/tmp:/app/venv", install: { with: uv, lock: "locks\\uv.lock", pyproject: /etc/pyproject.toml, files: ["../README.md", ""] } }
        ·                                                                             ────────┬───────
        ·                                                                                     ╰── a backslash, which BuildKit's option parser drops cannot be quoted safely here
     43 │   scripts: [{ from: scripts/, to: /app/scripts/ }]
        ╰────
      help: remove it: this value is spliced into shell lines and Dockerfile instructions
    qmspec::unsafe-path

      × `app.python.install.pyproject` `/etc/pyproject.toml` leaves the build context
        ╭─[tests/fixtures/validate/path-characters.yaml:42:106]
     41 │   workdir: /app
     42 │   python: { via: system, venv: "/tmp:/app/venv", install: { with: uv, lock: "locks\\uv.lock", pyproject: /etc/pyproject.toml, files: ["../README.md", ""] } }
        ·                                                                                                          ─────────┬─────────
        ·                                                                                                                   ╰── outside the build context
     43 │   scripts: [{ from: scripts/, to: /app/scripts/ }]
        ╰────
      help: give a path relative to the repository root, without `..`
    qmspec::unsafe-path

      × `app.python.install.files[0]` `../README.md` leaves the build context
        ╭─[tests/fixtures/validate/path-characters.yaml:42:135]
     41 │   workdir: /app
     42 │   python: { via: system, venv: "/tmp:/app/venv", install: { with: uv, lock: "locks\\uv.lock", pyproject: /etc/pyproject.toml, files: ["../README.md", ""] } }
        ·                                                                                                                                       ───────┬──────
        ·                                                                                                                                              ╰── outside the build context
     43 │   scripts: [{ from: scripts/, to: /app/scripts/ }]
        ╰────
      help: give a path relative to the repository root, without `..`
    qmspec::unsafe-path

      × `app.python.install.files[1]` `` leaves the build context
        ╭─[tests/fixtures/validate/path-characters.yaml:42:151]
     41 │   workdir: /app
     42 │   python: { via: system, venv: "/tmp:/app/venv", install: { with: uv, lock: "locks\\uv.lock", pyproject: /etc/pyproject.toml, files: ["../README.md", ""] } }
        ·                                                                                                                                                       ─┬
        ·                                                                                                                                                        ╰── outside the build context
     43 │   scripts: [{ from: scripts/, to: /app/scripts/ }]
        ╰────
      help: give a path relative to the repository root, without `..`
    qmspec::invalid-value

      × the script `scripts/` is not one file
        ╭─[tests/fixtures/validate/path-characters.yaml:43:21]
     42 │   python: { via: system, venv: "/tmp:/app/venv", install: { with: uv, lock: "locks\\uv.lock", pyproject: /etc/pyproject.toml, files: ["../README.md", ""] } }
     43 │   scripts: [{ from: scripts/, to: /app/scripts/ }]
        ·                     ────┬───
        ·                         ╰── a folder or a pattern
     44 │   command: [python3, -m, demo]
        ╰────
      help: list each script file; copy folders with `app.copy`
    tests/fixtures/validate/path-characters.yaml: invalid (8 errors, 0 warnings)
    "#);
}

#[test]
fn python_without_workdir() {
    let (code, report) = validate("python-without-workdir");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::missing-key

      × a Python install copies the project into the working directory, but `workdir` is not set
        ╭─[tests/fixtures/validate/python-without-workdir.yaml:40:44]
     39 │ app:
     40 │   python: { via: system, venv: /app/.venv, install: { with: pip } }
        ·                                            ───┬───
        ·                                               ╰── needs `workdir`
     41 │   command: [python3, -m, demo]
        ╰────
      help: add `workdir: /app` next to `python`
    tests/fixtures/validate/python-without-workdir.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn source_values() {
    let (code, report) = validate("source-values");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::version-mismatch

      × `flakes` gives a version range in `package`; the tool's `version` is what the package is
      │ installed at
        ╭─[tests/fixtures/validate/source-values.yaml:26:70]
     25 │     sources:
     26 │       amd64: { kind: pip, via: system, prefix: /opt/flakes, package: "pyflakes>=3,<4" }
        ·                                                                      ────────┬────────
        ·                                                                              ╰── a range here
     27 │       arm64: { kind: pip, via: system, prefix: /opt/flakes, package: "pyflakes[extra]==3.2.0" }
        ╰────
      help: write the bare package name (with extras, if any), and the range as the tool's `version`
            (e.g. `">=2025.9"`)
    qmspec::invalid-value

      × `../../etc/shadow` is not a file under `dest`
        ╭─[tests/fixtures/validate/source-values.yaml:37:23]
     36 │         dest: /opt/hello
     37 │         executables: [../../etc/shadow, "bin/*", /usr/bin/hello]
        ·                       ────────┬───────
        ·                               ╰── absolute, `..` or a pattern
     38 │         path: [/opt/hello]
        ╰────
      help: name each file relative to `dest`, e.g. `bin/xtb`
    qmspec::invalid-value

      × `bin/*` is not a file under `dest`
        ╭─[tests/fixtures/validate/source-values.yaml:37:41]
     36 │         dest: /opt/hello
     37 │         executables: [../../etc/shadow, "bin/*", /usr/bin/hello]
        ·                                         ───┬───
        ·                                            ╰── absolute, `..` or a pattern
     38 │         path: [/opt/hello]
        ╰────
      help: name each file relative to `dest`, e.g. `bin/xtb`
    qmspec::invalid-value

      × `/usr/bin/hello` is not a file under `dest`
        ╭─[tests/fixtures/validate/source-values.yaml:37:50]
     36 │         dest: /opt/hello
     37 │         executables: [../../etc/shadow, "bin/*", /usr/bin/hello]
        ·                                                  ───────┬──────
        ·                                                         ╰── absolute, `..` or a pattern
     38 │         path: [/opt/hello]
        ╰────
      help: name each file relative to `dest`, e.g. `bin/xtb`
    tests/fixtures/validate/source-values.yaml: invalid (4 errors, 0 warnings)
    "#);
}

#[test]
fn archive_formats() {
    let (code, report) = validate("archive-formats");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::invalid-value

      × the URL of `mystery` does not say what it downloads
        ╭─[tests/fixtures/validate/archive-formats.yaml:26:36]
     25 │     sources:
     26 │       amd64: { kind: archive, url: "https://example.org/mystery-{{version}}-x86_64", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/mystery }
        ·                                    ────────────────────────┬───────────────────────
        ·                                                            ╰── no archive ending
     27 │       arm64: { kind: none, reason: amd64 only }
        ╰────
      help: set `format:` (tar-gz, tar-bz2, tar-xz, tar-zst, tar, zip or binary)
    qmspec::opted-out

      ⚠ tool `mystery` is not installed on arm64: amd64 only
        ╭─[tests/fixtures/validate/archive-formats.yaml:27:7]
     26 │       amd64: { kind: archive, url: "https://example.org/mystery-{{version}}-x86_64", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/mystery }
     27 │       arm64: { kind: none, reason: amd64 only }
        ·       ──┬──
        ·         ╰── left out on purpose
     28 │   - name: zipped
        ╰────
    qmspec::missing-command

      × unpacking `zipped` (zip) needs `unzip`, which the amd64 image does not have at that point
        ╭─[tests/fixtures/validate/archive-formats.yaml:31:14]
     30 │     sources:
     31 │       amd64: { kind: archive, url: "https://example.org/zipped-{{version}}-x86_64.zip", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/zipped, strip-components: 1 }
        ·              ──────────────────────────────────────────────────────────────────────────────────────────────┬──────────────────────────────────────────────────────────────────────────────────────────────
        ·                                                                                                            ╰── needs `unzip`
     32 │       arm64: { kind: none, reason: amd64 only }
        ╰────
      help: add `unzip` to `apt.packages`, or a tool that provides it; or, if the base image has it,
            list it in `platforms.amd64.base.provides`
    qmspec::invalid-value

      × `strip-components` works on tar archives, not on `zip` downloads
        ╭─[tests/fixtures/validate/archive-formats.yaml:31:200]
     30 │     sources:
     31 │       amd64: { kind: archive, url: "https://example.org/zipped-{{version}}-x86_64.zip", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/zipped, strip-components: 1 }
        ·                                                                                                                                                                                                        ┬
        ·                                                                                                                                                                                                        ╰── tar only
     32 │       arm64: { kind: none, reason: amd64 only }
        ╰────
      help: remove `strip-components`, and name the executables with their folder
    qmspec::opted-out

      ⚠ tool `zipped` is not installed on arm64: amd64 only
        ╭─[tests/fixtures/validate/archive-formats.yaml:32:7]
     31 │       amd64: { kind: archive, url: "https://example.org/zipped-{{version}}-x86_64.zip", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/zipped, strip-components: 1 }
     32 │       arm64: { kind: none, reason: amd64 only }
        ·       ──┬──
        ·         ╰── left out on purpose
     33 │   - name: single
        ╰────
    qmspec::missing-key

      × the binary download of `single` has no name in the image
        ╭─[tests/fixtures/validate/archive-formats.yaml:36:7]
     35 │     sources:
     36 │       amd64: { kind: archive, format: binary, url: "https://example.org/single-{{version}}-x86_64", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/single/bin }
        ·       ──┬──
        ·         ╰── needs `executables`
     37 │       arm64: { kind: none, reason: amd64 only }
        ╰────
      help: add `executables: [NAME]`: the download is installed as `dest/NAME`
    qmspec::opted-out

      ⚠ tool `single` is not installed on arm64: amd64 only
        ╭─[tests/fixtures/validate/archive-formats.yaml:37:7]
     36 │       amd64: { kind: archive, format: binary, url: "https://example.org/single-{{version}}-x86_64", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/single/bin }
     37 │       arm64: { kind: none, reason: amd64 only }
        ·       ──┬──
        ·         ╰── left out on purpose
     38 │   - name: hello
        ╰────
    tests/fixtures/validate/archive-formats.yaml: invalid (4 errors, 3 warnings)
    "#);
}

#[test]
fn version_placeholders() {
    let (code, report) = validate("version-placeholders");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::unknown-placeholder

      × `labels.org.example.version` holds `{{version}}`, which is replaced only in a tool's fields
       ╭─[tests/fixtures/validate/version-placeholders.yaml:6:24]
     5 │ labels:
     6 │   org.example.version: "{{version}}"
       ·                        ──────┬──────
       ·                              ╰── not replaced here
     7 │ validation-script: generated/validate-demo.sh
       ╰────
      help: write the value out, or move it into a tool (`url`, `dest`, `prefix`, `executables`,
            `path`, `env`, `check`)
    qmspec::unknown-placeholder

      × `app.volumes[0]` holds a placeholder other than `{{version}}`
        ╭─[tests/fixtures/validate/version-placeholders.yaml:48:13]
     47 │   command: [python3, -m, demo, "{{not-a-placeholder}} in text"]
     48 │   volumes: ["/data/{{arch}}"]
        ·             ────────┬───────
        ·                     ╰── not replaced here
     49 │   data-dirs: ["/data/{{version}}"]
        ╰────
      help: only `{{version}}` is replaced: write the rest out
    qmspec::unknown-placeholder

      × `app.data-dirs[0]` holds `{{version}}`, which is replaced only in a tool's fields
        ╭─[tests/fixtures/validate/version-placeholders.yaml:49:15]
     48 │   volumes: ["/data/{{arch}}"]
     49 │   data-dirs: ["/data/{{version}}"]
        ·               ─────────┬─────────
        ·                        ╰── not replaced here
     50 │ ci:
        ╰────
      help: write the value out, or move it into a tool (`url`, `dest`, `prefix`, `executables`,
            `path`, `env`, `check`)
    tests/fixtures/validate/version-placeholders.yaml: invalid (3 errors, 0 warnings)
    "#);
}

/// Every code a user can meet has a fixture whose full report is an inline snapshot here or
/// in another suite: the registry (`src/codes.rs`) lists the codes, the snapshots prove each
/// one is raised, with its message, span and help, by a real spec or repository.
#[test]
fn every_code_has_a_fixture() {
    let dir = root().join("tests/cli");
    let mut snapshots = String::new();
    for entry in std::fs::read_dir(&dir).expect("tests/cli") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        for (start, _) in text.match_indices("assert_snapshot!(") {
            let rest = &text[start..];
            let end = rest.find("\");").map_or(rest.len(), |e| e + 3);
            snapshots.push_str(&rest[..end]);
            snapshots.push('\n');
        }
    }
    let missing: Vec<&str> = qmspec::codes::CODES
        .iter()
        .filter(|c| c.origin != qmspec::codes::Origin::Internal)
        .map(|c| c.id)
        .filter(|id| {
            !snapshots.lines().any(|l| {
                l.trim() == *id
                    || l.trim().ends_with(&format!(" {id}"))
                    || l.contains(&format!("{id}:"))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a snapshot fixture: {missing:#?}"
    );
}

#[test]
fn buildability() {
    let (code, report) = validate("buildability");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::missing-command

      × installing the `apt` packages needs `apt-get`, which the amd64 image does not have at that
      │ point
        ╭─[tests/fixtures/validate/buildability.yaml:21:13]
     20 │ apt:
     21 │   packages: [ca-certificates=20230311]
        ·             ─────────────┬────────────
        ·                          ╰── needs `apt-get`
     22 │ tools:
        ╰────
      help: add a tool that provides it (its name or `provides`) before it; or, if the base image has
            it, list it in `platforms.amd64.base.provides`
    qmspec::missing-command

      × unpacking `zstd-tool` (tar-zst) needs `zstd`, which the amd64 image does not have at that
      │ point
        ╭─[tests/fixtures/validate/buildability.yaml:26:14]
     25 │     sources:
     26 │       amd64: { kind: archive, url: "https://example.org/z-{{version}}-x86_64.tar.zst", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/z }
        ·              ─────────────────────────────────────────────────────────────────────────────────┬────────────────────────────────────────────────────────────────────────────────
        ·                                                                                               ╰── needs `zstd`
     27 │       arm64: { kind: archive, url: "https://example.org/z-{{version}}-aarch64.zip", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/z }
        ╰────
      help: add a tool that installs `zstd` before it (this base has no apt-get); or, if the base
            image has it, list it in `platforms.amd64.base.provides`
    qmspec::missing-command

      × downloading `zstd-tool` needs `wget or curl`, which the arm64 image does not have at that
      │ point
        ╭─[tests/fixtures/validate/buildability.yaml:27:14]
     26 │       amd64: { kind: archive, url: "https://example.org/z-{{version}}-x86_64.tar.zst", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/z }
     27 │       arm64: { kind: archive, url: "https://example.org/z-{{version}}-aarch64.zip", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/z }
        ·              ───────────────────────────────────────────────────────────────────────────────┬───────────────────────────────────────────────────────────────────────────────
        ·                                                                                             ╰── needs `wget or curl`
     28 │   - name: forge
        ╰────
      help: add `wget` to `apt.packages`, or a tool that provides it; or, if the base image has it,
            list it in `platforms.arm64.base.provides`
    qmspec::missing-command

      × unpacking `zstd-tool` (zip) needs `unzip`, which the arm64 image does not have at that point
        ╭─[tests/fixtures/validate/buildability.yaml:27:14]
     26 │       amd64: { kind: archive, url: "https://example.org/z-{{version}}-x86_64.tar.zst", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/z }
     27 │       arm64: { kind: archive, url: "https://example.org/z-{{version}}-aarch64.zip", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/z }
        ·              ───────────────────────────────────────────────────────────────────────────────┬───────────────────────────────────────────────────────────────────────────────
        ·                                                                                             ╰── needs `unzip`
     28 │   - name: forge
        ╰────
      help: add `unzip` to `apt.packages`, or a tool that provides it; or, if the base image has it,
            list it in `platforms.arm64.base.provides`
    qmspec::missing-command

      × running the installer of `forge` needs `bash`, which the amd64 image does not have at that
      │ point
        ╭─[tests/fixtures/validate/buildability.yaml:31:14]
     30 │     sources:
     31 │       amd64: { kind: installer, url: "https://example.org/Miniforge3-{{version}}-Linux-x86_64.sh", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, prefix: /opt/conda }
        ·              ──────────────────────────────────────────────────────────────────────────────────────────┬─────────────────────────────────────────────────────────────────────────────────────────
        ·                                                                                                        ╰── needs `bash`
     32 │       arm64: { kind: none, reason: not needed }
        ╰────
      help: add a tool that installs `bash` before it (this base has no apt-get); or, if the base
            image has it, list it in `platforms.amd64.base.provides`
    qmspec::opted-out

      ⚠ tool `forge` is not installed on arm64: not needed
        ╭─[tests/fixtures/validate/buildability.yaml:32:7]
     31 │       amd64: { kind: installer, url: "https://example.org/Miniforge3-{{version}}-Linux-x86_64.sh", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, prefix: /opt/conda }
     32 │       arm64: { kind: none, reason: not needed }
        ·       ──┬──
        ·         ╰── left out on purpose
     33 │   - name: piped
        ╰────
    qmspec::pipe-without-pipefail

      × a command of `piped` pipes on amd64, whose shell has no `pipefail`: a failure before the last
      │ command would pass unseen
        ╭─[tests/fixtures/validate/buildability.yaml:35:38]
     34 │     sources:
     35 │       amd64: { kind: commands, run: ["cat /etc/os-release | grep -q alpine", "echo a || echo b"] }
        ·                                      ───────────────────┬──────────────────
        ·                                                         ╰── a pipe
     36 │       arm64: { kind: commands, run: ["mkdir -p /opt/piped"] }
        ╰────
      help: write the steps with a file in between (`cmd > /tmp/out && next < /tmp/out`), or use a
            base with bash (`shell: bash`)
    qmspec::unlocked-package

      ⚠ the conda package of `rdkit` on amd64 has no locked build: the channel picks one when the
      │ image is built, and may have none for this platform
        ╭─[tests/fixtures/validate/buildability.yaml:40:7]
     39 │     sources:
     40 │       amd64: { kind: conda, via: micromamba }
        ·       ──┬──
        ·         ╰── not locked
     41 │       arm64: { kind: conda, via: mamba }
        ╰────
      help: run `qmspec lock` (on a machine that can reach the channel) to record the build per
            platform
    qmspec::missing-command

      × installing the conda package `rdkit` needs `micromamba`, which the amd64 image does not have
      │ at that point
        ╭─[tests/fixtures/validate/buildability.yaml:40:34]
     39 │     sources:
     40 │       amd64: { kind: conda, via: micromamba }
        ·                                  ─────┬────
        ·                                       ╰── needs `micromamba`
     41 │       arm64: { kind: conda, via: mamba }
        ╰────
      help: add a tool that provides it (its name or `provides`) before it; or, if the base image has
            it, list it in `platforms.amd64.base.provides`
    qmspec::unlocked-package

      ⚠ the conda package of `rdkit` on arm64 has no locked build: the channel picks one when the
      │ image is built, and may have none for this platform
        ╭─[tests/fixtures/validate/buildability.yaml:41:7]
     40 │       amd64: { kind: conda, via: micromamba }
     41 │       arm64: { kind: conda, via: mamba }
        ·       ──┬──
        ·         ╰── not locked
     42 │ app:
        ╰────
      help: run `qmspec lock` (on a machine that can reach the channel) to record the build per
            platform
    qmspec::missing-command

      × installing the conda package `rdkit` needs `mamba`, which the arm64 image does not have at
      │ that point
        ╭─[tests/fixtures/validate/buildability.yaml:41:34]
     40 │       amd64: { kind: conda, via: micromamba }
     41 │       arm64: { kind: conda, via: mamba }
        ·                                  ──┬──
        ·                                    ╰── needs `mamba`
     42 │ app:
        ╰────
      help: add a tool that provides it (its name or `provides`) before it; or, if the base image has
            it, list it in `platforms.arm64.base.provides`
    qmspec::missing-command

      × creating the virtual environment needs `python3-venv`, which the amd64 image does not have at
      │ that point
        ╭─[tests/fixtures/validate/buildability.yaml:44:18]
     43 │   workdir: /app
     44 │   python: { via: system, venv: /app/.venv }
        ·                  ───┬──
        ·                     ╰── needs `python3-venv`
     45 │   user: { name: app, uid: 10001 }
        ╰────
      help: add a tool that provides it (its name or `provides`) before it; or, if the base image has
            it, list it in `platforms.amd64.base.provides`
    qmspec::missing-command

      × creating the virtual environment needs `python3-venv`, which the arm64 image does not have at
      │ that point
        ╭─[tests/fixtures/validate/buildability.yaml:44:18]
     43 │   workdir: /app
     44 │   python: { via: system, venv: /app/.venv }
        ·                  ───┬──
        ·                     ╰── needs `python3-venv`
     45 │   user: { name: app, uid: 10001 }
        ╰────
      help: add `python3-venv` to `apt.packages`, or a tool that provides it; or, if the base image
            has it, list it in `platforms.arm64.base.provides`
    tests/fixtures/validate/buildability.yaml: invalid (10 errors, 3 warnings)
    "#);
}

#[test]
fn commands_urls() {
    let (code, report) = validate("commands-urls");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::unchecked-url

      × the commands of `fetched` download with `curl` themselves, where no checksum covers it
        ╭─[tests/fixtures/validate/commands-urls.yaml:20:13]
     19 │         run:
     20 │           - "curl -fsSL -o /tmp/f.tgz 'https://example.org/fetched-1.4-aarch64.tgz'"
        ·             ────────────────────────────────────┬───────────────────────────────────
        ·                                                 ╰── `curl` here
     21 │           - "tar -xzf /tmp/f.tgz -C /opt"
        ╰────
      help: list it under `downloads:` ({url: https://example.org/fetched-1.4-aarch64.tgz, sha256: …,
            file: /tmp/…}) and use the file in `run`
    qmspec::wrong-arch-download

      × the amd64 commands of `fetched` name `https://example.org/fetched-1.4-aarch64.tgz`, a build
      │ for arm64: it would crash with SIGILL or `exec format error`
        ╭─[tests/fixtures/validate/commands-urls.yaml:20:13]
     19 │         run:
     20 │           - "curl -fsSL -o /tmp/f.tgz 'https://example.org/fetched-1.4-aarch64.tgz'"
        ·             ────────────────────────────────────┬───────────────────────────────────
        ·                                                 ╰── `aarch64` is arm64
     21 │           - "tar -xzf /tmp/f.tgz -C /opt"
        ╰────
      help: use a build of the tool for amd64 here
    qmspec::wrong-arch-download

      × the amd64 download of `listed` names `arm64`, a build for arm64: it would crash with SIGILL or
      │ `exec format error`
        ╭─[tests/fixtures/validate/commands-urls.yaml:28:20]
     27 │         downloads:
     28 │           - { url: "https://example.org/listed-{{version}}-arm64.tar.gz", sha256: unverified, file: "/tmp/listed-{{version}}.tar.gz" }
        ·                    ──────────────────────────┬──────────────────────────
        ·                                              ╰── `arm64` is arm64
     29 │         run: ["tar -xzf /tmp/listed-2.0.tar.gz -C /opt"]
        ╰────
      help: use a build of the tool for amd64 here (e.g. a conda-forge package: `kind: conda`)
    qmspec::unverified-without-reason

      × the download of `listed` is unverified but gives no reason
        ╭─[tests/fixtures/validate/commands-urls.yaml:28:83]
     27 │         downloads:
     28 │           - { url: "https://example.org/listed-{{version}}-arm64.tar.gz", sha256: unverified, file: "/tmp/listed-{{version}}.tar.gz" }
        ·                                                                                   ─────┬────
        ·                                                                                        ╰── no checksum
     29 │         run: ["tar -xzf /tmp/listed-2.0.tar.gz -C /opt"]
        ╰────
      help: add the download's sha256, or `unverified-reason:` saying why there is none
    tests/fixtures/validate/commands-urls.yaml: invalid (4 errors, 0 warnings)
    "#);
}

/// A spec whose image would call a command its base lacks is refused by `validate` and
/// `generate` before any file is written, naming the command, what calls it and the fix.
#[test]
fn a_base_lacking_a_needed_command_is_refused_before_anything_is_written() {
    let minimal = crate::support::fixture("minimal.yaml");
    let zip = minimal.replace(
        "hello-{{version}}-x86_64.tar.gz",
        "hello-{{version}}-x86_64.zip",
    );
    let no_downloader = minimal.replace(", wget=1.21.3-1+b2]", "]");
    // An archive's executable is a command only where `PATH` finds it.
    let off_path = minimal.replacen(
        "tools:\n",
        "tools:\n  - name: zstd\n    version: \"1.5\"\n    sources:\n      amd64: { kind: archive, url: \"https://example.org/zstd-{{version}}-x86_64.tar.gz\", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/zstd, executables: [bin/zstd] }\n      arm64: { kind: none, reason: test }\n  - name: packed\n    version: \"1\"\n    needs: [zstd]\n    sources:\n      amd64: { kind: archive, url: \"https://example.org/packed-{{version}}-x86_64.tar.zst\", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/packed }\n      arm64: { kind: none, reason: test }\n",
        1,
    );
    assert!(zip != minimal && no_downloader != minimal && off_path != minimal);
    for (spec, want) in [
        (
            &off_path,
            "unpacking `packed` (tar-zst) needs `zstd`, which the amd64 image does not have",
        ),
        (
            &zip,
            "unpacking `hello` (zip) needs `unzip`, which the amd64 image does not have",
        ),
        (
            &no_downloader,
            "downloading `hello` needs `wget or curl`, which the amd64 image does not have",
        ),
    ] {
        let dir = crate::support::repo_with_spec(spec);
        let out = qmspec(dir.path())
            .args(["generate"])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("qmspec::missing-command") && stderr.contains(want),
            "{stderr}"
        );
        assert!(stderr.contains("platforms.amd64.base.provides"), "{stderr}");
        assert!(
            !dir.path().join("generated").exists(),
            "something was written"
        );
        let out = qmspec(dir.path())
            .args(["validate"])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1));
    }
}

#[test]
fn version_ranges() {
    let (code, report) = validate("version-ranges");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::version-mismatch

      × `rdkit` pins 2025.9.1 in `package`, but the tool's version is the range >=2025.9,<2026
        ╭─[tests/fixtures/validate/version-ranges.yaml:28:69]
     27 │       amd64: { kind: pip, via: system, prefix: /opt/rdkit }
     28 │       arm64: { kind: pip, via: system, prefix: /opt/rdkit, package: "rdkit==2025.9.1" }
        ·                                                                     ─────────┬────────
        ·                                                                              ╰── pinned to 2025.9.1
     29 │   - name: xtb
        ╰────
      help: drop the pin from `package`: qmspec pins it to the tool's `version`
    qmspec::version-range

      × `tools[1].check` uses `{{version}}`, but `xtb` has the range `>=6.7`, not one version
        ╭─[tests/fixtures/validate/version-ranges.yaml:31:12]
     30 │     version: ">=6.7"
     31 │     check: "xtb --version | grep -q {{version}}"
        ·            ──────────────────┬──────────────────
        ·                              ╰── no one version to put here
     32 │     sources:
        ╰────
      help: write the value without `{{version}}`, or pin `version` to one release
    qmspec::version-range

      × `xtb` has the version range `>=6.7`, but its amd64 source downloads one release
        ╭─[tests/fixtures/validate/version-ranges.yaml:33:22]
     32 │     sources:
     33 │       amd64: { kind: archive, url: "https://example.org/xtb-{{version}}-x86_64.tar.gz", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/xtb }
        ·                      ───┬───
        ·                         ╰── needs one exact version
     34 │       arm64: { kind: none, reason: not built }
        ╰────
      help: pin `version` to the release the download is (a range suits conda and pip sources, which
            resolve it)
    qmspec::opted-out

      ⚠ tool `xtb` is not installed on arm64: not built
        ╭─[tests/fixtures/validate/version-ranges.yaml:34:7]
     33 │       amd64: { kind: archive, url: "https://example.org/xtb-{{version}}-x86_64.tar.gz", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/xtb }
     34 │       arm64: { kind: none, reason: not built }
        ·       ──┬──
        ·         ╰── left out on purpose
     35 │   - name: crest
        ╰────
    qmspec::version-range

      × `crest` has the version range `>=3.0,<3.1`, but its amd64 source downloads one release
        ╭─[tests/fixtures/validate/version-ranges.yaml:38:22]
     37 │     sources:
     38 │       amd64: { kind: archive, url: "https://example.org/v2.12/crest-x86_64.tar.gz", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/crest }
        ·                      ───┬───
        ·                         ╰── needs one exact version
     39 │       arm64: { kind: none, reason: not built }
        ╰────
      help: pin `version` to the release the download is (a range suits conda and pip sources, which
            resolve it)
    qmspec::version-mismatch

      × the URL of `crest` embeds version 2.12, outside the tool's range >=3.0,<3.1
        ╭─[tests/fixtures/validate/version-ranges.yaml:38:36]
     37 │     sources:
     38 │       amd64: { kind: archive, url: "https://example.org/v2.12/crest-x86_64.tar.gz", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/crest }
        ·                                    ───────────────────────┬───────────────────────
        ·                                                           ╰── embeds 2.12
     39 │       arm64: { kind: none, reason: not built }
        ╰────
      help: download a release within the range, or change the range
    qmspec::opted-out

      ⚠ tool `crest` is not installed on arm64: not built
        ╭─[tests/fixtures/validate/version-ranges.yaml:39:7]
     38 │       amd64: { kind: archive, url: "https://example.org/v2.12/crest-x86_64.tar.gz", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/crest }
     39 │       arm64: { kind: none, reason: not built }
        ·       ──┬──
        ·         ╰── left out on purpose
     40 │ app:
        ╰────
    tests/fixtures/validate/version-ranges.yaml: invalid (5 errors, 2 warnings)
    "#);
}

#[test]
fn ci_publishing() {
    let (code, report) = validate("ci-publishing");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @r#"
    qmspec::missing-key

      × the image is pushed to quay.io, but the spec names no secrets to log in with
       ╭─[tests/fixtures/validate/ci-publishing.yaml:4:11]
     3 │ owner: example
     4 │ registry: quay.io
       ·           ───┬───
       ·              ╰── needs `ci.login`
     5 │ validation-script: generated/validate-demo.sh
       ╰────
      help: add `ci.login: { username-secret: NAME, password-secret: NAME }` naming repository secrets
            (GitHub's own token works only for ghcr.io)
    qmspec::missing-key

      × a scheduled rebuild publishes the `edge` tag, but the spec names no `edge-branch`
        ╭─[tests/fixtures/validate/ci-publishing.yaml:46:13]
     45 │   workflow: generated/publish-demo.yml
     46 │   schedule: "0 4 * * 1"
        ·             ─────┬─────
        ·                  ╰── publishes `edge`
     47 │   registries:
        ╰────
      help: add `ci.edge-branch: main` (the branch scheduled runs rebuild as `edge`), or remove
            `schedule`
    qmspec::invalid-value

      × quay.io is named twice as a registry of the image
        ╭─[tests/fixtures/validate/ci-publishing.yaml:49:19]
     48 │     - { registry: docker.io, owner: example, login: { username-secret: HUB_USER, password-secret: HUB_TOKEN } }
     49 │     - { registry: quay.io, owner: example, login: { username-secret: QUAY_USER, password-secret: QUAY_TOKEN } }
        ·                   ───┬───
        ·                      ╰── again
        ╰────
      help: name each registry once; the main one is `registry`
    tests/fixtures/validate/ci-publishing.yaml: invalid (3 errors, 0 warnings)
    "#);
}

/// Without a `venv`, pip installs into the python `via` names: refused for Debian's own python
/// (PEP 668) and for uv (always a venv), accepted for a base's own full python.
#[test]
fn an_app_python_without_a_venv_needs_an_environment_that_takes_it() {
    let minimal = crate::support::fixture("minimal.yaml");
    let line = "  python: { via: system, venv: /app/.venv }\n";
    assert!(minimal.contains(line));
    let debian = minimal.replace(line, "  python: { via: system, install: { with: pip } }\n");
    let uv = minimal.replace(line, "  python: { via: system, install: { with: uv } }\n");
    let official = debian
        .replace(
            "    runner: ubuntu-latest\n",
            "      provides: [python3]\n    runner: ubuntu-latest\n",
        )
        .replace(
            "    runner: ubuntu-24.04-arm\n",
            "      provides: [python3]\n    runner: ubuntu-24.04-arm\n",
        );
    for (spec, want) in [
        (&debian, Some("(PEP 668)")),
        (&uv, Some("uv installs a project")),
        (&official, None),
    ] {
        let dir = crate::support::repo_with_spec(spec);
        let out = qmspec(dir.path())
            .args(["validate"])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        match want {
            Some(want) => {
                assert_eq!(out.status.code(), Some(1), "{stderr}");
                assert!(stderr.contains(want), "{stderr}");
            }
            None => assert_eq!(out.status.code(), Some(0), "{stderr}"),
        }
    }
}

#[test]
fn lock_stale() {
    let (code, report) = validate("lock-stale");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::lock-stale

      × the amd64 download of `hello` changed since it was locked (the lock has
      │ https://example.org/hello-2.11-x86_64.tar.gz)
        ╭─[tests/fixtures/validate/lock-stale.yaml:29:14]
     28 │         kind: archive
     29 │         url: https://example.org/hello-{{version}}-x86_64.tar.gz
        ·              ─────────────────────────┬─────────────────────────
        ·                                       ╰── not locked
     30 │         sha256: unverified
        ╰────
      help: run `qmspec lock` to hash the new download (on a machine that can reach it)
    tests/fixtures/validate/lock-stale.yaml: invalid (1 error, 0 warnings)
    ");
}

#[test]
fn lock_invalid() {
    let (code, report) = validate("lock-invalid");
    assert_eq!(code, 1, "{report}");
    insta::assert_snapshot!(report, @"
    qmspec::lock-invalid

      × tests/fixtures/validate/lock-invalid.lock cannot be used: it does not start with qmspec's
      │ stamp
      help: run `qmspec lock` to write it again (move tests/fixtures/validate/lock-invalid.lock away
            first if qmspec did not write it)
    tests/fixtures/validate/lock-invalid.yaml: invalid (1 error, 0 warnings)
    ");
}
