//! `set_permissions`, `clear_permissions`, `list_permissions`, `list_user_permissions`.

use super::columns::{same, Column};
use super::{missing_vhost, Ctx, Listing};
use crate::client::ApiError;
use crate::failure::{Failure, Outcome, EX_NOUSER, EX_UNAVAILABLE};
use crate::path::api_path;
use serde_json::json;

const FOR_VHOST: &[Column] = &[
    same("user", "/user"),
    same("configure", "/configure"),
    same("write", "/write"),
    same("read", "/read"),
    same("vhost", "/vhost"),
];

const FOR_USER: &[Column] = &[
    same("vhost", "/vhost"),
    same("configure", "/configure"),
    same("write", "/write"),
    same("read", "/read"),
    same("user", "/user"),
];

/// rabbitmqctl's messages when a permission names a vhost or user that is not there.
/// The API answers both with one error, so the vhost is looked up to tell which.
fn which_is_missing(ctx: &Ctx, user: &str) -> Failure {
    let vhost = ctx.vhost();
    match ctx.exists(&api_path(&["vhosts", vhost])) {
        Ok(false) => Failure::new(
            EX_UNAVAILABLE,
            format!("Virtual host {vhost} does not exist"),
        ),
        Ok(true) => Failure::new(EX_NOUSER, format!("User {user} does not exist")),
        Err(e) => e,
    }
}

pub fn set(ctx: &Ctx, user: &str, [configure, write, read]: [&str; 3]) -> Outcome {
    let vhost = ctx.vhost();
    ctx.out.info(&format!(
        "Setting permissions for user \"{user}\" in vhost \"{vhost}\" ..."
    ));
    let body = json!({"configure": configure, "write": write, "read": read});
    match ctx
        .client
        .put(&api_path(&["permissions", vhost, user]), &body)
    {
        Ok(()) => Ok(()),
        Err(ApiError::NotFound) => Err(which_is_missing(ctx, user)),
        Err(ApiError::Rejected {
            status: 400,
            reason,
        }) if reason.contains("not_found") => Err(which_is_missing(ctx, user)),
        Err(e) => Err(ctx.fail(e)),
    }
}

pub fn clear(ctx: &Ctx, user: &str) -> Outcome {
    let vhost = ctx.vhost();
    ctx.out.info(&format!(
        "Clearing permissions for user \"{user}\" in vhost \"{vhost}\" ..."
    ));
    match ctx
        .client
        .delete(&api_path(&["permissions", vhost, user]), None)
    {
        Ok(()) => Ok(()),
        // Nothing to clear is success, as with rabbitmqctl, unless the user or vhost
        // itself is missing.
        Err(ApiError::NotFound) => {
            if !ctx.exists(&api_path(&["users", user]))? {
                return Err(Failure::new(
                    EX_NOUSER,
                    format!("User {user} does not exist"),
                ));
            }
            if !ctx.exists(&api_path(&["vhosts", vhost]))? {
                return Err(Failure::new(
                    EX_UNAVAILABLE,
                    format!("Virtual host {vhost} does not exist"),
                ));
            }
            Ok(())
        }
        Err(e) => Err(ctx.fail(e)),
    }
}

pub fn list(ctx: &Ctx, asked: &[String]) -> Outcome {
    let vhost = ctx.vhost();
    ctx.list(Listing {
        banner: vec![format!("Listing permissions for vhost \"{vhost}\" ...")],
        path: api_path(&["vhosts", vhost, "permissions"]),
        offered: FOR_VHOST,
        defaults: &["user", "configure", "write", "read"],
        asked,
        missing: missing_vhost(vhost),
    })
}

pub fn list_for_user(ctx: &Ctx, user: &str, asked: &[String]) -> Outcome {
    ctx.list(Listing {
        banner: vec![format!("Listing permissions for user \"{user}\" ...")],
        path: api_path(&["users", user, "permissions"]),
        offered: FOR_USER,
        defaults: &["vhost", "configure", "write", "read"],
        asked,
        missing: Failure::new(EX_UNAVAILABLE, format!("User \"{user}\" does not exist")),
    })
}
