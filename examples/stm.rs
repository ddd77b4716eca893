//! Moves money between accounts from several tasks at once with the STM
//! (Go's `concurrency.NewSTM`): every transfer reads two balances and
//! writes both, and runs again whenever another transfer got there first,
//! so the total never changes.
//!
//! ```sh
//! ETCDCTL_ENDPOINTS=http://127.0.0.1:2379 cargo run --example stm
//! ```
//!
//! It works under the key prefix `example/stm/` and deletes it at the end.

use bytes::Bytes;
use etcd_raw::concurrency::{Stm, StmTx};
use etcd_raw::{Client, Config};

const ACCOUNTS: usize = 5;

fn account(a: usize) -> String {
    format!("example/stm/account/{a}")
}

fn balance(value: Option<Bytes>) -> i64 {
    value.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()).unwrap_or(0)
}

/// A transfer the closure refuses: nothing is written.
#[derive(Debug)]
enum Refused {
    Etcd(etcd_raw::Error),
    Overdrawn,
}

impl From<etcd_raw::Error> for Refused {
    fn from(e: etcd_raw::Error) -> Self {
        Refused::Etcd(e)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::new(Config::from_env()?).await?;
    for a in 0..ACCOUNTS {
        client.put(account(a), "100").await?;
    }

    let mut tasks = Vec::new();
    for t in 0..4 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let (mut done, mut refused, mut attempts) = (0, 0, 0);
            for i in 0..25 {
                let (from, to) = (account((t + i) % ACCOUNTS), account((t + 2 * i + 1) % ACCOUNTS));
                let amount = 5 + ((t * 7 + i * 11) % 40) as i64;
                if from == to {
                    continue;
                }
                // In a spawned task the closure owns what it uses (`async
                // move`): a closure that borrows hits a rustc limitation
                // (rust-lang/rust#139475).
                let run = Stm::new(&client)
                    .prefetch([from.clone(), to.clone()])
                    .run(async move |tx: &mut StmTx| {
                        let (a, b) = (balance(tx.get(from.clone()).await?), balance(tx.get(to.clone()).await?));
                        if a < amount {
                            return Err(Refused::Overdrawn);
                        }
                        tx.put(from.clone(), (a - amount).to_string());
                        tx.put(to.clone(), (b + amount).to_string());
                        Ok(())
                    })
                    .await;
                match run {
                    Ok(committed) => (done, attempts) = (done + 1, attempts + committed.attempts),
                    Err(Refused::Overdrawn) => refused += 1,
                    Err(Refused::Etcd(e)) => return Err(e),
                }
            }
            println!("task {t}: {done} transfers in {attempts} attempts, {refused} refused");
            Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }

    let mut total = 0;
    for a in 0..ACCOUNTS {
        let value = client.get(account(a)).await?.kvs().first().map(|kv| kv.value_bytes().clone());
        println!("{} = {}", account(a), balance(value.clone()));
        total += balance(value);
    }
    println!("total {total} (was {})", 100 * ACCOUNTS);
    client.delete("example/stm/").prefix().await?;
    Ok(())
}
