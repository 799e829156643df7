//! `set_policy`, `clear_policy`, `list_policies`.

use super::columns::{col, same, Column, Field};
use super::{missing_vhost, Ctx, Listing};
use crate::cli::ApplyTo;
use crate::failure::{Failure, Outcome, EX_DATAERR, EX_UNAVAILABLE};
use crate::path::api_path;
use serde_json::{json, Value};

const COLUMNS: &[Column] = &[
    same("vhost", "/vhost"),
    same("name", "/name"),
    same("pattern", "/pattern"),
    same("apply-to", "/apply-to"),
    col("definition", Field::JsonText("/definition")),
    same("priority", "/priority"),
];

pub fn set(
    ctx: &Ctx,
    name: &str,
    pattern: &str,
    definition: &str,
    priority: i64,
    apply_to: ApplyTo,
) -> Outcome {
    let vhost = ctx.vhost();
    ctx.out.info(&format!(
        "Setting policy \"{name}\" for pattern \"{pattern}\" to \"{definition}\" with priority \"{priority}\" for vhost \"{vhost}\" ..."
    ));
    let definition: Value = serde_json::from_str(definition)
        .map_err(|e| Failure::new(EX_DATAERR, format!("JSON decoding error. Reason: {e}")))?;
    if !definition.is_object() {
        return Err(Failure::new(
            EX_DATAERR,
            "JSON decoding error. Reason: a policy definition must be a JSON object",
        ));
    }
    let body = json!({
        "pattern": pattern,
        "definition": definition,
        "priority": priority,
        "apply-to": apply_to.as_str(),
    });
    ctx.client
        .put(&api_path(&["policies", vhost, name]), &body)
        .map_err(|e| {
            ctx.fail_or(e, || {
                Failure::new(
                    EX_UNAVAILABLE,
                    format!("Virtual host {vhost} does not exist"),
                )
            })
        })
}

pub fn clear(ctx: &Ctx, name: &str) -> Outcome {
    let vhost = ctx.vhost();
    ctx.out.info(&format!(
        "Clearing policy \"{name}\" on vhost \"{vhost}\" ..."
    ));
    ctx.client
        .delete(&api_path(&["policies", vhost, name]), None)
        .map_err(|e| {
            ctx.fail_or(e, || {
                Failure::new(EX_UNAVAILABLE, "Parameter does not exist")
            })
        })
}

pub fn list(ctx: &Ctx, asked: &[String]) -> Outcome {
    let vhost = ctx.vhost();
    ctx.list(Listing {
        banner: vec![format!("Listing policies for vhost \"{vhost}\" ...")],
        path: api_path(&["policies", vhost]),
        offered: COLUMNS,
        defaults: &[
            "vhost",
            "name",
            "pattern",
            "apply-to",
            "definition",
            "priority",
        ],
        asked,
        missing: missing_vhost(vhost),
    })
}
