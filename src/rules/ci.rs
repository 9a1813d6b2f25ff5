//! Publishing rules: how the workflow logs in to each registry, and what a scheduled rebuild
//! publishes.

use super::Ctx;
use crate::diag::Diagnostic;
use crate::model::Spec;

pub(super) fn check(spec: &Spec, cx: &mut Ctx<'_>) {
    let ci = &spec.ci;
    // The workflow's own token can push only to GitHub's registry.
    if spec.registry != "ghcr.io" && ci.login.is_none() {
        cx.out.push(
            Diagnostic::error(
                "qmspec::missing-key",
                format!(
                    "the image is pushed to {}, but the spec names no secrets to log in with",
                    spec.registry
                ),
            )
            .with_label(cx.at_value("/registry", "needs `ci.login`"))
            .with_help("add `ci.login: { username-secret: NAME, password-secret: NAME }` naming repository secrets (GitHub's own token works only for ghcr.io)"),
        );
    }
    if ci.schedule.is_some() && ci.edge_branch.is_none() {
        cx.out.push(
            Diagnostic::error(
                "qmspec::missing-key",
                "a scheduled rebuild publishes the `edge` tag, but the spec names no `edge-branch`",
            )
            .with_label(cx.at_value("/ci/schedule", "publishes `edge`"))
            .with_help("add `ci.edge-branch: main` (the branch scheduled runs rebuild as `edge`), or remove `schedule`"),
        );
    }
    let mut seen = vec![spec.registry.as_str()];
    for (j, r) in ci.registries.iter().enumerate() {
        if seen.contains(&r.registry.as_str()) {
            cx.out.push(
                Diagnostic::error(
                    "qmspec::invalid-value",
                    format!("{} is named twice as a registry of the image", r.registry),
                )
                .with_label(cx.at_value(&format!("/ci/registries/{j}/registry"), "again"))
                .with_help("name each registry once; the main one is `registry`"),
            );
        }
        seen.push(&r.registry);
    }
}
