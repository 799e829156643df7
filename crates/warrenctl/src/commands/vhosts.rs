//! `list_vhosts`, `add_vhost`, `delete_vhost`, `trace_on`, `trace_off`.

use super::columns::{col, same, Column, Field};
use super::{missing_vhost, unsupported, Ctx, Listing};
use crate::failure::Outcome;
use crate::path::api_path;
use serde_json::{json, Value};

const COLUMNS: &[Column] = &[
    same("name", "/name"),
    same("description", "/description"),
    col("tags", Field::Tags("/tags")),
    same("tracing", "/tracing"),
    same("default_queue_type", "/default_queue_type"),
    same("cluster_state", "/cluster_state"),
    same("messages", "/messages"),
];

pub fn list(ctx: &Ctx, asked: &[String]) -> Outcome {
    ctx.list(Listing {
        banner: vec!["Listing vhosts ...".into()],
        path: "vhosts".into(),
        offered: COLUMNS,
        defaults: &["name"],
        asked,
        missing: unsupported(ctx, "vhosts"),
    })
}

pub fn add(ctx: &Ctx, name: &str, description: Option<&str>, tags: Option<&str>) -> Outcome {
    ctx.out.info(&format!("Adding vhost \"{name}\" ..."));
    let mut body = json!({});
    if let Some(d) = description {
        body["description"] = Value::String(d.into());
    }
    if let Some(t) = tags {
        body["tags"] = Value::String(t.into());
    }
    ctx.client
        .put(&api_path(&["vhosts", name]), &body)
        .map_err(|e| ctx.fail(e))
}

pub fn delete(ctx: &Ctx, name: &str) -> Outcome {
    ctx.out.info(&format!("Deleting vhost \"{name}\" ..."));
    ctx.client
        .delete(&api_path(&["vhosts", name]), None)
        .map_err(|e| ctx.fail_or(e, || missing_vhost(name)))
}

/// `trace_on` / `trace_off`: the vhost's `tracing` field, through `PUT
/// /api/vhosts/NAME`. A PUT sets the description and tags too, so the current ones
/// are sent back unchanged; and it would create a missing vhost, so the vhost is
/// looked up first.
pub fn set_tracing(ctx: &Ctx, on: bool) -> Outcome {
    let vhost = ctx.vhost();
    let (verb, done) = if on {
        ("Starting", "enabled")
    } else {
        ("Stopping", "disabled")
    };
    ctx.out
        .info(&format!("{verb} tracing for vhost \"{vhost}\" ..."));
    let path = api_path(&["vhosts", vhost]);
    let current = ctx.get_or(&path, || missing_vhost(vhost))?;
    let mut body = json!({ "tracing": on });
    for field in ["description", "tags", "default_queue_type"] {
        if let Some(value) = current.get(field).filter(|v| !v.is_null()) {
            body[field] = value.clone();
        }
    }
    ctx.client
        .put(&path, &body)
        .map_err(|e| ctx.fail_or(e, || missing_vhost(vhost)))?;
    ctx.out.result(&format!("Trace {done} for vhost {vhost}"));
    Ok(())
}
