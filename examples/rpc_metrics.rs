//! Exports per-RPC metrics from the client's spans: every call runs in an
//! `etcd_rpc` span whose fields (`service`, `method`, `endpoint`,
//! `latency_us`, `outcome`, `retries`) a `tracing` layer can read, the way
//! `tracing-opentelemetry` or a Prometheus layer would. This one keeps
//! counts and total latency per method and outcome and prints them.
//!
//! ```sh
//! cargo run --example rpc_metrics -- http://127.0.0.1:2379
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// The fields of one finished call.
#[derive(Default, Debug)]
struct Call {
    method: String,
    endpoint: String,
    latency_us: u64,
    outcome: String,
    retries: u64,
}

impl Visit for Call {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "method" => self.method = value.to_owned(),
            "endpoint" => self.endpoint = value.to_owned(),
            "outcome" => self.outcome = value.to_owned(),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "latency_us" => self.latency_us = value,
            "retries" => self.retries = value,
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, format!("{value:?}").trim_matches('"'));
    }
}

/// (method, outcome) → (calls, total latency in µs, retries).
type Table = Arc<Mutex<BTreeMap<(String, String), (u64, u64, u64)>>>;

struct Metrics(Table);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Metrics {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "etcd_rpc" {
            return;
        }
        let mut call = Call::default();
        attrs.record(&mut call);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(call);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(call) = span.extensions_mut().get_mut::<Call>() {
                values.record(call);
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(call) = span.extensions_mut().remove::<Call>() else { return };
        if let Ok(mut table) = self.0.lock() {
            let row = table.entry((call.method, call.outcome)).or_default();
            row.0 += 1;
            row.1 += call.latency_us;
            row.2 += call.retries;
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let table = Table::default();
    // The spans are at DEBUG: the subscriber must let them through.
    tracing_subscriber::registry()
        .with(Metrics(table.clone()).with_filter(tracing_subscriber::filter::LevelFilter::DEBUG))
        .init();

    let endpoint = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:2379".into());
    let client = etcd_raw::Client::connect([endpoint]).await?;
    for i in 0..100 {
        client.put(format!("metrics-example/{i}"), "v").await?;
        client.get(format!("metrics-example/{i}")).await?;
    }
    // A revision from the future: the server refuses it, counted by its kind.
    let _ = client.get("metrics-example/0").revision(i64::MAX).await;
    client.delete("metrics-example/").prefix().await?;

    println!("{:<14} {:<16} {:>6} {:>12} {:>8}", "method", "outcome", "calls", "mean µs", "retries");
    let table = table.lock().map_err(|_| "metrics lock poisoned")?;
    for ((method, outcome), (calls, latency, retries)) in table.iter() {
        println!("{method:<14} {outcome:<16} {calls:>6} {:>12} {retries:>8}", latency / calls.max(&1));
    }
    Ok(())
}
