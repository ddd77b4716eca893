//! Go's simpler recipes against real etcd: a barrier releases all its
//! waiters at once, and a queue hands each value to exactly one consumer,
//! oldest first.
#![cfg(feature = "testkit")]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use etcd_raw::concurrency::{Barrier, Queue};
use support::{shared_client, TestResult};

const QUICK: Duration = Duration::from_secs(5);
const STILL: Duration = Duration::from_millis(300);

#[tokio::test]
async fn a_barrier_blocks_its_waiters_until_released() -> TestResult {
    let (client, p) = shared_client("barrier").await?;
    let barrier = Barrier::new(&client, format!("{p}barrier"));
    tokio::time::timeout(QUICK, barrier.wait()).await??; // not held: no wait
    assert!(barrier.hold().await?);
    assert!(!barrier.hold().await?, "held twice");

    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let barrier = Barrier::new(&client, barrier.key().clone());
            tokio::spawn(async move { barrier.wait().await })
        })
        .collect();
    tokio::time::sleep(STILL).await;
    assert!(waiters.iter().all(|w| !w.is_finished()), "a waiter passed a held barrier");
    barrier.release().await?;
    for waiter in waiters {
        tokio::time::timeout(QUICK, waiter).await???;
    }
    barrier.release().await?; // releasing twice is fine
    Ok(())
}

#[tokio::test]
async fn a_queue_is_first_in_first_out_and_waits_when_empty() -> TestResult {
    let (client, p) = shared_client("queue_fifo").await?;
    let queue = Queue::new(&client, format!("{p}jobs"));
    for job in ["a", "b", "c"] {
        queue.enqueue(job).await?;
    }
    for job in ["a", "b", "c"] {
        assert_eq!(queue.dequeue().await?, job);
    }

    let consumer = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.dequeue().await })
    };
    tokio::time::sleep(STILL).await;
    assert!(!consumer.is_finished(), "dequeued from an empty queue");
    queue.enqueue("late").await?;
    assert_eq!(tokio::time::timeout(QUICK, consumer).await???, "late");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contending_consumers_take_each_value_once() -> TestResult {
    const PRODUCERS: usize = 3;
    const ITEMS: usize = 30;
    let (client, p) = shared_client("queue_contention").await?;
    let name = format!("{p}jobs");
    let mut tasks = Vec::new();
    for c in 0..3 {
        let queue = Queue::new(&client, name.clone());
        tasks.push(tokio::spawn(async move {
            let mut taken = Vec::new();
            for _ in 0..ITEMS {
                taken.push(String::from_utf8(queue.dequeue().await?.to_vec()).map_err(|e| e.to_string())?);
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((c, taken))
        }));
    }
    let mut producers = Vec::new();
    for t in 0..PRODUCERS {
        let queue = Queue::new(&client, name.clone());
        producers.push(tokio::spawn(async move {
            for i in 0..ITEMS {
                queue.enqueue(format!("{t}-{i:03}")).await?;
            }
            Ok::<_, etcd_raw::Error>(())
        }));
    }
    for producer in producers {
        producer.await??;
    }
    let mut all = BTreeSet::new();
    for task in tasks {
        let (c, taken) = tokio::time::timeout(Duration::from_secs(60), task)
            .await?
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        // One producer's values reach any one consumer in the order sent.
        for t in 0..PRODUCERS {
            let mine: Vec<_> = taken.iter().filter(|v| v.starts_with(&format!("{t}-"))).collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "consumer {c} got producer {t}'s out of order: {mine:?}");
        }
        for value in taken {
            assert!(all.insert(value.clone()), "{value} was taken twice");
        }
    }
    assert_eq!(all.len(), PRODUCERS * ITEMS, "a value was lost");
    assert_eq!(client.get(format!("{name}/")).prefix().count_only().await?.count(), 0);
    Ok(())
}
