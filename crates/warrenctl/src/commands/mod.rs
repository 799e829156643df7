//! The verbs, one file per group, and what they share: the client, the output
//! settings, and turning an API error into rabbitmqctl's message and exit code.

pub mod columns;
mod definitions;
mod exchanges;
mod node;
mod permissions;
mod policies;
mod queues;
mod records;
mod sessions;
mod users;
mod vhosts;

use crate::cli::Command;
use crate::client::{ApiError, Client};
use crate::config::Settings;
use crate::failure::{Failure, Outcome, EX_NOPERM, EX_SOFTWARE, EX_UNAVAILABLE};
use crate::output::Output;
use columns::Column;
use serde_json::Value;
use std::time::Duration;

/// What every verb runs with.
pub struct Ctx {
    pub client: Client,
    pub out: Output,
    pub settings: Settings,
    /// `--timeout` when it was given (await_startup has its own default).
    pub explicit_timeout: Option<Duration>,
}

impl Ctx {
    /// The vhost `-p/--vhost` names (default `/`).
    pub fn vhost(&self) -> &str {
        &self.settings.vhost
    }

    /// The message and exit code for an error no verb-specific rule covers.
    pub fn fail(&self, error: ApiError) -> Failure {
        let root = self.client.root();
        match error {
            ApiError::Unreachable(why) => Failure::bare(
                EX_UNAVAILABLE,
                format!(
                    "Error: unable to perform an operation on the management API at {root}: {why}.\n\n\
                     Most common reasons for this are:\n\n \
                     * The broker is not running, or its HTTP API is not enabled\n \
                     * --host or --port (or WARRENCTL_HOST, WARRENCTL_PORT, the config file) point elsewhere"
                ),
            ),
            ApiError::Unauthorized => Failure::bare(
                EX_NOPERM,
                format!(
                    "Error: authentication failed for user \"{}\" at {root}: the user name or password is wrong",
                    self.settings.user
                ),
            ),
            ApiError::Forbidden(reason) => Failure::new(
                EX_NOPERM,
                format!("User \"{}\" is not permitted to do this: {reason}", self.settings.user),
            ),
            ApiError::NotFound => Failure::new(EX_UNAVAILABLE, "Object not found"),
            ApiError::Rejected { status: 405, .. } => Failure::new(
                EX_UNAVAILABLE,
                format!("The management API at {root} does not support this operation (405 Method Not Allowed)"),
            ),
            ApiError::Rejected { reason, .. } => Failure::new(EX_UNAVAILABLE, reason),
            ApiError::Invalid(what) => {
                Failure::new(EX_SOFTWARE, format!("The management API at {root} returned {what}"))
            }
        }
    }

    /// Like [`Ctx::fail`], with `missing` for a 404.
    pub fn fail_or(&self, error: ApiError, missing: impl FnOnce() -> Failure) -> Failure {
        match error {
            ApiError::NotFound => missing(),
            other => self.fail(other),
        }
    }

    /// GET `path`, a 404 becoming `missing`.
    pub fn get_or(&self, path: &str, missing: impl FnOnce() -> Failure) -> Outcome<Value> {
        self.client.get(path).map_err(|e| self.fail_or(e, missing))
    }

    /// Whether the object at `path` exists.
    pub fn exists(&self, path: &str) -> Outcome<bool> {
        match self.client.get(path) {
            Ok(_) => Ok(true),
            Err(ApiError::NotFound) => Ok(false),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// The `list_*` verbs: banner, GET, the chosen columns of each object.
    pub fn list(&self, listing: Listing<'_>) -> Outcome {
        let columns = columns::select(listing.offered, listing.defaults, listing.asked)?;
        for line in &listing.banner {
            self.out.info(line);
        }
        let objects = self.get_or(&listing.path, || listing.missing)?;
        self.out.table(&columns::table(&columns, &objects));
        Ok(())
    }
}

/// One `list_*` verb's request.
pub struct Listing<'a> {
    pub banner: Vec<String>,
    pub path: String,
    pub offered: &'static [Column],
    pub defaults: &'static [&'static str],
    pub asked: &'a [String],
    /// What a 404 means (usually: the vhost does not exist).
    pub missing: Failure,
}

/// A 404 for a path that names a whole collection, not an object: this broker's
/// API does not have it (e.g. an older or partial implementation).
pub fn unsupported(ctx: &Ctx, path: &str) -> Failure {
    Failure::new(
        EX_UNAVAILABLE,
        format!(
            "The management API at {} does not serve {path} (404 Not Found)",
            ctx.client.root()
        ),
    )
}

/// rabbitmqctl's message when a vhost-scoped listing names a vhost that is not there.
pub fn missing_vhost(vhost: &str) -> Failure {
    Failure::bare(
        crate::failure::EX_DATAERR,
        format!("Virtual host '{vhost}' does not exist"),
    )
}

pub fn run(command: Command, ctx: &Ctx) -> Outcome {
    if ctx.vhost().is_empty() {
        return Err(Failure::usage("vhost name cannot be empty string."));
    }
    if let Some((what, _)) = command.names().into_iter().find(|(_, v)| v.is_empty()) {
        return Err(Failure::usage(format!("{what} cannot be empty string.")));
    }
    use Command as C;
    match command {
        C::Status => node::status(ctx),
        C::AwaitStartup => node::await_startup(ctx),
        C::ListQueues { columns } => queues::list(ctx, &columns),
        C::PurgeQueue { name } => queues::purge(ctx, &name),
        C::DeleteQueue {
            name,
            if_empty,
            if_unused,
        } => queues::delete(ctx, &name, if_empty, if_unused),
        C::ListExchanges { columns } => exchanges::list(ctx, &columns),
        C::ListBindings { columns } => exchanges::list_bindings(ctx, &columns),
        C::ListConnections { columns } => sessions::list_connections(ctx, &columns),
        C::ListChannels { columns } => sessions::list_channels(ctx, &columns),
        C::ListConsumers { columns } => sessions::list_consumers(ctx, &columns),
        C::ListDeliveryRecords {
            message_id,
            queue,
            columns,
        } => records::list(ctx, &message_id, queue.as_deref(), &columns),
        C::CloseConnection { name, explanation } => sessions::close(ctx, &name, &explanation),
        C::ListUsers { columns } => users::list(ctx, &columns),
        C::AddUser { name, new_password } => users::add(ctx, &name, &new_password),
        C::DeleteUser { name } => users::delete(ctx, &name),
        C::ChangePassword { name, new_password } => {
            users::change_password(ctx, &name, &new_password)
        }
        C::SetUserTags { name, tags } => users::set_tags(ctx, &name, &tags),
        C::ListVhosts { columns } => vhosts::list(ctx, &columns),
        C::AddVhost {
            name,
            description,
            tags,
        } => vhosts::add(ctx, &name, description.as_deref(), tags.as_deref()),
        C::DeleteVhost { name } => vhosts::delete(ctx, &name),
        C::TraceOn => vhosts::set_tracing(ctx, true),
        C::TraceOff => vhosts::set_tracing(ctx, false),
        C::SetPermissions {
            username,
            configure,
            write,
            read,
        } => permissions::set(ctx, &username, [&configure, &write, &read]),
        C::ClearPermissions { username } => permissions::clear(ctx, &username),
        C::ListPermissions { columns } => permissions::list(ctx, &columns),
        C::ListUserPermissions { username, columns } => {
            permissions::list_for_user(ctx, &username, &columns)
        }
        C::SetPolicy {
            name,
            pattern,
            definition,
            priority,
            apply_to,
        } => policies::set(ctx, &name, &pattern, &definition, priority, apply_to),
        C::ClearPolicy { name } => policies::clear(ctx, &name),
        C::ListPolicies { columns } => policies::list(ctx, &columns),
        C::ExportDefinitions { path } => definitions::export(ctx, &path),
        C::ImportDefinitions { path } => definitions::import(ctx, &path),
    }
}
