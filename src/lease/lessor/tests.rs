//! The lessor's timing on tokio's paused clock: when a renewal is due, when
//! a lease is presumed lost, when a member is taken for hung. The task is
//! driven step by step (send, answer, check, expire) on a real stream to a
//! loopback server that never answers, so every answer is the test's own.

use super::*;
use crate::config::Config;

const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);

/// A loopback HTTP/2 server that accepts every stream and never answers.
async fn silent_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::handshake(socket).await else { return };
                let mut held = Vec::new();
                while let Some(Ok(stream)) = connection.accept().await {
                    held.push(stream);
                }
            });
        }
    });
    endpoint
}

/// A task whose keepalive stream is up, with the clock paused afterwards
/// (connecting needs the real one: a paused clock jumps while sockets wait).
async fn task_with_stream() -> Task {
    let config = Config::new([silent_server().await]).no_keepalive();
    let transport = Transport::connect(&config).await.unwrap();
    let (_commands, inbox) = mpsc::unbounded_channel();
    let mut task = Task::new(transport, inbox, Arc::default());
    let (sink, source) = task.core.open(Duration::ZERO, None).await.unwrap();
    task.link = Link::Up { sink, source };
    tokio::time::pause();
    task
}

/// Holds lease `id` as a caller would; the receiver keeps it held.
fn hold(task: &mut Task, id: i64, first_answer_within: Duration) -> watch::Receiver<LeaseState> {
    let (reply, mut answer) = oneshot::channel();
    task.command(Command::Hold { id, first_answer_within, reply }, Instant::now());
    answer.try_recv().unwrap()
}

/// The server's answer for `id` with `ttl` seconds.
fn keepalive_answer(id: i64, ttl: i64) -> RawLeaseKeepAliveResponse {
    RawLeaseKeepAliveResponse { id, ttl, ..Default::default() }
}

/// Moves the paused clock on by `by` and returns the new now.
async fn advance(by: Duration) -> Instant {
    tokio::time::advance(by).await;
    Instant::now()
}

/// Why the lease is gone; panics while it is not.
fn loss(state: &watch::Receiver<LeaseState>) -> Error {
    match state.borrow().clone() {
        LeaseState::Lost(e) => e,
        other => panic!("the lease is not lost: {other:?}"),
    }
}

fn entry(task: &Task, id: i64) -> &Entry {
    task.leases.get(&id).unwrap()
}

#[test]
fn renewal_period_and_answer_window_follow_the_ttl() {
    let now = Instant::now();
    let mut entry = Entry::new(now, 5 * SECOND);
    // Before the first answer: renew every second, wait 2 s for an answer.
    assert_eq!((entry.next_send, entry.deadline), (now, now + 5 * SECOND));
    assert_eq!((entry.period(), entry.answer_within()), (SECOND, 2 * SECOND));
    // A third of the TTL; a quarter of it, within 0.5 s to 2 s.
    for (ttl, period, window) in [
        (1, 333 * MS + Duration::from_nanos(333_333), 500 * MS),
        (3, SECOND, 750 * MS),
        (4, 4 * SECOND / 3, SECOND),
        (60, 20 * SECOND, 2 * SECOND),
    ] {
        entry.ttl = Some(Duration::from_secs(ttl));
        assert_eq!((entry.period(), entry.answer_within()), (period, window), "TTL {ttl}s");
    }
}

#[test]
fn a_first_answer_window_too_large_to_add_does_not_panic() {
    let now = Instant::now();
    let entry = Entry::new(now, Duration::MAX);
    assert!(entry.deadline > now + Duration::from_secs(365 * 24 * 3600));
}

#[tokio::test]
async fn a_renewal_is_due_a_third_of_the_ttl_after_the_answered_one_was_sent() {
    let mut task = task_with_stream().await;
    let state = hold(&mut task, 1, 5 * SECOND);
    let t0 = Instant::now();
    task.send_due(t0);
    assert_eq!(entry(&task, 1).in_flight, [t0]);

    // Answered 400 ms later: the next renewal is a third of the TTL after
    // the send, not after the answer, and the lease lives a TTL from then.
    let now = advance(400 * MS).await;
    task.answer(keepalive_answer(1, 3));
    assert!(matches!(*state.borrow(), LeaseState::Alive(ref r) if r.ttl == 3));
    let lease = entry(&task, 1);
    assert_eq!((lease.ttl, lease.next_send, lease.deadline), (Some(3 * SECOND), t0 + SECOND, t0 + 3 * SECOND));
    assert!(lease.in_flight.is_empty());
    assert_eq!(task.next_wake(now), t0 + SECOND);
    task.send_due(now);
    assert!(entry(&task, 1).in_flight.is_empty(), "renewed before it was due");

    // Due at t0 + 1 s; answered 900 ms after that send.
    let t1 = advance(600 * MS).await;
    assert_eq!(t1, t0 + SECOND);
    task.send_due(t1);
    assert_eq!(entry(&task, 1).in_flight, [t1]);
    assert_eq!(task.next_wake(t1), t1 + 750 * MS, "the answer window ends first");
    advance(700 * MS).await;
    task.answer(keepalive_answer(1, 3));
    let lease = entry(&task, 1);
    assert_eq!((lease.next_send, lease.deadline), (t1 + SECOND, t1 + 3 * SECOND));
}

#[tokio::test]
async fn a_lease_is_lost_once_its_ttl_passed_since_the_answered_send() {
    let mut task = task_with_stream().await;
    let state = hold(&mut task, 1, 5 * SECOND);
    let t0 = Instant::now();
    task.send_due(t0);
    advance(500 * MS).await;
    task.answer(keepalive_answer(1, 3));

    // Nothing answered after that: the deadline counts from the send.
    let almost = advance(2499 * MS).await;
    task.expire(almost);
    assert!(matches!(*state.borrow(), LeaseState::Alive(_)), "lost before its TTL passed");
    let at_ttl = advance(MS).await;
    assert_eq!(at_ttl, t0 + 3 * SECOND);
    task.expire(at_ttl);
    assert!(task.leases.is_empty());
    let e = loss(&state);
    assert_eq!(e.kind(), ErrorKind::DeadlineExceeded, "{e}");
}

#[tokio::test]
async fn no_first_answer_within_its_window_loses_the_lease() {
    let mut task = task_with_stream().await;
    let state = hold(&mut task, 1, 1500 * MS);
    let t0 = Instant::now();
    task.send_due(t0);
    task.expire(advance(1499 * MS).await);
    assert!(matches!(*state.borrow(), LeaseState::Starting));
    task.expire(advance(MS).await);
    let e = loss(&state);
    assert_eq!(e.kind(), ErrorKind::DeadlineExceeded, "{e}");
    assert!(e.message().contains("first keepalive"), "{e}");
}

#[tokio::test]
async fn an_unanswered_request_means_a_hung_member() {
    let mut task = task_with_stream().await;
    let _state = hold(&mut task, 1, 5 * SECOND);
    task.send_due(Instant::now());
    advance(100 * MS).await;
    task.answer(keepalive_answer(1, 4));

    // A TTL of 4 s: a renewal unanswered for 1 s means a hung member.
    let sent = advance(4 * SECOND / 3).await;
    task.send_due(sent);
    assert_eq!(entry(&task, 1).in_flight, [sent]);
    assert_eq!(task.next_wake(sent), sent + SECOND);
    task.check_answers(advance(999 * MS).await);
    assert!(matches!(task.link, Link::Up { .. }), "taken for hung before its window passed");
    let late = advance(MS).await;
    task.check_answers(late);

    // The stream is dropped; the renewal is asked again on the next one,
    // after the stream core's first pause (one endpoint: no quick pass).
    let Link::Down { retry_at } = task.link else { panic!("the hung stream was kept") };
    assert_eq!(retry_at, late + 50 * MS);
    let lease = entry(&task, 1);
    assert!(lease.in_flight.is_empty());
    assert_eq!(lease.next_send, late);
    assert_eq!(task.next_wake(late), retry_at);
    let error = task.last_error.as_ref().unwrap();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(error.message().contains("no keepalive answer"), "{error}");
}

#[tokio::test]
async fn a_ttl_the_server_raised_is_honoured() {
    let mut task = task_with_stream().await;
    let _state = hold(&mut task, 1, 5 * SECOND);
    task.send_due(Instant::now());
    advance(100 * MS).await;
    task.answer(keepalive_answer(1, 3));

    // The next renewal finds a TTL of 9 s (a server raises a TTL below its
    // minimum): renewals and the deadline follow it.
    let sent = advance(900 * MS).await;
    task.send_due(sent);
    advance(100 * MS).await;
    task.answer(keepalive_answer(1, 9));
    let lease = entry(&task, 1);
    assert_eq!(lease.ttl, Some(9 * SECOND));
    assert_eq!((lease.next_send, lease.deadline), (sent + 3 * SECOND, sent + 9 * SECOND));
    assert_eq!(lease.answer_within(), 2 * SECOND);
}

#[tokio::test]
async fn a_ttl_of_zero_means_the_lease_is_gone() {
    let mut task = task_with_stream().await;
    let state = hold(&mut task, 1, 5 * SECOND);
    task.send_due(Instant::now());
    advance(100 * MS).await;
    task.answer(keepalive_answer(1, 0));
    assert!(task.leases.is_empty());
    let e = loss(&state);
    assert_eq!(e.kind(), ErrorKind::LeaseNotFound, "{e}");
}

#[tokio::test]
async fn pipelined_renewals_time_each_answer_by_its_own_send() {
    let mut task = task_with_stream().await;
    let _state = hold(&mut task, 1, 5 * SECOND);
    // No answer yet: a second renewal goes out after the first-answer
    // period, while the first is still in flight.
    let t0 = Instant::now();
    task.send_due(t0);
    let t1 = advance(SECOND).await;
    task.send_due(t1);
    assert_eq!(entry(&task, 1).in_flight, [t0, t1]);

    // etcd answers in order: the first answer is timed by the first send,
    // and the renewal due from the second send stays.
    advance(200 * MS).await;
    task.answer(keepalive_answer(1, 3));
    let lease = entry(&task, 1);
    assert_eq!((lease.deadline, lease.next_send), (t0 + 3 * SECOND, t1 + SECOND));
    task.answer(keepalive_answer(1, 3));
    let lease = entry(&task, 1);
    assert_eq!((lease.deadline, lease.next_send), (t1 + 3 * SECOND, t1 + SECOND));
    assert!(lease.in_flight.is_empty());
}

#[tokio::test]
async fn a_caller_patience_too_large_to_add_does_not_panic_the_task() {
    let mut task = task_with_stream().await;
    let _state = hold(&mut task, 1, Duration::MAX);
    let now = Instant::now();
    task.send_due(now);
    assert_eq!(task.next_wake(now), now + SECOND);
    task.check_answers(now);
    task.expire(now);
    assert_eq!(task.leases.len(), 1);
}

#[tokio::test]
async fn a_refusal_no_reopening_fixes_ends_only_the_leases_still_starting() {
    let mut task = task_with_stream().await;
    let alive = hold(&mut task, 1, 5 * SECOND);
    task.send_due(Instant::now());
    advance(100 * MS).await;
    task.answer(keepalive_answer(1, 6));
    let starting = hold(&mut task, 2, 5 * SECOND);

    // Its caller hears the refusal now, not at its deadline; the lease
    // already alive keeps trying until its TTL runs out.
    let now = advance(100 * MS).await;
    let refusal = Error::from_grpc(crate::error::GrpcCode::PermissionDenied, "etcdserver: permission denied");
    task.reset(refusal, now);
    assert_eq!(loss(&starting).kind(), ErrorKind::PermissionDenied);
    assert!(matches!(*alive.borrow(), LeaseState::Alive(_)));
    assert_eq!(task.leases.keys().collect::<Vec<_>>(), [&1]);
    let Link::Down { retry_at } = task.link else { panic!("the refused stream was kept") };
    assert_eq!(retry_at, now + 50 * MS);
}
