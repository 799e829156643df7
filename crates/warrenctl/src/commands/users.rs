//! `list_users`, `add_user`, `delete_user`, `change_password`, `set_user_tags`.

use super::columns::{col, Column, Field};
use super::{unsupported, Ctx, Listing};
use crate::failure::{Failure, Outcome, EX_NOUSER, EX_SOFTWARE};
use crate::path::api_path;
use serde_json::{json, Value};

const COLUMNS: &[Column] = &[
    col("user", Field::At("/name")),
    col("tags", Field::Tags("/tags")),
];

fn missing_user(name: &str) -> Failure {
    Failure::new(EX_NOUSER, format!("User \"{name}\" does not exist"))
}

pub fn list(ctx: &Ctx, asked: &[String]) -> Outcome {
    ctx.list(Listing {
        banner: vec!["Listing users ...".into()],
        path: "users".into(),
        offered: COLUMNS,
        defaults: &["user", "tags"],
        asked,
        missing: unsupported(ctx, "users"),
    })
}

pub fn add(ctx: &Ctx, name: &str, password: &str) -> Outcome {
    ctx.out.info(&format!("Adding user \"{name}\" ..."));
    let path = api_path(&["users", name]);
    // PUT would quietly replace an existing user's password; rabbitmqctl refuses.
    if ctx.exists(&path)? {
        return Err(Failure::new(
            EX_SOFTWARE,
            format!("User \"{name}\" already exists"),
        ));
    }
    ctx.client
        .put(&path, &json!({"password": password, "tags": ""}))
        .map_err(|e| ctx.fail(e))?;
    ctx.out.info(
        "Done. Don't forget to grant the user permissions to some virtual hosts! \
         See 'warrenctl set_permissions --help' to learn more.",
    );
    Ok(())
}

pub fn delete(ctx: &Ctx, name: &str) -> Outcome {
    ctx.out.info(&format!("Deleting user \"{name}\" ..."));
    ctx.client
        .delete(&api_path(&["users", name]), None)
        .map_err(|e| ctx.fail_or(e, || missing_user(name)))
}

pub fn change_password(ctx: &Ctx, name: &str, password: &str) -> Outcome {
    ctx.out
        .info(&format!("Changing password for user \"{name}\" ..."));
    let path = api_path(&["users", name]);
    let user = ctx.get_or(&path, || missing_user(name))?;
    let body = json!({"password": password, "tags": user_tags(&user)});
    ctx.client
        .put(&path, &body)
        .map_err(|e| ctx.fail_or(e, || missing_user(name)))
}

pub fn set_tags(ctx: &Ctx, name: &str, tags: &[String]) -> Outcome {
    ctx.out.info(&format!(
        "Setting tags for user \"{name}\" to [{}] ...",
        tags.join(", ")
    ));
    let path = api_path(&["users", name]);
    let user = ctx.get_or(&path, || missing_user(name))?;
    // A PUT replaces the whole user: the stored hash keeps the password as it was.
    let mut body = json!({"tags": tags.join(",")});
    for key in ["password_hash", "hashing_algorithm"] {
        if let Some(v) = user.get(key) {
            body[key] = v.clone();
        }
    }
    ctx.client
        .put(&path, &body)
        .map_err(|e| ctx.fail_or(e, || missing_user(name)))
}

/// A user's tags in the comma-separated form every API version accepts.
fn user_tags(user: &Value) -> String {
    let tags = super::columns::tags(user.get("tags"));
    let names: Vec<&str> = tags
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    names.join(",")
}
