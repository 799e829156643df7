//! `purge_queue` and `delete_queue`, checked over AMQP, and queue names that need
//! escaping.

use crate::harness::{broker, broker_serving, unique, Amqp, Cleanup, QUEUE_DELETE};

#[test]
fn purge_queue_empties_the_queue() {
    let Some(b) = broker() else { return };
    let q = unique("purge");
    let amqp = Amqp::connect(b, &q);
    amqp.declare(&q, false, Default::default());
    let _cleanup = Cleanup(|| amqp.delete_queue(&q));
    amqp.publish(&q, 3);
    let run = b.ctl_until(&["-q", "list_queues"], |out| {
        out.contains(&format!("{q}\t3\n"))
    });
    assert!(run.lines().contains(&format!("{q}\t3").as_str()), "{run:?}");

    let run = b.ctl(&["purge_queue", &q]);
    assert_eq!(run.ok(), format!("Purging queue '{q}' in vhost '/' ...\n"));
    assert_eq!(amqp.message_count(&q), 0);
    let run = b.ctl_until(&["-q", "list_queues"], |out| {
        out.contains(&format!("{q}\t0\n"))
    });
    assert!(run.lines().contains(&format!("{q}\t0").as_str()), "{run:?}");
}

#[test]
fn delete_queue_reports_how_many_messages_went_with_it() {
    let Some(b) = broker_serving(&[QUEUE_DELETE]) else {
        return;
    };
    let q = unique("delete");
    let amqp = Amqp::connect(b, &q);
    amqp.declare(&q, false, Default::default());
    let _cleanup = Cleanup(|| amqp.delete_queue(&q));
    amqp.publish(&q, 2);
    b.ctl_until(&["-q", "list_queues"], |out| {
        out.contains(&format!("{q}\t2\n"))
    });

    let run = b.ctl(&["delete_queue", "--if-empty", &q]);
    assert_eq!(run.fails(64), "Error:\nQueue is not empty\n");
    assert_eq!(
        run.stdout,
        format!("Deleting queue '{q}' on vhost '/' if queue is empty ...\n")
    );
    assert_eq!(amqp.message_count(&q), 2, "the queue is still there");

    let run = b.ctl(&["delete_queue", &q]);
    assert_eq!(
        run.ok(),
        format!("Deleting queue '{q}' on vhost '/' ...\nQueue was successfully deleted with 2 ready messages\n")
    );
    assert!(!amqp.queue_exists(&q));

    let run = b.ctl(&["delete_queue", &q]);
    assert_eq!(run.fails(64), "Error:\nQueue not found\n");
    let run = b.ctl(&["purge_queue", &q]);
    assert_eq!(
        run.fails(69),
        format!("Error:\nQueue '{q}' in vhost '/' does not exist\n")
    );
}

#[test]
fn delete_queue_if_unused_keeps_a_queue_with_consumers() {
    let Some(b) = broker_serving(&[QUEUE_DELETE]) else {
        return;
    };
    let q = unique("delete-unused");
    let amqp = Amqp::connect(b, &q);
    amqp.declare(&q, false, Default::default());
    let _cleanup = Cleanup(|| amqp.delete_queue(&q));
    amqp.consume(&q, "holder");

    let run = b.ctl(&["delete_queue", "-u", "-e", &q]);
    assert_eq!(
        run.stdout,
        format!("Deleting queue '{q}' on vhost '/' if queue is empty and if queue is unused ...\n")
    );
    assert_eq!(run.fails(64), "Error:\nQueue is in use\n");
    assert!(amqp.queue_exists(&q));
}

#[test]
fn queue_names_that_need_escaping_work() {
    let Some(b) = broker_serving(&[QUEUE_DELETE]) else {
        return;
    };
    let q = format!("{} a/b #1?x=ü%2F", unique("odd-queue"));
    let amqp = Amqp::connect(b, "odd-queue");
    amqp.declare(&q, false, Default::default());
    let _cleanup = Cleanup(|| amqp.delete_queue(&q));
    amqp.publish(&q, 1);

    let run = b.ctl_until(&["-q", "list_queues"], |out| {
        out.contains(&format!("{q}\t1\n"))
    });
    assert!(run.lines().contains(&format!("{q}\t1").as_str()), "{run:?}");
    b.ctl(&["purge_queue", &q]).ok();
    assert_eq!(amqp.message_count(&q), 0);
    b.ctl_until(&["-q", "list_queues"], |out| {
        out.contains(&format!("{q}\t0\n"))
    });
    // -q and -s keep the result line, as with rabbitmqctl.
    assert_eq!(
        b.ctl(&["-s", "delete_queue", &q]).ok(),
        "Queue was successfully deleted with 0 ready messages\n"
    );
    assert!(!amqp.queue_exists(&q));
}

#[test]
fn empty_names_are_usage_errors() {
    let Some(b) = broker() else { return };
    let run = b.ctl(&["delete_queue", ""]);
    assert_eq!(
        run.fails(64),
        "Error:\nqueue name cannot be empty string.\n"
    );
    assert_eq!(run.stdout, "", "nothing was attempted");
    // An empty vhost would make the path name every vhost's queues.
    let run = b.ctl(&["list_queues", "-p", ""]);
    assert_eq!(
        run.fails(64),
        "Error:\nvhost name cannot be empty string.\n"
    );
    assert_eq!(run.stdout, "");
    let run = b.ctl(&["delete_user", ""]);
    assert_eq!(run.fails(64), "Error:\nuser name cannot be empty string.\n");
}
