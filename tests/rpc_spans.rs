//! Every call's `etcd_rpc` span carries the fields a metrics or tracing
//! layer exports: method, endpoint, latency, outcome and retry count.
#![cfg(feature = "testkit")]

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

use support::{shared_client, TestResult};

/// Every field a span ended with, as text.
type Fields = BTreeMap<String, String>;

#[derive(Default)]
struct Collect(Fields);

impl Visit for Collect {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}").trim_matches('"').to_owned());
    }
}

#[derive(Clone, Default)]
struct Closed(Arc<Mutex<Vec<Fields>>>);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Closed {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Collect::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<Collect>() {
                values.record(fields);
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        if span.name() != "etcd_rpc" {
            return;
        }
        let fields = span.extensions_mut().remove::<Collect>();
        if let (Some(fields), Ok(mut closed)) = (fields, self.0.lock()) {
            closed.push(fields.0);
        }
    }
}

#[tokio::test]
async fn spans_carry_method_endpoint_latency_outcome_and_retries() -> TestResult {
    let closed = Closed::default();
    let subscriber =
        tracing_subscriber::registry().with(closed.clone().with_filter(tracing_subscriber::filter::LevelFilter::DEBUG));
    let _guard = tracing::subscriber::set_default(subscriber);
    let (client, prefix) = shared_client("rpc_spans").await?;
    let endpoint = client.endpoints()[0].clone();

    client.put(format!("{prefix}k"), "v").await?;
    let refused = client.get(format!("{prefix}k")).revision(i64::MAX).await;
    assert!(refused.is_err());

    let spans = closed.0.lock().map_err(|_| "poisoned")?.clone();
    let put = spans.iter().find(|f| f["method"] == "Put").ok_or("no Put span")?;
    assert_eq!(put["service"], "etcdserverpb.KV");
    assert_eq!(put["endpoint"], endpoint);
    assert_eq!(put["outcome"], "ok");
    assert_eq!(put["retries"], "0");
    assert!(put["latency_us"].parse::<u64>()? > 0, "{put:?}");
    let range = spans.iter().find(|f| f["method"] == "Range").ok_or("no Range span")?;
    assert_eq!(range["outcome"], "FutureRev", "{range:?}");
    Ok(())
}
