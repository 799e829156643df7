//! `list_vhosts`, `add_vhost`, `delete_vhost`.

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
