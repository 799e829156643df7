//! `warrenctl`: rabbitmqctl's verbs over the management HTTP API, for Warren and
//! RabbitMQ alike.

mod basic_auth;
mod cli;
mod client;
mod commands;
mod config;
mod failure;
mod output;
mod path;

use clap::error::ErrorKind;
use clap::Parser;
use cli::Cli;
use failure::{Failure, EX_USAGE};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => exit(EX_USAGE),
            };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            exit(failure.code)
        }
    }
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn run(cli: Cli) -> Result<(), Failure> {
    let timeout = match cli.timeout {
        None => None,
        Some(secs) => Some(
            Duration::try_from_secs_f64(secs)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    Failure::usage(format!(
                        "--timeout must be a positive number of seconds, not {secs}"
                    ))
                })?,
        ),
    };
    let overrides = config::Overrides {
        host: cli.host,
        port: cli.port,
        user: cli.user,
        password: cli.password,
        vhost: cli.vhost,
        timeout,
        config: cli.config,
    };
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let settings = config::resolve(overrides, home.as_deref())?;
    let ctx = commands::Ctx {
        client: client::Client::new(&settings, settings.timeout),
        out: output::Output {
            formatter: cli.formatter,
            quiet: cli.quiet,
            silent: cli.silent,
            no_headers: cli.no_table_headers,
        },
        settings,
        explicit_timeout: timeout,
    };
    commands::run(cli.command, &ctx)
}
