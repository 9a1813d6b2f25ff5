//! The schema: the committed copy is what this qmspec generates, it documents every property,
//! and real validators (check-jsonschema) accept the bundled spec with both drafts.

use crate::support::{qmspec, root, run_referee};

fn schema(draft: &str) -> serde_json::Value {
    let out = qmspec(&root())
        .args(["schema", "--draft", draft])
        .assert()
        .code(0);
    serde_json::from_slice(&out.get_output().stdout).expect("the schema is JSON")
}

#[test]
fn committed_schema_matches_this_version() {
    let out = qmspec(&root()).args(["schema"]).assert().code(0);
    let generated = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let committed = std::fs::read_to_string(root().join("schema/worker.schema.json"))
        .expect("schema is committed");
    assert!(
        generated == committed,
        "schema/worker.schema.json is out of date: run `cargo build && target/debug/qmspec schema > schema/worker.schema.json` (build first: the schema is compiled in)"
    );
}

#[test]
fn drafts_are_pinned() {
    assert_eq!(
        schema("2020-12")["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let d7 = schema("07");
    assert_eq!(d7["$schema"], "http://json-schema.org/draft-07/schema#");
    assert!(d7.get("definitions").is_some() && d7.get("$defs").is_none());
}

/// Call `visit` on every object of a schema with its JSON pointer.
fn each_object(
    node: &serde_json::Value,
    path: &str,
    visit: &mut dyn FnMut(&serde_json::Map<String, serde_json::Value>, &str),
) {
    match node {
        serde_json::Value::Object(obj) => {
            visit(obj, path);
            for (k, v) in obj {
                each_object(v, &format!("{path}/{k}"), visit);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                each_object(v, &format!("{path}/{i}"), visit);
            }
        }
        _ => {}
    }
}

/// Every property of every object has a description; every source kind has a title.
#[test]
fn every_property_is_documented() {
    let s = schema("2020-12");
    let mut missing = Vec::new();
    each_object(&s, "", &mut |obj, path| {
        if let Some(serde_json::Value::Object(props)) = obj.get("properties") {
            for (k, v) in props {
                if v.get("description").is_none() {
                    missing.push(format!("{path}/properties/{k}"));
                }
            }
        }
    });
    assert!(
        missing.is_empty(),
        "properties without a description: {missing:#?}"
    );
    let kinds = s["$defs"]["Source"]["oneOf"]
        .as_array()
        .expect("sources are a oneOf");
    let titles: Vec<&str> = kinds.iter().filter_map(|k| k["title"].as_str()).collect();
    assert_eq!(titles.len(), kinds.len());
    let arches: Vec<&String> = s["$defs"]["PerPlatform_Platform"]["properties"]
        .as_object()
        .expect("platforms")
        .keys()
        .collect();
    assert_eq!(arches, ["amd64", "arm64", "ppc64le", "s390x", "riscv64"]);
}

#[test]
fn check_jsonschema_accepts_the_bundled_spec_with_both_drafts() {
    let dir = tempfile::tempdir().expect("tmp");
    for draft in ["2020-12", "07"] {
        let path = dir.path().join(format!("schema-{draft}.json"));
        std::fs::write(&path, serde_json::to_string(&schema(draft)).expect("json")).expect("write");
        let spec = root().join("specs/worker.yaml");
        let (ok, out) = run_referee(
            "check-jsonschema",
            &[
                "--schemafile",
                path.to_str().expect("utf8"),
                spec.to_str().expect("utf8"),
            ],
            &root(),
        );
        assert!(ok, "draft {draft}: {out}");
        // And the same validator rejects a spec with a misspelt key, so the verdict means something.
        let bad = root().join("tests/fixtures/validate/unknown-key.yaml");
        let (ok, out) = run_referee(
            "check-jsonschema",
            &[
                "--schemafile",
                path.to_str().expect("utf8"),
                bad.to_str().expect("utf8"),
            ],
            &root(),
        );
        assert!(!ok, "draft {draft} accepted a misspelt key: {out}");
    }
}

/// The validator compiles the published schema as draft-07 (faster): that is only right while
/// the schema uses nothing the two drafts read differently.
#[test]
fn the_schema_reads_the_same_under_draft_07() {
    let newer = [
        "prefixItems",
        "$dynamicRef",
        "$dynamicAnchor",
        "unevaluatedProperties",
        "unevaluatedItems",
        "dependentRequired",
        "dependentSchemas",
    ];
    let annotations = [
        "$ref",
        "description",
        "markdownDescription",
        "title",
        "examples",
        "default",
        "markdownEnumDescriptions",
        // qmspec's own annotation (how a field's text reaches the generated files): no
        // validator reads it.
        "x-qmspec-use",
    ];
    let mut bad = Vec::new();
    each_object(&schema("2020-12"), "", &mut |obj, path| {
        bad.extend(
            newer
                .iter()
                .filter(|k| obj.contains_key(**k))
                .map(|k| format!("{path}: {k}")),
        );
        if obj.contains_key("$ref") {
            for k in obj.keys().filter(|k| !annotations.contains(&k.as_str())) {
                bad.push(format!(
                    "{path}: `{k}` beside `$ref` is ignored by draft-07"
                ));
            }
        }
    });
    assert!(bad.is_empty(), "{bad:#?}");
}
