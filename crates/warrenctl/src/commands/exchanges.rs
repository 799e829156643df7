//! `list_exchanges`, `list_bindings`.

use super::columns::{col, same, Column, Field};
use super::{missing_vhost, Ctx, Listing};
use crate::failure::Outcome;
use crate::path::api_path;

const EXCHANGE_COLUMNS: &[Column] = &[
    same("name", "/name"),
    same("type", "/type"),
    same("durable", "/durable"),
    same("auto_delete", "/auto_delete"),
    same("internal", "/internal"),
    same("arguments", "/arguments"),
    same("policy", "/policy"),
    same("vhost", "/vhost"),
];

/// rabbitmqctl's binding info keys over the API's names for them.
const BINDING_COLUMNS: &[Column] = &[
    col("source_name", Field::At("/source")),
    col("source_kind", Field::Fixed("exchange")),
    col("destination_name", Field::At("/destination")),
    col("destination_kind", Field::At("/destination_type")),
    same("routing_key", "/routing_key"),
    same("arguments", "/arguments"),
    same("vhost", "/vhost"),
];

pub fn list(ctx: &Ctx, asked: &[String]) -> Outcome {
    let vhost = ctx.vhost();
    ctx.list(Listing {
        banner: vec![format!("Listing exchanges for vhost {vhost} ...")],
        path: api_path(&["exchanges", vhost]),
        offered: EXCHANGE_COLUMNS,
        defaults: &["name", "type"],
        asked,
        missing: missing_vhost(vhost),
    })
}

pub fn list_bindings(ctx: &Ctx, asked: &[String]) -> Outcome {
    let vhost = ctx.vhost();
    ctx.list(Listing {
        banner: vec![format!("Listing bindings for vhost {vhost}...")],
        path: api_path(&["bindings", vhost]),
        offered: BINDING_COLUMNS,
        defaults: &[
            "source_name",
            "source_kind",
            "destination_name",
            "destination_kind",
            "routing_key",
            "arguments",
        ],
        asked,
        missing: missing_vhost(vhost),
    })
}
