//! The command line: rabbitmqctl's verbs and their arguments, and the options every
//! verb takes (where to connect, how to print). Each connection option has a
//! `WARRENCTL_*` environment twin.

use crate::output::Formatter;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "warrenctl",
    version,
    about = "Manage Warren (or RabbitMQ) over the management HTTP API, with rabbitmqctl's verbs"
)]
pub struct Cli {
    /// Management API host.
    #[arg(long, global = true, env = "WARRENCTL_HOST")]
    pub host: Option<String>,
    /// Management API port [default: 15672].
    #[arg(long, global = true, env = "WARRENCTL_PORT")]
    pub port: Option<u16>,
    /// User to authenticate as [default: guest].
    #[arg(long, alias = "username", global = true, env = "WARRENCTL_USER")]
    pub user: Option<String>,
    /// Password [default: guest].
    #[arg(
        long,
        global = true,
        env = "WARRENCTL_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
    /// Virtual host the verb acts on [default: /].
    #[arg(short = 'p', long, global = true, env = "WARRENCTL_VHOST")]
    pub vhost: Option<String>,
    /// Config file [default: ~/.warrenctl.toml, if present].
    #[arg(long, global = true, env = "WARRENCTL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Seconds to wait for each request (await_startup: for the broker) [default: 60; await_startup: 300].
    #[arg(
        short = 't',
        long,
        global = true,
        env = "WARRENCTL_TIMEOUT",
        value_name = "SECONDS"
    )]
    pub timeout: Option<f64>,
    /// Output format.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "tsv",
        env = "WARRENCTL_FORMATTER"
    )]
    pub formatter: Formatter,
    /// Leave out informational lines ("Listing queues ...").
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
    /// Leave out informational lines and table headers.
    #[arg(short = 's', long, global = true)]
    pub silent: bool,
    /// Leave out table headers.
    #[arg(long, global = true)]
    pub no_table_headers: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Verb names are rabbitmqctl's (snake_case); their options keep kebab-case, as
/// rabbitmqctl spells them (`--apply-to`, `--if-empty`).
///
/// No verb argument may share an id with a global option (`user`, `password`, ...):
/// clap would let the one overwrite the other.
#[derive(Subcommand, Debug)]
#[command(rename_all = "snake_case")]
pub enum Command {
    /// Displays the broker's status.
    Status,
    /// Waits until the management API answers (up to --timeout seconds, default 300).
    AwaitStartup,
    /// Lists queues and their properties [default columns: name messages].
    ListQueues { columns: Vec<String> },
    /// Lists exchanges [default columns: name type].
    ListExchanges { columns: Vec<String> },
    /// Lists bindings in a vhost.
    ListBindings { columns: Vec<String> },
    /// Lists client connections [default columns: user peer_host peer_port state].
    ListConnections { columns: Vec<String> },
    /// Lists channels [default columns: pid user consumer_count messages_unacknowledged].
    ListChannels { columns: Vec<String> },
    /// Lists consumers in a vhost.
    ListConsumers { columns: Vec<String> },
    /// Lists what a Warren queue with delivery records recorded of one message
    /// (published, delivered, acked ...) [default columns: time queue event user peer
    /// consumer_tag reason].
    ListDeliveryRecords {
        message_id: String,
        /// Only the records of this queue.
        #[arg(long = "queue")]
        queue: Option<String>,
        columns: Vec<String>,
    },
    /// Lists users and their tags.
    ListUsers { columns: Vec<String> },
    /// Creates a user (with no permissions).
    AddUser {
        name: String,
        #[arg(allow_hyphen_values = true, value_name = "PASSWORD")]
        new_password: String,
    },
    /// Deletes a user.
    DeleteUser { name: String },
    /// Changes a user's password.
    ChangePassword {
        name: String,
        #[arg(allow_hyphen_values = true, value_name = "PASSWORD")]
        new_password: String,
    },
    /// Replaces a user's tags (none clears them).
    SetUserTags { name: String, tags: Vec<String> },
    /// Lists virtual hosts [default columns: name].
    ListVhosts { columns: Vec<String> },
    /// Creates a virtual host.
    AddVhost {
        name: String,
        #[arg(long = "description")]
        description: Option<String>,
        /// Comma-separated.
        #[arg(long = "tags")]
        tags: Option<String>,
    },
    /// Deletes a virtual host and everything in it.
    DeleteVhost { name: String },
    /// Turns firehose tracing on in a vhost (-p): publishes and deliveries are
    /// copied to its amq.rabbitmq.trace exchange.
    TraceOn,
    /// Turns firehose tracing off in a vhost (-p).
    TraceOff,
    /// Sets a user's permissions in a vhost (-p).
    SetPermissions {
        #[arg(value_name = "USER")]
        username: String,
        #[arg(allow_hyphen_values = true)]
        configure: String,
        #[arg(allow_hyphen_values = true)]
        write: String,
        #[arg(allow_hyphen_values = true)]
        read: String,
    },
    /// Revokes a user's permissions in a vhost (-p).
    ClearPermissions {
        #[arg(value_name = "USER")]
        username: String,
    },
    /// Lists permissions in a vhost (-p).
    ListPermissions { columns: Vec<String> },
    /// Lists a user's permissions in every vhost.
    ListUserPermissions {
        #[arg(value_name = "USER")]
        username: String,
        columns: Vec<String>,
    },
    /// Sets or updates a policy in a vhost (-p).
    SetPolicy {
        name: String,
        #[arg(allow_hyphen_values = true)]
        pattern: String,
        /// A JSON object, e.g. '{"max-length":10}'.
        #[arg(allow_hyphen_values = true)]
        definition: String,
        #[arg(long = "priority", default_value_t = 0, allow_negative_numbers = true)]
        priority: i64,
        #[arg(long = "apply-to", value_enum, default_value = "all")]
        apply_to: ApplyTo,
    },
    /// Clears (removes) a policy.
    ClearPolicy { name: String },
    /// Lists policies in a vhost (-p).
    ListPolicies { columns: Vec<String> },
    /// Closes a connection, by its name as list_connections name shows it.
    CloseConnection {
        name: String,
        #[arg(allow_hyphen_values = true)]
        explanation: String,
    },
    /// Removes every ready message from a queue.
    PurgeQueue { name: String },
    /// Deletes a queue.
    DeleteQueue {
        name: String,
        /// Only if the queue has no messages.
        #[arg(short = 'e', long = "if-empty", alias = "if_empty")]
        if_empty: bool,
        /// Only if the queue has no consumers.
        #[arg(short = 'u', long = "if-unused", alias = "if_unused")]
        if_unused: bool,
    },
    /// Writes the broker's definitions as JSON to PATH (- for stdout).
    ExportDefinitions { path: String },
    /// Reads definitions as JSON from PATH (- for stdin) and creates what they name.
    ImportDefinitions { path: String },
}

impl Command {
    /// The names this verb acts on, which may not be empty: an empty segment would
    /// make the API path name a collection instead (`queues/%2F/` lists every queue).
    pub fn names(&self) -> Vec<(&'static str, &str)> {
        use Command as C;
        match self {
            C::AddUser { name, .. }
            | C::DeleteUser { name }
            | C::ChangePassword { name, .. }
            | C::SetUserTags { name, .. } => vec![("user name", name)],
            C::SetPermissions { username, .. }
            | C::ClearPermissions { username }
            | C::ListUserPermissions { username, .. } => vec![("user name", username)],
            C::AddVhost { name, .. } | C::DeleteVhost { name } => vec![("vhost name", name)],
            C::SetPolicy { name, .. } | C::ClearPolicy { name } => vec![("policy name", name)],
            C::CloseConnection { name, .. } => vec![("connection name", name)],
            C::PurgeQueue { name } | C::DeleteQueue { name, .. } => vec![("queue name", name)],
            C::ListDeliveryRecords { message_id, .. } => vec![("message id", message_id)],
            C::ExportDefinitions { path } | C::ImportDefinitions { path } => vec![("path", path)],
            _ => Vec::new(),
        }
    }
}

/// Which objects a policy applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ApplyTo {
    Queues,
    Exchanges,
    All,
}

impl ApplyTo {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyTo::Queues => "queues",
            ApplyTo::Exchanges => "exchanges",
            ApplyTo::All => "all",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn verb_arguments_do_not_overwrite_connection_options() {
        let cli = Cli::try_parse_from([
            "warrenctl",
            "--user",
            "admin",
            "--password",
            "secret",
            "add_user",
            "bob",
            "bobs",
        ])
        .unwrap();
        assert_eq!(
            (cli.user.as_deref(), cli.password.as_deref()),
            (Some("admin"), Some("secret"))
        );
        match cli.command {
            Command::AddUser { name, new_password } => {
                assert_eq!((name.as_str(), new_password.as_str()), ("bob", "bobs"))
            }
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from([
            "warrenctl",
            "--user",
            "admin",
            "set_permissions",
            "bob",
            "a",
            "b",
            "c",
        ])
        .unwrap();
        assert_eq!(cli.user.as_deref(), Some("admin"));
    }

    #[test]
    fn options_are_spelled_as_rabbitmqctl_spells_them() {
        let cli = Cli::try_parse_from([
            "warrenctl",
            "set_policy",
            "--apply-to",
            "queues",
            "--priority",
            "-1",
            "p",
            "^q",
            "{}",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::SetPolicy {
                priority: -1,
                apply_to: ApplyTo::Queues,
                ..
            }
        ));
        let cli = Cli::try_parse_from([
            "warrenctl",
            "delete_queue",
            "--if-empty",
            "--if_unused",
            "q",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::DeleteQueue {
                if_empty: true,
                if_unused: true,
                ..
            }
        ));
    }

    #[test]
    fn vhost_goes_before_or_after_the_verb() {
        let before = Cli::try_parse_from(["warrenctl", "-p", "v", "list_queues", "name"]).unwrap();
        let after = Cli::try_parse_from(["warrenctl", "list_queues", "-p", "v", "name"]).unwrap();
        assert_eq!(before.vhost.as_deref(), Some("v"));
        assert_eq!(after.vhost.as_deref(), Some("v"));
    }
}
