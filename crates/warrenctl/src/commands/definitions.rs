//! `export_definitions` and `import_definitions`: the broker's users, vhosts,
//! permissions, policies, exchanges, queues and bindings as one JSON document, in
//! the format RabbitMQ's management API reads and writes.

use super::Ctx;
use crate::failure::{Failure, Outcome, EX_CANTCREAT, EX_DATAERR, EX_NOINPUT};
use serde_json::Value;
use std::io::Read;

/// `-` means stdout or stdin, as with rabbitmqctl.
const STDIO: &str = "-";

pub fn export(ctx: &Ctx, path: &str) -> Outcome {
    if path != STDIO {
        ctx.out.info(&format!(
            "Exporting definitions in JSON to a file at \"{path}\" ..."
        ));
    }
    let definitions = ctx.client.get("definitions").map_err(|e| ctx.fail(e))?;
    let text = format!("{definitions}\n");
    if path == STDIO {
        ctx.out.document(&definitions);
        return Ok(());
    }
    std::fs::write(path, text)
        .map_err(|e| Failure::new(EX_CANTCREAT, format!("Could not write to \"{path}\": {e}")))
}

pub fn import(ctx: &Ctx, path: &str) -> Outcome {
    let text = if path == STDIO {
        ctx.out
            .info("Importing definitions in JSON from standard input ...");
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::new(EX_NOINPUT, format!("Could not read standard input: {e}")))?;
        text
    } else {
        ctx.out.info(&format!(
            "Importing definitions in JSON from a file at \"{path}\" ..."
        ));
        std::fs::read_to_string(path)
            .map_err(|e| Failure::new(EX_NOINPUT, format!("Could not read \"{path}\": {e}")))?
    };
    let definitions: Value = serde_json::from_str(&text)
        .map_err(|e| Failure::new(EX_DATAERR, format!("JSON decoding error. Reason: {e}")))?;
    if !definitions.is_object() {
        return Err(Failure::new(
            EX_DATAERR,
            "JSON decoding error. Reason: definitions must be a JSON object",
        ));
    }
    ctx.client
        .post("definitions", &definitions)
        .map_err(|e| ctx.fail(e))?;
    ctx.out.info("Successfully imported definitions.");
    Ok(())
}
