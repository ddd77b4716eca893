//! Client memory around many watches, counted by this binary's allocator.
//! A binary of its own, so no other test's allocations are counted.
#![cfg(feature = "testkit")]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use etcd_raw::testkit::Etcd;
use etcd_raw::Client;
use support::TestResult;

/// The system allocator, keeping count of the bytes currently allocated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_watches_dropped_give_their_memory_back() -> TestResult {
    let etcd = Etcd::start()?;
    let client = Client::connect([etcd.endpoint()]).await?;
    // Warm up: the connection, the watch task and its stream exist once.
    drop(client.watch("warm").await?);
    client.put("warm", "v").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let baseline = live();

    let mut watches = Vec::new();
    for i in 0..5000 {
        watches.push(client.watch(format!("many/{i}")).await?);
    }
    // Half of them on one key, as a burst of identical watches.
    for _ in 0..5000 {
        watches.push(client.watch("many/same").await?);
    }
    let grown = live() - baseline;
    drop(watches);

    // Everything the watches held is freed once the watch task has seen
    // the drops; what may remain is a few reusable buffers.
    let slack = 64 * 1024;
    let deadline = Instant::now() + Duration::from_secs(2);
    while live() - baseline > slack {
        assert!(
            Instant::now() < deadline,
            "{} bytes still held (of {grown} grown) 2 s after dropping 10,000 watches",
            live() - baseline
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(grown > 4 * slack, "the watches held only {grown} bytes: the count is not measuring them");
    eprintln!("watch memory: grew {grown} bytes, {} bytes left after the drop", live() - baseline);
    Ok(())
}
