//! Editor behaviour, proven with the real yaml-language-server over LSP (stdio), the way an
//! editor talks to it: completion, hover and diagnostics driven by nothing but the schema.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{referee, root};

struct Server {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Value>,
    next_id: i64,
    /// Notifications seen while waiting for responses.
    notifications: Vec<Value>,
    /// The `yaml` settings this editor sends.
    settings: Value,
}

fn frame(msg: &Value) -> Vec<u8> {
    let body = msg.to_string();
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

impl Server {
    fn start(workspace: &Path) -> Server {
        Server::start_with(workspace, settings())
    }

    fn start_with(workspace: &Path, settings: Value) -> Server {
        let mut child = Command::new(referee("yaml-language-server"))
            .arg("--stdio")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("yaml-language-server starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = v.parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; len];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&body)
                    && tx.send(v).is_err()
                {
                    return;
                }
            }
        });
        let mut server = Server {
            child,
            stdin,
            incoming: rx,
            next_id: 1,
            notifications: Vec::new(),
            settings,
        };
        let uri = file_uri(workspace);
        server.request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "rootUri": uri,
                "workspaceFolders": [{"uri": uri, "name": "qmspec"}],
                "capabilities": {
                    "workspace": {"configuration": true},
                    "textDocument": {
                        "completion": {"completionItem": {"snippetSupport": true, "documentationFormat": ["markdown", "plaintext"]}},
                        "hover": {"contentFormat": ["markdown", "plaintext"]},
                        "publishDiagnostics": {}
                    }
                }
            }),
        );
        server.notify("initialized", json!({}));
        // Settings as an editor sends them; the schema comes from each file's modeline.
        let all = server.settings.clone();
        server.notify(
            "workspace/didChangeConfiguration",
            json!({ "settings": all }),
        );
        server
    }

    fn send(&mut self, msg: &Value) {
        self.stdin
            .write_all(&frame(msg))
            .expect("write to the server");
        self.stdin.flush().expect("flush");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Answer the server's own requests the way an editor does.
    fn answer(&mut self, msg: &Value) {
        let id = msg["id"].clone();
        let result = match msg["method"].as_str() {
            Some("workspace/configuration") => {
                let items = msg["params"]["items"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let answers = items.iter().map(|i| match i["section"].as_str() {
                    Some("yaml") => self.settings["yaml"].clone(),
                    _ => Value::Null,
                });
                Value::Array(answers.collect())
            }
            _ => Value::Null,
        };
        self.send(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
    }

    fn recv(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.incoming.recv_timeout(left).ok()
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(msg) = self.recv(deadline) {
            if msg.get("method").is_some() && msg.get("id").is_some() {
                self.answer(&msg);
            } else if msg["id"] == json!(id) {
                assert!(msg.get("error").is_none(), "{method} failed: {msg}");
                return msg["result"].clone();
            } else if msg.get("method").is_some() {
                self.notifications.push(msg);
            }
        }
        panic!("no answer to {method} within 30 s");
    }

    fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}),
        );
    }

    /// The diagnostics the server publishes for a document.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        let is_for = |m: &Value| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
        };
        if let Some(pos) = self.notifications.iter().rposition(is_for) {
            return self.notifications[pos]["params"]["diagnostics"]
                .as_array()
                .cloned()
                .unwrap_or_default();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(msg) = self.recv(deadline) {
            if msg.get("method").is_some() && msg.get("id").is_some() {
                self.answer(&msg);
            } else if is_for(&msg) {
                return msg["params"]["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
            }
        }
        panic!("no diagnostics for {uri} within 30 s");
    }

    fn completion(&mut self, uri: &str, line: usize, character: usize) -> Vec<String> {
        let result = self.request(
            "textDocument/completion",
            json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}),
        );
        let items = result
            .get("items")
            .unwrap_or(&result)
            .as_array()
            .cloned()
            .unwrap_or_default();
        items
            .iter()
            .filter_map(|i| i["label"].as_str().map(str::to_string))
            .collect()
    }

    fn hover(&mut self, uri: &str, line: usize, character: usize) -> String {
        let result = self.request(
            "textDocument/hover",
            json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}),
        );
        result["contents"]["value"]
            .as_str()
            .map_or_else(|| result.to_string(), str::to_string)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn settings() -> Value {
    json!({"yaml": {
        "validate": true, "hover": true, "completion": true, "format": {"enable": false},
        "schemaStore": {"enable": false}, "schemas": {}
    }})
}

fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A scratch workspace with the committed schema and one spec with the modeline.
fn workspace(spec: &str) -> (tempfile::TempDir, String) {
    // No leading dot: schema globs (`**/specs/*.yaml`) skip dot-directories, as in editors.
    let dir = tempfile::Builder::new()
        .prefix("qmspec-lsp-")
        .tempdir()
        .expect("tmp");
    std::fs::create_dir_all(dir.path().join("specs")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("schema")).expect("mkdir");
    std::fs::copy(
        root().join("schema/worker.schema.json"),
        dir.path().join("schema/worker.schema.json"),
    )
    .expect("schema");
    let path = dir.path().join("specs/worker.yaml");
    std::fs::write(&path, spec).expect("write");
    (dir, file_uri(&path))
}

const MODELINE: &str = "# yaml-language-server: $schema=../schema/worker.schema.json\n";

/// Position (line, character) just after the first occurrence of `marker`.
fn after(text: &str, marker: &str) -> (usize, usize) {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} not in the document"))
        + marker.len();
    let line = text[..at].matches('\n').count();
    let col = text[..at].rsplit('\n').next().unwrap_or("").chars().count();
    (line, col)
}

#[test]
fn every_spec_starts_with_the_modeline() {
    for entry in std::fs::read_dir(root().join("specs")).expect("specs") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.starts_with(MODELINE),
            "{} lacks the modeline",
            path.display()
        );
    }
}

#[test]
fn the_bundled_spec_has_no_diagnostics() {
    let text = std::fs::read_to_string(root().join("specs/worker.yaml")).expect("read");
    let (dir, uri) = workspace(&text);
    let mut server = Server::start(dir.path());
    server.open(&uri, &text);
    let diags = server.diagnostics(&uri);
    assert!(diags.is_empty(), "{diags:#?}");
}

/// Completion at the `|` in a document (which is opened without the `|`).
fn complete(server: &mut Server, dir: &Path, name: &str, doc: &str) -> Vec<String> {
    let at = doc.find('|').expect("a cursor");
    let text = doc.replacen('|', "", 1);
    let path = dir.join("specs").join(name);
    std::fs::write(&path, &text).expect("write");
    let uri = file_uri(&path);
    server.open(&uri, &text);
    let line = text[..at].matches('\n').count();
    let col = text[..at].rsplit('\n').next().unwrap_or("").chars().count();
    server.completion(&uri, line, col)
}

#[test]
fn completion_offers_keys_kinds_platforms_and_enum_values() {
    let (dir, _) = workspace(MODELINE);
    let mut server = Server::start(dir.path());

    let top = complete(
        &mut server,
        dir.path(),
        "top.yaml",
        &format!("{MODELINE}name: demo\n|\n"),
    );
    for key in [
        "owner",
        "platforms",
        "tools",
        "app",
        "ci",
        "env",
        "labels",
        "validation-script",
    ] {
        assert!(
            top.iter().any(|k| k == key),
            "top-level completion lacks {key}: {top:?}"
        );
    }

    let kinds = complete(
        &mut server,
        dir.path(),
        "kinds.yaml",
        &format!("{MODELINE}tools:\n  - name: xtb\n    sources:\n      arm64:\n        kind: |\n"),
    );
    for kind in qmspec::model::Source::KINDS {
        assert!(
            kinds.iter().any(|k| k == kind),
            "source kinds lack {kind}: {kinds:?}"
        );
    }

    let platforms = complete(
        &mut server,
        dir.path(),
        "platforms.yaml",
        &format!("{MODELINE}tools:\n  - name: xtb\n    sources:\n      |\n"),
    );
    for p in ["amd64", "arm64", "ppc64le", "s390x", "riscv64"] {
        assert!(
            platforms.iter().any(|k| k == p),
            "platform keys lack {p}: {platforms:?}"
        );
    }

    let values = complete(
        &mut server,
        dir.path(),
        "enum.yaml",
        &format!(
            "{MODELINE}platforms:\n  arm64:\n    runner: ubuntu-24.04-arm\n    emulation: |\n"
        ),
    );
    assert!(
        values.contains(&"native".to_string()) && values.contains(&"qemu".to_string()),
        "{values:?}"
    );

    let layouts = complete(
        &mut server,
        dir.path(),
        "layout.yaml",
        &format!("{MODELINE}dockerfiles: |\n"),
    );
    for v in ["per-platform", "multi-arch", "both"] {
        assert!(
            layouts.iter().any(|k| k == v),
            "dockerfiles values lack {v}: {layouts:?}"
        );
    }
}

#[test]
fn hover_shows_the_description() {
    let text = std::fs::read_to_string(root().join("specs/worker.yaml")).expect("read");
    let (dir, uri) = workspace(&text);
    let mut server = Server::start(dir.path());
    server.open(&uri, &text);
    let (line, _) = after(&text, "    runner: ubuntu-latest");
    let hover = server.hover(&uri, line, 6);
    assert!(hover.contains("GitHub-hosted runner label"), "{hover}");
    let (line, _) = after(
        &text,
        "  - name: xtb\n    description: semiempirical extended tight-binding\n    version",
    );
    let hover = server.hover(&uri, line, 6);
    assert!(
        hover.contains("The one version installed on every platform"),
        "{hover}"
    );
}

#[test]
fn mistakes_are_flagged_at_their_lines() {
    let text = std::fs::read_to_string(root().join("specs/worker.yaml")).expect("read");
    let bad = text
        .replacen(
            "    runner: ubuntu-latest\n",
            "    runner: ubuntu-latest\n    emulation: qemuu\n",
            1,
        )
        .replacen("    check: xtb --version\n", "    chek: xtb --version\n", 1);
    let (dir, uri) = workspace(&bad);
    let mut server = Server::start(dir.path());
    server.open(&uri, &bad);
    let diags = server.diagnostics(&uri);
    let lines: Vec<u64> = diags
        .iter()
        .filter_map(|d| d["range"]["start"]["line"].as_u64())
        .collect();
    let (enum_line, _) = after(&bad, "    emulation: qemuu");
    let (key_line, _) = after(&bad, "    chek");
    assert!(
        lines.contains(&(enum_line as u64)),
        "no diagnostic at the wrong enum value (line {enum_line}): {diags:#?}"
    );
    assert!(
        lines.contains(&(key_line as u64)),
        "no diagnostic at the unknown key (line {key_line}): {diags:#?}"
    );
    assert_eq!(diags.len(), 2, "{diags:#?}");
}

/// A settings file with comments (VS Code's and Zed's are JSONC) as JSON: its whole-line `//`
/// comments dropped.
fn jsonc(path: &str) -> Value {
    let text = std::fs::read_to_string(root().join(path)).expect("read");
    let json: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect();
    serde_json::from_str(&json.join("\n")).expect("JSON once its comment lines are dropped")
}

/// The editors/ set-ups map the schema without a modeline: VS Code's workspace settings,
/// sent as VS Code sends them, make the server flag a mistake in a spec that has no modeline.
#[test]
fn the_vscode_workspace_mapping_works_without_a_modeline() {
    let vscode = jsonc("editors/vscode/settings.json");
    // Zed sends the same `yaml` settings.
    let zed = jsonc("editors/zed/settings.json");
    assert_eq!(
        zed["lsp"]["yaml-language-server"]["settings"]["yaml"]["schemas"],
        vscode["yaml.schemas"]
    );
    let mut yaml = settings()["yaml"].clone();
    yaml["schemas"] = vscode["yaml.schemas"].clone();
    let text = "name: demo\ndockerfiles: per-arch\n";
    let (dir, _) = workspace(text);
    let path = dir.path().join("specs/plain.yaml");
    std::fs::write(&path, text).expect("write");
    let uri = file_uri(&path);
    let mut server = Server::start_with(dir.path(), json!({ "yaml": yaml }));
    server.open(&uri, text);
    let diags = server.diagnostics(&uri);
    assert!(
        diags.iter().any(|d| d["range"]["start"]["line"] == 1
            && d["message"]
                .as_str()
                .is_some_and(|m| m.contains("per-platform"))),
        "{diags:#?}"
    );
}

#[test]
fn editor_setups_name_the_schema_and_the_specs() {
    for file in [
        "editors/vscode/settings.json",
        "editors/neovim/yamlls.lua",
        "editors/helix/languages.toml",
        "editors/zed/settings.json",
    ] {
        let text = std::fs::read_to_string(root().join(file)).expect("read");
        assert!(
            text.contains("./schema/worker.schema.json") && text.contains("specs/*.yaml"),
            "{file}"
        );
        // Each says where it goes, and leaves SchemaStore on for every other YAML file.
        assert!(
            ["//", "#", "--"].iter().any(|c| text.starts_with(c)),
            "{file} does not open with a comment"
        );
        assert!(
            !text.contains("schemaStore"),
            "{file} turns SchemaStore off"
        );
    }
    let ext: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("editors/vscode/extension/package.json"))
            .expect("read"),
    )
    .expect("JSON");
    assert_eq!(ext["extensionDependencies"], json!(["redhat.vscode-yaml"]));
    assert_eq!(
        ext["contributes"]["yamlValidation"][0]["fileMatch"][0],
        "specs/*.yaml"
    );
}
