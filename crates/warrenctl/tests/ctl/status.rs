//! `status`.

use crate::harness::broker;
use serde_json::Value;

#[test]
fn status_names_the_node_and_reports_totals() {
    let Some(b) = broker() else { return };
    let run = b.ctl(&["status"]);
    let lines = run.lines();
    assert!(
        lines[0].starts_with("Status of node ") && lines[0].ends_with(" ..."),
        "{run:?}"
    );
    assert_eq!(&lines[1..3], ["Runtime", ""], "{run:?}");
    assert!(run.stdout.contains("\nAlarms\n\n"), "{run:?}");
    assert!(run.stdout.contains("\nTotals\n\n"), "{run:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("Queue count: ")),
        "{run:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("Virtual host count: ")),
        "{run:?}"
    );

    let quiet = b.ctl(&["-q", "status"]);
    assert!(quiet.ok().starts_with("Runtime\n"), "{quiet:?}");

    let json: Value = serde_json::from_str(b.ctl(&["status", "--formatter", "json"]).ok()).unwrap();
    let node = json["node_name"].as_str().expect("node_name");
    assert!(lines[0].contains(node), "{run:?}");
    assert!(json["totals"]["queue_count"].is_u64(), "{json}");
}
